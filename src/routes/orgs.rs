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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{
    input::{Json, Path},
    views::{
        Done, GrantResponse, MembershipView, True, access_token_response, grant_with, rfc3339,
    },
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
    context::Context,
    entity::{invitation, organization},
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

/// An organization the caller belongs to, as `GET /v1/orgs` lists it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct OrgSummary {
    id: Uuid,
    name: String,
    slug: String,
    /// The caller's role in it.
    role: String,
}

/// `{ ok, orgs }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct OrgsAnswer {
    ok: True,
    /// Oldest membership first.
    orgs: Vec<OrgSummary>,
}

/// `GET /v1/orgs`: the caller's organizations with their role in each.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, body = OrgsAnswer),
        (status = 403, description = "`forbidden`: an API key without `org:read`"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn list(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<OrgsAnswer>, Error> {
    // A scoped key lists organizations only with `org:read`.
    if !user.has_scope(crate::policy::roles::ORG_READ) {
        return Err(Error::forbidden("this API key is not allowed org:read"));
    }
    let memberships = orgs::list(&ctx, user.id()).await?;
    let orgs = memberships
        .iter()
        .map(|(membership, org)| OrgSummary {
            id: org.id,
            name: org.name.clone(),
            slug: org.slug.clone(),
            role: membership.role.clone(),
        })
        .collect();
    Ok(Json(OrgsAnswer { ok: True, orgs }))
}

/// Body of `POST /v1/orgs`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CreateOrg))]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    /// 1 to 100 characters, no control characters.
    name: String,
    /// 2 to 64 of `a-z`, `0-9` and `-`, no dash at either end; derived from the name when
    /// absent.
    #[serde(default)]
    slug: Option<String>,
}

/// The contract's Organization object, with the caller's role in it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Organization))]
pub(crate) struct OrgView {
    id: Uuid,
    name: String,
    slug: String,
    /// The host's own JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    metadata: Value,
    /// Whether members need a session that passed a second factor.
    require_mfa: bool,
    /// The caller's role (null once the caller is no longer a member).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    role: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    updated_at: String,
}

impl OrgView {
    fn new(org: &organization::Model, role: Option<&str>) -> Self {
        Self {
            id: org.id,
            name: org.name.clone(),
            slug: org.slug.clone(),
            metadata: serde_json::from_str(&org.metadata)
                .unwrap_or_else(|_| Value::Object(serde_json::Map::new())),
            require_mfa: org.require_mfa,
            role: role.map(str::to_owned),
            created_at: rfc3339(org.created_at),
            updated_at: rfc3339(org.updated_at),
        }
    }
}

/// `{ ok, org }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct OrgAnswer {
    ok: True,
    org: OrgView,
}

/// `POST /v1/orgs`: create an organization; the caller becomes its owner (201).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created; the caller is its `owner`", body = OrgAnswer),
        (status = 400, description = "`invalid_request`: a name or slug out of its rules"),
        (status = 403, description = "`forbidden`: an organization API key or a user API key \
            with scopes (only an unscoped user key may create one), or a cookie-authenticated \
            request without a valid `X-CSRF-Token` or allowed `Origin`"),
        (status = 409, description = "`conflict`: the slug is taken"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn create(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<OrgAnswer>), Error> {
    let (org, membership) =
        orgs::create(&ctx, user.id(), &body.name, body.slug.as_deref(), &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrgAnswer {
            ok: True,
            org: OrgView::new(&org, Some(&membership.role)),
        }),
    ))
}

