//! The billing router (`/v1/billing`) and the Stripe webhook (`/v1/stripe/webhook`).
//! Every handler goes through [`flows::billing`](crate::flows::billing).
//!
//! | Method | Path | Handler |
//! |---|---|---|
//! | `GET` | `/plans` | [`plans`] |
//! | `POST` | `/checkout` | [`checkout`] |
//! | `GET` | `/subscription` | [`subscription`] |
//! | `POST` | `/portal` | [`portal`] |
//! | `POST` | `/webhook` (the webhook router) | [`webhook`] |

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::State,
    middleware,
    routing::{get, post},
};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    input::{Json, Query},
    views::{True, rfc3339},
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
    config::Plan,
    context::Context,
    entity::subscription,
    flows::billing::{self, CheckoutInput, MAX_WEBHOOK_BODY},
};

pub(crate) fn router<S>(ctx: Arc<Context>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let body_limit = ctx.config.requests.body_limit;
    Router::new()
        .route("/plans", get(plans))
        .route("/checkout", post(checkout))
        .route("/subscription", get(subscription))
        .route("/portal", post(portal))
        .fallback(super::not_found)
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            ctx.clone(),
            super::client_keys,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            ctx.clone(),
            super::fail_fast,
        ))
        .layer(middleware::map_response(super::security_headers))
        .with_state(ctx)
}

/// The webhook's own router: no session, no client key, its own body limit (1 MiB).
pub(crate) fn webhook_router<S>(ctx: Arc<Context>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/webhook", post(webhook))
        .fallback(super::not_found)
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            ctx.clone(),
            super::fail_fast,
        ))
        .layer(middleware::map_response(super::security_headers))
        .with_state(ctx)
}

/// The contract's Plan object: a plan of the host's catalog.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Plan))]
pub(crate) struct PlanView {
    /// The plan's id in the host's catalog (`[a-z0-9_-]`).
    id: String,
    /// A name for people.
    name: String,
    /// The Stripe price (`price_...`) a checkout subscribes to.
    price_id: String,
    /// The price in the currency's smallest unit (cents).
    amount: u64,
    /// ISO 4217, lower case (`usd`).
    currency: String,
    /// `day`, `week`, `month` or `year`.
    interval: String,
    /// The features a live subscription to it grants (the `features` claim).
    features: Vec<String>,
    /// A trial before the first charge; 0: none.
    trial_days: u32,
    /// Priced per seat: an organization's quantity is its member count.
    per_seat: bool,
}

impl PlanView {
    fn new(plan: &Plan) -> Self {
        Self {
            id: plan.id.clone(),
            name: plan.name.clone(),
            price_id: plan.price_id.clone(),
            amount: plan.amount,
            currency: plan.currency.clone(),
            interval: plan.interval.clone(),
            features: plan.features.clone(),
            trial_days: plan.trial_days,
            per_seat: plan.per_seat,
        }
    }
}

/// The contract's Subscription object.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Subscription))]
pub(crate) struct SubscriptionView {
    /// Stripe's id (`sub_...`).
    id: String,
    /// The plan of the host's catalog its price belongs to (null for a price not in it).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    plan_id: Option<String>,
    /// Stripe's status: `trialing`, `active`, `past_due`, `canceled`, `incomplete`,
    /// `incomplete_expired`, `unpaid` or `paused`.
    status: String,
    /// The end of the period paid for (null when Stripe gave none).
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    current_period_end: Option<String>,
    /// Whether it ends at `current_period_end` instead of renewing.
    cancel_at_period_end: bool,
    /// The quantity (1 for a flat plan; the seats of a per-seat plan).
    seats: i64,
    /// The paying user (null when an organization pays).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    user_id: Option<Uuid>,
    /// The paying organization (null when a user pays).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    org_id: Option<Uuid>,
}

impl SubscriptionView {
    fn new(row: &subscription::Model) -> Self {
        let organization = row.payer_kind == "organization";
        Self {
            id: row.id.clone(),
            plan_id: row.plan_id.clone(),
            status: row.status.clone(),
            current_period_end: row.current_period_end.map(rfc3339),
            cancel_at_period_end: row.cancel_at_period_end,
            seats: row.seats,
            user_id: (!organization).then_some(row.payer_id),
            org_id: organization.then_some(row.payer_id),
        }
    }
}

