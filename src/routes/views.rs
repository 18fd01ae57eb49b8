//! What the routes answer: the contract's User and Session objects, and session grants
//! with their cookies.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::{
    Config,
    auth::cookie,
    config::TokenDelivery,
    entity::{membership, oauth_account, passkey, session, user},
    flows::{
        mfa::{Challenge, SignedIn},
        sessions::{AccessToken, Grant},
    },
    origin,
};

/// The `ok` field of every successful answer: serializes as `true` (and is documented as
/// the constant `true`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct True;

impl Serialize for True {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(true)
    }
}

/// The `ok` field of every failed answer: serializes as `false`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct False;

impl Serialize for False {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(false)
    }
}

#[cfg(feature = "openapi")]
mod constant_schemas {
    use utoipa::openapi::{
        ObjectBuilder, RefOr,
        schema::{Schema, Type},
    };

    fn constant(value: bool) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([value]))
            .into()
    }

    impl utoipa::PartialSchema for super::True {
        fn schema() -> RefOr<Schema> {
            constant(true)
        }
    }
    impl utoipa::ToSchema for super::True {}

    impl utoipa::PartialSchema for super::False {
        fn schema() -> RefOr<Schema> {
            constant(false)
        }
    }
    impl utoipa::ToSchema for super::False {}
}

/// The contract's error answer: `{ ok: false, error, message }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ErrorBody {
    pub(crate) ok: False,
    /// A stable snake_case code (API.md "Error codes").
    pub(crate) error: &'static str,
    /// For people; may change.
    pub(crate) message: String,
}

/// `{ "ok": true }` and nothing else (documented with no other property, so an answer that
/// is either this or something richer tells them apart).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct Done {
    pub(crate) ok: True,
}

/// `{ "ok": true }` as an answer.
pub(crate) fn done() -> super::input::Json<Done> {
    super::input::Json(Done { ok: True })
}

/// An RFC 3339 UTC timestamp.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The contract's User object.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = User))]
pub(crate) struct UserView {
    id: Uuid,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    email: Option<String>,
    email_verified: bool,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    phone: Option<String>,
    phone_verified: bool,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    image_url: Option<String>,
    has_password: bool,
    /// The host's own JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    metadata: Value,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    updated_at: String,
}

impl UserView {
    pub(crate) fn new(user: &user::Model, has_password: bool) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            email_verified: user.email_verified_at.is_some(),
            phone: user.phone.clone(),
            phone_verified: user.phone_verified_at.is_some(),
            name: user.name.clone(),
            image_url: user.image_url.clone(),
            has_password,
            metadata: serde_json::from_str(&user.metadata).unwrap_or_else(|_| json!({})),
            created_at: rfc3339(user.created_at),
            updated_at: rfc3339(user.updated_at),
        }
    }
}

/// The contract's Session object.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Session))]
pub(crate) struct SessionView {
    id: Uuid,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    last_active_at: String,
    /// Whichever comes first: the idle timeout or the absolute lifetime.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    expires_at: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    ip: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    user_agent: Option<String>,
    auth_method: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    active_org_id: Option<Uuid>,
    /// The client app it signed in through (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    client_id: Option<String>,
    current: bool,
}

impl SessionView {
    pub(crate) fn new(session: &session::Model, current: bool) -> Self {
        Self {
            id: session.id,
            created_at: rfc3339(session.created_at),
            last_active_at: rfc3339(session.last_active_at),
            // Whichever comes first: idle timeout or absolute lifetime.
            expires_at: rfc3339(session.idle_expires_at.min(session.expires_at)),
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            auth_method: session.auth_method.clone(),
            active_org_id: session.active_org_id,
            client_id: session.client_id.clone(),
            current,
        }
    }
}

/// A passkey as listed: `{ id, name, created_at, last_used_at }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Passkey))]
#[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
pub(crate) struct PasskeyView {
    id: Uuid,
    /// Its owner's label for it (`Passkey`, `Passkey 2`, ... unless named).
    name: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    created_at: String,
    /// Null until it is first used to sign in.
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    last_used_at: Option<String>,
}

