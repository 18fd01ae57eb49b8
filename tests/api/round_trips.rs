//! How many statements the hot routes send to the database: reading the account is one
//! statement whatever it holds (JOINs, no N+1), and each write path keeps to the few its
//! safety needs. Each statement is a round trip (to sqlx's SQLite worker thread, or over
//! the network), which is what these routes' time is made of.

use std::sync::{Arc, Mutex};

use http::StatusCode;
use sea_orm::ConnectionTrait as _;
use serde_json::json;

use crate::common::*;
use crate::passkeys::{Device, register};

tokio::task_local! {
    /// Set while a counted request runs.
    static COUNTING: ();
}

/// The statements the requests sent through the app's database handle since the last
/// `take`.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<Vec<String>>>);

impl Statements {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn counted() -> (TestApp, Statements) {
    let mut db = database().await;
    let seen = Statements::default();
    let sink = seen.clone();
    db.set_metric_callback(move |info| {
        // Only the request's own statements: background tasks (the outbox's delivery, the
        // sweeps, the revocation poll) share the handle but not the request's task.
        if COUNTING.try_with(|()| ()).is_ok() {
            sink.0.lock().unwrap().push(info.statement.sql.clone());
        }
    });
    (app_on(db, |b| b).await, seen)
}

/// Asserts that `request` succeeds and sends exactly `expected` statements.
async fn statements_of(t: &TestApp, seen: &Statements, request: Req, expected: usize) -> Resp {
    seen.take();
    let resp = COUNTING.scope((), request.send(&t.app)).await;
    assert!(resp.status.is_success(), "{}", resp.text);
    let sent = seen.take();
    assert_eq!(sent.len(), expected, "{}", sent.join("\n"));
    resp
}

#[tokio::test]
async fn reading_the_account_is_one_statement_however_much_it_holds() {
    let (t, seen) = counted().await;
    let grant = sign_up(&t.app, "reader@example.com").await;
    let token = grant.access_token();
    // Two organizations, two passkeys, three sessions: more rows, not more statements.
    for name in ["Acme", "Globex"] {
        let resp = post_("/v1/orgs")
            .bearer(&token)
            .json(json!({ "name": name }))
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    }
    for _ in 0..2 {
        register(&t.app, &token, &mut Device::new()).await;
    }
    for _ in 0..2 {
        sign_in(&t.app, "reader@example.com", PASSWORD).await;
    }

    let me = statements_of(&t, &seen, get_("/v1/auth/me").bearer(&token), 1).await;
    assert_eq!(
        me.json["memberships"].as_array().unwrap().len(),
        2,
        "{}",
        me.text
    );
    statements_of(
        &t,
        &seen,
        get_("/v1/auth/sessions/current").bearer(&token),
        1,
    )
    .await;
    let sessions = statements_of(&t, &seen, get_("/v1/auth/sessions").bearer(&token), 1).await;
    assert_eq!(
        sessions.json["sessions"].as_array().unwrap().len(),
        3,
        "{}",
        sessions.text
    );
    let passkeys = statements_of(&t, &seen, get_("/v1/auth/me/passkeys").bearer(&token), 1).await;
    assert_eq!(
        passkeys.json["passkeys"].as_array().unwrap().len(),
        2,
        "{}",
        passkeys.text
    );
}

#[tokio::test]
async fn a_refresh_reads_once_and_rotates_once() {
    let (t, seen) = counted().await;
    let grant = sign_up(&t.app, "refresher@example.com").await;
    let mut token = grant.refresh_token();
    for _ in 0..3 {
        let resp = statements_of(
            &t,
            &seen,
            post_("/v1/auth/sessions/refresh").json(json!({ "refresh_token": token })),
            2,
        )
        .await;
        token = resp.refresh_token();
    }
}

#[tokio::test]
async fn a_passkey_sign_in_keeps_to_the_statements_its_checks_need() {
    let (t, seen) = counted().await;
    let grant = sign_up(&t.app, "holder@example.com").await;
    let mut device = Device::new();
    register(&t.app, &grant.access_token(), &mut device).await;
    let begun = post_("/v1/auth/passkeys/authenticate/begin")
        .json(json!({ "email": "holder@example.com" }))
        .send(&t.app)
        .await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.text);
    let credential = device.get(&begun.json["options"]);
    // The ceremony consumed (and read), the passkey with its owner's handle, the user;
    // then in one transaction the counter, the session, the sign-in time (and the row as
    // it is now, for a disable that raced this sign-in), the audit row. Without
    // `RETURNING` (MySQL) consuming and re-reading are a statement each more.
    let expected = if t.db.support_returning() { 7 } else { 9 };
    let signed_in = statements_of(
        &t,
        &seen,
        post_("/v1/auth/passkeys/authenticate/complete")
            .json(json!({ "challenge_id": begun.json["challenge_id"], "credential": credential })),
        expected,
    )
    .await;
    assert!(
        signed_in.json["access_token"].is_string(),
        "{}",
        signed_in.text
    );
}
