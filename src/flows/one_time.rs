//! One-time secrets: the machinery every emailed link (and later every code, state and
//! invitation) is built on.
//!
//! - A link token is 256 bits from the OS RNG, base64url; only its SHA-256 is stored.
//! - Every secret has one [`Purpose`]; a lookup is by (purpose, hash), so a token of one
//!   purpose never works at another's endpoint.
//! - It is bound to the user and the exact address it was sent to; issuing a new one of
//!   the same purpose for the same address supersedes the older ones.
//! - It expires, and it is consumed by one conditional `UPDATE` run inside the same
//!   transaction as its effect, so fifty concurrent redemptions give exactly one success
//!   and a failure after consumption rolls the consumption back.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    crypto,
    delivery::{Message, TextMessage},
    entity::{Redacted, one_time_secret},
    rate_limit::Limit,
    store,
};

/// What a secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Confirms an email address (24 h).
    EmailVerification,
    /// Resets a password (1 h).
    PasswordReset,
    /// Signs in through an emailed link (10 min).
    MagicLink,
    /// Signs in with a six-digit code sent by email (10 min).
    EmailOtp,
    /// Signs in with a six-digit code sent by text message (10 min).
    SmsOtp,
    /// Joins an organization (7 days).
    Invitation,
    /// Finishes a sign-in with a second factor: the `mfa_token` (5 min).
    MfaChallenge,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
            Self::MagicLink => "magic_link",
            Self::EmailOtp => "email_otp",
            Self::SmsOtp => "sms_otp",
            Self::Invitation => "invitation",
            Self::MfaChallenge => "mfa_challenge",
        }
    }

    /// The longest this purpose may live; configuration can only shorten it.
    pub(crate) fn max_lifetime(self) -> Duration {
        match self {
            Self::EmailVerification => Duration::from_secs(24 * 3600),
            Self::PasswordReset => Duration::from_secs(3600),
            Self::MagicLink | Self::EmailOtp | Self::SmsOtp => Duration::from_secs(600),
            Self::Invitation => Duration::from_secs(7 * 24 * 3600),
            Self::MfaChallenge => Duration::from_secs(300),
        }
    }
}

/// Every purpose of a link or code sent for an account, and the sign-ins waiting for a
/// second factor. A password reset or change kills every live one of them.
pub(crate) const USER_LINK_PURPOSES: &[&str] = &[
    "email_verification",
    "password_reset",
    "magic_link",
    "email_otp",
    "sms_otp",
    "mfa_challenge",
];

/// Ends the live secrets of `purpose` for `identifier`: call it before issuing a new one.
///
/// It runs on its own, before the transaction that issues the new secret and stores its
/// message: an UPDATE over a range followed by INSERTs in one transaction deadlocks with
/// its twin on MySQL (gap locks), and a secret issued a moment after its predecessor died
/// loses nothing.
pub(crate) async fn supersede(
    ctx: &Context,
    purpose: Purpose,
    identifier: &str,
) -> Result<(), Error> {
    store::one_time::supersede(&ctx.db, purpose.as_str(), identifier, ctx.now()).await?;
    Ok(())
}

/// Issues a new link token of `purpose` for `identifier` (after [`supersede`]), written
/// through `db` (the transaction that also stores the message carrying it), and returns
/// the token to send.
pub(crate) async fn issue(
    ctx: &Context,
    db: &impl ConnectionTrait,
    purpose: Purpose,
    user_id: Option<Uuid>,
    identifier: &str,
    lifetime: Duration,
    data: Option<serde_json::Value>,
) -> Result<String, Error> {
    let token = crypto::random_token();
    let hash = crypto::sha256_hex(token.as_bytes());
    insert(ctx, db, purpose, user_id, identifier, lifetime, data, hash).await?;
    Ok(token)
}

