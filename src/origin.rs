//! Web origins, and the one check every redirect target goes through.
//!
//! An [`Origin`] is parsed with the `url` crate's WHATWG parser (the one browsers follow),
//! then held to a stricter rule than browsers: `http` or `https` only, no user info, no
//! control characters, whitespace or backslashes anywhere in the text, no empty host
//! labels, no unspecified address.
//!
//! A redirect target (`redirect_url` on links, resets and social sign-in) is accepted when
//! it is a relative path starting with exactly one `/` (`/dashboard?tab=1`), or an
//! absolute `http(s)` URL whose parsed origin is exactly one of the allowed origins.
//! Refused: `//evil.example`, `/\evil.example`, backslashes anywhere, `user@host` tricks,
//! control characters and whitespace, `javascript:`/`data:` and every other scheme, and
//! anything over 2048 bytes: an open redirect turns a trusted domain into a phishing relay.

use std::net::IpAddr;

use crate::Error;

/// A parsed web origin: scheme, lower-cased host (IPv6 in brackets) and explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) scheme: &'static str,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Origin {
    /// Parses the origin of an absolute `http`/`https` URL; anything after the authority
    /// (path, query) is allowed here and ignored.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        // The WHATWG parser quietly drops tabs and newlines and reads `\` as `/`: such
        // text is refused before it gets the chance.
        if text
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return None;
        }
        let url = url::Url::parse(text).ok()?;
        let scheme = match url.scheme() {
            "https" => "https",
            "http" => "http",
            _ => return None,
        };
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = match url.host()? {
            url::Host::Domain(domain) => {
                let ok = domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
                if !ok {
                    return None;
                }
                domain.to_owned()
            }
            url::Host::Ipv4(ip) if !ip.is_unspecified() => ip.to_string(),
            url::Host::Ipv6(ip) if !ip.is_unspecified() => format!("[{ip}]"),
            _ => return None,
        };
        let port = url.port_or_known_default()?;
        Some(Self { scheme, host, port })
    }

    /// Parses `text` as a bare origin: scheme, host and port, and nothing more (no path,
    /// query or fragment; a trailing `/` is tolerated).
    pub(crate) fn parse_bare(text: &str) -> Option<Self> {
        let origin = Self::parse(text)?;
        let url = url::Url::parse(text).ok()?;
        let bare = url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && !text.ends_with(['?', '#']);
        bare.then_some(origin)
    }

    /// Whether the host is an IP address (WebAuthn needs a domain name).
    #[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
    pub(crate) fn is_ip(&self) -> bool {
        self.host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
    }

    /// `scheme://host[:port]`, the form browsers send in `Origin`.
    pub(crate) fn serialize(&self) -> String {
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            format!("{}://{}", self.scheme, self.host)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// The public origin and every allowed origin, parsed once at `build()`.
#[derive(Debug, Clone)]
pub(crate) struct Origins {
    /// The public origin as text: the `iss` of our tokens, the base of emailed links.
    pub(crate) issuer: String,
    /// The public origin first, then the host's allowed origins.
    pub(crate) allowed: Vec<Origin>,
    /// Each client app's own origins (CSRF) and redirect targets.
    pub(crate) clients: Vec<ClientOrigins>,
}

/// What one client app adds to the host's origins.
#[derive(Debug, Clone)]
pub(crate) struct ClientOrigins {
    pub(crate) id: String,
    pub(crate) allowed: Vec<Origin>,
    pub(crate) redirects: Vec<Origin>,
}

impl Origins {
    /// The public origin.
    pub(crate) fn public(&self) -> Option<&Origin> {
        self.allowed.first()
    }

    /// Whether `origin` is the public or an allowed origin.
    pub(crate) fn allows(&self, origin: &Origin) -> bool {
        self.allowed.contains(origin)
    }

    fn client(&self, app: Option<&str>) -> Option<&ClientOrigins> {
        let app = app?;
        self.clients.iter().find(|client| client.id == app)
    }

    /// Checks a redirect target (see the [module docs](self)) a request of client app
    /// `app` asked for: the host's origins, and that client's own redirects; returns it
    /// unchanged when safe.
    pub(crate) fn check_redirect_for(
        &self,
        target: &str,
        app: Option<&str>,
    ) -> Result<String, Error> {
        match self.client(app) {
            Some(client) if !client.redirects.is_empty() => {
                let mut allowed = self.allowed.clone();
                allowed.extend(client.redirects.iter().cloned());
                check(target, &allowed)
            }
            _ => check(target, &self.allowed),
        }
    }

    /// Checks a target that comes back from an emailed link (no client names itself
    /// there): the host's origins, and any client's redirects (the target was checked for
    /// its own client when the link was sent).
    pub(crate) fn check_returning_redirect(&self, target: &str) -> Result<String, Error> {
        if self
            .clients
            .iter()
            .all(|client| client.redirects.is_empty())
        {
            return check(target, &self.allowed);
        }
        let mut allowed = self.allowed.clone();
        for client in &self.clients {
            allowed.extend(client.redirects.iter().cloned());
        }
        check(target, &allowed)
    }

    /// The origins allowed to send a cookie-authenticated request of client app `app`
    /// (CSRF): the host's, and that client's own.
    pub(crate) fn csrf_origins(&self, app: Option<&str>) -> std::borrow::Cow<'_, [Origin]> {
        match self.client(app) {
            Some(client) if !client.allowed.is_empty() => {
                let mut allowed = self.allowed.clone();
                allowed.extend(client.allowed.iter().cloned());
                std::borrow::Cow::Owned(allowed)
            }
            _ => std::borrow::Cow::Borrowed(&self.allowed),
        }
    }
}

