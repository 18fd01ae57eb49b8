//! The request side: [`AuthLayer`] authenticates every request without touching the
//! database.
//!
//! For each request the layer
//!
//! 1. takes the access token from `Authorization: Bearer` or, failing that, the
//!    `__session` cookie (a request carrying both is judged by its bearer token);
//! 2. verifies it through a bounded cache of already-verified tokens, so the ES256
//!    signature is checked once per token per instance;
//! 3. consults the in-memory revocation view (or, in strict mode, the
//!    database);
//! 4. for a cookie-authenticated POST, PUT, PATCH or DELETE, runs the CSRF check
//!    (an `X-CSRF-Token` from `GET /csrf`, or an allowed `Origin`);
//! 5. puts the outcome in the request extensions, where [`CurrentUser`](crate::CurrentUser)
//!    and `Option<CurrentUser>` find it.
//!
//! A request with no token, or an invalid one, goes through as anonymous: the handler
//! decides (a `CurrentUser` handler answers 401 `unauthorized`).
//!
//! ```rust,no_run
//! use axum::{Router, routing::get};
//! use portcullis::{CurrentUser, Portcullis};
//!
//! async fn whoami(user: Option<CurrentUser>) -> String {
//!     match user {
//!         Some(user) => format!("user {}", user.id()),
//!         None => "anonymous".to_owned(),
//!     }
//! }
//!
//! # fn wire(auth: Portcullis) {
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .nest("/v1/auth", auth.router())
//!     .layer(auth.session_layer());
//! # }
//! ```

pub(crate) mod api_key;
pub(crate) mod cookie;
pub(crate) mod csrf;
pub(crate) mod layer;
pub(crate) mod verify;

pub use self::layer::{AuthLayer, AuthService, ResponseFuture};
