//! Embeddable authentication for [`axum`] applications, in the host's own database.
//!
//! portcullis gives an axum app:
//!
//! - a router of auth endpoints ([`Portcullis::router`]): sign-up and sign-in with email
//!   and password, email verification and password reset, magic links, email and SMS
//!   codes, passkeys, social sign-in, sessions with rotating refresh tokens, the account;
//! - a router of organizations ([`Portcullis::orgs_router`]) with roles, permissions and
//!   invitations;
//! - a layer ([`Portcullis::session_layer`]) that authenticates every request from a
//!   short-lived ES256 access token, without a database round-trip;
//! - extractors for the host's handlers: [`CurrentUser`], `Option<CurrentUser>`,
//!   [`CurrentUserRecord`], [`RequirePermission`];
//! - SeaORM entities and migrations for SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! # Example
//!
//! ```rust,no_run
//! use axum::{Router, routing::get};
//! use portcullis::{Config, CurrentUser, Portcullis};
//!
//! async fn hello(user: CurrentUser) -> String {
//!     format!("hello {}", user.email.as_deref().unwrap_or("you"))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let db = sea_orm::Database::connect("sqlite://app.db?mode=rwc").await?;
//! portcullis::migrate(&db).await?;
//! let auth = Portcullis::builder(db)
//!     .config(Config::from_env()?) // PORTCULLIS_SECRET, PORTCULLIS_PUBLIC_URL, ...
//!     .build()
//!     .await?;
//!
//! let app: Router = Router::new()
//!     .route("/hello", get(hello))
//!     .nest("/v1/auth", auth.router())
//!     .nest("/v1/orgs", auth.orgs_router())
//!     .merge(auth.well_known_router())
//!     .layer(auth.session_layer());
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! Name | Description | Default?
//! ---|---|---
//! `sqlite` | SQLite through SeaORM/sqlx (bundled) | yes
//! `postgres` | PostgreSQL | yes
//! `mysql` | MySQL and MariaDB | yes
//! `smtp` | email delivery over SMTP (lettre, rustls) | yes
//! `sms` | text delivery over HTTP: webhook and Twilio senders (reqwest, rustls) | yes
//! `passkeys` | passkeys (WebAuthn) with webauthn-rs | yes
//! `oauth` | social sign-in: OpenID Connect and OAuth 2.0 providers (openidconnect, oauth2, reqwest on rustls) | yes
//!
//! The crate builds with any one backend, e.g. `--no-default-features --features sqlite`.

#![cfg_attr(docsrs, feature(doc_cfg))]
// Library code never panics on a request path; tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod audit;
mod builder;
pub mod client;
mod config;
mod context;
mod crypto;
mod error;
pub mod extract;
mod keys;
mod origin;
mod portcullis;
pub mod rate_limit;
#[cfg(feature = "passkeys")]
mod relying_party;
mod routes;
mod store;

pub mod auth;
pub mod delivery;
pub mod entity;
pub mod flows;
pub mod migration;
pub mod oauth;
pub mod policy;

pub use self::audit::{AuditEvent, AuditHook, AuditKind};
pub use self::builder::{BuildError, PortcullisBuilder};
pub use self::client::{ClientInfo, TrustedProxies};
pub use self::config::{Argon2Params, Config, ConfigError, SignInMethod, TokenDelivery};
pub use self::crypto::{MIN_SECRET_LEN, Secret, SecretError, jwt::Claims};
pub use self::error::{Error, Result};
pub use self::extract::{
    AuthRejection, CurrentUser, CurrentUserRecord, Permission, RequirePermission,
    permissions::{
        BillingManage, InvitationsManage, MembersManage, MembersRead, OrgDelete, OrgRead, OrgUpdate,
    },
};
pub use self::flows::{
    email_address::normalize_email,
    phone::normalize_phone,
    sessions::Grant,
    users::{ImportedUser, NewUser},
};
pub use self::migration::Migrator;
pub use self::oauth::{OAuthProvider, Protocol, UserApi};
pub use self::policy::{BreachedPasswords, PasswordPolicy};
pub use self::portcullis::Portcullis;
pub use self::rate_limit::{BoxFuture, MemoryRateLimiter, RateLimiter, Rule, Throttled};

/// Applies portcullis' pending migrations (tracked in `portcullis_migrations`, apart from
/// the host's own). Safe to call at every start-up.
///
/// # Errors
///
/// The database error if a migration fails.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    Migrator::up(db, None).await
}

/// Not part of the public API: hooks for this crate's own benchmarks.
#[doc(hidden)]
pub mod __private {
    use crate::Portcullis;

    /// Verifies an access token's signature and claims the way the layer does on first
    /// sight, bypassing (and not filling) the verified-token cache.
    #[must_use]
    pub fn verify_first_sight(auth: &Portcullis, token: &str) -> bool {
        crate::auth::verify::verify_uncached(auth.context(), token)
    }
}
