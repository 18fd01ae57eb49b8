//! The admin router (`/v1/admin`): users, their sessions, impersonation, the audit trail.
//! Every handler goes through [`flows::admin`](crate::flows::admin), which re-reads the
//! caller's role.

use std::{fmt, sync::Arc};

use axum::{
    Router,
    extract::State,
    response::{IntoResponse as _, Response},
    routing::{get, post},
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use super::{
    input::{Json, Patch, Path, Query},
    views::{SessionView, UserView, access_token_response, ok, rfc3339},
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
/// `last_sign_in_at` (and, in a user's detail, `private_metadata`).
fn admin_user(user: &user::Model, has_password: bool) -> Value {
    let mut view = serde_json::to_value(UserView::new(user, has_password)).unwrap_or_default();
    view["role"] = json!(user.role);
    view["disabled"] = json!(user.disabled_at.is_some());
    view["last_sign_in_at"] = json!(user.last_sign_in_at.map(rfc3339));
    view
}

fn event_view(event: &audit_event::Model) -> Value {
    json!({
        "id": event.id,
        "kind": event.kind,
        "user_id": event.user_id,
        "actor_id": event.actor_id,
        "session_id": event.session_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": serde_json::from_str::<Value>(&event.detail).unwrap_or_else(|_| json!({})),
        "created_at": rfc3339(event.occurred_at),
    })
}

/// Query of `GET /users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    verified: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    cursor: Option<Uuid>,
    #[serde(default)]
    limit: Option<u64>,
}

/// `GET /users?query=&verified=&disabled=&cursor=&limit=`: `{ ok, users, next_cursor }`.
pub(crate) async fn list_users(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, Error> {
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
    let users: Vec<Value> = page
        .rows
        .iter()
        .map(|(user, has_password)| admin_user(user, *has_password))
        .collect();
    Ok(ok(json!({ "users": users, "next_cursor": page.next_cursor })).into_response())
}

/// Body of `POST /users`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    email: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    email_verified: bool,
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

/// `POST /users`: 201 `{ ok, user }`.
pub(crate) async fn create_user(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<CreateBody>,
) -> Result<Response, Error> {
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
        ok(json!({ "user": admin_user(&created, has_password) })),
    )
        .into_response())
}

/// `GET /users/{id}`: the user with sessions, passkeys, linked accounts, memberships,
/// second factors and private metadata.
pub(crate) async fn read_user(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    let detail = admin::user_detail(&ctx, user.claims(), id, &client).await?;
    let mut view = admin_user(&detail.user, detail.has_password);
    view["private_metadata"] = private_metadata_of(&detail.user);
    let sessions: Vec<SessionView> = detail
        .sessions
        .iter()
        .map(|s| SessionView::new(s, false))
        .collect();
    #[cfg(feature = "passkeys")]
    let passkeys: Vec<Value> = detail
        .passkeys
        .iter()
        .map(|p| json!({ "id": p.id, "name": p.name, "created_at": rfc3339(p.created_at), "last_used_at": p.last_used_at.map(rfc3339) }))
        .collect();
    #[cfg(not(feature = "passkeys"))]
    let passkeys: Vec<Value> = Vec::new();
    let accounts: Vec<Value> = detail
        .accounts
        .iter()
        .map(|a| json!({ "id": a.id, "provider": a.provider, "email": a.email, "created_at": rfc3339(a.created_at), "last_used_at": a.last_used_at.map(rfc3339) }))
        .collect();
    let memberships: Vec<Value> = detail
        .memberships
        .iter()
        .map(|(m, org)| json!({ "org_id": m.org_id, "name": org.name, "role": m.role }))
        .collect();
    Ok(ok(json!({
        "user": view,
        "sessions": sessions,
        "passkeys": passkeys,
        "accounts": accounts,
        "memberships": memberships,
        "api_keys": detail.api_keys.iter().map(super::api_keys::key_view).collect::<Vec<_>>(),
        "mfa": {
            "totp": detail.mfa.totp,
            "recovery_codes_left": detail.mfa.recovery_codes_left,
            "passkey_as_second_factor": detail.mfa.passkey_as_second_factor,
        },
    }))
    .into_response())
}

