//! The cookies portcullis reads and writes: `__session` (access token), `__client`
//! (refresh token) and `__csrf`, all `HttpOnly; SameSite=Lax; Path=/`, no `Domain`,
//! `Secure` unless the host turned it off for plain-http development.

use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue, header};

use crate::Config;

/// A request carried the cookie more than once. Browsers send every cookie whose domain
/// and path match, so a second one may have been planted by a sibling subdomain (session
/// fixation): such a request is refused, never resolved by picking one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Duplicate;

impl From<Duplicate> for crate::Error {
    fn from(_: Duplicate) -> Self {
        crate::Error::invalid_request(
            "a credential cookie was sent twice (one may have been planted); clear this site's cookies and sign in again",
        )
    }
}

/// The value of the cookie `name`, from every `Cookie` header of the request; `Err` when
/// it appears more than once. `None` for a value that is not UTF-8.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Duplicate> {
    Ok(read_bytes(headers, name)?.and_then(|value| std::str::from_utf8(value).ok()))
}

/// [`read`] without the UTF-8 check of the value, for the layer's access token (which is
/// matched byte for byte against verified tokens, or checked by the verifier).
///
/// Scans each header once, on bytes: `memchr` finds the `;` between pairs (the session
/// cookie's value is a whole access token), and only keys are compared. Another cookie
/// with bytes beyond ASCII (a UTF-8 value some script set) does not hide ours.
pub(crate) fn read_bytes<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h [u8]>, Duplicate> {
    let name = name.as_bytes();
    let mut found: Option<&[u8]> = None;
    for header in headers.get_all(header::COOKIE) {
        let mut rest = header.as_bytes();
        while !rest.is_empty() {
            let (pair, next) = match memchr::memchr(b';', rest) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &[][..]),
            };
            rest = next;
            let pair = pair.trim_ascii();
            let Some(eq) = memchr::memchr(b'=', pair) else {
                continue;
            };
            if &pair[..eq] == name {
                if found.is_some() {
                    return Err(Duplicate);
                }
                found = Some(&pair[eq + 1..]);
            }
        }
    }
    Ok(found.filter(|value| !value.is_empty()))
}

/// Our fixed attributes: `HttpOnly; SameSite=Lax; Path=/`, no `Domain`, `Secure` unless
/// the host turned it off.
fn build<'c>(config: &Config, name: &'c str, value: &'c str) -> cookie::CookieBuilder<'c> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(config.secure_cookies())
}

/// A `Set-Cookie` value setting `name` for `max_age_secs`.
pub(crate) fn set(
    config: &Config,
    name: &str,
    value: &str,
    max_age_secs: i64,
) -> Option<HeaderValue> {
    let cookie = build(config, name, value).max_age(time::Duration::seconds(max_age_secs.max(0)));
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// A `Set-Cookie` value deleting `name`, with the same attributes it was set with.
pub(crate) fn clear(config: &Config, name: &str) -> Option<HeaderValue> {
    let cookie = build(config, name, "")
        .max_age(time::Duration::ZERO)
        .expires(time::OffsetDateTime::UNIX_EPOCH);
    HeaderValue::from_str(&cookie.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_cookie_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; __session=tok".parse().unwrap());
        headers.append(header::COOKIE, "__client=ref".parse().unwrap());
        assert_eq!(read(&headers, "__session"), Ok(Some("tok")));
        assert_eq!(read(&headers, "__client"), Ok(Some("ref")));
        assert_eq!(read(&headers, "missing"), Ok(None));
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, "__session=".parse().unwrap());
        assert_eq!(read(&empty, "__session"), Ok(None));
    }

    #[test]
    fn a_cookie_sent_twice_is_refused_not_resolved() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "__session=planted; a=1".parse().unwrap());
        headers.append(header::COOKIE, "__session=mine".parse().unwrap());
        assert_eq!(read(&headers, "__session"), Err(Duplicate));
        let mut one_header = HeaderMap::new();
        one_header.insert(header::COOKIE, "__client=a; __client=b".parse().unwrap());
        assert_eq!(read(&one_header, "__client"), Err(Duplicate));
        // Other names are not confused with it.
        one_header.insert(header::COOKIE, "x__client=a; __client=b".parse().unwrap());
        assert_eq!(read(&one_header, "__client"), Ok(Some("b")));
    }

    #[test]
    fn odd_spacing_and_someone_elses_utf8_cookie_do_not_hide_ours() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_bytes("theme=\u{e9}t\u{e9};__session=tok ;  ; flag".as_bytes())
                .unwrap(),
        );
        assert_eq!(read(&headers, "__session"), Ok(Some("tok")));
        assert_eq!(read(&headers, "flag"), Ok(None));
        // A value that is not UTF-8 is no value for `read`; the layer gets its bytes.
        let mut bad = HeaderMap::new();
        bad.insert(
            header::COOKIE,
            HeaderValue::from_bytes(b"__session=\xff\xfe").unwrap(),
        );
        assert_eq!(read(&bad, "__session"), Ok(None));
        assert_eq!(read_bytes(&bad, "__session"), Ok(Some(&b"\xff\xfe"[..])));
    }

    #[test]
    fn set_cookie_carries_every_attribute() {
        let mut config = Config {
            public_url: "https://app.example.com".into(),
            ..Config::default()
        };
        let value = set(&config, "__session", "tok", 300).unwrap();
        let value = value.to_str().unwrap();
        for attribute in [
            "__session=tok",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
            "Max-Age=300",
        ] {
            assert!(value.contains(attribute), "{value} lacks {attribute}");
        }
        assert!(!value.contains("Domain"));
        config.cookies.secure = Some(false);
        let value = set(&config, "__session", "tok", 300).unwrap();
        assert!(!value.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn clearing_matches_the_attributes() {
        let config = Config {
            public_url: "https://app.example.com".into(),
            ..Config::default()
        };
        let value = clear(&config, "__client").unwrap();
        let value = value.to_str().unwrap();
        for attribute in [
            "__client=",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
            "Max-Age=0",
        ] {
            assert!(value.contains(attribute), "{value} lacks {attribute}");
        }
    }
}
