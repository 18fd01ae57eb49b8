//! Email verification: send a one-time link, then mark the address verified.
//!
//! Sending answers the same whatever the address (and whether or not it has an account,
//! or is already verified): the lookup, the token and the email all happen in the
//! background after the answer.

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    delivery::Message,
    entity::user,
    flows::{
        one_time::{self, Purpose},
        sessions,
    },
    origin,
    rate_limit::Limit,
    store,
};

/// Who asked for a verification email.
#[derive(Debug, Clone)]
pub(crate) enum Recipient {
    /// The signed-in user, for their own address.
    SignedIn(Uuid),
    /// Someone signed out, naming an address (normalised).
    Email(String),
}

/// Sends a verification link, if there is an unverified account to send it to. Always
/// answers the same; only bad input and throttling are errors.
#[tracing::instrument(skip_all)]
pub(crate) async fn send(
    ctx: &Arc<Context>,
    recipient: Recipient,
    redirect_url: Option<String>,
    client: &ClientInfo,
) -> Result<(), Error> {
    let redirect_url = redirect_url
        .map(|target| {
            ctx.origins
                .check_redirect_for(&target, client.app.as_deref())
        })
        .transpose()?;
    let recipient_key = match &recipient {
        Recipient::SignedIn(id) => format!("user:{id}"),
        Recipient::Email(email) => format!("email:{email}"),
    };
    // The client's own limit, then everyone's, and only then a key per recipient: a flood
    // the global limit stops never fills memory with recipients.
    ctx.throttle
        .check(Limit::VerificationSendPerIp, &client.ip_key(), client)
        .await?;
    ctx.throttle
        .check(Limit::EmailSendGlobal, "", client)
        .await?;
    ctx.throttle
        .check(Limit::VerificationSendPerRecipient, &recipient_key, client)
        .await?;

    let ctx = ctx.clone();
    let client = client.clone();
    let sending = ctx.outbox.track();
    tokio::spawn(async move {
        let _sending = sending;
        if let Err(err) = send_now(&ctx, recipient, redirect_url, &client).await {
            tracing::error!(error = ?err, "sending a verification email failed");
        }
    });
    Ok(())
}

async fn send_now(
    ctx: &Arc<Context>,
    recipient: Recipient,
    redirect_url: Option<String>,
    client: &ClientInfo,
) -> Result<(), Error> {
    let user = match recipient {
        Recipient::SignedIn(id) => store::users::find(&ctx.db, id).await?,
        Recipient::Email(email) => store::users::find_by_email(&ctx.db, &email).await?,
    };
    let Some(user) = user.filter(|u| u.email_verified_at.is_none() && u.disabled_at.is_none())
    else {
        return Ok(());
    };
    let Some(email) = user.email.clone() else {
        return Ok(());
    };
    // The token and the email carrying it commit together.
    one_time::supersede(ctx, Purpose::EmailVerification, &email).await?;
    let txn = store::begin(&ctx.db).await?;
    let token = one_time::issue(
        ctx,
        &txn,
        Purpose::EmailVerification,
        Some(user.id),
        &email,
        ctx.config.email.verification_ttl,
        None,
    )
    .await?;
    // The link points at our own `GET /email/verify`, on the configured public URL only.
    let mut link = format!(
        "{}{}/email/verify?token={token}",
        ctx.origins.issuer, ctx.config.auth_base_path
    );
    if let Some(target) = &redirect_url {
        link = origin::with_query(&link, "redirect_url", &origin::encode_query_value(target));
    }
    let message = ctx.outbox.render(
        &email,
        &Message::EmailVerification { link: &link },
        &ctx.branding_for(client.app.as_deref()),
    );
    let expires = ctx.after(ctx.config.email.verification_ttl);
    ctx.outbox
        .send_on_commit(txn, message, Some(user.id), Some(expires))
        .await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::EmailVerificationSent)
                .user(user.id)
                .client(client),
        )
        .await;
    Ok(())
}

/// What a live verification link is for, without consuming it (for the confirm page): the
/// address and when its account was created.
pub(crate) async fn peek(
    ctx: &Context,
    token: &str,
) -> Result<Option<(String, time::OffsetDateTime)>, Error> {
    if token.len() != 43 {
        return Ok(None);
    }
    let hash = crate::crypto::sha256_hex(token.as_bytes());
    let Some(row) = store::one_time::find(&ctx.db, Purpose::EmailVerification.as_str(), &hash)
        .await?
        .filter(|row| row.consumed_at.is_none() && row.expires_at > ctx.now())
    else {
        return Ok(None);
    };
    let user = match row.user_id {
        Some(id) => store::users::find(&ctx.db, id).await?,
        None => None,
    };
    let Some(user) = user else {
        return Ok(None);
    };
    Ok(row
        .identifier
        .filter(|address| user.email.as_deref() == Some(address.as_str()))
        .map(|address| (address, user.created_at)))
}

/// Consumes a verification token and marks its address verified, in one transaction.
#[tracing::instrument(skip_all)]
pub(crate) async fn verify(
    ctx: &Context,
    token: &str,
    client: &ClientInfo,
) -> Result<user::Model, Error> {
    ctx.throttle
        .check(Limit::RedeemPerIp, &client.ip_key(), client)
        .await?;
    let txn = store::begin(&ctx.db).await?;
    let row = one_time::consume(&txn, Purpose::EmailVerification, token, ctx.now()).await?;
    let user = match row.user_id {
        Some(id) => store::users::find(&txn, id).await?,
        None => None,
    }
    .ok_or(Error::TokenInvalid)?;
    // Bound to the exact address it was sent to: after an email change it is worthless.
    if user.email.is_none() || user.email != row.identifier {
        return Err(Error::TokenInvalid);
    }
    let now = ctx.now();
    store::users::mark_email_verified(&txn, user.id, now).await?;
    let verified = user::Model {
        email_verified_at: user.email_verified_at.or(Some(now)),
        ..user.clone()
    };
    sessions::promote_if_listed(ctx, &txn, &verified).await?;
    txn.commit().await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::EmailVerified)
                .user(user.id)
                .client(client),
        )
        .await;
    Ok(user::Model {
        email_verified_at: user.email_verified_at.or(Some(now)),
        ..user
    })
}
