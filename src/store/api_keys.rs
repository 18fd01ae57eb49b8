//! API keys and the tombstones of deleted users and organizations.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _, QueryOrder as _, sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{Redacted, api_key, tombstone};

/// Inserts a key stamped by the database's clock (owners' cut-offs are too, and a key
/// made a moment before one must not outlive it); answers the row as stored.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    mut row: api_key::Model,
) -> Result<api_key::Model, DbErr> {
    row.created_at = super::db_now(db).await?;
    api_key::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(row)
}

/// Revokes every live key of a user (a password reset, a claim, disabling), stamped by the
/// database's clock; answers their ids and when.
pub(crate) async fn revoke_all_of_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<(Vec<Uuid>, OffsetDateTime), DbErr> {
    let now = super::db_now(db).await?;
    let ids: Vec<Uuid> = of_user(db, user_id)
        .await?
        .into_iter()
        .map(|k| k.id)
        .collect();
    if !ids.is_empty() {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now)))
            .filter(api_key::Column::Id.is_in(ids.iter().copied()))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
    }
    Ok((ids, now))
}

/// The key whose SHA-256 is `hash`, revoked or not.
pub(crate) async fn find_by_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(Redacted(hash.to_owned())))
        .unique(db)
        .await
}

/// A user's keys (not revoked), newest first.
pub(crate) async fn of_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::UserId.eq(user_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await
}

/// An organization's keys (not revoked), newest first.
pub(crate) async fn of_org(
    db: &impl ConnectionTrait,
    org_id: Uuid,
) -> Result<Vec<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(org_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await
}

/// Revokes a live key of the given owner (`user_id` for a user key, `org_id` for an
/// organization key), stamped by the database's clock (other instances poll by it);
/// when it was revoked, or `None` when there is no such live key.
pub(crate) async fn revoke(
    db: &impl ConnectionTrait,
    id: Uuid,
    user_id: Option<Uuid>,
    org_id: Option<Uuid>,
) -> Result<Option<OffsetDateTime>, DbErr> {
    let now = super::db_now(db).await?;
    let mut update = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now)))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null());
    if let Some(user_id) = user_id {
        update = update.filter(api_key::Column::UserId.eq(user_id));
    }
    if let Some(org_id) = org_id {
        update = update.filter(api_key::Column::OrgId.eq(org_id));
    }
    Ok((update.exec(db).await?.rows_affected == 1).then_some(now))
}

/// Records a use (the caller writes at most once a minute per key).
pub(crate) async fn touch(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(now)))
        .filter(api_key::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Keys revoked since `since` (id, when), by the database's clock.
pub(crate) async fn revoked_since(
    db: &impl ConnectionTrait,
    since: OffsetDateTime,
) -> Result<Vec<(Uuid, OffsetDateTime)>, DbErr> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::RevokedAt.gte(since))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|row| row.revoked_at.map(|at| (row.id, at)))
        .collect())
}

/// Deletes keys revoked or expired before `before` (retention).
pub(crate) async fn delete_dead(
    db: &impl ConnectionTrait,
    before: OffsetDateTime,
) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Condition;
    let result = api_key::Entity::delete_many()
        .filter(
            Condition::any()
                .add(api_key::Column::RevokedAt.lt(before))
                .add(api_key::Column::ExpiresAt.lt(before)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Leaves a tombstone for a deleted user or organization, stamped by the database's
/// clock (see [`entity::tombstone`](crate::entity::tombstone)), and answers the cut-off
/// it stands for: [`cutoff_of`] its stamp.
pub(crate) async fn bury(
    db: &impl ConnectionTrait,
    subject_id: Uuid,
    kind: &str,
) -> Result<OffsetDateTime, DbErr> {
    let at = super::db_now(db).await?;
    tombstone::Entity::delete_by_id(subject_id).exec(db).await?;
    tombstone::Entity::insert(
        tombstone::Model {
            subject_id,
            kind: kind.to_owned(),
            deleted_at: at,
        }
        .into_active_model()
        .reset_all(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(cutoff_of(at))
}

/// The token cut-off a tombstone stands for. Tokens carry whole seconds and nothing is
/// issued for a deleted subject after its deletion, so the cut-off is the second after:
/// a token issued in the very second of the deletion is refused too.
pub(crate) fn cutoff_of(deleted_at: OffsetDateTime) -> OffsetDateTime {
    deleted_at + time::Duration::SECOND
}

/// Tombstones laid since `since` (subject, when).
pub(crate) async fn buried_since(
    db: &impl ConnectionTrait,
    since: OffsetDateTime,
) -> Result<Vec<(Uuid, OffsetDateTime)>, DbErr> {
    Ok(tombstone::Entity::find()
        .filter(tombstone::Column::DeletedAt.gte(since))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.subject_id, cutoff_of(row.deleted_at)))
        .collect())
}

/// Removes tombstones older than `before` (retention: no token they concern is alive).
pub(crate) async fn sweep_tombstones(
    db: &impl ConnectionTrait,
    before: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = tombstone::Entity::delete_many()
        .filter(tombstone::Column::DeletedAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
