//! Configuration: [`Config`], its environment reader, and the checks `build()` runs.

use std::{fmt, time::Duration};

use crate::{
    Secret,
    client::TrustedProxies,
    origin::{Origin, Origins},
    policy::password::PasswordPolicy,
};

/// How a session grant hands its tokens to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenDelivery {
    /// Cookies (`__session`, `__client`) and the tokens in the JSON body. The default.
    #[default]
    CookiesAndBody,
    /// Cookies, and no `refresh_token` in the body: browser apps that never need it in
    /// JavaScript.
    CookiesOnly,
    /// Tokens in the body only, no cookies: mobile apps and other services.
    BodyOnly,
}

/// A way to sign in, as a host can turn it off
/// ([`Config::disabled_methods`], `PORTCULLIS_DISABLED_METHODS`).
///
/// A method that is off answers 404 on its routes, shows `false` in `GET /methods`, and no
/// longer counts as a way into an account when someone removes their last passkey or
/// linked account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignInMethod {
    /// Email and password: sign-up, sign-in, password reset and change.
    Password,
    /// Emailed sign-in links.
    MagicLink,
    /// Emailed six-digit codes.
    EmailOtp,
    /// Texted six-digit codes.
    SmsOtp,
    /// Passkeys (sign-in and registration).
    Passkey,
    /// Social sign-in (and linking).
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

