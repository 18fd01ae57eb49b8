//! Social sign-in providers: any OpenID Connect provider by its issuer, and presets for
//! Google, Microsoft, Apple, GitLab (OpenID Connect), GitHub and Discord (OAuth 2.0 with
//! their user APIs).
//!
//! ```
//! use portcullis::oauth::OAuthProvider;
//!
//! let providers = [
//!     OAuthProvider::google("client-id", "client-secret"),
//!     OAuthProvider::github("client-id", "client-secret"),
//!     OAuthProvider::oidc("corp", "https://sso.example.com", "client-id", "client-secret"),
//! ];
//! assert_eq!(providers[2].name(), "corp");
//! ```
//!
//! Every endpoint can be moved (`.issuer(..)`, `.endpoints(..)`), which is how tests point
//! a preset at a local stand-in.

use std::fmt;

/// How portcullis talks to a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OpenID Connect: endpoints and keys by discovery from the issuer; the identity comes
    /// from the validated ID token (and the userinfo endpoint for claims it lacks).
    OpenIdConnect {
        /// The issuer, exactly as the provider's discovery document and ID tokens state it.
        issuer: String,
    },
    /// OAuth 2.0 without ID tokens: the identity comes from the provider's user API.
    OAuth2 {
        /// A fixed identifier of the provider, stored as the identity's issuer.
        issuer: String,
        /// The authorization endpoint.
        authorize_url: String,
        /// The token endpoint.
        token_url: String,
        /// The base URL of the user API (`https://api.github.com`).
        api_base: String,
        /// Which user API it is.
        api: UserApi,
    },
}

/// The user APIs portcullis knows for OAuth 2.0 providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserApi {
    /// `GET /user` (`id`) and `GET /user/emails` (the primary address and whether it is
    /// verified).
    GitHub,
    /// `GET /users/@me` (`id`, `email`, `verified`).
    Discord,
}

/// One configured provider.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthProvider {
    name: String,
    display_name: String,
    client_id: String,
    client_secret: Option<String>,
    scopes: Vec<String>,
    protocol: Protocol,
}

// Hand-written: the client secret stays out of logs.
impl fmt::Debug for OAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthProvider")
            .field("name", &self.name)
            .field("display_name", &self.display_name)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("scopes", &self.scopes)
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// In a configuration file, as the environment variables have it:
/// `{ name, client_id, client_secret?, issuer? }`, an OpenID Connect provider by its issuer,
/// or without one a preset (`google`, `gitlab`, `github`, `discord`, `apple`).
impl<'de> serde::Deserialize<'de> for OAuthProvider {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Spec {
            name: String,
            client_id: String,
            #[serde(default)]
            client_secret: String,
            #[serde(default)]
            issuer: Option<String>,
        }
        let spec = Spec::deserialize(deserializer)?;
        match spec.issuer {
            Some(issuer) => Ok(Self::oidc(
                spec.name,
                issuer,
                spec.client_id,
                spec.client_secret,
            )),
            None => {
                Self::preset(&spec.name, &spec.client_id, &spec.client_secret).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "provider {:?} has no issuer and is no preset",
                        spec.name
                    ))
                })
            }
        }
    }
}

