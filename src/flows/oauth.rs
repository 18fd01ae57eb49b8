//! Social sign-in: OpenID Connect and OAuth 2.0 providers, and linking them to accounts.
//!
//! **Authorize** stores everything the callback will need (provider, issuer, PKCE S256
//! verifier, nonce, the checked redirect, the linking user) under a 256-bit `state`,
//! hashed, for ten minutes; a random cookie binds it to the browser. **Callback** consumes
//! that state once, before anything else, then checks the browser binding, the provider in
//! the path, RFC 9207 `iss`, exchanges the code with the verifier, and gets the identity:
//! from a fully validated ID token (openidconnect: signature against the provider's keys,
//! `iss`, `aud`/`azp`, `exp`, nonce; we add `iat`) plus userinfo for missing claims, or
//! from the provider's user API for OAuth 2.0 providers. Any failure fails closed.
//!
//! The identity is (issuer, `sub`). A known identity signs its user in. A new one links
//! to the signed-in user who started the flow, or to an existing account with the same
//! email only when the provider asserts it verified *and* the local address is verified;
//! otherwise it creates a user (or, when the address belongs to an account, asks the
//! person to sign in and link).

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseTransaction;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    crypto,
    delivery::Message,
    entity::{oauth_account, oauth_state, user},
    flows::{
        email_address::normalize_email,
        mfa::{self, SignedIn},
        sessions, sign_in_methods, users,
    },
    oauth::{Identity, OAuth, OAuthProvider, Protocol, client::refused},
    rate_limit::Limit,
    store,
};

/// An authorization must come back within this.
const STATE_TTL: Duration = Duration::from_secs(10 * 60);

fn oauth(ctx: &Context) -> Result<&OAuth, Error> {
    ctx.oauth.as_ref().ok_or(Error::NotFound)
}

/// The callback URL registered with providers: `{public}{base}/oauth/{name}/callback`.
pub(crate) fn callback_url(ctx: &Context, provider: &str) -> String {
    format!(
        "{}{}/oauth/{provider}/callback",
        ctx.origins.issuer, ctx.config.auth_base_path
    )
}

/// The URL that starts a sign-in with `provider`.
pub(crate) fn authorize_url(ctx: &Context, provider: &str) -> String {
    format!(
        "{}{}/oauth/{provider}/authorize",
        ctx.origins.issuer, ctx.config.auth_base_path
    )
}

/// The configured providers: (name, label).
pub(crate) fn providers(ctx: &Context) -> Vec<(String, String)> {
    if !sign_in_methods::available(ctx, crate::config::SignInMethod::OAuth) {
        return Vec::new();
    }
    ctx.oauth.as_ref().map_or_else(Vec::new, |oauth| {
        oauth
            .providers()
            .iter()
            .map(|p| (p.name().to_owned(), p.label().to_owned()))
            .collect()
    })
}

/// Where `authorize` sends the browser, and the cookie value binding it.
pub(crate) struct Started {
    pub(crate) location: String,
    pub(crate) browser_secret: String,
}

/// Who a linking flow is for: the signed-in user (already checked for a fresh session)
/// and the session that started it, which alone may finish it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linking {
    pub(crate) user_id: Uuid,
    pub(crate) session_id: Uuid,
}

