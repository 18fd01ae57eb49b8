//! The admin router (`/v1/admin`): users, their sessions, impersonation, the audit trail.
//! Every handler goes through [`flows::admin`](crate::flows::admin), which re-reads the
//! caller's role.

use std::{fmt, sync::Arc};

use axum::{
    Router,
    extract::State,
    response::Response,
    routing::{get, post},
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use super::{
    api_keys::ApiKeyView,
    input::{Json, Patch, Path, Query},
    sessions::{RevokedAnswer, SessionsAnswer},
    views::{
        AccountView, Done, PasskeyView, SessionView, True, UserView, access_token_response, done,
        rfc3339,
    },
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
    context::Context,
    entity::{audit_event, user},
    flows::{
        admin::{self, AuditFilter, Change, NewAccount, UserQuery, page_size},
        users::private_metadata_of,
    },
};

pub(crate) fn router<S>(ctx: Arc<Context>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let body_limit = ctx.config.requests.body_limit;
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{id}",
            get(read_user).patch(update_user).delete(delete_user),
        )
        .route("/users/{id}/disable", post(disable))
        .route("/users/{id}/enable", post(enable))
        .route(
            "/users/{id}/sessions",
            get(user_sessions).delete(revoke_user_sessions),
        )
        .route("/users/{id}/impersonate", post(impersonate))
        .route(
            "/users/{id}/api-keys",
            axum::routing::delete(revoke_user_api_keys),
        )
        .route("/audit", get(audit))
        .route("/waitlists/{feature}", get(super::waitlists::entries))
        .route("/waitlists/{feature}/admit", post(super::waitlists::admit))
        .fallback(super::not_found)
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            super::fail_fast,
        ))
        .layer(axum::middleware::map_response(super::security_headers))
        .with_state(ctx)
}

/// The contract's User object plus what admins see: `role`, `disabled`,
/// `last_sign_in_at` (and, in a user's detail or after a change, `private_metadata`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AdminUser))]
pub(crate) struct AdminUserView {
    #[serde(flatten)]
    user: UserView,
    /// `user` or `admin` (the deployment's role, not an organization's).
    role: String,
    disabled: bool,
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    last_sign_in_at: Option<String>,
    /// The JSON object only admins and host code see (absent in lists and on creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, value_type = Option<Object>))]
    private_metadata: Option<Value>,
}

impl AdminUserView {
    /// A user as admins see them, without their private metadata.
    fn new(user: &user::Model, has_password: bool) -> Self {
        Self {
            user: UserView::new(user, has_password),
            role: user.role.clone(),
            disabled: user.disabled_at.is_some(),
            last_sign_in_at: user.last_sign_in_at.map(rfc3339),
            private_metadata: None,
        }
    }

    /// A user as admins see them, with their private metadata.
    fn with_private_metadata(user: &user::Model, has_password: bool) -> Self {
        Self {
            private_metadata: Some(private_metadata_of(user)),
            ..Self::new(user, has_password)
        }
    }
}

/// An audit event: `{ id, kind, user_id, actor_id, session_id, ip, user_agent, detail,
/// created_at }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AuditEvent))]
pub(crate) struct AuditEventView {
    id: Uuid,
    /// What happened (`sign_in`, `password_changed`, `impersonated`, ...).
    kind: String,
    /// The user it happened to.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    user_id: Option<Uuid>,
    /// The admin who did it, when it was not the user.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    actor_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    session_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    ip: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    user_agent: Option<String>,
    /// What else the event records (a JSON object).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    detail: Value,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    created_at: String,
}

impl AuditEventView {
    /// The view of an audit row.
    fn new(event: &audit_event::Model) -> Self {
        Self {
            id: event.id,
            kind: event.kind.clone(),
            user_id: event.user_id,
            actor_id: event.actor_id,
            session_id: event.session_id,
            ip: event.ip.clone(),
            user_agent: event.user_agent.clone(),
            detail: serde_json::from_str::<Value>(&event.detail)
                .unwrap_or_else(|_| Value::Object(serde_json::Map::new())),
            created_at: rfc3339(event.occurred_at),
        }
    }
}

