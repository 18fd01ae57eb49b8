//! What authentication costs, as ratios against baselines measured in the same run.
//!
//! ```sh
//! cargo bench --bench layer
//! ```
//!
//! 1. **Layer**: the same `/hello` route bare, and behind `AuthLayer` + `CurrentUser`
//!    with a warm verified-token cache, in-process (`oneshot`, the strictest view: the
//!    route does almost nothing) and over real HTTP/1.1 on loopback. Target: throughput
//!    ≥ 0.85× the bare route.
//! 2. **First sight**: verifying a token never seen before (parse, strict header and
//!    claim checks, ES256 signature, revocation view) against a bare ring ES256 verify of
//!    the same token. Target: ≤ 1.2× ring.
//! 3. **Sign-in**: sign-in throughput through the router against `cores / one argon2id
//!    hash`. Target: ≥ 0.9×. Also the latency of `/hello` while sign-ins flood in,
//!    against its latency when idle.
//!
//! The ratios are printed at the end; criterion keeps its own reports under
//! `target/criterion`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::LazyLock,
    time::{Duration, Instant},
};

use axum::{Json, Router, body::Body, routing::get};
use base64::Engine as _;
use criterion::{Criterion, criterion_group};
use http::Request;
use portcullis::{CurrentUser, Portcullis, Secret};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;
use common::{http_throughput, interleaved, json_post, middle};

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "correct horse battery staple";

struct Setup {
    rt: tokio::runtime::Runtime,
    auth: Portcullis,
    token: String,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (auth, token) = rt.block_on(async {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        portcullis::migrate(&db).await.unwrap();
        let auth = Portcullis::builder(db)
            .secret(Secret::generate())
            .requests(|r| r.rate_limit = false)
            .build()
            .await
            .unwrap();
        let app = Router::new().nest("/v1/auth", auth.router());
        let response = app
            .oneshot(json_post(
                "/v1/auth/sign-up/email-password",
                &json!({ "email": EMAIL, "password": PASSWORD }),
            ))
            .await
            .unwrap();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let grant: Value = serde_json::from_slice(&body).unwrap();
        (auth, grant["access_token"].as_str().unwrap().to_owned())
    });
    Setup { rt, auth, token }
});

fn hello_request(token: &str) -> Request<Body> {
    Request::get("/hello")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// The same handler body as the layered route, fed constants instead of a `CurrentUser`.
fn bare_app() -> Router {
    let user_id = uuid::Uuid::now_v7();
    let email = Some(EMAIL.to_owned());
    Router::new().route(
        "/hello",
        get(move || async move { Json(json!({ "ok": true, "user_id": user_id, "email": email })) }),
    )
}

/// What any tower layer costs under `Router::layer` (axum boxes the layered route): the
/// floor no authentication layer can go below.
fn noop_app() -> Router {
    bare_app().layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r))
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

fn run_requests(app: &Router, token: &str, iters: u64) -> Duration {
    SETUP.rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            let response = app.clone().oneshot(hello_request(token)).await.unwrap();
            assert!(response.status().is_success());
        }
        start.elapsed()
    })
}

fn layer(c: &mut Criterion) {
    let setup = &*SETUP;
    let bare = bare_app();
    let layered = layered_app(&setup.auth);
    // Warm the verified-token cache.
    run_requests(&layered, &setup.token, 1);
    let mut group = c.benchmark_group("layer");
    group.bench_function("bare route", |b| {
        b.iter_custom(|iters| run_requests(&bare, &setup.token, iters));
    });
    let noop = noop_app();
    group.bench_function("no-op tower layer", |b| {
        b.iter_custom(|iters| run_requests(&noop, &setup.token, iters));
    });
    group.bench_function("AuthLayer + CurrentUser (warm cache)", |b| {
        b.iter_custom(|iters| run_requests(&layered, &setup.token, iters));
    });
    group.finish();
}

/// The token split for a bare ring verify, and the public key from the JWKS.
struct RingInput {
    signed: String,
    signature: Vec<u8>,
    key: ring::signature::UnparsedPublicKey<Vec<u8>>,
}

fn ring_input() -> RingInput {
    let setup = &*SETUP;
    let token = setup.token.clone();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    let jwks: Value = setup.rt.block_on(async {
        let response = setup
            .auth
            .well_known_router::<()>()
            .oneshot(
                Request::get("/.well-known/jwks.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        serde_json::from_slice(
            &axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap(),
        )
        .unwrap()
    });
    let decode = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let point = [
        vec![4u8],
        decode(&jwks["keys"][0]["x"]),
        decode(&jwks["keys"][0]["y"]),
    ]
    .concat();
    let key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    RingInput {
        signed: signed.to_owned(),
        signature,
        key,
    }
}

fn ring_verify(input: &RingInput, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        input
            .key
            .verify(input.signed.as_bytes(), &input.signature)
            .unwrap();
    }
    start.elapsed()
}

fn first_sight_verify(iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        assert!(portcullis::__private::verify_first_sight(
            &SETUP.auth,
            &SETUP.token
        ));
    }
    start.elapsed()
}

fn first_sight(c: &mut Criterion) {
    let input = ring_input();
    let mut group = c.benchmark_group("verify");
    group.bench_function("ring ES256 verify", |b| {
        b.iter_custom(|iters| ring_verify(&input, iters))
    });
    group.bench_function("portcullis first-sight verification", |b| {
        b.iter_custom(first_sight_verify);
    });
    group.finish();
}

criterion_group!(benches, layer, first_sight);

