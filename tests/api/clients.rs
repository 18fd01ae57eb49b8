//! Client apps (publishable keys) and the seeds' remaining shapes: `POST /sessions`,
//! `DELETE /sessions`, passkey options with no body.

use http::{Method, StatusCode};
use portcullis::config::{Client, TokenDelivery};
use serde_json::json;

use crate::common::*;

const WEB_KEY: &str = "pk_test_web0000000000000000";
const MOBILE_KEY: &str = "pk_live_mobile00000000000000";

async fn clients_app(require: bool) -> TestApp {
    app_with(move |b| {
        b.client(
            Client::new("web", "Acme Web")
                .publishable_key(WEB_KEY)
                .allowed_origins(["https://web.acme.example"])
                .branding("Acme Web", None),
        )
        .client(
            Client::new("mobile", "Acme for iOS")
                .publishable_key(MOBILE_KEY)
                .token_delivery(TokenDelivery::BodyOnly)
                .allowed_redirects(["https://links.acme.example"]),
        )
        .requests(move |r| r.require_client_key = require)
    })
    .await
}

#[tokio::test]
async fn a_required_client_key_guards_the_auth_and_org_routes_only() {
    let t = clients_app(true).await;
    for path in ["/v1/auth/methods", "/v1/orgs"] {
        let resp = get_(path).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(resp.error_code(), "invalid_client");
        let unknown = get_(path)
            .header("x-api-key", "pk_live_unknown000000000000")
            .send(&t.app)
            .await;
        assert_eq!(unknown.error_code(), "invalid_client");
    }
    assert_eq!(get_("/healthz").send(&t.app).await.status, StatusCode::OK);
    assert_eq!(
        get_("/.well-known/jwks.json").send(&t.app).await.status,
        StatusCode::OK
    );
    let methods = get_("/v1/auth/methods")
        .header("x-api-key", WEB_KEY)
        .send(&t.app)
        .await;
    assert_eq!(methods.status, StatusCode::OK, "{}", methods.text);
    assert_eq!(methods.json["client"]["id"], "web");
    assert_eq!(
        methods.json["client"]["branding"]["product_name"],
        "Acme Web"
    );

    // A publishable key authorizes nothing by itself.
    let me = get_("/v1/auth/me")
        .header("x-api-key", WEB_KEY)
        .send(&t.app)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_client_gets_its_delivery_redirects_origins_and_branding() {
    let t = clients_app(false).await;
    // Without a key nothing changes.
    let plain = sign_up(&t.app, "plain@example.com").await;
    assert!(plain.set_cookie("__session").is_some());
    assert!(plain.json["session"].get("client_id").is_none());

    // The mobile client's grants come in the body only, and the session remembers it.
    let mobile = post_("/v1/auth/sign-up/email-password")
        .header("x-api-key", MOBILE_KEY)
        .json(json!({ "email": "phone@example.com", "password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(mobile.status, StatusCode::CREATED, "{}", mobile.text);
    assert!(mobile.set_cookie("__session").is_none());
    assert!(mobile.json["refresh_token"].is_string());
    assert_eq!(mobile.json["session"]["client_id"], "mobile");
    let refreshed = refresh(&t.app, &mobile.refresh_token()).await;
    assert!(
        refreshed.set_cookie("__session").is_none(),
        "still the mobile client's session"
    );
    let sessions = get_("/v1/auth/sessions")
        .bearer(&mobile.access_token())
        .send(&t.app)
        .await;
    assert_eq!(sessions.json["sessions"][0]["client_id"], "mobile");

    // Its redirects, only for it.
    let body =
        json!({ "email": "phone@example.com", "redirect_url": "https://links.acme.example/in" });
    let own = post_("/v1/auth/sign-in/magic-link")
        .header("x-api-key", MOBILE_KEY)
        .json(body.clone())
        .send(&t.app)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let other = post_("/v1/auth/sign-in/magic-link")
        .header("x-api-key", WEB_KEY)
        .json(body.clone())
        .send(&t.app)
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    let none = post_("/v1/auth/sign-in/magic-link")
        .json(body)
        .send(&t.app)
        .await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);

    // The web client's origin passes the CSRF check of cookie requests that name it.
    let session = plain.cookie("__session").unwrap();
    let from_web = post_("/action")
        .cookie(&session)
        .origin("https://web.acme.example")
        .header("x-api-key", WEB_KEY)
        .send(&t.app)
        .await;
    assert_eq!(from_web.status, StatusCode::OK, "{}", from_web.text);
    let unnamed = post_("/action")
        .cookie(&session)
        .origin("https://web.acme.example")
        .send(&t.app)
        .await;
    assert_eq!(unnamed.status, StatusCode::FORBIDDEN);

    // Its branding in the emails sent for it, and through client_alias.
    post_("/v1/auth/password/forgot")
        .header("x-api-key", WEB_KEY)
        .json(json!({ "email": "plain@example.com" }))
        .send(&t.app)
        .await;
    let mail = t.email("plain@example.com", 1).await;
    assert!(mail.subject.contains("Acme Web"), "{}", mail.subject);
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "phone@example.com", "client_alias": "web" }))
        .send(&t.app)
        .await;
    let mail = t.email("phone@example.com", 2).await;
    assert!(mail.subject.contains("Acme Web"), "{}", mail.subject);
}