/// Query of `GET /users`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Text to search for in the email address and name (at most 200 characters).
    #[serde(default)]
    query: Option<String>,
    /// Only users whose email is (or is not) verified.
    #[serde(default)]
    verified: Option<bool>,
    /// Only disabled (or enabled) users.
    #[serde(default)]
    disabled: Option<bool>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<Uuid>,
    /// 1 to 100 (50 when absent).
    #[serde(default)]
    limit: Option<u64>,
}

/// `{ ok, users, next_cursor }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AdminUsersAnswer {
    ok: True,
    /// Newest first.
    users: Vec<AdminUserView>,
    /// The `cursor` of the next page; `null` on the last.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    next_cursor: Option<Uuid>,
}

/// `GET /users?query=&verified=&disabled=&cursor=&limit=`: `{ ok, users, next_cursor }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/users", tag = "admin",
    params(ListQuery),
    responses(
        (status = 200, body = AdminUsersAnswer),
        (status = 400, description = "`invalid_request`: `query` over 200 characters, `limit` outside 1 to 100, or malformed query parameters (a `cursor` that is not a UUID, an unknown parameter)"),
    ),
))]
pub(crate) async fn list_users(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Json<AdminUsersAnswer>, Error> {
    if query
        .query
        .as_ref()
        .is_some_and(|q| q.chars().count() > 200)
    {
        return Err(Error::invalid_request("query: at most 200 characters"));
    }
    let page = admin::list_users(
        &ctx,
        user.claims(),
        UserQuery {
            text: query.query.map(|q| q.trim().to_owned()),
            verified: query.verified,
            disabled: query.disabled,
            before: query.cursor,
            limit: page_size(query.limit)?,
        },
    )
    .await?;
    let users = page
        .rows
        .iter()
        .map(|(user, has_password)| AdminUserView::new(user, *has_password))
        .collect();
    Ok(Json(AdminUsersAnswer {
        ok: True,
        users,
        next_cursor: page.next_cursor,
    }))
}

/// Body of `POST /users`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AdminCreateUser))]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// At most 200 characters, no control characters.
    #[serde(default)]
    name: Option<String>,
    /// Checked against the password policy; without it, the account has no password.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: Option<String>,
    /// Vouch for the address (needs a fresh session).
    #[serde(default)]
    email_verified: bool,
    /// Email the address a link to choose a password (the password-reset email).
    #[serde(default)]
    send_invite: bool,
}

impl fmt::Debug for CreateBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateBody")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// `{ ok, user }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AdminUserAnswer {
    ok: True,
    user: AdminUserView,
}

/// `POST /users`: 201 `{ ok, user }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/users", tag = "admin",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created", body = AdminUserAnswer),
        (status = 400, description = "`invalid_request`: a malformed email address, or a `name` over 200 characters or with control characters; `weak_password`: the password fails the policy or appears in a data breach"),
        (status = 403, description = "`reauthentication_required`: `email_verified: true` needs a recent sign-in"),
        (status = 409, description = "`email_taken`: an account with this address exists"),
        (status = 429, description = "`rate_limited`: with `send_invite`, too many password-reset emails (the account is created all the same)"),
    ),
))]
pub(crate) async fn create_user(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<AdminUserAnswer>), Error> {
    let has_password = body.password.is_some();
    let created = admin::create_user(
        &ctx,
        user.claims(),
        NewAccount {
            email: body.email,
            name: body.name,
            password: body.password,
            email_verified: body.email_verified,
            send_invite: body.send_invite,
        },
        &client,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AdminUserAnswer {
            ok: True,
            user: AdminUserView::new(&created, has_password),
        }),
    ))
}

/// An organization the user belongs to: `{ org_id, name, role }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AdminMembership {
    org_id: Uuid,
    /// The organization's name.
    name: String,
    role: String,
}

/// The user's second factors: `{ totp, recovery_codes_left, passkey_as_second_factor }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AdminMfa {
    /// Whether TOTP is on.
    totp: bool,
    /// Unused recovery codes.
    recovery_codes_left: u64,
    /// Whether a passkey can answer the second-factor challenge.
    passkey_as_second_factor: bool,
}

/// `{ ok, user, sessions, passkeys, accounts, memberships, api_keys, mfa }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AdminUserDetailAnswer {
    ok: True,
    /// With `private_metadata`.
    user: AdminUserView,
    /// The live sessions, newest first.
    sessions: Vec<SessionView>,
    /// Empty where passkeys are not built in.
    passkeys: Vec<PasskeyView>,
    accounts: Vec<AccountView>,
    memberships: Vec<AdminMembership>,
    /// The user's live API keys.
    api_keys: Vec<ApiKeyView>,
    mfa: AdminMfa,
}