/// Argon2id cost parameters. The defaults are OWASP's (19 MiB, t=2, p=1), which is also
/// the floor [`build`](crate::PortcullisBuilder::build) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Every setting of a [`Portcullis`](crate::Portcullis) instance.
///
/// Start from [`Config::default`] (safe defaults, no secret) or [`Config::from_env`], adjust
/// through the [builder](crate::PortcullisBuilder), and let
/// [`build`](crate::PortcullisBuilder::build) check the result.
#[derive(Clone)]
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
    /// Lifetime of access tokens. Default 5 minutes; between 30 seconds and 1 hour.
    pub access_token_ttl: Duration,
    /// A session that does not refresh for this long dies. Default 7 days.
    pub session_idle_timeout: Duration,
    /// A session dies this long after sign-in whatever happens. Default 30 days.
    pub session_lifetime: Duration,
    /// Refreshes that race with the same token within this window all succeed on the
    /// same session. Default 10 seconds; at most 60.
    pub refresh_grace: Duration,
    /// How grants deliver tokens.
    pub token_delivery: TokenDelivery,
    /// The `Secure` cookie attribute; `None` means "on for an https public URL".
    pub cookie_secure: Option<bool>,
    /// Name of the access-token cookie. Default `__session` (`__Host-session` on an https
    /// public URL).
    pub session_cookie: String,
    /// Name of the refresh-token cookie. Default `__client` (`__Host-client` on https).
    pub client_cookie: String,
    /// Name of the CSRF cookie. Default `__csrf` (`__Host-csrf` on https).
    pub csrf_cookie: String,
    /// Origins (`scheme://host[:port]`) allowed to send cookie-authenticated unsafe
    /// requests and to be redirect targets, besides the public URL's own origin.
    pub allowed_origins: Vec<String>,
    /// Where the client IP comes from.
    pub trusted_proxies: TrustedProxies,
    /// Rate limits on credential endpoints. On by default; turn off only in test suites.
    pub rate_limit: bool,
    /// Refuse sign-in to accounts whose email is not verified (403 `email_not_verified`).
    pub require_email_verification: bool,
    /// Let `POST /identify` reveal which methods an existing account has. Off by default:
    /// it tells anyone who has an account.
    pub account_discovery: bool,
    /// Check the database on every authenticated request instead of trusting the
    /// in-memory revocation view. Off by default.
    pub strict_revocation: bool,
    /// How often each instance refreshes its revocation view. Default 5 seconds; must be
    /// shorter than the access-token lifetime.
    pub revocation_poll_interval: Duration,
    /// How many verified access tokens each instance remembers. Default 10 000.
    pub token_cache_capacity: usize,
    /// Largest accepted request body in bytes. Default 64 KiB.
    pub body_limit: usize,
    /// Clock skew tolerated on token times. Default 15 seconds; at most 60.
    pub clock_leeway: Duration,
    /// A session is fresh for this long after sign-in; sensitive changes need a fresh
    /// session. Default 10 minutes.
    pub fresh_session_window: Duration,
    /// The password rules.
    pub password_policy: PasswordPolicy,
    /// When the breached-password check itself fails (the corpus is unreachable): refuse
    /// the new password with 503 `unavailable` (`true`), or accept it and log (`false`, the
    /// default: an outage of the corpus does not stop sign-ups).
    pub breached_passwords_fail_closed: bool,
    /// The cost of password hashes.
    pub argon2: Argon2Params,
    /// How many password hashes may run at once. Default: the number of CPU cores.
    pub hashing_concurrency: usize,
    /// Where emails go: `smtp://host:port` (plain, local sinks),
    /// `smtp://user:pass@host:587?tls=starttls`, `smtps://user:pass@host`. Unset: emails
    /// are written to the log (development only).
    pub smtp_url: Option<String>,
    /// The sender of our emails. Default `{app_name} <no-reply@{public host}>`.
    pub email_from: Option<String>,
    /// A support address shown at the bottom of emails.
    pub support_email: Option<String>,
    /// A logo (absolute https URL) shown at the top of HTML emails.
    pub logo_url: Option<String>,
    /// The host's page that completes a password reset; the emailed link is
    /// `{password_reset_url}?token=...`. Default `{public_url}/reset-password`.
    pub password_reset_url: Option<String>,
    /// Where the host nests [`Portcullis::router`](crate::Portcullis::router), for links
    /// that point at our own endpoints (`GET /email/verify`). Default `/v1/auth`.
    pub auth_base_path: String,
    /// Lifetime of email-verification links. Default and maximum 24 hours.
    pub email_verification_ttl: Duration,
    /// Lifetime of password-reset links. Default and maximum 1 hour.
    pub password_reset_ttl: Duration,
    /// Answer a successful password reset with a session grant (signing the user in).
    /// Off by default: the user signs in with the new password.
    pub sign_in_after_reset: bool,
    /// Lifetime of magic links. Default and maximum 10 minutes.
    pub magic_link_ttl: Duration,
    /// Lifetime of six-digit codes (email and SMS). Default and maximum 10 minutes.
    pub code_ttl: Duration,
    /// Wrong six-digit codes one address (or number) may take in a day, across all the
    /// codes sent to it, before code sign-in to it pauses until the day is over (and its
    /// owner is emailed). Default and maximum 100 (NIST SP 800-63B).
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
    /// set with `.sms_sender(..)`).
    pub sms_webhook_url: Option<String>,
    /// Calling codes (`+1`, `+44`) numbers must start with; empty accepts every country.
    pub sms_allowed_prefixes: Vec<String>,
    /// The host's page that accepts an organization invitation; the emailed link is
    /// `{invitation_accept_url}?token=...`. Default `{public_url}/accept-invitation`.
    pub invitation_accept_url: Option<String>,
    /// The WebAuthn relying-party id passkeys are bound to. Default: the public URL's host.
    /// It may be a parent domain of that host (`example.com` for
    /// `https://auth.example.com`), never an IP address. Passkeys cannot move to another
    /// RP id later: choose it once.
    pub passkey_rp_id: Option<String>,
    /// Origins where browsers run passkey ceremonies besides the public URL, each under
    /// the RP id. Default: none. Redirect targets are not trusted for passkeys unless
    /// listed here: any page that may run a ceremony can relay a person's passkey.
    pub passkey_origins: Vec<String>,
    /// Social sign-in providers (see [`OAuthProvider`](crate::OAuthProvider)).
    pub oauth_providers: Vec<crate::OAuthProvider>,
    /// Sign-in methods turned off. Default: none.
    pub disabled_methods: Vec<SignInMethod>,
    /// How often each instance deletes what the retention rules let go of (see
    /// [`flows::retention`](crate::flows::retention)); zero turns the background sweep off
    /// (call [`Portcullis::sweep`](crate::Portcullis::sweep) yourself). Default 1 hour.
    pub retention_sweep_interval: Duration,
    /// How long a session is kept after it ended (revoked or expired). Default 30 days; at
    /// least 1 hour.
    pub ended_session_retention: Duration,
    /// How long audit events are kept; `None` keeps them forever. Default 365 days.
    pub audit_retention: Option<Duration>,
}

