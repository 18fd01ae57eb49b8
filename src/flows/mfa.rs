//! Second factors and step-up: TOTP (RFC 6238), recovery codes, a passkey as the second
//! factor, the sign-in challenge, and re-authentication.
//!
//! - **Having a second factor** means a confirmed TOTP factor. Recovery codes come with
//!   it; a passkey can stand in for the code once TOTP is on (a passkey alone does not
//!   make password sign-in ask for more: signing in *with* the passkey is already two
//!   factors).
//! - **Enrolment** (fresh session): a 160-bit secret sealed with AES-256-GCM under a key
//!   derived from the server secret, shown once as base32, an `otpauth://` URL and a QR
//!   code; it counts only once a code confirms it, within ten minutes. Confirming turns
//!   it on, answers ten recovery codes, and revokes the account's other sessions.
//! - **The sign-in challenge**: every first factor on such an account ([`sign_in`]) ends in
//!   an `mfa_token` (a one-time secret of its own purpose, five minutes, bound to the user
//!   and the first factor, five guesses) instead of a session; [`verify`] and
//!   [`complete_passkey`] turn it into a grant with both methods in `amr` and `acr: aal2`.
//! - **Codes**: a TOTP code is accepted once, ever: a conditional update moves the last
//!   accepted time step forward, so a replay (or a code of an earlier step) finds nothing
//!   to update. A recovery code (60 bits, stored as HMAC under a key derived from the
//!   server secret) is used by a conditional update too: of ten concurrent uses, one wins.
//!   Wrong codes are throttled per user and per IP; a run of five in a row emails the
//!   owner.
//! - **Step-up** ([`reauthenticate`]): a password, a TOTP code or a passkey makes the
//!   current session fresh (same session, new `auth_time`); a second factor also raises
//!   it to `aal2`.

use qrcode::{QrCode, render::svg};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Error,
    audit::{AuditEvent, AuditKind},
    client::ClientInfo,
    context::Context,
    crypto::{self, jwt::Claims, password::Verified},
    delivery::Message,
    entity::{Redacted, totp, user},
    flows::{
        one_time::{self, Purpose},
        sessions::{self, Grant, Method},
    },
    rate_limit::Limit,
    store,
};

/// How long an unconfirmed enrolment can be confirmed.
pub(crate) const ENROLMENT_TTL: time::Duration = time::Duration::minutes(10);
/// Recovery codes in a set.
pub(crate) const RECOVERY_CODES: usize = 10;
/// Wrong codes in a row after which the owner is told.
const FAILURE_NOTICE_AT: i32 = 5;
/// Wrong second factors in a row after which second-factor codes pause for a day (NIST
/// SP 800-63B: at most 100 consecutive failures). The throttle keeps guessing slow; this
/// caps it.
const MAX_CONSECUTIVE_FAILURES: i32 = 100;
/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends.
const SECRET_LEN: usize = 20;

/// What a first factor answers.
pub(crate) enum SignedIn {
    /// A session: the account has no second factor (or the first factor was two).
    Granted(Box<Grant>),
    /// The account has a second factor: no session yet.
    MfaRequired(Challenge),
}

/// A sign-in waiting for its second factor.
#[derive(Clone)]
pub(crate) struct Challenge {
    /// The `mfa_token`.
    pub(crate) token: String,
    /// What can answer it: `totp`, `recovery_code`, and `passkey` when the user has one.
    pub(crate) factors: Vec<&'static str>,
    /// Whose sign-in it is.
    pub(crate) user_id: Uuid,
    /// The first factor it rests on.
    pub(crate) method: Method,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("token", &"[redacted]")
            .field("factors", &self.factors)
            .finish()
    }
}

