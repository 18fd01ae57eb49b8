//! The admin's user search at scale: 100 000 users on SQLite (and on PostgreSQL when it
//! is reachable), through the admin router. Keyset pages walk the primary key, so a deep
//! page should cost what the first one does.
//!
//! ```sh
//! cargo bench --bench admin
//! PORTCULLIS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432 cargo bench --bench admin
//! ```
//!
//! Reports the median milliseconds of: the first page (50 newest), a page deep in the list
//! (a cursor near the oldest), a search that matches many users, and one that matches one
//! user (a scan until it is found). Absolute figures: printed, never asserted.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use axum::{Router, body::Body};
use http::Request;
use portcullis::{Portcullis, Secret, entity::user, users::UserRole};
use sea_orm::{
    ActiveModelTrait as _, ConnectionTrait as _, DatabaseConnection, EntityTrait as _,
    IntoActiveModel as _,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;
use common::{json_post, middle};

const USERS: usize = 100_000;

fn row(i: usize, now: time::OffsetDateTime) -> user::ActiveModel {
    user::Model {
        id: uuid::Uuid::now_v7(),
        email: Some(format!("user{i:06}@example.com")),
        email_verified_at: i.is_multiple_of(2).then_some(now),
        phone: None,
        phone_verified_at: None,
        name: Some(format!("User {i}")),
        image_url: None,
        metadata: "{}".into(),
        private_metadata: None,
        role: "user".into(),
        last_sign_in_at: None,
        disabled_at: None,
        tokens_valid_after: None,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .reset_all()
}

async fn get(app: &Router, path: &str, token: &str) -> Value {
    let response = app
        .clone()
        .oneshot(
            Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn measure(app: &Router, path: &str, token: &str) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        get(app, path, token).await;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    middle(samples)
}

async fn run(name: &str, db: DatabaseConnection) {
    portcullis::migrate(&db).await.unwrap();
    let auth = Portcullis::builder(db.clone())
        .secret(Secret::generate())
        .requests(|r| r.rate_limit = false)
        .build()
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(1000) {
        user::Entity::insert_many(chunk.iter().map(|i| row(*i, now)))
            .exec_without_returning(&db)
            .await
            .unwrap();
    }
    let inserted = started.elapsed();
    let app = Router::new()
        .nest("/v1/auth", auth.router())
        .nest("/v1/admin", auth.admin_router())
        .layer(auth.session_layer());
    let response = app
        .clone()
        .oneshot(json_post(
            "/v1/auth/sign-up/email-password",
            &json!({ "email": "admin@bench.example", "password": "correct horse battery staple" }),
        ))
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let grant: Value = serde_json::from_slice(&bytes).unwrap();
    let token = grant["access_token"].as_str().unwrap().to_owned();
    let admin_id = grant["user"]["id"].as_str().unwrap().parse().unwrap();
    auth.users()
        .set_role(admin_id, UserRole::Admin)
        .await
        .unwrap();

    // A cursor near the end of the list, a few dozen users from the oldest.
    let deep = user::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .min()
        .unwrap();
    let first = measure(&app, "/v1/admin/users?limit=50", &token).await;
    let deep_page = measure(
        &app,
        &format!("/v1/admin/users?limit=50&cursor={}", uuid_after(deep)),
        &token,
    )
    .await;
    let common = measure(&app, "/v1/admin/users?limit=50&query=user0", &token).await;
    let rare = measure(&app, "/v1/admin/users?limit=50&query=user000123", &token).await;
    let verified = measure(&app, "/v1/admin/users?limit=50&verified=true", &token).await;
    println!(
        "{name}: {USERS} users (inserted in {:.1} s): first page {first:.2} ms, deep cursor {deep_page:.2} ms, \
         search (many matches) {common:.2} ms, search (one match, near the oldest) {rare:.2} ms, verified filter {verified:.2} ms",
        inserted.as_secs_f64()
    );
}

/// A cursor that leaves the oldest few dozen users for the page: the oldest id with its
/// timestamp part moved a little later.
fn uuid_after(oldest: uuid::Uuid) -> uuid::Uuid {
    let mut bytes = *oldest.as_bytes();
    // UUIDv7's first 48 bits are milliseconds; a few ms later still holds a few users.
    let ms = u64::from_be_bytes([
        0, 0, bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5],
    ]) + 2;
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    uuid::Uuid::from_bytes(bytes)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let path =
            std::env::temp_dir().join(format!("portcullis-admin-bench-{}.db", std::process::id()));
        let db = sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        run("SQLite (file)", db).await;
        let _ = std::fs::remove_file(&path);

        let pg = std::env::var("PORTCULLIS_BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        match sea_orm::Database::connect(format!("{pg}/postgres")).await {
            Ok(server) => {
                let name = format!("pt_bench_{}", std::process::id());
                server
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                let db = sea_orm::Database::connect(format!("{pg}/{name}"))
                    .await
                    .unwrap();
                run("PostgreSQL", db.clone()).await;
                db.close().await.unwrap();
                let _ = server
                    .execute_unprepared(&format!("DROP DATABASE {name}"))
                    .await;
            }
            Err(err) => println!("PostgreSQL: skipped ({err})"),
        }
    });
}
