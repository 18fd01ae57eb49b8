//! Passkeys (WebAuthn): registration, sign-in, and the user's list of passkeys.
//!
//! webauthn-rs does the cryptography and the ceremony checks (challenge, origin, RP id,
//! user verification, signature, counter). This module keeps the ceremony state in
//! `portcullis_webauthn_challenges` (so any instance can complete what another began),
//! consumes it *before* checking the answer (a replay finds nothing), binds it to the
//! user where there is one, and stores passkeys with their credential ids unique across
//! all users.
//!
//! - **Registration** (signed in, fresh session): one ceremony per user in flight, found
//!   by the user at `complete`; the options exclude the user's passkeys and prefer a
//!   discoverable credential; user verification is required.
//! - **Sign-in with an email**: the options list that account's credentials. An unknown
//!   address, or one without passkeys, gets the same shape with a decoy credential id
//!   derived from the address (stable, so asking twice reveals nothing either).
//! - **Sign-in without an email** (autofill): the browser picks a discoverable
//!   credential; its user handle must map to the credential's owner.
//!
//! User handles are random UUIDs, one per user, never the email.

use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, WebauthnError,
};
use webauthn_rs::{
    Webauthn,
    fake::{FakePasskeyDistribution, WebauthnFakeCredentialGenerator},
};
use webauthn_rs_proto::{AllowCredentials, ResidentKeyRequirement};

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    crypto,
    delivery::Message,
    entity::{passkey, user, webauthn_challenge},
    flows::{
        email_address::normalize_email,
        sessions::{self, Grant},
        sign_in_methods,
    },
    rate_limit::Limit,
    relying_party::CEREMONY_TTL,
    store,
};

/// WebAuthn caps credential ids at 1023 bytes.
const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// Passkeys one account may hold.
const MAX_PASSKEYS_PER_USER: u64 = 20;
/// Longest passkey name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// The kinds of ceremony in `portcullis_webauthn_challenges`.
const REGISTRATION: &str = "registration";
/// Sign-in for the user named at `begin` (`user_id` `None`: the name had no passkeys).
const SIGN_IN: &str = "sign_in";
/// Sign-in with whichever discoverable credential the browser offers.
const DISCOVERABLE: &str = "discoverable";
/// A second factor for the user who passed a first one (or a re-authentication).
const SECOND_FACTOR: &str = "second_factor";
/// The ceremonies whose answer can re-authenticate a session.
pub(crate) const REAUTHENTICATION_KINDS: &[&str] = &[SIGN_IN, DISCOVERABLE, SECOND_FACTOR];
/// The ceremony a second factor answers.
pub(crate) const SECOND_FACTOR_KINDS: &[&str] = &[SECOND_FACTOR];

/// The relying party, or 404 when passkeys are off.
fn relying(ctx: &Context) -> Result<&Webauthn, Error> {
    ctx.webauthn.as_ref().ok_or(Error::NotFound)
}

fn ceremony_row(
    kind: &str,
    user_id: Option<Uuid>,
    state: String,
    now: OffsetDateTime,
) -> webauthn_challenge::Model {
    webauthn_challenge::Model {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        user_id,
        state,
        created_at: now,
        expires_at: now + CEREMONY_TTL,
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|err| Error::Internal(Box::new(err)))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|err| Error::Internal(Box::new(err)))
}

/// The credential a browser sent, as webauthn-rs reads it.
fn parse_credential<T: serde::de::DeserializeOwned>(credential: Value) -> Result<T, Error> {
    serde_json::from_value(credential).map_err(|_| {
        Error::invalid_request("credential: expected the browser's PublicKeyCredential.toJSON()")
    })
}

/// A passkey name: trimmed, 1 to 100 characters, no control characters and no invisible
/// formatting or direction marks (which could disguise a name in the emails we send);
/// `None` keeps the default.
fn check_name(name: Option<&str>) -> Result<Option<String>, Error> {
    let Some(name) = name.map(str::trim) else {
        return Ok(None);
    };
    let invisible = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(|c| c.is_control() || invisible(c))
    {
        return Err(Error::invalid_request(
            "name: 1 to 100 characters, no control characters",
        ));
    }
    Ok(Some(name.to_owned()))
}

