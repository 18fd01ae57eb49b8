//! Account administration from Rust: create users, import users from another system.
//!
//! See [`crate::users`] for an example.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    crypto::password::HashFormat,
    entity::user,
    flows::{email_address::normalize_email, new_password::check_new_password, profile, sessions},
    store,
};

/// A user to create through [`Users::create`].
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct NewUser {
    /// The email address (normalised and validated).
    pub email: String,
    /// A password, checked against the policy; `None` for passwordless accounts.
    pub password: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Host metadata (a JSON object).
    pub metadata: Option<serde_json::Value>,
    /// Mark the email as verified (for addresses the host already confirmed).
    pub email_verified: bool,
}

impl NewUser {
    /// A user with this email address and nothing else.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            ..Self::default()
        }
    }

    /// Sets the password.
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Marks the email as verified.
    #[must_use]
    pub fn email_verified(mut self, verified: bool) -> Self {
        self.email_verified = verified;
        self
    }
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("name", &self.name)
            .field("email_verified", &self.email_verified)
            .finish_non_exhaustive()
    }
}

/// A user moved from another system through [`Users::import`].
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ImportedUser {
    /// The email address (normalised and validated).
    pub email: String,
    /// The existing password hash: argon2 (PHC), bcrypt (`$2a$`/`$2b$`/`$2y$`), scrypt
    /// (PHC `$scrypt$`) or PBKDF2 (PHC `$pbkdf2-sha256$`/`$pbkdf2-sha512$`). Upgraded to
    /// argon2id at the first successful sign-in.
    pub password_hash: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Host metadata (a JSON object).
    pub metadata: Option<serde_json::Value>,
    /// Whether the other system had verified the email.
    pub email_verified: bool,
    /// When the account was created over there.
    pub created_at: Option<OffsetDateTime>,
}

impl ImportedUser {
    /// A user with this email address and nothing else.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            ..Self::default()
        }
    }

    /// Sets the existing password hash.
    #[must_use]
    pub fn password_hash(mut self, hash: impl Into<String>) -> Self {
        self.password_hash = Some(hash.into());
        self
    }

    /// Marks the email as verified.
    #[must_use]
    pub fn email_verified(mut self, verified: bool) -> Self {
        self.email_verified = verified;
        self
    }
}

impl std::fmt::Debug for ImportedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedUser")
            .field("email", &self.email)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .field("name", &self.name)
            .field("email_verified", &self.email_verified)
            .finish_non_exhaustive()
    }
}

/// Account administration; see [`Portcullis::users`](crate::Portcullis::users).
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    ctx: &'a Context,
}

impl<'a> Users<'a> {
    pub(crate) fn new(ctx: &'a Context) -> Self {
        Self { ctx }
    }

    /// Creates a user, hashing the password if there is one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for a bad email or field, [`Error::WeakPassword`],
    /// [`Error::EmailTaken`], or a database error.
    pub async fn create(&self, new: NewUser) -> Result<user::Model, Error> {
        let email = normalize_email(&new.email)?;
        let name = profile::name(new.name)?;
        let hash = match &new.password {
            Some(password) => {
                check_new_password(self.ctx, password, Some(&email), name.as_deref()).await?;
                Some(self.ctx.hasher.hash(password).await?)
            }
            None => None,
        };
        let row = new_row(
            email,
            name,
            profile::metadata(new.metadata)?,
            new.email_verified,
            None,
            self.ctx.now(),
        );
        self.insert_audited(row, hash, "create").await
    }

    /// Imports a user with an existing password hash, kept as is until their first
    /// sign-in upgrades it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for a bad email, field or a hash in no supported format,
    /// [`Error::EmailTaken`], or a database error.
    pub async fn import(&self, imported: ImportedUser) -> Result<user::Model, Error> {
        let email = normalize_email(&imported.email)?;
        if let Some(hash) = &imported.password_hash
            && HashFormat::detect(hash).is_none()
        {
            return Err(Error::invalid_request(
                "password_hash: not an argon2, bcrypt, scrypt or PBKDF2 hash portcullis can verify",
            ));
        }
        let row = new_row(
            email,
            profile::name(imported.name)?,
            profile::metadata(imported.metadata)?,
            imported.email_verified,
            imported.created_at,
            self.ctx.now(),
        );
        self.insert_audited(row, imported.password_hash, "import")
            .await
    }

    /// The user with this id.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn find(&self, id: Uuid) -> Result<Option<user::Model>, Error> {
        Ok(store::users::find(&self.ctx.db, id).await?)
    }

    /// The user with this email address (normalised first).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for a malformed address, or a database error.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<user::Model>, Error> {
        let email = normalize_email(email)?;
        Ok(store::users::find_by_email(&self.ctx.db, &email).await?)
    }

    /// Disables a user: sign-in and refresh answer 403 `user_disabled`, and every session
    /// and access token of theirs stops working at once (on other instances within the
    /// revocation poll interval). Returns whether the user exists.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn disable(&self, user_id: Uuid) -> Result<bool, Error> {
        let ctx = self.ctx;
        let Some(at) = store::users::set_disabled(&ctx.db, user_id, true).await? else {
            return Ok(false);
        };
        ctx.revocation.set_cutoff(user_id, at);
        let revoked = sessions::revoke(ctx, user_id, None, None, "user_disabled").await?;
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::UserDisabled)
                    .user(user_id)
                    .detail("sessions", revoked.len()),
            )
            .await;
        Ok(true)
    }

    /// The user's second factors: read them, or reset them for someone who lost their
    /// authenticator (see [`UserMfa`](crate::users::UserMfa)).
    #[must_use]
    pub fn mfa(&self, user_id: Uuid) -> crate::flows::mfa::UserMfa<'a> {
        crate::flows::mfa::UserMfa::new(self.ctx, user_id)
    }

    /// Re-enables a disabled user. Their old sessions stay revoked. Returns whether the
    /// user exists.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn enable(&self, user_id: Uuid) -> Result<bool, Error> {
        let found = store::users::set_disabled(&self.ctx.db, user_id, false)
            .await?
            .is_some();
        if found {
            self.ctx
                .auditor
                .record(AuditEvent::new(AuditKind::UserEnabled).user(user_id))
                .await;
        }
        Ok(found)
    }

    async fn insert_audited(
        &self,
        row: user::Model,
        hash: Option<String>,
        how: &str,
    ) -> Result<user::Model, Error> {
        let user = insert(self.ctx, row, hash).await?;
        self.ctx
            .auditor
            .record(
                AuditEvent::new(AuditKind::UserCreated)
                    .user(user.id)
                    .detail("via", how),
            )
            .await;
        Ok(user)
    }
}

