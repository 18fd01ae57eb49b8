//! The outbound HTTP client (reqwest on rustls with ring and the webpki roots): no
//! process-global crypto provider, no redirects followed, bounded timeouts.

use std::{sync::Arc, time::Duration};

/// A client for calls to providers and host webhooks (15 s per call).
#[cfg_attr(not(any(feature = "sms", feature = "oauth")), allow(dead_code))]
pub(crate) fn client() -> Result<reqwest::Client, String> {
    client_with_timeout(Duration::from_secs(15))
}

/// A client whose calls may take up to `timeout` (connecting: at most 5 s of it).
pub(crate) fn client_with_timeout(timeout: Duration) -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS setup: {err}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        // A redirect would let the far end point our request (and its credentials) at
        // another host.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        // Some provider APIs (GitHub's) refuse requests without one.
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| format!("HTTP client: {err}"))
}
