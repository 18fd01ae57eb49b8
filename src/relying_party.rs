//! The passkey relying party, built once from the configuration at `build()`: the RP id
//! (the public URL's host, or a parent domain of it) and the origins where browsers may
//! run ceremonies. A wrong RP id or origin fails `build()`.

use webauthn_rs::{Webauthn, WebauthnBuilder, prelude::Url};

use crate::{
    Config, ConfigError,
    origin::{Origin, Origins},
};

/// A ceremony lives at most this long (and the browser is told the same timeout).
pub(crate) const CEREMONY_TTL: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Builds the relying party from the configuration, or `None` (passkeys off, with a
/// warning) when the RP id was left to default and the public URL's host is an IP
/// address, which WebAuthn does not accept.
pub(crate) fn relying_party(
    config: &Config,
    origins: &Origins,
) -> Result<Option<Webauthn>, ConfigError> {
    let bad = |why: String| ConfigError::Passkeys(why);
    let public = origins
        .public()
        .ok_or_else(|| bad("no public origin".into()))?;
    let rp_id = match &config.passkeys.rp_id {
        Some(rp_id) => rp_id.trim().trim_end_matches('.').to_ascii_lowercase(),
        None if public.is_ip() => {
            tracing::warn!(
                host = %public.host,
                "portcullis: passkeys are off: WebAuthn needs a domain name, and the public URL's host is an IP address"
            );
            return Ok(None);
        }
        None => public.host.clone(),
    };
    if rp_id.is_empty() || is_ip(&rp_id) || rp_id.contains(['/', ':', '@']) {
        return Err(bad(format!("RP id {rp_id:?} is not a domain name")));
    }
    if !under(&public.host, &rp_id) {
        return Err(bad(format!(
            "RP id {rp_id:?} is neither the public URL's host {:?} nor a parent domain of it",
            public.host
        )));
    }
    let mut urls = vec![origin_url(public)?];
    for text in &config.passkeys.origins {
        let origin = Origin::parse(text)
            .filter(|origin| origin.serialize() == text.trim_end_matches('/'))
            .ok_or_else(|| {
                bad(format!(
                    "origin {text:?} is not of the form scheme://host[:port]"
                ))
            })?;
        if !under(&origin.host, &rp_id) {
            return Err(bad(format!(
                "origin {text:?} is not under the RP id {rp_id:?}"
            )));
        }
        urls.push(origin_url(&origin)?);
    }
    urls.dedup();
    tracing::debug!(rp_id = %rp_id, origins = ?urls.iter().map(Url::as_str).collect::<Vec<_>>(), "passkey relying party");
    let mut builder = WebauthnBuilder::new(&rp_id, &urls[0])
        .map_err(|err| bad(format!("relying party: {err}")))?
        .rp_name(&config.app_name)
        .timeout(CEREMONY_TTL);
    for url in &urls[1..] {
        builder = builder.append_allowed_origin(url);
    }
    builder
        .build()
        .map(Some)
        .map_err(|err| bad(format!("relying party: {err}")))
}

fn is_ip(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// `host` is `domain` or a subdomain of it.
fn under(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

fn origin_url(origin: &Origin) -> Result<Url, ConfigError> {
    Url::parse(&origin.serialize())
        .map_err(|err| ConfigError::Passkeys(format!("origin {}: {err}", origin.serialize())))
}
