//! SeaORM entities for the tables portcullis owns.
//!
//! Every table is prefixed with `portcullis_` and created by
//! [`Migrator`](crate::migration::Migrator); feature flags never change the schema.
//! Ids are UUIDv7 (time-ordered). Timestamps are UTC.
//!
//! | Module | Table | One row per |
//! |---|---|---|
//! | [`user`] | `portcullis_users` | account |
//! | [`password_credential`] | `portcullis_password_credentials` | account with a password |
//! | [`session`] | `portcullis_sessions` | signed-in device (a refresh-token family) |
//! | [`signing_key`] | `portcullis_signing_keys` | ES256 key that signs or signed access tokens |
//! | [`one_time_secret`] | `portcullis_one_time_secrets` | single-use link token or code in flight |
//! | [`audit_event`] | `portcullis_audit_events` | security-relevant event |
//! | [`organization`] | `portcullis_organizations` | organization |
//! | [`membership`] | `portcullis_memberships` | user in an organization, with a role |
//! | [`invitation`] | `portcullis_invitations` | invitation to join an organization |
//! | [`passkey`] | `portcullis_passkeys` | registered passkey |
//! | [`webauthn_handle`] | `portcullis_webauthn_handles` | user with a passkey (their random handle) |
//! | [`webauthn_challenge`] | `portcullis_webauthn_challenges` | passkey ceremony in flight |
//! | [`oauth_account`] | `portcullis_oauth_accounts` | provider account linked to a user |
//! | [`oauth_state`] | `portcullis_oauth_states` | social sign-in in flight |
//! | [`code_failure`] | `portcullis_code_failures` | address whose codes were guessed wrong today |
//! | [`totp`] | `portcullis_totp` | user with an authenticator app (or enrolling one) |
//! | [`recovery_code`] | `portcullis_recovery_codes` | recovery code of a user with a second factor |
//! | [`api_key`] | `portcullis_api_keys` | secret key of a user or an organization |
//! | [`tombstone`] | `portcullis_tombstones` | user or organization deleted recently |
//! | [`waitlist_entry`] | `portcullis_waitlist_entries` | user or organization waiting for a feature |
//! | [`billing_customer`] | `portcullis_billing_customers` | payer (user or organization) with a Stripe customer |
//! | [`subscription`] | `portcullis_subscriptions` | Stripe subscription, as webhooks keep it |
//! | [`stripe_event`] | `portcullis_stripe_events` | Stripe event applied (once) |
//! | [`outbox_message`] | `portcullis_outbox` | email or text on its way (kept a while after) |
//!
//! Hosts may read these tables (for example join `portcullis_users` from their own
//! entities) but should write through portcullis' Rust API, which keeps the in-memory
//! caches and the audit trail consistent.

pub mod prelude;

pub mod api_key;
pub mod audit_event;
pub mod billing_customer;
pub mod code_failure;
pub mod invitation;
pub mod membership;
pub mod oauth_account;
pub mod oauth_state;
pub mod one_time_secret;
pub mod organization;
pub mod outbox_message;
pub mod passkey;
pub mod password_credential;
pub mod recovery_code;
pub mod session;
pub mod signing_key;
pub mod stripe_event;
pub mod subscription;
pub mod tombstone;
pub mod totp;
pub mod user;
pub mod waitlist_entry;
pub mod webauthn_challenge;
pub mod webauthn_handle;

use std::fmt;

use sea_orm::DeriveValueType;

/// A secret-derived value stored as text (a password hash, a token hash, a sealed key).
///
/// Its `Debug` output is redacted so that logging a model never prints it.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct Redacted(pub String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
