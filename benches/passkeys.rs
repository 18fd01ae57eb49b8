//! What a passkey sign-in costs beyond the WebAuthn check itself, as a ratio measured in
//! the same run.
//!
//! ```sh
//! cargo bench --bench passkeys
//! ```
//!
//! - **Baseline**: webauthn-rs `finish_passkey_authentication` for the same credential:
//!   the client data, origin, RP id hash, flags, counter and the ES256 signature.
//! - **portcullis**: `POST /passkeys/authenticate/complete` through the router on SQLite
//!   (a file in WAL mode, opened with `connect_options`): the ceremony row consumed, the
//!   passkey looked up, the same check, the counter recorded, a session written and a grant
//!   signed, the audit row.
//! - **one statement**: `SELECT 1` through the same pool, the unit the route's database work
//!   is made of (each statement is a round trip to sqlx's SQLite worker thread).
//!
//! - **the route's statements**: each statement the route sends, with its mean time as
//!   sea-orm sees it (round trip included), from a run of its own after the rounds: the
//!   part of the route's time the database takes.
//!
//! Both sides get a fresh assertion from webauthn-rs's software authenticator each time;
//! making it (and, for portcullis, `begin`) is outside the measured time.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};
use std::time::{Duration, Instant};

use axum::{Router, body::Body};
use http::Request;
use http_body_util::BodyExt as _;
use portcullis::{Portcullis, Secret, entity::passkey};
use sea_orm::{ConnectionTrait as _, EntityTrait as _};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use webauthn_authenticator_rs::{
    prelude::{RequestChallengeResponse, Url, WebauthnAuthenticator as _},
    softpasskey::SoftPasskey,
};
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, WebauthnBuilder};

mod common;
use common::{interleaved, json_post};

const ORIGIN: &str = "http://localhost:3000";

/// The statements sent while `RECORDING` is on: a label (verb and table) and the time.
static SENT: Mutex<Vec<(String, Duration)>> = Mutex::new(Vec::new());
static RECORDING: AtomicBool = AtomicBool::new(false);

fn label(sql: &str) -> String {
    let verb = sql.split_whitespace().next().unwrap_or("?");
    let table = sql
        .split('"')
        .find(|part| part.starts_with("portcullis_"))
        .unwrap_or("?");
    format!("{verb} {table}")
}

