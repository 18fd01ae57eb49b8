//! `GET /.well-known/jwks.json`, `GET /healthz` (liveness) and `GET /readyz` (readiness).

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use http::{HeaderValue, header};

use crate::{Error, context::Context};

pub(crate) fn router<S>(ctx: Arc<Context>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(middleware::map_response(super::security_headers))
        .with_state(ctx)
}

/// `GET /.well-known/jwks.json`: every key whose tokens may still be valid.
pub(crate) async fn jwks(State(ctx): State<Arc<Context>>) -> Response {
    let keys = ctx.key_ring.current();
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        keys.jwks.to_vec(),
    )
        .into_response();
    // Public and safe to cache briefly; overrides the no-store every other answer gets.
    response
        .extensions_mut()
        .insert(CacheFor(HeaderValue::from_static("public, max-age=60")));
    response
}

/// A `Cache-Control` value that replaces the default `no-store`.
#[derive(Clone)]
pub(crate) struct CacheFor(pub(crate) HeaderValue);

/// `GET /healthz`: `{ ok: true }` whenever the process answers (liveness: a probe that
/// restarts the process must not restart it because the database is away).
pub(crate) async fn healthz() -> Response {
    axum::Json(serde_json::json!({ "ok": true })).into_response()
}

/// `GET /readyz`: `{ ok: true, database: "up" }` when the database answers, 503
/// `unavailable` otherwise (readiness: a load balancer stops sending requests here).
pub(crate) async fn readyz(State(ctx): State<Arc<Context>>) -> Result<Response, Error> {
    crate::flows::health::database(&ctx).await?;
    Ok(axum::Json(serde_json::json!({ "ok": true, "database": "up" })).into_response())
}
