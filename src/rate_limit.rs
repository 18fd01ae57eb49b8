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
    hash::{BuildHasher as _, RandomState},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::{
    Error,
    audit::AuditEvent,
    audit::{AuditKind, Auditor},
    client::ClientInfo,
};

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

/// Every limit portcullis applies, by name. Each has a default [`Rule`]; a host may
/// change any of them with
/// [`PortcullisBuilder::limit`](crate::PortcullisBuilder::limit).
///
/// A limit counts attempts per *subject*: an IP (IPv6 by /64), an email address, a user,
/// or nothing at all for the global limits, which count every attempt on the instance (or,
/// with a shared [`RateLimiter`], on every instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Password sign-ins from one IP (credential stuffing across accounts).
    SignInPerIp,
    /// Password sign-ins for one email address from one IP (guessing from one place).
    SignInPerEmailAndIp,
    /// Password sign-ins for one email address from anywhere (guessing spread over many
    /// IPs). Loose enough that keeping a real user throttled costs an attacker a steady
    /// six requests a minute, tight enough to hold guessing to a few hundred an hour.
    SignInPerEmail,
    /// Sign-ups from one IP.
    SignUpPerIp,
    /// Refreshes from one IP (offices share an IP: generous).
    RefreshPerIp,
    /// `POST /identify` from one IP.
    IdentifyPerIp,
    /// One-time tokens and codes presented from one IP (verification, reset, links, codes,
    /// invitations).
    RedeemPerIp,
    /// Current-password checks by one signed-in user.
    PasswordChangePerUser,
    /// Current-password checks from one IP.
    PasswordChangePerIp,
    /// Verification emails requested from one IP.
    VerificationSendPerIp,
    /// Verification emails to one recipient.
    VerificationSendPerRecipient,
    /// Password-reset emails requested from one IP.
    ResetSendPerIp,
    /// Password-reset emails to one recipient.
    ResetSendPerRecipient,
    /// Invitations sent from one IP.
    InvitationSendPerIp,
    /// Invitations to one address, from any organization.
    InvitationSendPerRecipient,
    /// Invitations sent by one member.
    InvitationSendPerSender,
    /// Magic links requested from one IP.
    MagicLinkSendPerIp,
    /// Magic links to one address: one at a time, thirty seconds apart.
    MagicLinkSendCooldown,
    /// Magic links to one address: five at once, then about five an hour.
    MagicLinkSendHourly,
    /// Email codes requested from one IP.
    EmailCodeSendPerIp,
    /// Email codes to one address: one at a time, thirty seconds apart.
    EmailCodeSendCooldown,
    /// Email codes to one address: five at once, then about five an hour.
    EmailCodeSendHourly,
    /// Text codes requested from one IP.
    SmsCodeSendPerIp,
    /// Text codes to one number: one at a time, thirty seconds apart.
    SmsCodeSendCooldown,
    /// Text codes to one number: five at once, then about five an hour.
    SmsCodeSendHourly,
    /// Emails sent in all (a flood across many addresses).
    EmailSendGlobal,
    /// Texts sent in all: SMS pumping costs real money.
    SmsSendGlobal,
    /// Six-digit codes guessed in all, across every address and number: guessing spread
    /// over many accounts stays slow.
    CodeGuessGlobal,
    /// Passkey ceremonies begun from one IP (each stores a row for five minutes).
    PasskeyBeginPerIp,
    /// Passkey sign-ins begun in all.
    PasskeyBeginGlobal,
    /// Passkey answers checked from one IP.
    PasskeyCompletePerIp,
    /// Passkey registrations begun by one user.
    PasskeyRegisterPerUser,
    /// Social sign-ins begun from one IP.
    OAuthAuthorizePerIp,
    /// Social sign-ins begun in all (each stores a row for ten minutes).
    OAuthAuthorizeGlobal,
    /// Social sign-in callbacks answered for one IP.
    OAuthCallbackPerIp,
    /// Second-factor codes (TOTP, recovery codes, passkeys) checked for one user: with
    /// three valid TOTP codes in a million at any moment, guessing stays hopeless.
    MfaVerifyPerUser,
    /// Second-factor codes checked from one IP.
    MfaVerifyPerIp,
    /// TOTP enrolments begun and confirmed by one user.
    MfaEnrolPerUser,
    /// Re-authentications (`POST /reauthenticate`) by one user, like sign-ins.
    ReauthenticatePerUser,
    /// Re-authentications from one IP.
    ReauthenticatePerIp,
    /// Requests authenticated by one API key: protects the host from a runaway script.
    ApiKeyRequests,
    /// API keys created by one user.
    ApiKeyCreatePerUser,
}

