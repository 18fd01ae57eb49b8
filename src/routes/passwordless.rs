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

use super::{
    confirm,
    input::{Json, Query, wants_json},
    views::{Done, SignInResponse, done, mfa_redirect, set_cookies},
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct MagicLinkBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// Where the link's confirm page sends the person once signed in: an allowed origin
    /// (or a redirect of the client app named by `x-api-key`).
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `POST /sign-in/magic-link`: email a single-use sign-in link (10 minutes). 200 whatever
/// the address.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sign-in/magic-link", tag = "magic_link",
    security(()),
    request_body = MagicLinkBody,
    responses(
        (status = 200, description = "The same answer whatever the address (known, unknown, or not allowed to sign up)", body = Done),
        (status = 400, description = "`invalid_request`: a malformed email address, or a `redirect_url` that is not allowed"),
        (status = 429, description = "`rate_limited`: too many links asked from this IP address, for this address (one at a time, and per hour), or by everyone at once"),
    ),
))]
pub(crate) async fn send_magic_link(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<MagicLinkBody>,
) -> Result<Json<Done>, Error> {
    passwordless::send_magic_link(&ctx, &body.email, body.redirect_url, &client).await?;
    Ok(done())
}

/// Query of `GET /magic-link/verify`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub(crate) struct MagicLinkQuery {
    /// The link's token.
    token: String,
    /// Where to go once signed in: an allowed origin (or a client app's redirect).
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `GET /magic-link/verify?token=&redirect_url=`: the emailed link. A JSON client
/// (`Accept: application/json`) consumes the token and gets a session grant. A browser
/// gets a confirm page whose button POSTs the token: the GET consumes nothing, so mail
/// scanners that open every link do not burn it.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/magic-link/verify", tag = "magic_link",
    security(()),
    params(MagicLinkQuery),
    responses(
        (status = 200, description = "`Accept: application/json` (without `text/html`): the link is used, a session grant or a second-factor challenge, in the body only (no session cookies: any page can make this request). Otherwise the confirm page, which uses nothing: its button posts the form to `POST /magic-link/verify`",
            content((super::views::SignInBody = "application/json"), (String = "text/html")),
            headers(
                ("Set-Cookie" = String, description = "The page only: `__confirm` (`__Host-confirm` on https), which its form is bound to"),
                ("Content-Security-Policy" = String, description = "The page: a restrictive policy (its one inline style, forms posting to us)"),
            )),
        (status = 400, description = "`invalid_request`: a `redirect_url` that is not allowed; JSON: `token_invalid`: unknown, used or superseded, or the address now belongs to another account (or may no longer sign up); `token_expired`: past its lifetime (10 minutes)"),
        (status = 403, description = "`user_disabled`: JSON, the account is disabled"),
        (status = 409, description = "`conflict`: JSON, the account this link would create was created in the same instant"),
        (status = 429, description = "`rate_limited`: JSON, too many tokens tried from this IP address"),
    ),
))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MagicLinkVerifyBody))]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyJson {
    /// The link's token.
    token: String,
    /// Checked (an allowed origin, or a redirect of the client app named by `x-api-key`),
    /// never followed: a JSON client navigates itself.
    #[serde(default)]
    redirect_url: Option<String>,
}

