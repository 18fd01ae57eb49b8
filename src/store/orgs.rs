//! Organizations, memberships and invitations.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, JoinType, PaginatorTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{invitation, membership, organization, session, user};

pub(crate) async fn insert_org(
    db: &impl ConnectionTrait,
    org: organization::Model,
) -> Result<(), DbErr> {
    organization::Entity::insert(org.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub(crate) async fn find_org(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<organization::Model>, DbErr> {
    organization::Entity::find_by_id(id).unique(db).await
}

/// The organization, locked for the rest of the transaction (`FOR UPDATE` on PostgreSQL and
/// MySQL; SQLite serialises writers anyway): every membership change of one organization
/// happens one at a time, so rules such as "the last owner stays" hold under concurrency.
pub(crate) async fn lock_org(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<organization::Model>, DbErr> {
    organization::Entity::find_by_id(id)
        .lock_exclusive()
        .unique(db)
        .await
}

/// The fields an organization update may change.
pub(crate) struct OrgChange {
    pub(crate) name: Option<String>,
    pub(crate) slug: Option<String>,
    pub(crate) metadata: Option<String>,
    pub(crate) require_mfa: Option<bool>,
    pub(crate) now: OffsetDateTime,
}

pub(crate) async fn update_org(
    db: &impl ConnectionTrait,
    id: Uuid,
    change: OrgChange,
) -> Result<(), DbErr> {
    let mut update = organization::Entity::update_many()
        .col_expr(organization::Column::UpdatedAt, Expr::value(change.now))
        .filter(organization::Column::Id.eq(id));
    if let Some(name) = change.name {
        update = update.col_expr(organization::Column::Name, Expr::value(name));
    }
    if let Some(slug) = change.slug {
        update = update.col_expr(organization::Column::Slug, Expr::value(slug));
    }
    if let Some(metadata) = change.metadata {
        update = update.col_expr(organization::Column::Metadata, Expr::value(metadata));
    }
    if let Some(require_mfa) = change.require_mfa {
        update = update.col_expr(organization::Column::RequireMfa, Expr::value(require_mfa));
    }
    update.exec(db).await?;
    Ok(())
}

pub(crate) async fn delete_org(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    organization::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub(crate) async fn membership(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<Option<membership::Model>, DbErr> {
    membership::Entity::find_by_id((org_id, user_id))
        .unique(db)
        .await
}

/// The user's memberships with their organizations, oldest first: one query (a JOIN).
pub(crate) async fn memberships_of(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<(membership::Model, organization::Model)>, DbErr> {
    let rows = membership::Entity::find()
        .join(JoinType::InnerJoin, membership::organization())
        .select_also(organization::Entity)
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(membership, org)| Some((membership, org?)))
        .collect())
}

/// An organization's members with their accounts, oldest first: one query (a JOIN).
pub(crate) async fn members(
    db: &impl ConnectionTrait,
    org_id: Uuid,
) -> Result<Vec<(membership::Model, user::Model)>, DbErr> {
    let rows = membership::Entity::find()
        .join(JoinType::InnerJoin, membership::user())
        .select_also(user::Entity)
        .filter(membership::Column::OrgId.eq(org_id))
        .order_by_asc(membership::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(membership, user)| Some((membership, user?)))
        .collect())
}

pub(crate) async fn insert_membership(
    db: &impl ConnectionTrait,
    row: membership::Model,
) -> Result<(), DbErr> {
    membership::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub(crate) async fn set_role(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    user_id: Uuid,
    role: &str,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    membership::Entity::update_many()
        .col_expr(membership::Column::Role, Expr::value(role.to_owned()))
        .col_expr(membership::Column::UpdatedAt, Expr::value(now))
        .filter(membership::Column::OrgId.eq(org_id))
        .filter(membership::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn delete_membership(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<(), DbErr> {
    membership::Entity::delete_by_id((org_id, user_id))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn count_with_role(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    role: &str,
) -> Result<u64, DbErr> {
    membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org_id))
        .filter(membership::Column::Role.eq(role))
        .count(db)
        .await
}

/// How many members an organization has.
pub(crate) async fn member_count(db: &impl ConnectionTrait, org_id: Uuid) -> Result<u64, DbErr> {
    membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org_id))
        .count(db)
        .await
}

/// Sessions acting in `org_id` (for `user_id`, or anyone) stop acting in it.
pub(crate) async fn clear_active_org(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<(), DbErr> {
    let mut update = session::Entity::update_many()
        .col_expr(
            session::Column::ActiveOrgId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(session::Column::ActiveOrgId.eq(org_id));
    if let Some(user_id) = user_id {
        update = update.filter(session::Column::UserId.eq(user_id));
    }
    update.exec(db).await?;
    Ok(())
}

pub(crate) async fn insert_invitation(
    db: &impl ConnectionTrait,
    row: invitation::Model,
) -> Result<(), DbErr> {
    invitation::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub(crate) async fn find_invitation(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<invitation::Model>, DbErr> {
    invitation::Entity::find_by_id(id).unique(db).await
}

/// Invitations of `org_id` that can still be accepted, newest first.
pub(crate) async fn pending_invitations(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::OrgId.eq(org_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .order_by_desc(invitation::Column::CreatedAt)
        .all(db)
        .await
}

/// Revokes a pending invitation; `false` if it was no longer pending.
pub(crate) async fn revoke_invitation(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let result = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(Some(now)))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Marks a pending invitation accepted by `user_id`; of concurrent acceptances exactly one
/// sees `true`.
pub(crate) async fn accept_invitation(
    db: &impl ConnectionTrait,
    id: Uuid,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let result = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
        .col_expr(invitation::Column::AcceptedBy, Expr::value(Some(user_id)))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Makes `org_id` the session's active organization, if the session is the user's and
/// live. The refresh token is not touched.
pub(crate) async fn switch_session(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    user_id: Uuid,
    org_id: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::ActiveOrgId, Expr::value(org_id))
        .col_expr(session::Column::LastActiveAt, Expr::value(now))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Revokes every pending invitation to `email` (a password reset or change kills the
/// outstanding links to the address). Returns how many.
pub(crate) async fn revoke_invitations_to(
    db: &impl ConnectionTrait,
    email: &str,
    now: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(Some(now)))
        .filter(invitation::Column::Email.eq(email))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Removes every membership of the user; returns how many.
pub(crate) async fn delete_memberships_of(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<u64, DbErr> {
    let result = membership::Entity::delete_many()
        .filter(membership::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