/// Where every first-factor sign-in ends: a session, or, for an account with a second
/// factor, a challenge. `db` is the sign-in's transaction (or the pool); the challenge is
/// written through it, so it exists only if the sign-in commits.
pub(crate) async fn sign_in(
    ctx: &Context,
    db: &impl ConnectionTrait,
    user: user::Model,
    has_password: bool,
    method: Method,
    client: &ClientInfo,
) -> Result<SignedIn, Error> {
    let user_id = user.id;
    if method.aal2 || !store::mfa::totp_on(db, user_id).await? {
        let grant = sessions::start(ctx, db, user, has_password, method, client).await?;
        // TOTP may have been confirmed while this first factor was being checked; the
        // confirmation revoked the sessions it could see, not this new one.
        if method.aal2 || !store::mfa::totp_on(db, user_id).await? {
            return Ok(SignedIn::Granted(Box::new(grant)));
        }
        store::sessions::revoke(db, user_id, Some(&[grant.session.id]), None, "mfa_enabled")
            .await?;
    } else if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    let token = one_time::issue_for_user(
        ctx,
        db,
        Purpose::MfaChallenge,
        user_id,
        json!({ "method": method.name }),
    )
    .await?;
    let mut factors = vec!["totp", "recovery_code"];
    if passkey_available(ctx, db, user_id).await? {
        factors.push("passkey");
    }
    Ok(SignedIn::MfaRequired(Challenge {
        token,
        factors,
        user_id,
        method,
    }))
}

impl SignedIn {
    /// Audits a challenge (`mfa_challenged`); call it once the sign-in's transaction has
    /// committed (the audit writes through the pool). A grant is the caller's to audit,
    /// with its own details.
    pub(crate) async fn audit_challenge(&self, ctx: &Context, client: &ClientInfo) {
        if let Self::MfaRequired(challenge) = self {
            ctx.auditor
                .record(
                    AuditEvent::new(AuditKind::MfaChallenged)
                        .user(challenge.user_id)
                        .client(client)
                        .detail("method", challenge.method.name),
                )
                .await;
        }
    }
}

/// Whether the user can answer with a passkey (passkeys on, and they have one).
async fn passkey_available(
    ctx: &Context,
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<bool, Error> {
    #[cfg(feature = "passkeys")]
    if ctx.webauthn.is_some()
        && ctx.config.method_on(crate::config::SignInMethod::Passkey)
        && !store::passkeys::list(db, user_id).await?.is_empty()
    {
        return Ok(true);
    }
    let _ = (ctx, db, user_id);
    Ok(false)
}

/// A second factor's answer to a challenge (or a re-authentication).
#[derive(Clone, Copy)]
pub(crate) enum Code<'a> {
    /// Six digits from the authenticator app.
    Totp(&'a str),
    /// One of the recovery codes.
    Recovery(&'a str),
}

impl std::fmt::Debug for Code<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Totp(_) => "Totp([redacted])",
            Self::Recovery(_) => "Recovery([redacted])",
        })
    }
}

impl Code<'_> {
    fn method(self) -> Method {
        match self {
            Self::Totp(_) => sessions::TOTP,
            Self::Recovery(_) => sessions::RECOVERY_CODE,
        }
    }
}

/// A live challenge: whose, and which first factor it rests on.
struct Pending {
    row: crate::entity::one_time_secret::Model,
    user_id: Uuid,
    first: Method,
}

async fn pending(ctx: &Context, token: &str) -> Result<Pending, Error> {
    let row = one_time::find_live(&ctx.db, Purpose::MfaChallenge, token, ctx.now()).await?;
    let user_id = row.user_id.ok_or(Error::TokenInvalid)?;
    let first = row
        .data
        .as_deref()
        .and_then(|data| serde_json::from_str::<Value>(data).ok())
        .and_then(|data| data["method"].as_str().and_then(Method::named))
        .ok_or(Error::TokenInvalid)?;
    Ok(Pending {
        row,
        user_id,
        first,
    })
}