impl Limit {
    /// Every limit, for documentation and configuration checks.
    pub const ALL: [Self; 42] = [
        Self::SignInPerIp,
        Self::SignInPerEmailAndIp,
        Self::SignInPerEmail,
        Self::SignUpPerIp,
        Self::RefreshPerIp,
        Self::IdentifyPerIp,
        Self::RedeemPerIp,
        Self::PasswordChangePerUser,
        Self::PasswordChangePerIp,
        Self::VerificationSendPerIp,
        Self::VerificationSendPerRecipient,
        Self::ResetSendPerIp,
        Self::ResetSendPerRecipient,
        Self::InvitationSendPerIp,
        Self::InvitationSendPerRecipient,
        Self::InvitationSendPerSender,
        Self::MagicLinkSendPerIp,
        Self::MagicLinkSendCooldown,
        Self::MagicLinkSendHourly,
        Self::EmailCodeSendPerIp,
        Self::EmailCodeSendCooldown,
        Self::EmailCodeSendHourly,
        Self::SmsCodeSendPerIp,
        Self::SmsCodeSendCooldown,
        Self::SmsCodeSendHourly,
        Self::EmailSendGlobal,
        Self::SmsSendGlobal,
        Self::CodeGuessGlobal,
        Self::PasskeyBeginPerIp,
        Self::PasskeyBeginGlobal,
        Self::PasskeyCompletePerIp,
        Self::PasskeyRegisterPerUser,
        Self::OAuthAuthorizePerIp,
        Self::OAuthAuthorizeGlobal,
        Self::OAuthCallbackPerIp,
        Self::MfaVerifyPerUser,
        Self::MfaVerifyPerIp,
        Self::MfaEnrolPerUser,
        Self::ReauthenticatePerUser,
        Self::ReauthenticatePerIp,
        Self::ApiKeyRequests,
        Self::ApiKeyCreatePerUser,
    ];

