//! Sessions and their tokens: start (sign-in), refresh (rotation), revoke.
//!
//! A sign-in creates a session row and answers a [`Grant`]: a short-lived ES256 access
//! token and an opaque refresh token.
//!
//! **Refresh tokens** are `base64url(session id ‖ 256-bit secret)`; only the SHA-256 of
//! the secret is stored. Each refresh rotates the secret: the child secret is
//! `HMAC(refresh-chain key, session id ‖ parent secret)`, and one conditional `UPDATE`
//! swaps the stored hash from parent to child, so of two racing refreshes exactly one
//! rotates. Because the child is derived from the parent, the loser of such a race (or a
//! second tab presenting the same parent within the grace window) gets the very same
//! child: both end up on the same session with the same token. Presenting the immediate
//! parent after the grace window, or any older ancestor at any time (recognised by walking
//! the chain forward to the current hash), is a replay: the whole session is revoked.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    crypto::{
        self,
        jwt::{Actor, Claims},
    },
    entity::{Redacted, session, user},
    flows::features,
    store,
};

/// What every sign-in answers: the user, the session and both tokens.
#[derive(Clone)]
pub struct Grant {
    /// The signed-in user.
    pub user: user::Model,
    /// Whether that user has a password.
    pub has_password: bool,
    /// The session.
    pub session: session::Model,
    /// The ES256 access token.
    pub access_token: String,
    /// The opaque refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("user", &self.user.id)
            .field("session", &self.session.id)
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

/// How a session was made: one sign-in method (a first factor, or a second one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Method {
    /// The session's `auth_method`: `password`, `magic_link`, `otp`, `passkey`, `oauth`;
    /// for a second factor, `totp`, `recovery_code`, `passkey`.
    pub(crate) name: &'static str,
    /// RFC 8176 method references for the `amr` claim.
    pub(crate) amr: &'static [&'static str],
    /// Whether the method alone is two factors (a passkey with user verification).
    pub(crate) aal2: bool,
}

impl Method {
    const fn first(name: &'static str, amr: &'static [&'static str]) -> Self {
        Self {
            name,
            amr,
            aal2: false,
        }
    }

    /// The first-factor method of this name, as an `mfa_token` records it.
    pub(crate) fn named(name: &str) -> Option<Self> {
        let all = [
            PASSWORD,
            MAGIC_LINK,
            EMAIL_OTP,
            SMS_OTP,
            INVITATION,
            #[cfg(feature = "oauth")]
            OAUTH,
            #[cfg(feature = "passkeys")]
            PASSKEY,
        ];
        all.into_iter().find(|method| method.name == name)
    }

    /// This first factor followed by `second`.
    pub(crate) fn then(self, second: Self) -> Proof {
        Proof {
            first: self,
            second: Some(second),
        }
    }
}

pub(crate) const PASSWORD: Method = Method::first("password", &["pwd"]);
pub(crate) const MAGIC_LINK: Method = Method::first("magic_link", &["email"]);
pub(crate) const EMAIL_OTP: Method = Method::first("email_otp", &["otp"]);
pub(crate) const SMS_OTP: Method = Method::first("sms_otp", &["sms"]);
pub(crate) const INVITATION: Method = Method::first("invitation", &["email"]);
/// A provider (OpenID Connect or OAuth 2.0): a federated sign-in.
#[cfg(feature = "oauth")]
pub(crate) const OAUTH: Method = Method::first("oauth", &["fed"]);
/// A passkey: a hardware-bound (or synced) key, with user verification: two factors in
/// one (something you have, unlocked by something you know or are).
#[cfg(feature = "passkeys")]
pub(crate) const PASSKEY: Method = Method {
    name: "passkey",
    amr: &["hwk"],
    aal2: true,
};
/// A code from an authenticator app (RFC 6238), as a second factor.
pub(crate) const TOTP: Method = Method::first("totp", &["otp"]);
/// A recovery code, as a second factor.
pub(crate) const RECOVERY_CODE: Method = Method::first("recovery_code", &["otp"]);

/// What a sign-in proved: a first factor, and a second one when the account asked for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Proof {
    pub(crate) first: Method,
    pub(crate) second: Option<Method>,
}