/// The throttles of a second-factor guess, and the cap on a run of wrong ones.
async fn throttle(ctx: &Context, user_id: Uuid, client: &ClientInfo) -> Result<(), Error> {
    ctx.throttle
        .check(Limit::MfaVerifyPerIp, &client.ip_key(), client)
        .await?;
    ctx.throttle
        .check(Limit::MfaVerifyPerUser, &user_id.to_string(), client)
        .await?;
    let paused = store::mfa::totp(&ctx.db, user_id)
        .await?
        .is_some_and(|row| {
            row.failures >= MAX_CONSECUTIVE_FAILURES
                && row
                    .last_failure_at
                    .is_some_and(|at| at > ctx.now() - time::Duration::DAY)
        });
    if paused {
        return Err(Error::TooManyAttempts);
    }
    Ok(())
}

/// `POST /mfa/verify`: answers a challenge with a TOTP or recovery code and starts the
/// session (`acr: aal2`, `amr` naming both factors).
#[tracing::instrument(skip_all, fields(user.id))]
pub(crate) async fn verify(
    ctx: &Context,
    token: &str,
    code: Code<'_>,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    let pending = pending(ctx, token).await?;
    let user_id = pending.user_id;
    tracing::Span::current().record("user.id", tracing::field::display(user_id));
    throttle(ctx, user_id, client).await?;
    // Counted before the code is compared: parallel guesses cannot exceed five.
    one_time::count_guess(ctx, &pending.row).await?;

    let now = ctx.now();
    let txn = store::begin(&ctx.db).await?;
    one_time::consume_checked(&txn, &pending.row, now).await?;
    let accepted = match code {
        Code::Totp(code) => accept_totp(ctx, &txn, user_id, code).await?,
        Code::Recovery(code) => use_recovery_code(ctx, &txn, user_id, code).await?,
    };
    if !accepted {
        // Rolls the consumption back: the challenge keeps its remaining guesses.
        drop(txn);
        record_wrong(ctx, user_id, code.method(), client).await?;
        return Err(Error::TokenInvalid);
    }
    // A right code ends a run of wrong ones.
    store::mfa::clear_failures(&txn, user_id).await?;
    let grant = finish(
        ctx,
        &txn,
        user_id,
        pending.first.then(code.method()),
        client,
    )
    .await?;
    let recovery_left = match code {
        Code::Recovery(_) => Some(store::mfa::recovery_codes_left(&txn, user_id).await?),
        Code::Totp(_) => None,
    };
    txn.commit().await?;
    signed_in(ctx, &grant, pending.first, code.method(), client).await;
    if let Some(left) = recovery_left {
        recovery_code_used(ctx, &grant.user, left, client).await;
    }
    Ok(grant)
}

/// Starts the session after a second factor, in the challenge's transaction.
async fn finish(
    ctx: &Context,
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    proof: sessions::Proof,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    let user = store::users::find(txn, user_id)
        .await?
        .ok_or(Error::TokenInvalid)?;
    let has_password = store::users::password_hash(txn, user_id).await?.is_some();
    sessions::start(ctx, txn, user, has_password, proof, client).await
}

async fn signed_in(
    ctx: &Context,
    grant: &Grant,
    first: Method,
    second: Method,
    client: &ClientInfo,
) {
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::SignIn)
                .user(grant.user.id)
                .session(grant.session.id)
                .client(client)
                .detail("method", first.name)
                .detail("second_factor", second.name),
        )
        .await;
}

async fn recovery_code_used(ctx: &Context, user: &user::Model, left: u64, client: &ClientInfo) {
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::RecoveryCodeUsed)
                .user(user.id)
                .client(client)
                .detail("left", left),
        )
        .await;
    ctx.outbox.notify(user, &Message::RecoveryCodeUsed { left });
}

/// A wrong second factor (a code, or a passkey that did not check out): counted,
/// audited, and after a run of them the owner is told, once per run (someone may know the
/// first factor).
async fn record_wrong(
    ctx: &Context,
    user_id: Uuid,
    factor: Method,
    client: &ClientInfo,
) -> Result<(), Error> {
    let failures = store::mfa::count_failure(&ctx.db, user_id, ctx.now()).await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::MfaFailed)
                .user(user_id)
                .client(client)
                .detail("factor", factor.name)
                .detail("failures", failures),
        )
        .await;
    if store::mfa::claim_failure_notice(&ctx.db, user_id, FAILURE_NOTICE_AT).await?
        && let Some(user) = store::users::find(&ctx.db, user_id).await?
    {
        ctx.outbox.notify(&user, &Message::WrongSecondFactorCodes);
    }
    Ok(())
}

