//! Configuration: [`Config`] in sections, each with safe defaults.
//!
//! A setting has one place: its field in its section (`config.sessions.lifetime`). The
//! same path works three ways:
//!
//! - in Rust, through the builder's section methods:
//!   `Portcullis::builder(db).sessions(|s| s.lifetime = Duration::from_secs(14 * 86_400))`;
//! - in the host's own configuration file, since every section implements
//!   [`serde::Deserialize`] (durations as seconds or `"15m"`, `"7d"`):
//!
//!   ```toml
//!   [auth]
//!   public_url = "https://app.example.com"
//!   secret = "…64 hex characters…"
//!
//!   [auth.sessions]
//!   lifetime = "14d"
//!   refresh_grace = "10s"
//!   ```
//! - from the environment variables of the contract, with [`Config::from_env`].
//!
//! [`build`](crate::PortcullisBuilder::build) checks the whole of it and names the first
//! setting that is missing, unsafe or inconsistent.

#[cfg(feature = "billing")]
mod billing;
mod clients;
mod duration;
mod env;
mod validate;

use std::{fmt, time::Duration};

use serde::Deserialize;

use crate::{Secret, client::TrustedProxies, policy::PasswordPolicy};

#[cfg(feature = "billing")]
pub use self::billing::{BillingConfig, Plan};
pub use self::clients::{Client, ClientBranding};
pub use self::validate::ConfigError;
pub use crate::crypto::{MIN_SECRET_LEN, SecretError};

/// Every setting of a [`Portcullis`](crate::Portcullis) instance.
///
/// Start from [`Config::default`] (safe defaults, no secret), [`Config::from_env`], or
/// deserialize it from the host's own configuration; adjust it through the
/// [builder](crate::PortcullisBuilder)'s section methods; [`build`](crate::PortcullisBuilder::build)
/// checks the result.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The public origin of the app (`https://app.example.com`): the token issuer, the
    /// base of links in emails, the default allowed origin. Never taken from `Host`.
    pub public_url: String,
    /// The server secret (≥ 32 bytes), shared by every instance. Required.
    pub secret: Option<Secret>,
    /// The product name, used in messages and as a context word the password policy
    /// refuses.
    pub app_name: String,
    /// Where the host nests [`Portcullis::router`](crate::Portcullis::router), for links
    /// that point at our own endpoints (`GET /email/verify`). Default `/v1/auth`.
    pub auth_base_path: String,
    /// Sessions and their tokens.
    pub sessions: SessionConfig,
    /// Cookie names and attributes.
    pub cookies: CookieConfig,
    /// What requests may be: origins, proxies, sizes, rate limits.
    pub requests: RequestConfig,
    /// Which ways to sign in are on, and what a sign-in requires.
    pub sign_in: SignInConfig,
    /// Password rules and hashing.
    pub passwords: PasswordConfig,
    /// Emails: delivery, sender, branding, links and their lifetimes.
    pub email: EmailConfig,
    /// Magic links and one-time codes.
    pub passwordless: PasswordlessConfig,
    /// Passkeys (WebAuthn).
    #[cfg(feature = "passkeys")]
    pub passkeys: PasskeyConfig,
    /// Social sign-in providers.
    #[cfg(feature = "oauth")]
    pub oauth: OAuthConfig,
    /// What is deleted when.
    pub retention: RetentionConfig,
    /// Waitlist features people may join (`/me/waitlists/{feature}`); others answer 404.
    pub waitlists: Vec<String>,
    /// The host's front ends, named by publishable keys (`x-api-key`).
    pub clients: Vec<Client>,
    /// Billing with Stripe: keys and plans. Off until a secret key is set.
    #[cfg(feature = "billing")]
    pub billing: BillingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:3000".into(),
            secret: None,
            app_name: "portcullis".into(),
            auth_base_path: "/v1/auth".into(),
            sessions: SessionConfig::default(),
            cookies: CookieConfig::default(),
            requests: RequestConfig::default(),
            sign_in: SignInConfig::default(),
            passwords: PasswordConfig::default(),
            email: EmailConfig::default(),
            passwordless: PasswordlessConfig::default(),
            #[cfg(feature = "passkeys")]
            passkeys: PasskeyConfig::default(),
            #[cfg(feature = "oauth")]
            oauth: OAuthConfig::default(),
            retention: RetentionConfig::default(),
            waitlists: Vec::new(),
            clients: Vec::new(),
            #[cfg(feature = "billing")]
            billing: BillingConfig::default(),
        }
    }
}

