//! Sessions: refresh rotation and its races, replay detection, lifetimes, listing,
//! revocation reaching access tokens, sign-out.

use std::time::Duration;

use http::StatusCode;
use sea_orm::ActiveValue::Set;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn refresh_rotates_the_token_and_keeps_the_session() {
    let t = app().await;
    let grant = sign_up(&t.app, "r@example.com").await;
    let first = grant.refresh_token();
    let next = refresh(&t.app, &first).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    assert_eq!(next.json["session"]["id"], grant.json["session"]["id"]);
    assert_ne!(next.refresh_token(), first);
    assert!(
        next.set_cookie("__client")
            .unwrap()
            .contains(&next.refresh_token())
    );
    assert_eq!(hello(&t.app, &next.access_token()).await, StatusCode::OK);
    // The new token works in turn.
    let third = refresh(&t.app, &next.refresh_token()).await;
    assert_eq!(third.status, StatusCode::OK);
    assert_eq!(
        claims(&third.access_token())["sid"],
        grant.json["session"]["id"]
    );
    // auth_time stays the sign-in time, not the refresh time.
    assert_eq!(
        claims(&third.access_token())["auth_time"],
        claims(&grant.access_token())["auth_time"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_refreshes_inside_the_grace_window_all_land_on_the_same_session() {
    let t = app().await;
    let grant = sign_up(&t.app, "tabs@example.com").await;
    let token = grant.refresh_token();
    let results = parallel(
        &t.app,
        (0..6)
            .map(|_| post_("/v1/auth/sessions/refresh").json(json!({ "refresh_token": token })))
            .collect(),
    )
    .await;
    for resp in &results {
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(resp.json["session"]["id"], grant.json["session"]["id"]);
    }
    // Everyone got the same child token, and it is the live one.
    let children: std::collections::HashSet<String> =
        results.iter().map(Resp::refresh_token).collect();
    assert_eq!(children.len(), 1);
    let child = children.into_iter().next().unwrap();
    assert_eq!(refresh(&t.app, &child).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_replay_after_the_grace_window_revokes_the_whole_session() {
    let t = app_with(|b| b.sessions(|s| s.refresh_grace = Duration::ZERO)).await;
    let grant = sign_up(&t.app, "stolen@example.com").await;
    let stolen = grant.refresh_token();
    let legit = refresh(&t.app, &stolen).await;
    assert_eq!(legit.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(5)).await;

    let replay = refresh(&t.app, &stolen).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.error_code(), "unauthorized");
    // The legitimate holder is cut off too: the family is burnt.
    assert_eq!(
        refresh(&t.app, &legit.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hello(&t.app, &legit.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(t.audit.kinds().contains(&"refresh_token_reuse".to_owned()));
}

#[tokio::test]
async fn an_older_ancestor_is_a_replay_even_inside_the_grace_window() {
    let t = app().await;
    let grant = sign_up(&t.app, "old@example.com").await;
    let t0 = grant.refresh_token();
    let t1 = refresh(&t.app, &t0).await.refresh_token();
    let t2 = refresh(&t.app, &t1).await;
    assert_eq!(t2.status, StatusCode::OK);
    // t0 is two rotations back: never tolerated.
    assert_eq!(refresh(&t.app, &t0).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&t.app, &t2.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_forged_refresh_token_is_refused_without_harming_the_session() {
    let t = app().await;
    let grant = sign_up(&t.app, "forge@example.com").await;
    let real = grant.refresh_token();
    // Same session id, random secret.
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = engine.decode(&real).unwrap();
    for byte in &mut bytes[16..] {
        *byte ^= 0x5a;
    }
    let forged = engine.encode(&bytes);
    for bad in [
        forged.as_str(),
        "",
        "garbage",
        &"A".repeat(64),
        &format!("{real}x"),
    ] {
        let resp = refresh(&t.app, bad).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(resp.error_code(), "unauthorized");
    }
    assert_eq!(refresh(&t.app, &real).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_by_cookie_needs_csrf_proof() {
    let t = app().await;
    let grant = sign_up(&t.app, "cookie@example.com").await;
    let client = grant.cookie("__client").unwrap();

    let bare = post_("/v1/auth/sessions/refresh")
        .cookie(&client)
        .send(&t.app)
        .await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    let evil = post_("/v1/auth/sessions/refresh")
        .cookie(&client)
        .origin("https://evil.example")
        .send(&t.app)
        .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    let cross = post_("/v1/auth/sessions/refresh")
        .cookie(&client)
        .origin(ORIGIN)
        .header("sec-fetch-site", "cross-site")
        .send(&t.app)
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);

    let good = post_("/v1/auth/sessions/refresh")
        .cookie(&client)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text);
    assert!(good.set_cookie("__session").is_some());
    // A form post (wrong content type) never reaches the refresh.
    let form = post_("/v1/auth/sessions/refresh")
        .cookie(&good.cookie("__client").unwrap())
        .origin(ORIGIN)
        .raw("application/x-www-form-urlencoded", "a=b")
        .send(&t.app)
        .await;
    assert_eq!(form.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_dead_refresh_cookie_is_cleared() {
    let t = app().await;
    let grant = sign_up(&t.app, "dead@example.com").await;
    let client = grant.cookie("__client").unwrap();
    t.auth
        .sessions()
        .revoke_all(grant.json["user"]["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    let resp = post_("/v1/auth/sessions/refresh")
        .cookie(&client)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert!(resp.set_cookie("__client").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn idle_and_absolute_lifetimes_end_sessions() {
    let t = app().await;
    let idle = sign_up(&t.app, "idle@example.com").await;
    edit_session(&t.db, idle.json["session"]["id"].as_str().unwrap(), |s| {
        s.idle_expires_at = Set(ago(1))
    })
    .await;
    assert_eq!(
        refresh(&t.app, &idle.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );

    let absolute = sign_in(&t.app, "idle@example.com", PASSWORD).await;
    let sid = absolute.json["session"]["id"].as_str().unwrap().to_owned();
    let before = session_row(&t.db, &sid).await;
    let refreshed = refresh(&t.app, &absolute.refresh_token()).await;
    let after = session_row(&t.db, &sid).await;
    // Rotation slides the idle expiry but never the absolute lifetime.
    assert_eq!(after.expires_at, before.expires_at);
    assert!(after.idle_expires_at > before.idle_expires_at);
    assert_eq!(after.generation, before.generation + 1);
    edit_session(&t.db, &sid, |s| s.expires_at = Set(ago(1))).await;
    assert_eq!(
        refresh(&t.app, &refreshed.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sessions_are_listed_and_one_can_be_revoked() {
    let t = app().await;
    let laptop = sign_up(&t.app, "list@example.com").await;
    let phone = sign_in(&t.app, "list@example.com", PASSWORD).await;
    let token = laptop.access_token();

    let listed = get_("/v1/auth/sessions").bearer(&token).send(&t.app).await;
    assert_eq!(listed.status, StatusCode::OK);
    let sessions = listed.json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<bool> = sessions
        .iter()
        .map(|s| s["current"].as_bool().unwrap())
        .collect();
    assert_eq!(current.iter().filter(|c| **c).count(), 1);
    for key in [
        "id",
        "created_at",
        "last_active_at",
        "expires_at",
        "ip",
        "user_agent",
        "auth_method",
        "active_org_id",
        "current",
    ] {
        assert!(sessions[0].get(key).is_some(), "missing {key}");
    }

    let phone_id = phone.json["session"]["id"].as_str().unwrap();
    let resp = req(
        http::Method::DELETE,
        &format!("/v1/auth/sessions/{phone_id}"),
    )
    .bearer(&token)
    .send(&t.app)
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    // Revocation reaches the phone's access token at once, and its refresh token.
    assert_eq!(
        hello(&t.app, &phone.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&t.app, &phone.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(hello(&t.app, &token).await, StatusCode::OK);
    let listed = get_("/v1/auth/sessions").bearer(&token).send(&t.app).await;
    assert_eq!(listed.json["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn revoking_a_session_checks_the_id_and_the_owner() {
    let t = app().await;
    let alice = sign_up(&t.app, "alice@example.com").await;
    let bob = sign_up(&t.app, "bob@example.com").await;
    let bobs_session = bob.json["session"]["id"].as_str().unwrap();
    let token = alice.access_token();

    let other = req(
        http::Method::DELETE,
        &format!("/v1/auth/sessions/{bobs_session}"),
    )
    .bearer(&token)
    .send(&t.app)
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert_eq!(other.error_code(), "forbidden");
    assert_eq!(hello(&t.app, &bob.access_token()).await, StatusCode::OK);

    let unknown = req(
        http::Method::DELETE,
        &format!("/v1/auth/sessions/{}", uuid::Uuid::now_v7()),
    )
    .bearer(&token)
    .send(&t.app)
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "not_found");

    let bad = req(http::Method::DELETE, "/v1/auth/sessions/not-a-uuid")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "invalid_request");
}

#[tokio::test]
async fn current_session_and_permissions() {
    let t = app().await;
    let grant = sign_up(&t.app, "cur@example.com").await;
    let token = grant.access_token();
    let current = get_("/v1/auth/sessions/current")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(current.json["session"]["id"], grant.json["session"]["id"]);
    assert_eq!(current.json["session"]["current"], true);
    assert_eq!(current.json["user"]["email"], "cur@example.com");

    let perms = get_("/v1/auth/sessions/current/permissions")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(perms.status, StatusCode::OK);
    assert_eq!(
        perms.json,
        json!({ "ok": true, "org_id": null, "org_role": null, "permissions": [] })
    );

    assert_eq!(
        get_("/v1/auth/sessions/current").send(&t.app).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_out_ends_the_current_session_and_clears_cookies() {
    let t = app().await;
    let grant = sign_up(&t.app, "bye@example.com").await;
    let other = sign_in(&t.app, "bye@example.com", PASSWORD).await;
    let resp = post_("/v1/auth/sign-out")
        .bearer(&grant.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    for name in ["__session", "__client"] {
        let cleared = resp.set_cookie(name).unwrap();
        for attribute in ["Max-Age=0", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cleared.contains(attribute), "{cleared}");
        }
    }
    assert_eq!(
        hello(&t.app, &grant.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&t.app, &grant.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The other session lives on.
    assert_eq!(hello(&t.app, &other.access_token()).await, StatusCode::OK);
    assert!(t.audit.kinds().contains(&"sign_out".to_owned()));
}

#[tokio::test]
async fn sign_out_with_session_ids_ends_only_the_callers_listed_sessions() {
    let t = app().await;
    let a = sign_up(&t.app, "multi@example.com").await;
    let b = sign_in(&t.app, "multi@example.com", PASSWORD).await;
    let c = sign_in(&t.app, "multi@example.com", PASSWORD).await;
    let stranger = sign_up(&t.app, "stranger@example.com").await;
    let resp = post_("/v1/auth/sign-out")
        .bearer(&a.access_token())
        .json(json!({ "session_ids": [b.json["session"]["id"], stranger.json["session"]["id"]] }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["revoked"], 1);
    // This browser's session was not listed: its cookies stay.
    assert!(resp.set_cookie("__session").is_none());
    assert_eq!(hello(&t.app, &a.access_token()).await, StatusCode::OK);
    assert_eq!(
        hello(&t.app, &b.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(hello(&t.app, &c.access_token()).await, StatusCode::OK);
    assert_eq!(
        hello(&t.app, &stranger.access_token()).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sign_out_works_with_only_the_refresh_cookie() {
    let t = app().await;
    let grant = sign_up(&t.app, "expired@example.com").await;
    let client = grant.cookie("__client").unwrap();
    let resp = post_("/v1/auth/sign-out")
        .cookie(&client)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json["revoked"], 1);
    assert_eq!(
        refresh(&t.app, &grant.refresh_token()).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Without CSRF proof, another site cannot sign the user out through the cookie.
    let fresh = sign_in(&t.app, "expired@example.com", PASSWORD).await;
    let resp = post_("/v1/auth/sign-out")
        .cookie(&fresh.cookie("__client").unwrap())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refresh(&t.app, &fresh.refresh_token()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sign_out_all_needs_a_fresh_session_and_ends_every_session() {
    let t = app().await;
    let a = sign_up(&t.app, "all@example.com").await;
    let b = sign_in(&t.app, "all@example.com", PASSWORD).await;

    // A session signed in long ago may not do it.
    let stale = sign_in(&t.app, "all@example.com", PASSWORD).await;
    edit_session(&t.db, stale.json["session"]["id"].as_str().unwrap(), |s| {
        s.created_at = Set(ago(3600))
    })
    .await;
    let stale = refresh(&t.app, &stale.refresh_token()).await;
    let resp = post_("/v1/auth/sign-out/all")
        .bearer(&stale.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(hello(&t.app, &b.access_token()).await, StatusCode::OK);

    let resp = post_("/v1/auth/sign-out/all")
        .bearer(&a.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["revoked"], 3);
    for token in [a.access_token(), b.access_token(), stale.access_token()] {
        assert_eq!(hello(&t.app, &token).await, StatusCode::UNAUTHORIZED);
    }
    assert!(resp.set_cookie("__session").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn another_instance_learns_of_a_revocation_within_the_poll_interval() {
    let a =
        app_with(|b| b.sessions(|s| s.revocation_poll_interval = Duration::from_millis(200))).await;
    let b = app_on(a.db.clone(), |b| {
        b.sessions(|s| s.revocation_poll_interval = Duration::from_millis(200))
    })
    .await;
    let grant = sign_up(&a.app, "multi-instance@example.com").await;
    let token = grant.access_token();
    // Instance B verifies A's token without calling A (same keys from the database).
    assert_eq!(hello(&b.app, &token).await, StatusCode::OK);
    let resp = post_("/v1/auth/sign-out").bearer(&token).send(&a.app).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(hello(&a.app, &token).await, StatusCode::UNAUTHORIZED);
    let mut waited = Duration::ZERO;
    while hello(&b.app, &token).await == StatusCode::OK {
        assert!(
            waited < Duration::from_secs(5),
            "instance B never saw the revocation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
}

#[tokio::test]
async fn strict_mode_sees_other_instances_revocations_at_once() {
    let a = app().await;
    let b = app_on(a.db.clone(), |b| b.sessions(|s| s.strict_revocation = true)).await;
    let grant = sign_up(&a.app, "strict@example.com").await;
    let token = grant.access_token();
    assert_eq!(hello(&b.app, &token).await, StatusCode::OK);
    post_("/v1/auth/sign-out").bearer(&token).send(&a.app).await;
    assert_eq!(hello(&b.app, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_record_the_client() {
    let t = app().await;
    let resp = post_("/v1/auth/sign-up/email-password")
        .json(json!({ "email": "client@example.com", "password": PASSWORD }))
        .ip("192.0.2.44")
        .header("user-agent", "TestBrowser/1.0")
        .send(&t.app)
        .await;
    assert_eq!(resp.json["session"]["ip"], "192.0.2.44");
    assert_eq!(resp.json["session"]["user_agent"], "TestBrowser/1.0");
}

/// A sign-out on one instance reaches another before its revocation poll could: on
/// PostgreSQL the revocation is pushed (`NOTIFY`), elsewhere the poll carries it (set short
/// here).
#[tokio::test]
async fn a_sign_out_on_one_instance_is_refused_by_another() {
    let pushed =
        std::env::var("PORTCULLIS_TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres"));
    // With push, the poll is slower than the test is long: only the push can do it.
    let interval = if pushed {
        Duration::from_secs(60)
    } else {
        Duration::from_millis(300)
    };
    let a = app_with(|b| b.sessions(|s| s.revocation_poll_interval = interval)).await;
    let b = app_on(a.db.clone(), |b| {
        b.sessions(|s| s.revocation_poll_interval = interval)
    })
    .await;
    let grant = sign_up(&a.app, "everywhere@example.com").await;
    let token = grant.access_token();
    // Both instances accept the token (and cache it as verified).
    assert_eq!(hello(&b.app, &token).await, StatusCode::OK);
    // Give b's listener time to be listening (it starts with the instance).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        signed_out_everywhere(&a.app, &b.app, &token, Duration::from_secs(5)).await,
        "the other instance still accepts a signed-out token"
    );
}