/// Issues a token of `purpose` bound to `user_id` only (no address, so it supersedes
/// nothing: two devices may sign in at once), written through `db` (the transaction of
/// the sign-in it continues).
pub(crate) async fn issue_for_user(
    ctx: &Context,
    db: &impl ConnectionTrait,
    purpose: Purpose,
    user_id: Uuid,
    data: serde_json::Value,
) -> Result<String, Error> {
    let token = crypto::random_token();
    let now = ctx.now();
    let lifetime =
        time::Duration::try_from(purpose.max_lifetime()).unwrap_or(time::Duration::MINUTE);
    let row = one_time_secret::Model {
        id: Uuid::now_v7(),
        purpose: purpose.as_str().to_owned(),
        user_id: Some(user_id),
        identifier: None,
        secret_hash: Redacted(crypto::sha256_hex(token.as_bytes())),
        attempts: 0,
        data: Some(data.to_string()),
        created_at: now,
        expires_at: now + lifetime,
        consumed_at: None,
    };
    store::one_time::insert(db, row).await?;
    Ok(token)
}

/// The live token of `purpose`, without consuming it: [`Error::TokenInvalid`] if it is
/// unknown, of another purpose or used; [`Error::TokenExpired`] past its lifetime.
pub(crate) async fn find_live(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
    now: OffsetDateTime,
) -> Result<one_time_secret::Model, Error> {
    if token.len() != 43 || crypto::b64_decode(token).is_none_or(|bytes| bytes.len() != 32) {
        return Err(Error::TokenInvalid);
    }
    let hash = crypto::sha256_hex(token.as_bytes());
    let row = store::one_time::find(db, purpose.as_str(), &hash)
        .await?
        .filter(|row| row.consumed_at.is_none())
        .ok_or(Error::TokenInvalid)?;
    if row.expires_at <= now {
        return Err(Error::TokenExpired);
    }
    Ok(row)
}

/// Counts one guess against a live token, if it has guesses left
/// ([`MAX_CODE_ATTEMPTS`]); a token out of guesses dies ([`Error::TooManyAttempts`]).
pub(crate) async fn count_guess(ctx: &Context, row: &one_time_secret::Model) -> Result<(), Error> {
    if store::one_time::count_attempt(&ctx.db, row.id, MAX_CODE_ATTEMPTS).await? {
        Ok(())
    } else {
        store::one_time::mark_consumed(&ctx.db, row.id, ctx.now()).await?;
        Err(Error::TooManyAttempts)
    }
}

/// Guesses one code may take before it dies.
pub(crate) const MAX_CODE_ATTEMPTS: i32 = 5;
/// Guesses all codes of one purpose and address may take in an hour, however many codes
/// were requested: guessing cannot be spread over fresh codes.
pub(crate) const CODE_GUESS_BUDGET_PER_HOUR: i64 = 15;

/// Issues a new six-digit code of `purpose` for `identifier` (after [`supersede`]),
/// written through `db`, and returns it. Stored as HMAC(server-derived key, purpose ‖
/// identifier ‖ code).
pub(crate) async fn issue_code(
    ctx: &Context,
    db: &impl ConnectionTrait,
    purpose: Purpose,
    user_id: Option<Uuid>,
    identifier: &str,
    lifetime: Duration,
) -> Result<String, Error> {
    let code = crypto::random_code();
    let hash = code_hash(ctx, purpose, identifier, &code);
    insert(ctx, db, purpose, user_id, identifier, lifetime, None, hash).await?;
    Ok(code)
}

fn code_hash(ctx: &Context, purpose: Purpose, identifier: &str, code: &str) -> String {
    let tag = crypto::hmac_parts(
        &ctx.keys.codes,
        &[
            purpose.as_str().as_bytes(),
            identifier.as_bytes(),
            code.as_bytes(),
        ],
    );
    crypto::hex(tag.as_ref())
}