/// `GET /v1/orgs/{id}`: read an organization (members).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/{id}", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "The organization")),
    responses(
        (status = 200, body = OrgAnswer),
        (status = 403, description = "`forbidden`: the caller's role lacks `org:read` (or is not \
            defined here), or an API key without that scope; `mfa_required`: the organization \
            requires a second factor this session has not passed"),
        (status = 404, description = "`not_found`: no such organization, the caller is not a \
            member, or an organization API key of another one"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn read(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<OrgAnswer>, Error> {
    let (org, membership) = orgs::read(&ctx, user.claims(), id).await?;
    Ok(Json(OrgAnswer {
        ok: True,
        org: OrgView::new(&org, Some(&membership.role)),
    }))
}

/// Body of `PATCH /v1/orgs/{id}`: each field absent (unchanged) or a new value.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = UpdateOrg))]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    /// 1 to 100 characters, no control characters.
    #[serde(default)]
    name: Option<String>,
    /// 2 to 64 of `a-z`, `0-9` and `-`, no dash at either end.
    #[serde(default)]
    slug: Option<String>,
    /// A JSON object of the host's own (at most 16 KiB).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    metadata: Option<Value>,
    /// Whether members need a second factor: owners only, from a fresh session (and, to turn
    /// it on, one that passed a second factor).
    #[serde(default)]
    require_mfa: Option<bool>,
}

/// `PATCH /v1/orgs/{id}`: rename (`org:update`); `require_mfa` (owners, fresh session,
/// and to turn it on a session that passed a second factor).
#[cfg_attr(feature = "openapi", utoipa::path(
    patch, path = "/{id}", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "The organization")),
    request_body = UpdateBody,
    responses(
        (status = 200, body = OrgAnswer),
        (status = 400, description = "`invalid_request`: a name or slug out of its rules, or \
            metadata that is not a JSON object or is over 16 KiB"),
        (status = 403, description = "`forbidden`: the caller's role lacks `org:update` (or is \
            not defined here), an API key without that scope, `require_mfa` from anyone but \
            an owner, or a cookie-authenticated request without a valid `X-CSRF-Token` or \
            allowed `Origin`; `reauthentication_required`: `require_mfa` from a session that \
            is not fresh; `mfa_required`: the organization requires a second factor this \
            session has not passed, or `require_mfa: true` from such a session"),
        (status = 404, description = "`not_found`: no such organization, the caller is not a \
            member, or an organization API key of another one"),
        (status = 409, description = "`conflict`: the slug is taken"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn update(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateBody>,
) -> Result<Json<OrgAnswer>, Error> {
    let change = orgs::Update {
        name: body.name,
        slug: body.slug,
        metadata: body.metadata,
        require_mfa: body.require_mfa,
    };
    let (org, role) = orgs::update(&ctx, user.claims(), id, change, &client).await?;
    Ok(Json(OrgAnswer {
        ok: True,
        org: OrgView::new(&org, role.as_deref()),
    }))
}

/// `DELETE /v1/orgs/{id}`: delete (`org:delete`, owners).
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/{id}", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "The organization")),
    responses(
        (status = 200, description = "Deleted, with its API keys", body = Done),
        (status = 403, description = "`forbidden`: the caller's role lacks `org:delete` (or is \
            not defined here), an API key without that scope, or a cookie-authenticated \
            request without a valid `X-CSRF-Token` or allowed `Origin`; \
            `reauthentication_required`: the session is not fresh; `mfa_required`: the \
            organization requires a second factor this session has not passed"),
        (status = 404, description = "`not_found`: no such organization, the caller is not a \
            member, or an organization API key of another one"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn remove_org(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<Done>, Error> {
    orgs::delete(&ctx, user.claims(), id, &client).await?;
    Ok(Json(Done { ok: True }))
}

/// A member of an organization, with their account.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MemberView {
    user_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    email: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    name: Option<String>,
    role: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    joined_at: String,
}

/// `{ ok, members }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MembersAnswer {
    ok: True,
    /// Oldest first.
    members: Vec<MemberView>,
}

/// `GET /v1/orgs/{id}/members`: members with their roles (`members:read`).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/{id}/members", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "The organization")),
    responses(
        (status = 200, body = MembersAnswer),
        (status = 403, description = "`forbidden`: the caller's role lacks `members:read` (or \
            is not defined here), or an API key without that scope; `mfa_required`: the \
            organization requires a second factor this session has not passed"),
        (status = 404, description = "`not_found`: no such organization, the caller is not a \
            member, or an organization API key of another one"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn members(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<MembersAnswer>, Error> {
    let members = orgs::members(&ctx, user.claims(), id)
        .await?
        .iter()
        .map(|(membership, member)| MemberView {
            user_id: member.id,
            email: member.email.clone(),
            name: member.name.clone(),
            role: membership.role.clone(),
            joined_at: rfc3339(membership.created_at),
        })
        .collect();
    Ok(Json(MembersAnswer { ok: True, members }))
}

/// Body of `PATCH /v1/orgs/{id}/members/{user_id}`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleBody {
    /// A role this deployment defines (`owner`, `admin`, `member`, or the host's own).
    role: String,
}

/// `{ ok, member }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MemberAnswer {
    ok: True,
    /// The membership with its new role.
    member: MembershipView,
}

/// `PATCH /v1/orgs/{id}/members/{user_id}`: change a role (`members:manage`).
#[cfg_attr(feature = "openapi", utoipa::path(
    patch, path = "/{id}/members/{user_id}", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(
        ("id" = Uuid, Path, description = "The organization"),
        ("user_id" = Uuid, Path, description = "The member"),
    ),
    request_body = RoleBody,
    responses(
        (status = 200, body = MemberAnswer),
        (status = 400, description = "`invalid_request`: an unknown role"),
        (status = 403, description = "`forbidden`: the caller's role lacks `members:manage` (or \
            is not defined here), an API key without that scope, the caller's own role, a \
            role or a member ranked above the caller's, or a cookie-authenticated request \
            without a valid `X-CSRF-Token` or allowed `Origin`; `reauthentication_required`: \
            making someone an owner or demoting an owner from a session that is not fresh; \
            `mfa_required`: the organization requires a second factor this session has not \
            passed"),
        (status = 404, description = "`not_found`: no such organization, the caller or the \
            target is not a member, or an organization API key of another one"),
        (status = 409, description = "`conflict`: the last owner cannot be demoted"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn change_role(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path((id, target)): Path<(Uuid, Uuid)>,
    Json(body): Json<RoleBody>,
) -> Result<Json<MemberAnswer>, Error> {
    let membership =
        orgs::change_role(&ctx, user.claims(), id, target, &body.role, &client).await?;
    Ok(Json(MemberAnswer {
        ok: True,
        member: MembershipView::new(&membership),
    }))
}

/// `DELETE /v1/orgs/{id}/members/{user_id}`: remove a member, or leave.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/{id}/members/{user_id}", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(
        ("id" = Uuid, Path, description = "The organization"),
        ("user_id" = Uuid, Path, description = "The member (the caller's own id to leave)"),
    ),
    responses(
        (status = 200, description = "Removed (or left)", body = Done),
        (status = 403, description = "`forbidden`: removing someone else without \
            `members:manage` in the caller's role (or with a role not defined here), an API \
            key without that scope, a member ranked above the caller, or a \
            cookie-authenticated request without a valid `X-CSRF-Token` or allowed `Origin`; \
            `reauthentication_required`: removing an owner from a session that is not fresh; \
            `mfa_required`: removing someone else while the organization requires a second \
            factor this session has not passed"),
        (status = 404, description = "`not_found`: no such organization, the caller or the \
            target is not a member, or an organization API key of another one"),
        (status = 409, description = "`conflict`: the last owner cannot leave"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn remove_member(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path((id, target)): Path<(Uuid, Uuid)>,
) -> Result<Json<Done>, Error> {
    orgs::remove(&ctx, user.claims(), id, target, &client).await?;
    Ok(Json(Done { ok: True }))
}

/// Body of `POST /v1/orgs/{id}/invitations`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// A role this deployment defines, ranked at or below the inviter's.
    role: String,
}

/// The contract's Invitation object.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Invitation))]
pub(crate) struct InvitationView {
    id: Uuid,
    org_id: Uuid,
    /// The invited address.
    email: String,
    role: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    status: &'static str,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    expires_at: String,
}

impl InvitationView {
    fn new(invitation: &invitation::Model, now: time::OffsetDateTime) -> Self {
        let status = if invitation.accepted_at.is_some() {
            "accepted"
        } else if invitation.revoked_at.is_some() {
            "revoked"
        } else if invitation.expires_at <= now {
            "expired"
        } else {
            "pending"
        };
        Self {
            id: invitation.id,
            org_id: invitation.org_id,
            email: invitation.email.clone(),
            role: invitation.role.clone(),
            status,
            created_at: rfc3339(invitation.created_at),
            expires_at: rfc3339(invitation.expires_at),
        }
    }
}

/// `{ ok, invitation }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct InvitationAnswer {
    ok: True,
    invitation: InvitationView,
}

/// `POST /v1/orgs/{id}/invitations`: email a one-time invitation (7 days), 201.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/{id}/invitations", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "The organization")),
    request_body = InviteBody,
    responses(
        (status = 201, description = "Invited: the link is emailed, valid 7 days",
            body = InvitationAnswer),
        (status = 400, description = "`invalid_request`: an invalid email address or an \
            unknown role"),
        (status = 403, description = "`forbidden`: the caller's role lacks \
            `invitations:manage` (or is not defined here), an API key without that scope, a \
            role ranked above the inviter's, or a cookie-authenticated request without a valid \
            `X-CSRF-Token` or allowed `Origin`; `reauthentication_required`: an invitation to \
            `owner` from a session that is not fresh; `email_not_verified`: the inviter's own \
            address is not verified; `mfa_required`: the organization requires a second \
            factor this session has not passed"),
        (status = 404, description = "`not_found`: no such organization, the caller is not a \
            member, or an organization API key of another one"),
        (status = 429, description = "`rate_limited`: too many invitations from this IP \
            address or inviter, to this address, or emails overall, or the API key is over \
            its own request limit"),
    ),
))]
pub(crate) async fn invite(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
    Json(body): Json<InviteBody>,
) -> Result<(StatusCode, Json<InvitationAnswer>), Error> {
    let invitation =
        orgs::invite(&ctx, user.claims(), id, &body.email, &body.role, &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationAnswer {
            ok: True,
            invitation: InvitationView::new(&invitation, ctx.now()),
        }),
    ))
}

