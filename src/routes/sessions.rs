//! Sessions: refresh, list, current, permissions, revoke one, sign out, sign out of all.

use std::sync::Arc;

use std::fmt;

use axum::{
    Json as AxumJson, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    input::{Json, OptionalJson, Path},
    views::{GrantResponse, SessionView, SignInResponse, UserView, clear_session_cookies, ok},
};
use crate::{
    CurrentUser, Error,
    audit::AuditEvent,
    audit::AuditKind,
    auth::{cookie, csrf},
    client::ClientInfo,
    context::Context,
    flows::{orgs, sessions as flow},
    rate_limit::Limit,
};

pub(super) fn router() -> Router<Arc<Context>> {
    Router::new()
        .route("/sessions/refresh", post(refresh))
        .route("/sessions", get(list).post(exchange).delete(sign_out_all))
        .route("/sessions/current", get(current))
        .route("/sessions/current/permissions", get(permissions))
        .route("/sessions/{id}", delete(revoke))
        .route("/sign-out", post(sign_out))
        .route("/sign-out/all", post(sign_out_all))
}

/// Body of `POST /sessions/refresh`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshBody {
    #[serde(default)]
    refresh_token: Option<String>,
}

impl fmt::Debug for RefreshBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshBody([redacted])")
    }
}

/// The refresh token of a request: from the body, or from the `__client` cookie. A
/// cookie is attached by the browser to cross-site requests too, so using it requires the
/// same CSRF proof as any cookie-authenticated request.
fn refresh_token(
    ctx: &Context,
    headers: &HeaderMap,
    body: Option<String>,
) -> Result<Option<(String, bool)>, Error> {
    if let Some(token) = body {
        return Ok(Some((token, false)));
    }
    let Some(token) = cookie::read(headers, &ctx.config.cookies.client)? else {
        return Ok(None);
    };
    let session_id = flow::session_id_of(token).ok_or(Error::Unauthorized)?;
    csrf::check(
        headers,
        &ctx.keys,
        &ctx.origins
            .csrf_origins(ctx.client_app(headers).map(|c| c.id.as_str())),
        session_id,
        &ctx.config.cookies.csrf,
    )?;
    Ok(Some((token.to_owned(), true)))
}

/// `POST /sessions/refresh`: rotate the refresh token and answer a new grant. A dead
/// token replayed after the grace window revokes its whole session (401).
pub(crate) async fn refresh(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshBody>,
) -> Result<Response, Error> {
    ctx.throttle
        .check(Limit::RefreshPerIp, &client.ip_key(), &client)
        .await?;
    let body_token = body.unwrap_or_default().refresh_token;
    let uses_cookie = body_token.is_none();
    let result = match refresh_token(&ctx, &headers, body_token) {
        Ok(Some((token, _))) => flow::refresh(&ctx, &token, &client).await,
        Ok(None) => Err(Error::Unauthorized),
        Err(err) => Err(err),
    };
    match result {
        Ok(grant) => Ok(GrantResponse {
            grant,
            status: StatusCode::OK,
            config: &ctx.config,
        }
        .into_response()),
        Err(err) => {
            let mut response = err.into_response();
            if uses_cookie && response.status() == StatusCode::UNAUTHORIZED {
                // A dead or garbled cookie would only make the page loop; clear it.
                clear_session_cookies(response.headers_mut(), &ctx.config);
            }
            Ok(response)
        }
    }
}

/// Body of `POST /sessions`: one one-time secret, named by `method`.
#[derive(Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ExchangeBody {
    /// The emailed six-digit code.
    Otp { email: String, token: String },
    /// The emailed link's token.
    MagicLink { token: String },
    /// An answer to a passkey ceremony (without the `passkeys` feature: 404).
    #[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
    Passkey {
        challenge_id: Uuid,
        credential: serde_json::Value,
    },
}

impl fmt::Debug for ExchangeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Otp { .. } => "ExchangeBody::Otp([redacted])",
            Self::MagicLink { .. } => "ExchangeBody::MagicLink([redacted])",
            Self::Passkey { .. } => "ExchangeBody::Passkey([redacted])",
        })
    }
}

/// `POST /sessions`: one entry point that exchanges a one-time secret for a session
/// grant, through the very flow of the dedicated route (same checks, throttles, answers):
/// `{ method: "otp", email, token }` as `/email-otp/verify`, `{ method: "magic_link",
/// token }` as `/magic-link/verify`, `{ method: "passkey", challenge_id, credential }` as
/// `/passkeys/authenticate/complete`. A method the host turned off answers 404.
pub(crate) async fn exchange(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<ExchangeBody>,
) -> Result<Response, Error> {
    use crate::config::SignInMethod;
    let on = |method| {
        if ctx.config.method_on(method) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    };
    let signed_in = match body {
        ExchangeBody::Otp { email, token } => {
            on(SignInMethod::EmailOtp)?;
            crate::flows::passwordless::verify_email_code(&ctx, &email, &token, &client).await?
        }
        ExchangeBody::MagicLink { token } => {
            on(SignInMethod::MagicLink)?;
            crate::flows::passwordless::verify_magic_link(&ctx, &token, &client).await?
        }
        #[cfg(feature = "passkeys")]
        ExchangeBody::Passkey {
            challenge_id,
            credential,
        } => {
            on(SignInMethod::Passkey)?;
            let grant =
                crate::flows::passkeys::complete_sign_in(&ctx, challenge_id, credential, &client)
                    .await?;
            crate::flows::mfa::SignedIn::Granted(Box::new(grant))
        }
        #[cfg(not(feature = "passkeys"))]
        ExchangeBody::Passkey { .. } => return Err(Error::NotFound),
    };
    Ok(SignInResponse {
        signed_in,
        status: StatusCode::OK,
        config: &ctx.config,
    }
    .into_response())
}

