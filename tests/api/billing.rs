//! Billing against a Stripe stand-in on 127.0.0.1: the catalog, checkout (form encoding,
//! idempotency keys, one customer per payer, payer authorization before any Stripe call),
//! the subscription and the portal, and the webhook: signatures, duplicates (fifty at
//! once), out-of-order events, a database failure mid-event, entitlements in the token,
//! seats following members.

use http::{Method, StatusCode};
use portcullis::{billing::Payer, config::Plan};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _, IntoActiveModel as _,
    PaginatorTrait as _,
};
use serde_json::{Value, json};

use crate::{
    common::*,
    stripe_stand_in::{
        SECRET_KEY, StripeStandIn, WEBHOOK_SECRET, event, now, signature, subscription,
    },
};

fn catalog() -> Vec<Plan> {
    vec![
        Plan::new("pro", "Pro", "price_pro", 1200, "usd", "month")
            .features(["reports", "export"])
            .trial_days(14),
        Plan::new("team", "Team", "price_team", 800, "usd", "month")
            .features(["reports", "shared"])
            .per_seat(true),
        Plan::new("basic", "Basic", "price_basic", 500, "usd", "month"),
    ]
}

async fn billing_app(stand: &StripeStandIn) -> TestApp {
    let base = stand.base.clone();
    app_with(move |b| {
        b.billing(|c| {
            c.stripe_secret_key = Some(SECRET_KEY.into());
            c.webhook_secrets = vec!["whsec_old_one".into(), WEBHOOK_SECRET.into()];
            c.api_base = base;
        })
        .plans(catalog())
    })
    .await
}

/// The token's `features` claim (absent when empty).
fn features(token: &str) -> Vec<String> {
    serde_json::from_value(claims(token)["features"].clone()).unwrap_or_default()
}

fn user_id(grant: &Resp) -> String {
    grant.json["user"]["id"].as_str().unwrap().to_owned()
}

async fn checkout(t: &TestApp, token: &str, body: Value) -> Resp {
    post_("/v1/billing/checkout")
        .bearer(token)
        .json(body)
        .send(&t.app)
        .await
}

fn pro_checkout() -> Value {
    json!({
        "plan_id": "pro",
        "success_url": format!("{ORIGIN}/billing?done={{CHECKOUT_SESSION_ID}}"),
        "cancel_url": "/billing",
    })
}

async fn deliver(t: &TestApp, event: &Value) -> Resp {
    let body = event.to_string();
    post_("/v1/stripe/webhook")
        .raw("application/json", body.clone())
        .header("stripe-signature", &signature(&body, WEBHOOK_SECRET, now()))
        .send(&t.app)
        .await
}

async fn current(t: &TestApp, token: &str, org: Option<&str>) -> Resp {
    let path = match org {
        Some(org) => format!("/v1/billing/subscription?org_id={org}"),
        None => "/v1/billing/subscription".into(),
    };
    get_(&path).bearer(token).send(&t.app).await
}

async fn event_rows(t: &TestApp) -> u64 {
    portcullis::entity::stripe_event::Entity::find()
        .count(&t.db)
        .await
        .unwrap()
}

/// A user who checked out `pro` (so has a customer), and that customer's id.
async fn customer_with_checkout(t: &TestApp, stand: &StripeStandIn, email: &str) -> (Resp, String) {
    let grant = sign_up(&t.app, email).await;
    let resp = checkout(t, &grant.access_token(), pro_checkout()).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let customer = stand
        .calls("/v1/checkout/sessions")
        .last()
        .unwrap()
        .field("customer")
        .unwrap()
        .to_owned();
    (grant, customer)
}

#[tokio::test]
async fn plans_are_public_and_billing_is_off_without_keys() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let resp = get_("/v1/billing/plans").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let plans = resp.json["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 3);
    assert_eq!(
        plans[0],
        json!({ "id": "pro", "name": "Pro", "price_id": "price_pro", "amount": 1200, "currency": "usd",
                "interval": "month", "features": ["reports", "export"], "trial_days": 14, "per_seat": false })
    );
    assert_eq!(plans[1]["per_seat"], true);

    // Without Stripe keys, billing does not exist.
    let off = app().await;
    for (method, path) in [
        (Method::GET, "/v1/billing/plans"),
        (Method::POST, "/v1/stripe/webhook"),
    ] {
        let resp = req(method, path).send(&off.app).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}: {}", resp.text);
        assert_eq!(resp.error_code(), "not_found");
    }
}

