//! Users and their password credentials.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait as _, FromQueryResult as _, IdenStatic as _, IntoActiveModel as _, Iterable as _,
    JoinType, QueryFilter as _, QueryOrder as _, QuerySelect as _, QueryTrait as _,
    sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{Redacted, membership, organization, password_credential, user};

/// Inserts a user and, when given, their password hash, in one transaction.
pub(crate) async fn insert(
    db: &DatabaseConnection,
    row: user::Model,
    password_hash: Option<String>,
) -> Result<user::Model, DbErr> {
    let txn = super::begin(db).await?;
    let row = insert_in(&txn, row, password_hash).await?;
    txn.commit().await?;
    Ok(row)
}

/// [`insert`] inside a transaction the caller holds.
pub(crate) async fn insert_in(
    db: &impl ConnectionTrait,
    row: user::Model,
    password_hash: Option<String>,
) -> Result<user::Model, DbErr> {
    user::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    if let Some(hash) = password_hash {
        let credential = password_credential::Model {
            user_id: row.id,
            hash: Redacted(hash),
            updated_at: row.created_at,
        };
        password_credential::Entity::insert(credential.into_active_model().reset_all())
            .exec_without_returning(db)
            .await?;
    }
    Ok(row)
}

pub(crate) async fn find_by_phone(
    db: &impl ConnectionTrait,
    phone: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Phone.eq(phone))
        .unique(db)
        .await
}

/// Records a sign-in (for the admin's listing) and answers the user's row as it is now
/// (`None` if it is gone): one `UPDATE … RETURNING` where the database has it (SQLite,
/// PostgreSQL); the update, then a read, on MySQL.
pub(crate) async fn signed_in(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<user::Model>, DbErr> {
    let update = user::Entity::update_many()
        .col_expr(user::Column::LastSignInAt, Expr::value(Some(now)))
        .filter(user::Column::Id.eq(user_id));
    if db.support_returning() {
        return update
            .exec_with_returning(db)
            .await
            .map(|mut rows| rows.pop());
    }
    update.exec(db).await?;
    find(db, user_id).await
}

/// Marks the phone number verified (keeps an earlier verification time).
pub(crate) async fn mark_phone_verified(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::PhoneVerifiedAt, Expr::value(Some(now)))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::PhoneVerifiedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).unique(db).await
}

/// The user and whether it has a password, in one query (a LEFT JOIN).
pub(crate) async fn find_with_password(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<(user::Model, bool)>, DbErr> {
    let row = user::Entity::find_by_id(id)
        .join(JoinType::LeftJoin, password_credential::user().rev())
        .select_also(password_credential::Entity)
        .unique(db)
        .await?;
    Ok(row.map(|(user, password)| (user, password.is_some())))
}

/// An account as `GET /me` shows it: the user, whether it has a password, and its
/// memberships with their organizations (oldest first).
pub(crate) type Overview = (
    user::Model,
    bool,
    Vec<(membership::Model, organization::Model)>,
);

/// The [`Overview`] of an account in one query: the user LEFT JOINed with its password,
/// its memberships and their organizations (one row per membership).
pub(crate) async fn overview(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<Overview>, DbErr> {
    // `select_also` names the user's columns `A_*` and the password's `B_*`; the
    // membership's and the organization's are added as `C_*` and `D_*`.
    let mut select = user::Entity::find_by_id(id)
        .join(JoinType::LeftJoin, password_credential::user().rev())
        .join(JoinType::LeftJoin, membership::user().rev())
        .join(JoinType::LeftJoin, membership::organization())
        .select_also(password_credential::Entity);
    for column in membership::Column::iter() {
        select = select.column_as(
            Expr::col((membership::Entity, column)),
            format!("C_{}", column.as_str()),
        );
    }
    for column in organization::Column::iter() {
        select = select.column_as(
            Expr::col((organization::Entity, column)),
            format!("D_{}", column.as_str()),
        );
    }
    let select = select.order_by_asc(membership::Column::CreatedAt);
    let rows = db
        .query_all_raw(select.build(db.get_database_backend()))
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let user = user::Model::from_query_result(first, "A_")?;
    let has_password =
        password_credential::Model::from_query_result_optional(first, "B_")?.is_some();
    let mut memberships = Vec::with_capacity(rows.len());
    for row in &rows {
        let membership = membership::Model::from_query_result_optional(row, "C_")?;
        let organization = organization::Model::from_query_result_optional(row, "D_")?;
        if let (Some(membership), Some(organization)) = (membership, organization) {
            memberships.push((membership, organization));
        }
    }
    Ok(Some((user, has_password, memberships)))
}

/// The user, locked for the rest of the transaction (`FOR UPDATE` on PostgreSQL and MySQL;
/// SQLite serialises writers anyway): changes to one account's ways of signing in happen
/// one at a time, so "the last one stays" holds under concurrency.
pub(crate) async fn lock(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id)
        .lock_exclusive()
        .unique(db)
        .await
}

pub(crate) async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .unique(db)
        .await
}

