//! `portcullis_outbox`: emails and texts kept until delivered.

use sea_orm::entity::prelude::*;

use super::Redacted;

/// A message on its way: written when a flow hands it over, delivered by the outbox worker
/// (retried with backoff, at most a few times), then kept a while as `sent`, `dead` (every
/// attempt failed) or `dropped` (its link or code expired before it could be sent).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_outbox")]
pub struct Model {
    /// UUIDv7; also the message's stable id (the email's `Message-ID`), the same on every
    /// attempt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `email` or `sms`.
    pub channel: String,
    /// Which message: `password_reset`, `email_otp`, `sms_otp`, ...
    pub kind: String,
    /// The account it concerns, when there is one.
    pub user_id: Option<Uuid>,
    /// The rendered message (it carries links and codes), sealed with AES-256-GCM under a
    /// key derived from the server secret and bound to the id; base64url.
    pub payload: Redacted,
    /// `pending`, `sent`, `dead` or `dropped`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: TimeDateTimeWithTimeZone,
    /// While an instance is delivering it: until when the others leave it alone.
    pub locked_until: Option<TimeDateTimeWithTimeZone>,
    /// When the link or code it carries expires: it is not sent after that.
    pub expires_at: Option<TimeDateTimeWithTimeZone>,
    /// The last failure, for operators (never the message's content).
    pub last_error: Option<String>,
    /// When it was handed over.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it was delivered.
    pub sent_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
