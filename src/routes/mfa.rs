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
use serde::{Deserialize, Serialize};
#[cfg(feature = "passkeys")]
use serde_json::Value;
#[cfg(feature = "passkeys")]
use uuid::Uuid;

use super::{
    input::Json,
    sessions::require_fresh,
    views::{
        Done, GrantResponse, True, UserView, access_token_response, done, mfa_cookie_name,
        set_cookies,
    },
};
#[cfg(feature = "passkeys")]
use super::{input::OptionalJson, passkeys::PasskeyChallengeAnswer};
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

/// `{ ok, totp, recovery_codes_left, passkey_as_second_factor }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MfaStatusAnswer {
    ok: True,
    /// Whether TOTP is on (confirmed): the account has a second factor.
    totp: bool,
    /// Unused recovery codes (0 while TOTP is off).
    recovery_codes_left: u64,
    /// Whether one of the caller's passkeys can answer the second-factor challenge (TOTP is
    /// on, passkeys are on, and they have one).
    passkey_as_second_factor: bool,
}

/// `GET /me/mfa`: `{ ok, totp, recovery_codes_left, passkey_as_second_factor }`.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/me/mfa", tag = "mfa",
    responses((status = 200, body = MfaStatusAnswer)),
))]
pub(crate) async fn status(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
) -> Result<Json<MfaStatusAnswer>, Error> {
    let status = mfa::status(&ctx, user.id()).await?;
    Ok(Json(MfaStatusAnswer {
        ok: True,
        totp: status.totp,
        recovery_codes_left: status.recovery_codes_left,
        passkey_as_second_factor: status.passkey_as_second_factor,
    }))
}

/// `{ ok, secret, otpauth_url, qr_svg }`: a TOTP enrolment, shown this once.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct TotpEnrolmentAnswer {
    ok: True,
    /// The secret, base32 (for typing into an authenticator app).
    secret: String,
    /// `otpauth://totp/...` with issuer and account.
    otpauth_url: String,
    /// The same URL as a QR code: an inline SVG document.
    qr_svg: String,
}

/// `POST /me/mfa/totp` (fresh session): `{ ok, secret, otpauth_url, qr_svg }`, an
/// enrolment that counts once confirmed (10 minutes); 409 when TOTP is already on.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/me/mfa/totp", tag = "mfa",
    responses(
        (status = 200, description = "A new enrolment (replacing an unconfirmed one), to confirm with `POST /me/mfa/totp/confirm` within ten minutes", body = TotpEnrolmentAnswer),
        (status = 403, description = "`reauthentication_required`: the session's sign-in is not recent enough"),
        (status = 409, description = "`conflict`: TOTP is already on"),
        (status = 429, description = "`rate_limited`: too many enrolment attempts for this account"),
    ),
))]
pub(crate) async fn enrol(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Json<TotpEnrolmentAnswer>, Error> {
    require_fresh(&ctx, &user)?;
    let enrolment = mfa::begin_totp(&ctx, user.id(), &client).await?;
    Ok(Json(TotpEnrolmentAnswer {
        ok: True,
        secret: enrolment.secret,
        otpauth_url: enrolment.otpauth_url,
        qr_svg: enrolment.qr_svg,
    }))
}

/// Body of `POST /me/mfa/totp/confirm`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmBody {
    /// A current six-digit code from the authenticator app.
    code: String,
}

impl fmt::Debug for ConfirmBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConfirmBody([redacted])")
    }
}

/// `{ ok, recovery_codes }`: a set of recovery codes, shown this once.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct RecoveryCodesAnswer {
    ok: True,
    /// Ten single-use codes (`xxxx-xxxx-xxxx`); any older set is dead.
    recovery_codes: Vec<String>,
}

