//! `portcullis_one_time_secrets`: link tokens and codes in flight.
//!
//! Generic over its `purpose` (email verification, password reset, magic link, OTP,
//! invitation, OAuth state, ...): an endpoint only ever accepts its own purpose.

use sea_orm::entity::prelude::*;

use super::Redacted;

/// A single-use secret. Only its hash is stored.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_one_time_secrets")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// What the secret is for; an endpoint accepts only its own purpose.
    pub purpose: String,
    /// The account it belongs to, when there is one.
    pub user_id: Option<Uuid>,
    /// The exact email address or phone number it was sent to.
    pub identifier: Option<String>,
    /// SHA-256 (link tokens) or HMAC with the server secret (short codes), lower-case hex.
    pub secret_hash: Redacted,
    /// Wrong guesses so far (codes).
    pub attempts: i32,
    /// Purpose-specific JSON data (redirect target, PKCE verifier, ...), as text.
    pub data: Option<String>,
    /// When it was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it stops working.
    pub expires_at: TimeDateTimeWithTimeZone,
    /// When it was used (or superseded); a consumed secret never works again.
    pub consumed_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
