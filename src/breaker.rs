//! The database breaker: when the database keeps failing, our routes answer 503 at once
//! instead of queueing more requests behind a pool that cannot give them a connection.
//!
//! A request that fails because the database is unreachable (no connection could be made
//! or acquired) counts as an outage. [`OUTAGES`] of them within [`WINDOW`] open the
//! breaker: for [`COOL_DOWN`] every request to our routes answers 503 `unavailable` with
//! `Retry-After` and touches nothing. A background probe pings the database meanwhile and
//! closes the breaker the moment it answers; if the probe is not running, the breaker
//! closes by itself when the cool-down ends and the next outages open it again.
//!
//! The closed state costs one relaxed atomic load per request.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;

/// Outages within [`WINDOW`] that open the breaker.
pub(crate) const OUTAGES: usize = 3;
/// How far back outages count.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// How long the breaker stays open unless the probe sees the database first.
pub(crate) const COOL_DOWN: Duration = Duration::from_secs(5);

/// Marks a response that failed because the database was unreachable (set by
/// [`Error`](crate::Error)'s answer, read by the routes' fail-fast layer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DatabaseOutage;

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    /// Whether the breaker may be open (the fast path reads only this).
    open: AtomicBool,
    state: Mutex<State>,
    /// Rung when the breaker opens: the probe starts pinging.
    opened: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// When recent outages happened, oldest first, at most [`OUTAGES`].
    outages: VecDeque<Instant>,
    /// Until when the breaker is open.
    open_until: Option<Instant>,
}

impl Breaker {
    /// `Some(wait)` while the breaker is open: answer 503 and ask the client to come back
    /// after `wait`.
    pub(crate) fn open_for(&self) -> Option<Duration> {
        if !self.open.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.state();
        let now = Instant::now();
        match state.open_until {
            Some(until) if until > now => Some(until - now),
            _ => {
                // The cool-down ended without the probe: let requests through again.
                state.open_until = None;
                state.outages.clear();
                self.open.store(false, Ordering::Relaxed);
                None
            }
        }
    }

    /// Records a request that failed because the database was unreachable.
    pub(crate) fn outage(&self) {
        let now = Instant::now();
        let mut state = self.state();
        while state
            .outages
            .front()
            .is_some_and(|at| now.duration_since(*at) > WINDOW)
        {
            state.outages.pop_front();
        }
        state.outages.push_back(now);
        if state.outages.len() > OUTAGES {
            state.outages.pop_front();
        }
        if state.outages.len() >= OUTAGES && state.open_until.is_none() {
            state.open_until = Some(now + COOL_DOWN);
            self.open.store(true, Ordering::Relaxed);
            tracing::warn!(
                cool_down_secs = COOL_DOWN.as_secs(),
                "the database keeps failing: answering 503 at once until it is back"
            );
            self.opened.notify_one();
        }
    }

    /// The database answered: close the breaker and forget past outages.
    pub(crate) fn recovered(&self) {
        let mut state = self.state();
        if state.open_until.take().is_some() {
            tracing::info!("the database is back: serving requests again");
        }
        state.outages.clear();
        self.open.store(false, Ordering::Relaxed);
    }

    /// Resolves when the breaker opens (for the probe).
    pub(crate) async fn opened(&self) {
        self.opened.notified().await;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_outages_and_closes_when_the_database_answers() {
        let breaker = Breaker::default();
        assert!(breaker.open_for().is_none());
        for _ in 1..OUTAGES {
            breaker.outage();
            assert!(breaker.open_for().is_none(), "opened too early");
        }
        breaker.outage();
        let wait = breaker.open_for().expect("open after repeated outages");
        assert!(wait <= COOL_DOWN);
        breaker.recovered();
        assert!(breaker.open_for().is_none());
        // Outages before the recovery do not count towards the next opening.
        breaker.outage();
        assert!(breaker.open_for().is_none());
    }
}
