//! The account: `GET`/`PATCH /me`, `GET /methods`, `POST /identify`, `GET /csrf`.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::{
    input::{Json, Patch},
    views::{UserView, ok, set_cookies},
};
use crate::{
    CurrentUser, Error,
    auth::{cookie, csrf},
    client::ClientInfo,
    config::SignInMethod,
    context::Context,
    crypto,
    flows::{email_address::normalize_email, profile, sign_in_methods},
    rate_limit::Limit,
};

pub(super) fn router() -> Router<Arc<Context>> {
    Router::new()
        .route("/me", get(me).patch(update_me))
        .route("/methods", get(methods))
        .route("/identify", post(identify))
        .route("/csrf", get(csrf))
        .route("/me/activity", get(super::admin::activity))
        .route("/me/waitlists", get(super::waitlists::mine))
        .route(
            "/me/waitlists/{feature}",
            get(super::waitlists::check)
                .put(super::waitlists::join)
                .delete(super::waitlists::leave),
        )
        .route(
            "/me/api-keys",
            get(super::api_keys::list_mine).post(super::api_keys::create_mine),
        )
        .route(
            "/me/api-keys/{id}",
            axum::routing::delete(super::api_keys::revoke_mine),
        )
}

/// `GET /me`: the caller and their organization memberships.
pub(crate) async fn me(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    let (account, memberships) = profile::overview(&ctx, user.id()).await?;
    let view = UserView::new(&account.user, account.has_password);
    let memberships: Vec<serde_json::Value> = memberships
        .iter()
        .map(|(membership, org)| json!({ "org_id": membership.org_id, "role": membership.role, "org_name": org.name }))
        .collect();
    Ok(ok(json!({ "user": view, "memberships": memberships })).into_response())
}

/// Body of `PATCH /me`: each field absent (unchanged), `null` (cleared) or a value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateMe {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    image_url: Patch<String>,
    #[serde(default)]
    metadata: Patch<serde_json::Value>,
}

/// `PATCH /me`: change the caller's name, avatar or metadata.
pub(crate) async fn update_me(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Json(body): Json<UpdateMe>,
) -> Result<Response, Error> {
    let change = profile::Change {
        name: body.name.into_change(),
        image_url: body.image_url.into_change(),
        metadata: body.metadata.into_change(),
    };
    let account = profile::update(&ctx, user.id(), change).await?;
    let view = UserView::new(&account.user, account.has_password);
    Ok(ok(json!({ "user": view })).into_response())
}

/// The sign-in methods this deployment offers (on, and able to work here).
fn enabled_methods(ctx: &Context) -> Vec<&'static str> {
    sign_in_methods::offered(ctx)
}

/// `GET /methods`: which sign-in methods are enabled.
pub(crate) async fn methods(State(ctx): State<Arc<Context>>, client: ClientInfo) -> Response {
    #[cfg(feature = "oauth")]
    let oauth: Vec<serde_json::Value> = crate::flows::oauth::providers(&ctx)
        .into_iter()
        .map(|(name, label)| {
            json!({
                "provider": name,
                "name": label,
                "authorize_url": crate::flows::oauth::authorize_url(&ctx, &name),
            })
        })
        .collect();
    #[cfg(not(feature = "oauth"))]
    let oauth: Vec<serde_json::Value> = Vec::new();
    let on = |method| sign_in_methods::available(&ctx, method);
    let mut body = json!({
        "password": on(SignInMethod::Password),
        "magic_link": on(SignInMethod::MagicLink),
        "email_otp": on(SignInMethod::EmailOtp),
        "sms_otp": on(SignInMethod::SmsOtp),
        "passkey": on(SignInMethod::Passkey),
        "oauth": oauth,
    });
    // For a client app that named itself: who it is, how its grants come, its branding.
    if let Some(app) = ctx.client_named(client.app.as_deref()) {
        let branding = ctx.branding_for(Some(&app.id));
        body["client"] = json!({
            "id": app.id,
            "name": app.name,
            "token_delivery": ctx.config.token_delivery_for(Some(&app.id)),
            "branding": { "product_name": branding.product_name, "logo_url": branding.logo_url },
        });
    }
    ok(body).into_response()
}

/// Body of `POST /identify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentifyBody {
    email: String,
}

/// `POST /identify`: which methods an account can use. Unless the host enabled account
/// discovery, every address gets the same answer (the methods an unknown account would
/// see), so this endpoint tells nobody who has an account.
pub(crate) async fn identify(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<IdentifyBody>,
) -> Result<Response, Error> {
    let email = normalize_email(&body.email)?;
    ctx.throttle
        .check(Limit::IdentifyPerIp, &client.ip_key(), &client)
        .await?;
    if !ctx.config.sign_in.account_discovery {
        return Ok(ok(json!({ "methods": enabled_methods(&ctx) })).into_response());
    }
    let Some(methods) = sign_in_methods::of_account(&ctx, &email).await? else {
        return Ok(
            ok(json!({ "exists": false, "methods": enabled_methods(&ctx) })).into_response(),
        );
    };
    Ok(ok(json!({ "exists": true, "methods": methods })).into_response())
}

/// `GET /csrf`: a CSRF token for `X-CSRF-Token`. Signed in, it is bound to the session;
/// signed out, to a random value kept in the `__csrf` cookie (for pre-session forms).
pub(crate) async fn csrf(
    State(ctx): State<Arc<Context>>,
    user: Option<CurrentUser>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let config = &ctx.config;
    if let Some(user) = user {
        let token = csrf::session_token(&ctx.keys, user.session_id());
        return Ok(ok(json!({ "csrf_token": token })).into_response());
    }
    let existing = cookie::read(&headers, &config.cookies.csrf)?
        .filter(|nonce| crypto::b64_decode(nonce).is_some_and(|b| b.len() == 32))
        .map(str::to_owned);
    let nonce = existing.clone().unwrap_or_else(crypto::random_token);
    let token = csrf::token(&ctx.keys, nonce.as_bytes());
    let mut response = ok(json!({ "csrf_token": token })).into_response();
    if existing.is_none() {
        let lifetime = i64::try_from(config.sessions.lifetime.as_secs()).unwrap_or(i64::MAX);
        set_cookies(
            response.headers_mut(),
            [cookie::set(config, &config.cookies.csrf, &nonce, lifetime)],
        );
    }
    Ok(response)
}
