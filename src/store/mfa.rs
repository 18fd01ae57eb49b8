//! Second factors: TOTP secrets and recovery codes.
//!
//! Every check that must hold under concurrency is one conditional `UPDATE`: a TOTP step
//! is accepted only if it is later than the last accepted one, a recovery code is used only
//! if it is unused, an enrolment is confirmed only while it is unconfirmed and young.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, PaginatorTrait as _, QueryFilter as _,
    sea_query::{Condition, Expr, ExprTrait as _},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{Redacted, recovery_code, totp};

/// The user's TOTP row: an enrolment or the factor.
pub(crate) async fn totp(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<totp::Model>, DbErr> {
    totp::Entity::find_by_id(user_id).unique(db).await
}

/// Whether the user has a confirmed TOTP factor (which is what "has a second factor"
/// means).
pub(crate) async fn totp_on(db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool, DbErr> {
    Ok(totp(db, user_id)
        .await?
        .is_some_and(|row| row.confirmed_at.is_some()))
}

/// Starts an enrolment, replacing an unconfirmed one. `false` when TOTP is already on.
pub(crate) async fn begin_totp(db: &impl ConnectionTrait, row: totp::Model) -> Result<bool, DbErr> {
    totp::Entity::delete_many()
        .filter(totp::Column::UserId.eq(row.user_id))
        .filter(totp::Column::ConfirmedAt.is_null())
        .exec(db)
        .await?;
    match totp::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await
    {
        Ok(_) => Ok(true),
        Err(err) if super::is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Confirms `enrolment` (the very one whose secret checked the code of `step`, begun
/// after `begun_after`); `false` when it is gone, replaced, too old or already confirmed.
pub(crate) async fn confirm_totp(
    db: &impl ConnectionTrait,
    enrolment: &totp::Model,
    step: i64,
    begun_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let user_id = enrolment.user_id;
    let result = totp::Entity::update_many()
        .col_expr(totp::Column::ConfirmedAt, Expr::value(now))
        .col_expr(totp::Column::LastStep, Expr::value(step))
        .col_expr(totp::Column::Failures, Expr::value(0))
        .filter(totp::Column::UserId.eq(user_id))
        .filter(totp::Column::ConfirmedAt.is_null())
        .filter(totp::Column::SecretSealed.eq(enrolment.secret_sealed.clone()))
        .filter(totp::Column::CreatedAt.gt(begun_after))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Accepts the code of `step` for a confirmed factor: only if no code of that step or a
/// later one was accepted before (of two racing uses of one code, one wins).
pub(crate) async fn accept_step(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    step: i64,
) -> Result<bool, DbErr> {
    let result = totp::Entity::update_many()
        .col_expr(totp::Column::LastStep, Expr::value(step))
        .col_expr(totp::Column::Failures, Expr::value(0))
        .col_expr(totp::Column::FailureNoticeSent, Expr::value(false))
        .filter(totp::Column::UserId.eq(user_id))
        .filter(totp::Column::ConfirmedAt.is_not_null())
        .filter(
            Condition::any()
                .add(totp::Column::LastStep.is_null())
                .add(totp::Column::LastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Counts a wrong second-factor code and answers the run of wrong ones so far.
pub(crate) async fn count_failure(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<i32, DbErr> {
    totp::Entity::update_many()
        .col_expr(
            totp::Column::Failures,
            Expr::col(totp::Column::Failures).add(1),
        )
        .col_expr(totp::Column::LastFailureAt, Expr::value(Some(now)))
        .filter(totp::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(totp(db, user_id).await?.map_or(0, |row| row.failures))
}

/// Claims the notice of a run of at least `at` wrong codes: of concurrent callers, one
/// sees `true`, once per run.
pub(crate) async fn claim_failure_notice(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    at: i32,
) -> Result<bool, DbErr> {
    let result = totp::Entity::update_many()
        .col_expr(totp::Column::FailureNoticeSent, Expr::value(true))
        .filter(totp::Column::UserId.eq(user_id))
        .filter(totp::Column::Failures.gte(at))
        .filter(totp::Column::FailureNoticeSent.eq(false))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Ends a run of wrong codes (a right one came).
pub(crate) async fn clear_failures(db: &impl ConnectionTrait, user_id: Uuid) -> Result<(), DbErr> {
    totp::Entity::update_many()
        .col_expr(totp::Column::Failures, Expr::value(0))
        .col_expr(totp::Column::FailureNoticeSent, Expr::value(false))
        .filter(totp::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes the user's TOTP factor (or enrolment) and recovery codes; `true` when a
/// confirmed factor was removed.
pub(crate) async fn delete_all(db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool, DbErr> {
    let was_on = totp_on(db, user_id).await?;
    totp::Entity::delete_many()
        .filter(totp::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(was_on)
}

/// Replaces the user's recovery codes with a new set (their keyed hashes).
pub(crate) async fn replace_recovery_codes(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    hashes: Vec<String>,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let rows = hashes.into_iter().map(|hash| {
        recovery_code::Model {
            id: Uuid::now_v7(),
            user_id,
            code_hash: Redacted(hash),
            created_at: now,
            used_at: None,
        }
        .into_active_model()
        .reset_all()
    });
    recovery_code::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Uses one recovery code of the user, if it exists and is unused (of concurrent uses of
/// one code, exactly one wins).
pub(crate) async fn use_recovery_code(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    hash: &str,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let result = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(now))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::CodeHash.eq(hash))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How many unused recovery codes the user has.
pub(crate) async fn recovery_codes_left(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<u64, DbErr> {
    recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .count(db)
        .await
}

/// Drops enrolments never confirmed (retention).
pub(crate) async fn sweep_enrolments(
    db: &impl ConnectionTrait,
    begun_before: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = totp::Entity::delete_many()
        .filter(totp::Column::ConfirmedAt.is_null())
        .filter(totp::Column::CreatedAt.lt(begun_before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