/// The user's handle, made on first use. Of two racing first uses, the unique index
/// keeps one and the other reads it back.
async fn handle_for(ctx: &Context, user_id: Uuid) -> Result<Uuid, Error> {
    if let Some(handle) = store::passkeys::handle_of(&ctx.db, user_id).await? {
        return Ok(handle);
    }
    match store::passkeys::insert_handle(&ctx.db, user_id, Uuid::new_v4()).await {
        Ok(()) => {}
        Err(err) if store::is_unique_violation(&err) => {}
        Err(err) => return Err(err.into()),
    }
    store::passkeys::handle_of(&ctx.db, user_id)
        .await?
        .ok_or(Error::NotFound)
}

/// `POST /me/passkeys/register/begin`: the creation options for the browser.
#[tracing::instrument(skip_all)]
pub(crate) async fn begin_registration(
    ctx: &Context,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<Value, Error> {
    let webauthn = relying(ctx)?;
    ctx.throttle
        .check(Limit::PasskeyRegisterPerUser, &user_id.to_string(), client)
        .await?;
    let user = active_user(ctx, user_id).await?;
    let existing = store::passkeys::list(&ctx.db, user.id).await?;
    if existing.len() as u64 >= MAX_PASSKEYS_PER_USER {
        return Err(too_many_passkeys());
    }
    let exclude = existing
        .iter()
        .map(|row| crypto::b64_decode(&row.credential_id).unwrap_or_default())
        .collect();
    let handle = handle_for(ctx, user.id).await?;
    let label = user
        .email
        .clone()
        .or_else(|| user.phone.clone())
        .unwrap_or_else(|| user.id.to_string());
    let display = user.name.clone().unwrap_or_else(|| label.clone());
    let (mut options, state) = webauthn
        .start_passkey_registration(handle, &label, &display, Some(exclude))
        .map_err(|err| Error::Internal(Box::new(err)))?;
    // A discoverable credential lets the person sign in without typing an address.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
    }
    // One registration in flight per user: a new begin replaces the last.
    store::passkeys::delete_challenges(&ctx.db, REGISTRATION, user.id).await?;
    sweep_now_and_then(ctx).await?;
    let row = ceremony_row(REGISTRATION, Some(user.id), to_json(&state)?, ctx.now());
    store::passkeys::insert_challenge(&ctx.db, row).await?;
    serde_json::to_value(&options.public_key).map_err(|err| Error::Internal(Box::new(err)))
}

/// What `POST /me/passkeys/register/complete` stores.
pub(crate) struct Registration<'a> {
    pub(crate) user_id: Uuid,
    pub(crate) session_id: Uuid,
    pub(crate) name: Option<&'a str>,
    pub(crate) credential: Value,
}

