//! The OpenAPI document (`Portcullis::openapi`): OpenAPI 3.1, every operation routed and
//! every route documented, error answers typed with their codes, and the README's contract
//! table naming exactly the documented operations. (That every answer matches the document
//! is proven from outside by `.ci/openapi-fuzz`.)

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use serde_json::Value;

use crate::common::*;

/// An app with every router's routes served: billing on (a Stripe it never reaches).
async fn full_app() -> TestApp {
    app_with(|b| {
        b.billing(|c| {
            c.stripe_secret_key = Some("sk_test_openapi".into());
            c.webhook_secrets = vec!["whsec_openapi".into()];
            c.api_base = "http://127.0.0.1:9".into();
        })
        .plans(vec![portcullis::config::Plan::new(
            "pro",
            "Pro",
            "price_pro",
            1200,
            "usd",
            "month",
        )])
        .waitlist("beta")
    })
    .await
}

fn document(t: &TestApp) -> Value {
    serde_json::to_value(t.auth.openapi()).unwrap()
}

/// `(METHOD, path)` of every operation of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            all.insert((method.to_uppercase(), path.clone()));
        }
    }
    all
}

fn each_operation(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    all
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_every_error_answer_typed_by_its_codes() {
    let t = full_app().await;
    let doc = document(&t);
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for scheme in ["access_token", "session_cookie", "api_key", "client_key"] {
        assert!(schemes.contains_key(scheme), "no {scheme} security scheme");
    }
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "__session");
    assert_eq!(schemes["client_key"]["name"], "x-api-key");

    let mut ids = BTreeSet::new();
    for (method, path, operation) in each_operation(&doc) {
        let id = operation["operationId"].as_str().unwrap().to_owned();
        assert!(
            ids.insert(id.clone()),
            "{method} {path}: operationId {id} twice"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3')),
            "{method} {path} documents no success"
        );
        for (status, answer) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let codes = &answer["content"]["application/json"]["schema"]["allOf"][1]["properties"]
                    ["error"]["enum"];
                let codes = codes.as_array().unwrap_or_else(|| {
                    panic!("{method} {path} {status}: no error codes in {answer}")
                });
                assert!(!codes.is_empty(), "{method} {path} {status}");
            }
        }
        // The app's routers fail fast and may be asked for a client key.
        if ["/v1/auth/", "/v1/orgs", "/v1/billing/"]
            .iter()
            .any(|p| path.starts_with(p))
        {
            assert!(responses.contains_key("503"), "{method} {path}");
            let unauthorized = &responses["401"]["content"]["application/json"]["schema"]["allOf"]
                [1]["properties"]["error"]["enum"];
            assert!(
                unauthorized
                    .as_array()
                    .unwrap()
                    .contains(&"invalid_client".into()),
                "{method} {path}"
            );
        }
    }
    // The shared answers are named types, not inline literals.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "User",
        "Session",
        "Grant",
        "ErrorBody",
        "AccessToken",
        "MfaChallenge",
    ] {
        assert!(schemas.contains_key(name), "no {name} schema");
    }
    // The session grant names its fields as the contract does.
    let grant: BTreeSet<&str> = schemas["Grant"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
        "ok",
        "user",
        "session",
        "access_token",
        "token_type",
        "expires_in",
    ] {
        assert!(grant.contains(field), "Grant lacks {field}");
    }
}

#[tokio::test]
async fn the_document_covers_every_router_under_the_contract_prefixes() {
    let t = full_app().await;
    let ops = operations(&document(&t));
    for (method, path) in [
        ("POST", "/v1/auth/sign-in/email-password"),
        ("GET", "/v1/auth/me"),
        ("POST", "/v1/orgs"),
        ("GET", "/v1/admin/users"),
        ("GET", "/v1/billing/plans"),
        ("POST", "/v1/stripe/webhook"),
        ("GET", "/.well-known/jwks.json"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    ] {
        assert!(
            ops.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} is not documented"
        );
    }
}

#[tokio::test]
async fn a_method_turned_off_and_billing_without_stripe_leave_the_document() {
    let t = app_with(|b| {
        b.sign_in(|s| s.disabled_methods = vec![portcullis::config::SignInMethod::Password])
    })
    .await;
    let ops = operations(&document(&t));
    assert!(!ops.contains(&("POST".into(), "/v1/auth/sign-in/email-password".into())));
    assert!(!ops.iter().any(|(_, path)| path.starts_with("/v1/billing")));
    assert!(ops.contains(&("GET".into(), "/v1/auth/me".into())));
    // And they are indeed not served.
    let answer = post_("/v1/auth/sign-in/email-password")
        .json(serde_json::json!({ "email": "a@example.com", "password": "x" }))
        .send(&t.app)
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

/// A concrete path for a documented one: a fresh UUID for ids, known names elsewhere.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{provider}" => "example".to_owned(),
            "{feature}" => "beta".to_owned(),
            s if s.starts_with('{') => uuid::Uuid::new_v4().to_string(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let t = full_app().await;
    let token = sign_up(&t.app, "routes@example.com").await.access_token();
    for (method, path) in operations(&document(&t)) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = req(method.clone(), &concrete(&path)).bearer(&token);
        if method != Method::GET {
            request = request.json(serde_json::json!({}));
        }
        let answer = request.send(&t.app).await;
        let unrouted =
            answer.status == StatusCode::NOT_FOUND && answer.json["message"] == "no such route";
        assert!(
            !unrouted && answer.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not served: {} {}",
            answer.status,
            answer.json
        );
        assert_ne!(
            answer.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{method} {path}: {}",
            answer.json
        );
    }
}

/// The rows of the README's contract table: `| METHOD | `path` | ... |` between its markers.
fn readme_operations() -> BTreeSet<(String, String)> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("<!-- contract:start -->")
        .expect("start marker");
    let end = readme.find("<!-- contract:end -->").expect("end marker");
    let mut rows = BTreeSet::new();
    for line in readme[start..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[2].starts_with('`') {
            continue;
        }
        let path = cells[2].trim_matches('`').to_owned();
        assert!(
            rows.insert((cells[1].to_owned(), path.clone())),
            "README lists {} {path} twice",
            cells[1]
        );
    }
    rows
}

#[tokio::test]
async fn the_readme_contract_table_names_exactly_the_documented_operations() {
    let t = full_app().await;
    let documented = operations(&document(&t));
    let listed = readme_operations();
    let missing: Vec<_> = documented.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "documented but not in the README: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in the README but not documented: {extra:?}"
    );
}

#[tokio::test]
async fn the_auth_router_is_documented_where_the_host_says_it_nests_it() {
    let t = app_with(|b| b.auth_base_path("/api/auth")).await;
    let ops = operations(&document(&t));
    assert!(ops.contains(&("GET".into(), "/api/auth/me".into())));
    assert!(!ops.iter().any(|(_, path)| path.starts_with("/v1/auth")));
    assert!(ops.contains(&("POST".into(), "/v1/orgs".into())));
}
