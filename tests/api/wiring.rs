//! The embedding contract: the routers nest into an app with its own state.

use axum::{Router, extract::State, routing::get};
use http::StatusCode;

use crate::common::*;

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[tokio::test]
async fn the_routers_nest_into_an_app_with_its_own_state() {
    let t = app().await;
    let app: Router = Router::new()
        .route(
            "/",
            get(|State(s): State<AppState>| async move { s.greeting }),
        )
        .nest("/v1/auth", t.auth.router())
        .merge(t.auth.well_known_router())
        .with_state(AppState { greeting: "hi" })
        .layer(t.auth.session_layer());
    assert_eq!(get_("/").send(&app).await.text, "hi");
    let grant = sign_up(&app, "nest@example.com").await;
    let me = get_("/v1/auth/me")
        .bearer(&grant.access_token())
        .send(&app)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(get_("/healthz").send(&app).await.status, StatusCode::OK);
}

/// A SQLite file opened with `connect_options` (several connections, WAL) takes
/// concurrent writers: sign-ups, refreshes and magic-link sign-ins at once all succeed,
/// none refused as contention. A magic link's transaction reads the link before it writes
/// the session: begun deferred, it could not take the write lock once another connection
/// had written meanwhile (`SQLITE_BUSY_SNAPSHOT`, a 503).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sqlite_file_takes_concurrent_writers() {
    if std::env::var("PORTCULLIS_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        return; // A SQLite matter; the server databases run the rest of the suite.
    }
    let path = std::env::temp_dir().join(format!("portcullis-wiring-{}.db", uuid::Uuid::new_v4()));
    let db = sea_orm::Database::connect(portcullis::connect_options(&format!(
        "sqlite://{}?mode=rwc",
        path.display()
    )))
    .await
    .unwrap();
    portcullis::migrate(&db).await.unwrap();
    let t = app_on(db, |b| b).await;

    let sign_ups = (0..24)
        .map(|i| {
            post_("/v1/auth/sign-up/email-password").json(
                serde_json::json!({ "email": format!("w{i}@example.com"), "password": PASSWORD }),
            )
        })
        .collect();
    let grants = parallel(&t.app, sign_ups).await;
    for grant in &grants {
        assert_eq!(grant.status, StatusCode::CREATED, "{}", grant.text);
    }
    // Each account refreshes its own chain while the others do, three steps each.
    let mut tokens: Vec<String> = grants.iter().map(Resp::refresh_token).collect();
    for _ in 0..3 {
        let refreshes = tokens
            .iter()
            .map(|token| {
                post_("/v1/auth/sessions/refresh")
                    .json(serde_json::json!({ "refresh_token": token }))
            })
            .collect();
        let answers = parallel(&t.app, refreshes).await;
        for answer in &answers {
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        }
        tokens = answers.iter().map(Resp::refresh_token).collect();
    }
    // Everyone asks for a magic link, then all follow theirs at once.
    let asks = (0..24)
        .map(|i| {
            post_("/v1/auth/sign-in/magic-link")
                .json(serde_json::json!({ "email": format!("w{i}@example.com") }))
        })
        .collect();
    for asked in parallel(&t.app, asks).await {
        assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    }
    let mut follows = Vec::new();
    for i in 0..24 {
        let link = link_in(&t.email(&format!("w{i}@example.com"), 1).await);
        follows.push(get_(&path_of(&link)).header("accept", "application/json"));
    }
    for signed_in in parallel(&t.app, follows).await {
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
        assert_eq!(signed_in.json["session"]["auth_method"], "magic_link");
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
