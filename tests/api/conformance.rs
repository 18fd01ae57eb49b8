//! Every answer the suite receives is checked against the OpenAPI document: an answer to a
//! documented operation must have a documented status, and a JSON body must match that
//! status's schema (so an error's code must be one the document lists for it). The fuzzer in
//! `.ci/openapi-fuzz` does the same from outside with generated requests; this covers every
//! flow the suite walks (passkeys, second factors, billing webhooks, ...) on all three
//! databases.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use http::{Method, StatusCode};
use serde_json::{Value, json};

/// The whole document, as JSON.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::to_value(portcullis::__private::openapi_document()).expect("a document")
});

/// A compiled validator per (operation, status, content type); `None` where the document
/// gives no schema.
type Validators = HashMap<(String, String, u16), Arc<Option<jsonschema::Validator>>>;
static VALIDATORS: LazyLock<Mutex<Validators>> = LazyLock::new(Mutex::default);

/// The documented path `path` is an instance of (literal segments beat parameters, so
/// `/v1/orgs/current` is not `/v1/orgs/{id}`), if any.
fn template_of(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    DOCUMENT["paths"]
        .as_object()?
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') {
                    continue;
                }
                if part != segment {
                    return None;
                }
                literal += 1;
            }
            Some((literal, template))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template.clone())
}

/// Panics unless the answer is one the document describes for the request.
pub fn check(method: &Method, path: &str, status: StatusCode, content_type: &str, body: &[u8]) {
    let Some(template) = template_of(path) else {
        return; // a host route of the test app, or a path nothing serves
    };
    let method_name = method.as_str().to_lowercase();
    let Some(operation) = DOCUMENT["paths"][&template].get(&method_name) else {
        return; // another method on a documented path: the 405 tests
    };
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if status == StatusCode::NOT_FOUND && parsed["message"] == "no such route" {
        return; // a route this test's app does not serve (a method turned off)
    }
    let Some(answer) = operation["responses"].get(status.as_str()) else {
        panic!(
            "{method} {path} ({template}) answered {status}, which the document does not list: {}",
            String::from_utf8_lossy(body)
        );
    };
    let media = content_type.split(';').next().unwrap_or("").trim();
    if body.is_empty() || media.is_empty() {
        return;
    }
    let Some(content) = answer["content"].get(media) else {
        panic!(
            "{method} {path} ({template}) answered {status} as {media}, which the document does \
             not list for it ({:?})",
            answer["content"]
                .as_object()
                .map(|c| c.keys().collect::<Vec<_>>())
        );
    };
    if media != "application/json" {
        return;
    }
    let key = (template.clone(), method_name, status.as_u16());
    let validator = VALIDATORS
        .lock()
        .unwrap()
        .entry(key)
        .or_insert_with(|| Arc::new(compile(&content["schema"])))
        .clone();
    if let Some(validator) = validator.as_ref() {
        let errors: Vec<String> = validator
            .iter_errors(&parsed)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} ({template}) answered {status} with a body the document does not \
             describe: {errors:?}\n{parsed}"
        );
    }
}

/// A validator for `schema`, whose `#/components/...` references resolve in the document.
fn compile(schema: &Value) -> Option<jsonschema::Validator> {
    if schema.is_null() {
        return None;
    }
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": DOCUMENT["components"],
        "allOf": [schema],
    });
    Some(jsonschema::validator_for(&root).expect("the document's schemas compile"))
}

#[test]
#[should_panic(expected = "which the document does not list")]
fn an_undocumented_status_fails_the_check() {
    check(
        &Method::GET,
        "/v1/auth/me",
        StatusCode::IM_A_TEAPOT,
        "application/json",
        br#"{"ok":false,"error":"teapot","message":"short and stout"}"#,
    );
}

#[test]
#[should_panic(expected = "a body the document does not describe")]
fn an_error_code_the_answer_does_not_list_fails_the_check() {
    // `GET /me` can be unauthorized, but never `email_taken`.
    check(
        &Method::GET,
        "/v1/auth/me",
        StatusCode::UNAUTHORIZED,
        "application/json",
        br#"{"ok":false,"error":"email_taken","message":"no"}"#,
    );
}

#[test]
fn a_documented_answer_passes_and_literal_segments_win_over_parameters() {
    check(
        &Method::GET,
        "/v1/auth/me",
        StatusCode::UNAUTHORIZED,
        "application/json",
        br#"{"ok":false,"error":"unauthorized","message":"sign in"}"#,
    );
    assert_eq!(template_of("/v1/orgs/current").unwrap(), "/v1/orgs/current");
    assert_eq!(
        template_of("/v1/orgs/0190c2b4-0000-7000-8000-000000000000?x=1").unwrap(),
        "/v1/orgs/{id}"
    );
    assert!(template_of("/hello").is_none());
}
