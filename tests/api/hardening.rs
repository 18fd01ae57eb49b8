//! The holes a security read found (issue "Hardening"), each with the test that fails
//! without its fix: an access token never becomes a refresh token, invitations are no
//! sign-in links and no spam relay, ownership needs a fresh session, the limiter stays
//! bounded, code guessing has a cap, planted cookies are refused, bcrypt's 72 bytes,
//! revocations ordered by the database's clock, concurrent first passwords, retention,
//! breached-password outages, audits, the pre-session CSRF token, a new password equal to
//! the old one, the migrator, methods a host turns off, and 405 on every router.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Method, StatusCode};
use portcullis::{
    policy::BreachedPasswords,
    rate_limit::{Limit, RateLimiter, Rule, Throttled},
    users::ImportedUser,
};
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _, IntoActiveModel as _};
use serde_json::json;

use crate::common::*;

/// Signs up `email`, marks the address verified, and signs in again: a fresh grant.
async fn verified(t: &TestApp, email: &str) -> Resp {
    let grant = sign_up(&t.app, email).await;
    let id: uuid::Uuid = grant.json["user"]["id"].as_str().unwrap().parse().unwrap();
    let mut row = portcullis::entity::user::Entity::find_by_id(id)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.email_verified_at = Set(Some(time::OffsetDateTime::now_utc()));
    row.update(&t.db).await.unwrap();
    let resp = sign_in(&t.app, email, PASSWORD).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    resp
}

