//! Forgotten and changed passwords: `POST /password/forgot`, `POST /password/reset`,
//! `POST /me/password`.
//!
//! - Forgot: always the same answer; the lookup, the token and the email happen in the
//!   background. Links are built from the configured reset page, or from a per-request
//!   base URL only when it is exactly an allowed origin.
//! - Reset: a one-hour single-use token, the password policy, then in one transaction:
//!   consume the token, set the password, cut off every access token, revoke every session
//!   and kill every other outstanding reset or sign-in secret. No automatic sign-in unless
//!   the host asks for it.
//! - Change: the current password (or, for an account without one, a fresh session), then
//!   the same, except that the caller's own session survives.

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    crypto::{self, password::Verified},
    delivery::{Branding, Message, single_line},
    flows::{
        email_address::normalize_email,
        mfa::{self, SignedIn},
        new_password::check_new_password,
        one_time::{self, Purpose, USER_LINK_PURPOSES},
        profile, sessions, users,
    },
    origin::{self, Origin},
    rate_limit::Limit,
    store,
};

/// What `POST /password/forgot` takes, besides the address.
#[derive(Debug, Default)]
pub(crate) struct ForgotOptions {
    pub(crate) redirect_url: Option<String>,
    pub(crate) logo_url: Option<String>,
    pub(crate) platform_name: Option<String>,
    pub(crate) base_url: Option<String>,
    pub(crate) client_alias: Option<String>,
}

/// The reset link's branding and base, validated.
struct Checked {
    redirect_url: Option<String>,
    base_url: Option<String>,
    branding: Branding,
}

fn check_options(
    ctx: &Context,
    options: ForgotOptions,
    client: &ClientInfo,
) -> Result<Checked, Error> {
    let redirect_url = options
        .redirect_url
        .map(|target| {
            ctx.origins
                .check_redirect_for(&target, client.app.as_deref())
        })
        .transpose()?;
    // A base URL is only ever one of our own allowed origins: never a link to elsewhere.
    let base_url = match options.base_url {
        Some(base) => {
            let origin = Origin::parse(&base)
                .filter(|origin| ctx.origins.allows(origin))
                .ok_or_else(|| Error::invalid_request("base_url: not an allowed origin"))?;
            Some(origin.serialize())
        }
        None => None,
    };
    let mut branding = ctx.branding_for(client.app.as_deref());
    // A logo comes from one of our own origins only: an arbitrary image URL would be a
    // tracking pixel telling a stranger that the address has an account.
    if let Some(logo) = profile::image_url(options.logo_url)? {
        let ours = Origin::parse(&logo).is_some_and(|origin| ctx.origins.allows(&origin));
        if !ours {
            return Err(Error::invalid_request(
                "logo_url: must be on the public or an allowed origin",
            ));
        }
        branding.logo_url = Some(logo);
    }
    if let Some(name) = options.platform_name {
        // A product name, not a message: letters, digits, spaces and a little punctuation.
        let name = single_line(&name);
        let ok = !name.is_empty()
            && name.chars().count() <= 60
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || " -_.&'!".contains(c));
        if !ok {
            return Err(Error::invalid_request(
                "platform_name: 1 to 60 letters, digits, spaces and - _ . & ' !",
            ));
        }
        branding.product_name = name;
    }
    if let Some(alias) = options.client_alias {
        let ok = !alias.is_empty()
            && alias.len() <= 60
            && alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(Error::invalid_request(
                "client_alias: up to 60 of A-Z a-z 0-9 - _",
            ));
        }
        // A configured client's id: its branding, as if it had named itself.
        if let Some(named) = ctx.client_named(Some(&alias)) {
            branding = ctx.branding_for(Some(&named.id));
        }
        branding.client_alias = Some(alias);
    }
    Ok(Checked {
        redirect_url,
        base_url,
        branding,
    })
}

/// Starts a password reset for `email`, if it has an account. Always answers the same.
#[tracing::instrument(skip_all)]
pub(crate) async fn forgot(
    ctx: &Arc<Context>,
    email: &str,
    options: ForgotOptions,
    client: &ClientInfo,
) -> Result<(), Error> {
    let email = normalize_email(email)?;
    let checked = check_options(ctx, options, client)?;
    // The client's own limit, then everyone's, then the recipient's (see the send flows).
    ctx.throttle
        .check(Limit::ResetSendPerIp, &client.ip_key(), client)
        .await?;
    ctx.throttle
        .check(Limit::EmailSendGlobal, "", client)
        .await?;
    ctx.throttle
        .check(Limit::ResetSendPerRecipient, &email, client)
        .await?;

    let ctx = ctx.clone();
    let client = client.clone();
    let sending = ctx.outbox.track();
    tokio::spawn(async move {
        let _sending = sending;
        if let Err(err) = send_reset(&ctx, &email, checked, &client).await {
            tracing::error!(error = ?err, "sending a password-reset email failed");
        }
    });
    Ok(())
}

