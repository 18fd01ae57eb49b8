//! The OpenAPI 3.1 document behind [`Portcullis::openapi`](crate::Portcullis::openapi).
//!
//! Each handler carries its own `#[utoipa::path]` (method, path, body, answers and the error
//! codes only it gives) and returns the typed answer the document names, so the wire and the
//! document cannot disagree. Here the handlers are gathered per router, nested under the
//! prefixes the reference example mounts them at, and [`finish`] adds what every route
//! shares, from one place:
//!
//! - 401 `invalid_client` everywhere (a host may require a client key), and
//!   `unauthorized` where the route takes a session;
//! - 400 `invalid_request` and 413 `payload_too_large` where there is a body, 400
//!   `invalid_request` and 404 `not_found` where the path names something;
//! - 403 `forbidden` on unsafe methods a cookie can authenticate (the CSRF check);
//! - 500 `internal_error` and 503 `unavailable` (with `Retry-After`) everywhere;
//! - each error answer's body: the contract's error object whose `error` is one of the
//!   codes the answer's description names (in backticks).

use std::collections::BTreeSet;

use utoipa::{
    OpenApi,
    openapi::{
        self, ObjectBuilder, RefOr, Required, Response,
        content::Content,
        header::Header,
        path::{Operation, ParameterBuilder, ParameterIn, PathItem},
        schema::{AllOfBuilder, Schema, Type},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

#[cfg(feature = "billing")]
use super::billing;
#[cfg(feature = "oauth")]
use super::oauth;
#[cfg(feature = "passkeys")]
use super::passkeys;
use super::{
    account, admin, api_keys, email, mfa, orgs, password, passwordless, sessions, waitlists,
    well_known,
};
use crate::{config::SignInMethod, context::Context};

/// Every error code of the contract (API.md "Error codes").
pub(crate) const ERROR_CODES: [&str; 23] = [
    "invalid_request",
    "weak_password",
    "token_invalid",
    "token_expired",
    "invalid_signature",
    "unauthorized",
    "invalid_credentials",
    "invalid_client",
    "forbidden",
    "email_not_verified",
    "user_disabled",
    "reauthentication_required",
    "mfa_required",
    "plan_required",
    "not_found",
    "method_not_allowed",
    "email_taken",
    "conflict",
    "payload_too_large",
    "rate_limited",
    "too_many_attempts",
    "unavailable",
    "internal_error",
];

/// The security schemes, by the names the handlers' annotations use.
const ACCESS_TOKEN: &str = "access_token";
const SESSION_COOKIE: &str = "session_cookie";
const API_KEY: &str = "api_key";
const CLIENT_KEY: &str = "client_key";

/// The title, version and security schemes; routes need a session unless they say not.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "portcullis",
        description = "Embeddable authentication: the routes of portcullis as the reference example mounts them.",
    ),
    components(schemas(super::views::ErrorBody)),
    security(("access_token" = []), ("session_cookie" = [])),
)]
struct Root;

/// The core router's operations (`/v1/auth`).
#[derive(OpenApi)]
#[openapi(paths(
    account::me,
    account::update_me,
    account::methods,
    account::identify,
    account::csrf,
    waitlists::mine,
    waitlists::check,
    waitlists::join,
    waitlists::leave,
    admin::activity,
    api_keys::list_mine,
    api_keys::create_mine,
    api_keys::revoke_mine,
    sessions::refresh,
    sessions::list,
    sessions::exchange,
    sessions::revoke_all,
    sessions::current,
    sessions::permissions,
    sessions::revoke,
    sessions::sign_out,
    sessions::sign_out_all,
    mfa::status,
    mfa::enrol,
    mfa::disable,
    mfa::confirm,
    mfa::regenerate,
    mfa::verify,
    mfa::reauthenticate,
    password::sign_up,
    password::sign_in,
    password::forgot,
    password::reset,
    password::change,
    email::send_verification,
    email::verify,
    email::verify_link,
    passwordless::send_magic_link,
    passwordless::open_magic_link,
    passwordless::verify_magic_link,
    passwordless::send_email_code,
    passwordless::verify_email_code,
    passwordless::send_sms_code,
    passwordless::verify_sms_code,
))]
struct Auth;

/// The core router's social sign-in operations (feature `oauth`).
#[cfg(feature = "oauth")]
#[derive(OpenApi)]
#[openapi(paths(oauth::authorize, oauth::callback, oauth::list, oauth::unlink))]
struct OAuth;

