//! Signing keys: the JWKS, rotation, sharing between instances, sealing at rest.

use http::StatusCode;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _, IntoActiveModel as _};

use crate::common::*;

#[tokio::test]
async fn the_jwks_publishes_the_signing_key() {
    let t = app().await;
    let resp = get_("/.well-known/jwks.json").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK);
    let keys = resp.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    for (field, value) in [
        ("kty", "EC"),
        ("crv", "P-256"),
        ("alg", "ES256"),
        ("use", "sig"),
    ] {
        assert_eq!(key[field], value);
    }
    assert_eq!(key["x"].as_str().unwrap().len(), 43);
    assert_eq!(key["y"].as_str().unwrap().len(), 43);
    let token = sign_up(&t.app, "jwks@example.com").await.access_token();
    assert_eq!(header_of(&token)["kid"], key["kid"]);
    assert!(key.get("d").is_none(), "private part published!");
    assert_eq!(
        get_("/healthz").send(&t.app).await.json,
        serde_json::json!({ "ok": true })
    );
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_they_expire() {
    let t = app().await;
    let before = sign_up(&t.app, "rotate@example.com").await.access_token();
    let old_kid = header_of(&before)["kid"].as_str().unwrap().to_owned();
    let new_kid = t.auth.rotate_signing_key().await.unwrap();
    assert_ne!(old_kid, new_kid);

    let after = sign_in(&t.app, "rotate@example.com", PASSWORD)
        .await
        .access_token();
    assert_eq!(header_of(&after)["kid"], new_kid.as_str());
    assert_eq!(hello(&t.app, &before).await, StatusCode::OK);
    assert_eq!(hello(&t.app, &after).await, StatusCode::OK);
    let kids: Vec<String> = get_("/.well-known/jwks.json").send(&t.app).await.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid));

    // Once its last token has expired, the retired key leaves the JWKS.
    let row = portcullis::entity::signing_key::Entity::find_by_id(old_kid.clone())
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    let mut row = row.into_active_model();
    row.publish_until = Set(Some(ago(1)));
    row.update(&t.db).await.unwrap();
    let fresh = app_on(t.db.clone(), |b| b).await;
    let kids = get_("/.well-known/jwks.json").send(&fresh.app).await.json["keys"].to_string();
    assert!(!kids.contains(&old_kid));
    assert!(kids.contains(&new_kid));
}

#[tokio::test]
async fn every_instance_signs_with_the_same_key() {
    let a = app().await;
    let b = app_on(a.db.clone(), |b| b).await;
    let from_a = sign_up(&a.app, "shared@example.com").await.access_token();
    let from_b = sign_in(&b.app, "shared@example.com", PASSWORD)
        .await
        .access_token();
    assert_eq!(header_of(&from_a)["kid"], header_of(&from_b)["kid"]);
    assert_eq!(hello(&b.app, &from_a).await, StatusCode::OK);
    assert_eq!(hello(&a.app, &from_b).await, StatusCode::OK);
}

#[tokio::test]
async fn another_instance_picks_up_a_rotation() {
    let a = app().await;
    let b = app_on(a.db.clone(), |b| b).await;
    a.auth.rotate_signing_key().await.unwrap();
    let token = sign_up(&a.app, "picked@example.com").await.access_token();
    // B has not polled yet: the unknown kid makes it reload the keys once.
    assert_eq!(hello(&b.app, &token).await, StatusCode::OK);
}

