//! The email lifecycle: verification, forgotten and changed passwords, one-time secrets,
//! delivery (in memory and over a real SMTP socket), redirects.

use std::time::Duration;

use http::StatusCode;
use portcullis::{
    delivery::{Email, MailError, Mailer, SmtpMailer},
    entity::one_time_secret,
    users::NewUser,
};
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _, IntoActiveModel as _};
use serde_json::json;

use crate::{common::*, smtp_sink::SmtpSink};

async fn verification_link(t: &TestApp, token: &str, email: &str, count: usize) -> String {
    let resp = post_("/v1/auth/email/send-verification")
        .bearer(token)
        .json(json!({}))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    link_in(&t.email(email, count).await)
}

#[tokio::test]
async fn a_signed_in_user_verifies_their_address_by_link() {
    let t = app().await;
    let grant = sign_up(&t.app, "verify@example.com").await;
    let link = verification_link(&t, &grant.access_token(), "verify@example.com", 1).await;
    assert!(
        link.starts_with("http://localhost:3000/v1/auth/email/verify?token="),
        "{link}"
    );
    let email = t.mail.sent_to("verify@example.com").pop().unwrap();
    assert_eq!(email.kind, "email_verification");
    assert!(email.html.contains("Confirm my email"));

    // A browser (or a mail scanner) opening the link gets a confirm page and verifies
    // nothing, however often it looks.
    for _ in 0..2 {
        let page = get_(&path_of(&link))
            .header("accept", "text/html")
            .send(&t.app)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("<form method=\"post\""), "{}", page.text);
        // What is confirmed, for which (masked) address, when the account was made, and
        // what to do if it was not you.
        assert!(page.text.contains("v***@example.com"), "{}", page.text);
        let today = time::OffsetDateTime::now_utc().date().to_string();
        assert!(page.text.contains(&today), "{}", page.text);
        assert!(page.text.contains("do nothing"), "{}", page.text);
        assert!(!page.text.contains("verify@example.com"));
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }
    let me = get_("/v1/auth/me")
        .bearer(&grant.access_token())
        .send(&t.app)
        .await;
    assert_eq!(me.json["user"]["email_verified"], false);

    // A JSON client verifies directly.
    let resp = get_(&path_of(&link))
        .header("accept", "application/json")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email_verified"], true);
    // Single use.
    let again = get_(&path_of(&link))
        .header("accept", "application/json")
        .send(&t.app)
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.error_code(), "token_invalid");
    // The next token says so once refreshed.
    let refreshed = refresh(&t.app, &grant.refresh_token()).await;
    assert_eq!(claims(&refreshed.access_token())["email_verified"], true);
    assert!(t.audit.kinds().contains(&"email_verified".to_owned()));
}

/// The confirm page's form, as the person's browser posts it: fields and cookie.
fn confirm_form(page: &Resp) -> (String, String) {
    let cookie = page.cookie("__confirm").expect("a __confirm cookie");
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.text.find(&marker).unwrap() + marker.len();
        page.text[start..].split('"').next().unwrap().to_owned()
    };
    let form = format!(
        "token={}&redirect_url={}&csrf={}",
        field("token"),
        urlencode(&field("redirect_url").replace("&amp;", "&")),
        field("csrf")
    );
    (form, cookie)
}

