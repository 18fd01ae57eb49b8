//! Email verification: `POST /email/send-verification`, `POST` and `GET /email/verify`.

use std::sync::Arc;

use axum::{
    Form, Router,
    extract::{FromRequest, Request, State},
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::{
    confirm,
    input::{Json, OptionalJson, Query, wants_json},
    views::{UserView, ok, set_cookies},
};
use crate::{
    CurrentUser, Error,
    auth::cookie,
    client::ClientInfo,
    context::Context,
    delivery::{mask_email, templates::escape_html},
    flows::{
        email_address::normalize_email,
        email_verification::{self, Recipient},
        profile,
    },
    origin,
};

pub(super) fn router() -> Router<Arc<Context>> {
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
    State(ctx): State<Arc<Context>>,
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
    email_verification::send(&ctx, recipient, body.redirect_url, &client).await?;
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
    ctx: &Context,
    user: &crate::entity::user::Model,
) -> Result<UserView, Error> {
    let account = profile::account_of(ctx, user.clone()).await?;
    Ok(UserView::new(&account.user, account.has_password))
}

/// `POST /email/verify`: consume the token and mark the address verified. JSON
/// `{ token }` answers `{ ok, user }`; the confirm page's form (with its CSRF field) gets a
/// 303 to its `redirect_url` (or `/`).
pub(crate) async fn verify(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    request: Request,
) -> Result<Response, Error> {
    if !confirm::is_form(request.headers()) {
        let Json(body) = Json::<VerifyBody>::from_request(request, &()).await?;
        let user = email_verification::verify(&ctx, &body.token, &client).await?;
        let view = verified_view(&ctx, &user).await?;
        return Ok(ok(json!({ "user": view })).into_response());
    }
    let headers = request.headers().clone();
    let Form(form) = Form::<VerifyForm>::from_request(request, &())
        .await
        .map_err(|_| Error::invalid_request("malformed form"))?;
    confirm::check_form(&ctx, &headers, CONFIRM_PURPOSE, &form.token, &form.csrf)?;
    let target = if form.redirect_url.is_empty() {
        "/".to_owned()
    } else {
        ctx.origins.check_returning_redirect(&form.redirect_url)?
    };
    match email_verification::verify(&ctx, &form.token, &client).await {
        Ok(_) => {
            let mut response = Redirect::to(&target).into_response();
            set_cookies(
                response.headers_mut(),
                [cookie::clear(&ctx.config, confirm::cookie_name(&ctx))],
            );
            Ok(response)
        }
        Err(err) if err.status().is_client_error() && !form.redirect_url.is_empty() => {
            Ok(Redirect::to(&origin::with_query(&target, "error", err.code())).into_response())
        }
        Err(err) => Err(err),
    }
}

/// What the verification confirm form is bound to.
const CONFIRM_PURPOSE: &str = "email-verify-confirm";

/// Body of `POST /email/verify` (the confirm page's form).
#[derive(Deserialize)]
pub(crate) struct VerifyForm {
    token: String,
    #[serde(default)]
    redirect_url: String,
    #[serde(default)]
    csrf: String,
}

impl std::fmt::Debug for VerifyForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyForm([redacted])")
    }
}

/// Query of `GET /email/verify`.
#[derive(Deserialize)]
pub(crate) struct VerifyLink {
    token: String,
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `GET /email/verify?token=&redirect_url=`: the emailed link. A JSON client
/// (`Accept: application/json`) verifies directly and gets `{ ok, user }`. A browser gets a
/// confirm page (what is confirmed, for which masked address, when the account was
/// created) whose button POSTs: the GET consumes nothing, so a mail scanner that opens
/// every link verifies nothing, and a person who did not create the account is told to
/// do nothing.
pub(crate) async fn verify_link(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    headers: HeaderMap,
    Query(query): Query<VerifyLink>,
) -> Result<Response, Error> {
    // Checked before anything else: an unchecked target is never redirected to.
    let target = query
        .redirect_url
        .filter(|target| !target.is_empty())
        .map(|target| ctx.origins.check_returning_redirect(&target))
        .transpose()?;
    if wants_json(&headers) {
        let user = email_verification::verify(&ctx, &query.token, &client).await?;
        let view = verified_view(&ctx, &user).await?;
        return Ok(ok(json!({ "user": view })).into_response());
    }
    let Some((address, created_at)) = email_verification::peek(&ctx, &query.token).await? else {
        return Ok(match target {
            Some(target) => Redirect::to(&origin::with_query(
                &target,
                "error",
                Error::TokenInvalid.code(),
            ))
            .into_response(),
            None => Error::TokenInvalid.into_response(),
        });
    };
    let app = escape_html(&ctx.config.app_name);
    let masked = escape_html(&mask_email(&address));
    let created = escape_html(&created_at.date().to_string());
    let title = format!("Confirm your email address for {}", ctx.config.app_name);
    Ok(confirm::render(
        &ctx,
        &confirm::Page {
            title: &title,
            lead_html: format!(
                "<p>This confirms that <strong>{masked}</strong> belongs to the {app} account \
                 created on {created} (UTC).</p>\
                 <p>If you did not create that account, do nothing: close this page, and \
                 the address stays unconfirmed.</p>"
            ),
            action: format!("{}/email/verify", ctx.config.auth_base_path),
            button: "Confirm my address",
            token: &query.token,
            redirect_url: target.as_deref().unwrap_or(""),
            purpose: CONFIRM_PURPOSE,
        },
    ))
}
