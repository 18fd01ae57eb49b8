//! [`Config::from_env`]: the environment variables of the contract (`API.md`).

use std::time::Duration;

use super::{Config, ConfigError, SignInMethod};
use crate::{Secret, client::TrustedProxies};

/// The presets [`Config::from_lookup`] looks for (it cannot list variables).
#[cfg(feature = "oauth")]
const PRESET_NAMES: [&str; 5] = ["GOOGLE", "GITLAB", "GITHUB", "DISCORD", "APPLE"];

impl Config {
    /// Reads the environment variables of the contract (`API.md`) on top of the defaults:
    ///
    /// | variable | effect |
    /// |---|---|
    /// | `PORTCULLIS_SECRET` | the server secret, hex or base64 (≥ 32 bytes) |
    /// | `PORTCULLIS_PUBLIC_URL` | [`public_url`](Self::public_url) |
    /// | `PORTCULLIS_ALLOWED_REDIRECTS` | comma-separated [`requests.allowed_origins`](super::RequestConfig::allowed_origins) |
    /// | `PORTCULLIS_TRUST_PROXY` | `true`: the client IP is the right-most `X-Forwarded-For` entry |
    /// | `PORTCULLIS_REFRESH_GRACE_SECS` | [`sessions.refresh_grace`](super::SessionConfig::refresh_grace) |
    /// | `PORTCULLIS_RATE_LIMIT` | `off` turns every rate limit off (test suites only) |
    /// | `PORTCULLIS_COOKIE_SECURE` | the `Secure` cookie attribute |
    /// | `PORTCULLIS_SMTP_URL` | `email.smtp_url`: deliver emails over SMTP (feature `smtp`) |
    /// | `PORTCULLIS_SMS_WEBHOOK_URL` | `passwordless.sms_webhook_url`: deliver texts through the host's webhook (feature `sms`) |
    /// | `PORTCULLIS_OIDC_<NAME>_CLIENT_ID`, `_CLIENT_SECRET`, `_ISSUER` | a social sign-in provider named `<name>` (lower-cased): an OpenID Connect issuer, or without one a preset (`GOOGLE`, `GITLAB`, `GITHUB`, `DISCORD`, `APPLE`) (feature `oauth`) |
    /// | `PORTCULLIS_WAITLISTS` | comma-separated [`waitlists`](super::Config::waitlists) features |
    /// | `PORTCULLIS_CLIENTS` | a JSON file holding an array of [`clients`](super::Config::clients) |
    /// | `PORTCULLIS_REQUIRE_CLIENT_KEY` | [`requests.require_client_key`](super::RequestConfig::require_client_key) |
    /// | `PORTCULLIS_ADMIN_EMAILS` | comma-separated [`sign_in.admin_emails`](super::SignInConfig::admin_emails): made admins once verified |
    /// | `PORTCULLIS_STRIPE_SECRET_KEY` | `billing.stripe_secret_key`: turns billing on (feature `billing`) |
    /// | `PORTCULLIS_STRIPE_WEBHOOK_SECRET` | comma-separated `billing.webhook_secrets` (several while rotating) |
    /// | `PORTCULLIS_STRIPE_API_BASE` | `billing.api_base`: Stripe's origin (a local stand-in in tests) |
    /// | `PORTCULLIS_BILLING_PLANS` | a JSON file holding an array of `billing.plans` |
    /// | `PORTCULLIS_DISABLED_METHODS` | comma-separated [`sign_in.disabled_methods`](super::SignInConfig::disabled_methods): `password`, `magic_link`, `email_otp`, `sms_otp`, `passkey`, `oauth` |
    ///
    /// Unset variables keep their defaults. `PORTCULLIS_DATABASE_URL` and
    /// `PORTCULLIS_BIND` belong to the host, which opens the database and the listener.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] naming the first variable that is set but unreadable (or that
    /// needs a cargo feature this build lacks).
    pub fn from_env() -> Result<Self, ConfigError> {
        #[cfg_attr(not(feature = "oauth"), allow(unused_mut))]
        let mut config = Self::from_lookup(|name| std::env::var(name).ok())?;
        let providers: Vec<String> = std::env::vars()
            .filter_map(|(key, _)| {
                key.strip_prefix("PORTCULLIS_OIDC_")?
                    .strip_suffix("_CLIENT_ID")
                    .map(str::to_owned)
            })
            .collect();
        #[cfg(feature = "oauth")]
        {
            config.oauth.providers = oauth_providers_from(
                |name| std::env::var(name).ok(),
                providers.iter().map(String::as_str),
            )?;
        }
        #[cfg(not(feature = "oauth"))]
        if !providers.is_empty() {
            return Err(without_feature("PORTCULLIS_OIDC_*_CLIENT_ID", "oauth"));
        }
        Ok(config)
    }