#[tokio::test]
async fn verification_by_post_and_redirects_by_get() {
    let t = app().await;
    let grant = sign_up(&t.app, "redirect@example.com").await;
    let resp = post_("/v1/auth/email/send-verification")
        .bearer(&grant.access_token())
        .json(json!({ "redirect_url": "/welcome?from=email" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let email = t.email("redirect@example.com", 1).await;
    let link = link_in(&email);
    assert!(
        link.contains("redirect_url=%2Fwelcome%3Ffrom%3Demail"),
        "{link}"
    );

    // A tampered redirect is refused before the token is touched.
    let token = token_in(&email);
    for evil in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let path = format!(
            "/v1/auth/email/verify?token={token}&redirect_url={}",
            urlencode(evil)
        );
        let resp = get_(&path).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{evil}");
        assert!(resp.headers.get("location").is_none());
    }

    // The person opens the link and presses the button: verified, then sent on.
    let page = get_(&path_of(&link))
        .header("accept", "text/html")
        .send(&t.app)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let (form, cookie) = confirm_form(&page);
    // Without the page's cookie (a form posted from elsewhere), or cross-site: refused.
    let resp = post_("/v1/auth/email/verify")
        .raw("application/x-www-form-urlencoded", form.clone())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    let resp = post_("/v1/auth/email/verify")
        .raw("application/x-www-form-urlencoded", form.clone())
        .cookie(&cookie)
        .header("sec-fetch-site", "cross-site")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    let resp = post_("/v1/auth/email/verify")
        .raw("application/x-www-form-urlencoded", form.clone())
        .cookie(&cookie)
        .origin("https://evil.example")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    let me = get_("/v1/auth/me")
        .bearer(&grant.access_token())
        .send(&t.app)
        .await;
    assert_eq!(me.json["user"]["email_verified"], false);

    let resp = post_("/v1/auth/email/verify")
        .raw("application/x-www-form-urlencoded", form.clone())
        .cookie(&cookie)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text);
    assert_eq!(resp.headers["location"], "/welcome?from=email");
    let me = get_("/v1/auth/me")
        .bearer(&grant.access_token())
        .send(&t.app)
        .await;
    assert_eq!(me.json["user"]["email_verified"], true);
    // The form again, or the used link opened again: sent on with the error.
    let resp = post_("/v1/auth/email/verify")
        .raw("application/x-www-form-urlencoded", form)
        .cookie(&cookie)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers["location"],
        "/welcome?from=email&error=token_invalid"
    );
    let resp = get_(&path_of(&link)).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers["location"],
        "/welcome?from=email&error=token_invalid"
    );

    // A redirect target is checked at send time too.
    let resp = post_("/v1/auth/email/send-verification")
        .bearer(&grant.access_token())
        .json(json!({ "redirect_url": "https://evil.example/" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);

    // The JSON form of the same.
    let other = sign_up(&t.app, "post@example.com").await;
    let token = token_in(&t.email_after_send(&other, "post@example.com", 1).await);
    let resp = post_("/v1/auth/email/verify")
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email_verified"], true);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn signed_out_sends_answer_the_same_for_every_address() {
    let t = app().await;
    sign_up(&t.app, "unverified@example.com").await;
    t.auth
        .users()
        .create(NewUser::new("verified@example.com").email_verified(true))
        .await
        .unwrap();
    let send =
        |email: &str| post_("/v1/auth/email/send-verification").json(json!({ "email": email }));
    let unverified = send("unverified@example.com").send(&t.app).await;
    let verified = send("verified@example.com").send(&t.app).await;
    let unknown = send("nobody@example.com").send(&t.app).await;
    for resp in [&unverified, &verified, &unknown] {
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.json, unverified.json);
    }
    t.email("unverified@example.com", 1).await;
    t.assert_no_more_email("verified@example.com", 0).await;
    t.assert_no_more_email("nobody@example.com", 0).await;
}

