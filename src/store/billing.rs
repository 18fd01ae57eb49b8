//! Billing rows: each payer's Stripe customer, the subscriptions webhooks keep in step,
//! and the Stripe events applied. An event's id is inserted in the transaction of its
//! effect; its primary key is what makes a duplicate delivery change nothing.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    sea_query::{Expr, Query},
};
use uuid::Uuid;

use crate::entity::{billing_customer, membership, stripe_event, subscription};

/// The statuses of a subscription that is still the payer's (a second checkout would be a
/// second subscription): 409 for a new checkout.
pub(crate) const LIVE: [&str; 4] = ["trialing", "active", "past_due", "unpaid"];

/// The payer's Stripe customer, if it has one.
pub(crate) async fn customer_of(
    db: &impl ConnectionTrait,
    payer_id: Uuid,
) -> Result<Option<billing_customer::Model>, DbErr> {
    billing_customer::Entity::find_by_id(payer_id)
        .unique(db)
        .await
}

/// The payer a Stripe customer belongs to, if it is one of ours.
pub(crate) async fn payer_of_customer(
    db: &impl ConnectionTrait,
    stripe_customer_id: &str,
) -> Result<Option<billing_customer::Model>, DbErr> {
    billing_customer::Entity::find()
        .filter(billing_customer::Column::StripeCustomerId.eq(stripe_customer_id))
        .unique(db)
        .await
}

/// Records a payer's customer; `false` when the payer already has one (a racing first
/// checkout stored it first).
pub(crate) async fn insert_customer(
    db: &impl ConnectionTrait,
    row: billing_customer::Model,
) -> Result<bool, DbErr> {
    match billing_customer::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await
    {
        Ok(_) => Ok(true),
        Err(err) if super::is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Whether the event was applied already.
pub(crate) async fn event_applied(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    Ok(stripe_event::Entity::find_by_id(id.to_owned())
        .unique(db)
        .await?
        .is_some())
}

/// Records an event as applied; `false` when it was already (another delivery of it won).
/// Inside the transaction of the event's effect, so both land or neither does.
pub(crate) async fn record_event(
    db: &impl ConnectionTrait,
    row: stripe_event::Model,
) -> Result<bool, DbErr> {
    match stripe_event::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await
    {
        Ok(_) => Ok(true),
        Err(err) if super::is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// A subscription by its Stripe id.
pub(crate) async fn subscription(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<subscription::Model>, DbErr> {
    subscription::Entity::find_by_id(id.to_owned())
        .unique(db)
        .await
}

/// A subscription, locked for the rest of the transaction (`FOR UPDATE` on PostgreSQL and
/// MySQL; SQLite serialises writers anyway): two events of one subscription apply one
/// after the other, each comparing itself with what the other left.
pub(crate) async fn lock_subscription(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<subscription::Model>, DbErr> {
    subscription::Entity::find_by_id(id.to_owned())
        .lock_exclusive()
        .unique(db)
        .await
}

/// Stores a subscription seen for the first time.
pub(crate) async fn insert_subscription(
    db: &impl ConnectionTrait,
    row: subscription::Model,
) -> Result<(), DbErr> {
    subscription::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Overwrites a stored subscription with a newer state.
pub(crate) async fn update_subscription(
    db: &impl ConnectionTrait,
    row: subscription::Model,
) -> Result<(), DbErr> {
    let mut active = row.into_active_model().reset_all();
    active.id = sea_orm::ActiveValue::Unchanged(active.id.take().unwrap_or_default());
    active.created_at = sea_orm::ActiveValue::NotSet;
    active.update(db).await?;
    Ok(())
}

/// The payer's subscriptions, newest first.
pub(crate) async fn of_payer(
    db: &impl ConnectionTrait,
    payer_id: Uuid,
) -> Result<Vec<subscription::Model>, DbErr> {
    subscription::Entity::find()
        .filter(subscription::Column::PayerId.eq(payer_id))
        .order_by_desc(subscription::Column::CreatedAt)
        .order_by_desc(subscription::Column::Id)
        .limit(100)
        .all(db)
        .await
}

/// The subscriptions of these payers whose status may still grant features.
pub(crate) async fn live_of(
    db: &impl ConnectionTrait,
    payer_ids: &[Uuid],
) -> Result<Vec<subscription::Model>, DbErr> {
    subscription::Entity::find()
        .filter(subscription::Column::PayerId.is_in(payer_ids.iter().copied()))
        .filter(subscription::Column::Status.is_in(["trialing", "active", "past_due"]))
        .all(db)
        .await
}

/// Marks the organization's live subscriptions: its member count changed, so a per-seat
/// quantity must follow. In the transaction of the membership change, so the change is
/// never forgotten; the seat task tells Stripe.
pub(crate) async fn mark_seats_pending(
    db: &impl ConnectionTrait,
    org_id: Uuid,
) -> Result<u64, DbErr> {
    let result = subscription::Entity::update_many()
        .col_expr(subscription::Column::SeatsPending, Expr::value(true))
        .filter(subscription::Column::PayerId.eq(org_id))
        .filter(subscription::Column::Status.is_in(LIVE))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// [`mark_seats_pending`] for every organization the user belongs to (before their
/// memberships go, with their account).
pub(crate) async fn mark_seats_pending_of_member(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<u64, DbErr> {
    let orgs = Query::select()
        .column(membership::Column::OrgId)
        .from(membership::Entity)
        .and_where(membership::Column::UserId.eq(user_id))
        .to_owned();
    let result = subscription::Entity::update_many()
        .col_expr(subscription::Column::SeatsPending, Expr::value(true))
        .filter(subscription::Column::PayerId.in_subquery(orgs))
        .filter(subscription::Column::Status.is_in(LIVE))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Subscriptions whose quantity Stripe has yet to hear of.
pub(crate) async fn seats_pending(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<subscription::Model>, DbErr> {
    subscription::Entity::find()
        .filter(subscription::Column::SeatsPending.eq(true))
        .order_by_asc(subscription::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await
}

/// Takes the mark off before the seat task counts members: a membership change after this
/// marks it again, so it is never lost. `false` when another instance took it first.
pub(crate) async fn take_seats_pending(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let result = subscription::Entity::update_many()
        .col_expr(subscription::Column::SeatsPending, Expr::value(false))
        .filter(subscription::Column::Id.eq(id))
        .filter(subscription::Column::SeatsPending.eq(true))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Records the quantity Stripe took (its `customer.subscription.updated` follows).
pub(crate) async fn set_seats(
    db: &impl ConnectionTrait,
    id: &str,
    seats: i64,
) -> Result<(), DbErr> {
    subscription::Entity::update_many()
        .col_expr(subscription::Column::Seats, Expr::value(seats))
        .filter(subscription::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts the mark back (Stripe could not be told; the next round retries).
pub(crate) async fn put_seats_pending(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    subscription::Entity::update_many()
        .col_expr(subscription::Column::SeatsPending, Expr::value(true))
        .filter(subscription::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
