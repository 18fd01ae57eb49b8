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
use serde_json::Value;
use uuid::Uuid;

use super::{
    input::{Json, OptionalJson, Path},
    sessions::require_fresh,
    views::{Done, GrantResponse, PasskeyView, True, done},
};
use crate::{CurrentUser, Error, client::ClientInfo, context::Context, flows};

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

/// `{ ok, options }`: the options of a registration ceremony.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct RegistrationOptionsAnswer {
    ok: True,
    /// WebAuthn `PublicKeyCredentialCreationOptions` JSON (base64url binary fields), for
    /// `PublicKeyCredential.parseCreationOptionsFromJSON`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    options: Value,
}

/// `POST /me/passkeys/register/begin` (fresh session): `{ ok, options }`, the
/// `PublicKeyCredentialCreationOptions` for `PublicKeyCredential.parseCreationOptionsFromJSON`.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/me/passkeys/register/begin", tag = "passkeys",
    responses(
        (status = 200, description = "A registration ceremony (one in flight per user: a new begin replaces the last)", body = RegistrationOptionsAnswer),
        (status = 403, description = "`reauthentication_required`: the session's sign-in is not recent enough; `user_disabled`: the account was disabled"),
        (status = 404, description = "`not_found`: this instance has no WebAuthn relying party"),
        (status = 409, description = "`conflict`: the account already holds the most passkeys it may (20)"),
        (status = 429, description = "`rate_limited`: too many registrations for this account"),
    ),
))]
pub(crate) async fn register_begin(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Json<RegistrationOptionsAnswer>, Error> {
    require_fresh(&ctx, &user)?;
    let options = flows::passkeys::begin_registration(&ctx, user.id(), &client).await?;
    Ok(Json(RegistrationOptionsAnswer { ok: True, options }))
}

/// Body of `POST /me/passkeys/register/complete`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    /// 1 to 100 characters; absent, `Passkey` (or `Passkey 2`, ...).
    #[serde(default)]
    name: Option<String>,
    /// The browser's `PublicKeyCredential.toJSON()` of `navigator.credentials.create`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    credential: Value,
}

/// `{ ok, passkey }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PasskeyAnswer {
    ok: True,
    passkey: PasskeyView,
}

/// `POST /me/passkeys/register/complete` (fresh session): 201 `{ ok, passkey }`;
/// 409 `conflict` when the credential is already registered; 400 `token_invalid` when no
/// registration is in flight.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/me/passkeys/register/complete", tag = "passkeys",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The passkey is registered", body = PasskeyAnswer),
        (status = 400, description = "`invalid_request`: a malformed body, a bad name, a credential that is not a `PublicKeyCredential` JSON, does not verify, or has a credential id over 1023 bytes; `token_invalid`: no registration in flight (or it was used); `token_expired`: the registration ceremony is past its lifetime"),
        (status = 403, description = "`reauthentication_required`: the session's sign-in is not recent enough; `user_disabled`: the account was disabled"),
        (status = 404, description = "`not_found`: this instance has no WebAuthn relying party"),
        (status = 409, description = "`conflict`: the passkey is already registered, or the account already holds the most passkeys it may (20)"),
    ),
))]
pub(crate) async fn register_complete(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<RegisterBody>,
) -> Result<(StatusCode, Json<PasskeyAnswer>), Error> {
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
        Json(PasskeyAnswer {
            ok: True,
            passkey: PasskeyView::new(&row),
        }),
    ))
}

/// Body of `POST /passkeys/authenticate/begin`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct BeginBody {
    /// The account's address: the options list its passkeys. Absent: a discoverable
    /// passkey (autofill).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: Option<String>,
}

/// `{ ok, challenge_id, options }`: a passkey ceremony to answer.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PasskeyChallengeAnswer {
    pub(crate) ok: True,
    /// Sent back with the browser's answer to complete the ceremony.
    pub(crate) challenge_id: Uuid,
    /// WebAuthn `PublicKeyCredentialRequestOptions` JSON (base64url binary fields), for
    /// `PublicKeyCredential.parseRequestOptionsFromJSON`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub(crate) options: Value,
}

/// `POST /passkeys/authenticate/begin`: `{ ok, challenge_id, options }`, the same shape
/// for every address; without an email, options for a discoverable passkey (autofill).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/passkeys/authenticate/begin", tag = "passkeys",
    security(()),
    request_body(
        content = Option<BeginBody>,
        description = "No body, an empty one or `{}`: a discoverable passkey (autofill)",
    ),
    responses(
        (status = 200, description = "A sign-in ceremony: the same shape whether or not the address has an account or passkeys", body = PasskeyChallengeAnswer),
        (status = 400, description = "`invalid_request`: a malformed body or email"),
        (status = 404, description = "`not_found`: this instance has no WebAuthn relying party"),
        (status = 429, description = "`rate_limited`: too many passkey ceremonies from this address, or in all"),
    ),
))]
pub(crate) async fn authenticate_begin(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<BeginBody>,
) -> Result<Json<PasskeyChallengeAnswer>, Error> {
    // No body at all is a discoverable sign-in, like `{}`.
    let body = body.unwrap_or_default();
    let (challenge_id, options) =
        flows::passkeys::begin_sign_in(&ctx, body.email.as_deref(), &client).await?;
    Ok(Json(PasskeyChallengeAnswer {
        ok: True,
        challenge_id,
        options,
    }))
}

