//! Rotating the signing key on demand ([`Portcullis::rotate_signing_key`](crate::Portcullis::rotate_signing_key)).

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
    let kid = keys::rotate(&ctx.db, &ctx.keys, ctx.config.retired_key_lifetime()).await?;
    ctx.key_ring.reload(&ctx.db, &ctx.keys).await?;
    ctx.auditor
        .record(AuditEvent::new(AuditKind::SigningKeyRotated).detail("kid", kid.clone()))
        .await;
    Ok(kid)
}
