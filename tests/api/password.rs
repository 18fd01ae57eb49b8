//! Email + password: sign-up, sign-in, the policy, not telling who has an account,
//! legacy hashes, throttling.

use std::time::Duration;

use http::StatusCode;
use portcullis::{entity::password_credential, users::ImportedUser, users::NewUser};
use sea_orm::EntityTrait as _;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn sign_up_answers_a_full_session_grant() {
    let t = app().await;
    let resp = post_("/v1/auth/sign-up/email-password")
        .json(json!({ "email": "  Ada@Example.COM ", "password": PASSWORD, "name": "Ada", "metadata": { "plan": "pro" } }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    let body = &resp.json;
    assert_eq!(body["ok"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    let user = &body["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["phone"], json!(null));
    assert_eq!(user["phone_verified"], false);
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["image_url"], json!(null));
    assert_eq!(user["has_password"], true);
    assert_eq!(user["metadata"], json!({ "plan": "pro" }));
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    let session = &body["session"];
    assert_eq!(session["auth_method"], "password");
    assert_eq!(session["current"], true);
    assert_eq!(session["active_org_id"], json!(null));
    uuid::Uuid::parse_str(session["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(user["id"].as_str().unwrap())
            .unwrap()
            .get_version_num(),
        7
    );

    let token = resp.access_token();
    let header = header_of(&token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = claims(&token);
    assert_eq!(claims["iss"], ORIGIN);
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["sid"], session["id"]);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["org_id"], json!(null));
    assert_eq!(claims["org_role"], json!(null));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(claims["nbf"], claims["iat"]);

    assert_eq!(resp.headers["cache-control"], "no-store");
    let session_cookie = resp.set_cookie("__session").unwrap();
    let client_cookie = resp.set_cookie("__client").unwrap();
    for cookie in [&session_cookie, &client_cookie] {
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        // Plain-http public URL: not Secure.
        assert!(!cookie.contains("Secure"), "{cookie}");
    }
    assert!(session_cookie.contains(&token));
    assert!(client_cookie.contains(&resp.refresh_token()));
    assert_eq!(hello(&t.app, &token).await, StatusCode::OK);
}

#[tokio::test]
async fn cookies_are_secure_and_host_only_on_an_https_public_url() {
    let t = app_with(|b| b.public_url("https://app.example.com")).await;
    let resp = sign_up(&t.app, "secure@example.com").await;
    // `__Host-` names: a browser takes them only from this very host, Secure, Path=/,
    // without Domain, so a sibling subdomain cannot plant one.
    for name in ["__Host-session", "__Host-client"] {
        let line = resp.set_cookie(name).unwrap_or_else(|| panic!("no {name}"));
        assert!(line.contains("Secure"), "{line}");
        assert!(line.contains("Path=/"), "{line}");
        assert!(!line.contains("Domain"), "{line}");
    }
    assert!(resp.set_cookie("__session").is_none());
    let session = resp.cookie("__Host-session").unwrap();
    assert_eq!(
        get_("/hello").cookie(&session).send(&t.app).await.status,
        StatusCode::OK
    );
    // A name the host chose stays as it is.
    let t = app_with(|b| {
        b.public_url("https://app.example.com")
            .cookies(|c| c.session = "app_session".into())
    })
    .await;
    let resp = sign_up(&t.app, "named@example.com").await;
    assert!(resp.set_cookie("app_session").is_some());
    assert!(resp.set_cookie("__Host-client").is_some());
}

#[tokio::test]
async fn emails_are_one_account_whatever_their_case() {
    let t = app().await;
    sign_up(&t.app, "Grace@Example.com").await;
    let resp = post_("/v1/auth/sign-up/email-password")
        .json(json!({ "email": "grace@EXAMPLE.com", "password": "another long passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CONFLICT);
    assert_eq!(resp.error_code(), "email_taken");
    assert_eq!(
        sign_in(&t.app, " GRACE@example.com ", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sign_ups_for_one_address_make_one_account() {
    let t = app().await;
    let attempts = (0..8)
        .map(|_| {
            post_("/v1/auth/sign-up/email-password")
                .json(json!({ "email": "race@example.com", "password": PASSWORD }))
        })
        .collect();
    let results = parallel(&t.app, attempts).await;
    let created = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let taken = results
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (created, taken),
        (1, 7),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn weak_passwords_and_bad_emails_are_refused_with_reasons() {
    let t = app().await;
    for password in [
        "short",
        "password123",
        "Password2024!",
        "aaaaaaaaaaaa",
        "abcdefghij",
        "mary.lou-secret-1",
        &"x".repeat(257),
    ] {
        let resp = post_("/v1/auth/sign-up/email-password")
            .json(json!({ "email": "mary.lou@example.com", "password": password }))
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{password}");
        assert_eq!(resp.error_code(), "weak_password", "{password}");
    }
    for email in [
        "not-an-email",
        "a@b",
        "a@@example.com",
        "\"q\"@example.com",
        "a\r\n@example.com",
    ] {
        let resp = post_("/v1/auth/sign-up/email-password")
            .json(json!({ "email": email, "password": PASSWORD }))
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{email}");
        assert_eq!(resp.error_code(), "invalid_request", "{email}");
    }
    // 64 characters are accepted, and lengths count code points.
    let long = "a quiet river runs under the old stone bridge at dawn every day!";
    let resp = post_("/v1/auth/sign-up/email-password")
        .json(json!({ "email": "long@example.com", "password": long }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
}

#[tokio::test]
async fn sign_in_starts_a_new_session_each_time() {
    let t = app().await;
    let first = sign_up(&t.app, "lin@example.com").await;
    let second = sign_in(&t.app, "lin@example.com", PASSWORD).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_ne!(first.json["session"]["id"], second.json["session"]["id"]);
    assert_ne!(first.refresh_token(), second.refresh_token());
    assert_eq!(second.json["user"]["id"], first.json["user"]["id"]);
    assert_eq!(hello(&t.app, &first.access_token()).await, StatusCode::OK);
    assert_eq!(hello(&t.app, &second.access_token()).await, StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_unknown_email_and_no_password_look_the_same() {
    let t = app().await;
    sign_up(&t.app, "known@example.com").await;
    t.auth
        .users()
        .create(NewUser::new("nopass@example.com"))
        .await
        .unwrap();
    let wrong = sign_in(&t.app, "known@example.com", "not the password at all").await;
    let unknown = sign_in(&t.app, "nobody@example.com", "not the password at all").await;
    let no_password = sign_in(&t.app, "nopass@example.com", "not the password at all").await;
    for resp in [&wrong, &unknown, &no_password] {
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
        assert_eq!(resp.error_code(), "invalid_credentials");
        assert!(resp.set_cookie("__session").is_none());
    }
    assert_eq!(wrong.json, unknown.json);
    assert_eq!(wrong.json, no_password.json);
    let names = |r: &Resp| {
        let mut names: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&wrong), names(&unknown));
    assert_eq!(names(&wrong), names(&no_password));
    // The audit trail (never the client) knows which was which.
    let reasons: Vec<String> = t
        .audit
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind.as_str() == "sign_in_failed")
        .map(|e| e.detail["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["wrong_password", "unknown_email", "no_password"]);
}

#[tokio::test]
async fn an_oversized_password_is_refused_before_hashing() {
    let t = app().await;
    sign_up(&t.app, "big@example.com").await;
    // Far over the 256-character cap, still under the 64 KiB body limit.
    let huge = "p".repeat(60_000);
    let resp = sign_in(&t.app, "big@example.com", &huge).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.error_code(), "invalid_credentials");
}

#[tokio::test]
async fn disabled_accounts_are_told_only_after_a_correct_password() {
    let t = app().await;
    let resp = sign_up(&t.app, "off@example.com").await;
    let user_id = resp.json["user"]["id"].as_str().unwrap().parse().unwrap();
    let token = resp.access_token();
    assert!(t.auth.users().disable(user_id).await.unwrap());
    // Disabling reaches live tokens and refresh at once.
    assert_eq!(hello(&t.app, &token).await, StatusCode::UNAUTHORIZED);
    let refreshed = refresh(&t.app, &resp.refresh_token()).await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);

    let wrong = sign_in(&t.app, "off@example.com", "not the password at all").await;
    assert_eq!(wrong.error_code(), "invalid_credentials");
    let right = sign_in(&t.app, "off@example.com", PASSWORD).await;
    assert_eq!(right.status, StatusCode::FORBIDDEN);
    assert_eq!(right.error_code(), "user_disabled");

    assert!(t.auth.users().enable(user_id).await.unwrap());
    assert_eq!(
        sign_in(&t.app, "off@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn required_verification_is_told_only_after_a_correct_password() {
    let t = app_with(|b| b.sign_in(|s| s.require_email_verification = true)).await;
    // Sign-up creates the account but no session until the address is verified.
    let signed_up = post_("/v1/auth/sign-up/email-password")
        .json(json!({ "email": "fresh@example.com", "password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(signed_up.status, StatusCode::CREATED, "{}", signed_up.text);
    assert_eq!(signed_up.json["email_verification_required"], true);
    assert_eq!(signed_up.json["user"]["email"], "fresh@example.com");
    assert!(signed_up.json.get("access_token").is_none());
    assert!(signed_up.set_cookie("__session").is_none());
    t.auth
        .users()
        .create(NewUser::new("new@example.com").password(PASSWORD))
        .await
        .unwrap();
    t.auth
        .users()
        .create(
            NewUser::new("ok@example.com")
                .password(PASSWORD)
                .email_verified(true),
        )
        .await
        .unwrap();
    let wrong = sign_in(&t.app, "new@example.com", "not the password at all").await;
    assert_eq!(wrong.error_code(), "invalid_credentials");
    let right = sign_in(&t.app, "new@example.com", PASSWORD).await;
    assert_eq!(right.status, StatusCode::FORBIDDEN);
    assert_eq!(right.error_code(), "email_not_verified");
    let verified = sign_in(&t.app, "ok@example.com", PASSWORD).await;
    assert_eq!(verified.status, StatusCode::OK);
    assert_eq!(claims(&verified.access_token())["email_verified"], true);
}

#[tokio::test]
async fn imported_legacy_hashes_sign_in_and_are_upgraded() {
    let t = app().await;
    let legacy = "legacy passphrase from 2014";
    let hashes = [
        ("bcrypt@example.com", bcrypt_hash(legacy)),
        ("scrypt@example.com", scrypt_hash(legacy)),
        ("pbkdf2@example.com", pbkdf2_hash(legacy)),
    ];
    for (email, hash) in &hashes {
        let user = t
            .auth
            .users()
            .import(ImportedUser::new(*email).password_hash(hash.clone()))
            .await
            .unwrap();
        assert_eq!(
            sign_in(&t.app, email, "wrong passphrase entirely")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let resp = sign_in(&t.app, email, legacy).await;
        assert_eq!(resp.status, StatusCode::OK, "{email}: {}", resp.text);
        let stored = password_credential::Entity::find_by_id(user.id)
            .one(&t.db)
            .await
            .unwrap()
            .unwrap();
        assert!(
            stored.hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{email} not upgraded"
        );
        // And the upgraded hash works.
        assert_eq!(sign_in(&t.app, email, legacy).await.status, StatusCode::OK);
    }
    assert!(
        t.audit
            .kinds()
            .iter()
            .filter(|k| *k == "password_rehashed")
            .count()
            == 3
    );
}

#[tokio::test]
async fn importing_an_unknown_hash_format_is_refused() {
    let t = app().await;
    let err = t
        .auth
        .users()
        .import(
            ImportedUser::new("md5@example.com").password_hash("5f4dcc3b5aa765d61d8327deb882cf99"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    assert!(
        t.auth
            .users()
            .find_by_email("md5@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn sign_in_is_throttled_the_same_for_known_and_unknown_emails() {
    let t = app_with(|b| b.requests(|r| r.rate_limit = true)).await;
    sign_up(&t.app, "target@example.com").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..21 {
        // Different IPs: only the per-email limit (10 at once) applies.
        let ip = format!("198.51.100.{i}");
        known.push(
            post_("/v1/auth/sign-in/email-password")
                .json(json!({ "email": "target@example.com", "password": "wrong guess number x" }))
                .ip(&ip)
                .send(&t.app)
                .await,
        );
        unknown.push(
            post_("/v1/auth/sign-in/email-password")
                .json(json!({ "email": "ghost@example.com", "password": "wrong guess number x" }))
                .ip(&ip)
                .send(&t.app)
                .await,
        );
    }
    let statuses = |rs: &[Resp]| rs.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>();
    assert_eq!(statuses(&known), statuses(&unknown));
    assert_eq!(known[19].status, StatusCode::UNAUTHORIZED);
    assert_eq!(known[20].status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(known[20].error_code(), "rate_limited");
    let retry: u64 = known[20].headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry));
    // Throttling is per account, not a lockout of everyone: another account is fine.
    sign_up(&t.app, "other@example.com").await;
    assert_eq!(
        sign_in(&t.app, "other@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    assert!(t.audit.kinds().contains(&"throttled".to_owned()));
}

#[tokio::test]
async fn one_ip_guessing_one_account_is_throttled_first() {
    let t = app_with(|b| b.requests(|r| r.rate_limit = true)).await;
    sign_up(&t.app, "guessed@example.com").await;
    let attempt = |ip: &str| {
        post_("/v1/auth/sign-in/email-password")
            .json(json!({ "email": "guessed@example.com", "password": "a wrong guess here" }))
            .ip(ip)
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("203.0.113.50").send(&t.app).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt("203.0.113.50").send(&t.app).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, elsewhere, still gets in: the guesser did not lock the account.
    let owner = post_("/v1/auth/sign-in/email-password")
        .json(json!({ "email": "guessed@example.com", "password": PASSWORD }))
        .ip("198.51.100.77")
        .send(&t.app)
        .await;
    assert_eq!(owner.status, StatusCode::OK);
    // An IPv6 guesser cannot dodge the limit by hopping addresses inside its /64.
    for i in 0..5 {
        let ip = format!("2001:db8:5:6::{i:x}");
        assert_eq!(
            attempt(&ip).send(&t.app).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt("2001:db8:5:6::ff").send(&t.app).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn one_ip_is_throttled_across_emails() {
    let t = app_with(|b| b.requests(|r| r.rate_limit = true)).await;
    let mut last = None;
    for i in 0..21 {
        last = Some(
            post_("/v1/auth/sign-in/email-password")
                .json(json!({ "email": format!("spray{i}@example.com"), "password": "spraying passwords" }))
                .ip("203.0.113.9")
                .send(&t.app)
                .await,
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
    // Another IP is unaffected.
    let other = post_("/v1/auth/sign-in/email-password")
        .json(json!({ "email": "spray0@example.com", "password": "spraying passwords" }))
        .ip("203.0.113.10")
        .send(&t.app)
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn security_events_reach_the_audit_table_and_the_hook() {
    let t = app().await;
    sign_up(&t.app, "audit@example.com").await;
    sign_in(&t.app, "audit@example.com", PASSWORD).await;
    sign_in(&t.app, "audit@example.com", "definitely not it").await;
    let kinds = t.audit.kinds();
    assert_eq!(kinds, ["sign_up", "sign_in", "sign_in_failed"]);
    let rows = portcullis::entity::audit_event::Entity::find()
        .all(&t.db)
        .await
        .unwrap();
    let mut stored: Vec<String> = rows.iter().map(|r| r.kind.clone()).collect();
    stored.sort();
    assert_eq!(stored, ["sign_in", "sign_in_failed", "sign_up"]);
    for row in rows {
        assert!(!row.detail.contains(PASSWORD));
        assert!(!row.detail.contains("definitely not it"));
    }
}

#[tokio::test]
async fn the_rust_api_creates_users_under_the_same_rules() {
    let t = app().await;
    let err = t
        .auth
        .users()
        .create(NewUser::new("rust@example.com").password("password1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "weak_password");
    let user = t
        .auth
        .users()
        .create(
            NewUser::new("Rust@Example.com")
                .password(PASSWORD)
                .name("Ferris"),
        )
        .await
        .unwrap();
    assert_eq!(user.email.as_deref(), Some("rust@example.com"));
    let again = t
        .auth
        .users()
        .create(NewUser::new("rust@example.com"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), "email_taken");
    assert_eq!(
        sign_in(&t.app, "rust@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let _ = Duration::ZERO;
}

fn bcrypt_hash(password: &str) -> String {
    // Cost 4 keeps the test fast; the format is what matters.
    bcrypt::hash(password, 4).unwrap()
}

fn scrypt_hash(password: &str) -> String {
    use password_hash::PasswordHasher as _;
    scrypt::Scrypt::new_with_params(scrypt::Params::new(4, 8, 1).unwrap())
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

fn pbkdf2_hash(password: &str) -> String {
    use password_hash::PasswordHasher as _;
    pbkdf2::Pbkdf2::new(
        pbkdf2::Algorithm::Pbkdf2Sha256,
        pbkdf2::Params::new(1000).unwrap(),
    )
    .hash_password(password.as_bytes())
    .unwrap()
    .to_string()
}