/// Body of `POST /passkeys/authenticate/complete`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteBody {
    /// From `POST /passkeys/authenticate/begin`.
    challenge_id: Uuid,
    /// The browser's `PublicKeyCredential.toJSON()` of `navigator.credentials.get`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    credential: Value,
}

/// `POST /passkeys/authenticate/complete`: a session grant; 401 `invalid_credentials`
/// for an unknown or wrong passkey; 400 `token_invalid` / `token_expired` for a used or
/// stale ceremony.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/passkeys/authenticate/complete", tag = "passkeys",
    security(()),
    request_body = CompleteBody,
    responses(
        (status = 200, description = "Signed in (a passkey with user verification is two factors: `acr: aal2`, never a second-factor challenge)", body = super::views::GrantBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`"))),
        (status = 400, description = "`invalid_request`: a malformed body, a credential that is not a `PublicKeyCredential` JSON, or one with a bad credential id; `token_invalid`: an unknown or used ceremony; `token_expired`: the ceremony is past its lifetime"),
        (status = 401, description = "`invalid_credentials`: an unknown passkey, one of another account than the one named at begin, or an assertion that does not verify"),
        (status = 403, description = "`user_disabled`: the account was disabled; `email_not_verified`: the host requires a verified email and it is not"),
        (status = 404, description = "`not_found`: this instance has no WebAuthn relying party"),
        (status = 429, description = "`rate_limited`: too many passkey attempts from this address"),
    ),
))]
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

/// `{ ok, passkeys }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PasskeysAnswer {
    ok: True,
    passkeys: Vec<PasskeyView>,
}

/// `GET /me/passkeys`: `{ ok, passkeys: [ {id, name, created_at, last_used_at} ] }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/me/passkeys", tag = "passkeys",
    responses((status = 200, body = PasskeysAnswer)),
))]
pub(crate) async fn list(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<PasskeysAnswer>, Error> {
    let rows = flows::passkeys::list(&ctx, user.id()).await?;
    let passkeys = rows.iter().map(PasskeyView::new).collect();
    Ok(Json(PasskeysAnswer { ok: True, passkeys }))
}

/// Body of `PATCH /me/passkeys/{id}`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameBody {
    /// 1 to 100 characters, no control characters.
    name: String,
}

/// `PATCH /me/passkeys/{id}`: rename; `{ ok, passkey }`, 404 when not the caller's.
#[cfg_attr(feature = "openapi", utoipa::path(
    patch, path = "/me/passkeys/{id}", tag = "passkeys",
    params(("id" = Uuid, Path, description = "One of the caller's passkeys")),
    request_body = RenameBody,
    responses(
        (status = 200, description = "Renamed", body = PasskeyAnswer),
        (status = 400, description = "`invalid_request`: a malformed body or identifier, or a name that is empty, over 100 characters, or has control characters"),
        (status = 404, description = "`not_found`: not one of the caller's passkeys"),
    ),
))]
pub(crate) async fn rename(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<RenameBody>,
) -> Result<Json<PasskeyAnswer>, Error> {
    let row = flows::passkeys::rename(&ctx, user.id(), id, &body.name).await?;
    Ok(Json(PasskeyAnswer {
        ok: True,
        passkey: PasskeyView::new(&row),
    }))
}

/// `DELETE /me/passkeys/{id}` (fresh session): `{ ok }`; 409 `conflict` when it is the
/// account's last way to sign in; 404 when not the caller's.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/me/passkeys/{id}", tag = "passkeys",
    params(("id" = Uuid, Path, description = "One of the caller's passkeys")),
    responses(
        (status = 200, description = "Removed", body = Done),
        (status = 403, description = "`reauthentication_required`: the session's sign-in is not recent enough; `mfa_required`: TOTP is on and the session did not pass a second factor"),
        (status = 404, description = "`not_found`: not one of the caller's passkeys"),
        (status = 409, description = "`conflict`: it is the account's last way to sign in"),
    ),
))]
pub(crate) async fn remove(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Path(id): Path<Uuid>,
) -> Result<Json<Done>, Error> {
    require_fresh(&ctx, &user)?;
    flows::passkeys::remove(&ctx, user.claims(), id, &client).await?;
    Ok(done())
}
