//! Email + password: `POST /sign-up/email-password`, `POST /sign-in/email-password`.

use std::sync::Arc;

use std::fmt;

use axum::{Router, extract::State, response::Response, routing::post};
use http::StatusCode;
use serde::Deserialize;

use axum::response::IntoResponse as _;
use serde_json::json;

use super::{
    input::Json,
    views::{GrantResponse, SignInResponse, UserView, ok},
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
#[serde(deny_unknown_fields)]
pub(crate) struct SignUpBody {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
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

/// `POST /sign-up/email-password`: create an account and sign it in (201 grant;
/// 409 `email_taken`; 400 `weak_password`). When the host requires verified emails, 201
/// `{ ok, user, email_verification_required: true }` and no session.
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
            ok(json!({ "user": UserView::new(&user, true), "email_verification_required": true })),
        )
            .into_response()),
    }
}

/// Body of `POST /sign-in/email-password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInBody {
    email: String,
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
#[serde(deny_unknown_fields)]
pub(crate) struct ForgotBody {
    email: String,
    #[serde(default)]
    redirect_url: Option<String>,
    #[serde(default)]
    logo_url: Option<String>,
    #[serde(default)]
    platform_name: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    client_alias: Option<String>,
}

/// The one answer of `POST /password/forgot`, whatever happened.
const FORGOT_MESSAGE: &str =
    "If an account exists for this address, we have sent it a link to reset its password.";

/// `POST /password/forgot`: email a reset link. 200 with the same body whether or not
/// the address has an account; only malformed input or throttling differ.
pub(crate) async fn forgot(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<ForgotBody>,
) -> Result<Response, Error> {
    let options = flows::password_recovery::ForgotOptions {
        redirect_url: body.redirect_url,
        logo_url: body.logo_url,
        platform_name: body.platform_name,
        base_url: body.base_url,
        client_alias: body.client_alias,
    };
    flows::password_recovery::forgot(&ctx, &body.email, options, &client).await?;
    Ok(ok(json!({ "message": FORGOT_MESSAGE })).into_response())
}

/// Body of `POST /password/reset`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    token: String,
    password: String,
}

impl fmt::Debug for ResetBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetBody([redacted])")
    }
}

/// `POST /password/reset`: set a new password with an emailed token. Every session of the
/// user is revoked; 200 `{ ok }` (or a grant when the host enabled sign-in after reset).
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
        None => ok(json!({})).into_response(),
    })
}

/// Body of `POST /me/password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeBody {
    #[serde(default)]
    current_password: Option<String>,
    new_password: String,
}

impl fmt::Debug for ChangeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChangeBody([redacted])")
    }
}

/// `POST /me/password`: change the password (the current one required; an account
/// without one needs a fresh session). Other sessions are revoked, this one kept.
pub(crate) async fn change(
    State(ctx): State<Arc<Context>>,
    user: CurrentUser,
    client: ClientInfo,
    Json(body): Json<ChangeBody>,
) -> Result<Response, Error> {
    let change = flows::password_recovery::Change {
        user_id: user.id(),
        session_id: user.session_id(),
        auth_time: user.auth_time,
        current_password: body.current_password.as_deref(),
        new_password: &body.new_password,
    };
    flows::password_recovery::change(&ctx, change, &client).await?;
    Ok(ok(json!({})).into_response())
}