/// `GET /users/{id}`: the user with sessions, passkeys, linked accounts, memberships,
/// second factors and private metadata.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/users/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "The user")),
    responses(
        (status = 200, body = AdminUserDetailAnswer),
        (status = 404, description = "`not_found`: no such user"),
    ),
))]
pub(crate) async fn read_user(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<AdminUserDetailAnswer>, Error> {
    let detail = admin::user_detail(&ctx, user.claims(), id, &client).await?;
    let sessions = detail
        .sessions
        .iter()
        .map(|s| SessionView::new(s, false))
        .collect();
    #[cfg(feature = "passkeys")]
    let passkeys = detail.passkeys.iter().map(PasskeyView::new).collect();
    #[cfg(not(feature = "passkeys"))]
    let passkeys = Vec::new();
    let accounts = detail.accounts.iter().map(AccountView::new).collect();
    let memberships = detail
        .memberships
        .iter()
        .map(|(m, org)| AdminMembership {
            org_id: m.org_id,
            name: org.name.clone(),
            role: m.role.clone(),
        })
        .collect();
    Ok(Json(AdminUserDetailAnswer {
        ok: True,
        user: AdminUserView::with_private_metadata(&detail.user, detail.has_password),
        sessions,
        passkeys,
        accounts,
        memberships,
        api_keys: detail.api_keys.iter().map(ApiKeyView::new).collect(),
        mfa: AdminMfa {
            totp: detail.mfa.totp,
            recovery_codes_left: detail.mfa.recovery_codes_left,
            passkey_as_second_factor: detail.mfa.passkey_as_second_factor,
        },
    }))
}

/// Body of `PATCH /users/{id}`: each field absent leaves it unchanged.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AdminUpdateUser))]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    /// At most 200 characters, no control characters; `null` clears it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    name: Patch<String>,
    /// Replaces the user-editable JSON object (at most 16 KiB).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    metadata: Option<Value>,
    /// Replaces the JSON object only admins and host code see (at most 16 KiB).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    private_metadata: Option<Value>,
    /// Marks the address verified or not (needs a fresh session).
    #[serde(default)]
    email_verified: Option<bool>,
    /// `user` or `admin` (needs a fresh session).
    #[serde(default)]
    role: Option<String>,
}

/// `PATCH /users/{id}`: `name`, `metadata`, `private_metadata`, `email_verified`, `role`
/// (a role or verification change needs a fresh session).
#[cfg_attr(feature = "openapi", utoipa::path(
    patch, path = "/users/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "The user")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The user as changed, with `private_metadata`", body = AdminUserAnswer),
        (status = 400, description = "`invalid_request`: a `role` other than `user` or `admin`, a `name` over 200 characters or with control characters, or `metadata` or `private_metadata` that is not a JSON object or is over 16 KiB"),
        (status = 403, description = "`reauthentication_required`: changing `role` or `email_verified` needs a recent sign-in"),
        (status = 404, description = "`not_found`: no such user"),
        (status = 409, description = "`conflict`: an admin cannot give up their own admin role (another admin can)"),
    ),
))]
pub(crate) async fn update_user(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateBody>,
) -> Result<Json<AdminUserAnswer>, Error> {
    let (updated, has_password) = admin::update_user(
        &ctx,
        user.claims(),
        id,
        Change {
            name: body.name.into_change(),
            metadata: body.metadata,
            private_metadata: body.private_metadata,
            email_verified: body.email_verified,
            role: body.role,
        },
        &client,
    )
    .await?;
    Ok(Json(AdminUserAnswer {
        ok: True,
        user: AdminUserView::with_private_metadata(&updated, has_password),
    }))
}