/// `{ ok, invitations }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct InvitationsAnswer {
    ok: True,
    /// The pending ones, newest first.
    invitations: Vec<InvitationView>,
}

/// `GET /v1/orgs/{id}/invitations`: pending invitations (`invitations:manage`).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/{id}/invitations", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "The organization")),
    responses(
        (status = 200, body = InvitationsAnswer),
        (status = 403, description = "`forbidden`: the caller's role lacks \
            `invitations:manage` (or is not defined here), or an API key without that scope; \
            `mfa_required`: the organization requires a second factor this session has not \
            passed"),
        (status = 404, description = "`not_found`: no such organization, the caller is not a \
            member, or an organization API key of another one"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn invitations(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<InvitationsAnswer>, Error> {
    let pending = orgs::invitations(&ctx, user.claims(), id).await?;
    let now = ctx.now();
    let invitations = pending
        .iter()
        .map(|invitation| InvitationView::new(invitation, now))
        .collect();
    Ok(Json(InvitationsAnswer {
        ok: True,
        invitations,
    }))
}

/// `DELETE /v1/orgs/{id}/invitations/{invitation_id}`: revoke (`invitations:manage`).
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/{id}/invitations/{invitation_id}", tag = "orgs",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(
        ("id" = Uuid, Path, description = "The organization"),
        ("invitation_id" = Uuid, Path, description = "The invitation"),
    ),
    responses(
        (status = 200, description = "Revoked: its link no longer works", body = Done),
        (status = 403, description = "`forbidden`: the caller's role lacks \
            `invitations:manage` (or is not defined here), an API key without that scope, or \
            a cookie-authenticated request without a valid `X-CSRF-Token` or allowed \
            `Origin`; `mfa_required`: the organization requires a second factor this session \
            has not passed"),
        (status = 404, description = "`not_found`: no such organization or invitation in it, \
            the caller is not a member, or an organization API key of another one"),
        (status = 409, description = "`conflict`: the invitation is no longer pending"),
        (status = 429, description = "`rate_limited`: the API key is over its own request limit"),
    ),
))]
pub(crate) async fn revoke_invitation(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path((id, invitation_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Done>, Error> {
    orgs::revoke_invitation(&ctx, user.claims(), id, invitation_id, &client).await?;
    Ok(Json(Done { ok: True }))
}

/// Body of `POST /v1/orgs/invitations/accept`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptBody {
    /// The token of the invitation link.
    token: String,
}

impl std::fmt::Debug for AcceptBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptBody([redacted])")
    }
}