/// The core router's passkey operations (feature `passkeys`).
#[cfg(feature = "passkeys")]
#[derive(OpenApi)]
#[openapi(paths(
    mfa::passkey_begin,
    mfa::passkey_complete,
    passkeys::register_begin,
    passkeys::register_complete,
    passkeys::authenticate_begin,
    passkeys::authenticate_complete,
    passkeys::list,
    passkeys::rename,
    passkeys::remove,
))]
struct Passkeys;

/// The core router's operations of every feature this build has.
fn auth() -> openapi::OpenApi {
    let mut doc = Auth::openapi();
    #[cfg(feature = "passkeys")]
    doc.merge(Passkeys::openapi());
    #[cfg(feature = "oauth")]
    doc.merge(OAuth::openapi());
    doc
}

/// The organizations router's operations (`/v1/orgs`).
#[derive(OpenApi)]
#[openapi(paths(
    orgs::list,
    orgs::create,
    orgs::read,
    orgs::update,
    orgs::remove_org,
    orgs::members,
    orgs::change_role,
    orgs::remove_member,
    orgs::invite,
    orgs::invitations,
    orgs::revoke_invitation,
    orgs::accept,
    orgs::switch,
    api_keys::list_org,
    api_keys::create_org,
    api_keys::revoke_org,
))]
struct Orgs;

/// The admin router's operations (`/v1/admin`).
#[derive(OpenApi)]
#[openapi(paths(
    admin::list_users,
    admin::create_user,
    admin::read_user,
    admin::update_user,
    admin::delete_user,
    admin::disable,
    admin::enable,
    admin::user_sessions,
    admin::revoke_user_sessions,
    admin::impersonate,
    admin::revoke_user_api_keys,
    admin::audit,
    waitlists::entries,
    waitlists::admit,
))]
struct Admin;

/// The billing router's operations (`/v1/billing`).
#[cfg(feature = "billing")]
#[derive(OpenApi)]
#[openapi(paths(
    billing::plans,
    billing::checkout,
    billing::subscription,
    billing::portal
))]
struct Billing;

/// Stripe's webhook (`/v1/stripe`).
#[cfg(feature = "billing")]
#[derive(OpenApi)]
#[openapi(paths(billing::webhook))]
struct Webhook;

/// The well-known routes (at the root).
#[derive(OpenApi)]
#[openapi(paths(well_known::jwks, well_known::healthz, well_known::readyz))]
struct WellKnown;

/// What a router's layers add to each of its routes.
#[derive(Clone, Copy)]
struct Layers {
    /// `client_keys`: 401 `invalid_client`.
    client_keys: bool,
    /// `fail_fast`: 503 `unavailable` while the database is away or a request is too slow.
    fail_fast: bool,
    /// `api_keys_in_core`: 403 `forbidden` for an API key, except where the route takes one.
    people_only: bool,
    /// Every route checks `require_admin`: 403 `forbidden` for anyone else.
    admins_only: bool,
    /// Why every route of the router answers 404 `not_found` on an instance that has not
    /// configured it, if it can.
    unconfigured: Option<&'static str>,
}

/// The routers the contract mounts. Auth, orgs and billing name their client; admin and
/// the webhook do not; the well-known routes answer from the process alone; the core
/// router takes API keys only where it says so; billing needs Stripe.
const CORE: Layers = Layers {
    client_keys: true,
    fail_fast: true,
    people_only: true,
    admins_only: false,
    unconfigured: None,
};
const APP: Layers = Layers {
    people_only: false,
    ..CORE
};
const OPERATOR: Layers = Layers {
    client_keys: false,
    ..APP
};
const PROCESS: Layers = Layers {
    client_keys: false,
    fail_fast: false,
    ..APP
};
#[cfg(feature = "billing")]
const STRIPE: &str = "billing is not configured on this instance (no Stripe keys)";

/// The whole document: every router under the reference example's prefixes, without the
/// routes this instance does not serve.
pub(crate) fn document(ctx: &Context) -> openapi::OpenApi {
    document_with(&ctx.config.auth_base_path, &|tag| served(ctx, tag))
}

/// The document with the auth router at `auth_prefix`, keeping the operations whose tags
/// `served` accepts (every one, for this crate's tests that check answers against it).
pub(crate) fn document_with(auth_prefix: &str, served: &dyn Fn(&str) -> bool) -> openapi::OpenApi {
    let mut doc = Root::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let routers = [
        // Where the host says it nests the auth router (links in emails use it too).
        (auth_prefix, auth(), CORE),
        ("/v1/orgs", Orgs::openapi(), APP),
        (
            "/v1/admin",
            Admin::openapi(),
            Layers {
                admins_only: true,
                ..OPERATOR
            },
        ),
        #[cfg(feature = "billing")]
        (
            "/v1/billing",
            Billing::openapi(),
            Layers {
                unconfigured: Some(STRIPE),
                ..APP
            },
        ),
        #[cfg(feature = "billing")]
        (
            "/v1/stripe",
            Webhook::openapi(),
            Layers {
                unconfigured: Some(STRIPE),
                ..OPERATOR
            },
        ),
        ("", WellKnown::openapi(), PROCESS),
    ];
    for (prefix, mut router, layers) in routers {
        drop_unserved(&mut router, served);
        finish(&mut router, layers);
        doc = nest(doc, prefix, router);
    }
    for (path, item) in &mut doc.paths.paths {
        for (method, operation) in operations(item) {
            operation.operation_id = Some(operation_id(method, path));
        }
    }
    add_security_schemes(&mut doc);
    doc
}

