//! Email verification: `POST /email/send-verification`, `POST` and `GET /email/verify`.

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::json;

use super::{
    input::{Json, OptionalJson, Query},
    views::{UserView, ok},
};
use crate::{
    CurrentUser, Error, Portcullis,
    flows::{
        email_address::normalize_email,
        email_verification::{self, Recipient},
        redirect,
    },
    session::client_ip::ClientInfo,
    store,
};

pub(super) fn router() -> Router<Portcullis> {
    Router::new()
        .route("/email/send-verification", post(send_verification))
        .route("/email/verify", post(verify).get(verify_link))
}

/// Body of `POST /email/send-verification`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendVerificationBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `POST /email/send-verification`: email a verification link to the signed-in user, or
/// (signed out) to `email`. The answer is the same whether or not an unverified account
/// exists there.
pub(crate) async fn send_verification(
    State(auth): State<Portcullis>,
    user: Option<CurrentUser>,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<SendVerificationBody>,
) -> Result<Response, Error> {
    let body = body.unwrap_or_default();
    let recipient = match (&user, body.email) {
        (Some(user), _) => Recipient::SignedIn(user.id()),
        (None, Some(email)) => Recipient::Email(normalize_email(&email)?),
        (None, None) => return Err(Error::invalid_request("email: required when signed out")),
    };
    email_verification::send(&auth.inner, recipient, body.redirect_url, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// Body of `POST /email/verify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    token: String,
}

impl std::fmt::Debug for VerifyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyBody([redacted])")
    }
}

async fn verified_view(
    auth: &Portcullis,
    user: &crate::entity::user::Model,
) -> Result<UserView, Error> {
    let has_password = store::users::password_hash(&auth.inner.db, user.id)
        .await?
        .is_some();
    Ok(UserView::new(user, has_password))
}

/// `POST /email/verify`: consume the token and mark the address verified.
pub(crate) async fn verify(
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Json(body): Json<VerifyBody>,
) -> Result<Response, Error> {
    let user = email_verification::verify(&auth.inner, &body.token, &client).await?;
    let view = verified_view(&auth, &user).await?;
    Ok(ok(json!({ "user": view })).into_response())
}

/// Query of `GET /email/verify`.
#[derive(Deserialize)]
pub(crate) struct VerifyLink {
    token: String,
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `GET /email/verify?token=&redirect_url=`: the emailed link. Verifies, then 303 to the
/// allow-listed `redirect_url` (with `error=<code>` on failure), or answers JSON.
pub(crate) async fn verify_link(
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Query(query): Query<VerifyLink>,
) -> Result<Response, Error> {
    // Checked before anything else: an unchecked target is never redirected to.
    let target = query
        .redirect_url
        .map(|target| redirect::check(&target, &auth.inner.origins.allowed))
        .transpose()?;
    let result = email_verification::verify(&auth.inner, &query.token, &client).await;
    match (result, target) {
        (Ok(_), Some(target)) => Ok(Redirect::to(&target).into_response()),
        (Ok(user), None) => {
            let view = verified_view(&auth, &user).await?;
            Ok(ok(json!({ "user": view })).into_response())
        }
        (Err(err), Some(target)) if err.status().is_client_error() => {
            Ok(Redirect::to(&redirect::with_query(&target, "error", err.code())).into_response())
        }
        (Err(err), _) => Err(err),
    }
}