impl OAuthProvider {
    /// Any OpenID Connect provider, found by discovery from `issuer`. `name` is the path
    /// segment (`/oauth/{name}/authorize`): lower-case letters, digits, `-` and `_`.
    pub fn oidc(
        name: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let name = name.into();
        Self {
            display_name: name.clone(),
            name,
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()).filter(|s| !s.is_empty()),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            protocol: Protocol::OpenIdConnect {
                issuer: issuer.into(),
            },
        }
    }

    /// Google (OpenID Connect).
    pub fn google(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::oidc(
            "google",
            "https://accounts.google.com",
            client_id,
            client_secret,
        )
        .display_name("Google")
    }

    /// Microsoft Entra ID for one tenant (OpenID Connect). Multi-tenant (`common`) sign-in
    /// issues tokens whose issuer names each tenant, which exact issuer checking refuses:
    /// give the tenant id.
    pub fn microsoft(
        tenant: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self::oidc(
            "microsoft",
            format!("https://login.microsoftonline.com/{tenant}/v2.0"),
            client_id,
            client_secret,
        )
        .display_name("Microsoft")
    }

    /// Sign in with Apple (OpenID Connect). `client_secret` is the signed JWT Apple asks
    /// for. Only the `openid` scope: Apple sends names and emails only with
    /// `response_mode=form_post`, a cross-site POST that the browser-binding cookie
    /// (`SameSite=Lax`) does not survive.
    pub fn apple(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::oidc(
            "apple",
            "https://appleid.apple.com",
            client_id,
            client_secret,
        )
        .display_name("Apple")
        .scopes(["openid"])
    }

    /// GitLab.com (OpenID Connect); `.issuer(..)` for a self-managed instance.
    pub fn gitlab(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::oidc("gitlab", "https://gitlab.com", client_id, client_secret).display_name("GitLab")
    }

    /// GitHub (OAuth 2.0 and its user API).
    pub fn github(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            name: "github".into(),
            display_name: "GitHub".into(),
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            scopes: vec!["read:user".into(), "user:email".into()],
            protocol: Protocol::OAuth2 {
                issuer: "https://github.com".into(),
                authorize_url: "https://github.com/login/oauth/authorize".into(),
                token_url: "https://github.com/login/oauth/access_token".into(),
                api_base: "https://api.github.com".into(),
                api: UserApi::GitHub,
            },
        }
    }

    /// Discord (OAuth 2.0 and its user API).
    pub fn discord(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            name: "discord".into(),
            display_name: "Discord".into(),
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            scopes: vec!["identify".into(), "email".into()],
            protocol: Protocol::OAuth2 {
                issuer: "https://discord.com".into(),
                authorize_url: "https://discord.com/oauth2/authorize".into(),
                token_url: "https://discord.com/api/oauth2/token".into(),
                api_base: "https://discord.com/api".into(),
                api: UserApi::Discord,
            },
        }
    }

    /// The preset for `name` (`google`, `gitlab`, `github`, `discord`, `apple`), if any.
    /// Microsoft needs a tenant: configure it with [`microsoft`](Self::microsoft) or as
    /// an OpenID Connect issuer.
    pub fn preset(name: &str, client_id: &str, client_secret: &str) -> Option<Self> {
        Some(match name {
            "google" => Self::google(client_id, client_secret),
            "gitlab" => Self::gitlab(client_id, client_secret),
            "github" => Self::github(client_id, client_secret),
            "discord" => Self::discord(client_id, client_secret),
            "apple" => Self::apple(client_id, client_secret),
            _ => return None,
        })
    }

    /// The name people see on buttons. Default: the name.
    #[must_use]
    pub fn display_name(mut self, display_name: impl Into<String>) -> Self {
        self.display_name = display_name.into();
        self
    }

    /// The scopes asked for (OpenID Connect always adds `openid`).
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Moves an OpenID Connect provider to another issuer (a self-managed GitLab, a
    /// local stand-in in tests). No effect on OAuth 2.0 providers.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        if let Protocol::OpenIdConnect { issuer: current } = &mut self.protocol {
            *current = issuer.into();
        }
        self
    }

    /// Moves an OAuth 2.0 provider's endpoints (GitHub Enterprise, a local stand-in in
    /// tests). Identities from it are then stored under the authorization endpoint's
    /// origin, so user 42 of a GitHub Enterprise server is never github.com's user 42. No
    /// effect on OpenID Connect providers, which discover theirs.
    #[must_use]
    pub fn endpoints(
        mut self,
        authorize_url: impl Into<String>,
        token_url: impl Into<String>,
        api_base: impl Into<String>,
    ) -> Self {
        if let Protocol::OAuth2 {
            issuer,
            authorize_url: a,
            token_url: t,
            api_base: b,
            ..
        } = &mut self.protocol
        {
            *a = authorize_url.into();
            *t = token_url.into();
            *b = api_base.into();
            if let Some(origin) = crate::origin::Origin::parse(a) {
                *issuer = origin.serialize();
            }
        }
        self
    }

    /// The path segment and registry key.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name for buttons.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.display_name
    }

    /// The OAuth client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    pub(crate) fn client_secret(&self) -> Option<&str> {
        self.client_secret.as_deref()
    }

    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    pub(crate) fn scope_list(&self) -> &[String] {
        &self.scopes
    }

    /// How portcullis talks to it.
    #[must_use]
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// The issuer identities from this provider are stored under.
    #[must_use]
    pub fn issuer_id(&self) -> &str {
        match &self.protocol {
            Protocol::OpenIdConnect { issuer } | Protocol::OAuth2 { issuer, .. } => issuer,
        }
    }

    /// Why this provider cannot be used, if it cannot.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    pub(crate) fn problem(&self) -> Option<String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Some(format!(
                "provider name {:?}: 1 to 32 of a-z, 0-9, - and _",
                self.name
            ));
        }
        if self.client_id.is_empty() {
            return Some(format!("provider {}: empty client id", self.name));
        }
        let urls: Vec<&str> = match &self.protocol {
            Protocol::OpenIdConnect { issuer } => vec![issuer],
            Protocol::OAuth2 {
                authorize_url,
                token_url,
                api_base,
                ..
            } => vec![authorize_url, token_url, api_base],
        };
        for url in urls {
            let origin = crate::origin::Origin::parse(url);
            let https = origin.as_ref().is_some_and(|o| o.scheme == "https");
            let local_http = origin.as_ref().is_some_and(|o| {
                o.scheme == "http"
                    && ["localhost", "127.0.0.1", "[::1]", "::1"].contains(&o.host.as_str())
            });
            if !(https || local_http) {
                return Some(format!(
                    "provider {}: {url:?} must be https (plain http only on loopback)",
                    self.name
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_names() {
        assert_eq!(
            OAuthProvider::preset("github", "id", "s")
                .unwrap()
                .issuer_id(),
            "https://github.com"
        );
        assert!(OAuthProvider::preset("myspace", "id", "s").is_none());
        assert!(OAuthProvider::google("id", "s").problem().is_none());
        assert!(
            OAuthProvider::oidc("Bad Name", "https://x", "id", "s")
                .problem()
                .is_some()
        );
        assert!(
            OAuthProvider::oidc("plain", "http://sso.example.com", "id", "s")
                .problem()
                .is_some()
        );
        assert!(
            OAuthProvider::oidc("local", "http://127.0.0.1:9000", "id", "s")
                .problem()
                .is_none()
        );
        let debug = format!("{:?}", OAuthProvider::google("id", "very-secret"));
        assert!(!debug.contains("very-secret"));
    }
}
