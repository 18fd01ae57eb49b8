//! Passwordless sign-in: magic links, email codes, SMS codes.
//!
//! Sending always answers the same, for known and unknown addresses alike, throttling
//! included: the lookup, the secret and the delivery happen in the background. Unknown
//! addresses get an account on their first successful sign-in, unless the host turned that
//! off for the channel, in which case nothing is sent to them (and the answer is still the
//! same).
//!
//! Redemption consumes the secret in the same transaction that creates the user (if
//! needed), marks the address verified and starts the session.

use std::sync::Arc;

use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    delivery::{Message, TextMessage},
    entity::user,
    flows::{
        email_address::normalize_email,
        mfa::{self, SignedIn},
        one_time::{self, Purpose},
        phone::normalize_phone,
        sessions::{self, Method},
        users,
    },
    origin,
    rate_limit::Limit,
    store,
};

/// Where a passwordless secret goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Email,
    Phone,
}

/// The limits of one kind of send: per client IP, then one at a time per recipient, then
/// an hourly cap per recipient, and the global budget of its channel.
struct SendLimits {
    per_ip: Limit,
    cooldown: Limit,
    hourly: Limit,
    global: Limit,
}

const MAGIC_LINK_SENDS: SendLimits = SendLimits {
    per_ip: Limit::MagicLinkSendPerIp,
    cooldown: Limit::MagicLinkSendCooldown,
    hourly: Limit::MagicLinkSendHourly,
    global: Limit::EmailSendGlobal,
};
const EMAIL_CODE_SENDS: SendLimits = SendLimits {
    per_ip: Limit::EmailCodeSendPerIp,
    cooldown: Limit::EmailCodeSendCooldown,
    hourly: Limit::EmailCodeSendHourly,
    global: Limit::EmailSendGlobal,
};
const SMS_CODE_SENDS: SendLimits = SendLimits {
    per_ip: Limit::SmsCodeSendPerIp,
    cooldown: Limit::SmsCodeSendCooldown,
    hourly: Limit::SmsCodeSendHourly,
    global: Limit::SmsSendGlobal,
};

/// Counts a send against every limit: the client's IP, the global budget, then the
/// recipient (a cooldown and an hourly cap). The global budget comes before the
/// recipient's keys, so a flood it refuses never leaves a key per invented recipient in
/// memory. Keys never depend on whether an account exists.
async fn throttle_send(
    ctx: &Context,
    limits: &SendLimits,
    recipient: &str,
    client: &ClientInfo,
) -> Result<(), Error> {
    ctx.throttle
        .check(limits.per_ip, &client.ip_key(), client)
        .await?;
    ctx.throttle.check(limits.global, "", client).await?;
    ctx.throttle
        .check(limits.cooldown, recipient, client)
        .await?;
    ctx.throttle.check(limits.hourly, recipient, client).await
}

/// The account an address belongs to, if we may send to it: an existing, enabled account,
/// or (`Ok(Some(None))`) a stranger who may sign up through this channel.
async fn recipient_account(
    ctx: &Context,
    channel: Channel,
    identifier: &str,
) -> Result<Option<Option<user::Model>>, Error> {
    let (existing, sign_up) = match channel {
        Channel::Email => (
            store::users::find_by_email(&ctx.db, identifier).await?,
            ctx.config.passwordless.sign_up_by_email,
        ),
        Channel::Phone => (
            store::users::find_by_phone(&ctx.db, identifier).await?,
            ctx.config.passwordless.sign_up_by_phone,
        ),
    };
    Ok(match existing {
        Some(user) if user.disabled_at.is_some() => None,
        Some(user) => Some(Some(user)),
        None if sign_up => Some(None),
        None => None,
    })
}

