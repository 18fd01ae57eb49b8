//! The routes a front end calls on every page, as a user of the whole app sees them: over
//! HTTP/1.1 on loopback (64 keep-alive connections), against a baseline of the same shape
//! measured in the same run, on SQLite (a file, opened with `portcullis::connect_options`)
//! and PostgreSQL (when reachable).
//!
//! ```sh
//! cargo bench --bench hot_paths
//! PORTCULLIS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432 cargo bench --bench hot_paths
//! ```
//!
//! - **bare `/hello`** (the layer's baseline): the quickstart's `/hello` JSON answered
//!   with constants, against the same route in the quickstart's mounting behind
//!   `AuthLayer` + `CurrentUser`, with a bearer token and with the `__session` cookie:
//!   mounted as the quickstart does (`Router::layer`, which wraps every route on its own),
//!   and as one layer around the whole router (`tower::Layer::layer(&layer, router)`).
//! - **session read** (the database routes' baseline): a bare axum route that reads one session row by its
//!   primary key and answers it as JSON: what a cookie-session library such as axum-login
//!   (tower-sessions' SQL store) does for every request.
//! - `GET /v1/auth/me`, `/sessions/current`, `/sessions`, `/me/passkeys`, through the
//!   quickstart's mounting (routers nested, `AuthLayer` around them, a bearer token).
//! - `GET /healthz` (the process alone) and `/readyz` (a database ping).
//! - **refresh**: 16 clients, each presenting the refresh token the previous answer gave it
//!   (a real rotation chain), in-process; refreshes per second and how many failed.
//!
//! - **sign-in**: sign-ins per second against raw argon2id hashes with the same
//!   parameters on every core at once.
//!
//! Each HTTP routine runs one second per round, interleaved with the others, five rounds;
//! the medians are printed with their ratio to the baseline. Printed, never asserted.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::{Json, Router, routing::get};
use portcullis::{Portcullis, Secret, entity::session};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, EntityTrait as _};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;
use common::{HttpApp, http_load, json_post, middle};

const PASSWORD: &str = "correct horse battery staple";
const CONNECTIONS: usize = 64;
const ROUNDS: usize = 5;
const CHAINS: usize = 16;

struct Bench {
    auth: Portcullis,
    db: DatabaseConnection,
    access_token: String,
    session_id: uuid::Uuid,
}

async fn grant(app: &Router, path: &str, body: Value) -> Value {
    let response = app.clone().oneshot(json_post(path, &body)).await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

async fn setup(db: DatabaseConnection) -> Bench {
    portcullis::migrate(&db).await.unwrap();
    let auth = Portcullis::builder(db.clone())
        .secret(Secret::generate())
        .requests(|r| r.rate_limit = false)
        .build()
        .await
        .unwrap();
    let app = Router::new().nest("/v1/auth", auth.router());
    let grant = grant(
        &app,
        "/v1/auth/sign-up/email-password",
        json!({ "email": "hot@example.com", "password": PASSWORD, "name": "Hot Path" }),
    )
    .await;
    Bench {
        auth,
        db,
        access_token: grant["access_token"].as_str().unwrap().to_owned(),
        session_id: grant["session"]["id"].as_str().unwrap().parse().unwrap(),
    }
}

/// The quickstart's `/hello` body: what both sides of the layer comparison answer.
fn hello_body(user_id: uuid::Uuid, email: Option<&str>) -> Json<Value> {
    Json(json!({ "ok": true, "user_id": user_id, "email": email }))
}

/// The quickstart's routes, less its page, without the layer.
fn quickstart_routes(auth: &Portcullis) -> Router {
    Router::new()
        .route(
            "/hello",
            get(|user: portcullis::CurrentUser| async move {
                hello_body(user.id(), user.email.as_deref())
            }),
        )
        .nest("/v1/auth", auth.router())
        .nest("/v1/orgs", auth.orgs_router())
        .merge(auth.well_known_router())
}

/// One routine's load: one second of [`http_load`] on whatever service it was made for.
type Load<'a> = Box<dyn Fn() -> (f64, u64) + 'a>;

fn load(rt: &tokio::runtime::Runtime, app: impl HttpApp, request: String) -> Load<'_> {
    Box::new(move || {
        http_load(
            rt,
            app.clone(),
            &request,
            CONNECTIONS,
            Duration::from_secs(1),
        )
    })
}

