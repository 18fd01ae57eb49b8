//! The session layer: bearer and cookie authentication, hostile tokens, CSRF, the
//! extractors.

use axum::{Router, routing::get};
use base64::Engine as _;
use http::StatusCode;
use portcullis::CurrentUser;
use serde_json::{Value, json};

use crate::common::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn anonymous_requests_get_the_contract_401() {
    let t = app().await;
    let resp = get_("/hello").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.error_code(), "unauthorized");
    let maybe = get_("/maybe").send(&t.app).await;
    assert_eq!(maybe.json, json!({ "signed_in": false }));
}

#[tokio::test]
async fn a_bearer_token_authenticates_without_the_database() {
    let t = app().await;
    let grant = sign_up(&t.app, "bearer@example.com").await;
    let token = grant.access_token();
    let resp = get_("/hello").bearer(&token).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json["user_id"], grant.json["user"]["id"]);
    assert_eq!(resp.json["email"], "bearer@example.com");
    let lower = get_("/hello")
        .header("authorization", &format!("bearer {token}"))
        .send(&t.app)
        .await;
    assert_eq!(lower.status, StatusCode::OK);
    // A host route reads the whole user row when it asks for it.
    let record = get_("/record").bearer(&token).send(&t.app).await;
    assert_eq!(record.status, StatusCode::OK);
}