    /// The limit's `snake_case` name: the first part of its keys, and what the audit
    /// trail records when it refuses.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::SignInPerIp => "sign_in_per_ip",
            Self::SignInPerEmailAndIp => "sign_in_per_email_and_ip",
            Self::SignInPerEmail => "sign_in_per_email",
            Self::SignUpPerIp => "sign_up_per_ip",
            Self::RefreshPerIp => "refresh_per_ip",
            Self::IdentifyPerIp => "identify_per_ip",
            Self::RedeemPerIp => "redeem_per_ip",
            Self::PasswordChangePerUser => "password_change_per_user",
            Self::PasswordChangePerIp => "password_change_per_ip",
            Self::VerificationSendPerIp => "verification_send_per_ip",
            Self::VerificationSendPerRecipient => "verification_send_per_recipient",
            Self::ResetSendPerIp => "reset_send_per_ip",
            Self::ResetSendPerRecipient => "reset_send_per_recipient",
            Self::InvitationSendPerIp => "invitation_send_per_ip",
            Self::InvitationSendPerRecipient => "invitation_send_per_recipient",
            Self::InvitationSendPerSender => "invitation_send_per_sender",
            Self::MagicLinkSendPerIp => "magic_link_send_per_ip",
            Self::MagicLinkSendCooldown => "magic_link_send_cooldown",
            Self::MagicLinkSendHourly => "magic_link_send_hourly",
            Self::EmailCodeSendPerIp => "email_code_send_per_ip",
            Self::EmailCodeSendCooldown => "email_code_send_cooldown",
            Self::EmailCodeSendHourly => "email_code_send_hourly",
            Self::SmsCodeSendPerIp => "sms_code_send_per_ip",
            Self::SmsCodeSendCooldown => "sms_code_send_cooldown",
            Self::SmsCodeSendHourly => "sms_code_send_hourly",
            Self::EmailSendGlobal => "email_send_global",
            Self::SmsSendGlobal => "sms_send_global",
            Self::CodeGuessGlobal => "code_guess_global",
            Self::PasskeyBeginPerIp => "passkey_begin_per_ip",
            Self::PasskeyBeginGlobal => "passkey_begin_global",
            Self::PasskeyCompletePerIp => "passkey_complete_per_ip",
            Self::PasskeyRegisterPerUser => "passkey_register_per_user",
            Self::OAuthAuthorizePerIp => "oauth_authorize_per_ip",
            Self::OAuthAuthorizeGlobal => "oauth_authorize_global",
            Self::OAuthCallbackPerIp => "oauth_callback_per_ip",
            Self::MfaVerifyPerUser => "mfa_verify_per_user",
            Self::MfaVerifyPerIp => "mfa_verify_per_ip",
            Self::MfaEnrolPerUser => "mfa_enrol_per_user",
            Self::ReauthenticatePerUser => "reauthenticate_per_user",
            Self::ReauthenticatePerIp => "reauthenticate_per_ip",
            Self::ApiKeyRequests => "api_key_requests",
            Self::ApiKeyCreatePerUser => "api_key_create_per_user",
        }
    }

    /// The rule this limit applies unless the host changed it.
    #[must_use]
    pub fn default_rule(self) -> Rule {
        let secs = Duration::from_secs;
        let millis = Duration::from_millis;
        match self {
            Self::SignInPerIp
            | Self::PasswordChangePerIp
            | Self::MfaVerifyPerIp
            | Self::ReauthenticatePerIp => Rule::new(20, secs(3)),
            Self::SignInPerEmailAndIp
            | Self::PasswordChangePerUser
            | Self::MfaVerifyPerUser
            | Self::ReauthenticatePerUser => Rule::new(5, secs(60)),
            Self::SignInPerEmail => Rule::new(20, secs(10)),
            Self::SignUpPerIp => Rule::new(10, secs(30)),
            Self::RefreshPerIp => Rule::new(120, millis(500)),
            Self::IdentifyPerIp
            | Self::RedeemPerIp
            | Self::PasskeyBeginPerIp
            | Self::PasskeyCompletePerIp
            | Self::OAuthAuthorizePerIp
            | Self::OAuthCallbackPerIp => Rule::new(30, secs(2)),
            Self::VerificationSendPerIp
            | Self::ResetSendPerIp
            | Self::InvitationSendPerIp
            | Self::InvitationSendPerSender
            | Self::MagicLinkSendPerIp
            | Self::EmailCodeSendPerIp
            | Self::SmsCodeSendPerIp => Rule::new(10, secs(60)),
            Self::VerificationSendPerRecipient
            | Self::ResetSendPerRecipient
            | Self::InvitationSendPerRecipient => Rule::new(3, secs(300)),
            Self::MagicLinkSendCooldown
            | Self::EmailCodeSendCooldown
            | Self::SmsCodeSendCooldown => Rule::new(1, secs(30)),
            Self::MagicLinkSendHourly | Self::EmailCodeSendHourly | Self::SmsCodeSendHourly => {
                Rule::new(5, secs(720))
            }
            Self::EmailSendGlobal => Rule::new(500, millis(100)),
            Self::SmsSendGlobal => Rule::new(30, secs(4)),
            Self::CodeGuessGlobal => Rule::new(100, millis(100)),
            Self::PasskeyBeginGlobal | Self::OAuthAuthorizeGlobal => Rule::new(1000, millis(5)),
            Self::PasskeyRegisterPerUser | Self::MfaEnrolPerUser | Self::ApiKeyCreatePerUser => {
                Rule::new(10, secs(30))
            }
            // 600 at once, then 100 a second.
            Self::ApiKeyRequests => Rule::new(600, millis(10)),
        }
    }

    /// The key this limit counts `subject` under (`""` for the global limits).
    pub(crate) fn key(self, subject: &str) -> String {
        if subject.is_empty() {
            self.name().to_owned()
        } else {
            format!("{}:{subject}", self.name())
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An attempt was refused; the next one may succeed after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long to wait.
    pub retry_after: Duration,
}

/// A limiter's store does not answer and the limiter fails closed: the request answers
/// 503 `unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterDown;

/// Counts attempts per key and refuses those over a [`Rule`].
///
/// Implementations must count atomically: of `n` parallel calls for one key with a
/// `burst` of `b`, at most `b` may pass.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug + 'static {
    /// Counts one attempt for `key`; `Err` when it is over the rule.
    async fn check(&self, key: &str, rule: Rule) -> Result<(), Throttled>;

    /// What portcullis calls: [`check`](Self::check), or `Err(LimiterDown)` when the
    /// limiter's store is unreachable and it fails closed (the request then answers 503).
    /// The default never fails.
    async fn check_or_fail(
        &self,
        key: &str,
        rule: Rule,
    ) -> Result<Result<(), Throttled>, LimiterDown> {
        Ok(self.check(key, rule).await)
    }
}

