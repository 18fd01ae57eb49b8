//! The organizations router, nested by the host at `/v1/orgs`.
//!
//! | Method | Path | Who |
//! |---|---|---|
//! | `GET` | `/` | the caller's organizations |
//! | `POST` | `/` | anyone signed in; becomes owner |
//! | `GET` / `PATCH` / `DELETE` | `/{id}` | member (`org:read`) / `org:update` / `org:delete` |
//! | `GET` | `/{id}/members` | `members:read` |
//! | `PATCH` / `DELETE` | `/{id}/members/{user_id}` | `members:manage` (or oneself, to leave) |
//! | `POST` / `GET` | `/{id}/invitations` | `invitations:manage` |
//! | `DELETE` | `/{id}/invitations/{invitation_id}` | `invitations:manage` |
//! | `POST` | `/invitations/accept` | the invited address (signed in, or signed out: a sign-in) |
//! | `PATCH` | `/current` | member of the org named |
//!
//! Non-members get 404 for every route of an organization.

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    middleware,
    response::{IntoResponse, Response},
    routing::{delete, get, patch, post},
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    input::{Json, Path},
    views::{GrantResponse, access_token_response, grant_with, ok, rfc3339},
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
    context::Context,
    entity::{invitation, membership, organization},
    flows::orgs::{self, Accepted},
};

pub(crate) fn router<S>(ctx: Arc<Context>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let body_limit = ctx.config.requests.body_limit;
    Router::new()
        .route("/", get(list).post(create))
        .route("/current", patch(switch))
        .route("/invitations/accept", post(accept))
        .route("/{id}", get(read).patch(update).delete(remove_org))
        .route("/{id}/members", get(members))
        .route(
            "/{id}/members/{user_id}",
            patch(change_role).delete(remove_member),
        )
        .route("/{id}/invitations", post(invite).get(invitations))
        .route(
            "/{id}/invitations/{invitation_id}",
            delete(revoke_invitation),
        )
        .route(
            "/{id}/api-keys",
            get(super::api_keys::list_org).post(super::api_keys::create_org),
        )
        .route(
            "/{id}/api-keys/{key_id}",
            delete(super::api_keys::revoke_org),
        )
        .fallback(super::not_found)
        .layer(middleware::from_fn(super::api_keys_in_orgs))
        .layer(middleware::from_fn_with_state(
            ctx.clone(),
            super::client_keys,
        ))
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            ctx.clone(),
            super::fail_fast,
        ))
        .layer(middleware::map_response(super::security_headers))
        .with_state(ctx)
}

fn org_view(org: &organization::Model, role: Option<&str>) -> Value {
    json!({
        "id": org.id,
        "name": org.name,
        "slug": org.slug,
        "metadata": serde_json::from_str::<Value>(&org.metadata).unwrap_or_else(|_| json!({})),
        "require_mfa": org.require_mfa,
        "role": role,
        "created_at": rfc3339(org.created_at),
        "updated_at": rfc3339(org.updated_at),
    })
}

fn membership_view(membership: &membership::Model) -> Value {
    json!({ "org_id": membership.org_id, "user_id": membership.user_id, "role": membership.role })
}

fn invitation_view(invitation: &invitation::Model, now: time::OffsetDateTime) -> Value {
    let status = if invitation.accepted_at.is_some() {
        "accepted"
    } else if invitation.revoked_at.is_some() {
        "revoked"
    } else if invitation.expires_at <= now {
        "expired"
    } else {
        "pending"
    };
    json!({
        "id": invitation.id,
        "org_id": invitation.org_id,
        "email": invitation.email,
        "role": invitation.role,
        "status": status,
        "created_at": rfc3339(invitation.created_at),
        "expires_at": rfc3339(invitation.expires_at),
    })
}

/// `GET /v1/orgs`: the caller's organizations with their role in each.
pub(crate) async fn list(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    // A scoped key lists organizations only with `org:read`.
    if !user.has_scope(crate::policy::roles::ORG_READ) {
        return Err(Error::forbidden("this API key is not allowed org:read"));
    }
    let memberships = orgs::list(&ctx, user.id()).await?;
    let orgs: Vec<Value> = memberships
        .iter()
        .map(|(membership, org)| json!({ "id": org.id, "name": org.name, "slug": org.slug, "role": membership.role }))
        .collect();
    Ok(ok(json!({ "orgs": orgs })).into_response())
}

/// Body of `POST /v1/orgs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    name: String,
    #[serde(default)]
    slug: Option<String>,
}

/// `POST /v1/orgs`: create an organization; the caller becomes its owner (201).
pub(crate) async fn create(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<CreateBody>,
) -> Result<Response, Error> {
    let (org, membership) =
        orgs::create(&ctx, user.id(), &body.name, body.slug.as_deref(), &client).await?;
    Ok((
        StatusCode::CREATED,
        ok(json!({ "org": org_view(&org, Some(&membership.role)) })),
    )
        .into_response())
}

/// `GET /v1/orgs/{id}`: read an organization (members).
pub(crate) async fn read(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    let (org, membership) = orgs::read(&ctx, user.claims(), id).await?;
    Ok(ok(json!({ "org": org_view(&org, Some(&membership.role)) })).into_response())
}

/// Body of `PATCH /v1/orgs/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    require_mfa: Option<bool>,
}