fn request(path: &str, token: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n")
}

/// Refreshes per second over [`CHAINS`] rotation chains for `duration`, and the failures.
async fn refresh_chains(app: &Router, duration: Duration) -> (f64, u64) {
    let mut chains = Vec::new();
    for n in 0..CHAINS {
        let signed_in = grant(
            app,
            "/v1/auth/sign-in/email-password",
            json!({ "email": "hot@example.com", "password": PASSWORD }),
        )
        .await;
        let mut token = signed_in["refresh_token"].as_str().unwrap().to_owned();
        let app = app.clone();
        chains.push(tokio::spawn(async move {
            let deadline = Instant::now() + duration;
            let (mut done, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                let response = app
                    .clone()
                    .oneshot(json_post(
                        "/v1/auth/sessions/refresh",
                        &json!({ "refresh_token": token }),
                    ))
                    .await
                    .unwrap();
                let ok = response.status().is_success();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap();
                if !ok {
                    failed += 1;
                    eprintln!(
                        "refresh chain {n} broke: {}",
                        String::from_utf8_lossy(&body)
                    );
                    break;
                }
                let answer: Value = serde_json::from_slice(&body).unwrap();
                token = answer["refresh_token"].as_str().unwrap().to_owned();
                done += 1;
            }
            (done, failed)
        }));
    }
    let start = Instant::now();
    let (mut done, mut failed) = (0, 0);
    for chain in chains {
        let (d, f) = chain.await.unwrap();
        done += d;
        failed += f;
    }
    (done as f64 / start.elapsed().as_secs_f64(), failed)
}

/// Sign-ins per second (8 at a time, in-process) against the same number of raw argon2id
/// hashes with portcullis' parameters run on every core at once: what sign-in adds to the
/// hash (its queries, the session, the token, the audit row). Five rounds, the two sides
/// taking turns; the medians.
async fn sign_in_ratio(app: &Router) -> (f64, f64) {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let total = 24 * cores;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(19 * 1024, 2, 1, None).unwrap(),
    );
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..cores {
                scope.spawn(|| {
                    let mut out = [0u8; 32];
                    for _ in 0..total / cores {
                        argon
                            .hash_password_into(PASSWORD.as_bytes(), b"saltsaltsaltsalt", &mut out)
                            .unwrap();
                    }
                });
            }
        });
        raw.push(total as f64 / start.elapsed().as_secs_f64());

        let start = Instant::now();
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move {
                    for _ in 0..total / 8 {
                        grant(
                            &app,
                            "/v1/auth/sign-in/email-password",
                            json!({ "email": "hot@example.com", "password": PASSWORD }),
                        )
                        .await;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
        ours.push((total / 8 * 8) as f64 / start.elapsed().as_secs_f64());
    }
    (middle(ours), middle(raw))
}