impl From<Method> for Proof {
    fn from(first: Method) -> Self {
        Self {
            first,
            second: None,
        }
    }
}

impl Proof {
    /// The `acr` of a session made this way.
    pub(crate) fn acr(self) -> &'static str {
        if self.second.is_some() || self.first.aal2 {
            AAL2
        } else {
            AAL1
        }
    }

    /// The `amr` of a session made this way, space-separated as stored.
    pub(crate) fn amr(self) -> String {
        let second = self.second.map_or(&[][..], |method| method.amr);
        self.first
            .amr
            .iter()
            .chain(second)
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One factor.
pub(crate) const AAL1: &str = "aal1";
/// Two factors (or a passkey with user verification).
pub(crate) const AAL2: &str = "aal2";

const SECRET_LEN: usize = 32;
/// How far back the chain is walked to recognise an old refresh token (about 3.5 days of
/// continuous five-minute refreshes; older tokens are merely refused). Bounded so a
/// forged token costs at most about a millisecond.
const MAX_CHAIN_WALK: i64 = 1024;

/// A parsed refresh token.
struct RefreshToken {
    session_id: Uuid,
    secret: [u8; SECRET_LEN],
}

impl RefreshToken {
    fn encode(&self) -> String {
        let mut bytes = self.session_id.as_bytes().to_vec();
        bytes.extend_from_slice(&self.secret);
        crypto::b64_encode(&bytes)
    }

    fn parse(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let bytes = crypto::b64_decode(text)?;
        let (id, secret) = bytes.split_at_checked(16)?;
        Some(Self {
            session_id: Uuid::from_slice(id).ok()?,
            secret: secret.try_into().ok()?,
        })
    }

    fn hash(&self) -> String {
        crypto::sha256_hex(&self.secret)
    }

    /// The token that replaces this one on rotation.
    fn child(&self, ctx: &Context) -> Self {
        let tag = crypto::hmac_parts(
            &ctx.keys.refresh_chain,
            &[b"refresh-token", self.session_id.as_bytes(), &self.secret],
        );
        let mut secret = [0u8; SECRET_LEN];
        secret.copy_from_slice(&tag.as_ref()[..SECRET_LEN]);
        Self {
            session_id: self.session_id,
            secret,
        }
    }
}

fn add(at: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    at.checked_add(time::Duration::try_from(duration).unwrap_or(time::Duration::MAX))
        .unwrap_or(at)
}

/// Starts a session for `user` and answers its grant. `db` is the pool, or the
/// transaction that consumed the one-time secret this sign-in rests on (so both commit or
/// neither does); nothing here touches the pool while a transaction is open.
#[tracing::instrument(skip_all, fields(user.id = %user.id))]
pub(crate) async fn start(
    ctx: &Context,
    db: &impl ConnectionTrait,
    user: user::Model,
    has_password: bool,
    proof: impl Into<Proof>,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    let proof = proof.into();
    let now = ctx.now();
    let config = &ctx.config;
    let expires_at = add(now, config.sessions.lifetime);
    let refresh = RefreshToken {
        session_id: Uuid::now_v7(),
        secret: crypto::random_bytes(),
    };
    let row = session::Model {
        id: refresh.session_id,
        user_id: user.id,
        refresh_hash: Redacted(refresh.hash()),
        previous_refresh_hash: None,
        generation: 0,
        rotated_at: None,
        auth_method: proof.first.name.to_owned(),
        amr: proof.amr(),
        acr: proof.acr().to_owned(),
        auth_time: None,
        impersonator_id: None,
        client_id: client.app.clone(),
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.clone(),
        active_org_id: None,
        created_at: now,
        last_active_at: now,
        idle_expires_at: add(now, config.sessions.idle_timeout).min(expires_at),
        expires_at,
        revoked_at: None,
        revoked_reason: None,
    };
    store::sessions::insert(db, &row).await?;
    // An administrator may have disabled the account while this sign-in was checking the
    // password: `Users::disable` revokes only the sessions it can see, so look again now
    // that this one exists (the row as the sign-in's own update left it).
    let fresh = store::users::signed_in(db, user.id, now).await?;
    promote_if_listed(ctx, db, &user).await?;
    let disabled = fresh
        .as_ref()
        .is_none_or(|fresh| fresh.disabled_at.is_some());
    if disabled {
        let revoked =
            store::sessions::revoke(db, user.id, Some(&[row.id]), None, "user_disabled").await?;
        ctx.revocation.apply(&revoked, ctx.config.token_window());
        return Err(Error::UserDisabled);
    }
    // A cut-off set a moment ago (in this very transaction, when this sign-in took an
    // account back) was stamped by the database's clock, which may run a little ahead of
    // ours: the new token is issued no earlier, so the cut-off never catches it.
    let issued_at = fresh
        .and_then(|fresh| fresh.tokens_valid_after)
        .map_or(now, |cutoff| cutoff.max(now));
    grant(ctx, db, user, has_password, row, &refresh, issued_at).await
}

/// Starts an impersonation of `user` by `admin_id`: a session of at most an hour with no
/// refresh token, whose one access token carries `act: { sub: admin_id }`.
pub(crate) async fn start_impersonation(
    ctx: &Context,
    user: &user::Model,
    admin_id: Uuid,
    client: &ClientInfo,
) -> Result<AccessToken, Error> {
    let now = ctx.now();
    let expires_at = now
        + time::Duration::try_from(crate::config::IMPERSONATION_LIFETIME)
            .unwrap_or(time::Duration::HOUR);
    let row = session::Model {
        id: Uuid::now_v7(),
        user_id: user.id,
        // Never handed out: nothing can refresh an impersonation.
        refresh_hash: Redacted(crypto::sha256_hex(&crypto::random_bytes::<32>())),
        previous_refresh_hash: None,
        generation: 0,
        rotated_at: None,
        auth_method: "impersonation".to_owned(),
        amr: String::new(),
        acr: AAL1.to_owned(),
        auth_time: None,
        impersonator_id: Some(admin_id),
        client_id: client.app.clone(),
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.clone(),
        active_org_id: None,
        created_at: now,
        last_active_at: now,
        idle_expires_at: expires_at,
        expires_at,
        revoked_at: None,
        revoked_reason: None,
    };
    store::sessions::insert(&ctx.db, &row).await?;
    reissue(ctx, user, row, None, now, i64::MAX).await
}

/// Makes the user an admin if their verified address is one the host listed
/// ([`sign_in.admin_emails`](crate::config::SignInConfig::admin_emails)), through `db`
/// (the sign-in's or the verification's transaction), audited there too.
pub(crate) async fn promote_if_listed(
    ctx: &Context,
    db: &impl ConnectionTrait,
    user: &user::Model,
) -> Result<(), Error> {
    let listed = user.email_verified_at.is_some()
        && user.email.as_ref().is_some_and(|email| {
            ctx.config
                .sign_in
                .admin_emails
                .iter()
                .any(|listed| listed == email)
        });
    if !listed || user.role == crate::policy::roles::ADMIN_ROLE {
        return Ok(());
    }
    store::users::admin_update(
        db,
        user.id,
        store::users::AdminChange {
            role: Some(crate::policy::roles::ADMIN_ROLE.to_owned()),
            now: Some(ctx.now()),
            ..store::users::AdminChange::default()
        },
    )
    .await?;
    ctx.auditor
        .record_in(
            db,
            AuditEvent::new(AuditKind::UserRoleChanged)
                .user(user.id)
                .detail("role", crate::policy::roles::ADMIN_ROLE)
                .detail("via", "admin_emails"),
        )
        .await?;
    Ok(())
}

/// Builds the grant for a session: a fresh access token plus the given refresh token.
async fn grant(
    ctx: &Context,
    db: &impl ConnectionTrait,
    user: user::Model,
    has_password: bool,
    mut session: session::Model,
    refresh: &RefreshToken,
    now: OffsetDateTime,
) -> Result<Grant, Error> {
    // The role claim is read from the membership now, never carried over: a member removed
    // since the last token gets no organization in the next one.
    let mut org_role = None;
    if let Some(org_id) = session.active_org_id {
        match store::orgs::membership(db, org_id, user.id).await? {
            Some(membership) => org_role = Some(membership.role),
            None => {
                store::orgs::clear_active_org(db, org_id, Some(user.id)).await?;
                session.active_org_id = None;
            }
        }
    }
    let features = features::of_token(ctx, db, user.id, session.active_org_id).await?;
    let claims = access_claims(ctx, &user, &session, org_role, features, now);
    let expires_in = u64::try_from(claims.exp - claims.iat).unwrap_or(0);
    let access_token = ctx.key_ring.current().signing.sign(&claims)?;
    Ok(Grant {
        user,
        has_password,
        session,
        access_token,
        refresh_token: refresh.encode(),
        expires_in,
    })
}

fn access_claims(
    ctx: &Context,
    user: &user::Model,
    session: &session::Model,
    org_role: Option<String>,
    features: Vec<String>,
    now: OffsetDateTime,
) -> Claims {
    let iat = now.unix_timestamp();
    let ttl = i64::try_from(ctx.config.sessions.access_token_ttl.as_secs()).unwrap_or(300);
    // An access token never outlives its session. An impersonation has no refresh token:
    // its one token lives as long as the session (an hour at most).
    let exp = if session.impersonator_id.is_some() {
        session.expires_at.unix_timestamp()
    } else {
        (iat + ttl).min(session.expires_at.unix_timestamp())
    };
    // An impersonating admin never counts as a fresh sign-in of the user: every
    // fresh-session action (credentials, factors, keys) stays out of reach.
    let auth_time = if session.impersonator_id.is_some() {
        0
    } else {
        session
            .auth_time
            .unwrap_or(session.created_at)
            .unix_timestamp()
    };
    Claims {
        iss: ctx.origins.issuer.clone(),
        sub: user.id,
        sid: session.id,
        iat,
        nbf: iat,
        exp,
        auth_time,
        email: user.email.clone(),
        email_verified: user.email_verified_at.is_some(),
        amr: session.amr.split_whitespace().map(str::to_owned).collect(),
        acr: session.acr.clone(),
        org_id: session.active_org_id,
        org_role,
        act: session.impersonator_id.map(|sub| Actor { sub }),
        features,
        api_key: None,
    }
}

/// Exchanges a refresh token for a new grant (see the [module docs](self)).
#[tracing::instrument(skip_all, fields(user.id))]
pub(crate) async fn refresh(
    ctx: &Context,
    token: &str,
    client: &ClientInfo,
) -> Result<Grant, Error> {
    let presented = RefreshToken::parse(token).ok_or(Error::Unauthorized)?;
    let now = ctx.now();
    let presented_hash = presented.hash();
    let child = presented.child(ctx);
    let child_hash = child.hash();

    // At most two rounds: a lost rotation race is re-judged on the winner's row.
    for _ in 0..2 {
        // The session, its user and whether they have a password: one query.
        let (session, account) = store::sessions::find_with_account(&ctx.db, presented.session_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        if session.revoked_at.is_some()
            || session.expires_at <= now
            || session.idle_expires_at <= now
        {
            return Err(Error::Unauthorized);
        }
        let (user, has_password) = account.ok_or(Error::Unauthorized)?;
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        if user.disabled_at.is_some() {
            return Err(Error::UserDisabled);
        }
        if ctx.config.sign_in.require_email_verification && user.email_verified_at.is_none() {
            return Err(Error::EmailNotVerified);
        }

        if crypto::ct_eq(presented_hash.as_bytes(), session.refresh_hash.0.as_bytes()) {
            let idle_expires_at =
                add(now, ctx.config.sessions.idle_timeout).min(session.expires_at);
            let rotated = store::sessions::rotate(
                &ctx.db,
                session.id,
                store::sessions::Rotation {
                    expected_hash: presented_hash.clone(),
                    new_hash: child_hash.clone(),
                    generation: session.generation + 1,
                    now,
                    idle_expires_at,
                },
            )
            .await?;
            if !rotated {
                continue;
            }
            let session = session::Model {
                refresh_hash: Redacted(child_hash),
                previous_refresh_hash: Some(Redacted(presented_hash)),
                generation: session.generation + 1,
                rotated_at: Some(now),
                last_active_at: now,
                idle_expires_at,
                ..session
            };
            return grant(ctx, &ctx.db, user, has_password, session, &child, now).await;
        }

        let is_parent = session
            .previous_refresh_hash
            .as_ref()
            .is_some_and(|previous| {
                crypto::ct_eq(presented_hash.as_bytes(), previous.0.as_bytes())
            });
        let child_is_current =
            crypto::ct_eq(child_hash.as_bytes(), session.refresh_hash.0.as_bytes());
        if is_parent && child_is_current {
            if within_grace(ctx, &session, now) {
                // A racing tab: same session, same (already current) child token. Audited,
                // so a copy of the token ridden through the window leaves a trace.
                ctx.auditor
                    .record(
                        AuditEvent::new(AuditKind::RefreshGraceUse)
                            .user(user.id)
                            .session(session.id)
                            .client(client),
                    )
                    .await;
                return grant(ctx, &ctx.db, user, has_password, session, &child, now).await;
            }
            return Err(replayed(ctx, &session, client).await);
        }
        if is_ancestor(ctx, &child, &session) {
            return Err(replayed(ctx, &session, client).await);
        }
        // Not a token of this session at all (forged or garbled): refuse, revoke nothing.
        return Err(Error::Unauthorized);
    }
    Err(Error::Unauthorized)
}

/// Makes the caller's session fresh again after it proved a factor (`POST
/// /reauthenticate`): same session, new `auth_time`. `raised_by` is the second factor that
/// was proved (the session becomes `aal2` and its `amr` names it); `None` for a password,
/// which keeps the session's level.
///
/// Answers a new access token only, expiring no later than the one presented: proving a
/// factor with an access token in hand never buys a longer-lived credential. The refresh
/// token is left as it is; the session row carries the new `auth_time` and level, so the
/// next refresh carries them too.
pub(crate) async fn reauthenticated(
    ctx: &Context,
    claims: &Claims,
    raised_by: Option<Method>,
) -> Result<(AccessToken, user::Model, bool), Error> {
    let now = ctx.now();
    let session = store::sessions::find(&ctx.db, claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub && s.revoked_at.is_none())
        .ok_or(Error::Unauthorized)?;
    let user = store::users::find(&ctx.db, claims.sub)
        .await?
        .ok_or(Error::Unauthorized)?;
    if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    let (acr, amr) = match raised_by {
        Some(method) => {
            let mut amr: Vec<&str> = session.amr.split_whitespace().collect();
            for reference in method.amr {
                if !amr.contains(reference) {
                    amr.push(reference);
                }
            }
            (AAL2.to_owned(), amr.join(" "))
        }
        None => (session.acr.clone(), session.amr.clone()),
    };
    let change = store::sessions::Reauthentication {
        now,
        acr: acr.clone(),
        amr: amr.clone(),
    };
    if !store::sessions::reauthenticate(&ctx.db, session.id, user.id, change).await? {
        return Err(Error::Unauthorized);
    }
    let session = session::Model {
        last_active_at: now,
        auth_time: Some(now),
        acr,
        amr,
        ..session
    };
    let org_role = match session.active_org_id {
        Some(org_id) => store::orgs::membership(&ctx.db, org_id, user.id)
            .await?
            .map(|m| m.role),
        None => None,
    };
    let token = reissue(ctx, &user, session, org_role, now, claims.exp).await?;
    let has_password = store::users::password_hash(&ctx.db, user.id)
        .await?
        .is_some();
    Ok((token, user, has_password))
}

/// A new access token for `session`, expiring no later than `not_after` (the presented
/// token's `exp`).
async fn reissue(
    ctx: &Context,
    user: &user::Model,
    session: session::Model,
    org_role: Option<String>,
    now: OffsetDateTime,
    not_after: i64,
) -> Result<AccessToken, Error> {
    let features = features::of_token(ctx, &ctx.db, user.id, session.active_org_id).await?;
    let mut claims = access_claims(ctx, user, &session, org_role, features, now);
    claims.exp = claims.exp.min(not_after);
    let expires_in = u64::try_from(claims.exp - claims.iat).unwrap_or(0);
    let access_token = ctx.key_ring.current().signing.sign(&claims)?;
    Ok(AccessToken {
        session,
        access_token,
        expires_in,
    })
}

/// What only an interactive session may do: not an API key, not an impersonation.
pub(crate) fn require_interactive(claims: &Claims) -> Result<(), Error> {
    if claims.api_key.is_some() {
        return Err(Error::forbidden(
            "API keys cannot do this: it needs an interactive session",
        ));
    }
    if claims.act.is_some() {
        return Err(Error::forbidden("not while impersonating"));
    }
    Ok(())
}

/// The fresh-session rule: the session's sign-in (`auth_time`) is recent enough for a
/// sensitive change (403 `reauthentication_required` otherwise).
pub(crate) fn require_fresh(ctx: &Context, auth_time: i64) -> Result<(), Error> {
    let window = i64::try_from(ctx.config.sessions.fresh_window.as_secs()).unwrap_or(0);
    if ctx.now().unix_timestamp() - auth_time > window {
        return Err(Error::reauthentication_required());
    }
    Ok(())
}

/// The session a refresh token names, if it is shaped like one of ours.
pub(crate) fn session_id_of(token: &str) -> Option<Uuid> {
    RefreshToken::parse(token).map(|t| t.session_id)
}

/// The (user, session) a refresh token currently belongs to: its hash is the session's
/// current or previous one and the session is live. Rotates nothing.
pub(crate) async fn owner_of_refresh_token(
    ctx: &Context,
    token: &str,
) -> Result<Option<(Uuid, Uuid)>, Error> {
    let Some(presented) = RefreshToken::parse(token) else {
        return Ok(None);
    };
    let Some(session) = store::sessions::find(&ctx.db, presented.session_id).await? else {
        return Ok(None);
    };
    let hash = presented.hash();
    // The current token, or its parent while it is still tolerated (a racing tab).
    let matches = crypto::ct_eq(hash.as_bytes(), session.refresh_hash.0.as_bytes())
        || (session
            .previous_refresh_hash
            .as_ref()
            .is_some_and(|previous| crypto::ct_eq(hash.as_bytes(), previous.0.as_bytes()))
            && within_grace(ctx, &session, ctx.now()));
    Ok((matches && session.revoked_at.is_none()).then_some((session.user_id, session.id)))
}

/// Whether the session rotated recently enough for its previous token to be tolerated.
fn within_grace(ctx: &Context, session: &session::Model, now: OffsetDateTime) -> bool {
    let grace =
        time::Duration::try_from(ctx.config.sessions.refresh_grace).unwrap_or(time::Duration::ZERO);
    session.rotated_at.is_some_and(|at| now - at <= grace)
}

/// Whether `child` (the presented token's child) leads to the session's current token by
/// walking the chain forward.
fn is_ancestor(ctx: &Context, child: &RefreshToken, session: &session::Model) -> bool {
    let current = session.refresh_hash.0.as_bytes();
    let mut step = RefreshToken {
        session_id: child.session_id,
        secret: child.secret,
    };
    for _ in 0..session.generation.min(MAX_CHAIN_WALK) {
        if crypto::ct_eq(step.hash().as_bytes(), current) {
            return true;
        }
        step = step.child(ctx);
    }
    false
}

/// A dead refresh token came back: someone holds a copy. Revoke the whole session.
async fn replayed(ctx: &Context, session: &session::Model, client: &ClientInfo) -> Error {
    tracing::warn!(session_id = %session.id, "refresh token replayed; revoking the session");
    if let Err(err) = revoke(
        ctx,
        session.user_id,
        Some(&[session.id]),
        None,
        "refresh_token_reuse",
    )
    .await
    {
        return err;
    }
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::RefreshTokenReuse)
                .user(session.user_id)
                .session(session.id)
                .client(client),
        )
        .await;
    Error::Unauthorized
}