/// `DELETE /users/{id}` (fresh session).
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/users/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "The user")),
    responses(
        (status = 200, description = "Deleted: every session and API key cut off, the user's rows gone (an audit row stays)", body = Done),
        (status = 403, description = "`reauthentication_required`: this needs a recent sign-in"),
        (status = 404, description = "`not_found`: no such user"),
        (status = 409, description = "`conflict`: the user is the last owner of an organization with other members, or is the caller (an admin cannot delete their own account here)"),
    ),
))]
pub(crate) async fn delete_user(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<Done>, Error> {
    admin::delete_user(&ctx, user.claims(), id, &client).await?;
    Ok(done())
}

/// `POST /users/{id}/disable` (fresh session): every session is revoked.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/users/{id}/disable", tag = "admin",
    params(("id" = Uuid, Path, description = "The user")),
    responses(
        (status = 200, description = "Disabled: every session and API key of the user revoked", body = Done),
        (status = 403, description = "`reauthentication_required`: this needs a recent sign-in"),
        (status = 404, description = "`not_found`: no such user"),
        (status = 409, description = "`conflict`: an admin cannot disable their own account (another admin can)"),
    ),
))]
pub(crate) async fn disable(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<Done>, Error> {
    admin::set_disabled(&ctx, user.claims(), id, true, &client).await?;
    Ok(done())
}

/// `POST /users/{id}/enable`.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/users/{id}/enable", tag = "admin",
    params(("id" = Uuid, Path, description = "The user")),
    responses(
        (status = 200, description = "Enabled (the old sessions stay revoked)", body = Done),
        (status = 404, description = "`not_found`: no such user"),
    ),
))]
pub(crate) async fn enable(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<Done>, Error> {
    admin::set_disabled(&ctx, user.claims(), id, false, &client).await?;
    Ok(done())
}

/// `DELETE /users/{id}/api-keys` (fresh session): `{ ok, revoked }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/users/{id}/api-keys", tag = "admin",
    params(("id" = Uuid, Path, description = "The user")),
    responses(
        (status = 200, description = "Every API key of the user revoked: at once here, within the revocation interval everywhere", body = RevokedAnswer),
        (status = 403, description = "`reauthentication_required`: this needs a recent sign-in"),
        (status = 404, description = "`not_found`: no such user"),
    ),
))]
pub(crate) async fn revoke_user_api_keys(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<RevokedAnswer>, Error> {
    let revoked = admin::revoke_api_keys_of(&ctx, user.claims(), id, &client).await?;
    Ok(Json(RevokedAnswer { ok: True, revoked }))
}

/// `GET /users/{id}/sessions`: `{ ok, sessions }`, newest first (`current` is always
/// `false`).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/users/{id}/sessions", tag = "admin",
    params(("id" = Uuid, Path, description = "The user")),
    responses(
        (status = 200, body = SessionsAnswer),
        (status = 404, description = "`not_found`: no such user"),
    ),
))]
pub(crate) async fn user_sessions(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<SessionsAnswer>, Error> {
    let sessions = admin::sessions_of(&ctx, user.claims(), id).await?;
    Ok(Json(SessionsAnswer {
        ok: True,
        sessions: sessions
            .iter()
            .map(|s| SessionView::new(s, false))
            .collect(),
    }))
}

/// `DELETE /users/{id}/sessions` (fresh session): `{ ok, revoked }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/users/{id}/sessions", tag = "admin",
    params(("id" = Uuid, Path, description = "The user")),
    responses(
        (status = 200, description = "Every session of the user revoked", body = RevokedAnswer),
        (status = 403, description = "`reauthentication_required`: this needs a recent sign-in"),
        (status = 404, description = "`not_found`: no such user"),
    ),
))]
pub(crate) async fn revoke_user_sessions(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<RevokedAnswer>, Error> {
    let revoked = admin::revoke_sessions_of(&ctx, user.claims(), id, &client).await?;
    Ok(Json(RevokedAnswer { ok: True, revoked }))
}

/// Body of `POST /users/{id}/impersonate`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ImpersonateBody {
    /// Why (1 to 500 characters, no control characters): audited on both users.
    reason: String,
}

/// `POST /users/{id}/impersonate` `{ reason }` (fresh session): `{ ok, user, session,
/// access_token, token_type, expires_in }` and the `__session` cookie: an hour at most, no
/// refresh token, the token's `act` naming the admin.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/users/{id}/impersonate", tag = "admin",
    params(("id" = Uuid, Path, description = "The user to act as")),
    request_body = ImpersonateBody,
    responses(
        (status = 200, description = "An access token for a new session of that user: an hour at most, no refresh token, its `act` naming the admin", body = super::views::AccessTokenBody, headers(("Set-Cookie" = String, description = "`__session` (unless the host delivers tokens in the body only)"))),
        (status = 400, description = "`invalid_request`: a `reason` that is empty, over 500 characters or has control characters"),
        (status = 403, description = "`forbidden`: the user is an administrator (never impersonated); `reauthentication_required`: this needs a recent sign-in; `user_disabled`: the user is disabled"),
        (status = 404, description = "`not_found`: no such user"),
    ),
))]
pub(crate) async fn impersonate(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
    Json(body): Json<ImpersonateBody>,
) -> Result<Response, Error> {
    let (token, target, has_password) =
        admin::impersonate(&ctx, user.claims(), id, &body.reason, &client).await?;
    Ok(access_token_response(
        &ctx.config,
        &token,
        Some(UserView::new(&target, has_password)),
    ))
}

