//! One-time secrets: issue, supersede, consume.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _,
    sea_query::{Expr, ExprTrait as _},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{code_failure, one_time_secret};

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

/// The secret of `purpose` whose hash is `secret_hash`, used or not. At most one: the
/// hash is of a token of 256 random bits (codes are found by their address instead).
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    purpose: &str,
    secret_hash: &str,
) -> Result<Option<one_time_secret::Model>, DbErr> {
    one_time_secret::Entity::find()
        .filter(one_time_secret::Column::Purpose.eq(purpose))
        .filter(one_time_secret::Column::SecretHash.eq(secret_hash))
        .unique(db)
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
        .unique(db)
        .await?
        .map_or(i32::MAX, |row| row.attempts))
}

/// Wrong codes counted against `identifier` in the window that started at or after
/// `window_cut` (a day ago); 0 when there is none.
pub(crate) async fn code_failures(
    db: &impl ConnectionTrait,
    purpose: &str,
    identifier: &str,
    window_cut: OffsetDateTime,
) -> Result<i32, DbErr> {
    Ok(
        code_failure::Entity::find_by_id((purpose.to_owned(), identifier.to_owned()))
            .unique(db)
            .await?
            .filter(|row| row.window_started_at >= window_cut)
            .map_or(0, |row| row.failures),
    )
}

/// Counts one wrong code against `identifier`, atomically, starting a new window when the
/// last one began before `window_cut`. Returns the count in the window.
pub(crate) async fn count_code_failure(
    db: &impl ConnectionTrait,
    purpose: &str,
    identifier: &str,
    now: OffsetDateTime,
    window_cut: OffsetDateTime,
) -> Result<i32, DbErr> {
    use code_failure::Column;
    let key = || {
        Column::Purpose
            .eq(purpose)
            .and(Column::Identifier.eq(identifier))
    };
    for _ in 0..2 {
        let counted = code_failure::Entity::update_many()
            .col_expr(Column::Failures, Expr::col(Column::Failures).add(1))
            .filter(key())
            .filter(Column::WindowStartedAt.gte(window_cut))
            .exec(db)
            .await?;
        if counted.rows_affected == 0 {
            let restarted = code_failure::Entity::update_many()
                .col_expr(Column::Failures, Expr::value(1))
                .col_expr(Column::WindowStartedAt, Expr::value(now))
                .col_expr(
                    Column::NotifiedAt,
                    Expr::value(Option::<OffsetDateTime>::None),
                )
                .filter(key())
                .filter(Column::WindowStartedAt.lt(window_cut))
                .exec(db)
                .await?;
            if restarted.rows_affected == 0 {
                let row = code_failure::Model {
                    purpose: purpose.to_owned(),
                    identifier: identifier.to_owned(),
                    failures: 1,
                    window_started_at: now,
                    notified_at: None,
                };
                match code_failure::Entity::insert(row.into_active_model())
                    .exec_without_returning(db)
                    .await
                {
                    Ok(_) => {}
                    // Another guess created the row a moment ago: count on it.
                    Err(err) if super::is_unique_violation(&err) => continue,
                    Err(err) => return Err(err),
                }
            }
        }
        return code_failures(db, purpose, identifier, window_cut).await;
    }
    code_failures(db, purpose, identifier, window_cut).await
}

/// Marks that the owner was told the cap was reached in this window: `true` for exactly
/// one caller once `failures >= cap`.
pub(crate) async fn claim_failure_notice(
    db: &impl ConnectionTrait,
    purpose: &str,
    identifier: &str,
    cap: i32,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    use code_failure::Column;
    let result = code_failure::Entity::update_many()
        .col_expr(Column::NotifiedAt, Expr::value(Some(now)))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::Identifier.eq(identifier))
        .filter(Column::Failures.gte(cap))
        .filter(Column::NotifiedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A right code ends the run of wrong ones.
pub(crate) async fn clear_code_failures(
    db: &impl ConnectionTrait,
    purpose: &str,
    identifier: &str,
) -> Result<(), DbErr> {
    code_failure::Entity::delete_by_id((purpose.to_owned(), identifier.to_owned()))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes secrets that expired before `before` (used or not); returns how many.
pub(crate) async fn delete_expired(
    db: &impl ConnectionTrait,
    before: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = one_time_secret::Entity::delete_many()
        .filter(one_time_secret::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Deletes counts of wrong codes whose window started before `before`.
pub(crate) async fn delete_stale_code_failures(
    db: &impl ConnectionTrait,
    before: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = code_failure::Entity::delete_many()
        .filter(code_failure::Column::WindowStartedAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
