//! Rate limiting: a [`RateLimiter`] trait and the in-memory [`MemoryRateLimiter`].
//!
//! Limits are token buckets (GCRA): a key may spend `burst` attempts at once, then one
//! more every `period`. That is backoff, not lockout: an exhausted key only waits for its
//! next attempt, so an attacker cannot lock a real user out for long, and the limits on
//! the password path never touch password reset or passkeys. Every attempt is counted
//! before the expensive check, atomically, so parallel requests cannot slip past a limit.
//!
//! The memory limiter is per instance. Hosts running several instances can plug in a
//! shared store (Redis, the database) by implementing [`RateLimiter`].

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    hash::{BuildHasher as _, RandomState},
    pin::Pin,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// A boxed future, as returned by the object-safe traits of this crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A limit: `burst` attempts at once, then one every `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Attempts allowed back to back.
    pub burst: u32,
    /// Time for one attempt to come back.
    pub period: Duration,
}

impl Rule {
    /// `burst` attempts, then one every `period`.
    #[must_use]
    pub const fn new(burst: u32, period: Duration) -> Self {
        Self { burst, period }
    }
}

/// The limits portcullis applies, per endpoint and key kind.
pub(crate) mod rules {
    use std::time::Duration;

    use super::Rule;

    /// Password sign-ins from one IP (credential stuffing across accounts).
    pub(crate) const SIGN_IN_PER_IP: Rule = Rule::new(20, Duration::from_secs(3));
    /// Password sign-ins for one email address from one IP (guessing from one place).
    pub(crate) const SIGN_IN_PER_EMAIL_AND_IP: Rule = Rule::new(5, Duration::from_secs(60));
    /// Password sign-ins for one email address from anywhere (guessing spread over many
    /// IPs). Loose enough that keeping a real user throttled costs an attacker a steady
    /// six requests a minute, tight enough to hold guessing to a few hundred an hour.
    pub(crate) const SIGN_IN_PER_EMAIL: Rule = Rule::new(20, Duration::from_secs(10));
    /// Sign-ups from one IP.
    pub(crate) const SIGN_UP_PER_IP: Rule = Rule::new(10, Duration::from_secs(30));
    /// Refreshes from one IP (offices share an IP: generous).
    pub(crate) const REFRESH_PER_IP: Rule = Rule::new(120, Duration::from_millis(500));
    /// Emails (verification, reset) requested from one IP.
    pub(crate) const EMAIL_SEND_PER_IP: Rule = Rule::new(10, Duration::from_secs(60));
    /// Emails of one kind to one recipient: a few at once, then one every five minutes.
    pub(crate) const EMAIL_SEND_PER_RECIPIENT: Rule = Rule::new(3, Duration::from_secs(300));
    /// Sign-in links and codes to one recipient: one at a time, thirty seconds apart.
    pub(crate) const SEND_COOLDOWN_PER_RECIPIENT: Rule = Rule::new(1, Duration::from_secs(30));
    /// Sign-in links and codes to one recipient: five at once, then about five an hour.
    pub(crate) const SEND_HOURLY_PER_RECIPIENT: Rule = Rule::new(5, Duration::from_secs(720));
    /// Texts sent by this instance in all: SMS pumping costs real money.
    pub(crate) const SMS_SEND_GLOBAL: Rule = Rule::new(30, Duration::from_secs(4));
    /// Emails sent by this instance in all (a flood across many addresses).
    pub(crate) const EMAIL_SEND_GLOBAL: Rule = Rule::new(500, Duration::from_millis(100));
    /// One-time tokens presented from one IP (verification, reset).
    pub(crate) const REDEEM_PER_IP: Rule = Rule::new(30, Duration::from_secs(2));
    /// Password changes (current-password checks) by one signed-in user.
    pub(crate) const PASSWORD_CHANGE_PER_USER: Rule = Rule::new(5, Duration::from_secs(60));
    /// `POST /identify` from one IP.
    pub(crate) const IDENTIFY_PER_IP: Rule = Rule::new(30, Duration::from_secs(2));
    /// Passkey ceremonies begun from one IP (each stores a row for five minutes).
    #[cfg(feature = "passkeys")]
    pub(crate) const PASSKEY_BEGIN_PER_IP: Rule = Rule::new(30, Duration::from_secs(2));
    /// Passkey sign-ins begun on this instance in all (ceremony rows a flood from many
    /// addresses could pile up).
    #[cfg(feature = "passkeys")]
    pub(crate) const PASSKEY_BEGIN_GLOBAL: Rule = Rule::new(1000, Duration::from_millis(5));
    /// Passkey answers checked from one IP.
    #[cfg(feature = "passkeys")]
    pub(crate) const PASSKEY_COMPLETE_PER_IP: Rule = Rule::new(30, Duration::from_secs(2));
    /// Social sign-ins begun (and callbacks answered) from one IP.
    #[cfg(feature = "oauth")]
    pub(crate) const OAUTH_AUTHORIZE_PER_IP: Rule = Rule::new(30, Duration::from_secs(2));
    /// Social sign-ins begun on this instance in all (each stores a row for ten minutes).
    #[cfg(feature = "oauth")]
    pub(crate) const OAUTH_AUTHORIZE_GLOBAL: Rule = Rule::new(1000, Duration::from_millis(5));
    /// Passkey registrations begun by one user.
    #[cfg(feature = "passkeys")]
    pub(crate) const PASSKEY_REGISTER_PER_USER: Rule = Rule::new(10, Duration::from_secs(30));
}

