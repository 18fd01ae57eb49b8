//! `portcullis_subscriptions`: subscriptions as the webhooks (and Stripe, when asked) say.

use sea_orm::entity::prelude::*;

/// A Stripe subscription of a payer, kept in step by webhooks.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_subscriptions")]
pub struct Model {
    /// Stripe's `sub_...`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The user's or organization's id.
    pub payer_id: Uuid,
    /// `user` or `organization`.
    pub payer_kind: String,
    /// Stripe's `cus_...`.
    pub customer_id: String,
    /// The host's plan, when its price is in the catalog.
    pub plan_id: Option<String>,
    /// Stripe's `price_...`.
    pub price_id: Option<String>,
    /// The subscription's item (`si_...`), whose quantity seats follow.
    pub item_id: Option<String>,
    /// `trialing`, `active`, `past_due`, `canceled`, `incomplete`, `unpaid`, ...
    pub status: String,
    /// The quantity.
    pub seats: i64,
    /// When the current period ends.
    pub current_period_end: Option<TimeDateTimeWithTimeZone>,
    /// Whether it ends with the period.
    pub cancel_at_period_end: bool,
    /// Since when it is `past_due` (its features last for the host's grace).
    pub past_due_since: Option<TimeDateTimeWithTimeZone>,
    /// The `created` (Unix seconds) of the newest event whose state is stored: an older
    /// event changes nothing.
    pub state_at: i64,
    /// A per-seat quantity Stripe has yet to hear of (retried in the background).
    pub seats_pending: bool,
    /// When it was first stored.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