// Hand-written: `smtp_url` may carry the SMTP password.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("public_url", &self.public_url)
            .field("secret", &self.secret)
            .field("app_name", &self.app_name)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_lifetime", &self.session_lifetime)
            .field("refresh_grace", &self.refresh_grace)
            .field("token_delivery", &self.token_delivery)
            .field("cookie_secure", &self.cookie_secure)
            .field("session_cookie", &self.session_cookie)
            .field("client_cookie", &self.client_cookie)
            .field("csrf_cookie", &self.csrf_cookie)
            .field("allowed_origins", &self.allowed_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("rate_limit", &self.rate_limit)
            .field(
                "require_email_verification",
                &self.require_email_verification,
            )
            .field("account_discovery", &self.account_discovery)
            .field("strict_revocation", &self.strict_revocation)
            .field("revocation_poll_interval", &self.revocation_poll_interval)
            .field("token_cache_capacity", &self.token_cache_capacity)
            .field("body_limit", &self.body_limit)
            .field("clock_leeway", &self.clock_leeway)
            .field("fresh_session_window", &self.fresh_session_window)
            .field("password_policy", &self.password_policy)
            .field(
                "breached_passwords_fail_closed",
                &self.breached_passwords_fail_closed,
            )
            .field("argon2", &self.argon2)
            .field("hashing_concurrency", &self.hashing_concurrency)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_userinfo))
            .field("email_from", &self.email_from)
            .field("support_email", &self.support_email)
            .field("logo_url", &self.logo_url)
            .field("password_reset_url", &self.password_reset_url)
            .field("auth_base_path", &self.auth_base_path)
            .field("email_verification_ttl", &self.email_verification_ttl)
            .field("password_reset_ttl", &self.password_reset_ttl)
            .field("sign_in_after_reset", &self.sign_in_after_reset)
            .field("magic_link_ttl", &self.magic_link_ttl)
            .field("code_ttl", &self.code_ttl)
            .field("code_failure_cap", &self.code_failure_cap)
            .field("sign_up_by_email", &self.sign_up_by_email)
            .field("sign_up_by_phone", &self.sign_up_by_phone)
            .field(
                "sms_webhook_url",
                &self
                    .sms_webhook_url
                    .as_deref()
                    .map(|url| url.split('?').next().unwrap_or(url).to_owned()),
            )
            .field("sms_allowed_prefixes", &self.sms_allowed_prefixes)
            .field("invitation_accept_url", &self.invitation_accept_url)
            .field("passkey_rp_id", &self.passkey_rp_id)
            .field("passkey_origins", &self.passkey_origins)
            .field("oauth_providers", &self.oauth_providers)
            .field("disabled_methods", &self.disabled_methods)
            .field("retention_sweep_interval", &self.retention_sweep_interval)
            .field("ended_session_retention", &self.ended_session_retention)
            .field("audit_retention", &self.audit_retention)
            .finish()
    }
}

/// The providers [`Config::from_lookup`] looks for (it cannot list variables).
const PRESET_NAMES: [&str; 5] = ["GOOGLE", "GITLAB", "GITHUB", "DISCORD", "APPLE"];

