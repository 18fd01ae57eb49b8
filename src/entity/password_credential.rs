//! `portcullis_password_credentials`: the password of accounts that have one.

use sea_orm::entity::prelude::*;

use super::Redacted;

/// A password hash. Passkey-only and social-only accounts have no row here.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_password_credentials")]
pub struct Model {
    /// The owning account; also the primary key (one password per account).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// PHC string: argon2id for passwords set here; bcrypt, scrypt or PBKDF2 for imported
    /// ones until their first sign-in upgrades them.
    pub hash: Redacted,
    /// When the password was last set.
    pub updated_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}

/// The password's account, for a JOIN (`.rev()` joins from the user).
pub fn user() -> RelationDef {
    Entity::belongs_to(super::user::Entity)
        .from(Column::UserId)
        .to(super::user::Column::Id)
        .into()
}