/// Body of `PATCH /users/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    private_metadata: Option<Value>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    role: Option<String>,
}

/// `PATCH /users/{id}`: `name`, `metadata`, `private_metadata`, `email_verified`, `role`
/// (a role change needs a fresh session).
pub(crate) async fn update_user(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateBody>,
) -> Result<Response, Error> {
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
    let mut view = admin_user(&updated, has_password);
    view["private_metadata"] = private_metadata_of(&updated);
    Ok(ok(json!({ "user": view })).into_response())
}

/// `DELETE /users/{id}` (fresh session).
pub(crate) async fn delete_user(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    admin::delete_user(&ctx, user.claims(), id, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// `POST /users/{id}/disable` (fresh session): every session is revoked.
pub(crate) async fn disable(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    admin::set_disabled(&ctx, user.claims(), id, true, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// `POST /users/{id}/enable`.
pub(crate) async fn enable(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    admin::set_disabled(&ctx, user.claims(), id, false, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// `DELETE /users/{id}/api-keys` (fresh session): `{ ok, revoked }`.
pub(crate) async fn revoke_user_api_keys(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    let revoked = admin::revoke_api_keys_of(&ctx, user.claims(), id, &client).await?;
    Ok(ok(json!({ "revoked": revoked })).into_response())
}

/// `GET /users/{id}/sessions`: `{ ok, sessions }`.
pub(crate) async fn user_sessions(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    let sessions = admin::sessions_of(&ctx, user.claims(), id).await?;
    let views: Vec<SessionView> = sessions
        .iter()
        .map(|s| SessionView::new(s, false))
        .collect();
    Ok(ok(json!({ "sessions": views })).into_response())
}

/// `DELETE /users/{id}/sessions` (fresh session): `{ ok, revoked }`.
pub(crate) async fn revoke_user_sessions(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    let revoked = admin::revoke_sessions_of(&ctx, user.claims(), id, &client).await?;
    Ok(ok(json!({ "revoked": revoked })).into_response())
}

/// Body of `POST /users/{id}/impersonate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImpersonateBody {
    reason: String,
}

/// `POST /users/{id}/impersonate` `{ reason }` (fresh session): `{ ok, user, session,
/// access_token, token_type, expires_in }` and the `__session` cookie: an hour at most, no
/// refresh token, the token's `act` naming the admin.
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
        json!({ "user": UserView::new(&target, has_password) }),
    ))
}

/// Query of `GET /audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    #[serde(default)]
    user_id: Option<Uuid>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    cursor: Option<Uuid>,
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

/// `GET /audit?user_id=&kind=&since=&until=&cursor=&limit=`: `{ ok, events, next_cursor }`.
pub(crate) async fn audit(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Query(params): Query<AuditParams>,
) -> Result<Response, Error> {
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
    let events: Vec<Value> = page.rows.iter().map(event_view).collect();
    Ok(ok(json!({ "events": events, "next_cursor": page.next_cursor })).into_response())
}

/// `GET /me/activity?cursor=&limit=` (core router): the caller's own audit trail.
pub(crate) async fn activity(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Query(params): Query<ActivityQuery>,
) -> Result<Response, Error> {
    let page = admin::activity(&ctx, user.id(), params.cursor, page_size(params.limit)?).await?;
    let events: Vec<Value> = page
        .rows
        .iter()
        .map(|event| {
            let mut view = event_view(event);
            // An admin's action on the user: who, but not where the admin sat.
            if event.actor_id.is_some() {
                view["ip"] = Value::Null;
                view["user_agent"] = Value::Null;
            }
            view
        })
        .collect();
    Ok(ok(json!({ "events": events, "next_cursor": page.next_cursor })).into_response())
}

/// Query of `GET /me/activity`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivityQuery {
    #[serde(default)]
    cursor: Option<Uuid>,
    #[serde(default)]
    limit: Option<u64>,
}
