//! Bad input: every rejection answers the contract's JSON error, never a 500.

use http::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn wrong_content_type_malformed_json_and_missing_fields_are_400() {
    let t = app().await;
    let path = "/v1/auth/sign-in/email-password";
    let cases = [
        post_(path).raw("text/plain", r#"{"email":"a@example.com","password":"x"}"#),
        post_(path).raw(
            "application/x-www-form-urlencoded",
            "email=a%40example.com&password=x",
        ),
        post_(path),
        post_(path).raw("application/json", "{"),
        post_(path).raw("application/json", ""),
        post_(path).raw("application/json", "[]"),
        post_(path).json(json!({ "email": "a@example.com" })),
        post_(path).json(json!({ "email": 5, "password": "x" })),
        post_(path).json(json!({ "email": "a@example.com", "password": "x", "admin": true })),
        post_(path).raw("application/json", "\u{0}\u{1}garbage"),
    ];
    for case in cases {
        let resp = case.send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
        assert_eq!(resp.error_code(), "invalid_request");
    }
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let t = app().await;
    let big = json!({ "email": "a@example.com", "password": "p".repeat(70 * 1024) });
    let resp = post_("/v1/auth/sign-in/email-password")
        .json(big)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.error_code(), "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_are_json_404s_and_wrong_methods_405() {
    let t = app().await;
    let resp = get_("/v1/auth/no-such-thing").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.error_code(), "not_found");
    let resp = get_("/v1/auth/sign-in/email-password").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.error_code(), "method_not_allowed");
}

#[tokio::test]
async fn our_responses_carry_the_security_headers() {
    let t = app().await;
    for resp in [
        get_("/v1/auth/methods").send(&t.app).await,
        get_("/v1/auth/nothing").send(&t.app).await,
        post_("/v1/auth/sign-in/email-password")
            .json(json!({}))
            .send(&t.app)
            .await,
    ] {
        assert_eq!(resp.headers["cache-control"], "no-store");
        assert_eq!(resp.headers["x-content-type-options"], "nosniff");
        assert_eq!(resp.headers["referrer-policy"], "no-referrer");
    }
}

#[tokio::test]
async fn no_input_makes_a_500() {
    let t = app().await;
    let token = sign_up(&t.app, "fuzz@example.com").await.access_token();
    let paths = [
        (Method::POST, "/v1/auth/sign-up/email-password"),
        (Method::POST, "/v1/auth/sign-in/email-password"),
        (Method::POST, "/v1/auth/sessions/refresh"),
        (Method::POST, "/v1/auth/sign-out"),
        (Method::POST, "/v1/auth/identify"),
        (Method::PATCH, "/v1/auth/me"),
        (Method::DELETE, "/v1/auth/sessions/%00"),
        (Method::DELETE, "/v1/auth/sessions/..%2F..%2Fetc"),
        (Method::GET, "/v1/auth/sessions/%ZZ"),
        (Method::POST, "/v1/auth/me/passkeys/register/begin"),
        (Method::POST, "/v1/auth/me/passkeys/register/complete"),
        (Method::POST, "/v1/auth/passkeys/authenticate/begin"),
        (Method::POST, "/v1/auth/passkeys/authenticate/complete"),
        (Method::PATCH, "/v1/auth/me/passkeys/%00"),
        (
            Method::PATCH,
            "/v1/auth/me/passkeys/00000000-0000-0000-0000-000000000000",
        ),
        (Method::DELETE, "/v1/auth/me/passkeys/..%2F"),
        (Method::GET, "/v1/auth/oauth/%00/authorize?redirect_url=%FF"),
        (
            Method::GET,
            "/v1/auth/oauth/github/callback?state=%FF%FE&code=%00&iss=x",
        ),
        (Method::DELETE, "/v1/auth/me/accounts/not-a-uuid"),
    ];
    let bodies = [
        json!(null),
        json!("string"),
        json!(12345),
        json!({ "email": "\u{0}", "password": "\u{0}" }),
        json!({ "email": "a@example.com", "password": "\u{202e}\u{fe0f}\u{1f980}" }),
        json!({ "email": "x".repeat(5000), "password": "y" }),
        json!({ "refresh_token": "\u{0}".repeat(64) }),
        json!({ "refresh_token": 7 }),
        json!({ "session_ids": ["not-a-uuid"] }),
        json!({ "session_ids": "all" }),
        json!({ "credential": { "id": "", "rawId": "!!!", "type": "public-key", "response": {} } }),
        json!({ "credential": { "id": "AA", "rawId": "AA", "type": "public-key",
            "response": { "clientDataJSON": "AA", "authenticatorData": "AA", "signature": "AA",
                "userHandle": "AAAA" } },
            "challenge_id": "00000000-0000-0000-0000-000000000000" }),
        json!({ "credential": { "id": "AA", "rawId": "AA", "type": "public-key",
            "response": { "clientDataJSON": "AA", "attestationObject": "AA" } } }),
        json!({ "challenge_id": "not-a-uuid", "credential": [] }),
        json!({ "name": "\u{0}", "email": null }),
        json!({ "email": "nobody@example.com" }),
        json!({ "metadata": serde_json::from_str::<serde_json::Value>(&format!("{}1{}", "[".repeat(100), "]".repeat(100))).unwrap() }),
    ];
    for (method, path) in &paths {
        for body in &bodies {
            let resp = req(method.clone(), path)
                .bearer(&token)
                .json(body.clone())
                .send(&t.app)
                .await;
            assert!(
                !resp.status.is_server_error(),
                "{method} {path} {body}: {} {}",
                resp.status,
                resp.text
            );
            if !resp.status.is_success() {
                resp.error_code();
            }
        }
        // Nesting deeper than the JSON parser allows is refused, not a crash.
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let resp = req(method.clone(), path)
            .bearer(&token)
            .raw("application/json", deep)
            .send(&t.app)
            .await;
        assert!(
            !resp.status.is_server_error(),
            "{method} {path} deep: {}",
            resp.status
        );
    }
}
