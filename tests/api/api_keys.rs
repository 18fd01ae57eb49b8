//! API keys: creation (fresh, interactive sessions only), the secret shown once, what a key
//! may do (its owner's account, scopes, an organization's routes), revocation on every
//! instance, forged and misplaced keys, expiry, owners cut off, per-key throttling.

use std::time::Duration;

use http::{Method, StatusCode};
use portcullis::rate_limit::{Limit, Rule};
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _, IntoActiveModel as _};
use serde_json::{Value, json};

use crate::common::*;

async fn create_key(app: &axum::Router, token: &str, body: Value) -> Resp {
    post_("/v1/auth/me/api-keys")
        .bearer(token)
        .json(body)
        .send(app)
        .await
}

/// A user key: (secret, its ApiKey object).
async fn user_key(app: &axum::Router, token: &str, body: Value) -> (String, Value) {
    let resp = create_key(app, token, body).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    (
        resp.json["secret"].as_str().unwrap().to_owned(),
        resp.json["api_key"].clone(),
    )
}

/// A verified owner with an organization: (owner's grant, org id).
async fn owner_with_org(t: &TestApp, email: &str) -> (Resp, String) {
    let owner = sign_up(&t.app, email).await;
    sql(
        &t.db,
        "UPDATE portcullis_users SET email_verified_at = created_at",
    )
    .await;
    let org = post_("/v1/orgs")
        .bearer(&owner.access_token())
        .json(json!({ "name": "Keyed" }))
        .send(&t.app)
        .await;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.text);
    let id = org.json["org"]["id"].as_str().unwrap().to_owned();
    (owner, id)
}

#[tokio::test]
async fn a_user_key_acts_for_its_owner_and_nothing_interactive() {
    let t = app().await;
    let grant = sign_up(&t.app, "kim@example.com").await;
    let token = grant.access_token();
    let (secret, key) = user_key(&t.app, &token, json!({ "name": "ci" })).await;
    assert!(secret.starts_with("sk_") && secret.len() == 46, "{secret}");
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()));
    assert_eq!(key["name"], "ci");
    assert_eq!(key["user_id"], grant.json["user"]["id"]);
    assert_eq!(key["org_id"], Value::Null);
    assert_eq!(key["scopes"], Value::Null);
    assert_eq!(key["last_used_at"], Value::Null);

    // Listed without the secret.
    let list = get_("/v1/auth/me/api-keys")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(list.json["api_keys"].as_array().unwrap().len(), 1);
    assert!(!list.text.contains(&secret));

    // The key is its owner, to host routes and to GET/PATCH /me.
    let hello_resp = get_("/hello").bearer(&secret).send(&t.app).await;
    assert_eq!(hello_resp.status, StatusCode::OK, "{}", hello_resp.text);
    assert_eq!(hello_resp.json["user_id"], grant.json["user"]["id"]);
    let key_resp = get_("/key").bearer(&secret).send(&t.app).await;
    assert_eq!(key_resp.json["key_id"], key["id"]);
    assert_eq!(
        get_("/key").bearer(&token).send(&t.app).await.status,
        StatusCode::FORBIDDEN
    );
    let me = get_("/v1/auth/me").bearer(&secret).send(&t.app).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    // CSRF-exempt like any bearer request.
    let patched = req(Method::PATCH, "/v1/auth/me")
        .bearer(&secret)
        .json(json!({ "name": "Kim" }))
        .send(&t.app)
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);

    // Nothing that needs a person: sessions, keys, passwords, factors, admin.
    for (method, path) in [
        (Method::GET, "/v1/auth/sessions"),
        (Method::POST, "/v1/auth/me/api-keys"),
        (Method::GET, "/v1/auth/me/api-keys"),
        (Method::POST, "/v1/auth/me/password"),
        (Method::POST, "/v1/auth/me/mfa/totp"),
        (Method::POST, "/v1/auth/sign-out"),
        (Method::GET, "/v1/admin/users"),
        (Method::PATCH, "/v1/orgs/current"),
    ] {
        let resp = req(method.clone(), path)
            .bearer(&secret)
            .json(json!({ "name": "x" }))
            .send(&t.app)
            .await;
        assert_eq!(
            resp.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            resp.text
        );
    }

    // Its use is recorded (off the request path).
    let mut used = false;
    for _ in 0..50 {
        let list = get_("/v1/auth/me/api-keys")
            .bearer(&token)
            .send(&t.app)
            .await;
        if list.json["api_keys"][0]["last_used_at"].is_string() {
            used = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(used, "last_used_at was never written");

    // Creating a key takes a fresh session.
    let old = stale(&t, &grant).await.access_token();
    let refused = create_key(&t.app, &old, json!({ "name": "late" })).await;
    assert_eq!(refused.error_code(), "reauthentication_required");
    for body in [
        json!({}),
        json!({ "name": "" }),
        json!({ "name": "x", "scopes": ["root:everything"] }),
        json!({ "name": "x", "expires_in_days": 0 }),
    ] {
        let resp = create_key(&t.app, &token, body.clone()).await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            resp.text
        );
    }
    assert!(t.audit.kinds().contains(&"api_key_created".to_owned()));
}

