//! Billing with Stripe: the host's plans, checkout, the payer's subscription, the billing
//! portal, and the webhook that keeps subscriptions in step.
//!
//! - **The payer** is the user, or an organization (whose caller needs `billing:manage`,
//!   checked before any Stripe call). Each payer has one Stripe customer, created on its
//!   first checkout (with an idempotency key derived from the payer, so racing first
//!   checkouts get the same customer) and reused from then on.
//! - **The webhook** verifies the signature before it parses anything. Each event's id is
//!   inserted in the same transaction as its effect: a duplicate finds it and changes
//!   nothing, and a database failure rolls both back and answers 5xx so Stripe retries.
//!   Events arrive out of order: each subscription keeps the `created` of the newest event
//!   applied (`state_at`); an older one changes nothing, and at a tie the subscription is
//!   fetched from Stripe and Stripe's answer wins. Events that name a subscription without
//!   carrying it (`checkout.session.completed`, `invoice.*`) fetch it too.
//! - **Seats**: a per-seat organization subscription's quantity follows the member count.
//!   A membership change marks the subscription in its own transaction
//!   (`seats_pending`); the seat task ([`sync_seats`]) tells Stripe, and a failed call
//!   leaves the mark for the next round, so a membership change never waits for Stripe.

use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Error,
    config::Plan,
    context::Context,
    crypto::jwt::Claims,
    entity::{billing_customer, stripe_event, subscription},
    flows::{
        features,
        orgs::{self, Caller},
        sessions,
    },
    policy::roles,
    store::{self, billing::LIVE},
    stripe::{CheckoutRequest, Stripe, StripeSubscription, webhook},
};

/// The largest webhook body accepted (Stripe's events are a few KiB).
pub(crate) const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// The most seats a user may buy on a per-seat plan.
const MAX_SEATS: u64 = 10_000;

/// Who pays: a user, or an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payer {
    /// A user paying for themselves.
    User(Uuid),
    /// An organization (its members with `billing:manage` manage it).
    Organization(Uuid),
}

impl Payer {
    /// The user's or organization's id.
    #[must_use]
    pub fn id(self) -> Uuid {
        match self {
            Self::User(id) | Self::Organization(id) => id,
        }
    }

    /// `user` or `organization`, as stored.
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Organization(_) => "organization",
        }
    }

    /// `user:<id>` or `organization:<id>`: how Stripe's objects name the payer.
    fn reference(self) -> String {
        format!("{}:{}", self.kind(), self.id())
    }

    fn of_row(kind: &str, id: Uuid) -> Self {
        if kind == "organization" {
            Self::Organization(id)
        } else {
            Self::User(id)
        }
    }
}

/// The Stripe client, or 404 when the host has not turned billing on.
fn stripe(ctx: &Context) -> Result<&Stripe, Error> {
    ctx.stripe.as_ref().ok_or(Error::NotFound)
}

/// The plan called `id` (404 otherwise).
fn plan<'c>(ctx: &'c Context, id: &str) -> Result<&'c Plan, Error> {
    ctx.config.billing.plan(id).ok_or(Error::NotFound)
}

/// `GET /v1/billing/plans`: the host's catalog.
pub(crate) fn plans(ctx: &Context) -> Result<&[Plan], Error> {
    stripe(ctx)?;
    Ok(&ctx.config.billing.plans)
}

/// The payer a request acts for, authorized: the caller, or an organization in which the
/// caller holds one of `permissions` (404 for non-members, 403 otherwise).
async fn payer_for(
    ctx: &Context,
    claims: &Claims,
    org_id: Option<Uuid>,
    permissions: &[&str],
) -> Result<Payer, Error> {
    let Some(org_id) = org_id else {
        return Ok(Payer::User(claims.sub));
    };
    let mut refusal = Error::NotFound;
    for permission in permissions {
        match orgs::authorize(ctx, &ctx.db, Caller::of(claims), org_id, permission).await {
            Ok(_) => return Ok(Payer::Organization(org_id)),
            Err(err @ Error::Forbidden(_)) => refusal = err,
            Err(err) => return Err(err),
        }
    }
    Err(refusal)
}