/// Body of `POST /magic-link/verify` (the confirm page's form).
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MagicLinkVerifyForm))]
pub(crate) struct VerifyForm {
    /// The link's token.
    token: String,
    /// The checked `redirect_url` of the link, or empty.
    #[serde(default)]
    redirect_url: String,
    /// The page's CSRF field, bound to this browser's `__confirm` cookie and this link.
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
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/magic-link/verify", tag = "magic_link",
    security(()),
    request_body(
        description = "JSON `{ token, redirect_url? }`, or the confirm page's form (with its CSRF field)",
        content(
            (VerifyJson = "application/json"),
            (VerifyForm = "application/x-www-form-urlencoded"),
        ),
    ),
    responses(
        (status = 200, description = "JSON: signed in, or a second factor is due", body = super::views::SignInBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`, with a grant (unless the host delivers grants in the body only); none with a challenge"))),
        (status = 303, description = "The form: signed in, on to its `redirect_url` (or `/`); a second factor due, on to `redirect_url?mfa_required=1` (the page posts the code to `/mfa/verify`, which reads the `__mfa` cookie); or, when the sign-in failed with a client error and the form names a `redirect_url`, on to `redirect_url?error=<code>`",
            headers(
                ("Location" = String, description = "The form's `redirect_url` (or `/`), with `?mfa_required=1` or `?error=<code>`"),
                ("Set-Cookie" = String, description = "Signed in: `__session` and `__client`; a second factor due: `__mfa` (`__Host-mfa` on https); both clear the confirm page's `__confirm` cookie"),
            )),
        (status = 400, description = "`token_invalid`: unknown, used or superseded, or the address now belongs to another account (or may no longer sign up); `token_expired`: past its lifetime (10 minutes); `invalid_request`: a malformed form, a `redirect_url` that is not allowed, or the confirm cookie sent twice"),
        (status = 403, description = "`forbidden`: the form was posted cross-site, or not from the confirm page opened in this browser for this link; `user_disabled`: the account is disabled"),
        (status = 409, description = "`conflict`: the account this link would create was created in the same instant"),
        (status = 429, description = "`rate_limited`: too many tokens tried from this IP address"),
    ),
))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
}

/// `POST /sign-in/email-otp`: email a six-digit code (10 minutes). 200 whatever the address.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sign-in/email-otp", tag = "email_otp",
    security(()),
    request_body = EmailBody,
    responses(
        (status = 200, description = "The same answer whatever the address (known, unknown, or not allowed to sign up)", body = Done),
        (status = 400, description = "`invalid_request`: a malformed email address"),
        (status = 429, description = "`rate_limited`: too many codes asked from this IP address, for this address (one at a time, and per hour), or by everyone at once"),
    ),
))]
pub(crate) async fn send_email_code(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<EmailBody>,
) -> Result<Json<Done>, Error> {
    passwordless::send_email_code(&ctx, &body.email, &client).await?;
    Ok(done())
}

/// Body of `POST /email-otp/verify`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailCodeBody {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// The six digits of the email.
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
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/email-otp/verify", tag = "email_otp",
    security(()),
    request_body = EmailCodeBody,
    responses(
        (status = 200, description = "Signed in, or a second factor is due", body = super::views::SignInBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`, with a grant (unless the host delivers grants in the body only); none with a challenge"))),
        (status = 400, description = "`invalid_request`: a malformed email address, or a code that is not six digits; `token_invalid`: a wrong code, no live code for the address, or the address now belongs to another account (or may no longer sign up); `token_expired`: the code is past its lifetime (10 minutes)"),
        (status = 403, description = "`user_disabled`: the account is disabled"),
        (status = 409, description = "`conflict`: the account this code would create was created in the same instant"),
        (status = 429, description = "`rate_limited`: too many codes tried from this IP address, or by everyone at once; `too_many_attempts`: the code was guessed wrong five times and is dead, or the address used up its hourly or daily budget of guesses"),
    ),
))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneBody {
    /// E.164, like `+15555550123`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^\+[1-9][0-9]{6,14}$"))]
    phone: String,
}

/// `POST /sign-in/sms-otp`: text a six-digit code (10 minutes). 200 whatever the number;
/// 400 for a number that is not E.164 (or from a country the host does not accept).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sign-in/sms-otp", tag = "sms_otp",
    security(()),
    request_body = PhoneBody,
    responses(
        (status = 200, description = "The same answer whatever the number (known, unknown, or not allowed to sign up)", body = Done),
        (status = 400, description = "`invalid_request`: a number that is not E.164, or from a country the host does not accept"),
        (status = 404, description = "`not_found`: no SMS sender is configured"),
        (status = 429, description = "`rate_limited`: too many codes asked from this IP address, for this number (one at a time, and per hour), or by everyone at once"),
    ),
))]
pub(crate) async fn send_sms_code(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    Json(body): Json<PhoneBody>,
) -> Result<Json<Done>, Error> {
    passwordless::send_sms_code(&ctx, &body.phone, &client).await?;
    Ok(done())
}

/// Body of `POST /sms/verify`.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneCodeBody {
    /// E.164, like `+15555550123`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^\+[1-9][0-9]{6,14}$"))]
    phone: String,
    /// The six digits of the text.
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
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/sms/verify", tag = "sms_otp",
    security(()),
    request_body = PhoneCodeBody,
    responses(
        (status = 200, description = "Signed in, or a second factor is due", body = super::views::SignInBody,
            headers(("Set-Cookie" = String, description = "`__session` and `__client`, with a grant (unless the host delivers grants in the body only); none with a challenge"))),
        (status = 400, description = "`invalid_request`: a number that is not E.164 (or from a country the host does not accept), or a code that is not six digits; `token_invalid`: a wrong code, no live code for the number, or the number now belongs to another account (or may no longer sign up); `token_expired`: the code is past its lifetime (10 minutes)"),
        (status = 403, description = "`user_disabled`: the account is disabled"),
        (status = 404, description = "`not_found`: no SMS sender is configured"),
        (status = 409, description = "`conflict`: the account this code would create was created in the same instant"),
        (status = 429, description = "`rate_limited`: too many codes tried from this IP address, or by everyone at once; `too_many_attempts`: the code was guessed wrong five times and is dead, or the number used up its hourly or daily budget of guesses"),
    ),
))]
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
