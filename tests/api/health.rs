//! Liveness and readiness: `/healthz` answers from the process alone, `/readyz` asks the
//! database, and a database that went away costs a quick 503, never a 500 or a hang.

use http::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn liveness_needs_no_database_and_readiness_reports_it() {
    let t = app().await;
    let token = sign_up(&t.app, "probe@example.com").await.access_token();

    let live = get_("/healthz").send(&t.app).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json, json!({ "ok": true }));
    let ready = get_("/readyz").send(&t.app).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json, json!({ "ok": true, "database": "up" }));

    // The database goes away (every pooled connection closed, none to be had).
    t.db.close_by_ref().await.unwrap();

    let live = get_("/healthz").send(&t.app).await;
    assert_eq!(
        live.status,
        StatusCode::OK,
        "a liveness probe must not restart us"
    );
    let ready = get_("/readyz").send(&t.app).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json["error"], "unavailable");

    // A route that reads the database answers the contract's 503, not a 500.
    let me = get_("/v1/auth/me").bearer(&token).send(&t.app).await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(me.json["error"], "unavailable");
    // The layer verifies tokens without the database: host routes keep serving.
    let hello = get_("/hello").bearer(&token).send(&t.app).await;
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(hello.json["email"], "probe@example.com");
}

#[tokio::test]
async fn readiness_is_method_checked_like_every_route() {
    let t = app().await;
    let response = post_("/readyz").send(&t.app).await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.json["error"], "method_not_allowed");
}