/// Revokes sessions of `user_id` (the given ones, or all; minus `except`) in the database
/// and, at once, in this instance's revocation view. Returns the ids revoked.
#[tracing::instrument(skip_all, fields(user.id = %user_id, reason))]
pub(crate) async fn revoke(
    ctx: &Context,
    user_id: Uuid,
    ids: Option<&[Uuid]>,
    except: Option<Uuid>,
    reason: &str,
) -> Result<Vec<Uuid>, Error> {
    let revoked = store::sessions::revoke(&ctx.db, user_id, ids, except, reason).await?;
    ctx.revocation.apply(&revoked, ctx.config.token_window());
    Ok(revoked.ids)
}

/// What switching the active organization and re-authenticating answer: a new access
/// token for the same session, and nothing longer-lived.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) session: session::Model,
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
}

/// Makes `org_id` (or none) the session's active organization and answers a new access
/// token naming it.
///
/// An access token alone never buys a longer-lived credential: the refresh token is left
/// as it is (refresh re-reads the active organization), and the new token expires when
/// the presented one does, so switching back and forth cannot keep a stolen access token
/// alive.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub))]
pub(crate) async fn switch_org(
    ctx: &Context,
    claims: &Claims,
    org_id: Option<Uuid>,
    client: &ClientInfo,
) -> Result<AccessToken, Error> {
    if claims.api_key.is_some() {
        return Err(Error::forbidden("API keys have no session to switch"));
    }
    if let Some(org_id) = org_id
        && store::orgs::membership(&ctx.db, org_id, claims.sub)
            .await?
            .is_none()
    {
        // Not a member: as if the organization did not exist.
        return Err(Error::NotFound);
    }
    if let Some(org_id) = org_id
        && !claims.is_aal2()
        && store::orgs::find_org(&ctx.db, org_id)
            .await?
            .is_some_and(|org| org.require_mfa)
    {
        return Err(Error::mfa_required());
    }
    let now = ctx.now();
    if !store::orgs::switch_session(&ctx.db, claims.sid, claims.sub, org_id, now).await? {
        return Err(Error::Unauthorized);
    }
    let session = store::sessions::find(&ctx.db, claims.sid)
        .await?
        .filter(|s| s.expires_at > now && s.idle_expires_at > now)
        .ok_or(Error::Unauthorized)?;
    let user = store::users::find(&ctx.db, claims.sub)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(Error::Unauthorized)?;
    let org_role = match org_id {
        Some(org_id) => store::orgs::membership(&ctx.db, org_id, user.id)
            .await?
            .map(|m| m.role),
        None => None,
    };
    let switched = reissue(ctx, &user, session, org_role, now, claims.exp).await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::OrgSwitched)
                .user(user.id)
                .session(switched.session.id)
                .client(client)
                .detail("org_id", org_id.map(|id| id.to_string())),
        )
        .await;
    Ok(switched)
}

