//! The admin router: who gets in (admins, re-read on every request), user search and
//! keyset pages, create/read/update/delete, disabling, sessions, impersonation, the audit
//! trail with the acting admin, and the user's own activity.

use std::time::Duration;

use http::{Method, StatusCode};
use portcullis::users::{NewUser, UserRole};
use serde_json::{Value, json};

use crate::common::*;

/// A signed-in admin: (grant, user id).
async fn admin(t: &TestApp, email: &str) -> (Resp, uuid::Uuid) {
    let grant = sign_up(&t.app, email).await;
    let id: uuid::Uuid = grant.json["user"]["id"].as_str().unwrap().parse().unwrap();
    assert!(t.auth.users().set_role(id, UserRole::Admin).await.unwrap());
    (grant, id)
}

async fn user_id(t: &TestApp, email: &str) -> String {
    t.auth
        .users()
        .find_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string()
}

#[tokio::test]
async fn only_admins_get_in_and_a_demotion_counts_at_once() {
    let t = app().await;
    let plain = sign_up(&t.app, "plain@example.com").await;
    assert_eq!(
        get_("/v1/admin/users").send(&t.app).await.status,
        StatusCode::UNAUTHORIZED
    );
    let resp = get_("/v1/admin/users")
        .bearer(&plain.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(resp.error_code(), "forbidden");

    let (grant, id) = admin(&t, "boss@example.com").await;
    let token = grant.access_token();
    let resp = get_("/v1/admin/users").bearer(&token).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    // The same token, a moment after the demotion: refused.
    t.auth.users().set_role(id, UserRole::User).await.unwrap();
    let resp = get_("/v1/admin/users").bearer(&token).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    // A wrong method is the JSON 405, an unknown path the JSON 404.
    let resp = req(Method::PUT, "/v1/admin/users")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);
    let resp = get_("/v1/admin/nothing").bearer(&token).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_pages_have_no_gaps_or_duplicates_while_rows_arrive() {
    let t = app().await;
    let (grant, _) = admin(&t, "boss@example.com").await;
    let token = grant.access_token();
    for i in 0..24 {
        t.auth
            .users()
            .create(NewUser::new(format!("user{i:02}@example.com")).email_verified(i % 2 == 0))
            .await
            .unwrap();
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/admin/users?limit=10&cursor={cursor}"),
            None => "/v1/admin/users?limit=10".to_owned(),
        };
        let page = get_(&path).bearer(&token).send(&t.app).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let users = page.json["users"].as_array().unwrap();
        assert!(users.len() <= 10);
        seen.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        // Someone signs up while the admin pages: newer than the cursor, never in the way.
        t.auth
            .users()
            .create(NewUser::new(format!("late{pages}@example.com")))
            .await
            .unwrap();
        pages += 1;
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "no duplicates");
    assert_eq!(seen.len(), 25, "the 24 users and the admin, no gaps");
    // Newest first.
    assert_eq!(seen[0], user_id(&t, "user23@example.com").await);

    // Search, filters.
    let found = get_("/v1/admin/users?query=USER0")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(
        found.json["users"].as_array().unwrap().len(),
        10,
        "{}",
        found.text
    );
    let user = &found.json["users"][0];
    for field in [
        "role",
        "disabled",
        "last_sign_in_at",
        "has_password",
        "email_verified",
    ] {
        assert!(user.get(field).is_some(), "{field}: {user}");
    }
    let verified = get_("/v1/admin/users?verified=true&limit=100")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(verified.json["users"].as_array().unwrap().len(), 12);
    let none = get_("/v1/admin/users?query=%25_")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(none.json["users"], json!([]), "LIKE characters are literal");
    for bad in [
        "limit=0",
        "limit=101",
        "cursor=nope",
        "verified=maybe",
        "extra=1",
    ] {
        let resp = get_(&format!("/v1/admin/users?{bad}"))
            .bearer(&token)
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{bad}: {}", resp.text);
    }
}

