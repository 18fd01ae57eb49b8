//! Passwordless sign-in: magic links (with a scanner-safe confirm page), email codes and
//! SMS codes.

use std::fmt;

use axum::{
    Form, Router,
    extract::{FromRequest, Request, State},
    response::{Html, IntoResponse, Redirect, Response},
    routing::post,
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;

use super::{
    input::{Json, Query, wants_json},
    views::{GrantResponse, ok, set_cookies},
};
use crate::{
    Error, Portcullis, crypto,
    delivery::templates::escape_html,
    flows::{passwordless, redirect},
    session::{client_ip::ClientInfo, cookie, csrf},
};

pub(super) fn router() -> Router<Portcullis> {
    Router::new()
        .route("/sign-in/magic-link", post(send_magic_link))
        .route(
            "/magic-link/verify",
            post(verify_magic_link).get(open_magic_link),
        )
        .route("/sign-in/email-otp", post(send_email_code))
        .route("/email-otp/verify", post(verify_email_code))
        .route("/sign-in/sms-otp", post(send_sms_code))
        .route("/sms/verify", post(verify_sms_code))
}

/// The pre-session cookie binding the confirm page's form to this browser.
const CONFIRM_COOKIE: &str = "__confirm";
/// How long the confirm page's form stays usable.
const CONFIRM_SECONDS: i64 = 600;

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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Json(body): Json<MagicLinkBody>,
) -> Result<Response, Error> {
    passwordless::send_magic_link(&auth.inner, &body.email, body.redirect_url, &client).await?;
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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    headers: HeaderMap,
    Query(query): Query<MagicLinkQuery>,
) -> Result<Response, Error> {
    let inner = &auth.inner;
    let target = query
        .redirect_url
        .filter(|target| !target.is_empty())
        .map(|target| redirect::check(&target, &inner.origins.allowed))
        .transpose()?;
    if wants_json(&headers) {
        let grant = passwordless::verify_magic_link(inner, &query.token, &client).await?;
        let mut response = GrantResponse {
            grant,
            status: StatusCode::OK,
            config: &inner.config,
        }
        .into_response();
        // A GET with `Accept: application/json` is a request any page can make: the
        // tokens go in the body only, never into this browser's cookies.
        response.headers_mut().remove(header::SET_COOKIE);
        return Ok(response);
    }
    let nonce = crypto::random_token();
    let form_token = confirm_token(&auth, &nonce, &query.token);
    let recipient = passwordless::magic_link_recipient(inner, &query.token).await?;
    let page = confirm_page(
        &auth,
        &query.token,
        target.as_deref().unwrap_or(""),
        &form_token,
        recipient.as_deref(),
    );
    let style_hash = format!(
        "sha256-{}",
        base64_standard(
            ring::digest::digest(&ring::digest::SHA256, CONFIRM_STYLE.as_bytes()).as_ref()
        )
    );
    // The form posts here, and the answer may redirect to any allowed origin.
    let form_action: Vec<String> = std::iter::once("'self'".to_owned())
        .chain(
            inner
                .origins
                .allowed
                .iter()
                .map(crate::config::Origin::serialize),
        )
        .collect();
    let csp = format!(
        "default-src 'none'; style-src '{style_hash}'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        form_action.join(" ")
    );
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    set_cookies(
        headers,
        [cookie::set(
            &inner.config,
            confirm_cookie(&auth),
            &nonce,
            CONFIRM_SECONDS,
        )],
    );
    Ok(response)
}

/// `__Host-` when cookies are `Secure`: a sibling subdomain cannot plant it then.
fn confirm_cookie(auth: &Portcullis) -> &'static str {
    if auth.inner.config.secure_cookies() {
        "__Host-confirm"
    } else {
        CONFIRM_COOKIE
    }
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The form's CSRF field: bound to the browser's pre-session cookie and to this one link.
fn confirm_token(auth: &Portcullis, nonce: &str, link_token: &str) -> String {
    let binding = format!(
        "magic-link-confirm:{nonce}:{}",
        crypto::sha256_hex(link_token.as_bytes())
    );
    csrf::token(&auth.inner.keys, binding.as_bytes())
}

const CONFIRM_STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}\
button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}";