/// `{ ok, plans }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PlansAnswer {
    ok: True,
    /// The host's catalog.
    plans: Vec<PlanView>,
}

/// `GET /plans` (public): `{ ok, plans }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/plans", tag = "billing", security(()),
    responses((status = 200, body = PlansAnswer)),
))]
pub(crate) async fn plans(State(ctx): State<Arc<Context>>) -> Result<Json<PlansAnswer>, Error> {
    let plans = billing::plans(&ctx)?;
    Ok(Json(PlansAnswer {
        ok: True,
        plans: plans.iter().map(PlanView::new).collect(),
    }))
}

/// Body of `POST /checkout`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CheckoutBody {
    /// A plan of `GET /plans`.
    plan_id: String,
    /// Where Stripe sends the browser after paying: an allowed redirect (a path is made
    /// absolute against the public URL).
    success_url: String,
    /// Where Stripe sends the browser when the checkout is abandoned: an allowed redirect.
    cancel_url: String,
    /// The organization that pays (the caller needs `billing:manage`); absent: the caller.
    #[serde(default)]
    org_id: Option<Uuid>,
    /// Seats a user buys on a per-seat plan (1 to 10000; default 1). An organization's
    /// are its member count.
    #[serde(default)]
    seats: Option<u64>,
}

/// `{ ok, id, url }`: a Stripe Checkout Session.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CheckoutAnswer {
    ok: True,
    /// The Checkout Session's id (`cs_...`).
    id: String,
    /// Where to send the browser to pay.
    url: String,
}

/// `POST /checkout`: `{ ok, id, url }` of a Stripe Checkout Session.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/checkout", tag = "billing",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    request_body = CheckoutBody,
    responses(
        (status = 200, body = CheckoutAnswer),
        (status = 400, description = "`invalid_request`: `success_url` or `cancel_url` is not an \
            allowed redirect target, `seats` is out of range, or a malformed body"),
        (status = 403, description = "`forbidden`: paying for the caller needs an interactive \
            session (not an API key, not an impersonation), the caller lacks `billing:manage` \
            in the organization (or its role is not defined), or an API key without \
            `billing:manage`; `mfa_required`: the organization requires a second factor this session did not pass"),
        (status = 404, description = "`not_found`: unknown plan, or an organization the caller \
            is not a member of (or another organization's API key)"),
        (status = 409, description = "`conflict`: the payer already has a live subscription \
            (change it in the billing portal)"),
        (status = 429, description = "`rate_limited`: the API key is over its rate limit"),
        (status = 503, description = "`unavailable`: Stripe or the database did not answer, \
            Stripe refused the call, or the request ran out of time; nothing was half-written"),
    ),
))]
pub(crate) async fn checkout(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<CheckoutBody>,
) -> Result<Json<CheckoutAnswer>, Error> {
    let input = CheckoutInput {
        plan_id: body.plan_id,
        success_url: body.success_url,
        cancel_url: body.cancel_url,
        org_id: body.org_id,
        seats: body.seats,
    };
    let session = billing::checkout(&ctx, user.claims(), input, client.app.as_deref()).await?;
    Ok(Json(CheckoutAnswer {
        ok: True,
        id: session.id,
        url: session.url,
    }))
}

/// Query of `GET /subscription`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub(crate) struct PayerQuery {
    /// The organization whose subscription to show (the caller needs `org:read` or
    /// `billing:manage`); absent: the caller's own.
    #[serde(default)]
    org_id: Option<Uuid>,
}

/// `{ ok, subscription }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct SubscriptionAnswer {
    ok: True,
    /// The payer's live subscription, else its newest (a canceled one stays until a new
    /// one starts); null before the first.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    subscription: Option<SubscriptionView>,
}

/// `GET /subscription?org_id=`: `{ ok, subscription }` (null before the first).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/subscription", tag = "billing",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(PayerQuery),
    responses(
        (status = 200, body = SubscriptionAnswer),
        (status = 400, description = "`invalid_request`: a malformed `org_id` or an unknown \
            query parameter"),
        (status = 403, description = "`forbidden`: an API key without `user:read` (the \
            caller's own), or the caller (or API key) lacks both `org:read` and \
            `billing:manage` in the organization; `mfa_required`: the organization requires \
            a second factor this session did not pass"),
        (status = 404, description = "`not_found`: an organization the caller is not a member \
            of (or another organization's API key)"),
        (status = 429, description = "`rate_limited`: the API key is over its rate limit"),
    ),
))]
pub(crate) async fn subscription(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Query(query): Query<PayerQuery>,
) -> Result<Json<SubscriptionAnswer>, Error> {
    let row = billing::subscription(&ctx, user.claims(), query.org_id).await?;
    Ok(Json(SubscriptionAnswer {
        ok: True,
        subscription: row.as_ref().map(SubscriptionView::new),
    }))
}

