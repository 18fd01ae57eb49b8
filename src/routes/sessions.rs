//! Sessions: refresh, list, current, permissions, revoke one, sign out, sign out of all.

use std::sync::Arc;

use std::fmt;

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    input::{Json, OptionalJson, Path},
    views::{
        GrantResponse, SessionView, SignInResponse, True, UserView, clear_session_cookies, done,
    },
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
        .route("/sessions", get(list).post(exchange).delete(revoke_all))
        .route("/sessions/current", get(current))
        .route("/sessions/current/permissions", get(permissions))
        .route("/sessions/{id}", delete(revoke))
        .route("/sign-out", post(sign_out))
        .route("/sign-out/all", post(sign_out_all))
}

/// Body of `POST /sessions/refresh`.
#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshBody {
    /// The refresh token of the grant; absent, the `__client` cookie is used (and the
    /// request must then pass the CSRF check).
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
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sessions/refresh", tag = "sessions",
    security(()),
    request_body(
        content = Option<RefreshBody>,
        description = "No body, an empty one or `{}`: the refresh token is read from the `__client` cookie",
    ),
    responses(
        (status = 200, description = "A new grant; the presented refresh token is dead (racing refreshes inside the grace window share the same new one)", body = super::views::GrantBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`"))),
        (status = 400, description = "`invalid_request`: a malformed body, or the `__client` cookie sent twice"),
        (status = 401, description = "`unauthorized`: no refresh token, or an unknown, garbled, expired or revoked one; a dead token replayed after the grace window also revokes its whole session. A refused `__client` cookie is cleared",
            headers(("Set-Cookie" = String, description = "clears `__session` and `__client` when the token came from the cookie"))),
        (status = 403, description = "`forbidden`: the `__client` cookie without a valid `X-CSRF-Token` or allowed `Origin`; `user_disabled`: the account was disabled; `email_not_verified`: the host requires a verified email and it is not"),
        (status = 429, description = "`rate_limited`: too many refreshes from this address"),
    ),
))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ExchangeBody {
    /// The emailed six-digit code (as `POST /email-otp/verify`).
    Otp {
        /// The address the code was sent to.
        #[cfg_attr(feature = "openapi", schema(format = Email))]
        email: String,
        /// The six-digit code.
        token: String,
    },
    /// The emailed link's token (as `POST /magic-link/verify`).
    MagicLink {
        /// The `token` of the link's query.
        token: String,
    },
    /// An answer to a passkey ceremony (as `POST /passkeys/authenticate/complete`;
    /// without the `passkeys` feature: 404).
    #[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
    Passkey {
        /// From `POST /passkeys/authenticate/begin`.
        challenge_id: Uuid,
        /// The browser's `PublicKeyCredential.toJSON()`.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
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
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sessions", tag = "sessions",
    security(()),
    request_body = ExchangeBody,
    responses(
        (status = 200, description = "Signed in, or (a code or a link on an account with a second factor) a second factor is due", body = super::views::SignInBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`, with a grant"))),
        (status = 400, description = "`invalid_request`: a malformed body or email, a code that is not six digits, or a credential that is not a `PublicKeyCredential` JSON; `token_invalid`: the code, link or ceremony is unknown, used or wrong, or the address changed hands since it was sent; `token_expired`: past its lifetime"),
        (status = 401, description = "`invalid_credentials`: an unknown passkey, one of another account, or an assertion that does not verify"),
        (status = 403, description = "`user_disabled`: the account was disabled; `email_not_verified`: (passkey) the host requires a verified email and it is not"),
        (status = 404, description = "`not_found`: the host turned that method off (or passkeys are not built in)"),
        (status = 409, description = "`conflict`: the account was created by another request in the same instant; sign in again"),
        (status = 429, description = "`rate_limited`: too many attempts from this address; `too_many_attempts`: the code was guessed wrong too often and is dead"),
    ),
))]
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

/// `{ ok, sessions }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct SessionsAnswer {
    pub(crate) ok: True,
    /// Live sessions, newest first; `current` marks the one asking.
    pub(crate) sessions: Vec<SessionView>,
}

/// `GET /sessions`: the caller's live sessions, newest first.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/sessions", tag = "sessions",
    responses((status = 200, body = SessionsAnswer)),
))]
pub(crate) async fn list(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<SessionsAnswer>, Error> {
    let sessions = flow::list(&ctx, user.id()).await?;
    let sessions = sessions
        .iter()
        .map(|s| SessionView::new(s, s.id == user.session_id()))
        .collect();
    Ok(Json(SessionsAnswer { ok: True, sessions }))
}

/// `{ ok, session, user }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CurrentSessionAnswer {
    ok: True,
    session: SessionView,
    user: UserView,
}

/// `GET /sessions/current`: the caller's session and user.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/sessions/current", tag = "sessions",
    responses((status = 200, body = CurrentSessionAnswer)),
))]
pub(crate) async fn current(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<CurrentSessionAnswer>, Error> {
    let (session, account) = flow::current(&ctx, user.claims()).await?;
    Ok(Json(CurrentSessionAnswer {
        ok: True,
        session: SessionView::new(&session, true),
        user: UserView::new(&account.user, account.has_password),
    }))
}

/// `{ ok, org_id, org_role, permissions, mfa_required? }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PermissionsAnswer {
    ok: True,
    /// The session's active organization (null without one, or once removed from it).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    org_id: Option<Uuid>,
    /// The caller's role there (null without an active organization).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    org_role: Option<String>,
    /// What the role grants there; empty without an active organization or while
    /// `mfa_required`.
    permissions: Vec<String>,
    /// Present (and `true`) only while the organization requires a second factor this
    /// session has not passed: its permissions are withheld until it does
    /// (`POST /reauthenticate` with a code or a passkey).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, value_type = True))]
    mfa_required: Option<True>,
}