/// Paying (a checkout, the portal) takes the payer's own session: never an
/// impersonation, and an API key only for an organization, within its scopes.
fn may_pay(claims: &Claims, org_id: Option<Uuid>) -> Result<(), Error> {
    if org_id.is_none() || claims.act.is_some() {
        sessions::require_interactive(claims)
    } else {
        Ok(())
    }
}

/// A URL Stripe sends the browser to: an allowed redirect of the request's client, made
/// absolute against the public URL when it is a path (Stripe needs absolute URLs).
fn return_target(
    ctx: &Context,
    field: &str,
    target: &str,
    app: Option<&str>,
) -> Result<String, Error> {
    let checked = ctx
        .origins
        .check_redirect_for(target, app)
        .map_err(|_| Error::invalid_request(format!("{field}: not an allowed redirect target")))?;
    if checked.starts_with('/') {
        Ok(format!(
            "{}{checked}",
            ctx.config.public_url.trim_end_matches('/')
        ))
    } else {
        Ok(checked)
    }
}

/// The payer's subscription to show: its live one (newest first), else its newest (a
/// canceled one stays visible until a new one starts).
pub(crate) async fn subscription_of(
    db: &impl ConnectionTrait,
    payer: Payer,
) -> Result<Option<subscription::Model>, Error> {
    let all = store::billing::of_payer(db, payer.id()).await?;
    let ended =
        |s: &subscription::Model| matches!(s.status.as_str(), "canceled" | "incomplete_expired");
    let shown = all.iter().position(|s| !ended(s)).unwrap_or(0);
    Ok(all.into_iter().nth(shown))
}

/// `GET /v1/billing/subscription`: the user's, or (`org_id`) the organization's for a
/// member with `org:read` or `billing:manage`.
pub(crate) async fn subscription(
    ctx: &Context,
    claims: &Claims,
    org_id: Option<Uuid>,
) -> Result<Option<subscription::Model>, Error> {
    stripe(ctx)?;
    if org_id.is_none() && !claims.has_scope(roles::USER_READ) {
        return Err(Error::forbidden("this API key is not allowed user:read"));
    }
    let payer = payer_for(
        ctx,
        claims,
        org_id,
        &[roles::ORG_READ, roles::BILLING_MANAGE],
    )
    .await?;
    subscription_of(&ctx.db, payer).await
}

/// The payer's Stripe customer: the stored one, or a new one (stored before use). The
/// idempotency key is the payer's, so two first checkouts racing get one customer.
async fn customer(ctx: &Context, stripe: &Stripe, payer: Payer) -> Result<String, Error> {
    if let Some(row) = store::billing::customer_of(&ctx.db, payer.id()).await? {
        return Ok(row.stripe_customer_id);
    }
    let (email, name) = match payer {
        Payer::User(id) => {
            let user = store::users::find(&ctx.db, id)
                .await?
                .ok_or(Error::Unauthorized)?;
            (user.email, user.name)
        }
        Payer::Organization(id) => {
            let org = store::orgs::find_org(&ctx.db, id)
                .await?
                .ok_or(Error::NotFound)?;
            (None, Some(org.name))
        }
    };
    let id = stripe
        .create_customer(
            email.as_deref(),
            name.as_deref(),
            &payer.reference(),
            &format!("portcullis-customer-{}", payer.id()),
        )
        .await?;
    let row = billing_customer::Model {
        payer_id: payer.id(),
        payer_kind: payer.kind().to_owned(),
        stripe_customer_id: id.clone(),
        created_at: ctx.now(),
    };
    if store::billing::insert_customer(&ctx.db, row).await? {
        return Ok(id);
    }
    // Another checkout stored it first (the same customer, by the idempotency key).
    store::billing::customer_of(&ctx.db, payer.id())
        .await?
        .map(|row| row.stripe_customer_id)
        .ok_or(Error::NotFound)
}

