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
use uuid::Uuid;

use crate::{
    Error, crypto,
    entity::{Redacted, one_time_secret},
    store,
};

/// What a secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Confirms an email address (24 h).
    EmailVerification,
    /// Resets a password (1 h).
    PasswordReset,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
        }
    }

    /// The longest this purpose may live; configuration can only shorten it.
    pub(crate) fn max_lifetime(self) -> Duration {
        match self {
            Self::EmailVerification => Duration::from_secs(24 * 3600),
            Self::PasswordReset => Duration::from_secs(3600),
        }
    }
}

/// The purposes that sign someone in or take over an account. A password reset or change
/// kills every live one of them.
pub(crate) const ACCOUNT_TAKEOVER_PURPOSES: &[&str] =
    &["password_reset", "magic_link", "email_otp", "sms_otp"];

/// Issues a new secret of `purpose` for `identifier` (superseding older ones) and returns
/// the token to send.
pub(crate) async fn issue(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    user_id: Option<Uuid>,
    identifier: &str,
    lifetime: Duration,
    data: Option<serde_json::Value>,
) -> Result<String, Error> {
    let now = store::now();
    let lifetime = lifetime.min(purpose.max_lifetime());
    store::one_time::supersede(db, purpose.as_str(), identifier, now).await?;
    let token = crypto::random_token();
    let row = one_time_secret::Model {
        id: Uuid::now_v7(),
        purpose: purpose.as_str().to_owned(),
        user_id,
        identifier: Some(identifier.to_owned()),
        secret_hash: Redacted(crypto::sha256_hex(token.as_bytes())),
        attempts: 0,
        data: data.map(|d| d.to_string()),
        created_at: now,
        expires_at: now + time::Duration::try_from(lifetime).unwrap_or(time::Duration::HOUR),
        consumed_at: None,
    };
    store::one_time::insert(db, row).await?;
    Ok(token)
}

/// Consumes a token of `purpose`: [`Error::TokenInvalid`] if it is unknown, of another
/// purpose, used or superseded; [`Error::TokenExpired`] past its lifetime. Run it in the
/// transaction that applies its effect.
pub(crate) async fn consume(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
) -> Result<one_time_secret::Model, Error> {
    // Our tokens are exactly 43 base64url characters; anything else is not worth a query.
    if token.len() != 43 || crypto::b64_decode(token).is_none_or(|bytes| bytes.len() != 32) {
        return Err(Error::TokenInvalid);
    }
    let now = store::now();
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
    if !store::one_time::mark_consumed(db, row.id, now).await? {
        return Err(Error::TokenInvalid);
    }
    Ok(row)
}
