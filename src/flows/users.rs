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
    policy::roles::{ADMIN_ROLE, OWNER, USER_ROLE},
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
        let (keys, keys_at) = store::api_keys::revoke_all_of_user(&ctx.db, user_id).await?;
        ctx.revocation.apply(
            &store::sessions::Revoked {
                ids: keys,
                at: keys_at,
            },
            ctx.config.token_window(),
        );
        // An admin's impersonations end with their account.
        end_impersonations_by(ctx, user_id).await?;
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::UserDisabled)
                    .user(user_id)
                    .detail("sessions", revoked.len()),
            )
            .await;
        Ok(true)
    }

    /// Makes the user an admin (who may use the admin router) or a user again. Admin
    /// routes re-read the role on every request, so a demotion takes effect at once.
    /// Returns whether the user exists.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn set_role(&self, user_id: Uuid, role: UserRole) -> Result<bool, Error> {
        set_role(self.ctx, user_id, role).await
    }

    /// Deletes the account: every session and API key is cut off at once on this
    /// instance and within the revocation poll on the others; its credentials, passkeys,
    /// links, factors, keys and memberships go with it (an audit row stays).
    /// Organizations it was the only member of go too. Returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when the user is the last owner of an organization with other
    /// members; a database error.
    pub async fn delete(&self, user_id: Uuid) -> Result<bool, Error> {
        delete(self.ctx, user_id, None, &ClientInfo::default()).await
    }

    /// The user's private metadata (admins and host code only), `{}` when none.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown user; a database error.
    pub async fn private_metadata(&self, user_id: Uuid) -> Result<serde_json::Value, Error> {
        let user = store::users::find(&self.ctx.db, user_id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(private_metadata_of(&user))
    }

    /// Replaces the user's private metadata (a JSON object, at most 16 KiB): never shown
    /// by `/me`, never user-writable.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for anything but a small object; a database error.
    pub async fn set_private_metadata(
        &self,
        user_id: Uuid,
        value: serde_json::Value,
    ) -> Result<(), Error> {
        let text = profile::metadata(Some(value))?;
        store::users::admin_update(
            &self.ctx.db,
            user_id,
            store::users::AdminChange {
                private_metadata: Some(text),
                now: Some(self.ctx.now()),
                ..store::users::AdminChange::default()
            },
        )
        .await?;
        Ok(())
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
        private_metadata: None,
        role: USER_ROLE.into(),
        last_sign_in_at: None,
        disabled_at: None,
        tokens_valid_after: None,
        created_at: now,
        updated_at: now,
    }
}

/// A user's private metadata as JSON (`{}` when none).
pub(crate) fn private_metadata_of(user: &user::Model) -> serde_json::Value {
    user.private_metadata
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()))
}

/// A user's role in the deployment (not in an organization: that is a membership's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserRole {
    /// Everyone.
    User,
    /// May use the admin router (`/v1/admin`): find, inspect, change, disable, impersonate
    /// and delete users, read the audit trail.
    Admin,
}

impl UserRole {
    /// The name stored in the `role` column and shown by the admin routes.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => USER_ROLE,
            Self::Admin => ADMIN_ROLE,
        }
    }

    /// The role called `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            USER_ROLE => Some(Self::User),
            ADMIN_ROLE => Some(Self::Admin),
            _ => None,
        }
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
    // Per-seat subscriptions of their organizations follow the member count.
    #[cfg(feature = "billing")]
    store::billing::mark_seats_pending_of_member(db, user.id).await?;
    let memberships = store::orgs::delete_memberships_of(db, user.id).await?;
    let cutoff = store::users::cut_off_tokens(db, user.id).await?;
    let mut revoked = store::sessions::revoke(db, user.id, None, None, "address_claimed").await?;
    // Keys they made are theirs too.
    let (keys, _) = store::api_keys::revoke_all_of_user(db, user.id).await?;
    revoked.ids.extend(keys);
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

/// Deletes an account (an admin's, or host code's): every session and key is cut off at
/// once here and, through its tombstone, within the poll interval everywhere; the
/// account's rows go with it; an audit row stays. Organizations it was the only member
/// of go too; one it is the last owner of, with other members, stops it (409: hand the
/// organization over first). `false` when there was no such account.
pub(crate) async fn delete(
    ctx: &Context,
    id: Uuid,
    actor: Option<Uuid>,
    client: &ClientInfo,
) -> Result<bool, Error> {
    let txn = store::begin(&ctx.db).await?;
    if store::users::lock(&txn, id).await?.is_none() {
        return Ok(false);
    }
    let mut emptied = Vec::new();
    for (membership, org) in store::orgs::memberships_of(&txn, id).await? {
        let members = store::orgs::member_count(&txn, org.id).await?;
        if members <= 1 {
            emptied.push(org.id);
        } else if membership.role == OWNER
            && store::orgs::count_with_role(&txn, org.id, OWNER).await? <= 1
        {
            return Err(Error::Conflict(
                format!(
                    "this user is the last owner of {}, which has other members: make someone else an owner first",
                    org.name
                )
                .into(),
            ));
        }
    }
    for org_id in &emptied {
        store::orgs::clear_active_org(&txn, *org_id, None).await?;
        store::orgs::delete_org(&txn, *org_id).await?;
        store::api_keys::bury(&txn, *org_id, "organization").await?;
    }
    let mut revoked = store::sessions::revoke(&txn, id, None, None, "user_deleted").await?;
    // An admin's impersonations end with their account.
    revoked.ids.extend(
        store::sessions::revoke_impersonations_by(&txn, id)
            .await?
            .ids,
    );
    let buried_at = store::api_keys::bury(&txn, id, "user").await?;
    #[cfg(feature = "billing")]
    store::billing::mark_seats_pending_of_member(&txn, id).await?;
    store::users::delete(&txn, id).await?;
    txn.commit().await?;
    ctx.seats_changed.notify_one();
    ctx.revocation.apply(&revoked, ctx.config.token_window());
    ctx.revocation.set_cutoff(id, buried_at);
    for org_id in &emptied {
        ctx.revocation.set_cutoff(*org_id, buried_at);
    }
    let mut event = AuditEvent::new(AuditKind::UserDeleted)
        .user(id)
        .client(client)
        .detail("sessions_revoked", revoked.ids.len())
        .detail("organizations_deleted", emptied.len());
    if let Some(actor) = actor {
        event = event.actor(actor);
    }
    ctx.auditor.record(event).await;
    Ok(true)
}

/// Sets a user's role from Rust ([`Users::set_role`](crate::users::Users::set_role)).
pub(crate) async fn set_role(ctx: &Context, id: Uuid, role: UserRole) -> Result<bool, Error> {
    let Some(before) = store::users::find(&ctx.db, id).await? else {
        return Ok(false);
    };
    if before.role != role.as_str() {
        if role != UserRole::Admin {
            end_impersonations_by(ctx, id).await?;
        }
        store::users::admin_update(
            &ctx.db,
            id,
            store::users::AdminChange {
                role: Some(role.as_str().to_owned()),
                now: Some(ctx.now()),
                ..store::users::AdminChange::default()
            },
        )
        .await?;
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::UserRoleChanged)
                    .user(id)
                    .detail("role", role.as_str()),
            )
            .await;
    }
    Ok(true)
}

/// Ends every impersonation `admin_id` began (the admin was demoted or disabled).
async fn end_impersonations_by(ctx: &Context, admin_id: Uuid) -> Result<(), Error> {
    let revoked = store::sessions::revoke_impersonations_by(&ctx.db, admin_id).await?;
    ctx.revocation.apply(&revoked, ctx.config.token_window());
    Ok(())
}
