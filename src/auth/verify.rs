//! Access-token verification with the verified-token cache and the revocation view.

use std::{sync::Arc, time::SystemTime};

use crate::{
    Error,
    context::Context,
    crypto::jwt::{self, Claims, Expectations, VerifyError},
    store,
    token_cache::{TokenKey, TokenRef},
};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn expectations(ctx: &Context) -> Expectations<'_> {
    Expectations {
        issuer: &ctx.origins.issuer,
        now: unix_now(),
        leeway: i64::try_from(ctx.config.sessions.clock_leeway.as_secs()).unwrap_or(0),
    }
}

/// The synchronous first look at a token.
pub(crate) enum FirstLook {
    /// Verified earlier, still within its lifetime, not revoked.
    Valid(Arc<Claims>),
    /// Verified earlier but no longer acceptable (expired or revoked).
    Invalid,
    /// Never seen: the signature must be checked.
    Unseen,
}

/// Looks the token up in the cache of verified tokens. No allocation, no I/O, and no
/// UTF-8 check (a token byte-equal to a verified one is as valid as it).
pub(crate) fn first_look(ctx: &Context, token: &[u8]) -> FirstLook {
    let Some(claims) = ctx.token_cache.get(&TokenRef(token)) else {
        return FirstLook::Unseen;
    };
    // API keys share the cache under their hash (`sk:...`): that entry is no token.
    if claims.api_key.is_some() {
        return FirstLook::Invalid;
    }
    // Issuer and not-before were checked when the token was cached and cannot change;
    // only expiry and revocation can.
    let expect = expectations(ctx);
    if claims.exp <= expect.now - expect.leeway || ctx.revocation.is_revoked(&claims) {
        return FirstLook::Invalid;
    }
    FirstLook::Valid(claims)
}

/// Fully authenticates a token: cache, signature, claims, revocation view, and the
/// database in strict mode. `Ok(None)` for any token that is not valid now.
pub(crate) async fn authenticate(ctx: &Context, token: &str) -> Result<Option<Arc<Claims>>, Error> {
    let claims = match first_look(ctx, token.as_bytes()) {
        FirstLook::Valid(claims) => claims,
        FirstLook::Invalid => return Ok(None),
        FirstLook::Unseen => match verify_signature(ctx, token).await? {
            Some(claims) => claims,
            None => return Ok(None),
        },
    };
    if ctx.config.sessions.strict_revocation && !still_valid_in_db(ctx, &claims).await? {
        return Ok(None);
    }
    Ok(Some(claims))
}

/// First-sight verification without the cache: signature, claims, revocation view.
pub(crate) fn verify_uncached(ctx: &Context, token: &str) -> bool {
    jwt::verify(token, &ctx.key_ring.current().verifying, &expectations(ctx))
        .is_ok_and(|claims| !ctx.revocation.is_revoked(&claims))
}

/// Checks the signature and claims of a token not in the cache, caching it on success.
pub(crate) async fn verify_signature(
    ctx: &Context,
    token: &str,
) -> Result<Option<Arc<Claims>>, Error> {
    let mut result = jwt::verify(token, &ctx.key_ring.current().verifying, &expectations(ctx));
    if result == Err(VerifyError::UnknownKey) && ctx.key_ring.may_reload() {
        // Maybe another instance rotated the key a moment ago.
        ctx.key_ring.reload(&ctx.db, &ctx.keys).await?;
        result = jwt::verify(token, &ctx.key_ring.current().verifying, &expectations(ctx));
    }
    match result {
        Ok(claims) => {
            if ctx.revocation.is_revoked(&claims) {
                return Ok(None);
            }
            let claims = Arc::new(claims);
            ctx.token_cache.insert(TokenKey::new(token), claims.clone());
            Ok(Some(claims))
        }
        Err(reason) => {
            tracing::debug!(%reason, "access token refused");
            Ok(None)
        }
    }
}

/// Strict mode: the session is live and the user enabled, according to the database.
async fn still_valid_in_db(ctx: &Context, claims: &Claims) -> Result<bool, Error> {
    let now = store::now();
    let Some(session) = store::sessions::find(&ctx.db, claims.sid).await? else {
        return Ok(false);
    };
    if session.revoked_at.is_some()
        || session.expires_at <= now
        || session.idle_expires_at <= now
        || session.user_id != claims.sub
    {
        return Ok(false);
    }
    let Some(user) = store::users::find(&ctx.db, claims.sub).await? else {
        return Ok(false);
    };
    let cut_off = user
        .tokens_valid_after
        .is_some_and(|at| claims.iat < at.unix_timestamp());
    Ok(user.disabled_at.is_none() && !cut_off)
}
