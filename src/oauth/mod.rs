//! Social sign-in providers: [`OAuthProvider`] (any OpenID Connect issuer by discovery,
//! and presets for Google, Microsoft, Apple, GitLab, GitHub and Discord), and the plumbing
//! that talks to them. The flow itself (state, browser binding, linking, accounts) is in
//! `flows::oauth`.

#[cfg(feature = "oauth")]
pub(crate) mod client;
mod provider;
#[cfg(feature = "oauth")]
mod user_api;

#[cfg(feature = "oauth")]
pub(crate) use self::client::OAuth;
pub use self::provider::{OAuthProvider, Protocol, UserApi};

/// What the provider said about the person.
#[cfg(feature = "oauth")]
pub(crate) struct Identity {
    pub(crate) subject: String,
    pub(crate) email: Option<String>,
    pub(crate) email_verified: bool,
    pub(crate) name: Option<String>,
}
