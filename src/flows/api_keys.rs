//! API keys: create, list and revoke the keys of a user (`/me/api-keys`) and of an
//! organization (`/v1/orgs/{id}/api-keys`). Authenticating a key is the layer's work
//! (`auth::api_key`).
//!
//! - A key is `sk_` + 256 random bits, shown once; only its SHA-256 is stored, with a
//!   short prefix for lists.
//! - Creating one takes an interactive, fresh session (never another key, never an
//!   impersonation); it carries what that session proved (`acr`), never more.
//! - Scopes are permission names (`org:read`, ...; for user keys also `user:read`,
//!   `user:write`). A user key without scopes may do what its owner may do, except what
//!   needs an interactive session. An organization key acts as the organization with
//!   exactly its scopes, which must be among what its creator's role grants.
//! - Revocation is at once on this instance and within the poll interval on the others.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Error,
    audit::{AuditEvent, AuditKind},
    client::ClientInfo,
    context::Context,
    crypto::{self, jwt::Claims},
    entity::{Redacted, api_key},
    flows::{
        orgs::{self, Caller},
        sessions,
    },
    policy::roles::{API_KEYS_MANAGE, USER_READ, USER_WRITE},
    rate_limit::Limit,
    store,
};

/// Live keys one user or organization may hold.
const MAX_KEYS: usize = 50;
/// Scopes one key may list.
const MAX_SCOPES: usize = 64;
/// The longest lifetime a key may be given, in days.
const MAX_DAYS: u32 = 3650;

/// What a new key is: its name, scopes and lifetime.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewKey {
    pub(crate) name: String,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) expires_in_days: Option<u32>,
}

pub(crate) use super::sessions::require_interactive;

fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid_request(
            "name: 1 to 100 characters, no control characters",
        ));
    }
    Ok(name.to_owned())
}

/// The scopes as stored (space-separated, deduplicated), each allowed by `allowed`.
fn check_scopes(
    scopes: Option<Vec<String>>,
    allowed: impl Fn(&str) -> bool,
) -> Result<Option<String>, Error> {
    let Some(mut scopes) = scopes else {
        return Ok(None);
    };
    scopes.sort();
    scopes.dedup();
    if scopes.len() > MAX_SCOPES {
        return Err(Error::invalid_request("scopes: at most 64"));
    }
    if let Some(bad) = scopes.iter().find(|scope| !allowed(scope)) {
        return Err(Error::invalid_request(format!(
            "scopes: {bad:?} is not a permission this key may have"
        )));
    }
    Ok(Some(scopes.join(" ")))
}

fn expiry(now: OffsetDateTime, days: Option<u32>) -> Result<Option<OffsetDateTime>, Error> {
    match days {
        None => Ok(None),
        Some(days) if (1..=MAX_DAYS).contains(&days) => {
            Ok(Some(now + time::Duration::days(i64::from(days))))
        }
        Some(_) => Err(Error::invalid_request(
            "expires_in_days: 1 to 3650, or leave it out",
        )),
    }
}

