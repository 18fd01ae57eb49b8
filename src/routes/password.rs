//! Email + password: `POST /sign-up/email-password`, `POST /sign-in/email-password`.

use std::sync::Arc;

use std::fmt;

use axum::{
    Router,
    extract::State,
    response::{IntoResponse as _, Response},
    routing::post,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{
    input::Json,
    views::{Done, GrantResponse, SignInResponse, True, UserView, done},
};
use crate::{
    CurrentUser, Error,
    client::ClientInfo,
    context::Context,
    flows::{self, password::SignedUp},
};

pub(super) fn router() -> Router<Arc<Context>> {
    Router::new()
        .route("/sign-up/email-password", post(sign_up))
        .route("/sign-in/email-password", post(sign_in))
        .route("/password/forgot", post(forgot))
        .route("/password/reset", post(reset))
        .route("/me/password", post(change))
}

/// Body of `POST /sign-up/email-password`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct SignUpBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// Checked against the host's password policy (and the breached-password corpus).
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: String,
    /// Display name (at most 200 characters).
    #[serde(default)]
    name: Option<String>,
    /// A JSON object of the host's own (at most 16 KiB).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    metadata: Option<serde_json::Value>,
}

// Hand-written: a derived `Debug` would print the password.
impl fmt::Debug for SignUpBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignUpBody")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// `{ ok, user, email_verification_required: true }`: the account exists, and nobody signs
/// in to it before its address is verified.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct VerificationRequiredAnswer {
    ok: True,
    user: UserView,
    /// Always `true`: no session was started; verify the address, then sign in.
    email_verification_required: True,
}

/// What `POST /sign-up/email-password` answers (201): a session grant, or, where the host
/// requires verified addresses, the new account without a session.
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // only documents an answer: never built
pub(crate) enum SignUpAnswer {
    /// Signed up and signed in.
    Grant(super::views::GrantBody),
    /// Signed up; the address must be verified before any sign-in.
    VerificationRequired(VerificationRequiredAnswer),
}

/// `POST /sign-up/email-password`: create an account and sign it in (201 grant;
/// 409 `email_taken`; 400 `weak_password`). When the host requires verified emails, 201
/// `{ ok, user, email_verification_required: true }` and no session.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sign-up/email-password", tag = "password",
    security(()),
    request_body = SignUpBody,
    responses(
        (status = 201, description = "Signed up: a session grant, or (where the host requires verified addresses) the account and no session", body = SignUpAnswer,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`, with a grant (unless the host delivers grants in the body only)"))),
        (status = 400, description = "`invalid_request`: a malformed email address, a name over 200 characters or with control characters, or metadata that is not a JSON object of at most 16 KiB; `weak_password`: the password fails the policy (the message says why) or appears in a data breach"),
        (status = 403, description = "`user_disabled`: the account was disabled while its session was being started"),
        (status = 409, description = "`email_taken`: an account already uses this address"),
        (status = 429, description = "`rate_limited`: too many sign-ups from this IP address"),
    ),
))]
pub(crate) async fn sign_up(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<SignUpBody>,
) -> Result<Response, Error> {
    let input = flows::password::SignUp {
        email: body.email,
        password: body.password,
        name: body.name,
        metadata: body.metadata,
    };
    match flows::password::sign_up(&ctx, input, &client).await? {
        SignedUp::SignedIn(grant) => Ok(GrantResponse {
            grant: *grant,
            status: StatusCode::CREATED,
            config: &ctx.config,
        }
        .into_response()),
        SignedUp::VerificationRequired(user) => Ok((
            StatusCode::CREATED,
            Json(VerificationRequiredAnswer {
                ok: True,
                user: UserView::new(&user, true),
                email_verification_required: True,
            }),
        )
            .into_response()),
    }
}

/// Body of `POST /sign-in/email-password`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: String,
}

impl fmt::Debug for SignInBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInBody")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// `POST /sign-in/email-password`: check the password and start a session (200 grant;
/// 401 `invalid_credentials`, the same for unknown emails; 403 `user_disabled` or
/// `email_not_verified` only after a correct password).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sign-in/email-password", tag = "password",
    security(()),
    request_body = SignInBody,
    responses(
        (status = 200, description = "Signed in, or a second factor is due", body = super::views::SignInBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`, with a grant (unless the host delivers grants in the body only); none with a challenge"))),
        (status = 400, description = "`invalid_request`: a malformed email address"),
        (status = 401, description = "`invalid_credentials`: wrong email or password (the same for an unknown email, an account without a password, or a password changed meanwhile)"),
        (status = 403, description = "`user_disabled`: the account is disabled; `email_not_verified`: the host requires a verified address (both only after a correct password)"),
        (status = 429, description = "`rate_limited`: too many attempts from this IP address, for this email, or for this email from this IP address"),
    ),
))]
pub(crate) async fn sign_in(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<SignInBody>,
) -> Result<Response, Error> {
    let signed_in = flows::password::sign_in(&ctx, &body.email, &body.password, &client).await?;
    Ok(SignInResponse {
        signed_in,
        status: StatusCode::OK,
        config: &ctx.config,
    }
    .into_response())
}

