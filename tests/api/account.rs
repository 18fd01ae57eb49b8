//! The account: `/me`, `/methods`, `/identify`, `/csrf`.

use http::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn me_shows_the_user_and_memberships() {
    let t = app().await;
    let grant = sign_up(&t.app, "me@example.com").await;
    let resp = get_("/v1/auth/me")
        .bearer(&grant.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json["ok"], true);
    assert_eq!(resp.json["user"], grant.json["user"]);
    assert_eq!(resp.json["memberships"], json!([]));
    assert_eq!(
        get_("/v1/auth/me").send(&t.app).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn patch_me_sets_clears_and_refuses() {
    let t = app().await;
    let token = sign_up(&t.app, "patch@example.com").await.access_token();
    let patch =
        |body: serde_json::Value| req(Method::PATCH, "/v1/auth/me").bearer(&token).json(body);

    let resp = patch(json!({ "name": "  Patty ", "image_url": "https://cdn.example.com/p.png", "metadata": { "theme": "dark" } }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["name"], "Patty");
    assert_eq!(
        resp.json["user"]["image_url"],
        "https://cdn.example.com/p.png"
    );
    assert_eq!(resp.json["user"]["metadata"], json!({ "theme": "dark" }));

    // Absent fields stay; null clears.
    let resp = patch(json!({ "image_url": null })).send(&t.app).await;
    assert_eq!(resp.json["user"]["name"], "Patty");
    assert_eq!(resp.json["user"]["image_url"], json!(null));
    assert_eq!(resp.json["user"]["metadata"], json!({ "theme": "dark" }));

    // Fields one may not set, and bad values.
    for body in [
        json!({ "email": "evil@example.com" }),
        json!({ "email_verified": true }),
        json!({ "id": "00000000-0000-0000-0000-000000000000" }),
        json!({ "image_url": "javascript:alert(1)" }),
        json!({ "metadata": [1, 2, 3] }),
        json!({ "name": "x".repeat(300) }),
        json!({ "name": 42 }),
    ] {
        let resp = patch(body.clone()).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(resp.error_code(), "invalid_request");
    }
    let me = get_("/v1/auth/me").bearer(&token).send(&t.app).await;
    assert_eq!(me.json["user"]["email"], "patch@example.com");
    assert_eq!(me.json["user"]["email_verified"], false);
}

#[tokio::test]
async fn methods_lists_what_is_enabled() {
    let t = app().await;
    let resp = get_("/v1/auth/methods").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        resp.json,
        json!({ "ok": true, "password": true, "magic_link": true, "email_otp": true, "sms_otp": true, "passkey": true, "oauth": [] })
    );
}

#[tokio::test]
async fn identify_tells_nobody_who_has_an_account() {
    let t = app().await;
    sign_up(&t.app, "exists@example.com").await;
    let known = post_("/v1/auth/identify")
        .json(json!({ "email": "exists@example.com" }))
        .send(&t.app)
        .await;
    let unknown = post_("/v1/auth/identify")
        .json(json!({ "email": "ghost@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(known.json, unknown.json);
    let bad = post_("/v1/auth/identify")
        .json(json!({ "email": "nope" }))
        .send(&t.app)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn identify_reveals_methods_when_the_host_opts_in() {
    let t = app_with(|b| b.sign_in(|s| s.account_discovery = true)).await;
    sign_up(&t.app, "exists@example.com").await;
    t.auth
        .users()
        .create(portcullis::users::NewUser::new("nopass@example.com"))
        .await
        .unwrap();
    let known = post_("/v1/auth/identify")
        .json(json!({ "email": "Exists@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(
        known.json,
        json!({ "ok": true, "exists": true, "methods": ["password", "magic_link", "email_otp"] })
    );
    let nopass = post_("/v1/auth/identify")
        .json(json!({ "email": "nopass@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(
        nopass.json,
        json!({ "ok": true, "exists": true, "methods": ["magic_link", "email_otp"] })
    );
    let unknown = post_("/v1/auth/identify")
        .json(json!({ "email": "ghost@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(unknown.json["exists"], false);
}

#[tokio::test]
async fn csrf_tokens_are_bound_to_the_session_or_a_cookie() {
    let t = app().await;
    let anonymous = get_("/v1/auth/csrf").send(&t.app).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert!(anonymous.json["csrf_token"].is_string());
    let cookie = anonymous.set_cookie("__csrf").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    // The same browser keeps its token.
    let again = get_("/v1/auth/csrf")
        .cookie(&anonymous.cookie("__csrf").unwrap())
        .send(&t.app)
        .await;
    assert_eq!(again.json["csrf_token"], anonymous.json["csrf_token"]);
    assert!(again.set_cookie("__csrf").is_none());
    assert_eq!(anonymous.headers["cache-control"], "no-store");
    assert!(
        anonymous
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );

    let a = sign_up(&t.app, "csrf-a@example.com").await;
    let b = sign_in(&t.app, "csrf-a@example.com", PASSWORD).await;
    let ta = get_("/v1/auth/csrf")
        .bearer(&a.access_token())
        .send(&t.app)
        .await
        .json["csrf_token"]
        .clone();
    let tb = get_("/v1/auth/csrf")
        .bearer(&b.access_token())
        .send(&t.app)
        .await
        .json["csrf_token"]
        .clone();
    assert_ne!(ta, tb);
    assert_ne!(ta, anonymous.json["csrf_token"]);
}
