//! CSRF protection for cookie-authenticated requests.
//!
//! A browser attaches our cookies to requests other sites make, so a cookie-authenticated
//! unsafe request (POST, PUT, PATCH, DELETE) must also show it comes from our own pages:
//! either an `X-CSRF-Token` header (from `GET /csrf`, an HMAC of the session id under a
//! key derived from the server secret, compared in constant time) or an `Origin` header
//! naming an allowed origin. `Sec-Fetch-Site: cross-site` is refused outright.
//! Bearer-authenticated requests are exempt: another site cannot make a browser send a
//! bearer token.

use http::{HeaderMap, Method};
use uuid::Uuid;

use crate::{
    Error,
    crypto::{self, DerivedKeys},
    origin::Origin,
};

/// The request header carrying the token.
pub(crate) const HEADER: &str = "x-csrf-token";

/// What a CSRF token is bound to: a session, or (signed out) a random pre-session value
/// kept in the `__csrf` cookie.
pub(crate) fn token(keys: &DerivedKeys, binding: &[u8]) -> String {
    crypto::b64_encode(crypto::hmac_parts(&keys.csrf, &[b"csrf-token", binding]).as_ref())
}

/// The CSRF token of a session.
pub(crate) fn session_token(keys: &DerivedKeys, session_id: Uuid) -> String {
    token(keys, session_id.as_bytes())
}

/// Whether the method changes state.
pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Checks a cookie-authenticated unsafe request of `session_id`: an `X-CSRF-Token` that
/// is the session's token, or the browser's pre-session token (from a signed-out
/// `GET /csrf`, bound to the nonce in the `csrf_cookie`: a tab whose access token expired
/// still holds it); or, without the header, an allowed `Origin`.
pub(crate) fn check(
    headers: &HeaderMap,
    keys: &DerivedKeys,
    allowed: &[Origin],
    session_id: Uuid,
    csrf_cookie: &str,
) -> Result<(), Error> {
    let refuse = || {
        Err(Error::forbidden(
            "cross-site request refused (CSRF check failed)",
        ))
    };
    if is_cross_site(headers) {
        return refuse();
    }
    if let Some(presented) = headers.get(HEADER) {
        let expected = session_token(keys, session_id);
        if crypto::ct_eq(presented.as_bytes(), expected.as_bytes()) {
            return Ok(());
        }
        // Another site can neither read our cookie nor send a custom header without a
        // preflight we never allow: a token matching this browser's nonce is ours.
        if let Ok(Some(nonce)) = super::cookie::read(headers, csrf_cookie) {
            let expected = token(keys, nonce.as_bytes());
            if crypto::ct_eq(presented.as_bytes(), expected.as_bytes()) {
                return Ok(());
            }
        }
        return refuse();
    }
    let origin_allowed = headers
        .get(http::header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .and_then(Origin::parse)
        .is_some_and(|origin| allowed.contains(&origin));
    if origin_allowed { Ok(()) } else { refuse() }
}

/// Whether the browser says the request comes from another site (`Sec-Fetch-Site:
/// cross-site`): a form post, a link or a script on a page that is not ours.
pub(crate) fn is_cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn setup() -> (DerivedKeys, Vec<Origin>, Uuid) {
        let keys = DerivedKeys::derive(&Secret::generate());
        let allowed = vec![Origin::parse("https://app.example.com").unwrap()];
        (keys, allowed, Uuid::now_v7())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_session_token_passes_and_another_sessions_does_not() {
        let (keys, allowed, sid) = setup();
        let good = session_token(&keys, sid);
        assert!(check(&headers(&[(HEADER, &good)]), &keys, &allowed, sid, "__csrf").is_ok());
        let other = session_token(&keys, Uuid::now_v7());
        assert!(
            check(
                &headers(&[(HEADER, &other)]),
                &keys,
                &allowed,
                sid,
                "__csrf"
            )
            .is_err()
        );
        assert!(
            check(
                &headers(&[(HEADER, "forged")]),
                &keys,
                &allowed,
                sid,
                "__csrf"
            )
            .is_err()
        );
    }

    #[test]
    fn an_allowed_origin_passes_and_others_do_not() {
        let (keys, allowed, sid) = setup();
        assert!(
            check(
                &headers(&[("origin", "https://app.example.com")]),
                &keys,
                &allowed,
                sid,
                "__csrf"
            )
            .is_ok()
        );
        for origin in [
            "https://evil.example",
            "null",
            "http://app.example.com",
            "https://app.example.com.evil.example",
        ] {
            assert!(
                check(
                    &headers(&[("origin", origin)]),
                    &keys,
                    &allowed,
                    sid,
                    "__csrf"
                )
                .is_err(),
                "{origin}"
            );
        }
        assert!(check(&HeaderMap::new(), &keys, &allowed, sid, "__csrf").is_err());
    }

    #[test]
    fn the_pre_session_token_passes_with_its_own_cookie_only() {
        let (keys, allowed, sid) = setup();
        let nonce = crypto::random_token();
        let pre = token(&keys, nonce.as_bytes());
        let cookie = format!("__csrf={nonce}");
        let with_cookie = headers(&[(HEADER, &pre), ("cookie", &cookie)]);
        assert!(check(&with_cookie, &keys, &allowed, sid, "__csrf").is_ok());
        let without = headers(&[(HEADER, &pre)]);
        assert!(check(&without, &keys, &allowed, sid, "__csrf").is_err());
        let other_cookie = headers(&[(HEADER, &pre), ("cookie", "__csrf=someone-elses")]);
        assert!(check(&other_cookie, &keys, &allowed, sid, "__csrf").is_err());
    }

    #[test]
    fn cross_site_fetches_are_refused_even_with_a_token() {
        let (keys, allowed, sid) = setup();
        let good = session_token(&keys, sid);
        let h = headers(&[(HEADER, &good), ("sec-fetch-site", "cross-site")]);
        assert!(check(&h, &keys, &allowed, sid, "__csrf").is_err());
    }

    #[test]
    fn only_unsafe_methods_are_checked() {
        assert!(is_unsafe(&Method::POST));
        assert!(is_unsafe(&Method::DELETE));
        assert!(is_unsafe(&Method::PATCH));
        assert!(is_unsafe(&Method::PUT));
        assert!(!is_unsafe(&Method::GET));
        assert!(!is_unsafe(&Method::HEAD));
    }
}
