//! [`Context`]: what every flow works with, as plain fields. The handle
//! ([`Portcullis`](crate::Portcullis)) holds one in an `Arc`; the routes, the layer and the
//! extractors reach it from there. Nothing here decides anything: the services below the
//! flows ([`Throttle`], [`Auditor`], [`Outbox`], [`KeyRing`]) each live in their own
//! module, and the flows use them.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use time::OffsetDateTime;

use crate::{
    Config,
    audit::Auditor,
    crypto::{DerivedKeys, password::Hasher},
    delivery::outbox::Outbox,
    keys::KeyRing,
    origin::Origins,
    policy::{BreachedPasswords, Roles},
    rate_limit::Throttle,
    revocation::RevocationView,
    token_cache::{KeyUses, TokenCache},
};

/// The header a front end names itself in (its publishable key).
pub(crate) const CLIENT_KEY_HEADER: &str = "x-api-key";

/// Everything a flow needs: the database, the checked configuration, keys, caches and the
/// services below the flows.
pub(crate) struct Context {
    pub(crate) db: DatabaseConnection,
    /// The configuration, as `build()` checked it.
    pub(crate) config: Config,
    /// The public origin (the token issuer) and every allowed origin, parsed.
    pub(crate) origins: Origins,
    /// The keys derived from the server secret.
    pub(crate) keys: DerivedKeys,
    /// Password hashing on the blocking pool, behind a semaphore.
    pub(crate) hasher: Hasher,
    /// The signing keys, shared with every instance through the database.
    pub(crate) key_ring: KeyRing,
    /// Verified access tokens → their claims (a signature is checked once per token), and
    /// API keys (by their hash) → what they stand for.
    pub(crate) token_cache: TokenCache,
    /// When each API key's use was last written.
    pub(crate) key_uses: KeyUses,
    /// Sessions revoked and users cut off, as this instance knows them.
    pub(crate) revocation: Arc<RevocationView>,
    /// The rate limits.
    pub(crate) throttle: Throttle,
    /// The audit trail: the table and the host's hook.
    pub(crate) auditor: Auditor,
    /// Emails and texts.
    pub(crate) outbox: Outbox,
    /// The host's breached-password corpus, if any.
    pub(crate) breached: Option<Arc<dyn BreachedPasswords>>,
    /// Organization roles: the built-in ones and the host's.
    pub(crate) roles: Roles,
    /// The passkey relying party; `None` when the public URL cannot host passkeys (an IP
    /// address).
    #[cfg(feature = "passkeys")]
    pub(crate) webauthn: Option<webauthn_rs::Webauthn>,
    /// Social sign-in; `None` when no provider is configured.
    #[cfg(feature = "oauth")]
    pub(crate) oauth: Option<crate::oauth::OAuth>,
    /// Stripe; `None` until the host sets a secret key.
    #[cfg(feature = "billing")]
    pub(crate) stripe: Option<crate::stripe::Stripe>,
    /// Where revocations are announced to the other instances, when the host set Redis.
    #[cfg(feature = "redis")]
    pub(crate) redis_revocations: Option<redis::Client>,
    /// Rung when an organization's member count changed under a per-seat subscription
    /// (the seat task tells Stripe).
    pub(crate) seats_changed: Arc<tokio::sync::Notify>,
    /// Opens when the database keeps failing: our routes then answer 503 at once.
    pub(crate) breaker: Arc<crate::breaker::Breaker>,
    /// The background tasks (poll, sweep, probe, seats) and their stop signal.
    pub(crate) tasks: crate::tasks::Tasks,
    /// This instance's clock.
    pub(crate) clock: Clock,
}

impl Context {
    /// The client app a request names with its publishable key (`x-api-key`), if any.
    pub(crate) fn client_app(&self, headers: &http::HeaderMap) -> Option<&crate::config::Client> {
        let key = headers.get(CLIENT_KEY_HEADER)?.as_bytes();
        self.config
            .clients
            .iter()
            .find(|client| crate::crypto::ct_eq(client.publishable_key.as_bytes(), key))
    }

    /// The client app called `id`.
    pub(crate) fn client_named(&self, id: Option<&str>) -> Option<&crate::config::Client> {
        let id = id?;
        self.config.clients.iter().find(|client| client.id == id)
    }

    /// The branding of emails sent for a request: the host's, with the naming client's
    /// product name and logo when it has its own.
    pub(crate) fn branding_for(&self, app: Option<&str>) -> crate::delivery::Branding {
        let mut branding = self.outbox.branding();
        if let Some(own) = self
            .client_named(app)
            .and_then(|client| client.branding.as_ref())
        {
            if let Some(name) = &own.product_name {
                branding.product_name.clone_from(name);
            }
            if own.logo_url.is_some() {
                branding.logo_url.clone_from(&own.logo_url);
            }
        }
        branding
    }

    /// `duration` from now: when something issued now expires.
    pub(crate) fn after(&self, duration: std::time::Duration) -> OffsetDateTime {
        self.now()
            .saturating_add(time::Duration::try_from(duration).unwrap_or(time::Duration::MAX))
    }

    /// This instance's clock, at the precision the database stores.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// This instance's clock: the system clock at the precision every backend stores
/// (microseconds), so a value read back compares equal to the value written. Revocations
/// never trust it for their order: they are stamped by the database's clock
/// (`store::db_now`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// How far this instance's clock is off (zero, except in tests of clock skew).
    pub(crate) offset: time::Duration,
}

impl Clock {
    pub(crate) fn now(self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc() + self.offset;
        now.replace_microsecond(now.microsecond()).unwrap_or(now)
    }
}
