//! `portcullis_audit_events`: the security audit trail.

use sea_orm::entity::prelude::*;

/// One security-relevant event: a sign-up, sign-in, failure, throttling, refresh-token
/// reuse, revocation or sign-out. Never contains a secret.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_audit_events")]
pub struct Model {
    /// UUIDv7 (so ids sort by time).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// When it happened.
    pub occurred_at: TimeDateTimeWithTimeZone,
    /// What happened, as the `snake_case` name of an
    /// [`AuditKind`](crate::audit::AuditKind): `sign_in`, `sign_in_failed`, ...
    pub kind: String,
    /// The account concerned, when known.
    pub user_id: Option<Uuid>,
    /// The admin who acted, when an admin did (their own row says so too).
    pub actor_id: Option<Uuid>,
    /// The session concerned, when there is one.
    pub session_id: Option<Uuid>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent (truncated).
    pub user_agent: Option<String>,
    /// Event-specific JSON details, as text.
    pub detail: String,
}

impl ActiveModelBehavior for ActiveModel {}
