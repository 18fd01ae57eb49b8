//! One-time secrets: issue, supersede, consume.

use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _,
    sea_query::{Expr, ExprTrait as _},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::one_time_secret;

pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    row: one_time_secret::Model,
) -> Result<(), DbErr> {
    one_time_secret::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Marks every live secret of `purpose` sent to `identifier` as used: a newer one
/// supersedes them.
pub(crate) async fn supersede(
    db: &impl ConnectionTrait,
    purpose: &str,
    identifier: &str,
    now: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = one_time_secret::Entity::update_many()
        .col_expr(one_time_secret::Column::ConsumedAt, Expr::value(Some(now)))
        .filter(one_time_secret::Column::Purpose.eq(purpose))
        .filter(one_time_secret::Column::Identifier.eq(identifier))
        .filter(one_time_secret::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// The secret of `purpose` whose hash is `secret_hash`, used or not.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    purpose: &str,
    secret_hash: &str,
) -> Result<Option<one_time_secret::Model>, DbErr> {
    one_time_secret::Entity::find()
        .filter(one_time_secret::Column::Purpose.eq(purpose))
        .filter(one_time_secret::Column::SecretHash.eq(secret_hash))
        .one(db)
        .await
}

/// Uses the secret if, and only if, nobody has yet: of any number of concurrent
/// redemptions exactly one sees `true`.
pub(crate) async fn mark_consumed(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let result = one_time_secret::Entity::update_many()
        .col_expr(one_time_secret::Column::ConsumedAt, Expr::value(Some(now)))
        .filter(one_time_secret::Column::Id.eq(id))
        .filter(one_time_secret::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Kills every live secret of the user with one of `purposes`.
pub(crate) async fn consume_all_for_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    purposes: &[&str],
    now: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = one_time_secret::Entity::update_many()
        .col_expr(one_time_secret::Column::ConsumedAt, Expr::value(Some(now)))
        .filter(one_time_secret::Column::UserId.eq(user_id))
        .filter(one_time_secret::Column::Purpose.is_in(purposes.iter().copied()))
        .filter(one_time_secret::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// The newest secret of `purpose` sent to `identifier` that is not used up.
pub(crate) async fn newest_live(
    db: &impl ConnectionTrait,
    purpose: &str,
    identifier: &str,
) -> Result<Option<one_time_secret::Model>, DbErr> {
    use sea_orm::QueryOrder as _;
    one_time_secret::Entity::find()
        .filter(one_time_secret::Column::Purpose.eq(purpose))
        .filter(one_time_secret::Column::Identifier.eq(identifier))
        .filter(one_time_secret::Column::ConsumedAt.is_null())
        .order_by_desc(one_time_secret::Column::CreatedAt)
        .one(db)
        .await
}

/// Counts one guess against a code, if it has guesses left: of any number of concurrent
/// guesses, at most `max - attempts` see `true`.
pub(crate) async fn count_attempt(
    db: &impl ConnectionTrait,
    id: Uuid,
    max: i32,
) -> Result<bool, DbErr> {
    let result = one_time_secret::Entity::update_many()
        .col_expr(
            one_time_secret::Column::Attempts,
            Expr::col(one_time_secret::Column::Attempts).add(1),
        )
        .filter(one_time_secret::Column::Id.eq(id))
        .filter(one_time_secret::Column::Attempts.lt(max))
        .filter(one_time_secret::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Guesses counted against every code of `purpose` sent to `identifier` since `since`.
pub(crate) async fn attempts_since(
    db: &impl ConnectionTrait,
    purpose: &str,
    identifier: &str,
    since: OffsetDateTime,
) -> Result<i64, DbErr> {
    let rows = one_time_secret::Entity::find()
        .filter(one_time_secret::Column::Purpose.eq(purpose))
        .filter(one_time_secret::Column::Identifier.eq(identifier))
        .filter(one_time_secret::Column::CreatedAt.gte(since))
        .all(db)
        .await?;
    Ok(rows.iter().map(|row| i64::from(row.attempts)).sum())
}

/// The guesses counted against a secret so far.
pub(crate) async fn attempts(db: &impl ConnectionTrait, id: Uuid) -> Result<i32, DbErr> {
    Ok(one_time_secret::Entity::find_by_id(id)
        .one(db)
        .await?
        .map_or(i32::MAX, |row| row.attempts))
}