#[tokio::test]
async fn a_newer_link_supersedes_an_older_one_and_links_expire() {
    let t = app().await;
    let grant = sign_up(&t.app, "twice@example.com").await;
    let first = token_in(&t.email_after_send(&grant, "twice@example.com", 1).await);
    let second = token_in(&t.email_after_send(&grant, "twice@example.com", 2).await);
    let resp = post_("/v1/auth/email/verify")
        .json(json!({ "token": first }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");

    // Move the live one past its lifetime.
    let rows = one_time_secret::Entity::find().all(&t.db).await.unwrap();
    for row in rows {
        let mut row = row.into_active_model();
        row.expires_at = Set(ago(1));
        row.update(&t.db).await.unwrap();
    }
    let resp = post_("/v1/auth/email/verify")
        .json(json!({ "token": second }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(resp.error_code(), "token_expired");
}

impl TestApp {
    async fn email_after_send(&self, grant: &Resp, address: &str, count: usize) -> Email {
        post_("/v1/auth/email/send-verification")
            .bearer(&grant.access_token())
            .json(json!({}))
            .send(&self.app)
            .await;
        self.email(address, count).await
    }
}

#[tokio::test]
async fn a_token_only_works_for_its_own_purpose_and_address() {
    let t = app().await;
    let grant = sign_up(&t.app, "purpose@example.com").await;
    let verify_token = token_in(&t.email_after_send(&grant, "purpose@example.com", 1).await);
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "purpose@example.com" }))
        .send(&t.app)
        .await;
    let reset_token = token_in(&t.email("purpose@example.com", 2).await);

    let resp = post_("/v1/auth/email/verify")
        .json(json!({ "token": reset_token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": verify_token, "password": "a brand new passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
    for garbage in ["", "short", &"A".repeat(43), &format!("{verify_token}x")] {
        let resp = post_("/v1/auth/email/verify")
            .json(json!({ "token": garbage }))
            .send(&t.app)
            .await;
        assert_eq!(resp.error_code(), "token_invalid", "{garbage}");
    }

    // Bound to the exact address: after the address changes, the link is worthless.
    let user = portcullis::entity::user::Entity::find()
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    let mut user = user.into_active_model();
    user.email = Set(Some("changed@example.com".into()));
    user.update(&t.db).await.unwrap();
    let resp = post_("/v1/auth/email/verify")
        .json(json!({ "token": verify_token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
}

#[tokio::test]
async fn forgot_password_answers_the_same_whoever_asks() {
    let t = app().await;
    sign_up(&t.app, "member@example.com").await;
    let known = post_("/v1/auth/password/forgot")
        .json(json!({ "email": "member@example.com" }))
        .send(&t.app)
        .await;
    let unknown = post_("/v1/auth/password/forgot")
        .json(json!({ "email": "stranger@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(known.json, unknown.json);
    assert!(known.json["message"].is_string());
    let names = |r: &Resp| {
        let mut names: Vec<String> = r.headers.keys().map(ToString::to_string).collect();
        names.sort();
        names
    };
    assert_eq!(names(&known), names(&unknown));
    t.email("member@example.com", 1).await;
    t.assert_no_more_email("stranger@example.com", 0).await;
    // Malformed input is the only other answer.
    let bad = post_("/v1/auth/password/forgot")
        .json(json!({ "email": "nope" }))
        .send(&t.app)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_reset_sets_the_password_and_ends_every_session() {
    let t = app().await;
    let laptop = sign_up(&t.app, "reset@example.com").await;
    let phone = sign_in(&t.app, "reset@example.com", PASSWORD).await;
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "reset@example.com" }))
        .send(&t.app)
        .await;
    let email = t.email("reset@example.com", 1).await;
    assert_eq!(email.kind, "password_reset");
    let link = link_in(&email);
    assert!(
        link.starts_with("http://localhost:3000/reset-password?token="),
        "{link}"
    );
    let token = token_in(&email);

    // A refused password does not burn the link.
    let weak = post_("/v1/auth/password/reset")
        .json(json!({ "token": token, "password": "password1" }))
        .send(&t.app)
        .await;
    assert_eq!(weak.error_code(), "weak_password");
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": token, "password": "a brand new passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json, json!({ "ok": true }));
    assert!(
        resp.set_cookie("__session").is_none(),
        "no automatic sign-in by default"
    );

    for grant in [&laptop, &phone] {
        assert_eq!(
            hello(&t.app, &grant.access_token()).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            refresh(&t.app, &grant.refresh_token()).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in(&t.app, "reset@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&t.app, "reset@example.com", "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
    let again = post_("/v1/auth/password/reset")
        .json(json!({ "token": token, "password": "another new passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(again.error_code(), "token_invalid");
    let notice = t.email("reset@example.com", 2).await;
    assert_eq!(notice.kind, "password_changed");
    assert!(t.audit.kinds().contains(&"password_reset".to_owned()));
    // Following the link proved the mailbox.
    let me = get_("/v1/auth/me")
        .bearer(
            &sign_in(&t.app, "reset@example.com", "a brand new passphrase")
                .await
                .access_token(),
        )
        .send(&t.app)
        .await;
    assert_eq!(me.json["user"]["email_verified"], true);
}

#[tokio::test]
async fn reset_can_sign_in_when_the_host_wants() {
    let t = app_with(|b| b.email(|e| e.sign_in_after_reset = true)).await;
    sign_up(&t.app, "auto@example.com").await;
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "auto@example.com" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("auto@example.com", 1).await);
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": token, "password": "a brand new passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    // The fresh session survives the cut-off its own reset set.
    assert_eq!(hello(&t.app, &resp.access_token()).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_redemptions_give_exactly_one_success() {
    let t = app().await;
    sign_up(&t.app, "race@example.com").await;
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "race@example.com" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("race@example.com", 1).await);
    let attempts = (0..50)
        .map(|i| {
            post_("/v1/auth/password/reset").json(
                json!({ "token": token, "password": format!("winner number {i} passphrase") }),
            )
        })
        .collect();
    let results = parallel(&t.app, attempts).await;
    let ok: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == StatusCode::OK)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        ok.len(),
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for resp in results.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(resp.error_code(), "token_invalid");
    }
    let winner = format!("winner number {} passphrase", ok[0]);
    assert_eq!(
        sign_in(&t.app, "race@example.com", &winner).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn per_request_branding_is_validated_and_used() {
    let t =
        app_with(|b| b.requests(|r| r.allowed_origins = vec!["https://shop.example.com".into()]))
            .await;
    sign_up(&t.app, "brand@example.com").await;
    let resp = post_("/v1/auth/password/forgot")
        .json(json!({
            "email": "brand@example.com",
            "base_url": "https://shop.example.com",
                        "platform_name": "Shop Deluxe & Co.",
            "logo_url": "https://shop.example.com/logo.png",
            "client_alias": "shop-ios",
            "redirect_url": "https://shop.example.com/account",
        }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let email = t.email("brand@example.com", 1).await;
    let link = link_in(&email);
    assert!(
        link.starts_with("https://shop.example.com/reset-password?token="),
        "{link}"
    );
    assert!(
        link.contains("redirect_url=https%3A%2F%2Fshop.example.com%2Faccount"),
        "{link}"
    );
    assert!(email.subject.contains("Shop Deluxe & Co."));
    assert!(email.html.contains("Shop Deluxe &amp; Co."));
    assert!(email.html.contains("https://shop.example.com/logo.png"));
    assert!(email.text.contains("shop-ios"));

    for (field, value) in [
        ("base_url", "https://evil.example"),
        ("base_url", "https://shop.example.com.evil.example"),
        ("logo_url", "javascript:alert(1)"),
        // A stranger's image would be a pixel telling them the account exists.
        ("logo_url", "https://tracker.example/pixel.gif?who=brand"),
        ("platform_name", "Shop <b>Deluxe</b>"),
        ("platform_name", "Reset\r\nBcc: evil@example.com"),
        ("platform_name", "Visit https://evil.example/login"),
        ("client_alias", "bad alias!"),
        ("platform_name", ""),
        ("redirect_url", "//evil.example"),
    ] {
        let mut body = json!({ "email": "brand@example.com" });
        body[field] = json!(value);
        let resp = post_("/v1/auth/password/forgot")
            .json(body)
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{field}={value}");
    }
    t.assert_no_more_email("brand@example.com", 1).await;
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let t = app().await;
    let here = sign_up(&t.app, "change@example.com").await;
    let elsewhere = sign_in(&t.app, "change@example.com", PASSWORD).await;
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "change@example.com" }))
        .send(&t.app)
        .await;
    let pending_reset = token_in(&t.email("change@example.com", 1).await);
    let change = |current: &str, new: &str| {
        post_("/v1/auth/me/password")
            .bearer(&here.access_token())
            .json(json!({ "current_password": current, "new_password": new }))
    };
    let wrong = change("not the password", "a brand new passphrase")
        .send(&t.app)
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let weak = change(PASSWORD, "password123").send(&t.app).await;
    assert_eq!(weak.error_code(), "weak_password");
    let resp = change(PASSWORD, "a brand new passphrase")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);

    assert_eq!(hello(&t.app, &here.access_token()).await, StatusCode::OK);
    assert_eq!(
        refresh(&t.app, &here.refresh_token()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        hello(&t.app, &elsewhere.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&t.app, "change@example.com", "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
    // Outstanding reset links die with the old password.
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": pending_reset, "password": "yet another passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
    assert_eq!(
        t.email("change@example.com", 2).await.kind,
        "password_changed"
    );
}

#[tokio::test]
async fn an_account_without_a_password_sets_one_from_a_fresh_session() {
    let t = app().await;
    let user = t
        .auth
        .users()
        .create(NewUser::new("nopass@example.com"))
        .await
        .unwrap();
    // Sign in through a reset (the only way without a password, for now).
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "nopass@example.com" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("nopass@example.com", 1).await);
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": token, "password": "first passphrase ever" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let _ = user;
    let grant = sign_in(&t.app, "nopass@example.com", "first passphrase ever").await;
    let resp = post_("/v1/auth/me/password")
        .bearer(&grant.access_token())
        .json(json!({ "current_password": "first passphrase ever", "new_password": "second passphrase here" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}

#[derive(Debug)]
struct Broken;

#[async_trait::async_trait]
impl Mailer for Broken {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError("connection refused".into()))
    }
}

#[tokio::test]
async fn a_failed_delivery_is_audited_and_never_shown() {
    let t = app_with(|b| b.mailer(Broken)).await;
    sign_up(&t.app, "bounce@example.com").await;
    let resp = post_("/v1/auth/password/forgot")
        .json(json!({ "email": "bounce@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    for _ in 0..100 {
        if t.audit
            .kinds()
            .contains(&"email_delivery_failed".to_owned())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no email_delivery_failed audit event: {:?}",
        t.audit.kinds()
    );
}

#[tokio::test]
async fn sends_are_throttled_the_same_for_known_and_unknown_addresses() {
    let t = app_with(|b| b.requests(|r| r.rate_limit = true)).await;
    sign_up(&t.app, "often@example.com").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4 {
        let ip = format!("192.0.2.{i}");
        known.push(
            post_("/v1/auth/password/forgot")
                .json(json!({ "email": "often@example.com" }))
                .ip(&ip)
                .send(&t.app)
                .await
                .status,
        );
        unknown.push(
            post_("/v1/auth/password/forgot")
                .json(json!({ "email": "never@example.com" }))
                .ip(&ip)
                .send(&t.app)
                .await
                .status,
        );
    }
    assert_eq!(known, unknown);
    assert_eq!(
        known,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn the_smtp_mailer_delivers_over_a_real_socket() {
    let sink = SmtpSink::start().await;
    let db = database().await;
    let mailer = SmtpMailer::from_url(&sink.url()).unwrap();
    let auth = builder(db)
        .app_name("Acme")
        .mailer(mailer)
        .build()
        .await
        .unwrap();
    let app = mount(&auth);
    sign_up(&app, "smtp@example.com").await;
    let resp = post_("/v1/auth/password/forgot")
        .json(json!({ "email": "smtp@example.com" }))
        .send(&app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let message = sink.wait_for(1).await;
    assert_eq!(message.recipients, ["smtp@example.com"]);
    let decoded = message.decoded();
    assert!(
        decoded.contains("Subject: Reset your Acme password"),
        "{decoded}"
    );
    assert!(decoded.contains("multipart/alternative"));
    assert!(decoded.contains("text/html"));
    let token = decoded
        .split("token=")
        .nth(1)
        .unwrap()
        .chars()
        .take(43)
        .collect::<String>();
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": token, "password": "a fresh passphrase via the sink" }))
        .send(&app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    // The "password changed" notice follows through the same server.
    let notice = sink.wait_for(2).await;
    assert!(notice.decoded().contains("password was changed"));
}

#[tokio::test]
async fn the_log_mailer_is_the_default_and_the_flows_still_answer() {
    let db = database().await;
    let auth = builder(db).build().await.unwrap();
    let app = mount(&auth);
    sign_up(&app, "logged@example.com").await;
    let resp = post_("/v1/auth/password/forgot")
        .json(json!({ "email": "logged@example.com" }))
        .send(&app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn production_refuses_to_log_emails_by_default() {
    let db = database().await;
    let err = portcullis::Portcullis::builder(db.clone())
        .public_url("https://app.example.com")
        .secret(secret())
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no mailer configured"), "{err}");
    // An explicit choice is respected.
    portcullis::Portcullis::builder(db)
        .public_url("https://app.example.com")
        .secret(secret())
        .mailer(portcullis::delivery::LogMailer)
        .build()
        .await
        .unwrap();
}