/// `GET /oauth/{provider}/authorize`. With `link`, the provider is linked to that user
/// instead of signing in.
#[tracing::instrument(skip_all)]
pub(crate) async fn authorize(
    ctx: &Context,
    name: &str,
    redirect_url: Option<&str>,
    link: Option<Linking>,
    client: &ClientInfo,
) -> Result<Started, Error> {
    let oauth = oauth(ctx)?;
    let provider = oauth.provider(name)?;
    let redirect_url = redirect_url
        .filter(|target| !target.is_empty())
        .map(|target| {
            ctx.origins
                .check_redirect_for(target, client.app.as_deref())
        })
        .transpose()?;
    ctx.throttle
        .check(Limit::OAuthAuthorizePerIp, &client.ip_key(), client)
        .await?;
    ctx.throttle
        .check(Limit::OAuthAuthorizeGlobal, "", client)
        .await?;

    let state = crypto::random_token();
    let nonce = crypto::random_token();
    let browser_secret = crypto::random_token();
    let (location, pkce_verifier) = oauth
        .authorization_url(provider, callback_url(ctx, name), &state, &nonce)
        .await?;

    let now = ctx.now();
    sweep_now_and_then(ctx, now).await?;
    let row = oauth_state::Model {
        id: Uuid::now_v7(),
        state_hash: crypto::sha256_hex(state.as_bytes()),
        browser_hash: crypto::sha256_hex(browser_secret.as_bytes()),
        provider: provider.name().to_owned(),
        issuer: provider.issuer_id().to_owned(),
        pkce_verifier,
        nonce,
        redirect_url,
        link_user_id: link.map(|l| l.user_id),
        link_session_id: link.map(|l| l.session_id),
        created_at: now,
        expires_at: now + STATE_TTL,
    };
    store::oauth::insert_state(&ctx.db, row).await?;
    Ok(Started {
        location,
        browser_secret,
    })
}

/// Sweeps expired authorizations at most once a minute per instance.
async fn sweep_now_and_then(ctx: &Context, now: time::OffsetDateTime) -> Result<(), Error> {
    static SWEEP: store::Every = store::Every::seconds(60);
    if SWEEP.due(now) {
        store::oauth::sweep_states(&ctx.db, now).await?;
    }
    Ok(())
}

/// The query string of `GET /oauth/{provider}/callback`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallbackParams {
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) state: Option<String>,
    #[serde(default)]
    pub(crate) iss: Option<String>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// What a callback did.
pub(crate) enum Outcome {
    /// Someone signed in (a new user, possibly), or passed the first factor of an account
    /// with a second one.
    SignedIn(SignedIn),
    /// The provider was linked to the signed-in user who started the flow.
    Linked(oauth_account::Model),
}

/// A callback failure, with the redirect the authorization stored (when it got that far),
/// where a browser is sent with `?error=`.
pub(crate) struct Failed {
    pub(crate) error: Error,
    pub(crate) redirect_url: Option<String>,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Self {
            error,
            redirect_url: None,
        }
    }
}

