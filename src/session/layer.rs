//! [`SessionLayer`] and its service.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderMap, Request, header};
use tower::{Layer, Service};

use super::{csrf, verify};
use crate::{Portcullis, crypto::jwt::Claims, session::cookie};

/// How the request authenticated, as the layer left it in the request extensions.
#[derive(Clone)]
pub(crate) struct RequestAuth {
    pub(crate) auth: Portcullis,
    pub(crate) state: AuthState,
}

/// The layer's verdict on a request.
#[derive(Clone)]
pub(crate) enum AuthState {
    /// No credentials, or credentials that are not valid now.
    Anonymous,
    /// A valid access token.
    Authenticated { claims: Arc<Claims>, via: Via },
    /// A valid session cookie on an unsafe request that failed the CSRF check.
    CsrfRefused,
}

/// Where the access token came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Via {
    Bearer,
    Cookie,
}

/// Layer that authenticates every request; see the [module docs](crate::session).
///
/// Created with [`Portcullis::session_layer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionLayer {
    auth: Portcullis,
}

impl SessionLayer {
    pub(crate) fn new(auth: Portcullis) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around the app; see the
/// [module docs](crate::session).
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    auth: Portcullis,
}

/// The access token of a request: the bearer token if there is an `Authorization:
/// Bearer` header (even a bad one), else the session cookie.
fn access_token<'h>(headers: &'h HeaderMap, cookie_name: &str) -> Option<(&'h str, Via)> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((token.trim(), Via::Bearer));
        }
    }
    cookie::read(headers, cookie_name).map(|token| (token, Via::Cookie))
}

impl<S, ReqBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Use the service `poll_ready` readied; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();

        // The common case (a token this instance already verified) is decided here,
        // synchronously, without copying the token.
        let config = &auth.inner.config;
        let (quick, unseen) = match access_token(req.headers(), &config.session_cookie) {
            None => (Some(AuthState::Anonymous), None),
            Some((token, via)) => match verify::first_look(&auth.inner, token) {
                verify::FirstLook::Valid(claims) if !config.strict_revocation => {
                    (Some(AuthState::Authenticated { claims, via }), None)
                }
                verify::FirstLook::Invalid => (Some(AuthState::Anonymous), None),
                _ => (None, Some((token.to_owned(), via))),
            },
        };

        Box::pin(async move {
            let mut state = match (quick, unseen) {
                (Some(state), _) => state,
                (None, Some((token, via))) => match verify::authenticate(&auth.inner, &token).await
                {
                    Ok(Some(claims)) => AuthState::Authenticated { claims, via },
                    Ok(None) => AuthState::Anonymous,
                    Err(err) => {
                        // The database is down in strict mode, or key reload failed:
                        // fail closed, as anonymous.
                        tracing::error!(error = ?err, "authenticating a request failed");
                        AuthState::Anonymous
                    }
                },
                (None, None) => AuthState::Anonymous,
            };
            if let AuthState::Authenticated {
                claims,
                via: Via::Cookie,
            } = &state
                && csrf::is_unsafe(req.method())
                && csrf::check(
                    req.headers(),
                    &auth.inner.keys,
                    &auth.inner.origins.allowed,
                    claims.sid,
                )
                .is_err()
            {
                state = AuthState::CsrfRefused;
            }
            req.extensions_mut().insert(RequestAuth { auth, state });
            inner.call(req).await
        })
    }
}