/// `{ ok, membership }` and nothing else (so a grant, which also names a membership, is
/// not one: the document's `oneOf` tells them apart).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct MembershipAnswer {
    ok: True,
    /// The membership the invitation made (or the one the caller already had).
    membership: MembershipView,
}

/// What accepting an invitation answers: the membership (signed in), or a session grant
/// naming it (signed out).
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // only documents an answer: never built
pub(crate) enum AcceptAnswer {
    /// Signed in: the caller joined.
    Joined(MembershipAnswer),
    /// Signed out: the invited address is signed in; the grant carries `membership`.
    SignedIn(super::views::GrantBody),
}

/// `POST /v1/orgs/invitations/accept`: join. Signed in, the verified email must be the
/// invited one (`{ ok, membership }`); signed out, it signs the invited address in (a
/// session grant with `membership`).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/invitations/accept", tag = "orgs",
    security((), ("access_token" = []), ("session_cookie" = [])),
    request_body = AcceptBody,
    responses(
        (status = 200, description = "Joined: `{ ok, membership }` signed in; signed out, a \
            session grant with `membership`", body = AcceptAnswer,
            headers((
                "Set-Cookie" = String,
                description = "`__session` and `__client`, signed out"
            ))),
        (status = 400, description = "`token_invalid`: unknown, used, superseded or revoked; \
            `token_expired`: past its 7 days"),
        (status = 403, description = "`forbidden`: signed in with another (or an unverified) \
            address, an API key, or a cookie-authenticated request without a valid \
            `X-CSRF-Token` or allowed `Origin`; `reauthentication_required`: signed out, and \
            the invited address has an account (sign in to it first); `user_disabled`: the \
            account is disabled"),
        (status = 409, description = "`conflict`: the invited account was being created at the \
            same moment; try again"),
        (status = 429, description = "`rate_limited`: too many redemptions from this IP address"),
    ),
))]
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
        Accepted::Joined(membership) => Ok(Json(MembershipAnswer {
            ok: True,
            membership: MembershipView::new(&membership),
        })
        .into_response()),
        Accepted::SignedIn(grant, membership) => Ok(grant_with(
            GrantResponse {
                grant: *grant,
                status: StatusCode::OK,
                config: &ctx.config,
            },
            Some(MembershipView::new(&membership)),
        )),
    }
}