/// The TOTP of a sealed secret.
fn totp_of(ctx: &Context, row: &totp::Model) -> Result<totp_rs::Totp, Error> {
    let sealed = crypto::b64_decode(&row.secret_sealed.0)
        .ok_or_else(|| Error::Internal("a TOTP secret is not base64url".into()))?;
    let secret = ctx
        .keys
        .open_totp(row.user_id.as_bytes(), &sealed)
        .ok_or_else(|| {
            Error::Internal("a TOTP secret does not open with this server secret".into())
        })?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|err| Error::Internal(Box::new(err)))
}

/// The time step whose code `code` is, within ±1 step of now; `None` for anything else
/// (including anything but six digits).
fn matched_step(ctx: &Context, totp: &totp_rs::Totp, code: &str) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if !one_time::is_code_shaped(&code) {
        return None;
    }
    let now = u64::try_from(ctx.now().unix_timestamp()).ok()?;
    let counter = totp.check(&code, now)?;
    i64::try_from(counter).ok()
}

/// Checks a TOTP code for the user's confirmed factor and, if right, marks its step used
/// (through `db`): `false` for a wrong code, a replay, or no factor.
async fn accept_totp(
    ctx: &Context,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    code: &str,
) -> Result<bool, Error> {
    let Some(row) = store::mfa::totp(db, user_id)
        .await?
        .filter(|row| row.confirmed_at.is_some())
    else {
        return Ok(false);
    };
    let totp = totp_of(ctx, &row)?;
    let Some(step) = matched_step(ctx, &totp, code) else {
        return Ok(false);
    };
    Ok(store::mfa::accept_step(db, user_id, step).await?)
}

/// A recovery code as typed (any case, dashes and spaces ignored), if it is shaped like
/// one.
fn normalize_recovery_code(code: &str) -> Option<String> {
    let code: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    (code.len() == crypto::RECOVERY_CODE_LEN
        && code.bytes().all(|b| crypto::RECOVERY_ALPHABET.contains(&b)))
    .then_some(code)
}

fn recovery_hash(ctx: &Context, user_id: Uuid, normalized: &str) -> String {
    let tag = crypto::hmac_parts(
        &ctx.keys.recovery_codes,
        &[user_id.as_bytes(), normalized.as_bytes()],
    );
    crypto::hex(tag.as_ref())
}

/// Uses one of the user's recovery codes (through `db`): `false` for a wrong or used one.
async fn use_recovery_code(
    ctx: &Context,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    code: &str,
) -> Result<bool, Error> {
    let Some(normalized) = normalize_recovery_code(code) else {
        return Ok(false);
    };
    let hash = recovery_hash(ctx, user_id, &normalized);
    Ok(store::mfa::use_recovery_code(db, user_id, &hash, ctx.now()).await?)
}

/// A new set of recovery codes: the codes to show once, and their hashes to store.
fn new_recovery_codes(ctx: &Context, user_id: Uuid) -> (Vec<String>, Vec<String>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let code = crypto::random_recovery_code();
            let hash = recovery_hash(ctx, user_id, &code.replace('-', ""));
            (code, hash)
        })
        .unzip()
}

