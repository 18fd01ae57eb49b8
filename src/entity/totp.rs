//! `portcullis_totp`: a user's authenticator-app secret (RFC 6238).

use sea_orm::entity::prelude::*;

use super::Redacted;

/// The TOTP factor of one user: an enrolment until `confirmed_at` is set, then the factor.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_totp")]
pub struct Model {
    /// The owner (one factor per user).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The 160-bit secret, sealed with AES-256-GCM under a key derived from the server
    /// secret and bound to the user id; base64url.
    pub secret_sealed: Redacted,
    /// When the enrolment began (an unconfirmed one lives ten minutes).
    pub created_at: TimeDateTimeWithTimeZone,
    /// When a first code confirmed it; `None` while it is only an enrolment.
    pub confirmed_at: Option<TimeDateTimeWithTimeZone>,
    /// The last time step whose code was accepted: no code of that step or an earlier
    /// one is accepted again.
    pub last_step: Option<i64>,
    /// Wrong second-factor codes in a row (TOTP and recovery codes); the owner is told
    /// when a run gets long.
    pub failures: i32,
    /// Whether the owner was told of the current run of wrong codes (once per run).
    pub failure_notice_sent: bool,
    /// When the last wrong code of the run came (a long run pauses codes for a day).
    pub last_failure_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
