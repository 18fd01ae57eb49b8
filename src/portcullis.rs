//! [`Portcullis`]: the cheap-to-clone handle hosts build once and mount everywhere.

use std::{
    fmt,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use axum::Router;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    AuditEvent, Config, Error, PortcullisBuilder, RateLimiter,
    audit::AuditKind,
    origin::Origins,
    crypto::{DerivedKeys, jwt::Claims, password::Hasher},
    delivery::{self, Branding, Email, EmailTemplates, Mailer, Message, SmsSender, TextMessage},
    flows,
    keys::{self, KeyRing},
    policy::BreachedPasswords,
    rate_limit::{Limit, Rule},
    routes,
    client::ClientInfo,
    session::{SessionLayer, revocation::RevocationView, verify},
    store,
};

/// Cheap-to-clone handle to portcullis: configuration, database, keys and caches.
///
/// Build it once with [`Portcullis::builder`], then mount its routers and layer:
///
/// ```rust,no_run
/// use axum::{Router, routing::get};
/// use portcullis::{CurrentUser, Portcullis, Secret};
///
/// async fn hello(user: CurrentUser) -> String {
///     format!("hello {}", user.email.as_deref().unwrap_or("there"))
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let db = sea_orm::Database::connect("sqlite://app.db?mode=rwc").await?;
/// portcullis::migrate(&db).await?;
/// let auth = Portcullis::builder(db)
///     .public_url("https://app.example.com")
///     .secret(Secret::parse(&std::env::var("AUTH_SECRET")?)?)
///     .build()
///     .await?;
///
/// let app: Router = Router::new()
///     .route("/hello", get(hello))
///     .nest("/v1/auth", auth.router())
///     .merge(auth.well_known_router())
///     .layer(auth.session_layer());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Portcullis {
    pub(crate) inner: Arc<Inner>,
}

/// Everything behind the handle.
pub(crate) struct Inner {
    pub(crate) db: DatabaseConnection,
    pub(crate) config: Config,
    pub(crate) origins: Origins,
    pub(crate) keys: DerivedKeys,
    pub(crate) hasher: Hasher,
    pub(crate) key_ring: KeyRing,
    /// Verified access tokens → their claims (signature checked once per token).
    pub(crate) token_cache: verify::TokenCache,
    pub(crate) revocation: RevocationView,
    pub(crate) rate_limiter: Arc<dyn RateLimiter>,
    /// The audit trail: the table and the host's hook.
    pub(crate) auditor: crate::audit::Auditor,
    pub(crate) breached: Option<Arc<dyn BreachedPasswords>>,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) templates: Arc<dyn EmailTemplates>,
    /// `None`: SMS sign-in is off (production without a sender).
    pub(crate) sms_sender: Option<Arc<dyn SmsSender>>,
    /// Organization roles: the built-in ones and the host's.
    pub(crate) roles: crate::policy::roles::Roles,
    /// The passkey relying party; `None` when the public URL cannot host passkeys (an IP
    /// address).
    #[cfg(feature = "passkeys")]
    pub(crate) webauthn: Option<webauthn_rs::Webauthn>,
    /// Social sign-in; `None` when no provider is configured.
    #[cfg(feature = "oauth")]
    pub(crate) oauth: Option<crate::oauth::OAuth>,
    /// Throttle keys recently audited, so a flood writes one audit row per key a minute.
    pub(crate) throttle_audited: quick_cache::sync::Cache<String, Instant>,
    /// The host's changes to the default limits.
    pub(crate) limits: std::collections::HashMap<Limit, Rule>,
    /// How far this instance's clock is off (zero, except in tests of clock skew).
    pub(crate) clock_offset: time::Duration,
}

impl Portcullis {
    /// Starts configuring portcullis on the host's database.
    pub fn builder(db: DatabaseConnection) -> PortcullisBuilder {
        PortcullisBuilder::new(db)
    }