/// The user with this id.
pub(crate) async fn find(ctx: &Context, id: Uuid) -> Result<Option<user::Model>, Error> {
    Ok(store::users::find(&ctx.db, id).await?)
}

/// Inserts a new account (and its password hash). Of two inserts racing for one address,
/// the unique index decides: the loser gets [`Error::EmailTaken`].
pub(crate) async fn insert(
    ctx: &Context,
    row: user::Model,
    hash: Option<String>,
) -> Result<user::Model, Error> {
    store::users::insert(&ctx.db, row, hash)
        .await
        .map_err(|err| {
            if store::is_unique_violation(&err) {
                Error::EmailTaken
            } else {
                err.into()
            }
        })
}

fn new_row(
    email: String,
    name: Option<String>,
    metadata: String,
    email_verified: bool,
    created_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> user::Model {
    user::Model {
        email: Some(email),
        email_verified_at: email_verified.then_some(now),
        name,
        metadata,
        created_at: created_at.unwrap_or(now),
        ..blank_row(now)
    }
}

/// A new account with nothing on it yet: fill in what the flow knows with
/// `user::Model { email, ..blank_row(now) }`.
pub(crate) fn blank_row(now: OffsetDateTime) -> user::Model {
    user::Model {
        id: Uuid::now_v7(),
        email: None,
        email_verified_at: None,
        phone: None,
        phone_verified_at: None,
        name: None,
        image_url: None,
        metadata: "{}".into(),
        disabled_at: None,
        tokens_valid_after: None,
        created_at: now,
        updated_at: now,
    }
}

/// What taking an unverified account back removed from it.
#[derive(Debug)]
pub(crate) struct Claimed {
    password: bool,
    passkeys: u64,
    second_factor: bool,
    accounts: u64,
    memberships: u64,
    cutoff: OffsetDateTime,
    revoked: store::sessions::Revoked,
}

/// Proving an address that an account held *unverified* is taking the account over from
/// whoever created it: they may have been an attacker who registered someone else's
/// address with a password of their own (pre-account takeover). So the password, the
/// passkeys, the second factor, the linked provider accounts, the profile they wrote and the organizations
/// they joined go, every token is cut off and every session ends — in the caller's
/// transaction. After the commit, hand the answer to [`claimed`].
pub(crate) async fn claim_unverified(
    db: &impl sea_orm::ConnectionTrait,
    user: &user::Model,
    address_was_verified: bool,
) -> Result<Option<Claimed>, Error> {
    if address_was_verified {
        return Ok(None);
    }
    // The row lock orders this against a passkey registration completing at the same
    // moment (which takes the same lock, then checks its session is still alive).
    store::users::lock(db, user.id).await?;
    let password = store::users::delete_password(db, user.id).await?;
    let passkeys = store::passkeys::delete_all(db, user.id).await?;
    store::passkeys::delete_challenges_of(db, user.id).await?;
    // An authenticator app they enrolled would lock the address owner out.
    let second_factor = store::mfa::delete_all(db, user.id).await?;
    store::one_time::consume_all_for_user(db, user.id, &["mfa_challenge"], store::now()).await?;
    let accounts = store::oauth::delete_accounts_of(db, user.id).await?;
    // What they wrote and joined was theirs, not the address owner's.
    store::users::clear_profile(db, user.id).await?;
    let memberships = store::orgs::delete_memberships_of(db, user.id).await?;
    let cutoff = store::users::cut_off_tokens(db, user.id).await?;
    let revoked = store::sessions::revoke(db, user.id, None, None, "address_claimed").await?;
    Ok(Some(Claimed {
        password,
        passkeys,
        second_factor,
        accounts,
        memberships,
        cutoff,
        revoked,
    }))
}

/// After a claim committed: cut this instance's view off at once, and audit what the claim
/// took from whoever had held the address (`via`: how the address was proven).
pub(crate) async fn claimed(
    ctx: &Context,
    user_id: Uuid,
    claim: Option<Claimed>,
    via: &str,
    client: &ClientInfo,
) {
    let Some(claim) = claim else { return };
    ctx.revocation.set_cutoff(user_id, claim.cutoff);
    ctx.revocation
        .apply(&claim.revoked, ctx.config.token_window());
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::AddressClaimed)
                .user(user_id)
                .client(client)
                .detail("via", via)
                .detail("password_removed", claim.password)
                .detail("passkeys_removed", claim.passkeys)
                .detail("second_factor_removed", claim.second_factor)
                .detail("accounts_removed", claim.accounts)
                .detail("memberships_removed", claim.memberships)
                .detail("sessions_revoked", claim.revoked.ids.len()),
        )
        .await;
}
