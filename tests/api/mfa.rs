//! Second factors and step-up: TOTP enrolment and codes, recovery codes, the sign-in
//! challenge (`mfa_token`), a passkey as the second factor, re-authentication,
//! organizations that require a second factor, and the host's side (`RequireAal2`,
//! `Users::mfa`).
//!
//! TOTP codes are computed here by an independent implementation (RFC 4226/6238 over
//! ring's HMAC-SHA-1, checked against the RFC's own test vectors below), never by the
//! crate the server uses.

use http::{Method, StatusCode};
use ring::hmac;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ConnectionTrait as _, EntityTrait as _,
    IntoActiveModel as _,
};
use serde_json::{Value, json};

use crate::common::*;
use crate::passkeys::{Device, register};

// ---------------------------------------------------------------------------------------
// An independent TOTP (RFC 6238 over RFC 4226).

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("base32") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key),
        &counter.to_be_bytes(),
    );
    let mac = tag.as_ref();
    let offset = usize::from(mac[19] & 0x0f);
    let binary = (u32::from(mac[offset]) & 0x7f) << 24
        | u32::from(mac[offset + 1]) << 16
        | u32::from(mac[offset + 2]) << 8
        | u32::from(mac[offset + 3]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The six-digit code of the time step `steps` away from now.
pub(crate) fn code(secret_b32: &str, steps: i64) -> String {
    let step = (now_unix() / 30) as i64 + steps;
    hotp(&base32_decode(secret_b32), step as u64, 6)
}

#[test]
fn the_independent_totp_matches_rfc_6238() {
    // RFC 6238 appendix B, SHA-1, the 20-byte ASCII key "12345678901234567890".
    let key = b"12345678901234567890";
    for (time, expected) in [
        (59u64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_234_567_890, "89005924"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(hotp(key, time / 30, 8), expected);
    }
    // RFC 4226 appendix D.
    assert_eq!(hotp(key, 0, 6), "755224");
    assert_eq!(hotp(key, 9, 6), "520489");
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQ"), b"1234567890");
}

// ---------------------------------------------------------------------------------------
// Helpers.

async fn me_mfa(app: &axum::Router, token: &str) -> Value {
    let resp = get_("/v1/auth/me/mfa").bearer(token).send(app).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    resp.json
}

/// Enrols TOTP for the signed-in session and confirms it with the code of the previous
/// step (leaving this step and the next for the test). Returns (secret, recovery codes).
pub(crate) async fn enrol(app: &axum::Router, token: &str) -> (String, Vec<String>) {
    let begun = post_("/v1/auth/me/mfa/totp").bearer(token).send(app).await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.text);
    let secret = begun.json["secret"].as_str().unwrap().to_owned();
    let confirmed = post_("/v1/auth/me/mfa/totp/confirm")
        .bearer(token)
        .json(json!({ "code": code(&secret, -1) }))
        .send(app)
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    let codes = confirmed.json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// A user with TOTP on: (secret, recovery codes).
async fn user_with_totp(t: &TestApp, email: &str) -> (String, Vec<String>) {
    let grant = sign_up(&t.app, email).await;
    enrol(&t.app, &grant.access_token()).await
}

/// A password sign-in that must be challenged; returns the `mfa_token`.
async fn challenged(app: &axum::Router, email: &str) -> String {
    let resp = sign_in(app, email, PASSWORD).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["mfa_required"], true, "{}", resp.text);
    resp.json["mfa_token"].as_str().unwrap().to_owned()
}

async fn verify(app: &axum::Router, token: &str, method: &str, code: &str) -> Resp {
    post_("/v1/auth/mfa/verify")
        .json(json!({ "mfa_token": token, "method": method, "code": code }))
        .send(app)
        .await
}

async fn session_count(t: &TestApp) -> usize {
    use sea_orm::{EntityTrait as _, PaginatorTrait as _};
    portcullis::entity::session::Entity::find()
        .count(&t.db)
        .await
        .unwrap() as usize
}

// ---------------------------------------------------------------------------------------
// Enrolment.

#[tokio::test]
async fn totp_turns_on_once_a_code_confirms_it() {
    let t = app().await;
    let grant = sign_up(&t.app, "ada@example.com").await;
    let token = grant.access_token();
    // A second device signed in before: confirming revokes it.
    let other = sign_in(&t.app, "ada@example.com", PASSWORD).await;
    assert_eq!(
        me_mfa(&t.app, &token).await,
        json!({ "ok": true, "totp": false, "recovery_codes_left": 0, "passkey_as_second_factor": false })
    );

    let begun = post_("/v1/auth/me/mfa/totp")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.text);
    let secret = begun.json["secret"].as_str().unwrap();
    assert_eq!(base32_decode(secret).len(), 20, "160 bits");
    let url = begun.json["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    assert!(url.contains("issuer=portcullis"), "{url}");
    assert!(url.contains("ada%40example.com"), "{url}");
    let svg = begun.json["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    // Not a factor until confirmed.
    assert_eq!(me_mfa(&t.app, &token).await["totp"], false);
    let plain = sign_in(&t.app, "ada@example.com", PASSWORD).await;
    assert!(plain.json["access_token"].is_string(), "{}", plain.text);

    // A wrong code confirms nothing.
    let wrong = post_("/v1/auth/me/mfa/totp/confirm")
        .bearer(&token)
        .json(json!({ "code": code(secret, 5) }))
        .send(&t.app)
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.error_code(), "token_invalid");

    let confirmed = post_("/v1/auth/me/mfa/totp/confirm")
        .bearer(&token)
        .json(json!({ "code": code(secret, 0) }))
        .send(&t.app)
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    let codes = confirmed.json["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let mut distinct: Vec<&str> = codes.iter().map(|c| c.as_str().unwrap()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    for code in &distinct {
        // xxxx-xxxx-xxxx of base32: 60 bits.
        assert_eq!(code.len(), 14, "{code}");
        assert!(
            code.chars()
                .all(|c| c == '-' || c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
    }
    assert_eq!(
        me_mfa(&t.app, &token).await,
        json!({ "ok": true, "totp": true, "recovery_codes_left": 10, "passkey_as_second_factor": false })
    );

    // Other sessions are revoked; the enrolling one stays, still aal1.
    assert_eq!(
        refresh(&t.app, &other.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&t.app, &plain.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let kept = refresh(&t.app, &grant.refresh_token()).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.text);
    assert_eq!(claims(&kept.access_token())["acr"], "aal1");

    // Enrolling again while on is a conflict.
    let again = post_("/v1/auth/me/mfa/totp")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // The secret is sealed at rest: neither its bytes nor its base32 are in the row.
    let rows =
        t.db.query_all_raw(sea_orm::Statement::from_string(
            t.db.get_database_backend(),
            "SELECT secret_sealed FROM portcullis_totp",
        ))
        .await
        .unwrap();
    let stored: String = rows[0].try_get("", "secret_sealed").unwrap();
    assert!(!stored.contains(secret));
    let raw = base32_decode(secret);
    let sealed = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        stored.as_bytes(),
    )
    .unwrap();
    assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));
    // Recovery codes are stored hashed.
    let codes_rows =
        t.db.query_all_raw(sea_orm::Statement::from_string(
            t.db.get_database_backend(),
            "SELECT code_hash FROM portcullis_recovery_codes",
        ))
        .await
        .unwrap();
    assert_eq!(codes_rows.len(), 10);
    for row in codes_rows {
        let hash: String = row.try_get("", "code_hash").unwrap();
        assert!(distinct.iter().all(|c| !hash.contains(&c.replace('-', ""))));
    }
    let kinds = t.audit.kinds();
    assert!(kinds.contains(&"mfa_enrolment_started".to_owned()));
    assert!(kinds.contains(&"mfa_enabled".to_owned()));
    let mail = t.email("ada@example.com", 1).await;
    assert!(
        mail.subject.contains("Two-step verification is on"),
        "{}",
        mail.subject
    );
}

#[tokio::test]
async fn enrolment_needs_a_fresh_session_and_lives_ten_minutes() {
    let t = app().await;
    let grant = sign_up(&t.app, "bo@example.com").await;
    let old = stale(&t, &grant).await;
    let resp = post_("/v1/auth/me/mfa/totp")
        .bearer(&old.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(resp.error_code(), "reauthentication_required");

    // No enrolment: nothing to confirm.
    let fresh = sign_in(&t.app, "bo@example.com", PASSWORD)
        .await
        .access_token();
    let none = post_("/v1/auth/me/mfa/totp/confirm")
        .bearer(&fresh)
        .json(json!({ "code": "123456" }))
        .send(&t.app)
        .await;
    assert_eq!(none.error_code(), "token_invalid");

    let begun = post_("/v1/auth/me/mfa/totp")
        .bearer(&fresh)
        .send(&t.app)
        .await;
    let secret = begun.json["secret"].as_str().unwrap().to_owned();
    for row in portcullis::entity::totp::Entity::find()
        .all(&t.db)
        .await
        .unwrap()
    {
        let mut row = row.into_active_model();
        row.created_at = Set(ago(601));
        row.update(&t.db).await.unwrap();
    }
    let late = post_("/v1/auth/me/mfa/totp/confirm")
        .bearer(&fresh)
        .json(json!({ "code": code(&secret, 0) }))
        .send(&t.app)
        .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert_eq!(late.error_code(), "token_expired");
    assert_eq!(me_mfa(&t.app, &fresh).await["totp"], false);
    // A new enrolment replaces the stale one.
    let (_, codes) = enrol(&t.app, &fresh).await;
    assert_eq!(codes.len(), 10);
}

// ---------------------------------------------------------------------------------------
// The sign-in challenge.

#[tokio::test]
async fn a_first_factor_answers_a_challenge_and_the_second_a_grant() {
    let t = app().await;
    let (secret, _) = user_with_totp(&t, "cy@example.com").await;
    let sessions_before = session_count(&t).await;

    let resp = sign_in(&t.app, "cy@example.com", PASSWORD).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["ok"], true);
    assert_eq!(resp.json["mfa_required"], true);
    assert_eq!(resp.json["factors"], json!(["totp", "recovery_code"]));
    assert!(resp.json.get("access_token").is_none(), "{}", resp.text);
    assert!(resp.json.get("refresh_token").is_none(), "{}", resp.text);
    assert!(resp.set_cookie("__session").is_none());
    assert!(resp.set_cookie("__client").is_none());
    assert_eq!(
        session_count(&t).await,
        sessions_before,
        "no session row yet"
    );
    let token = resp.json["mfa_token"].as_str().unwrap().to_owned();
    // The mfa_token is not an access token.
    assert_eq!(hello(&t.app, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_("/v1/auth/me").bearer(&token).send(&t.app).await.status,
        StatusCode::UNAUTHORIZED
    );

    let granted = verify(&t.app, &token, "totp", &code(&secret, 0)).await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.text);
    assert!(granted.set_cookie("__session").is_some());
    let access = claims(&granted.access_token());
    assert_eq!(access["amr"], json!(["pwd", "otp"]));
    assert_eq!(access["acr"], "aal2");
    assert_eq!(granted.json["session"]["auth_method"], "password");
    assert_eq!(session_count(&t).await, sessions_before + 1);
    // The host sees it.
    let host = get_("/aal2")
        .bearer(&granted.access_token())
        .send(&t.app)
        .await;
    assert_eq!(host.status, StatusCode::OK, "{}", host.text);
    assert_eq!(host.json["amr"], json!(["pwd", "otp"]));
    // A refresh keeps the level.
    let refreshed = refresh(&t.app, &granted.refresh_token()).await;
    assert_eq!(claims(&refreshed.access_token())["acr"], "aal2");
    assert_eq!(
        claims(&refreshed.access_token())["amr"],
        json!(["pwd", "otp"])
    );

    // The token is single-use.
    let again = verify(&t.app, &token, "totp", &code(&secret, 1)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.error_code(), "token_invalid");
    let kinds = t.audit.kinds();
    assert!(kinds.contains(&"mfa_challenged".to_owned()));
}

#[tokio::test]
async fn a_totp_code_works_once_within_one_step_either_side() {
    let t = app().await;
    let (secret, _) = user_with_totp(&t, "di@example.com").await;

    let first = challenged(&t.app, "di@example.com").await;
    let now = code(&secret, 0);
    assert_eq!(
        verify(&t.app, &first, "totp", &now).await.status,
        StatusCode::OK
    );

    // The same code again, on a new sign-in: a replay.
    let second = challenged(&t.app, "di@example.com").await;
    let replay = verify(&t.app, &second, "totp", &now).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.error_code(), "token_invalid");
    // A code of an earlier step, still inside the window, is refused too.
    assert_eq!(
        verify(&t.app, &second, "totp", &code(&secret, -1))
            .await
            .error_code(),
        "token_invalid"
    );
    // Two steps away is outside the window.
    assert_eq!(
        verify(&t.app, &second, "totp", &code(&secret, 2))
            .await
            .error_code(),
        "token_invalid"
    );
    // Not six digits: just wrong.
    assert_eq!(
        verify(&t.app, &second, "totp", "12345a").await.error_code(),
        "token_invalid"
    );
    // The next step is inside the window.
    let next = verify(&t.app, &second, "totp", &code(&secret, 1)).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
}