/// 404 when the host turned passkeys off: then they prove nothing, as a first factor or
/// a second.
#[cfg(feature = "passkeys")]
fn passkeys_on(ctx: &Context) -> Result<(), Error> {
    if ctx.config.method_on(crate::config::SignInMethod::Passkey) {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// `POST /mfa/passkey/begin`: a passkey ceremony for the user of a challenge.
#[cfg(feature = "passkeys")]
pub(crate) async fn begin_passkey(
    ctx: &Context,
    token: &str,
    client: &ClientInfo,
) -> Result<(Uuid, Value), Error> {
    passkeys_on(ctx)?;
    let pending = pending(ctx, token).await?;
    if !store::mfa::totp_on(&ctx.db, pending.user_id).await? {
        return Err(Error::TokenInvalid);
    }
    crate::flows::passkeys::begin_second_factor(ctx, pending.user_id, client).await
}

/// `POST /mfa/passkey/complete`: answers a challenge with one of the user's passkeys.
#[cfg(feature = "passkeys")]
#[tracing::instrument(skip_all, fields(user.id))]
pub(crate) async fn complete_passkey(
    ctx: &Context,
    token: &str,
    challenge_id: Uuid,
    credential: Value,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    use crate::flows::passkeys;
    passkeys_on(ctx)?;
    let pending = pending(ctx, token).await?;
    let user_id = pending.user_id;
    tracing::Span::current().record("user.id", tracing::field::display(user_id));
    throttle(ctx, user_id, client).await?;
    one_time::count_guess(ctx, &pending.row).await?;
    let asserted = match passkeys::check_assertion(
        ctx,
        challenge_id,
        credential,
        passkeys::SECOND_FACTOR_KINDS,
        Some(user_id),
        client,
    )
    .await
    {
        Ok(asserted) => asserted,
        Err(Error::InvalidCredentials) => {
            record_wrong(ctx, user_id, sessions::PASSKEY, client).await?;
            return Err(Error::InvalidCredentials);
        }
        Err(other) => return Err(other),
    };
    let txn = store::begin(&ctx.db).await?;
    one_time::consume_checked(&txn, &pending.row, ctx.now()).await?;
    if !passkeys::record_use(ctx, &txn, &asserted).await? {
        drop(txn);
        return Err(passkeys::lost_race(ctx, &asserted, client).await);
    }
    store::mfa::clear_failures(&txn, user_id).await?;
    let second = sessions::PASSKEY;
    let grant = finish(ctx, &txn, user_id, pending.first.then(second), client).await?;
    txn.commit().await?;
    signed_in(ctx, &grant, pending.first, second, client).await;
    Ok(grant)
}

/// What `GET /me/mfa` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MfaStatus {
    /// Whether TOTP is on (confirmed): the account has a second factor.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
    /// Whether one of the user's passkeys can answer the second-factor challenge (TOTP is
    /// on and they have a passkey).
    pub passkey_as_second_factor: bool,
}

/// The user's second factors.
pub(crate) async fn status(ctx: &Context, user_id: Uuid) -> Result<MfaStatus, Error> {
    let totp = store::mfa::totp_on(&ctx.db, user_id).await?;
    let recovery_codes_left = if totp {
        store::mfa::recovery_codes_left(&ctx.db, user_id).await?
    } else {
        0
    };
    let passkey_as_second_factor = totp && passkey_available(ctx, &ctx.db, user_id).await?;
    Ok(MfaStatus {
        totp,
        recovery_codes_left,
        passkey_as_second_factor,
    })
}

/// What `POST /me/mfa/totp` answers: the secret, shown this once.
pub(crate) struct Enrolment {
    /// The secret, base32 (for typing into an app).
    pub(crate) secret: String,
    /// `otpauth://totp/...` with issuer and account.
    pub(crate) otpauth_url: String,
    /// The same URL as a QR code, an inline SVG document.
    pub(crate) qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment([redacted])")
    }
}

/// A label part of an `otpauth://` URL: no `:` (it separates issuer and account).
fn label(text: &str) -> String {
    text.replace(':', " ").trim().to_owned()
}