/// `POST /me/passkeys/register/complete`: check the browser's answer against the user's
/// ceremony and store the passkey.
#[tracing::instrument(skip_all)]
pub(crate) async fn complete_registration(
    ctx: &Arc<Context>,
    registration: Registration<'_>,
    client: &ClientInfo,
) -> Result<passkey::Model, Error> {
    let webauthn = relying(ctx)?;
    let name = check_name(registration.name)?;
    let credential: RegisterPublicKeyCredential = parse_credential(registration.credential)?;
    let user = active_user(ctx, registration.user_id).await?;

    let ceremony = store::passkeys::newest_challenge_of(&ctx.db, REGISTRATION, user.id)
        .await?
        .ok_or(Error::TokenInvalid)?;
    take(ctx, &ceremony).await?;
    let state: PasskeyRegistration = from_json(&ceremony.state)?;
    let passkey = match webauthn.finish_passkey_registration(&credential, &state) {
        Ok(passkey) => passkey,
        // webauthn-rs refuses a credential from the exclude list (the user's own) with
        // this error: the authenticator registered it already.
        Err(WebauthnError::CredentialAlteredAlgFromRequest)
            if store::passkeys::find_by_credential(
                &ctx.db,
                &crypto::sha256_hex(&credential.raw_id),
            )
            .await?
            .is_some_and(|row| row.user_id == user.id) =>
        {
            return Err(already_registered());
        }
        Err(err) => {
            tracing::debug!(error = %err, "passkey registration refused");
            return Err(Error::invalid_request(
                "credential: the passkey could not be verified",
            ));
        }
    };

    let credential_id: &[u8] = passkey.cred_id().as_ref();
    if credential_id.len() > MAX_CREDENTIAL_ID_LEN {
        return Err(Error::invalid_request(
            "credential: credential ids are at most 1023 bytes",
        ));
    }
    let now = ctx.now();
    // One transaction under the user's row lock: an address claim (which removes the
    // passkeys of whoever held the account unverified) either runs first and ends this
    // session, or runs after and removes this passkey too.
    let txn = store::begin(&ctx.db).await?;
    store::users::lock(&txn, user.id).await?;
    let live = store::sessions::is_live(&txn, registration.session_id, now).await?;
    if !live {
        return Err(Error::Unauthorized);
    }
    let count = store::passkeys::count(&txn, user.id).await?;
    if count >= MAX_PASSKEYS_PER_USER {
        return Err(too_many_passkeys());
    }
    let stored = Stored::of(&passkey)?;
    let row = passkey::Model {
        id: Uuid::now_v7(),
        user_id: user.id,
        credential_hash: crypto::sha256_hex(credential_id),
        credential_id: crypto::b64_encode(credential_id),
        name: name.unwrap_or_else(|| {
            if count == 0 {
                "Passkey".to_owned()
            } else {
                format!("Passkey {}", count + 1)
            }
        }),
        passkey: stored.json,
        counter: stored.counter,
        backup_eligible: stored.backup_eligible,
        backup_state: stored.backup_state,
        created_at: now,
        last_used_at: None,
    };
    store::passkeys::insert(&txn, row.clone())
        .await
        .map_err(|err| {
            if store::is_unique_violation(&err) {
                already_registered()
            } else {
                err.into()
            }
        })?;
    txn.commit().await?;

    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::PasskeyAdded)
                .user(user.id)
                .session(registration.session_id)
                .client(client)
                .detail("passkey_id", row.id.to_string()),
        )
        .await;
    ctx.outbox.notify(
        &user,
        &Message::SignInMethodAdded {
            method: "A passkey",
        },
    );
    Ok(row)
}

fn too_many_passkeys() -> Error {
    Error::Conflict(
        format!("an account holds at most {MAX_PASSKEYS_PER_USER} passkeys; remove one first")
            .into(),
    )
}

fn already_registered() -> Error {
    Error::Conflict("this passkey is already registered".into())
}

/// A passkey as stored: its JSON, plus the counter and backup flags in their own columns
/// (webauthn-rs keeps them in private fields; its serialised form is stable across 0.6).
struct Stored {
    json: String,
    counter: i64,
    backup_eligible: bool,
    backup_state: bool,
}

impl Stored {
    fn of(passkey: &Passkey) -> Result<Self, Error> {
        let value = serde_json::to_value(passkey).map_err(|err| Error::Internal(Box::new(err)))?;
        let cred = &value["cred"];
        Ok(Self {
            counter: cred["counter"].as_i64().unwrap_or(0),
            backup_eligible: cred["backup_eligible"].as_bool().unwrap_or(false),
            backup_state: cred["backup_state"].as_bool().unwrap_or(false),
            json: value.to_string(),
        })
    }
}