#[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
impl PasskeyView {
    /// The listed view of a stored passkey.
    pub(crate) fn new(row: &passkey::Model) -> Self {
        Self {
            id: row.id,
            name: row.name.clone(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

/// A linked account as listed: `{ id, provider, email, created_at, last_used_at }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = LinkedAccount))]
pub(crate) struct AccountView {
    id: Uuid,
    /// The provider's name.
    provider: String,
    /// The address the provider gave, if any.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    email: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    created_at: String,
    /// The last sign-in through it.
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    last_used_at: Option<String>,
}

impl AccountView {
    /// The listed view of a linked account.
    pub(crate) fn new(row: &oauth_account::Model) -> Self {
        Self {
            id: row.id,
            provider: row.provider.clone(),
            email: row.email.clone(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

/// A session grant, rendered per the host's [`TokenDelivery`]: body, cookies, or both.
pub(crate) struct GrantResponse<'c> {
    pub(crate) grant: Grant,
    pub(crate) status: StatusCode,
    pub(crate) config: &'c Config,
}

impl IntoResponse for GrantResponse<'_> {
    fn into_response(self) -> Response {
        grant_with(self, None)
    }
}

/// The contract's session grant: `{ ok, user, session, access_token, token_type,
/// expires_in, refresh_token }`, with `__session` and `__client` cookies.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Grant))]
pub(crate) struct GrantBody {
    ok: True,
    user: UserView,
    session: SessionView,
    /// The access JWT (ES256).
    access_token: String,
    /// `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: u64,
    /// The opaque refresh token; absent when the host delivers grants in cookies only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    refresh_token: Option<String>,
    /// The membership an invitation accepted while signed out created.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    membership: Option<MembershipView>,
}

/// The membership of a user in an organization: `{ org_id, user_id, role }`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Membership))]
pub(crate) struct MembershipView {
    org_id: Uuid,
    user_id: Uuid,
    role: String,
}

impl MembershipView {
    pub(crate) fn new(membership: &membership::Model) -> Self {
        Self {
            org_id: membership.org_id,
            user_id: membership.user_id,
            role: membership.role.clone(),
        }
    }
}

/// A grant response that also names the membership it created.
pub(crate) fn grant_with(
    response: GrantResponse<'_>,
    membership: Option<MembershipView>,
) -> Response {
    let GrantResponse {
        grant,
        status,
        config,
    } = response;
    let delivery = config.token_delivery_for(grant.session.client_id.as_deref());
    let body = GrantBody {
        ok: True,
        user: UserView::new(&grant.user, grant.has_password),
        session: SessionView::new(&grant.session, true),
        access_token: grant.access_token.clone(),
        token_type: "Bearer",
        expires_in: grant.expires_in,
        // Cookie-only grants keep the long-lived token out of JavaScript's reach.
        refresh_token: (delivery != TokenDelivery::CookiesOnly)
            .then(|| grant.refresh_token.clone()),
        membership,
    };
    let mut response = (status, Json(body)).into_response();
    if delivery != TokenDelivery::BodyOnly {
        let refresh_age = (grant.session.expires_at - OffsetDateTime::now_utc()).whole_seconds();
        let expires_in = i64::try_from(grant.expires_in).unwrap_or(0);
        set_cookies(
            response.headers_mut(),
            [
                cookie::set(
                    config,
                    &config.cookies.session,
                    &grant.access_token,
                    expires_in,
                ),
                cookie::set(
                    config,
                    &config.cookies.client,
                    &grant.refresh_token,
                    refresh_age,
                ),
            ],
        );
    }
    response
}

/// What a first-factor sign-in answers: a grant, or, for an account with a second factor,
/// `200 { ok, mfa_required: true, mfa_token, factors }` and no session cookies.
pub(crate) struct SignInResponse<'c> {
    pub(crate) signed_in: SignedIn,
    /// The status of a grant (a challenge is always 200).
    pub(crate) status: StatusCode,
    pub(crate) config: &'c Config,
}

impl IntoResponse for SignInResponse<'_> {
    fn into_response(self) -> Response {
        match self.signed_in {
            SignedIn::Granted(grant) => GrantResponse {
                grant: *grant,
                status: self.status,
                config: self.config,
            }
            .into_response(),
            SignedIn::MfaRequired(challenge) => challenge_body(&challenge).into_response(),
        }
    }
}

/// What a first-factor sign-in answers: a session grant, or a second-factor challenge.
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = SignIn)]
#[allow(dead_code, clippy::large_enum_variant)] // only documents an answer: never built
pub(crate) enum SignInBody {
    /// Signed in.
    Grant(GrantBody),
    /// The account has a second factor: finish with `POST /mfa/verify`.
    Challenge(ChallengeBody),
}

/// `{ ok, mfa_required: true, mfa_token, factors }`: a second factor is due.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MfaChallenge))]
pub(crate) struct ChallengeBody {
    ok: True,
    mfa_required: True,
    /// Sent back to `POST /mfa/verify` (five minutes).
    mfa_token: String,
    /// The factors the account can use: `totp`, `recovery_code`, `passkey`.
    factors: Vec<&'static str>,
}

/// The challenge answer.
pub(crate) fn challenge_body(challenge: &Challenge) -> Json<ChallengeBody> {
    Json(ChallengeBody {
        ok: True,
        mfa_required: True,
        mfa_token: challenge.token.clone(),
        factors: challenge.factors.clone(),
    })
}

/// The `__mfa` cookie (`__Host-mfa` with `Secure` cookies): a browser flow that ended in
/// a redirect carries its challenge there, out of the URL and out of JavaScript's reach.
pub(crate) fn mfa_cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies() {
        "__Host-mfa"
    } else {
        "__mfa"
    }
}

/// How long the `__mfa` cookie lives: as long as the challenge.
const MFA_COOKIE_SECONDS: i64 = 300;

/// What a browser flow that ends in a redirect answers when the account asks for a
/// second factor: the `__mfa` cookie and a 303 to `target?mfa_required=1`, where the page
/// asks for the code and posts it to `/mfa/verify` (which reads the cookie).
pub(crate) fn mfa_redirect(challenge: &Challenge, target: &str, config: &Config) -> Response {
    let target = origin::with_query(target, "mfa_required", "1");
    let mut response = axum::response::Redirect::to(&target).into_response();
    set_cookies(
        response.headers_mut(),
        [cookie::set(
            config,
            mfa_cookie_name(config),
            &challenge.token,
            MFA_COOKIE_SECONDS,
        )],
    );
    response
}

/// A new access token for the same session: `{ ok, access_token, token_type, expires_in,
/// session, user? }` and the `__session` cookie. Never a refresh token.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AccessToken))]
pub(crate) struct AccessTokenBody {
    ok: True,
    /// The access JWT (ES256).
    access_token: String,
    /// `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: u64,
    session: SessionView,
    /// The account, where the route names it (re-authentication, impersonation).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    user: Option<UserView>,
}

/// A new access token for the same session (an organization switch, a
/// re-authentication, an impersonation), with the `__session` cookie.
pub(crate) fn access_token_response(
    config: &Config,
    token: &AccessToken,
    user: Option<UserView>,
) -> Response {
    let body = AccessTokenBody {
        ok: True,
        access_token: token.access_token.clone(),
        token_type: "Bearer",
        expires_in: token.expires_in,
        session: SessionView::new(&token.session, true),
        user,
    };
    let delivery = config.token_delivery_for(token.session.client_id.as_deref());
    let mut response = Json(body).into_response();
    if delivery != TokenDelivery::BodyOnly {
        let age = i64::try_from(token.expires_in).unwrap_or(0);
        set_cookies(
            response.headers_mut(),
            [cookie::set(
                config,
                &config.cookies.session,
                &token.access_token,
                age,
            )],
        );
    }
    response
}

/// Appends `Set-Cookie` headers.
pub(crate) fn set_cookies<const N: usize>(
    headers: &mut HeaderMap,
    values: [Option<http::HeaderValue>; N],
) {
    for value in values.into_iter().flatten() {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Clears both session cookies (unless the host delivers tokens in the body only).
pub(crate) fn clear_session_cookies(headers: &mut HeaderMap, config: &Config) {
    if config.sessions.token_delivery != TokenDelivery::BodyOnly {
        set_cookies(
            headers,
            [
                cookie::clear(config, &config.cookies.session),
                cookie::clear(config, &config.cookies.client),
            ],
        );
    }
}
