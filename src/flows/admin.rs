//! The admin surface (`/v1/admin`): find, inspect, create, change, disable, impersonate
//! and delete users, revoke their sessions, read the audit trail.
//!
//! - Every call re-reads the caller's role ([`require_admin`]): a demoted admin loses
//!   access on their next request. API keys and impersonated sessions never get in.
//! - Every change is audited with the acting admin (`actor_id`); destructive ones (delete,
//!   disable, revoke sessions, role changes, impersonation) need a fresh session.
//! - Listings page by keyset (newest first by UUIDv7 id, `limit` at most 100): an index
//!   walk whatever the depth, and no duplicates or gaps while rows are inserted.

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    Error,
    audit::{AuditEvent, AuditKind},
    client::ClientInfo,
    context::Context,
    crypto::jwt::Claims,
    entity::{audit_event, membership, organization, session, user},
    flows::{
        mfa::{self, MfaStatus},
        password_recovery::{self, ForgotOptions},
        profile,
        sessions::{self, AccessToken, require_interactive},
        users::{self, NewUser, UserRole, Users},
    },
    policy::roles::ADMIN_ROLE,
    store::{self, admin::AuditQuery},
};

pub(crate) use crate::store::admin::UserQuery;

/// What an audit query asks for (`GET /v1/admin/audit`).
pub(crate) type AuditFilter = AuditQuery;

/// The most rows one page may ask for.
pub(crate) const MAX_LIMIT: u64 = 100;
/// A page's size when the caller does not say.
pub(crate) const DEFAULT_LIMIT: u64 = 50;

/// The caller, provided they are an admin right now (their row, re-read), signed in
/// interactively (not an API key, not an impersonation) and not disabled; 403 otherwise.
pub(crate) async fn require_admin(ctx: &Context, claims: &Claims) -> Result<user::Model, Error> {
    require_interactive(claims)?;
    let admin = store::users::find(&ctx.db, claims.sub)
        .await?
        .ok_or(Error::Unauthorized)?;
    if admin.role != ADMIN_ROLE || admin.disabled_at.is_some() {
        return Err(Error::forbidden("this needs an administrator"));
    }
    Ok(admin)
}

/// A page size: `limit` within 1..=100, 50 when absent.
pub(crate) fn page_size(limit: Option<u64>) -> Result<u64, Error> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(Error::invalid_request("limit: 1 to 100")),
    }
}

/// One page of rows and the cursor of the next, if there is one.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) rows: Vec<T>,
    pub(crate) next_cursor: Option<Uuid>,
}

/// Cuts the `limit + 1` rows a query fetched into a page.
fn page<T>(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(&id) } else { None };
    Page { rows, next_cursor }
}

/// `GET /v1/admin/users`: newest first, by search and filters; each user with whether
/// they have a password (one query for the page).
pub(crate) async fn list_users(
    ctx: &Context,
    claims: &Claims,
    query: UserQuery,
) -> Result<Page<(user::Model, bool)>, Error> {
    require_admin(ctx, claims).await?;
    let limit = query.limit;
    let rows = store::admin::users(&ctx.db, &query).await?;
    let ids: Vec<Uuid> = rows.iter().map(|user| user.id).collect();
    let with_password = store::users::with_passwords(&ctx.db, &ids).await?;
    let rows = rows
        .into_iter()
        .map(|user| {
            let has_password = with_password.contains(&user.id);
            (user, has_password)
        })
        .collect();
    Ok(page(rows, limit, |(user, _)| user.id))
}

/// What `POST /v1/admin/users` takes.
#[derive(Debug)]
pub(crate) struct NewAccount {
    pub(crate) email: String,
    pub(crate) name: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) email_verified: bool,
    /// Email a link to choose a password (the reset email).
    pub(crate) send_invite: bool,
}

