//! Waitlists: join, check and leave (idempotent, race-free), positions counted by the
//! database, the account context (user or active organization), admission by admins and
//! from Rust, the `features` claim and `RequireFeature`.

use http::{Method, StatusCode};
use portcullis::{users::UserRole, waitlists::Admit};
use serde_json::json;

use crate::common::*;

async fn beta_app() -> TestApp {
    app_with(|b| b.waitlist("beta").waitlist("reports")).await
}

async fn join(t: &TestApp, token: &str, feature: &str) -> Resp {
    req(Method::PUT, &format!("/v1/auth/me/waitlists/{feature}"))
        .bearer(token)
        .send(&t.app)
        .await
}

#[tokio::test]
async fn joining_and_leaving_are_idempotent() {
    let t = beta_app().await;
    let token = sign_up(&t.app, "wait@example.com").await.access_token();
    let first = join(&t, &token, "beta").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["entry"]["feature"], "beta");
    assert_eq!(first.json["entry"]["status"], "waiting");
    assert_eq!(first.json["entry"]["position"], 1);
    let again = join(&t, &token, "beta").await;
    assert_eq!(again.json["entry"], first.json["entry"], "the same entry");

    let check = get_("/v1/auth/me/waitlists/beta")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(check.json["joined"], true, "{}", check.text);
    assert_eq!(check.json["status"], "waiting");
    assert_eq!(check.json["position"], 1);
    let list = get_("/v1/auth/me/waitlists")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(list.json["waitlists"].as_array().unwrap().len(), 1);

    for _ in 0..2 {
        let left = req(Method::DELETE, "/v1/auth/me/waitlists/beta")
            .bearer(&token)
            .send(&t.app)
            .await;
        assert_eq!(left.status, StatusCode::OK, "{}", left.text);
    }
    let check = get_("/v1/auth/me/waitlists/beta")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(check.json, json!({ "ok": true, "joined": false }));

    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let resp = req(method.clone(), "/v1/auth/me/waitlists/unknown")
            .bearer(&token)
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{method}");
    }
    assert_eq!(join(&t, "", "beta").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fifty_racing_joins_make_one_entry_and_positions_follow_the_queue() {
    let t = beta_app().await;
    let token = sign_up(&t.app, "racer@example.com").await.access_token();
    let requests = (0..50)
        .map(|_| req(Method::PUT, "/v1/auth/me/waitlists/beta").bearer(&token))
        .collect();
    let answers = parallel(&t.app, requests).await;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.json["entry"], answers[0].json["entry"]);
    }
    let entries = t.auth.waitlists().entries("beta", None).await.unwrap();
    assert_eq!(entries.len(), 1);

    // Three more in order: places 2, 3, 4; one leaves, the ones behind move up; rejoining
    // goes to the back.
    let mut tokens = Vec::new();
    for name in ["a", "b", "c"] {
        let token = sign_up(&t.app, &format!("{name}@example.com"))
            .await
            .access_token();
        join(&t, &token, "beta").await;
        tokens.push(token);
    }
    let place = |token: String| {
        let t = &t;
        async move {
            get_("/v1/auth/me/waitlists/beta")
                .bearer(&token)
                .send(&t.app)
                .await
                .json["position"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(place(tokens[2].clone()).await, 4);
    req(Method::DELETE, "/v1/auth/me/waitlists/beta")
        .bearer(&tokens[0])
        .send(&t.app)
        .await;
    assert_eq!(place(tokens[2].clone()).await, 3);
    join(&t, &tokens[0], "beta").await;
    assert_eq!(place(tokens[0].clone()).await, 4);

    // Concurrent joins of different people get distinct places.
    let mut racers = Vec::new();
    for i in 0..8 {
        racers.push(
            sign_up(&t.app, &format!("r{i}@example.com"))
                .await
                .access_token(),
        );
    }
    let requests = racers
        .iter()
        .map(|token| req(Method::PUT, "/v1/auth/me/waitlists/beta").bearer(token))
        .collect();
    parallel(&t.app, requests).await;
    let mut places = Vec::new();
    for token in racers {
        places.push(place(token).await);
    }
    places.sort_unstable();
    assert_eq!(places, (5..=12).collect::<Vec<u64>>());
}

#[tokio::test]
async fn admission_opens_the_feature_in_new_tokens_for_the_account_context() {
    let t = beta_app().await;
    let person = sign_up(&t.app, "early@example.com").await;
    join(&t, &person.access_token(), "beta").await;
    // Not before admission.
    let refused = get_("/beta")
        .bearer(&person.access_token())
        .send(&t.app)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "plan_required");

    // Only admins admit.
    let plain = post_("/v1/admin/waitlists/beta/admit")
        .bearer(&person.access_token())
        .json(json!({ "count": 1 }))
        .send(&t.app)
        .await;
    assert_eq!(plain.status, StatusCode::FORBIDDEN);
    let admin = sign_up(&t.app, "ops@example.com").await;
    let admin_id = admin.json["user"]["id"].as_str().unwrap().parse().unwrap();
    t.auth
        .users()
        .set_role(admin_id, UserRole::Admin)
        .await
        .unwrap();
    let listed = get_("/v1/admin/waitlists/beta?status=waiting")
        .bearer(&admin.access_token())
        .send(&t.app)
        .await;
    assert_eq!(
        listed.json["entries"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text
    );
    assert_eq!(listed.json["entries"][0]["position"], 1);
    let admitted = post_("/v1/admin/waitlists/beta/admit")
        .bearer(&admin.access_token())
        .json(json!({ "count": 5 }))
        .send(&t.app)
        .await;
    assert_eq!(admitted.status, StatusCode::OK, "{}", admitted.text);
    assert_eq!(admitted.json["admitted"], 1);
    let mail = t.email("early@example.com", 1).await;
    assert!(mail.subject.contains("beta"), "{}", mail.subject);
    let check = get_("/v1/auth/me/waitlists/beta")
        .bearer(&person.access_token())
        .send(&t.app)
        .await;
    assert_eq!(check.json["status"], "admitted");
    assert_eq!(check.json["position"], serde_json::Value::Null);

    // The next token carries the feature.
    let refreshed = refresh(&t.app, &person.refresh_token()).await;
    assert_eq!(
        claims(&refreshed.access_token())["features"],
        json!(["beta"])
    );
    let open = get_("/beta")
        .bearer(&refreshed.access_token())
        .send(&t.app)
        .await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.text);
    // Tokens without features carry no claim at all.
    assert!(claims(&admin.access_token()).get("features").is_none());

    // An organization's entry: every member acting in it gets the feature.
    sql(
        &t.db,
        "UPDATE portcullis_users SET email_verified_at = created_at",
    )
    .await;
    let owner = sign_in(&t.app, "ops@example.com", PASSWORD).await;
    let org = post_("/v1/orgs")
        .bearer(&owner.access_token())
        .json(json!({ "name": "Team" }))
        .send(&t.app)
        .await;
    let org_id = org.json["org"]["id"].as_str().unwrap().to_owned();
    let acting = req(Method::PATCH, "/v1/orgs/current")
        .bearer(&owner.access_token())
        .json(json!({ "org_id": org_id }))
        .send(&t.app)
        .await
        .access_token();
    let joined = join(&t, &acting, "reports").await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    // Outside the organization, the owner's own context has not joined.
    let own = get_("/v1/auth/me/waitlists/reports")
        .bearer(&owner.access_token())
        .send(&t.app)
        .await;
    assert_eq!(own.json["joined"], false);
    let org_uuid: uuid::Uuid = org_id.parse().unwrap();
    let by_rust = t
        .auth
        .waitlists()
        .admit("reports", Admit::Subjects(vec![org_uuid]))
        .await
        .unwrap();
    assert_eq!(by_rust.len(), 1);
    let in_org = refresh(&t.app, &owner.refresh_token()).await;
    let switched = req(Method::PATCH, "/v1/orgs/current")
        .bearer(&in_org.access_token())
        .json(json!({ "org_id": org_id }))
        .send(&t.app)
        .await;
    assert_eq!(
        claims(&switched.access_token())["features"],
        json!(["reports"])
    );
    let out = req(Method::PATCH, "/v1/orgs/current")
        .bearer(&switched.access_token())
        .json(json!({ "org_id": null }))
        .send(&t.app)
        .await;
    assert!(claims(&out.access_token()).get("features").is_none());

    let bad = post_("/v1/admin/waitlists/beta/admit")
        .bearer(&owner.access_token())
        .json(json!({ "count": 1, "user_ids": [] }))
        .send(&t.app)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown = get_("/v1/admin/waitlists/nope")
        .bearer(&owner.access_token())
        .send(&t.app)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_declared_waitlists_open_features_in_tokens() {
    let t = beta_app().await;
    let person = sign_up(&t.app, "pioneer@example.com").await;
    join(&t, &person.access_token(), "beta").await;
    let id = person.json["user"]["id"].as_str().unwrap().parse().unwrap();
    t.auth
        .waitlists()
        .admit("beta", Admit::Subjects(vec![id]))
        .await
        .unwrap();
    let refreshed = refresh(&t.app, &person.refresh_token()).await;
    assert_eq!(
        claims(&refreshed.access_token())["features"],
        json!(["beta"])
    );

    // An API key of the person carries what their session's token carries.
    let key = post_("/v1/auth/me/api-keys")
        .bearer(&refreshed.access_token())
        .json(json!({ "name": "ci" }))
        .send(&t.app)
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.text);
    let secret = key.json["secret"].as_str().unwrap().to_owned();
    let open = get_("/beta").bearer(&secret).send(&t.app).await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.text);

    // The host stops declaring `beta` (say, it shipped to everyone): the entry stays, but
    // new tokens no longer name the feature, API keys included; an instance with no
    // waitlists names none.
    let reports_only = app_on(t.db.clone(), |b| b.waitlist("reports")).await;
    let closed = get_("/beta").bearer(&secret).send(&reports_only.app).await;
    assert_eq!(closed.status, StatusCode::FORBIDDEN, "{}", closed.text);
    assert_eq!(closed.error_code(), "plan_required");
    let again = refresh(&reports_only.app, &refreshed.refresh_token()).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    // (An empty `features` claim is left out.)
    assert_eq!(claims(&again.access_token())["features"], json!(null));
    let none = app_on(t.db.clone(), |b| b).await;
    let last = refresh(&none.app, &again.refresh_token()).await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.text);
    assert_eq!(claims(&last.access_token())["features"], json!(null));
}