/// The longest redirect target accepted.
const MAX_LEN: usize = 2048;

/// Checks a redirect target against the allowed origins; returns it unchanged when safe.
pub(crate) fn check(target: &str, allowed: &[Origin]) -> Result<String, Error> {
    let refuse = || {
        Err(Error::invalid_request(
            "redirect_url: not an allowed redirect target",
        ))
    };
    if target.is_empty()
        || target.len() > MAX_LEN
        || target.contains('\\')
        || target.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return refuse();
    }
    if let Some(rest) = target.strip_prefix('/') {
        // `//host` and `/\host` are protocol-relative URLs to another host.
        if rest.starts_with('/') {
            return refuse();
        }
        return Ok(target.to_owned());
    }
    match Origin::parse(target) {
        Some(origin) if allowed.contains(&origin) => Ok(target.to_owned()),
        _ => refuse(),
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `target` with `name=value` appended to its query.
pub(crate) fn with_query(target: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match target.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (target, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{separator}{name}={value}");
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<Origin> {
        vec![
            Origin::parse("https://app.example.com").unwrap(),
            Origin::parse("http://localhost:3000").unwrap(),
        ]
    }

    #[test]
    fn safe_targets_pass_unchanged() {
        for ok in [
            "/",
            "/dashboard",
            "/a/b?c=d&e=f#g",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/welcome?x=1",
            "HTTPS://APP.EXAMPLE.COM/Welcome",
            "https://app.example.com:443/x",
            "http://localhost:3000/after",
        ] {
            assert_eq!(check(ok, &allowed()).unwrap(), ok, "{ok}");
        }
    }

    #[test]
    fn the_tricky_corpus_is_refused() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        for bad in [
            "",
            "//evil.example",
            "//evil.example/path",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "https:evil.example",
            "https:/evil.example",
            "https://evil.example",
            "https://app.example.com.evil.example",
            "https://app.example.com@evil.example",
            "https://user:pass@app.example.com",
            "https://evil.example#@app.example.com",
            "https://evil.example?@app.example.com",
            "http://app.example.com",
            "https://app.example.com:8443/",
            "http://localhost:3001/",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "ftp://app.example.com",
            "/\tevil",
            "/ok\r\nSet-Cookie: x=y",
            " /leading-space",
            "/path with space",
            "\u{0}/",
            "evil.example",
            "app.example.com/path",
            "?x=1",
            "#frag",
            &long,
        ] {
            assert!(check(bad, &allowed()).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("/a?b=c&d"), "%2Fa%3Fb%3Dc%26d");
        assert_eq!(encode_query_value("safe-._~09AZ"), "safe-._~09AZ");
    }

    #[test]
    fn query_values_append_before_the_fragment() {
        assert_eq!(with_query("/a", "e", "x"), "/a?e=x");
        assert_eq!(with_query("/a?b=c", "e", "x"), "/a?b=c&e=x");
        assert_eq!(with_query("/a?b=c#top", "e", "x"), "/a?b=c&e=x#top");
    }

    #[test]
    fn origins_parse_strictly() {
        let o = Origin::parse("HTTPS://App.Example.com:443/path?q").unwrap();
        assert_eq!(o.serialize(), "https://app.example.com");
        assert_eq!(Origin::parse("http://localhost:3000").unwrap().port, 3000);
        assert_eq!(
            Origin::parse("http://[::1]:8080").unwrap().serialize(),
            "http://[::1]:8080"
        );
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "https://user@evil.example",
            "https://evil.example\\@good.example",
            "https://",
            "https://exa mple.com",
            "https://example.com:99999",
            "ftp://example.com",
            "https://a..b",
            "https://evil.example\n",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }
}