/// What `POST /v1/billing/checkout` asks for.
#[derive(Debug, Clone)]
pub(crate) struct CheckoutInput {
    pub(crate) plan_id: String,
    pub(crate) success_url: String,
    pub(crate) cancel_url: String,
    pub(crate) org_id: Option<Uuid>,
    pub(crate) seats: Option<u64>,
}

/// A Checkout Session: its id and the URL to send the browser to.
#[derive(Debug, Clone)]
pub(crate) struct Checkout {
    pub(crate) id: String,
    pub(crate) url: String,
}

/// `POST /v1/billing/checkout`: a Checkout Session in `subscription` mode for the plan.
/// Everything is checked before Stripe hears of it: the caller's right to pay for the
/// payer, the plan, the URLs, and that the payer has no live subscription (409: plans
/// change in the portal).
pub(crate) async fn checkout(
    ctx: &Context,
    claims: &Claims,
    input: CheckoutInput,
    app: Option<&str>,
) -> Result<Checkout, Error> {
    let stripe = stripe(ctx)?;
    may_pay(claims, input.org_id)?;
    let payer = payer_for(ctx, claims, input.org_id, &[roles::BILLING_MANAGE]).await?;
    let plan = plan(ctx, &input.plan_id)?;
    let success_url = return_target(ctx, "success_url", &input.success_url, app)?;
    let cancel_url = return_target(ctx, "cancel_url", &input.cancel_url, app)?;
    let quantity = match (plan.per_seat, payer, input.seats) {
        (true, Payer::Organization(org_id), _) => {
            store::orgs::member_count(&ctx.db, org_id).await?.max(1)
        }
        (true, Payer::User(_), Some(seats)) if (1..=MAX_SEATS).contains(&seats) => seats,
        (true, Payer::User(_), None) => 1,
        (true, Payer::User(_), Some(_)) => {
            return Err(Error::invalid_request(format!("seats: 1 to {MAX_SEATS}")));
        }
        (false, ..) => 1,
    };
    if let Some(live) = subscription_of(&ctx.db, payer).await?
        && LIVE.contains(&live.status.as_str())
    {
        return Err(Error::Conflict(
            "this payer already has a subscription: change it in the billing portal".into(),
        ));
    }
    let customer = customer(ctx, stripe, payer).await?;
    let reference = payer.reference();
    let (id, url) = stripe
        .create_checkout(&CheckoutRequest {
            customer: &customer,
            price_id: &plan.price_id,
            quantity,
            trial_days: plan.trial_days,
            success_url: &success_url,
            cancel_url: &cancel_url,
            payer: &reference,
            plan_id: &plan.id,
            // Each request its own session: a reused key would answer an expired one.
            idempotency_key: &format!("portcullis-checkout-{}", Uuid::new_v4()),
        })
        .await?;
    Ok(Checkout { id, url })
}

/// `POST /v1/billing/portal`: a billing-portal session for the payer's customer (404
/// before its first checkout).
pub(crate) async fn portal(
    ctx: &Context,
    claims: &Claims,
    return_url: &str,
    org_id: Option<Uuid>,
    app: Option<&str>,
) -> Result<String, Error> {
    let stripe = stripe(ctx)?;
    may_pay(claims, org_id)?;
    let payer = payer_for(ctx, claims, org_id, &[roles::BILLING_MANAGE]).await?;
    let return_url = return_target(ctx, "return_url", return_url, app)?;
    let customer = store::billing::customer_of(&ctx.db, payer.id())
        .await?
        .ok_or(Error::NotFound)?;
    stripe
        .create_portal(
            &customer.stripe_customer_id,
            &return_url,
            &format!("portcullis-portal-{}", Uuid::new_v4()),
        )
        .await
}

/// What became of a webhook delivery (all of them answer 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Its effect is stored, with its id.
    Applied,
    /// Applied before: nothing changed.
    Duplicate,
    /// Older than the state stored for its subscription: recorded, nothing changed.
    Stale,
    /// Not for us (another mode, a type or customer we do not handle): nothing stored.
    Ignored,
}

impl Received {
    /// A word for the answer and the logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::Ignored => "ignored",
        }
    }
}

/// The fields of an event portcullis reads.
#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    livemode: bool,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Value,
}

