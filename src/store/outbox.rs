//! The outbox's rows: messages handed over, claimed by one instance at a time with a lease
//! (a conditional update, so any number of instances may deliver on any backend), and
//! finished as sent, dead or dropped.

use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, ExprTrait as _,
    IntoActiveModel as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::outbox_message;

/// Still to deliver.
pub(crate) const PENDING: &str = "pending";
/// Delivered.
pub(crate) const SENT: &str = "sent";
/// Every attempt failed.
pub(crate) const DEAD: &str = "dead";
/// Its link or code expired before it could be delivered.
pub(crate) const DROPPED: &str = "dropped";

/// Writes a message handed over.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    message: outbox_message::Model,
) -> Result<(), DbErr> {
    outbox_message::Entity::insert(message.into_active_model())
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Claims one message for `lease`: `true` when this caller now holds it (nobody else
/// holds an unexpired lease on it, and it is still pending).
pub(crate) async fn claim(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: OffsetDateTime,
    lease: time::Duration,
) -> Result<bool, DbErr> {
    let result = outbox_message::Entity::update_many()
        .col_expr(
            outbox_message::Column::LockedUntil,
            Expr::value(Some(now + lease)),
        )
        .filter(outbox_message::Column::Id.eq(id))
        .filter(outbox_message::Column::Status.eq(PENDING))
        .filter(
            outbox_message::Column::LockedUntil
                .is_null()
                .or(outbox_message::Column::LockedUntil.lte(now)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Up to `limit` pending messages that are due and not leased, oldest due first, each
/// claimed for `lease` by this caller (those another instance claimed first are left out).
pub(crate) async fn claim_due(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
    lease: time::Duration,
    limit: u64,
) -> Result<Vec<outbox_message::Model>, DbErr> {
    let due = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.eq(PENDING))
        .filter(outbox_message::Column::NextAttemptAt.lte(now))
        .filter(
            outbox_message::Column::LockedUntil
                .is_null()
                .or(outbox_message::Column::LockedUntil.lte(now)),
        )
        .order_by_asc(outbox_message::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for message in due {
        if claim(db, message.id, now, lease).await? {
            claimed.push(message);
        }
    }
    Ok(claimed)
}

/// Ends a message's delivery: `status` is [`SENT`], [`DEAD`] or [`DROPPED`].
pub(crate) async fn finish(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: &str,
    attempts: i32,
    error: Option<String>,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let sent_at = (status == SENT).then_some(now);
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Status, Expr::value(status))
        .col_expr(outbox_message::Column::Attempts, Expr::value(attempts))
        .col_expr(outbox_message::Column::LastError, Expr::value(error))
        .col_expr(outbox_message::Column::SentAt, Expr::value(sent_at))
        .col_expr(
            outbox_message::Column::LockedUntil,
            Expr::value(Option::<OffsetDateTime>::None),
        )
        .filter(outbox_message::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// A failed attempt: try again at `next_attempt_at`.
pub(crate) async fn retry_later(
    db: &impl ConnectionTrait,
    id: Uuid,
    attempts: i32,
    next_attempt_at: OffsetDateTime,
    error: String,
) -> Result<(), DbErr> {
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Attempts, Expr::value(attempts))
        .col_expr(
            outbox_message::Column::NextAttemptAt,
            Expr::value(next_attempt_at),
        )
        .col_expr(outbox_message::Column::LastError, Expr::value(Some(error)))
        .col_expr(
            outbox_message::Column::LockedUntil,
            Expr::value(Option::<OffsetDateTime>::None),
        )
        .filter(outbox_message::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Deletes finished messages handed over before `before`; answers how many.
pub(crate) async fn sweep(db: &impl ConnectionTrait, before: OffsetDateTime) -> Result<u64, DbErr> {
    let result = outbox_message::Entity::delete_many()
        .filter(outbox_message::Column::Status.ne(PENDING))
        .filter(outbox_message::Column::CreatedAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