// Hand-written: the secret, and the SMTP password in `email.smtp_url`, stay out of logs.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Config");
        debug
            .field("public_url", &self.public_url)
            .field("secret", &self.secret)
            .field("app_name", &self.app_name)
            .field("auth_base_path", &self.auth_base_path)
            .field("sessions", &self.sessions)
            .field("cookies", &self.cookies)
            .field("requests", &self.requests)
            .field("sign_in", &self.sign_in)
            .field("passwords", &self.passwords)
            .field("email", &self.email)
            .field("passwordless", &self.passwordless);
        #[cfg(feature = "passkeys")]
        debug.field("passkeys", &self.passkeys);
        #[cfg(feature = "oauth")]
        debug.field("oauth", &self.oauth);
        #[cfg(feature = "billing")]
        debug.field("billing", &self.billing);
        debug.field("retention", &self.retention).finish()
    }
}

impl Config {
    /// Whether the host left `method` on (it may still be unavailable: SMS without a
    /// sender, passkeys on an IP address, social sign-in without a provider).
    #[must_use]
    pub fn method_on(&self, method: SignInMethod) -> bool {
        !self.sign_in.disabled_methods.contains(&method)
    }

    /// The longest an access token is accepted after it was issued: lifetime plus leeway.
    /// How grants of a session opened through client `client_id` deliver tokens: the
    /// client's setting, else the host's.
    pub(crate) fn token_delivery_for(&self, client_id: Option<&str>) -> TokenDelivery {
        client_id
            .and_then(|id| self.clients.iter().find(|client| client.id == id))
            .and_then(|client| client.token_delivery)
            .unwrap_or(self.sessions.token_delivery)
    }

    pub(crate) fn token_window(&self) -> Duration {
        // An impersonation's one token lives up to an hour: revocations must be remembered
        // (and retired keys published) as long as it can be presented.
        self.sessions.access_token_ttl.max(IMPERSONATION_LIFETIME) + self.sessions.clock_leeway
    }

    /// How long a retired signing key stays published: a token it signed just before the
    /// rotation reached every instance must still verify until it expires.
    pub(crate) fn retired_key_lifetime(&self) -> Duration {
        self.token_window() + self.sessions.revocation_poll_interval * 2
    }

    /// Whether cookies carry `Secure`.
    pub(crate) fn secure_cookies(&self) -> bool {
        self.cookies
            .secure
            .unwrap_or_else(|| self.public_url.starts_with("https://"))
    }

    /// A development setup: plain http, or a loopback host. Only there may emails (with
    /// their links) go to the log by default.
    pub(crate) fn is_development(&self) -> bool {
        let url = self.public_url.to_ascii_lowercase();
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        url.starts_with("http://") || matches!(host, "localhost" | "127.0.0.1" | "[")
    }

    /// On an https public URL (with `Secure` cookies), the default cookie names take the
    /// `__Host-` prefix: browsers then refuse them from any other host (a sibling
    /// subdomain cannot plant one) and require `Secure; Path=/` without `Domain`. Names the
    /// host chose stay as they are.
    pub(crate) fn prefix_default_cookie_names(&mut self) {
        if !self.secure_cookies() {
            return;
        }
        let cookies = &mut self.cookies;
        for (name, default) in [
            (&mut cookies.session, "__session"),
            (&mut cookies.client, "__client"),
            (&mut cookies.csrf, "__csrf"),
        ] {
            if name == default {
                *name = format!("__Host-{}", &default[2..]);
            }
        }
    }
}

/// How long an admin's impersonation (and its one access token) lasts, at most.
pub(crate) const IMPERSONATION_LIFETIME: Duration = Duration::from_secs(3600);