/// `GET /oauth/{provider}/callback`. `browser_secret` is the binding cookie's value;
/// `session_id` the session the callback request carries, if any.
#[tracing::instrument(skip_all)]
pub(crate) async fn callback(
    ctx: &Arc<Context>,
    name: &str,
    params: CallbackParams,
    browser_secret: Option<&str>,
    session_id: Option<Uuid>,
    client: &ClientInfo,
) -> Result<(Outcome, Option<String>), Failed> {
    let oauth = oauth(ctx)?;
    let provider = oauth.provider(name)?;
    ctx.throttle
        .check(Limit::OAuthCallbackPerIp, &client.ip_key(), client)
        .await?;
    let state = params
        .state
        .as_deref()
        .filter(|s| s.len() == 43 && crypto::b64_decode(s).is_some())
        .ok_or(Error::TokenInvalid)?;
    let row = store::oauth::find_state(&ctx.db, &crypto::sha256_hex(state.as_bytes()))
        .await
        .map_err(Error::from)?
        .ok_or(Error::TokenInvalid)?;
    // Used up before anything else: whatever happens next, this state never works again.
    if !store::oauth::consume_state(&ctx.db, row.id)
        .await
        .map_err(Error::from)?
    {
        return Err(Error::TokenInvalid.into());
    }
    let fail = |error: Error| Failed {
        error,
        redirect_url: row.redirect_url.clone(),
    };
    if row.expires_at <= ctx.now() {
        return Err(fail(Error::TokenExpired));
    }
    // A state from another provider's authorization is not this provider's to finish.
    if row.provider != provider.name() || row.issuer != provider.issuer_id() {
        return Err(fail(Error::TokenInvalid));
    }
    let bound = browser_secret.is_some_and(|secret| {
        crypto::ct_eq(
            crypto::sha256_hex(secret.as_bytes()).as_bytes(),
            row.browser_hash.as_bytes(),
        )
    });
    if !bound {
        return Err(fail(Error::forbidden(
            "this sign-in was started in another browser; start again",
        )));
    }
    // A link finishes only in the session that started it, still signed in: not after a
    // sign-out on a shared computer, not in someone else's session.
    if let Some(started_in) = row.link_session_id {
        let live = match session_id.filter(|id| *id == started_in) {
            Some(id) => store::sessions::is_live(&ctx.db, id, ctx.now())
                .await
                .map_err(Error::from)?,
            None => false,
        };
        if !live {
            return Err(fail(Error::forbidden(
                "this link was started in another session; sign in and start again",
            )));
        }
    }
    if let Some(error) = &params.error {
        return Err(fail(Error::forbidden(format!(
            "the provider did not sign you in ({})",
            error_code(error)
        ))));
    }
    // RFC 9207: an OpenID Connect provider that names itself must name the one we sent
    // the person to, and one that says it always does must not leave it out. (OAuth 2.0
    // providers' stored issuer is our own label for them, not an identifier to compare.)
    let advertised = oauth.requires_iss(provider).await.map_err(&fail)?;
    let wrong = match params.iss.as_deref() {
        Some(iss) => {
            iss != row.issuer && matches!(provider.protocol(), Protocol::OpenIdConnect { .. })
        }
        None => advertised,
    };
    if wrong {
        return Err(fail(Error::forbidden(
            "the answer came from another issuer",
        )));
    }
    let code = params
        .code
        .filter(|code| !code.is_empty() && code.len() <= 2048)
        .ok_or_else(|| fail(Error::invalid_request("code: missing")))?;

    let leeway = i64::try_from(ctx.config.sessions.clock_leeway.as_secs()).unwrap_or(0);
    let exchanged = oauth
        .exchange(
            provider,
            callback_url(ctx, provider.name()),
            code,
            &row.pkce_verifier,
            &row.nonce,
            leeway,
        )
        .await;
    let identity = match exchanged {
        Ok(identity) => identity,
        Err(error) => {
            ctx.auditor
                .record(
                    AuditEvent::new(AuditKind::SignInFailed)
                        .client(client)
                        .detail("method", sessions::OAUTH.name)
                        .detail("provider", provider.name())
                        .detail("reason", error.code()),
                )
                .await;
            return Err(fail(error));
        }
    };
    let redirect_url = row.redirect_url.clone();
    settle(ctx, provider, &row, identity, client)
        .await
        .map(|outcome| (outcome, redirect_url))
        .map_err(fail)
}

/// A provider's error code, reduced to what is safe to show: `[a-z_]`, at most 40.
fn error_code(raw: &str) -> String {
    if !raw.is_empty()
        && raw.len() <= 40
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        raw.to_owned()
    } else {
        "error".to_owned()
    }
}