    /// [`from_env`](Self::from_env) over any lookup function (handy in tests). It cannot
    /// list variables: of the social sign-in providers, it finds the presets only.
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
        let flag = |name: &'static str| -> Result<Option<bool>, ConfigError> {
            var(name)
                .map(|text| {
                    parse_bool(&text).ok_or_else(|| {
                        env_err(name, format!("expected true/false or on/off, got {text:?}"))
                    })
                })
                .transpose()
        };

        if let Some(secret) = var("PORTCULLIS_SECRET") {
            let secret =
                Secret::parse(&secret).map_err(|e| env_err("PORTCULLIS_SECRET", e.to_string()))?;
            config.secret = Some(secret);
        }
        if let Some(url) = var("PORTCULLIS_PUBLIC_URL") {
            config.public_url = url;
        }
        if let Some(list) = var("PORTCULLIS_ALLOWED_REDIRECTS") {
            config.requests.allowed_origins = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(on) = flag("PORTCULLIS_TRUST_PROXY")? {
            config.requests.trusted_proxies = if on {
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
            config.sessions.refresh_grace = Duration::from_secs(secs);
        }
        if let Some(on) = flag("PORTCULLIS_RATE_LIMIT")? {
            config.requests.rate_limit = on;
        }
        if let Some(url) = var("PORTCULLIS_SMTP_URL") {
            #[cfg(feature = "smtp")]
            {
                config.email.smtp_url = Some(url);
            }
            #[cfg(not(feature = "smtp"))]
            {
                let _ = url;
                return Err(without_feature("PORTCULLIS_SMTP_URL", "smtp"));
            }
        }
        if let Some(url) = var("PORTCULLIS_SMS_WEBHOOK_URL") {
            #[cfg(feature = "sms")]
            {
                config.passwordless.sms_webhook_url = Some(url);
            }
            #[cfg(not(feature = "sms"))]
            {
                let _ = url;
                return Err(without_feature("PORTCULLIS_SMS_WEBHOOK_URL", "sms"));
            }
        }
        #[cfg(feature = "oauth")]
        {
            config.oauth.providers = oauth_providers_from(&lookup, PRESET_NAMES.iter().copied())?;
        }
        if let Some(list) = var("PORTCULLIS_WAITLISTS") {
            config.waitlists = list
                .split(',')
                .map(str::trim)
                .filter(|feature| !feature.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(path) = var("PORTCULLIS_CLIENTS") {
            let text = std::fs::read_to_string(&path)
                .map_err(|err| env_err("PORTCULLIS_CLIENTS", format!("reading {path}: {err}")))?;
            config.clients = serde_json::from_str(&text).map_err(|err| {
                env_err(
                    "PORTCULLIS_CLIENTS",
                    format!("{path} is not a JSON array of clients: {err}"),
                )
            })?;
        }
        if let Some(on) = flag("PORTCULLIS_REQUIRE_CLIENT_KEY")? {
            config.requests.require_client_key = on;
        }
        if let Some(list) = var("PORTCULLIS_ADMIN_EMAILS") {
            config.sign_in.admin_emails = list
                .split(',')
                .map(|address| address.trim().to_lowercase())
                .filter(|address| !address.is_empty())
                .collect();
        }
        if let Some(list) = var("PORTCULLIS_DISABLED_METHODS") {
            config.sign_in.disabled_methods = list
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
        if let Some(secure) = flag("PORTCULLIS_COOKIE_SECURE")? {
            config.cookies.secure = Some(secure);
        }
        billing_from(&mut config, &var)?;
        Ok(config)
    }
}

/// The Stripe keys and the plans file.
#[cfg(feature = "billing")]
fn billing_from(
    config: &mut Config,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let billing = &mut config.billing;
    billing.stripe_secret_key = var("PORTCULLIS_STRIPE_SECRET_KEY");
    if let Some(list) = var("PORTCULLIS_STRIPE_WEBHOOK_SECRET") {
        billing.webhook_secrets = list
            .split(',')
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if let Some(base) = var("PORTCULLIS_STRIPE_API_BASE") {
        billing.api_base = base;
    }
    if let Some(path) = var("PORTCULLIS_BILLING_PLANS") {
        let text = std::fs::read_to_string(&path).map_err(|err| ConfigError::Env {
            var: "PORTCULLIS_BILLING_PLANS",
            message: format!("reading {path}: {err}"),
        })?;
        billing.plans = serde_json::from_str(&text).map_err(|err| ConfigError::Env {
            var: "PORTCULLIS_BILLING_PLANS",
            message: format!("{path} is not a JSON array of plans: {err}"),
        })?;
    }
    Ok(())
}

/// Without the feature, a Stripe variable is a mistake worth naming.
#[cfg(not(feature = "billing"))]
fn billing_from(_: &mut Config, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    for name in [
        "PORTCULLIS_STRIPE_SECRET_KEY",
        "PORTCULLIS_STRIPE_WEBHOOK_SECRET",
        "PORTCULLIS_STRIPE_API_BASE",
        "PORTCULLIS_BILLING_PLANS",
    ] {
        if var(name).is_some() {
            return Err(without_feature(name, "billing"));
        }
    }
    Ok(())
}

/// A variable this build cannot honour.
#[cfg(any(
    not(feature = "smtp"),
    not(feature = "sms"),
    not(feature = "oauth"),
    not(feature = "billing")
))]
fn without_feature(var: &'static str, feature: &str) -> ConfigError {
    ConfigError::Env {
        var,
        message: format!("portcullis was built without the `{feature}` feature"),
    }
}

/// Providers from `PORTCULLIS_OIDC_<NAME>_CLIENT_ID`, `_CLIENT_SECRET` and `_ISSUER`.
#[cfg(feature = "oauth")]
fn oauth_providers_from<'a>(
    lookup: impl Fn(&str) -> Option<String>,
    names: impl Iterator<Item = &'a str>,
) -> Result<Vec<crate::oauth::OAuthProvider>, ConfigError> {
    use crate::oauth::OAuthProvider;
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
            Some(issuer) => OAuthProvider::oidc(&name, issuer, client_id, secret),
            None => OAuthProvider::preset(&name, &client_id, &secret).ok_or_else(|| {
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

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("PORTCULLIS_DISABLED_METHODS", "magic_link, email_otp"),
        ]))
        .unwrap();
        assert!(c.secret.is_some());
        assert_eq!(c.public_url, "https://app.example.com");
        assert_eq!(c.requests.allowed_origins.len(), 2);
        assert_eq!(c.sessions.refresh_grace, Duration::from_secs(3));
        assert!(!c.requests.rate_limit);
        assert!(!c.secure_cookies());
        assert!(!c.method_on(SignInMethod::EmailOtp));
        assert!(c.method_on(SignInMethod::Password));
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
        let err = Config::from_lookup(env(&[("PORTCULLIS_DISABLED_METHODS", "carrier_pigeon")]));
        assert!(matches!(
            err,
            Err(ConfigError::Env {
                var: "PORTCULLIS_DISABLED_METHODS",
                ..
            })
        ));
    }
}