/// `POST /me/mfa/totp` (fresh session, checked by the route): a new enrolment, replacing
/// an unconfirmed one; 409 `conflict` when TOTP is already on.
#[tracing::instrument(skip_all, fields(user.id = %user_id))]
pub(crate) async fn begin_totp(
    ctx: &Context,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<Enrolment, Error> {
    ctx.throttle
        .check(Limit::MfaEnrolPerUser, &user_id.to_string(), client)
        .await?;
    let user = store::users::find(&ctx.db, user_id)
        .await?
        .ok_or(Error::Unauthorized)?;
    let secret = crypto::random_bytes::<SECRET_LEN>();
    let sealed = ctx.keys.seal_totp(user_id.as_bytes(), &secret);
    let row = totp::Model {
        user_id,
        secret_sealed: Redacted(crypto::b64_encode(&sealed)),
        created_at: ctx.now(),
        confirmed_at: None,
        last_step: None,
        failures: 0,
        failure_notice_sent: false,
        last_failure_at: None,
    };
    if !store::mfa::begin_totp(&ctx.db, row).await? {
        return Err(Error::Conflict(
            "two-step verification is already on; turn it off first to enrol another app".into(),
        ));
    }
    let account = user
        .email
        .clone()
        .or_else(|| user.phone.clone())
        .unwrap_or_else(|| user.id.to_string());
    let totp = totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .with_issuer(Some(label(&ctx.config.app_name)))
        .with_account_name(label(&account))
        .build()
        .map_err(|err| Error::Internal(Box::new(err)))?;
    let otpauth_url = totp
        .to_url()
        .map_err(|err| Error::Internal(Box::new(err)))?;
    let qr_svg = QrCode::new(otpauth_url.as_bytes())
        .map_err(|err| Error::Internal(Box::new(err)))?
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::MfaEnrolmentStarted)
                .user(user_id)
                .client(client),
        )
        .await;
    Ok(Enrolment {
        secret: totp.secret().to_base32(),
        otpauth_url,
        qr_svg,
    })
}

/// `POST /me/mfa/totp/confirm`: the first code turns the enrolment into the factor.
/// Answers the recovery codes (shown this once); the account's other sessions are revoked,
/// and the confirming one stays what it was (`aal1`).
#[tracing::instrument(skip_all, fields(user.id = %claims.sub))]
pub(crate) async fn confirm_totp(
    ctx: &Context,
    claims: &Claims,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>, Error> {
    let user_id = claims.sub;
    ctx.throttle
        .check(Limit::MfaEnrolPerUser, &user_id.to_string(), client)
        .await?;
    let now = ctx.now();
    let row = store::mfa::totp(&ctx.db, user_id)
        .await?
        .ok_or(Error::TokenInvalid)?;
    if row.confirmed_at.is_some() {
        return Err(Error::Conflict(
            "two-step verification is already on".into(),
        ));
    }
    let begun_after = now - ENROLMENT_TTL;
    if row.created_at <= begun_after {
        return Err(Error::TokenExpired);
    }
    let totp = totp_of(ctx, &row)?;
    let step = matched_step(ctx, &totp, code).ok_or(Error::TokenInvalid)?;
    let (codes, hashes) = new_recovery_codes(ctx, user_id);

    let txn = store::begin(&ctx.db).await?;
    if !store::mfa::confirm_totp(&txn, &row, step, begun_after, now).await? {
        // Confirmed by a racing request, or replaced by a new enrolment meanwhile.
        return Err(Error::TokenInvalid);
    }
    store::mfa::replace_recovery_codes(&txn, user_id, hashes, now).await?;
    let revoked =
        store::sessions::revoke(&txn, user_id, None, Some(claims.sid), "mfa_enabled").await?;
    txn.commit().await?;
    ctx.revocation.apply(&revoked, ctx.config.token_window());
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::MfaEnabled)
                .user(user_id)
                .session(claims.sid)
                .client(client)
                .detail("sessions_revoked", revoked.ids.len()),
        )
        .await;
    if let Some(user) = store::users::find(&ctx.db, user_id).await? {
        ctx.outbox.notify(&user, &Message::SecondFactorOn);
    }
    Ok(codes)
}