/// Sessions and their tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Lifetime of access tokens. Default 5 minutes; between 30 seconds and 1 hour.
    #[serde(with = "duration")]
    pub access_token_ttl: Duration,
    /// A session that does not refresh for this long dies. Default 7 days.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// A session dies this long after sign-in whatever happens. Default 30 days.
    #[serde(with = "duration")]
    pub lifetime: Duration,
    /// Refreshes that race with the same token within this window all succeed on the
    /// same session. Default 10 seconds; at most 60.
    #[serde(with = "duration")]
    pub refresh_grace: Duration,
    /// A session is fresh for this long after sign-in; sensitive changes need a fresh
    /// session. Default 10 minutes.
    #[serde(with = "duration")]
    pub fresh_window: Duration,
    /// How grants deliver tokens.
    pub token_delivery: TokenDelivery,
    /// Check the database on every authenticated request instead of trusting the
    /// in-memory revocation view. Off by default.
    pub strict_revocation: bool,
    /// How often each instance refreshes its revocation view. Default 5 seconds; must be
    /// shorter than the access-token lifetime.
    #[serde(with = "duration")]
    pub revocation_poll_interval: Duration,
    /// Announce revocations to the other instances at once, so they refuse a revoked token
    /// within milliseconds instead of at their next poll: on Redis pub/sub when the host
    /// set `PortcullisBuilder::redis_revocations` (cargo feature `redis`), else on
    /// PostgreSQL (`LISTEN` / `NOTIFY` on `portcullis_revocations`). On by default; turn
    /// it off behind a PostgreSQL pooler in transaction mode (PgBouncer), where `LISTEN`
    /// does not work.
    pub revocation_push: bool,
    /// How many verified access tokens each instance remembers. Default 10 000.
    pub token_cache_capacity: usize,
    /// Clock skew tolerated on token times. Default 15 seconds; at most 60.
    #[serde(with = "duration")]
    pub clock_leeway: Duration,
    /// Rotate the signing key once it is this old (e.g. 30 days), or never (`None`, the
    /// default: rotate on demand with
    /// [`Portcullis::rotate_signing_key`](crate::Portcullis::rotate_signing_key)). Every
    /// instance checks at its revocation poll and exactly one rotates (a conditional
    /// update in one transaction); the retired key stays in the JWKS until the last token
    /// it signed has expired, and every instance serves the new one within a poll
    /// interval. At least the access-token lifetime, at most ten years.
    #[serde(with = "duration::option")]
    pub signing_key_rotation: Option<Duration>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(5 * 60),
            idle_timeout: Duration::from_secs(7 * 24 * 3600),
            lifetime: Duration::from_secs(30 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            fresh_window: Duration::from_secs(10 * 60),
            token_delivery: TokenDelivery::default(),
            strict_revocation: false,
            revocation_poll_interval: Duration::from_secs(5),
            revocation_push: true,
            token_cache_capacity: 10_000,
            clock_leeway: Duration::from_secs(15),
            signing_key_rotation: None,
        }
    }
}

/// How a session grant hands its tokens to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[non_exhaustive]
pub enum TokenDelivery {
    /// Cookies (`__session`, `__client`) and the tokens in the JSON body. The default.
    #[default]
    #[serde(rename = "both", alias = "cookies_and_body")]
    CookiesAndBody,
    /// Cookies, and no `refresh_token` in the body: browser apps that never need it in
    /// JavaScript.
    #[serde(rename = "cookies", alias = "cookies_only")]
    CookiesOnly,
    /// Tokens in the body only, no cookies: mobile apps and other services.
    #[serde(rename = "body", alias = "body_only")]
    BodyOnly,
}

/// Cookie names and attributes. Every cookie is `HttpOnly; SameSite=Lax; Path=/`, without
/// `Domain`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CookieConfig {
    /// The `Secure` attribute; `None` means "on for an https public URL".
    pub secure: Option<bool>,
    /// Name of the access-token cookie. Default `__session` (`__Host-session` on an https
    /// public URL).
    pub session: String,
    /// Name of the refresh-token cookie. Default `__client` (`__Host-client` on https).
    pub client: String,
    /// Name of the CSRF cookie. Default `__csrf` (`__Host-csrf` on https).
    pub csrf: String,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            secure: None,
            session: "__session".into(),
            client: "__client".into(),
            csrf: "__csrf".into(),
        }
    }
}

