//! Embeddable authentication for [`axum`] applications, in the host's own database.
//!
//! portcullis gives an axum app:
//!
//! - a router of auth endpoints ([`Portcullis::router`]): sign-up and sign-in with email
//!   and password, email verification and password reset, magic links, email and SMS
//!   codes, passkeys, social sign-in, two-step verification (TOTP, recovery codes, a
//!   passkey as the second factor) and re-authentication, sessions with rotating refresh
//!   tokens, the account;
//! - a router of organizations ([`Portcullis::orgs_router`]) with roles, permissions,
//!   invitations and API keys, and an admin router ([`Portcullis::admin_router`]);
//! - a layer ([`Portcullis::session_layer`], an [`AuthLayer`]) that authenticates every
//!   request from a short-lived ES256 access token, without a database round-trip;
//! - extractors for the host's handlers: [`CurrentUser`], `Option<CurrentUser>`,
//!   [`CurrentUserRecord`], [`RequirePermission`], [`extract::RequireAal2`];
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
//! // PORTCULLIS_SECRET, PORTCULLIS_PUBLIC_URL, ...
//! let auth = Portcullis::from_config(db, Config::from_env()?).build().await?;
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
//! # Where things are
//!
//! | module | what it holds |
//! |---|---|
//! | the root | the handle ([`Portcullis`]), its builder, [`Config`], [`Error`], the extractors hosts use most, [`Migrator`] |
//! | [`config`] | every setting, in sections ([`config::SessionConfig`], [`config::CookieConfig`], ...) |
//! | [`extract`] | [`CurrentUser`], [`CurrentUserRecord`], [`RequirePermission`] and the [`extract::permissions`] it demands, [`extract::RequireAal2`] |
//! | [`auth`] | the request side: [`AuthLayer`] |
//! | [`users`], [`sessions`], [`retention`] | what [`Portcullis::users`], [`Portcullis::sessions`] and [`Portcullis::sweep`] hand out |
//! | [`policy`] | the password policy, breached-password checks, organization roles |
//! | [`delivery`] | mailers, SMS senders, email templates |
//! | [`oauth`] | social sign-in providers |
//! | [`rate_limit`] | every [`rate_limit::Limit`], the [`rate_limit::RateLimiter`] trait, the in-memory limiter |
//! | [`audit`] | audit events and the host's hook |
//! | [`client`] | who is asking: the client IP behind trusted proxies |
//! | [`entity`], [`migration`] | the tables portcullis owns, and their migrations |
//!
//! # The HTTP contract
//!
//! The wire contract (`API.md`) in short; every answer is JSON, `{ "ok": true, ... }` or
//! `{ "ok": false, "error": "<code>", "message": "..." }`. Paths are relative to where the
//! host mounts each router (`/v1/auth`, `/v1/orgs`, the root).
//!
//! **Auth router** ([`Portcullis::router`]):
//!
//! | method | path | answer |
//! |---|---|---|
//! | `POST` | `/sign-up/email-password` | 201 session grant; 409 `email_taken` |
//! | `POST` | `/sign-in/email-password` | session grant; 401 `invalid_credentials` |
//! | `POST` | `/password/forgot` | 200 always |
//! | `POST` | `/password/reset` | 200; every session revoked |
//! | `POST` | `/me/password` | 200; other sessions revoked |
//! | `POST` | `/email/send-verification` | 200 always |
//! | `GET`, `POST` | `/email/verify` | a confirm page (browsers) or `{ ok, user }` (JSON); the form's `POST` verifies and redirects |
//! | `POST` | `/sign-in/magic-link` | 200 always |
//! | `GET`, `POST` | `/magic-link/verify` | a confirm page (browsers) or a session grant (JSON) |
//! | `POST` | `/sign-in/email-otp`, `/sign-in/sms-otp` | 200 always |
//! | `POST` | `/email-otp/verify`, `/sms/verify` | session grant; 429 `too_many_attempts` |
//! | `POST` | `/me/passkeys/register/begin`, `/me/passkeys/register/complete` | options; 201 `{ ok, passkey }` |
//! | `POST` | `/passkeys/authenticate/begin`, `/passkeys/authenticate/complete` | options; session grant |
//! | `GET`, `PATCH`, `DELETE` | `/me/passkeys`, `/me/passkeys/{id}` | list, rename, remove |
//! | `GET` | `/oauth/{provider}/authorize`, `/oauth/{provider}/callback` | 302 to the provider; cookies + 303 (or a JSON grant) |
//! | `GET`, `DELETE` | `/me/accounts`, `/me/accounts/{id}` | linked accounts; unlink |
//! | `POST` | `/sessions/refresh` | a new grant; the old refresh token is dead |
//! | `GET` | `/sessions`, `/sessions/current`, `/sessions/current/permissions` | the caller's sessions |
//! | `DELETE` | `/sessions/{id}` | revoke one of the caller's sessions |
//! | `POST` | `/sign-out`, `/sign-out/all` | revoke; clear cookies |
//! | `GET`, `PATCH` | `/me` | the account and memberships |
//! | `GET` | `/methods` | the sign-in methods on |
//! | `POST` | `/identify` | methods (per account only with discovery on) |
//! | `GET` | `/csrf` | `{ ok, csrf_token }` |
//! | `GET` | `/me/mfa` | `{ ok, totp, recovery_codes_left, passkey_as_second_factor }` |
//! | `POST`, `DELETE` | `/me/mfa/totp` | enrol (fresh session): `{ ok, secret, otpauth_url, qr_svg }`; off (fresh `aal2` session) |
//! | `POST` | `/me/mfa/totp/confirm` | `{ ok, recovery_codes }`: TOTP on, other sessions revoked |
//! | `POST` | `/me/mfa/recovery-codes` | a new set (fresh session) |
//! | `POST` | `/mfa/verify`, `/mfa/passkey/begin`, `/mfa/passkey/complete` | the second factor of a challenged sign-in: a grant with `acr: aal2` |
//! | `POST` | `/reauthenticate` | `{ password }`, `{ code }` or a passkey answer: the same session made fresh (a code or passkey: `aal2`) |
//!
//! On an account with a second factor, every first-factor sign-in answers
//! `{ ok, mfa_required: true, mfa_token, factors }` (no session) instead of a grant;
//! browser flows that end in a redirect set an HttpOnly `__mfa` cookie and add
//! `?mfa_required=1`.
//!
//! **Organizations router** ([`Portcullis::orgs_router`]): `GET`/`POST /`,
//! `GET`/`PATCH`/`DELETE /{id}`, `GET /{id}/members`, `PATCH`/`DELETE
//! /{id}/members/{user_id}`, `POST`/`GET /{id}/invitations`, `DELETE
//! /{id}/invitations/{invitation_id}`, `POST /invitations/accept`, `PATCH /current` (a new
//! access token for the active organization). Non-members get 404 for every route of an
//! organization.
//!
//! **Admin router** ([`Portcullis::admin_router`], for users whose role is `admin`):
//! `GET`/`POST /users`, `GET`/`PATCH`/`DELETE /users/{id}`, `POST /users/{id}/disable`,
//! `/enable`, `/impersonate`, `GET`/`DELETE /users/{id}/sessions`, `GET /audit`.
//!
//! **API keys**: `GET`/`POST /me/api-keys`, `DELETE /me/api-keys/{id}` (auth router),
//! `GET`/`POST /{id}/api-keys`, `DELETE /{id}/api-keys/{key_id}` (organizations router);
//! `Authorization: Bearer sk_...` authenticates as the key ([`extract::CurrentApiKey`]).
//!
//! **Well-known** ([`Portcullis::well_known_router`]): `GET /.well-known/jwks.json`,
//! `GET /healthz` (liveness: the process answers), `GET /readyz` (readiness: the database
//! answers within two seconds, else 503 `unavailable`).
//!
//! A **session grant** is `{ ok, user, session, access_token, token_type: "Bearer",
//! expires_in, refresh_token }`, and sets the cookies `__session` (the access token) and
//! `__client` (the refresh token), `HttpOnly; SameSite=Lax; Path=/` and `Secure` unless the
//! host turned it off; on an https public URL their names take the `__Host-` prefix. A
//! request carrying one of them twice is refused. A cookie-authenticated `POST`, `PUT`,
//! `PATCH` or `DELETE` must also show an `X-CSRF-Token` from `GET /csrf` or an allowed
//! `Origin`; bearer requests are exempt.
//!
//! **Error codes**: 400 `invalid_request`, `weak_password`, `token_invalid`,
//! `token_expired`, `invalid_signature`; 401 `unauthorized`, `invalid_credentials`,
//! `invalid_client`; 403 `forbidden`, `email_not_verified`, `user_disabled`,
//! `reauthentication_required`, `mfa_required`, `plan_required`; 404 `not_found`; 405
//! `method_not_allowed`; 409 `email_taken`, `conflict`; 413 `payload_too_large`; 429
//! `rate_limited` (with `Retry-After`), `too_many_attempts`; 503 `unavailable`. See
//! [`Error`].
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
//! `billing` | billing with Stripe: plans, checkout, subscriptions, portal, webhooks (reqwest, rustls) | yes
//! `oauth` | social sign-in: OpenID Connect and OAuth 2.0 providers (openidconnect, oauth2, reqwest on rustls) | yes
//!
//! The crate builds with any one backend, e.g. `--no-default-features --features sqlite`.
//! Settings of a feature that is off do not exist (`Config::passkeys` needs `passkeys`).