/// Providers from `PORTCULLIS_OIDC_<NAME>_CLIENT_ID`, `_CLIENT_SECRET` and `_ISSUER`.
fn oauth_providers_from<'a>(
    lookup: impl Fn(&str) -> Option<String>,
    names: impl Iterator<Item = &'a str>,
) -> Result<Vec<crate::OAuthProvider>, ConfigError> {
    let mut providers = Vec::new();
    for upper in names {
        let var = |suffix: &str| {
            lookup(&format!("PORTCULLIS_OIDC_{upper}_{suffix}"))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(client_id) = var("CLIENT_ID") else {
            continue;
        };
        let secret = var("CLIENT_SECRET").unwrap_or_default();
        let name = upper.to_ascii_lowercase();
        let provider = match var("ISSUER") {
            Some(issuer) => crate::OAuthProvider::oidc(&name, issuer, client_id, secret),
            None => crate::OAuthProvider::preset(&name, &client_id, &secret).ok_or_else(|| {
                ConfigError::OAuth(format!(
                    "PORTCULLIS_OIDC_{upper}_ISSUER is not set and {name:?} is no preset"
                ))
            })?,
        };
        providers.push(provider);
    }
    providers.sort_by(|a, b| a.name().cmp(b.name()));
    providers.dedup_by(|a, b| a.name() == b.name());
    Ok(providers)
}

/// `scheme://user:***@host...`: a URL with its password hidden.
pub(crate) fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:3000".into(),
            secret: None,
            app_name: "portcullis".into(),
            access_token_ttl: Duration::from_secs(5 * 60),
            session_idle_timeout: Duration::from_secs(7 * 24 * 3600),
            session_lifetime: Duration::from_secs(30 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            token_delivery: TokenDelivery::default(),
            cookie_secure: None,
            session_cookie: "__session".into(),
            client_cookie: "__client".into(),
            csrf_cookie: "__csrf".into(),
            allowed_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            rate_limit: true,
            require_email_verification: false,
            account_discovery: false,
            strict_revocation: false,
            revocation_poll_interval: Duration::from_secs(5),
            token_cache_capacity: 10_000,
            body_limit: 64 * 1024,
            clock_leeway: Duration::from_secs(15),
            fresh_session_window: Duration::from_secs(10 * 60),
            password_policy: PasswordPolicy::default(),
            breached_passwords_fail_closed: false,
            argon2: Argon2Params::default(),
            hashing_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            smtp_url: None,
            email_from: None,
            support_email: None,
            logo_url: None,
            password_reset_url: None,
            auth_base_path: "/v1/auth".into(),
            email_verification_ttl: Duration::from_secs(24 * 3600),
            password_reset_ttl: Duration::from_secs(3600),
            sign_in_after_reset: false,
            magic_link_ttl: Duration::from_secs(600),
            code_ttl: Duration::from_secs(600),
            code_failure_cap: 100,
            sign_up_by_email: true,
            sign_up_by_phone: true,
            sms_webhook_url: None,
            sms_allowed_prefixes: Vec::new(),
            invitation_accept_url: None,
            passkey_rp_id: None,
            passkey_origins: Vec::new(),
            oauth_providers: Vec::new(),
            disabled_methods: Vec::new(),
            retention_sweep_interval: Duration::from_secs(3600),
            ended_session_retention: Duration::from_secs(30 * 24 * 3600),
            audit_retention: Some(Duration::from_secs(365 * 24 * 3600)),
        }
    }
}

