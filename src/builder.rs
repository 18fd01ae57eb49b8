//! [`PortcullisBuilder`]: a [`Config`] and the host's services in, a checked
//! [`Portcullis`] out.
//!
//! Settings have one place each, their field in a section of [`Config`]; the builder
//! reaches a section with a closure (`.sessions(|s| ...)`). What is not a setting (the
//! mailer, the rate limiter, the audit hook, roles) has its own method.

use std::{collections::HashMap, sync::Arc};

use sea_orm::{DatabaseConnection, DbErr};

use crate::{
    Config, ConfigError, Secret,
    audit::{AuditHook, Auditor},
    config::{
        CookieConfig, EmailConfig, PasswordConfig, PasswordlessConfig, RequestConfig,
        RetentionConfig, SessionConfig, SignInConfig,
    },
    context::{Clock, Context},
    crypto::{DerivedKeys, password::Hasher},
    delivery::{
        Branding, DefaultTemplates, EmailTemplates, LogMailer, LogSmsSender, Mailer, SmsSender,
        outbox::Outbox,
    },
    keys::KeyRing,
    policy::{BreachedPasswords, Role, Roles},
    rate_limit::{Limit, MemoryRateLimiter, RateLimiter, Rule, Throttle},
    revocation::RevocationView,
};

/// Builds a [`Portcullis`](crate::Portcullis). Every setting has a safe default except the secret.
///
/// ```rust,no_run
/// use std::time::Duration;
/// use portcullis::{Config, Portcullis, Secret, config::TokenDelivery};
///
/// # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
/// let auth = Portcullis::from_config(db, Config::from_env()?) // PORTCULLIS_* variables
///     .public_url("https://app.example.com")
///     .secret(Secret::generate())
///     .sessions(|s| {
///         s.lifetime = Duration::from_secs(14 * 24 * 3600);
///         s.token_delivery = TokenDelivery::CookiesOnly;
///     })
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct PortcullisBuilder {
    db: DatabaseConnection,
    config: Config,
    rate_limiter: Option<Arc<dyn RateLimiter>>,
    audit_hook: Option<Arc<dyn AuditHook>>,
    breached: Option<Arc<dyn BreachedPasswords>>,
    mailer: Option<Arc<dyn Mailer>>,
    templates: Option<Arc<dyn EmailTemplates>>,
    sms_sender: Option<Arc<dyn SmsSender>>,
    roles: Roles,
    role_error: Option<String>,
    limits: HashMap<Limit, Rule>,
    clock_offset: time::Duration,
    #[cfg(feature = "redis")]
    redis_revocations: Option<String>,
}

impl std::fmt::Debug for PortcullisBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortcullisBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PortcullisBuilder {
    pub(crate) fn new(db: DatabaseConnection, config: Config) -> Self {
        Self {
            db,
            config,
            rate_limiter: None,
            audit_hook: None,
            breached: None,
            mailer: None,
            templates: None,
            sms_sender: None,
            roles: Roles::default(),
            role_error: None,
            limits: HashMap::new(),
            clock_offset: time::Duration::ZERO,
            #[cfg(feature = "redis")]
            redis_revocations: None,
        }
    }