/// Whether this instance serves the operations of a tag: a sign-in method's routes exist
/// only while it is on, billing's only with Stripe.
fn served(ctx: &Context, tag: &str) -> bool {
    let method = match tag {
        "password" => SignInMethod::Password,
        "magic_link" => SignInMethod::MagicLink,
        "email_otp" => SignInMethod::EmailOtp,
        "sms_otp" => SignInMethod::SmsOtp,
        "passkeys" => SignInMethod::Passkey,
        "oauth" => SignInMethod::OAuth,
        #[cfg(feature = "billing")]
        "billing" => return ctx.stripe.is_some(),
        _ => return true,
    };
    ctx.config.method_on(method)
}

/// Drops the operations whose tag this instance does not serve.
fn drop_unserved(doc: &mut openapi::OpenApi, served: &dyn Fn(&str) -> bool) {
    for item in doc.paths.paths.values_mut() {
        for slot in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ] {
            let unserved = slot
                .as_ref()
                .is_some_and(|operation| operation.tags.iter().flatten().any(|tag| !served(tag)));
            if unserved {
                *slot = None;
            }
        }
    }
    doc.paths
        .paths
        .retain(|_, item| operations(item).next().is_some());
}

/// Nests `other` under `prefix`, where a router's `/` is the prefix itself (as axum's
/// `nest` serves it).
fn nest(doc: openapi::OpenApi, prefix: &str, other: openapi::OpenApi) -> openapi::OpenApi {
    doc.nest_with_path_composer(prefix, other, |base, path| {
        if path == "/" {
            base.to_owned()
        } else {
            format!("{base}{path}")
        }
    })
}

fn add_security_schemes(doc: &mut openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        ACCESS_TOKEN,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "`Authorization: Bearer <access_token>`: the ES256 access token of a session grant",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        SESSION_COOKIE,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "__session",
            "The access token in the `__session` cookie (`__Host-session` on https). Unsafe \
             methods also need `X-CSRF-Token` (from `GET /v1/auth/csrf`) or an allowed `Origin`.",
        ))),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("sk_...")
                .description(Some(
                    "`Authorization: Bearer sk_...`: an API key, within its scopes",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        CLIENT_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "x-api-key",
            "`x-api-key: pk_...`: names the client app (its settings and branding); required \
             where the host requires client keys. It authenticates nobody.",
        ))),
    );
}