#[tokio::test]
async fn scopes_narrow_what_a_key_may_do() {
    let t = app().await;
    let (owner, org_id) = owner_with_org(&t, "sco@example.com").await;
    let token = owner.access_token();
    let (read_only, _) = user_key(
        &t.app,
        &token,
        json!({ "name": "r", "scopes": ["user:read", "org:read"] }),
    )
    .await;
    assert_eq!(
        get_("/v1/auth/me")
            .bearer(&read_only)
            .send(&t.app)
            .await
            .status,
        StatusCode::OK
    );
    let write = req(Method::PATCH, "/v1/auth/me")
        .bearer(&read_only)
        .json(json!({ "name": "no" }))
        .send(&t.app)
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    let org = get_(&format!("/v1/orgs/{org_id}"))
        .bearer(&read_only)
        .send(&t.app)
        .await;
    assert_eq!(org.status, StatusCode::OK, "{}", org.text);
    let members = get_(&format!("/v1/orgs/{org_id}/members"))
        .bearer(&read_only)
        .send(&t.app)
        .await;
    assert_eq!(
        members.status,
        StatusCode::FORBIDDEN,
        "members:read is not in its scopes"
    );
    let create = post_("/v1/orgs")
        .bearer(&read_only)
        .json(json!({ "name": "Nope" }))
        .send(&t.app)
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);

    // Scopes never exceed the owner: a member's key with org:update cannot update.
    let (unscoped, _) = user_key(&t.app, &token, json!({ "name": "all" })).await;
    let renamed = req(Method::PATCH, &format!("/v1/orgs/{org_id}"))
        .bearer(&unscoped)
        .json(json!({ "name": "Renamed" }))
        .send(&t.app)
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
}

