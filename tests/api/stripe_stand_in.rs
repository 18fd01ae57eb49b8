//! A Stripe stand-in on 127.0.0.1, following Stripe's documented API for the calls
//! portcullis makes: `POST /v1/customers`, `POST /v1/checkout/sessions`,
//! `POST /v1/billing_portal/sessions`, `GET` and `POST /v1/subscriptions/{id}`. Requests
//! are form-encoded with brackets (`line_items[0][price]=...`), authenticated with the
//! secret key as a bearer token, and `Idempotency-Key` replays the first answer (a
//! different request under a used key is refused, as Stripe does).

#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

pub const SECRET_KEY: &str = "sk_test_portcullis_stand_in";
pub const WEBHOOK_SECRET: &str = "whsec_portcullis_tests";

/// One request the stand-in answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub form: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
}

impl Call {
    /// The value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
pub struct Stand {
    pub calls: Vec<Call>,
    pub customers: Vec<String>,
    pub subscriptions: HashMap<String, Value>,
    /// Idempotency key → (the request's form, the answer).
    replays: HashMap<String, (Vec<(String, String)>, Value)>,
    /// Every call answers 500 while set.
    pub down: bool,
    next: u32,
}

pub type Shared = Arc<Mutex<Stand>>;

#[derive(Clone)]
pub struct StripeStandIn {
    pub stand: Shared,
    pub base: String,
}

fn stripe_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "type": "invalid_request_error", "message": message } })),
    )
        .into_response()
}

/// A refusal: the status and Stripe's message.
type Refused = (StatusCode, String);

fn refuse(status: StatusCode, message: &str) -> Refused {
    (status, message.to_owned())
}

/// Bearer key, idempotency replay, and the down switch, around each create.
fn handle(
    stand: &Shared,
    method: &'static str,
    path: String,
    headers: &HeaderMap,
    body: &[u8],
    answer: impl FnOnce(&mut Stand, &[(String, String)]) -> Result<Value, Refused>,
) -> Response {
    let mut stand = stand.lock().unwrap();
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"));
    if !authorized {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    if method == "POST"
        && headers.get("content-type").and_then(|v| v.to_str().ok())
            != Some("application/x-www-form-urlencoded")
    {
        return stripe_error(StatusCode::BAD_REQUEST, "expected a form body");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    stand.calls.push(Call {
        method,
        path,
        form: form.clone(),
        idempotency_key: idempotency_key.clone(),
    });
    if stand.down {
        return stripe_error(StatusCode::INTERNAL_SERVER_ERROR, "the stand-in is down");
    }
    if let Some(key) = &idempotency_key
        && let Some((earlier, answer)) = stand.replays.get(key)
    {
        if *earlier != form {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            );
        }
        return axum::Json(answer.clone()).into_response();
    }
    match answer(&mut stand, &form) {
        Ok(value) => {
            if let Some(key) = idempotency_key {
                stand.replays.insert(key, (form, value.clone()));
            }
            axum::Json(value).into_response()
        }
        Err((status, message)) => stripe_error(status, &message),
    }
}

fn required<'f>(form: &'f [(String, String)], name: &str) -> Result<&'f str, Refused> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                &format!("Missing required param: {name}."),
            )
        })
}

async fn customers(State(stand): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(
        &stand,
        "POST",
        "/v1/customers".into(),
        &headers,
        &body,
        |stand, _| {
            stand.next += 1;
            let id = format!("cus_stand{}", stand.next);
            stand.customers.push(id.clone());
            Ok(json!({ "id": id, "object": "customer" }))
        },
    )
}

async fn checkout_sessions(
    State(stand): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &stand,
        "POST",
        "/v1/checkout/sessions".into(),
        &headers,
        &body,
        |stand, form| {
            if required(form, "mode")? != "subscription" {
                return Err(refuse(StatusCode::BAD_REQUEST, "mode"));
            }
            let customer = required(form, "customer")?;
            if !stand.customers.iter().any(|c| c == customer) {
                return Err(refuse(StatusCode::BAD_REQUEST, "No such customer"));
            }
            required(form, "line_items[0][price]")?;
            required(form, "line_items[0][quantity]")?
                .parse::<u64>()
                .map_err(|_| refuse(StatusCode::BAD_REQUEST, "quantity"))?;
            for url in [
                required(form, "success_url")?,
                required(form, "cancel_url")?,
            ] {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    return Err(refuse(StatusCode::BAD_REQUEST, "Not a valid URL"));
                }
            }
            stand.next += 1;
            let id = format!("cs_test_stand{}", stand.next);
            Ok(json!({
                "id": id,
                "object": "checkout.session",
                "mode": "subscription",
                "url": format!("https://checkout.stripe.com/c/pay/{id}"),
            }))
        },
    )
}

