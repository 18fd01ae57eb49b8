//! [`RedisRateLimiter`]: the same limits, shared by every instance through Redis.

use std::{fmt, time::Duration};

use redis::{Script, aio::ConnectionManager};

use super::{LimiterDown, MemoryRateLimiter, RateLimiter, Rule, Throttled};

/// The GCRA of [`MemoryRateLimiter`], run atomically in Redis: one round trip per check.
///
/// `KEYS[1]` holds the theoretical arrival time (TAT) of the next attempt in microseconds
/// of Redis' own clock (`TIME`, so instances need not agree on the time);
/// `ARGV[1]` is the period and `ARGV[2]` the tolerance (`period × (burst − 1)`), both in
/// microseconds. Answers 0 when the attempt counts, else the microseconds to wait. The key
/// expires when its bucket is full again.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local early = tat - now
if early > tolerance then return early - tolerance end
local next = tat + period
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000))
return 0
";

/// What [`RedisRateLimiter`] does while Redis does not answer (within its timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenRedisIsDown {
    /// Count in this process's memory meanwhile (each instance then allows its own
    /// burst), with a warning in the log. The default: sign-in keeps working.
    #[default]
    FallBack,
    /// Refuse every limited request with 503 `unavailable` until Redis answers again.
    FailClosed,
}

/// Rate limits shared by every instance through Redis (cargo feature `redis`): the same
/// GCRA as [`MemoryRateLimiter`], one atomic Lua script per check, keys prefixed and
/// hashed (an email address never reaches Redis) and expiring as soon as their bucket is
/// full again. The connection reconnects by itself; every call is bounded by a timeout
/// (default 250 ms), and while Redis does not answer the limiter falls back to in-process
/// limits or fails closed, as [`WhenRedisIsDown`] says: never a 500, never a hang.
///
/// ```no_run
/// # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
/// use portcullis::{Portcullis, rate_limit::RedisRateLimiter};
///
/// let limiter = RedisRateLimiter::connect("redis://127.0.0.1:6379").await?;
/// let auth = Portcullis::builder(db).rate_limiter(limiter).build().await?;
/// # Ok(()) }
/// ```
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    script: Script,
    prefix: String,
    timeout: Duration,
    when_down: WhenRedisIsDown,
    fallback: MemoryRateLimiter,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("when_down", &self.when_down)
            .finish_non_exhaustive()
    }
}

/// Redis could not be reached when connecting.
#[derive(Debug, thiserror::Error)]
#[error("connecting to Redis failed: {0}")]
pub struct RedisConnectError(#[source] redis::RedisError);

impl RedisRateLimiter {
    /// Connects to Redis at `url` (`redis://host:port[/db]`, `rediss://` for TLS) with the
    /// defaults: keys prefixed `portcullis:rl:`, a 250 ms timeout per check, falling back to
    /// in-process limits while Redis is down.
    ///
    /// # Errors
    ///
    /// When the URL is not a Redis URL or Redis does not answer now.
    pub async fn connect(url: &str) -> Result<Self, RedisConnectError> {
        let client = redis::Client::open(url).map_err(RedisConnectError)?;
        let connection = ConnectionManager::new(client)
            .await
            .map_err(RedisConnectError)?;
        Ok(Self {
            connection,
            script: Script::new(GCRA),
            prefix: "portcullis:rl:".into(),
            timeout: Duration::from_millis(250),
            when_down: WhenRedisIsDown::default(),
            fallback: MemoryRateLimiter::default(),
        })
    }

    /// The prefix of every key (to share one Redis between applications).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one check may wait for Redis.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What to do while Redis does not answer.
    #[must_use]
    pub fn when_down(mut self, when_down: WhenRedisIsDown) -> Self {
        self.when_down = when_down;
        self
    }

    /// The Redis key for a limiter key: the prefix and the key's SHA-256 (keys name
    /// addresses and IPs, which have no business in Redis).
    fn redis_key(&self, key: &str) -> String {
        format!(
            "{}{}",
            self.prefix,
            crate::crypto::sha256_hex(key.as_bytes())
        )
    }

    /// One check in Redis: `Ok(0)` counted, `Ok(us)` wait that long.
    async fn check_in_redis(&self, key: &str, rule: Rule) -> Result<u64, String> {
        let period = u64::try_from(rule.period.as_micros()).unwrap_or(u64::MAX / 4);
        let tolerance = period.saturating_mul(u64::from(rule.burst.saturating_sub(1)));
        let mut connection = self.connection.clone();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.redis_key(key))
            .arg(period)
            .arg(tolerance);
        match tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<u64>(&mut connection),
        )
        .await
        {
            Ok(Ok(wait)) => Ok(wait),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, rule: Rule) -> Result<(), Throttled> {
        match self.check_or_fail(key, rule).await {
            Ok(answer) => answer,
            // `check` alone cannot say "unavailable": refuse, as failing closed means.
            Err(LimiterDown) => Err(Throttled {
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    async fn check_or_fail(
        &self,
        key: &str,
        rule: Rule,
    ) -> Result<Result<(), Throttled>, LimiterDown> {
        match self.check_in_redis(key, rule).await {
            Ok(0) => Ok(Ok(())),
            Ok(wait) => Ok(Err(Throttled {
                retry_after: Duration::from_micros(wait),
            })),
            Err(error) => match self.when_down {
                WhenRedisIsDown::FallBack => {
                    tracing::warn!(%error, "Redis did not answer: counting this attempt in memory");
                    Ok(self.fallback.check(key, rule).await)
                }
                WhenRedisIsDown::FailClosed => {
                    tracing::warn!(%error, "Redis did not answer: refusing (fail closed)");
                    Err(LimiterDown)
                }
            },
        }
    }
}
