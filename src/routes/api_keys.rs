//! API keys: the caller's (`/me/api-keys`, core router) and an organization's
//! (`/{id}/api-keys`, organizations router).

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    input::{Json, Path},
    views::{Done, True, done, rfc3339},
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
    context::Context,
    entity::api_key,
    flows::api_keys::{self, NewKey},
};

/// The contract's ApiKey object: `{ id, name, prefix, scopes, user_id, org_id,
/// created_at, last_used_at, expires_at }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ApiKey))]
pub(crate) struct ApiKeyView {
    id: Uuid,
    name: String,
    /// The start of the secret (`sk_ab12…`), to tell keys apart.
    prefix: String,
    /// The permissions it may use; `null` for an unscoped user key (whatever its owner may
    /// do, except what needs an interactive session).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    scopes: Option<Vec<String>>,
    /// The user it belongs to (`null` for an organization's key).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    user_id: Option<Uuid>,
    /// The organization it belongs to (`null` for a user's key).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    org_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    created_at: String,
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    last_used_at: Option<String>,
    /// `null`: it never expires.
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    expires_at: Option<String>,
}

impl ApiKeyView {
    /// The view of a key row.
    pub(crate) fn new(key: &api_key::Model) -> Self {
        Self {
            id: key.id,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            scopes: key
                .scopes
                .as_deref()
                .map(|s| s.split_whitespace().map(str::to_owned).collect()),
            user_id: key.user_id,
            org_id: key.org_id,
            created_at: rfc3339(key.created_at),
            last_used_at: key.last_used_at.map(rfc3339),
            expires_at: key.expires_at.map(rfc3339),
        }
    }
}

/// Body of a key's creation.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CreateApiKey))]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    /// 1 to 100 characters, no control characters.
    name: String,
    /// Permission names (at most 64). A user key may have `user:read`, `user:write` and
    /// any permission of the deployment, and is unscoped without them; an organization
    /// key's scopes must be among what the creator's role grants, and default to all of it.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// 1 to 3650; without it, the key never expires.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

impl From<CreateBody> for NewKey {
    fn from(body: CreateBody) -> Self {
        Self {
            name: body.name,
            scopes: body.scopes,
            expires_in_days: body.expires_in_days,
        }
    }
}

/// `{ ok, api_keys }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ApiKeysAnswer {
    ok: True,
    /// The live keys, newest first.
    api_keys: Vec<ApiKeyView>,
}

impl ApiKeysAnswer {
    /// The answer listing these keys.
    fn new(keys: &[api_key::Model]) -> Json<Self> {
        Json(Self {
            ok: True,
            api_keys: keys.iter().map(ApiKeyView::new).collect(),
        })
    }
}

/// `{ ok, api_key, secret }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ApiKeyCreatedAnswer {
    ok: True,
    api_key: ApiKeyView,
    /// The key itself (`sk_...`), for `Authorization: Bearer`: shown this once, never again.
    secret: String,
}

/// 201 with the new key and its secret.
fn created(key: &api_key::Model, secret: String) -> (StatusCode, Json<ApiKeyCreatedAnswer>) {
    (
        StatusCode::CREATED,
        Json(ApiKeyCreatedAnswer {
            ok: True,
            api_key: ApiKeyView::new(key),
            secret,
        }),
    )
}

/// `GET /me/api-keys`: `{ ok, api_keys }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/me/api-keys", tag = "api_keys",
    responses(
        (status = 200, body = ApiKeysAnswer),
        (status = 403, description = "`forbidden`: an API key or an impersonated session (this needs an interactive session)"),
    ),
))]
pub(crate) async fn list_mine(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<ApiKeysAnswer>, Error> {
    api_keys::require_interactive(user.claims())?;
    let keys = api_keys::list_for_user(&ctx, user.id()).await?;
    Ok(ApiKeysAnswer::new(&keys))
}

/// `POST /me/api-keys` `{ name, scopes?, expires_in_days? }` (fresh session): 201
/// `{ ok, api_key, secret }`, the secret shown this once.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/me/api-keys", tag = "api_keys",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created: the secret is shown this once", body = ApiKeyCreatedAnswer),
        (status = 400, description = "`invalid_request`: a `name` that is empty, over 100 characters or has control characters; more than 64 `scopes`, or one that is neither `user:read`, `user:write` nor a permission of the deployment; `expires_in_days` outside 1 to 3650"),
        (status = 403, description = "`forbidden`: an API key or an impersonated session (this needs an interactive session); `reauthentication_required`: the session's sign-in is not recent enough"),
        (status = 409, description = "`conflict`: the account already has 50 live keys"),
        (status = 429, description = "`rate_limited`: too many keys created"),
    ),
))]
pub(crate) async fn create_mine(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<ApiKeyCreatedAnswer>), Error> {
    let (key, secret) =
        api_keys::create_for_user(&ctx, user.claims(), body.into(), &client).await?;
    Ok(created(&key, secret))
}

