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
use serde_json::json;
use uuid::Uuid;

use super::{
    input::{Path, wants_json},
    sessions::require_fresh,
    views::{GrantResponse, SignInResponse, mfa_redirect, ok, rfc3339, set_cookies},
};
use crate::{
    CurrentUser, Error,
    auth::cookie,
    client::ClientInfo,
    context::Context,
    entity::oauth_account,
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
pub(crate) struct AuthorizeQuery {
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `GET /oauth/{provider}/authorize?redirect_url=`: 302 to the provider. Signed in (with
/// a fresh session), the provider is linked to the caller instead of signing in.
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

/// `GET /oauth/{provider}/callback?code=&state=`: signs in (cookies and a 303 to the
/// stored `redirect_url`, or a JSON session grant for `Accept: application/json`), or links
/// the provider when the flow began signed in. Failures go back to the stored
/// `redirect_url` with `?error=<code>` when there is one, else answer the JSON error.
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
                ok(json!({ "account": AccountView::new(&account) })).into_response()
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

/// A linked account as listed: `{ id, provider, email, created_at, last_used_at }`.
#[derive(Serialize)]
pub(crate) struct AccountView {
    id: Uuid,
    provider: String,
    email: Option<String>,
    created_at: String,
    last_used_at: Option<String>,
}

impl AccountView {
    fn new(row: &oauth_account::Model) -> Self {
        Self {
            id: row.id,
            provider: row.provider.clone(),
            email: row.email.clone(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

/// `GET /me/accounts`: `{ ok, accounts: [ {id, provider, email, created_at, last_used_at} ] }`.
pub(crate) async fn list(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    let rows = flows::oauth::list(&ctx, user.id()).await?;
    let accounts: Vec<AccountView> = rows.iter().map(AccountView::new).collect();
    Ok(ok(json!({ "accounts": accounts })).into_response())
}

/// `DELETE /me/accounts/{id}` (fresh session): `{ ok }`; 409 `conflict` when it is the
/// account's last way to sign in; 404 when not the caller's.
pub(crate) async fn unlink(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    require_fresh(&ctx, &user)?;
    flows::oauth::unlink(&ctx, user.id(), user.session_id(), id, &client).await?;
    Ok(ok(json!({})).into_response())
}