/// `POST /v1/admin/users`: an account made by an admin (optionally emailed a link to set
/// its password).
#[tracing::instrument(skip_all, fields(user.id = %claims.sub))]
pub(crate) async fn create_user(
    ctx: &Arc<Context>,
    claims: &Claims,
    new: NewAccount,
    client: &ClientInfo,
) -> Result<user::Model, Error> {
    let admin = require_admin(ctx, claims).await?;
    if new.email_verified {
        // Vouching for an address takes it from whoever could prove it (and may make an
        // admin of a listed one): a fresh session only.
        sessions::require_fresh(ctx, claims.auth_time)?;
    }
    let mut account = NewUser::new(new.email).email_verified(new.email_verified);
    if let Some(password) = new.password {
        account = account.password(password);
    }
    if let Some(name) = new.name {
        account = account.name(name);
    }
    let user = Users::new(ctx).create(account).await?;
    audit(
        ctx,
        AuditEvent::new(AuditKind::AdminUserCreated)
            .user(user.id)
            .actor(admin.id)
            .client(client),
    )
    .await;
    if new.send_invite
        && let Some(email) = &user.email
    {
        password_recovery::forgot(ctx, email, ForgotOptions::default(), client).await?;
    }
    Ok(user)
}

/// Everything an admin sees of one user.
#[derive(Debug)]
pub(crate) struct Detail {
    pub(crate) user: user::Model,
    pub(crate) has_password: bool,
    pub(crate) sessions: Vec<session::Model>,
    #[cfg(feature = "passkeys")]
    pub(crate) passkeys: Vec<crate::entity::passkey::Model>,
    pub(crate) accounts: Vec<crate::entity::oauth_account::Model>,
    pub(crate) memberships: Vec<(membership::Model, organization::Model)>,
    pub(crate) mfa: MfaStatus,
    pub(crate) api_keys: Vec<crate::entity::api_key::Model>,
}

async fn target(ctx: &Context, id: Uuid) -> Result<user::Model, Error> {
    store::users::find(&ctx.db, id)
        .await?
        .ok_or(Error::NotFound)
}

/// `GET /v1/admin/users/{id}`.
pub(crate) async fn user_detail(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    client: &ClientInfo,
) -> Result<Detail, Error> {
    let admin = require_admin(ctx, claims).await?;
    let user = target(ctx, id).await?;
    audit(
        ctx,
        AuditEvent::new(AuditKind::AdminUserViewed)
            .user(id)
            .actor(admin.id)
            .client(client),
    )
    .await;
    let has_password = store::users::password_hash(&ctx.db, id).await?.is_some();
    Ok(Detail {
        has_password,
        sessions: store::sessions::list_active(&ctx.db, id, ctx.now()).await?,
        #[cfg(feature = "passkeys")]
        passkeys: store::passkeys::list(&ctx.db, id).await?,
        accounts: store::oauth::list_accounts(&ctx.db, id).await?,
        memberships: store::orgs::memberships_of(&ctx.db, id).await?,
        mfa: mfa::status(ctx, id).await?,
        api_keys: store::api_keys::of_user(&ctx.db, id).await?,
        user,
    })
}

/// What `PATCH /v1/admin/users/{id}` may change.
#[derive(Debug, Default)]
pub(crate) struct Change {
    pub(crate) name: Option<Option<String>>,
    pub(crate) metadata: Option<serde_json::Value>,
    pub(crate) private_metadata: Option<serde_json::Value>,
    pub(crate) email_verified: Option<bool>,
    pub(crate) role: Option<String>,
}