/// An attempt was refused; the next one may succeed after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long to wait.
    pub retry_after: Duration,
}

/// Counts attempts per key and refuses those over a [`Rule`].
///
/// Implementations must count atomically: of `n` parallel calls for one key with a
/// `burst` of `b`, at most `b` may pass.
pub trait RateLimiter: Send + Sync + fmt::Debug + 'static {
    /// Counts one attempt for `key`; `Err` when it is over the rule.
    fn check<'a>(&'a self, key: &'a str, rule: Rule) -> BoxFuture<'a, Result<(), Throttled>>;
}

const SHARDS: usize = 16;
/// Sweep a shard of finished buckets once it holds this many keys.
const SWEEP_AT: usize = 4096;

/// The default [`RateLimiter`]: token buckets in this process's memory.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use portcullis::{MemoryRateLimiter, RateLimiter, Rule};
///
/// let limiter = MemoryRateLimiter::default();
/// let rule = Rule::new(2, Duration::from_secs(60));
/// assert!(limiter.check("ip:203.0.113.7", rule).await.is_ok());
/// assert!(limiter.check("ip:203.0.113.7", rule).await.is_ok());
/// assert!(limiter.check("ip:203.0.113.7", rule).await.is_err());
/// assert!(limiter.check("ip:198.51.100.1", rule).await.is_ok());
/// # });
/// # fn tokio_test_block_on(f: impl std::future::Future) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f);
/// # }
/// ```
pub struct MemoryRateLimiter {
    /// Per key: the theoretical arrival time of the next attempt (GCRA).
    shards: [Mutex<HashMap<String, Instant>>; SHARDS],
    hasher: RandomState,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            hasher: RandomState::new(),
        }
    }
}

impl fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRateLimiter").finish_non_exhaustive()
    }
}

impl MemoryRateLimiter {
    /// The check itself, synchronous.
    pub(crate) fn check_now(&self, key: &str, rule: Rule, now: Instant) -> Result<(), Throttled> {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut buckets = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let period = rule.period;
        let tolerance = period.saturating_mul(rule.burst.saturating_sub(1));
        let tat = buckets.get(key).copied().unwrap_or(now).max(now);
        let early_by = tat.saturating_duration_since(now);
        if early_by > tolerance {
            return Err(Throttled {
                retry_after: early_by - tolerance,
            });
        }
        if buckets.len() >= SWEEP_AT {
            // A bucket whose arrival time has passed is full again: forgetting it is free.
            buckets.retain(|_, tat| *tat > now);
        }
        buckets.insert(key.to_owned(), tat + period);
        Ok(())
    }
}

impl RateLimiter for MemoryRateLimiter {
    fn check<'a>(&'a self, key: &'a str, rule: Rule) -> BoxFuture<'a, Result<(), Throttled>> {
        let result = self.check_now(key, rule, Instant::now());
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_period() {
        let limiter = MemoryRateLimiter::default();
        let rule = Rule::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_now("k", rule, t0).is_ok());
        }
        let refused = limiter.check_now("k", rule, t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(10));
        // Backoff, not lockout: one attempt comes back after one period.
        let later = t0 + Duration::from_secs(10);
        assert!(limiter.check_now("k", rule, later).is_ok());
        assert!(limiter.check_now("k", rule, later).is_err());
    }

    #[test]
    fn refused_attempts_do_not_extend_the_wait() {
        let limiter = MemoryRateLimiter::default();
        let rule = Rule::new(1, Duration::from_secs(5));
        let t0 = Instant::now();
        assert!(limiter.check_now("k", rule, t0).is_ok());
        for _ in 0..100 {
            assert!(limiter.check_now("k", rule, t0).is_err());
        }
        assert!(
            limiter
                .check_now("k", rule, t0 + Duration::from_secs(5))
                .is_ok()
        );
    }

    #[test]
    fn keys_are_independent() {
        let limiter = MemoryRateLimiter::default();
        let rule = Rule::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.check_now("a", rule, t0).is_ok());
        assert!(limiter.check_now("b", rule, t0).is_ok());
        assert!(limiter.check_now("a", rule, t0).is_err());
    }

    #[test]
    fn parallel_attempts_never_exceed_the_burst() {
        let limiter = std::sync::Arc::new(MemoryRateLimiter::default());
        let rule = Rule::new(10, Duration::from_secs(3600));
        let passed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let limiter = limiter.clone();
                    scope.spawn(move || {
                        (0..50)
                            .filter(|_| limiter.check_now("k", rule, Instant::now()).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 10);
    }
}