/// An instance that polls often still takes a key another instance has just started
/// signing with, the moment a token signed with it arrives: its polls do not use up the
/// reload an unknown `kid` may trigger.
#[tokio::test]
async fn a_busy_poller_takes_a_key_rotated_elsewhere_at_once() {
    let a = app().await;
    let b = app_on(a.db.clone(), |b| {
        b.sessions(|s| s.revocation_poll_interval = std::time::Duration::from_secs(1))
    })
    .await;
    let refresh_token = sign_up(&a.app, "busy@example.com").await.json["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // B polls (and reloads its keys) at one second; its next poll is a second away.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    a.auth.rotate_signing_key().await.unwrap();
    let refreshed = refresh(&a.app, &refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let token = refreshed.access_token();
    assert_eq!(hello(&b.app, &token).await, StatusCode::OK);
}

/// The `kid`s an instance publishes, in order.
async fn published_kids(app: &axum::Router) -> Vec<String> {
    get_("/.well-known/jwks.json").send(app).await.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// With a rotation interval, the instances that find the key due (two, whose clocks run
/// two days ahead of a one-day interval) rotate it exactly once between them; the old key
/// stays published, every instance publishes the same keys within its poll, and tokens
/// signed before and after are both accepted.
#[tokio::test]
async fn a_scheduled_rotation_happens_once_across_instances() {
    let day = std::time::Duration::from_secs(24 * 3600);
    let poll = std::time::Duration::from_millis(200);
    let a = app_with(|b| {
        b.sessions(|s| {
            s.revocation_poll_interval = poll;
            s.signing_key_rotation = Some(day);
        })
    })
    .await;
    let old = published_kids(&a.app).await;
    assert_eq!(old.len(), 1);
    let before = sign_up(&a.app, "scheduled@example.com")
        .await
        .access_token();

    let ahead = |b: portcullis::PortcullisBuilder| {
        b.sessions(|s| {
            s.revocation_poll_interval = poll;
            s.signing_key_rotation = Some(day);
        })
        .__clock_offset(time::Duration::days(2))
    };
    let b = app_on(a.db.clone(), ahead).await;
    let c = app_on(a.db.clone(), ahead).await;
    let mut kids = Vec::new();
    for _ in 0..100 {
        kids = published_kids(&a.app).await;
        if kids.len() > 1 {
            break;
        }
        tokio::time::sleep(poll / 4).await;
    }
    assert_eq!(kids.len(), 2, "not rotated (or rotated twice): {kids:?}");
    assert_eq!(kids[0], old[0], "the retired key left the JWKS");
    // Several more polls: nobody rotates again, and everyone publishes the same keys.
    tokio::time::sleep(poll * 4).await;
    for instance in [&a, &b, &c] {
        assert_eq!(published_kids(&instance.app).await, kids);
    }
    let rotations = [&b, &c]
        .iter()
        .map(|i| {
            i.audit
                .kinds()
                .iter()
                .filter(|k| *k == "signing_key_rotated")
                .count()
        })
        .sum::<usize>();
    assert_eq!(rotations, 1, "exactly one instance rotates");

    let after = sign_in(&a.app, "scheduled@example.com", PASSWORD)
        .await
        .access_token();
    assert_eq!(header_of(&after)["kid"], kids[1].as_str());
    // (Checked on A: to B and C, two days ahead, these tokens expired long ago.)
    assert_eq!(hello(&a.app, &before).await, StatusCode::OK);
    assert_eq!(hello(&a.app, &after).await, StatusCode::OK);
}

/// A rotation interval shorter than a token's life is refused at build.
#[tokio::test]
async fn a_rotation_interval_shorter_than_a_token_is_refused() {
    let db = database().await;
    let err = builder(db)
        .sessions(|s| s.signing_key_rotation = Some(std::time::Duration::from_secs(60)))
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("signing_key_rotation"), "{err}");
}

#[tokio::test]
async fn the_private_key_is_sealed_under_the_secret() {
    let t = app().await;
    let other_secret = portcullis::Secret::from_bytes(vec![7u8; 32]).unwrap();
    let err = portcullis::Portcullis::builder(t.db.clone())
        .public_url(ORIGIN)
        .secret(other_secret)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, portcullis::BuildError::Keys(_)), "{err}");
    assert!(err.to_string().contains("same server secret"), "{err}");
}
