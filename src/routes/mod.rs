//! The routes behind [`Portcullis::router`](crate::Portcullis::router), one file per area.
//!
//! Paths are relative: the host chooses the prefix (`/v1/auth` in the contract).
//!
//! | Method | Path | Handler |
//! |---|---|---|
//! | `POST` | `/sign-up/email-password` | [`password::sign_up`] |
//! | `POST` | `/sign-in/email-password` | [`password::sign_in`] |
//! | `POST` | `/password/forgot` | [`password::forgot`] |
//! | `POST` | `/password/reset` | [`password::reset`] |
//! | `POST` | `/me/password` | [`password::change`] |
//! | `POST` | `/email/send-verification` | [`email::send_verification`] |
//! | `POST` | `/email/verify` | [`email::verify`] |
//! | `GET` | `/email/verify` | [`email::verify_link`] |
//! | `POST` | `/sign-in/magic-link` | [`passwordless::send_magic_link`] |
//! | `GET` | `/magic-link/verify` | [`passwordless::open_magic_link`] |
//! | `POST` | `/magic-link/verify` | [`passwordless::verify_magic_link`] |
//! | `POST` | `/sign-in/email-otp` | [`passwordless::send_email_code`] |
//! | `POST` | `/email-otp/verify` | [`passwordless::verify_email_code`] |
//! | `POST` | `/sign-in/sms-otp` | [`passwordless::send_sms_code`] |
//! | `POST` | `/sms/verify` | [`passwordless::verify_sms_code`] |
//! | `POST` | `/me/passkeys/register/begin` | `passkeys::register_begin` |
//! | `POST` | `/me/passkeys/register/complete` | `passkeys::register_complete` |
//! | `POST` | `/passkeys/authenticate/begin` | `passkeys::authenticate_begin` |
//! | `POST` | `/passkeys/authenticate/complete` | `passkeys::authenticate_complete` |
//! | `GET` | `/me/passkeys` | `passkeys::list` |
//! | `PATCH` | `/me/passkeys/{id}` | `passkeys::rename` |
//! | `DELETE` | `/me/passkeys/{id}` | `passkeys::remove` |
//! | `GET` | `/oauth/{provider}/authorize` | `oauth::authorize` |
//! | `GET` | `/oauth/{provider}/callback` | `oauth::callback` |
//! | `GET` | `/me/accounts` | `oauth::list` |
//! | `DELETE` | `/me/accounts/{id}` | `oauth::unlink` |
//! | `POST` | `/sessions/refresh` | [`sessions::refresh`] |
//! | `GET` | `/sessions` | [`sessions::list`] |
//! | `GET` | `/sessions/current` | [`sessions::current`] |
//! | `GET` | `/sessions/current/permissions` | [`sessions::permissions`] |
//! | `DELETE` | `/sessions/{id}` | [`sessions::revoke`] |
//! | `POST` | `/sign-out` | [`sessions::sign_out`] |
//! | `POST` | `/sign-out/all` | [`sessions::sign_out_all`] |
//! | `GET` | `/me` | [`account::me`] |
//! | `PATCH` | `/me` | [`account::update_me`] |
//! | `GET` | `/methods` | [`account::methods`] |
//! | `POST` | `/identify` | [`account::identify`] |
//! | `GET` | `/csrf` | [`account::csrf`] |
//! | `GET` | `/me/mfa` | [`mfa::status`] |
//! | `POST` | `/me/mfa/totp` | [`mfa::enrol`] |
//! | `DELETE` | `/me/mfa/totp` | [`mfa::disable`] |
//! | `POST` | `/me/mfa/totp/confirm` | [`mfa::confirm`] |
//! | `POST` | `/me/mfa/recovery-codes` | [`mfa::regenerate`] |
//! | `POST` | `/mfa/verify` | [`mfa::verify`] |
//! | `POST` | `/mfa/passkey/begin` | `mfa::passkey_begin` |
//! | `POST` | `/mfa/passkey/complete` | `mfa::passkey_complete` |
//! | `POST` | `/reauthenticate` | [`mfa::reauthenticate`] |
//!
//! Every response of these routers carries `Cache-Control: no-store`,
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`. Every rejection
//! (bad JSON, wrong content type, bad UUID, unknown route) answers the contract's JSON
//! error.

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod api_keys;
#[cfg(feature = "billing")]
pub(crate) mod billing;
pub(crate) mod confirm;
pub(crate) mod email;
mod error;
pub(crate) mod input;
pub(crate) mod mfa;
#[cfg(feature = "oauth")]
pub(crate) mod oauth;
#[cfg(feature = "openapi")]
pub(crate) mod openapi;
pub(crate) mod orgs;
#[cfg(feature = "passkeys")]
pub(crate) mod passkeys;
pub(crate) mod password;
pub(crate) mod passwordless;
pub(crate) mod sessions;
pub(crate) mod views;
pub(crate) mod waitlists;
pub(crate) mod well_known;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    middleware::{self, Next},
    response::{IntoResponse as _, Response},
};
use http::{HeaderValue, Method, header};

use crate::{
    Error,
    auth::layer::{AuthState, RequestAuth},
    config::SignInMethod,
    context::Context,
    crypto::jwt::Claims,
    policy::roles::{USER_READ, USER_WRITE},
};

pub(crate) fn router<S>(ctx: Arc<Context>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let body_limit = ctx.config.requests.body_limit;
    // A method the host turned off has no routes at all: they answer 404.
    let on = |method| ctx.config.method_on(method);
    let mut router = Router::new().merge(email::router());
    if on(SignInMethod::Password) {
        router = router.merge(password::router());
    }
    if on(SignInMethod::MagicLink) {
        router = router.merge(passwordless::magic_link_router());
    }
    if on(SignInMethod::EmailOtp) {
        router = router.merge(passwordless::email_code_router());
    }
    if on(SignInMethod::SmsOtp) {
        router = router.merge(passwordless::sms_code_router());
    }
    #[cfg(feature = "passkeys")]
    if on(SignInMethod::Passkey) {
        router = router.merge(passkeys::router());
    }
    #[cfg(feature = "oauth")]
    if on(SignInMethod::OAuth) {
        router = router.merge(oauth::router());
    }
    router
        .merge(sessions::router())
        .merge(mfa::router())
        .merge(account::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(api_keys_in_core))
        .layer(middleware::from_fn_with_state(ctx.clone(), client_keys))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(ctx.clone(), fail_fast))
        .layer(middleware::map_response(security_headers))
        .with_state(ctx)
}

/// Fails fast while the database is away, and bounds every request: while the breaker is
/// open the request answers 503 `unavailable` with `Retry-After` at once (nothing is
/// queued behind a pool that has no connection to give); a request that outlives
/// `requests.timeout` answers the same and its work is dropped. Answers that failed for want
/// of the database count towards opening the breaker.
pub(crate) async fn fail_fast(
    axum::extract::State(ctx): axum::extract::State<Arc<Context>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(wait) = ctx.breaker.open_for() {
        return unavailable(
            "the database is unreachable; try again shortly",
            wait.as_secs().max(1),
        );
    }
    let Ok(response) = tokio::time::timeout(ctx.config.requests.timeout, next.run(request)).await
    else {
        tracing::warn!(
            timeout_secs = ctx.config.requests.timeout.as_secs(),
            "a request ran out of time"
        );
        return unavailable(
            "the request took too long; try again shortly",
            error::UNAVAILABLE_RETRY_AFTER_SECS,
        );
    };
    if response
        .extensions()
        .get::<crate::breaker::DatabaseOutage>()
        .is_some()
    {
        ctx.breaker.outage();
    }
    response
}

/// A 503 `unavailable` with `Retry-After: {secs}`.
fn unavailable(message: &'static str, secs: u64) -> Response {
    let body = views::ErrorBody {
        ok: views::False,
        error: "unavailable",
        message: message.to_owned(),
    };
    let mut response = (http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// The API key a request authenticated with, if it did.
fn api_key_of(request: &Request) -> Option<&Claims> {
    match &request.extensions().get::<RequestAuth>()?.state {
        AuthState::Authenticated { claims, .. } if claims.api_key.is_some() => Some(claims),
        _ => None,
    }
}

fn needs_a_session() -> Response {
    Error::forbidden("API keys cannot do this: it needs an interactive session").into_response()
}

/// In the core router an API key may only read (`user:read`) or change (`user:write`)
/// its owner's account (`GET`/`PATCH /me`): everything else there signs in, changes
/// credentials or factors, or manages sessions and keys, which takes a person.
pub(crate) async fn api_keys_in_core(request: Request, next: Next) -> Response {
    if let Some(claims) = api_key_of(&request) {
        let user_key = claims
            .api_key
            .as_ref()
            .is_some_and(|key| key.org_id.is_none());
        let allowed = user_key
            && request.uri().path() == "/me"
            && match *request.method() {
                Method::GET => claims.has_scope(USER_READ),
                Method::PATCH => claims.has_scope(USER_WRITE),
                _ => false,
            };
        if !allowed {
            return needs_a_session();
        }
    }
    next.run(request).await
}

/// In the organizations router an API key works on an organization's routes within its
/// scopes (the flows check them); switching the active organization and accepting an
/// invitation take a session, and an organization key creates no organization.
pub(crate) async fn api_keys_in_orgs(request: Request, next: Next) -> Response {
    if let Some(claims) = api_key_of(&request) {
        // Only an unscoped user key may create an organization (no scope names it).
        let may_create = claims
            .api_key
            .as_ref()
            .is_some_and(|key| key.org_id.is_none() && key.scopes.is_none());
        let path = request.uri().path();
        let refused = path == "/current"
            || path == "/invitations/accept"
            || (path == "/" && request.method() == Method::POST && !may_create);
        if refused {
            return needs_a_session();
        }
    }
    next.run(request).await
}

/// A request naming a client app (`x-api-key: pk_...`) must name a known one; with
/// `require_client_key` (and clients configured), it must name one at all: 401
/// `invalid_client` otherwise. A publishable key only selects the client's settings.
pub(crate) async fn client_keys(
    axum::extract::State(ctx): axum::extract::State<Arc<Context>>,
    request: Request,
    next: Next,
) -> Response {
    // Without clients configured nothing changes (a stray header included).
    if ctx.config.clients.is_empty() {
        return next.run(request).await;
    }
    let named = request
        .headers()
        .contains_key(crate::context::CLIENT_KEY_HEADER);
    let known = ctx.client_app(request.headers()).is_some();
    if (named || ctx.config.requests.require_client_key) && !known {
        return Error::InvalidClient.into_response();
    }
    next.run(request).await
}

/// What a path no route serves answers: 404 `not_found`, "no such route".
pub(crate) async fn not_found() -> Response {
    let body = views::ErrorBody {
        ok: views::False,
        error: "not_found",
        message: NO_SUCH_ROUTE.to_owned(),
    };
    (http::StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// The message of a 404 for a path no route serves (a resource that does not exist says
/// "not found").
pub(crate) const NO_SUCH_ROUTE: &str = "no such route";

/// Every router answers a known path with another method the same way: 405 JSON.
pub(crate) async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// Our answers carry credentials or personal data: never cache them, never sniff them,
/// never leak our URLs in `Referer`.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let cache = response
        .extensions()
        .get::<well_known::CacheFor>()
        .map_or_else(|| HeaderValue::from_static("no-store"), |c| c.0.clone());
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, cache);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