#[tokio::test]
async fn an_mfa_token_expires_and_dies_after_five_wrong_codes() {
    let t = app().await;
    let (secret, _) = user_with_totp(&t, "ed@example.com").await;

    let token = challenged(&t.app, "ed@example.com").await;
    for _ in 0..5 {
        let wrong = verify(&t.app, &token, "totp", "000000").await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text);
    }
    let dead = verify(&t.app, &token, "totp", &code(&secret, 0)).await;
    assert_eq!(dead.status, StatusCode::TOO_MANY_REQUESTS, "{}", dead.text);
    assert_eq!(dead.error_code(), "too_many_attempts");
    // Five wrong codes in a row: the owner is told someone may know the password.
    let notice = t.email("ed@example.com", 2).await;
    assert!(
        notice.subject.contains("Wrong two-step codes"),
        "{}",
        notice.subject
    );
    assert!(t.audit.kinds().contains(&"mfa_failed".to_owned()));

    let token = challenged(&t.app, "ed@example.com").await;
    for row in portcullis::entity::one_time_secret::Entity::find()
        .all(&t.db)
        .await
        .unwrap()
    {
        if row.purpose == "mfa_challenge" {
            let mut row = row.into_active_model();
            row.expires_at = Set(ago(1));
            row.update(&t.db).await.unwrap();
        }
    }
    let expired = verify(&t.app, &token, "totp", &code(&secret, 0)).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    assert_eq!(expired.error_code(), "token_expired");

    // Garbage tokens and methods are 400s, never 500s.
    for body in [
        json!({ "mfa_token": "x", "method": "totp", "code": "123456" }),
        json!({ "mfa_token": token, "method": "sms", "code": "123456" }),
        json!({ "method": "totp", "code": "123456" }),
        json!({ "mfa_token": token, "method": "totp" }),
    ] {
        let resp = post_("/v1/auth/mfa/verify").json(body).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    }
}

