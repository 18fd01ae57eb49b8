//! `portcullis_billing_customers`: the Stripe customer of each payer.

use sea_orm::entity::prelude::*;

/// A payer (a user or an organization) and its Stripe customer, made on its first
/// checkout and reused from then on.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_billing_customers")]
pub struct Model {
    /// The user's or organization's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub payer_id: Uuid,
    /// `user` or `organization`.
    pub payer_kind: String,
    /// Stripe's `cus_...`.
    #[sea_orm(unique)]
    pub stripe_customer_id: String,
    /// When it was made.
    pub created_at: TimeDateTimeWithTimeZone,
}

impl ActiveModelBehavior for ActiveModel {}
