//! `portcullis_users`: one row per account.

use sea_orm::entity::prelude::*;

/// An account. Holds no secrets (passwords live in
/// [`password_credential`](super::password_credential)), so deriving `Debug` is safe.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_users")]
pub struct Model {
    /// UUIDv7; safe to expose and to reference from the host's tables.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Trimmed, lower-cased email address, unique across accounts.
    #[sea_orm(unique)]
    pub email: Option<String>,
    /// When the email address was confirmed, if it has been.
    pub email_verified_at: Option<TimeDateTimeWithTimeZone>,
    /// E.164 phone number, unique across accounts.
    #[sea_orm(unique)]
    pub phone: Option<String>,
    /// When the phone number was confirmed, if it has been.
    pub phone_verified_at: Option<TimeDateTimeWithTimeZone>,
    /// Display name.
    pub name: Option<String>,
    /// Avatar URL.
    pub image_url: Option<String>,
    /// A JSON object (stored as text) that the user edits through `PATCH /me`: treat it as
    /// untrusted input, and keep anything that grants rights in the host's own tables.
    pub metadata: String,
    /// JSON object (as text) only admins and host code read and write: never shown by
    /// `/me`, never user-writable. `None` is `{}`.
    pub private_metadata: Option<String>,
    /// `user` or `admin` (admins use the admin router).
    pub role: String,
    /// When the account last signed in.
    pub last_sign_in_at: Option<TimeDateTimeWithTimeZone>,
    /// When an administrator disabled the account; disabled accounts cannot sign in.
    pub disabled_at: Option<TimeDateTimeWithTimeZone>,
    /// Access tokens issued before this instant are refused (password reset, disabling).
    pub tokens_valid_after: Option<TimeDateTimeWithTimeZone>,
    /// When the account was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When the account was last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
