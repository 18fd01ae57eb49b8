//! Second factors: the caller's factors (`/me/mfa/...`), the sign-in challenge
//! (`/mfa/...`) and re-authentication (`/reauthenticate`).

use std::{fmt, sync::Arc};

use axum::{
    Router,
    extract::State,
    response::{IntoResponse as _, Response},
    routing::{get, post},
};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
#[cfg(feature = "passkeys")]
use serde_json::Value;
use serde_json::json;
#[cfg(feature = "passkeys")]
use uuid::Uuid;

#[cfg(feature = "passkeys")]
use super::input::OptionalJson;
use super::{
    input::Json,
    sessions::require_fresh,
    views::{GrantResponse, UserView, access_token_response, mfa_cookie_name, ok, set_cookies},
};
use crate::{
    CurrentUser, Error,
    auth::{cookie, csrf},
    client::ClientInfo,
    context::Context,
    flows::{
        mfa::{self, Code, Proof},
        sessions::Grant,
    },
};

pub(super) fn router() -> Router<Arc<Context>> {
    let router = Router::new()
        .route("/me/mfa", get(status))
        .route("/me/mfa/totp", post(enrol).delete(disable))
        .route("/me/mfa/totp/confirm", post(confirm))
        .route("/me/mfa/recovery-codes", post(regenerate))
        .route("/mfa/verify", post(verify))
        .route("/reauthenticate", post(reauthenticate));
    #[cfg(feature = "passkeys")]
    let router = router
        .route("/mfa/passkey/begin", post(passkey_begin))
        .route("/mfa/passkey/complete", post(passkey_complete));
    router
}

/// `GET /me/mfa`: `{ ok, totp, recovery_codes_left, passkey_as_second_factor }`.
pub(crate) async fn status(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Response, Error> {
    let status = mfa::status(&ctx, user.id()).await?;
    Ok(ok(json!({
        "totp": status.totp,
        "recovery_codes_left": status.recovery_codes_left,
        "passkey_as_second_factor": status.passkey_as_second_factor,
    }))
    .into_response())
}

/// `POST /me/mfa/totp` (fresh session): `{ ok, secret, otpauth_url, qr_svg }`, an
/// enrolment that counts once confirmed (10 minutes); 409 when TOTP is already on.
pub(crate) async fn enrol(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Response, Error> {
    require_fresh(&ctx, &user)?;
    let enrolment = mfa::begin_totp(&ctx, user.id(), &client).await?;
    Ok(ok(json!({
        "secret": enrolment.secret,
        "otpauth_url": enrolment.otpauth_url,
        "qr_svg": enrolment.qr_svg,
    }))
    .into_response())
}

/// Body of `POST /me/mfa/totp/confirm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmBody {
    code: String,
}

impl fmt::Debug for ConfirmBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConfirmBody([redacted])")
    }
}

/// `POST /me/mfa/totp/confirm`: `{ ok, recovery_codes }` (shown this once); TOTP is on
/// and the account's other sessions are revoked. 400 `token_invalid` for a wrong code or
/// no enrolment, `token_expired` for an enrolment over ten minutes old.
pub(crate) async fn confirm(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<ConfirmBody>,
) -> Result<Response, Error> {
    let codes = mfa::confirm_totp(&ctx, user.claims(), &body.code, &client).await?;
    Ok(ok(json!({ "recovery_codes": codes })).into_response())
}

/// The fresh-session rule for removing a factor: recent, and proved with a second
/// factor (403 `reauthentication_required` / `mfa_required`).
fn require_fresh_aal2(ctx: &Context, user: &CurrentUser) -> Result<(), Error> {
    require_fresh(ctx, user)?;
    if !user.is_aal2() {
        return Err(Error::MfaRequired(
            "removing a second factor needs a session that passed one: re-authenticate with a code or a passkey"
                .into(),
        ));
    }
    Ok(())
}

/// `DELETE /me/mfa/totp` (fresh session that passed a second factor): TOTP and the
/// recovery codes go; 404 when TOTP is not on.
pub(crate) async fn disable(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Response, Error> {
    require_fresh_aal2(&ctx, &user)?;
    mfa::disable_totp(&ctx, user.id(), &client).await?;
    Ok(ok(json!({})).into_response())
}

/// `POST /me/mfa/recovery-codes` (fresh session): `{ ok, recovery_codes }`, a new set;
/// the old one is dead. 409 when TOTP is not on.
pub(crate) async fn regenerate(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Response, Error> {
    require_fresh(&ctx, &user)?;
    let codes = mfa::regenerate_recovery_codes(&ctx, user.id(), &client).await?;
    Ok(ok(json!({ "recovery_codes": codes })).into_response())
}

/// The `mfa_token` of a request: from the body, or from the `__mfa` cookie a browser flow
/// left (then the request must pass the CSRF check like any cookie-carried credential).
fn mfa_token(ctx: &Context, headers: &HeaderMap, body: Option<String>) -> Result<String, Error> {
    if let Some(token) = body {
        return Ok(token);
    }
    let config = &ctx.config;
    let token = cookie::read(headers, mfa_cookie_name(config))?
        .ok_or_else(|| Error::invalid_request("mfa_token: missing"))?
        .to_owned();
    csrf::check(
        headers,
        &ctx.keys,
        &ctx.origins
            .csrf_origins(ctx.client_app(headers).map(|c| c.id.as_str())),
        uuid::Uuid::nil(),
        &config.cookies.csrf,
    )?;
    Ok(token)
}

/// A grant after a second factor; the `__mfa` cookie, spent, is cleared.
fn granted(ctx: &Context, grant: Grant) -> Response {
    let mut response = GrantResponse {
        grant,
        status: StatusCode::OK,
        config: &ctx.config,
    }
    .into_response();
    set_cookies(
        response.headers_mut(),
        [cookie::clear(&ctx.config, mfa_cookie_name(&ctx.config))],
    );
    response
}

/// Body of `POST /mfa/verify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    #[serde(default)]
    mfa_token: Option<String>,
    method: VerifyMethod,
    code: String,
}

impl fmt::Debug for VerifyBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyBody")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// What answers the challenge.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum VerifyMethod {
    Totp,
    RecoveryCode,
}

