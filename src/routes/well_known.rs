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
use serde::Serialize;

use super::{
    input::Json,
    views::{Done, True, done},
};
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

/// The JSON Web Key Set of `/.well-known/jwks.json` (RFC 7517), for the document: the
/// answer itself is serialized once per key rotation by the key ring.
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = JwkSet)]
#[allow(dead_code)]
pub(crate) struct JwkSet {
    /// Every key whose tokens may still be valid (retired keys stay until their last token
    /// expires).
    keys: Vec<Jwk>,
}

/// A public key that verifies access tokens (RFC 7517/7518): an ES256 key on P-256.
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct Jwk {
    /// Key type: `EC`.
    kty: &'static str,
    /// Curve: `P-256`.
    crv: &'static str,
    /// The point's x coordinate, base64url without padding.
    x: String,
    /// The point's y coordinate, base64url without padding.
    y: String,
    /// The key id, as the access token's header `kid` names it.
    kid: String,
    /// Public key use: `sig`.
    #[serde(rename = "use")]
    use_: &'static str,
    /// Algorithm: `ES256`.
    alg: &'static str,
}

/// `GET /.well-known/jwks.json`: every key whose tokens may still be valid.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "well_known", security(()),
    responses(
        (status = 200, description = "The keys that verify access tokens", body = JwkSet,
            content_type = "application/json",
            headers(("Cache-Control" = String, description = "`public, max-age=60`"))),
    ),
))]
pub(crate) async fn jwks(State(ctx): State<Arc<Context>>) -> Response {
    let keys = ctx.key_ring.current();
    // Already serialized (once per key rotation): `{ "keys": [Jwk] }`.
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
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/healthz", tag = "well_known", security(()),
    responses((status = 200, description = "The process answers", body = Done)),
))]
pub(crate) async fn healthz() -> Json<Done> {
    done()
}

/// `{ ok, database }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ReadyAnswer {
    ok: True,
    /// `up`.
    database: &'static str,
}

/// `GET /readyz`: `{ ok: true, database: "up" }` when the database answers, 503
/// `unavailable` otherwise (readiness: a load balancer stops sending requests here).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/readyz", tag = "well_known", security(()),
    responses(
        (status = 200, description = "The database answers", body = ReadyAnswer),
        (status = 503, description = "`unavailable`: the database did not answer (within 2 s)"),
    ),
))]
pub(crate) async fn readyz(State(ctx): State<Arc<Context>>) -> Result<Json<ReadyAnswer>, Error> {
    crate::flows::health::database(&ctx).await?;
    Ok(Json(ReadyAnswer {
        ok: True,
        database: "up",
    }))
}
