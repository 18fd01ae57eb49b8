//! Rotating the signing key: on demand
//! ([`Portcullis::rotate_signing_key`](crate::Portcullis::rotate_signing_key)) and on the
//! host's schedule ([`SessionConfig::signing_key_rotation`](crate::config::SessionConfig)).

use std::time::Duration;

use crate::{
    Error,
    audit::{AuditEvent, AuditKind},
    context::Context,
    keys,
};

/// Adds a new signing key and retires the current one (see [`keys::rotate`]), reloads this
/// instance's ring at once and audits it. Returns the new `kid`.
#[tracing::instrument(skip_all)]
pub(crate) async fn rotate(ctx: &Context) -> Result<String, Error> {
    let retired_key_lifetime = ctx.config.retired_key_lifetime();
    let kid = keys::rotate(&ctx.db, &ctx.keys, retired_key_lifetime, ctx.now(), None)
        .await?
        .ok_or_else(|| Error::internal("an unconditional rotation did not rotate"))?;
    rotated(ctx, kid.clone(), "on demand").await?;
    Ok(kid)
}

/// Rotates when the active key is older than `every`. Every instance asks on each poll;
/// the database lets exactly one of those that find it due rotate, and the others pick the
/// new key up at their next reload. Returns the new `kid` when this instance rotated.
#[tracing::instrument(skip_all)]
pub(crate) async fn rotate_if_due(ctx: &Context, every: Duration) -> Result<Option<String>, Error> {
    let now = ctx.now();
    // (Validation keeps `every` within years; a clock near the epoch just finds nothing due.)
    let Some(due_before) = time::Duration::try_from(every)
        .ok()
        .and_then(|every| now.checked_sub(every))
    else {
        return Ok(None);
    };
    if ctx.key_ring.current().signing_since > due_before {
        return Ok(None);
    }
    let retired_key_lifetime = ctx.config.retired_key_lifetime();
    let rotated_now = keys::rotate(
        &ctx.db,
        &ctx.keys,
        retired_key_lifetime,
        now,
        Some(due_before),
    )
    .await?;
    match rotated_now {
        Some(kid) => {
            rotated(ctx, kid.clone(), "scheduled").await?;
            Ok(Some(kid))
        }
        None => {
            // Another instance was first: take its key now rather than at the next poll.
            ctx.key_ring.reload(&ctx.db, &ctx.keys).await?;
            Ok(None)
        }
    }
}

/// Audits the rotation (it is committed, whatever happens next) and reloads this
/// instance's ring.
async fn rotated(ctx: &Context, kid: String, why: &'static str) -> Result<(), Error> {
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::SigningKeyRotated)
                .detail("kid", kid)
                .detail("reason", why),
        )
        .await;
    ctx.key_ring.reload(&ctx.db, &ctx.keys).await
}