#[tokio::test]
async fn clients_are_checked_at_build() {
    for client in [
        Client::new("bad id", "x"),
        Client::new("ok", "x").publishable_key("sk_live_0000000000000000"),
        Client::new("ok", "x").publishable_key("pk_live_short"),
        Client::new("ok", "x").allowed_origins(["not an origin"]),
    ] {
        let db = database().await;
        let built = builder(db).client(client).build().await;
        assert!(built.is_err());
    }
    let db = database().await;
    let twice = builder(db)
        .client(Client::new("a", "A").publishable_key(WEB_KEY))
        .client(Client::new("b", "B").publishable_key(WEB_KEY))
        .build()
        .await;
    assert!(twice.is_err());
    let db = database().await;
    assert!(builder(db).waitlist("Bad Feature").build().await.is_err());
}

#[tokio::test]
async fn post_sessions_exchanges_each_one_time_secret_like_its_own_route() {
    let t = app().await;
    t.auth
        .users()
        .create(portcullis::users::NewUser::new("seed@example.com").email_verified(true))
        .await
        .unwrap();
    // The emailed code.
    post_("/v1/auth/sign-in/email-otp")
        .json(json!({ "email": "seed@example.com" }))
        .send(&t.app)
        .await;
    let mail = t.email("seed@example.com", 1).await;
    let code = mail
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let wrong = post_("/v1/auth/sessions")
        .json(json!({ "method": "otp", "email": "seed@example.com", "token": "000000" }))
        .send(&t.app)
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.error_code(), "token_invalid");
    let grant = post_("/v1/auth/sessions")
        .json(json!({ "method": "otp", "email": "seed@example.com", "token": code }))
        .send(&t.app)
        .await;
    assert_eq!(grant.status, StatusCode::OK, "{}", grant.text);
    assert_eq!(grant.json["session"]["auth_method"], "email_otp");

    // The link's token.
    post_("/v1/auth/sign-in/magic-link")
        .json(json!({ "email": "seed@example.com" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("seed@example.com", 2).await);
    let linked = post_("/v1/auth/sessions")
        .json(json!({ "method": "magic_link", "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.text);
    let used = post_("/v1/auth/sessions")
        .json(json!({ "method": "magic_link", "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(used.error_code(), "token_invalid");

    // Passkey options with no body at all, or an empty one.
    let bare = req(Method::POST, "/v1/auth/passkeys/authenticate/begin")
        .send(&t.app)
        .await;
    assert_eq!(bare.status, StatusCode::OK, "{}", bare.text);
    assert!(bare.json["challenge_id"].is_string());
    let empty = post_("/v1/auth/passkeys/authenticate/begin")
        .raw("application/json", "")
        .send(&t.app)
        .await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    let bogus = post_("/v1/auth/sessions")
        .json(json!({ "method": "passkey", "challenge_id": bare.json["challenge_id"], "credential": {} }))
        .send(&t.app)
        .await;
    assert_eq!(bogus.status, StatusCode::BAD_REQUEST, "{}", bogus.text);

    for body in [
        json!({ "method": "carrier_pigeon" }),
        json!({ "token": "x" }),
        json!({ "method": "otp" }),
    ] {
        let resp = post_("/v1/auth/sessions").json(body).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    }

    // DELETE /sessions ends every session of the caller (a fresh one).
    let all = req(Method::DELETE, "/v1/auth/sessions")
        .bearer(&linked.access_token())
        .send(&t.app)
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(all.json["revoked"], 2);
    assert_eq!(
        hello(&t.app, &grant.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn post_sessions_refuses_methods_the_host_turned_off() {
    use portcullis::config::SignInMethod::EmailOtp;
    let t = app_with(|b| b.sign_in(|s| s.disabled_methods.extend([EmailOtp]))).await;
    let resp = post_("/v1/auth/sessions")
        .json(json!({ "method": "otp", "email": "x@example.com", "token": "123456" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
}