/// `DELETE /me/mfa/totp` (fresh `aal2` session, checked by the route): TOTP and the
/// recovery codes go; 404 when TOTP is not on.
#[tracing::instrument(skip_all, fields(user.id = %user_id))]
pub(crate) async fn disable_totp(
    ctx: &Context,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    if !store::mfa::delete_all(&ctx.db, user_id).await? {
        return Err(Error::NotFound);
    }
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::MfaDisabled)
                .user(user_id)
                .client(client),
        )
        .await;
    if let Some(user) = store::users::find(&ctx.db, user_id).await? {
        ctx.outbox.notify(&user, &Message::SecondFactorOff);
    }
    Ok(())
}

/// `POST /me/mfa/recovery-codes` (fresh session): a new set replaces the old one whole;
/// 409 `conflict` when TOTP is not on.
#[tracing::instrument(skip_all, fields(user.id = %user_id))]
pub(crate) async fn regenerate_recovery_codes(
    ctx: &Context,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<Vec<String>, Error> {
    if !store::mfa::totp_on(&ctx.db, user_id).await? {
        return Err(Error::Conflict(
            "turn on two-step verification first".into(),
        ));
    }
    let (codes, hashes) = new_recovery_codes(ctx, user_id);
    store::mfa::replace_recovery_codes(&ctx.db, user_id, hashes, ctx.now()).await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::RecoveryCodesRegenerated)
                .user(user_id)
                .client(client),
        )
        .await;
    Ok(codes)
}

/// What `POST /reauthenticate` proves.
pub(crate) enum Proof<'a> {
    /// The account's password.
    Password(&'a str),
    /// A TOTP code.
    Totp(&'a str),
    /// An answer to a passkey ceremony (begun at `/passkeys/authenticate/begin`).
    #[cfg(feature = "passkeys")]
    Passkey {
        challenge_id: Uuid,
        credential: Value,
    },
}

impl Proof<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Password(_) => "password",
            Self::Totp(_) => "totp",
            #[cfg(feature = "passkeys")]
            Self::Passkey { .. } => "passkey",
        }
    }
}

/// `POST /reauthenticate`: proves a factor again and makes the current session fresh
/// (same session, new `auth_time`); a TOTP code or a passkey also raises it to `aal2`.
/// Answers a new access token (and the user), never a refresh token.
/// Throttled like sign-in. Wrong password: 401 `invalid_credentials`; wrong code: 400
/// `token_invalid`.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub))]
pub(crate) async fn reauthenticate(
    ctx: &Context,
    claims: &Claims,
    proof: Proof<'_>,
    client: &ClientInfo,
) -> Result<(sessions::AccessToken, user::Model, bool), Error> {
    // An impersonating admin (or a key) proves nothing of the user.
    sessions::require_interactive(claims)?;
    let user_id = claims.sub;
    ctx.throttle
        .check(Limit::ReauthenticatePerIp, &client.ip_key(), client)
        .await?;
    ctx.throttle
        .check(Limit::ReauthenticatePerUser, &user_id.to_string(), client)
        .await?;
    let method = proof.name();
    let refused = |reason: &'static str| async move {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::ReauthenticationFailed)
                    .user(user_id)
                    .session(claims.sid)
                    .client(client)
                    .detail("method", method)
                    .detail("reason", reason),
            )
            .await;
    };
    let raised_by = match proof {
        Proof::Password(password) => {
            // A method the host turned off proves nothing.
            if !ctx.config.method_on(crate::config::SignInMethod::Password) {
                return Err(Error::NotFound);
            }
            let stored = if ctx.config.passwords.policy.too_long(password) {
                None
            } else {
                store::users::password_hash(&ctx.db, user_id).await?
            };
            // One hash's work whether or not there is a password to check.
            if ctx.hasher.verify(password, stored.as_deref()).await? == Verified::No {
                refused("wrong_password").await;
                return Err(Error::InvalidCredentials);
            }
            None
        }
        Proof::Totp(code) => {
            throttle(ctx, user_id, client).await?;
            if !accept_totp(ctx, &ctx.db, user_id, code).await? {
                refused("wrong_code").await;
                record_wrong(ctx, user_id, sessions::TOTP, client).await?;
                return Err(Error::TokenInvalid);
            }
            Some(sessions::TOTP)
        }
        #[cfg(feature = "passkeys")]
        Proof::Passkey {
            challenge_id,
            credential,
        } => {
            use crate::flows::passkeys;
            passkeys_on(ctx)?;
            let asserted = passkeys::check_assertion(
                ctx,
                challenge_id,
                credential,
                passkeys::REAUTHENTICATION_KINDS,
                Some(user_id),
                client,
            )
            .await?;
            if !passkeys::record_use(ctx, &ctx.db, &asserted).await? {
                return Err(passkeys::lost_race(ctx, &asserted, client).await);
            }
            Some(sessions::PASSKEY)
        }
    };
    let reauthenticated = sessions::reauthenticated(ctx, claims, raised_by).await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::Reauthenticated)
                .user(user_id)
                .session(claims.sid)
                .client(client)
                .detail("method", method)
                .detail("acr", reauthenticated.0.session.acr.clone()),
        )
        .await;
    Ok(reauthenticated)
}

