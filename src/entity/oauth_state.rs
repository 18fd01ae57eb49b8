//! `portcullis_oauth_states`: authorizations in flight, between `authorize` and `callback`.

use sea_orm::entity::prelude::*;

/// What `authorize` stored for its `callback`. Never sent to the client, but for the
/// state itself (as `state`, stored here only as a hash).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_oauth_states")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 (hex) of the `state` parameter (256 random bits).
    #[sea_orm(unique)]
    pub state_hash: String,
    /// SHA-256 (hex) of the browser-binding cookie set at `authorize`.
    pub browser_hash: String,
    /// The provider's name.
    pub provider: String,
    /// The issuer expected on the callback and in the ID token.
    pub issuer: String,
    /// The PKCE verifier (S256).
    pub pkce_verifier: String,
    /// The OpenID Connect nonce.
    pub nonce: String,
    /// Where the browser goes afterwards (already checked).
    pub redirect_url: Option<String>,
    /// The signed-in user this authorization links the provider to, if any.
    pub link_user_id: Option<Uuid>,
    /// The session that started the link: only it may finish it.
    pub link_session_id: Option<Uuid>,
    /// When it began.
    pub created_at: TimeDateTimeWithTimeZone,
    /// It must come back before this (10 minutes). The callback deletes it.
    pub expires_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