/// Whether `code` is exactly six ASCII digits (nothing else is ever a code).
pub(crate) fn is_code_shaped(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// How long wrong codes are counted together against one address.
const FAILURE_WINDOW: time::Duration = time::Duration::DAY;

/// Checks a code: counts the guess first (atomically, so parallel guesses cannot exceed
/// the limit), then compares in constant time. Runs on the pool, outside any transaction,
/// so a wrong guess stays counted; the caller then consumes the returned row with
/// [`consume_checked`] in the transaction that applies its effect.
///
/// Three caps hold, whatever the attacker does: five guesses per code, an hourly budget per
/// address across its codes, and a cumulative cap of wrong codes per address in a day
/// ([`code_failure_cap`](crate::Config::code_failure_cap), at most 100, as NIST SP
/// 800-63B asks) whose reaching emails the owner once.
///
/// [`Error::TokenInvalid`] for a wrong or missing code, [`Error::TokenExpired`] for an
/// expired one, [`Error::TooManyAttempts`] once the code, the hourly budget or the daily
/// cap of the address is used up.
pub(crate) async fn check_code(
    ctx: &Context,
    purpose: Purpose,
    identifier: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<one_time_secret::Model, Error> {
    let db = &ctx.db;
    let now = ctx.now();
    let hour_ago = now - time::Duration::HOUR;
    let window_cut = now - FAILURE_WINDOW;
    let cap = i32::try_from(ctx.config.passwordless.code_failure_cap).unwrap_or(i32::MAX);
    if store::one_time::code_failures(db, purpose.as_str(), identifier, window_cut).await? >= cap
        || store::one_time::attempts_since(db, purpose.as_str(), identifier, hour_ago).await?
            >= CODE_GUESS_BUDGET_PER_HOUR
    {
        return Err(Error::TooManyAttempts);
    }
    let row = store::one_time::newest_live(db, purpose.as_str(), identifier)
        .await?
        .ok_or(Error::TokenInvalid)?;
    if row.expires_at <= now {
        return Err(Error::TokenExpired);
    }
    // A guess at a live code counts against every guess made anywhere (made-up addresses
    // with no code never touch this budget, so they cannot drain it for everyone).
    ctx.throttle
        .check(Limit::CodeGuessGlobal, "", client)
        .await?;
    if !store::one_time::count_attempt(db, row.id, MAX_CODE_ATTEMPTS).await? {
        return Err(Error::TooManyAttempts);
    }
    // Counted as a failure before the comparison, like the attempt above, so parallel
    // guesses cannot slip past the cap; a right code clears the count.
    let failures =
        store::one_time::count_code_failure(db, purpose.as_str(), identifier, now, window_cut)
            .await?;
    if failures > cap {
        store::one_time::mark_consumed(db, row.id, now).await?;
        return Err(Error::TooManyAttempts);
    }
    let expected = code_hash(ctx, purpose, identifier, code);
    if !crypto::ct_eq(expected.as_bytes(), row.secret_hash.0.as_bytes()) {
        if failures >= cap
            && store::one_time::claim_failure_notice(db, purpose.as_str(), identifier, cap, now)
                .await?
        {
            notify_code_guessing(ctx, purpose, identifier).await;
        }
        // Read the count back: with parallel guesses, ours may not be the last one counted.
        let attempts = store::one_time::attempts(db, row.id).await?;
        if attempts >= MAX_CODE_ATTEMPTS || failures >= cap {
            // No guess is left: the code is dead.
            store::one_time::mark_consumed(db, row.id, now).await?;
            return Err(Error::TooManyAttempts);
        }
        return Err(Error::TokenInvalid);
    }
    store::one_time::clear_code_failures(db, purpose.as_str(), identifier).await?;
    Ok(row)
}

/// Tells the account behind `identifier`, if there is one, that its codes are paused: by
/// email, or by text when the account has only a phone. A failure is logged: the refusal
/// stands either way.
async fn notify_code_guessing(ctx: &Context, purpose: Purpose, identifier: &str) {
    let found = match purpose {
        Purpose::SmsOtp => store::users::find_by_phone(&ctx.db, identifier).await,
        _ => store::users::find_by_email(&ctx.db, identifier).await,
    };
    let user = match found {
        Ok(Some(user)) => user,
        Ok(None) => return,
        Err(err) => {
            tracing::error!(error = %err, "finding whom to tell about code guessing failed");
            return;
        }
    };
    let channel = match purpose {
        Purpose::SmsOtp => "your phone number",
        _ => "your email address",
    };
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::CodeGuessingCapped)
                .user(user.id)
                .detail("purpose", purpose.as_str()),
        )
        .await;
    if user.email.is_some() {
        ctx.outbox
            .notify(&user, &Message::TooManyWrongCodes { channel });
    } else if let Some(phone) = &user.phone {
        let body = format!(
            "{}: many wrong sign-in codes were entered for this number today; code sign-in is paused for a day.",
            ctx.config.app_name
        );
        ctx.outbox.send_text(
            TextMessage {
                to: phone.clone(),
                body,
                kind: "too_many_wrong_codes",
            },
            Some(user.id),
            None,
        );
    }
}