/// `GET /sessions`: the caller's live sessions, newest first.
pub(crate) async fn list(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    let sessions = flow::list(&ctx, user.id()).await?;
    let views: Vec<SessionView> = sessions
        .iter()
        .map(|s| SessionView::new(s, s.id == user.session_id()))
        .collect();
    Ok(ok(json!({ "sessions": views })).into_response())
}

/// `GET /sessions/current`: the caller's session and user.
pub(crate) async fn current(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    let (session, account) = flow::current(&ctx, user.claims()).await?;
    Ok(ok(json!({
        "session": SessionView::new(&session, true),
        "user": UserView::new(&account.user, account.has_password),
    }))
    .into_response())
}

/// `GET /sessions/current/permissions`: the caller's permissions in the session's active
/// organization (none until an organization is active; none, and `mfa_required: true`, while
/// the organization requires a second factor this session has not passed).
pub(crate) async fn permissions(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    let active = orgs::active_permissions(&ctx, user.claims()).await?;
    let mfa_required = active.as_ref().is_some_and(|a| a.mfa_required);
    let mut body = json!({
        "org_id": active.as_ref().map(|a| a.membership.org_id),
        "org_role": active.as_ref().map(|a| a.membership.role.clone()),
        "permissions": active.map(|a| a.permissions).unwrap_or_default(),
    });
    if mfa_required {
        // The organization requires a second factor this session has not passed: its
        // permissions are withheld until it does (`POST /reauthenticate` with a code).
        body["mfa_required"] = json!(true);
    }
    Ok(ok(body).into_response())
}

/// `DELETE /sessions/{id}`: revoke one of the caller's sessions (400 bad UUID, 403 not
/// the caller's, 404 unknown).
pub(crate) async fn revoke(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    flow::revoke_own(&ctx, user.id(), id, &client).await?;
    let mut response = ok(json!({})).into_response();
    if id == user.session_id() {
        clear_session_cookies(response.headers_mut(), &ctx.config);
    }
    Ok(response)
}

/// Body of `POST /sign-out`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignOutBody {
    #[serde(default)]
    session_ids: Option<Vec<Uuid>>,
}

/// `POST /sign-out`: revoke the listed sessions of the caller, or the current one, and
/// clear the cookies. Works with an expired access token too, through the refresh cookie.
pub(crate) async fn sign_out(
    State(ctx): State<Arc<Context>>,
    user: Option<CurrentUser>,
    client: ClientInfo,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<SignOutBody>,
) -> Result<Response, Error> {
    let body = body.unwrap_or_default();
    let (user_id, current, targets) = match &user {
        Some(user) => {
            let targets = body.session_ids.unwrap_or_else(|| vec![user.session_id()]);
            (Some(user.id()), Some(user.session_id()), targets)
        }
        None => match refresh_token(&ctx, &headers, None)? {
            // Signed out already as far as the access token goes: the refresh cookie
            // still names a session; end it if the token is really its own.
            Some((token, _)) => match flow::owner_of_refresh_token(&ctx, &token).await? {
                Some((user_id, session_id)) => (Some(user_id), Some(session_id), vec![session_id]),
                None => (None, None, Vec::new()),
            },
            None => (None, None, Vec::new()),
        },
    };
    let mut revoked = Vec::new();
    if let Some(user_id) = user_id
        && !targets.is_empty()
    {
        revoked = flow::revoke(&ctx, user_id, Some(&targets), None, "sign_out").await?;
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::SignOut)
                    .user(user_id)
                    .client(&client)
                    .detail(
                        "sessions",
                        revoked.iter().map(Uuid::to_string).collect::<Vec<_>>(),
                    ),
            )
            .await;
    }
    let mut response = ok(json!({ "revoked": revoked.len() })).into_response();
    let ends_this_browser = current.is_none_or(|current| targets.contains(&current));
    if ends_this_browser {
        clear_session_cookies(response.headers_mut(), &ctx.config);
    }
    Ok(response)
}

/// `POST /sign-out/all`: revoke every session of the caller. A sensitive action: it
/// needs a fresh session (signed in within the configured window).
pub(crate) async fn sign_out_all(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Response, Error> {
    require_fresh(&ctx, &user)?;
    let revoked = flow::revoke(&ctx, user.id(), None, None, "sign_out_all").await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::SignOutAll)
                .user(user.id())
                .client(&client)
                .detail("count", revoked.len()),
        )
        .await;
    let mut response = (
        StatusCode::OK,
        AxumJson(json!({ "ok": true, "revoked": revoked.len() })),
    )
        .into_response();
    clear_session_cookies(response.headers_mut(), &ctx.config);
    Ok(response)
}

/// The fresh-session rule: the session's sign-in (`auth_time`) is recent enough.
pub(crate) fn require_fresh(ctx: &Context, user: &CurrentUser) -> Result<(), Error> {
    flow::require_fresh(ctx, user.auth_time)
}