/// `POST /sign-in/magic-link`.
#[tracing::instrument(skip_all)]
pub(crate) async fn send_magic_link(
    ctx: &Arc<Context>,
    email: &str,
    redirect_url: Option<String>,
    client: &ClientInfo,
) -> Result<(), Error> {
    let email = normalize_email(email)?;
    let redirect_url = redirect_url
        .map(|target| {
            ctx.origins
                .check_redirect_for(&target, client.app.as_deref())
        })
        .transpose()?;
    throttle_send(ctx, &MAGIC_LINK_SENDS, &email, client).await?;
    let ctx = ctx.clone();
    let client = client.clone();
    let sending = ctx.outbox.track();
    tokio::spawn(async move {
        let _sending = sending;
        let result = async {
            let Some(account) = recipient_account(&ctx, Channel::Email, &email).await? else {
                return Ok(());
            };
            let user_id = account.as_ref().map(|user| user.id);
            // The link and the email carrying it commit together.
            one_time::supersede(&ctx, Purpose::MagicLink, &email).await?;
            let txn = store::begin(&ctx.db).await?;
            let token = one_time::issue(
                &ctx,
                &txn,
                Purpose::MagicLink,
                user_id,
                &email,
                ctx.config.passwordless.magic_link_ttl,
                None,
            )
            .await?;
            let mut link = format!(
                "{}{}/magic-link/verify?token={token}",
                ctx.origins.issuer, ctx.config.auth_base_path
            );
            if let Some(target) = &redirect_url {
                link =
                    origin::with_query(&link, "redirect_url", &origin::encode_query_value(target));
            }
            let message = ctx.outbox.render(
                &email,
                &Message::MagicLink { link: &link },
                &ctx.branding_for(client.app.as_deref()),
            );
            let expires = ctx.after(ctx.config.passwordless.magic_link_ttl);
            ctx.outbox
                .send_on_commit(txn, message, user_id, Some(expires))
                .await?;
            sent(&ctx, user_id, "magic_link", &client).await;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(err) = result {
            tracing::error!(error = ?err, "sending a magic link failed");
        }
    });
    Ok(())
}

/// `POST /sign-in/email-otp`.
#[tracing::instrument(skip_all)]
pub(crate) async fn send_email_code(
    ctx: &Arc<Context>,
    email: &str,
    client: &ClientInfo,
) -> Result<(), Error> {
    let email = normalize_email(email)?;
    throttle_send(ctx, &EMAIL_CODE_SENDS, &email, client).await?;
    let ctx = ctx.clone();
    let client = client.clone();
    let sending = ctx.outbox.track();
    tokio::spawn(async move {
        let _sending = sending;
        let result = async {
            let Some(account) = recipient_account(&ctx, Channel::Email, &email).await? else {
                // A code nobody receives: guesses at this address then behave exactly as
                // at any other (five wrong, then 429), revealing nothing.
                one_time::supersede(&ctx, Purpose::EmailOtp, &email).await?;
                one_time::issue_code(
                    &ctx,
                    &ctx.db,
                    Purpose::EmailOtp,
                    None,
                    &email,
                    ctx.config.passwordless.code_ttl,
                )
                .await?;
                return Ok(());
            };
            let user_id = account.as_ref().map(|user| user.id);
            // The code and the email carrying it commit together.
            one_time::supersede(&ctx, Purpose::EmailOtp, &email).await?;
            let txn = store::begin(&ctx.db).await?;
            let code = one_time::issue_code(
                &ctx,
                &txn,
                Purpose::EmailOtp,
                user_id,
                &email,
                ctx.config.passwordless.code_ttl,
            )
            .await?;
            let message = ctx.outbox.render(
                &email,
                &Message::SignInCode { code: &code },
                &ctx.branding_for(client.app.as_deref()),
            );
            let expires = ctx.after(ctx.config.passwordless.code_ttl);
            ctx.outbox
                .send_on_commit(txn, message, user_id, Some(expires))
                .await?;
            sent(&ctx, user_id, "email_otp", &client).await;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(err) = result {
            tracing::error!(error = ?err, "sending an email code failed");
        }
    });
    Ok(())
}

/// Whether SMS sign-in is available (a sender is configured, or this is development).
pub(crate) fn sms_enabled(ctx: &Context) -> bool {
    crate::flows::sign_in_methods::available(ctx, crate::config::SignInMethod::SmsOtp)
}

/// `POST /sign-in/sms-otp`.
#[tracing::instrument(skip_all)]
pub(crate) async fn send_sms_code(
    ctx: &Arc<Context>,
    phone: &str,
    client: &ClientInfo,
) -> Result<(), Error> {
    if !sms_enabled(ctx) {
        return Err(Error::NotFound);
    }
    let phone = normalize_phone(phone, &ctx.config.passwordless.sms_allowed_prefixes)?;
    throttle_send(ctx, &SMS_CODE_SENDS, &phone, client).await?;
    let ctx = ctx.clone();
    let client = client.clone();
    let sending = ctx.outbox.track();
    tokio::spawn(async move {
        let _sending = sending;
        let result = async {
            let Some(account) = recipient_account(&ctx, Channel::Phone, &phone).await? else {
                // As for email: an unsent decoy code keeps guessing behaviour uniform.
                one_time::supersede(&ctx, Purpose::SmsOtp, &phone).await?;
                one_time::issue_code(
                    &ctx,
                    &ctx.db,
                    Purpose::SmsOtp,
                    None,
                    &phone,
                    ctx.config.passwordless.code_ttl,
                )
                .await?;
                return Ok(());
            };
            let user_id = account.as_ref().map(|user| user.id);
            // The code and the text carrying it commit together.
            one_time::supersede(&ctx, Purpose::SmsOtp, &phone).await?;
            let txn = store::begin(&ctx.db).await?;
            let code = one_time::issue_code(
                &ctx,
                &txn,
                Purpose::SmsOtp,
                user_id,
                &phone,
                ctx.config.passwordless.code_ttl,
            )
            .await?;
            let body = format!(
                "{code} is your {} code. It expires in 10 minutes. Never share it.",
                ctx.config.app_name
            );
            let text = TextMessage {
                to: phone.clone(),
                body,
                kind: "sms_otp",
            };
            let expires = ctx.after(ctx.config.passwordless.code_ttl);
            ctx.outbox
                .send_text_on_commit(txn, text, user_id, Some(expires))
                .await?;
            sent(&ctx, user_id, "sms_otp", &client).await;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(err) = result {
            tracing::error!(error = ?err, "sending an SMS code failed");
        }
    });
    Ok(())
}

async fn sent(ctx: &Context, user_id: Option<Uuid>, kind: &str, client: &ClientInfo) {
    let mut event = AuditEvent::new(AuditKind::PasswordlessSent)
        .client(client)
        .detail("kind", kind);
    if let Some(user_id) = user_id {
        event = event.user(user_id);
    }
    ctx.auditor.record(event).await;
}

/// The address a live magic link was sent to, without consuming it (for the confirm page).
pub(crate) async fn magic_link_recipient(
    ctx: &Context,
    token: &str,
) -> Result<Option<String>, Error> {
    if token.len() != 43 {
        return Ok(None);
    }
    let hash = crate::crypto::sha256_hex(token.as_bytes());
    Ok(
        store::one_time::find(&ctx.db, Purpose::MagicLink.as_str(), &hash)
            .await?
            .filter(|row| row.consumed_at.is_none())
            .and_then(|row| row.identifier),
    )
}

/// `GET`/`POST /magic-link/verify`: consumes the link and signs in.
#[tracing::instrument(skip_all)]
pub(crate) async fn verify_magic_link(
    ctx: &Context,
    token: &str,
    client: &ClientInfo,
) -> Result<SignedIn, Error> {
    throttle_redeem(ctx, client).await?;
    let txn = store::begin(&ctx.db).await?;
    let row = one_time::consume(&txn, Purpose::MagicLink, token, ctx.now()).await?;
    finish(ctx, txn, Channel::Email, row, sessions::MAGIC_LINK, client).await
}

/// `POST /email-otp/verify`.
#[tracing::instrument(skip_all)]
pub(crate) async fn verify_email_code(
    ctx: &Context,
    email: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<SignedIn, Error> {
    let email = normalize_email(email)?;
    check_code_shape(code)?;
    throttle_redeem(ctx, client).await?;
    let row = one_time::check_code(ctx, Purpose::EmailOtp, &email, code, client).await?;
    let txn = store::begin(&ctx.db).await?;
    one_time::consume_checked(&txn, &row, ctx.now()).await?;
    finish(ctx, txn, Channel::Email, row, sessions::EMAIL_OTP, client).await
}

/// `POST /sms/verify`.
#[tracing::instrument(skip_all)]
pub(crate) async fn verify_sms_code(
    ctx: &Context,
    phone: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<SignedIn, Error> {
    if !sms_enabled(ctx) {
        return Err(Error::NotFound);
    }
    let phone = normalize_phone(phone, &ctx.config.passwordless.sms_allowed_prefixes)?;
    check_code_shape(code)?;
    throttle_redeem(ctx, client).await?;
    let row = one_time::check_code(ctx, Purpose::SmsOtp, &phone, code, client).await?;
    let txn = store::begin(&ctx.db).await?;
    one_time::consume_checked(&txn, &row, ctx.now()).await?;
    finish(ctx, txn, Channel::Phone, row, sessions::SMS_OTP, client).await
}

fn check_code_shape(code: &str) -> Result<(), Error> {
    if one_time::is_code_shaped(code) {
        Ok(())
    } else {
        Err(Error::invalid_request("code: exactly six digits"))
    }
}

async fn throttle_redeem(ctx: &Context, client: &ClientInfo) -> Result<(), Error> {
    ctx.throttle
        .check(Limit::RedeemPerIp, &client.ip_key(), client)
        .await
}

/// After a secret was consumed in `txn`: find (or create) the account, mark the address
/// verified, start the session, and commit all of it at once.
async fn finish(
    ctx: &Context,
    txn: DatabaseTransaction,
    channel: Channel,
    row: crate::entity::one_time_secret::Model,
    method: Method,
    client: &ClientInfo,
) -> Result<SignedIn, Error> {
    let identifier = row.identifier.clone().ok_or(Error::TokenInvalid)?;
    let found = match channel {
        Channel::Email => store::users::find_by_email(&txn, &identifier).await?,
        Channel::Phone => store::users::find_by_phone(&txn, &identifier).await?,
    };
    // The secret was bound to the account it was sent for (or to no account): the address
    // must still belong to that same account.
    let (user, created) = match (row.user_id, found) {
        (Some(id), Some(user)) if user.id == id => (user, false),
        // A secret issued for an address without an account may only create one: an
        // account registered since then is someone else's claim on the address.
        (None, None) => {
            let allowed = match channel {
                Channel::Email => ctx.config.passwordless.sign_up_by_email,
                Channel::Phone => ctx.config.passwordless.sign_up_by_phone,
            };
            if !allowed {
                return Err(Error::TokenInvalid);
            }
            (create(&txn, channel, &identifier, ctx.now()).await?, true)
        }
        _ => return Err(Error::TokenInvalid),
    };
    if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    let now = ctx.now();
    let was_verified = match channel {
        Channel::Email => user.email_verified_at.is_some(),
        Channel::Phone => user.phone_verified_at.is_some(),
    };
    // An account that held this address unverified is taken back from whoever made it.
    let claim = users::claim_unverified(&txn, &user, was_verified || created).await?;
    match channel {
        Channel::Email => store::users::mark_email_verified(&txn, user.id, now).await?,
        Channel::Phone => store::users::mark_phone_verified(&txn, user.id, now).await?,
    }
    // Read back: verified now, and a claim above blanked what the previous holder wrote.
    let user = store::users::find(&txn, user.id)
        .await?
        .ok_or(Error::TokenInvalid)?;
    let user_id = user.id;
    let has_password = store::users::password_hash(&txn, user.id).await?.is_some();
    let signed_in = mfa::sign_in(ctx, &txn, user, has_password, method, client).await?;
    txn.commit().await?;
    users::claimed(ctx, user_id, claim, method.name, client).await;
    if let SignedIn::Granted(grant) = &signed_in {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::SignIn)
                    .user(grant.user.id)
                    .session(grant.session.id)
                    .client(client)
                    .detail("method", method.name),
            )
            .await;
    }
    signed_in.audit_challenge(ctx, client).await;
    Ok(signed_in)
}

/// A new account for an address proven a moment ago.
async fn create(
    txn: &DatabaseTransaction,
    channel: Channel,
    identifier: &str,
    now: time::OffsetDateTime,
) -> Result<user::Model, Error> {
    let row = user::Model {
        email: (channel == Channel::Email).then(|| identifier.to_owned()),
        phone: (channel == Channel::Phone).then(|| identifier.to_owned()),
        ..users::blank_row(now)
    };
    store::users::insert_in(txn, row, None)
        .await
        .map_err(|err| {
            // Someone created this account in the same instant: the link is not ours to use.
            if store::is_unique_violation(&err) {
                Error::Conflict("this account was just created; sign in again".into())
            } else {
                err.into()
            }
        })
}
