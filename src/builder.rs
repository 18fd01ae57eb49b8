//! [`PortcullisBuilder`]: settings in, a checked [`Portcullis`] out.

use std::{sync::Arc, time::Duration};

use sea_orm::{DatabaseConnection, DbErr};

use crate::{
    AuditHook, Config, ConfigError, MemoryRateLimiter, PasswordPolicy, Portcullis, RateLimiter,
    Secret, TokenDelivery,
    audit::Auditor,
    auth::revocation::RevocationView,
    client::TrustedProxies,
    context::{Clock, Context},
    crypto::{DerivedKeys, password::Hasher},
    delivery::{Branding, outbox::Outbox},
    delivery::{DefaultTemplates, EmailTemplates, LogMailer, LogSmsSender, Mailer, SmsSender},
    keys::KeyRing,
    policy::BreachedPasswords,
    policy::roles::{Role, Roles},
    rate_limit::{Limit, Rule, Throttle},
};

/// Builds a [`Portcullis`]. Every setting has a safe default except the secret.
///
/// ```rust,no_run
/// use std::time::Duration;
/// use portcullis::{Config, Portcullis, Secret, TokenDelivery};
///
/// # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
/// let auth = Portcullis::builder(db)
///     .config(Config::from_env()?)               // PORTCULLIS_* variables
///     .public_url("https://app.example.com")
///     .secret(Secret::generate())
///     .session_lifetime(Duration::from_secs(14 * 24 * 3600))
///     .token_delivery(TokenDelivery::CookiesOnly)
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
    limits: std::collections::HashMap<Limit, Rule>,
    clock_offset: time::Duration,
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
            limits: std::collections::HashMap::new(),
            clock_offset: time::Duration::ZERO,
        }
    }

    /// Replaces every setting at once, typically with [`Config::from_env`]. Setters called
    /// afterwards still apply on top.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The public origin of the app. Default `http://localhost:3000`.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.config.public_url = url.into();
        self
    }

    /// The server secret, shared by every instance. Required.
    pub fn secret(mut self, secret: Secret) -> Self {
        self.config.secret = Some(secret);
        self
    }

    /// The product name (messages, password context words). Default `portcullis`.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.config.app_name = name.into();
        self
    }

    /// Access-token lifetime. Default 5 minutes.
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.config.access_token_ttl = ttl;
        self
    }

    /// A session that does not refresh for this long dies. Default 7 days.
    pub fn session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.session_idle_timeout = timeout;
        self
    }

    /// A session dies this long after sign-in. Default 30 days.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.session_lifetime = lifetime;
        self
    }

    /// The refresh-token reuse grace window. Default 10 seconds.
    pub fn refresh_grace(mut self, grace: Duration) -> Self {
        self.config.refresh_grace = grace;
        self
    }

    /// How grants deliver tokens (cookies, body or both). Default both.
    pub fn token_delivery(mut self, delivery: TokenDelivery) -> Self {
        self.config.token_delivery = delivery;
        self
    }

    /// The `Secure` cookie attribute. Default: on for an https public URL.
    ///
    /// # ⚠️ Warning
    ///
    /// Only turn this off for plain-http local development.
    pub fn cookie_secure(mut self, secure: bool) -> Self {
        self.config.cookie_secure = Some(secure);
        self
    }

    /// Extra origins allowed to make cookie-authenticated requests and to be redirect
    /// targets (`https://admin.example.com`). The public URL's origin is always allowed.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Which proxies may tell us the client IP. Default: none (the socket peer).
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.config.trusted_proxies = proxies;
        self
    }

    /// Turns every rate limit on or off. Default on.
    ///
    /// # ⚠️ Warning
    ///
    /// Off is for test suites only.
    pub fn rate_limit(mut self, on: bool) -> Self {
        self.config.rate_limit = on;
        self
    }

    /// Replaces the in-memory rate limiter, e.g. with one backed by a shared store.
    pub fn rate_limiter(mut self, limiter: impl RateLimiter) -> Self {
        self.rate_limiter = Some(Arc::new(limiter));
        self
    }

    /// Changes one rate limit (see [`Limit`] for every limit and its default rule).
    ///
    /// ```
    /// # fn f(builder: portcullis::PortcullisBuilder) -> portcullis::PortcullisBuilder {
    /// use std::time::Duration;
    /// use portcullis::rate_limit::{Limit, Rule};
    /// // Ten sign-ups an hour from one address, then one every six minutes.
    /// builder.limit(Limit::SignUpPerIp, Rule::new(10, Duration::from_secs(360)))
    /// # }
    /// ```
    pub fn limit(mut self, limit: Limit, rule: Rule) -> Self {
        self.limits.insert(limit, rule);
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

    /// Refuse new passwords (503 `unavailable`) while the breached-password check fails,
    /// instead of accepting them. Default off.
    pub fn breached_passwords_fail_closed(mut self, on: bool) -> Self {
        self.config.breached_passwords_fail_closed = on;
        self
    }

    /// Delivers emails (verification, reset, notices). Default: SMTP when
    /// [`Config::smtp_url`] is set, else the log (development only).
    pub fn mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// Renders emails. Default [`DefaultTemplates`](crate::delivery::DefaultTemplates).
    pub fn email_templates(mut self, templates: impl EmailTemplates) -> Self {
        self.templates = Some(Arc::new(templates));
        self
    }

    /// The host's page that completes a password reset. Default `{public_url}/reset-password`.
    pub fn password_reset_url(mut self, url: impl Into<String>) -> Self {
        self.config.password_reset_url = Some(url.into());
        self
    }

    /// Where the host nests the auth router (for links to our endpoints). Default `/v1/auth`.
    pub fn auth_base_path(mut self, path: impl Into<String>) -> Self {
        self.config.auth_base_path = path.into();
        self
    }

    /// Sign the user in after a successful password reset. Default off.
    pub fn sign_in_after_reset(mut self, on: bool) -> Self {
        self.config.sign_in_after_reset = on;
        self
    }

    /// Delivers text messages (SMS codes). Default: the webhook in
    /// [`Config::sms_webhook_url`] when set, else the log in development; in production
    /// without a sender, SMS sign-in is off.
    pub fn sms_sender(mut self, sender: impl SmsSender) -> Self {
        self.sms_sender = Some(Arc::new(sender));
        self
    }

    /// Whether unknown addresses and numbers get an account on their first passwordless
    /// sign-in (magic link or email code; SMS code). Default on for both.
    pub fn passwordless_sign_up(mut self, by_email: bool, by_phone: bool) -> Self {
        self.config.sign_up_by_email = by_email;
        self.config.sign_up_by_phone = by_phone;
        self
    }

    /// Wrong six-digit codes one address may take in a day before code sign-in to it
    /// pauses for the rest of the day (see [`Config::code_failure_cap`]). Default and
    /// maximum 100.
    pub fn code_failure_cap(mut self, cap: u32) -> Self {
        self.config.code_failure_cap = cap;
        self
    }

    /// Calling codes phone numbers must start with (`["+1", "+44"]`); empty accepts all.
    pub fn sms_allowed_prefixes<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.sms_allowed_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an organization role of the host's (see [`roles`](crate::roles)).
    pub fn role(mut self, role: Role) -> Self {
        if let Err(err) = self.roles.add(role) {
            self.role_error.get_or_insert(err);
        }
        self
    }

    /// The page that accepts organization invitations. Default `{public_url}/accept-invitation`.
    pub fn invitation_accept_url(mut self, url: impl Into<String>) -> Self {
        self.config.invitation_accept_url = Some(url.into());
        self
    }

    /// Adds a social sign-in provider (see [`OAuthProvider`](crate::OAuthProvider)).
    ///
    /// ```
    /// # fn f(builder: portcullis::PortcullisBuilder) -> portcullis::PortcullisBuilder {
    /// use portcullis::OAuthProvider;
    /// builder
    ///     .oauth_provider(OAuthProvider::google("client-id", "client-secret"))
    ///     .oidc("corp", "https://sso.example.com", "client-id", "client-secret")
    /// # }
    /// ```
    pub fn oauth_provider(mut self, provider: crate::OAuthProvider) -> Self {
        self.config.oauth_providers.push(provider);
        self
    }

    /// Adds any OpenID Connect provider by its issuer (found by discovery).
    pub fn oidc(
        self,
        name: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.oauth_provider(crate::OAuthProvider::oidc(
            name,
            issuer,
            client_id,
            client_secret,
        ))
    }

    /// The WebAuthn relying-party id (see [`Config::passkey_rp_id`]). Default: the public
    /// URL's host.
    pub fn passkey_rp_id(mut self, rp_id: impl Into<String>) -> Self {
        self.config.passkey_rp_id = Some(rp_id.into());
        self
    }

    /// Origins where browsers run passkey ceremonies besides the public URL (see
    /// [`Config::passkey_origins`]).
    pub fn passkey_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.passkey_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// The password policy.
    pub fn password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.config.password_policy = policy;
        self
    }

    /// Turns sign-in methods off: their routes answer 404, `GET /methods` shows them
    /// `false`, and they no longer count as a way into an account. Default: all on.
    pub fn disable_methods(
        mut self,
        methods: impl IntoIterator<Item = crate::SignInMethod>,
    ) -> Self {
        self.config.disabled_methods.extend(methods);
        self
    }

    /// Refuse sign-in until the email is verified. Default off.
    pub fn require_email_verification(mut self, on: bool) -> Self {
        self.config.require_email_verification = on;
        self
    }

    /// Let `POST /identify` reveal the methods of existing accounts. Default off.
    pub fn account_discovery(mut self, on: bool) -> Self {
        self.config.account_discovery = on;
        self
    }

    /// Check the database on every authenticated request. Default off.
    pub fn strict_revocation(mut self, on: bool) -> Self {
        self.config.strict_revocation = on;
        self
    }

    /// How often each instance polls for revocations. Default 5 seconds.
    pub fn revocation_poll_interval(mut self, interval: Duration) -> Self {
        self.config.revocation_poll_interval = interval;
        self
    }

    /// Not part of the public API: runs this instance as if its clock were `offset` off,
    /// for tests of clock skew between instances.
    #[doc(hidden)]
    pub fn __clock_offset(mut self, offset: time::Duration) -> Self {
        self.clock_offset = offset;
        self
    }

    /// Validates the settings, loads (or creates) the signing key and the revocation view,
    /// and starts the background poller. Needs a Tokio runtime and a migrated database.
    ///
    /// # Errors
    ///
    /// [`BuildError::Config`] naming the first unsafe or inconsistent setting;
    /// [`BuildError::Database`] when the database is unreachable or not migrated;
    /// [`BuildError::Keys`] when the stored signing key cannot be opened with this secret.
    pub async fn build(self) -> Result<Portcullis, BuildError> {
        let mut config = self.config;
        config.prefix_default_cookie_names();
        let origins = config.validate()?;
        if let Some(err) = self.role_error {
            return Err(ConfigError::Role(err).into());
        }
        let secret = config.secret.clone().ok_or(ConfigError::MissingSecret)?;
        let keys = DerivedKeys::derive(&secret);

        let a = config.argon2;
        let params = argon2::Params::new(a.memory_kib, a.iterations, a.parallelism, None)
            .map_err(|_| ConfigError::WeakHashing)?;
        let hasher = Hasher::new(params, config.hashing_concurrency)
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

        let mailer = match (self.mailer, &config.smtp_url) {
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
        let sms_sender = match (self.sms_sender, &config.sms_webhook_url) {
            (Some(sender), _) => Some(sender),
            (None, Some(url)) => Some(webhook_sender(url)?),
            (None, None) if config.is_development() => {
                Some(Arc::new(LogSmsSender) as Arc<dyn SmsSender>)
            }
            // Codes in a production log would be sign-ins for whoever reads it: no SMS.
            (None, None) => None,
        };
        if sms_sender.is_some()
            && config.sms_allowed_prefixes.is_empty()
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
            crate::oauth::OAuth::new(config.oauth_providers.clone()).map_err(ConfigError::OAuth)?;
        #[cfg(not(feature = "oauth"))]
        if !config.oauth_providers.is_empty() {
            return Err(ConfigError::OAuth(
                "portcullis was built without the `oauth` feature".into(),
            )
            .into());
        }

        let revocation = RevocationView::default();
        let overlap = config.revocation_poll_interval * 2 + config.clock_leeway;
        revocation
            .poll(
                &self.db,
                config.access_token_ttl + config.clock_leeway,
                overlap,
            )
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
            config.rate_limit,
            self.limits,
            auditor.clone(),
        );
        let from = config.email_from.clone().unwrap_or_else(|| {
            let host = origins
                .public()
                .map_or("localhost", |public| public.host.trim_matches(['[', ']']));
            Outbox::default_from(&config.app_name, host)
        });
        let branding = Branding {
            product_name: config.app_name.clone(),
            logo_url: config.logo_url.clone(),
            support_email: config.support_email.clone(),
            client_alias: None,
        };
        let outbox = Outbox::new(
            mailer,
            templates,
            sms_sender,
            auditor.clone(),
            from,
            branding,
        );
        let ctx = Context {
            token_cache: quick_cache::sync::Cache::new(config.token_cache_capacity),
            origins,
            keys,
            hasher,
            key_ring,
            revocation,
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
            clock: Clock {
                offset: self.clock_offset,
            },
            config,
        };
        Ok(Portcullis::start(ctx))
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