async fn send_reset(
    ctx: &Arc<Context>,
    email: &str,
    checked: Checked,
    client: &ClientInfo,
) -> Result<(), Error> {
    let Some(user) = store::users::find_by_email(&ctx.db, email).await? else {
        return Ok(());
    };
    if user.disabled_at.is_some() {
        return Ok(());
    }
    // The token and the email carrying it commit together.
    one_time::supersede(ctx, Purpose::PasswordReset, email).await?;
    let txn = store::begin(&ctx.db).await?;
    let token = one_time::issue(
        ctx,
        &txn,
        Purpose::PasswordReset,
        Some(user.id),
        email,
        ctx.config.email.password_reset_ttl,
        None,
    )
    .await?;
    let page = ctx
        .config
        .email
        .password_reset_url
        .clone()
        .unwrap_or_else(|| format!("{}/reset-password", ctx.origins.issuer));
    let page = match &checked.base_url {
        // Same page, on another of our own origins.
        Some(base) => format!("{base}{}", path_of(&page)),
        None => page,
    };
    let mut link = origin::with_query(&page, "token", &token);
    if let Some(target) = &checked.redirect_url {
        link = origin::with_query(&link, "redirect_url", &origin::encode_query_value(target));
    }
    let message = ctx.outbox.render(
        email,
        &Message::PasswordReset { link: &link },
        &checked.branding,
    );
    let expires = ctx.after(ctx.config.email.password_reset_ttl);
    ctx.outbox
        .send_on_commit(txn, message, Some(user.id), Some(expires))
        .await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::PasswordResetRequested)
                .user(user.id)
                .client(client),
        )
        .await;
    Ok(())
}

/// The path (and query) of an absolute URL.
fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find(['/', '?', '#'])
        .map_or("", |at| &after_scheme[at..])
}

/// Completes a password reset. Answers a grant only when the host enabled
/// `sign_in_after_reset`.
#[tracing::instrument(skip_all)]
pub(crate) async fn reset(
    ctx: &Arc<Context>,
    token: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<Option<SignedIn>, Error> {
    ctx.throttle
        .check(Limit::RedeemPerIp, &client.ip_key(), client)
        .await?;
    // Look before consuming: a password the policy refuses must not burn the link.
    let peeked = peek(ctx, token).await?;
    let user = store::users::find(&ctx.db, peeked)
        .await?
        .ok_or(Error::TokenInvalid)?;
    check_new_password(ctx, password, user.email.as_deref(), user.name.as_deref()).await?;
    let hash = ctx.hasher.hash(password).await?;

    let now = ctx.now();
    let txn = store::begin(&ctx.db).await?;
    let row = one_time::consume(&txn, Purpose::PasswordReset, token, ctx.now()).await?;
    let user = store::users::find(&txn, user.id)
        .await?
        .ok_or(Error::TokenInvalid)?;
    if user.email.is_none() || user.email != row.identifier || user.disabled_at.is_some() {
        return Err(Error::TokenInvalid);
    }
    // Whoever registered an unverified address loses what they added (password, passkeys,
    // linked accounts) to the person who just proved it.
    let claim = users::claim_unverified(&txn, &user, user.email_verified_at.is_some()).await?;
    store::users::set_password(&txn, user.id, hash, now).await?;
    // Following the emailed link proved the mailbox, as a verification link would.
    store::users::mark_email_verified(&txn, user.id, now).await?;
    let cutoff = store::users::cut_off_tokens(&txn, user.id).await?;
    let revoked = store::sessions::revoke(&txn, user.id, None, None, "password_reset").await?;
    // Keys made by whoever knew the old password go too.
    let (keys, keys_at) = store::api_keys::revoke_all_of_user(&txn, user.id).await?;
    kill_outstanding_links(&txn, &user, now).await?;
    txn.commit().await?;

    ctx.revocation.set_cutoff(user.id, cutoff);
    ctx.revocation.apply(&revoked, ctx.config.token_window());
    ctx.revocation.apply(
        &store::sessions::Revoked {
            ids: keys,
            at: keys_at,
        },
        ctx.config.token_window(),
    );
    users::claimed(ctx, user.id, claim, "password_reset", client).await;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::PasswordReset)
                .user(user.id)
                .client(client)
                .detail("sessions_revoked", revoked.ids.len()),
        )
        .await;
    ctx.outbox.notify(&user, &Message::PasswordChanged);
    if !ctx.config.email.sign_in_after_reset {
        return Ok(None);
    }
    // Read back: verified now, and a claim blanked what the previous holder wrote.
    let user = store::users::find(&ctx.db, user.id)
        .await?
        .ok_or(Error::TokenInvalid)?;
    let signed_in = mfa::sign_in(ctx, &ctx.db, user, true, sessions::PASSWORD, client).await?;
    signed_in.audit_challenge(ctx, client).await;
    Ok(Some(signed_in))
}

