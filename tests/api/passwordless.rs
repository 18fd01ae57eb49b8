//! Passwordless sign-in: magic links (scanner prefetch, the confirm form and its CSRF
//! binding), email and SMS codes (attempt limits, budgets, formats), sign-up by channel,
//! enumeration-neutral sends, the SMS webhook.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, routing::post};
use http::StatusCode;
use portcullis::{delivery::WebhookSmsSender, entity::one_time_secret, users::NewUser};
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _, IntoActiveModel as _};
use serde_json::{Value, json};

use crate::common::*;

const PHONE: &str = "+15555550123";

async fn magic_link(t: &TestApp, email: &str, count: usize, body: Value) -> String {
    let resp = post_("/v1/auth/sign-in/magic-link")
        .json(body)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    link_in(&t.email(email, count).await)
}

async fn email_code(t: &TestApp, email: &str, count: usize) -> String {
    let resp = post_("/v1/auth/sign-in/email-otp")
        .json(json!({ "email": email }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let message = t.email(email, count).await;
    assert_eq!(message.kind, "email_otp");
    message
        .subject
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

async fn sms_code(t: &TestApp, phone: &str, count: usize) -> String {
    let resp = post_("/v1/auth/sign-in/sms-otp")
        .json(json!({ "phone": phone }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let text = t
        .texts
        .wait_for(phone, count, Duration::from_secs(10))
        .await
        .expect("no text");
    text.body.split_whitespace().next().unwrap().to_owned()
}

fn json_accept(req: Req) -> Req {
    req.header("accept", "application/json")
}

#[tokio::test]
async fn a_magic_link_signs_in_a_json_client_once() {
    let t = app().await;
    sign_up(&t.app, "link@example.com").await;
    let link = magic_link(
        &t,
        "link@example.com",
        1,
        json!({ "email": "link@example.com" }),
    )
    .await;
    assert!(
        link.starts_with("http://localhost:3000/v1/auth/magic-link/verify?token="),
        "{link}"
    );
    let resp = json_accept(get_(&path_of(&link))).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["session"]["auth_method"], "magic_link");
    assert_eq!(claims(&resp.access_token())["amr"], json!(["email"]));
    assert_eq!(resp.json["user"]["email_verified"], true);
    let again = json_accept(get_(&path_of(&link))).send(&t.app).await;
    assert_eq!(again.error_code(), "token_invalid");
}

#[tokio::test]
async fn a_scanner_opening_the_link_burns_nothing_and_the_person_confirms() {
    let t = app().await;
    let link = magic_link(
        &t,
        "browser@example.com",
        1,
        json!({ "email": "browser@example.com", "redirect_url": "/dashboard" }),
    )
    .await;
    // A mail scanner fetches the link (as a browser would): a page, nothing consumed.
    for _ in 0..3 {
        let page = get_(&path_of(&link))
            .header("accept", "text/html")
            .send(&t.app)
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("<form method=\"post\""), "{}", page.text);
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_eq!(page.headers["referrer-policy"], "no-referrer");
        assert_eq!(page.headers["cache-control"], "no-store");
    }
    // The person's browser gets the page, then presses the button.
    let page = get_(&path_of(&link))
        .header("accept", "text/html")
        .send(&t.app)
        .await;
    let cookie = page.cookie("__confirm").unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.text.find(&marker).unwrap() + marker.len();
        page.text[start..].split('"').next().unwrap().to_owned()
    };
    let form = format!(
        "token={}&redirect_url={}&csrf={}",
        field("token"),
        urlencoding(&field("redirect_url")),
        field("csrf")
    );
    let resp = post_("/v1/auth/magic-link/verify")
        .raw("application/x-www-form-urlencoded", form.clone())
        .cookie(&cookie)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text);
    assert_eq!(resp.headers["location"], "/dashboard");
    let session = resp.cookie("__session").unwrap();
    assert_eq!(
        get_("/hello").cookie(&session).send(&t.app).await.status,
        StatusCode::OK
    );
    // The same form again: the link is used up.
    let again = post_("/v1/auth/magic-link/verify")
        .raw("application/x-www-form-urlencoded", form)
        .cookie(&cookie)
        .send(&t.app)
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.headers["location"], "/dashboard?error=token_invalid");
}

