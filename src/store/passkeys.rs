//! Passkeys, WebAuthn user handles and ceremonies in flight.
//!
//! The tables exist whether or not the `passkeys` feature is built (the migrations are
//! the same for every build); without it only [`delete_all`] and
//! [`delete_challenges_of`] are used.
#![cfg_attr(not(feature = "passkeys"), allow(dead_code))]

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, JoinType, PaginatorTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, RelationDef, sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{passkey, webauthn_challenge, webauthn_handle};

/// The user's WebAuthn user handle, if they have one yet.
pub(crate) async fn handle_of(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<Uuid>, DbErr> {
    Ok(webauthn_handle::Entity::find_by_id(user_id)
        .unique(db)
        .await?
        .map(|row| row.handle))
}

/// Gives the user a handle. Fails with a unique violation if they already have one.
pub(crate) async fn insert_handle(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    handle: Uuid,
) -> Result<(), DbErr> {
    webauthn_handle::Entity::insert(
        webauthn_handle::Model { user_id, handle }
            .into_active_model()
            .reset_all(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The user's passkeys, oldest first.
pub(crate) async fn list(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<passkey::Model>, DbErr> {
    passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id))
        .order_by_asc(passkey::Column::CreatedAt)
        .order_by_asc(passkey::Column::Id)
        .all(db)
        .await
}

/// How many passkeys the user has.
pub(crate) async fn count(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, DbErr> {
    passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id))
        .count(db)
        .await
}

/// The passkey whose credential id hashes to `credential_hash`, whoever owns it.
pub(crate) async fn find_by_credential(
    db: &impl ConnectionTrait,
    credential_hash: &str,
) -> Result<Option<passkey::Model>, DbErr> {
    passkey::Entity::find()
        .filter(passkey::Column::CredentialHash.eq(credential_hash))
        .unique(db)
        .await
}

/// The passkey with this credential and its owner's WebAuthn user handle, in one query
/// (a LEFT JOIN): what checking an assertion needs.
pub(crate) async fn find_by_credential_with_handle(
    db: &impl ConnectionTrait,
    credential_hash: &str,
) -> Result<Option<(passkey::Model, Option<Uuid>)>, DbErr> {
    let to_handle: RelationDef = passkey::Entity::belongs_to(webauthn_handle::Entity)
        .from(passkey::Column::UserId)
        .to(webauthn_handle::Column::UserId)
        .into();
    let found = passkey::Entity::find()
        .filter(passkey::Column::CredentialHash.eq(credential_hash))
        .join(JoinType::LeftJoin, to_handle)
        .select_also(webauthn_handle::Entity)
        .unique(db)
        .await?;
    Ok(found.map(|(passkey, handle)| (passkey, handle.map(|row| row.handle))))
}

/// The user's passkey `id` (someone else's is `None`).
pub(crate) async fn find_for_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<passkey::Model>, DbErr> {
    passkey::Entity::find_by_id(id)
        .filter(passkey::Column::UserId.eq(user_id))
        .unique(db)
        .await
}

/// Stores a new passkey. A credential id already registered (by anyone) is a unique
/// violation.
pub(crate) async fn insert(db: &impl ConnectionTrait, row: passkey::Model) -> Result<(), DbErr> {
    passkey::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Renames the user's passkey; `false` when they have no such passkey.
pub(crate) async fn rename(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
    name: &str,
) -> Result<bool, DbErr> {
    let result = passkey::Entity::update_many()
        .col_expr(passkey::Column::Name, Expr::value(name))
        .filter(passkey::Column::Id.eq(id))
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Removes the user's passkey; `false` when they have no such passkey.
pub(crate) async fn delete(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = passkey::Entity::delete_many()
        .filter(passkey::Column::Id.eq(id))
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Removes every passkey of the user (an account taken back from whoever registered it).
pub(crate) async fn delete_all(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, DbErr> {
    let result = passkey::Entity::delete_many()
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Drops every ceremony of the user in flight (a registration begun by whoever held the
/// account before it was claimed).
pub(crate) async fn delete_challenges_of(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<u64, DbErr> {
    let result = webauthn_challenge::Entity::delete_many()
        .filter(webauthn_challenge::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// What one sign-in with a passkey changes.
pub(crate) struct Use<'a> {
    pub(crate) id: Uuid,
    /// The counter the verification was checked against.
    pub(crate) seen_counter: i64,
    pub(crate) new_counter: i64,
    pub(crate) passkey_json: &'a str,
    pub(crate) backup_eligible: bool,
    pub(crate) backup_state: bool,
    pub(crate) now: OffsetDateTime,
}

/// Records a sign-in with a passkey, if the stored counter is still the one the
/// signature was checked against: of two sign-ins racing with one counting credential,
/// one moves the counter and the other sees `false` (a possibly cloned authenticator).
/// Credentials that do not count (synced passkeys stay at 0) always record.
pub(crate) async fn record_use(db: &impl ConnectionTrait, usage: Use<'_>) -> Result<bool, DbErr> {
    let result = passkey::Entity::update_many()
        .col_expr(passkey::Column::Counter, Expr::value(usage.new_counter))
        .col_expr(passkey::Column::Passkey, Expr::value(usage.passkey_json))
        .col_expr(
            passkey::Column::BackupEligible,
            Expr::value(usage.backup_eligible),
        )
        .col_expr(
            passkey::Column::BackupState,
            Expr::value(usage.backup_state),
        )
        .col_expr(passkey::Column::LastUsedAt, Expr::value(Some(usage.now)))
        .filter(passkey::Column::Id.eq(usage.id))
        .filter(passkey::Column::Counter.eq(usage.seen_counter))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Stores the state of a ceremony that just began.
pub(crate) async fn insert_challenge(
    db: &impl ConnectionTrait,
    row: webauthn_challenge::Model,
) -> Result<(), DbErr> {
    webauthn_challenge::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Removes ceremonies past their lifetime.
pub(crate) async fn sweep_challenges(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = webauthn_challenge::Entity::delete_many()
        .filter(webauthn_challenge::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Removes the user's ceremonies of `kind` (a registration begun again replaces the last).
pub(crate) async fn delete_challenges(
    db: &impl ConnectionTrait,
    kind: &str,
    user_id: Uuid,
) -> Result<(), DbErr> {
    webauthn_challenge::Entity::delete_many()
        .filter(webauthn_challenge::Column::Kind.eq(kind))
        .filter(webauthn_challenge::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The user's newest ceremony of `kind`.
pub(crate) async fn newest_challenge_of(
    db: &impl ConnectionTrait,
    kind: &str,
    user_id: Uuid,
) -> Result<Option<webauthn_challenge::Model>, DbErr> {
    webauthn_challenge::Entity::find()
        .filter(webauthn_challenge::Column::Kind.eq(kind))
        .filter(webauthn_challenge::Column::UserId.eq(user_id))
        .order_by_desc(webauthn_challenge::Column::CreatedAt)
        .one(db)
        .await
}

/// Consumes the ceremony `id` if it is in flight and of one of `kinds`, and answers it:
/// of any number of concurrent completions exactly one gets the row; the others (and
/// every replay) get `None`. One `DELETE … RETURNING` where the database has it (SQLite,
/// PostgreSQL); a read, then the delete, on MySQL.
pub(crate) async fn take_challenge_of(
    db: &impl ConnectionTrait,
    id: Uuid,
    kinds: &[&str],
) -> Result<Option<webauthn_challenge::Model>, DbErr> {
    let kinds = kinds.iter().copied().map(str::to_owned);
    if db.support_returning() {
        return webauthn_challenge::Entity::delete_many()
            .filter(webauthn_challenge::Column::Id.eq(id))
            .filter(webauthn_challenge::Column::Kind.is_in(kinds))
            .exec_with_returning(db)
            .await
            .map(|mut rows| rows.pop());
    }
    let Some(row) = webauthn_challenge::Entity::find_by_id(id)
        .filter(webauthn_challenge::Column::Kind.is_in(kinds))
        .unique(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(take_challenge(db, id).await?.then_some(row))
}

/// Consumes the ceremony: of any number of concurrent completions exactly one sees
/// `true`; the others (and every replay) see `false`.
pub(crate) async fn take_challenge(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let result = webauthn_challenge::Entity::delete_many()
        .filter(webauthn_challenge::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