#[cfg(feature = "redis")]
mod redis_limiter;
#[cfg(feature = "redis")]
pub use redis_limiter::{RedisConnectError, RedisRateLimiter, WhenRedisIsDown};

const SHARDS: usize = 16;
/// How many keys the default limiter remembers before it starts forgetting the ones
/// closest to being full again.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// How often a shard drops the buckets that have refilled (checked on use: no timer task).
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The default [`RateLimiter`]: token buckets in this process's memory, bounded.
///
/// It remembers at most [`DEFAULT_CAPACITY`] keys (or the capacity given to
/// [`with_capacity`](Self::with_capacity)), however many an attacker invents: each shard
/// drops its refilled buckets every 30 seconds, and a shard that is still full forgets the
/// eighth of its buckets nearest to refilled, which are the ones that restrict least. A
/// bucket that is far from full, such as a guessed-at account's, is the last to go.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use portcullis::rate_limit::{MemoryRateLimiter, RateLimiter, Rule};
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
    shards: [Mutex<Shard>; SHARDS],
    hasher: RandomState,
    per_shard: usize,
}

/// Per key: the theoretical arrival time of the next attempt (GCRA).
struct Shard {
    buckets: HashMap<String, Instant>,
    swept_at: Instant,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRateLimiter")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl MemoryRateLimiter {
    /// A limiter remembering at most about `keys` keys (at least 16 per shard).
    #[must_use]
    pub fn with_capacity(keys: usize) -> Self {
        let now = Instant::now();
        Self {
            shards: std::array::from_fn(|_| {
                Mutex::new(Shard {
                    buckets: HashMap::new(),
                    swept_at: now,
                })
            }),
            hasher: RandomState::new(),
            per_shard: (keys / SHARDS).max(16),
        }
    }

    /// How many keys it remembers now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .buckets
                    .len()
            })
            .sum()
    }

    /// Whether it remembers no key at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The check itself, synchronous.
    pub(crate) fn check_now(&self, key: &str, rule: Rule, now: Instant) -> Result<(), Throttled> {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let period = rule.period;
        let tolerance = period.saturating_mul(rule.burst.saturating_sub(1));
        let known = shard.buckets.get(key).copied();
        let tat = known.unwrap_or(now).max(now);
        let early_by = tat.saturating_duration_since(now);
        if early_by > tolerance {
            return Err(Throttled {
                retry_after: early_by - tolerance,
            });
        }
        if now.saturating_duration_since(shard.swept_at) >= SWEEP_EVERY {
            // A bucket whose arrival time has passed is full again: forgetting it is free.
            shard.buckets.retain(|_, tat| *tat > now);
            shard.swept_at = now;
        }
        if known.is_none() && shard.buckets.len() >= self.per_shard {
            shard.make_room(self.per_shard, now);
        }
        shard.buckets.insert(key.to_owned(), tat + period);
        Ok(())
    }
}

impl Shard {
    /// Frees at least an eighth of the shard: refilled buckets first, then those nearest to
    /// refilled (they hold back the fewest attempts). Each pass is linear, and a pass frees
    /// room for an eighth of the capacity, so the cost per new key stays constant.
    fn make_room(&mut self, capacity: usize, now: Instant) {
        self.buckets.retain(|_, tat| *tat > now);
        self.swept_at = now;
        let target = capacity - capacity / 8;
        if self.buckets.len() < target {
            return;
        }
        let mut arrivals: Vec<Instant> = self.buckets.values().copied().collect();
        let cut = arrivals.len() - target;
        let (_, threshold, _) = arrivals.select_nth_unstable(cut);
        let threshold = *threshold;
        self.buckets.retain(|_, tat| *tat > threshold);
    }
}

