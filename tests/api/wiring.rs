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