#![cfg_attr(docsrs, feature(doc_cfg))]
// Library code never panics on a request path; tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod breaker;
mod builder;
mod context;
mod crypto;
mod error;
mod flows;
mod keys;
mod origin;
mod portcullis;
#[cfg(feature = "passkeys")]
mod relying_party;
mod revocation;
mod routes;
mod store;
#[cfg(feature = "billing")]
mod stripe;
mod tasks;
mod token_cache;

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod delivery;
pub mod entity;
pub mod extract;
pub mod migration;
pub mod oauth;
pub mod policy;
pub mod rate_limit;

pub use self::auth::AuthLayer;
pub use self::builder::{BuildError, PortcullisBuilder};
pub use self::config::{Config, ConfigError};
pub use self::crypto::{Secret, jwt::Claims};
pub use self::error::{Error, Result};
pub use self::extract::{CurrentUser, CurrentUserRecord, RequirePermission};
pub use self::migration::Migrator;
pub use self::portcullis::Portcullis;

/// Account administration from Rust, as [`Portcullis::users`] hands it out.
///
/// ```rust,no_run
/// use portcullis::{Portcullis, users::{ImportedUser, NewUser}};
///
/// # async fn run(auth: Portcullis) -> Result<(), portcullis::Error> {
/// // A seed user with a password (checked against the policy like any sign-up).
/// let jane = auth
///     .users()
///     .create(NewUser::new("jane@example.com").password("a long and unusual passphrase"))
///     .await?;
///
/// // A user moved over from a system that stored bcrypt: the hash is kept as is and
/// // upgraded to argon2id the first time they sign in.
/// let bob = auth
///     .users()
///     .import(ImportedUser::new("bob@example.com").password_hash(
///         "$2b$12$KIXQJ2wG5b6l0cB0nEo1XeqVn9mA7QmDkq4mQy1aZqIh7i4sYQe2u",
///     ))
///     .await?;
/// # Ok(()) }
/// ```
pub mod users {
    pub use crate::flows::{
        email_address::normalize_email,
        mfa::{MfaStatus, UserMfa},
        phone::normalize_phone,
        users::{ImportedUser, NewUser, UserRole, Users},
    };
}

