//! `portcullis_recovery_codes`: single-use codes for when the authenticator is lost.

use sea_orm::entity::prelude::*;

use super::Redacted;

/// One recovery code. Only its keyed hash is stored.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_recovery_codes")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// HMAC-SHA-256 (lower-case hex) of the user id and the code, keyed by the server
    /// secret: a stolen table alone cannot be brute-forced.
    #[sea_orm(unique)]
    pub code_hash: Redacted,
    /// When the set it belongs to was made.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it was used; a used code never works again.
    pub used_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