#[async_trait::async_trait]

impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &str, rule: Rule) -> Result<(), Throttled> {
        self.check_now(key, rule, Instant::now())
    }
}

/// The limits as one instance applies them: the host's [`RateLimiter`], the rules (the
/// defaults and the host's changes), and the audit of refusals.
pub(crate) struct Throttle {
    limiter: Arc<dyn RateLimiter>,
    enabled: bool,
    rules: HashMap<Limit, Rule>,
    /// Keys refused recently, so a flood writes one audit row per key a minute.
    audited: quick_cache::sync::Cache<String, Instant>,
    auditor: Auditor,
}

impl Throttle {
    pub(crate) fn new(
        limiter: Arc<dyn RateLimiter>,
        enabled: bool,
        rules: HashMap<Limit, Rule>,
        auditor: Auditor,
    ) -> Self {
        Self {
            limiter,
            enabled,
            rules,
            audited: quick_cache::sync::Cache::new(10_000),
            auditor,
        }
    }

    /// Counts one attempt against `limit` for `subject` (an IP key, an address, a user
    /// id; `""` for the global limits), unless rate limiting is off. A refusal is audited
    /// once a minute per key, naming the limit but never the subject (it may be an
    /// address).
    pub(crate) async fn check(
        &self,
        limit: Limit,
        subject: &str,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        let rule = self
            .rules
            .get(&limit)
            .copied()
            .unwrap_or_else(|| limit.default_rule());
        let key = limit.key(subject);
        let Err(throttled) =
            self.limiter
                .check_or_fail(&key, rule)
                .await
                .map_err(|LimiterDown| {
                    Error::Unavailable("the rate limits cannot be checked".into())
                })?
        else {
            return Ok(());
        };
        let recently = self
            .audited
            .get(&key)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(60));
        if !recently {
            self.audited.insert(key, Instant::now());
            self.auditor
                .record(
                    AuditEvent::new(AuditKind::Throttled)
                        .client(client)
                        .detail("limit", limit.name()),
                )
                .await;
        }
        let secs = throttled.retry_after.as_secs_f64().ceil();
        Err(Error::RateLimited {
            retry_after_secs: (secs as u64).max(1),
        })
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
    fn a_flood_of_keys_stays_within_capacity_and_keeps_the_tight_buckets() {
        let limiter = MemoryRateLimiter::with_capacity(1024);
        let t0 = Instant::now();
        let strict = Rule::new(1, Duration::from_secs(3600));
        // The account under attack: its one attempt is spent.
        assert!(limiter.check_now("victim", strict, t0).is_ok());
        // A hundred thousand attacker-chosen keys, each nearly refilled.
        let loose = Rule::new(1, Duration::from_secs(1));
        for i in 0..100_000u32 {
            let _ = limiter.check_now(&format!("k{i}"), loose, t0);
            assert!(limiter.len() <= 1024, "grew to {}", limiter.len());
        }
        // Forgetting chose the buckets nearest to refilled, never the victim's.
        assert!(limiter.check_now("victim", strict, t0).is_err());
    }

    #[test]
    fn refilled_buckets_are_swept_on_use() {
        let limiter = MemoryRateLimiter::with_capacity(1 << 20);
        let t0 = Instant::now();
        let rule = Rule::new(1, Duration::from_secs(1));
        for i in 0..1000u32 {
            limiter.check_now(&format!("k{i}"), rule, t0).unwrap();
        }
        assert_eq!(limiter.len(), 1000);
        limiter
            .check_now("late", rule, t0 + SWEEP_EVERY + Duration::from_secs(2))
            .unwrap();
        assert!(limiter.len() < 1000, "{}", limiter.len());
    }

    #[test]
    fn every_limit_has_a_distinct_name() {
        let names: std::collections::HashSet<_> = Limit::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(names.len(), Limit::ALL.len());
        assert_eq!(Limit::SignInPerIp.key("1.2.3.4"), "sign_in_per_ip:1.2.3.4");
        assert_eq!(Limit::EmailSendGlobal.key(""), "email_send_global");
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
