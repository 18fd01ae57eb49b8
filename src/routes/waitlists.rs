//! Waitlists: the caller's (`/me/waitlists`, core router) and the admin's view
//! (`/waitlists/{feature}`, admin router).

use std::sync::Arc;

use axum::{
    extract::State,
    response::{IntoResponse as _, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    input::{OptionalJson, Path, Query},
    views::{ok, rfc3339},
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
    context::Context,
    flows::{
        admin::require_admin,
        waitlists::{self, Admit, Entry},
    },
};

/// An entry as the contract shows it: `{ feature, joined_at, status, position }` (and,
/// for admins, whose it is).
fn entry_view(entry: &Entry) -> Value {
    json!({
        "feature": entry.entry.feature,
        "joined_at": rfc3339(entry.entry.joined_at),
        "status": entry.entry.status,
        "position": entry.position,
    })
}

fn admin_entry_view(entry: &Entry) -> Value {
    let mut view = entry_view(entry);
    view["id"] = json!(entry.entry.id);
    view["subject_id"] = json!(entry.entry.subject_id);
    view["subject_kind"] = json!(entry.entry.subject_kind);
    view["joined_by"] = json!(entry.entry.joined_by);
    view["admitted_at"] = json!(entry.entry.admitted_at.map(rfc3339));
    view
}

/// `GET /me/waitlists`: `{ ok, waitlists: [ {feature, joined_at, status, position} ] }`.
pub(crate) async fn mine(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    let entries = waitlists::list(&ctx, user.claims()).await?;
    let views: Vec<Value> = entries.iter().map(entry_view).collect();
    Ok(ok(json!({ "waitlists": views })).into_response())
}

/// `GET /me/waitlists/{feature}`: `{ ok, joined, status?, position? }`.
pub(crate) async fn check(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(feature): Path<String>,
) -> Result<Response, Error> {
    Ok(
        match waitlists::check(&ctx, user.claims(), &feature).await? {
            Some(entry) => ok(json!({
                "joined": true,
                "status": entry.entry.status,
                "position": entry.position,
                "joined_at": rfc3339(entry.entry.joined_at),
            })),
            None => ok(json!({ "joined": false })),
        }
        .into_response(),
    )
}

/// `PUT /me/waitlists/{feature}` (no body; idempotent): `{ ok, entry }`.
pub(crate) async fn join(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(feature): Path<String>,
) -> Result<Response, Error> {
    let entry = waitlists::join(&ctx, user.claims(), &feature, &client).await?;
    Ok(ok(json!({ "entry": entry_view(&entry) })).into_response())
}

/// `DELETE /me/waitlists/{feature}` (no body; idempotent): `{ ok }`.
pub(crate) async fn leave(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(feature): Path<String>,
) -> Result<Response, Error> {
    waitlists::leave(&ctx, user.claims(), &feature, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// Query of the admin's `GET /waitlists/{feature}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntriesQuery {
    #[serde(default)]
    status: Option<String>,
}

/// `GET /v1/admin/waitlists/{feature}?status=`: `{ ok, entries }`, oldest first.
pub(crate) async fn entries(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(feature): Path<String>,
    Query(query): Query<EntriesQuery>,
) -> Result<Response, Error> {
    require_admin(&ctx, user.claims()).await?;
    let entries = waitlists::entries(&ctx, &feature, query.status.as_deref()).await?;
    let views: Vec<Value> = entries.iter().map(admin_entry_view).collect();
    Ok(ok(json!({ "entries": views })).into_response())
}

/// Body of `POST /v1/admin/waitlists/{feature}/admit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdmitBody {
    #[serde(default)]
    user_ids: Option<Vec<Uuid>>,
    #[serde(default)]
    count: Option<u64>,
}

/// `POST /v1/admin/waitlists/{feature}/admit` `{ user_ids? }` or `{ count? }` (oldest
/// first; 1 without either): `{ ok, admitted }`, how many were admitted now. `user_ids`
/// name the entries' users or organizations.
pub(crate) async fn admit(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(feature): Path<String>,
    OptionalJson(body): OptionalJson<AdmitBody>,
) -> Result<Response, Error> {
    let admin = require_admin(&ctx, user.claims()).await?;
    let body = body.unwrap_or_default();
    let whom = match (body.user_ids, body.count) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_request("send user_ids or count, not both"));
        }
        (Some(ids), None) => Admit::Subjects(ids),
        (None, count) => Admit::Oldest(count.unwrap_or(1)),
    };
    let admitted = waitlists::admit(&ctx, &feature, whom, Some(admin.id)).await?;
    Ok(ok(json!({ "admitted": admitted.len() })).into_response())
}
