//! `portcullis_passkeys`: registered WebAuthn credentials.

use sea_orm::entity::prelude::*;

/// One passkey of one user.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_passkeys")]
pub struct Model {
    /// UUIDv7; the id the management routes use.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// SHA-256 (hex) of the credential id: unique across all users.
    #[sea_orm(unique)]
    pub credential_hash: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// A name the user chose.
    pub name: String,
    /// The webauthn-rs passkey (public key, counter, flags) as JSON. Holds no secret.
    pub passkey: String,
    /// The signature counter last seen.
    pub counter: i64,
    /// Whether the credential may be synced (backed up).
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backup_state: bool,
    /// When it was registered.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it last signed someone in.
    pub last_used_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
