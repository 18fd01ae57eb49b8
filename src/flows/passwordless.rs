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

use sea_orm::{DatabaseTransaction, TransactionTrait as _};
use uuid::Uuid;

use crate::{
    origin,
    AuditEvent, Error,
    audit::AuditKind,
    delivery::{Message, TextMessage},
    entity::user,
    flows::{
        email_address::normalize_email,
        one_time::{self, Purpose},
        phone::normalize_phone,
        sessions::{self, Grant, Method},
        users,
    },
    portcullis::Inner,
    rate_limit::Limit,
    client::ClientInfo,
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
    inner: &Inner,
    limits: &SendLimits,
    recipient: &str,
    client: &ClientInfo,
) -> Result<(), Error> {
    inner
        .throttle(limits.per_ip, &client.ip_key(), client)
        .await?;
    inner.throttle(limits.global, "", client).await?;
    inner.throttle(limits.cooldown, recipient, client).await?;
    inner.throttle(limits.hourly, recipient, client).await
}

/// The account an address belongs to, if we may send to it: an existing, enabled account,
/// or (`Ok(Some(None))`) a stranger who may sign up through this channel.
async fn recipient_account(
    inner: &Inner,
    channel: Channel,
    identifier: &str,
) -> Result<Option<Option<user::Model>>, Error> {
    let (existing, sign_up) = match channel {
        Channel::Email => (
            store::users::find_by_email(&inner.db, identifier).await?,
            inner.config.sign_up_by_email,
        ),
        Channel::Phone => (
            store::users::find_by_phone(&inner.db, identifier).await?,
            inner.config.sign_up_by_phone,
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
pub(crate) async fn send_magic_link(
    inner: &Arc<Inner>,
    email: &str,
    redirect_url: Option<String>,
    client: &ClientInfo,
) -> Result<(), Error> {
    let email = normalize_email(email)?;
    let redirect_url = redirect_url
        .map(|target| inner.origins.check_redirect(&target))
        .transpose()?;
    throttle_send(inner, &MAGIC_LINK_SENDS, &email, client).await?;
    let inner = inner.clone();
    let client = client.clone();
    tokio::spawn(async move {
        let result = async {
            let Some(account) = recipient_account(&inner, Channel::Email, &email).await? else {
                return Ok(());
            };
            let user_id = account.as_ref().map(|user| user.id);
            let token = one_time::issue(
                &inner.db,
                Purpose::MagicLink,
                user_id,
                &email,
                inner.config.magic_link_ttl,
                None,
            )
            .await?;
            let mut link = format!(
                "{}{}/magic-link/verify?token={token}",
                inner.origins.issuer, inner.config.auth_base_path
            );
            if let Some(target) = &redirect_url {
                link = origin::with_query(
                    &link,
                    "redirect_url",
                    &origin::encode_query_value(target),
                );
            }
            let message = inner.render_email(
                &email,
                &Message::MagicLink { link: &link },
                &inner.branding(),
            );
            inner.deliver(message, user_id);
            sent(&inner, user_id, "magic_link", &client).await;
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
pub(crate) async fn send_email_code(
    inner: &Arc<Inner>,
    email: &str,
    client: &ClientInfo,
) -> Result<(), Error> {
    let email = normalize_email(email)?;
    throttle_send(inner, &EMAIL_CODE_SENDS, &email, client).await?;
    let inner = inner.clone();
    let client = client.clone();
    tokio::spawn(async move {
        let result = async {
            let Some(account) = recipient_account(&inner, Channel::Email, &email).await? else {
                // A code nobody receives: guesses at this address then behave exactly as
                // at any other (five wrong, then 429), revealing nothing.
                one_time::issue_code(
                    &inner,
                    Purpose::EmailOtp,
                    None,
                    &email,
                    inner.config.code_ttl,
                )
                .await?;
                return Ok(());
            };
            let user_id = account.as_ref().map(|user| user.id);
            let code = one_time::issue_code(
                &inner,
                Purpose::EmailOtp,
                user_id,
                &email,
                inner.config.code_ttl,
            )
            .await?;
            let message = inner.render_email(
                &email,
                &Message::SignInCode { code: &code },
                &inner.branding(),
            );
            inner.deliver(message, user_id);
            sent(&inner, user_id, "email_otp", &client).await;
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
pub(crate) fn sms_enabled(inner: &Inner) -> bool {
    inner.method_available(crate::SignInMethod::SmsOtp)
}

/// `POST /sign-in/sms-otp`.
pub(crate) async fn send_sms_code(
    inner: &Arc<Inner>,
    phone: &str,
    client: &ClientInfo,
) -> Result<(), Error> {
    if !sms_enabled(inner) {
        return Err(Error::NotFound);
    }
    let phone = normalize_phone(phone, &inner.config.sms_allowed_prefixes)?;
    throttle_send(inner, &SMS_CODE_SENDS, &phone, client).await?;
    let inner = inner.clone();
    let client = client.clone();
    tokio::spawn(async move {
        let result = async {
            let Some(account) = recipient_account(&inner, Channel::Phone, &phone).await? else {
                // As for email: an unsent decoy code keeps guessing behaviour uniform.
                one_time::issue_code(&inner, Purpose::SmsOtp, None, &phone, inner.config.code_ttl)
                    .await?;
                return Ok(());
            };
            let user_id = account.as_ref().map(|user| user.id);
            let code = one_time::issue_code(
                &inner,
                Purpose::SmsOtp,
                user_id,
                &phone,
                inner.config.code_ttl,
            )
            .await?;
            let body = format!(
                "{code} is your {} code. It expires in 10 minutes. Never share it.",
                inner.config.app_name
            );
            inner.deliver_text(
                TextMessage {
                    to: phone.clone(),
                    body,
                    kind: "sms_otp",
                },
                user_id,
            );
            sent(&inner, user_id, "sms_otp", &client).await;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(err) = result {
            tracing::error!(error = ?err, "sending an SMS code failed");
        }
    });
    Ok(())
}

async fn sent(inner: &Inner, user_id: Option<Uuid>, kind: &str, client: &ClientInfo) {
    let mut event = AuditEvent::new(AuditKind::PasswordlessSent)
        .client(client)
        .detail("kind", kind);
    if let Some(user_id) = user_id {
        event = event.user(user_id);
    }
    inner.audit(event).await;
}

/// The address a live magic link was sent to, without consuming it (for the confirm page).
pub(crate) async fn magic_link_recipient(
    inner: &Inner,
    token: &str,
) -> Result<Option<String>, Error> {
    if token.len() != 43 {
        return Ok(None);
    }
    let hash = crate::crypto::sha256_hex(token.as_bytes());
    Ok(
        store::one_time::find(&inner.db, Purpose::MagicLink.as_str(), &hash)
            .await?
            .filter(|row| row.consumed_at.is_none())
            .and_then(|row| row.identifier),
    )
}

/// `GET`/`POST /magic-link/verify`: consumes the link and signs in.
pub(crate) async fn verify_magic_link(
    inner: &Inner,
    token: &str,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    throttle_redeem(inner, client).await?;
    let txn = inner.db.begin().await?;
    let row = one_time::consume(&txn, Purpose::MagicLink, token).await?;
    finish(
        inner,
        txn,
        Channel::Email,
        row,
        sessions::MAGIC_LINK,
        client,
    )
    .await
}

/// `POST /email-otp/verify`.
pub(crate) async fn verify_email_code(
    inner: &Inner,
    email: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    let email = normalize_email(email)?;
    check_code_shape(code)?;
    throttle_redeem(inner, client).await?;
    let row = one_time::check_code(inner, Purpose::EmailOtp, &email, code, client).await?;
    let txn = inner.db.begin().await?;
    one_time::consume_checked(&txn, &row).await?;
    finish(inner, txn, Channel::Email, row, sessions::EMAIL_OTP, client).await
}

/// `POST /sms/verify`.
pub(crate) async fn verify_sms_code(
    inner: &Inner,
    phone: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    if !sms_enabled(inner) {
        return Err(Error::NotFound);
    }
    let phone = normalize_phone(phone, &inner.config.sms_allowed_prefixes)?;
    check_code_shape(code)?;
    throttle_redeem(inner, client).await?;
    let row = one_time::check_code(inner, Purpose::SmsOtp, &phone, code, client).await?;
    let txn = inner.db.begin().await?;
    one_time::consume_checked(&txn, &row).await?;
    finish(inner, txn, Channel::Phone, row, sessions::SMS_OTP, client).await
}

fn check_code_shape(code: &str) -> Result<(), Error> {
    if one_time::is_code_shaped(code) {
        Ok(())
    } else {
        Err(Error::invalid_request("code: exactly six digits"))
    }
}

async fn throttle_redeem(inner: &Inner, client: &ClientInfo) -> Result<(), Error> {
    inner
        .throttle(Limit::RedeemPerIp, &client.ip_key(), client)
        .await
}

/// After a secret was consumed in `txn`: find (or create) the account, mark the address
/// verified, start the session, and commit all of it at once.
async fn finish(
    inner: &Inner,
    txn: DatabaseTransaction,
    channel: Channel,
    row: crate::entity::one_time_secret::Model,
    method: Method,
    client: &ClientInfo,
) -> Result<Grant, Error> {
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
                Channel::Email => inner.config.sign_up_by_email,
                Channel::Phone => inner.config.sign_up_by_phone,
            };
            if !allowed {
                return Err(Error::TokenInvalid);
            }
            (create(&txn, channel, &identifier).await?, true)
        }
        _ => return Err(Error::TokenInvalid),
    };
    if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    let now = inner.now();
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
    let has_password = store::users::password_hash(&txn, user.id).await?.is_some();
    let grant = sessions::start(inner, &txn, user, has_password, method, client).await?;
    txn.commit().await?;
    users::claimed(inner, grant.user.id, claim, method.name, client).await;
    inner
        .audit(
            AuditEvent::new(AuditKind::SignIn)
                .user(grant.user.id)
                .session(grant.session.id)
                .client(client)
                .detail("method", method.name),
        )
        .await;
    Ok(grant)
}

/// A new account for an address proven a moment ago.
async fn create(
    txn: &DatabaseTransaction,
    channel: Channel,
    identifier: &str,
) -> Result<user::Model, Error> {
    let now = store::now();
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
