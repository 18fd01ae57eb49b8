//! `portcullis_signing_keys`: the ES256 keys that sign access tokens.

use sea_orm::entity::prelude::*;

use super::Redacted;

/// A P-256 key pair. The private half is sealed (AES-256-GCM) under a key derived from
/// the server secret, so a database dump alone cannot mint tokens.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_signing_keys")]
pub struct Model {
    /// The JWS `kid`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `ES256`.
    pub algorithm: String,
    /// The uncompressed SEC1 public point, base64url.
    pub public_key: String,
    /// The sealed PKCS#8 private key, base64url (nonce followed by ciphertext).
    pub private_key: Redacted,
    /// When the key was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When the key stopped signing; unset for the active key.
    pub retired_at: Option<TimeDateTimeWithTimeZone>,
    /// When the last token the key signed expires; after that it leaves the JWKS.
    pub publish_until: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