/// One user's second factors, from Rust: [`Users::mfa`](crate::users::Users::mfa).
///
/// ```rust,no_run
/// # async fn run(auth: portcullis::Portcullis, user_id: uuid::Uuid) -> portcullis::Result<()> {
/// let mfa = auth.users().mfa(user_id);
/// if mfa.status().await?.totp {
///     // The person lost their phone and proved who they are to support:
///     mfa.reset().await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UserMfa<'a> {
    ctx: &'a Context,
    user_id: Uuid,
}

impl<'a> UserMfa<'a> {
    pub(crate) fn new(ctx: &'a Context, user_id: Uuid) -> Self {
        Self { ctx, user_id }
    }

    /// What `GET /me/mfa` would answer the user.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn status(&self) -> Result<MfaStatus, Error> {
        status(self.ctx, self.user_id).await
    }

    /// Turns the user's second factor off: TOTP, its recovery codes, and pending
    /// challenges go (audited `mfa_reset`, and the user is emailed). Their next sign-in
    /// needs only a first factor. Returns whether TOTP was on.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn reset(&self) -> Result<bool, Error> {
        reset(self.ctx, self.user_id).await
    }
}

/// Removes the user's second factors (an operator's reset, from Rust); `true` when TOTP
/// was on.
async fn reset(ctx: &Context, user_id: Uuid) -> Result<bool, Error> {
    let was_on = store::mfa::delete_all(&ctx.db, user_id).await?;
    store::one_time::consume_all_for_user(&ctx.db, user_id, &["mfa_challenge"], ctx.now()).await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::MfaReset)
                .user(user_id)
                .detail("was_on", was_on),
        )
        .await;
    if was_on && let Some(user) = store::users::find(&ctx.db, user_id).await? {
        ctx.outbox.notify(&user, &Message::SecondFactorOff);
    }
    Ok(was_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_read_forgivingly_and_nothing_else_is_one() {
        assert_eq!(
            normalize_recovery_code("ABCD-efgh-2345").as_deref(),
            Some("abcdefgh2345")
        );
        assert_eq!(
            normalize_recovery_code(" abcd efgh 2345 ").as_deref(),
            Some("abcdefgh2345")
        );
        assert_eq!(normalize_recovery_code("abcd-efgh-234"), None);
        assert_eq!(normalize_recovery_code("abcd-efgh-2340"), None); // 0 is not base32
        assert_eq!(normalize_recovery_code(""), None);
        let code = crypto::random_recovery_code();
        assert_eq!(code.len(), 14);
        assert!(normalize_recovery_code(&code).is_some());
    }

    #[test]
    fn labels_never_carry_the_separator() {
        assert_eq!(label("Acme: Admin"), "Acme  Admin");
    }
}