/// `POST /passkeys/authenticate/begin`: a ceremony and its request options. With an
/// email, the options list that account's passkeys (or a decoy); without, the browser
/// offers any discoverable passkey (autofill).
#[tracing::instrument(skip_all)]
pub(crate) async fn begin_sign_in(
    ctx: &Context,
    email: Option<&str>,
    client: &ClientInfo,
) -> Result<(Uuid, Value), Error> {
    let webauthn = relying(ctx)?;
    let email = email.map(normalize_email).transpose()?;
    ctx.throttle
        .check(Limit::PasskeyBeginPerIp, &client.ip_key(), client)
        .await?;
    ctx.throttle
        .check(Limit::PasskeyBeginGlobal, "", client)
        .await?;
    let (mut options, state) = webauthn
        .start_discoverable_authentication()
        .map_err(|err| Error::Internal(Box::new(err)))?;
    // The page decides whether to ask through autofill; the options are the same.
    options.mediation = None;
    let (kind, user_id) = match &email {
        None => (DISCOVERABLE, None),
        Some(email) => {
            let account = store::users::find_by_email(&ctx.db, email)
                .await?
                .filter(|user| user.disabled_at.is_none());
            // The same queries and work whether or not the address has an account.
            let owner = account.as_ref().map_or(Uuid::nil(), |user| user.id);
            let passkeys = store::passkeys::list(&ctx.db, owner).await?;
            let decoys = decoy_credential_ids(ctx, email)?;
            let allow: Vec<Vec<u8>> = if passkeys.is_empty() {
                decoys
            } else {
                passkeys
                    .iter()
                    .filter_map(|row| crypto::b64_decode(&row.credential_id))
                    .collect()
            };
            options.public_key.allow_credentials = allow
                .into_iter()
                .map(|id| AllowCredentials {
                    type_: "public-key".into(),
                    id,
                    transports: None,
                })
                .collect();
            let bound = account.filter(|_| !passkeys.is_empty()).map(|user| user.id);
            (SIGN_IN, bound)
        }
    };
    sweep_now_and_then(ctx).await?;
    let row = ceremony_row(kind, user_id, to_json(&state)?, ctx.now());
    let id = row.id;
    store::passkeys::insert_challenge(&ctx.db, row).await?;
    let options =
        serde_json::to_value(&options.public_key).map_err(|err| Error::Internal(Box::new(err)))?;
    Ok((id, options))
}

/// Credential ids that look like a real account's (webauthn-rs draws their number and
/// lengths from what real authenticators produce), for an address without passkeys.
/// Keyed by the server secret, so they are stable per address and reveal nothing.
fn decoy_credential_ids(ctx: &Context, email: &str) -> Result<Vec<Vec<u8>>, Error> {
    let key = crypto::hmac_parts(&ctx.keys.codes, &[b"passkey-decoy-key"]);
    let generator = WebauthnFakeCredentialGenerator::<FakePasskeyDistribution>::new(key.as_ref())
        .map_err(|err| Error::Internal(Box::new(err)))?;
    let mut ids: Vec<Vec<u8>> = generator
        .generate(email.as_bytes())
        .map_err(|err| Error::Internal(Box::new(err)))?
        .into_iter()
        .map(|id| id.to_vec())
        .collect();
    // The distribution sometimes draws no credential at all; a real account with passkeys
    // never has an empty list (and an empty list would offer every passkey of the site).
    if ids.is_empty() {
        let tag = crypto::hmac_parts(&ctx.keys.codes, &[b"passkey-decoy-one", email.as_bytes()]);
        ids.push(tag.as_ref()[..16].to_vec());
    }
    Ok(ids)
}

/// Sweeps expired ceremonies at most once a minute per instance, so a flood of begins
/// does not turn into a flood of table-wide deletes.
async fn sweep_now_and_then(ctx: &Context) -> Result<(), Error> {
    static SWEEP: store::Every = store::Every::seconds(60);
    let now = ctx.now();
    if SWEEP.due(now) {
        store::passkeys::sweep_challenges(&ctx.db, now).await?;
    }
    Ok(())
}