/// Finds or creates the account for the identity, links it, and signs in (or, for a
/// linking flow, just links).
async fn settle(
    ctx: &Arc<Context>,
    provider: &OAuthProvider,
    row: &oauth_state::Model,
    identity: Identity,
    client: &ClientInfo,
) -> Result<Outcome, Error> {
    let subject = identity.subject;
    if subject.is_empty()
        || subject.len() > 255
        || subject.trim() != subject
        || subject.chars().any(char::is_control)
    {
        return Err(refused(provider, "empty, oversized or malformed subject"));
    }
    // An address we cannot parse is no address (the identity still works).
    let email = identity
        .email
        .as_deref()
        .and_then(|e| normalize_email(e).ok());
    let email_verified = email.is_some() && identity.email_verified;
    let issuer = provider.issuer_id();
    let now = ctx.now();

    let txn = store::begin(&ctx.db).await?;
    let existing = store::oauth::find_identity(&txn, issuer, &subject).await?;

    if let Some(link_user) = row.link_user_id {
        let user = store::users::lock(&txn, link_user)
            .await?
            .ok_or(Error::Unauthorized)?;
        let account = match existing {
            Some(account) if account.user_id != user.id => {
                return Err(Error::Conflict(
                    format!(
                        "this {} account is already linked to another user",
                        provider.label()
                    )
                    .into(),
                ));
            }
            Some(account) => account,
            None => {
                let account = new_account(
                    provider,
                    user.id,
                    &subject,
                    email.clone(),
                    email_verified,
                    now,
                );
                insert_account(&txn, &account).await?;
                txn.commit().await?;
                audit_link(ctx, &account, client).await;
                let method = format!("Your {} account", provider.label());
                ctx.outbox
                    .notify(&user, &Message::SignInMethodAdded { method: &method });
                return Ok(Outcome::Linked(account));
            }
        };
        txn.commit().await?;
        return Ok(Outcome::Linked(account));
    }

    let mut merged = false;
    let mut claim = None;
    let (user, created) = match existing {
        Some(account) => {
            store::oauth::touch_account(&txn, account.id, email.as_deref(), email_verified, now)
                .await?;
            let user = store::users::find(&txn, account.user_id)
                .await?
                .ok_or(Error::InvalidCredentials)?;
            (user, None)
        }
        None => {
            let local = match &email {
                Some(email) => store::users::find_by_email(&txn, email).await?,
                None => None,
            };
            match local {
                // Merge only when both sides vouch for the address, and never into an
                // account with a second factor: a provider's word would otherwise attach a
                // lasting way in before anyone passed that factor (sign in, then link).
                Some(local)
                    if email_verified
                        && local.email_verified_at.is_some()
                        && !store::mfa::totp_on(&txn, local.id).await? =>
                {
                    let account =
                        new_account(provider, local.id, &subject, email.clone(), true, now);
                    insert_account(&txn, &account).await?;
                    merged = true;
                    (local, Some(account))
                }
                // A verified account with a second factor: sign in to it, then link.
                Some(local) if local.email_verified_at.is_some() => {
                    return Err(sign_in_then_link(provider));
                }
                // The provider vouches for an address an unverified account holds: proof
                // from outside that account, which takes it back from whoever registered
                // it (their password, passkeys, links and sessions go).
                Some(local) if email_verified => {
                    claim = users::claim_unverified(&txn, &local, false).await?;
                    store::users::mark_email_verified(&txn, local.id, now).await?;
                    let local = store::users::find(&txn, local.id)
                        .await?
                        .ok_or(Error::InvalidCredentials)?;
                    let account =
                        new_account(provider, local.id, &subject, email.clone(), true, now);
                    insert_account(&txn, &account).await?;
                    (local, Some(account))
                }
                Some(_) => return Err(sign_in_then_link(provider)),
                None => {
                    // An address the provider does not vouch for stays on the linked
                    // account: it must not reserve the address on this site.
                    let address = email.clone().filter(|_| email_verified);
                    let user =
                        create_user(&txn, address, email_verified, identity.name, now).await?;
                    let account = new_account(
                        provider,
                        user.id,
                        &subject,
                        email.clone(),
                        email_verified,
                        now,
                    );
                    insert_account(&txn, &account).await?;
                    (user, Some(account))
                }
            }
        }
    };
    if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    if ctx.config.sign_in.require_email_verification
        && user.email.is_some()
        && user.email_verified_at.is_none()
    {
        return Err(Error::EmailNotVerified);
    }
    let has_password = store::users::password_hash(&txn, user.id).await?.is_some();
    let signed_in_user = user.clone();
    let signed_in = mfa::sign_in(ctx, &txn, user, has_password, sessions::OAUTH, client).await?;
    txn.commit().await?;
    users::claimed(ctx, signed_in_user.id, claim, "oauth", client).await;
    if let Some(account) = &created {
        audit_link(ctx, account, client).await;
    }
    if merged {
        // Joined an existing account by its email: the owner hears of it.
        let method = format!("Your {} account", provider.label());
        ctx.outbox.notify(
            &signed_in_user,
            &Message::SignInMethodAdded { method: &method },
        );
    }
    if let SignedIn::Granted(grant) = &signed_in {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::SignIn)
                    .user(grant.user.id)
                    .session(grant.session.id)
                    .client(client)
                    .detail("method", sessions::OAUTH.name)
                    .detail("provider", provider.name()),
            )
            .await;
    }
    signed_in.audit_challenge(ctx, client).await;
    Ok(Outcome::SignedIn(signed_in))
}

