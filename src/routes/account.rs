//! The account: `GET`/`PATCH /me`, `GET /methods`, `POST /identify`, `GET /csrf`.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::{
    input::{Json, Patch},
    views::{True, UserView, set_cookies},
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

/// `{ ok, user, memberships }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MeAnswer {
    ok: True,
    user: UserView,
    memberships: Vec<MyMembership>,
}

/// One organization the caller belongs to.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MyMembership {
    org_id: uuid::Uuid,
    role: String,
    org_name: String,
}

/// `{ ok, user }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct UserAnswer {
    pub(crate) ok: True,
    pub(crate) user: UserView,
}

/// `GET /me`: the caller and their organization memberships.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/me", tag = "account",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, body = MeAnswer),
        (status = 403, description = "`forbidden`: an API key without `user:read`"),
    ),
))]
pub(crate) async fn me(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<MeAnswer>, Error> {
    let (account, memberships) = profile::overview(&ctx, user.id()).await?;
    let memberships = memberships
        .iter()
        .map(|(membership, org)| MyMembership {
            org_id: membership.org_id,
            role: membership.role.clone(),
            org_name: org.name.clone(),
        })
        .collect();
    Ok(Json(MeAnswer {
        ok: True,
        user: UserView::new(&account.user, account.has_password),
        memberships,
    }))
}

/// Body of `PATCH /me`: each field absent (unchanged), `null` (cleared) or a value.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateMe {
    /// Display name (at most 256 characters).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    name: Patch<String>,
    /// An `https://` (or `http://`) URL.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    image_url: Patch<String>,
    /// A JSON object of the host's own (at most 8 KiB).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    metadata: Patch<serde_json::Value>,
}

/// `PATCH /me`: change the caller's name, avatar or metadata.
#[cfg_attr(feature = "openapi", utoipa::path(
    patch, path = "/me", tag = "account",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    request_body = UpdateMe,
    responses(
        (status = 200, body = UserAnswer),
        (status = 403, description = "`forbidden`: an API key without `user:write`"),
    ),
))]
pub(crate) async fn update_me(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Json(body): Json<UpdateMe>,
) -> Result<Json<UserAnswer>, Error> {
    let change = profile::Change {
        name: body.name.into_change(),
        image_url: body.image_url.into_change(),
        metadata: body.metadata.into_change(),
    };
    let account = profile::update(&ctx, user.id(), change).await?;
    Ok(Json(UserAnswer {
        ok: True,
        user: UserView::new(&account.user, account.has_password),
    }))
}

/// `{ ok, password, magic_link, email_otp, sms_otp, passkey, oauth, client? }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MethodsAnswer {
    ok: True,
    password: bool,
    magic_link: bool,
    email_otp: bool,
    sms_otp: bool,
    passkey: bool,
    oauth: Vec<OAuthProvider>,
    /// The client app the request named with `x-api-key` (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    client: Option<ClientSummary>,
}

/// A social sign-in provider.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct OAuthProvider {
    /// Its name in `/oauth/{provider}/authorize`.
    provider: String,
    /// Its label for people.
    name: String,
    authorize_url: String,
}

/// The client app a request named: who it is, how its grants come, its branding.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ClientSummary {
    id: String,
    name: String,
    /// `cookies_and_body`, `cookies_only` or `body_only`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    token_delivery: crate::config::TokenDelivery,
    branding: Branding,
}

/// A client app's branding.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Branding {
    product_name: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    logo_url: Option<String>,
}