/// `POST /passkeys/authenticate/complete`: check the answer and start a session. A passkey
/// with user verification is two factors in one: the session is `aal2`, and an account
/// with a second factor is not asked for another.
#[tracing::instrument(skip_all)]
pub(crate) async fn complete_sign_in(
    ctx: &Context,
    challenge_id: Uuid,
    credential: Value,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    let asserted = check_assertion(
        ctx,
        challenge_id,
        credential,
        &[SIGN_IN, DISCOVERABLE],
        None,
        client,
    )
    .await?;
    let row = &asserted.row;

    let txn = store::begin(&ctx.db).await?;
    let (user, has_password) = store::users::find_with_password(&txn, row.user_id)
        .await?
        .ok_or(Error::InvalidCredentials)?;
    if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    if ctx.config.sign_in.require_email_verification
        && user.email.is_some()
        && user.email_verified_at.is_none()
    {
        return Err(Error::EmailNotVerified);
    }
    if !record_use(ctx, &txn, &asserted).await? {
        drop(txn);
        return Err(lost_race(ctx, &asserted, client).await);
    }
    let grant = sessions::start(ctx, &txn, user, has_password, sessions::PASSKEY, client).await?;
    // The audit row commits with the session: one transaction for the sign-in's writes.
    ctx.auditor
        .record_in(
            &txn,
            AuditEvent::new(AuditKind::SignIn)
                .user(grant.user.id)
                .session(grant.session.id)
                .client(client)
                .detail("method", sessions::PASSKEY.name)
                .detail("passkey_id", row.id.to_string()),
        )
        .await?;
    txn.commit().await?;
    Ok(grant)
}

/// `POST /mfa/passkey/begin`: a ceremony listing the passkeys of the user who passed a
/// first factor, for use as the second.
#[tracing::instrument(skip_all)]
pub(crate) async fn begin_second_factor(
    ctx: &Context,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<(Uuid, Value), Error> {
    let webauthn = relying(ctx)?;
    ctx.throttle
        .check(Limit::PasskeyBeginPerIp, &client.ip_key(), client)
        .await?;
    let passkeys = store::passkeys::list(&ctx.db, user_id).await?;
    if passkeys.is_empty() {
        return Err(Error::NotFound);
    }
    let (mut options, state) = webauthn
        .start_discoverable_authentication()
        .map_err(|err| Error::Internal(Box::new(err)))?;
    options.mediation = None;
    options.public_key.allow_credentials = passkeys
        .iter()
        .filter_map(|row| crypto::b64_decode(&row.credential_id))
        .map(|id| AllowCredentials {
            type_: "public-key".into(),
            id,
            transports: None,
        })
        .collect();
    sweep_now_and_then(ctx).await?;
    let row = ceremony_row(SECOND_FACTOR, Some(user_id), to_json(&state)?, ctx.now());
    let id = row.id;
    store::passkeys::insert_challenge(&ctx.db, row).await?;
    let options =
        serde_json::to_value(&options.public_key).map_err(|err| Error::Internal(Box::new(err)))?;
    Ok((id, options))
}

/// A passkey answer that checked out: the passkey, and what its use changes.
pub(crate) struct Asserted {
    pub(crate) row: passkey::Model,
    passkey: Passkey,
    counter: u32,
    backup_eligible: bool,
    backup_state: bool,
}

/// Checks the answer to a ceremony of one of `kinds` (consumed first, whatever happens):
/// the credential is a registered passkey of the right user (`owner`, when the caller
/// knows who must be answering) and webauthn-rs accepts the assertion (challenge, origin,
/// RP id, user verification, signature, counter). Every refusal is audited and answers
/// `invalid_credentials`.
pub(crate) async fn check_assertion(
    ctx: &Context,
    challenge_id: Uuid,
    credential: Value,
    kinds: &[&str],
    owner: Option<Uuid>,
    client: &ClientInfo,
) -> Result<Asserted, Error> {
    let webauthn = relying(ctx)?;
    let credential: PublicKeyCredential = parse_credential(credential)?;
    ctx.throttle
        .check(Limit::PasskeyCompletePerIp, &client.ip_key(), client)
        .await?;
    let raw_id = credential.get_credential_id();
    let well_formed = !raw_id.is_empty() && raw_id.len() <= MAX_CREDENTIAL_ID_LEN;
    // The ceremony is consumed whatever happens next (it cannot be answered twice), and
    // the passkey looked up meanwhile: two independent statements, one round trip's wait.
    let (ceremony, found) = tokio::join!(
        store::passkeys::take_challenge_of(&ctx.db, challenge_id, kinds),
        async {
            if !well_formed {
                return Ok(None);
            }
            store::passkeys::find_by_credential_with_handle(&ctx.db, &crypto::sha256_hex(raw_id))
                .await
        },
    );
    let ceremony = ceremony?.ok_or(Error::TokenInvalid)?;
    still_in_time(&ceremony)?;
    if !well_formed {
        return Err(Error::invalid_request("credential: bad credential id"));
    }
    let refuse = |reason: &'static str, user_id: Option<Uuid>| async move {
        let mut event = AuditEvent::new(AuditKind::SignInFailed)
            .client(client)
            .detail("method", sessions::PASSKEY.name)
            .detail("reason", reason);
        if let Some(user_id) = user_id {
            event = event.user(user_id);
        }
        ctx.auditor.record(event).await;
        Error::InvalidCredentials
    };
    let Some((row, owner_handle)) = found? else {
        return Err(refuse("unknown_passkey", None).await);
    };
    // Named at begin (sign-in by email, second factor): it must be that user's passkey.
    // Unnamed: the authenticator's user handle must be the handle of the passkey's owner.
    // Either way, a handle that came back must match, and so must the owner the caller
    // expects.
    let handle = match credential.get_user_unique_id() {
        Some(bytes) => Some(Uuid::from_slice(bytes).map_err(|_| Error::InvalidCredentials)?),
        None => None,
    };
    let owner_matches = match (ceremony.kind.as_str(), ceremony.user_id, handle) {
        (SIGN_IN | SECOND_FACTOR, Some(named), _) if named != row.user_id => false,
        (SIGN_IN | SECOND_FACTOR, None, _) => false,
        (DISCOVERABLE, _, None) => false,
        // Each user has one handle: the handle that came back must be the owner's.
        (_, _, Some(handle)) => owner_handle == Some(handle),
        _ => true,
    } && owner.is_none_or(|owner| owner == row.user_id);
    if !owner_matches {
        return Err(refuse("passkey_of_another_user", Some(row.user_id)).await);
    }

    let state: DiscoverableAuthentication = from_json(&ceremony.state)?;
    let mut passkey: Passkey = from_json(&row.passkey)?;
    let result = match webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey)
    {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            counter_regression(ctx, &row, client).await;
            return Err(Error::InvalidCredentials);
        }
        Err(err) => {
            tracing::debug!(error = %err, "passkey assertion refused");
            return Err(refuse("bad_assertion", Some(row.user_id)).await);
        }
    };
    passkey.update_credential(&result);
    Ok(Asserted {
        row,
        passkey,
        counter: result.counter(),
        backup_eligible: result.backup_eligible(),
        backup_state: result.backup_state(),
    })
}