/// A subscription state an event brings, and whether it came from Stripe just now.
struct Change {
    state: StripeSubscription,
    /// Fetched from Stripe: it wins a tie with the stored state.
    fetched: bool,
}

/// An id Stripe made (`evt_...`, `sub_...`): bounded, plain characters.
fn plain_id(id: &str, prefix: &str) -> bool {
    id.starts_with(prefix)
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `sub_...` from a field that holds the id or the expanded object.
fn id_in(value: &Value) -> Option<&str> {
    match value {
        Value::String(id) => Some(id),
        Value::Object(object) => object.get("id")?.as_str(),
        _ => None,
    }
}

/// `POST /v1/stripe/webhook`: verifies, then applies the event once.
///
/// # Errors
///
/// [`Error::InvalidSignature`] before anything is read; [`Error::InvalidRequest`] for a
/// signed body that is no event; [`Error::Unavailable`] when Stripe must be asked and
/// does not answer, and a database error: both answer 5xx, so Stripe delivers it again.
pub(crate) async fn receive(
    ctx: &Context,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Received, Error> {
    let stripe = stripe(ctx)?;
    if body.len() > MAX_WEBHOOK_BODY {
        return Err(Error::PayloadTooLarge);
    }
    let billing = &ctx.config.billing;
    webhook::verify(
        signature,
        body,
        &billing.webhook_secrets,
        ctx.now().unix_timestamp(),
    )
    .map_err(|refused| {
        tracing::info!(?refused, "refused a Stripe webhook");
        Error::InvalidSignature
    })?;
    let event: Event =
        serde_json::from_slice(body).map_err(|_| Error::invalid_request("not a Stripe event"))?;
    if !plain_id(&event.id, "evt_") || event.kind.len() > 128 {
        return Err(Error::invalid_request("not a Stripe event"));
    }
    if event.livemode != billing.livemode() {
        tracing::warn!(event = %event.id, "a Stripe event of the other mode (live/test) was ignored");
        return Ok(Received::Ignored);
    }
    if store::billing::event_applied(&ctx.db, &event.id).await? {
        return Ok(Received::Duplicate);
    }
    let Some(change) = read_change(ctx, stripe, &event).await? else {
        return Ok(Received::Ignored);
    };
    let Some(customer) = store::billing::payer_of_customer(&ctx.db, &change.state.customer).await?
    else {
        tracing::info!(event = %event.id, "a Stripe event for a customer portcullis did not create was ignored");
        return Ok(Received::Ignored);
    };
    let payer = Payer::of_row(&customer.payer_kind, customer.payer_id);
    // Writers of one subscription meet on its row lock; two first events of a new
    // subscription can both try to insert it, and the loser's whole transaction (its
    // event id included) rolls back: it tries again and finds the row.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply(ctx, &event, &change, payer).await {
            Err(err @ (Error::Database(_) | Error::Unavailable(_))) if attempt < 3 => {
                tracing::debug!(error = %err, event = %event.id, "applying a Stripe event again");
            }
            other => return other,
        }
    }
}