async fn call(app: &Router, request: Request<Body>) -> Value {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let origin = Url::parse(ORIGIN).unwrap();
    let mut device = SoftPasskey::new(true);

    let db_path =
        std::env::temp_dir().join(format!("portcullis-passkeys-{}.db", std::process::id()));
    // An account with one passkey, registered through the routes.
    let (app, stored, db) = rt.block_on(async {
        // A file in WAL mode, opened as the README recommends (`connect_options`): an
        // in-memory database is a shared-cache one in sqlx, which is not what runs.
        let mut db = sea_orm::Database::connect(portcullis::connect_options(&format!(
            "sqlite://{}?mode=rwc",
            db_path.display()
        )))
        .await
        .unwrap();
        db.set_metric_callback(|info| {
            if RECORDING.load(Ordering::Relaxed) {
                let sent = (label(&info.statement.sql), info.elapsed);
                SENT.lock().unwrap().push(sent);
            }
        });
        portcullis::migrate(&db).await.unwrap();
        let auth = Portcullis::builder(db.clone())
            .secret(Secret::generate())
            .requests(|r| r.rate_limit = false)
            .build()
            .await
            .unwrap();
        let app = Router::new()
            .nest("/v1/auth", auth.router())
            .layer(auth.session_layer());
        let grant = call(
            &app,
            json_post(
                "/v1/auth/sign-up/email-password",
                &json!({ "email": "bench@example.com", "password": "correct horse battery staple" }),
            ),
        )
        .await;
        let token = grant["access_token"].as_str().unwrap().to_owned();
        let bearer = |request: Request<Body>| {
            let (mut parts, body) = request.into_parts();
            parts
                .headers
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            Request::from_parts(parts, body)
        };
        let begun = call(
            &app,
            bearer(json_post("/v1/auth/me/passkeys/register/begin", &json!({}))),
        )
        .await;
        let ccr = serde_json::from_value(json!({ "publicKey": begun["options"] })).unwrap();
        let credential = device.do_registration(origin.clone(), ccr).unwrap();
        call(
            &app,
            bearer(json_post(
                "/v1/auth/me/passkeys/register/complete",
                &json!({ "credential": credential }),
            )),
        )
        .await;
        let row = passkey::Entity::find().one(&db).await.unwrap().unwrap();
        let stored: Passkey = serde_json::from_str(&row.passkey).unwrap();
        (app, stored, db)
    });
    let device = std::cell::RefCell::new(device);

    let webauthn = WebauthnBuilder::new("localhost", &origin)
        .unwrap()
        .build()
        .unwrap();
    let baseline = |iters: u64| {
        let mut spent = Duration::ZERO;
        for _ in 0..iters {
            let (rcr, state) = webauthn
                .start_passkey_authentication(std::slice::from_ref(&stored))
                .unwrap();
            let answer: PublicKeyCredential = device
                .borrow_mut()
                .do_authentication(origin.clone(), rcr)
                .unwrap();
            let started = Instant::now();
            let result = webauthn.finish_passkey_authentication(&answer, &state);
            spent += started.elapsed();
            assert!(result.is_ok());
        }
        spent
    };
    let portcullis = |iters: u64| {
        rt.block_on(async {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let begun = call(
                    &app,
                    json_post(
                        "/v1/auth/passkeys/authenticate/begin",
                        &json!({ "email": "bench@example.com" }),
                    ),
                )
                .await;
                let rcr: RequestChallengeResponse =
                    serde_json::from_value(json!({ "publicKey": begun["options"] })).unwrap();
                let answer = device
                    .borrow_mut()
                    .do_authentication(origin.clone(), rcr)
                    .unwrap();
                let request = json_post(
                    "/v1/auth/passkeys/authenticate/complete",
                    &json!({ "challenge_id": begun["challenge_id"], "credential": answer }),
                );
                let started = Instant::now();
                RECORDING.store(true, Ordering::Relaxed);
                let grant = call(&app, request).await;
                RECORDING.store(false, Ordering::Relaxed);
                spent += started.elapsed();
                assert!(grant["access_token"].is_string());
            }
            spent
        })
    };

    // What one statement costs here, round trip included: the unit the route's database
    // work is made of.
    let statement = |iters: u64| {
        rt.block_on(async {
            let started = Instant::now();
            for _ in 0..iters {
                db.execute_unprepared("SELECT 1").await.unwrap();
            }
            started.elapsed()
        })
    };

    // Warm up, then interleave.
    baseline(20);
    portcullis(20);
    statement(20);
    let [base, ours, one] = interleaved(15, 40, [&baseline, &portcullis, &statement]);
    // The route's statements, from a run of their own.
    SENT.lock().unwrap().clear();
    const PROFILED: u32 = 200;
    let profiled = portcullis(u64::from(PROFILED)) / PROFILED;
    println!();
    println!("== passkey sign-in (interleaved rounds, same run) ==");
    println!("webauthn-rs finish alone:         {:>8.1} µs", base * 1e6);
    println!(
        "POST /passkeys/authenticate/complete: {:>8.1} µs  ({:.1}× the check alone)",
        ours * 1e6,
        ours / base
    );
    println!(
        "one statement (SELECT 1) through the same pool: {:>6.1} µs  (the route's time is {:.1} of them \
         plus the check)",
        one * 1e6,
        (ours - base) / one
    );
    // Statements in the order the route sends them (each appears once per sign-in).
    let sent = std::mem::take(&mut *SENT.lock().unwrap());
    let mut order: Vec<(String, Duration, u32)> = Vec::new();
    for (label, elapsed) in sent {
        match order.iter_mut().find(|(seen, ..)| *seen == label) {
            Some(entry) => {
                entry.1 += elapsed;
                entry.2 += 1;
            }
            None => order.push((label, elapsed, 1)),
        }
    }
    println!(
        "the route's statements ({PROFILED} sign-ins of their own, {:.1} µs each):",
        profiled.as_secs_f64() * 1e6
    );
    let mut in_database = Duration::ZERO;
    for (label, total, count) in &order {
        let per_sign_in = *total / PROFILED;
        in_database += per_sign_in;
        println!(
            "  {:>6.1} µs  {label}  ({:.1} per sign-in)",
            (*total / *count).as_secs_f64() * 1e6,
            f64::from(*count) / f64::from(PROFILED)
        );
    }
    println!(
        "  {:>6.1} µs  in all, per sign-in (BEGIN and COMMIT not counted)",
        in_database.as_secs_f64() * 1e6
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
}