/// The caller's session and account (`GET /sessions/current`), read now: 401 once the
/// session is revoked or the account gone.
pub(crate) async fn current(
    ctx: &Context,
    claims: &Claims,
) -> Result<(session::Model, crate::flows::profile::Account), Error> {
    // One query: the session, its user and whether the user has a password.
    let (session, account) = store::sessions::find_with_account(&ctx.db, claims.sid)
        .await?
        .filter(|(s, _)| s.revoked_at.is_none() && s.user_id == claims.sub)
        .ok_or(Error::Unauthorized)?;
    let (user, has_password) = account.ok_or(Error::Unauthorized)?;
    Ok((
        session,
        crate::flows::profile::Account { user, has_password },
    ))
}

/// Revokes one of the caller's own sessions (`DELETE /sessions/{id}`): 404 for an unknown
/// session, 403 for someone else's.
#[tracing::instrument(skip_all, fields(user.id = %user_id))]
pub(crate) async fn revoke_own(
    ctx: &Context,
    user_id: Uuid,
    session_id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    let session = store::sessions::find(&ctx.db, session_id)
        .await?
        .ok_or(Error::NotFound)?;
    if session.user_id != user_id {
        return Err(Error::forbidden("that session belongs to someone else"));
    }
    let revoked = revoke(ctx, user_id, Some(&[session_id]), None, "revoked_by_user").await?;
    if !revoked.is_empty() {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::SessionRevoked)
                    .user(user_id)
                    .session(session_id)
                    .client(client)
                    .detail("reason", "revoked_by_user"),
            )
            .await;
    }
    Ok(())
}

