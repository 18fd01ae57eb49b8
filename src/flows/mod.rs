//! The domain logic, without HTTP: sign-up, sign-in, sessions, users, signing keys.
//!
//! Flows are plain async functions over the store and the crypto primitives. Routes parse
//! requests into their inputs and render their outputs; hosts reach the same flows from
//! Rust through [`Portcullis::users`](crate::Portcullis::users) and
//! [`Portcullis::sessions`](crate::Portcullis::sessions).

pub(crate) mod email_address;
pub(crate) mod email_verification;
#[cfg(feature = "oauth")]
pub(crate) mod oauth;
pub(crate) mod one_time;
pub(crate) mod orgs;
#[cfg(feature = "passkeys")]
pub(crate) mod passkeys;
pub(crate) mod password;
pub(crate) mod password_policy;
pub(crate) mod password_recovery;
pub(crate) mod passwordless;
pub(crate) mod phone;
pub(crate) mod profile;
pub(crate) mod redirect;
pub mod retention;
pub mod sessions;
pub(crate) mod signing_keys;
pub mod users;

use std::fmt;

use crate::rate_limit::BoxFuture;

/// A breached-password corpus (for example a k-anonymity range API) consulted when a
/// password is set.
///
/// When the check itself fails, the password is accepted and the failure logged (an
/// outage of the corpus does not stop sign-ups), unless the host chose
/// [`breached_passwords_fail_closed`](crate::Config::breached_passwords_fail_closed):
/// then it is refused with 503 `unavailable`.
pub trait BreachedPasswords: Send + Sync + fmt::Debug + 'static {
    /// Whether the password appears in the corpus.
    fn is_breached<'a>(
        &'a self,
        password: &'a str,
    ) -> BoxFuture<'a, Result<bool, Box<dyn std::error::Error + Send + Sync>>>;
}
