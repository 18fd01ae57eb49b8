//! Extractors for host handlers: [`CurrentUser`] (and `Option<CurrentUser>`),
//! [`CurrentUserRecord`], and their rejection.

use std::{ops::Deref, sync::Arc};

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use http::request::Parts;
use uuid::Uuid;

use crate::{
    Error,
    auth::layer::{AuthState, RequestAuth},
    crypto::jwt::Claims,
    entity::user,
    store,
};

/// The signed-in user, straight from the verified access token: no database round-trip.
///
/// Dereferences to the token's [`Claims`] (`user.email`, `user.amr`, `user.org_id`, ...).
/// A handler taking `CurrentUser` answers 401 `unauthorized` when nobody is signed in;
/// take `Option<CurrentUser>` for routes that also serve anonymous visitors.
///
/// ```rust,no_run
/// use axum::{Router, routing::get};
/// use portcullis::CurrentUser;
///
/// async fn dashboard(user: CurrentUser) -> String {
///     format!("user {} in session {}", user.id(), user.session_id())
/// }
///
/// async fn home(user: Option<CurrentUser>) -> &'static str {
///     if user.is_some() { "welcome back" } else { "hello, stranger" }
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(home))
///     .route("/dashboard", get(dashboard));
/// ```
///
/// The layer ([`Portcullis::session_layer`](crate::Portcullis::session_layer)) must wrap
/// the route; without it extraction fails loudly with a 500 naming the fix.
#[derive(Debug, Clone)]
pub struct CurrentUser(Arc<Claims>);

impl CurrentUser {
    /// The user id (`sub`).
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.0.sub
    }

    /// The session id (`sid`).
    #[must_use]
    pub fn session_id(&self) -> Uuid {
        self.0.sid
    }

    /// All claims of the access token.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.0
    }
}

impl Deref for CurrentUser {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

fn request_auth(parts: &Parts) -> Result<&RequestAuth, AuthRejection> {
    parts
        .extensions
        .get::<RequestAuth>()
        .ok_or(AuthRejection::MissingLayer)
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        <Self as OptionalFromRequestParts<S>>::from_request_parts(parts, state)
            .await?
            .ok_or(AuthRejection::Unauthorized)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match &request_auth(parts)?.state {
            AuthState::Authenticated { claims, .. } => Ok(Some(Self(claims.clone()))),
            AuthState::Anonymous => Ok(None),
            // A session cookie on a cross-site unsafe request is an attack signal, not
            // anonymity: refuse it even where anonymous visitors are welcome.
            AuthState::CsrfRefused => Err(AuthRejection::Csrf),
            // So is a session cookie sent twice (a planted one beside the real one).
            AuthState::DuplicateCookie => Err(AuthRejection::DuplicateCookie),
        }
    }
}

/// The signed-in user's full database row, loaded at most once per request.
///
/// Use it where the token's claims are not enough (the profile, metadata, the disabled
/// flag). A user deleted since the token was issued answers 401.
#[derive(Debug, Clone)]
pub struct CurrentUserRecord(pub user::Model);

impl Deref for CurrentUserRecord {
    type Target = user::Model;

    fn deref(&self) -> &user::Model {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUserRecord {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(loaded) = parts.extensions.get::<Self>() {
            return Ok(loaded.clone());
        }
        let current =
            <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let ctx = request_auth(parts)?.ctx.clone();
        let user = store::users::find(&ctx.db, current.id())
            .await
            .map_err(|err| AuthRejection::Load(err.into()))?
            .ok_or(AuthRejection::Unauthorized)?;
        let record = Self(user);
        parts.extensions.insert(record.clone());
        Ok(record)
    }
}

/// Why [`CurrentUser`] or [`CurrentUserRecord`] could not be extracted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// Nobody is signed in (401 `unauthorized`).
    #[error("authentication required")]
    Unauthorized,
    /// A session cookie on an unsafe request without a valid CSRF token or allowed
    /// origin (403 `forbidden`).
    #[error("cross-site request refused (CSRF check failed)")]
    Csrf,
    /// The request carried the session cookie twice; one may have been planted by a
    /// sibling subdomain (400 `invalid_request`).
    #[error("the session cookie was sent twice; clear this site's cookies and sign in again")]
    DuplicateCookie,
    /// The session layer does not wrap this route: a wiring bug in the host (500).
    #[error(
        "portcullis: no AuthLayer on this route; add `.layer(auth.session_layer())` as the outermost layer of your Router"
    )]
    MissingLayer,
    /// Loading the user row failed.
    #[error(transparent)]
    Load(Error),
}

