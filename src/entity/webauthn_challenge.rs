//! `portcullis_webauthn_challenges`: passkey ceremonies in flight.

use sea_orm::entity::prelude::*;

/// The server-side state of one ceremony, between its begin and its complete. Never sent
/// to the client; deleted (consumed) before the answer is verified.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_webauthn_challenges")]
pub struct Model {
    /// Random (v4) id, given to the client as `challenge_id` for sign-in.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `registration`, `authentication` or `discoverable`.
    pub kind: String,
    /// The registering user, or the user named for a sign-in.
    pub user_id: Option<Uuid>,
    /// The webauthn-rs ceremony state, as JSON.
    pub state: String,
    /// When the ceremony began.
    pub created_at: TimeDateTimeWithTimeZone,
    /// It must complete before this (5 minutes).
    pub expires_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
