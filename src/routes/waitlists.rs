//! Waitlists: the caller's (`/me/waitlists`, core router) and the admin's view
//! (`/waitlists/{feature}`, admin router).

use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    input::{Json, OptionalJson, Path, Query},
    views::{Done, True, rfc3339},
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

/// An entry as the contract shows it: `{ feature, joined_at, status, position }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = WaitlistEntry))]
pub(crate) struct EntryView {
    feature: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    joined_at: String,
    /// `waiting` or `admitted`.
    status: String,
    /// 1-based place among those waiting for the feature; null once admitted.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    position: Option<u64>,
}

impl EntryView {
    fn new(entry: &Entry) -> Self {
        Self {
            feature: entry.entry.feature.clone(),
            joined_at: rfc3339(entry.entry.joined_at),
            status: entry.entry.status.clone(),
            position: entry.position,
        }
    }
}

/// `{ ok, waitlists }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct WaitlistsAnswer {
    ok: True,
    /// The entries of the caller's account context (the active organization, or the
    /// user), oldest first.
    waitlists: Vec<EntryView>,
}

/// `GET /me/waitlists`: `{ ok, waitlists: [ {feature, joined_at, status, position} ] }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/me/waitlists", tag = "waitlists",
    responses(
        (status = 200, body = WaitlistsAnswer),
        (status = 403, description = "`forbidden`: an API key (this takes an interactive \
            session)"),
    ),
))]
pub(crate) async fn mine(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<WaitlistsAnswer>, Error> {
    let entries = waitlists::list(&ctx, user.claims()).await?;
    Ok(Json(WaitlistsAnswer {
        ok: True,
        waitlists: entries.iter().map(EntryView::new).collect(),
    }))
}

/// `{ ok, joined, status?, position?, joined_at? }`: the entry's fields only when joined.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CheckAnswer {
    ok: True,
    /// Whether the caller's account context is on the waitlist.
    joined: bool,
    /// `waiting` or `admitted` (absent when not joined).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    status: Option<String>,
    /// 1-based place among those waiting; null once admitted (absent when not joined).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    position: Option<Option<u64>>,
    /// Absent when not joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, format = DateTime))]
    joined_at: Option<String>,
}

/// `GET /me/waitlists/{feature}`: `{ ok, joined, status?, position? }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/me/waitlists/{feature}", tag = "waitlists",
    params(("feature" = String, Path, description = "A waitlist feature the host declared")),
    responses(
        (status = 200, body = CheckAnswer),
        (status = 403, description = "`forbidden`: an API key (this takes an interactive \
            session)"),
        (status = 404, description = "`not_found`: the host declared no such feature"),
    ),
))]
pub(crate) async fn check(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(feature): Path<String>,
) -> Result<Json<CheckAnswer>, Error> {
    let answer = match waitlists::check(&ctx, user.claims(), &feature).await? {
        Some(entry) => CheckAnswer {
            ok: True,
            joined: true,
            status: Some(entry.entry.status.clone()),
            position: Some(entry.position),
            joined_at: Some(rfc3339(entry.entry.joined_at)),
        },
        None => CheckAnswer {
            ok: True,
            joined: false,
            status: None,
            position: None,
            joined_at: None,
        },
    };
    Ok(Json(answer))
}

/// `{ ok, entry }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct EntryAnswer {
    ok: True,
    entry: EntryView,
}

/// `PUT /me/waitlists/{feature}` (no body; idempotent): `{ ok, entry }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    put, path = "/me/waitlists/{feature}", tag = "waitlists",
    params(("feature" = String, Path, description = "A waitlist feature the host declared")),
    responses(
        (status = 200, description = "Joined (or already on it: the entry as it is)",
            body = EntryAnswer),
        (status = 403, description = "`forbidden`: an API key (this takes an interactive \
            session), or a cookie-authenticated request without a valid `X-CSRF-Token` or \
            allowed `Origin`"),
        (status = 404, description = "`not_found`: the host declared no such feature"),
    ),
))]
pub(crate) async fn join(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(feature): Path<String>,
) -> Result<Json<EntryAnswer>, Error> {
    let entry = waitlists::join(&ctx, user.claims(), &feature, &client).await?;
    Ok(Json(EntryAnswer {
        ok: True,
        entry: EntryView::new(&entry),
    }))
}