/// Body of `POST /portal`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PortalBody {
    /// Where the portal's "return" link leads: an allowed redirect (a path is made absolute
    /// against the public URL).
    return_url: String,
    /// The organization whose billing to manage (the caller needs `billing:manage`);
    /// absent: the caller's own.
    #[serde(default)]
    org_id: Option<Uuid>,
}

/// `{ ok, url }`: a Stripe billing-portal session.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PortalAnswer {
    ok: True,
    /// Where to send the browser.
    url: String,
}

/// `POST /portal`: `{ ok, url }` of a Stripe billing-portal session.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/portal", tag = "billing",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    request_body = PortalBody,
    responses(
        (status = 200, body = PortalAnswer),
        (status = 400, description = "`invalid_request`: `return_url` is not an allowed \
            redirect target, or a malformed body"),
        (status = 403, description = "`forbidden`: the caller's own billing needs an \
            interactive session (not an API key, not an impersonation), the caller lacks \
            `billing:manage` in the organization (or its role is not defined), or an API key \
            without `billing:manage`; `mfa_required`: the organization requires a second factor this session did \
            not pass"),
        (status = 404, description = "`not_found`: the payer has no Stripe customer yet (no \
            checkout before), or an organization the caller is not a member of (or another \
            organization's API key)"),
        (status = 429, description = "`rate_limited`: the API key is over its rate limit"),
        (status = 503, description = "`unavailable`: Stripe or the database did not answer, \
            Stripe refused the call, or the request ran out of time"),
    ),
))]
pub(crate) async fn portal(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<PortalBody>,
) -> Result<Json<PortalAnswer>, Error> {
    let url = billing::portal(
        &ctx,
        user.claims(),
        &body.return_url,
        body.org_id,
        client.app.as_deref(),
    )
    .await?;
    Ok(Json(PortalAnswer { ok: True, url }))
}

/// `{ ok, received }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct WebhookAnswer {
    ok: True,
    /// What became of the event: `applied` (its effect is stored), `duplicate` (applied
    /// before), `stale` (older than the stored state: recorded, nothing changed) or
    /// `ignored` (not for us: another mode, a type or customer not handled).
    received: &'static str,
}

/// `POST /webhook`: the raw body (at most 1 MiB, read before anything is parsed) and its
/// `Stripe-Signature`. `{ ok, received }` once the event is stored (or was before, or is
/// not for us).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/webhook", tag = "billing", security(()),
    params(
        ("Stripe-Signature" = String, Header,
            description = "`t=<unix time>,v1=<hex HMAC-SHA256 of \"t.body\">` (several `v1` \
                allowed): any `v1` must match any configured webhook secret, `t` within 300 s"),
    ),
    request_body(
        content = Object, content_type = "application/json",
        description = "A Stripe event, verified byte for byte as sent (at most 1 MiB)",
    ),
    responses(
        (status = 200, body = WebhookAnswer),
        (status = 400, description = "`invalid_signature`: no or malformed `Stripe-Signature`, \
            `t` more than 300 s away, or no `v1` matching a configured secret; \
            `invalid_request`: a signed body that is not a Stripe event (or names no \
            subscription where its type must)"),
        (status = 413, description = "`payload_too_large`: the body is over 1 MiB"),
        (status = 503, description = "`unavailable`: Stripe did not answer when the event's \
            subscription had to be fetched, or the database is away: nothing was stored, and \
            Stripe delivers it again"),
    ),
))]
pub(crate) async fn webhook(
    State(ctx): State<Arc<Context>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WebhookAnswer>, Error> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_WEBHOOK_BODY) {
        return Err(Error::PayloadTooLarge);
    }
    let bytes = axum::body::to_bytes(body, MAX_WEBHOOK_BODY)
        .await
        .map_err(|_| Error::PayloadTooLarge)?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let received = billing::receive(&ctx, signature, &bytes).await?;
    Ok(Json(WebhookAnswer {
        ok: True,
        received: received.as_str(),
    }))
}
