//! Social sign-in: `GET /oauth/{provider}/authorize`, `GET /oauth/{provider}/callback`,
//! `GET /me/accounts`, `DELETE /me/accounts/{id}`.
//!
//! The protocol work is in [`flows::oauth`]; these handlers deal with the browser: the
//! binding cookie, redirects, and JSON for clients that ask for it.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Query, State},
    response::{IntoResponse as _, Redirect, Response},
    routing::{delete, get},
};
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    input::{Json, Path, wants_json},
    sessions::require_fresh,
    views::{
        AccountView, Done, GrantResponse, SignInResponse, True, done, mfa_redirect, set_cookies,
    },
};
use crate::{
    CurrentUser, Error,
    auth::cookie,
    client::ClientInfo,
    context::Context,
    flows::{
        self,
        mfa::SignedIn,
        oauth::{CallbackParams, Failed, Outcome},
    },
    origin,
};

/// The cookie binding an authorization to the browser that started it.
const BINDING_COOKIE: &str = "__oauth";
/// Its lifetime: the authorization's.
const BINDING_MAX_AGE: i64 = 10 * 60;

pub(super) fn router() -> Router<Arc<Context>> {
    Router::new()
        .route("/oauth/{provider}/authorize", get(authorize))
        .route("/oauth/{provider}/callback", get(callback))
        .route("/me/accounts", get(list))
        .route("/me/accounts/{id}", delete(unlink))
}

fn binding_cookie(ctx: &Context) -> &'static str {
    if ctx.config.secure_cookies() {
        "__Host-oauth"
    } else {
        BINDING_COOKIE
    }
}

/// Query of `GET /oauth/{provider}/authorize`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub(crate) struct AuthorizeQuery {
    /// Where the callback sends the browser afterwards: an allowed origin (or a redirect of
    /// the client app named by `x-api-key`).
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `GET /oauth/{provider}/authorize?redirect_url=`: 302 to the provider. Signed in (with
/// a fresh session), the provider is linked to the caller instead of signing in.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/oauth/{provider}/authorize", tag = "oauth",
    security((), ("access_token" = []), ("session_cookie" = [])),
    params(
        ("provider" = String, Path, description = "A configured provider's name (`GET /methods` lists them)"),
        AuthorizeQuery,
    ),
    responses(
        (status = 302, description = "On to the provider, with `state`, PKCE S256 and (OpenID Connect) `nonce`. Signed in, the provider will be linked to the caller instead of signing in",
            headers(
                ("Location" = String, description = "The provider's authorization URL"),
                ("Set-Cookie" = String, description = "`__oauth` (`__Host-oauth` on https): binds the authorization to this browser for ten minutes"),
            )),
        (status = 400, description = "`invalid_request`: a malformed query, or a `redirect_url` that is not allowed"),
        (status = 403, description = "Signed in: `reauthentication_required`: the session is not fresh; `forbidden`: the request came from another site"),
        (status = 404, description = "`not_found`: no such provider, or social sign-in is not configured"),
        (status = 429, description = "`rate_limited`: too many authorizations from this IP address, or by everyone at once"),
    ),
))]
pub(crate) async fn authorize(
    State(ctx): State<Arc<Context>>,
    Path(provider): Path<String>,
    user: Option<CurrentUser>,
    client: ClientInfo,
    headers: HeaderMap,
    query: Result<Query<AuthorizeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|_| Error::invalid_request("malformed query"))?;
    let link = match &user {
        Some(user) => {
            require_fresh(&ctx, user)?;
            // Another site may link to this page; it must not start a link in the
            // signed-in person's session (it could finish with the attacker's account).
            if crate::auth::csrf::is_cross_site(&headers) {
                return Err(Error::forbidden(
                    "linking a provider must start from this site",
                ));
            }
            Some(flows::oauth::Linking {
                user_id: user.id(),
                session_id: user.session_id(),
            })
        }
        None => None,
    };
    let started = flows::oauth::authorize(
        &ctx,
        &provider,
        query.redirect_url.as_deref(),
        link,
        &client,
    )
    .await?;
    let mut response = (StatusCode::FOUND, [(header::LOCATION, started.location)]).into_response();
    set_cookies(
        response.headers_mut(),
        [cookie::set(
            &ctx.config,
            binding_cookie(&ctx),
            &started.browser_secret,
            BINDING_MAX_AGE,
        )],
    );
    Ok(response)
}

