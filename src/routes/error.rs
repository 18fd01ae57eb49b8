//! Answering an [`Error`]: the contract's JSON body with the error's status, a
//! `Retry-After` on 429, and for server errors a reference id in the log and nothing else
//! in the body.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, header};
use serde_json::json;

use crate::Error;

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
        let body = json!({ "ok": false, "error": self.code(), "message": message });
        let mut response = (status, Json(body)).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
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
}
