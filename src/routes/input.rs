//! Request extractors of our own routes, each mapping every rejection to the contract's
//! errors: 400 `invalid_request` (wrong content type, malformed JSON, missing or invalid
//! field, bad UUID) or 413 `payload_too_large`.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
};
use http::{HeaderMap, StatusCode, header, request::Parts};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

use crate::{Error, client::ClientInfo, context::Context};

/// A JSON body (and, as an answer, a JSON answer). Only `application/json` (or `+json`) is accepted, so a cross-site form
/// can never reach a handler as a "simple request".
pub(crate) struct Json<T>(pub(crate) T);

/// Answers are JSON too: a route returns `Json(SomeAnswer { .. })`.
impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body that may also be absent: no body at all, or an empty one (whatever its
/// content type says).
pub(crate) struct OptionalJson<T>(pub(crate) Option<T>);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn body_error(rejection: &BytesRejection) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge
    } else {
        Error::invalid_request("the request body could not be read")
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|err| {
        let what = match err.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "malformed JSON"
            }
            _ => "invalid field",
        };
        Error::invalid_request(format!("{what}: {err}"))
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        if !is_json(req.headers()) {
            return Err(Error::invalid_request(
                "expected Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e))?;
        parse(&bytes).map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        if !json {
            return Err(Error::invalid_request(
                "expected Content-Type: application/json",
            ));
        }
        parse(&bytes).map(|value| Self(Some(value)))
    }
}

/// Query parameters; malformed ones are 400 `invalid_request`.
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|_| Error::invalid_request("malformed query parameters"))
    }
}

/// A path parameter; a malformed one (a bad UUID) is 400 `invalid_request`, not 404.
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|_| Error::invalid_request("malformed path parameter (expected a UUID)"))
    }
}

impl FromRequestParts<Arc<Context>> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<Context>,
    ) -> Result<Self, Self::Rejection> {
        let mut client = Self::from_parts(parts, &ctx.config.requests.trusted_proxies);
        client.app = ctx.client_app(&parts.headers).map(|app| app.id.clone());
        Ok(client)
    }
}

/// A field of a PATCH body: absent (leave it), `null` (clear it) or a value (set it).
#[derive(Debug, Default)]
pub(crate) enum Patch<T> {
    #[default]
    Missing,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// As a change: `None` to leave the field, `Some(None)` to clear it.
    pub(crate) fn into_change(self) -> Option<Option<T>> {
        match self {
            Self::Missing => None,
            Self::Null => Some(None),
            Self::Value(value) => Some(Some(value)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Self::Value(value),
            None => Self::Null,
        })
    }
}

/// Whether the client asked for JSON rather than a page (`Accept: application/json`,
/// without `text/html`).
pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        name: Patch<String>,
    }

    #[test]
    fn patch_tells_absent_from_null() {
        let absent: Body = serde_json::from_str("{}").unwrap();
        assert!(matches!(absent.name, Patch::Missing));
        let null: Body = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert!(matches!(null.name, Patch::Null));
        let set: Body = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert!(matches!(set.name, Patch::Value(ref v) if v == "x"));
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("multipart/form-data; boundary=x", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), ok, "{value}");
        }
    }
}
