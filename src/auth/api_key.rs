//! API keys in the layer: `Authorization: Bearer sk_...`.
//!
//! A key is verified like an access token: the first request looks it up by its SHA-256
//! (one indexed read) and caches the result, keyed by that hash, for at most an access
//! token's lifetime; later requests are a cache lookup and the revocation view, with no
//! database read. A revocation reaches every instance through the revocation view (the
//! key's id stands where a session id would), a deleted owner through its tombstone.
//! `last_used_at` is written at most once a minute per key, in the background.

use std::{sync::Arc, time::SystemTime};

use super::layer::{AuthState, Via};
use crate::{
    Error,
    client::ClientInfo,
    context::Context,
    crypto::{
        self,
        jwt::{ApiKeyIdentity, Claims},
    },
    entity::api_key,
    rate_limit::Limit,
    store,
    token_cache::{TokenKey, TokenRef},
};

use crypto::API_KEY_PREFIX as PREFIX;
/// `sk_` and 43 base64url characters (256 bits).
const KEY_LEN: usize = 46;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether a bearer token is an API key (rather than an access token).
pub(crate) fn is_api_key(token: &[u8]) -> bool {
    token.starts_with(PREFIX.as_bytes())
}

fn cache_key(hash: &str) -> String {
    format!("sk:{hash}")
}

/// Authenticates an API key: the cache, else the database. `Ok(None)` for anything that
/// is not a live key now (unknown, revoked, expired, its owner disabled, deleted or cut
/// off since it was made).
pub(crate) async fn authenticate(ctx: &Context, key: &str) -> Result<Option<Arc<Claims>>, Error> {
    let well_formed = key.len() == KEY_LEN
        && crypto::b64_decode(&key[PREFIX.len()..]).is_some_and(|bytes| bytes.len() == 32);
    if !well_formed {
        return Ok(None);
    }
    let hash = crypto::sha256_hex(key.as_bytes());
    let now = unix_now();
    if let Some(claims) = ctx.token_cache.get(&TokenRef(cache_key(&hash).as_bytes())) {
        // A cached key is re-read from the database once its entry runs out.
        if claims.exp > now {
            return Ok((!ctx.revocation.is_revoked(&claims)).then_some(claims));
        }
    }
    let Some(row) = store::api_keys::find_by_hash(&ctx.db, &hash).await? else {
        return Ok(None);
    };
    let Some(claims) = claims_of(ctx, &row, now).await? else {
        return Ok(None);
    };
    if ctx.revocation.is_revoked(&claims) {
        return Ok(None);
    }
    let claims = Arc::new(claims);
    ctx.token_cache
        .insert(TokenKey::new(&cache_key(&hash)), claims.clone());
    Ok(Some(claims))
}

/// The claims a live key stands for: a user key, its owner (as the owner's access token
/// would say); an organization key, the organization (`sub` is the organization's id).
/// `iat` is the key's creation, so a later cut-off of its owner (password reset,
/// disabling, deletion) ends it; `auth_time` is 0: a key is never a fresh sign-in.
async fn claims_of(ctx: &Context, row: &api_key::Model, now: i64) -> Result<Option<Claims>, Error> {
    if row.revoked_at.is_some() {
        return Ok(None);
    }
    let created = row.created_at.unix_timestamp();
    let ttl = i64::try_from(ctx.config.sessions.access_token_ttl.as_secs()).unwrap_or(300);
    let mut exp = now.saturating_add(ttl);
    if let Some(expires_at) = row.expires_at {
        if expires_at.unix_timestamp() <= now {
            return Ok(None);
        }
        exp = exp.min(expires_at.unix_timestamp());
    }
    let (sub, email, email_verified) = match (row.user_id, row.org_id) {
        (Some(user_id), None) => {
            let Some(user) = store::users::find(&ctx.db, user_id).await? else {
                return Ok(None);
            };
            // Both stamped by the database's clock, compared to the microsecond.
            let cut_off = user
                .tokens_valid_after
                .is_some_and(|at| at > row.created_at);
            if user.disabled_at.is_some() || cut_off {
                return Ok(None);
            }
            (user.id, user.email, user.email_verified_at.is_some())
        }
        (None, Some(org_id)) => {
            if store::orgs::find_org(&ctx.db, org_id).await?.is_none() {
                return Ok(None);
            }
            (org_id, None, false)
        }
        _ => return Ok(None),
    };
    // The same features a session's token would carry for this user or organization.
    let features = crate::flows::features::of_token(ctx, &ctx.db, sub, row.org_id).await?;
    Ok(Some(Claims {
        iss: ctx.origins.issuer.clone(),
        sub,
        sid: row.id,
        iat: created,
        nbf: created,
        exp,
        auth_time: 0,
        email,
        email_verified,
        amr: Vec::new(),
        acr: row.acr.clone(),
        org_id: row.org_id,
        org_role: None,
        act: None,
        features,
        api_key: Some(ApiKeyIdentity {
            id: row.id,
            created_at: row.created_at,
            org_id: row.org_id,
            scopes: row
                .scopes
                .as_deref()
                .map(|scopes| scopes.split_whitespace().map(str::to_owned).collect()),
        }),
    }))
}

/// The layer's verdict on a request carrying an API key: authenticated (its use
/// recorded), throttled by the key's own limit, or anonymous.
pub(crate) async fn admit(ctx: &Context, key: &str) -> Result<AuthState, Error> {
    let Some(claims) = authenticate(ctx, key).await? else {
        return Ok(AuthState::Anonymous);
    };
    let id = claims.sid.to_string();
    match ctx
        .throttle
        .check(Limit::ApiKeyRequests, &id, &ClientInfo::default())
        .await
    {
        Ok(()) => {}
        Err(Error::RateLimited { retry_after_secs }) => {
            return Ok(AuthState::Throttled { retry_after_secs });
        }
        Err(other) => return Err(other),
    }
    record_use(ctx, &claims);
    Ok(AuthState::Authenticated {
        claims,
        via: Via::Bearer,
    })
}

/// Records a use of the key behind `claims` (at most once a minute, in the background).
pub(crate) fn record_use(ctx: &Context, claims: &Claims) {
    let Some(key) = &claims.api_key else { return };
    if !ctx.key_uses.due(key.id, unix_now()) {
        return;
    }
    let db = ctx.db.clone();
    let id = key.id;
    let now = store::now();
    tokio::spawn(async move {
        if let Err(err) = store::api_keys::touch(&db, id, now).await {
            tracing::warn!(error = %err, key_id = %id, "recording an API key's use failed");
        }
    });
}