/// `PATCH /v1/admin/users/{id}`: a role change needs a fresh session.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub))]
pub(crate) async fn update_user(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    change: Change,
    client: &ClientInfo,
) -> Result<(user::Model, bool), Error> {
    let admin = require_admin(ctx, claims).await?;
    let before = target(ctx, id).await?;
    let role = change
        .role
        .as_deref()
        .map(|name| {
            UserRole::parse(name).ok_or_else(|| Error::invalid_request("role: user or admin"))
        })
        .transpose()?;
    if role == Some(UserRole::User) {
        not_yourself(&admin, id, "give up your own admin role")?;
    }
    if role.is_some() || change.email_verified.is_some() {
        sessions::require_fresh(ctx, claims.auth_time)?;
    }
    // Everything is checked before anything is written.
    let mut fields: Vec<&str> = Vec::new();
    let now = ctx.now();
    let profile_change = store::users::ProfileChange {
        name: change.name.map(profile::name).transpose()?,
        image_url: None,
        metadata: change
            .metadata
            .map(|value| profile::metadata(Some(value)))
            .transpose()?,
        now,
    };
    let private_metadata = change
        .private_metadata
        .map(|value| profile::metadata(Some(value)))
        .transpose()?;
    if profile_change.name.is_some() {
        fields.push("name");
    }
    if profile_change.metadata.is_some() {
        fields.push("metadata");
    }
    if !fields.is_empty() {
        store::users::update_profile(&ctx.db, id, profile_change).await?;
    }
    if private_metadata.is_some() {
        fields.push("private_metadata");
    }
    let email_verified_at = match change.email_verified {
        Some(true) if before.email_verified_at.is_none() => Some(Some(now)),
        Some(false) if before.email_verified_at.is_some() => Some(None),
        _ => None,
    };
    if email_verified_at.is_some() {
        fields.push("email_verified");
    }
    let role_changed = role.filter(|role| role.as_str() != before.role);
    store::users::admin_update(
        &ctx.db,
        id,
        store::users::AdminChange {
            private_metadata,
            email_verified_at,
            role: role_changed.map(|role| role.as_str().to_owned()),
            now: Some(now),
        },
    )
    .await?;
    if !fields.is_empty() {
        audit(
            ctx,
            AuditEvent::new(AuditKind::AdminUserUpdated)
                .user(id)
                .actor(admin.id)
                .client(client)
                .detail("fields", fields),
        )
        .await;
    }
    if let Some(role) = role_changed {
        audit(
            ctx,
            AuditEvent::new(AuditKind::UserRoleChanged)
                .user(id)
                .actor(admin.id)
                .client(client)
                .detail("role", role.as_str()),
        )
        .await;
    }
    let has_password = store::users::password_hash(&ctx.db, id).await?.is_some();
    Ok((target(ctx, id).await?, has_password))
}

/// An admin cannot lock themselves out: disabling, deleting or demoting their own account
/// through the admin API answers 409 `conflict` (another admin can).
fn not_yourself(admin: &user::Model, target: Uuid, what: &str) -> Result<(), Error> {
    if admin.id == target {
        return Err(Error::Conflict(format!("an admin cannot {what}").into()));
    }
    Ok(())
}