/// What requests may be: where they may come from, how big, how often.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestConfig {
    /// Origins (`scheme://host[:port]`) allowed to send cookie-authenticated unsafe
    /// requests and to be redirect targets, besides the public URL's own origin.
    pub allowed_origins: Vec<String>,
    /// Where the client IP comes from.
    pub trusted_proxies: TrustedProxies,
    /// Largest accepted request body in bytes. Default 64 KiB.
    pub body_limit: usize,
    /// Rate limits on credential and delivery endpoints. On by default; turn off only in
    /// test suites. (Each limit's rule is set with
    /// [`PortcullisBuilder::limit`](crate::PortcullisBuilder::limit).)
    pub rate_limit: bool,
    /// With [`clients`](Config::clients) configured, refuse every auth and organization
    /// request that names no known client in `x-api-key` (401 `invalid_client`); health
    /// and the JWKS stay open.
    pub require_client_key: bool,
    /// The longest a request to our routes may take. Past it the request answers 503
    /// `unavailable` with `Retry-After` and its work is dropped (a transaction in flight
    /// rolls back, as when a client hangs up). Default 10 s. How long one database call may
    /// wait is the pool's to bound: see [`connect_options`](crate::connect_options).
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for RequestConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            body_limit: 64 * 1024,
            rate_limit: true,
            require_client_key: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A way to sign in, as a host can turn it off ([`SignInConfig::disabled_methods`],
/// `PORTCULLIS_DISABLED_METHODS`).
///
/// A method that is off answers 404 on its routes, shows `false` in `GET /methods`, and no
/// longer counts as a way into an account when someone removes their last passkey or
/// linked account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum SignInMethod {
    /// Email and password: sign-up, sign-in, password reset and change.
    #[serde(rename = "password")]
    Password,
    /// Emailed sign-in links.
    #[serde(rename = "magic_link")]
    MagicLink,
    /// Emailed six-digit codes.
    #[serde(rename = "email_otp")]
    EmailOtp,
    /// Texted six-digit codes.
    #[serde(rename = "sms_otp")]
    SmsOtp,
    /// Passkeys (sign-in and registration).
    #[serde(rename = "passkey")]
    Passkey,
    /// Social sign-in (and linking).
    #[serde(rename = "oauth")]
    OAuth,
}

impl SignInMethod {
    /// Every method.
    pub const ALL: [Self; 6] = [
        Self::Password,
        Self::MagicLink,
        Self::EmailOtp,
        Self::SmsOtp,
        Self::Passkey,
        Self::OAuth,
    ];

    /// The method's name in `GET /methods` and `PORTCULLIS_DISABLED_METHODS`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::MagicLink => "magic_link",
            Self::EmailOtp => "email_otp",
            Self::SmsOtp => "sms_otp",
            Self::Passkey => "passkey",
            Self::OAuth => "oauth",
        }
    }

    /// The method named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.name() == name)
    }
}

/// Which ways to sign in are on, and what a sign-in requires.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SignInConfig {
    /// Sign-in methods turned off. Default: none.
    pub disabled_methods: Vec<SignInMethod>,
    /// Refuse sign-in to accounts whose email is not verified (403 `email_not_verified`).
    pub require_email_verification: bool,
    /// Let `POST /identify` reveal which methods an existing account has. Off by default:
    /// it tells anyone who has an account.
    pub account_discovery: bool,
    /// Addresses made admins once verified: when the address is verified, or at the next
    /// sign-in of an account that has it verified (a way to bootstrap the first admin).
    pub admin_emails: Vec<String>,
}

/// Argon2id cost parameters. The defaults are OWASP's (19 MiB, t=2, p=1), which is also
/// the floor [`build`](crate::PortcullisBuilder::build) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Password rules and hashing.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PasswordConfig {
    /// The password rules.
    pub policy: PasswordPolicy,
    /// When the breached-password check itself fails (the corpus is unreachable): refuse
    /// the new password with 503 `unavailable` (`true`), or accept it and log (`false`, the
    /// default: an outage of the corpus does not stop sign-ups).
    pub breached_fail_closed: bool,
    /// The cost of password hashes.
    pub argon2: Argon2Params,
    /// How many password hashes may run at once. Default: the number of CPU cores.
    pub hashing_concurrency: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            policy: PasswordPolicy::default(),
            breached_fail_closed: false,
            argon2: Argon2Params::default(),
            hashing_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// Emails: delivery, sender, branding, the pages links lead to and how long links live.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct EmailConfig {
    /// Where emails go: `smtp://host:port` (plain, local sinks),
    /// `smtp://user:pass@host:587?tls=starttls`, `smtps://user:pass@host`. Unset: emails
    /// are written to the log (development only).
    #[cfg(feature = "smtp")]
    pub smtp_url: Option<String>,
    /// The sender of our emails. Default `{app_name} <no-reply@{public host}>`.
    pub from: Option<String>,
    /// A support address shown at the bottom of emails.
    pub support_email: Option<String>,
    /// A logo (absolute https URL) shown at the top of HTML emails.
    pub logo_url: Option<String>,
    /// The host's page that completes a password reset; the emailed link is
    /// `{password_reset_url}?token=...`. Default `{public_url}/reset-password`.
    pub password_reset_url: Option<String>,
    /// The host's page that accepts an organization invitation; the emailed link is
    /// `{invitation_accept_url}?token=...`. Default `{public_url}/accept-invitation`.
    pub invitation_accept_url: Option<String>,
    /// Lifetime of email-verification links. Default and maximum 24 hours.
    #[serde(with = "duration")]
    pub verification_ttl: Duration,
    /// Lifetime of password-reset links. Default and maximum 1 hour.
    #[serde(with = "duration")]
    pub password_reset_ttl: Duration,
    /// Answer a successful password reset with a session grant (signing the user in).
    /// Off by default: the user signs in with the new password.
    pub sign_in_after_reset: bool,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            #[cfg(feature = "smtp")]
            smtp_url: None,
            from: None,
            support_email: None,
            logo_url: None,
            password_reset_url: None,
            invitation_accept_url: None,
            verification_ttl: Duration::from_secs(24 * 3600),
            password_reset_ttl: Duration::from_secs(3600),
            sign_in_after_reset: false,
        }
    }
}