/// `POST /me/mfa/totp/confirm`: `{ ok, recovery_codes }` (shown this once); TOTP is on
/// and the account's other sessions are revoked. 400 `token_invalid` for a wrong code or
/// no enrolment, `token_expired` for an enrolment over ten minutes old.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/me/mfa/totp/confirm", tag = "mfa",
    request_body = ConfirmBody,
    responses(
        (status = 200, description = "TOTP is on; the account's other sessions are revoked and this one stays `aal1`", body = RecoveryCodesAnswer),
        (status = 400, description = "`token_invalid`: a wrong code, no enrolment, or the enrolment was confirmed or replaced meanwhile; `token_expired`: the enrolment is over ten minutes old"),
        (status = 409, description = "`conflict`: TOTP is already on"),
        (status = 429, description = "`rate_limited`: too many enrolment attempts for this account"),
    ),
))]
pub(crate) async fn confirm(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<ConfirmBody>,
) -> Result<Json<RecoveryCodesAnswer>, Error> {
    let recovery_codes = mfa::confirm_totp(&ctx, user.claims(), &body.code, &client).await?;
    Ok(Json(RecoveryCodesAnswer {
        ok: True,
        recovery_codes,
    }))
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
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/me/mfa/totp", tag = "mfa",
    responses(
        (status = 200, description = "TOTP and the recovery codes are gone", body = Done),
        (status = 403, description = "`reauthentication_required`: the session's sign-in is not recent enough; `mfa_required`: the session did not pass a second factor (re-authenticate with a code or a passkey)"),
        (status = 404, description = "`not_found`: TOTP is not on"),
    ),
))]
pub(crate) async fn disable(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Json<Done>, Error> {
    require_fresh_aal2(&ctx, &user)?;
    mfa::disable_totp(&ctx, user.id(), &client).await?;
    Ok(done())
}

/// `POST /me/mfa/recovery-codes` (fresh session): `{ ok, recovery_codes }`, a new set;
/// the old one is dead. 409 when TOTP is not on.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/me/mfa/recovery-codes", tag = "mfa",
    responses(
        (status = 200, description = "A new set; the old one is dead", body = RecoveryCodesAnswer),
        (status = 403, description = "`reauthentication_required`: the session's sign-in is not recent enough"),
        (status = 409, description = "`conflict`: TOTP is not on"),
    ),
))]
pub(crate) async fn regenerate(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
) -> Result<Json<RecoveryCodesAnswer>, Error> {
    require_fresh(&ctx, &user)?;
    let recovery_codes = mfa::regenerate_recovery_codes(&ctx, user.id(), &client).await?;
    Ok(Json(RecoveryCodesAnswer {
        ok: True,
        recovery_codes,
    }))
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    /// The challenge's `mfa_token`; absent, it is read from the `__mfa` cookie a browser
    /// flow left (and the request must then pass the CSRF check).
    #[serde(default)]
    mfa_token: Option<String>,
    method: VerifyMethod,
    /// Six digits from the authenticator app, or a recovery code.
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub(crate) enum VerifyMethod {
    /// A code from the authenticator app.
    Totp,
    /// One of the recovery codes (each works once).
    RecoveryCode,
}

/// `POST /mfa/verify` `{ mfa_token, method: "totp" | "recovery_code", code }`: a session
/// grant (`acr: aal2`). 400 `token_invalid` for a wrong code or an unknown, used or
/// expired (`token_expired`) token; 429 `too_many_attempts` after five wrong codes.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/mfa/verify", tag = "mfa",
    security(()),
    request_body = VerifyBody,
    responses(
        (status = 200, description = "Signed in with both factors (`acr: aal2`)", body = super::views::GrantBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`; clears `__mfa`"))),
        (status = 400, description = "`invalid_request`: a malformed body, no `mfa_token` in the body or the `__mfa` cookie, or that cookie sent twice; `token_invalid`: a wrong code, or an unknown or used `mfa_token`; `token_expired`: the `mfa_token` is past its five minutes"),
        (status = 403, description = "`forbidden`: the `__mfa` cookie without a valid `X-CSRF-Token` or allowed `Origin`; `user_disabled`: the account was disabled"),
        (status = 429, description = "`rate_limited`: too many second-factor attempts from this address or for this account; `too_many_attempts`: five wrong codes killed the `mfa_token`, or a long run of wrong codes paused the account's second factor for a day"),
    ),
))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct PasskeyBeginBody {
    /// The challenge's `mfa_token`; absent, it is read from the `__mfa` cookie a browser
    /// flow left (and the request must then pass the CSRF check).
    #[serde(default)]
    mfa_token: Option<String>,
}

/// `POST /mfa/passkey/begin` `{ mfa_token }`: `{ ok, challenge_id, options }` listing the
/// user's passkeys; 404 when they have none.
#[cfg(feature = "passkeys")]
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/mfa/passkey/begin", tag = "mfa",
    security(()),
    request_body(
        content = Option<PasskeyBeginBody>,
        description = "No body, an empty one or `{}`: the `mfa_token` is read from the `__mfa` cookie",
    ),
    responses(
        (status = 200, description = "A ceremony listing the user's passkeys, for `navigator.credentials.get`", body = PasskeyChallengeAnswer),
        (status = 400, description = "`invalid_request`: a malformed body, no `mfa_token` in the body or the `__mfa` cookie, or that cookie sent twice; `token_invalid`: an unknown or used `mfa_token`, or the account no longer has TOTP on; `token_expired`: the `mfa_token` is past its five minutes"),
        (status = 403, description = "`forbidden`: the `__mfa` cookie without a valid `X-CSRF-Token` or allowed `Origin`"),
        (status = 404, description = "`not_found`: the host turned passkeys off (or has no relying party), or the user has no passkey"),
        (status = 429, description = "`rate_limited`: too many passkey ceremonies from this address"),
    ),
))]
pub(crate) async fn passkey_begin(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<PasskeyBeginBody>,
) -> Result<Json<PasskeyChallengeAnswer>, Error> {
    let token = mfa_token(&ctx, &headers, body.unwrap_or_default().mfa_token)?;
    let (challenge_id, options) = mfa::begin_passkey(&ctx, &token, &client).await?;
    Ok(Json(PasskeyChallengeAnswer {
        ok: True,
        challenge_id,
        options,
    }))
}

/// Body of `POST /mfa/passkey/complete`.
#[cfg(feature = "passkeys")]
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct PasskeyCompleteBody {
    /// The challenge's `mfa_token`; absent, it is read from the `__mfa` cookie a browser
    /// flow left (and the request must then pass the CSRF check).
    #[serde(default)]
    mfa_token: Option<String>,
    /// From `POST /mfa/passkey/begin`.
    challenge_id: Uuid,
    /// The browser's `PublicKeyCredential.toJSON()`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    credential: Value,
}

/// `POST /mfa/passkey/complete` `{ mfa_token, challenge_id, credential }`: a session grant
/// (`acr: aal2`); 401 `invalid_credentials` for a passkey that is not the user's.
#[cfg(feature = "passkeys")]
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/mfa/passkey/complete", tag = "mfa",
    security(()),
    request_body = PasskeyCompleteBody,
    responses(
        (status = 200, description = "Signed in with both factors (`acr: aal2`)", body = super::views::GrantBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`; clears `__mfa`"))),
        (status = 400, description = "`invalid_request`: a malformed body, a credential that is not a `PublicKeyCredential` JSON or has a bad credential id, no `mfa_token` in the body or the `__mfa` cookie, or that cookie sent twice; `token_invalid`: an unknown or used `mfa_token` or ceremony (or one not begun at `/mfa/passkey/begin`); `token_expired`: the `mfa_token` or the ceremony is past its lifetime"),
        (status = 401, description = "`invalid_credentials`: a passkey that is not one of the user's, or an assertion that does not verify"),
        (status = 403, description = "`forbidden`: the `__mfa` cookie without a valid `X-CSRF-Token` or allowed `Origin`; `user_disabled`: the account was disabled"),
        (status = 404, description = "`not_found`: the host turned passkeys off (or has no relying party)"),
        (status = 429, description = "`rate_limited`: too many second-factor or passkey attempts from this address or for this account; `too_many_attempts`: five wrong answers killed the `mfa_token`, or a long run of them paused the account's second factor for a day"),
    ),
))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ReauthenticateBody {
    /// The account's password.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: Option<String>,
    /// A TOTP code (raises the session to `aal2`).
    #[serde(default)]
    code: Option<String>,
    /// A passkey ceremony begun at `/passkeys/authenticate/begin` or `/mfa/passkey/begin`
    /// (with `credential`; raises the session to `aal2`).
    #[cfg(feature = "passkeys")]
    #[serde(default)]
    challenge_id: Option<Uuid>,
    /// The browser's `PublicKeyCredential.toJSON()` answering `challenge_id`.
    #[cfg(feature = "passkeys")]
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
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
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/reauthenticate", tag = "mfa",
    request_body = ReauthenticateBody,
    responses(
        (status = 200, description = "The session is fresh (and `aal2` after a code or a passkey): a new access token for it, never a refresh token", body = super::views::AccessTokenBody,
            headers(("Set-Cookie" = String, description = "`__session`"))),
        (status = 400, description = "`invalid_request`: a malformed body, not exactly one of `password`, `code`, or `challenge_id` with `credential`, or a credential that is not a `PublicKeyCredential` JSON; `token_invalid`: a wrong code, or an unknown or used passkey ceremony; `token_expired`: the passkey ceremony is past its lifetime"),
        (status = 401, description = "`invalid_credentials`: a wrong password, or a passkey that is not the caller's or does not verify; `unauthorized`: no, malformed, expired or revoked session credentials (or the session was revoked meanwhile)"),
        (status = 403, description = "`forbidden`: an impersonation session (it proves nothing of the user), or a cookie-authenticated request without a valid `X-CSRF-Token` or allowed `Origin`; `user_disabled`: the account was disabled"),
        (status = 404, description = "`not_found`: the host turned the proof's method (password or passkeys) off"),
        (status = 429, description = "`rate_limited`: too many re-authentications (or second-factor attempts) from this address or for this account; `too_many_attempts`: a long run of wrong codes paused the account's second factor for a day"),
    ),
))]
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
        Some(UserView::new(&account, has_password)),
    ))
}