#[tokio::test]
async fn a_recovery_code_works_once_even_under_ten_concurrent_uses() {
    let t = app().await;
    let (_, codes) = user_with_totp(&t, "fa@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(challenged(&t.app, "fa@example.com").await);
    }
    let requests = tokens
        .iter()
        .map(|token| {
            post_("/v1/auth/mfa/verify").json(json!({
                "mfa_token": token, "method": "recovery_code", "code": codes[0]
            }))
        })
        .collect();
    let answers = parallel(&t.app, requests).await;
    let won: Vec<&Resp> = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for lost in answers.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(lost.status, StatusCode::BAD_REQUEST, "{}", lost.text);
        assert_eq!(lost.error_code(), "token_invalid");
    }
    let access = claims(&won[0].access_token());
    assert_eq!(access["acr"], "aal2");
    assert_eq!(access["amr"], json!(["pwd", "otp"]));
    assert_eq!(
        me_mfa(&t.app, &won[0].access_token()).await["recovery_codes_left"],
        9
    );
    // The owner hears of it; the nine losers of the race count as wrong codes, a run the
    // owner is told of too.
    t.email("fa@example.com", 3).await;
    assert!(
        t.mail
            .sent_to("fa@example.com")
            .iter()
            .any(|mail| mail.subject.contains("recovery code was used"))
    );
    assert!(t.audit.kinds().contains(&"recovery_code_used".to_owned()));

    // Read forgivingly: upper case, no dashes.
    let token = challenged(&t.app, "fa@example.com").await;
    let typed = codes[1].replace('-', "").to_uppercase();
    assert_eq!(
        verify(&t.app, &token, "recovery_code", &typed).await.status,
        StatusCode::OK
    );

    // A new set kills the old one (fresh session).
    let token = challenged(&t.app, "fa@example.com").await;
    let session = verify(&t.app, &token, "recovery_code", &codes[2]).await;
    let fresh = session.access_token();
    let renewed = post_("/v1/auth/me/mfa/recovery-codes")
        .bearer(&fresh)
        .send(&t.app)
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    let new_codes = renewed.json["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(new_codes.len(), 10);
    assert_eq!(me_mfa(&t.app, &fresh).await["recovery_codes_left"], 10);
    let token = challenged(&t.app, "fa@example.com").await;
    assert_eq!(
        verify(&t.app, &token, "recovery_code", &codes[3])
            .await
            .error_code(),
        "token_invalid"
    );
    assert_eq!(
        verify(
            &t.app,
            &token,
            "recovery_code",
            new_codes[0].as_str().unwrap()
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_first_factor_is_challenged_and_browsers_carry_the_token_in_a_cookie() {
    let t = app().await;
    let (secret, _) = user_with_totp(&t, "gil@example.com").await;
    // A verified address (an unverified one would be taken back by the code, factors and
    // all: see the next test).
    sql(
        &t.db,
        "UPDATE portcullis_users SET email_verified_at = created_at",
    )
    .await;
    let mut mails = 1;

    // An email code.
    post_("/v1/auth/sign-in/email-otp")
        .json(json!({ "email": "gil@example.com" }))
        .send(&t.app)
        .await;
    mails += 1;
    let email = t.email("gil@example.com", mails).await;
    let otp = email
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let resp = post_("/v1/auth/email-otp/verify")
        .json(json!({ "email": "gil@example.com", "code": otp }))
        .send(&t.app)
        .await;
    assert_eq!(resp.json["mfa_required"], true, "{}", resp.text);
    let granted = verify(
        &t.app,
        resp.json["mfa_token"].as_str().unwrap(),
        "totp",
        &code(&secret, 0),
    )
    .await;
    assert_eq!(
        claims(&granted.access_token())["amr"],
        json!(["otp", "otp"])
    );

    // A magic link through its confirm page: a redirect with the __mfa cookie.
    post_("/v1/auth/sign-in/magic-link")
        .json(json!({ "email": "gil@example.com", "redirect_url": "http://localhost:3000/app" }))
        .send(&t.app)
        .await;
    mails += 1;
    let link = link_in(&t.email("gil@example.com", mails).await);
    let page = get_(&path_of(&link))
        .header("accept", "text/html")
        .send(&t.app)
        .await;
    let confirm_cookie = page.cookie("__confirm").unwrap();
    let csrf = page
        .text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let form = format!(
        "token={}&redirect_url={}&csrf={}",
        token_in(&t.email("gil@example.com", mails).await),
        "http%3A%2F%2Flocalhost%3A3000%2Fapp",
        csrf
    );
    let posted = post_("/v1/auth/magic-link/verify")
        .raw("application/x-www-form-urlencoded", form)
        .cookie(&confirm_cookie)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.text);
    let location = posted.headers["location"].to_str().unwrap();
    assert_eq!(location, "http://localhost:3000/app?mfa_required=1");
    assert!(posted.set_cookie("__session").is_none());
    let mfa_cookie = posted.cookie("__mfa").expect("the __mfa cookie");
    assert!(posted.set_cookie("__mfa").unwrap().contains("HttpOnly"));

    // The page posts the code; the token comes from the cookie. Without a same-origin
    // proof the cookie is not enough.
    let body = json!({ "method": "totp", "code": code(&secret, 1) });
    let forged = post_("/v1/auth/mfa/verify")
        .json(body.clone())
        .cookie(&mfa_cookie)
        .send(&t.app)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    let done = post_("/v1/auth/mfa/verify")
        .json(body)
        .cookie(&mfa_cookie)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(claims(&done.access_token())["amr"], json!(["email", "otp"]));
    assert!(done.set_cookie("__mfa").unwrap().contains("Max-Age=0"));
}

// ---------------------------------------------------------------------------------------
// Passkeys.

#[tokio::test]
async fn a_passkey_is_a_second_factor_and_a_passkey_sign_in_is_never_challenged() {
    let t = app().await;
    let grant = sign_up(&t.app, "hu@example.com").await;
    let token = grant.access_token();
    let mut device = Device::new();
    register(&t.app, &token, &mut device).await;
    // A passkey alone does not make password sign-in ask for more.
    let plain = sign_in(&t.app, "hu@example.com", PASSWORD).await;
    assert!(plain.json["access_token"].is_string(), "{}", plain.text);
    assert_eq!(
        me_mfa(&t.app, &token).await["passkey_as_second_factor"],
        false
    );

    let (_, _) = enrol(&t.app, &token).await;
    assert_eq!(
        me_mfa(&t.app, &token).await["passkey_as_second_factor"],
        true
    );

    let resp = sign_in(&t.app, "hu@example.com", PASSWORD).await;
    assert_eq!(
        resp.json["factors"],
        json!(["totp", "recovery_code", "passkey"])
    );
    let mfa_token = resp.json["mfa_token"].as_str().unwrap();
    let begun = post_("/v1/auth/mfa/passkey/begin")
        .json(json!({ "mfa_token": mfa_token }))
        .send(&t.app)
        .await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.text);
    assert_eq!(
        begun.json["options"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let credential = device.get(&begun.json["options"]);
    let done = post_("/v1/auth/mfa/passkey/complete")
        .json(json!({
            "mfa_token": mfa_token,
            "challenge_id": begun.json["challenge_id"],
            "credential": credential,
        }))
        .send(&t.app)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let access = claims(&done.access_token());
    assert_eq!(access["amr"], json!(["pwd", "hwk"]));
    assert_eq!(access["acr"], "aal2");

    // Someone else's passkey cannot answer this user's challenge.
    let other = sign_up(&t.app, "mallory@example.com").await;
    let mut theirs = Device::new();
    register(&t.app, &other.access_token(), &mut theirs).await;
    let resp = sign_in(&t.app, "hu@example.com", PASSWORD).await;
    let mfa_token = resp.json["mfa_token"].as_str().unwrap();
    let begun = post_("/v1/auth/mfa/passkey/begin")
        .json(json!({ "mfa_token": mfa_token }))
        .send(&t.app)
        .await;
    let mut options = begun.json["options"].clone();
    let their_id =
        crate::passkeys::begin_sign_in(&t.app, json!({ "email": "mallory@example.com" }))
            .await
            .json["options"]["allowCredentials"][0]["id"]
            .clone();
    options["allowCredentials"] = json!([{ "type": "public-key", "id": their_id }]);
    let credential = theirs.get(&options);
    let refused = post_("/v1/auth/mfa/passkey/complete")
        .json(json!({
            "mfa_token": mfa_token,
            "challenge_id": begun.json["challenge_id"],
            "credential": credential,
        }))
        .send(&t.app)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);

    // Signing in with the passkey itself is two factors: no challenge.
    let direct = crate::passkeys::sign_in_with(&t.app, "hu@example.com", &mut device).await;
    assert_eq!(direct.status, StatusCode::OK, "{}", direct.text);
    assert!(direct.json.get("mfa_required").is_none(), "{}", direct.text);
    assert_eq!(claims(&direct.access_token())["acr"], "aal2");

    // Removing a passkey (a factor now) from the aal1 enrolling session is refused.
    let list = get_("/v1/auth/me/passkeys")
        .bearer(&token)
        .send(&t.app)
        .await;
    let id = list.json["passkeys"][0]["id"].as_str().unwrap().to_owned();
    let resp = req(Method::DELETE, &format!("/v1/auth/me/passkeys/{id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(resp.error_code(), "mfa_required");
}

// ---------------------------------------------------------------------------------------
// Step-up.

#[tokio::test]
async fn reauthentication_makes_the_same_session_fresh() {
    let t = app().await;
    let grant = sign_up(&t.app, "io@example.com").await;
    let old = stale(&t, &grant).await;
    let old_claims = claims(&old.access_token());
    let refused = post_("/v1/auth/me/mfa/totp")
        .bearer(&old.access_token())
        .send(&t.app)
        .await;
    assert_eq!(refused.error_code(), "reauthentication_required");

    let wrong = post_("/v1/auth/reauthenticate")
        .bearer(&old.access_token())
        .json(json!({ "password": "not the password at all" }))
        .send(&t.app)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "invalid_credentials");
    let both = post_("/v1/auth/reauthenticate")
        .bearer(&old.access_token())
        .json(json!({ "password": PASSWORD, "code": "123456" }))
        .send(&t.app)
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    // Signed out: 401.
    let anonymous = post_("/v1/auth/reauthenticate")
        .json(json!({ "password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let fresh = post_("/v1/auth/reauthenticate")
        .bearer(&old.access_token())
        .json(json!({ "password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    let new_claims = claims(&fresh.access_token());
    assert_eq!(new_claims["sid"], old_claims["sid"], "the same session");
    assert!(new_claims["auth_time"].as_i64() > old_claims["auth_time"].as_i64());
    assert_eq!(new_claims["acr"], "aal1", "a password keeps the level");
    assert_eq!(fresh.json["user"]["email"], "io@example.com");
    // An access token in hand never buys a longer-lived credential: no refresh token, and
    // the new access token expires no later than the one presented.
    assert!(fresh.json.get("refresh_token").is_none(), "{}", fresh.text);
    assert!(fresh.set_cookie("__client").is_none());
    assert!(new_claims["exp"].as_i64() <= old_claims["exp"].as_i64());
    // The session's own refresh token goes on, and its next tokens say the session is fresh.
    let next = refresh(&t.app, &old.refresh_token()).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    assert_eq!(
        claims(&next.access_token())["auth_time"],
        new_claims["auth_time"]
    );
    // Fresh now: enrolment works.
    let (secret, _) = enrol(&t.app, &fresh.access_token()).await;

    // The enrolling session is aal1: removing the factor needs a second factor first.
    let token = next.access_token();
    let aal1 = req(Method::DELETE, "/v1/auth/me/mfa/totp")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(aal1.status, StatusCode::FORBIDDEN);
    assert_eq!(aal1.error_code(), "mfa_required");
    assert_eq!(
        get_("/aal2").bearer(&token).send(&t.app).await.error_code(),
        "mfa_required"
    );
    let wrong_code = post_("/v1/auth/reauthenticate")
        .bearer(&token)
        .json(json!({ "code": code(&secret, 3) }))
        .send(&t.app)
        .await;
    assert_eq!(wrong_code.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_code.error_code(), "token_invalid");
    let raised = post_("/v1/auth/reauthenticate")
        .bearer(&token)
        .json(json!({ "code": code(&secret, 0) }))
        .send(&t.app)
        .await;
    assert_eq!(raised.status, StatusCode::OK, "{}", raised.text);
    let raised_claims = claims(&raised.access_token());
    assert_eq!(raised_claims["acr"], "aal2");
    assert_eq!(raised_claims["amr"], json!(["pwd", "otp"]));
    // The level rides on the session: its next refresh is aal2 too.
    let refreshed = refresh(&t.app, &next.refresh_token()).await;
    assert_eq!(claims(&refreshed.access_token())["acr"], "aal2");
    assert_eq!(raised_claims["sid"], old_claims["sid"]);
    assert_eq!(
        get_("/aal2")
            .bearer(&raised.access_token())
            .send(&t.app)
            .await
            .status,
        StatusCode::OK
    );
    let off = req(Method::DELETE, "/v1/auth/me/mfa/totp")
        .bearer(&raised.access_token())
        .send(&t.app)
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    assert_eq!(me_mfa(&t.app, &raised.access_token()).await["totp"], false);
    let plain = sign_in(&t.app, "io@example.com", PASSWORD).await;
    assert!(plain.json["access_token"].is_string(), "{}", plain.text);
    let kinds = t.audit.kinds();
    assert!(kinds.contains(&"reauthenticated".to_owned()));
    assert!(kinds.contains(&"reauthentication_failed".to_owned()));
    assert!(kinds.contains(&"mfa_disabled".to_owned()));
}

// ---------------------------------------------------------------------------------------
// Organizations that require a second factor.

#[tokio::test]
async fn an_organization_can_require_a_second_factor() {
    let t = app().await;
    let (secret, _) = user_with_totp(&t, "owner@example.com").await;
    let owner_aal1 = sign_up(&t.app, "member@example.com").await;
    let member = owner_aal1.access_token();
    let token = challenged(&t.app, "owner@example.com").await;
    let owner = verify(&t.app, &token, "totp", &code(&secret, 0))
        .await
        .access_token();

    // Make the owner's address verified so invitations go out.
    sql(
        &t.db,
        "UPDATE portcullis_users SET email_verified_at = created_at",
    )
    .await;
    let org = post_("/v1/orgs")
        .bearer(&owner)
        .json(json!({ "name": "Vault" }))
        .send(&t.app)
        .await;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.text);
    let org_id = org.json["org"]["id"].as_str().unwrap().to_owned();
    assert_eq!(org.json["org"]["require_mfa"], false);
    let invited = post_(&format!("/v1/orgs/{org_id}/invitations"))
        .bearer(&owner)
        .json(json!({ "email": "member@example.com", "role": "admin" }))
        .send(&t.app)
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    let invitation = token_in(&t.email("member@example.com", 1).await);
    let accepted = post_("/v1/orgs/invitations/accept")
        .bearer(&member)
        .json(json!({ "token": invitation }))
        .send(&t.app)
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    // The member switches in while it is allowed.
    let switched = req(Method::PATCH, "/v1/orgs/current")
        .bearer(&member)
        .json(json!({ "org_id": org_id }))
        .send(&t.app)
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.text);
    let member_in_org = switched.access_token();

    // Only an owner may turn it on, and only from an aal2 session.
    let by_admin = req(Method::PATCH, &format!("/v1/orgs/{org_id}"))
        .bearer(&member)
        .json(json!({ "require_mfa": true }))
        .send(&t.app)
        .await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN, "{}", by_admin.text);
    let on = req(Method::PATCH, &format!("/v1/orgs/{org_id}"))
        .bearer(&owner)
        .json(json!({ "require_mfa": true }))
        .send(&t.app)
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    assert_eq!(on.json["org"]["require_mfa"], true);
    assert!(
        t.audit
            .kinds()
            .contains(&"org_mfa_requirement_changed".to_owned())
    );

    // The aal1 member can neither switch in nor use its permissions.
    let refused = req(Method::PATCH, "/v1/orgs/current")
        .bearer(&member)
        .json(json!({ "org_id": org_id }))
        .send(&t.app)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "mfa_required");
    let read = get_(&format!("/v1/orgs/{org_id}/members"))
        .bearer(&member)
        .send(&t.app)
        .await;
    assert_eq!(read.error_code(), "mfa_required");
    let permissions = get_("/v1/auth/sessions/current/permissions")
        .bearer(&member_in_org)
        .send(&t.app)
        .await;
    assert_eq!(
        permissions.json["mfa_required"], true,
        "{}",
        permissions.text
    );
    assert_eq!(permissions.json["permissions"], json!([]));
    let host = get_("/billing").bearer(&member_in_org).send(&t.app).await;
    assert_eq!(host.status, StatusCode::FORBIDDEN);
    assert_eq!(host.error_code(), "mfa_required");
    // The owner's aal2 session goes on.
    assert_eq!(
        get_(&format!("/v1/orgs/{org_id}/members"))
            .bearer(&owner)
            .send(&t.app)
            .await
            .status,
        StatusCode::OK
    );
    // An owner on an aal1 session cannot turn it on for another organization.
    let plain_owner = sign_up(&t.app, "plain@example.com").await.access_token();
    let other = post_("/v1/orgs")
        .bearer(&plain_owner)
        .json(json!({ "name": "Open" }))
        .send(&t.app)
        .await;
    let other_id = other.json["org"]["id"].as_str().unwrap();
    let aal1 = req(Method::PATCH, &format!("/v1/orgs/{other_id}"))
        .bearer(&plain_owner)
        .json(json!({ "require_mfa": true }))
        .send(&t.app)
        .await;
    assert_eq!(aal1.error_code(), "mfa_required");
}

// ---------------------------------------------------------------------------------------
// The host's side, and what takes factors away.

#[tokio::test]
async fn the_host_reads_and_resets_factors_from_rust() {
    let t = app().await;
    let (_, _) = user_with_totp(&t, "jo@example.com").await;
    let user = t
        .auth
        .users()
        .find_by_email("jo@example.com")
        .await
        .unwrap()
        .unwrap();
    let mfa = t.auth.users().mfa(user.id);
    let status = mfa.status().await.unwrap();
    assert!(status.totp);
    assert_eq!(status.recovery_codes_left, 10);
    let pending = challenged(&t.app, "jo@example.com").await;

    assert!(mfa.reset().await.unwrap());
    assert!(!mfa.status().await.unwrap().totp);
    assert!(t.audit.kinds().contains(&"mfa_reset".to_owned()));
    // A challenge issued before the reset is dead; the next sign-in needs no code.
    assert_eq!(
        verify(&t.app, &pending, "totp", "123456")
            .await
            .error_code(),
        "token_invalid"
    );
    let plain = sign_in(&t.app, "jo@example.com", PASSWORD).await;
    assert!(plain.json["access_token"].is_string(), "{}", plain.text);
    assert!(!mfa.reset().await.unwrap(), "nothing left to reset");
}

#[tokio::test]
async fn taking_an_address_back_removes_the_squatters_second_factor() {
    let t = app().await;
    // A squatter registers someone else's address and turns on TOTP.
    let (_, _) = user_with_totp(&t, "victim@example.com").await;
    // The address's owner signs in with an emailed code: the account is theirs, and no
    // authenticator of the squatter's stands in the way.
    post_("/v1/auth/sign-in/email-otp")
        .json(json!({ "email": "victim@example.com" }))
        .send(&t.app)
        .await;
    let email = t.email("victim@example.com", 2).await;
    let otp = email
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let resp = post_("/v1/auth/email-otp/verify")
        .json(json!({ "email": "victim@example.com", "code": otp }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert!(resp.json.get("mfa_required").is_none(), "{}", resp.text);
    assert_eq!(me_mfa(&t.app, &resp.access_token()).await["totp"], false);
}

#[tokio::test]
async fn a_password_reset_kills_pending_challenges() {
    let t = app().await;
    let (secret, _) = user_with_totp(&t, "ky@example.com").await;
    let pending = challenged(&t.app, "ky@example.com").await;
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "ky@example.com" }))
        .send(&t.app)
        .await;
    let reset = token_in(&t.email("ky@example.com", 2).await);
    let done = post_("/v1/auth/password/reset")
        .json(json!({ "token": reset, "password": "a whole new passphrase here" }))
        .send(&t.app)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(
        verify(&t.app, &pending, "totp", &code(&secret, 0))
            .await
            .error_code(),
        "token_invalid"
    );
}

#[tokio::test]
async fn a_long_run_of_wrong_codes_pauses_second_factors_for_a_day() {
    let t = app().await;
    let (secret, _) = user_with_totp(&t, "lu@example.com").await;
    for row in portcullis::entity::totp::Entity::find()
        .all(&t.db)
        .await
        .unwrap()
    {
        let mut row = row.into_active_model();
        row.failures = Set(100);
        row.last_failure_at = Set(Some(ago(60)));
        row.update(&t.db).await.unwrap();
    }
    let token = challenged(&t.app, "lu@example.com").await;
    let paused = verify(&t.app, &token, "totp", &code(&secret, 0)).await;
    assert_eq!(
        paused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        paused.text
    );
    assert_eq!(paused.error_code(), "too_many_attempts");
    // A day later the run no longer pauses anything; a right code ends it.
    for row in portcullis::entity::totp::Entity::find()
        .all(&t.db)
        .await
        .unwrap()
    {
        let mut row = row.into_active_model();
        row.last_failure_at = Set(Some(ago(86_401)));
        row.update(&t.db).await.unwrap();
    }
    assert_eq!(
        verify(&t.app, &token, "totp", &code(&secret, 0))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_method_the_host_turned_off_proves_nothing() {
    use portcullis::config::SignInMethod::{Passkey, Password};
    let t = app_with(|b| b.sign_in(|s| s.disabled_methods.extend([Passkey]))).await;
    let (_, _) = user_with_totp(&t, "mo@example.com").await;
    let token = challenged(&t.app, "mo@example.com").await;
    let begun = post_("/v1/auth/mfa/passkey/begin")
        .json(json!({ "mfa_token": token }))
        .send(&t.app)
        .await;
    assert_eq!(begun.status, StatusCode::NOT_FOUND, "{}", begun.text);

    // Password sign-in off: a password re-authenticates nobody either.
    let t = app_with(|b| b.sign_in(|s| s.disabled_methods.extend([Password]))).await;
    t.auth
        .users()
        .create(
            portcullis::users::NewUser::new("np@example.com")
                .password(PASSWORD)
                .email_verified(true),
        )
        .await
        .unwrap();
    post_("/v1/auth/sign-in/email-otp")
        .json(json!({ "email": "np@example.com" }))
        .send(&t.app)
        .await;
    let email = t.email("np@example.com", 1).await;
    let otp = email
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let session = post_("/v1/auth/email-otp/verify")
        .json(json!({ "email": "np@example.com", "code": otp }))
        .send(&t.app)
        .await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text);
    let resp = post_("/v1/auth/reauthenticate")
        .bearer(&session.access_token())
        .json(json!({ "password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.text);
}
