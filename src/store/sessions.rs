//! Sessions: insert, look up, rotate, revoke.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    FromQueryResult as _, IntoActiveModel as _, JoinType, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, QueryTrait as _, RelationDef, sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{Redacted, password_credential, session, user};

/// A session with its account (the user, and whether it has a password), in one query:
/// the session LEFT JOINed with its user and the user's password. `None` for an unknown
/// session; the account is `None` once the user is gone.
pub(crate) async fn find_with_account(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<(session::Model, Option<(user::Model, bool)>)>, DbErr> {
    let to_user: RelationDef = session::Entity::belongs_to(user::Entity)
        .from(session::Column::UserId)
        .to(user::Column::Id)
        .into();
    // `select_also` names the session's columns `A_*` and the user's `B_*`.
    let select = session::Entity::find_by_id(id)
        .join(JoinType::LeftJoin, to_user)
        .join(JoinType::LeftJoin, password_credential::user().rev())
        .select_also(user::Entity)
        .column_as(
            Expr::col((
                password_credential::Entity,
                password_credential::Column::UserId,
            )),
            "C_password_user_id",
        );
    let Some(row) = db
        .query_one_raw(select.build(db.get_database_backend()))
        .await?
    else {
        return Ok(None);
    };
    let session = session::Model::from_query_result(&row, "A_")?;
    let user = user::Model::from_query_result_optional(&row, "B_")?;
    let has_password = row
        .try_get::<Option<Uuid>>("", "C_password_user_id")?
        .is_some();
    Ok(Some((session, user.map(|user| (user, has_password)))))
}

pub(crate) async fn insert(db: &impl ConnectionTrait, row: &session::Model) -> Result<(), DbErr> {
    session::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<session::Model>, DbErr> {
    session::Entity::find_by_id(id).unique(db).await
}

/// Whether the session exists and is neither revoked nor past its idle or absolute
/// lifetime (read from the database, not the in-memory revocation view).
#[cfg_attr(not(any(feature = "passkeys", feature = "oauth")), allow(dead_code))]
pub(crate) async fn is_live(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    Ok(find(db, id).await?.is_some_and(|session| {
        session.revoked_at.is_none() && session.expires_at > now && session.idle_expires_at > now
    }))
}

/// The user's sessions that are neither revoked nor expired, newest first.
pub(crate) async fn list_active(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .filter(session::Column::IdleExpiresAt.gt(now))
        .order_by_desc(session::Column::CreatedAt)
        .all(db)
        .await
}

/// What a successful rotation writes.
pub(crate) struct Rotation {
    pub(crate) expected_hash: String,
    pub(crate) new_hash: String,
    pub(crate) generation: i64,
    pub(crate) now: OffsetDateTime,
    pub(crate) idle_expires_at: OffsetDateTime,
}

/// Swaps the refresh token if, and only if, the session still holds `expected_hash` and
/// is not revoked. Of two racing rotations exactly one sees `true`.
pub(crate) async fn rotate(
    db: &impl ConnectionTrait,
    id: Uuid,
    rotation: Rotation,
) -> Result<bool, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RefreshHash, Expr::value(rotation.new_hash))
        .col_expr(
            session::Column::PreviousRefreshHash,
            Expr::value(Some(rotation.expected_hash.clone())),
        )
        .col_expr(
            session::Column::Generation,
            Expr::value(rotation.generation),
        )
        .col_expr(session::Column::RotatedAt, Expr::value(Some(rotation.now)))
        .col_expr(session::Column::LastActiveAt, Expr::value(rotation.now))
        .col_expr(
            session::Column::IdleExpiresAt,
            Expr::value(rotation.idle_expires_at),
        )
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::RefreshHash.eq(Redacted(rotation.expected_hash)))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What a re-authentication writes: the new `auth_time`, and what the session has proved
/// now. The refresh token is left as it is.
pub(crate) struct Reauthentication {
    pub(crate) now: OffsetDateTime,
    pub(crate) acr: String,
    pub(crate) amr: String,
}

