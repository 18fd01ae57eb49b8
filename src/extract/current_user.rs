//! [`CurrentUser`] and [`CurrentUserRecord`].

use std::{ops::Deref, sync::Arc};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use uuid::Uuid;

use super::AuthRejection;
use crate::{
    auth::layer::{AuthState, RequestAuth},
    crypto::jwt::Claims,
    entity::user,
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

    /// What the session proved: `"aal1"` (one factor) or `"aal2"` (a second factor, or a
    /// passkey). See also [`RequireAal2`](crate::extract::RequireAal2).
    #[must_use]
    pub fn acr(&self) -> &str {
        &self.0.acr
    }

    /// The methods the session was made with (RFC 8176): `["pwd"]`, `["pwd", "otp"]`,
    /// `["hwk"]`, ...
    #[must_use]
    pub fn amr(&self) -> &[String] {
        &self.0.amr
    }

    /// The admin impersonating this user, when the session is an impersonation (host code
    /// can refuse sensitive actions then).
    #[must_use]
    pub fn impersonator(&self) -> Option<Uuid> {
        self.0.act.as_ref().map(|act| act.sub)
    }

    /// The API key the request authenticated with, if it did (`Authorization: Bearer
    /// sk_...`); see also [`CurrentApiKey`](crate::extract::CurrentApiKey).
    #[must_use]
    pub fn api_key(&self) -> Option<&crate::crypto::jwt::ApiKeyIdentity> {
        self.0.api_key.as_ref()
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

pub(super) fn request_auth(parts: &Parts) -> Result<&RequestAuth, AuthRejection> {
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
            // An API key over its own limit.
            AuthState::Throttled { retry_after_secs } => {
                Err(AuthRejection::Load(crate::Error::RateLimited {
                    retry_after_secs: *retry_after_secs,
                }))
            }
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
        let user = crate::flows::users::find(&ctx, current.id())
            .await
            .map_err(AuthRejection::Load)?
            .ok_or(AuthRejection::Unauthorized)?;
        let record = Self(user);
        parts.extensions.insert(record.clone());
        Ok(record)
    }
}
