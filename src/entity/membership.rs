//! `portcullis_memberships`: who belongs to which organization, with which role.

use sea_orm::entity::prelude::*;

/// One user's membership of one organization.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_memberships")]
pub struct Model {
    /// The organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// The member.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// `owner`, `admin`, `member`, or a role the host defined.
    pub role: String,
    /// When the user joined.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When the role last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
