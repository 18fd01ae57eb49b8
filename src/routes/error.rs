//! Answering an [`Error`]: the contract's JSON body with the error's status, a
//! `Retry-After` on 429 and 503, and for server errors a reference id in the log and nothing else
//! in the body.

use super::views::{ErrorBody, False};
use crate::{Error, breaker::DatabaseOutage};
use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, header};

/// What a 503 asks the client to wait: about the time an outage takes to be noticed and
/// the breaker's cool-down.
pub(crate) const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            // The cause goes to the log with a reference; the client only sees the reference.
            let reference = uuid::Uuid::new_v4().simple().to_string();
            tracing::error!(error = ?self, reference = %reference, "portcullis request failed");
            format!("{self} (reference {reference})")
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            ok: False,
            error: self.code(),
            message,
        };
        let mut response = (status, Json(body)).into_response();
        if self.is_database_outage() {
            // The fail-fast layer counts these towards opening the breaker.
            response.extensions_mut().insert(DatabaseOutage);
        }
        let retry_after = match self {
            Self::RateLimited { retry_after_secs } => Some(retry_after_secs.max(1)),
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_carries_retry_after() {
        let response = Error::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn an_unreachable_database_is_a_503_with_retry_after_and_marked_as_an_outage() {
        let outage = Error::from(sea_orm::DbErr::ConnectionAcquire(
            sea_orm::error::ConnAcquireErr::Timeout,
        ));
        let response = outage.into_response();
        assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert!(response.extensions().get::<DatabaseOutage>().is_some());
        // Contention is a 503 too, but no outage: it must not open the breaker.
        let other = Error::Unavailable("Stripe did not answer".into()).into_response();
        assert!(other.extensions().get::<DatabaseOutage>().is_none());
    }
}
