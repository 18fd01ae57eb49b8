//! `portcullis_organizations`: teams that users belong to.

use sea_orm::entity::prelude::*;

/// An organization.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_organizations")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Unique, URL-safe (`[a-z0-9-]`).
    #[sea_orm(unique)]
    pub slug: String,
    /// Host-defined JSON object, stored as text (editable by admins).
    pub metadata: String,
    /// Whether members must have passed a second factor (an `aal2` session) to switch
    /// into it or use its permissions.
    pub require_mfa: bool,
    /// When it was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
