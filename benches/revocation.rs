//! How long a revocation takes to reach another instance, on PostgreSQL: two instances on
//! one database; instance A signs a session out, instance B (which has already verified
//! the session's access token) is asked every millisecond until it refuses it. Pushed
//! (`LISTEN`/`NOTIFY`, the default), pushed through Redis pub/sub (with `--features
//! redis`) and polled only (the 5-second poll), in one run.
//!
//! ```sh
//! PORTCULLIS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432 \
//! PORTCULLIS_BENCH_REDIS_URL=redis://127.0.0.1:6379 cargo bench --features redis --bench revocation
//! ```
//!
//! Prints p50, p99 and the maximum over the samples. Printed, never asserted.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::{Json, Router, body::Body, routing::get};
use http::Request;
use portcullis::{CurrentUser, Portcullis, Secret};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;
use common::json_post;

const PASSWORD: &str = "correct horse battery staple";

/// How B learns of A's revocations.
#[derive(Clone)]
enum Push {
    Postgres,
    #[cfg(feature = "redis")]
    Redis(String),
    PollOnly,
}

async fn instance(db: &DatabaseConnection, secret: &Secret, push: &Push) -> Router {
    let builder = Portcullis::builder(db.clone())
        .secret(secret.clone())
        .requests(|r| r.rate_limit = false)
        .sessions(|s| s.revocation_push = !matches!(push, Push::PollOnly));
    #[cfg(feature = "redis")]
    let builder = match push {
        Push::Redis(url) => builder.redis_revocations(url.clone()),
        _ => builder,
    };
    let auth = builder.build().await.unwrap();
    Router::new()
        .route(
            "/hello",
            get(|user: CurrentUser| async move { Json(json!({ "id": user.id() })) }),
        )
        .nest("/v1/auth", auth.router())
        .layer(auth.session_layer())
}

async fn call(app: &Router, request: Request<Body>) -> (http::StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn hello(token: &str) -> Request<Body> {
    Request::get("/hello")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// Milliseconds from A's sign-out answer until B refuses, for `samples` sessions.
async fn propagation(
    db: &DatabaseConnection,
    secret: &Secret,
    push: Push,
    samples: usize,
) -> Vec<f64> {
    let a = instance(db, secret, &push).await;
    let b = instance(db, secret, &push).await;
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let body = json!({ "email": email, "password": PASSWORD });
    let (status, _) = call(&a, json_post("/v1/auth/sign-up/email-password", &body)).await;
    assert!(status.is_success());
    // Let B's listener start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut delays = Vec::with_capacity(samples);
    for _ in 0..samples {
        let (_, grant) = call(&a, json_post("/v1/auth/sign-in/email-password", &body)).await;
        let token = grant["access_token"].as_str().unwrap().to_owned();
        assert!(call(&b, hello(&token)).await.0.is_success());
        let out = Request::post("/v1/auth/sign-out")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        assert!(call(&a, out).await.0.is_success());
        let signed_out = Instant::now();
        while call(&b, hello(&token)).await.0.is_success() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        delays.push(signed_out.elapsed().as_secs_f64() * 1e3);
    }
    delays
}

fn summary(name: &str, mut delays: Vec<f64>) {
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| delays[((delays.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<28} n={} p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms",
        delays.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let pg = std::env::var("PORTCULLIS_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    rt.block_on(async {
        let server = match sea_orm::Database::connect(format!("{pg}/postgres")).await {
            Ok(server) => server,
            Err(err) => {
                println!("PostgreSQL: skipped ({err})");
                return;
            }
        };
        let name = format!("pt_revocation_{}", std::process::id());
        server
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let db = sea_orm::Database::connect(format!("{pg}/{name}"))
            .await
            .unwrap();
        portcullis::migrate(&db).await.unwrap();
        println!("== revocation reaching a second instance (PostgreSQL) ==");
        // One server secret for the database's signing key, as every instance shares.
        let secret = Secret::generate();
        summary(
            "pushed (LISTEN/NOTIFY)",
            propagation(&db, &secret, Push::Postgres, 200).await,
        );
        #[cfg(feature = "redis")]
        {
            let redis = std::env::var("PORTCULLIS_BENCH_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            summary(
                "pushed (Redis pub/sub)",
                propagation(&db, &secret, Push::Redis(redis), 200).await,
            );
        }
        summary(
            "polled only (every 5 s)",
            propagation(&db, &secret, Push::PollOnly, 20).await,
        );
        db.close().await.unwrap();
        let _ = server
            .execute_unprepared(&format!("DROP DATABASE {name}"))
            .await;
    });
}