fn run(rt: &tokio::runtime::Runtime, name: &str, db: DatabaseConnection) {
    let bench = rt.block_on(setup(db));
    let session_id = bench.session_id;
    let db = bench.db.clone();
    // The baseline: the signed-in session's row read by primary key, answered as JSON.
    let baseline_app = Router::new().route(
        "/session",
        get(move || {
            let db = db.clone();
            async move {
                let row = session::Entity::find_by_id(session_id)
                    .one(&db)
                    .await
                    .unwrap();
                Json(json!({ "ok": true, "session": row.map(|s| s.id) }))
            }
        }),
    );
    // The layer's baseline: the same `/hello` answer, bare, fed constants.
    let user_id = uuid::Uuid::now_v7();
    let bare_hello = Router::new().route(
        "/hello",
        get(move || async move { hello_body(user_id, Some("hot@example.com")) }),
    );
    // The quickstart's mounting: `Router::layer`.
    let app = quickstart_routes(&bench.auth).layer(bench.auth.session_layer());
    // The same routes inside one layer around the whole router.
    let around = tower::Layer::layer(&bench.auth.session_layer(), quickstart_routes(&bench.auth));
    let token = &bench.access_token;
    let cookie =
        format!("GET /hello HTTP/1.1\r\nHost: localhost\r\nCookie: __session={token}\r\n\r\n");
    let hello = request("/hello", token);
    // (label, load, index of its baseline)
    let routines: Vec<(&str, Load<'_>, usize)> = vec![
        (
            "bare /hello (baseline)",
            load(rt, bare_hello, hello.clone()),
            0,
        ),
        (
            "/hello, layer + bearer",
            load(rt, app.clone(), hello.clone()),
            0,
        ),
        (
            "/hello, layer + cookie",
            load(rt, app.clone(), cookie.clone()),
            0,
        ),
        (
            "/hello, around the router, bearer",
            load(rt, around.clone(), hello.clone()),
            0,
        ),
        (
            "/hello, around the router, cookie",
            load(rt, around, cookie),
            0,
        ),
        (
            "session read (baseline)",
            load(rt, baseline_app, request("/session", token)),
            5,
        ),
        (
            "GET /v1/auth/me",
            load(rt, app.clone(), request("/v1/auth/me", token)),
            5,
        ),
        (
            "GET /v1/auth/sessions/current",
            load(rt, app.clone(), request("/v1/auth/sessions/current", token)),
            5,
        ),
        (
            "GET /v1/auth/sessions",
            load(rt, app.clone(), request("/v1/auth/sessions", token)),
            5,
        ),
        (
            "GET /v1/auth/me/passkeys",
            load(rt, app.clone(), request("/v1/auth/me/passkeys", token)),
            5,
        ),
        (
            "GET /healthz",
            load(rt, app.clone(), request("/healthz", token)),
            0,
        ),
        ("GET /readyz", load(rt, app, request("/readyz", token)), 5),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); routines.len()];
    let mut failures = vec![0u64; routines.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run, _)) in routines.iter().enumerate() {
            let (rps, failed) = run();
            samples[i].push(rps);
            failures[i] += failed;
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(middle).collect();
    println!("== {name}: over HTTP/1.1, {CONNECTIONS} connections, median of {ROUNDS} ==");
    for (i, (label, _, base)) in routines.iter().enumerate() {
        println!(
            "{label:<32} {:>9.0} req/s  {:>5.2}x {}  ({} not 2xx)",
            medians[i],
            medians[i] / medians[*base],
            routines[*base].0,
            failures[i]
        );
    }
    let (refreshes, failed) = rt.block_on(refresh_chains(
        &Router::new().nest("/v1/auth", bench.auth.router()),
        Duration::from_secs(3),
    ));
    println!(
        "refresh ({CHAINS} rotation chains, in-process) {refreshes:>9.0}/s  ({failed} failed)"
    );
    let (sign_ins, raw) = rt.block_on(sign_in_ratio(
        &Router::new().nest("/v1/auth", bench.auth.router()),
    ));
    println!(
        "sign-in (8 at a time, in-process, median of {ROUNDS}) {sign_ins:>9.1}/s vs raw argon2id \
         on every core {raw:.1}/s -> {:.2}x",
        sign_ins / raw
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = std::env::temp_dir().join(format!("portcullis-hot-{}.db", std::process::id()));
    let db = rt
        .block_on(sea_orm::Database::connect(portcullis::connect_options(
            &format!("sqlite://{}?mode=rwc", path.display()),
        )))
        .unwrap();
    run(&rt, "SQLite (a file, WAL)", db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }

    let pg = std::env::var("PORTCULLIS_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let server = rt.block_on(sea_orm::Database::connect(format!("{pg}/postgres")));
    match server {
        Ok(server) => {
            let name = format!("pt_hot_{}", std::process::id());
            rt.block_on(server.execute_unprepared(&format!("CREATE DATABASE {name}")))
                .unwrap();
            let db = rt
                .block_on(sea_orm::Database::connect(portcullis::connect_options(
                    &format!("{pg}/{name}"),
                )))
                .unwrap();
            run(&rt, "PostgreSQL", db.clone());
            rt.block_on(db.close()).unwrap();
            let _ = rt.block_on(server.execute_unprepared(&format!("DROP DATABASE {name}")));
        }
        Err(err) => println!("PostgreSQL: skipped ({err})"),
    }
}