#[tokio::test]
async fn build_names_what_is_wrong_with_the_catalog_and_keys() {
    type Change = Box<dyn Fn(&mut portcullis::config::BillingConfig)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "declared twice",
            Box::new(|c| {
                c.plans
                    .push(Plan::new("pro", "Again", "price_other", 1, "usd", "month"))
            }),
        ),
        (
            "another plan's",
            Box::new(|c| {
                c.plans
                    .push(Plan::new("other", "Other", "price_pro", 1, "usd", "month"))
            }),
        ),
        (
            "price_id",
            Box::new(|c| {
                c.plans
                    .push(Plan::new("x", "X", "prod_123", 1, "usd", "month"))
            }),
        ),
        (
            "currency",
            Box::new(|c| {
                c.plans
                    .push(Plan::new("x", "X", "price_x", 1, "USD", "month"))
            }),
        ),
        (
            "interval",
            Box::new(|c| {
                c.plans
                    .push(Plan::new("x", "X", "price_x", 1, "usd", "fortnight"))
            }),
        ),
        (
            "ids are",
            Box::new(|c| {
                c.plans
                    .push(Plan::new("Pro Plan", "X", "price_x", 1, "usd", "month"))
            }),
        ),
        ("webhook_secrets", Box::new(|c| c.webhook_secrets.clear())),
        (
            "stripe_secret_key",
            Box::new(|c| c.stripe_secret_key = Some("pk_test_123".into())),
        ),
        ("api_base", Box::new(|c| c.api_base = "not a url".into())),
    ];
    for (expected, change) in cases {
        let db = database().await;
        let result = builder(db)
            .billing(|c| {
                c.stripe_secret_key = Some(SECRET_KEY.into());
                c.webhook_secrets = vec![WEBHOOK_SECRET.into()];
                c.plans = catalog();
                change(c);
            })
            .build()
            .await;
        let err = result
            .err()
            .unwrap_or_else(|| panic!("built despite {expected}"))
            .to_string();
        assert!(
            err.contains("billing") && err.contains(expected),
            "{expected}: {err}"
        );
    }
}

#[tokio::test]
async fn checkout_opens_a_subscription_session_for_one_customer_per_payer() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let grant = sign_up(&t.app, "payer@example.com").await;
    let token = grant.access_token();
    let first = checkout(&t, &token, pro_checkout()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(
        first.json["id"].as_str().unwrap().starts_with("cs_"),
        "{}",
        first.text
    );
    assert!(
        first.json["url"]
            .as_str()
            .unwrap()
            .starts_with("https://checkout.stripe.com/")
    );

    let customers = stand.calls("/v1/customers");
    assert_eq!(customers.len(), 1);
    let payer = format!("user:{}", user_id(&grant));
    assert_eq!(customers[0].field("email"), Some("payer@example.com"));
    assert_eq!(
        customers[0].field("metadata[portcullis_payer]"),
        Some(payer.as_str())
    );
    assert!(customers[0].idempotency_key.is_some());

    let session = stand.calls("/v1/checkout/sessions")[0].clone();
    assert_eq!(session.field("mode"), Some("subscription"));
    assert_eq!(session.field("customer"), Some("cus_stand1"));
    assert_eq!(session.field("line_items[0][price]"), Some("price_pro"));
    assert_eq!(session.field("line_items[0][quantity]"), Some("1"));
    assert_eq!(
        session.field("subscription_data[trial_period_days]"),
        Some("14")
    );
    assert_eq!(session.field("client_reference_id"), Some(payer.as_str()));
    assert_eq!(session.field("metadata[portcullis_plan]"), Some("pro"));
    assert_eq!(
        session.field("success_url"),
        Some(format!("{ORIGIN}/billing?done={{CHECKOUT_SESSION_ID}}").as_str())
    );
    // A path is made absolute against the public URL (Stripe needs absolute URLs).
    assert_eq!(
        session.field("cancel_url"),
        Some(format!("{ORIGIN}/billing").as_str())
    );

    // No live subscription yet: a second checkout reuses the customer, with its own key.
    let basic = checkout(
        &t,
        &token,
        json!({ "plan_id": "basic", "success_url": "/ok", "cancel_url": "/no" }),
    )
    .await;
    assert_eq!(basic.status, StatusCode::OK, "{}", basic.text);
    assert_eq!(
        stand.calls("/v1/customers").len(),
        1,
        "the customer is reused"
    );
    let sessions = stand.calls("/v1/checkout/sessions");
    assert_eq!(sessions[1].field("customer"), Some("cus_stand1"));
    assert_eq!(
        sessions[1].field("subscription_data[trial_period_days]"),
        None,
        "no trial"
    );
    assert_ne!(sessions[0].idempotency_key, sessions[1].idempotency_key);
    assert!(sessions[1].idempotency_key.is_some());
}