/// `{ ok, account }`: the provider is linked to the caller.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct LinkedAnswer {
    ok: True,
    account: AccountView,
}

/// What `GET /oauth/{provider}/callback` answers a JSON client: a sign-in, or a link.
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // only documents an answer: never built
pub(crate) enum CallbackAnswer {
    /// Signed in, or a second factor is due.
    SignedIn(super::views::SignInBody),
    /// The flow began signed in: the provider is linked.
    Linked(LinkedAnswer),
}

/// `GET /oauth/{provider}/callback?code=&state=`: signs in (cookies and a 303 to the
/// stored `redirect_url`, or a JSON session grant for `Accept: application/json`), or links
/// the provider when the flow began signed in. Failures go back to the stored
/// `redirect_url` with `?error=<code>` when there is one, else answer the JSON error.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/oauth/{provider}/callback", tag = "oauth",
    security((), ("access_token" = []), ("session_cookie" = [])),
    params(
        ("provider" = String, Path, description = "The provider the authorization was started with"),
        ("code" = Option<String>, Query, description = "The provider's authorization code"),
        ("state" = Option<String>, Query, description = "The `state` of the authorization"),
        ("iss" = Option<String>, Query, description = "The provider's issuer (RFC 9207)"),
        ("error" = Option<String>, Query, description = "The provider's error, when it did not sign the person in"),
    ),
    responses(
        (status = 200, description = "`Accept: application/json` (without `text/html`): signed in (a session grant, or a second-factor challenge), or, for a flow started signed in, the linked account",
            body = CallbackAnswer,
            headers(("Set-Cookie" = String, description = "Clears `__oauth`; with a grant also `__session` and `__client` (unless the host delivers grants in the body only)"))),
        (status = 303, description = "A browser: signed in or linked, on to the stored `redirect_url` (or `/`); a second factor due, on to `redirect_url?mfa_required=1` (the page posts the code to `/mfa/verify`, which reads the `__mfa` cookie); or, after a failure with a client error once the authorization was found, on to `redirect_url?error=<code>`",
            headers(
                ("Location" = String, description = "The stored `redirect_url` (or `/`), with `?mfa_required=1` or `?error=<code>`"),
                ("Set-Cookie" = String, description = "Clears `__oauth`; signed in: `__session` and `__client` (unless the host delivers grants in the body only); a second factor due: `__mfa` (`__Host-mfa` on https)"),
            )),
        (status = 400, description = "`invalid_request`: a malformed query, no `code`, or the `__oauth` cookie sent twice; `token_invalid`: the `state` is unknown, used, or from another provider's authorization, or the provider refused the code; `token_expired`: the authorization is over ten minutes old"),
        (status = 401, description = "`invalid_credentials`: the provider's answer does not hold up (an ID token or user record that fails validation, a malformed subject), or the account the identity is linked to is gone"),
        (status = 403, description = "`forbidden`: started in another browser, a link started in another session (or signed out since), the provider did not sign the person in, or the answer came from another issuer; `user_disabled`: the account is disabled; `email_not_verified`: the host requires a verified address and the account's is not"),
        (status = 404, description = "`not_found`: no such provider, or social sign-in is not configured"),
        (status = 409, description = "`conflict`: the provider account is linked to another user, an account already uses the address (sign in to it, then link), or it was linked in the same instant; `email_taken`: the address was registered in the same instant"),
        (status = 429, description = "`rate_limited`: too many callbacks from this IP address"),
    ),
))]
pub(crate) async fn callback(
    State(ctx): State<Arc<Context>>,
    Path(provider): Path<String>,
    user: Option<CurrentUser>,
    client: ClientInfo,
    headers: HeaderMap,
    query: Result<Query<CallbackParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Error> {
    let Query(params) = query.map_err(|_| Error::invalid_request("malformed query"))?;
    let json = wants_json(&headers);
    let secret = cookie::read(&headers, binding_cookie(&ctx))?.map(str::to_owned);
    let result = flows::oauth::callback(
        &ctx,
        &provider,
        params,
        secret.as_deref(),
        user.as_ref().map(CurrentUser::session_id),
        &client,
    )
    .await;
    let clear = cookie::clear(&ctx.config, binding_cookie(&ctx));
    let mut response = match result {
        Ok((Outcome::SignedIn(signed_in), target)) => {
            let target = target.as_deref().unwrap_or("/");
            match signed_in {
                signed_in if json => SignInResponse {
                    signed_in,
                    status: StatusCode::OK,
                    config: &ctx.config,
                }
                .into_response(),
                SignedIn::MfaRequired(challenge) => mfa_redirect(&challenge, target, &ctx.config),
                SignedIn::Granted(grant) => {
                    let granted = GrantResponse {
                        grant: *grant,
                        status: StatusCode::OK,
                        config: &ctx.config,
                    }
                    .into_response();
                    // The browser gets the cookies of the grant and goes on; the body (with
                    // its tokens) is not for it.
                    let mut response = Redirect::to(target).into_response();
                    for value in granted.headers().get_all(header::SET_COOKIE) {
                        response
                            .headers_mut()
                            .append(header::SET_COOKIE, value.clone());
                    }
                    response
                }
            }
        }
        Ok((Outcome::Linked(account), target)) => {
            if json {
                Json(LinkedAnswer {
                    ok: True,
                    account: AccountView::new(&account),
                })
                .into_response()
            } else {
                Redirect::to(target.as_deref().unwrap_or("/")).into_response()
            }
        }
        Err(Failed {
            error,
            redirect_url: Some(target),
        }) if !json && error.status().is_client_error() => {
            Redirect::to(&origin::with_query(&target, "error", error.code())).into_response()
        }
        Err(Failed { error, .. }) => return Err(error),
    };
    set_cookies(response.headers_mut(), [clear]);
    Ok(response)
}

/// `{ ok, accounts }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AccountsAnswer {
    ok: True,
    accounts: Vec<AccountView>,
}

