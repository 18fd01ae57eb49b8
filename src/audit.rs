//! The security audit trail: every security-relevant event is written to
//! `portcullis_audit_events` and handed to the host's [`AuditHook`], if any.
//!
//! ```
//! use portcullis::audit::{AuditEvent, AuditHook};
//!
//! #[derive(Debug)]
//! struct LogToSiem;
//!
//! impl AuditHook for LogToSiem {
//!     fn record(&self, event: &AuditEvent) {
//!         println!("{} user={:?} ip={:?}", event.kind.as_str(), event.user_id, event.ip);
//!     }
//! }
//! ```

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// An account was created by sign-up.
    SignUp,
    /// Someone signed in.
    SignIn,
    /// A sign-in attempt failed (wrong password or unknown email; `detail.reason` says
    /// which, the client never learns).
    SignInFailed,
    /// A request was refused by a rate limit.
    Throttled,
    /// A refresh token's parent was presented within the grace window (a racing tab, or a
    /// stolen copy); the holder got the current token.
    RefreshGraceUse,
    /// A refresh token was replayed outside the grace window; the session was revoked.
    RefreshTokenReuse,
    /// A session was revoked (`detail.reason`).
    SessionRevoked,
    /// A user signed out.
    SignOut,
    /// A user signed out of every session.
    SignOutAll,
    /// An account was created through the Rust API (`Users::create` / `Users::import`).
    UserCreated,
    /// An administrator disabled an account; its sessions were revoked.
    UserDisabled,
    /// An administrator re-enabled an account.
    UserEnabled,
    /// A stale or imported password hash was upgraded to current argon2id.
    PasswordRehashed,
    /// A verification link was sent.
    EmailVerificationSent,
    /// An email address was verified.
    EmailVerified,
    /// A password-reset link was sent.
    PasswordResetRequested,
    /// A password was reset through an emailed link; every session was revoked.
    PasswordReset,
    /// A signed-in user changed their password; their other sessions were revoked.
    PasswordChanged,
    /// An email could not be delivered.
    EmailDeliveryFailed,
    /// A text message could not be delivered.
    SmsDeliveryFailed,
    /// An email or text was not sent because the link or code it carries expired first.
    MessageExpired,
    /// A magic link or code was sent.
    PasswordlessSent,
    /// An organization was created.
    OrgCreated,
    /// An organization was deleted.
    OrgDeleted,
    /// A member's role changed.
    RoleChanged,
    /// A member was removed (or left).
    MemberRemoved,
    /// An invitation was sent.
    InvitationSent,
    /// An invitation was accepted.
    InvitationAccepted,
    /// The signing key was rotated.
    SigningKeyRotated,
    /// A passkey was registered.
    PasskeyAdded,
    /// A passkey was removed.
    PasskeyRemoved,
    /// A provider account was linked to a user.
    AccountLinked,
    /// A provider account was unlinked.
    AccountUnlinked,
    /// A passkey answered with a signature counter at or below the stored one: the
    /// authenticator may have been cloned. The sign-in was refused.
    PasskeyCounterRegression,
    /// Someone proved an address that an unverified account held (a reset, a link, a code,
    /// an invitation, a provider vouching): the account was taken back from whoever had
    /// registered it. `detail` says how (`via`) and what was removed.
    AddressClaimed,
    /// A session switched its active organization (`detail.org_id`, null for none).
    OrgSwitched,
    /// A pending invitation was revoked.
    InvitationRevoked,
    /// So many wrong codes were entered for an address today that code sign-in to it is
    /// paused; the owner was emailed.
    CodeGuessingCapped,
    /// A TOTP enrolment began (not yet a factor).
    MfaEnrolmentStarted,
    /// A second factor was turned on (a TOTP enrolment confirmed); other sessions were
    /// revoked.
    MfaEnabled,
    /// The second factor was turned off by its owner.
    MfaDisabled,
    /// An operator reset a user's second factors from Rust (`Users::mfa(..).reset()`).
    MfaReset,
    /// A first factor was right on an account with a second factor: an `mfa_token` was
    /// issued instead of a session (`detail.method`).
    MfaChallenged,
    /// A wrong second-factor code (`detail.factor`, `detail.failures` in a row).
    MfaFailed,
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRegenerated,
    /// A recovery code was used (`detail.left`); the owner was emailed.
    RecoveryCodeUsed,
    /// A session proved itself again (`detail.method`; `detail.acr` after).
    Reauthenticated,
    /// A re-authentication failed (`detail.method`).
    ReauthenticationFailed,
    /// An organization's second-factor requirement changed (`detail.require_mfa`).
    OrgMfaRequirementChanged,
    /// An API key was created (`detail.key_id`, `detail.org_id`).
    ApiKeyCreated,
    /// An API key was revoked (`detail.key_id`).
    ApiKeyRevoked,
    /// An admin created an account (`actor_id`).
    AdminUserCreated,
    /// An admin changed an account (`detail.fields`; `actor_id`).
    AdminUserUpdated,
    /// An account was deleted (every session revoked; `actor_id` when an admin did it).
    UserDeleted,
    /// A user's role changed (`detail.role`; `actor_id`).
    UserRoleChanged,
    /// An admin revoked every session of a user (`actor_id`).
    AdminSessionsRevoked,
    /// An admin began impersonating a user (`detail.reason`): recorded on both users.
    Impersonated,
    /// An admin read a user's details (private metadata included).
    AdminUserViewed,
    /// An admin revoked every API key of a user.
    AdminApiKeysRevoked,
    /// Someone joined a waitlist (`detail.feature`, `detail.subject`).
    WaitlistJoined,
    /// Someone left a waitlist (`detail.feature`).
    WaitlistLeft,
    /// A waitlist entry was admitted (`detail.feature`); the person who joined was emailed.
    WaitlistAdmitted,
}

