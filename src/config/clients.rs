//! Client apps: the host's front ends, each named by a publishable key.

use serde::Deserialize;

use super::TokenDelivery;

/// A front end of the host (a web app, a mobile app, an admin console), named by the
/// publishable key it sends in `x-api-key`. A publishable key identifies; it authorizes
/// nothing: it selects this client's redirects, CSRF origins, token delivery, email
/// branding and `/methods`, and the sessions it opens record it.
///
/// ```rust
/// use portcullis::config::{Client, TokenDelivery};
///
/// let mobile = Client::new("ios", "Acme for iOS")
///     .token_delivery(TokenDelivery::BodyOnly)
///     .allowed_redirects(["https://links.acme.example"]);
/// assert!(mobile.publishable_key.starts_with("pk_live_"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Client {
    /// A short alias, `[A-Za-z0-9_-]` (≤ 64): sessions record it, `client_alias` names it.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// `pk_live_...` or `pk_test_...` (random, at least 16 characters after the prefix).
    pub publishable_key: String,
    /// Origins allowed to send this client's cookie-authenticated requests (CSRF), on top
    /// of the host's.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Origins its `redirect_url`s may point at, on top of the host's.
    #[serde(default)]
    pub allowed_redirects: Vec<String>,
    /// How its grants deliver tokens; `None`: the host's setting.
    #[serde(default)]
    pub token_delivery: Option<TokenDelivery>,
    /// Its emails' branding; `None`: the host's.
    #[serde(default)]
    pub branding: Option<ClientBranding>,
}

/// How a client's emails look.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientBranding {
    /// The product name in its emails.
    #[serde(default)]
    pub product_name: Option<String>,
    /// A logo (an absolute https URL).
    #[serde(default)]
    pub logo_url: Option<String>,
}

impl Client {
    /// A client with a fresh live publishable key (`pk_live_` + 128 random bits).
    #[must_use]
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            publishable_key: format!("pk_live_{}", crate::crypto::random_key_suffix()),
            allowed_origins: Vec::new(),
            allowed_redirects: Vec::new(),
            token_delivery: None,
            branding: None,
        }
    }

    /// Uses this publishable key (one the front end already ships).
    #[must_use]
    pub fn publishable_key(mut self, key: impl Into<String>) -> Self {
        self.publishable_key = key.into();
        self
    }

    /// Adds origins allowed to send its cookie-authenticated requests.
    #[must_use]
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Adds origins its redirects may point at.
    #[must_use]
    pub fn allowed_redirects<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_redirects
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// How its grants deliver tokens.
    #[must_use]
    pub fn token_delivery(mut self, delivery: TokenDelivery) -> Self {
        self.token_delivery = Some(delivery);
        self
    }

    /// Its emails' branding.
    #[must_use]
    pub fn branding(mut self, product_name: impl Into<String>, logo_url: Option<String>) -> Self {
        self.branding = Some(ClientBranding {
            product_name: Some(product_name.into()),
            logo_url,
        });
        self
    }

    /// Whether the key is shaped like a publishable key.
    pub(crate) fn key_is_valid(&self) -> bool {
        let suffix = self
            .publishable_key
            .strip_prefix("pk_live_")
            .or_else(|| self.publishable_key.strip_prefix("pk_test_"));
        suffix.is_some_and(|s| {
            s.len() >= 16
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    }

    /// Whether the id is a valid alias.
    pub(crate) fn id_is_valid(&self) -> bool {
        !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}
