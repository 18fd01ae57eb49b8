//! `portcullis_invitations`: invitations to join an organization.
//!
//! The emailed token itself is a one-time secret (purpose `invitation`) whose data names
//! this row; the row holds the state shown to admins.

use sea_orm::entity::prelude::*;

/// An invitation of one email address to one organization, with one role.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_invitations")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The organization.
    pub org_id: Uuid,
    /// The invited (normalised) address; only that address may accept.
    pub email: String,
    /// The role granted on acceptance.
    pub role: String,
    /// Who invited.
    pub inviter_id: Option<Uuid>,
    /// When it was sent.
    pub created_at: TimeDateTimeWithTimeZone,
    /// After this it cannot be accepted (7 days).
    pub expires_at: TimeDateTimeWithTimeZone,
    /// When it was accepted.
    pub accepted_at: Option<TimeDateTimeWithTimeZone>,
    /// Who accepted.
    pub accepted_by: Option<Uuid>,
    /// When an admin revoked it.
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