/// `GET /sessions/current/permissions`: the caller's permissions in the session's active
/// organization (none until an organization is active; none, and `mfa_required: true`, while
/// the organization requires a second factor this session has not passed).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/sessions/current/permissions", tag = "sessions",
    responses((status = 200, body = PermissionsAnswer)),
))]
pub(crate) async fn permissions(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<PermissionsAnswer>, Error> {
    let active = orgs::active_permissions(&ctx, user.claims()).await?;
    let mfa_required = active.as_ref().is_some_and(|a| a.mfa_required);
    Ok(Json(PermissionsAnswer {
        ok: True,
        org_id: active.as_ref().map(|a| a.membership.org_id),
        org_role: active.as_ref().map(|a| a.membership.role.clone()),
        permissions: active.map(|a| a.permissions).unwrap_or_default(),
        // The organization requires a second factor this session has not passed: its
        // permissions are withheld until it does (`POST /reauthenticate` with a code).
        mfa_required: mfa_required.then_some(True),
    }))
}

/// `DELETE /sessions/{id}`: revoke one of the caller's sessions (400 bad UUID, 403 not
/// the caller's, 404 unknown).
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/sessions/{id}", tag = "sessions",
    params(("id" = Uuid, Path, description = "The session to revoke")),
    responses(
        (status = 200, description = "Revoked (at once on this instance, within the access-token lifetime everywhere)", body = super::views::Done,
            headers(("Set-Cookie" = String, description = "clears `__session` and `__client` when it is the current session"))),
        (status = 403, description = "`forbidden`: the session belongs to someone else, or a cookie-authenticated request without a valid `X-CSRF-Token` or allowed `Origin`"),
        (status = 404, description = "`not_found`: no such session"),
    ),
))]
pub(crate) async fn revoke(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    flow::revoke_own(&ctx, user.id(), id, &client).await?;
    let mut response = done().into_response();
    if id == user.session_id() {
        clear_session_cookies(response.headers_mut(), &ctx.config);
    }
    Ok(response)
}

/// Body of `POST /sign-out`.
#[derive(Debug, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct SignOutBody {
    /// Sessions of the caller to revoke (others' are ignored); absent, the current one.
    #[serde(default)]
    session_ids: Option<Vec<Uuid>>,
}

/// `{ ok, revoked }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct RevokedAnswer {
    pub(crate) ok: True,
    /// How many were revoked.
    pub(crate) revoked: usize,
}

/// `POST /sign-out`: revoke the listed sessions of the caller, or the current one, and
/// clear the cookies. Works with an expired access token too, through the refresh cookie.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sign-out", tag = "sessions",
    security((), ("access_token" = []), ("session_cookie" = [])),
    request_body(
        content = Option<SignOutBody>,
        description = "No body, an empty one or `{}`: the current session",
    ),
    responses(
        (status = 200, description = "Signed out (also when there was nothing to revoke)", body = RevokedAnswer,
            headers(("Set-Cookie" = String, description = "clears `__session` and `__client` when the current session (or, signed out, the `__client` cookie's) is among those revoked"))),
        (status = 400, description = "`invalid_request`: a malformed body, or a credential cookie sent twice"),
        (status = 401, description = "`unauthorized`: signed out, with a `__client` cookie that is not a refresh token"),
        (status = 403, description = "`forbidden`: a cookie-authenticated request (the `__session` cookie, or signed out the `__client` cookie) without a valid `X-CSRF-Token` or allowed `Origin`"),
    ),
))]
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
    let mut response = Json(RevokedAnswer {
        ok: True,
        revoked: revoked.len(),
    })
    .into_response();
    let ends_this_browser = current.is_none_or(|current| targets.contains(&current));
    if ends_this_browser {
        clear_session_cookies(response.headers_mut(), &ctx.config);
    }
    Ok(response)
}

/// `POST /sign-out/all`: revoke every session of the caller. A sensitive action: it
/// needs a fresh session (signed in within the configured window).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sign-out/all", tag = "sessions",
    responses(
        (status = 200, description = "Every session of the caller is revoked", body = RevokedAnswer,
            headers(("Set-Cookie" = String, description = "clears `__session` and `__client`"))),
        (status = 403, description = "`reauthentication_required`: the session's sign-in is not recent enough"),
    ),
))]
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
    let mut response = Json(RevokedAnswer {
        ok: True,
        revoked: revoked.len(),
    })
    .into_response();
    clear_session_cookies(response.headers_mut(), &ctx.config);
    Ok(response)
}

/// `DELETE /sessions`: revoke every session of the caller, exactly as
/// `POST /sign-out/all` (fresh session).
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/sessions", tag = "sessions",
    responses(
        (status = 200, description = "Every session of the caller is revoked", body = RevokedAnswer,
            headers(("Set-Cookie" = String, description = "clears `__session` and `__client`"))),
        (status = 403, description = "`reauthentication_required`: the session's sign-in is not recent enough"),
    ),
))]
pub(crate) async fn revoke_all(
    state: State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Response, Error> {
    sign_out_all(state, user, client).await
}

/// The fresh-session rule: the session's sign-in (`auth_time`) is recent enough.
pub(crate) fn require_fresh(ctx: &Context, user: &CurrentUser) -> Result<(), Error> {
    flow::require_fresh(ctx, user.auth_time)
}