/// Records a checked use (counter, flags, last use) through `db`, the transaction of its
/// effect; `false` when another use moved the counter first or the passkey was removed
/// meanwhile (drop the transaction, then answer [`lost_race`]).
pub(crate) async fn record_use(
    ctx: &Context,
    db: &impl sea_orm::ConnectionTrait,
    asserted: &Asserted,
) -> Result<bool, Error> {
    Ok(store::passkeys::record_use(
        db,
        store::passkeys::Use {
            id: asserted.row.id,
            seen_counter: asserted.row.counter,
            new_counter: i64::from(asserted.counter),
            passkey_json: &to_json(&asserted.passkey)?,
            backup_eligible: asserted.backup_eligible,
            backup_state: asserted.backup_state,
            now: ctx.now(),
        },
    )
    .await?)
}

/// Why [`record_use`] lost: the passkey was removed by its owner while the answer was
/// being checked, or two copies of one authenticator are at work (audited).
pub(crate) async fn lost_race(ctx: &Context, asserted: &Asserted, client: &ClientInfo) -> Error {
    let row = &asserted.row;
    match store::passkeys::find_by_credential(&ctx.db, &row.credential_hash).await {
        Ok(None) => {
            ctx.auditor
                .record(
                    AuditEvent::new(AuditKind::SignInFailed)
                        .user(row.user_id)
                        .client(client)
                        .detail("method", sessions::PASSKEY.name)
                        .detail("reason", "unknown_passkey"),
                )
                .await;
        }
        Ok(Some(_)) => counter_regression(ctx, row, client).await,
        Err(err) => return err.into(),
    }
    Error::InvalidCredentials
}

