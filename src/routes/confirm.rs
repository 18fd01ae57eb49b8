//! The confirm page behind every emailed link that changes something (a magic link, an
//! email verification): mail scanners open every link they see, so the link's `GET` only
//! shows a page, and the page's button `POST`s a form bound to this browser and this link.
//!
//! The form carries a CSRF field: an HMAC of a random nonce (kept in the `__confirm`
//! cookie, `__Host-confirm` on https) and of the link's token. The `POST` is refused unless
//! it comes from our own origin, with the cookie and the field that match.

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

use super::views::set_cookies;
use crate::{
    Error,
    auth::{cookie, csrf},
    context::Context,
    crypto,
    delivery::templates::escape_html,
    origin::Origin,
};

/// How long a confirm page's form stays usable.
const CONFIRM_SECONDS: i64 = 600;

/// The pre-session cookie binding a confirm page's form to this browser: `__Host-` when
/// cookies are `Secure`, so a sibling subdomain cannot plant it.
pub(crate) fn cookie_name(ctx: &Context) -> &'static str {
    if ctx.config.secure_cookies() {
        "__Host-confirm"
    } else {
        "__confirm"
    }
}

/// The form's CSRF field: bound to the page's purpose, the browser's nonce and one link.
pub(crate) fn form_token(ctx: &Context, purpose: &str, nonce: &str, link_token: &str) -> String {
    let binding = format!(
        "{purpose}:{nonce}:{}",
        crypto::sha256_hex(link_token.as_bytes())
    );
    csrf::token(&ctx.keys, binding.as_bytes())
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}\
button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}";

/// What a confirm page says and posts.
pub(crate) struct Page<'a> {
    /// The title and heading (plain text).
    pub(crate) title: &'a str,
    /// The explanation, already escaped HTML.
    pub(crate) lead_html: String,
    /// Where the form posts, a path on our own origin.
    pub(crate) action: String,
    /// The button's label.
    pub(crate) button: &'a str,
    /// The link's token.
    pub(crate) token: &'a str,
    /// The checked redirect target, or empty.
    pub(crate) redirect_url: &'a str,
    /// What the form's CSRF field is bound to (`magic-link-confirm`, ...).
    pub(crate) purpose: &'a str,
}

/// The page, with its CSP and the nonce cookie its form is bound to.
pub(crate) fn render(ctx: &Context, page: &Page<'_>) -> Response {
    let nonce = crypto::random_token();
    let csrf = form_token(ctx, page.purpose, &nonce, page.token);
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1>{lead}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <input type=\"hidden\" name=\"redirect_url\" value=\"{redirect}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">{button}</button></form></main></body></html>\n",
        title = escape_html(page.title),
        lead = page.lead_html,
        action = escape_html(&page.action),
        token = escape_html(page.token),
        redirect = escape_html(page.redirect_url),
        csrf = escape_html(&csrf),
        button = escape_html(page.button),
    );
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&csp(ctx)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    set_cookies(
        headers,
        [cookie::set(
            &ctx.config,
            cookie_name(ctx),
            &nonce,
            CONFIRM_SECONDS,
        )],
    );
    response
}

/// A restrictive CSP: our one inline style, and forms posting to us (whose answer may
/// redirect to any allowed origin).
fn csp(ctx: &Context) -> String {
    let style_hash = {
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
        format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
        )
    };
    let form_action: Vec<String> = std::iter::once("'self'".to_owned())
        .chain(ctx.origins.allowed.iter().map(Origin::serialize))
        .collect();
    format!(
        "default-src 'none'; style-src '{style_hash}'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        form_action.join(" ")
    )
}

/// Whether a request is a form post (the confirm page's), not JSON.
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// Checks that a confirm form comes from a page we served to this browser, on our own
/// origin, for this very link.
pub(crate) fn check_form(
    ctx: &Context,
    headers: &HeaderMap,
    purpose: &str,
    link_token: &str,
    field: &str,
) -> Result<(), Error> {
    let cross_site = csrf::is_cross_site(headers);
    // Our pages are served with `Referrer-Policy: no-referrer` (the link's token is in
    // their URL), so browsers post their forms with `Origin: null`: that says nothing
    // either way, and the field bound to this browser's cookie below decides.
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .filter(|origin| *origin != "null")
        .is_some_and(|origin| {
            Origin::parse(origin).is_none_or(|origin| !ctx.origins.allows(&origin))
        });
    if cross_site || foreign_origin {
        return Err(Error::forbidden("cross-site request refused"));
    }
    let nonce = cookie::read(headers, cookie_name(ctx)).map_err(|_| duplicate())?;
    let expected = nonce.map(|nonce| form_token(ctx, purpose, nonce, link_token));
    if !expected.is_some_and(|expected| crypto::ct_eq(expected.as_bytes(), field.as_bytes())) {
        return Err(Error::forbidden(
            "this form was not opened in this browser; open the link again",
        ));
    }
    Ok(())
}

fn duplicate() -> Error {
    Error::invalid_request("a cookie was sent twice; clear this site's cookies and retry")
}