fn confirm_page(
    auth: &Portcullis,
    token: &str,
    redirect_url: &str,
    form_token: &str,
    recipient: Option<&str>,
) -> String {
    let config = &auth.inner.config;
    let app = escape_html(&config.app_name);
    // Which account this signs into, so nobody is talked into someone else's link.
    let who = recipient.map_or_else(String::new, |address| {
        format!(
            " as <strong>{}</strong>",
            escape_html(&crate::delivery::mask_email(address))
        )
    });
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign in to {app}</title><style>{CONFIRM_STYLE}</style></head>\
                  <body><main><h1>Sign in to {app}</h1><p>Press the button to finish signing in{who} on this device.</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <input type=\"hidden\" name=\"redirect_url\" value=\"{redirect}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Sign in</button></form></main></body></html>\n",
        action = escape_html(&format!("{}/magic-link/verify", config.auth_base_path)),
        token = escape_html(token),
        redirect = escape_html(redirect_url),
        csrf = escape_html(form_token),
    )
}

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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    request: Request,
) -> Result<Response, Error> {
    let inner = &auth.inner;
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        let Json(body) = Json::<VerifyJson>::from_request(request, &()).await?;
        // A JSON client navigates itself; the target is still checked, never echoed blindly.
        if let Some(target) = body.redirect_url.filter(|target| !target.is_empty()) {
            redirect::check(&target, &inner.origins.allowed)?;
        }
        let grant = passwordless::verify_magic_link(inner, &body.token, &client).await?;
        return Ok(GrantResponse {
            grant,
            status: StatusCode::OK,
            config: &inner.config,
        }
        .into_response());
    }

    // The confirm page's form: proven to come from a page we served to this browser, on
    // our own origin.
    let headers = request.headers();
    let cross_site = crate::session::csrf::is_cross_site(headers);
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .is_some_and(|origin| {
            crate::config::Origin::parse(origin)
                .is_none_or(|origin| !inner.origins.allowed.contains(&origin))
        });
    if cross_site || foreign_origin {
        return Err(Error::forbidden("cross-site request refused"));
    }
    let nonce = cookie::read(headers, confirm_cookie(&auth)).map(str::to_owned);
    let Form(form) = Form::<VerifyForm>::from_request(request, &())
        .await
        .map_err(|_| Error::invalid_request("malformed form"))?;
    let expected = nonce
        .as_deref()
        .map(|nonce| confirm_token(&auth, nonce, &form.token));
    if !expected.is_some_and(|expected| crypto::ct_eq(expected.as_bytes(), form.csrf.as_bytes())) {
        return Err(Error::forbidden(
            "this sign-in form was not opened in this browser; open the link again",
        ));
    }
    let target = if form.redirect_url.is_empty() {
        "/".to_owned()
    } else {
        redirect::check(&form.redirect_url, &inner.origins.allowed)?
    };
    let grant = match passwordless::verify_magic_link(inner, &form.token, &client).await {
        Ok(grant) => grant,
        Err(err) if err.status().is_client_error() && !form.redirect_url.is_empty() => {
            return Ok(
                Redirect::to(&redirect::with_query(&target, "error", err.code())).into_response(),
            );
        }
        Err(err) => return Err(err),
    };
    let config = &inner.config;
    let mut response = Redirect::to(&target).into_response();
    let refresh_age = (grant.session.expires_at - time::OffsetDateTime::now_utc()).whole_seconds();
    let access_age = i64::try_from(grant.expires_in).unwrap_or(0);
    set_cookies(
        response.headers_mut(),
        [
            cookie::set(
                config,
                &config.session_cookie,
                &grant.access_token,
                access_age,
            ),
            cookie::set(
                config,
                &config.client_cookie,
                &grant.refresh_token,
                refresh_age,
            ),
            cookie::clear(config, confirm_cookie(&auth)),
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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Json(body): Json<EmailBody>,
) -> Result<Response, Error> {
    passwordless::send_email_code(&auth.inner, &body.email, &client).await?;
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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Json(body): Json<EmailCodeBody>,
) -> Result<Response, Error> {
    let grant =
        passwordless::verify_email_code(&auth.inner, &body.email, &body.code, &client).await?;
    Ok(GrantResponse {
        grant,
        status: StatusCode::OK,
        config: &auth.inner.config,
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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Json(body): Json<PhoneBody>,
) -> Result<Response, Error> {
    passwordless::send_sms_code(&auth.inner, &body.phone, &client).await?;
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
    State(auth): State<Portcullis>,
    client: ClientInfo,
    Json(body): Json<PhoneCodeBody>,
) -> Result<Response, Error> {
    let grant =
        passwordless::verify_sms_code(&auth.inner, &body.phone, &body.code, &client).await?;
    Ok(GrantResponse {
        grant,
        status: StatusCode::OK,
        config: &auth.inner.config,
    }
    .into_response())
}