/// Sign-in throughput against the hashing bound, and `/hello` latency under the flood.
fn sign_in_throughput() -> (f64, f64, f64, f64, f64) {
    let setup = &*SETUP;
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    // One argon2id hash with portcullis' parameters, raw.
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(19 * 1024, 2, 1, None).unwrap(),
    );
    let mut out = [0u8; 32];
    let hashes = 20;
    let start = Instant::now();
    for _ in 0..hashes {
        argon
            .hash_password_into(PASSWORD.as_bytes(), b"saltsaltsaltsalt", &mut out)
            .unwrap();
    }
    let hash_time = start.elapsed().as_secs_f64() / f64::from(hashes);
    let bound = cores as f64 / hash_time;
    // What the hardware really does with `cores` hashes at once (argon2 is memory-bound).
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| {
                let mut out = [0u8; 32];
                for _ in 0..hashes {
                    argon
                        .hash_password_into(PASSWORD.as_bytes(), b"saltsaltsaltsalt", &mut out)
                        .unwrap();
                }
            });
        }
    });
    let parallel = f64::from(hashes) * cores as f64 / start.elapsed().as_secs_f64();

    let app =
        Router::new()
            .route(
                "/hello",
                get(|user: CurrentUser| async move {
                    Json(json!({ "ok": true, "user_id": user.id() }))
                }),
            )
            .nest("/v1/auth", setup.auth.router())
            .layer(setup.auth.session_layer());
    let sign_ins = 40 * cores;
    let (elapsed, busy_latency, idle_latency) = setup.rt.block_on(async {
        let idle = hello_latency(&app, &setup.token, 200).await;
        let start = Instant::now();
        let flood: Vec<_> = (0..sign_ins)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move {
                    let body = json!({ "email": EMAIL, "password": PASSWORD });
                    let response = app
                        .oneshot(json_post("/v1/auth/sign-in/email-password", &body))
                        .await
                        .unwrap();
                    assert!(response.status().is_success());
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let busy = hello_latency(&app, &setup.token, 50).await;
        for task in flood {
            task.await.unwrap();
        }
        (start.elapsed(), busy, idle)
    });
    let throughput = sign_ins as f64 / elapsed.as_secs_f64();
    (throughput, bound, parallel, busy_latency, idle_latency)
}

/// Median latency of `/hello` over `n` sequential requests, in seconds.
async fn hello_latency(app: &Router, token: &str, n: usize) -> f64 {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let response = app.clone().oneshot(hello_request(token)).await.unwrap();
        assert!(response.status().is_success());
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[n / 2]
}

/// The median of a few samples.
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let setup = &*SETUP;

    println!();
    println!("== portcullis benchmark ratios (interleaved rounds, same run) ==");
    let (bare, noop, layered) = (bare_app(), noop_app(), layered_app(&setup.auth));
    let [bare_t, noop_t, layered_t] = interleaved(
        31,
        5_000,
        [
            &|n| run_requests(&bare, &setup.token, n),
            &|n| run_requests(&noop, &setup.token, n),
            &|n| run_requests(&layered, &setup.token, n),
        ],
    );
    println!(
        "layer:       bare {:.2} µs/req, layered {:.2} µs/req -> throughput ratio {:.3} (target >= 0.85)",
        bare_t * 1e6,
        layered_t * 1e6,
        bare_t / layered_t
    );
    println!(
        "             (a no-op tower layer alone: {:.2} µs/req, ratio {:.3}; portcullis' own share {:.0} ns)",
        noop_t * 1e6,
        bare_t / noop_t,
        (layered_t - noop_t) * 1e9
    );

    let (mut bare_rps, mut layered_rps) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let second = Duration::from_secs(1);
        bare_rps.push(http_throughput(
            &setup.rt,
            bare_app(),
            &setup.token,
            16,
            second,
        ));
        layered_rps.push(http_throughput(
            &setup.rt,
            layered_app(&setup.auth),
            &setup.token,
            16,
            second,
        ));
    }
    let (bare_rps, layered_rps) = (middle(bare_rps), middle(layered_rps));
    println!(
        "over HTTP:   bare {bare_rps:.0} req/s, layered {layered_rps:.0} req/s -> throughput ratio {:.3} (target >= 0.85)",
        layered_rps / bare_rps
    );

    let input = ring_input();
    let [ring_t, first_t] =
        interleaved(31, 200, [&|n| ring_verify(&input, n), &first_sight_verify]);
    println!(
        "first sight: ring {:.1} µs, portcullis {:.1} µs -> ratio {:.3} (target <= 1.2)",
        ring_t * 1e6,
        first_t * 1e6,
        first_t / ring_t
    );

    // For profiling one part: `PORTCULLIS_BENCH_SKIP_SIGN_IN=1 cargo bench --bench layer -- layer`.
    if std::env::var_os("PORTCULLIS_BENCH_SKIP_SIGN_IN").is_some() {
        return;
    }
    let (sign_ins, bound, parallel, busy, idle) = sign_in_throughput();
    println!(
        "sign-in:     {sign_ins:.1}/s vs bound {bound:.1}/s (cores / argon2id) -> ratio {:.3} (target >= 0.9)",
        sign_ins / bound
    );
    println!(
        "             raw argon2id with {} threads at once: {parallel:.1}/s -> sign-in reaches {:.3} of that",
        std::thread::available_parallelism().map_or(2, usize::from),
        sign_ins / parallel
    );
    println!(
        "responsive:  /hello median {:.1} µs idle, {:.1} µs during the sign-in flood -> x{:.1}",
        idle * 1e6,
        busy * 1e6,
        busy / idle
    );
}
