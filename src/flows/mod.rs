//! The domain logic, without HTTP: sign-up, sign-in, sessions, users, signing keys.
//!
//! Flows are plain async functions over the store and the crypto primitives. Routes parse
//! requests into their inputs and render their outputs; hosts reach the same flows from
//! Rust through [`Portcullis::users`](crate::Portcullis::users) and
//! [`Portcullis::sessions`](crate::Portcullis::sessions).

pub(crate) mod admin;
pub(crate) mod api_keys;
#[cfg(feature = "billing")]
pub(crate) mod billing;
pub(crate) mod email_address;
pub(crate) mod email_verification;
pub(crate) mod features;
pub(crate) mod health;
pub(crate) mod mfa;
pub(crate) mod new_password;
#[cfg(feature = "oauth")]
pub(crate) mod oauth;
pub(crate) mod one_time;
pub(crate) mod orgs;
#[cfg(feature = "passkeys")]
pub(crate) mod passkeys;
pub(crate) mod password;
pub(crate) mod password_recovery;
pub(crate) mod passwordless;
pub(crate) mod phone;
pub(crate) mod profile;
pub(crate) mod retention;
pub(crate) mod sessions;
pub(crate) mod sign_in_methods;
pub(crate) mod signing;
pub(crate) mod users;
pub(crate) mod waitlists;
