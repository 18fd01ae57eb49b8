//! The database going away: our routes answer 503 `unavailable` with `Retry-After` within
//! the pool's two-second budget (not sqlx's thirty), the layer keeps serving verified
//! tokens, repeated outages open the breaker (503 at once), and everything recovers by
//! itself when the database is back, with nothing half-written.
//!
//! On PostgreSQL and MariaDB the connection runs through a TCP relay the test cuts and
//! restores; on SQLite (in memory) the pool is closed, which cannot be undone.

use std::time::{Duration, Instant};

use http::{StatusCode, header};
use sea_orm::{ConnectionTrait as _, Database};
use serde_json::json;

use crate::{common::*, relay::Relay};

/// A fresh database on the test server, reached through a relay: (its URL, the relay).
async fn database_behind_relay(server: &str) -> (String, Relay) {
    let server = server.trim_end_matches('/');
    let name = format!("pt_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(server).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    // scheme://user@host:port → scheme://user@<relay>/name
    let (scheme_and_user, host_port) = server.rsplit_once('@').unwrap();
    let relay = Relay::start(host_port.to_owned()).await;
    (format!("{scheme_and_user}@{}/{name}", relay.addr), relay)
}

fn assert_unavailable(response: &Resp) {
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.text
    );
    assert_eq!(response.json["error"], "unavailable");
    let wait: u64 = response.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
}

#[tokio::test]
async fn a_database_outage_answers_503_quickly_opens_the_breaker_and_recovers() {
    let server = std::env::var("PORTCULLIS_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let (db, relay) = match &server {
        Some(server) => {
            let (url, relay) = database_behind_relay(server).await;
            let db = Database::connect(portcullis::connect_options(&url))
                .await
                .unwrap();
            (db, Some(relay))
        }
        None => (
            Database::connect(portcullis::connect_options("sqlite::memory:"))
                .await
                .unwrap(),
            None,
        ),
    };
    portcullis::migrate(&db).await.unwrap();
    let t = app_on(db, |b| b).await;
    let grant = sign_up(&t.app, "outage@example.com").await;
    let (token, refresh) = (grant.access_token(), grant.refresh_token());

    // The database goes away.
    match &relay {
        Some(relay) => relay.cut(),
        None => t.db.close_by_ref().await.unwrap(),
    }
    let started = Instant::now();
    let me = get_("/v1/auth/me").bearer(&token).send(&t.app).await;
    let waited = started.elapsed();
    assert_unavailable(&me);
    // The budget is the pool's two seconds (connect, acquire); sqlx alone waits thirty.
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    // A refresh refused now must leave the session usable later.
    let refused = post_("/v1/auth/sessions/refresh")
        .json(json!({ "refresh_token": refresh }))
        .send(&t.app)
        .await;
    assert_unavailable(&refused);
    // Host routes behind the layer keep serving the tokens it can verify alone.
    let hello = get_("/hello").bearer(&token).send(&t.app).await;
    assert_eq!(hello.status, StatusCode::OK);
    assert_unavailable(&get_("/readyz").send(&t.app).await);

    // Repeated outages open the breaker: the answer comes at once, from the breaker.
    let mut from_breaker = None;
    for _ in 0..5 {
        let me = get_("/v1/auth/me").bearer(&token).send(&t.app).await;
        assert_unavailable(&me);
        if me.json["message"]
            .as_str()
            .unwrap()
            .contains("database is unreachable")
        {
            from_breaker = Some(me);
            break;
        }
    }
    assert!(from_breaker.is_some(), "the breaker never opened");
    // Organizations, like every router of ours, are behind it too.
    assert_unavailable(&get_("/v1/orgs").bearer(&token).send(&t.app).await);

    let Some(relay) = relay else {
        return; // A closed SQLite pool cannot come back.
    };
    relay.restore();
    // The probe sees the database and closes the breaker; nobody restarts anything.
    let mut back = false;
    for _ in 0..120 {
        if get_("/v1/auth/me").bearer(&token).send(&t.app).await.status == StatusCode::OK {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(back, "never recovered");
    assert_eq!(get_("/readyz").send(&t.app).await.status, StatusCode::OK);
    let renewed = post_("/v1/auth/sessions/refresh")
        .json(json!({ "refresh_token": refresh }))
        .send(&t.app)
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
}

/// A mailer that takes its time, as a real SMTP server does.
#[derive(Debug, Clone)]
struct SlowMailer(portcullis::delivery::MemoryMailer);

#[async_trait::async_trait]
impl portcullis::delivery::Mailer for SlowMailer {
    async fn send(
        &self,
        email: &portcullis::delivery::Email,
    ) -> Result<(), portcullis::delivery::MailError> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.0.send(email).await
    }
}

#[tokio::test]
async fn shutdown_waits_for_the_emails_already_handed_over() {
    let mailbox = portcullis::delivery::MemoryMailer::new();
    let t = app_with({
        let mailbox = mailbox.clone();
        move |b| b.mailer(SlowMailer(mailbox))
    })
    .await;
    sign_up(&t.app, "leaving@example.com").await;
    let forgot = post_("/v1/auth/password/forgot")
        .json(json!({ "email": "leaving@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(forgot.status, StatusCode::OK);
    // The answer did not wait for the mailer.
    assert!(mailbox.sent_to("leaving@example.com").is_empty());
    t.auth.shutdown().await;
    // The shutdown did.
    assert_eq!(
        mailbox.sent_to("leaving@example.com").len(),
        1,
        "the reset email was lost"
    );
    // Shutting down again (another clone of the handle) is harmless.
    t.auth.clone().shutdown().await;
}