/// `DELETE /v1/admin/users/{id}` (fresh session).
#[tracing::instrument(skip_all, fields(user.id = %claims.sub))]
pub(crate) async fn delete_user(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    let admin = require_admin(ctx, claims).await?;
    not_yourself(&admin, id, "delete your own account here")?;
    sessions::require_fresh(ctx, claims.auth_time)?;
    if !users::delete(ctx, id, Some(admin.id), client).await? {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// `POST /v1/admin/users/{id}/disable` (fresh session) and `/enable`.
pub(crate) async fn set_disabled(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    disabled: bool,
    client: &ClientInfo,
) -> Result<(), Error> {
    let admin = require_admin(ctx, claims).await?;
    if disabled {
        not_yourself(&admin, id, "disable your own account")?;
        sessions::require_fresh(ctx, claims.auth_time)?;
    }
    let users = Users::new(ctx);
    let found = if disabled {
        users.disable(id).await?
    } else {
        users.enable(id).await?
    };
    if !found {
        return Err(Error::NotFound);
    }
    let kind = if disabled {
        AuditKind::UserDisabled
    } else {
        AuditKind::UserEnabled
    };
    audit(
        ctx,
        AuditEvent::new(kind)
            .user(id)
            .actor(admin.id)
            .client(client),
    )
    .await;
    Ok(())
}

/// `DELETE /v1/admin/users/{id}/api-keys`: revokes every API key of the user (after a
/// compromise); at once here, within the revocation poll everywhere.
pub(crate) async fn revoke_api_keys_of(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    client: &ClientInfo,
) -> Result<usize, Error> {
    let admin = require_admin(ctx, claims).await?;
    sessions::require_fresh(ctx, claims.auth_time)?;
    target(ctx, id).await?;
    let (ids, at) = store::api_keys::revoke_all_of_user(&ctx.db, id).await?;
    let count = ids.len();
    ctx.revocation.apply(
        &store::sessions::Revoked { ids, at },
        ctx.config.token_window(),
    );
    audit(
        ctx,
        AuditEvent::new(AuditKind::AdminApiKeysRevoked)
            .user(id)
            .actor(admin.id)
            .client(client)
            .detail("keys_revoked", count),
    )
    .await;
    Ok(count)
}

/// `GET /v1/admin/users/{id}/sessions`: the user's live sessions, newest first.
pub(crate) async fn sessions_of(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
) -> Result<Vec<session::Model>, Error> {
    require_admin(ctx, claims).await?;
    target(ctx, id).await?;
    Ok(store::sessions::list_active(&ctx.db, id, ctx.now()).await?)
}

/// `DELETE /v1/admin/users/{id}/sessions` (fresh session): every session of the user.
pub(crate) async fn revoke_sessions_of(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    client: &ClientInfo,
) -> Result<usize, Error> {
    let admin = require_admin(ctx, claims).await?;
    sessions::require_fresh(ctx, claims.auth_time)?;
    target(ctx, id).await?;
    let revoked = sessions::revoke(ctx, id, None, None, "admin").await?;
    audit(
        ctx,
        AuditEvent::new(AuditKind::AdminSessionsRevoked)
            .user(id)
            .actor(admin.id)
            .client(client)
            .detail("sessions_revoked", revoked.len()),
    )
    .await;
    Ok(revoked.len())
}

/// `POST /v1/admin/users/{id}/impersonate` (fresh session): an hour, at most, as that
/// user; never another admin, never a disabled account. Audited on both users.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub))]
pub(crate) async fn impersonate(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    reason: &str,
    client: &ClientInfo,
) -> Result<(AccessToken, user::Model, bool), Error> {
    let admin = require_admin(ctx, claims).await?;
    sessions::require_fresh(ctx, claims.auth_time)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(Error::invalid_request(
            "reason: 1 to 500 characters, no control characters",
        ));
    }
    let user = target(ctx, id).await?;
    if user.role == ADMIN_ROLE {
        return Err(Error::forbidden("admins are never impersonated"));
    }
    if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    let token = sessions::start_impersonation(ctx, &user, admin.id, client).await?;
    for (on, other) in [(user.id, admin.id), (admin.id, user.id)] {
        audit(
            ctx,
            AuditEvent::new(AuditKind::Impersonated)
                .user(on)
                .actor(admin.id)
                .session(token.session.id)
                .client(client)
                .detail("reason", reason)
                .detail(
                    if on == user.id {
                        "admin_id"
                    } else {
                        "target_id"
                    },
                    other.to_string(),
                ),
        )
        .await;
    }
    let has_password = store::users::password_hash(&ctx.db, user.id)
        .await?
        .is_some();
    Ok((token, user, has_password))
}

/// `GET /v1/admin/audit`.
pub(crate) async fn audit_trail(
    ctx: &Context,
    claims: &Claims,
    query: AuditFilter,
) -> Result<Page<audit_event::Model>, Error> {
    require_admin(ctx, claims).await?;
    let limit = query.limit;
    let rows = store::admin::audit(&ctx.db, &query).await?;
    Ok(page(rows, limit, |event| event.id))
}

/// `GET /me/activity`: the caller's own audit trail (sign-ins, changes, and any
/// impersonation of them), newest first.
pub(crate) async fn activity(
    ctx: &Context,
    user_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Page<audit_event::Model>, Error> {
    let query = AuditQuery {
        user_id: Some(user_id),
        before,
        limit,
        ..AuditQuery::default()
    };
    let rows = store::admin::audit(&ctx.db, &query).await?;
    Ok(page(rows, limit, |event| event.id))
}

async fn audit(ctx: &Context, event: AuditEvent) {
    ctx.auditor.record(event).await;
}
