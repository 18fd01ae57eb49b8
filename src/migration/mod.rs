//! Schema migrations for portcullis' own tables.
//!
//! [`Migrator`] keeps its bookkeeping in `portcullis_migrations`, not SeaORM's default
//! `seaql_migrations`, so it never collides with the host's own migrator: run
//! [`migrate`](crate::migrate) at start-up, or call `Migrator::up(&db, None)` from the
//! host's migration binary. It exposes no `fresh`/`reset`.
//!
//! Rules for contributors:
//!
//! - Migrations are append-only; never edit one that has been released.
//! - Every table is created regardless of feature flags, because SeaORM refuses to run
//!   when an applied migration is missing from the list.
//! - Columns are written out here, not derived from the entities, which keep changing
//!   while released migrations must not.
//! - Never expose `fresh` or `reset`: they drop every table of the host's database.

// `prelude::*`/`schema::*` and `&SchemaManager` (no `<'_>`, which `#[async_trait]`
// rejects) are the SeaORM migration idiom.
#![allow(clippy::wildcard_imports, elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_core_tables;
mod m20261124_000002_create_organizations;
mod m20261124_000003_create_passkeys;
mod m20261124_000004_create_oauth;
mod m20261129_000005_hardening;
mod m20261130_000006_mfa;
mod m20261130_000007_admin_api_keys;
mod m20261130_000008_waitlists_clients;
mod m20261130_000009_billing;
mod m20261201_000010_outbox;

/// portcullis' migrations, tracked in the `portcullis_migrations` table.
///
/// Only steps forward and back and a status: SeaORM's `MigratorTrait` also has `fresh`
/// and `reset`, which drop **every table of the database** (the host's included), so this
/// type deliberately does not implement it.
///
/// ```rust,no_run
/// # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use portcullis::Migrator;
///
/// Migrator::up(&db, None).await?; // what `portcullis::migrate(&db)` does
/// for name in Migrator::pending(&db).await? {
///     println!("still to apply: {name}");
/// }
/// # Ok(()) }
/// ```
///
/// A host that prefers to run portcullis' migrations from its own SeaORM migrator lists
/// [`Migrator::migrations`] in it instead (then they are tracked in the host's table, and
/// `portcullis::migrate` must not run as well).
#[derive(Debug, Clone, Copy)]
pub struct Migrator;

impl Migrator {
    /// Applies the pending migrations (at most `steps` of them).
    ///
    /// # Errors
    ///
    /// The database error of the first migration that fails.
    pub async fn up(db: &sea_orm::DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
        Tracked::up(db, steps).await
    }

    /// Rolls back the last `steps` applied migrations (all of portcullis' with `None`):
    /// portcullis' own tables only.
    ///
    /// # Errors
    ///
    /// The database error of the first rollback that fails.
    pub async fn down(db: &sea_orm::DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
        Tracked::down(db, steps).await
    }

    /// The names of the migrations applied so far, oldest first.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn applied(db: &sea_orm::DatabaseConnection) -> Result<Vec<String>, DbErr> {
        Ok(Tracked::get_applied_migrations(db)
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect())
    }

    /// The names of the migrations not applied yet, oldest first.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn pending(db: &sea_orm::DatabaseConnection) -> Result<Vec<String>, DbErr> {
        Ok(Tracked::get_pending_migrations(db)
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect())
    }

    /// Every migration, oldest first, for a host that runs them from its own migrator.
    #[must_use]
    pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Tracked::migrations()
    }
}

/// The SeaORM migrator behind [`Migrator`]; private, so its `fresh`/`reset` are unreachable.
struct Tracked;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Tracked {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_core_tables::Migration),
            Box::new(m20261124_000002_create_organizations::Migration),
            Box::new(m20261124_000003_create_passkeys::Migration),
            Box::new(m20261124_000004_create_oauth::Migration),
            Box::new(m20261129_000005_hardening::Migration),
            Box::new(m20261130_000006_mfa::Migration),
            Box::new(m20261130_000007_admin_api_keys::Migration),
            Box::new(m20261130_000008_waitlists_clients::Migration),
            Box::new(m20261130_000009_billing::Migration),
            Box::new(m20261201_000010_outbox::Migration),
        ]
    }

    // Not the default `seaql_migrations`: the host's migrator would otherwise see our
    // versions as "applied but missing" and refuse to run.
    fn migration_table_name() -> DynIden {
        "portcullis_migrations".into_iden()
    }
}

/// A timestamp column: `timestamptz` on PostgreSQL, `DATETIME(6)` (UTC, microseconds) on
/// MySQL/MariaDB, whose `TIMESTAMP` ends in 2038 and may update itself, text on SQLite.
fn instant(manager: &SchemaManager, column: impl IntoIden, nullable: bool) -> ColumnDef {
    let mut def = ColumnDef::new(column);
    match manager.get_database_backend() {
        sea_orm::DatabaseBackend::MySql => def.custom(Alias::new("DATETIME(6)")),
        _ => def.timestamp_with_time_zone(),
    };
    if nullable {
        def.null();
    } else {
        def.not_null();
    }
    def
}