/// An existing account holds the address and the provider's word is not enough to join
/// it: the person signs in to it and links the provider from there.
fn sign_in_then_link(provider: &OAuthProvider) -> Error {
    Error::Conflict(
        format!(
            "an account already uses this email address: sign in to it, then link {} from your account",
            provider.label()
        )
        .into(),
    )
}

fn new_account(
    provider: &OAuthProvider,
    user_id: Uuid,
    subject: &str,
    email: Option<String>,
    email_verified: bool,
    now: time::OffsetDateTime,
) -> oauth_account::Model {
    oauth_account::Model {
        id: Uuid::now_v7(),
        user_id,
        provider: provider.name().to_owned(),
        issuer: provider.issuer_id().to_owned(),
        subject: subject.to_owned(),
        email,
        email_verified,
        created_at: now,
        last_used_at: Some(now),
    }
}

async fn insert_account(
    txn: &DatabaseTransaction,
    account: &oauth_account::Model,
) -> Result<(), Error> {
    store::oauth::insert_account(txn, account.clone())
        .await
        .map_err(|err| {
            if store::is_unique_violation(&err) {
                Error::Conflict("this provider account was just linked; try again".into())
            } else {
                err.into()
            }
        })
}

async fn create_user(
    txn: &DatabaseTransaction,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    now: time::OffsetDateTime,
) -> Result<user::Model, Error> {
    let name = name
        .map(|n| {
            n.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty());
    let row = user::Model {
        email_verified_at: (email.is_some() && email_verified).then_some(now),
        email,
        name,
        ..users::blank_row(now)
    };
    store::users::insert_in(txn, row, None)
        .await
        .map_err(|err| {
            if store::is_unique_violation(&err) {
                Error::EmailTaken
            } else {
                err.into()
            }
        })
}

async fn audit_link(ctx: &Context, account: &oauth_account::Model, client: &ClientInfo) {
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::AccountLinked)
                .user(account.user_id)
                .client(client)
                .detail("provider", account.provider.clone())
                .detail("account_id", account.id.to_string()),
        )
        .await;
}

/// `GET /me/accounts`.
pub(crate) async fn list(ctx: &Context, user_id: Uuid) -> Result<Vec<oauth_account::Model>, Error> {
    Ok(store::oauth::list_accounts(&ctx.db, user_id).await?)
}

/// `DELETE /me/accounts/{id}`: unlinks unless it is the last way to sign in (409); 404
/// for an account that is not the caller's.
#[tracing::instrument(skip_all)]
pub(crate) async fn unlink(
    ctx: &Arc<Context>,
    user_id: Uuid,
    session_id: Uuid,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    let txn = store::begin(&ctx.db).await?;
    let user = store::users::lock(&txn, user_id)
        .await?
        .ok_or(Error::Unauthorized)?;
    let account = store::oauth::find_account_for_user(&txn, user_id, id)
        .await?
        .ok_or(Error::NotFound)?;
    let left = store::oauth::count_accounts(&txn, user_id)
        .await?
        .saturating_sub(1);
    let passkeys = store::passkeys::count(&txn, user_id).await?;
    if !sign_in_methods::can_still_sign_in(ctx, &txn, &user, passkeys, left).await? {
        return Err(Error::Conflict(
            "this account is the last way to sign in; add another first".into(),
        ));
    }
    if !store::oauth::delete_account(&txn, user_id, id).await? {
        return Err(Error::NotFound);
    }
    txn.commit().await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::AccountUnlinked)
                .user(user_id)
                .session(session_id)
                .client(client)
                .detail("provider", account.provider.clone())
                .detail("account_id", id.to_string()),
        )
        .await;
    let label = ctx
        .oauth
        .as_ref()
        .and_then(|o| o.providers().iter().find(|p| p.name() == account.provider))
        .map_or(account.provider.clone(), |p| p.label().to_owned());
    let method = format!("Your {label} account");
    ctx.outbox
        .notify(&user, &Message::SignInMethodRemoved { method: &method });
    Ok(())
}