    /// The auth routes of the contract, ready to [`nest`](Router::nest) at `/v1/auth`.
    ///
    /// The router carries its own state, so it fits an app with any state `S`.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::router(self.clone())
    }

    /// `/.well-known/jwks.json` and `/healthz`, to [`merge`](Router::merge) at the root.
    pub fn well_known_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::well_known::router(self.clone())
    }

    /// The organizations routes of the contract, ready to [`nest`](Router::nest) at
    /// `/v1/orgs`.
    pub fn orgs_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::orgs::router(self.clone())
    }

    /// The layer that authenticates requests. Apply it last (outermost), so it covers the
    /// host's routes and the nested auth routes alike.
    pub fn session_layer(&self) -> SessionLayer {
        SessionLayer::new(self.clone())
    }

    /// Account administration from Rust: create and import users.
    #[must_use]
    pub fn users(&self) -> flows::users::Users<'_> {
        flows::users::Users::new(&self.inner)
    }

    /// Whether `user_id` holds `permission` in `org_id`, read from the database now (for
    /// host code outside a request, or an organization other than the active one).
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn has_permission(
        &self,
        user_id: Uuid,
        org_id: Uuid,
        permission: &str,
    ) -> Result<bool, Error> {
        let inner = &self.inner;
        match flows::orgs::authorize(inner, &inner.db, user_id, org_id, permission).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound | Error::Forbidden(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Session administration from Rust: list and revoke sessions.
    #[must_use]
    pub fn sessions(&self) -> flows::sessions::Sessions<'_> {
        flows::sessions::Sessions::new(&self.inner)
    }

    /// Verifies an access token exactly as the layer does (signature, issuer, lifetime,
    /// revocation), for hosts that receive tokens elsewhere (a WebSocket handshake, a
    /// message queue).
    ///
    /// # Errors
    ///
    /// [`Error::Unauthorized`] for any token that is not valid now.
    pub async fn verify_access_token(&self, token: &str) -> Result<Claims, Error> {
        verify::authenticate(&self.inner, token)
            .await?
            .map(|claims| (*claims).clone())
            .ok_or(Error::Unauthorized)
    }

    /// Adds a new signing key and retires the current one, which stays in the JWKS until
    /// the last token it signed has expired. Returns the new `kid`. Other instances pick
    /// the new key up on their next poll.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn rotate_signing_key(&self) -> Result<String, Error> {
        let inner = &self.inner;
        let kid = keys::rotate(&inner.db, &inner.keys, inner.retired_key_lifetime())
            .await?;
        inner.key_ring.reload(&inner.db, &inner.keys).await?;
        inner
            .audit(AuditEvent::new(AuditKind::SigningKeyRotated).detail("kid", kid.clone()))
            .await;
        Ok(kid)
    }

    /// Deletes what the retention rules let go of (expired links, codes, ceremonies,
    /// ended sessions, old audit events; see
    /// [`flows::retention`](crate::flows::retention)). Each instance already does this every
    /// [`retention_sweep_interval`](Config::retention_sweep_interval); call it yourself
    /// when that interval is zero.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn sweep(&self) -> Result<flows::retention::Swept, Error> {
        flows::retention::sweep(&self.inner).await
    }

    /// The database portcullis stores its tables in.
    #[must_use]
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The checked configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        let handle = Self {
            inner: Arc::new(inner),
        };
        spawn_poller(Arc::downgrade(&handle.inner));
        spawn_sweeper(Arc::downgrade(&handle.inner));
        handle
    }
}