/// `DELETE /me/api-keys/{id}`: revoke.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/me/api-keys/{id}", tag = "api_keys",
    params(("id" = Uuid, Path, description = "The key")),
    responses(
        (status = 200, description = "Revoked: at once here, within the revocation interval everywhere", body = Done),
        (status = 403, description = "`forbidden`: an API key or an impersonated session (this needs an interactive session)"),
        (status = 404, description = "`not_found`: no live key of the caller's by that id"),
    ),
))]
pub(crate) async fn revoke_mine(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<Done>, Error> {
    api_keys::require_interactive(user.claims())?;
    api_keys::revoke_for_user(&ctx, user.claims(), id, &client).await?;
    Ok(done())
}

/// `GET /v1/orgs/{id}/api-keys` (`api_keys:manage`).
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/{id}/api-keys", tag = "api_keys",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(("id" = Uuid, Path, description = "The organization")),
    responses(
        (status = 200, body = ApiKeysAnswer),
        (status = 403, description = "`forbidden`: without the `api_keys:manage` permission (the caller's role, or the API key's scopes), or a role this deployment does not define; `mfa_required`: the organization requires a second factor the session has not passed"),
        (status = 404, description = "`not_found`: no such organization, or the caller is not a member (or the API key is another organization's)"),
    ),
))]
pub(crate) async fn list_org(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(org_id): Path<Uuid>,
) -> Result<Json<ApiKeysAnswer>, Error> {
    let keys = api_keys::list_for_org(&ctx, user.claims(), org_id).await?;
    Ok(ApiKeysAnswer::new(&keys))
}

/// `POST /v1/orgs/{id}/api-keys` `{ name, scopes?, expires_in_days? }`: 201 with the
/// secret once.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/{id}/api-keys", tag = "api_keys",
    params(("id" = Uuid, Path, description = "The organization")),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created: the secret is shown this once", body = ApiKeyCreatedAnswer),
        (status = 400, description = "`invalid_request`: a `name` that is empty, over 100 characters or has control characters; more than 64 `scopes`, or one the caller's role does not grant; `expires_in_days` outside 1 to 3650"),
        (status = 403, description = "`forbidden`: an API key or an impersonated session (this needs an interactive session), without the `api_keys:manage` permission, or a role this deployment does not define; `reauthentication_required`: the session's sign-in is not recent enough; `mfa_required`: the organization requires a second factor the session has not passed"),
        (status = 404, description = "`not_found`: no such organization, or the caller is not a member"),
        (status = 409, description = "`conflict`: the organization already has 50 live keys"),
        (status = 429, description = "`rate_limited`: too many keys created"),
    ),
))]
pub(crate) async fn create_org(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(org_id): Path<Uuid>,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<ApiKeyCreatedAnswer>), Error> {
    let (key, secret) =
        api_keys::create_for_org(&ctx, user.claims(), org_id, body.into(), &client).await?;
    Ok(created(&key, secret))
}

/// `DELETE /v1/orgs/{id}/api-keys/{key_id}`: revoke.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/{id}/api-keys/{key_id}", tag = "api_keys",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    params(
        ("id" = Uuid, Path, description = "The organization"),
        ("key_id" = Uuid, Path, description = "The key"),
    ),
    responses(
        (status = 200, description = "Revoked: at once here, within the revocation interval everywhere", body = Done),
        (status = 403, description = "`forbidden`: without the `api_keys:manage` permission (the caller's role, or the API key's scopes), or a role this deployment does not define; `mfa_required`: the organization requires a second factor the session has not passed"),
        (status = 404, description = "`not_found`: no such organization, the caller is not a member (or the API key is another organization's), or no live key of the organization's by that id"),
    ),
))]
pub(crate) async fn revoke_org(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path((org_id, key_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Done>, Error> {
    api_keys::revoke_for_org(&ctx, user.claims(), org_id, key_id, &client).await?;
    Ok(done())
}
