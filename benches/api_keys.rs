//! What authenticating with an API key costs, against the same route bare and against a
//! cached access token, measured in the same run.
//!
//! ```sh
//! cargo bench --bench api_keys
//! ```
//!
//! `/hello` behind `AuthLayer` + `CurrentUser`, called with `Authorization: Bearer
//! sk_...` (a warm key cache: the steady state, no database read), with a warm access
//! token, and bare; in-process (`oneshot`) and over real HTTP/1.1 on loopback. The key's
//! own rate limit is on, with a rule loose enough never to refuse: its check is part of
//! what is measured. Target: the same cost as the cached JWT, ≥ 0.85× bare over HTTP.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::{Json, Router, body::Body, routing::get};
use http::Request;
use portcullis::{
    CurrentUser, Portcullis, Secret,
    rate_limit::{Limit, Rule},
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;
use common::{http_throughput, interleaved, json_post, middle};

fn request(token: &str) -> Request<Body> {
    Request::get("/hello")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn bare_app() -> Router {
    let user_id = uuid::Uuid::now_v7();
    let email = Some("bench@example.com".to_owned());
    Router::new().route(
        "/hello",
        get(move || async move { Json(json!({ "ok": true, "user_id": user_id, "email": email })) }),
    )
}

fn layered_app(auth: &Portcullis) -> Router {
    Router::new()
        .route(
            "/hello",
            get(|user: CurrentUser| async move {
                Json(json!({ "ok": true, "user_id": user.id(), "email": user.email }))
            }),
        )
        .layer(auth.session_layer())
}

async fn post(app: &Router, path: &str, token: Option<&str>, body: &Value) -> Value {
    let mut request = json_post(path, body);
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (auth, jwt, key) = rt.block_on(async {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        portcullis::migrate(&db).await.unwrap();
        let auth = Portcullis::builder(db)
            .secret(Secret::generate())
            .limit(
                Limit::ApiKeyRequests,
                Rule::new(u32::MAX, Duration::from_nanos(1)),
            )
            .build()
            .await
            .unwrap();
        let app = Router::new()
            .nest("/v1/auth", auth.router())
            .layer(auth.session_layer());
        let grant = post(
            &app,
            "/v1/auth/sign-up/email-password",
            None,
            &json!({ "email": "bench@example.com", "password": "correct horse battery staple" }),
        )
        .await;
        let jwt = grant["access_token"].as_str().unwrap().to_owned();
        let created = post(
            &app,
            "/v1/auth/me/api-keys",
            Some(&jwt),
            &json!({ "name": "bench" }),
        )
        .await;
        let key = created["secret"].as_str().unwrap().to_owned();
        (auth, jwt, key)
    });
    let run = |app: &Router, token: &str, iters: u64| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                let response = app.clone().oneshot(request(token)).await.unwrap();
                assert!(response.status().is_success());
            }
            start.elapsed()
        })
    };
    let (bare, layered) = (bare_app(), layered_app(&auth));
    let [bare_t, jwt_t, key_t] = interleaved(
        31,
        5_000,
        [
            &|n| run(&bare, &jwt, n),
            &|n| run(&layered, &jwt, n),
            &|n| run(&layered, &key, n),
        ],
    );
    println!("== API keys (interleaved rounds, same run) ==");
    println!(
        "in-process: bare {:.2} µs/req, access token {:.2} µs/req, API key {:.2} µs/req -> key/bare throughput {:.3}, key vs token {:.3}",
        bare_t * 1e6,
        jwt_t * 1e6,
        key_t * 1e6,
        bare_t / key_t,
        jwt_t / key_t
    );
    let (mut bare_rps, mut jwt_rps, mut key_rps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let second = Duration::from_secs(1);
        bare_rps.push(http_throughput(&rt, bare_app(), &jwt, 16, second));
        jwt_rps.push(http_throughput(&rt, layered_app(&auth), &jwt, 16, second));
        key_rps.push(http_throughput(&rt, layered_app(&auth), &key, 16, second));
    }
    let (bare_rps, jwt_rps, key_rps) = (middle(bare_rps), middle(jwt_rps), middle(key_rps));
    println!(
        "over HTTP:  bare {bare_rps:.0} req/s, access token {jwt_rps:.0} req/s, API key {key_rps:.0} req/s -> key/bare {:.3} (target >= 0.85), key vs token {:.3}",
        key_rps / bare_rps,
        key_rps / jwt_rps
    );
}
