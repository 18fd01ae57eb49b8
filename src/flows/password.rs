//! Email + password: sign-up and sign-in.

use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    crypto::password::Verified,
    entity::user,
    flows::{
        email_address::normalize_email,
        mfa::{self, SignedIn},
        new_password::check_new_password,
        profile,
        sessions::{self, Grant},
        users,
    },
    rate_limit::Limit,
    store,
};

/// What `POST /sign-up/email-password` takes.
pub(crate) struct SignUp {
    pub(crate) email: String,
    pub(crate) password: String,
    pub(crate) name: Option<String>,
    pub(crate) metadata: Option<serde_json::Value>,
}

/// Creates an account with a password and signs it in (unless the host requires a
/// verified email first).
#[tracing::instrument(skip_all, fields(user.id))]
pub(crate) async fn sign_up(
    ctx: &Context,
    input: SignUp,
    client: &ClientInfo,
) -> Result<SignedUp, Error> {
    let email = normalize_email(&input.email)?;
    let name = profile::name(input.name)?;
    let metadata = profile::metadata(input.metadata)?;
    ctx.throttle
        .check(Limit::SignUpPerIp, &client.ip_key(), client)
        .await?;
    check_new_password(ctx, &input.password, Some(&email), name.as_deref()).await?;
    // The contract answers 409 for a taken address anyway; checking first saves a hash.
    if store::users::find_by_email(&ctx.db, &email)
        .await?
        .is_some()
    {
        return Err(Error::EmailTaken);
    }
    let hash = ctx.hasher.hash(&input.password).await?;
    let now = ctx.now();
    let row = user::Model {
        email: Some(email),
        name,
        metadata,
        ..users::blank_row(now)
    };
    let user = users::insert(ctx, row, Some(hash)).await?;
    tracing::Span::current().record("user.id", tracing::field::display(user.id));
    if ctx.config.sign_in.require_email_verification {
        // The account exists, but nobody signs in to it before the address is verified.
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::SignUp)
                    .user(user.id)
                    .client(client),
            )
            .await;
        return Ok(SignedUp::VerificationRequired(Box::new(user)));
    }
    let grant = sessions::start(ctx, &ctx.db, user, true, sessions::PASSWORD, client).await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::SignUp)
                .user(grant.user.id)
                .session(grant.session.id)
                .client(client),
        )
        .await;
    Ok(SignedUp::SignedIn(Box::new(grant)))
}

/// What a sign-up ends in.
pub(crate) enum SignedUp {
    /// The new account is signed in.
    SignedIn(Box<Grant>),
    /// The host requires a verified email before any sign-in: no session yet.
    VerificationRequired(Box<user::Model>),
}

/// Checks an email and password and signs the account in.
///
/// Every failure before the password is known to be right (unknown email, wrong
/// password, no password on the account) answers the same `invalid_credentials` after the
/// same work: one argon2id verification. Only a correct password reveals that the account
/// is disabled or unverified.
#[tracing::instrument(skip_all, fields(user.id))]
pub(crate) async fn sign_in(
    ctx: &Context,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<SignedIn, Error> {
    let email = normalize_email(email)?;
    if ctx.config.passwords.policy.too_long(password) {
        // No account has such a password; refuse before hashing anything.
        return Err(Error::InvalidCredentials);
    }
    ctx.throttle
        .check(Limit::SignInPerIp, &client.ip_key(), client)
        .await?;
    ctx.throttle
        .check(
            Limit::SignInPerEmailAndIp,
            &format!("{}:{email}", client.ip_key()),
            client,
        )
        .await?;
    ctx.throttle
        .check(Limit::SignInPerEmail, &email, client)
        .await?;

    let user = store::users::find_by_email(&ctx.db, &email).await?;
    // The same two queries whether or not the account exists.
    let stored =
        store::users::password_hash(&ctx.db, user.as_ref().map_or(Uuid::nil(), |u| u.id)).await?;
    let verified = ctx.hasher.verify(password, stored.as_deref()).await?;

    let (user, rehash) = match (user, verified) {
        (Some(user), Verified::Yes { rehash }) => (user, rehash),
        (user, _) => {
            let reason = match (&user, &stored) {
                (None, _) => "unknown_email",
                (Some(_), None) => "no_password",
                (Some(_), Some(_)) => "wrong_password",
            };
            let mut event = AuditEvent::new(AuditKind::SignInFailed)
                .client(client)
                .detail("reason", reason);
            if let Some(user) = &user {
                event = event.user(user.id);
            }
            ctx.auditor.record(event).await;
            return Err(Error::InvalidCredentials);
        }
    };

    tracing::Span::current().record("user.id", tracing::field::display(user.id));
    if user.disabled_at.is_some() {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::SignInFailed)
                    .user(user.id)
                    .client(client)
                    .detail("reason", "disabled"),
            )
            .await;
        return Err(Error::UserDisabled);
    }
    if ctx.config.sign_in.require_email_verification && user.email_verified_at.is_none() {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::SignInFailed)
                    .user(user.id)
                    .client(client)
                    .detail("reason", "email_not_verified"),
            )
            .await;
        return Err(Error::EmailNotVerified);
    }
    // The hash this sign-in is granted for (after any upgrade).
    let mut granted_for = stored;
    if rehash && let Some(old) = granted_for.take() {
        granted_for = Some(upgrade_hash(ctx, user.id, old, password.to_owned()).await);
    }
    let user_id = user.id;
    let signed_in = mfa::sign_in(ctx, &ctx.db, user, true, sessions::PASSWORD, client).await?;
    // A reset or change may have committed while this password was being checked: the
    // new session must not outlive the password it was granted for (and a challenge
    // issued meanwhile died with the reset).
    if store::users::password_hash(&ctx.db, user_id).await? != granted_for {
        if let SignedIn::Granted(grant) = &signed_in {
            sessions::revoke(
                ctx,
                user_id,
                Some(&[grant.session.id]),
                None,
                "password_changed",
            )
            .await?;
        }
        return Err(Error::InvalidCredentials);
    }
    if let SignedIn::Granted(grant) = &signed_in {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::SignIn)
                    .user(grant.user.id)
                    .session(grant.session.id)
                    .client(client),
            )
            .await;
    }
    signed_in.audit_challenge(ctx, client).await;
    Ok(signed_in)
}

/// Re-hashes a stale or imported hash with current argon2id and returns the hash now
/// stored. A failure only costs the upgrade, never the sign-in.
async fn upgrade_hash(ctx: &Context, user_id: Uuid, old: String, password: String) -> String {
    let result = async {
        let new = ctx.hasher.hash(&password).await?;
        let upgraded =
            store::users::upgrade_password_hash(&ctx.db, user_id, &old, new.clone()).await?;
        Ok::<_, Error>(upgraded.then_some(new))
    }
    .await;
    match result {
        Ok(Some(new)) => {
            ctx.auditor
                .record(AuditEvent::new(AuditKind::PasswordRehashed).user(user_id))
                .await;
            new
        }
        Ok(None) => old,
        Err(err) => {
            tracing::warn!(error = %err, %user_id, "upgrading a password hash failed");
            old
        }
    }
}