async fn portal_sessions(State(stand): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(
        &stand,
        "POST",
        "/v1/billing_portal/sessions".into(),
        &headers,
        &body,
        |stand, form| {
            let customer = required(form, "customer")?;
            if !stand.customers.iter().any(|c| c == customer) {
                return Err(refuse(StatusCode::BAD_REQUEST, "No such customer"));
            }
            required(form, "return_url")?;
            stand.next += 1;
            Ok(json!({
                "id": format!("bps_stand{}", stand.next),
                "object": "billing_portal.session",
                "url": format!("https://billing.stripe.com/p/session/stand{}", stand.next),
            }))
        },
    )
}

async fn read_subscription(
    State(stand): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    handle(
        &stand,
        "GET",
        format!("/v1/subscriptions/{id}"),
        &headers,
        b"",
        |stand, _| {
            stand
                .subscriptions
                .get(&id)
                .cloned()
                .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "No such subscription"))
        },
    )
}

async fn update_subscription(
    State(stand): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &stand,
        "POST",
        format!("/v1/subscriptions/{id}"),
        &headers,
        &body,
        |stand, form| {
            let item = required(form, "items[0][id]")?.to_owned();
            let quantity: i64 = required(form, "items[0][quantity]")?
                .parse()
                .map_err(|_| refuse(StatusCode::BAD_REQUEST, "quantity"))?;
            let subscription = stand
                .subscriptions
                .get_mut(&id)
                .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "No such subscription"))?;
            if subscription["items"]["data"][0]["id"] != item.as_str() {
                return Err(refuse(StatusCode::BAD_REQUEST, "No such subscription item"));
            }
            subscription["items"]["data"][0]["quantity"] = json!(quantity);
            Ok(subscription.clone())
        },
    )
}

impl StripeStandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let stand = Shared::default();
        let router = Router::new()
            .route("/v1/customers", post(customers))
            .route("/v1/checkout/sessions", post(checkout_sessions))
            .route("/v1/billing_portal/sessions", post(portal_sessions))
            .route(
                "/v1/subscriptions/{id}",
                get(read_subscription).post(update_subscription),
            )
            .with_state(stand.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { stand, base }
    }

    pub fn calls(&self, path: &str) -> Vec<Call> {
        self.stand
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|call| call.path == path)
            .cloned()
            .collect()
    }

    pub fn call_count(&self) -> usize {
        self.stand.lock().unwrap().calls.len()
    }

    pub fn set_down(&self, down: bool) {
        self.stand.lock().unwrap().down = down;
    }

    /// Stores (or replaces) a subscription as Stripe would hold it, and returns it.
    pub fn put_subscription(&self, subscription: Value) -> Value {
        let id = subscription["id"].as_str().unwrap().to_owned();
        self.stand
            .lock()
            .unwrap()
            .subscriptions
            .insert(id, subscription.clone());
        subscription
    }

    pub fn subscription(&self, id: &str) -> Value {
        self.stand.lock().unwrap().subscriptions[id].clone()
    }
}

/// A subscription object in Stripe's shape (the period's end on the item, as in API
/// versions since 2025).
pub fn subscription(id: &str, customer: &str, status: &str, price: &str, quantity: i64) -> Value {
    json!({
        "id": id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": false,
        "livemode": false,
        "metadata": {},
        "items": {
            "object": "list",
            "data": [{
                "id": format!("si_{}", id.trim_start_matches("sub_")),
                "object": "subscription_item",
                "quantity": quantity,
                "current_period_end": 1_900_000_000,
                "price": { "id": price, "object": "price" },
            }],
        },
    })
}

/// An event in Stripe's shape.
pub fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": kind,
        "created": created,
        "livemode": false,
        "pending_webhooks": 1,
        "data": { "object": object },
    })
}

/// The `Stripe-Signature` header for `body` at `t`, computed here (not by portcullis):
/// `t=<t>,v1=<hex HMAC-SHA256 of "t.body">`.
pub fn signature(body: &str, secret: &str, t: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{t}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
