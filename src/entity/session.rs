//! `portcullis_sessions`: one row per signed-in device.
//!
//! A session is a refresh-token family: the row keeps the hash of the current refresh
//! token and of its immediate parent (for the grace window of racing refreshes).

use sea_orm::entity::prelude::*;

use super::Redacted;

/// A session. Access tokens name it in their `sid` claim.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_sessions")]
pub struct Model {
    /// UUIDv7; the `sid` claim.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The signed-in account.
    pub user_id: Uuid,
    /// SHA-256 (lower-case hex) of the current refresh token.
    pub refresh_hash: Redacted,
    /// SHA-256 (lower-case hex) of the refresh token the current one replaced.
    pub previous_refresh_hash: Option<Redacted>,
    /// How many times the refresh token was rotated.
    pub generation: i64,
    /// When the refresh token was last rotated.
    pub rotated_at: Option<TimeDateTimeWithTimeZone>,
    /// The primary sign-in method: `password`, `magic_link`, `otp`, `passkey`, `oauth`, ...
    pub auth_method: String,
    /// Authentication method references (RFC 8176), space-separated: `pwd`, `otp`, `hwk`, ...
    pub amr: String,
    /// What the session proved (NIST SP 800-63B): `aal1` (one factor) or `aal2` (two, or a
    /// passkey with user verification). A refresh keeps it.
    pub acr: String,
    /// When the session last proved who it is: its sign-in, or its last
    /// re-authentication (`None`: its sign-in, `created_at`). The fresh-session rule reads
    /// it.
    pub auth_time: Option<TimeDateTimeWithTimeZone>,
    /// The admin impersonating the user in this session, if it is an impersonation (then
    /// it lasts at most an hour, has no refresh token, and its tokens carry `act`).
    pub impersonator_id: Option<Uuid>,
    /// The client app (publishable key's `id`) the session signed in through, if any.
    pub client_id: Option<String>,
    /// Client IP at sign-in.
    pub ip: Option<String>,
    /// Client user agent at sign-in (truncated).
    pub user_agent: Option<String>,
    /// The organization the session acts in, if any.
    pub active_org_id: Option<Uuid>,
    /// When the session was created (the `auth_time` of its tokens).
    pub created_at: TimeDateTimeWithTimeZone,
    /// When the session last refreshed.
    pub last_active_at: TimeDateTimeWithTimeZone,
    /// The session dies if it is not refreshed before this instant.
    pub idle_expires_at: TimeDateTimeWithTimeZone,
    /// The session dies at this instant whatever happens; rotation never extends it.
    pub expires_at: TimeDateTimeWithTimeZone,
    /// When the session was revoked, if it was.
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
    /// Why the session was revoked: `sign_out`, `refresh_reuse`, `password_reset`, ...
    pub revoked_reason: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