impl Config {
    /// Reads the environment variables of the contract (`API.md`) on top of the defaults:
    ///
    /// | variable | effect |
    /// |---|---|
    /// | `PORTCULLIS_SECRET` | the server secret, hex or base64 (≥ 32 bytes) |
    /// | `PORTCULLIS_PUBLIC_URL` | [`public_url`](Self::public_url) |
    /// | `PORTCULLIS_ALLOWED_REDIRECTS` | comma-separated [`allowed_origins`](Self::allowed_origins) |
    /// | `PORTCULLIS_TRUST_PROXY` | `true`: the client IP is the right-most `X-Forwarded-For` entry |
    /// | `PORTCULLIS_REFRESH_GRACE_SECS` | [`refresh_grace`](Self::refresh_grace) |
    /// | `PORTCULLIS_RATE_LIMIT` | `off` turns every rate limit off (test suites only) |
    /// | `PORTCULLIS_COOKIE_SECURE` | the `Secure` cookie attribute |
    /// | `PORTCULLIS_SMTP_URL` | [`smtp_url`](Self::smtp_url): deliver emails over SMTP |
    /// | `PORTCULLIS_SMS_WEBHOOK_URL` | [`sms_webhook_url`](Self::sms_webhook_url): deliver texts through the host's webhook |
    /// | `PORTCULLIS_OIDC_<NAME>_CLIENT_ID`, `_CLIENT_SECRET`, `_ISSUER` | a social sign-in provider named `<name>` (lower-cased): an OpenID Connect issuer, or without one a preset (`GOOGLE`, `GITLAB`, `GITHUB`, `DISCORD`, `APPLE`) |
    /// | `PORTCULLIS_DISABLED_METHODS` | comma-separated [`disabled_methods`](Self::disabled_methods): `password`, `magic_link`, `email_otp`, `sms_otp`, `passkey`, `oauth` |
    ///
    /// Unset variables keep their defaults. `PORTCULLIS_DATABASE_URL` and
    /// `PORTCULLIS_BIND` belong to the host, which opens the database and the listener.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] naming the first variable that is set but unreadable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let providers: Vec<String> = std::env::vars()
            .filter_map(|(key, _)| {
                key.strip_prefix("PORTCULLIS_OIDC_")?
                    .strip_suffix("_CLIENT_ID")
                    .map(str::to_owned)
            })
            .collect();
        let mut config = Self::from_lookup(|name| std::env::var(name).ok())?;
        config.oauth_providers = oauth_providers_from(
            |name| std::env::var(name).ok(),
            providers.iter().map(String::as_str),
        )?;
        Ok(config)
    }

    /// [`from_env`](Self::from_env) over any lookup function (handy in tests).
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let env_err = |var: &'static str, message: String| ConfigError::Env { var, message };

        if let Some(secret) = var("PORTCULLIS_SECRET") {
            let secret =
                Secret::parse(&secret).map_err(|e| env_err("PORTCULLIS_SECRET", e.to_string()))?;
            config.secret = Some(secret);
        }
        if let Some(url) = var("PORTCULLIS_PUBLIC_URL") {
            config.public_url = url;
        }
        if let Some(list) = var("PORTCULLIS_ALLOWED_REDIRECTS") {
            config.allowed_origins = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(flag) = var("PORTCULLIS_TRUST_PROXY") {
            let on = parse_bool(&flag).ok_or_else(|| {
                env_err(
                    "PORTCULLIS_TRUST_PROXY",
                    format!("expected true or false, got {flag:?}"),
                )
            })?;
            config.trusted_proxies = if on {
                TrustedProxies::nearest()
            } else {
                TrustedProxies::none()
            };
        }
        if let Some(secs) = var("PORTCULLIS_REFRESH_GRACE_SECS") {
            let secs: u64 = secs.parse().map_err(|_| {
                env_err(
                    "PORTCULLIS_REFRESH_GRACE_SECS",
                    format!("expected seconds, got {secs:?}"),
                )
            })?;
            config.refresh_grace = Duration::from_secs(secs);
        }
        if let Some(flag) = var("PORTCULLIS_RATE_LIMIT") {
            config.rate_limit = parse_bool(&flag).ok_or_else(|| {
                env_err(
                    "PORTCULLIS_RATE_LIMIT",
                    format!("expected on or off, got {flag:?}"),
                )
            })?;
        }
        if let Some(url) = var("PORTCULLIS_SMTP_URL") {
            config.smtp_url = Some(url);
        }
        if let Some(url) = var("PORTCULLIS_SMS_WEBHOOK_URL") {
            config.sms_webhook_url = Some(url);
        }
        config.oauth_providers = oauth_providers_from(&lookup, PRESET_NAMES.iter().copied())?;
        if let Some(list) = var("PORTCULLIS_DISABLED_METHODS") {
            config.disabled_methods = list
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    SignInMethod::from_name(name).ok_or_else(|| {
                        env_err(
                            "PORTCULLIS_DISABLED_METHODS",
                            format!(
                                "unknown method {name:?} (expected password, magic_link, email_otp, sms_otp, passkey or oauth)"
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(flag) = var("PORTCULLIS_COOKIE_SECURE") {
            let secure = parse_bool(&flag).ok_or_else(|| {
                env_err(
                    "PORTCULLIS_COOKIE_SECURE",
                    format!("expected true or false, got {flag:?}"),
                )
            })?;
            config.cookie_secure = Some(secure);
        }
        Ok(config)
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
        for (name, default) in [
            (&mut self.session_cookie, "__session"),
            (&mut self.client_cookie, "__client"),
            (&mut self.csrf_cookie, "__csrf"),
        ] {
            if name == default {
                *name = format!("__Host-{}", &default[2..]);
            }
        }
    }

    /// The longest an access token is accepted after it was issued: lifetime plus leeway.
    pub(crate) fn token_window(&self) -> Duration {
        self.access_token_ttl + self.clock_leeway
    }

    /// How long a retired signing key stays published: a token it signed just before the
    /// rotation reached every instance must still verify until it expires.
    pub(crate) fn retired_key_lifetime(&self) -> Duration {
        self.token_window() + self.revocation_poll_interval * 2
    }

    /// Whether the host left `method` on (it may still be unavailable: SMS without a
    /// sender, passkeys on an IP address, social sign-in without a provider).
    #[must_use]
    pub fn method_on(&self, method: SignInMethod) -> bool {
        !self.disabled_methods.contains(&method)
    }

    /// Whether cookies carry `Secure`.
    pub(crate) fn secure_cookies(&self) -> bool {
        self.cookie_secure
            .unwrap_or_else(|| self.public_url.starts_with("https://"))
    }

    /// Checks every setting, returning the normalised public origin and allowed origins.
    pub(crate) fn validate(&self) -> Result<Origins, ConfigError> {
        let public = Origin::parse(&self.public_url).ok_or_else(|| ConfigError::PublicUrl {
            url: self.public_url.clone(),
        })?;
        let mut allowed = vec![public.clone()];
        for origin in &self.allowed_origins {
            let parsed = Origin::parse_bare(origin).ok_or_else(|| ConfigError::AllowedOrigin {
                origin: origin.clone(),
            })?;
            if !allowed.contains(&parsed) {
                allowed.push(parsed);
            }
        }
        if self.secret.is_none() {
            return Err(ConfigError::MissingSecret);
        }
        let within = |value: Duration, min: Duration, max: Duration| value >= min && value <= max;
        if !within(
            self.access_token_ttl,
            Duration::from_secs(30),
            Duration::from_secs(3600),
        ) {
            return Err(ConfigError::Out {
                setting: "access_token_ttl",
                range: "30 s to 1 h",
            });
        }
        if !within(self.refresh_grace, Duration::ZERO, Duration::from_secs(60)) {
            return Err(ConfigError::Out {
                setting: "refresh_grace",
                range: "0 to 60 s",
            });
        }
        if !within(self.clock_leeway, Duration::ZERO, Duration::from_secs(60)) {
            return Err(ConfigError::Out {
                setting: "clock_leeway",
                range: "0 to 60 s",
            });
        }
        if self.session_idle_timeout < self.access_token_ttl
            || self.session_lifetime < self.access_token_ttl
        {
            return Err(ConfigError::Out {
                setting: "session_idle_timeout / session_lifetime",
                range: "at least the access-token lifetime",
            });
        }
        if self.revocation_poll_interval.is_zero()
            || self.revocation_poll_interval >= self.access_token_ttl
        {
            return Err(ConfigError::Out {
                setting: "revocation_poll_interval",
                range: "above zero and below the access-token lifetime",
            });
        }
        if self.ended_session_retention
            < crate::flows::retention::min_session_retention(
                self.access_token_ttl,
                self.clock_leeway,
                self.revocation_poll_interval,
            )
        {
            return Err(ConfigError::Out {
                setting: "ended_session_retention",
                range: "at least 1 hour, and twice the access-token lifetime",
            });
        }
        if self.body_limit < 1024 {
            return Err(ConfigError::Out {
                setting: "body_limit",
                range: "at least 1 KiB",
            });
        }
        if self.token_cache_capacity == 0 || self.hashing_concurrency == 0 {
            return Err(ConfigError::Out {
                setting: "token_cache_capacity / hashing_concurrency",
                range: "at least 1",
            });
        }
        let a = self.argon2;
        let floor = Argon2Params::default();
        if a.memory_kib < floor.memory_kib || a.iterations < floor.iterations || a.parallelism < 1 {
            return Err(ConfigError::WeakHashing);
        }
        self.password_policy.validate()?;
        self.validate_email_settings(&allowed)?;
        for name in [&self.session_cookie, &self.client_cookie, &self.csrf_cookie] {
            let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token_char) {
                return Err(ConfigError::CookieName { name: name.clone() });
            }
            if (name.starts_with("__Host-") || name.starts_with("__Secure-"))
                && !self.secure_cookies()
            {
                return Err(ConfigError::CookiePrefixNeedsSecure { name: name.clone() });
            }
        }
        let mut names = std::collections::HashSet::new();
        for provider in &self.oauth_providers {
            if let Some(problem) = provider.problem() {
                return Err(ConfigError::OAuth(problem));
            }
            if !names.insert(provider.name()) {
                return Err(ConfigError::OAuth(format!(
                    "two providers are named {:?}",
                    provider.name()
                )));
            }
        }
        Ok(Origins {
            issuer: public.serialize(),
            allowed,
        })
    }
}

impl Config {
    fn validate_email_settings(&self, allowed: &[Origin]) -> Result<(), ConfigError> {
        let bad =
            |setting: &'static str, why: &'static str| Err(ConfigError::Email { setting, why });
        if let Some(from) = &self.email_from
            && (from.chars().any(char::is_control) || !from.contains('@'))
        {
            return bad(
                "email_from",
                "must be an address like `Acme <no-reply@acme.example>`",
            );
        }
        if let Some(url) = &self.password_reset_url
            && Origin::parse(url).is_none_or(|origin| !allowed.contains(&origin))
        {
            return bad(
                "password_reset_url",
                "must be an absolute URL on the public or an allowed origin",
            );
        }
        if let Some(url) = &self.invitation_accept_url
            && Origin::parse(url).is_none_or(|origin| !allowed.contains(&origin))
        {
            return bad(
                "invitation_accept_url",
                "must be an absolute URL on the public or an allowed origin",
            );
        }
        if let Some(url) = &self.logo_url
            && Origin::parse(url).is_none()
        {
            return bad("logo_url", "must be an absolute http(s) URL");
        }
        if !self.auth_base_path.starts_with('/')
            || self.auth_base_path.ends_with('/')
            || self
                .auth_base_path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
            return bad(
                "auth_base_path",
                "must be a path like `/v1/auth` (leading slash, no trailing slash)",
            );
        }
        if self.email_verification_ttl.is_zero()
            || self.email_verification_ttl > Duration::from_secs(24 * 3600)
        {
            return bad(
                "email_verification_ttl",
                "must be above zero and at most 24 hours",
            );
        }
        if self.password_reset_ttl.is_zero() || self.password_reset_ttl > Duration::from_secs(3600)
        {
            return bad(
                "password_reset_ttl",
                "must be above zero and at most 1 hour",
            );
        }
        let ten_minutes = Duration::from_secs(600);
        if self.magic_link_ttl.is_zero() || self.magic_link_ttl > ten_minutes {
            return bad(
                "magic_link_ttl",
                "must be above zero and at most 10 minutes",
            );
        }
        if self.code_ttl.is_zero() || self.code_ttl > ten_minutes {
            return bad("code_ttl", "must be above zero and at most 10 minutes");
        }
        if !(1..=100).contains(&self.code_failure_cap) {
            return bad("code_failure_cap", "must be between 1 and 100");
        }
        for prefix in &self.sms_allowed_prefixes {
            let digits = prefix.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return bad("sms_allowed_prefixes", "calling codes look like +1 or +44");
            }
        }
        Ok(())
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// Errors returned by [`PortcullisBuilder::build`](crate::PortcullisBuilder::build) and
/// [`Config::from_env`] for settings that are missing, unsafe or inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No server secret was configured.
    #[error(
        "no server secret: set PORTCULLIS_SECRET or call .secret(..) with at least 32 random bytes"
    )]
    MissingSecret,
    /// The public URL is not an absolute `http(s)://host[:port]` URL.
    #[error("public URL {url:?} is not an absolute http(s) URL with a host")]
    PublicUrl {
        /// The rejected URL.
        url: String,
    },
    /// An allowed origin is not of the form `scheme://host[:port]`.
    #[error("allowed origin {origin:?} is not of the form scheme://host[:port]")]
    AllowedOrigin {
        /// The rejected origin.
        origin: String,
    },
    /// A duration or size is outside its safe range.
    #[error("{setting} must be {range}")]
    Out {
        /// The setting.
        setting: &'static str,
        /// The accepted range.
        range: &'static str,
    },
    /// The argon2id parameters are below OWASP's minimum (19 MiB, t=2, p=1).
    #[error("argon2id parameters below the OWASP minimum (19 MiB, 2 iterations, 1 lane)")]
    WeakHashing,
    /// The password policy is weaker than the hard floor.
    #[error("password policy: {0}")]
    PasswordPolicy(&'static str),
    /// A cookie name is not a valid HTTP token.
    #[error("cookie name {name:?} is not a valid cookie name")]
    CookieName {
        /// The rejected name.
        name: String,
    },
    /// A `__Host-`/`__Secure-` cookie name without the `Secure` attribute, which browsers
    /// reject.
    #[error("cookie name {name:?} needs Secure cookies (an https public URL)")]
    CookiePrefixNeedsSecure {
        /// The rejected name.
        name: String,
    },
    /// A social sign-in provider is unusable.
    #[error("oauth: {0}")]
    OAuth(String),
    /// The passkey relying party (RP id or origins) is unusable.
    #[error("passkeys: {0}")]
    Passkeys(String),
    /// An email setting is unusable.
    #[error("{setting}: {why}")]
    Email {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// No mailer for a production public URL: set `PORTCULLIS_SMTP_URL`, or choose one
    /// with `.mailer(..)` (even `LogMailer`, explicitly).
    #[error(
        "no mailer configured: set PORTCULLIS_SMTP_URL or call .mailer(..); the log mailer is only a default for http:// or localhost development"
    )]
    NoMailer,
    /// A host-defined role is malformed or clashes with another.
    #[error("{0}")]
    Role(String),
    /// The SMS webhook URL cannot be used (or the `sms` feature is off).
    #[error("PORTCULLIS_SMS_WEBHOOK_URL: {0}")]
    Sms(String),
    /// The SMTP URL cannot be used (or the `smtp` feature is off).
    #[error("PORTCULLIS_SMTP_URL: {0}")]
    Smtp(String),
    /// An environment variable is set but unreadable.
    #[error("{var}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Config {
        Config {
            secret: Some(Secret::generate()),
            ..Config::default()
        }
    }

    #[test]
    fn defaults_plus_a_secret_are_valid() {
        let checked = valid().validate().unwrap();
        assert_eq!(checked.issuer, "http://localhost:3000");
    }

    #[test]
    fn a_missing_secret_fails() {
        assert_eq!(
            Config::default().validate().unwrap_err(),
            ConfigError::MissingSecret
        );
    }

    #[test]
    fn unsafe_settings_fail() {
        let mut c = valid();
        c.argon2.memory_kib = 1024;
        assert_eq!(c.validate().unwrap_err(), ConfigError::WeakHashing);
        let mut c = valid();
        c.access_token_ttl = Duration::from_secs(86400);
        assert!(matches!(c.validate(), Err(ConfigError::Out { .. })));
        let mut c = valid();
        c.session_cookie = "__Host-session".into();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::CookiePrefixNeedsSecure { .. })
        ));
        c.public_url = "https://app.example.com".into();
        assert!(c.validate().is_ok());
        let mut c = valid();
        c.public_url = "app.example.com".into();
        assert!(matches!(c.validate(), Err(ConfigError::PublicUrl { .. })));
        let mut c = valid();
        c.allowed_origins = vec!["https://ok.example.com/path".into()];
        assert!(matches!(
            c.validate(),
            Err(ConfigError::AllowedOrigin { .. })
        ));
        let mut c = valid();
        c.session_cookie = "bad name".into();
        assert!(matches!(c.validate(), Err(ConfigError::CookieName { .. })));
    }

    #[test]
    fn env_is_read_and_bad_values_are_named() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = Config::from_lookup(env(&[
            (
                "PORTCULLIS_SECRET",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            ("PORTCULLIS_PUBLIC_URL", "https://app.example.com"),
            (
                "PORTCULLIS_ALLOWED_REDIRECTS",
                "https://a.example.com, https://b.example.com",
            ),
            ("PORTCULLIS_REFRESH_GRACE_SECS", "3"),
            ("PORTCULLIS_RATE_LIMIT", "off"),
            ("PORTCULLIS_COOKIE_SECURE", "false"),
        ]))
        .unwrap();
        assert!(c.secret.is_some());
        assert_eq!(c.public_url, "https://app.example.com");
        assert_eq!(c.allowed_origins.len(), 2);
        assert_eq!(c.refresh_grace, Duration::from_secs(3));
        assert!(!c.rate_limit);
        assert!(!c.secure_cookies());
        let err = Config::from_lookup(env(&[("PORTCULLIS_REFRESH_GRACE_SECS", "soon")]));
        assert!(matches!(
            err,
            Err(ConfigError::Env {
                var: "PORTCULLIS_REFRESH_GRACE_SECS",
                ..
            })
        ));
        let err = Config::from_lookup(env(&[("PORTCULLIS_SECRET", "short")]));
        assert!(matches!(
            err,
            Err(ConfigError::Env {
                var: "PORTCULLIS_SECRET",
                ..
            })
        ));
    }

    #[test]
    fn debug_hides_the_smtp_password() {
        let mut c = valid();
        c.smtp_url = Some("smtps://mailer:hunter2@smtp.example.com".into());
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("smtps://mailer:***@smtp.example.com"));
    }

    #[test]
    fn secure_cookies_follow_the_scheme_unless_set() {
        let mut c = valid();
        assert!(!c.secure_cookies());
        c.public_url = "https://x.example".into();
        assert!(c.secure_cookies());
        c.cookie_secure = Some(false);
        assert!(!c.secure_cookies());
    }
}