/// The subscription state an event brings: carried (`customer.subscription.*`), or
/// fetched from Stripe (events that only name it, and ties with the stored state).
async fn read_change(
    ctx: &Context,
    stripe: &Stripe,
    event: &Event,
) -> Result<Option<Change>, Error> {
    let object = &event.data.object;
    let named = match event.kind.as_str() {
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let state = StripeSubscription::from_object(object)
                .filter(|state| plain_id(&state.id, "sub_"))
                .ok_or_else(|| Error::invalid_request("the event carries no subscription"))?;
            let stored = store::billing::subscription(&ctx.db, &state.id).await?;
            let tie =
                stored.is_some_and(|row| row.state_at == event.created && !same(&row, &state));
            if !tie {
                return Ok(Some(Change {
                    state,
                    fetched: false,
                }));
            }
            // Two states stamped with one second: Stripe says which is current.
            state.id
        }
        "checkout.session.completed" => {
            if object["mode"] != "subscription" {
                return Ok(None);
            }
            match id_in(&object["subscription"]) {
                Some(id) => id.to_owned(),
                None => return Ok(None),
            }
        }
        "invoice.paid" | "invoice.payment_failed" => {
            // Older API versions name it at the top; newer ones under `parent`.
            let id = id_in(&object["subscription"])
                .or_else(|| id_in(&object["parent"]["subscription_details"]["subscription"]));
            match id {
                Some(id) => id.to_owned(),
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    if !plain_id(&named, "sub_") {
        return Err(Error::invalid_request("the event names no subscription"));
    }
    let state = stripe.subscription(&named).await?;
    Ok(Some(Change {
        state,
        fetched: true,
    }))
}

/// Whether the stored row already says what `state` says.
fn same(row: &subscription::Model, state: &StripeSubscription) -> bool {
    row.status == state.status
        && row.price_id == state.price_id
        && row.seats == state.quantity
        && row.cancel_at_period_end == state.cancel_at_period_end
        && row
            .current_period_end
            .map(time::OffsetDateTime::unix_timestamp)
            == state.current_period_end
}

/// One transaction: the event's id, and the subscription's new state if the event is
/// newer than the stored one.
async fn apply(
    ctx: &Context,
    event: &Event,
    change: &Change,
    payer: Payer,
) -> Result<Received, Error> {
    let now = ctx.now();
    let txn = store::begin(&ctx.db).await?;
    let recorded = store::billing::record_event(
        &txn,
        stripe_event::Model {
            id: event.id.clone(),
            event_type: event.kind.clone(),
            created: event.created,
            received_at: now,
        },
    )
    .await?;
    if !recorded {
        txn.rollback().await?;
        return Ok(Received::Duplicate);
    }
    let state = &change.state;
    let stored = store::billing::lock_subscription(&txn, &state.id).await?;
    let newer = stored.as_ref().is_none_or(|row| {
        event.created > row.state_at || (event.created == row.state_at && change.fetched)
    });
    if !newer {
        txn.commit().await?;
        return Ok(Received::Stale);
    }
    let plan_id = state
        .price_id
        .as_deref()
        .and_then(|price| ctx.config.billing.plan_of_price(price))
        .map(|plan| plan.id.clone());
    let period_end = state
        .current_period_end
        .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok());
    let event_time = time::OffsetDateTime::from_unix_timestamp(event.created).unwrap_or(now);
    let past_due_since = match (&stored, state.status.as_str()) {
        (Some(row), "past_due") if row.status == "past_due" => {
            row.past_due_since.or(Some(event_time))
        }
        (_, "past_due") => Some(event_time),
        _ => None,
    };
    // A per-seat organization subscription whose quantity is not the member count (a
    // member joined while the checkout was open) is marked for the seat task.
    let per_seat = plan_id
        .as_deref()
        .and_then(|id| ctx.config.billing.plan(id))
        .is_some_and(|plan| plan.per_seat);
    let seats_pending = match payer {
        Payer::Organization(org_id) if per_seat && LIVE.contains(&state.status.as_str()) => {
            let members = store::orgs::member_count(&txn, org_id).await?.max(1);
            i64::try_from(members).unwrap_or(i64::MAX) != state.quantity
        }
        _ => false,
    };
    let row = subscription::Model {
        id: state.id.clone(),
        payer_id: payer.id(),
        payer_kind: payer.kind().to_owned(),
        customer_id: state.customer.clone(),
        plan_id,
        price_id: state.price_id.clone(),
        item_id: state.item_id.clone(),
        status: state.status.clone(),
        seats: state.quantity,
        current_period_end: period_end,
        cancel_at_period_end: state.cancel_at_period_end,
        past_due_since,
        state_at: event.created,
        seats_pending,
        created_at: stored.as_ref().map_or(now, |row| row.created_at),
        updated_at: now,
    };
    if stored.is_some() {
        store::billing::update_subscription(&txn, row).await?;
    } else {
        store::billing::insert_subscription(&txn, row).await?;
    }
    txn.commit().await?;
    if seats_pending {
        ctx.seats_changed.notify_one();
    }
    Ok(Received::Applied)
}

/// Tells Stripe the member count of every per-seat organization subscription marked since
/// (the seat task runs it on every membership change and once a minute; hosts may call
/// it through [`Billing::sync_seats`]). Answers how many quantities Stripe took; a call
/// Stripe refuses leaves its mark for the next round.
pub(crate) async fn sync_seats(ctx: &Context) -> Result<usize, Error> {
    let Some(stripe) = ctx.stripe.as_ref() else {
        return Ok(0);
    };
    let mut told = 0;
    for row in store::billing::seats_pending(&ctx.db, 100).await? {
        // The mark comes off before the members are counted: a change after this marks
        // it again.
        if !store::billing::take_seats_pending(&ctx.db, &row.id).await? {
            continue;
        }
        let per_seat = row
            .plan_id
            .as_deref()
            .and_then(|id| ctx.config.billing.plan(id))
            .is_some_and(|plan| plan.per_seat);
        let Some(item) = row.item_id.as_deref() else {
            continue;
        };
        if row.payer_kind != "organization" || !per_seat || !LIVE.contains(&row.status.as_str()) {
            continue;
        }
        let members = store::orgs::member_count(&ctx.db, row.payer_id)
            .await?
            .max(1);
        let seats = i64::try_from(members).unwrap_or(i64::MAX);
        if seats == row.seats {
            continue;
        }
        // Setting a quantity is idempotent by nature; the key only guards one call's
        // retries inside the client.
        let key = format!("portcullis-seats-{}", Uuid::new_v4());
        match stripe.set_quantity(&row.id, item, members, &key).await {
            Ok(()) => {
                store::billing::set_seats(&ctx.db, &row.id, seats).await?;
                told += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, subscription = %row.id, "Stripe did not take the seat count; retrying later");
                store::billing::put_seats_pending(&ctx.db, &row.id).await?;
            }
        }
    }
    Ok(told)
}