impl fmt::Debug for Portcullis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portcullis")
            .field("public_url", &self.inner.config.public_url)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// This instance's clock (the system clock, at the precision the database stores).
    /// Revocations never trust it for their order: they are stamped by the database's clock.
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        store::now() + self.clock_offset
    }

    /// Whether `method` is on (the host did not turn it off) and can work here (SMS needs a
    /// sender, passkeys a domain, social sign-in a provider).
    pub(crate) fn method_available(&self, method: crate::SignInMethod) -> bool {
        use crate::SignInMethod as M;
        if !self.config.method_on(method) {
            return false;
        }
        match method {
            M::Password | M::MagicLink | M::EmailOtp => true,
            M::SmsOtp => self.sms_sender.is_some(),
            #[cfg(feature = "passkeys")]
            M::Passkey => self.webauthn.is_some(),
            #[cfg(feature = "oauth")]
            M::OAuth => self.oauth.is_some(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The longest an access token is accepted after it was issued: lifetime plus leeway.
    pub(crate) fn token_window(&self) -> Duration {
        self.config.access_token_ttl + self.config.clock_leeway
    }

    /// How long a retired key must stay published: a token it signed just before the
    /// rotation reached every instance must still verify until it expires.
    pub(crate) fn retired_key_lifetime(&self) -> Duration {
        self.token_window() + self.config.revocation_poll_interval * 2
    }

    /// Writes an audit event and hands it to the host's hook. Never fails the request: a
    /// failed write is logged.
    pub(crate) async fn audit(&self, event: AuditEvent) {
        self.auditor.record(event).await;
    }

    /// Applies revocations this instance just committed to its own revocation view, at
    /// once; they are forgotten when no token they concern can still be valid.
    pub(crate) fn apply_revocations(&self, revoked: &store::sessions::Revoked) {
        let window = i64::try_from(self.token_window().as_secs()).unwrap_or(i64::MAX);
        self.revocation.revoke_sessions(
            &revoked.ids,
            revoked.at.unix_timestamp().saturating_add(window),
        );
    }

    /// The host's configured branding.
    pub(crate) fn branding(&self) -> Branding {
        Branding {
            product_name: self.config.app_name.clone(),
            logo_url: self.config.logo_url.clone(),
            support_email: self.config.support_email.clone(),
            client_alias: None,
        }
    }

    /// Renders `message` for `to` with `branding`.
    pub(crate) fn render_email(
        &self,
        to: &str,
        message: &Message<'_>,
        branding: &Branding,
    ) -> Email {
        let from = self.config.email_from.clone().unwrap_or_else(|| {
            let host = self
                .origins
                .issuer
                .split("://")
                .nth(1)
                .unwrap_or("localhost");
            let host = host.split(':').next().unwrap_or(host);
            // `localhost` is not a valid mail domain; a dev sink accepts anything.
            let domain = if host.contains('.') {
                host
            } else {
                "localhost.localdomain"
            };
            format!(
                "{} <no-reply@{domain}>",
                delivery::single_line(&self.config.app_name).replace(['<', '>', '"'], "")
            )
        });
        Email::new(
            to.to_owned(),
            from,
            message.kind(),
            self.templates.render(message, branding),
        )
    }

    /// Counts one attempt against `limit` for `subject` (an IP key, an address, a user id;
    /// `""` for the global limits), unless rate limiting is off. A refusal is audited once
    /// a minute per key, naming the limit but never the subject (it may be an address).
    pub(crate) async fn throttle(
        &self,
        limit: Limit,
        subject: &str,
        client: &ClientInfo,
    ) -> Result<(), Error> {
        if !self.config.rate_limit {
            return Ok(());
        }
        let rule = self
            .limits
            .get(&limit)
            .copied()
            .unwrap_or_else(|| limit.default_rule());
        let key = limit.key(subject);
        let Err(throttled) = self.rate_limiter.check(&key, rule).await else {
            return Ok(());
        };
        let recently = self
            .throttle_audited
            .get(&key)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(60));
        if !recently {
            self.throttle_audited.insert(key, Instant::now());
            self.audit(
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

impl Inner {
    /// Tells a user about a change to their account, at their email address if they have
    /// one (in the background, like every email).
    pub(crate) fn notify_user(
        &self,
        user: &crate::entity::user::Model,
        message: &crate::delivery::Message<'_>,
    ) {
        if let Some(address) = &user.email {
            let email = self.render_email(address, message, &self.branding());
            self.deliver(email, Some(user.id));
        }
    }

    /// Sends an email in the background: the answer to the request never waits for (or
    /// reveals) delivery. A failure is logged and audited, never shown to the requester.
    pub(crate) fn deliver(&self, email: Email, user_id: Option<uuid::Uuid>) {
        let mailer = self.mailer.clone();
        let auditor = self.auditor.clone();
        tokio::spawn(async move {
            match mailer.send(&email).await {
                Ok(()) => {
                    tracing::debug!(to = %delivery::mask_email(&email.to), kind = email.kind, "email sent");
                }
                Err(err) => {
                    tracing::error!(to = %delivery::mask_email(&email.to), kind = email.kind, error = %err, "email delivery failed");
                    let mut event =
                        AuditEvent::new(AuditKind::EmailDeliveryFailed).detail("kind", email.kind);
                    if let Some(user_id) = user_id {
                        event = event.user(user_id);
                    }
                    auditor.record(event).await;
                }
            }
        });
    }

    /// Sends a text in the background, like [`deliver`](Self::deliver).
    pub(crate) fn deliver_text(&self, message: TextMessage, user_id: Option<uuid::Uuid>) {
        let Some(sender) = self.sms_sender.clone() else {
            return;
        };
        let auditor = self.auditor.clone();
        tokio::spawn(async move {
            if let Err(err) = sender.send(&message).await {
                tracing::error!(kind = message.kind, error = %err, "text message delivery failed");
                let mut event =
                    AuditEvent::new(AuditKind::SmsDeliveryFailed).detail("kind", message.kind);
                if let Some(user_id) = user_id {
                    event = event.user(user_id);
                }
                auditor.record(event).await;
            }
        });
    }
}

/// Refreshes the revocation view and the key ring on the configured interval, for as
/// long as the handle lives.
fn spawn_poller(inner: Weak<Inner>) {
    let Some(interval) = inner.upgrade().map(|i| i.config.revocation_poll_interval) else {
        return;
    };
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(inner) = inner.upgrade() else { break };
            let overlap = interval * 2 + inner.config.clock_leeway;
            if let Err(err) = inner
                .revocation
                .poll(&inner.db, inner.token_window(), overlap)
                .await
            {
                tracing::warn!(error = %err, "refreshing the revocation view failed; retrying");
            }
            if let Err(err) = inner.key_ring.reload(&inner.db, &inner.keys).await {
                tracing::warn!(error = %err, "reloading the signing keys failed; retrying");
            }
        }
    });
}

/// Sweeps expired rows on the configured interval, for as long as the handle lives.
fn spawn_sweeper(inner: Weak<Inner>) {
    let Some(interval) = inner
        .upgrade()
        .map(|i| i.config.retention_sweep_interval)
        .filter(|interval| !interval.is_zero())
    else {
        return;
    };
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(inner) = inner.upgrade() else { break };
            if let Err(err) = flows::retention::sweep(&inner).await {
                tracing::warn!(error = %err, "the retention sweep failed; retrying next time");
            }
        }
    });
}