impl AuditKind {
    /// The `snake_case` name stored in the `kind` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "sign_up",
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::Throttled => "throttled",
            Self::RefreshGraceUse => "refresh_grace_use",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::SessionRevoked => "session_revoked",
            Self::SignOut => "sign_out",
            Self::SignOutAll => "sign_out_all",
            Self::UserCreated => "user_created",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::PasswordRehashed => "password_rehashed",
            Self::EmailVerificationSent => "email_verification_sent",
            Self::EmailVerified => "email_verified",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailDeliveryFailed => "email_delivery_failed",
            Self::SmsDeliveryFailed => "sms_delivery_failed",
            Self::MessageExpired => "message_expired",
            Self::PasswordlessSent => "passwordless_sent",
            Self::OrgCreated => "org_created",
            Self::OrgDeleted => "org_deleted",
            Self::RoleChanged => "role_changed",
            Self::MemberRemoved => "member_removed",
            Self::InvitationSent => "invitation_sent",
            Self::InvitationAccepted => "invitation_accepted",
            Self::SigningKeyRotated => "signing_key_rotated",
            Self::PasskeyAdded => "passkey_added",
            Self::AccountLinked => "account_linked",
            Self::AccountUnlinked => "account_unlinked",
            Self::PasskeyRemoved => "passkey_removed",
            Self::PasskeyCounterRegression => "passkey_counter_regression",
            Self::AddressClaimed => "address_claimed",
            Self::OrgSwitched => "org_switched",
            Self::InvitationRevoked => "invitation_revoked",
            Self::CodeGuessingCapped => "code_guessing_capped",
            Self::MfaEnrolmentStarted => "mfa_enrolment_started",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaReset => "mfa_reset",
            Self::MfaChallenged => "mfa_challenged",
            Self::MfaFailed => "mfa_failed",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::Reauthenticated => "reauthenticated",
            Self::ReauthenticationFailed => "reauthentication_failed",
            Self::OrgMfaRequirementChanged => "org_mfa_requirement_changed",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::AdminUserCreated => "admin_user_created",
            Self::AdminUserUpdated => "admin_user_updated",
            Self::UserDeleted => "user_deleted",
            Self::UserRoleChanged => "user_role_changed",
            Self::AdminSessionsRevoked => "admin_sessions_revoked",
            Self::Impersonated => "impersonated",
            Self::AdminUserViewed => "admin_user_viewed",
            Self::AdminApiKeysRevoked => "admin_api_keys_revoked",
            Self::WaitlistJoined => "waitlist_joined",
            Self::WaitlistLeft => "waitlist_left",
            Self::WaitlistAdmitted => "waitlist_admitted",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One security-relevant event. Never carries a secret: no password, token, code or
/// cookie ever goes into `detail`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// The event's id (UUIDv7).
    pub id: Uuid,
    /// When it happened.
    pub occurred_at: OffsetDateTime,
    /// What happened.
    pub kind: AuditKind,
    /// The account concerned, when known.
    pub user_id: Option<Uuid>,
    /// The admin who acted, when an admin did.
    pub actor_id: Option<Uuid>,
    /// The session concerned, when there is one.
    pub session_id: Option<Uuid>,
    /// The client IP, when known.
    pub ip: Option<String>,
    /// The client's user agent, when known.
    pub user_agent: Option<String>,
    /// Event-specific details (a JSON object).
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub(crate) fn new(kind: AuditKind) -> Self {
        Self {
            id: Uuid::now_v7(),
            occurred_at: crate::store::now(),
            kind,
            user_id: None,
            actor_id: None,
            session_id: None,
            ip: None,
            user_agent: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub(crate) fn user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    pub(crate) fn actor(mut self, admin_id: Uuid) -> Self {
        self.actor_id = Some(admin_id);
        self
    }

    pub(crate) fn session(mut self, session_id: Uuid) -> Self {
        self.session_id = Some(session_id);
        self
    }

    pub(crate) fn client(mut self, client: &crate::client::ClientInfo) -> Self {
        self.ip = client.ip.map(|ip| ip.to_string());
        self.user_agent.clone_from(&client.user_agent);
        self
    }

    pub(crate) fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.detail {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

tokio::task_local! {
    /// Who is really acting in the request being served, when it is not simply the user:
    /// set by the layer for impersonations and API keys, read by every audit record.
    static ACTING: Acting;
}

/// Who is really acting in a request: the impersonating admin, the API key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Acting {
    pub(crate) impersonator: Option<Uuid>,
    pub(crate) api_key: Option<Uuid>,
}

impl Acting {
    /// What a request's claims say of who acts; `None` for a plain session.
    pub(crate) fn of(claims: &crate::crypto::jwt::Claims) -> Option<Self> {
        let acting = Self {
            impersonator: claims.act.as_ref().map(|act| act.sub),
            api_key: claims.api_key.as_ref().map(|key| key.id),
        };
        (acting != Self::default()).then_some(acting)
    }

    /// Runs `future` (the request's handling) with every audit event it records naming
    /// who really acted.
    pub(crate) fn scope<F: std::future::Future>(
        self,
        future: F,
    ) -> impl std::future::Future<Output = F::Output> {
        ACTING.scope(self, future)
    }
}

/// Fills in who really acted, when the request says so (an impersonation's admin as
/// `actor_id`, an API key's id in `detail.api_key_id`).
fn attribute(mut event: AuditEvent) -> AuditEvent {
    if let Ok(acting) = ACTING.try_with(|acting| *acting) {
        if event.actor_id.is_none() {
            event.actor_id = acting.impersonator;
        }
        if let Some(key) = acting.api_key {
            event = event.detail("api_key_id", key.to_string());
        }
    }
    event
}

/// Receives every audit event as it is recorded (after it is written to the audit table).
///
/// Called on the request path: keep it fast, or hand the event to a channel.
pub trait AuditHook: Send + Sync + fmt::Debug + 'static {
    /// Records one event.
    fn record(&self, event: &AuditEvent);
}

/// Writes audit events to `portcullis_audit_events` and hands them to the host's hook.
/// Cheap to clone (a pool handle and an `Arc`), so background tasks carry their own.
#[derive(Clone)]
pub(crate) struct Auditor {
    pub(crate) db: sea_orm::DatabaseConnection,
    pub(crate) hook: Option<std::sync::Arc<dyn AuditHook>>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("hook", &self.hook)
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// Records one event through `db`, the transaction of what it reports (so it commits
    /// with it); the hook hears of it at once.
    pub(crate) async fn record_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        event: AuditEvent,
    ) -> Result<(), sea_orm::DbErr> {
        let event = attribute(event);
        crate::store::audit::insert(db, row_of(&event)).await?;
        if let Some(hook) = &self.hook {
            hook.record(&event);
        }
        Ok(())
    }

    /// Records one event. Never fails the caller: a failed write is logged.
    pub(crate) async fn record(&self, event: AuditEvent) {
        let event = attribute(event);
        if let Err(err) = crate::store::audit::insert(&self.db, row_of(&event)).await {
            tracing::error!(error = %err, kind = %event.kind, "writing an audit event failed");
        }
        if let Some(hook) = &self.hook {
            hook.record(&event);
        }
    }
}

fn row_of(event: &AuditEvent) -> crate::entity::audit_event::Model {
    crate::entity::audit_event::Model {
        id: event.id,
        occurred_at: event.occurred_at,
        kind: event.kind.as_str().to_owned(),
        user_id: event.user_id,
        actor_id: event.actor_id,
        session_id: event.session_id,
        ip: event.ip.clone(),
        user_agent: event.user_agent.clone(),
        detail: event.detail.to_string(),
    }
}
