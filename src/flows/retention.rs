//! Retention: what portcullis deletes on a schedule, so that nothing a stranger can create
//! (codes and links to invented addresses, ceremonies, authorizations, failed sign-ins in
//! the audit trail) grows without bound.
//!
//! Every [`retention_sweep_interval`](crate::Config::retention_sweep_interval) (an hour by
//! default) each instance deletes:
//!
//! - one-time secrets (links, codes, invitations' tokens) a day after they expired;
//! - passkey ceremonies and social sign-ins in flight once they expired;
//! - counts of wrong codes once their day is over;
//! - authenticator-app enrolments never confirmed, once they can no longer be;
//! - API keys 30 days after they were revoked or expired;
//! - tombstones of deleted users and organizations once no token they concern is alive;
//! - emails and texts a week after they were delivered, dropped or given up on;
//! - sessions [`ended_session_retention`](crate::Config::ended_session_retention) after
//!   they ended (revoked, or past their lifetime);
//! - audit events older than [`audit_retention`](crate::Config::audit_retention), unless
//!   the host keeps them forever.
//!
//! Hosts that prefer their own scheduler turn the interval to zero and call
//! [`Portcullis::sweep`](crate::Portcullis::sweep).

use crate::{Error, context::Context, store};

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Swept {
    /// Expired one-time secrets.
    pub one_time_secrets: u64,
    /// Expired passkey ceremonies.
    pub passkey_ceremonies: u64,
    /// Expired social sign-ins in flight.
    pub oauth_states: u64,
    /// Sessions that ended long enough ago.
    pub sessions: u64,
    /// Counts of wrong codes whose day is over.
    pub code_failures: u64,
    /// Audit events past their retention.
    pub audit_events: u64,
    /// Authenticator-app enrolments never confirmed.
    pub mfa_enrolments: u64,
    /// API keys revoked or expired over 30 days ago.
    pub api_keys: u64,
    /// Tombstones of deleted users and organizations no live token can concern.
    pub tombstones: u64,
    /// Outbox messages finished (sent, dropped, given up on) over a week ago.
    pub outbox_messages: u64,
}

/// One-time secrets stay a day past their expiry: the hourly code budget and "this link
/// was already used" still read them.
const SECRET_GRACE: time::Duration = time::Duration::DAY;

/// How long a finished outbox message is kept (for operators asking "was it sent?").
const OUTBOX_RETENTION: time::Duration = time::Duration::days(7);

/// Deletes what the retention rules let go of, as of `now`.
#[tracing::instrument(skip_all)]
pub(crate) async fn sweep(ctx: &Context) -> Result<Swept, Error> {
    let now = ctx.now();
    let db = &ctx.db;
    // Revocations are stamped by the database's clock: judge their age by it too.
    let db_now = store::db_now(db).await?;
    let ago = |duration: std::time::Duration| {
        db_now - time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
    };
    let mut swept = Swept {
        one_time_secrets: store::one_time::delete_expired(db, now - SECRET_GRACE).await?,
        code_failures: store::one_time::delete_stale_code_failures(db, now - time::Duration::DAY)
            .await?,
        passkey_ceremonies: store::passkeys::sweep_challenges(db, now).await?,
        oauth_states: store::oauth::sweep_states(db, now).await?,
        sessions: store::sessions::delete_ended(db, ago(ctx.config.retention.ended_sessions))
            .await?,
        audit_events: 0,
        mfa_enrolments: store::mfa::sweep_enrolments(db, now - crate::flows::mfa::ENROLMENT_TTL)
            .await?,
        api_keys: store::api_keys::delete_dead(db, ago(crate::flows::api_keys::DEAD_KEY_RETENTION))
            .await?,
        // Kept for twice the token window: every instance has polled it by then.
        tombstones: store::api_keys::sweep_tombstones(db, ago(ctx.config.token_window() * 2))
            .await?,
        outbox_messages: store::outbox::sweep(db, now - OUTBOX_RETENTION).await?,
    };
    if let Some(keep) = ctx.config.retention.audit_events {
        swept.audit_events = store::audit::delete_before(db, ago(keep)).await?;
    }
    tracing::debug!(?swept, "retention sweep done");
    Ok(swept)
}
