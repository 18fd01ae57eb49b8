//! Stripe webhooks: what verifying and applying an event once costs, against the cheapest
//! write of the same fact, on SQLite (a file) and PostgreSQL (when reachable).
//!
//! ```sh
//! cargo bench --bench billing
//! PORTCULLIS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432 cargo bench --bench billing
//! ```
//!
//! Three routines run interleaved, batch after batch, so the machine's noise hits them
//! alike:
//!
//! - **webhook**: `POST /v1/stripe/webhook` through the router, a new
//!   `customer.subscription.updated` each time: signature check, parse, the duplicate
//!   check, then one transaction that inserts the event id, locks the subscription and
//!   writes its new state.
//! - **duplicate**: the same delivery again (what a Stripe retry costs).
//! - **bare insert**: the event row alone, inserted with no transaction, check or parse:
//!   the floor any "record it once" design pays.
//!
//! Reports events per second and the ratios to the bare insert. Printed, never asserted.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::{Router, body::Body};
use http::Request;
use portcullis::{
    Portcullis, Secret,
    config::Plan,
    entity::{billing_customer, stripe_event},
};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, EntityTrait as _, IntoActiveModel as _};
use serde_json::json;
use tower::ServiceExt as _;

mod common;
use common::middle;

const SECRET: &str = "whsec_bench";
const BATCH: usize = 200;
const ROUNDS: usize = 7;

fn event(n: usize, created: i64) -> String {
    json!({
        "id": format!("evt_bench{n}"),
        "object": "event",
        "type": "customer.subscription.updated",
        "created": created,
        "livemode": false,
        "data": { "object": {
            "id": "sub_bench",
            "object": "subscription",
            "customer": "cus_bench",
            "status": if n.is_multiple_of(2) { "active" } else { "past_due" },
            "cancel_at_period_end": false,
            "items": { "data": [{ "id": "si_bench", "quantity": 1, "current_period_end": 1_900_000_000,
                                  "price": { "id": "price_bench" } }] },
        } },
    })
    .to_string()
}

async fn deliver(app: &Router, body: String) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = portcullis::__private::stripe_signature(body.as_bytes(), SECRET, now);
    let response = app
        .clone()
        .oneshot(
            Request::post("/v1/stripe/webhook")
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

async fn run(name: &str, db: DatabaseConnection) {
    portcullis::migrate(&db).await.unwrap();
    let auth = Portcullis::builder(db.clone())
        .secret(Secret::generate())
        .billing(|b| {
            b.stripe_secret_key = Some("sk_test_bench".into());
            b.webhook_secrets = vec![SECRET.into()];
            // Never called: subscription events carry their state.
            b.api_base = "http://127.0.0.1:9".into();
        })
        .plans([Plan::new("pro", "Pro", "price_bench", 1200, "usd", "month")])
        .build()
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    billing_customer::Entity::insert(
        billing_customer::Model {
            payer_id: uuid::Uuid::now_v7(),
            payer_kind: "user".into(),
            stripe_customer_id: "cus_bench".into(),
            created_at: now,
        }
        .into_active_model(),
    )
    .exec_without_returning(&db)
    .await
    .unwrap();
    let app = Router::new().nest("/v1/stripe", auth.stripe_webhook_router());

    let mut next = 0;
    let mut created = now.unix_timestamp() - 1_000_000;
    let mut webhook = Vec::new();
    let mut duplicate = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..BATCH {
            next += 1;
            created += 1;
            deliver(&app, event(next, created)).await;
        }
        webhook.push(started.elapsed());

        let again = event(next, created);
        let started = Instant::now();
        for _ in 0..BATCH {
            deliver(&app, again.clone()).await;
        }
        duplicate.push(started.elapsed());

        let started = Instant::now();
        for _ in 0..BATCH {
            next += 1;
            stripe_event::Entity::insert(
                stripe_event::Model {
                    id: format!("evt_bare{next}"),
                    event_type: "customer.subscription.updated".into(),
                    created,
                    received_at: now,
                }
                .into_active_model(),
            )
            .exec_without_returning(&db)
            .await
            .unwrap();
        }
        bare.push(started.elapsed());
    }
    let per_second = |samples: Vec<Duration>| {
        middle(
            samples
                .iter()
                .map(|d| BATCH as f64 / d.as_secs_f64())
                .collect(),
        )
    };
    let (webhook, duplicate, bare) = (per_second(webhook), per_second(duplicate), per_second(bare));
    println!(
        "{name}: webhook {webhook:.0} events/s ({:.2}x the bare insert), duplicate {duplicate:.0}/s ({:.2}x), \
         bare insert {bare:.0}/s",
        webhook / bare,
        duplicate / bare,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let path = std::env::temp_dir().join(format!(
            "portcullis-billing-bench-{}.db",
            std::process::id()
        ));
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