#[tokio::test]
async fn hostile_tokens_are_refused() {
    let t = app().await;
    let grant = sign_up(&t.app, "victim@example.com").await;
    let token = grant.access_token();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims(&token);
    claims["email"] = json!("admin@example.com");
    let forged_payload = b64(claims.to_string().as_bytes());

    let jwks = get_("/.well-known/jwks.json").send(&t.app).await.json;
    let jwk = &jwks["keys"][0];
    let decode = |s: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.as_str().unwrap())
            .unwrap()
    };
    let point = [vec![4u8], decode(&jwk["x"]), decode(&jwk["y"])].concat();
    let kid = jwk["kid"].as_str().unwrap();

    let hs256 = |key: &[u8]| {
        let header = b64(format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes());
        let signed = format!("{header}.{forged_payload}");
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
            signed.as_bytes(),
        );
        format!("{signed}.{}", b64(tag.as_ref()))
    };
    let none_header = b64(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes());
    let jku_header = b64(format!(
        r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}","jku":"https://evil.example/jwks"}}"#
    )
    .as_bytes());

    let attacks = [
        ("alg none", format!("{none_header}.{forged_payload}.")),
        (
            "alg none, no signature segment",
            format!("{none_header}.{forged_payload}"),
        ),
        ("HS256 keyed with the public point", hs256(&point)),
        (
            "HS256 keyed with the JWK JSON",
            hs256(jwk.to_string().as_bytes()),
        ),
        (
            "payload swapped under a real signature",
            format!("{}.{forged_payload}.{}", parts[0], parts[2]),
        ),
        (
            "jku header",
            format!("{jku_header}.{}.{}", parts[1], parts[2]),
        ),
        (
            "truncated signature",
            format!("{}.{}.{}", parts[0], parts[1], &parts[2][..40]),
        ),
        ("four segments", format!("{token}.{}", parts[2])),
        ("oversized", format!("{token}{}", "A".repeat(5000))),
        ("not a token", "hello".to_owned()),
    ];
    for (name, attack) in attacks {
        assert_eq!(
            hello(&t.app, &attack).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
    assert_eq!(hello(&t.app, &token).await, StatusCode::OK);
}

/// The layer reads credentials as bytes: bytes that are not UTF-8 are no token (401, never
/// a 500), a verified token is matched byte for byte however it is framed, and another
/// cookie's UTF-8 value does not hide the session cookie.
#[tokio::test]
async fn credentials_are_read_as_bytes_and_odd_bytes_are_no_token() {
    let t = app().await;
    let token = sign_up(&t.app, "bytes@example.com").await.access_token();
    assert_eq!(hello(&t.app, &token).await, StatusCode::OK); // now cached as verified
    let raw = |name: &str, value: Vec<u8>| {
        let mut request = get_("/hello").build();
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(&value).unwrap(),
        );
        request
    };
    let status = |request: http::Request<axum::body::Body>| async {
        tower::ServiceExt::oneshot(t.app.clone(), request)
            .await
            .unwrap()
            .status()
    };
    for (name, value) in [
        ("authorization", b"Bearer \xff\xfe\xfd".to_vec()),
        ("cookie", b"__session=\xff\xfe\xfd".to_vec()),
        (
            "authorization",
            [b"Bearer ".as_slice(), token.as_bytes(), b"\xe9"].concat(),
        ),
        ("authorization", b"Bearer sk_live_\xff".to_vec()),
    ] {
        assert_eq!(
            status(raw(name, value.clone())).await,
            StatusCode::UNAUTHORIZED,
            "{name}: {}",
            String::from_utf8_lossy(&value)
        );
    }
    // Spaces around the token, any case of the scheme: the same verified token.
    let framed = format!("bEaReR   {token} \t");
    assert_eq!(
        status(raw("authorization", framed.into_bytes())).await,
        StatusCode::OK
    );
    let cookies = format!("theme=caf\u{e9}; __session={token};flag");
    assert_eq!(
        status(raw("cookie", cookies.into_bytes())).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cookie_authenticates_reads_and_csrf_guards_writes() {
    let t = app().await;
    let grant = sign_up(&t.app, "csrf@example.com").await;
    let cookie = grant.cookie("__session").unwrap();

    assert_eq!(
        get_("/hello").cookie(&cookie).send(&t.app).await.status,
        StatusCode::OK
    );

    let no_proof = post_("/action").cookie(&cookie).send(&t.app).await;
    assert_eq!(no_proof.status, StatusCode::FORBIDDEN);
    assert_eq!(no_proof.error_code(), "forbidden");

    let csrf = get_("/v1/auth/csrf").cookie(&cookie).send(&t.app).await;
    let csrf_token = csrf.json["csrf_token"].as_str().unwrap().to_owned();
    let with_token = post_("/action")
        .cookie(&cookie)
        .header("x-csrf-token", &csrf_token)
        .send(&t.app)
        .await;
    assert_eq!(with_token.status, StatusCode::OK, "{}", with_token.text);

    let with_origin = post_("/action")
        .cookie(&cookie)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(with_origin.status, StatusCode::OK);

    for origin in [
        "https://evil.example",
        "null",
        "http://localhost:3001",
        "http://localhost:3000.evil.example",
    ] {
        let resp = post_("/action")
            .cookie(&cookie)
            .origin(origin)
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{origin}");
    }
    let forged = post_("/action")
        .cookie(&cookie)
        .header("x-csrf-token", "forged")
        .send(&t.app)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let cross_site = post_("/action")
        .cookie(&cookie)
        .header("x-csrf-token", &csrf_token)
        .header("sec-fetch-site", "cross-site")
        .send(&t.app)
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);

    // Another session's CSRF token does not work for this one.
    let other = sign_in(&t.app, "csrf@example.com", PASSWORD).await;
    let other_csrf = get_("/v1/auth/csrf")
        .bearer(&other.access_token())
        .send(&t.app)
        .await;
    let resp = post_("/action")
        .cookie(&cookie)
        .header(
            "x-csrf-token",
            other_csrf.json["csrf_token"].as_str().unwrap(),
        )
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);

    // Our own routes are guarded the same way.
    let sign_out = post_("/v1/auth/sign-out")
        .cookie(&cookie)
        .origin("https://evil.example")
        .send(&t.app)
        .await;
    assert_eq!(sign_out.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get_("/hello").cookie(&cookie).send(&t.app).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bearer_requests_need_no_csrf_and_win_over_cookies() {
    let t = app().await;
    let grant = sign_up(&t.app, "both@example.com").await;
    let cookie = grant.cookie("__session").unwrap();
    let resp = post_("/action")
        .bearer(&grant.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    // A bad bearer token is judged as such, even next to a good cookie.
    let resp = get_("/hello")
        .bearer("not-a-token")
        .cookie(&cookie)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn extra_allowed_origins_pass_the_origin_check() {
    let t =
        app_with(|b| b.requests(|r| r.allowed_origins = vec!["https://admin.example.com".into()]))
            .await;
    let grant = sign_up(&t.app, "origins@example.com").await;
    let cookie = grant.cookie("__session").unwrap();
    let resp = post_("/action")
        .cookie(&cookie)
        .origin("https://admin.example.com")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let resp = post_("/action")
        .cookie(&cookie)
        .origin("https://other.example.com")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn optional_current_user_still_refuses_a_csrf_failure() {
    let t = app().await;
    let grant = sign_up(&t.app, "opt@example.com").await;
    let app = Router::new()
        .route(
            "/open",
            axum::routing::post(|user: Option<CurrentUser>| async move {
                format!("{}", user.is_some())
            }),
        )
        .layer(t.auth.session_layer());
    let resp = post_("/open")
        .cookie(&grant.cookie("__session").unwrap())
        .send(&app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let resp = post_("/open").send(&app).await;
    assert_eq!(resp.text, "false");
}

#[tokio::test]
async fn a_missing_layer_is_a_loud_500_naming_the_fix() {
    let t = app().await;
    let app: Router = Router::new().route("/me", get(|_: CurrentUser| async { "unreachable" }));
    let resp = get_("/me").send(&app).await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.text.contains("session_layer()"), "{}", resp.text);
    drop(t);
}

#[tokio::test]
async fn the_rust_api_verifies_tokens_like_the_layer() {
    let t = app().await;
    let grant = sign_up(&t.app, "api@example.com").await;
    let claims = t
        .auth
        .verify_access_token(&grant.access_token())
        .await
        .unwrap();
    assert_eq!(claims.email.as_deref(), Some("api@example.com"));
    assert_eq!(
        t.auth
            .verify_access_token("garbage")
            .await
            .unwrap_err()
            .code(),
        "unauthorized"
    );
    t.auth.sessions().revoke(claims.sid).await.unwrap();
    assert!(
        t.auth
            .verify_access_token(&grant.access_token())
            .await
            .is_err()
    );
}
