//! [`CurrentApiKey`]: a route for machines that authenticate with an API key.

use axum::extract::FromRequestParts;
use http::request::Parts;
use uuid::Uuid;

use super::{AuthRejection, CurrentUser};
use crate::Error;

/// The API key a request authenticated with (`Authorization: Bearer sk_...`), and who it
/// acts for. Answers 401 when nobody is signed in and 403 `forbidden` for a session (a
/// route that serves both takes [`CurrentUser`] and looks at
/// [`CurrentUser::api_key`]).
///
/// ```rust,no_run
/// use axum::{Router, routing::get};
/// use portcullis::extract::CurrentApiKey;
///
/// async fn export(key: CurrentApiKey) -> String {
///     if !key.has_scope("reports:read") {
///         return "not allowed".into();
///     }
///     format!("export for {} by key {}", key.user.id(), key.id)
/// }
///
/// let app: Router = Router::new().route("/export", get(export));
/// ```
#[derive(Debug, Clone)]
pub struct CurrentApiKey {
    /// The key's id.
    pub id: Uuid,
    /// The organization of an organization key.
    pub org_id: Option<Uuid>,
    /// What the key is limited to; `None` for an unscoped user key.
    pub scopes: Option<Vec<String>>,
    /// Who it acts for: the owner of a user key; for an organization key, the
    /// organization (`user.id()` is the organization's id).
    pub user: CurrentUser,
}

impl CurrentApiKey {
    /// Whether the key may use `scope` (an unscoped user key may use anything its owner
    /// may).
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.user.has_scope(scope)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentApiKey {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let Some(key) = user.api_key().cloned() else {
            return Err(AuthRejection::Load(Error::forbidden(
                "this route is for API keys (Authorization: Bearer sk_...)",
            )));
        };
        Ok(Self {
            id: key.id,
            org_id: key.org_id,
            scopes: key.scopes,
            user,
        })
    }
}