#[tokio::test]
async fn an_organization_key_acts_as_the_organization_with_exactly_its_scopes() {
    let t = app().await;
    let (owner, org_id) = owner_with_org(&t, "orgkey@example.com").await;
    let token = owner.access_token();
    let resp = post_(&format!("/v1/orgs/{org_id}/api-keys"))
        .bearer(&token)
        .json(json!({ "name": "reporting", "scopes": ["org:read", "members:read"] }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    let secret = resp.json["secret"].as_str().unwrap().to_owned();
    assert_eq!(resp.json["api_key"]["org_id"], org_id);
    assert_eq!(
        resp.json["api_key"]["scopes"],
        json!(["members:read", "org:read"])
    );

    let key = get_("/key").bearer(&secret).send(&t.app).await;
    assert_eq!(key.json["org_id"], org_id);
    assert_eq!(key.json["user_id"], org_id, "it acts as the organization");
    assert_eq!(
        get_(&format!("/v1/orgs/{org_id}/members"))
            .bearer(&secret)
            .send(&t.app)
            .await
            .status,
        StatusCode::OK
    );
    let update = req(Method::PATCH, &format!("/v1/orgs/{org_id}"))
        .bearer(&secret)
        .json(json!({ "name": "Hijacked" }))
        .send(&t.app)
        .await;
    assert_eq!(update.status, StatusCode::FORBIDDEN);
    // Another organization does not exist for it.
    let (_, other_org) = owner_with_org(&t, "else@example.com").await;
    let elsewhere = get_(&format!("/v1/orgs/{other_org}"))
        .bearer(&secret)
        .send(&t.app)
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    // The account routes are not its.
    assert_eq!(
        get_("/v1/auth/me")
            .bearer(&secret)
            .send(&t.app)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Scopes beyond the creator's role are refused; a member cannot make keys at all.
    let too_much = post_(&format!("/v1/orgs/{org_id}/api-keys"))
        .bearer(&token)
        .json(json!({ "name": "x", "scopes": ["root:all"] }))
        .send(&t.app)
        .await;
    assert_eq!(too_much.status, StatusCode::BAD_REQUEST);
    let listed = get_(&format!("/v1/orgs/{org_id}/api-keys"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(listed.json["api_keys"].as_array().unwrap().len(), 1);

    // Deleting the organization ends its keys.
    let key_id = listed.json["api_keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = req(
        Method::DELETE,
        &format!("/v1/orgs/{org_id}/api-keys/{key_id}"),
    )
    .bearer(&token)
    .send(&t.app)
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(hello(&t.app, &secret).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_revoked_key_dies_at_once_here_and_soon_everywhere() {
    let t =
        app_with(|b| b.sessions(|s| s.revocation_poll_interval = Duration::from_millis(300))).await;
    let other = app_on(t.db.clone(), |b| {
        b.sessions(|s| s.revocation_poll_interval = Duration::from_millis(300))
    })
    .await;
    let grant = sign_up(&t.app, "rev@example.com").await;
    let token = grant.access_token();
    let (secret, key) = user_key(&t.app, &token, json!({ "name": "two" })).await;
    assert_eq!(hello(&t.app, &secret).await, StatusCode::OK);
    assert_eq!(
        hello(&other.app, &secret).await,
        StatusCode::OK,
        "cached there too"
    );

    let id = key["id"].as_str().unwrap();
    let someone = sign_up(&t.app, "someone@example.com").await;
    let not_theirs = req(Method::DELETE, &format!("/v1/auth/me/api-keys/{id}"))
        .bearer(&someone.access_token())
        .send(&t.app)
        .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
    let revoked = req(Method::DELETE, &format!("/v1/auth/me/api-keys/{id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(
        hello(&t.app, &secret).await,
        StatusCode::UNAUTHORIZED,
        "at once here"
    );
    let mut dead_there = false;
    for _ in 0..40 {
        if hello(&other.app, &secret).await == StatusCode::UNAUTHORIZED {
            dead_there = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dead_there,
        "the other instance never heard of the revocation"
    );
    assert!(t.audit.kinds().contains(&"api_key_revoked".to_owned()));
}

#[tokio::test]
async fn forged_misplaced_expired_and_orphaned_keys_authenticate_nobody() {
    let t = app().await;
    let grant = sign_up(&t.app, "forge@example.com").await;
    let token = grant.access_token();
    let (secret, key) = user_key(
        &t.app,
        &token,
        json!({ "name": "real", "expires_in_days": 30 }),
    )
    .await;
    assert!(key["expires_at"].is_string());
    let mut flipped = secret.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for forged in [
        "sk_".to_owned(),
        secret[..secret.len() - 1].to_owned(),
        format!("{secret}x"),
        flipped,
        "sk_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!".to_owned(),
    ] {
        assert_eq!(
            hello(&t.app, &forged).await,
            StatusCode::UNAUTHORIZED,
            "{forged}"
        );
    }
    // Never from a cookie (nor a URL: nothing reads one).
    let cookie = get_("/hello")
        .cookie(&format!("__session={secret}"))
        .send(&t.app)
        .await;
    assert_eq!(cookie.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_(&format!("/hello?api_key={secret}"))
            .send(&t.app)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Past its expiry (in a fresh instance, whose cache has not seen it).
    for row in portcullis::entity::api_key::Entity::find()
        .all(&t.db)
        .await
        .unwrap()
    {
        let mut row = row.into_active_model();
        row.expires_at = Set(Some(ago(1)));
        row.update(&t.db).await.unwrap();
    }
    let fresh = app_on(t.db.clone(), |b| b).await;
    assert_eq!(hello(&fresh.app, &secret).await, StatusCode::UNAUTHORIZED);

    // An owner disabled, or deleted, takes their keys along.
    let (secret2, _) = user_key(&t.app, &token, json!({ "name": "second" })).await;
    assert_eq!(hello(&t.app, &secret2).await, StatusCode::OK);
    let user = t
        .auth
        .users()
        .find_by_email("forge@example.com")
        .await
        .unwrap()
        .unwrap();
    t.auth.users().disable(user.id).await.unwrap();
    assert_eq!(hello(&t.app, &secret2).await, StatusCode::UNAUTHORIZED);
    t.auth.users().enable(user.id).await.unwrap();
    let back = sign_in(&t.app, "forge@example.com", PASSWORD).await;
    let (secret3, _) = user_key(&t.app, &back.access_token(), json!({ "name": "third" })).await;
    assert_eq!(hello(&t.app, &secret3).await, StatusCode::OK);
    assert!(t.auth.users().delete(user.id).await.unwrap());
    assert_eq!(hello(&t.app, &secret3).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_key_has_its_own_rate_limit() {
    let t = app_with(|b| {
        b.requests(|r| r.rate_limit = true)
            .limit(Limit::ApiKeyRequests, Rule::new(3, Duration::from_secs(60)))
    })
    .await;
    let grant = sign_up(&t.app, "busy@example.com").await;
    let (secret, _) = user_key(&t.app, &grant.access_token(), json!({ "name": "loop" })).await;
    for _ in 0..3 {
        assert_eq!(hello(&t.app, &secret).await, StatusCode::OK);
    }
    let throttled = get_("/hello").bearer(&secret).send(&t.app).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.text
    );
    assert_eq!(throttled.error_code(), "rate_limited");
    assert!(throttled.headers.get("retry-after").is_some());
    // The owner's session is not the key.
    assert_eq!(hello(&t.app, &grant.access_token()).await, StatusCode::OK);
}

#[tokio::test]
async fn what_a_key_is_not() {
    let t = app().await;
    let (owner, org_id) = owner_with_org(&t, "not@example.com").await;
    let token = owner.access_token();
    let (secret, _) = user_key(
        &t.app,
        &token,
        json!({ "name": "k", "scopes": ["user:read"] }),
    )
    .await;
    assert_eq!(hello(&t.app, &secret).await, StatusCode::OK);
    // Its cache entry (under the key's SHA-256) is no access token.
    let hash = {
        use std::fmt::Write as _;
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
        digest.as_ref().iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    assert_eq!(
        hello(&t.app, &format!("sk:{hash}")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_("/hello")
            .cookie(&format!("__session=sk:{hash}"))
            .send(&t.app)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Never a step-up, whatever the session that made it proved.
    let aal2 = get_("/aal2").bearer(&secret).send(&t.app).await;
    assert_eq!(aal2.status, StatusCode::FORBIDDEN);
    // A scoped key without org:read lists no organizations.
    let listed = get_("/v1/orgs").bearer(&secret).send(&t.app).await;
    assert_eq!(listed.status, StatusCode::FORBIDDEN);
    // An organization key is made from a fresh session only.
    let old = stale(&t, &owner).await.access_token();
    let refused = post_(&format!("/v1/orgs/{org_id}/api-keys"))
        .bearer(&old)
        .json(json!({ "name": "late" }))
        .send(&t.app)
        .await;
    assert_eq!(refused.error_code(), "reauthentication_required");
}

#[tokio::test]
async fn a_password_reset_ends_keys_made_a_moment_before() {
    let t = app().await;
    let grant = sign_up(&t.app, "reset@example.com").await;
    let (secret, _) = user_key(&t.app, &grant.access_token(), json!({ "name": "old" })).await;
    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "reset@example.com" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("reset@example.com", 1).await);
    let done = post_("/v1/auth/password/reset")
        .json(json!({ "token": token, "password": "an entirely new passphrase" }))
        .send(&t.app)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    // Here, and on an instance that never saw the key (the database decides there).
    assert_eq!(hello(&t.app, &secret).await, StatusCode::UNAUTHORIZED);
    let fresh = app_on(t.db.clone(), |b| b).await;
    assert_eq!(hello(&fresh.app, &secret).await, StatusCode::UNAUTHORIZED);
    let list = get_("/v1/auth/me/api-keys")
        .bearer(
            &sign_in(&t.app, "reset@example.com", "an entirely new passphrase")
                .await
                .access_token(),
        )
        .send(&t.app)
        .await;
    assert_eq!(list.json["api_keys"], json!([]));
}