/// Adds what every route of a router shares (see the module's docs).
fn finish(doc: &mut openapi::OpenApi, layers: Layers) {
    for item in doc.paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            // Without its own, an operation takes the document's: a session.
            let names: Vec<String> = match &operation.security {
                None => vec![ACCESS_TOKEN.to_owned(), SESSION_COOKIE.to_owned()],
                Some(security) => security
                    .iter()
                    .filter_map(|requirement| serde_json::to_value(requirement).ok())
                    .filter_map(|value| value.as_object().cloned())
                    .flat_map(|object| object.keys().cloned().collect::<Vec<_>>())
                    .collect(),
            };
            let has_body = operation.request_body.is_some();
            let has_path_params = operation.parameters.iter().flatten().any(|parameter| {
                matches!(parameter, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path))
            });
            let unsafe_method = method != "get";

            // The headers a client sends beside its credentials, as optional parameters so
            // generated clients offer them.
            if layers.client_keys {
                add_header(
                    operation,
                    "x-api-key",
                    "The client app's publishable key (`pk_...`); required where the host requires client keys",
                );
            }
            if unsafe_method && names.iter().any(|name| name == SESSION_COOKIE) {
                add_header(
                    operation,
                    "X-CSRF-Token",
                    "From `GET /v1/auth/csrf`: needed when the `__session` cookie authenticates this request and its `Origin` is not an allowed one",
                );
            }
            let mut add = |status: &str, code: &str, why: &str| {
                add_error(operation, status, code, why);
            };
            if layers.client_keys {
                add(
                    "401",
                    "invalid_client",
                    "the host requires a client key (`x-api-key`) and it is missing or unknown",
                );
            }
            if !names.is_empty() {
                add(
                    "401",
                    "unauthorized",
                    "no, malformed, expired or revoked session credentials",
                );
            }
            if layers.people_only && !names.iter().any(|name| name == API_KEY) {
                add(
                    "403",
                    "forbidden",
                    "an API key: this route needs a person's session",
                );
            }
            if layers.admins_only {
                add(
                    "403",
                    "forbidden",
                    "the caller is not an administrator, or is an API key or an impersonated session",
                );
            }
            if let Some(why) = layers.unconfigured {
                add("404", "not_found", why);
            }
            if names.iter().any(|name| name == API_KEY) {
                add(
                    "429",
                    "rate_limited",
                    "an API key over its own request limit",
                );
            }
            if has_body {
                add(
                    "400",
                    "invalid_request",
                    "wrong content type, malformed JSON, or a missing or invalid field",
                );
                add(
                    "413",
                    "payload_too_large",
                    "the body is over the configured limit",
                );
            }
            if has_path_params {
                add(
                    "400",
                    "invalid_request",
                    "a malformed identifier in the path",
                );
                add(
                    "404",
                    "not_found",
                    "nothing of that name here (or not yours)",
                );
            }
            if unsafe_method && names.iter().any(|name| name == SESSION_COOKIE) {
                add(
                    "403",
                    "forbidden",
                    "a cookie-authenticated request without a valid `X-CSRF-Token` or allowed `Origin`",
                );
            }
            add(
                "500",
                "internal_error",
                "a fault on our side (the message carries a reference to the log)",
            );
            if layers.fail_fast {
                add(
                    "503",
                    "unavailable",
                    "the database or a provider is unreachable, or the request ran out of time; nothing was half-written",
                );
            }
            for (status, response) in &mut operation.responses.responses {
                if let RefOr::T(response) = response {
                    describe_error(status, response);
                    // OpenAPI requires a description: the status's reason where the
                    // annotation gave none.
                    if response.description.is_empty() {
                        response.description = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|code| http::StatusCode::from_u16(code).ok())
                            .and_then(|code| code.canonical_reason())
                            .unwrap_or("Success")
                            .to_owned();
                    }
                }
            }
        }
    }
}

/// `post_v1_auth_sign_in_email_password` for `POST /v1/auth/sign-in/email-password`.
fn operation_id(method: &str, path: &str) -> String {
    let path: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut id = method.to_owned();
    for part in path.split('_').filter(|part| !part.is_empty()) {
        id.push('_');
        id.push_str(part);
    }
    id
}

/// The operations of a path item with their methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

/// Adds an optional request header parameter.
fn add_header(operation: &mut Operation, name: &str, description: &str) {
    let parameter = ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(parameter));
}

/// Adds `code`, for the reason `why`, to the answer `status` of `operation` (creating the
/// answer), unless the description already gives that reason in these words (handlers
/// leave the shared reasons to this function).
fn add_error(operation: &mut Operation, status: &str, code: &str, why: &str) {
    let named = format!("`{code}`");
    let entry = operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(Response::new("")));
    if let RefOr::T(response) = entry {
        if response.description.contains(why) {
            return;
        }
        if !response.description.is_empty() {
            response.description.push_str("; ");
        }
        response.description.push_str(&format!("{named}: {why}"));
    }
}

/// The codes an answer's description names, in backticks, that are error codes.
fn codes_in(description: &str) -> BTreeSet<&'static str> {
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|word| ERROR_CODES.iter().find(|code| **code == word).copied())
        .collect()
}

/// Gives an error answer (4xx, 5xx) its body: the contract's error object with `error`
/// one of the codes its description names; 429 and 503 also carry `Retry-After`.
fn describe_error(status: &str, response: &mut Response) {
    if !(status.starts_with('4') || status.starts_with('5')) {
        return;
    }
    let codes = codes_in(&response.description);
    if codes.is_empty() || !response.content.is_empty() {
        return;
    }
    let narrowed = ObjectBuilder::new().property(
        "error",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes.iter().copied())),
    );
    let schema: RefOr<Schema> = AllOfBuilder::new()
        .item(RefOr::Ref(openapi::Ref::from_schema_name("ErrorBody")))
        .item(narrowed)
        .into();
    response.content.insert(
        "application/json".to_owned(),
        RefOr::T(Content::new(Some(schema))),
    );
    if status == "429" || status == "503" {
        response.headers.insert(
            "Retry-After".to_owned(),
            RefOr::T(
                Header::builder()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                    .description(Some("Seconds to wait before trying again"))
                    .build(),
            ),
        );
    }
}