fn urlencoding(text: &str) -> String {
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
async fn the_confirm_form_refuses_login_csrf() {
    let t = app().await;
    let link = magic_link(
        &t,
        "victim@example.com",
        1,
        json!({ "email": "victim@example.com" }),
    )
    .await;
    let token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    // The attacker opens the page in their own browser and gets its form field...
    let attacker_page = get_(&path_of(&link))
        .header("accept", "text/html")
        .send(&t.app)
        .await;
    let marker = "name=\"csrf\" value=\"";
    let start = attacker_page.text.find(marker).unwrap() + marker.len();
    let attacker_field = attacker_page.text[start..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // ...but the victim's browser has its own pre-session cookie (or none at all).
    let victim_page = get_(&path_of(&link))
        .header("accept", "text/html")
        .send(&t.app)
        .await;
    let victim_cookie = victim_page.cookie("__confirm").unwrap();
    for (cookie, field) in [
        (None, attacker_field.clone()),
        (Some(victim_cookie.clone()), attacker_field.clone()),
        (Some(victim_cookie.clone()), String::new()),
        (Some(victim_cookie), "forged".to_owned()),
    ] {
        let mut req = post_("/v1/auth/magic-link/verify").raw(
            "application/x-www-form-urlencoded",
            format!("token={token}&csrf={field}"),
        );
        if let Some(cookie) = cookie {
            req = req.cookie(&cookie);
        }
        let resp = req.send(&t.app).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    }
    // The link still works for its owner.
    let resp = json_accept(get_(&path_of(&link))).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_addresses_sign_up_unless_the_host_says_no() {
    let t = app().await;
    let link = magic_link(
        &t,
        "newcomer@example.com",
        1,
        json!({ "email": "newcomer@example.com" }),
    )
    .await;
    let resp = json_accept(get_(&path_of(&link))).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json["user"]["email"], "newcomer@example.com");
    assert_eq!(resp.json["user"]["has_password"], false);

    let closed = app_with(|b| {
        b.passwordless(|p| {
            p.sign_up_by_email = false;
            p.sign_up_by_phone = false;
        })
    })
    .await;
    sign_up(&closed.app, "member@example.com").await;
    let known = post_("/v1/auth/sign-in/magic-link")
        .json(json!({ "email": "member@example.com" }))
        .send(&closed.app)
        .await;
    let unknown = post_("/v1/auth/sign-in/magic-link")
        .json(json!({ "email": "stranger@example.com" }))
        .send(&closed.app)
        .await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.json, unknown.json);
    closed.email("member@example.com", 1).await;
    closed.assert_no_more_email("stranger@example.com", 0).await;
    let phone = post_("/v1/auth/sign-in/sms-otp")
        .json(json!({ "phone": PHONE }))
        .send(&closed.app)
        .await;
    assert_eq!(phone.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(closed.texts.sent().is_empty());
}

#[tokio::test]
async fn an_email_code_signs_in_once() {
    let t = app().await;
    let code = email_code(&t, "code@example.com", 1).await;
    assert_eq!(code.len(), 6);
    let verify = |code: &str| {
        post_("/v1/auth/email-otp/verify")
            .json(json!({ "email": "Code@Example.com", "code": code }))
    };
    let resp = verify(&code).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(claims(&resp.access_token())["amr"], json!(["otp"]));
    assert_eq!(resp.json["session"]["auth_method"], "email_otp");
    assert_eq!(resp.json["user"]["email_verified"], true);
    assert_eq!(
        verify(&code).send(&t.app).await.error_code(),
        "token_invalid"
    );
}

#[tokio::test]
async fn five_wrong_guesses_kill_a_code() {
    let t = app().await;
    let code = email_code(&t, "guess@example.com", 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = |code: &str| {
        post_("/v1/auth/email-otp/verify")
            .json(json!({ "email": "guess@example.com", "code": code }))
    };
    for _ in 0..4 {
        assert_eq!(
            verify(wrong).send(&t.app).await.error_code(),
            "token_invalid"
        );
    }
    let fifth = verify(wrong).send(&t.app).await;
    assert_eq!(fifth.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fifth.error_code(), "too_many_attempts");
    // Dead: even the right code no longer works.
    assert_eq!(
        verify(&code).send(&t.app).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_cannot_exceed_the_limit() {
    let t = app().await;
    let code = email_code(&t, "burst@example.com", 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let guesses = (0..30)
        .map(|_| {
            post_("/v1/auth/email-otp/verify")
                .json(json!({ "email": "burst@example.com", "code": wrong }))
        })
        .collect();
    let results = parallel(&t.app, guesses).await;
    assert!(
        results
            .iter()
            .any(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
    );
    // However many arrived at once, no more than five were ever compared.
    let rows = one_time_secret::Entity::find().all(&t.db).await.unwrap();
    let counted: i32 = rows.iter().map(|row| row.attempts).sum();
    assert!(counted <= 5, "{counted} guesses were compared");
    let resp = post_("/v1/auth/email-otp/verify")
        .json(json!({ "email": "burst@example.com", "code": code }))
        .send(&t.app)
        .await;
    assert_ne!(
        resp.status,
        StatusCode::OK,
        "the right code worked after 30 guesses"
    );
}

#[tokio::test]
async fn guessing_spread_over_fresh_codes_hits_the_budget() {
    let t = app().await;
    let verify = |code: &str| {
        post_("/v1/auth/email-otp/verify")
            .json(json!({ "email": "spread@example.com", "code": code }))
    };
    let mut refused = false;
    for round in 1..=5 {
        let code = email_code(&t, "spread@example.com", round).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..4 {
            if verify(wrong).send(&t.app).await.status == StatusCode::TOO_MANY_REQUESTS {
                refused = true;
            }
        }
        if refused {
            // The budget is spent: even this round's right code is refused.
            assert_eq!(
                verify(&code).send(&t.app).await.status,
                StatusCode::TOO_MANY_REQUESTS
            );
            assert!(round <= 4, "the budget let {} guesses through", round * 4);
            return;
        }
    }
    panic!("twenty wrong guesses over five codes were never refused");
}

#[tokio::test]
async fn codes_are_exactly_six_ascii_digits() {
    let t = app().await;
    for code in [
        "",
        "12345",
        "1234567",
        "12345a",
        "１２３４５６",
        " 123456",
        "123 456",
        "12345\u{0}",
        "-12345",
        "+12345",
        "٠١٢٣٤٥",
    ] {
        let resp = post_("/v1/auth/email-otp/verify")
            .json(json!({ "email": "shape@example.com", "code": code }))
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{code:?}");
        assert_eq!(resp.error_code(), "invalid_request", "{code:?}");
    }
}

#[tokio::test]
async fn secrets_only_work_for_their_own_purpose() {
    let t = app().await;
    sign_up(&t.app, "purpose@example.com").await;
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "purpose@example.com" }))
        .send(&t.app)
        .await;
    let reset_token = token_in(&t.email("purpose@example.com", 1).await);
    let magic = magic_link(
        &t,
        "purpose@example.com",
        2,
        json!({ "email": "purpose@example.com" }),
    )
    .await;
    let magic_token = magic.split("token=").nth(1).unwrap().to_owned();

    let resp = post_("/v1/auth/magic-link/verify")
        .json(json!({ "token": reset_token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
    let resp = post_("/v1/auth/email/verify")
        .json(json!({ "token": magic_token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": magic_token, "password": "a brand new passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
    // An email code is not an SMS code.
    let code = email_code(&t, "purpose@example.com", 3).await;
    let resp = post_("/v1/auth/sms/verify")
        .json(json!({ "phone": PHONE, "code": code }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
    // And the magic link itself still works.
    let resp = post_("/v1/auth/magic-link/verify")
        .json(json!({ "token": magic_token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn expired_links_and_codes_say_so() {
    let t = app().await;
    let link = magic_link(
        &t,
        "late@example.com",
        1,
        json!({ "email": "late@example.com" }),
    )
    .await;
    for row in one_time_secret::Entity::find().all(&t.db).await.unwrap() {
        let mut row = row.into_active_model();
        row.expires_at = Set(ago(1));
        row.update(&t.db).await.unwrap();
    }
    let resp = json_accept(get_(&path_of(&link))).send(&t.app).await;
    assert_eq!(resp.error_code(), "token_expired");
}

#[tokio::test]
async fn an_sms_code_signs_in_and_verifies_the_phone() {
    let t = app().await;
    let code = sms_code(&t, PHONE, 1).await;
    let text = t.texts.sent().pop().unwrap();
    assert!(text.body.contains(&code));
    let resp = post_("/v1/auth/sms/verify")
        .json(json!({ "phone": "+1 (555) 555-0123", "code": code }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(claims(&resp.access_token())["amr"], json!(["sms"]));
    assert_eq!(resp.json["user"]["phone"], PHONE);
    assert_eq!(resp.json["user"]["phone_verified"], true);
    assert_eq!(resp.json["user"]["email"], json!(null));
    // The next time, the same account.
    let again = sms_code(&t, PHONE, 2).await;
    let second = post_("/v1/auth/sms/verify")
        .json(json!({ "phone": PHONE, "code": again }))
        .send(&t.app)
        .await;
    assert_eq!(second.json["user"]["id"], resp.json["user"]["id"]);
}

#[tokio::test]
async fn phone_numbers_must_be_e164_and_from_allowed_countries() {
    let t = app_with(|b| b.passwordless(|p| p.sms_allowed_prefixes = vec!["+1".into()])).await;
    for phone in [
        "5555550123",
        "+1555",
        "+0155555501234",
        "+1 555 555 0123 ext 9",
        "+445555550123",
    ] {
        let resp = post_("/v1/auth/sign-in/sms-otp")
            .json(json!({ "phone": phone }))
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{phone}");
        assert_eq!(resp.error_code(), "invalid_request");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(t.texts.sent().is_empty());
}

#[tokio::test]
async fn a_disabled_account_is_told_only_after_the_right_code() {
    let t = app().await;
    let user = t
        .auth
        .users()
        .create(NewUser::new("off@example.com"))
        .await
        .unwrap();
    let code = email_code(&t, "off@example.com", 1).await;
    t.auth.users().disable(user.id).await.unwrap();
    let resp = post_("/v1/auth/email-otp/verify")
        .json(json!({ "email": "off@example.com", "code": code }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "user_disabled");
    // And a disabled account gets nothing new.
    post_("/v1/auth/sign-in/email-otp")
        .json(json!({ "email": "off@example.com" }))
        .send(&t.app)
        .await;
    t.assert_no_more_email("off@example.com", 1).await;
}

#[tokio::test]
async fn sends_and_their_throttling_look_the_same_for_everyone() {
    let t = app_with(|b| b.requests(|r| r.rate_limit = true)).await;
    sign_up(&t.app, "known@example.com").await;
    let send = |path: &str, body: Value| post_(path).json(body).ip("198.51.100.9");
    for (path, known, unknown) in [
        (
            "/v1/auth/sign-in/magic-link",
            json!({ "email": "known@example.com" }),
            json!({ "email": "unknown@example.com" }),
        ),
        (
            "/v1/auth/sign-in/email-otp",
            json!({ "email": "known@example.com" }),
            json!({ "email": "unknown@example.com" }),
        ),
    ] {
        let mut statuses = Vec::new();
        for body in [known.clone(), unknown.clone(), known, unknown] {
            let resp = send(path, body).send(&t.app).await;
            statuses.push((
                resp.status.as_u16(),
                resp.json.clone(),
                resp.headers.contains_key("retry-after"),
            ));
        }
        // First sends pass, second sends hit the per-recipient cooldown: the same for both.
        assert_eq!(statuses[0], statuses[1], "{path}");
        assert_eq!(statuses[2], statuses[3], "{path}");
        assert_eq!(statuses[2].0, 429, "{path}");
    }
}

#[tokio::test]
async fn the_webhook_sender_posts_to_the_hosts_url() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let receiver = Router::new().route(
        "/sms",
        post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let db = database().await;
    let sender = WebhookSmsSender::new(&format!("http://127.0.0.1:{port}/sms")).unwrap();
    let auth = builder(db)
        .mailer(portcullis::delivery::MemoryMailer::new())
        .sms_sender(sender)
        .build()
        .await
        .unwrap();
    let app = mount(&auth);
    let resp = post_("/v1/auth/sign-in/sms-otp")
        .json(json!({ "phone": PHONE }))
        .send(&app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let mut body = None;
    for _ in 0..100 {
        if let Some(first) = received.lock().unwrap().first().cloned() {
            body = Some(first);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = body.expect("the webhook received nothing");
    assert_eq!(body["to"], PHONE);
    let code = body["body"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let resp = post_("/v1/auth/sms/verify")
        .json(json!({ "phone": PHONE, "code": code }))
        .send(&app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}

#[tokio::test]
async fn production_without_an_sms_sender_has_no_sms_sign_in() {
    let db = database().await;
    let auth = portcullis::Portcullis::builder(db)
        .public_url("https://app.example.com")
        .secret(secret())
        .mailer(portcullis::delivery::MemoryMailer::new())
        .requests(|r| r.rate_limit = false)
        .build()
        .await
        .unwrap();
    let app = mount(&auth);
    let methods = get_("/v1/auth/methods").send(&app).await;
    assert_eq!(methods.json["sms_otp"], false);
    let resp = post_("/v1/auth/sign-in/sms-otp")
        .json(json!({ "phone": PHONE }))
        .send(&app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn proving_an_address_takes_it_back_from_whoever_registered_it_unverified() {
    let t = app().await;
    // An attacker registers the victim's address with a password of their own.
    let attacker = sign_up(&t.app, "victim@example.com").await;
    // Later the victim signs in by magic link.
    let link = magic_link(
        &t,
        "victim@example.com",
        1,
        json!({ "email": "victim@example.com" }),
    )
    .await;
    let victim = json_accept(get_(&path_of(&link))).send(&t.app).await;
    assert_eq!(victim.status, StatusCode::OK, "{}", victim.text);
    assert_eq!(victim.json["user"]["has_password"], false);
    // The attacker's password and session are gone.
    assert_eq!(
        sign_in(&t.app, "victim@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hello(&t.app, &attacker.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&t.app, &attacker.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(hello(&t.app, &victim.access_token()).await, StatusCode::OK);
}

#[tokio::test]
async fn a_link_sent_to_nobody_cannot_open_an_account_created_since() {
    let t = app().await;
    let link = magic_link(
        &t,
        "later@example.com",
        1,
        json!({ "email": "later@example.com" }),
    )
    .await;
    sign_up(&t.app, "later@example.com").await;
    let resp = json_accept(get_(&path_of(&link))).send(&t.app).await;
    assert_eq!(resp.error_code(), "token_invalid");
}

#[tokio::test]
async fn guessing_at_an_address_we_send_nothing_to_looks_the_same() {
    let t = app_with(|b| {
        b.passwordless(|p| {
            p.sign_up_by_email = false;
            p.sign_up_by_phone = false;
        })
    })
    .await;
    sign_up(&t.app, "known@example.com").await;
    let mut outcomes = Vec::new();
    for email in ["known@example.com", "unknown@example.com"] {
        post_("/v1/auth/sign-in/email-otp")
            .json(json!({ "email": email }))
            .send(&t.app)
            .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let resp = post_("/v1/auth/email-otp/verify")
                .json(json!({ "email": email, "code": "000000" }))
                .send(&t.app)
                .await;
            statuses.push(resp.status.as_u16());
        }
        outcomes.push(statuses);
    }
    // (A real code could be 000000 one time in a million; then the first list differs.)
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0][4], 429);
}

#[tokio::test]
async fn a_json_get_of_the_link_never_sets_cookies() {
    let t = app().await;
    let link = magic_link(
        &t,
        "nocookie@example.com",
        1,
        json!({ "email": "nocookie@example.com" }),
    )
    .await;
    let resp = json_accept(get_(&path_of(&link))).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.headers.get("set-cookie").is_none());
    assert!(resp.json["access_token"].is_string());
}

#[tokio::test]
async fn the_confirm_form_refuses_foreign_origins_and_names_the_account() {
    let t = app().await;
    let link = magic_link(
        &t,
        "shown@example.com",
        1,
        json!({ "email": "shown@example.com" }),
    )
    .await;
    let page = get_(&path_of(&link))
        .header("accept", "text/html")
        .send(&t.app)
        .await;
    assert!(page.text.contains("s***@example.com"), "{}", page.text);
    let cookie = page.cookie("__confirm").unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.text.find(marker).unwrap() + marker.len();
    let csrf = page.text[start..].split('"').next().unwrap().to_owned();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let resp = post_("/v1/auth/magic-link/verify")
        .raw(
            "application/x-www-form-urlencoded",
            format!("token={token}&csrf={csrf}"),
        )
        .cookie(&cookie)
        .origin("https://evil.example")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let resp = post_("/v1/auth/magic-link/verify")
        .raw(
            "application/x-www-form-urlencoded",
            format!("token={token}&csrf={csrf}"),
        )
        .cookie(&cookie)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text);
}

/// Browsers post a `no-referrer` page's form with `Origin: null`; the form's field, bound
/// to this browser's cookie, is what decides (a foreign origin is still refused).
#[tokio::test]
async fn a_browser_posting_the_confirm_form_with_a_null_origin_signs_in() {
    let t = app().await;
    let link = magic_link(
        &t,
        "nullorigin@example.com",
        1,
        json!({ "email": "nullorigin@example.com" }),
    )
    .await;
    let page = get_(&path_of(&link))
        .header("accept", "text/html")
        .send(&t.app)
        .await;
    let cookie = page.cookie("__confirm").unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.text.find(&marker).unwrap() + marker.len();
        page.text[start..].split('"').next().unwrap().to_owned()
    };
    let form = format!("token={}&csrf={}", field("token"), field("csrf"));
    let foreign = post_("/v1/auth/magic-link/verify")
        .raw("application/x-www-form-urlencoded", form.clone())
        .cookie(&cookie)
        .origin("https://evil.example")
        .send(&t.app)
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.text);
    let resp = post_("/v1/auth/magic-link/verify")
        .raw("application/x-www-form-urlencoded", form)
        .cookie(&cookie)
        .origin("null")
        .header("sec-fetch-site", "same-origin")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text);
    assert!(resp.cookie("__session").is_some());
}