/// The user's live sessions, newest first.
pub(crate) async fn list(ctx: &Context, user_id: Uuid) -> Result<Vec<session::Model>, Error> {
    Ok(store::sessions::list_active(&ctx.db, user_id, ctx.now()).await?)
}

/// Session administration from Rust; see [`Portcullis::sessions`](crate::Portcullis::sessions).
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    ctx: &'a Context,
}

impl<'a> Sessions<'a> {
    pub(crate) fn new(ctx: &'a Context) -> Self {
        Self { ctx }
    }

    /// The user's live sessions, newest first.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<session::Model>, Error> {
        list(self.ctx, user_id).await
    }

    /// Revokes one session. Returns whether it was live.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn revoke(&self, session_id: Uuid) -> Result<bool, Error> {
        let Some(session) = store::sessions::find(&self.ctx.db, session_id).await? else {
            return Ok(false);
        };
        let revoked = revoke(
            self.ctx,
            session.user_id,
            Some(&[session_id]),
            None,
            "admin",
        )
        .await?;
        if !revoked.is_empty() {
            self.ctx
                .auditor
                .record(
                    AuditEvent::new(AuditKind::SessionRevoked)
                        .user(session.user_id)
                        .session(session_id)
                        .detail("reason", "admin"),
                )
                .await;
        }
        Ok(!revoked.is_empty())
    }

    /// Revokes every session of a user. Returns how many were live.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn revoke_all(&self, user_id: Uuid) -> Result<usize, Error> {
        let revoked = revoke(self.ctx, user_id, None, None, "admin").await?;
        if !revoked.is_empty() {
            self.ctx
                .auditor
                .record(
                    AuditEvent::new(AuditKind::SessionRevoked)
                        .user(user_id)
                        .detail("reason", "admin")
                        .detail("count", revoked.len()),
                )
                .await;
        }
        Ok(revoked.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_round_trip_and_reject_other_shapes() {
        let token = RefreshToken {
            session_id: Uuid::now_v7(),
            secret: crypto::random_bytes(),
        };
        let text = token.encode();
        assert_eq!(text.len(), 64);
        let parsed = RefreshToken::parse(&text).unwrap();
        assert_eq!(parsed.session_id, token.session_id);
        assert_eq!(parsed.secret, token.secret);
        for bad in [
            "",
            "short",
            &format!("{text}x"),
            &text[..63],
            &format!("{text}=="),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
        assert!(RefreshToken::parse(&"!".repeat(64)).is_none());
    }
}