/// Re-authenticates the session of `user_id` if it is still live; `false` otherwise.
pub(crate) async fn reauthenticate(
    db: &impl ConnectionTrait,
    id: Uuid,
    user_id: Uuid,
    change: Reauthentication,
) -> Result<bool, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::LastActiveAt, Expr::value(change.now))
        .col_expr(session::Column::AuthTime, Expr::value(Some(change.now)))
        .col_expr(session::Column::Acr, Expr::value(change.acr))
        .col_expr(session::Column::Amr, Expr::value(change.amr))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(change.now))
        .filter(session::Column::IdleExpiresAt.gt(change.now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Sessions a revocation ended, and when, by the database's clock.
#[derive(Debug, Clone)]
pub(crate) struct Revoked {
    pub(crate) ids: Vec<Uuid>,
    pub(crate) at: OffsetDateTime,
}

/// Revokes the given sessions of `user_id` that are still live; returns the ids it revoked.
/// `revoked_at` comes from the database's clock: other instances poll by it, and a writer
/// whose own clock ran behind would otherwise stamp its revocation before their last poll.
pub(crate) async fn revoke(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    ids: Option<&[Uuid]>,
    except: Option<Uuid>,
    reason: &str,
) -> Result<Revoked, DbErr> {
    let now = super::db_now(db).await?;
    let mut live = session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(ids) = ids {
        live = live.filter(session::Column::Id.is_in(ids.iter().copied()));
    }
    if let Some(except) = except {
        live = live.filter(session::Column::Id.ne(except));
    }
    let targets: Vec<Uuid> = live.all(db).await?.into_iter().map(|s| s.id).collect();
    if targets.is_empty() {
        return Ok(Revoked {
            ids: targets,
            at: now,
        });
    }
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
        .col_expr(
            session::Column::RevokedReason,
            Expr::value(Some(reason.to_owned())),
        )
        .filter(session::Column::Id.is_in(targets.iter().copied()))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(Revoked {
        ids: targets,
        at: now,
    })
}

/// Revokes every live impersonation begun by `admin_id`, stamped by the database's
/// clock.
pub(crate) async fn revoke_impersonations_by(
    db: &impl ConnectionTrait,
    admin_id: Uuid,
) -> Result<Revoked, DbErr> {
    let now = super::db_now(db).await?;
    let ids: Vec<Uuid> = session::Entity::find()
        .filter(session::Column::ImpersonatorId.eq(admin_id))
        .filter(session::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    if !ids.is_empty() {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
            .col_expr(
                session::Column::RevokedReason,
                Expr::value(Some("impersonator_removed".to_owned())),
            )
            .filter(session::Column::Id.is_in(ids.iter().copied()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
    }
    Ok(Revoked { ids, at: now })
}

/// Sessions revoked at or after `since`, with when their last access token could expire.
pub(crate) async fn revoked_since(
    db: &impl ConnectionTrait,
    since: OffsetDateTime,
) -> Result<Vec<(Uuid, OffsetDateTime)>, DbErr> {
    let rows = session::Entity::find()
        .filter(session::Column::RevokedAt.gte(since))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.revoked_at.map(|at| (row.id, at)))
        .collect())
}

/// Deletes sessions that ended (revoked, or past their idle or absolute lifetime) before
/// `before`; returns how many.
pub(crate) async fn delete_ended(
    db: &impl ConnectionTrait,
    before: OffsetDateTime,
) -> Result<u64, DbErr> {
    use sea_orm::Condition;
    let result = session::Entity::delete_many()
        .filter(
            Condition::any()
                .add(session::Column::RevokedAt.lt(before))
                .add(session::Column::ExpiresAt.lt(before))
                .add(session::Column::IdleExpiresAt.lt(before)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