/// `DELETE /me/waitlists/{feature}` (no body; idempotent): `{ ok }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/me/waitlists/{feature}", tag = "waitlists",
    params(("feature" = String, Path, description = "A waitlist feature the host declared")),
    responses(
        (status = 200, description = "Left (or was not on it)", body = Done),
        (status = 403, description = "`forbidden`: an API key (this takes an interactive \
            session), or a cookie-authenticated request without a valid `X-CSRF-Token` or \
            allowed `Origin`"),
        (status = 404, description = "`not_found`: the host declared no such feature"),
    ),
))]
pub(crate) async fn leave(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(feature): Path<String>,
) -> Result<Json<Done>, Error> {
    waitlists::leave(&ctx, user.claims(), &feature, &client).await?;
    Ok(Json(Done { ok: True }))
}

/// Query of the admin's `GET /waitlists/{feature}`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub(crate) struct EntriesQuery {
    /// `waiting` or `admitted`; every entry when absent (or empty).
    #[serde(default)]
    status: Option<String>,
}

/// An entry as admins see it: the contract's entry plus whose it is.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AdminWaitlistEntry))]
pub(crate) struct AdminEntryView {
    #[serde(flatten)]
    entry: EntryView,
    id: Uuid,
    /// The user or organization the entry belongs to.
    subject_id: Uuid,
    /// `user` or `organization`.
    subject_kind: String,
    /// The person who joined (and is emailed on admission).
    joined_by: Uuid,
    /// When it was admitted; null while waiting.
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    admitted_at: Option<String>,
}

impl AdminEntryView {
    fn new(entry: &Entry) -> Self {
        Self {
            entry: EntryView::new(entry),
            id: entry.entry.id,
            subject_id: entry.entry.subject_id,
            subject_kind: entry.entry.subject_kind.clone(),
            joined_by: entry.entry.joined_by,
            admitted_at: entry.entry.admitted_at.map(rfc3339),
        }
    }
}

/// `{ ok, entries }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct EntriesAnswer {
    ok: True,
    /// Oldest first, at most 1000.
    entries: Vec<AdminEntryView>,
}

/// `GET /v1/admin/waitlists/{feature}?status=`: `{ ok, entries }`, oldest first.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/waitlists/{feature}", tag = "admin",
    params(
        ("feature" = String, Path, description = "A waitlist feature the host declared"),
        EntriesQuery,
    ),
    responses(
        (status = 200, body = EntriesAnswer),
        (status = 400, description = "`invalid_request`: a `status` other than `waiting` or \
            `admitted`, or malformed query parameters"),
        (status = 404, description = "`not_found`: the host declared no such feature"),
    ),
))]
pub(crate) async fn entries(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(feature): Path<String>,
    Query(query): Query<EntriesQuery>,
) -> Result<Json<EntriesAnswer>, Error> {
    require_admin(&ctx, user.claims()).await?;
    let entries = waitlists::entries(&ctx, &feature, query.status.as_deref()).await?;
    Ok(Json(EntriesAnswer {
        ok: True,
        entries: entries.iter().map(AdminEntryView::new).collect(),
    }))
}

/// Body of `POST /v1/admin/waitlists/{feature}/admit` (optional): `user_ids` or `count`,
/// not both; without either, the oldest waiting entry.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct AdmitBody {
    /// The users or organizations whose entries to admit (at most 1000 are taken).
    #[serde(default)]
    user_ids: Option<Vec<Uuid>>,
    /// How many of the oldest waiting entries to admit: 1 to 1000.
    #[serde(default)]
    count: Option<u64>,
}

/// `{ ok, admitted }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AdmittedAnswer {
    ok: True,
    /// How many entries were admitted now (already admitted ones are not counted).
    admitted: usize,
}

/// `POST /v1/admin/waitlists/{feature}/admit` `{ user_ids? }` or `{ count? }` (oldest
/// first; 1 without either): `{ ok, admitted }`, how many were admitted now. `user_ids`
/// name the entries' users or organizations.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/waitlists/{feature}/admit", tag = "admin",
    params(("feature" = String, Path, description = "A waitlist feature the host declared")),
    request_body = Option<AdmitBody>,
    responses(
        (status = 200, description = "Admitted: each person who joined is emailed",
            body = AdmittedAnswer),
        (status = 400, description = "`invalid_request`: both `user_ids` and `count`, or a \
            `count` outside 1 to 1000"),
        (status = 404, description = "`not_found`: the host declared no such feature"),
    ),
))]
pub(crate) async fn admit(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(feature): Path<String>,
    OptionalJson(body): OptionalJson<AdmitBody>,
) -> Result<Json<AdmittedAnswer>, Error> {
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
    Ok(Json(AdmittedAnswer {
        ok: True,
        admitted: admitted.len(),
    }))
}
