//! The one check every redirect target goes through (`redirect_url` on links, resets and,
//! later, OAuth): an open redirect turns a trusted domain into a phishing relay.
//!
//! Accepted: a relative path starting with exactly one `/` (`/dashboard?tab=1`), or an
//! absolute `http(s)` URL whose parsed origin is exactly one of the allowed origins.
//! Refused: `//evil.example`, `/\evil.example`, backslashes anywhere, `user@host` tricks,
//! control characters and whitespace, `javascript:`/`data:` and every other scheme, and
//! anything over 2048 bytes.

use crate::{Error, config::Origin};

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
}