    /// The public origin of the app ([`Config::public_url`]). Default
    /// `http://localhost:3000`.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.config.public_url = url.into();
        self
    }

    /// The server secret, shared by every instance ([`Config::secret`]). Required.
    pub fn secret(mut self, secret: Secret) -> Self {
        self.config.secret = Some(secret);
        self
    }

    /// The product name ([`Config::app_name`]). Default `portcullis`.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.config.app_name = name.into();
        self
    }

    /// Where the host nests the auth router ([`Config::auth_base_path`]). Default
    /// `/v1/auth`.
    pub fn auth_base_path(mut self, path: impl Into<String>) -> Self {
        self.config.auth_base_path = path.into();
        self
    }

    /// Adjusts the sessions section ([`SessionConfig`]).
    pub fn sessions(mut self, adjust: impl FnOnce(&mut SessionConfig)) -> Self {
        adjust(&mut self.config.sessions);
        self
    }

    /// Adjusts the cookies section ([`CookieConfig`]).
    pub fn cookies(mut self, adjust: impl FnOnce(&mut CookieConfig)) -> Self {
        adjust(&mut self.config.cookies);
        self
    }

    /// Adjusts the requests section ([`RequestConfig`]: allowed origins, trusted
    /// proxies, body limit, rate limits on or off).
    pub fn requests(mut self, adjust: impl FnOnce(&mut RequestConfig)) -> Self {
        adjust(&mut self.config.requests);
        self
    }

    /// Adjusts the sign-in section ([`SignInConfig`]: methods turned off, verified email
    /// required, account discovery).
    pub fn sign_in(mut self, adjust: impl FnOnce(&mut SignInConfig)) -> Self {
        adjust(&mut self.config.sign_in);
        self
    }

    /// Adjusts the passwords section ([`PasswordConfig`]).
    pub fn passwords(mut self, adjust: impl FnOnce(&mut PasswordConfig)) -> Self {
        adjust(&mut self.config.passwords);
        self
    }

    /// Adjusts the email section ([`EmailConfig`]).
    pub fn email(mut self, adjust: impl FnOnce(&mut EmailConfig)) -> Self {
        adjust(&mut self.config.email);
        self
    }

    /// Adjusts the passwordless section ([`PasswordlessConfig`]).
    pub fn passwordless(mut self, adjust: impl FnOnce(&mut PasswordlessConfig)) -> Self {
        adjust(&mut self.config.passwordless);
        self
    }

    /// Adjusts the passkeys section ([`PasskeyConfig`](crate::config::PasskeyConfig)).
    #[cfg(feature = "passkeys")]
    pub fn passkeys(mut self, adjust: impl FnOnce(&mut crate::config::PasskeyConfig)) -> Self {
        adjust(&mut self.config.passkeys);
        self
    }

    /// Adjusts the social sign-in section
    /// ([`OAuthConfig`](crate::config::OAuthConfig)):
    ///
    /// ```
    /// # fn f(builder: portcullis::PortcullisBuilder) -> portcullis::PortcullisBuilder {
    /// use portcullis::oauth::OAuthProvider;
    /// builder.oauth(|o| {
    ///     o.providers.push(OAuthProvider::google("client-id", "client-secret"));
    ///     o.providers.push(OAuthProvider::oidc(
    ///         "corp",
    ///         "https://sso.example.com",
    ///         "client-id",
    ///         "client-secret",
    ///     ));
    /// })
    /// # }
    /// ```
    #[cfg(feature = "oauth")]
    pub fn oauth(mut self, adjust: impl FnOnce(&mut crate::config::OAuthConfig)) -> Self {
        adjust(&mut self.config.oauth);
        self
    }

    /// Adjusts the retention section ([`RetentionConfig`]).
    pub fn retention(mut self, adjust: impl FnOnce(&mut RetentionConfig)) -> Self {
        adjust(&mut self.config.retention);
        self
    }

    /// Adjusts the billing section ([`BillingConfig`](crate::config::BillingConfig):
    /// Stripe keys, API base, the past-due grace). Billing is on once a secret key is set.
    ///
    /// ```rust,no_run
    /// # fn run(builder: portcullis::PortcullisBuilder) -> portcullis::PortcullisBuilder {
    /// use portcullis::config::Plan;
    ///
    /// builder
    ///     .billing(|b| {
    ///         b.stripe_secret_key = std::env::var("STRIPE_SECRET_KEY").ok();
    ///         b.webhook_secrets = vec![std::env::var("STRIPE_WEBHOOK_SECRET").unwrap_or_default()];
    ///     })
    ///     .plans([Plan::new("pro", "Pro", "price_123", 1200, "usd", "month").features(["reports"])])
    /// # }
    /// ```
    #[cfg(feature = "billing")]
    pub fn billing(mut self, adjust: impl FnOnce(&mut crate::config::BillingConfig)) -> Self {
        adjust(&mut self.config.billing);
        self
    }

    /// Sets the plan catalog (`GET /v1/billing/plans`), checked at `build()`: unique ids
    /// and price ids, currencies, intervals.
    #[cfg(feature = "billing")]
    pub fn plans(mut self, plans: impl IntoIterator<Item = crate::config::Plan>) -> Self {
        self.config.billing.plans = plans.into_iter().collect();
        self
    }

    /// Changes one rate limit (see [`Limit`] for every limit and its default rule).
    ///
    /// ```
    /// # fn f(builder: portcullis::PortcullisBuilder) -> portcullis::PortcullisBuilder {
    /// use std::time::Duration;
    /// use portcullis::rate_limit::{Limit, Rule};
    /// // Ten sign-ups from one address at once, then one every six minutes.
    /// builder.limit(Limit::SignUpPerIp, Rule::new(10, Duration::from_secs(360)))
    /// # }
    /// ```
    pub fn limit(mut self, limit: Limit, rule: Rule) -> Self {
        self.limits.insert(limit, rule);
        self
    }

    /// Replaces the in-memory rate limiter, e.g. with one backed by a shared store.
    pub fn rate_limiter(mut self, limiter: impl RateLimiter) -> Self {
        self.rate_limiter = Some(Arc::new(limiter));
        self
    }

    /// Announces revocations to every instance through Redis pub/sub (cargo feature
    /// `redis`), so another instance refuses a revoked token within milliseconds instead
    /// of at its next poll ([`SessionConfig::revocation_poll_interval`], which stays as the
    /// safety net). Without it, instances on PostgreSQL announce through `LISTEN`/`NOTIFY`;
    /// on SQLite or MySQL only the poll carries revocations. The URL is checked by
    /// [`build`](Self::build); the subscription reconnects by itself.
    ///
    /// ```no_run
    /// # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
    /// use portcullis::{Portcullis, rate_limit::RedisRateLimiter};
    ///
    /// let redis = "redis://127.0.0.1:6379";
    /// let auth = Portcullis::builder(db)
    ///     .rate_limiter(RedisRateLimiter::connect(redis).await?)
    ///     .redis_revocations(redis)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis_revocations(mut self, url: impl Into<String>) -> Self {
        self.redis_revocations = Some(url.into());
        self
    }

    /// Receives every audit event.
    pub fn audit_hook(mut self, hook: impl AuditHook) -> Self {
        self.audit_hook = Some(Arc::new(hook));
        self
    }

    /// Checks new passwords against a breached-password corpus.
    pub fn breached_passwords(mut self, check: impl BreachedPasswords) -> Self {
        self.breached = Some(Arc::new(check));
        self
    }

    /// Delivers emails (verification, reset, notices). Default: SMTP when
    /// `email.smtp_url` is set, else the log (development only).
    pub fn mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// Renders emails. Default [`DefaultTemplates`].
    pub fn email_templates(mut self, templates: impl EmailTemplates) -> Self {
        self.templates = Some(Arc::new(templates));
        self
    }

    /// Delivers text messages (SMS codes). Default: the webhook in
    /// `passwordless.sms_webhook_url` when set, else the log in development; in
    /// production without a sender, SMS sign-in is off.
    pub fn sms_sender(mut self, sender: impl SmsSender) -> Self {
        self.sms_sender = Some(Arc::new(sender));
        self
    }

    /// Declares a waitlist feature people may join (`/me/waitlists/{feature}`).
    pub fn waitlist(mut self, feature: impl Into<String>) -> Self {
        self.config.waitlists.push(feature.into());
        self
    }

    /// Registers a front end (a [`Client`](crate::config::Client)) named by its publishable
    /// key.
    pub fn client(mut self, client: crate::config::Client) -> Self {
        self.config.clients.push(client);
        self
    }

    /// Adds an organization role of the host's (see [`policy::roles`](crate::policy::roles)).
    pub fn role(mut self, role: Role) -> Self {
        if let Err(err) = self.roles.add(role) {
            self.role_error.get_or_insert(err);
        }
        self
    }

    /// Not part of the public API: runs this instance as if its clock were `offset` off,
    /// for tests of clock skew between instances.
    #[doc(hidden)]
    pub fn __clock_offset(mut self, offset: time::Duration) -> Self {
        self.clock_offset = offset;
        self
    }

    /// Checks the settings and assembles the [`Context`]: keys loaded (or created),
    /// the revocation view read, the services wired. [`build`](Self::build) starts the
    /// handle on it.
    pub(crate) async fn into_context(self) -> Result<Context, BuildError> {
        let mut config = self.config;
        config.prefix_default_cookie_names();
        let origins = config.validate()?;
        if let Some(err) = self.role_error {
            return Err(ConfigError::Role(err).into());
        }
        let secret = config.secret.clone().ok_or(ConfigError::MissingSecret)?;
        let keys = DerivedKeys::derive(&secret);

        let a = config.passwords.argon2;
        let params = argon2::Params::new(a.memory_kib, a.iterations, a.parallelism, None)
            .map_err(|_| ConfigError::WeakHashing)?;
        let hasher = Hasher::new(params, config.passwords.hashing_concurrency)
            .await
            .map_err(|e| BuildError::Keys(e.to_string()))?;

        let key_ring = KeyRing::load(&self.db, &keys)
            .await
            .map_err(|err| match err {
                crate::Error::Database(db) => BuildError::Database(db),
                crate::Error::Unavailable(source) => {
                    BuildError::Database(DbErr::Custom(source.to_string()))
                }
                other => BuildError::Keys(
                    std::error::Error::source(&other)
                        .map_or_else(|| other.to_string(), ToString::to_string),
                ),
            })?;

        #[cfg(feature = "smtp")]
        let smtp_url = config.email.smtp_url.as_deref();
        #[cfg(not(feature = "smtp"))]
        let smtp_url: Option<&str> = None;
        let mailer = match (self.mailer, smtp_url) {
            (Some(mailer), _) => mailer,
            (None, Some(url)) => smtp_mailer(url)?,
            (None, None) if config.is_development() => {
                tracing::warn!(
                    "portcullis: no mailer configured; emails (with their links) are written to the log. \
                     Set PORTCULLIS_SMTP_URL or call .mailer(..) outside development."
                );
                Arc::new(LogMailer)
            }
            // Links in a production log are account takeovers waiting for a log reader.
            (None, None) => return Err(ConfigError::NoMailer.into()),
        };
        let templates = self.templates.unwrap_or_else(|| Arc::new(DefaultTemplates));
        #[cfg(feature = "sms")]
        let webhook_url = config.passwordless.sms_webhook_url.as_deref();
        #[cfg(not(feature = "sms"))]
        let webhook_url: Option<&str> = None;
        let sms_sender = match (self.sms_sender, webhook_url) {
            (Some(sender), _) => Some(sender),
            (None, Some(url)) => Some(webhook_sender(url)?),
            (None, None) if config.is_development() => {
                Some(Arc::new(LogSmsSender) as Arc<dyn SmsSender>)
            }
            // Codes in a production log would be sign-ins for whoever reads it: no SMS.
            (None, None) => None,
        };
        if sms_sender.is_some()
            && config.passwordless.sms_allowed_prefixes.is_empty()
            && !config.is_development()
        {
            tracing::warn!(
                "portcullis: SMS sign-in accepts every country; set sms_allowed_prefixes to the calling \
                 codes you serve (SMS pumping costs real money)"
            );
        }

        #[cfg(feature = "passkeys")]
        let webauthn = crate::relying_party::relying_party(&config, &origins)?;
        #[cfg(feature = "oauth")]
        let oauth =
            crate::oauth::OAuth::new(config.oauth.providers.clone()).map_err(ConfigError::OAuth)?;

        #[cfg(feature = "billing")]
        let stripe = if config.billing.enabled() {
            let billing = &config.billing;
            let key = billing.stripe_secret_key.as_deref().unwrap_or_default();
            Some(
                crate::stripe::Stripe::new(&billing.api_base, key, billing.timeout)
                    .map_err(ConfigError::Billing)?,
            )
        } else {
            None
        };

        #[cfg(feature = "redis")]
        let redis_revocations = self
            .redis_revocations
            .map(|url| redis::Client::open(url.as_str()))
            .transpose()
            .map_err(|err| ConfigError::Redis(err.to_string()))?;

        let revocation = RevocationView::default();
        let overlap = config.sessions.revocation_poll_interval * 2 + config.sessions.clock_leeway;
        revocation
            .poll(&self.db, config.token_window(), overlap)
            .await?;

        let auditor = Auditor {
            db: self.db.clone(),
            hook: self.audit_hook,
        };
        let rate_limiter = self
            .rate_limiter
            .unwrap_or_else(|| Arc::new(MemoryRateLimiter::default()));
        let throttle = Throttle::new(
            rate_limiter,
            config.requests.rate_limit,
            self.limits,
            auditor.clone(),
        );
        let from = config.email.from.clone().unwrap_or_else(|| {
            let host = origins
                .public()
                .map_or("localhost", |public| public.host.trim_matches(['[', ']']));
            Outbox::default_from(&config.app_name, host)
        });
        let branding = Branding {
            product_name: config.app_name.clone(),
            logo_url: config.email.logo_url.clone(),
            support_email: config.email.support_email.clone(),
            client_alias: None,
        };
        let outbox = Outbox::new(
            self.db.clone(),
            mailer,
            templates,
            sms_sender,
            auditor.clone(),
            keys.outbox_sealing.clone(),
            self.clock_offset,
            from,
            branding,
        );
        let ctx = Context {
            token_cache: quick_cache::sync::Cache::new(config.sessions.token_cache_capacity),
            key_uses: crate::token_cache::KeyUses::default(),
            origins,
            keys,
            hasher,
            key_ring,
            revocation: Arc::new(revocation),
            throttle,
            auditor,
            outbox,
            db: self.db,
            breached: self.breached,
            roles: self.roles,
            #[cfg(feature = "passkeys")]
            webauthn,
            #[cfg(feature = "oauth")]
            oauth,
            #[cfg(feature = "billing")]
            stripe,
            #[cfg(feature = "redis")]
            redis_revocations,
            seats_changed: Arc::new(tokio::sync::Notify::new()),
            breaker: Arc::default(),
            tasks: crate::tasks::Tasks::default(),
            clock: Clock {
                offset: self.clock_offset,
            },
            config,
        };
        Ok(ctx)
    }
}