pub(crate) async fn password_hash(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<String>, DbErr> {
    Ok(password_credential::Entity::find_by_id(user_id)
        .unique(db)
        .await?
        .map(|credential| credential.hash.0))
}

/// Replaces a password hash only if it is still `old`, so an upgrade after sign-in never
/// overwrites a password changed in the meantime.
pub(crate) async fn upgrade_password_hash(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    old: &str,
    new: String,
) -> Result<bool, DbErr> {
    let result = password_credential::Entity::update_many()
        .col_expr(password_credential::Column::Hash, Expr::value(new))
        .filter(password_credential::Column::UserId.eq(user_id))
        .filter(password_credential::Column::Hash.eq(old))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The profile fields `PATCH /me` may change.
pub(crate) struct ProfileChange {
    pub(crate) name: Option<Option<String>>,
    pub(crate) image_url: Option<Option<String>>,
    pub(crate) metadata: Option<String>,
    pub(crate) now: OffsetDateTime,
}

/// Applies a profile change; fields left `None` are untouched.
pub(crate) async fn update_profile(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    change: ProfileChange,
) -> Result<(), DbErr> {
    let mut update = user::Entity::update_many()
        .col_expr(user::Column::UpdatedAt, Expr::value(change.now))
        .filter(user::Column::Id.eq(user_id));
    if let Some(name) = change.name {
        update = update.col_expr(user::Column::Name, Expr::value(name));
    }
    if let Some(image_url) = change.image_url {
        update = update.col_expr(user::Column::ImageUrl, Expr::value(image_url));
    }
    if let Some(metadata) = change.metadata {
        update = update.col_expr(user::Column::Metadata, Expr::value(metadata));
    }
    update.exec(db).await?;
    Ok(())
}

/// Disables (with a token cut-off now, by the database's clock) or re-enables a user.
/// Returns when, if the user exists.
pub(crate) async fn set_disabled(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    disabled: bool,
) -> Result<Option<OffsetDateTime>, DbErr> {
    let now = super::db_now(db).await?;
    let mut update = user::Entity::update_many()
        .col_expr(
            user::Column::DisabledAt,
            Expr::value(disabled.then_some(now)),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id));
    if disabled {
        update = update.col_expr(user::Column::TokensValidAfter, Expr::value(Some(now)));
    }
    Ok((update.exec(db).await?.rows_affected == 1).then_some(now))
}

/// Marks the email address verified (keeps an earlier verification time).
pub(crate) async fn mark_email_verified(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::EmailVerifiedAt, Expr::value(Some(now)))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::EmailVerifiedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Sets (or first creates) the user's password hash, in one statement: two first
/// passwords set at once both succeed (the later one wins) instead of one of them hitting
/// the unique key.
pub(crate) async fn set_password(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    hash: String,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    let credential = password_credential::Model {
        user_id,
        hash: Redacted(hash),
        updated_at: now,
    };
    password_credential::Entity::insert(credential.into_active_model().reset_all())
        .on_conflict(
            OnConflict::column(password_credential::Column::UserId)
                .update_columns([
                    password_credential::Column::Hash,
                    password_credential::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Refuses every access token of the user issued before now (by the database's clock, as
/// other instances poll by it); returns the cut-off.
pub(crate) async fn cut_off_tokens(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<OffsetDateTime, DbErr> {
    let now = super::db_now(db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::TokensValidAfter, Expr::value(Some(now)))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(now)
}

/// Users whose token cut-off moved at or after `since`: `(user, cut-off)`.
pub(crate) async fn cutoffs_since(
    db: &impl ConnectionTrait,
    since: OffsetDateTime,
) -> Result<Vec<(Uuid, OffsetDateTime)>, DbErr> {
    let rows = user::Entity::find()
        .filter(user::Column::TokensValidAfter.gte(since))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.tokens_valid_after.map(|at| (row.id, at)))
        .collect())
}

/// Removes the user's password (they sign in some other way until they set one). Returns
/// whether there was one.
pub(crate) async fn delete_password(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<bool, DbErr> {
    let result = password_credential::Entity::delete_by_id(user_id)
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Blanks what a user wrote about themselves: name, picture, metadata.
pub(crate) async fn clear_profile(db: &impl ConnectionTrait, user_id: Uuid) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::Name, Expr::value(Option::<String>::None))
        .col_expr(user::Column::ImageUrl, Expr::value(Option::<String>::None))
        .col_expr(user::Column::Metadata, Expr::value("{}"))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// What an admin changes on an account (`None`: unchanged).
#[derive(Debug, Default)]
pub(crate) struct AdminChange {
    pub(crate) private_metadata: Option<String>,
    pub(crate) email_verified_at: Option<Option<OffsetDateTime>>,
    pub(crate) role: Option<String>,
    pub(crate) now: Option<OffsetDateTime>,
}

/// Applies an admin's change.
pub(crate) async fn admin_update(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    change: AdminChange,
) -> Result<(), DbErr> {
    let mut update = user::Entity::update_many().filter(user::Column::Id.eq(user_id));
    if let Some(now) = change.now {
        update = update.col_expr(user::Column::UpdatedAt, Expr::value(now));
    }
    if let Some(private) = change.private_metadata {
        update = update.col_expr(user::Column::PrivateMetadata, Expr::value(Some(private)));
    }
    if let Some(verified) = change.email_verified_at {
        update = update.col_expr(user::Column::EmailVerifiedAt, Expr::value(verified));
    }
    if let Some(role) = change.role {
        update = update.col_expr(user::Column::Role, Expr::value(role));
    }
    update.exec(db).await?;
    Ok(())
}

/// Deletes an account; its sessions, credentials, passkeys, links, factors, keys and
/// memberships go with it (foreign keys cascade). `false` when there was none.
pub(crate) async fn delete(db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool, DbErr> {
    let result = user::Entity::delete_by_id(user_id).exec(db).await?;
    Ok(result.rows_affected == 1)
}

/// Which of `ids` have a password (one query for a whole page of users).
pub(crate) async fn with_passwords(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, DbErr> {
    if ids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    Ok(password_credential::Entity::find()
        .filter(password_credential::Column::UserId.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.user_id)
        .collect())
}