/// Body of `PATCH /v1/orgs/current`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchBody {
    /// The organization to act in (the caller's membership), or null for none.
    org_id: Option<Uuid>,
}

/// `PATCH /v1/orgs/current`: act in `org_id` (or in none). Answers a new access token
/// carrying `org_id` and `org_role` (and sets the `__session` cookie); the refresh token is
/// untouched, since an access token alone never yields a longer-lived credential.
#[cfg_attr(feature = "openapi", utoipa::path(
    patch, path = "/current", tag = "orgs",
    request_body = SwitchBody,
    responses(
        (status = 200, description = "A new access token carrying `org_id` and `org_role`; \
            the refresh token is untouched", body = super::views::AccessTokenBody,
            headers(("Set-Cookie" = String, description = "`__session`"))),
        (status = 403, description = "`forbidden`: an API key (it has no session to switch), \
            or a cookie-authenticated request without a valid `X-CSRF-Token` or allowed \
            `Origin`; `mfa_required`: the organization requires a second factor this session \
            has not passed"),
        (status = 404, description = "`not_found`: the caller is not a member of `org_id` (or \
            it does not exist)"),
    ),
))]
pub(crate) async fn switch(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<SwitchBody>,
) -> Result<Response, Error> {
    let switched =
        crate::flows::sessions::switch_org(&ctx, user.claims(), body.org_id, &client).await?;
    Ok(access_token_response(&ctx.config, &switched, None))
}
