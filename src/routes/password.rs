//! Email + password: `POST /sign-up/email-password`, `POST /sign-in/email-password`.

use std::fmt;

use axum::{Router, extract::State, response::Response, routing::post};
use http::StatusCode;
use serde::Deserialize;

use axum::response::IntoResponse as _;
use serde_json::json;

use super::{
    input::Json,
    views::{GrantResponse, UserView, ok},
};
use crate::{
    Error, Portcullis,
    flows::{self, password::SignedUp},
    session::client_ip::ClientInfo,
};

pub(super) fn router() -> Router<Portcullis> {
    Router::new()
        .route("/sign-up/email-password", post(sign_up))
        .route("/sign-in/email-password", post(sign_in))
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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Json(body): Json<SignUpBody>,
) -> Result<Response, Error> {
    let input = flows::password::SignUp {
        email: body.email,
        password: body.password,
        name: body.name,
        metadata: body.metadata,
    };
    match flows::password::sign_up(&auth.inner, input, &client).await? {
        SignedUp::SignedIn(grant) => Ok(GrantResponse {
            grant: *grant,
            status: StatusCode::CREATED,
            config: &auth.inner.config,
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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Json(body): Json<SignInBody>,
) -> Result<Response, Error> {
    let grant = flows::password::sign_in(&auth.inner, &body.email, &body.password, &client).await?;
    Ok(axum::response::IntoResponse::into_response(GrantResponse {
        grant,
        status: StatusCode::OK,
        config: &auth.inner.config,
    }))
}