#[cfg(feature = "smtp")]
fn smtp_mailer(url: &str) -> Result<Arc<dyn Mailer>, ConfigError> {
    crate::delivery::SmtpMailer::from_url(url)
        .map(|mailer| Arc::new(mailer) as Arc<dyn Mailer>)
        .map_err(|err| ConfigError::Smtp(err.0))
}

#[cfg(not(feature = "smtp"))]
fn smtp_mailer(_url: &str) -> Result<Arc<dyn Mailer>, ConfigError> {
    Err(ConfigError::Smtp(
        "portcullis was built without the `smtp` feature".into(),
    ))
}

#[cfg(feature = "sms")]
fn webhook_sender(url: &str) -> Result<Arc<dyn SmsSender>, ConfigError> {
    crate::delivery::WebhookSmsSender::new(url)
        .map(|sender| Arc::new(sender) as Arc<dyn SmsSender>)
        .map_err(|err| ConfigError::Sms(err.0))
}

#[cfg(not(feature = "sms"))]
fn webhook_sender(_url: &str) -> Result<Arc<dyn SmsSender>, ConfigError> {
    Err(ConfigError::Sms(
        "portcullis was built without the `sms` feature".into(),
    ))
}

/// Why [`PortcullisBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is missing, unsafe or inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database failed; has `portcullis::migrate` run?
    #[error("database error while starting portcullis (has portcullis::migrate run?): {0}")]
    Database(#[from] DbErr),
    /// The signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(String),
}