/// `POST /mfa/verify` `{ mfa_token, method: "totp" | "recovery_code", code }`: a session
/// grant (`acr: aal2`). 400 `token_invalid` for a wrong code or an unknown, used or
/// expired (`token_expired`) token; 429 `too_many_attempts` after five wrong codes.
pub(crate) async fn verify(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    headers: HeaderMap,
    Json(body): Json<VerifyBody>,
) -> Result<Response, Error> {
    let token = mfa_token(&ctx, &headers, body.mfa_token)?;
    let code = match body.method {
        VerifyMethod::Totp => Code::Totp(&body.code),
        VerifyMethod::RecoveryCode => Code::Recovery(&body.code),
    };
    let grant = mfa::verify(&ctx, &token, code, &client).await?;
    Ok(granted(&ctx, grant))
}

/// Body of `POST /mfa/passkey/begin`.
#[cfg(feature = "passkeys")]
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasskeyBeginBody {
    #[serde(default)]
    mfa_token: Option<String>,
}

/// `POST /mfa/passkey/begin` `{ mfa_token }`: `{ ok, challenge_id, options }` listing the
/// user's passkeys; 404 when they have none.
#[cfg(feature = "passkeys")]
pub(crate) async fn passkey_begin(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<PasskeyBeginBody>,
) -> Result<Response, Error> {
    let token = mfa_token(&ctx, &headers, body.unwrap_or_default().mfa_token)?;
    let (challenge_id, options) = mfa::begin_passkey(&ctx, &token, &client).await?;
    Ok(ok(json!({ "challenge_id": challenge_id, "options": options })).into_response())
}

/// Body of `POST /mfa/passkey/complete`.
#[cfg(feature = "passkeys")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasskeyCompleteBody {
    #[serde(default)]
    mfa_token: Option<String>,
    challenge_id: Uuid,
    credential: Value,
}

/// `POST /mfa/passkey/complete` `{ mfa_token, challenge_id, credential }`: a session grant
/// (`acr: aal2`); 401 `invalid_credentials` for a passkey that is not the user's.
#[cfg(feature = "passkeys")]
pub(crate) async fn passkey_complete(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    headers: HeaderMap,
    Json(body): Json<PasskeyCompleteBody>,
) -> Result<Response, Error> {
    let token = mfa_token(&ctx, &headers, body.mfa_token)?;
    let grant =
        mfa::complete_passkey(&ctx, &token, body.challenge_id, body.credential, &client).await?;
    Ok(granted(&ctx, grant))
}

/// Body of `POST /reauthenticate`: exactly one proof.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReauthenticateBody {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[cfg(feature = "passkeys")]
    #[serde(default)]
    challenge_id: Option<Uuid>,
    #[cfg(feature = "passkeys")]
    #[serde(default)]
    credential: Option<Value>,
}

impl fmt::Debug for ReauthenticateBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReauthenticateBody([redacted])")
    }
}

/// `POST /reauthenticate` `{ password }` | `{ code }` | `{ challenge_id, credential }`:
/// makes the current session fresh (same session, new `auth_time`) and answers
/// `{ ok, user, session, access_token, token_type, expires_in }` (and the `__session`
/// cookie): a new access token expiring no later than the presented one, never a refresh
/// token (the session's own keeps working and carries the new level). A TOTP code or a
/// passkey raises the session to `aal2`. 401 `invalid_credentials` for a
/// wrong password, 400 `token_invalid` for a wrong code.
pub(crate) async fn reauthenticate(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<ReauthenticateBody>,
) -> Result<Response, Error> {
    let proof = match &body {
        ReauthenticateBody {
            password: Some(password),
            code: None,
            ..
        } => Proof::Password(password),
        ReauthenticateBody {
            password: None,
            code: Some(code),
            ..
        } => Proof::Totp(code),
        #[cfg(feature = "passkeys")]
        ReauthenticateBody {
            password: None,
            code: None,
            challenge_id: Some(challenge_id),
            credential: Some(credential),
        } => Proof::Passkey {
            challenge_id: *challenge_id,
            credential: credential.clone(),
        },
        _ => {
            return Err(Error::invalid_request(
                "send exactly one of: password, code, or challenge_id with credential",
            ));
        }
    };
    #[cfg(feature = "passkeys")]
    if matches!(proof, Proof::Password(_) | Proof::Totp(_))
        && (body.challenge_id.is_some() || body.credential.is_some())
    {
        return Err(Error::invalid_request(
            "send exactly one of: password, code, or challenge_id with credential",
        ));
    }
    let (token, account, has_password) =
        mfa::reauthenticate(&ctx, user.claims(), proof, &client).await?;
    Ok(access_token_response(
        &ctx.config,
        &token,
        json!({ "user": UserView::new(&account, has_password) }),
    ))
}
