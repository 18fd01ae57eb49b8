//! The durable outbox: an email survives a mail server that refuses for a while and a
//! restart between the request and the delivery, is sent once with one stable message id,
//! and is never sent after its link expired.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use http::StatusCode;
use portcullis::{
    delivery::{Email, MailError, Mailer, MemoryMailer},
    entity::outbox_message,
};
use sea_orm::{DatabaseConnection, EntityTrait as _};
use serde_json::json;

use crate::common::*;

/// Refuses the first `refusals` attempts (as a mail server that is down), then delivers
/// into `mailbox`; remembers every attempt's message id.
#[derive(Debug, Clone)]
struct Flaky {
    refusals: Arc<Mutex<usize>>,
    attempts: Arc<Mutex<Vec<Option<String>>>>,
    mailbox: MemoryMailer,
}

impl Flaky {
    fn new(refusals: usize) -> Self {
        Self {
            refusals: Arc::new(Mutex::new(refusals)),
            attempts: Arc::default(),
            mailbox: MemoryMailer::new(),
        }
    }
}

#[async_trait::async_trait]
impl Mailer for Flaky {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.attempts.lock().unwrap().push(email.message_id.clone());
        {
            let mut refusals = self.refusals.lock().unwrap();
            if *refusals > 0 {
                *refusals -= 1;
                return Err(MailError("421 service not available".into()));
            }
        }
        self.mailbox.send(email).await
    }
}

async fn outbox(db: &DatabaseConnection) -> Vec<outbox_message::Model> {
    outbox_message::Entity::find().all(db).await.unwrap()
}

/// Waits until the outbox holds a message that was attempted and failed at least once.
async fn until_attempted(db: &DatabaseConnection) -> outbox_message::Model {
    for _ in 0..200 {
        if let Some(row) = outbox(db).await.into_iter().find(|row| row.attempts >= 1) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no attempted message in the outbox: {:?}", outbox(db).await);
}

async fn forgot(app: &axum::Router, email: &str) {
    let resp = post_("/v1/auth/password/forgot")
        .json(json!({ "email": email }))
        .send(app)
        .await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn a_reset_email_survives_a_mail_server_that_refuses_for_a_while() {
    let mailer = Flaky::new(2);
    let t = app_with({
        let mailer = mailer.clone();
        move |b| b.mailer(mailer)
    })
    .await;
    sign_up(&t.app, "patient@example.com").await;
    forgot(&t.app, "patient@example.com").await;

    // Refused twice (retried after 1 s, then 2 s), delivered on the third attempt.
    let email = mailer
        .mailbox
        .wait_for("patient@example.com", 1, Duration::from_secs(20))
        .await
        .expect("the reset email never arrived");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mailer.mailbox.sent_to("patient@example.com").len(),
        1,
        "sent twice"
    );
    let attempts = mailer.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(attempts[0].is_some(), "no message id");
    assert!(
        attempts.iter().all(|id| *id == attempts[0]),
        "the id changed: {attempts:?}"
    );
    assert_eq!(email.message_id, attempts[0]);
    // Each refusal is audited; the message is recorded as sent.
    let failures = t
        .audit
        .kinds()
        .iter()
        .filter(|kind| *kind == "email_delivery_failed")
        .count();
    assert_eq!(failures, 2);
    let rows = outbox(&t.db).await;
    let row = rows
        .iter()
        .find(|row| row.kind == "password_reset")
        .unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 3));
    // The stored message is sealed: the link is not readable from the table.
    let token = token_in(&email);
    assert!(!row.payload.0.contains(&token));

    // And the link it carried works.
    let reset = post_("/v1/auth/password/reset")
        .json(json!({ "token": token, "password": "a brand new passphrase 42" }))
        .send(&t.app)
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
}

#[tokio::test]
async fn a_restart_between_the_request_and_the_delivery_loses_nothing() {
    // The first instance cannot reach its mail server at all.
    let down = Flaky::new(usize::MAX);
    let first = app_with({
        let down = down.clone();
        move |b| b.mailer(down)
    })
    .await;
    sign_up(&first.app, "restart@example.com").await;
    forgot(&first.app, "restart@example.com").await;
    until_attempted(&first.db).await;
    first.auth.shutdown().await;
    let db = first.db.clone();
    drop(first);

    // The next instance (same database, same secret) delivers it, once.
    let second = app_on(db, |b| b).await;
    let email = second.email("restart@example.com", 1).await;
    second.assert_no_more_email("restart@example.com", 1).await;
    let reset = post_("/v1/auth/password/reset")
        .json(json!({ "token": token_in(&email), "password": "a brand new passphrase 42" }))
        .send(&second.app)
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
}

#[tokio::test]
async fn a_message_whose_link_expired_is_dropped_not_sent_late() {
    let down = Flaky::new(usize::MAX);
    let first = app_with({
        let down = down.clone();
        move |b| b.mailer(down)
    })
    .await;
    sign_up(&first.app, "late@example.com").await;
    forgot(&first.app, "late@example.com").await;
    until_attempted(&first.db).await;
    first.auth.shutdown().await;
    let db = first.db.clone();
    drop(first);

    // Two hours later (a reset link lives one), the mail server is back.
    let later = app_on(db.clone(), |b| b.__clock_offset(time::Duration::hours(2))).await;
    let mut dropped = false;
    for _ in 0..200 {
        if outbox(&db).await.iter().any(|row| row.status == "dropped") {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dropped, "{:?}", outbox(&db).await);
    later.assert_no_more_email("late@example.com", 0).await;
    assert!(later.audit.kinds().contains(&"message_expired".to_owned()));
}