/// `GET /methods`: which sign-in methods are enabled.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/methods", tag = "account", security(()),
    responses((status = 200, body = MethodsAnswer)),
))]
pub(crate) async fn methods(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
) -> Json<MethodsAnswer> {
    #[cfg(feature = "oauth")]
    let oauth = crate::flows::oauth::providers(&ctx)
        .into_iter()
        .map(|(name, label)| OAuthProvider {
            authorize_url: crate::flows::oauth::authorize_url(&ctx, &name),
            provider: name,
            name: label,
        })
        .collect();
    #[cfg(not(feature = "oauth"))]
    let oauth = Vec::new();
    let on = |method| sign_in_methods::available(&ctx, method);
    // For a client app that named itself: who it is, how its grants come, its branding.
    let client = ctx.client_named(client.app.as_deref()).map(|app| {
        let branding = ctx.branding_for(Some(&app.id));
        ClientSummary {
            id: app.id.clone(),
            name: app.name.clone(),
            token_delivery: ctx.config.token_delivery_for(Some(&app.id)),
            branding: Branding {
                product_name: branding.product_name.clone(),
                logo_url: branding.logo_url.clone(),
            },
        }
    });
    Json(MethodsAnswer {
        ok: True,
        password: on(SignInMethod::Password),
        magic_link: on(SignInMethod::MagicLink),
        email_otp: on(SignInMethod::EmailOtp),
        sms_otp: on(SignInMethod::SmsOtp),
        passkey: on(SignInMethod::Passkey),
        oauth,
        client,
    })
}

/// Body of `POST /identify`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentifyBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
}

/// `{ ok, methods, exists? }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct IdentifyAnswer {
    ok: True,
    /// Whether the account exists: only where the host turned account discovery on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    exists: Option<bool>,
    /// The sign-in methods the account (or, without discovery, anyone) can use.
    methods: Vec<&'static str>,
}

/// The sign-in methods this deployment offers (on, and able to work here).
fn enabled_methods(ctx: &Context) -> Vec<&'static str> {
    sign_in_methods::offered(ctx)
}

/// `POST /identify`: which methods an account can use. Unless the host enabled account
/// discovery, every address gets the same answer (the methods an unknown account would
/// see), so this endpoint tells nobody who has an account.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/identify", tag = "account", security(()),
    request_body = IdentifyBody,
    responses(
        (status = 200, body = IdentifyAnswer),
        (status = 429, description = "`rate_limited`"),
    ),
))]
pub(crate) async fn identify(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<IdentifyBody>,
) -> Result<Json<IdentifyAnswer>, Error> {
    let email = normalize_email(&body.email)?;
    ctx.throttle
        .check(Limit::IdentifyPerIp, &client.ip_key(), &client)
        .await?;
    let answer = |exists, methods| {
        Json(IdentifyAnswer {
            ok: True,
            exists,
            methods,
        })
    };
    if !ctx.config.sign_in.account_discovery {
        return Ok(answer(None, enabled_methods(&ctx)));
    }
    Ok(match sign_in_methods::of_account(&ctx, &email).await? {
        Some(methods) => answer(Some(true), methods),
        None => answer(Some(false), enabled_methods(&ctx)),
    })
}

/// `{ ok, csrf_token }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CsrfAnswer {
    ok: True,
    /// For the `X-CSRF-Token` header of cookie-authenticated unsafe requests.
    csrf_token: String,
}

/// `GET /csrf`: a CSRF token for `X-CSRF-Token`. Signed in, it is bound to the session;
/// signed out, to a random value kept in the `__csrf` cookie (for pre-session forms).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/csrf", tag = "account",
    security((), ("access_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = CsrfAnswer, headers(("Set-Cookie" = String, description = "`__csrf`, signed out and without one")))),
))]
pub(crate) async fn csrf(
    State(ctx): State<Arc<Context>>,
    user: Option<CurrentUser>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let config = &ctx.config;
    let answer = |csrf_token| {
        Json(CsrfAnswer {
            ok: True,
            csrf_token,
        })
    };
    if let Some(user) = user {
        let token = csrf::session_token(&ctx.keys, user.session_id());
        return Ok(answer(token).into_response());
    }
    let existing = cookie::read(&headers, &config.cookies.csrf)?
        .filter(|nonce| crypto::b64_decode(nonce).is_some_and(|b| b.len() == 32))
        .map(str::to_owned);
    let nonce = existing.clone().unwrap_or_else(crypto::random_token);
    let token = csrf::token(&ctx.keys, nonce.as_bytes());
    let mut response = answer(token).into_response();
    if existing.is_none() {
        let lifetime = i64::try_from(config.sessions.lifetime.as_secs()).unwrap_or(i64::MAX);
        set_cookies(
            response.headers_mut(),
            [cookie::set(config, &config.cookies.csrf, &nonce, lifetime)],
        );
    }
    Ok(response)
}
