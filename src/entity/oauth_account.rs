//! `portcullis_oauth_accounts`: provider accounts linked to users.

use sea_orm::entity::prelude::*;

/// One external identity (issuer, subject) linked to one user.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_oauth_accounts")]
pub struct Model {
    /// UUIDv7; the id `DELETE /me/accounts/{id}` takes.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The user it signs in.
    pub user_id: Uuid,
    /// The provider's name in the registry (`google`, `github`, ...).
    pub provider: String,
    /// The issuer (OpenID Connect) or the provider's fixed identifier (OAuth 2.0 only).
    pub issuer: String,
    /// The provider's stable id for the person (`sub`).
    pub subject: String,
    /// The email the provider gave, if any.
    pub email: Option<String>,
    /// Whether the provider asserted that email verified.
    pub email_verified: bool,
    /// When it was linked.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it last signed someone in.
    pub last_used_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
