//! [`AuthRejection`]: why an extractor refused, answered as the contract's JSON error.

use axum::response::{IntoResponse, Response};

use crate::Error;

/// Why [`CurrentUser`](crate::CurrentUser) or [`CurrentUserRecord`](crate::CurrentUserRecord) could not be extracted.
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