/// `GET /me/accounts`: `{ ok, accounts: [ {id, provider, email, created_at, last_used_at} ] }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/me/accounts", tag = "oauth",
    responses((status = 200, description = "The provider accounts linked to the caller", body = AccountsAnswer)),
))]
pub(crate) async fn list(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<AccountsAnswer>, Error> {
    let rows = flows::oauth::list(&ctx, user.id()).await?;
    Ok(Json(AccountsAnswer {
        ok: True,
        accounts: rows.iter().map(AccountView::new).collect(),
    }))
}

/// `DELETE /me/accounts/{id}` (fresh session): `{ ok }`; 409 `conflict` when it is the
/// account's last way to sign in; 404 when not the caller's.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/me/accounts/{id}", tag = "oauth",
    params(("id" = Uuid, Path, description = "The linked account's id")),
    responses(
        (status = 200, description = "Unlinked", body = Done),
        (status = 403, description = "`reauthentication_required`: the session is not fresh"),
        (status = 404, description = "`not_found`: no linked account of the caller's with this id"),
        (status = 409, description = "`conflict`: it is the account's last way to sign in; add another first"),
    ),
))]
pub(crate) async fn unlink(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<Done>, Error> {
    require_fresh(&ctx, &user)?;
    flows::oauth::unlink(&ctx, user.id(), user.session_id(), id, &client).await?;
    Ok(done())
}