impl AuthRejection {
    /// The portcullis [`Error`] this rejection answers as.
    #[must_use]
    pub fn into_error(self) -> Error {
        match self {
            Self::Unauthorized => Error::Unauthorized,
            Self::Csrf => Error::forbidden("cross-site request refused (CSRF check failed)"),
            Self::DuplicateCookie => Error::from(crate::auth::cookie::Duplicate),
            Self::MissingLayer => Error::internal(Self::MissingLayer.to_string()),
            Self::Load(err) => err,
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        if matches!(self, Self::MissingLayer) {
            // Said out loud, in the log and the body: this is the host's wiring, not a
            // secret, and it is found on the first request.
            tracing::error!("{self}");
            let body = serde_json::json!({
                "ok": false,
                "error": "internal_error",
                "message": self.to_string(),
            });
            return (http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
        }
        self.into_error().into_response()
    }
}

impl From<AuthRejection> for Error {
    fn from(rejection: AuthRejection) -> Self {
        rejection.into_error()
    }
}

/// A permission that [`RequirePermission`] can demand. The built-in ones are below; a
/// host declares its own the same way:
///
/// ```
/// use portcullis::Permission;
///
/// struct ExportInvoices;
///
/// impl Permission for ExportInvoices {
///     const NAME: &'static str = "invoices:export";
/// }
/// ```
pub trait Permission: Send + Sync + 'static {
    /// The permission's name, as roles list it.
    const NAME: &'static str;
}

macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident => $value:path;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl Permission for $name {
                const NAME: &'static str = $value;
            }
        )*
    };
}

permissions! {
    /// `org:read`.
    OrgRead => crate::policy::roles::ORG_READ;
    /// `org:update`.
    OrgUpdate => crate::policy::roles::ORG_UPDATE;
    /// `org:delete`.
    OrgDelete => crate::policy::roles::ORG_DELETE;
    /// `members:read`.
    MembersRead => crate::policy::roles::MEMBERS_READ;
    /// `members:manage`.
    MembersManage => crate::policy::roles::MEMBERS_MANAGE;
    /// `invitations:manage`.
    InvitationsManage => crate::policy::roles::INVITATIONS_MANAGE;
    /// `billing:manage`.
    BillingManage => crate::policy::roles::BILLING_MANAGE;
}

/// Requires permission `P` in the caller's active organization (set with
/// `PATCH /v1/orgs/current`). The membership is re-read from the database on every
/// request, so a removal or a role change takes effect at once, whatever the access token
/// still says. Answers 403 `forbidden` without the permission (or without an active
/// organization), 401 when nobody is signed in.
///
/// ```rust,no_run
/// use axum::{Router, routing::post};
/// use portcullis::{BillingManage, RequirePermission};
///
/// async fn change_plan(permission: RequirePermission<BillingManage>) -> String {
///     format!("{} may manage billing of {}", permission.user.id(), permission.org_id)
/// }
///
/// let app: Router = Router::new().route("/billing/plan", post(change_plan));
/// ```
#[derive(Debug, Clone)]
pub struct RequirePermission<P> {
    /// The caller.
    pub user: CurrentUser,
    /// The active organization the permission was checked in.
    pub org_id: Uuid,
    /// The caller's current role there.
    pub role: String,
    _permission: std::marker::PhantomData<fn() -> P>,
}

impl<S: Send + Sync, P: Permission> FromRequestParts<S> for RequirePermission<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let ctx = request_auth(parts)?.ctx.clone();
        let org_id = user.org_id.ok_or_else(|| {
            AuthRejection::Load(Error::forbidden(
                "no active organization; switch to one first",
            ))
        })?;
        let (membership, _) =
            crate::flows::orgs::authorize(&ctx, &ctx.db, user.id(), org_id, P::NAME)
                .await
                .map_err(|err| match err {
                    // Removed since the token was issued: not allowed, rather than "not found".
                    Error::NotFound => AuthRejection::Load(Error::forbidden(
                        "you are not a member of the active organization",
                    )),
                    other => AuthRejection::Load(other),
                })?;
        Ok(Self {
            user,
            org_id,
            role: membership.role,
            _permission: std::marker::PhantomData,
        })
    }
}