/// A payer's plans and features, as the `features` claim carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entitlements {
    /// The ids of the payer's live plans.
    pub plans: Vec<String>,
    /// Their features.
    pub features: Vec<String>,
}

/// Billing from Rust, as [`Portcullis::billing`](crate::Portcullis::billing) hands it out.
///
/// ```rust,no_run
/// # async fn run(auth: portcullis::Portcullis, org_id: uuid::Uuid) -> portcullis::Result<()> {
/// use portcullis::billing::Payer;
///
/// let what = auth.billing().entitlements(Payer::Organization(org_id)).await?;
/// if what.features.iter().any(|f| f == "reports") {
///     println!("the organization may run reports");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Billing<'a> {
    ctx: &'a Context,
}

impl<'a> Billing<'a> {
    pub(crate) fn new(ctx: &'a Context) -> Self {
        Self { ctx }
    }

    /// What the payer's live plan grants now (`trialing`, `active`, or `past_due` within
    /// the grace): the same as the `features` claim of its next token.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn entitlements(&self, payer: Payer) -> Result<Entitlements, Error> {
        let mut plans = Vec::new();
        let mut granted = Vec::new();
        for feature in features::plan_features(self.ctx, &self.ctx.db, &[payer.id()]).await? {
            match feature.strip_prefix(features::PLAN_PREFIX) {
                Some(plan) => plans.push(plan.to_owned()),
                None => granted.push(feature),
            }
        }
        granted.sort();
        granted.dedup();
        Ok(Entitlements {
            plans,
            features: granted,
        })
    }

    /// The payer's subscription: its live one, else its newest.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn subscription(&self, payer: Payer) -> Result<Option<subscription::Model>, Error> {
        subscription_of(&self.ctx.db, payer).await
    }

    /// Tells Stripe the member counts of per-seat organization subscriptions whose
    /// members changed and Stripe has not heard yet (the background task does this on
    /// every change and once a minute). Answers how many quantities Stripe took.
    ///
    /// # Errors
    ///
    /// A database error (a refusal by Stripe is left for the next round).
    pub async fn sync_seats(&self) -> Result<usize, Error> {
        sync_seats(self.ctx).await
    }
}