// Hand-written: `smtp_url` may carry the SMTP password.
impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("EmailConfig");
        #[cfg(feature = "smtp")]
        debug.field("smtp_url", &self.smtp_url.as_deref().map(redact_userinfo));
        debug
            .field("from", &self.from)
            .field("support_email", &self.support_email)
            .field("logo_url", &self.logo_url)
            .field("password_reset_url", &self.password_reset_url)
            .field("invitation_accept_url", &self.invitation_accept_url)
            .field("verification_ttl", &self.verification_ttl)
            .field("password_reset_ttl", &self.password_reset_ttl)
            .field("sign_in_after_reset", &self.sign_in_after_reset)
            .finish()
    }
}

/// Magic links and one-time codes, by email and by text.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PasswordlessConfig {
    /// Lifetime of magic links. Default and maximum 10 minutes.
    #[serde(with = "duration")]
    pub magic_link_ttl: Duration,
    /// Lifetime of six-digit codes (email and SMS). Default and maximum 10 minutes.
    #[serde(with = "duration")]
    pub code_ttl: Duration,
    /// Wrong six-digit codes one address (or number) may take in a day, across all the
    /// codes sent to it, before code sign-in to it pauses until the day is over (and its
    /// owner is told). Default and maximum 100 (NIST SP 800-63B).
    pub code_failure_cap: u32,
    /// Whether an unknown email address gets an account on its first successful magic link
    /// or email code. Default on. Off, the send endpoints still answer the same and send
    /// nothing to unknown addresses.
    pub sign_up_by_email: bool,
    /// Whether an unknown phone number gets an account on its first successful SMS code.
    /// Default on.
    pub sign_up_by_phone: bool,
    /// Where texts go: a URL receiving `POST { "to", "body" }`. Unset: texts are written to
    /// the log in development, and SMS sign-in is off in production (unless a sender is
    /// set with [`sms_sender`](crate::PortcullisBuilder::sms_sender)).
    #[cfg(feature = "sms")]
    pub sms_webhook_url: Option<String>,
    /// Calling codes (`+1`, `+44`) numbers must start with; empty accepts every country.
    pub sms_allowed_prefixes: Vec<String>,
}

impl Default for PasswordlessConfig {
    fn default() -> Self {
        Self {
            magic_link_ttl: Duration::from_secs(600),
            code_ttl: Duration::from_secs(600),
            code_failure_cap: 100,
            sign_up_by_email: true,
            sign_up_by_phone: true,
            #[cfg(feature = "sms")]
            sms_webhook_url: None,
            sms_allowed_prefixes: Vec::new(),
        }
    }
}

// Hand-written: a webhook URL's query may carry a token.
impl fmt::Debug for PasswordlessConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("PasswordlessConfig");
        debug
            .field("magic_link_ttl", &self.magic_link_ttl)
            .field("code_ttl", &self.code_ttl)
            .field("code_failure_cap", &self.code_failure_cap)
            .field("sign_up_by_email", &self.sign_up_by_email)
            .field("sign_up_by_phone", &self.sign_up_by_phone);
        #[cfg(feature = "sms")]
        debug.field(
            "sms_webhook_url",
            &self
                .sms_webhook_url
                .as_deref()
                .map(|url| url.split('?').next().unwrap_or(url)),
        );
        debug
            .field("sms_allowed_prefixes", &self.sms_allowed_prefixes)
            .finish()
    }
}

