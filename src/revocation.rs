//! The revocation view: which access tokens are dead although their signature and
//! lifetime are fine.
//!
//! Access tokens (and API keys) are checked without a database round-trip, so revocation
//! has to reach them another way. Each instance keeps, in memory, the sessions and API keys
//! revoked recently and the per-subject cut-offs (`tokens_valid_after`, moved by password
//! resets and disabling; the tombstones of deleted users and organizations). It
//! applies its own revocations at once and polls the database on a short interval for
//! everyone else's. The poll is also pushed ([`push`]): an instance that revoked something
//! announces it on Redis pub/sub or PostgreSQL's `NOTIFY`, and every instance listening
//! polls at once (the interval stays as the safety net, covering a message missed while a
//! listener reconnected). An entry is forgotten once every token it could concern has
//! expired.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
    time::Duration,
};

use sea_orm::{DatabaseConnection, DbErr};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{crypto::jwt::Claims, store};

#[derive(Default)]
struct State {
    /// Revoked session → Unix second after which no token of it can be valid anyway.
    revoked: HashMap<Uuid, i64>,
    /// User (or deleted organization) → Unix microsecond before which their tokens and
    /// keys are refused.
    cutoffs: HashMap<Uuid, i64>,
    /// When the last successful poll started.
    last_poll: Option<OffsetDateTime>,
}

#[cfg(any(feature = "postgres", feature = "redis"))]
pub(crate) mod push;

/// See the [module docs](self).
#[derive(Default)]
pub(crate) struct RevocationView {
    state: RwLock<State>,
    /// Rung by this instance's own revocations (to announce them to the others).
    revoked_here: tokio::sync::Notify,
    /// Rung when another instance announced a revocation: poll now.
    poll_now: tokio::sync::Notify,
}

impl RevocationView {
    /// Whether the token belongs to a revoked session or predates its user's cut-off.
    ///
    /// Access tokens carry whole seconds (`iat`), and one issued in the second of a cut-off
    /// was issued after it (sign-ins issue no earlier than the cut-off); an API key carries
    /// its exact creation, compared to the microsecond.
    pub(crate) fn is_revoked(&self, claims: &Claims) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.revoked.contains_key(&claims.sid)
            || state
                .cutoffs
                .get(&claims.sub)
                .is_some_and(|cutoff| match &claims.api_key {
                    Some(key) => micros(key.created_at) < *cutoff,
                    None => claims.iat < cutoff.div_euclid(1_000_000),
                })
    }

    /// Applies this instance's own revocations at once.
    pub(crate) fn revoke_sessions(&self, ids: &[Uuid], forget_after: i64) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            state.revoked.insert(*id, forget_after);
        }
        drop(state);
        self.revoked_here.notify_one();
    }

    /// Applies revocations this instance just committed, at once; they are forgotten when
    /// no token they concern can still be valid (`token_window` after they happened).
    pub(crate) fn apply(&self, revoked: &store::sessions::Revoked, token_window: Duration) {
        let window = i64::try_from(token_window.as_secs()).unwrap_or(i64::MAX);
        self.revoke_sessions(
            &revoked.ids,
            revoked.at.unix_timestamp().saturating_add(window),
        );
    }

    /// Applies a user's new token cut-off at once.
    pub(crate) fn set_cutoff(&self, user_id: Uuid, at: OffsetDateTime) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let at = micros(at);
        let entry = state.cutoffs.entry(user_id).or_insert(at);
        *entry = (*entry).max(at);
        drop(state);
        self.revoked_here.notify_one();
    }

    /// Resolves when this instance revoked something (since the last call).
    #[cfg(any(feature = "postgres", feature = "redis"))]
    pub(crate) async fn revoked_here(&self) {
        self.revoked_here.notified().await;
    }

    /// Asks the poller to poll now (another instance revoked something).
    #[cfg(any(feature = "postgres", feature = "redis"))]
    pub(crate) fn poll_soon(&self) {
        self.poll_now.notify_one();
    }

    /// Resolves when a poll was asked for.
    pub(crate) async fn poll_asked(&self) {
        self.poll_now.notified().await;
    }

    /// Pulls what other instances revoked since the last poll.
    ///
    /// `token_window` is the longest an access token can be accepted (lifetime plus
    /// leeway); `overlap` re-reads a margin before the last poll, covering clock skew
    /// between instances and transactions that committed late.
    pub(crate) async fn poll(
        &self,
        db: &DatabaseConnection,
        token_window: Duration,
        overlap: Duration,
    ) -> Result<(), DbErr> {
        // The database's clock, like the revocations' own stamps: instances' clocks may
        // disagree, and a revocation stamped by a slow clock must still fall inside the
        // window read.
        let started = store::db_now(db).await?;
        let last = self
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .last_poll;
        let since = match last {
            Some(last) => last - overlap,
            None => started - token_window - overlap,
        };
        // API keys stand where sessions do (their id is the `sid`); deleted users and
        // organizations left tombstones, which cut all their tokens and keys off.
        let mut revoked = store::sessions::revoked_since(db, since).await?;
        revoked.extend(store::api_keys::revoked_since(db, since).await?);
        let mut cutoffs = store::users::cutoffs_since(db, since).await?;
        cutoffs.extend(store::api_keys::buried_since(db, since).await?);

        let window = i64::try_from(token_window.as_secs()).unwrap_or(i64::MAX);
        let now = started.unix_timestamp();
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for (id, at) in revoked {
            state
                .revoked
                .insert(id, at.unix_timestamp().saturating_add(window));
        }
        for (user, at) in cutoffs {
            let at = micros(at);
            let entry = state.cutoffs.entry(user).or_insert(at);
            *entry = (*entry).max(at);
        }
        // Forget what no live token can concern any more.
        state.revoked.retain(|_, forget_after| *forget_after >= now);
        state
            .cutoffs
            .retain(|_, cutoff| cutoff.div_euclid(1_000_000).saturating_add(window) >= now);
        state.last_poll = Some(started);
        Ok(())
    }
}

/// Unix microseconds.
fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: Uuid, sid: Uuid, iat: i64) -> Claims {
        Claims {
            iss: "i".into(),
            sub,
            sid,
            iat,
            nbf: iat,
            exp: iat + 300,
            auth_time: iat,
            email: None,
            email_verified: false,
            amr: vec![],
            acr: "aal1".into(),
            act: None,
            features: Vec::new(),
            api_key: None,
            org_id: None,
            org_role: None,
        }
    }

    #[test]
    fn revoked_sessions_and_cutoffs_apply_at_once() {
        let view = RevocationView::default();
        let (user, sid) = (Uuid::now_v7(), Uuid::now_v7());
        let now = OffsetDateTime::now_utc();
        let token = claims(user, sid, now.unix_timestamp() - 10);
        assert!(!view.is_revoked(&token));
        view.revoke_sessions(&[sid], now.unix_timestamp() + 300);
        assert!(view.is_revoked(&token));

        let other = claims(user, Uuid::now_v7(), now.unix_timestamp() - 10);
        assert!(!view.is_revoked(&other));
        view.set_cutoff(user, now);
        assert!(view.is_revoked(&other));
        let newer = claims(user, Uuid::now_v7(), now.unix_timestamp());
        assert!(!view.is_revoked(&newer));
    }
}