/// Sessions from Rust, as [`Portcullis::sessions`] hands them out, and the [`Grant`](crate::sessions::Grant)
/// every sign-in answers.
pub mod sessions {
    pub use crate::flows::sessions::{Grant, Sessions};
}

/// Waitlists, as [`Portcullis::waitlists`] hands them out.
pub mod waitlists {
    pub use crate::flows::waitlists::{Admit, Entry, Waitlists};
}

/// Billing with Stripe, as [`Portcullis::billing`] hands it out (feature `billing`).
#[cfg(feature = "billing")]
pub mod billing {
    pub use crate::flows::billing::{Billing, Entitlements, Payer};
}

/// Retention: what [`Portcullis::sweep`] (and each instance on its schedule) deletes.
pub mod retention {
    #[doc(inline)]
    pub use crate::flows::retention::*;
}

/// Applies portcullis' pending migrations (tracked in `portcullis_migrations`, apart from
/// the host's own). Safe to call at every start-up.
///
/// # Errors
///
/// The database error if a migration fails.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    Migrator::up(db, None).await
}

/// How many connections [`connect_options`] gives a SQLite file (measured on 2 cores:
/// `GET /me` 8.9k req/s with one, 11.6k with four, 12.9k with eight).
const SQLITE_CONNECTIONS: u32 = 4;

