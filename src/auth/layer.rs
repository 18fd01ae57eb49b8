//! [`AuthLayer`] and its service.

use std::{future::Future, pin::Pin, sync::Arc, task::Poll};

use http::{HeaderMap, Request, header};
use tower::{Layer, Service};

use super::{api_key, cookie, csrf, verify};
use crate::{audit::Acting, context::Context, crypto::jwt::Claims};

/// How the request authenticated, as the layer left it in the request extensions.
#[derive(Clone)]
pub(crate) struct RequestAuth {
    pub(crate) ctx: Arc<Context>,
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
    /// The session cookie came twice (one may have been planted by a sibling subdomain):
    /// refused, never resolved by picking one.
    DuplicateCookie,
    /// A valid API key over its own rate limit.
    Throttled { retry_after_secs: u64 },
}

/// Where the access token came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Via {
    Bearer,
    Cookie,
}

/// Layer that authenticates every request; see the [module docs](crate::auth).
///
/// Created with [`Portcullis::session_layer`](crate::Portcullis::session_layer).
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthLayer {
    ctx: Arc<Context>,
}

impl AuthLayer {
    pub(crate) fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            ctx: self.ctx.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the app; see the
/// [module docs](crate::auth).
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    ctx: Arc<Context>,
}

/// The access token of a request, as its bytes: the bearer token if there is an
/// `Authorization: Bearer` header (even a bad one), else the session cookie (`Err` when it
/// came twice).
///
/// Bytes, not `to_str()`: this runs on every request, and the token's characters are
/// checked by the verifier (or matched byte for byte against an already verified token).
fn access_token<'h>(
    headers: &'h HeaderMap,
    cookie_name: &str,
) -> Result<Option<(&'h [u8], Via)>, cookie::Duplicate> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.as_bytes();
        if let Some((scheme, token)) = value.split_at_checked(7)
            && scheme.eq_ignore_ascii_case(b"bearer ")
        {
            return Ok(Some((token.trim_ascii(), Via::Bearer)));
        }
    }
    Ok(cookie::read_bytes(headers, cookie_name)?.map(|token| (token, Via::Cookie)))
}

/// Who really acts behind an authenticated request, when it is not simply its user.
fn acting(state: &AuthState) -> Option<Acting> {
    match state {
        AuthState::Authenticated { claims, .. } => Acting::of(claims),
        _ => None,
    }
}

impl<S> AuthService<S> {
    /// The verdict that needs no I/O: no token, a token this instance already verified,
    /// or one it already refused. `Err` with the token when its signature must be checked
    /// (or strict mode must ask the database).
    fn decide_now<B>(&self, req: &Request<B>) -> Result<AuthState, (String, Via)> {
        let ctx = &self.ctx;
        let (token, via) = match access_token(req.headers(), &ctx.config.cookies.session) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(AuthState::Anonymous),
            Err(cookie::Duplicate) => return Ok(AuthState::DuplicateCookie),
        };
        if api_key::is_api_key(token) {
            // Keys come in the `Authorization` header only, and each has a rate limit of
            // its own (checked on the way in, so never without I/O).
            return match (via, std::str::from_utf8(token)) {
                (Via::Bearer, Ok(token)) => Err((token.to_owned(), via)),
                _ => Ok(AuthState::Anonymous),
            };
        }
        match verify::first_look(ctx, token) {
            verify::FirstLook::Valid(claims) if !ctx.config.sessions.strict_revocation => {
                Ok(AuthState::Authenticated { claims, via })
            }
            verify::FirstLook::Invalid => Ok(AuthState::Anonymous),
            // Never seen (or strict mode): to the verifier, which needs text. Bytes that
            // are not UTF-8 are no token.
            _ => match std::str::from_utf8(token) {
                Ok(token) => Err((token.to_owned(), via)),
                Err(_) => Ok(AuthState::Anonymous),
            },
        }
    }

    /// Applies the CSRF rule and hands the verdict to the handlers.
    fn attach<B>(ctx: Arc<Context>, mut state: AuthState, req: &mut Request<B>) {
        if let AuthState::Authenticated {
            claims,
            via: Via::Cookie,
        } = &state
            && csrf::is_unsafe(req.method())
            && csrf::check(
                req.headers(),
                &ctx.keys,
                &ctx.origins
                    .csrf_origins(ctx.client_app(req.headers()).map(|c| c.id.as_str())),
                claims.sid,
                &ctx.config.cookies.csrf,
            )
            .is_err()
        {
            state = AuthState::CsrfRefused;
        }
        req.extensions_mut().insert(RequestAuth { ctx, state });
    }
}

impl<S, ReqBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Response, S::Error>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.decide_now(&req) {
            // The common case, decided without I/O: call the service `poll_ready` readied,
            // right now, and hand back its own future (no allocation of ours).
            Ok(state) => {
                let acting = acting(&state);
                Self::attach(self.ctx.clone(), state, &mut req);
                match acting {
                    None => ResponseFuture {
                        kind: Kind::Direct {
                            future: self.inner.call(req),
                        },
                    },
                    // An impersonation: whatever the handlers audit names the admin.
                    Some(acting) => ResponseFuture {
                        kind: Kind::Verifying {
                            future: Box::pin(acting.scope(self.inner.call(req))),
                        },
                    },
                }
            }
            // A token never seen here: verify it first. The call happens later, so take
            // the readied service and leave a fresh clone behind.
            Err((token, via)) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let ctx = self.ctx.clone();
                let future = Box::pin(async move {
                    let verdict = if api_key::is_api_key(token.as_bytes()) {
                        api_key::admit(&ctx, &token).await
                    } else {
                        verify::authenticate(&ctx, &token).await.map(|claims| {
                            claims.map_or(AuthState::Anonymous, |claims| AuthState::Authenticated {
                                claims,
                                via,
                            })
                        })
                    };
                    let state = match verdict {
                        Ok(state) => state,
                        Err(err) => {
                            // The database is down in strict mode, or a key reload
                            // failed: fail closed, as anonymous.
                            tracing::error!(error = ?err, "authenticating a request failed");
                            AuthState::Anonymous
                        }
                    };
                    let acting = acting(&state);
                    Self::attach(ctx, state, &mut req);
                    match acting {
                        None => inner.call(req).await,
                        Some(acting) => acting.scope(inner.call(req)).await,
                    }
                });
                ResponseFuture {
                    kind: Kind::Verifying { future },
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`AuthService`].
    pub struct ResponseFuture<F, T, E> {
        #[pin]
        kind: Kind<F, T, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, T, E> {
        // Authentication was decided synchronously: the inner service's own future.
        Direct { #[pin] future: F },
        // The token's signature is being checked before the inner service is called.
        Verifying { future: Pin<Box<dyn Future<Output = Result<T, E>> + Send>> },
    }
}

impl<F, T, E> Future for ResponseFuture<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Direct { future } => future.poll(cx),
            KindProj::Verifying { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, T, E> std::fmt::Debug for ResponseFuture<F, T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}
