//! Passwordless sign-in: magic links (with a scanner-safe confirm page), email codes and
//! SMS codes.

use std::sync::Arc;

use std::fmt;

use axum::{
    Form, Router,
    extract::{FromRequest, Request, State},
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::json;

use super::{
    confirm,
    input::{Json, Query, wants_json},
    views::{SignInResponse, mfa_redirect, ok, set_cookies},
};
use crate::{
    Error,
    auth::cookie,
    client::ClientInfo,
    context::Context,
    delivery::templates::escape_html,
    flows::{mfa::SignedIn, passwordless},
    origin,
};

pub(super) fn magic_link_router() -> Router<Arc<Context>> {
    Router::new()
        .route("/sign-in/magic-link", post(send_magic_link))
        .route(
            "/magic-link/verify",
            post(verify_magic_link).get(open_magic_link),
        )
}

pub(super) fn email_code_router() -> Router<Arc<Context>> {
    Router::new()
        .route("/sign-in/email-otp", post(send_email_code))
        .route("/email-otp/verify", post(verify_email_code))
}

pub(super) fn sms_code_router() -> Router<Arc<Context>> {
    Router::new()
        .route("/sign-in/sms-otp", post(send_sms_code))
        .route("/sms/verify", post(verify_sms_code))
}

/// Body of `POST /sign-in/magic-link`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MagicLinkBody {
    email: String,
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `POST /sign-in/magic-link`: email a single-use sign-in link (10 minutes). 200 whatever
/// the address.
pub(crate) async fn send_magic_link(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<MagicLinkBody>,
) -> Result<Response, Error> {
    passwordless::send_magic_link(&ctx, &body.email, body.redirect_url, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// Query of `GET /magic-link/verify`.
#[derive(Deserialize)]
pub(crate) struct MagicLinkQuery {
    token: String,
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `GET /magic-link/verify?token=&redirect_url=`: the emailed link. A JSON client
/// (`Accept: application/json`) consumes the token and gets a session grant. A browser
/// gets a confirm page whose button POSTs the token: the GET consumes nothing, so mail
/// scanners that open every link do not burn it.
pub(crate) async fn open_magic_link(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    headers: HeaderMap,
    Query(query): Query<MagicLinkQuery>,
) -> Result<Response, Error> {
    let target = query
        .redirect_url
        .filter(|target| !target.is_empty())
        .map(|target| ctx.origins.check_returning_redirect(&target))
        .transpose()?;
    if wants_json(&headers) {
        let signed_in = passwordless::verify_magic_link(&ctx, &query.token, &client).await?;
        let mut response = SignInResponse {
            signed_in,
            status: StatusCode::OK,
            config: &ctx.config,
        }
        .into_response();
        // A GET with `Accept: application/json` is a request any page can make: the
        // tokens go in the body only, never into this browser's cookies.
        response.headers_mut().remove(header::SET_COOKIE);
        return Ok(response);
    }
    let recipient = passwordless::magic_link_recipient(&ctx, &query.token).await?;
    // Which account this signs into, so nobody is talked into someone else's link.
    let who = recipient.map_or_else(String::new, |address| {
        format!(
            " as <strong>{}</strong>",
            escape_html(&crate::delivery::mask_email(&address))
        )
    });
    let title = format!("Sign in to {}", ctx.config.app_name);
    Ok(confirm::render(
        &ctx,
        &confirm::Page {
            title: &title,
            lead_html: format!("<p>Press the button to finish signing in{who} on this device.</p>"),
            action: format!("{}/magic-link/verify", ctx.config.auth_base_path),
            button: "Sign in",
            token: &query.token,
            redirect_url: target.as_deref().unwrap_or(""),
            purpose: CONFIRM_PURPOSE,
        },
    ))
}

/// What the magic link's confirm form is bound to.
const CONFIRM_PURPOSE: &str = "magic-link-confirm";

/// Body of `POST /magic-link/verify` (JSON).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyJson {
    token: String,
    #[serde(default)]
    redirect_url: Option<String>,
}

/// Body of `POST /magic-link/verify` (the confirm page's form).
#[derive(Deserialize)]
pub(crate) struct VerifyForm {
    token: String,
    #[serde(default)]
    redirect_url: String,
    #[serde(default)]
    csrf: String,
}

impl fmt::Debug for VerifyForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifyForm([redacted])")
    }
}

/// `POST /magic-link/verify`: JSON `{ token }` answers a session grant; the confirm page's
/// form (with its CSRF field) gets the session cookies and a 303 to `redirect_url`.
pub(crate) async fn verify_magic_link(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    request: Request,
) -> Result<Response, Error> {
    if !confirm::is_form(request.headers()) {
        let Json(body) = Json::<VerifyJson>::from_request(request, &()).await?;
        // A JSON client navigates itself; the target is still checked, never echoed blindly.
        if let Some(target) = body.redirect_url.filter(|target| !target.is_empty()) {
            ctx.origins
                .check_redirect_for(&target, client.app.as_deref())?;
        }
        let signed_in = passwordless::verify_magic_link(&ctx, &body.token, &client).await?;
        return Ok(SignInResponse {
            signed_in,
            status: StatusCode::OK,
            config: &ctx.config,
        }
        .into_response());
    }

    // The confirm page's form: proven to come from a page we served to this browser, on
    // our own origin, for this link.
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
    let signed_in = match passwordless::verify_magic_link(&ctx, &form.token, &client).await {
        Ok(signed_in) => signed_in,
        Err(err) if err.status().is_client_error() && !form.redirect_url.is_empty() => {
            return Ok(
                Redirect::to(&origin::with_query(&target, "error", err.code())).into_response(),
            );
        }
        Err(err) => return Err(err),
    };
    let config = &ctx.config;
    let grant = match signed_in {
        SignedIn::Granted(grant) => grant,
        SignedIn::MfaRequired(challenge) => {
            let mut response = mfa_redirect(&challenge, &target, config);
            set_cookies(
                response.headers_mut(),
                [cookie::clear(config, confirm::cookie_name(&ctx))],
            );
            return Ok(response);
        }
    };
    let mut response = Redirect::to(&target).into_response();
    let refresh_age = (grant.session.expires_at - time::OffsetDateTime::now_utc()).whole_seconds();
    let access_age = i64::try_from(grant.expires_in).unwrap_or(0);
    set_cookies(
        response.headers_mut(),
        [
            cookie::set(
                config,
                &config.cookies.session,
                &grant.access_token,
                access_age,
            ),
            cookie::set(
                config,
                &config.cookies.client,
                &grant.refresh_token,
                refresh_age,
            ),
            cookie::clear(config, confirm::cookie_name(&ctx)),
        ],
    );
    Ok(response)
}

/// Body of `POST /sign-in/email-otp`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailBody {
    email: String,
}

