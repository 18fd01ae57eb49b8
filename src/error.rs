//! The one error type of portcullis, mapped 1:1 to the error codes of the HTTP contract.

use std::borrow::Cow;

use http::StatusCode;
use sea_orm::{DbErr, RuntimeErr};

/// A `Result` whose error is portcullis' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a portcullis route or flow can fail with.
///
/// Each variant knows its HTTP [`status`](Error::status) and its stable public
/// [`code`](Error::code) from the contract (`API.md`). Answering an `Error` from a
/// handler renders `{ "ok": false, "error": code, "message": ... }`; server errors are
/// logged with their cause and a reference id, and answered without any detail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed body, missing or invalid field, bad UUID in a path (400 `invalid_request`).
    #[error("{0}")]
    InvalidRequest(Cow<'static, str>),
    /// The password fails the policy; the message says why (400 `weak_password`).
    #[error("{0}")]
    WeakPassword(Cow<'static, str>),
    /// A one-time token or code is unknown, already used, or wrong (400 `token_invalid`).
    #[error("the token is invalid or has already been used")]
    TokenInvalid,
    /// A one-time token or code is past its lifetime (400 `token_expired`).
    #[error("the token has expired")]
    TokenExpired,
    /// No, malformed, expired or revoked session credentials (401 `unauthorized`).
    #[error("authentication required")]
    Unauthorized,
    /// Wrong email or password. Deliberately the same for an unknown email
    /// (401 `invalid_credentials`).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Authenticated but not allowed (403 `forbidden`).
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// Sign-in refused because the configuration requires a verified email
    /// (403 `email_not_verified`).
    #[error("the email address has not been verified")]
    EmailNotVerified,
    /// The account was disabled by an administrator (403 `user_disabled`).
    #[error("this account has been disabled")]
    UserDisabled,
    /// The action needs a fresh session: sign in again, or `POST /reauthenticate`
    /// (403 `reauthentication_required`).
    #[error("{0}")]
    ReauthenticationRequired(Cow<'static, str>),
    /// The action (or the active organization) needs a session that passed a second factor
    /// (403 `mfa_required`).
    #[error("{0}")]
    MfaRequired(Cow<'static, str>),
    /// The route needs a plan or entitlement the caller does not have (403 `plan_required`).
    #[error("{0}")]
    PlanRequired(Cow<'static, str>),
    /// The host requires a client key (`x-api-key`) and it is missing or unknown
    /// (401 `invalid_client`).
    #[error("a known client key (x-api-key) is required")]
    InvalidClient,
    /// A webhook whose signature, timestamp or body fails the check (400 `invalid_signature`).
    #[error("the signature does not match")]
    InvalidSignature,
    /// Unknown resource or route (404 `not_found`).
    #[error("not found")]
    NotFound,
    /// A known path with another method (405 `method_not_allowed`).
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    /// Sign-up or email change to an address that is already registered (409 `email_taken`).
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Another uniqueness conflict (409 `conflict`).
    #[error("{0}")]
    Conflict(Cow<'static, str>),
    /// The request body is larger than the configured limit (413 `payload_too_large`).
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// Too many attempts; try again after `retry_after_secs` (429 `rate_limited`).
    #[error("too many attempts, try again later")]
    RateLimited {
        /// Seconds until the next attempt may succeed; sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// A one-time code was guessed wrong too often and is now dead (429 `too_many_attempts`).
    #[error("too many wrong attempts; request a new code")]
    TooManyAttempts,
    /// The database or a delivery provider is unreachable; nothing was half-written
    /// (503 `unavailable`).
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A database error that is not an outage (500 `internal_error`).
    #[error("internal error")]
    Database(#[source] DbErr),
    /// Anything else that is our fault (500 `internal_error`).
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A 400 `invalid_request` with a message for people.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// A 403 `forbidden` with a message for people.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(message.into())
    }

    /// A 403 `mfa_required`: the action (or the active organization) needs a session that
    /// passed a second factor.
    #[must_use]
    pub fn mfa_required() -> Self {
        Self::MfaRequired(
            "this needs a session that passed a second factor: verify with your authenticator (POST /reauthenticate) and retry".into(),
        )
    }

    /// A 403 `reauthentication_required`: the action needs a recent sign-in.
    #[must_use]
    pub fn reauthentication_required() -> Self {
        Self::ReauthenticationRequired(
            "this needs a recent sign-in: sign in again (or re-authenticate) and retry".into(),
        )
    }

    /// A 500 from any error value (logged, never shown).
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }

    /// The HTTP status this error is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_)
            | Self::WeakPassword(_)
            | Self::TokenInvalid
            | Self::TokenExpired
            | Self::InvalidSignature => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials | Self::InvalidClient => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_)
            | Self::EmailNotVerified
            | Self::UserDisabled
            | Self::ReauthenticationRequired(_)
            | Self::MfaRequired(_)
            | Self::PlanRequired(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::EmailTaken | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } | Self::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `snake_case` code clients match on.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::WeakPassword(_) => "weak_password",
            Self::TokenInvalid => "token_invalid",
            Self::TokenExpired => "token_expired",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::EmailNotVerified => "email_not_verified",
            Self::UserDisabled => "user_disabled",
            Self::ReauthenticationRequired(_) => "reauthentication_required",
            Self::MfaRequired(_) => "mfa_required",
            Self::PlanRequired(_) => "plan_required",
            Self::InvalidClient => "invalid_client",
            Self::InvalidSignature => "invalid_signature",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::EmailTaken => "email_taken",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyAttempts => "too_many_attempts",
            Self::Unavailable(_) => "unavailable",
            Self::Database(_) | Self::Internal(_) => "internal_error",
        }
    }
}

impl Error {
    /// Whether this is the database being unreachable: no connection could be made or
    /// taken from the pool, or the one in use was lost (not a query that failed, not two
    /// transactions that met).
    pub(crate) fn is_database_outage(&self) -> bool {
        match self {
            Self::Unavailable(source) => source
                .downcast_ref::<DbErr>()
                .is_some_and(is_connection_loss),
            _ => false,
        }
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        // A lost or unobtainable connection is an outage the client may retry;
        // anything else from the database is a bug on our side.
        match err {
            ref lost if is_connection_loss(lost) => Self::Unavailable(Box::new(err)),
            // Two writers met (SQLite's lock, a deadlock or serialisation failure elsewhere):
            // the transaction rolled back whole, and a retry will do.
            other if is_contention(&other) => Self::Unavailable(Box::new(other)),
            other => Self::Database(other),
        }
    }
}

/// Whether the database could not be reached: no connection could be made or taken from
/// the pool, or the connection a statement was sent on broke (the server went away, a
/// network cut, SQLite's worker thread gone).
fn is_connection_loss(err: &DbErr) -> bool {
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err)) => {
            matches!(
                err.as_ref(),
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::WorkerCrashed
            )
        }
        _ => false,
    }
}