async fn create_org(t: &TestApp, token: &str, name: &str) -> String {
    let resp = post_("/v1/orgs")
        .bearer(token)
        .json(json!({ "name": name }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    resp.json["org"]["id"].as_str().unwrap().to_owned()
}

fn user_id(grant: &Resp) -> String {
    grant.json["user"]["id"].as_str().unwrap().to_owned()
}

// 1. An access token never becomes a refresh token.
#[tokio::test]
async fn switching_organization_answers_an_access_token_only() {
    let t = app().await;
    let owner = verified(&t, "switch@example.com").await;
    let org = create_org(&t, &owner.access_token(), "Switch").await;
    let presented = owner.access_token();
    // A second later, a token minted now would outlive the presented one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = req(Method::PATCH, "/v1/orgs/current")
        .bearer(&presented)
        .json(json!({ "org_id": org }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert!(resp.json.get("refresh_token").is_none(), "{}", resp.text);
    assert!(resp.set_cookie("__client").is_none());
    assert_eq!(resp.json["token_type"], "Bearer");
    assert_eq!(resp.json["session"]["active_org_id"], org.as_str());
    let switched = resp.access_token();
    assert_eq!(claims(&switched)["org_id"], org.as_str());
    // Never outlives the token it was bought with: switching cannot keep a stolen access
    // token alive.
    assert_eq!(claims(&switched)["exp"], claims(&presented)["exp"]);
    assert!(claims(&switched)["iat"].as_i64() > claims(&presented)["iat"].as_i64());
    assert_eq!(hello(&t.app, &switched).await, StatusCode::OK);
    // The owner's own refresh token is untouched: it works, trips no reuse detection,
    // and the refreshed token carries the active organization.
    let refreshed = refresh(&t.app, &owner.refresh_token()).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(claims(&refreshed.access_token())["org_id"], org.as_str());
    assert!(!t.audit.kinds().contains(&"refresh_token_reuse".to_owned()));
    assert!(t.audit.kinds().contains(&"org_switched".to_owned()));
}

// 3. Password reset and change kill pending invitations to the address.
#[tokio::test]
async fn a_new_password_kills_pending_invitations_to_the_address() {
    let t = app().await;
    let owner = verified(&t, "inviter@example.com").await;
    let org = create_org(&t, &owner.access_token(), "Killjoy").await;
    let invitee = verified(&t, "invitee@example.com").await;
    let invite = || {
        post_(&format!("/v1/orgs/{org}/invitations"))
            .bearer(&owner.access_token())
            .json(json!({ "email": "invitee@example.com", "role": "member" }))
    };
    assert_eq!(invite().send(&t.app).await.status, StatusCode::CREATED);
    let token = token_in(&t.email("invitee@example.com", 1).await);
    let resp = post_("/v1/auth/me/password")
        .bearer(&invitee.access_token())
        .json(json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let resp = post_("/v1/orgs/invitations/accept")
        .bearer(&invitee.access_token())
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid", "{}", resp.text);

    // The same after a reset.
    // (Email 2 told the invitee their password changed.)
    assert_eq!(
        t.email("invitee@example.com", 2).await.kind,
        "password_changed"
    );
    assert_eq!(invite().send(&t.app).await.status, StatusCode::CREATED);
    let token = token_in(&t.email("invitee@example.com", 3).await);
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "invitee@example.com" }))
        .send(&t.app)
        .await;
    let reset = token_in(&t.email("invitee@example.com", 4).await);
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": reset, "password": "yet another fine passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let fresh = sign_in(&t.app, "invitee@example.com", "yet another fine passphrase").await;
    let resp = post_("/v1/orgs/invitations/accept")
        .bearer(&fresh.access_token())
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid", "{}", resp.text);
}

// 4. Ownership without freshness.
#[tokio::test]
async fn ownership_changes_and_deletion_need_a_fresh_session() {
    let t = app().await;
    let owner = verified(&t, "fresh-owner@example.com").await;
    let other = verified(&t, "fresh-other@example.com").await;
    let org = create_org(&t, &owner.access_token(), "Fresh").await;
    post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&owner.access_token())
        .json(json!({ "email": "fresh-other@example.com", "role": "admin" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("fresh-other@example.com", 1).await);
    let joined = post_("/v1/orgs/invitations/accept")
        .bearer(&other.access_token())
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);

    let stale_owner = stale(&t, &owner).await.access_token();
    let promote = |token: &str, role: &str| {
        req(
            Method::PATCH,
            &format!("/v1/orgs/{org}/members/{}", user_id(&other)),
        )
        .bearer(token)
        .json(json!({ "role": role }))
    };
    let resp = promote(&stale_owner, "owner").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    assert_eq!(resp.error_code(), "reauthentication_required");
    let resp = req(Method::DELETE, &format!("/v1/orgs/{org}"))
        .bearer(&stale_owner)
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "reauthentication_required");
    // Other role changes need no fresh session.
    assert_eq!(
        promote(&stale_owner, "member").send(&t.app).await.status,
        StatusCode::OK
    );
    // Fresh, the owner may hand ownership over.
    let fresh_owner = sign_in(&t.app, "fresh-owner@example.com", PASSWORD).await;
    assert_eq!(
        promote(&fresh_owner.access_token(), "owner")
            .send(&t.app)
            .await
            .status,
        StatusCode::OK
    );
    // Demoting an owner needs it too.
    let stale_other = stale(&t, &other).await.access_token();
    let resp = req(
        Method::PATCH,
        &format!("/v1/orgs/{org}/members/{}", user_id(&owner)),
    )
    .bearer(&stale_other)
    .json(json!({ "role": "admin" }))
    .send(&t.app)
    .await;
    assert_eq!(resp.error_code(), "reauthentication_required");
    // Removing an owner is demoting one; inviting an owner is promoting one.
    let resp = req(
        Method::DELETE,
        &format!("/v1/orgs/{org}/members/{}", user_id(&owner)),
    )
    .bearer(&stale_other)
    .send(&t.app)
    .await;
    assert_eq!(resp.error_code(), "reauthentication_required");
    let resp = post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&stale_other)
        .json(json!({ "email": "new-owner@example.com", "role": "owner" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "reauthentication_required");
    let resp = post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&stale_other)
        .json(json!({ "email": "new-member@example.com", "role": "member" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    let resp = req(Method::DELETE, &format!("/v1/orgs/{org}"))
        .bearer(&fresh_owner.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}

// 2 and 3. Signed out, an invitation to an address an *unverified* account holds proves
// the mailbox: the account is taken back from whoever registered it, and signed in.
#[tokio::test]
async fn an_invitation_takes_back_an_unverified_account() {
    let t = app().await;
    let owner = verified(&t, "host@example.com").await;
    let org = create_org(&t, &owner.access_token(), "Hosts").await;
    let squatter = sign_up(&t.app, "victim@example.com").await;
    req(Method::PATCH, "/v1/auth/me")
        .bearer(&squatter.access_token())
        .json(json!({ "name": "Squatter", "metadata": { "planted": true } }))
        .send(&t.app)
        .await;
    let squatters_org = create_org(&t, &squatter.access_token(), "Squat").await;
    post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&owner.access_token())
        .json(json!({ "email": "victim@example.com", "role": "member" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("victim@example.com", 1).await);
    let resp = post_("/v1/orgs/invitations/accept")
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email_verified"], true);
    assert_eq!(resp.json["user"]["has_password"], false);
    assert_eq!(resp.json["user"]["name"], serde_json::Value::Null);
    assert_eq!(resp.json["user"]["metadata"], json!({}));
    assert_eq!(hello(&t.app, &resp.access_token()).await, StatusCode::OK);
    // The squatter's session, password and memberships are gone.
    assert_eq!(
        hello(&t.app, &squatter.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&t.app, "victim@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let orgs = get_("/v1/orgs")
        .bearer(&resp.access_token())
        .send(&t.app)
        .await;
    let ids: Vec<&str> = orgs.json["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [org.as_str()], "{}", orgs.text);
    assert!(!ids.contains(&squatters_org.as_str()));
    let claim = t
        .audit
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|e| e.kind.as_str() == "address_claimed")
        .cloned()
        .expect("an address_claimed event");
    assert_eq!(claim.detail["via"], "invitation");
    assert_eq!(claim.detail["memberships_removed"], 1);
}

// 5. Invitations as a spam relay.
#[tokio::test]
async fn invitations_are_no_spam_relay() {
    let t = app_with(|b| b.requests(|r| r.rate_limit = true)).await;
    // A brand-new, unverified account cannot mail strangers.
    let fresh = sign_up(&t.app, "spammer@example.com").await;
    let org = create_org(&t, &fresh.access_token(), "Free money: visit evil.example").await;
    let resp = post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&fresh.access_token())
        .json(json!({ "email": "victim@example.com", "role": "member" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    assert_eq!(resp.error_code(), "email_not_verified");
    t.assert_no_more_email("victim@example.com", 0).await;

    // Verified, the org's name reaches the email plain and short; one recipient takes a
    // few invitations, then the per-recipient limit holds whatever the organization.
    let sender = verified(&t, "sender@example.com").await;
    let long = format!("<b>Acme</b> https://evil.example/{}", "x".repeat(50));
    let first = create_org(&t, &sender.access_token(), &long).await;
    let second = create_org(&t, &sender.access_token(), "Second").await;
    let mut statuses = Vec::new();
    for org in [&first, &second, &first, &second, &first] {
        let resp = post_(&format!("/v1/orgs/{org}/invitations"))
            .bearer(&sender.access_token())
            .json(json!({ "email": "target@example.com", "role": "member" }))
            .send(&t.app)
            .await;
        statuses.push(resp.status.as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
    let email = t.email("target@example.com", 1).await;
    for text in [&email.subject, &email.text, &email.html] {
        assert!(!text.contains("https://evil"), "{text}");
        assert!(!text.contains("<b>"), "{text}");
        assert!(!text.contains(&"x".repeat(30)), "{text}");
    }
    assert!(email.subject.contains("Acme"), "{}", email.subject);
}

/// A limiter that refuses one key and remembers every key it was asked about.
#[derive(Debug, Default, Clone)]
struct Refusing {
    refuse: &'static str,
    seen: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl RateLimiter for Refusing {
    async fn check(&self, key: &str, _rule: Rule) -> Result<(), Throttled> {
        self.seen.lock().unwrap().push(key.to_owned());
        if key == self.refuse {
            Err(Throttled {
                retry_after: Duration::from_secs(1),
            })
        } else {
            Ok(())
        }
    }
}

// 6. The global limit is checked before any per-recipient key is recorded.
#[tokio::test]
async fn a_send_refused_globally_records_no_recipient() {
    let limiter = Refusing {
        refuse: "email_send_global",
        seen: Arc::default(),
    };
    let t = app_with(|b| {
        b.requests(|r| r.rate_limit = true)
            .rate_limiter(limiter.clone())
    })
    .await;
    for (path, body) in [
        (
            "/v1/auth/sign-in/magic-link",
            json!({ "email": "invented1@example.com" }),
        ),
        (
            "/v1/auth/sign-in/email-otp",
            json!({ "email": "invented2@example.com" }),
        ),
        (
            "/v1/auth/password/forgot",
            json!({ "email": "invented3@example.com" }),
        ),
        (
            "/v1/auth/email/send-verification",
            json!({ "email": "invented4@example.com" }),
        ),
    ] {
        let resp = post_(path).json(body).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    let seen = limiter.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|key| !key.contains("invented")),
        "recipient keys recorded: {seen:?}"
    );
}

/// Moves every one-time secret back in time: created `created_ago` seconds ago, expiring
/// `expired_ago` seconds ago (0: unchanged).
async fn age_secrets(t: &TestApp, created_ago: i64, expired_ago: i64) {
    for row in portcullis::entity::one_time_secret::Entity::find()
        .all(&t.db)
        .await
        .unwrap()
    {
        let mut row = row.into_active_model();
        row.created_at = Set(ago(created_ago));
        if expired_ago > 0 {
            row.expires_at = Set(ago(expired_ago));
        }
        row.update(&t.db).await.unwrap();
    }
}

async fn email_code(t: &TestApp, email: &str, count: usize) -> String {
    let resp = post_("/v1/auth/sign-in/email-otp")
        .json(json!({ "email": email }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let message = t.email(email, count).await;
    message
        .subject
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

async fn guess(t: &TestApp, email: &str, code: &str) -> Resp {
    post_("/v1/auth/email-otp/verify")
        .json(json!({ "email": email, "code": code }))
        .send(&t.app)
        .await
}

fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

// 7. OTP guessing has a cumulative cap that tells the owner, and a global budget.
#[tokio::test]
async fn wrong_codes_have_a_daily_cap_that_tells_the_owner() {
    let t = app_with(|b| b.passwordless(|p| p.code_failure_cap = 6)).await;
    let email = "capped@example.com";
    sign_up(&t.app, email).await;
    let mut sent = 0;
    let mut failures = 0;
    // Fresh codes keep coming; the hourly budget is moved out of the way (as the hours
    // pass), so only the daily cap can stop the guessing.
    while failures < 6 {
        sent += 1;
        let code = email_code(&t, email, sent).await;
        for _ in 0..3 {
            if failures == 6 {
                break;
            }
            let resp = guess(&t, email, &wrong(&code)).await;
            assert!(resp.status.is_client_error(), "{}", resp.text);
            failures += 1;
        }
        age_secrets(&t, 7200, 0).await;
    }
    // The owner heard of it.
    let notice = t.email(email, sent + 1).await;
    assert_eq!(notice.kind, "too_many_wrong_codes");
    // The cap is reached: even the right code of a fresh email is refused today.
    let code = email_code(&t, email, sent + 2).await;
    let resp = guess(&t, email, &code).await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS, "{}", resp.text);
    assert_eq!(resp.error_code(), "too_many_attempts");
    // Told once, not at every refused guess.
    assert_eq!(
        guess(&t, email, &wrong(&code)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    t.assert_no_more_email(email, sent + 2).await;
    assert!(t.audit.kinds().contains(&"code_guessing_capped".to_owned()));
    // Links still work.
    let resp = post_("/v1/auth/sign-in/magic-link")
        .json(json!({ "email": email }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn a_right_code_ends_the_run_of_wrong_ones() {
    let t = app_with(|b| b.passwordless(|p| p.code_failure_cap = 4)).await;
    let email = "recovers@example.com";
    sign_up(&t.app, email).await;
    let code = email_code(&t, email, 1).await;
    for _ in 0..3 {
        guess(&t, email, &wrong(&code)).await;
    }
    assert_eq!(guess(&t, email, &code).await.status, StatusCode::OK);
    // Three more wrong ones do not reach a cap of four: the run started again.
    let code = email_code(&t, email, 2).await;
    for _ in 0..3 {
        guess(&t, email, &wrong(&code)).await;
    }
    age_secrets(&t, 7200, 0).await;
    let code = email_code(&t, email, 3).await;
    assert_eq!(guess(&t, email, &code).await.status, StatusCode::OK);
}

#[tokio::test]
async fn code_guesses_share_a_global_budget() {
    let t = app_with(|b| {
        b.requests(|r| r.rate_limit = true).limit(
            Limit::CodeGuessGlobal,
            Rule::new(3, Duration::from_secs(3600)),
        )
    })
    .await;
    // Guesses at made-up addresses (no code was ever sent there) cost nothing: they
    // cannot drain the budget for everyone.
    for i in 0..6 {
        let resp = post_("/v1/auth/email-otp/verify")
            .json(json!({ "email": format!("made-up{i}@example.com"), "code": "123456" }))
            .ip(&format!("198.51.100.{}", i + 1))
            .send(&t.app)
            .await;
        assert_eq!(resp.error_code(), "token_invalid");
    }
    // Guesses at live codes of different addresses, from different IPs: only the global
    // budget counts them together.
    let mut statuses = Vec::new();
    for i in 0..5 {
        let email = format!("spread{i}@example.com");
        let sent = post_("/v1/auth/sign-in/email-otp")
            .json(json!({ "email": email }))
            .ip(&format!("203.0.113.{}", i + 1))
            .send(&t.app)
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
        let message = t.email(&email, 1).await;
        let code = message
            .subject
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        let resp = post_("/v1/auth/email-otp/verify")
            .json(json!({ "email": email, "code": wrong(&code) }))
            .ip(&format!("198.51.100.{}", i + 1))
            .send(&t.app)
            .await;
        statuses.push(resp.status.as_u16());
    }
    assert_eq!(statuses, [400, 400, 400, 429, 429]);
}

// 8. A credential cookie sent twice is refused (session fixation by a planted cookie).
#[tokio::test]
async fn a_credential_cookie_sent_twice_is_refused() {
    let t = app().await;
    let grant = sign_up(&t.app, "fixation@example.com").await;
    let session = grant.cookie("__session").unwrap();
    let client = grant.cookie("__client").unwrap();
    assert_eq!(
        get_("/hello").cookie(&session).send(&t.app).await.status,
        StatusCode::OK
    );
    let planted = "__session=eyJhbGciOiJFUzI1NiJ9.planted.planted";
    for cookies in [
        format!("{planted}; {session}"),
        format!("{session}; {planted}"),
    ] {
        let resp = get_("/hello").cookie(&cookies).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
        assert_eq!(resp.error_code(), "invalid_request");
        // Even where anonymous visitors are welcome.
        let resp = get_("/maybe").cookie(&cookies).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    }
    // Two refresh cookies (one planted): refused, and the real one is not rotated.
    let resp = post_("/v1/auth/sessions/refresh")
        .cookie(&format!("__client=planted; {client}"))
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    assert_eq!(
        refresh(&t.app, &grant.refresh_token()).await.status,
        StatusCode::OK
    );
}

// 9. A truncated bcrypt match never becomes the stored password.
#[tokio::test]
async fn a_long_bcrypt_password_is_never_upgraded_from_a_truncated_match() {
    let t = app().await;
    let prefix = "x".repeat(72);
    let real = format!("{prefix}-the real ending");
    let hash = bcrypt::hash(&real, 4).unwrap();
    t.auth
        .users()
        .import(ImportedUser::new("legacy@example.com").password_hash(hash.clone()))
        .await
        .unwrap();
    // bcrypt reads 72 bytes: a guess with the right start passes, as it did before...
    let guess = format!("{prefix}-a guessed ending");
    assert_eq!(
        sign_in(&t.app, "legacy@example.com", &guess).await.status,
        StatusCode::OK
    );
    // ...but is not stored: the real password still works, and the hash stays bcrypt.
    assert_eq!(
        sign_in(&t.app, "legacy@example.com", &real).await.status,
        StatusCode::OK
    );
    let user = t
        .auth
        .users()
        .find_by_email("legacy@example.com")
        .await
        .unwrap()
        .unwrap();
    let stored = portcullis::entity::password_credential::Entity::find_by_id(user.id)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.hash.0, hash);
    // Exactly the first 72 bytes match too (bcrypt never saw more): still no upgrade.
    assert_eq!(
        sign_in(&t.app, "legacy@example.com", &prefix).await.status,
        StatusCode::OK
    );
    let stored = portcullis::entity::password_credential::Entity::find_by_id(user.id)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.hash.0, hash);
    assert_eq!(
        sign_in(&t.app, "legacy@example.com", &real).await.status,
        StatusCode::OK
    );
    // A short bcrypt password is still upgraded at the first sign-in.
    let short = bcrypt::hash("a short legacy password", 4).unwrap();
    let imported = t
        .auth
        .users()
        .import(ImportedUser::new("short@example.com").password_hash(short))
        .await
        .unwrap();
    sign_in(&t.app, "short@example.com", "a short legacy password").await;
    let stored = portcullis::entity::password_credential::Entity::find_by_id(imported.id)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.hash.0.starts_with("$argon2id$"), "{}", stored.hash.0);
}

// 10. Revocations are ordered by the database's clock, not the writer's.
#[tokio::test]
async fn a_revocation_from_an_instance_whose_clock_runs_behind_still_arrives() {
    let reader =
        app_with(|b| b.sessions(|s| s.revocation_poll_interval = Duration::from_millis(300))).await;
    // The writer's clock runs two minutes behind (far beyond the poll's overlap).
    let writer = app_on(reader.db.clone(), |b| {
        b.sessions(|s| s.revocation_poll_interval = Duration::from_millis(300))
            .__clock_offset(time::Duration::seconds(-120))
    })
    .await;
    let grant = sign_up(&reader.app, "skewed@example.com").await;
    let token = grant.access_token();
    assert_eq!(hello(&reader.app, &token).await, StatusCode::OK);
    // Let the reader poll once after the sign-up, as a long-running instance would have.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let resp = post_("/v1/auth/sign-out")
        .bearer(&token)
        .send(&writer.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let mut waited = Duration::ZERO;
    while hello(&reader.app, &token).await == StatusCode::OK {
        assert!(
            waited < Duration::from_secs(5),
            "the reader never saw a revocation stamped by a slow clock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
}

// 11. Concurrent first passwords on a passwordless account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_passwords_never_fail() {
    let t = app().await;
    post_("/v1/auth/sign-in/magic-link")
        .json(json!({ "email": "nopassword@example.com" }))
        .send(&t.app)
        .await;
    let link = token_in(&t.email("nopassword@example.com", 1).await);
    let grant = post_("/v1/auth/magic-link/verify")
        .json(json!({ "token": link }))
        .send(&t.app)
        .await;
    assert_eq!(grant.status, StatusCode::OK, "{}", grant.text);
    assert_eq!(grant.json["user"]["has_password"], false);
    let token = grant.access_token();
    let requests = (0..6)
        .map(|i| {
            post_("/v1/auth/me/password")
                .bearer(&token)
                .json(json!({ "new_password": format!("first password number {i} here") }))
        })
        .collect();
    let results = parallel(&t.app, requests).await;
    for resp in &results {
        // Each either set the first password, or found one set a moment earlier (and then
        // rightly asked for it), or met a busy database: never a 500.
        assert!(
            [
                StatusCode::OK,
                StatusCode::FORBIDDEN,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(&resp.status),
            "{} {}",
            resp.status,
            resp.text
        );
    }
    assert!(results.iter().any(|r| r.status == StatusCode::OK));
    let me = get_("/v1/auth/me").bearer(&token).send(&t.app).await;
    assert_eq!(me.json["user"]["has_password"], true);
}

// 12. Retention: expired secrets, ceremonies, states, ended sessions and old audit rows go.
#[tokio::test]
async fn the_sweep_deletes_what_retention_lets_go() {
    let t = app().await;
    let kept = sign_up(&t.app, "kept@example.com").await;
    let ended = sign_in(&t.app, "kept@example.com", PASSWORD).await;
    post_("/v1/auth/sign-out")
        .bearer(&ended.access_token())
        .send(&t.app)
        .await;
    for email in ["stranger1@example.com", "stranger2@example.com"] {
        post_("/v1/auth/sign-in/email-otp")
            .json(json!({ "email": email }))
            .send(&t.app)
            .await;
    }
    // Wait for the background sends to store their (decoy) codes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Age everything: the codes expired two days ago, the session ended 40 days ago, the
    // audit rows are two years old.
    age_secrets(&t, 3 * 86_400, 2 * 86_400).await;
    edit_session(&t.db, ended.json["session"]["id"].as_str().unwrap(), |s| {
        s.revoked_at = Set(Some(ago(40 * 86_400)));
    })
    .await;
    for row in portcullis::entity::audit_event::Entity::find()
        .all(&t.db)
        .await
        .unwrap()
    {
        let mut row = row.into_active_model();
        row.occurred_at = Set(ago(2 * 365 * 86_400));
        row.update(&t.db).await.unwrap();
    }
    let swept = t.auth.sweep().await.unwrap();
    assert!(swept.one_time_secrets >= 2, "{swept:?}");
    assert_eq!(swept.sessions, 1, "{swept:?}");
    assert!(swept.audit_events >= 3, "{swept:?}");
    // What is live stays.
    assert_eq!(hello(&t.app, &kept.access_token()).await, StatusCode::OK);
    assert_eq!(
        refresh(&t.app, &kept.refresh_token()).await.status,
        StatusCode::OK
    );
    let again = t.auth.sweep().await.unwrap();
    assert_eq!(again.sessions, 0);
    assert_eq!(again.one_time_secrets, 0);
}

/// A breached-password corpus that is down.
#[derive(Debug)]
struct Down;

#[async_trait::async_trait]
impl BreachedPasswords for Down {
    async fn is_breached(
        &self,
        _password: &str,
    ) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
        Err("connection refused".into())
    }
}

// 13. The breached-password check can fail closed.
#[tokio::test]
async fn a_breached_password_outage_fails_closed_when_the_host_says_so() {
    let open = app_with(|b| b.breached_passwords(Down)).await;
    assert_eq!(
        sign_up(&open.app, "open@example.com").await.status,
        StatusCode::CREATED
    );
    let closed = app_with(|b| {
        b.breached_passwords(Down)
            .passwords(|p| p.breached_fail_closed = true)
    })
    .await;
    let resp = post_("/v1/auth/sign-up/email-password")
        .json(json!({ "email": "closed@example.com", "password": PASSWORD }))
        .send(&closed.app)
        .await;
    assert_eq!(
        resp.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        resp.text
    );
    assert_eq!(resp.error_code(), "unavailable");
}

// 14. Audit the unaudited: address claims (what was removed), org switches, invitation
// revocations, role changes.
#[tokio::test]
async fn claims_switches_revocations_and_role_changes_are_audited() {
    let t = app().await;
    // A squatter registers an address; its owner proves it with a magic link.
    sign_up(&t.app, "claimed@example.com").await;
    post_("/v1/auth/sign-in/magic-link")
        .json(json!({ "email": "claimed@example.com" }))
        .send(&t.app)
        .await;
    let link = token_in(&t.email("claimed@example.com", 1).await);
    let resp = post_("/v1/auth/magic-link/verify")
        .json(json!({ "token": link }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let claim = t
        .audit
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|e| e.kind.as_str() == "address_claimed")
        .cloned()
        .expect("an address_claimed event");
    assert_eq!(claim.detail["via"], "magic_link");
    assert_eq!(claim.detail["password_removed"], true);
    assert_eq!(claim.detail["sessions_revoked"], 1);

    let owner = verified(&t, "auditor@example.com").await;
    let org = create_org(&t, &owner.access_token(), "Audited").await;
    req(Method::PATCH, "/v1/orgs/current")
        .bearer(&owner.access_token())
        .json(json!({ "org_id": org }))
        .send(&t.app)
        .await;
    post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&owner.access_token())
        .json(json!({ "email": "someone@example.com", "role": "member" }))
        .send(&t.app)
        .await;
    let pending = get_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&owner.access_token())
        .send(&t.app)
        .await;
    let id = pending.json["invitations"][0]["id"].as_str().unwrap();
    let resp = req(Method::DELETE, &format!("/v1/orgs/{org}/invitations/{id}"))
        .bearer(&owner.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let member = verified(&t, "promoted@example.com").await;
    post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&owner.access_token())
        .json(json!({ "email": "promoted@example.com", "role": "member" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("promoted@example.com", 1).await);
    post_("/v1/orgs/invitations/accept")
        .bearer(&member.access_token())
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    let resp = req(
        Method::PATCH,
        &format!("/v1/orgs/{org}/members/{}", user_id(&member)),
    )
    .bearer(&owner.access_token())
    .json(json!({ "role": "admin" }))
    .send(&t.app)
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let role_change = t
        .audit
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|e| e.kind.as_str() == "role_changed")
        .cloned()
        .expect("a role_changed event");
    assert_eq!(role_change.detail["from"], "member");
    assert_eq!(role_change.detail["to"], "admin");
    assert_eq!(role_change.detail["by"], user_id(&owner));
    let kinds = t.audit.kinds();
    for kind in ["org_switched", "invitation_revoked", "invitation_sent"] {
        assert!(
            kinds.contains(&kind.to_owned()),
            "{kind} missing: {kinds:?}"
        );
    }
}

// 15. The signed-out CSRF token works where the CSRF token works.
#[tokio::test]
async fn the_pre_session_csrf_token_refreshes_by_cookie() {
    let t = app().await;
    // The page fetched a CSRF token before signing in, and kept it.
    let csrf = get_("/v1/auth/csrf").send(&t.app).await;
    let csrf_cookie = csrf.cookie("__csrf").unwrap();
    let token = csrf.json["csrf_token"].as_str().unwrap().to_owned();
    let grant = sign_up(&t.app, "tab@example.com").await;
    let client = grant.cookie("__client").unwrap();
    // Its access token expired; it refreshes by cookie with the token it has.
    let resp = post_("/v1/auth/sessions/refresh")
        .cookie(&format!("{client}; {csrf_cookie}"))
        .header("x-csrf-token", &token)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    // Without its own cookie, or with a forged token, the header proves nothing.
    let client = resp.cookie("__client").unwrap();
    let resp = post_("/v1/auth/sessions/refresh")
        .cookie(&client)
        .header("x-csrf-token", &token)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    let resp = post_("/v1/auth/sessions/refresh")
        .cookie(&format!("{client}; {csrf_cookie}"))
        .header("x-csrf-token", "forged")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
}

// 16. A new password equal to the current one.
#[tokio::test]
async fn the_new_password_must_differ_from_the_current_one() {
    let t = app().await;
    let grant = sign_up(&t.app, "same@example.com").await;
    let resp = post_("/v1/auth/me/password")
        .bearer(&grant.access_token())
        .json(json!({ "current_password": PASSWORD, "new_password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    assert_eq!(resp.error_code(), "weak_password");
    // A wrong current password is still told as such first.
    let resp = post_("/v1/auth/me/password")
        .bearer(&grant.access_token())
        .json(json!({ "current_password": "not it at all", "new_password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "forbidden");
}

// 17. The public migrator cannot drop the host's tables.
#[test]
fn the_public_migrator_has_no_fresh_or_reset() {
    use std::marker::PhantomData;
    // Autoref probe: the inherent method exists only where `T: MigratorTrait`, which
    // would hand out `fresh` and `reset`.
    struct Probe<T>(PhantomData<T>);
    trait Fallback {
        fn is_migrator_trait(&self) -> bool {
            false
        }
    }
    impl<T> Fallback for Probe<T> {}
    impl<T: sea_orm_migration::MigratorTrait> Probe<T> {
        #[allow(dead_code)]
        fn is_migrator_trait(&self) -> bool {
            true
        }
    }
    assert!(!Probe::<portcullis::Migrator>(PhantomData).is_migrator_trait());
    assert!(!portcullis::Migrator::migrations().is_empty());
}

// 18. A host can turn a sign-in method off.
#[tokio::test]
async fn a_method_that_is_off_has_no_routes_and_no_say_in_the_last_way_rule() {
    use portcullis::config::SignInMethod::{EmailOtp, MagicLink};
    let t = app_with(|b| b.sign_in(|s| s.disabled_methods.extend([MagicLink, EmailOtp]))).await;
    let methods = get_("/v1/auth/methods").send(&t.app).await;
    assert_eq!(methods.json["magic_link"], false);
    assert_eq!(methods.json["email_otp"], false);
    assert_eq!(methods.json["password"], true);
    for path in [
        "/v1/auth/sign-in/magic-link",
        "/v1/auth/magic-link/verify",
        "/v1/auth/sign-in/email-otp",
        "/v1/auth/email-otp/verify",
    ] {
        let resp = post_(path)
            .json(json!({ "email": "x@example.com", "token": "t", "code": "123456" }))
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(resp.error_code(), "not_found");
    }
    let resp = get_("/v1/auth/magic-link/verify?token=x")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    // Password off too: the password routes go, and the rule counts only what is left.
    let t = app_with(|b| {
        b.sign_in(|s| {
            s.disabled_methods
                .extend([portcullis::config::SignInMethod::Password])
        })
    })
    .await;
    let resp = post_("/v1/auth/sign-in/email-password")
        .json(json!({ "email": "a@example.com", "password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = post_("/v1/auth/password/forgot")
        .json(json!({ "email": "a@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get_("/v1/auth/methods").send(&t.app).await.json["password"],
        false
    );
}

// 19. Every router answers a wrong method with the JSON 405.
#[tokio::test]
async fn every_router_answers_a_wrong_method_with_json() {
    let t = app().await;
    for (method, path) in [
        (Method::PUT, "/v1/orgs"),
        (Method::POST, "/v1/orgs/current"),
        (Method::PUT, "/v1/orgs/invitations/accept"),
        (Method::POST, "/.well-known/jwks.json"),
        (Method::DELETE, "/healthz"),
        (Method::PUT, "/v1/auth/sign-in/email-password"),
    ] {
        let resp = req(method.clone(), path).send(&t.app).await;
        assert_eq!(
            resp.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(resp.error_code(), "method_not_allowed", "{method} {path}");
    }
}