#[tokio::test]
async fn an_admin_creates_reads_and_changes_a_user() {
    let t = app().await;
    let (grant, admin_id) = admin(&t, "boss@example.com").await;
    let token = grant.access_token();
    let created = post_("/v1/admin/users")
        .bearer(&token)
        .json(json!({ "email": "New@Example.com", "name": "Newt", "send_invite": true }))
        .send(&t.app)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["user"]["email"], "new@example.com");
    assert_eq!(created.json["user"]["has_password"], false);
    let id = created.json["user"]["id"].as_str().unwrap().to_owned();
    // The invitation is a link to choose a password.
    let mail = t.email("new@example.com", 1).await;
    assert!(token_in(&mail).len() == 43);
    let taken = post_("/v1/admin/users")
        .bearer(&token)
        .json(json!({ "email": "new@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);

    let changed = req(Method::PATCH, &format!("/v1/admin/users/{id}"))
        .bearer(&token)
        .json(json!({
            "name": "Newton",
            "metadata": { "plan": "pro" },
            "private_metadata": { "risk": "low" },
            "email_verified": true,
        }))
        .send(&t.app)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["user"]["name"], "Newton");
    assert_eq!(changed.json["user"]["email_verified"], true);
    assert_eq!(
        changed.json["user"]["private_metadata"],
        json!({ "risk": "low" })
    );

    let detail = get_(&format!("/v1/admin/users/{id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    for field in ["sessions", "passkeys", "accounts", "memberships"] {
        assert!(detail.json[field].is_array(), "{field}: {}", detail.text);
    }
    assert_eq!(detail.json["mfa"]["totp"], false);
    assert_eq!(detail.json["user"]["metadata"], json!({ "plan": "pro" }));
    assert_eq!(
        get_(&format!("/v1/admin/users/{}", uuid::Uuid::now_v7()))
            .bearer(&token)
            .send(&t.app)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_("/v1/admin/users/not-a-uuid")
            .bearer(&token)
            .send(&t.app)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // Private metadata never reaches the user, who cannot write it either.
    let user = t
        .auth
        .users()
        .find_by_email("new@example.com")
        .await
        .unwrap()
        .unwrap();
    t.auth
        .users()
        .create(NewUser::new("other@example.com").password(PASSWORD))
        .await
        .unwrap();
    let other = sign_in(&t.app, "other@example.com", PASSWORD).await;
    let me = get_("/v1/auth/me")
        .bearer(&other.access_token())
        .send(&t.app)
        .await;
    assert!(
        me.json["user"].get("private_metadata").is_none(),
        "{}",
        me.text
    );
    let write = req(Method::PATCH, "/v1/auth/me")
        .bearer(&other.access_token())
        .json(json!({ "private_metadata": { "risk": "none" } }))
        .send(&t.app)
        .await;
    assert_eq!(write.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        t.auth.users().private_metadata(user.id).await.unwrap(),
        json!({ "risk": "low" })
    );

    // A role change needs a fresh session.
    let stale_admin = stale(&t, &grant).await.access_token();
    let refused = req(Method::PATCH, &format!("/v1/admin/users/{id}"))
        .bearer(&stale_admin)
        .json(json!({ "role": "admin" }))
        .send(&t.app)
        .await;
    assert_eq!(refused.error_code(), "reauthentication_required");
    let bad_role = req(Method::PATCH, &format!("/v1/admin/users/{id}"))
        .bearer(&token)
        .json(json!({ "role": "king" }))
        .send(&t.app)
        .await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);

    // Every admin action names the admin.
    let audit = get_(&format!("/v1/admin/audit?user_id={id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    let events = audit.json["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"admin_user_created"), "{kinds:?}");
    assert!(kinds.contains(&"admin_user_updated"), "{kinds:?}");
    for event in events
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("admin_"))
    {
        assert_eq!(event["actor_id"], admin_id.to_string());
    }
    let by_kind = get_("/v1/admin/audit?kind=admin_user_created")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(by_kind.json["events"].as_array().unwrap().len(), 1);
    let bad = get_("/v1/admin/audit?since=yesterday")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn deleting_a_user_ends_every_session_on_every_instance() {
    let t =
        app_with(|b| b.sessions(|s| s.revocation_poll_interval = Duration::from_millis(300))).await;
    let other = app_on(t.db.clone(), |b| {
        b.sessions(|s| s.revocation_poll_interval = Duration::from_millis(300))
    })
    .await;
    let (grant, admin_id) = admin(&t, "boss@example.com").await;
    let token = grant.access_token();
    let victim = sign_up(&t.app, "gone@example.com").await;
    let victim_token = victim.access_token();
    let id = victim.json["user"]["id"].as_str().unwrap().to_owned();
    // Both instances have seen (and cached) the token.
    assert_eq!(hello(&t.app, &victim_token).await, StatusCode::OK);
    assert_eq!(hello(&other.app, &victim_token).await, StatusCode::OK);

    // A stale admin session may not.
    let stale_admin = stale(&t, &grant).await.access_token();
    let refused = req(Method::DELETE, &format!("/v1/admin/users/{id}"))
        .bearer(&stale_admin)
        .send(&t.app)
        .await;
    assert_eq!(refused.error_code(), "reauthentication_required");

    let deleted = req(Method::DELETE, &format!("/v1/admin/users/{id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(
        hello(&t.app, &victim_token).await,
        StatusCode::UNAUTHORIZED,
        "at once here"
    );
    let mut gone_there = false;
    for _ in 0..40 {
        if hello(&other.app, &victim_token).await == StatusCode::UNAUTHORIZED {
            gone_there = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone_there, "the other instance never heard of the deletion");
    assert_eq!(
        refresh(&t.app, &victim.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        t.auth
            .users()
            .find_by_email("gone@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let again = req(Method::DELETE, &format!("/v1/admin/users/{id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // The audit row stays, naming the admin.
    let audit = get_(&format!("/v1/admin/audit?user_id={id}&kind=user_deleted"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(audit.json["events"][0]["actor_id"], admin_id.to_string());

    // The last owner of an organization with other members stays until they hand it over.
    let owner = sign_up(&t.app, "owner@example.com").await;
    sql(
        &t.db,
        "UPDATE portcullis_users SET email_verified_at = created_at",
    )
    .await;
    let org = post_("/v1/orgs")
        .bearer(&owner.access_token())
        .json(json!({ "name": "Kept" }))
        .send(&t.app)
        .await;
    let org_id = org.json["org"]["id"].as_str().unwrap().to_owned();
    post_(&format!("/v1/orgs/{org_id}/invitations"))
        .bearer(&owner.access_token())
        .json(json!({ "email": "mate@example.com", "role": "member" }))
        .send(&t.app)
        .await;
    let invitation = token_in(&t.email("mate@example.com", 1).await);
    post_("/v1/orgs/invitations/accept")
        .json(json!({ "token": invitation }))
        .send(&t.app)
        .await;
    let owner_id = owner.json["user"]["id"].as_str().unwrap();
    let blocked = req(Method::DELETE, &format!("/v1/admin/users/{owner_id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(blocked.status, StatusCode::CONFLICT, "{}", blocked.text);
}

#[tokio::test]
async fn disabling_and_revoking_sessions() {
    let t = app().await;
    let (grant, _) = admin(&t, "boss@example.com").await;
    let token = grant.access_token();
    let user = sign_up(&t.app, "dis@example.com").await;
    let id = user.json["user"]["id"].as_str().unwrap().to_owned();
    sign_in(&t.app, "dis@example.com", PASSWORD).await;
    let sessions = get_(&format!("/v1/admin/users/{id}/sessions"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(
        sessions.json["sessions"].as_array().unwrap().len(),
        2,
        "{}",
        sessions.text
    );
    let revoked = req(Method::DELETE, &format!("/v1/admin/users/{id}/sessions"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(revoked.json["revoked"], 2, "{}", revoked.text);
    assert_eq!(
        hello(&t.app, &user.access_token()).await,
        StatusCode::UNAUTHORIZED
    );

    let disabled = post_(&format!("/v1/admin/users/{id}/disable"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    assert_eq!(
        sign_in(&t.app, "dis@example.com", PASSWORD)
            .await
            .error_code(),
        "user_disabled"
    );
    let listed = get_("/v1/admin/users?disabled=true")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(listed.json["users"][0]["id"], id);
    post_(&format!("/v1/admin/users/{id}/enable"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(
        sign_in(&t.app, "dis@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn impersonation_is_short_marked_and_seen_by_both() {
    let t = app().await;
    let (grant, admin_id) = admin(&t, "boss@example.com").await;
    let token = grant.access_token();
    let user = sign_up(&t.app, "imp@example.com").await;
    let id = user.json["user"]["id"].as_str().unwrap().to_owned();
    let (_, other_admin) = admin(&t, "boss2@example.com").await;

    let path = format!("/v1/admin/users/{id}/impersonate");
    for body in [json!({}), json!({ "reason": "  " })] {
        let resp = post_(&path).bearer(&token).json(body).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    }
    let resp = post_(&format!("/v1/admin/users/{other_admin}/impersonate"))
        .bearer(&token)
        .json(json!({ "reason": "curious" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "never another admin");

    let resp = post_(&path)
        .bearer(&token)
        .json(json!({ "reason": "ticket 42: cannot see invoices" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert!(resp.json.get("refresh_token").is_none());
    assert!(resp.set_cookie("__client").is_none());
    let as_user = resp.access_token();
    let c = claims(&as_user);
    assert_eq!(c["sub"], id);
    assert_eq!(c["act"]["sub"], admin_id.to_string());
    let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert!(lifetime <= 3600 && lifetime > 300, "{lifetime}");
    // Host code sees who is really acting.
    let who = get_("/who").bearer(&as_user).send(&t.app).await;
    assert_eq!(who.json["impersonator"], admin_id.to_string());
    // No fresh-session action, no step-up, no admin routes.
    let enrol = post_("/v1/auth/me/mfa/totp")
        .bearer(&as_user)
        .send(&t.app)
        .await;
    assert_eq!(enrol.error_code(), "reauthentication_required");
    let step_up = post_("/v1/auth/reauthenticate")
        .bearer(&as_user)
        .json(json!({ "password": PASSWORD }))
        .send(&t.app)
        .await;
    assert_eq!(step_up.status, StatusCode::FORBIDDEN, "{}", step_up.text);
    let key = post_("/v1/auth/me/api-keys")
        .bearer(&as_user)
        .json(json!({ "name": "sneaky" }))
        .send(&t.app)
        .await;
    assert_eq!(key.status, StatusCode::FORBIDDEN);

    // Both users' trails say so; the user sees it in their own activity.
    let activity = get_("/v1/auth/me/activity")
        .bearer(&user.access_token())
        .send(&t.app)
        .await;
    assert_eq!(activity.status, StatusCode::OK, "{}", activity.text);
    let event = activity.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "impersonated")
        .cloned()
        .expect("the user sees the impersonation");
    assert_eq!(event["actor_id"], admin_id.to_string());
    assert_eq!(event["detail"]["reason"], "ticket 42: cannot see invoices");
    let audit = get_(&format!(
        "/v1/admin/audit?user_id={admin_id}&kind=impersonated"
    ))
    .bearer(&token)
    .send(&t.app)
    .await;
    assert_eq!(audit.json["events"][0]["detail"]["target_id"], id);
    // The user's session list shows it.
    let sessions = get_("/v1/auth/sessions")
        .bearer(&user.access_token())
        .send(&t.app)
        .await;
    assert!(
        sessions.json["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["auth_method"] == "impersonation"),
        "{}",
        sessions.text
    );
    let _: Value = sessions.json;
}

#[tokio::test]
async fn listed_addresses_become_admins_once_verified() {
    let t = app_with(|b| b.sign_in(|s| s.admin_emails = vec!["root@example.com".into()])).await;
    let grant = sign_up(&t.app, "root@example.com").await;
    let token = grant.access_token();
    // Not before the address is proven.
    let early = get_("/v1/admin/users").bearer(&token).send(&t.app).await;
    assert_eq!(early.status, StatusCode::FORBIDDEN);
    post_("/v1/auth/email/send-verification")
        .bearer(&token)
        .json(json!({}))
        .send(&t.app)
        .await;
    let verify_token = token_in(&t.email("root@example.com", 1).await);
    let verified = post_("/v1/auth/email/verify")
        .json(json!({ "token": verify_token }))
        .send(&t.app)
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    // At verification: the same session is an admin's now.
    let now = get_("/v1/admin/users").bearer(&token).send(&t.app).await;
    assert_eq!(now.status, StatusCode::OK, "{}", now.text);
    let audit = get_("/v1/admin/audit?kind=user_role_changed")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(audit.json["events"][0]["detail"]["via"], "admin_emails");

    // A verified, listed account that signs in is promoted then too.
    let t = app_with(|b| b.sign_in(|s| s.admin_emails = vec!["later@example.com".into()])).await;
    t.auth
        .users()
        .create(
            NewUser::new("later@example.com")
                .password(PASSWORD)
                .email_verified(true),
        )
        .await
        .unwrap();
    let grant = sign_in(&t.app, "later@example.com", PASSWORD).await;
    let resp = get_("/v1/admin/users")
        .bearer(&grant.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}

#[tokio::test]
async fn an_impersonation_ends_for_good_when_revoked_or_when_its_admin_goes() {
    let t = app().await;
    let (grant, admin_id) = admin(&t, "boss@example.com").await;
    let token = grant.access_token();
    let user = sign_up(&t.app, "target@example.com").await;
    let id = user.json["user"]["id"].as_str().unwrap().to_owned();
    let imp = post_(&format!("/v1/admin/users/{id}/impersonate"))
        .bearer(&token)
        .json(json!({ "reason": "support" }))
        .send(&t.app)
        .await;
    let as_user = imp.access_token();
    let session_id = imp.json["session"]["id"].as_str().unwrap().to_owned();

    // What the admin does as the user is recorded with the admin as the actor.
    let out = post_("/v1/auth/sign-out")
        .bearer(&as_user)
        .send(&t.app)
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    let activity = get_("/v1/auth/me/activity")
        .bearer(&user.access_token())
        .send(&t.app)
        .await;
    let sign_out = activity.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "sign_out")
        .cloned()
        .expect("the sign-out is in the user's trail");
    assert_eq!(sign_out["actor_id"], admin_id.to_string());
    assert_eq!(
        sign_out["ip"],
        Value::Null,
        "the admin's whereabouts stay private"
    );

    // Revoked, it stays dead on an instance that starts long after (its one token lives an
    // hour, longer than an ordinary access token).
    edit_session(&t.db, &session_id, |s| {
        s.revoked_at = sea_orm::ActiveValue::Set(Some(ago(600)));
    })
    .await;
    let late = app_on(t.db.clone(), |b| b).await;
    assert_eq!(hello(&late.app, &as_user).await, StatusCode::UNAUTHORIZED);

    // A demoted admin's impersonations end at once.
    let again = post_(&format!("/v1/admin/users/{id}/impersonate"))
        .bearer(&token)
        .json(json!({ "reason": "support, again" }))
        .send(&t.app)
        .await;
    let as_user = again.access_token();
    assert_eq!(hello(&t.app, &as_user).await, StatusCode::OK);
    t.auth
        .users()
        .set_role(admin_id, UserRole::User)
        .await
        .unwrap();
    assert_eq!(hello(&t.app, &as_user).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn vouching_for_an_address_takes_a_fresh_session_and_keys_can_be_revoked() {
    let t = app().await;
    let (grant, _) = admin(&t, "boss@example.com").await;
    let old = stale(&t, &grant).await.access_token();
    let user = sign_up(&t.app, "vouch@example.com").await;
    let id = user.json["user"]["id"].as_str().unwrap().to_owned();
    let refused = req(Method::PATCH, &format!("/v1/admin/users/{id}"))
        .bearer(&old)
        .json(json!({ "email_verified": true }))
        .send(&t.app)
        .await;
    assert_eq!(refused.error_code(), "reauthentication_required");
    let refused = post_("/v1/admin/users")
        .bearer(&old)
        .json(json!({ "email": "made@example.com", "email_verified": true }))
        .send(&t.app)
        .await;
    assert_eq!(refused.error_code(), "reauthentication_required");

    // The user's keys show in the detail, and an admin revokes them all.
    let key = post_("/v1/auth/me/api-keys")
        .bearer(&user.access_token())
        .json(json!({ "name": "laptop" }))
        .send(&t.app)
        .await;
    let secret = key.json["secret"].as_str().unwrap().to_owned();
    let fresh_admin = sign_in(&t.app, "boss@example.com", PASSWORD)
        .await
        .access_token();
    let detail = get_(&format!("/v1/admin/users/{id}"))
        .bearer(&fresh_admin)
        .send(&t.app)
        .await;
    assert_eq!(detail.json["api_keys"].as_array().unwrap().len(), 1);
    assert!(!detail.text.contains(&secret));
    let revoked = req(Method::DELETE, &format!("/v1/admin/users/{id}/api-keys"))
        .bearer(&fresh_admin)
        .send(&t.app)
        .await;
    assert_eq!(revoked.json["revoked"], 1, "{}", revoked.text);
    assert_eq!(hello(&t.app, &secret).await, StatusCode::UNAUTHORIZED);
    let kinds = t.audit.kinds();
    assert!(kinds.contains(&"admin_user_viewed".to_owned()));
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out_but_another_admin_can() {
    let t = app().await;
    let (grant, id) = admin(&t, "self@example.com").await;
    let token = grant.access_token();
    for request in [
        post_(&format!("/v1/admin/users/{id}/disable")),
        req(Method::DELETE, &format!("/v1/admin/users/{id}")),
        req(Method::PATCH, &format!("/v1/admin/users/{id}")).json(json!({ "role": "user" })),
    ] {
        let resp = request.bearer(&token).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text);
        assert_eq!(resp.error_code(), "conflict");
    }
    // Still an admin, still signed in.
    let resp = get_("/v1/admin/users").bearer(&token).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK);
    let (other, _) = admin(&t, "other@example.com").await;
    let resp = post_(&format!("/v1/admin/users/{id}/disable"))
        .bearer(&other.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}
