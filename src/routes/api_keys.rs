//! API keys: the caller's (`/me/api-keys`, core router) and an organization's
//! (`/{id}/api-keys`, organizations router).

use std::sync::Arc;

use axum::{
    extract::State,
    response::{IntoResponse as _, Response},
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    input::{Json, Path},
    views::{ok, rfc3339},
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
    context::Context,
    entity::api_key,
    flows::api_keys::{self, NewKey},
};

/// The contract's ApiKey object: `{ id, name, prefix, scopes, user_id, org_id,
/// created_at, last_used_at, expires_at }` (`scopes` is `null` for an unscoped user key).
pub(crate) fn key_view(key: &api_key::Model) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes.as_deref().map(|s| s.split_whitespace().collect::<Vec<_>>()),
        "user_id": key.user_id,
        "org_id": key.org_id,
        "created_at": rfc3339(key.created_at),
        "last_used_at": key.last_used_at.map(rfc3339),
        "expires_at": key.expires_at.map(rfc3339),
    })
}

/// Body of a key's creation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    name: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
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

fn created(key: &api_key::Model, secret: &str) -> Response {
    (
        StatusCode::CREATED,
        ok(json!({ "api_key": key_view(key), "secret": secret })),
    )
        .into_response()
}

/// `GET /me/api-keys`: `{ ok, api_keys }`.
pub(crate) async fn list_mine(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    api_keys::require_interactive(user.claims())?;
    let keys = api_keys::list_for_user(&ctx, user.id()).await?;
    let views: Vec<Value> = keys.iter().map(key_view).collect();
    Ok(ok(json!({ "api_keys": views })).into_response())
}

/// `POST /me/api-keys` `{ name, scopes?, expires_in_days? }` (fresh session): 201
/// `{ ok, api_key, secret }`, the secret shown this once.
pub(crate) async fn create_mine(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<CreateBody>,
) -> Result<Response, Error> {
    let (key, secret) =
        api_keys::create_for_user(&ctx, user.claims(), body.into(), &client).await?;
    Ok(created(&key, &secret))
}

/// `DELETE /me/api-keys/{id}`: revoke.
pub(crate) async fn revoke_mine(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    api_keys::require_interactive(user.claims())?;
    api_keys::revoke_for_user(&ctx, user.claims(), id, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// `GET /v1/orgs/{id}/api-keys` (`api_keys:manage`).
pub(crate) async fn list_org(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(org_id): Path<Uuid>,
) -> Result<Response, Error> {
    let keys = api_keys::list_for_org(&ctx, user.claims(), org_id).await?;
    let views: Vec<Value> = keys.iter().map(key_view).collect();
    Ok(ok(json!({ "api_keys": views })).into_response())
}

/// `POST /v1/orgs/{id}/api-keys` `{ name, scopes?, expires_in_days? }`: 201 with the
/// secret once.
pub(crate) async fn create_org(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(org_id): Path<Uuid>,
    Json(body): Json<CreateBody>,
) -> Result<Response, Error> {
    let (key, secret) =
        api_keys::create_for_org(&ctx, user.claims(), org_id, body.into(), &client).await?;
    Ok(created(&key, &secret))
}

/// `DELETE /v1/orgs/{id}/api-keys/{key_id}`: revoke.
pub(crate) async fn revoke_org(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path((org_id, key_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, Error> {
    api_keys::revoke_for_org(&ctx, user.claims(), org_id, key_id, &client).await?;
    Ok(ok(json!({})).into_response())
}