/// Passkeys (WebAuthn): the relying party.
#[cfg(feature = "passkeys")]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PasskeyConfig {
    /// The WebAuthn relying-party id passkeys are bound to. Default: the public URL's
    /// host. It may be a parent domain of that host (`example.com` for
    /// `https://auth.example.com`), never an IP address. Passkeys cannot move to another
    /// RP id later: choose it once.
    pub rp_id: Option<String>,
    /// Origins where browsers run passkey ceremonies besides the public URL, each under
    /// the RP id. Default: none. Redirect targets are not trusted for passkeys unless
    /// listed here: any page that may run a ceremony can relay a person's passkey.
    pub origins: Vec<String>,
}

/// Social sign-in.
#[cfg(feature = "oauth")]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OAuthConfig {
    /// The providers (see [`OAuthProvider`](crate::oauth::OAuthProvider)); in a file, each
    /// `{ name, client_id, client_secret, issuer? }` as the environment variables have
    /// them.
    pub providers: Vec<crate::oauth::OAuthProvider>,
}

/// What is deleted when (see [`retention`](crate::retention)).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetentionConfig {
    /// How often each instance deletes what the rules let go of; zero turns the background
    /// sweep off (call [`Portcullis::sweep`](crate::Portcullis::sweep) yourself). Default 1
    /// hour.
    #[serde(with = "duration")]
    pub sweep_interval: Duration,
    /// How long a session is kept after it ended (revoked or expired). Default 30 days; at
    /// least twice the longest token lifetime (an impersonation's hour) plus two polls.
    #[serde(with = "duration")]
    pub ended_sessions: Duration,
    /// How long audit events are kept; `None` keeps them forever. Default 365 days.
    #[serde(with = "duration::option")]
    pub audit_events: Option<Duration>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            sweep_interval: Duration::from_secs(3600),
            ended_sessions: Duration::from_secs(30 * 24 * 3600),
            audit_events: Some(Duration::from_secs(365 * 24 * 3600)),
        }
    }
}

/// `scheme://user:***@host...`: a URL with its password hidden.
#[cfg_attr(not(feature = "smtp"), allow(dead_code))]
pub(crate) fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_reads_from_a_hosts_file_with_readable_durations() {
        let config: Config = serde_json::from_value(serde_json::json!({
            "public_url": "https://app.example.com",
            "secret": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "sessions": { "lifetime": "14d", "refresh_grace": 3, "token_delivery": "cookies" },
            "cookies": { "secure": true },
            "sign_in": { "disabled_methods": ["magic_link"] },
            "retention": { "audit_events": null },
        }))
        .unwrap();
        assert_eq!(config.sessions.lifetime, Duration::from_secs(14 * 86_400));
        assert_eq!(config.sessions.refresh_grace, Duration::from_secs(3));
        assert_eq!(config.sessions.token_delivery, TokenDelivery::CookiesOnly);
        assert_eq!(config.sessions.access_token_ttl, Duration::from_secs(300));
        assert!(!config.method_on(SignInMethod::MagicLink));
        assert_eq!(config.retention.audit_events, None);
        assert!(config.secret.is_some());
        // A typo is an error, not a silently ignored setting.
        let typo = serde_json::from_value::<Config>(serde_json::json!({
            "sessions": { "lifetme": "14d" }
        }));
        assert!(typo.is_err());
    }

    #[test]
    fn debug_hides_the_secret_and_the_smtp_password() {
        let mut c = Config {
            secret: Some(Secret::generate()),
            ..Config::default()
        };
        #[cfg(feature = "smtp")]
        {
            c.email.smtp_url = Some("smtps://mailer:hunter2@smtp.example.com".into());
        }
        c.app_name = "x".into();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("Secret([redacted])"), "{debug}");
        #[cfg(feature = "smtp")]
        assert!(debug.contains("smtps://mailer:***@smtp.example.com"));
    }

    #[test]
    fn secure_cookies_follow_the_scheme_unless_set() {
        let mut c = Config::default();
        assert!(!c.secure_cookies());
        c.public_url = "https://x.example".into();
        assert!(c.secure_cookies());
        c.cookies.secure = Some(false);
        assert!(!c.secure_cookies());
    }
}