/// A new key row and its secret.
fn mint(
    claims: &Claims,
    user_id: Option<Uuid>,
    org_id: Option<Uuid>,
    name: String,
    scopes: Option<String>,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> (api_key::Model, String) {
    let secret = crypto::new_api_key();
    let row = api_key::Model {
        id: Uuid::now_v7(),
        user_id,
        org_id,
        created_by: claims.sub,
        name,
        prefix: crypto::api_key_prefix(&secret),
        key_hash: Redacted(crypto::sha256_hex(secret.as_bytes())),
        scopes,
        acr: claims.acr.clone(),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    (row, secret)
}

async fn created(ctx: &Context, claims: &Claims, row: &api_key::Model, client: &ClientInfo) {
    let mut event = AuditEvent::new(AuditKind::ApiKeyCreated)
        .user(claims.sub)
        .session(claims.sid)
        .client(client)
        .detail("key_id", row.id.to_string())
        .detail("prefix", row.prefix.clone());
    if let Some(org_id) = row.org_id {
        event = event.detail("org_id", org_id.to_string());
    }
    ctx.auditor.record(event).await;
}

/// `POST /me/api-keys` (fresh session): a key of the signed-in user.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub))]
pub(crate) async fn create_for_user(
    ctx: &Context,
    claims: &Claims,
    new: NewKey,
    client: &ClientInfo,
) -> Result<(api_key::Model, String), Error> {
    require_interactive(claims)?;
    sessions::require_fresh(ctx, claims.auth_time)?;
    ctx.throttle
        .check(Limit::ApiKeyCreatePerUser, &claims.sub.to_string(), client)
        .await?;
    let name = check_name(&new.name)?;
    let roles = &ctx.roles;
    let scopes = check_scopes(new.scopes, |scope| {
        scope == USER_READ || scope == USER_WRITE || roles.knows(scope)
    })?;
    let now = ctx.now();
    let expires_at = expiry(now, new.expires_in_days)?;
    if store::api_keys::of_user(&ctx.db, claims.sub).await?.len() >= MAX_KEYS {
        return Err(Error::Conflict(
            "this account has 50 keys: revoke one first".into(),
        ));
    }
    let (row, secret) = mint(
        claims,
        Some(claims.sub),
        None,
        name,
        scopes,
        expires_at,
        now,
    );
    let row = store::api_keys::insert(&ctx.db, row).await?;
    created(ctx, claims, &row, client).await;
    Ok((row, secret))
}

/// `POST /v1/orgs/{id}/api-keys`: a key of the organization (`api_keys:manage`, from an
/// interactive session). Its scopes default to, and never exceed, what the creator's role
/// grants.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub, org.id = %org_id))]
pub(crate) async fn create_for_org(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
    new: NewKey,
    client: &ClientInfo,
) -> Result<(api_key::Model, String), Error> {
    require_interactive(claims)?;
    // A key outlives the session that made it: only a fresh one may.
    sessions::require_fresh(ctx, claims.auth_time)?;
    let (_, role) =
        orgs::authorize(ctx, &ctx.db, Caller::of(claims), org_id, API_KEYS_MANAGE).await?;
    ctx.throttle
        .check(Limit::ApiKeyCreatePerUser, &claims.sub.to_string(), client)
        .await?;
    let name = check_name(&new.name)?;
    let requested = new.scopes.or_else(|| Some(role.permissions.clone()));
    let scopes = check_scopes(requested, |scope| role.grants(scope))?;
    let now = ctx.now();
    let expires_at = expiry(now, new.expires_in_days)?;
    if store::api_keys::of_org(&ctx.db, org_id).await?.len() >= MAX_KEYS {
        return Err(Error::Conflict(
            "this organization has 50 keys: revoke one first".into(),
        ));
    }
    let (row, secret) = mint(claims, None, Some(org_id), name, scopes, expires_at, now);
    let row = store::api_keys::insert(&ctx.db, row).await?;
    created(ctx, claims, &row, client).await;
    Ok((row, secret))
}

/// `GET /me/api-keys`: the user's live keys, newest first.
pub(crate) async fn list_for_user(
    ctx: &Context,
    user_id: Uuid,
) -> Result<Vec<api_key::Model>, Error> {
    Ok(store::api_keys::of_user(&ctx.db, user_id).await?)
}

/// `GET /v1/orgs/{id}/api-keys` (`api_keys:manage`).
pub(crate) async fn list_for_org(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
) -> Result<Vec<api_key::Model>, Error> {
    orgs::authorize(ctx, &ctx.db, Caller::of(claims), org_id, API_KEYS_MANAGE).await?;
    Ok(store::api_keys::of_org(&ctx.db, org_id).await?)
}

/// Revokes a key at once on this instance; the others see it within the poll interval.
async fn revoked(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    at: Option<OffsetDateTime>,
    client: &ClientInfo,
) -> Result<(), Error> {
    let Some(at) = at else {
        return Err(Error::NotFound);
    };
    let window = i64::try_from(ctx.config.token_window().as_secs()).unwrap_or(i64::MAX);
    ctx.revocation
        .revoke_sessions(&[id], at.unix_timestamp().saturating_add(window));
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::ApiKeyRevoked)
                .user(claims.sub)
                .client(client)
                .detail("key_id", id.to_string()),
        )
        .await;
    Ok(())
}

/// `DELETE /me/api-keys/{id}`: 404 for a key that is not the caller's (or already dead).
pub(crate) async fn revoke_for_user(
    ctx: &Context,
    claims: &Claims,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    let at = store::api_keys::revoke(&ctx.db, id, Some(claims.sub), None).await?;
    revoked(ctx, claims, id, at, client).await
}

/// `DELETE /v1/orgs/{id}/api-keys/{key_id}` (`api_keys:manage`).
pub(crate) async fn revoke_for_org(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    orgs::authorize(ctx, &ctx.db, Caller::of(claims), org_id, API_KEYS_MANAGE).await?;
    let at = store::api_keys::revoke(&ctx.db, id, None, Some(org_id)).await?;
    revoked(ctx, claims, id, at, client).await
}

/// How long revoked and expired keys are kept (lists show neither; the audit trail keeps
/// their story).
pub(crate) const DEAD_KEY_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_deduplicated_and_checked() {
        let allowed = |s: &str| s == "org:read" || s == "user:read";
        assert_eq!(check_scopes(None, allowed).unwrap(), None);
        assert_eq!(
            check_scopes(
                Some(vec![
                    "user:read".into(),
                    "org:read".into(),
                    "org:read".into()
                ]),
                allowed
            )
            .unwrap()
            .as_deref(),
            Some("org:read user:read")
        );
        assert!(check_scopes(Some(vec!["org:delete".into()]), allowed).is_err());
    }

    #[test]
    fn names_and_lifetimes_are_checked() {
        assert!(check_name("  ci  ").is_ok_and(|n| n == "ci"));
        assert!(check_name("").is_err());
        assert!(check_name("a\nb").is_err());
        let now = OffsetDateTime::now_utc();
        assert!(expiry(now, Some(0)).is_err());
        assert!(expiry(now, Some(3651)).is_err());
        assert!(expiry(now, Some(30)).unwrap().is_some());
        assert!(expiry(now, None).unwrap().is_none());
    }
}
