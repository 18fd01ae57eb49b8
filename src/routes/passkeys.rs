//! Passkeys: `POST /me/passkeys/register/begin`, `POST /me/passkeys/register/complete`,
//! `POST /passkeys/authenticate/begin`, `POST /passkeys/authenticate/complete`,
//! `GET /me/passkeys`, `PATCH /me/passkeys/{id}`, `DELETE /me/passkeys/{id}`.
//!
//! The ceremony logic is in [`flows::passkeys`]; these handlers parse, check the
//! fresh-session rule, and render.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    response::{IntoResponse as _, Response},
    routing::{get, patch, post},
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    input::{Json, OptionalJson, Path},
    sessions::require_fresh,
    views::{GrantResponse, ok, rfc3339},
};
use crate::{CurrentUser, Error, client::ClientInfo, context::Context, entity::passkey, flows};

pub(super) fn router() -> Router<Arc<Context>> {
    Router::new()
        .route("/me/passkeys/register/begin", post(register_begin))
        .route("/me/passkeys/register/complete", post(register_complete))
        .route("/passkeys/authenticate/begin", post(authenticate_begin))
        .route(
            "/passkeys/authenticate/complete",
            post(authenticate_complete),
        )
        .route("/me/passkeys", get(list))
        .route("/me/passkeys/{id}", patch(rename).delete(remove))
}

/// A passkey as listed: `{ id, name, created_at, last_used_at }`.
#[derive(Serialize)]
pub(crate) struct PasskeyView {
    id: Uuid,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
}

impl PasskeyView {
    fn new(row: &passkey::Model) -> Self {
        Self {
            id: row.id,
            name: row.name.clone(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

/// `POST /me/passkeys/register/begin` (fresh session): `{ ok, options }`, the
/// `PublicKeyCredentialCreationOptions` for `PublicKeyCredential.parseCreationOptionsFromJSON`.
pub(crate) async fn register_begin(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Response, Error> {
    require_fresh(&ctx, &user)?;
    let options = flows::passkeys::begin_registration(&ctx, user.id(), &client).await?;
    Ok(ok(json!({ "options": options })).into_response())
}

/// Body of `POST /me/passkeys/register/complete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    #[serde(default)]
    name: Option<String>,
    credential: Value,
}

/// `POST /me/passkeys/register/complete` (fresh session): 201 `{ ok, passkey }`;
/// 409 `conflict` when the credential is already registered; 400 `token_invalid` when no
/// registration is in flight.
pub(crate) async fn register_complete(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<RegisterBody>,
) -> Result<Response, Error> {
    require_fresh(&ctx, &user)?;
    let registration = flows::passkeys::Registration {
        user_id: user.id(),
        session_id: user.session_id(),
        name: body.name.as_deref(),
        credential: body.credential,
    };
    let row = flows::passkeys::complete_registration(&ctx, registration, &client).await?;
    Ok((
        StatusCode::CREATED,
        ok(json!({ "passkey": PasskeyView::new(&row) })),
    )
        .into_response())
}

/// Body of `POST /passkeys/authenticate/begin`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BeginBody {
    #[serde(default)]
    email: Option<String>,
}

/// `POST /passkeys/authenticate/begin`: `{ ok, challenge_id, options }`, the same shape
/// for every address; without an email, options for a discoverable passkey (autofill).
pub(crate) async fn authenticate_begin(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<BeginBody>,
) -> Result<Response, Error> {
    // No body at all is a discoverable sign-in, like `{}`.
    let body = body.unwrap_or_default();
    let (challenge_id, options) =
        flows::passkeys::begin_sign_in(&ctx, body.email.as_deref(), &client).await?;
    Ok(ok(json!({ "challenge_id": challenge_id, "options": options })).into_response())
}

/// Body of `POST /passkeys/authenticate/complete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteBody {
    challenge_id: Uuid,
    credential: Value,
}

/// `POST /passkeys/authenticate/complete`: a session grant; 401 `invalid_credentials`
/// for an unknown or wrong passkey; 400 `token_invalid` / `token_expired` for a used or
/// stale ceremony.
pub(crate) async fn authenticate_complete(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<CompleteBody>,
) -> Result<Response, Error> {
    let grant =
        flows::passkeys::complete_sign_in(&ctx, body.challenge_id, body.credential, &client)
            .await?;
    Ok(GrantResponse {
        grant,
        status: StatusCode::OK,
        config: &ctx.config,
    }
    .into_response())
}

/// `GET /me/passkeys`: `{ ok, passkeys: [ {id, name, created_at, last_used_at} ] }`.
pub(crate) async fn list(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    let rows = flows::passkeys::list(&ctx, user.id()).await?;
    let passkeys: Vec<PasskeyView> = rows.iter().map(PasskeyView::new).collect();
    Ok(ok(json!({ "passkeys": passkeys })).into_response())
}

/// Body of `PATCH /me/passkeys/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameBody {
    name: String,
}

/// `PATCH /me/passkeys/{id}`: rename; `{ ok, passkey }`, 404 when not the caller's.
pub(crate) async fn rename(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<RenameBody>,
) -> Result<Response, Error> {
    let row = flows::passkeys::rename(&ctx, user.id(), id, &body.name).await?;
    Ok(ok(json!({ "passkey": PasskeyView::new(&row) })).into_response())
}

/// `DELETE /me/passkeys/{id}` (fresh session): `{ ok }`; 409 `conflict` when it is the
/// account's last way to sign in; 404 when not the caller's.
pub(crate) async fn remove(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    require_fresh(&ctx, &user)?;
    flows::passkeys::remove(&ctx, user.claims(), id, &client).await?;
    Ok(ok(json!({})).into_response())
}
