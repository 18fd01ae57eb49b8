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
    response::{IntoResponse as _, Response},
    routing::{get, post},
};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    input::{Json, Query},
    views::{ok, rfc3339},
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
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

/// The contract's Subscription object.
fn subscription_view(row: &subscription::Model) -> Value {
    let organization = row.payer_kind == "organization";
    json!({
        "id": row.id,
        "plan_id": row.plan_id,
        "status": row.status,
        "current_period_end": row.current_period_end.map(rfc3339),
        "cancel_at_period_end": row.cancel_at_period_end,
        "seats": row.seats,
        "user_id": (!organization).then_some(row.payer_id),
        "org_id": organization.then_some(row.payer_id),
    })
}

/// `GET /plans` (public): `{ ok, plans }`.
pub(crate) async fn plans(State(ctx): State<Arc<Context>>) -> Result<Response, Error> {
    let plans = billing::plans(&ctx)?;
    Ok(ok(json!({ "plans": plans })).into_response())
}

/// Body of `POST /checkout`.
#[derive(Debug, Deserialize)]
pub(crate) struct CheckoutBody {
    plan_id: String,
    success_url: String,
    cancel_url: String,
    #[serde(default)]
    org_id: Option<Uuid>,
    #[serde(default)]
    seats: Option<u64>,
}

/// `POST /checkout`: `{ ok, id, url }` of a Stripe Checkout Session.
pub(crate) async fn checkout(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<CheckoutBody>,
) -> Result<Response, Error> {
    let input = CheckoutInput {
        plan_id: body.plan_id,
        success_url: body.success_url,
        cancel_url: body.cancel_url,
        org_id: body.org_id,
        seats: body.seats,
    };
    let session = billing::checkout(&ctx, user.claims(), input, client.app.as_deref()).await?;
    Ok(ok(json!({ "id": session.id, "url": session.url })).into_response())
}

/// Query of `GET /subscription`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PayerQuery {
    #[serde(default)]
    org_id: Option<Uuid>,
}

/// `GET /subscription?org_id=`: `{ ok, subscription }` (null before the first).
pub(crate) async fn subscription(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Query(query): Query<PayerQuery>,
) -> Result<Response, Error> {
    let row = billing::subscription(&ctx, user.claims(), query.org_id).await?;
    Ok(ok(json!({ "subscription": row.as_ref().map(subscription_view) })).into_response())
}

/// Body of `POST /portal`.
#[derive(Debug, Deserialize)]
pub(crate) struct PortalBody {
    return_url: String,
    #[serde(default)]
    org_id: Option<Uuid>,
}

/// `POST /portal`: `{ ok, url }` of a Stripe billing-portal session.
pub(crate) async fn portal(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<PortalBody>,
) -> Result<Response, Error> {
    let url = billing::portal(
        &ctx,
        user.claims(),
        &body.return_url,
        body.org_id,
        client.app.as_deref(),
    )
    .await?;
    Ok(ok(json!({ "url": url })).into_response())
}

/// `POST /webhook`: the raw body (at most 1 MiB, read before anything is parsed) and its
/// `Stripe-Signature`. `{ ok, received }` once the event is stored (or was before, or is
/// not for us).
pub(crate) async fn webhook(
    State(ctx): State<Arc<Context>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
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
    Ok(ok(json!({ "received": received.as_str() })).into_response())
}
