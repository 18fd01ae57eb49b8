//! Every query portcullis runs. Flows call these; nothing else touches `entity::*`.
//!
//! Store functions take any connection (a pool or a transaction) and return `DbErr`;
//! flows turn that into [`Error`](crate::Error) with `?`. The queries that must be atomic
//! under concurrency (refresh-token rotation, revocation, password upgrade) are single
//! conditional `UPDATE`s whose affected-row count says who won.

pub(crate) mod admin;
pub(crate) mod api_keys;
pub(crate) mod audit;
#[cfg(feature = "billing")]
pub(crate) mod billing;
pub(crate) mod keys;
pub(crate) mod mfa;
#[cfg_attr(not(feature = "oauth"), allow(dead_code))]
pub(crate) mod oauth;
pub(crate) mod one_time;
pub(crate) mod orgs;
pub(crate) mod outbox;
pub(crate) mod passkeys;
pub(crate) mod sessions;
pub(crate) mod users;
pub(crate) mod waitlists;

use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, Select, SelectTwo, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use time::OffsetDateTime;

/// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: the write
/// lock is taken at once (waiting out the busy timeout behind another writer), so a
/// transaction that reads before it writes cannot fail when it upgrades a snapshot
/// another connection has written past meanwhile (`SQLITE_BUSY_SNAPSHOT`, which no busy
/// timeout retries). PostgreSQL and MySQL ignore the mode.
pub(crate) async fn begin<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Lookups by a key that matches one row at most (a primary key, a unique column): the
/// row, if any. Use it instead of `.one(db)`, which adds `LIMIT ?`: SQLite (since 3.47)
/// lets its planner read a bound `LIMIT`, and so re-prepares such a statement every time
/// it runs with a fresh binding, which costs more than the lookup itself. `.one(db)`
/// stays for the queries that pick the first of several rows (`ORDER BY … LIMIT 1`).
pub(crate) trait Unique {
    /// What the query answers per row.
    type Row;

    /// The matching row, if any.
    fn unique<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> impl Future<Output = Result<Option<Self::Row>, DbErr>> + Send;
}

impl<E: EntityTrait> Unique for Select<E> {
    type Row = E::Model;

    async fn unique<C: ConnectionTrait>(self, db: &C) -> Result<Option<E::Model>, DbErr> {
        Ok(self.all(db).await?.into_iter().next())
    }
}

impl<E: EntityTrait, F: EntityTrait> Unique for SelectTwo<E, F> {
    type Row = (E::Model, Option<F::Model>);

    async fn unique<C: ConnectionTrait>(self, db: &C) -> Result<Option<Self::Row>, DbErr> {
        Ok(self.all(db).await?.into_iter().next())
    }
}

/// A once-in-a-while gate: `due` says yes to one caller per `period` seconds on this
/// instance (for sweeping expired rows without a timer task or a delete per request).
#[cfg_attr(not(any(feature = "passkeys", feature = "oauth")), allow(dead_code))]
pub(crate) struct Every {
    period_secs: i64,
    last: std::sync::atomic::AtomicI64,
}

#[cfg_attr(not(any(feature = "passkeys", feature = "oauth")), allow(dead_code))]
impl Every {
    pub(crate) const fn seconds(period_secs: i64) -> Self {
        Self {
            period_secs,
            last: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Whether this caller should do the work now (at most one per period wins).
    pub(crate) fn due(&self, now: OffsetDateTime) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let now = now.unix_timestamp();
        let last = self.last.load(Relaxed);
        now - last >= self.period_secs
            && self
                .last
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
    }
}

/// The current time at the precision every backend stores (microseconds), so a value
/// read back compares equal to the value written.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let micros = now.microsecond();
    now.replace_microsecond(micros).unwrap_or(now)
}

/// The database's own clock, for writes whose order other instances rely on
/// (revocations): instances' clocks may disagree, the database's is one. PostgreSQL's
/// `clock_timestamp()`, MySQL's `SYSDATE(6)`; SQLite lives on one machine, whose clock
/// every process shares, so there it is this process's clock.
pub(crate) async fn db_now(db: &impl sea_orm::ConnectionTrait) -> Result<OffsetDateTime, DbErr> {
    use sea_orm::{DbBackend, Statement};
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS micros"
        }
        DbBackend::MySql => "SELECT CAST(UNIX_TIMESTAMP(SYSDATE(6)) * 1000000 AS SIGNED) AS micros",
        _ => return Ok(now()),
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::Custom("the database did not tell its time".into()))?;
    let micros: i64 = row.try_get("", "micros")?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|err| DbErr::Custom(format!("the database's time is out of range: {err}")))
}

/// Whether an insert failed on a unique index (portable across the three backends).
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A trivial query: is the database there?
pub(crate) async fn ping(db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}