/// Body of `POST /password/forgot`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgotBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// Where the reset page sends the person afterwards: an allowed origin (or a redirect
    /// of the client app named by `x-api-key`).
    #[serde(default)]
    redirect_url: Option<String>,
    /// A logo for the email, on the public or an allowed origin.
    #[serde(default)]
    logo_url: Option<String>,
    /// The product name in the email: 1 to 60 letters, digits, spaces and `- _ . & ' !`.
    #[serde(default)]
    platform_name: Option<String>,
    /// The origin of the reset link: exactly one of the allowed origins.
    #[serde(default)]
    base_url: Option<String>,
    /// A configured client app's id (its branding), up to 60 of `A-Z a-z 0-9 - _`.
    #[serde(default)]
    client_alias: Option<String>,
}

/// The one answer of `POST /password/forgot`, whatever happened.
const FORGOT_MESSAGE: &str =
    "If an account exists for this address, we have sent it a link to reset its password.";

/// `{ ok, message }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ForgotAnswer {
    ok: True,
    /// The same sentence whether or not the address has an account.
    message: &'static str,
}

/// `POST /password/forgot`: email a reset link. 200 with the same body whether or not
/// the address has an account; only malformed input or throttling differ.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/password/forgot", tag = "password",
    security(()),
    request_body = ForgotBody,
    responses(
        (status = 200, description = "The same answer whether or not the address has an account", body = ForgotAnswer),
        (status = 400, description = "`invalid_request`: a malformed email address, a `redirect_url` or `base_url` that is not an allowed origin, a `logo_url` off our origins, or a malformed `platform_name` or `client_alias`"),
        (status = 429, description = "`rate_limited`: too many resets asked from this IP address, for this address, or by everyone at once"),
    ),
))]
pub(crate) async fn forgot(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<ForgotBody>,
) -> Result<Json<ForgotAnswer>, Error> {
    let options = flows::password_recovery::ForgotOptions {
        redirect_url: body.redirect_url,
        logo_url: body.logo_url,
        platform_name: body.platform_name,
        base_url: body.base_url,
        client_alias: body.client_alias,
    };
    flows::password_recovery::forgot(&ctx, &body.email, options, &client).await?;
    Ok(Json(ForgotAnswer {
        ok: True,
        message: FORGOT_MESSAGE,
    }))
}

/// Body of `POST /password/reset`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    /// The `token` of the emailed link.
    token: String,
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: String,
}

impl fmt::Debug for ResetBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetBody([redacted])")
    }
}

/// What `POST /password/reset` answers: `{ ok }`, or, where the host signs people in after
/// a reset, a session grant or a second-factor challenge.
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // only documents an answer: never built
pub(crate) enum ResetAnswer {
    /// The password is set: sign in with it.
    Done(Done),
    /// Signed in (`sign_in_after_reset`), or a second factor is due.
    SignedIn(super::views::SignInBody),
}

/// `POST /password/reset`: set a new password with an emailed token. Every session of the
/// user is revoked; 200 `{ ok }` (or a grant when the host enabled sign-in after reset).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/password/reset", tag = "password",
    security(()),
    request_body = ResetBody,
    responses(
        (status = 200, description = "The password is set and every session revoked; where the host signs people in after a reset, a session grant or a second-factor challenge", body = ResetAnswer,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`, with a grant (unless the host delivers grants in the body only)"))),
        (status = 400, description = "`token_invalid`: unknown, used or superseded, or the account's address changed or it was disabled; `token_expired`: past its lifetime (one hour); `weak_password`: the password fails the policy (the message says why) or appears in a data breach"),
        (status = 403, description = "`user_disabled`: the account was disabled while the session after the reset was being started"),
        (status = 429, description = "`rate_limited`: too many tokens tried from this IP address"),
    ),
))]
pub(crate) async fn reset(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<ResetBody>,
) -> Result<Response, Error> {
    let signed_in =
        flows::password_recovery::reset(&ctx, &body.token, &body.password, &client).await?;
    Ok(match signed_in {
        Some(signed_in) => SignInResponse {
            signed_in,
            status: StatusCode::OK,
            config: &ctx.config,
        }
        .into_response(),
        None => done().into_response(),
    })
}

/// Body of `POST /me/password`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeBody {
    /// Required when the account has a password; without one, a fresh session stands in.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    current_password: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    new_password: String,
}

impl fmt::Debug for ChangeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChangeBody([redacted])")
    }
}

/// `POST /me/password`: change the password (the current one required; an account
/// without one needs a fresh session). Other sessions are revoked, this one kept.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/me/password", tag = "password",
    request_body = ChangeBody,
    responses(
        (status = 200, description = "Changed; the caller's other sessions are revoked", body = Done),
        (status = 400, description = "`weak_password`: the new password fails the policy (the message says why), appears in a data breach, or equals the current one"),
        (status = 403, description = "`forbidden`: the current password is wrong (or missing); `reauthentication_required`: the account has no password yet and the session is not fresh"),
        (status = 429, description = "`rate_limited`: too many changes tried by this user or from this IP address"),
    ),
))]
pub(crate) async fn change(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<ChangeBody>,
) -> Result<Json<Done>, Error> {
    let change = flows::password_recovery::Change {
        user_id: user.id(),
        session_id: user.session_id(),
        auth_time: user.auth_time,
        current_password: body.current_password.as_deref(),
        new_password: &body.new_password,
    };
    flows::password_recovery::change(&ctx, change, &client).await?;
    Ok(done())
}
