//! `portcullis_api_keys`: secret keys for machines (`sk_...`).

use sea_orm::entity::prelude::*;

use super::Redacted;

/// An API key of a user (`user_id`) or of an organization (`org_id`). Only the SHA-256 of
/// the secret is stored; it is shown once, at creation.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_api_keys")]
pub struct Model {
    /// UUIDv7; the id the management routes use.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owner of a user key.
    pub user_id: Option<Uuid>,
    /// The organization of an organization key (which acts as the organization).
    pub org_id: Option<Uuid>,
    /// Who created it.
    pub created_by: Uuid,
    /// A name its owner chose.
    pub name: String,
    /// The first characters of the key (`sk_ab12cd`), to recognise it in lists.
    pub prefix: String,
    /// SHA-256 (lower-case hex) of the whole key.
    #[sea_orm(unique)]
    pub key_hash: Redacted,
    /// Space-separated permission names it is limited to; `None`: what its owner may do.
    pub scopes: Option<String>,
    /// What the session that created it had proved (`aal1`/`aal2`): a key never carries
    /// more than that.
    pub acr: String,
    /// When it was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it stops working, if it does.
    pub expires_at: Option<TimeDateTimeWithTimeZone>,
    /// When it was last used (written at most once a minute).
    pub last_used_at: Option<TimeDateTimeWithTimeZone>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