/// `PATCH /v1/orgs/{id}`: rename (`org:update`); `require_mfa` (owners, fresh session,
/// and to turn it on a session that passed a second factor).
pub(crate) async fn update(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateBody>,
) -> Result<Response, Error> {
    let change = orgs::Update {
        name: body.name,
        slug: body.slug,
        metadata: body.metadata,
        require_mfa: body.require_mfa,
    };
    let (org, role) = orgs::update(&ctx, user.claims(), id, change, &client).await?;
    Ok(ok(json!({ "org": org_view(&org, role.as_deref()) })).into_response())
}

/// `DELETE /v1/orgs/{id}`: delete (`org:delete`, owners).
pub(crate) async fn remove_org(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    orgs::delete(&ctx, user.claims(), id, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// `GET /v1/orgs/{id}/members`: members with their roles (`members:read`).
pub(crate) async fn members(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    let members: Vec<Value> = orgs::members(&ctx, user.claims(), id)
        .await?
        .iter()
        .map(|(membership, member)| {
            json!({
                "user_id": member.id,
                "email": member.email,
                "name": member.name,
                "role": membership.role,
                "joined_at": rfc3339(membership.created_at),
            })
        })
        .collect();
    Ok(ok(json!({ "members": members })).into_response())
}

/// Body of `PATCH /v1/orgs/{id}/members/{user_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleBody {
    role: String,
}

/// `PATCH /v1/orgs/{id}/members/{user_id}`: change a role (`members:manage`).
pub(crate) async fn change_role(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path((id, target)): Path<(Uuid, Uuid)>,
    Json(body): Json<RoleBody>,
) -> Result<Response, Error> {
    let membership =
        orgs::change_role(&ctx, user.claims(), id, target, &body.role, &client).await?;
    Ok(ok(json!({ "member": membership_view(&membership) })).into_response())
}

/// `DELETE /v1/orgs/{id}/members/{user_id}`: remove a member, or leave.
pub(crate) async fn remove_member(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path((id, target)): Path<(Uuid, Uuid)>,
) -> Result<Response, Error> {
    orgs::remove(&ctx, user.claims(), id, target, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// Body of `POST /v1/orgs/{id}/invitations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteBody {
    email: String,
    role: String,
}

/// `POST /v1/orgs/{id}/invitations`: email a one-time invitation (7 days), 201.
pub(crate) async fn invite(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
    Json(body): Json<InviteBody>,
) -> Result<Response, Error> {
    let invitation =
        orgs::invite(&ctx, user.claims(), id, &body.email, &body.role, &client).await?;
    Ok((
        StatusCode::CREATED,
        ok(json!({ "invitation": invitation_view(&invitation, ctx.now()) })),
    )
        .into_response())
}

/// `GET /v1/orgs/{id}/invitations`: pending invitations (`invitations:manage`).
pub(crate) async fn invitations(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    let pending = orgs::invitations(&ctx, user.claims(), id).await?;
    let now = ctx.now();
    let views: Vec<Value> = pending.iter().map(|i| invitation_view(i, now)).collect();
    Ok(ok(json!({ "invitations": views })).into_response())
}

/// `DELETE /v1/orgs/{id}/invitations/{invitation_id}`: revoke (`invitations:manage`).
pub(crate) async fn revoke_invitation(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path((id, invitation_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, Error> {
    orgs::revoke_invitation(&ctx, user.claims(), id, invitation_id, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// Body of `POST /v1/orgs/invitations/accept`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptBody {
    token: String,
}

impl std::fmt::Debug for AcceptBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptBody([redacted])")
    }
}

/// `POST /v1/orgs/invitations/accept`: join. Signed in, the verified email must be the
/// invited one (`{ ok, membership }`); signed out, it signs the invited address in (a
/// session grant with `membership`).
pub(crate) async fn accept(
    State(ctx): State<Arc<Context>>,
    user: Option<CurrentUser>,
    client: ClientInfo,
    Json(body): Json<AcceptBody>,
) -> Result<Response, Error> {
    match orgs::accept(
        &ctx,
        &body.token,
        user.as_ref().map(CurrentUser::claims),
        &client,
    )
    .await?
    {
        Accepted::Joined(membership) => {
            Ok(ok(json!({ "membership": membership_view(&membership) })).into_response())
        }
        Accepted::SignedIn(grant, membership) => Ok(grant_with(
            GrantResponse {
                grant: *grant,
                status: StatusCode::OK,
                config: &ctx.config,
            },
            json!({ "membership": membership_view(&membership) }),
        )),
    }
}

/// Body of `PATCH /v1/orgs/current`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchBody {
    org_id: Option<Uuid>,
}

/// `PATCH /v1/orgs/current`: act in `org_id` (or in none). Answers a new access token
/// carrying `org_id` and `org_role` (and sets the `__session` cookie); the refresh token is
/// untouched, since an access token alone never yields a longer-lived credential.
pub(crate) async fn switch(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<SwitchBody>,
) -> Result<Response, Error> {
    let switched =
        crate::flows::sessions::switch_org(&ctx, user.claims(), body.org_id, &client).await?;
    Ok(access_token_response(
        &ctx.config,
        &switched,
        serde_json::Value::Null,
    ))
}