/// Consumes a checked secret, if nobody has yet (of concurrent redemptions exactly one
/// wins), inside the caller's transaction.
pub(crate) async fn consume_checked(
    db: &impl ConnectionTrait,
    row: &one_time_secret::Model,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if store::one_time::mark_consumed(db, row.id, now).await? {
        Ok(())
    } else {
        Err(Error::TokenInvalid)
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    ctx: &Context,
    db: &impl ConnectionTrait,
    purpose: Purpose,
    user_id: Option<Uuid>,
    identifier: &str,
    lifetime: Duration,
    data: Option<serde_json::Value>,
    secret_hash: String,
) -> Result<(), Error> {
    let now = ctx.now();
    let lifetime = lifetime.min(purpose.max_lifetime());
    let row = one_time_secret::Model {
        id: Uuid::now_v7(),
        purpose: purpose.as_str().to_owned(),
        user_id,
        identifier: Some(identifier.to_owned()),
        secret_hash: Redacted(secret_hash),
        attempts: 0,
        data: data.map(|d| d.to_string()),
        created_at: now,
        expires_at: now + time::Duration::try_from(lifetime).unwrap_or(time::Duration::HOUR),
        consumed_at: None,
    };
    store::one_time::insert(db, row).await?;
    Ok(())
}

/// Consumes a token of `purpose`: [`Error::TokenInvalid`] if it is unknown, of another
/// purpose, used or superseded; [`Error::TokenExpired`] past its lifetime. Run it in the
/// transaction that applies its effect.
pub(crate) async fn consume(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
    now: OffsetDateTime,
) -> Result<one_time_secret::Model, Error> {
    // Our tokens are exactly 43 base64url characters; anything else is not worth a query.
    if token.len() != 43 || crypto::b64_decode(token).is_none_or(|bytes| bytes.len() != 32) {
        return Err(Error::TokenInvalid);
    }
    let hash = crypto::sha256_hex(token.as_bytes());
    let row = store::one_time::find(db, purpose.as_str(), &hash)
        .await?
        .ok_or(Error::TokenInvalid)?;
    if row.consumed_at.is_some() {
        return Err(Error::TokenInvalid);
    }
    if row.expires_at <= now {
        return Err(Error::TokenExpired);
    }
    // Two requests at once can both leave a live secret; only the newest counts.
    let newest = match &row.identifier {
        Some(identifier) => store::one_time::newest_live(db, purpose.as_str(), identifier).await?,
        None => None,
    };
    if newest.is_some_and(|newest| newest.id != row.id) {
        return Err(Error::TokenInvalid);
    }
    if !store::one_time::mark_consumed(db, row.id, now).await? {
        return Err(Error::TokenInvalid);
    }
    Ok(row)
}