/// Query of `GET /audit`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    /// Only events of this user.
    #[serde(default)]
    user_id: Option<Uuid>,
    /// Only events of this kind (at most 64 characters).
    #[serde(default)]
    kind: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(format = DateTime))]
    since: Option<String>,
    /// Only events before this instant (RFC 3339).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(format = DateTime))]
    until: Option<String>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<Uuid>,
    /// 1 to 100 (50 when absent).
    #[serde(default)]
    limit: Option<u64>,
}

fn instant(name: &str, text: Option<String>) -> Result<Option<OffsetDateTime>, Error> {
    text.map(|text| {
        OffsetDateTime::parse(&text, &Rfc3339)
            .map_err(|_| Error::invalid_request(format!("{name}: an RFC 3339 timestamp")))
    })
    .transpose()
}

/// `{ ok, events, next_cursor }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AuditEventsAnswer {
    ok: True,
    /// Newest first.
    events: Vec<AuditEventView>,
    /// The `cursor` of the next page; `null` on the last.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    next_cursor: Option<Uuid>,
}

/// `GET /audit?user_id=&kind=&since=&until=&cursor=&limit=`: `{ ok, events, next_cursor }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/audit", tag = "admin",
    params(AuditParams),
    responses(
        (status = 200, body = AuditEventsAnswer),
        (status = 400, description = "`invalid_request`: `kind` over 64 characters, `since` or `until` not an RFC 3339 timestamp, `limit` outside 1 to 100, or malformed query parameters (a `user_id` or `cursor` that is not a UUID, an unknown parameter)"),
    ),
))]
pub(crate) async fn audit(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditEventsAnswer>, Error> {
    if params.kind.as_ref().is_some_and(|kind| kind.len() > 64) {
        return Err(Error::invalid_request("kind: at most 64 characters"));
    }
    let page = admin::audit_trail(
        &ctx,
        user.claims(),
        AuditFilter {
            user_id: params.user_id,
            kind: params.kind,
            since: instant("since", params.since)?,
            until: instant("until", params.until)?,
            before: params.cursor,
            limit: page_size(params.limit)?,
        },
    )
    .await?;
    Ok(Json(AuditEventsAnswer {
        ok: True,
        events: page.rows.iter().map(AuditEventView::new).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `GET /me/activity?cursor=&limit=` (core router): the caller's own audit trail.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/me/activity", tag = "account",
    params(ActivityQuery),
    responses(
        (status = 200, description = "The caller's own audit trail (sign-ins, changes, any impersonation of them), newest first; an admin's action shows who (`actor_id`) but not their `ip` or `user_agent`", body = AuditEventsAnswer),
        (status = 400, description = "`invalid_request`: `limit` outside 1 to 100, or malformed query parameters (a `cursor` that is not a UUID, an unknown parameter)"),
    ),
))]
pub(crate) async fn activity(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Query(params): Query<ActivityQuery>,
) -> Result<Json<AuditEventsAnswer>, Error> {
    let page = admin::activity(&ctx, user.id(), params.cursor, page_size(params.limit)?).await?;
    let events = page
        .rows
        .iter()
        .map(|event| {
            let mut view = AuditEventView::new(event);
            // An admin's action on the user: who, but not where the admin sat.
            if event.actor_id.is_some() {
                view.ip = None;
                view.user_agent = None;
            }
            view
        })
        .collect();
    Ok(Json(AuditEventsAnswer {
        ok: True,
        events,
        next_cursor: page.next_cursor,
    }))
}

/// Query of `GET /me/activity`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivityQuery {
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<Uuid>,
    /// 1 to 100 (50 when absent).
    #[serde(default)]
    limit: Option<u64>,
}
