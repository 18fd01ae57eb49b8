//! Organizations: the permission matrix, IDOR sweeps, escalation, the last owner under
//! concurrency, invitations (by email, accepted once, only by their address), the active
//! organization, removal taking effect at once.

use http::{Method, StatusCode};
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _, IntoActiveModel as _};
use serde_json::{Value, json};

use crate::common::*;

struct Person {
    token: String,
    refresh: String,
    id: String,
    email: String,
}

/// A signed-up person who has verified their address (an invitation is accepted by a
/// signed-in, verified address; signed out it only signs in an address without an
/// account).
async fn person(t: &TestApp, email: &str) -> Person {
    let grant = sign_up(&t.app, email).await;
    let id: uuid::Uuid = grant.json["user"]["id"].as_str().unwrap().parse().unwrap();
    let user = portcullis::entity::user::Entity::find_by_id(id)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    let mut user = user.into_active_model();
    user.email_verified_at = Set(Some(time::OffsetDateTime::now_utc()));
    user.update(&t.db).await.unwrap();
    Person {
        token: grant.access_token(),
        refresh: grant.refresh_token(),
        id: grant.json["user"]["id"].as_str().unwrap().to_owned(),
        email: email.into(),
    }
}

async fn create_org(t: &TestApp, owner: &Person, name: &str) -> String {
    let resp = post_("/v1/orgs")
        .bearer(&owner.token)
        .json(json!({ "name": name }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    assert_eq!(resp.json["org"]["role"], "owner");
    resp.json["org"]["id"].as_str().unwrap().to_owned()
}

/// Invites `email` as `role` and accepts as `who` (signed in), returning the membership.
async fn add_member(t: &TestApp, org: &str, by: &Person, who: &Person, role: &str) {
    let count = t.mail.sent_to(&who.email).len() + 1;
    let resp = post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&by.token)
        .json(json!({ "email": who.email, "role": role }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    let token = token_in(&t.email(&who.email, count).await);
    let resp = post_("/v1/orgs/invitations/accept")
        .bearer(&who.token)
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["membership"]["role"], role);
}

async fn call(t: &TestApp, method: Method, path: &str, who: &Person, body: Option<Value>) -> Resp {
    let mut req = req(method, path).bearer(&who.token);
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send(&t.app).await
}

#[tokio::test]
async fn creating_listing_and_reading() {
    let t = app().await;
    let alice = person(&t, "alice@example.com").await;
    let org = create_org(&t, &alice, "Acme, Inc.").await;
    let list = call(&t, Method::GET, "/v1/orgs", &alice, None).await;
    assert_eq!(
        list.json["orgs"],
        json!([{ "id": org, "name": "Acme, Inc.", "slug": "acme-inc", "role": "owner" }])
    );
    let read = call(&t, Method::GET, &format!("/v1/orgs/{org}"), &alice, None).await;
    assert_eq!(read.json["org"]["slug"], "acme-inc");
    // A second "Acme, Inc." gets a free slug; an explicit taken slug is a conflict.
    let second = post_("/v1/orgs")
        .bearer(&alice.token)
        .json(json!({ "name": "Acme, Inc." }))
        .send(&t.app)
        .await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_ne!(second.json["org"]["slug"], "acme-inc");
    let taken = post_("/v1/orgs")
        .bearer(&alice.token)
        .json(json!({ "name": "X", "slug": "acme-inc" }))
        .send(&t.app)
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error_code(), "conflict");
    // Bodies never set ids or roles.
    for body in [
        json!({ "name": "Y", "role": "owner" }),
        json!({ "name": "Y", "id": org }),
        json!({ "name": "" }),
    ] {
        let resp = post_("/v1/orgs")
            .bearer(&alice.token)
            .json(body.clone())
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{body}");
    }
    let me = call(&t, Method::GET, "/v1/auth/me", &alice, None).await;
    assert_eq!(me.json["memberships"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_permission_matrix_per_role() {
    let t = app().await;
    let owner = person(&t, "owner@example.com").await;
    let admin = person(&t, "admin@example.com").await;
    let member = person(&t, "member@example.com").await;
    let outsider = person(&t, "outsider@example.com").await;
    let org = create_org(&t, &owner, "Matrix").await;
    add_member(&t, &org, &owner, &admin, "admin").await;
    add_member(&t, &org, &owner, &member, "member").await;

    let checks: Vec<(Method, String, Option<Value>, [u16; 4])> = vec![
        // (method, path, body, [owner, admin, member, outsider])
        (
            Method::GET,
            format!("/v1/orgs/{org}"),
            None,
            [200, 200, 200, 404],
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/members"),
            None,
            [200, 200, 200, 404],
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/invitations"),
            None,
            [200, 200, 403, 404],
        ),
        (
            Method::PATCH,
            format!("/v1/orgs/{org}"),
            Some(json!({ "name": "Renamed" })),
            [200, 200, 403, 404],
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/invitations"),
            Some(json!({ "email": "new@example.com", "role": "member" })),
            [201, 201, 403, 404],
        ),
    ];
    for (method, path, body, expected) in checks {
        for (who, want) in [&owner, &admin, &member, &outsider]
            .into_iter()
            .zip(expected)
        {
            let resp = call(&t, method.clone(), &path, who, body.clone()).await;
            assert_eq!(
                resp.status.as_u16(),
                want,
                "{method} {path} as {}: {}",
                who.email,
                resp.text
            );
        }
    }
    // Delete: only the owner.
    for who in [&admin, &member] {
        assert_eq!(
            call(&t, Method::DELETE, &format!("/v1/orgs/{org}"), who, None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        call(
            &t,
            Method::DELETE,
            &format!("/v1/orgs/{org}"),
            &outsider,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&t, Method::DELETE, &format!("/v1/orgs/{org}"), &owner, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&t, Method::GET, &format!("/v1/orgs/{org}"), &owner, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn one_orgs_ids_do_nothing_in_another() {
    let t = app().await;
    let alice = person(&t, "alice@example.com").await;
    let bob = person(&t, "bob@example.com").await;
    let carol = person(&t, "carol@example.com").await;
    let alices = create_org(&t, &alice, "Alice Co").await;
    let bobs = create_org(&t, &bob, "Bob Co").await;
    add_member(&t, &alices, &alice, &carol, "member").await;
    let resp = call(
        &t,
        Method::POST,
        &format!("/v1/orgs/{alices}/invitations"),
        &alice,
        Some(json!({ "email": "x@example.com", "role": "member" })),
    )
    .await;
    let alices_invitation = resp.json["invitation"]["id"].as_str().unwrap().to_owned();

    // Bob, owner of his own org, points at Alice's org, members and invitation.
    for (method, path, body) in [
        (Method::GET, format!("/v1/orgs/{alices}"), None),
        (
            Method::PATCH,
            format!("/v1/orgs/{alices}"),
            Some(json!({ "name": "Pwned" })),
        ),
        (Method::DELETE, format!("/v1/orgs/{alices}"), None),
        (Method::GET, format!("/v1/orgs/{alices}/members"), None),
        (
            Method::PATCH,
            format!("/v1/orgs/{alices}/members/{}", carol.id),
            Some(json!({ "role": "admin" })),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{alices}/members/{}", carol.id),
            None,
        ),
        (Method::GET, format!("/v1/orgs/{alices}/invitations"), None),
        (
            Method::DELETE,
            format!("/v1/orgs/{alices}/invitations/{alices_invitation}"),
            None,
        ),
        // Alice's member and invitation ids through Bob's own org.
        (
            Method::PATCH,
            format!("/v1/orgs/{bobs}/members/{}", carol.id),
            Some(json!({ "role": "admin" })),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{bobs}/members/{}", carol.id),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{bobs}/invitations/{alices_invitation}"),
            None,
        ),
    ] {
        let resp = call(&t, method.clone(), &path, &bob, body).await;
        assert_eq!(
            resp.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            resp.text
        );
    }
    let members = call(
        &t,
        Method::GET,
        &format!("/v1/orgs/{alices}/members"),
        &alice,
        None,
    )
    .await;
    assert_eq!(members.json["members"].as_array().unwrap().len(), 2);
    let pending = call(
        &t,
        Method::GET,
        &format!("/v1/orgs/{alices}/invitations"),
        &alice,
        None,
    )
    .await;
    assert_eq!(pending.json["invitations"].as_array().unwrap().len(), 1);
    // Switching into someone else's org is refused as if it did not exist.
    let resp = call(
        &t,
        Method::PATCH,
        "/v1/orgs/current",
        &bob,
        Some(json!({ "org_id": alices })),
    )
    .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    for bad in ["/v1/orgs/not-a-uuid", "/v1/orgs/not-a-uuid/members"] {
        assert_eq!(
            call(&t, Method::GET, bad, &alice, None).await.status,
            StatusCode::BAD_REQUEST
        );
    }
}

#[tokio::test]
async fn nobody_escalates() {
    let t = app().await;
    let owner = person(&t, "owner@example.com").await;
    let admin = person(&t, "admin@example.com").await;
    let other_admin = person(&t, "admin2@example.com").await;
    let member = person(&t, "member@example.com").await;
    let org = create_org(&t, &owner, "Ladder").await;
    add_member(&t, &org, &owner, &admin, "admin").await;
    add_member(&t, &org, &owner, &other_admin, "admin").await;
    add_member(&t, &org, &owner, &member, "member").await;
    let set = |target: &Person, role: &str| {
        (
            format!("/v1/orgs/{org}/members/{}", target.id),
            json!({ "role": role }),
        )
    };

    // An admin cannot make anyone an owner, nor invite one.
    let (path, body) = set(&member, "owner");
    assert_eq!(
        call(&t, Method::PATCH, &path, &admin, Some(body))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let invite = call(
        &t,
        Method::POST,
        &format!("/v1/orgs/{org}/invitations"),
        &admin,
        Some(json!({ "email": "boss@example.com", "role": "owner" })),
    )
    .await;
    assert_eq!(invite.status, StatusCode::FORBIDDEN);
    // Nobody changes their own role.
    let (path, body) = set(&admin, "owner");
    assert_eq!(
        call(&t, Method::PATCH, &path, &admin, Some(body))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // An admin cannot touch the owner.
    let (path, body) = set(&owner, "member");
    assert_eq!(
        call(&t, Method::PATCH, &path, &admin, Some(body))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &t,
            Method::DELETE,
            &format!("/v1/orgs/{org}/members/{}", owner.id),
            &admin,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // A member manages nobody.
    let (path, body) = set(&other_admin, "member");
    assert_eq!(
        call(&t, Method::PATCH, &path, &member, Some(body))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Unknown roles are refused.
    let (path, body) = set(&member, "superuser");
    assert_eq!(
        call(&t, Method::PATCH, &path, &owner, Some(body))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // What is allowed works: an admin promotes a member to admin; the owner makes an owner.
    let (path, body) = set(&member, "admin");
    assert_eq!(
        call(&t, Method::PATCH, &path, &admin, Some(body))
            .await
            .status,
        StatusCode::OK
    );
    let (path, body) = set(&admin, "owner");
    assert_eq!(
        call(&t, Method::PATCH, &path, &owner, Some(body))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_last_owner_stays() {
    let t = app().await;
    let owner = person(&t, "solo@example.com").await;
    let org = create_org(&t, &owner, "Solo").await;
    let leave = call(
        &t,
        Method::DELETE,
        &format!("/v1/orgs/{org}/members/{}", owner.id),
        &owner,
        None,
    )
    .await;
    assert_eq!(leave.status, StatusCode::CONFLICT);
    // With a second owner, one may leave.
    let other = person(&t, "other@example.com").await;
    add_member(&t, &org, &owner, &other, "owner").await;
    let leave = call(
        &t,
        Method::DELETE,
        &format!("/v1/orgs/{org}/members/{}", owner.id),
        &owner,
        None,
    )
    .await;
    assert_eq!(leave.status, StatusCode::OK, "{}", leave.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let t = app().await;
    let a = person(&t, "a@example.com").await;
    let b = person(&t, "b@example.com").await;
    let org = create_org(&t, &a, "Duel").await;
    add_member(&t, &org, &a, &b, "owner").await;
    for _ in 0..3 {
        let requests = vec![
            req(Method::PATCH, &format!("/v1/orgs/{org}/members/{}", b.id))
                .bearer(&a.token)
                .json(json!({ "role": "member" })),
            req(Method::PATCH, &format!("/v1/orgs/{org}/members/{}", a.id))
                .bearer(&b.token)
                .json(json!({ "role": "member" })),
        ];
        let results = parallel(&t.app, requests).await;
        let members = call(
            &t,
            Method::GET,
            &format!("/v1/orgs/{org}/members"),
            &a,
            None,
        )
        .await;
        let owners = members.json["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "owner")
            .count();
        assert_eq!(
            owners,
            1,
            "{:?}",
            results.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        // Put things back for the next round.
        let demoted = if members.json["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == a.id.as_str() && m["role"] == "owner")
        {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let (path, body) = (
            format!("/v1/orgs/{org}/members/{}", demoted.1.id),
            json!({ "role": "owner" }),
        );
        assert_eq!(
            call(&t, Method::PATCH, &path, demoted.0, Some(body))
                .await
                .status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn invitations_are_single_use_and_bound_to_their_address() {
    let t = app().await;
    let owner = person(&t, "owner@example.com").await;
    let org = create_org(&t, &owner, "Invites").await;
    let invite = |email: &str| {
        post_(&format!("/v1/orgs/{org}/invitations"))
            .bearer(&owner.token)
            .json(json!({ "email": email, "role": "member" }))
    };
    assert_eq!(
        invite("guest@example.com").send(&t.app).await.status,
        StatusCode::CREATED
    );
    let email = t.email("guest@example.com", 1).await;
    assert_eq!(email.kind, "invitation");
    let link = link_in(&email);
    assert!(
        link.starts_with("http://localhost:3000/accept-invitation?token="),
        "{link}"
    );
    let token = token_in(&email);

    // Someone else, signed in with another (even verified) address, cannot use it.
    let stranger = t
        .auth
        .users()
        .create(
            portcullis::users::NewUser::new("stranger@example.com")
                .password(PASSWORD)
                .email_verified(true),
        )
        .await
        .unwrap();
    let stranger_token = sign_in(&t.app, "stranger@example.com", PASSWORD)
        .await
        .access_token();
    let resp = post_("/v1/orgs/invitations/accept")
        .bearer(&stranger_token)
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let _ = stranger;
    // The invited address, signed in but unverified, cannot either.
    let guest = sign_up(&t.app, "guest@example.com").await.access_token();
    let resp = post_("/v1/orgs/invitations/accept")
        .bearer(&guest)
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    // Signed out, the link proves the invited address: the unverified account holding it
    // is taken back from whoever registered it, signed in, and joins.
    let resp = post_("/v1/orgs/invitations/accept")
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email"], "guest@example.com");
    assert_eq!(resp.json["user"]["email_verified"], true);
    assert_eq!(resp.json["user"]["has_password"], false);
    assert_eq!(resp.json["membership"]["role"], "member");
    assert_eq!(hello(&t.app, &guest).await, StatusCode::UNAUTHORIZED);
    // Once.
    let again = post_("/v1/orgs/invitations/accept")
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(again.error_code(), "token_invalid");

    // Signed out, an invitation is no sign-in link for a real (verified) account: the page
    // is told to sign in first, and nothing is consumed or changed.
    let member = person(&t, "member@example.com").await;
    invite("member@example.com").send(&t.app).await;
    let token = token_in(&t.email("member@example.com", 1).await);
    let resp = post_("/v1/orgs/invitations/accept")
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    assert_eq!(resp.error_code(), "reauthentication_required");
    assert!(resp.set_cookie("__session").is_none());
    assert_eq!(hello(&t.app, &member.token).await, StatusCode::OK);
    let resp = post_("/v1/orgs/invitations/accept")
        .bearer(&member.token)
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["membership"]["role"], "member");

    // Signed out, for an address without an account, the link signs it in and joins it.
    invite("newcomer@example.com").send(&t.app).await;
    let token = token_in(&t.email("newcomer@example.com", 1).await);
    let resp = post_("/v1/orgs/invitations/accept")
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email"], "newcomer@example.com");
    assert_eq!(resp.json["user"]["email_verified"], true);
    assert_eq!(resp.json["user"]["has_password"], false);
    assert!(resp.json["access_token"].is_string());

    // Revoked and expired invitations are refused.
    invite("late@example.com").send(&t.app).await;
    let token = token_in(&t.email("late@example.com", 1).await);
    let pending = call(
        &t,
        Method::GET,
        &format!("/v1/orgs/{org}/invitations"),
        &owner,
        None,
    )
    .await;
    let id = pending.json["invitations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(
            &t,
            Method::DELETE,
            &format!("/v1/orgs/{org}/invitations/{id}"),
            &owner,
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let resp = post_("/v1/orgs/invitations/accept")
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acceptances_join_once() {
    let t = app().await;
    let owner = person(&t, "owner@example.com").await;
    let org = create_org(&t, &owner, "Race").await;
    post_(&format!("/v1/orgs/{org}/invitations"))
        .bearer(&owner.token)
        .json(json!({ "email": "racer@example.com", "role": "member" }))
        .send(&t.app)
        .await;
    let token = token_in(&t.email("racer@example.com", 1).await);
    let attempts = (0..10)
        .map(|_| post_("/v1/orgs/invitations/accept").json(json!({ "token": token })))
        .collect();
    let results = parallel(&t.app, attempts).await;
    assert_eq!(
        results
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count(),
        1
    );
    let members = call(
        &t,
        Method::GET,
        &format!("/v1/orgs/{org}/members"),
        &owner,
        None,
    )
    .await;
    assert_eq!(members.json["members"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_active_org_rides_in_the_token_and_permissions_are_read_now() {
    let t = app().await;
    let owner = person(&t, "owner@example.com").await;
    let member = person(&t, "member@example.com").await;
    let org = create_org(&t, &owner, "Active").await;
    add_member(&t, &org, &owner, &member, "admin").await;

    // Before switching: no organization, no permissions.
    let perms = call(
        &t,
        Method::GET,
        "/v1/auth/sessions/current/permissions",
        &member,
        None,
    )
    .await;
    assert_eq!(perms.json["permissions"], json!([]));
    assert_eq!(
        call(&t, Method::GET, "/billing", &member, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let switched = call(
        &t,
        Method::PATCH,
        "/v1/orgs/current",
        &member,
        Some(json!({ "org_id": org })),
    )
    .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.text);
    assert_eq!(switched.json["session"]["active_org_id"], org.as_str());
    let token = switched.access_token();
    let first = claims(&token);
    assert_eq!(first["org_id"], org.as_str());
    assert_eq!(first["org_role"], "admin");
    let member = Person { token, ..member };
    let perms = call(
        &t,
        Method::GET,
        "/v1/auth/sessions/current/permissions",
        &member,
        None,
    )
    .await;
    assert_eq!(perms.json["org_role"], "admin");
    assert!(
        perms.json["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("billing:manage"))
    );
    assert_eq!(
        call(&t, Method::GET, "/billing", &member, None)
            .await
            .status,
        StatusCode::OK
    );
    // The switch answered an access token only; the session's own refresh token goes on
    // working and keeps the organization.
    assert!(
        switched.json.get("refresh_token").is_none(),
        "{}",
        switched.text
    );
    let refreshed = refresh(&t.app, &member.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(claims(&refreshed.access_token())["org_role"], "admin");

    // A demotion takes effect on the very next request, while the token still says admin.
    let demote = call(
        &t,
        Method::PATCH,
        &format!("/v1/orgs/{org}/members/{}", member.id),
        &owner,
        Some(json!({ "role": "member" })),
    )
    .await;
    assert_eq!(demote.status, StatusCode::OK);
    assert_eq!(
        call(&t, Method::GET, "/billing", &member, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let perms = call(
        &t,
        Method::GET,
        "/v1/auth/sessions/current/permissions",
        &member,
        None,
    )
    .await;
    assert_eq!(perms.json["org_role"], "member");
    // So does a removal; the next refresh drops the organization from the token.
    let remove = call(
        &t,
        Method::DELETE,
        &format!("/v1/orgs/{org}/members/{}", member.id),
        &owner,
        None,
    )
    .await;
    assert_eq!(remove.status, StatusCode::OK);
    assert_eq!(
        call(&t, Method::GET, &format!("/v1/orgs/{org}"), &member, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let refreshed = refresh(&t.app, &refreshed.refresh_token()).await;
    assert_eq!(claims(&refreshed.access_token())["org_id"], json!(null));

    // Switching back to none.
    let none = call(
        &t,
        Method::PATCH,
        "/v1/orgs/current",
        &owner,
        Some(json!({ "org_id": null })),
    )
    .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(claims(&none.access_token())["org_id"], json!(null));
}

#[tokio::test]
async fn host_roles_work_like_built_in_ones() {
    let t = app_with(|b| {
        b.role(portcullis::policy::roles::Role::new(
            "billing",
            150,
            ["org:read", "billing:manage"],
        ))
    })
    .await;
    let owner = person(&t, "owner@example.com").await;
    let accountant = person(&t, "accountant@example.com").await;
    let org = create_org(&t, &owner, "Books").await;
    add_member(&t, &org, &owner, &accountant, "billing").await;
    let switched = call(
        &t,
        Method::PATCH,
        "/v1/orgs/current",
        &accountant,
        Some(json!({ "org_id": org })),
    )
    .await;
    let accountant = Person {
        token: switched.access_token(),
        ..accountant
    };
    assert_eq!(
        call(&t, Method::GET, "/billing", &accountant, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &t,
            Method::GET,
            &format!("/v1/orgs/{org}/members"),
            &accountant,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert!(
        t.auth
            .has_permission(
                accountant.id.parse().unwrap(),
                org.parse().unwrap(),
                "billing:manage"
            )
            .await
            .unwrap()
    );
    assert!(
        !t.auth
            .has_permission(
                accountant.id.parse().unwrap(),
                org.parse().unwrap(),
                "members:manage"
            )
            .await
            .unwrap()
    );
}
