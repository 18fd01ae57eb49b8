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

/// The membership's organization, for a JOIN.
pub fn organization() -> RelationDef {
    Entity::belongs_to(super::organization::Entity)
        .from(Column::OrgId)
        .to(super::organization::Column::Id)
        .into()
}

/// The member's account, for a JOIN.
pub fn user() -> RelationDef {
    Entity::belongs_to(super::user::Entity)
        .from(Column::UserId)
        .to(super::user::Column::Id)
        .into()
}