/// A new password ends every link in flight for the account: resets, sign-in links and
/// codes, verification links, and pending invitations to its address. Whoever changed the
/// password may be taking the account back from someone who requested them.
async fn kill_outstanding_links(
    txn: &impl sea_orm::ConnectionTrait,
    user: &crate::entity::user::Model,
    now: time::OffsetDateTime,
) -> Result<(), Error> {
    store::one_time::consume_all_for_user(txn, user.id, USER_LINK_PURPOSES, now).await?;
    if let Some(email) = &user.email {
        store::orgs::revoke_invitations_to(txn, email, now).await?;
    }
    Ok(())
}

/// The user a live reset token belongs to, without consuming it.
async fn peek(ctx: &Context, token: &str) -> Result<Uuid, Error> {
    if token.len() != 43 || crypto::b64_decode(token).is_none_or(|bytes| bytes.len() != 32) {
        return Err(Error::TokenInvalid);
    }
    let hash = crypto::sha256_hex(token.as_bytes());
    let row = store::one_time::find(&ctx.db, Purpose::PasswordReset.as_str(), &hash)
        .await?
        .ok_or(Error::TokenInvalid)?;
    if row.consumed_at.is_some() {
        return Err(Error::TokenInvalid);
    }
    if row.expires_at <= ctx.now() {
        return Err(Error::TokenExpired);
    }
    row.user_id.ok_or(Error::TokenInvalid)
}

/// What `POST /me/password` takes.
pub(crate) struct Change<'a> {
    pub(crate) user_id: Uuid,
    pub(crate) session_id: Uuid,
    pub(crate) auth_time: i64,
    pub(crate) current_password: Option<&'a str>,
    pub(crate) new_password: &'a str,
}

/// Changes the signed-in user's password; their other sessions are revoked, this one kept.
#[tracing::instrument(skip_all, fields(user.id = %change.user_id))]
pub(crate) async fn change(
    ctx: &Arc<Context>,
    change: Change<'_>,
    client: &ClientInfo,
) -> Result<(), Error> {
    if change
        .current_password
        .is_some_and(|p| ctx.config.passwords.policy.too_long(p))
    {
        return Err(Error::forbidden("the current password is wrong"));
    }
    ctx.throttle
        .check(
            Limit::PasswordChangePerUser,
            &change.user_id.to_string(),
            client,
        )
        .await?;
    ctx.throttle
        .check(Limit::PasswordChangePerIp, &client.ip_key(), client)
        .await?;
    let user = store::users::find(&ctx.db, change.user_id)
        .await?
        .ok_or(Error::Unauthorized)?;
    match store::users::password_hash(&ctx.db, user.id).await? {
        Some(stored) => {
            let current = change.current_password.unwrap_or_default();
            if ctx.hasher.verify(current, Some(&stored)).await? == Verified::No {
                ctx.auditor
                    .record(
                        AuditEvent::new(AuditKind::SignInFailed)
                            .user(user.id)
                            .client(client)
                            .detail("reason", "wrong_current_password"),
                    )
                    .await;
                return Err(Error::forbidden("the current password is wrong"));
            }
            // Checked only once the current password proved right: before that, the
            // answer must not tell what the current password is.
            if crypto::password::normalize(current)
                == crypto::password::normalize(change.new_password)
            {
                return Err(Error::WeakPassword(
                    "the new password must differ from the current one".into(),
                ));
            }
        }
        // No password yet (a passkey or social account): a recent sign-in stands in for it.
        None => {
            sessions::require_fresh(ctx, change.auth_time)?;
        }
    }
    check_new_password(
        ctx,
        change.new_password,
        user.email.as_deref(),
        user.name.as_deref(),
    )
    .await?;
    let hash = ctx.hasher.hash(change.new_password).await?;

    let now = ctx.now();
    let txn = store::begin(&ctx.db).await?;
    store::users::set_password(&txn, user.id, hash, now).await?;
    let revoked = store::sessions::revoke(
        &txn,
        user.id,
        None,
        Some(change.session_id),
        "password_changed",
    )
    .await?;
    kill_outstanding_links(&txn, &user, now).await?;
    txn.commit().await?;

    ctx.revocation.apply(&revoked, ctx.config.token_window());
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::PasswordChanged)
                .user(user.id)
                .session(change.session_id)
                .client(client)
                .detail("sessions_revoked", revoked.ids.len()),
        )
        .await;
    ctx.outbox.notify(&user, &Message::PasswordChanged);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_of_keeps_path_and_query() {
        assert_eq!(path_of("https://app.example.com/reset?x=1"), "/reset?x=1");
        assert_eq!(path_of("https://app.example.com"), "");
        assert_eq!(
            path_of("http://localhost:3000/reset-password"),
            "/reset-password"
        );
    }
}