/// Connection options we recommend for the database at `url` (any SeaORM URL):
///
/// - **bounded waits**: two seconds to connect or to get a pooled connection (sqlx waits 30 s),
///   so a request during a database outage answers 503 `unavailable` quickly instead of
///   piling up;
/// - **SQLite**: the WAL journal (readers never wait for the writer, and a commit appends
///   to the log instead of rewriting pages), `synchronous = NORMAL` (in WAL mode a commit is
///   durable against a crash of the process, only a power loss can lose the last commits;
///   FULL pays an fsync per commit), a five-second busy timeout (a writer waits for
///   another instead of failing at once), four connections for a file (readers work beside
///   the writer; SeaORM's default is one, which every statement queues for; an in-memory
///   database keeps one) and no ping before each checkout from the pool (a round trip per
///   statement that a file in this process does not need);
/// - **PostgreSQL and MySQL**: a connection is pinged before a checkout only if it sat idle
///   in the pool for a second or more (sqlx pings at every checkout: a round trip per
///   statement), which is when a server restart or an idle timeout can have dropped it.
///
/// Pass the result to [`sea_orm::Database::connect`]; adjust it further as you like.
///
/// ```no_run
/// # async fn run() -> Result<(), sea_orm::DbErr> {
/// let db = sea_orm::Database::connect(portcullis::connect_options("sqlite://app.db?mode=rwc")).await?;
/// # Ok(()) }
/// ```
#[must_use]
pub fn connect_options(url: &str) -> sea_orm::ConnectOptions {
    let mut options = sea_orm::ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(std::time::Duration::from_secs(2))
        .acquire_timeout(std::time::Duration::from_secs(2))
        .sqlx_logging(false);
    #[cfg(feature = "sqlite")]
    options.map_sqlx_sqlite_opts(|sqlite| {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        sqlite
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5))
    });
    // sqlx pings every connection before handing it out (a round trip per statement).
    // A SQLite connection is a file handle in this process: it cannot have been dropped,
    // so no ping at all. Over a network a connection dies while it sits idle (a server
    // restart, a proxy's or a firewall's idle timeout): ping only those idle for a second
    // or more, as HikariCP does (500 ms); a connection in use is known to be alive, and
    // one that fails mid-statement is closed when it is given back.
    if url.starts_with("sqlite:") {
        options.test_before_acquire(false);
        // SeaORM gives SQLite one connection unless told otherwise (right for an
        // in-memory database, which is per connection): every statement of every request
        // then queues for one worker thread. A file in WAL mode serves readers beside its
        // one writer, and our transactions take the write lock up front (`BEGIN
        // IMMEDIATE`), so writers queue on the busy timeout instead of failing.
        if !url.contains(":memory:") && !url.contains("mode=memory") {
            options.max_connections(SQLITE_CONNECTIONS);
        }
    } else {
        options.test_before_acquire_if_idle_for(std::time::Duration::from_secs(1));
    }
    options
}

/// The README's examples, compiled (and the embedding example checked) by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

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

    /// The whole OpenAPI document (every operation this build has, the auth router at
    /// `/v1/auth`), which the integration tests check every answer against.
    #[cfg(feature = "openapi")]
    #[must_use]
    pub fn openapi_document() -> utoipa::openapi::OpenApi {
        crate::routes::openapi::document_with("/v1/auth", &|_| true)
    }

    /// The `Stripe-Signature` header Stripe would send for `body` at `t` under `secret`.
    #[cfg(feature = "billing")]
    #[must_use]
    pub fn stripe_signature(body: &[u8], secret: &str, t: i64) -> String {
        crate::stripe::webhook::sign(body, secret, t)
    }
}
