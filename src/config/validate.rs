//! The checks [`build`](crate::PortcullisBuilder::build) runs on a [`Config`], and
//! [`ConfigError`], which names the first setting that is missing, unsafe or inconsistent.

use std::time::Duration;

use super::{Argon2Params, Config};
use crate::origin::{Origin, Origins};

/// The earliest a sweep may delete an ended session: a revocation must stay readable by
/// every instance's poll (a new one reads back a whole token lifetime) for as long as a
/// token of that session can be valid. An hour, or more for long-lived access tokens.
fn min_session_retention(
    access_token_ttl: Duration,
    clock_leeway: Duration,
    poll_interval: Duration,
) -> Duration {
    // The longest token is an impersonation's (an hour).
    let window =
        access_token_ttl.max(super::IMPERSONATION_LIFETIME) + clock_leeway + poll_interval * 2;
    Duration::from_secs(3600).max(window * 2)
}

impl Config {
    /// Checks every setting, returning the normalised public origin and allowed origins.
    pub(crate) fn validate(&self) -> Result<Origins, ConfigError> {
        let public = Origin::parse(&self.public_url).ok_or_else(|| ConfigError::PublicUrl {
            url: self.public_url.clone(),
        })?;
        let mut allowed = vec![public.clone()];
        for origin in &self.requests.allowed_origins {
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
            self.sessions.access_token_ttl,
            Duration::from_secs(30),
            Duration::from_secs(3600),
        ) {
            return Err(ConfigError::Out {
                setting: "access_token_ttl",
                range: "30 s to 1 h",
            });
        }
        if !within(
            self.sessions.refresh_grace,
            Duration::ZERO,
            Duration::from_secs(60),
        ) {
            return Err(ConfigError::Out {
                setting: "refresh_grace",
                range: "0 to 60 s",
            });
        }
        if !within(
            self.sessions.clock_leeway,
            Duration::ZERO,
            Duration::from_secs(60),
        ) {
            return Err(ConfigError::Out {
                setting: "clock_leeway",
                range: "0 to 60 s",
            });
        }
        if self.sessions.idle_timeout < self.sessions.access_token_ttl
            || self.sessions.lifetime < self.sessions.access_token_ttl
        {
            return Err(ConfigError::Out {
                setting: "sessions.idle_timeout / sessions.lifetime",
                range: "at least the access-token lifetime",
            });
        }
        if self.sessions.revocation_poll_interval.is_zero()
            || self.sessions.revocation_poll_interval >= self.sessions.access_token_ttl
        {
            return Err(ConfigError::Out {
                setting: "revocation_poll_interval",
                range: "above zero and below the access-token lifetime",
            });
        }
        if self.sessions.signing_key_rotation.is_some_and(|every| {
            every < self.sessions.access_token_ttl
                || every > Duration::from_secs(10 * 366 * 24 * 3600)
        }) {
            return Err(ConfigError::Out {
                setting: "signing_key_rotation",
                range: "at least the access-token lifetime, at most ten years",
            });
        }
        if self.retention.ended_sessions
            < min_session_retention(
                self.sessions.access_token_ttl,
                self.sessions.clock_leeway,
                self.sessions.revocation_poll_interval,
            )
        {
            return Err(ConfigError::Out {
                setting: "ended_session_retention",
                range: "at least twice the longest token lifetime (an impersonation lasts an hour) plus two revocation polls",
            });
        }
        if self.requests.timeout < Duration::from_secs(1) {
            return Err(ConfigError::Out {
                setting: "timeout",
                range: "at least one second",
            });
        }
        if self.requests.body_limit < 1024 {
            return Err(ConfigError::Out {
                setting: "body_limit",
                range: "at least 1 KiB",
            });
        }
        if self.sessions.token_cache_capacity == 0 || self.passwords.hashing_concurrency == 0 {
            return Err(ConfigError::Out {
                setting: "token_cache_capacity / hashing_concurrency",
                range: "at least 1",
            });
        }
        let a = self.passwords.argon2;
        let floor = Argon2Params::default();
        if a.memory_kib < floor.memory_kib || a.iterations < floor.iterations || a.parallelism < 1 {
            return Err(ConfigError::WeakHashing);
        }
        if let Some(problem) = self.passwords.policy.problem() {
            return Err(ConfigError::PasswordPolicy(problem));
        }
        self.validate_email_settings(&allowed)?;
        for name in [
            &self.cookies.session,
            &self.cookies.client,
            &self.cookies.csrf,
        ] {
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
        #[cfg(feature = "oauth")]
        self.validate_providers()?;
        self.validate_waitlists()?;
        let clients = self.validate_clients()?;
        #[cfg(feature = "billing")]
        if let Some(problem) = self.billing.problem() {
            return Err(ConfigError::Billing(problem));
        }
        Ok(Origins {
            issuer: public.serialize(),
            allowed,
            clients,
        })
    }

    /// Waitlist features: `[a-z0-9_-]`, 1 to 64, each once.
    fn validate_waitlists(&self) -> Result<(), ConfigError> {
        for (i, feature) in self.waitlists.iter().enumerate() {
            let ok = !feature.is_empty()
                && feature.len() <= 64
                && feature.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !ok {
                return Err(ConfigError::Waitlist(format!(
                    "{feature:?}: 1 to 64 of a-z 0-9 _ -"
                )));
            }
            if self.waitlists[..i].contains(feature) {
                return Err(ConfigError::Waitlist(format!(
                    "{feature:?} is declared twice"
                )));
            }
        }
        Ok(())
    }

    /// Client apps: valid, unique ids and publishable keys; parseable origins.
    fn validate_clients(&self) -> Result<Vec<crate::origin::ClientOrigins>, ConfigError> {
        let mut parsed = Vec::with_capacity(self.clients.len());
        for (i, client) in self.clients.iter().enumerate() {
            let fail = |why: String| ConfigError::Client(format!("{:?}: {why}", client.id));
            if !client.id_is_valid() {
                return Err(fail("ids are 1 to 64 of A-Z a-z 0-9 _ -".into()));
            }
            if !client.key_is_valid() {
                return Err(fail(
                    "publishable keys are pk_live_ or pk_test_ and at least 16 more characters"
                        .into(),
                ));
            }
            let earlier = &self.clients[..i];
            if earlier.iter().any(|other| other.id == client.id) {
                return Err(fail("the id is used twice".into()));
            }
            if earlier
                .iter()
                .any(|other| other.publishable_key == client.publishable_key)
            {
                return Err(fail("the publishable key is used twice".into()));
            }
            let parse = |list: &[String]| -> Result<Vec<Origin>, ConfigError> {
                list.iter()
                    .map(|origin| {
                        Origin::parse_bare(origin).ok_or_else(|| {
                            fail(format!(
                                "{origin:?} is not an origin (scheme://host[:port])"
                            ))
                        })
                    })
                    .collect()
            };
            parsed.push(crate::origin::ClientOrigins {
                id: client.id.clone(),
                allowed: parse(&client.allowed_origins)?,
                redirects: parse(&client.allowed_redirects)?,
            });
        }
        Ok(parsed)
    }

    #[cfg(feature = "oauth")]
    fn validate_providers(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for provider in &self.oauth.providers {
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
        Ok(())
    }
}

impl Config {
    fn validate_email_settings(&self, allowed: &[Origin]) -> Result<(), ConfigError> {
        let bad =
            |setting: &'static str, why: &'static str| Err(ConfigError::Email { setting, why });
        if let Some(from) = &self.email.from
            && (from.chars().any(char::is_control) || !from.contains('@'))
        {
            return bad(
                "email_from",
                "must be an address like `Acme <no-reply@acme.example>`",
            );
        }
        if let Some(url) = &self.email.password_reset_url
            && Origin::parse(url).is_none_or(|origin| !allowed.contains(&origin))
        {
            return bad(
                "password_reset_url",
                "must be an absolute URL on the public or an allowed origin",
            );
        }
        if let Some(url) = &self.email.invitation_accept_url
            && Origin::parse(url).is_none_or(|origin| !allowed.contains(&origin))
        {
            return bad(
                "invitation_accept_url",
                "must be an absolute URL on the public or an allowed origin",
            );
        }
        if let Some(url) = &self.email.logo_url
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
        if self.email.verification_ttl.is_zero()
            || self.email.verification_ttl > Duration::from_secs(24 * 3600)
        {
            return bad(
                "email_verification_ttl",
                "must be above zero and at most 24 hours",
            );
        }
        if self.email.password_reset_ttl.is_zero()
            || self.email.password_reset_ttl > Duration::from_secs(3600)
        {
            return bad(
                "password_reset_ttl",
                "must be above zero and at most 1 hour",
            );
        }
        let ten_minutes = Duration::from_secs(600);
        if self.passwordless.magic_link_ttl.is_zero()
            || self.passwordless.magic_link_ttl > ten_minutes
        {
            return bad(
                "magic_link_ttl",
                "must be above zero and at most 10 minutes",
            );
        }
        if self.passwordless.code_ttl.is_zero() || self.passwordless.code_ttl > ten_minutes {
            return bad("code_ttl", "must be above zero and at most 10 minutes");
        }
        if !(1..=100).contains(&self.passwordless.code_failure_cap) {
            return bad("code_failure_cap", "must be between 1 and 100");
        }
        for prefix in &self.passwordless.sms_allowed_prefixes {
            let digits = prefix.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return bad("sms_allowed_prefixes", "calling codes look like +1 or +44");
            }
        }
        Ok(())
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
    /// The Redis URL for revocations is not one.
    #[error("redis: {0}")]
    Redis(String),
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
    /// A waitlist feature is malformed or declared twice.
    #[error("waitlists: {0}")]
    Waitlist(String),
    /// A client app is malformed or clashes with another.
    #[error("clients: {0}")]
    Client(String),
    /// The billing settings (Stripe keys, plans) cannot be used.
    #[error("billing: {0}")]
    Billing(String),
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
    use crate::Secret;

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
        c.passwords.argon2.memory_kib = 1024;
        assert_eq!(c.validate().unwrap_err(), ConfigError::WeakHashing);
        let mut c = valid();
        c.sessions.access_token_ttl = Duration::from_secs(86400);
        assert!(matches!(c.validate(), Err(ConfigError::Out { .. })));
        let mut c = valid();
        c.cookies.session = "__Host-session".into();
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
        c.requests.allowed_origins = vec!["https://ok.example.com/path".into()];
        assert!(matches!(
            c.validate(),
            Err(ConfigError::AllowedOrigin { .. })
        ));
        let mut c = valid();
        c.cookies.session = "bad name".into();
        assert!(matches!(c.validate(), Err(ConfigError::CookieName { .. })));
        let mut c = valid();
        c.retention.ended_sessions = Duration::from_secs(60);
        assert!(matches!(c.validate(), Err(ConfigError::Out { .. })));
    }
}
