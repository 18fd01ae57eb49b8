//! `portcullis_stripe_events`: every Stripe event applied, once.

use sea_orm::entity::prelude::*;

/// A Stripe event, recorded in the same transaction as its effect: a duplicate delivery
/// finds it and changes nothing.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_stripe_events")]
pub struct Model {
    /// Stripe's `evt_...`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `customer.subscription.updated`, ...
    pub event_type: String,
    /// The event's `created` (Unix seconds).
    pub created: i64,
    /// When it arrived.
    pub received_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
