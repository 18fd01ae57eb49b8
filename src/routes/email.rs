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

use super::{
    account::UserAnswer,
    confirm,
    input::{Json, OptionalJson, Query, wants_json},
    views::{Done, True, UserView, done, set_cookies},
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

/// Body of `POST /email/send-verification` (optional when signed in).
#[derive(Debug, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct SendVerificationBody {
    /// The address to verify: required signed out, ignored signed in (the caller's own).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: Option<String>,
    /// Where the link's confirm page sends the person afterwards: an allowed origin (or a
    /// redirect of the client app named by `x-api-key`).
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `POST /email/send-verification`: email a verification link to the signed-in user, or
/// (signed out) to `email`. The answer is the same whether or not an unverified account
/// exists there.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/email/send-verification", tag = "email",
    security((), ("access_token" = []), ("session_cookie" = [])),
    request_body(content = Option<SendVerificationBody>, description = "Optional when signed in: no body, an empty one, or JSON"),
    responses(
        (status = 200, description = "The same answer whether or not an unverified account has the address", body = Done),
        (status = 400, description = "`invalid_request`: signed out without `email`, a malformed email address, or a `redirect_url` that is not allowed"),
        (status = 429, description = "`rate_limited`: too many links asked from this IP address, for this recipient, or by everyone at once"),
    ),
))]
pub(crate) async fn send_verification(
    State(ctx): State<Arc<Context>>,
    user: Option<CurrentUser>,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<SendVerificationBody>,
) -> Result<Json<Done>, Error> {
    let body = body.unwrap_or_default();
    let recipient = match (&user, body.email) {
        (Some(user), _) => Recipient::SignedIn(user.id()),
        (None, Some(email)) => Recipient::Email(normalize_email(&email)?),
        (None, None) => return Err(Error::invalid_request("email: required when signed out")),
    };
    email_verification::send(&ctx, recipient, body.redirect_url, &client).await?;
    Ok(done())
}

/// Body of `POST /email/verify` (JSON).
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EmailVerifyBody))]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    /// The `token` of the emailed link.
    token: String,
}

impl std::fmt::Debug for VerifyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyBody([redacted])")
    }
}

/// `{ ok, user }` for the account whose address was just verified.
async fn verified_answer(
    ctx: &Context,
    user: &crate::entity::user::Model,
) -> Result<Json<UserAnswer>, Error> {
    let account = profile::account_of(ctx, user.clone()).await?;
    Ok(Json(UserAnswer {
        ok: True,
        user: UserView::new(&account.user, account.has_password),
    }))
}

/// `POST /email/verify`: consume the token and mark the address verified. JSON
/// `{ token }` answers `{ ok, user }`; the confirm page's form (with its CSRF field) gets a
/// 303 to its `redirect_url` (or `/`).
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/email/verify", tag = "email",
    security(()),
    request_body(
        description = "JSON `{ token }`, or the confirm page's form (with its CSRF field)",
        content(
            (VerifyBody = "application/json"),
            (VerifyForm = "application/x-www-form-urlencoded"),
        ),
    ),
    responses(
        (status = 200, description = "JSON: the address is verified", body = UserAnswer),
        (status = 303, description = "The form: verified, on to its `redirect_url` (or `/`); or, when verification failed with a client error and the form names a `redirect_url`, on to `redirect_url?error=<code>`",
            headers(
                ("Location" = String, description = "The form's `redirect_url` (or `/`), with `?error=<code>` after a failure"),
                ("Set-Cookie" = String, description = "Clears the confirm page's `__confirm` cookie (`__Host-confirm` on https), after a success"),
            )),
        (status = 400, description = "`token_invalid`: unknown, used or superseded, or the account's address changed since; `token_expired`: past its lifetime; `invalid_request`: a malformed form, a `redirect_url` that is not allowed, or the confirm cookie sent twice"),
        (status = 403, description = "`forbidden`: the form was posted cross-site, or not from the confirm page opened in this browser for this link"),
        (status = 429, description = "`rate_limited`: too many tokens tried from this IP address"),
    ),
))]
pub(crate) async fn verify(
    State(ctx): State<Arc<Context>>,
    client: ClientInfo,
    request: Request,
) -> Result<Response, Error> {
    if !confirm::is_form(request.headers()) {
        let Json(body) = Json::<VerifyBody>::from_request(request, &()).await?;
        let user = email_verification::verify(&ctx, &body.token, &client).await?;
        return Ok(verified_answer(&ctx, &user).await?.into_response());
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EmailVerifyForm))]
pub(crate) struct VerifyForm {
    /// The `token` of the emailed link.
    token: String,
    /// The checked `redirect_url` of the link, or empty.
    #[serde(default)]
    redirect_url: String,
    /// The page's CSRF field, bound to this browser's `__confirm` cookie and this link.
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
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub(crate) struct VerifyLink {
    /// The link's token.
    token: String,
    /// Where to go once verified: an allowed origin (or a client app's redirect).
    #[serde(default)]
    redirect_url: Option<String>,
}

/// `GET /email/verify?token=&redirect_url=`: the emailed link. A JSON client
/// (`Accept: application/json`) verifies directly and gets `{ ok, user }`. A browser gets a
/// confirm page (what is confirmed, for which masked address, when the account was
/// created) whose button POSTs: the GET consumes nothing, so a mail scanner that opens
/// every link verifies nothing, and a person who did not create the account is told to
/// do nothing.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/email/verify", tag = "email",
    security(()),
    params(VerifyLink),
    responses(
        (status = 200, description = "`Accept: application/json` (without `text/html`): the address is verified, `{ ok, user }`. Otherwise the confirm page, which verifies nothing: its button posts the form to `POST /email/verify`",
            content((UserAnswer = "application/json"), (String = "text/html")),
            headers(
                ("Set-Cookie" = String, description = "The page: `__confirm` (`__Host-confirm` on https), which its form is bound to"),
                ("Content-Security-Policy" = String, description = "The page: a restrictive policy (its one inline style, forms posting to us)"),
            )),
        (status = 303, description = "A browser, for a link that is unknown, used or expired, with a `redirect_url`: on to `redirect_url?error=token_invalid`",
            headers(("Location" = String))),
        (status = 400, description = "`invalid_request`: a `redirect_url` that is not allowed; `token_invalid`: unknown, used or superseded (for a browser also expired, without a `redirect_url`), or the account's address changed since; `token_expired`: JSON, past its lifetime"),
        (status = 429, description = "`rate_limited`: JSON, too many tokens tried from this IP address"),
    ),
))]
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
        return Ok(verified_answer(&ctx, &user).await?.into_response());
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