/// Whether the database refused because of another transaction, not because of the query,
/// read from the driver's own codes: PostgreSQL's SQLSTATE `40001` (serialization
/// failure), `40P01` (deadlock) and `55P03` (lock not available); MySQL/MariaDB's `40001`
/// (deadlock, error 1213) and error 1205 (lock wait timeout); SQLite's `SQLITE_BUSY` and
/// `SQLITE_LOCKED` (with their extended codes).
fn is_contention(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(err))
    | DbErr::Query(RuntimeErr::SqlxError(err))
    | DbErr::Conn(RuntimeErr::SqlxError(err))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db) = err.as_ref() else {
        return false;
    };
    let code = db.code().unwrap_or_default();
    #[cfg(feature = "sqlite")]
    if db
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return contention_code(Driver::Sqlite, &code, None);
    }
    #[cfg(feature = "mysql")]
    if let Some(mysql) = db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return contention_code(Driver::MySql, &code, Some(mysql.number()));
    }
    contention_code(Driver::Postgres, &code, None)
}

/// Which driver raised a database error.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(all(feature = "sqlite", feature = "mysql")), allow(dead_code))]
enum Driver {
    Sqlite,
    MySql,
    Postgres,
}

/// The codes [`is_contention`] recognises.
fn contention_code(driver: Driver, code: &str, mysql_number: Option<u16>) -> bool {
    match driver {
        // An extended result code's low byte is its primary code: BUSY 5, LOCKED 6.
        Driver::Sqlite => code
            .parse::<i32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6)),
        Driver::MySql => code == "40001" || matches!(mysql_number, Some(1205 | 1213)),
        Driver::Postgres => matches!(code, "40001" | "40P01" | "55P03"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_contention_is_read_from_driver_codes() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT (517), SQLITE_LOCKED.
        for code in ["5", "517", "6"] {
            assert!(contention_code(Driver::Sqlite, code, None), "{code}");
        }
        assert!(!contention_code(Driver::Sqlite, "1", None));
        assert!(!contention_code(Driver::Sqlite, "2067", None)); // unique constraint
        assert!(contention_code(Driver::MySql, "40001", Some(1213)));
        assert!(contention_code(Driver::MySql, "HY000", Some(1205)));
        assert!(!contention_code(Driver::MySql, "23000", Some(1062)));
        for code in ["40001", "40P01", "55P03"] {
            assert!(contention_code(Driver::Postgres, code, None), "{code}");
        }
        assert!(!contention_code(Driver::Postgres, "23505", None));
        // A message that merely mentions a lock is not a lock.
        let text = DbErr::Custom("database is locked".into());
        assert_eq!(
            Error::from(text).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn every_contract_code_has_its_status() {
        let cases = [
            (Error::invalid_request("x"), 400, "invalid_request"),
            (Error::WeakPassword("x".into()), 400, "weak_password"),
            (Error::TokenInvalid, 400, "token_invalid"),
            (Error::TokenExpired, 400, "token_expired"),
            (Error::Unauthorized, 401, "unauthorized"),
            (Error::InvalidCredentials, 401, "invalid_credentials"),
            (Error::forbidden("x"), 403, "forbidden"),
            (Error::EmailNotVerified, 403, "email_not_verified"),
            (Error::UserDisabled, 403, "user_disabled"),
            (
                Error::reauthentication_required(),
                403,
                "reauthentication_required",
            ),
            (Error::MfaRequired("x".into()), 403, "mfa_required"),
            (Error::PlanRequired("x".into()), 403, "plan_required"),
            (Error::InvalidClient, 401, "invalid_client"),
            (Error::InvalidSignature, 400, "invalid_signature"),
            (Error::NotFound, 404, "not_found"),
            (Error::MethodNotAllowed, 405, "method_not_allowed"),
            (Error::EmailTaken, 409, "email_taken"),
            (Error::Conflict("x".into()), 409, "conflict"),
            (Error::PayloadTooLarge, 413, "payload_too_large"),
            (
                Error::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "rate_limited",
            ),
            (Error::TooManyAttempts, 429, "too_many_attempts"),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{code}");
            assert_eq!(error.code(), code);
        }
    }

    #[test]
    fn connection_loss_is_unavailable_not_internal() {
        let err: Error = DbErr::Conn(sea_orm::RuntimeErr::Internal("gone".into())).into();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        let err: Error = DbErr::Custom("bug".into()).into();
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_connection_lost_mid_statement_is_an_outage() {
        let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let err: Error = DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::Io(broken),
        )))
        .into();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(err.is_database_outage());
        // A statement the database refused is not.
        let refused: Error = DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::RowNotFound,
        )))
        .into();
        assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!refused.is_database_outage());
    }

    #[test]
    fn server_errors_hide_their_cause() {
        let err = Error::internal("secret detail from the database");
        assert!(!err.to_string().contains("secret detail"));
    }
}