/// `POST /sign-in/email-otp`: email a six-digit code (10 minutes). 200 whatever the address.
pub(crate) async fn send_email_code(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<EmailBody>,
) -> Result<Response, Error> {
    passwordless::send_email_code(&ctx, &body.email, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// Body of `POST /email-otp/verify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailCodeBody {
    email: String,
    code: String,
}

impl fmt::Debug for EmailCodeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailCodeBody")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// `POST /email-otp/verify`: check the code and sign in (session grant). Five wrong
/// guesses kill a code (429 `too_many_attempts`).
pub(crate) async fn verify_email_code(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<EmailCodeBody>,
) -> Result<Response, Error> {
    let signed_in = passwordless::verify_email_code(&ctx, &body.email, &body.code, &client).await?;
    Ok(SignInResponse {
        signed_in,
        status: StatusCode::OK,
        config: &ctx.config,
    }
    .into_response())
}

/// Body of `POST /sign-in/sms-otp`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneBody {
    phone: String,
}

/// `POST /sign-in/sms-otp`: text a six-digit code (10 minutes). 200 whatever the number;
/// 400 for a number that is not E.164 (or from a country the host does not accept).
pub(crate) async fn send_sms_code(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<PhoneBody>,
) -> Result<Response, Error> {
    passwordless::send_sms_code(&ctx, &body.phone, &client).await?;
    Ok(ok(json!({})).into_response())
}

/// Body of `POST /sms/verify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneCodeBody {
    phone: String,
    code: String,
}

impl fmt::Debug for PhoneCodeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneCodeBody")
            .field("phone", &self.phone)
            .finish_non_exhaustive()
    }
}

/// `POST /sms/verify`: check the code and sign in (session grant).
pub(crate) async fn verify_sms_code(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<PhoneCodeBody>,
) -> Result<Response, Error> {
    let signed_in = passwordless::verify_sms_code(&ctx, &body.phone, &body.code, &client).await?;
    Ok(SignInResponse {
        signed_in,
        status: StatusCode::OK,
        config: &ctx.config,
    }
    .into_response())
}
