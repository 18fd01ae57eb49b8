//! The cookies portcullis reads and writes: `__session` (access token), `__client`
//! (refresh token) and `__csrf`, all `HttpOnly; SameSite=Lax; Path=/`, no `Domain`,
//! `Secure` unless the host turned it off for plain-http development.

use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue, header};

use crate::Config;

/// The value of the cookie `name`, from every `Cookie` header of the request.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
        .filter(|value| !value.is_empty())
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
        assert_eq!(read(&headers, "__session"), Some("tok"));
        assert_eq!(read(&headers, "__client"), Some("ref"));
        assert_eq!(read(&headers, "missing"), None);
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, "__session=".parse().unwrap());
        assert_eq!(read(&empty, "__session"), None);
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
        config.cookie_secure = Some(false);
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
