//! `portcullis_webauthn_handles`: each user's random WebAuthn user handle.

use sea_orm::entity::prelude::*;

/// A user's handle: random, never the email, the same for all their passkeys.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_webauthn_handles")]
pub struct Model {
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The handle authenticators store and return on discoverable sign-in.
    #[sea_orm(unique)]
    pub handle: Uuid,
}

impl ActiveModelBehavior for ActiveModel {}