async fn counter_regression(ctx: &Context, row: &passkey::Model, client: &ClientInfo) {
    tracing::warn!(passkey_id = %row.id, user_id = %row.user_id, "passkey counter went backwards; possible cloned authenticator");
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::PasskeyCounterRegression)
                .user(row.user_id)
                .client(client)
                .detail("passkey_id", row.id.to_string()),
        )
        .await;
}

/// Consumes a ceremony before its answer is checked: whatever happens next, it cannot be
/// answered twice. Expired ceremonies are consumed too, and say so.
async fn take(ctx: &Context, ceremony: &webauthn_challenge::Model) -> Result<(), Error> {
    if !store::passkeys::take_challenge(&ctx.db, ceremony.id).await? {
        return Err(Error::TokenInvalid);
    }
    still_in_time(ceremony)
}

/// A consumed ceremony that had expired says so.
fn still_in_time(ceremony: &webauthn_challenge::Model) -> Result<(), Error> {
    if ceremony.expires_at <= OffsetDateTime::now_utc() {
        return Err(Error::TokenExpired);
    }
    Ok(())
}

async fn active_user(ctx: &Context, user_id: Uuid) -> Result<user::Model, Error> {
    let user = store::users::find(&ctx.db, user_id)
        .await?
        .ok_or(Error::Unauthorized)?;
    if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    Ok(user)
}

/// `GET /me/passkeys`.
pub(crate) async fn list(ctx: &Context, user_id: Uuid) -> Result<Vec<passkey::Model>, Error> {
    Ok(store::passkeys::list(&ctx.db, user_id).await?)
}

/// `PATCH /me/passkeys/{id}`: 404 for a passkey that is not the caller's.
#[tracing::instrument(skip_all)]
pub(crate) async fn rename(
    ctx: &Context,
    user_id: Uuid,
    id: Uuid,
    name: &str,
) -> Result<passkey::Model, Error> {
    let name = check_name(Some(name))?.ok_or_else(|| Error::invalid_request("name: required"))?;
    if !store::passkeys::rename(&ctx.db, user_id, id, &name).await? {
        return Err(Error::NotFound);
    }
    store::passkeys::find_for_user(&ctx.db, user_id, id)
        .await?
        .ok_or(Error::NotFound)
}

/// `DELETE /me/passkeys/{id}`: removes the passkey unless it is the account's last way
/// to sign in (409). 404 for a passkey that is not the caller's.
#[tracing::instrument(skip_all)]
pub(crate) async fn remove(
    ctx: &Arc<Context>,
    claims: &crate::crypto::jwt::Claims,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    let (user_id, session_id) = (claims.sub, claims.sid);
    // With two-step verification on, a passkey is a second factor too: removing a factor
    // takes a session that passed one.
    if !claims.is_aal2() && store::mfa::totp_on(&ctx.db, user_id).await? {
        return Err(Error::MfaRequired(
            "removing a passkey needs a session that passed a second factor: re-authenticate with a code or a passkey"
                .into(),
        ));
    }
    let txn = store::begin(&ctx.db).await?;
    let user = store::users::lock(&txn, user_id)
        .await?
        .ok_or(Error::Unauthorized)?;
    let row = store::passkeys::find_for_user(&txn, user_id, id)
        .await?
        .ok_or(Error::NotFound)?;
    let left = store::passkeys::count(&txn, user_id)
        .await?
        .saturating_sub(1);
    let accounts = store::oauth::count_accounts(&txn, user_id).await?;
    if !sign_in_methods::can_still_sign_in(ctx, &txn, &user, left, accounts).await? {
        return Err(Error::Conflict(
            "this passkey is the account's last way to sign in; add another first".into(),
        ));
    }
    if !store::passkeys::delete(&txn, user_id, id).await? {
        return Err(Error::NotFound);
    }
    txn.commit().await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::PasskeyRemoved)
                .user(user_id)
                .session(session_id)
                .client(client)
                .detail("passkey_id", id.to_string()),
        )
        .await;
    let method = format!("A passkey named \"{}\"", row.name);
    ctx.outbox
        .notify(&user, &Message::SignInMethodRemoved { method: &method });
    Ok(())
}