#[tokio::test]
async fn racing_first_checkouts_share_one_customer() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let token = sign_up(&t.app, "racer@example.com").await.access_token();
    let requests = (0..10)
        .map(|_| {
            post_("/v1/billing/checkout")
                .bearer(&token)
                .json(pro_checkout())
        })
        .collect();
    for resp in parallel(&t.app, requests).await {
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    }
    let customers: std::collections::BTreeSet<_> = stand
        .calls("/v1/checkout/sessions")
        .iter()
        .map(|call| call.field("customer").unwrap().to_owned())
        .collect();
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(stand.stand.lock().unwrap().customers.len(), 1);
    let rows = portcullis::entity::billing_customer::Entity::find()
        .count(&t.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn checkout_refusals_never_reach_stripe() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let owner = sign_up(&t.app, "owner@example.com").await;
    let stranger = sign_up(&t.app, "stranger@example.com").await;
    let org = post_("/v1/orgs")
        .bearer(&owner.access_token())
        .json(json!({ "name": "Acme" }))
        .send(&t.app)
        .await;
    let org_id = org.json["org"]["id"].as_str().unwrap().to_owned();

    let cases = [
        (
            None,
            json!({ "plan_id": "gold", "success_url": "/ok", "cancel_url": "/no" }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            None,
            json!({ "plan_id": "pro", "success_url": "https://evil.example/ok", "cancel_url": "/no" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            None,
            json!({ "plan_id": "pro", "success_url": "/ok", "cancel_url": "//evil.example" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            None,
            json!({ "plan_id": "pro", "success_url": "/ok" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            None,
            json!({ "plan_id": "team", "success_url": "/ok", "cancel_url": "/no", "seats": 0 }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // Not a member of the organization: it does not exist for them.
        (
            Some(stranger.access_token()),
            json!({ "plan_id": "pro", "success_url": "/ok", "cancel_url": "/no", "org_id": org_id }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (token, body, status, code) in cases {
        let token = token.unwrap_or_else(|| owner.access_token());
        let resp = checkout(&t, &token, body.clone()).await;
        assert_eq!(resp.status, status, "{body}: {}", resp.text);
        assert_eq!(resp.error_code(), code, "{body}");
    }
    let anonymous = post_("/v1/billing/checkout")
        .json(pro_checkout())
        .send(&t.app)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stand.call_count(), 0, "nothing reached Stripe");

    // Stripe down: 503, and nothing half-written (no customer stored).
    stand.set_down(true);
    let down = checkout(&t, &owner.access_token(), pro_checkout()).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.text
    );
    assert_eq!(down.error_code(), "unavailable");
    let rows = portcullis::entity::billing_customer::Entity::find()
        .count(&t.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn webhook_signatures_are_checked_before_anything_is_read() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let body = event("evt_sig", "ping.unknown", now(), json!({})).to_string();
    let send = |header: Option<String>, body: String| {
        let mut request = post_("/v1/stripe/webhook").raw("application/json", body);
        if let Some(header) = header {
            request = request.header("stripe-signature", &header);
        }
        request
    };
    let good = signature(&body, WEBHOOK_SECRET, now());
    let v1 = good.split("v1=").nth(1).unwrap().to_owned();
    let refused = [
        (None, body.clone(), "missing header"),
        (
            Some(signature(&body, "whsec_wrong", now())),
            body.clone(),
            "wrong secret",
        ),
        (
            Some(signature(&body, WEBHOOK_SECRET, now() - 301)),
            body.clone(),
            "too old",
        ),
        (
            Some(signature(&body, WEBHOOK_SECRET, now() + 301)),
            body.clone(),
            "from the future",
        ),
        (
            Some(good.clone()),
            body.replace("evt_sig", "evt_sih"),
            "tampered body",
        ),
        (Some(format!("v1={v1}")), body.clone(), "no timestamp"),
        (Some(format!("t={}", now())), body.clone(), "no v1"),
        (
            Some(format!("t={},v0={v1}", now())),
            body.clone(),
            "only v0",
        ),
        (Some("garbage".into()), body.clone(), "garbage"),
    ];
    for (header, body, why) in refused {
        let resp = send(header, body).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{why}: {}", resp.text);
        assert_eq!(resp.error_code(), "invalid_signature", "{why}");
    }
    // Several v1 (Stripe sends one per active secret): any that matches passes; the
    // rotated-out secret is still accepted while configured.
    let several = format!("t={},v1={},v1={v1}", now(), "ab".repeat(32));
    for header in [several, signature(&body, "whsec_old_one", now())] {
        let resp = send(Some(header), body.clone()).send(&t.app).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        assert_eq!(
            resp.json["received"], "ignored",
            "an unknown type is acknowledged"
        );
    }
    // Authentic but not an event: 400 invalid_request.
    for not_an_event in ["not json", "{\"id\":\"evt_1\"}", "[]"] {
        let resp = send(
            Some(signature(not_an_event, WEBHOOK_SECRET, now())),
            not_an_event.into(),
        )
        .send(&t.app)
        .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{not_an_event}");
        assert_eq!(resp.error_code(), "invalid_request");
    }
    // Over 1 MiB: 413 before anything else.
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024));
    let resp = send(Some(signature(&huge, WEBHOOK_SECRET, now())), huge)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.error_code(), "payload_too_large");
    // The other mode (live, with a test key): acknowledged, not applied.
    let mut live = event(
        "evt_live",
        "customer.subscription.created",
        now(),
        subscription("sub_live", "cus_stand1", "active", "price_pro", 1),
    );
    live["livemode"] = json!(true);
    let resp = deliver(&t, &live).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json["received"], "ignored");
    assert_eq!(event_rows(&t).await, 0);
    // The tolerance is about the signature's `t`: an event created days ago but signed
    // now (a retry) is fine.
    let old = event("evt_old", "ping.unknown", now() - 3 * 86_400, json!({}));
    assert_eq!(deliver(&t, &old).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_subscription_lives_through_its_events_and_its_plan_rides_in_the_token() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let (grant, customer) = customer_with_checkout(&t, &stand, "life@example.com").await;
    let token = grant.access_token();
    assert_eq!(
        current(&t, &token, None).await.json["subscription"],
        Value::Null
    );

    // Checkout completes: the event names the subscription; portcullis asks Stripe.
    stand.put_subscription(subscription(
        "sub_life",
        &customer,
        "trialing",
        "price_pro",
        1,
    ));
    let t0 = now() - 100;
    let completed = event(
        "evt_completed",
        "checkout.session.completed",
        t0,
        json!({ "id": "cs_test_stand2", "object": "checkout.session", "mode": "subscription",
                "customer": customer, "subscription": "sub_life", "client_reference_id": format!("user:{}", user_id(&grant)) }),
    );
    let resp = deliver(&t, &completed).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["received"], "applied");
    assert_eq!(
        stand.calls("/v1/subscriptions/sub_life").len(),
        1,
        "fetched from Stripe"
    );
    let shown = current(&t, &token, None).await;
    assert_eq!(
        shown.json["subscription"],
        json!({ "id": "sub_life", "plan_id": "pro", "status": "trialing",
                "current_period_end": "2030-03-17T17:46:40Z", "cancel_at_period_end": false,
                "seats": 1, "user_id": user_id(&grant), "org_id": null }),
        "{}",
        shown.text
    );

    // The next token carries the plan's features; RequirePlan lets them in.
    let refreshed = refresh(&t.app, &grant.refresh_token()).await;
    assert_eq!(
        features(&refreshed.access_token()),
        ["export", "plan:pro", "reports"]
    );
    for path in ["/pro", "/paid"] {
        let resp = get_(path)
            .bearer(&refreshed.access_token())
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{path}: {}", resp.text);
    }
    // So does an API key of the payer: the same features as a session's token.
    let key = post_("/v1/auth/me/api-keys")
        .bearer(&refreshed.access_token())
        .json(json!({ "name": "ci" }))
        .send(&t.app)
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.text);
    let pro = get_("/pro")
        .bearer(key.json["secret"].as_str().unwrap())
        .send(&t.app)
        .await;
    assert_eq!(pro.status, StatusCode::OK, "{}", pro.text);
    let entitlements = t
        .auth
        .billing()
        .entitlements(Payer::User(user_id(&grant).parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(entitlements.plans, vec!["pro".to_owned()]);
    assert_eq!(
        entitlements.features,
        vec!["export".to_owned(), "reports".to_owned()]
    );

    // A live subscription: another checkout is a conflict (plans change in the portal).
    let again = checkout(&t, &token, pro_checkout()).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "conflict");

    // Active, then a failed payment: past_due keeps the features within the grace.
    let active = subscription("sub_life", &customer, "active", "price_pro", 1);
    deliver(
        &t,
        &event(
            "evt_active",
            "customer.subscription.updated",
            t0 + 10,
            active,
        ),
    )
    .await;
    assert_eq!(
        current(&t, &token, None).await.json["subscription"]["status"],
        "active"
    );
    stand.put_subscription(subscription(
        "sub_life",
        &customer,
        "past_due",
        "price_pro",
        1,
    ));
    let failed = json!({ "id": "in_1", "object": "invoice", "customer": customer,
                         "parent": { "subscription_details": { "subscription": "sub_life" } } });
    let resp = deliver(
        &t,
        &event("evt_failed", "invoice.payment_failed", t0 + 20, failed),
    )
    .await;
    assert_eq!(resp.json["received"], "applied", "{}", resp.text);
    assert_eq!(
        current(&t, &token, None).await.json["subscription"]["status"],
        "past_due"
    );
    let refreshed = refresh(&t.app, &refreshed.refresh_token()).await;
    assert_eq!(
        get_("/pro")
            .bearer(&refreshed.access_token())
            .send(&t.app)
            .await
            .status,
        StatusCode::OK
    );
    // Past the grace (seven days by default): the features go.
    let row = portcullis::entity::subscription::Entity::find_by_id("sub_life".to_owned())
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    let mut row = row.into_active_model();
    row.past_due_since = Set(Some(
        time::OffsetDateTime::now_utc() - time::Duration::days(8),
    ));
    row.update(&t.db).await.unwrap();
    let refreshed = refresh(&t.app, &refreshed.refresh_token()).await;
    assert_eq!(features(&refreshed.access_token()), Vec::<String>::new());
    for path in ["/pro", "/paid"] {
        let resp = get_(path)
            .bearer(&refreshed.access_token())
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(resp.error_code(), "plan_required");
    }

    // Paid after all (invoice.paid, older API shape: `subscription` at the top).
    stand.put_subscription(subscription(
        "sub_life",
        &customer,
        "active",
        "price_pro",
        1,
    ));
    let paid = json!({ "id": "in_1", "object": "invoice", "customer": customer, "subscription": "sub_life" });
    deliver(&t, &event("evt_paid", "invoice.paid", t0 + 30, paid)).await;
    assert_eq!(
        current(&t, &token, None).await.json["subscription"]["status"],
        "active"
    );

    // Canceled: still shown, as canceled, and a new checkout is allowed.
    let mut gone = subscription("sub_life", &customer, "canceled", "price_pro", 1);
    gone["cancel_at_period_end"] = json!(false);
    deliver(
        &t,
        &event(
            "evt_deleted",
            "customer.subscription.deleted",
            t0 + 40,
            gone,
        ),
    )
    .await;
    let shown = current(&t, &token, None).await;
    assert_eq!(shown.json["subscription"]["status"], "canceled");
    assert_eq!(shown.json["subscription"]["id"], "sub_life");
    let refreshed = refresh(&t.app, &refreshed.refresh_token()).await;
    assert_eq!(features(&refreshed.access_token()), Vec::<String>::new());
    let resp = checkout(&t, &token, pro_checkout()).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}

#[tokio::test]
async fn fifty_deliveries_of_one_event_apply_it_once() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let (_, customer) = customer_with_checkout(&t, &stand, "dup@example.com").await;
    let created = event(
        "evt_once",
        "customer.subscription.created",
        now(),
        subscription("sub_once", &customer, "active", "price_pro", 1),
    );
    let body = created.to_string();
    let requests = (0..50)
        .map(|_| {
            post_("/v1/stripe/webhook")
                .raw("application/json", body.clone())
                .header("stripe-signature", &signature(&body, WEBHOOK_SECRET, now()))
        })
        .collect();
    let answers = parallel(&t.app, requests).await;
    let mut applied = 0;
    for resp in &answers {
        assert!(resp.status.is_success(), "{}", resp.text);
        match resp.json["received"].as_str().unwrap() {
            "applied" => applied += 1,
            "duplicate" => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(event_rows(&t).await, 1);
    let subscriptions = portcullis::entity::subscription::Entity::find()
        .count(&t.db)
        .await
        .unwrap();
    assert_eq!(subscriptions, 1);
}

#[tokio::test]
async fn events_out_of_order_never_roll_a_subscription_back() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let (grant, customer) = customer_with_checkout(&t, &stand, "order@example.com").await;
    let token = grant.access_token();
    let t0 = now() - 1000;
    // The update arrives first, then the creation it followed.
    let later = event(
        "evt_later",
        "customer.subscription.updated",
        t0 + 5,
        subscription("sub_order", &customer, "active", "price_pro", 1),
    );
    let earlier = event(
        "evt_earlier",
        "customer.subscription.created",
        t0,
        subscription("sub_order", &customer, "incomplete", "price_pro", 1),
    );
    assert_eq!(deliver(&t, &later).await.json["received"], "applied");
    assert_eq!(deliver(&t, &earlier).await.json["received"], "stale");
    assert_eq!(
        current(&t, &token, None).await.json["subscription"]["status"],
        "active"
    );
    // A stale event is recorded: delivered again, it is a duplicate.
    assert_eq!(deliver(&t, &earlier).await.json["received"], "duplicate");

    // Two different states stamped with the same second: Stripe is asked, and wins.
    stand.put_subscription(subscription(
        "sub_order",
        &customer,
        "canceled",
        "price_pro",
        1,
    ));
    let tie = event(
        "evt_tie",
        "customer.subscription.updated",
        t0 + 5,
        subscription("sub_order", &customer, "past_due", "price_pro", 1),
    );
    assert_eq!(deliver(&t, &tie).await.json["received"], "applied");
    assert_eq!(stand.calls("/v1/subscriptions/sub_order").len(), 1);
    assert_eq!(
        current(&t, &token, None).await.json["subscription"]["status"],
        "canceled"
    );

    // A plan changed in the portal: the new price maps to its plan.
    let switched = event(
        "evt_switch",
        "customer.subscription.updated",
        t0 + 9,
        subscription("sub_order", &customer, "active", "price_basic", 1),
    );
    deliver(&t, &switched).await;
    assert_eq!(
        current(&t, &token, None).await.json["subscription"]["plan_id"],
        "basic"
    );

    // A customer portcullis never made: acknowledged, not stored.
    let foreign = event(
        "evt_foreign",
        "customer.subscription.created",
        t0,
        subscription("sub_foreign", "cus_elsewhere", "active", "price_pro", 1),
    );
    assert_eq!(deliver(&t, &foreign).await.json["received"], "ignored");
}

#[tokio::test]
async fn a_database_failure_answers_5xx_and_the_retry_applies_once() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let (grant, customer) = customer_with_checkout(&t, &stand, "fail@example.com").await;
    // `invoice.paid` reads nothing of ours before its transaction (the subscription comes
    // from Stripe): the failure strikes after the event id is inserted, inside it.
    stand.put_subscription(subscription(
        "sub_retry",
        &customer,
        "active",
        "price_pro",
        1,
    ));
    let created = event(
        "evt_retry",
        "invoice.paid",
        now(),
        json!({ "id": "in_retry", "object": "invoice", "customer": customer, "subscription": "sub_retry" }),
    );
    sql(
        &t.db,
        "ALTER TABLE portcullis_subscriptions RENAME TO portcullis_subscriptions_away",
    )
    .await;
    let failed = deliver(&t, &created).await;
    sql(
        &t.db,
        "ALTER TABLE portcullis_subscriptions_away RENAME TO portcullis_subscriptions",
    )
    .await;
    assert!(
        failed.status.is_server_error(),
        "{} {}",
        failed.status,
        failed.text
    );
    assert_eq!(
        event_rows(&t).await,
        0,
        "the event id rolled back with its effect"
    );

    // Stripe delivers it again.
    let retried = deliver(&t, &created).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.json["received"], "applied");
    assert_eq!(deliver(&t, &created).await.json["received"], "duplicate");
    assert_eq!(
        current(&t, &grant.access_token(), None).await.json["subscription"]["status"],
        "active"
    );

    // Stripe unreachable when the event must be fetched: 5xx too, nothing recorded.
    stand.set_down(true);
    let completed = event(
        "evt_fetch",
        "checkout.session.completed",
        now(),
        json!({ "id": "cs_x", "object": "checkout.session", "mode": "subscription", "subscription": "sub_retry" }),
    );
    let resp = deliver(&t, &completed).await;
    assert_eq!(
        resp.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        resp.text
    );
    assert_eq!(event_rows(&t).await, 1);
}

/// A verified person (invitations are accepted by verified addresses).
async fn verified(t: &TestApp, email: &str) -> Resp {
    let grant = sign_up(&t.app, email).await;
    let id: uuid::Uuid = user_id(&grant).parse().unwrap();
    let user = portcullis::entity::user::Entity::find_by_id(id)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    let mut user = user.into_active_model();
    user.email_verified_at = Set(Some(time::OffsetDateTime::now_utc()));
    user.update(&t.db).await.unwrap();
    grant
}

async fn invite(t: &TestApp, org: &str, owner: &str, who: &Resp, role: &str) {
    let email = who.json["user"]["email"].as_str().unwrap();
    let count = t.mail.sent_to(email).len() + 1;
    let resp = post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(owner)
        .json(json!({ "email": email, "role": role }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    let token = token_in(&t.email(email, count).await);
    let resp = post_("/v1/orgs/invitations/accept")
        .bearer(&who.access_token())
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}

/// Waits for the seat task to tell the stand-in (it runs on its own task).
async fn quantity_becomes(stand: &StripeStandIn, id: &str, quantity: i64) {
    for _ in 0..100 {
        if stand.subscription(id)["items"]["data"][0]["quantity"] == quantity {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the quantity never became {quantity}: {}",
        stand.subscription(id)
    );
}

#[tokio::test]
async fn an_organization_pays_per_seat_and_its_members_get_the_features() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let owner = verified(&t, "boss@example.com").await;
    let member = verified(&t, "crew@example.com").await;
    let second = verified(&t, "mate@example.com").await;
    let org = post_("/v1/orgs")
        .bearer(&owner.access_token())
        .json(json!({ "name": "Seats Inc" }))
        .send(&t.app)
        .await;
    let org_id = org.json["org"]["id"].as_str().unwrap().to_owned();
    invite(&t, &org_id, &owner.access_token(), &member, "member").await;

    // A member (org:read) sees the subscription, but only billing:manage pays.
    let team = json!({ "plan_id": "team", "success_url": "/ok", "cancel_url": "/no", "org_id": org_id, "seats": 50 });
    let refused = checkout(&t, &member.access_token(), team.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(stand.call_count(), 0);
    let resp = checkout(&t, &owner.access_token(), team).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let session = stand.calls("/v1/checkout/sessions")[0].clone();
    assert_eq!(
        session.field("line_items[0][quantity]"),
        Some("2"),
        "the member count, not `seats`"
    );
    assert_eq!(
        session.field("client_reference_id"),
        Some(format!("organization:{org_id}").as_str())
    );
    let customer = session.field("customer").unwrap().to_owned();
    assert_eq!(
        stand.calls("/v1/customers")[0].field("name"),
        Some("Seats Inc")
    );

    let state = stand.put_subscription(subscription(
        "sub_team",
        &customer,
        "active",
        "price_team",
        2,
    ));
    let resp = deliver(
        &t,
        &event("evt_team", "customer.subscription.created", now(), state),
    )
    .await;
    assert_eq!(resp.json["received"], "applied", "{}", resp.text);
    let seen = current(&t, &member.access_token(), Some(&org_id)).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(seen.json["subscription"]["org_id"], org_id.as_str());
    assert_eq!(seen.json["subscription"]["user_id"], Value::Null);
    assert_eq!(seen.json["subscription"]["seats"], 2);
    let outsider = current(&t, &second.access_token(), Some(&org_id)).await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    // The user's own subscription is another payer's.
    assert_eq!(
        current(&t, &member.access_token(), None).await.json["subscription"],
        Value::Null
    );

    // Acting in the organization, the member's token carries the plan's features.
    let acting = req(Method::PATCH, "/v1/orgs/current")
        .bearer(&member.access_token())
        .json(json!({ "org_id": org_id }))
        .send(&t.app)
        .await;
    assert_eq!(acting.status, StatusCode::OK, "{}", acting.text);
    assert_eq!(
        claims(&acting.access_token())["features"],
        json!(["plan:team", "reports", "shared"])
    );

    // A third member: the quantity follows.
    invite(&t, &org_id, &owner.access_token(), &second, "member").await;
    quantity_becomes(&stand, "sub_team", 3).await;
    let update = stand
        .calls("/v1/subscriptions/sub_team")
        .last()
        .unwrap()
        .clone();
    assert_eq!(update.method, "POST");
    assert_eq!(update.field("items[0][id]"), Some("si_team"));

    // Stripe down: the removal still happens at once; the count is told later.
    stand.set_down(true);
    let removed = req(
        Method::DELETE,
        &format!("/v1/orgs/{org_id}/members/{}", user_id(&second)),
    )
    .bearer(&owner.access_token())
    .send(&t.app)
    .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    stand.set_down(false);
    // The background try may have run while it was down; the host can run a round now.
    for _ in 0..100 {
        if stand.subscription("sub_team")["items"]["data"][0]["quantity"] == 2 {
            break;
        }
        t.auth.billing().sync_seats().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    quantity_becomes(&stand, "sub_team", 2).await;
}

#[tokio::test]
async fn the_portal_opens_for_a_payer_with_a_customer() {
    let stand = StripeStandIn::start().await;
    let t = billing_app(&stand).await;
    let fresh = sign_up(&t.app, "fresh@example.com").await;
    let resp = post_("/v1/billing/portal")
        .bearer(&fresh.access_token())
        .json(json!({ "return_url": "/account" }))
        .send(&t.app)
        .await;
    assert_eq!(
        resp.status,
        StatusCode::NOT_FOUND,
        "no customer yet: {}",
        resp.text
    );

    let (grant, customer) = customer_with_checkout(&t, &stand, "portal@example.com").await;
    let bad = post_("/v1/billing/portal")
        .bearer(&grant.access_token())
        .json(json!({ "return_url": "https://evil.example/" }))
        .send(&t.app)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let resp = post_("/v1/billing/portal")
        .bearer(&grant.access_token())
        .json(json!({ "return_url": "/account" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert!(
        resp.json["url"]
            .as_str()
            .unwrap()
            .starts_with("https://billing.stripe.com/")
    );
    let call = stand.calls("/v1/billing_portal/sessions")[0].clone();
    assert_eq!(call.field("customer"), Some(customer.as_str()));
    assert_eq!(
        call.field("return_url"),
        Some(format!("{ORIGIN}/account").as_str())
    );
}
