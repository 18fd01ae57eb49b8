//! Passkeys: registration and sign-in with a software authenticator (webauthn-rs's own
//! `SoftPasskey`), ceremonies (single use, expiry, binding to the user), credential-id
//! uniqueness, enumeration-neutral options, discoverable sign-in and its user handle, the
//! signature counter, management and the last-way-to-sign-in rule, the relying party.
//!
//! The browser side (a real Chromium with a virtual authenticator) is `.ci/passkeys-e2e`.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use http::{Method, StatusCode};
use portcullis::{
    delivery::{MemoryMailer, MemorySmsSender},
    entity::{passkey, webauthn_challenge},
};
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _, IntoActiveModel as _};
use serde_json::{Value, json};
use webauthn_authenticator_rs::{
    prelude::{
        CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator as _,
    },
    softpasskey::SoftPasskey,
};

use crate::common::*;

/// A person's authenticator: keys stay in it, and it signs for the page's origin.
pub(crate) struct Device {
    key: SoftPasskey,
    origin: Url,
}

impl Device {
    pub(crate) fn new() -> Self {
        Self::at(ORIGIN)
    }

    fn at(origin: &str) -> Self {
        // `true`: claim user verification, which passkeys require.
        Self {
            key: SoftPasskey::new(true),
            origin: Url::parse(origin).unwrap(),
        }
    }

    /// What `navigator.credentials.create(...)` + `toJSON()` would send.
    fn create(&mut self, options: &Value) -> Value {
        let ccr: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options })).unwrap();
        let credential = self.key.do_registration(self.origin.clone(), ccr).unwrap();
        serde_json::to_value(credential).unwrap()
    }

    /// What `navigator.credentials.get(...)` + `toJSON()` would send.
    pub(crate) fn get(&mut self, options: &Value) -> Value {
        let rcr: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options })).unwrap();
        let credential = self
            .key
            .do_authentication(self.origin.clone(), rcr)
            .unwrap();
        serde_json::to_value(credential).unwrap()
    }
}

async fn begin_registration(app: &axum::Router, token: &str) -> Resp {
    post_("/v1/auth/me/passkeys/register/begin")
        .bearer(token)
        .send(app)
        .await
}

async fn complete_registration(app: &axum::Router, token: &str, body: Value) -> Resp {
    post_("/v1/auth/me/passkeys/register/complete")
        .bearer(token)
        .json(body)
        .send(app)
        .await
}

/// Registers a passkey on `device` for the signed-in user; returns the passkey object.
pub(crate) async fn register(app: &axum::Router, token: &str, device: &mut Device) -> Value {
    let begun = begin_registration(app, token).await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.text);
    let credential = device.create(&begun.json["options"]);
    let done = complete_registration(app, token, json!({ "credential": credential })).await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.text);
    done.json["passkey"].clone()
}

pub(crate) async fn begin_sign_in(app: &axum::Router, body: Value) -> Resp {
    let resp = post_("/v1/auth/passkeys/authenticate/begin")
        .json(body)
        .send(app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    resp
}

async fn complete_sign_in(app: &axum::Router, challenge_id: &Value, credential: &Value) -> Resp {
    post_("/v1/auth/passkeys/authenticate/complete")
        .json(json!({ "challenge_id": challenge_id, "credential": credential }))
        .send(app)
        .await
}

/// Signs in with `device` by email: begin, let the device answer, complete.
pub(crate) async fn sign_in_with(app: &axum::Router, email: &str, device: &mut Device) -> Resp {
    let begun = begin_sign_in(app, json!({ "email": email })).await;
    let credential = device.get(&begun.json["options"]);
    complete_sign_in(app, &begun.json["challenge_id"], &credential).await
}

/// Signs in by email, the device offering `credential_id` whatever the options list (as
/// a person picking a passkey the server no longer knows).
async fn sign_in_offering(
    app: &axum::Router,
    email: &str,
    device: &mut Device,
    credential_id: &str,
) -> Resp {
    let begun = begin_sign_in(app, json!({ "email": email })).await;
    let mut options = begun.json["options"].clone();
    options["allowCredentials"] = json!([{ "type": "public-key", "id": credential_id }]);
    let credential = device.get(&options);
    complete_sign_in(app, &begun.json["challenge_id"], &credential).await
}

fn allowed_ids(options: &Value) -> Vec<String> {
    options["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn passkey_row(t: &TestApp, id: &Value) -> passkey::Model {
    let id: uuid::Uuid = id.as_str().unwrap().parse().unwrap();
    passkey::Entity::find_by_id(id)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_person_registers_a_passkey_and_signs_in_with_it() {
    let t = app_with(|b| b).await;
    let user = sign_up(&t.app, "pk@example.com").await;
    let token = user.access_token();

    let begun = begin_registration(&t.app, &token).await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.text);
    let options = &begun.json["options"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "pk@example.com");
    // The user handle is random, never the email.
    let handle = B64.decode(options["user"]["id"].as_str().unwrap()).unwrap();
    assert_eq!(handle.len(), 16);
    assert!(!String::from_utf8_lossy(&handle).contains("pk@"));
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["excludeCredentials"], json!([]));
    assert!(
        B64.decode(options["challenge"].as_str().unwrap())
            .unwrap()
            .len()
            >= 16
    );

    let mut device = Device::new();
    let credential = device.create(options);
    let done = complete_registration(
        &t.app,
        &token,
        json!({ "name": "  My laptop ", "credential": credential }),
    )
    .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.text);
    let passkey = &done.json["passkey"];
    assert_eq!(passkey["name"], "My laptop");
    assert!(passkey["created_at"].is_string());
    assert_eq!(passkey["last_used_at"], Value::Null);
    let mail = t.email("pk@example.com", 1).await;
    assert_eq!(mail.kind, "sign_in_method_added");

    // The next registration excludes this passkey.
    let again = begin_registration(&t.app, &token).await;
    let excluded = &again.json["options"]["excludeCredentials"];
    assert_eq!(excluded[0]["id"], credential["rawId"]);

    let signed_in = sign_in_with(&t.app, "pk@example.com", &mut device).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    assert_eq!(signed_in.json["user"]["email"], "pk@example.com");
    assert_eq!(signed_in.json["session"]["auth_method"], "passkey");
    let claims = claims(&signed_in.access_token());
    assert_eq!(claims["amr"], json!(["hwk"]));
    assert_eq!(
        hello(&t.app, &signed_in.access_token()).await,
        StatusCode::OK
    );
    assert!(signed_in.set_cookie("__session").is_some());

    let listed = get_("/v1/auth/me/passkeys")
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed = listed.json["passkeys"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], passkey["id"]);
    assert!(listed[0]["last_used_at"].is_string());
    let row = passkey_row(&t, &passkey["id"]).await;
    assert_eq!(row.counter, 1);

    let kinds = t.audit.kinds();
    assert!(kinds.contains(&"passkey_added".to_owned()), "{kinds:?}");
    assert_eq!(kinds.last().unwrap(), "sign_in");
}

#[tokio::test]
async fn a_ceremony_is_answered_once_and_only_in_time() {
    let t = app_with(|b| b).await;
    let user = sign_up(&t.app, "once@example.com").await;
    let token = user.access_token();
    let mut device = Device::new();

    // Registration: the answer works once.
    let begun = begin_registration(&t.app, &token).await;
    let credential = device.create(&begun.json["options"]);
    let body = json!({ "credential": credential });
    let first = complete_registration(&t.app, &token, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let replay = complete_registration(&t.app, &token, body).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.error_code(), "token_invalid");

    // Sign-in: the same, and racing answers get one session.
    let begun = begin_sign_in(&t.app, json!({ "email": "once@example.com" })).await;
    let answer = device.get(&begun.json["options"]);
    let requests = (0..4)
        .map(|_| {
            post_("/v1/auth/passkeys/authenticate/complete")
                .json(json!({ "challenge_id": begun.json["challenge_id"], "credential": answer }))
        })
        .collect();
    let answers = parallel(&t.app, requests).await;
    let won = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(won, 1, "{answers:?}");
    for lost in answers.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(lost.status, StatusCode::BAD_REQUEST, "{}", lost.text);
        assert_eq!(lost.error_code(), "token_invalid");
    }

    // An unknown ceremony, and one past its five minutes.
    let unknown = complete_sign_in(&t.app, &json!(uuid::Uuid::new_v4()), &answer).await;
    assert_eq!(unknown.error_code(), "token_invalid");
    let begun = begin_sign_in(&t.app, json!({ "email": "once@example.com" })).await;
    let answer = device.get(&begun.json["options"]);
    let id: uuid::Uuid = begun.json["challenge_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let row = webauthn_challenge::Entity::find_by_id(id)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    let mut active = row.clone().into_active_model();
    active.expires_at = Set(row.created_at);
    active.update(&t.db).await.unwrap();
    let late = complete_sign_in(&t.app, &begun.json["challenge_id"], &answer).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert_eq!(late.error_code(), "token_expired");
    // Expired is also used up.
    let again = complete_sign_in(&t.app, &begun.json["challenge_id"], &answer).await;
    assert_eq!(again.error_code(), "token_invalid");
}

#[tokio::test]
async fn a_registration_belongs_to_the_user_who_began_it() {
    let t = app_with(|b| b).await;
    let alice = sign_up(&t.app, "alice@example.com").await.access_token();
    let bob = sign_up(&t.app, "bob@example.com").await.access_token();
    let mut device = Device::new();

    // Alice's ceremony, answered on Bob's account: Bob has none in flight.
    let begun = begin_registration(&t.app, &alice).await;
    let credential = device.create(&begun.json["options"]);
    let resp = complete_registration(&t.app, &bob, json!({ "credential": credential })).await;
    assert_eq!(resp.error_code(), "token_invalid");

    // Bob's own ceremony has another challenge: Alice's answer does not fit it.
    begin_registration(&t.app, &bob).await;
    let resp = complete_registration(&t.app, &bob, json!({ "credential": credential })).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(resp.error_code(), "invalid_request");

    // Signed out, stale or garbage: refused before anything is stored.
    let resp = post_("/v1/auth/me/passkeys/register/begin")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    let resp = complete_registration(&t.app, &alice, json!({ "credential": { "id": 1 } })).await;
    assert_eq!(resp.error_code(), "invalid_request");
    let resp = complete_registration(&t.app, &alice, json!({ "credential": {}, "extra": 1 })).await;
    assert_eq!(resp.error_code(), "invalid_request");

    let stale = sign_in(&t.app, "alice@example.com", PASSWORD).await;
    edit_session(&t.db, stale.json["session"]["id"].as_str().unwrap(), |s| {
        s.created_at = Set(ago(3600))
    })
    .await;
    let stale = refresh(&t.app, &stale.refresh_token()).await;
    let resp = begin_registration(&t.app, &stale.access_token()).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(resp.error_code(), "reauthentication_required");
}

/// A registration answer built by hand (attestation format `none`), so a test can choose
/// the credential id: as a second authenticator claiming an id already registered would.
fn crafted_registration(options: &Value, credential_id: &[u8]) -> Value {
    let challenge = options["challenge"].as_str().unwrap();
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": challenge,
        "origin": ORIGIN,
        "crossOrigin": false,
    })
    .to_string();
    let rp_id_hash = ring::digest::digest(&ring::digest::SHA256, b"localhost");
    let mut auth_data = rp_id_hash.as_ref().to_vec();
    auth_data.push(0x45); // user present, user verified, attested credential data
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    auth_data.extend_from_slice(&[0; 16]); // AAGUID
    auth_data.extend_from_slice(&u16::try_from(credential_id.len()).unwrap().to_be_bytes());
    auth_data.extend_from_slice(credential_id);
    // COSE ES256 key: the P-256 base point, a valid public key nobody needs to sign with.
    let x = hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    let y = hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    auth_data.extend_from_slice(&[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]);
    auth_data.extend_from_slice(&x);
    auth_data.extend_from_slice(&[0x22, 0x58, 0x20]);
    auth_data.extend_from_slice(&y);
    // CBOR { "fmt": "none", "attStmt": {}, "authData": bytes }
    let mut attestation = vec![0xa3, 0x63];
    attestation.extend_from_slice(b"fmt");
    attestation.push(0x64);
    attestation.extend_from_slice(b"none");
    attestation.push(0x67);
    attestation.extend_from_slice(b"attStmt");
    attestation.push(0xa0);
    attestation.push(0x68);
    attestation.extend_from_slice(b"authData");
    attestation.push(0x59);
    attestation.extend_from_slice(&u16::try_from(auth_data.len()).unwrap().to_be_bytes());
    attestation.extend_from_slice(&auth_data);
    json!({
        "id": B64.encode(credential_id),
        "rawId": B64.encode(credential_id),
        "type": "public-key",
        "response": {
            "attestationObject": B64.encode(attestation),
            "clientDataJSON": B64.encode(client_data),
            "transports": ["internal"],
        },
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform",
    })
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_credential_id_is_registered_once_across_all_users() {
    let t = app_with(|b| b).await;
    let alice = sign_up(&t.app, "alice@example.com").await.access_token();
    let bob = sign_up(&t.app, "bob@example.com").await.access_token();
    let id = [7u8; 32];

    let begun = begin_registration(&t.app, &alice).await;
    let resp = complete_registration(
        &t.app,
        &alice,
        json!({ "credential": crafted_registration(&begun.json["options"], &id) }),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);

    for token in [&bob, &alice] {
        let begun = begin_registration(&t.app, token).await;
        let resp = complete_registration(
            &t.app,
            token,
            json!({ "credential": crafted_registration(&begun.json["options"], &id) }),
        )
        .await;
        assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text);
        assert_eq!(resp.error_code(), "conflict");
    }

    // Ids over WebAuthn's 1023 bytes are refused.
    let begun = begin_registration(&t.app, &bob).await;
    let resp = complete_registration(
        &t.app,
        &bob,
        json!({ "credential": crafted_registration(&begun.json["options"], &[1u8; 1024]) }),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    assert_eq!(resp.error_code(), "invalid_request");
}

#[tokio::test]
async fn sign_in_options_look_the_same_for_every_address() {
    let t = app_with(|b| b).await;
    let token = sign_up(&t.app, "has@example.com").await.access_token();
    sign_up(&t.app, "none@example.com").await;
    let mut device = Device::new();
    let passkey = register(&t.app, &token, &mut device).await;
    let real = passkey_row(&t, &passkey["id"]).await.credential_id;

    let has = begin_sign_in(&t.app, json!({ "email": "has@example.com" })).await;
    let none = begin_sign_in(&t.app, json!({ "email": "none@example.com" })).await;
    let nobody = begin_sign_in(&t.app, json!({ "email": "nobody@example.com" })).await;
    let keys = |r: &Resp| {
        let mut keys: Vec<String> = r.json["options"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&has), keys(&none));
    assert_eq!(keys(&has), keys(&nobody));
    assert_eq!(allowed_ids(&has.json["options"]), vec![real.clone()]);
    for decoy in [&none, &nobody] {
        let ids = allowed_ids(&decoy.json["options"]);
        assert!(!ids.is_empty() && !ids.contains(&real));
        assert!(ids.iter().all(|id| B64.decode(id).is_ok()));
    }
    // Never an empty list (a real account with passkeys never has one).
    for n in 0..40 {
        let begun =
            begin_sign_in(&t.app, json!({ "email": format!("ghost{n}@example.com") })).await;
        assert!(!allowed_ids(&begun.json["options"]).is_empty(), "ghost{n}");
    }
    // Stable: asking again says the same, as it would for a real account.
    let nobody_again = begin_sign_in(&t.app, json!({ "email": "nobody@example.com" })).await;
    assert_eq!(
        allowed_ids(&nobody.json["options"]),
        allowed_ids(&nobody_again.json["options"])
    );
    // A decoy ceremony signs nobody in, even answered with a real passkey.
    let mut options = nobody.json["options"].clone();
    options["allowCredentials"] = json!([{ "type": "public-key", "id": real }]);
    let answer = device.get(&options);
    let resp = complete_sign_in(&t.app, &nobody.json["challenge_id"], &answer).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.error_code(), "invalid_credentials");
}

#[tokio::test]
async fn a_passkey_signs_in_only_its_own_user() {
    let t = app_with(|b| b).await;
    let alice = sign_up(&t.app, "alice@example.com").await.access_token();
    let bob = sign_up(&t.app, "bob@example.com").await.access_token();
    let mut alices = Device::new();
    let mut bobs = Device::new();
    let begun = begin_registration(&t.app, &alice).await;
    let alice_handle = begun.json["options"]["user"]["id"].clone();
    let credential = alices.create(&begun.json["options"]);
    let resp = complete_registration(&t.app, &alice, json!({ "credential": credential })).await;
    let alice_passkey = passkey_row(&t, &resp.json["passkey"]["id"]).await;
    let begun = begin_registration(&t.app, &bob).await;
    let bob_handle = begun.json["options"]["user"]["id"].clone();
    let credential = bobs.create(&begun.json["options"]);
    complete_registration(&t.app, &bob, json!({ "credential": credential })).await;
    assert_ne!(alice_handle, bob_handle);

    // Named Bob, answered with Alice's passkey.
    let begun = begin_sign_in(&t.app, json!({ "email": "bob@example.com" })).await;
    let mut options = begun.json["options"].clone();
    options["allowCredentials"] =
        json!([{ "type": "public-key", "id": alice_passkey.credential_id }]);
    let answer = alices.get(&options);
    let resp = complete_sign_in(&t.app, &begun.json["challenge_id"], &answer).await;
    assert_eq!(resp.error_code(), "invalid_credentials");

    // Discoverable (no email): the user handle the authenticator returns must be the
    // passkey owner's. (The soft authenticator keeps no handle; a browser's would.)
    for (handle, expected) in [
        (Some(bob_handle.clone()), StatusCode::UNAUTHORIZED),
        (None, StatusCode::UNAUTHORIZED),
        (Some(alice_handle.clone()), StatusCode::OK),
    ] {
        let begun = begin_sign_in(&t.app, json!({})).await;
        assert_eq!(begun.json["options"]["allowCredentials"], json!([]));
        let mut options = begun.json["options"].clone();
        options["allowCredentials"] =
            json!([{ "type": "public-key", "id": alice_passkey.credential_id }]);
        let mut answer = alices.get(&options);
        if let Some(handle) = handle {
            answer["response"]["userHandle"] = handle;
        }
        let resp = complete_sign_in(&t.app, &begun.json["challenge_id"], &answer).await;
        assert_eq!(resp.status, expected, "{}", resp.text);
        if expected == StatusCode::OK {
            assert_eq!(resp.json["user"]["email"], "alice@example.com");
        }
    }
}

#[tokio::test]
async fn a_counter_going_backwards_is_refused_and_audited() {
    let t = app_with(|b| b).await;
    let token = sign_up(&t.app, "clone@example.com").await.access_token();
    let mut device = Device::new();
    let passkey = register(&t.app, &token, &mut device).await;
    let resp = sign_in_with(&t.app, "clone@example.com", &mut device).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);

    // Another copy of the key has signed 100 times since: this one is behind.
    let row = passkey_row(&t, &passkey["id"]).await;
    let mut stored: Value = serde_json::from_str(&row.passkey).unwrap();
    stored["cred"]["counter"] = json!(100);
    let mut active = row.into_active_model();
    active.counter = Set(100);
    active.passkey = Set(stored.to_string());
    active.update(&t.db).await.unwrap();

    let resp = sign_in_with(&t.app, "clone@example.com", &mut device).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{}", resp.text);
    assert_eq!(resp.error_code(), "invalid_credentials");
    assert!(
        t.audit
            .kinds()
            .contains(&"passkey_counter_regression".to_owned())
    );
    assert_eq!(passkey_row(&t, &passkey["id"]).await.counter, 100);
}

#[tokio::test]
async fn passkeys_are_listed_renamed_and_removed_by_their_owner_only() {
    let t = app_with(|b| b).await;
    let alice = sign_up(&t.app, "alice@example.com").await.access_token();
    let bob = sign_up(&t.app, "bob@example.com").await.access_token();
    let mut device = Device::new();
    let passkey = register(&t.app, &alice, &mut device).await;
    let credential_id = passkey_row(&t, &passkey["id"]).await.credential_id;
    let path = format!("/v1/auth/me/passkeys/{}", passkey["id"].as_str().unwrap());

    let renamed = req(Method::PATCH, &path)
        .bearer(&alice)
        .json(json!({ "name": "Work phone" }))
        .send(&t.app)
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.json["passkey"]["name"], "Work phone");
    for bad in [
        json!({ "name": "" }),
        json!({ "name": "a\u{7}b" }),
        json!({ "name": "x".repeat(101) }),
        json!({ "name": "\u{202E}evil" }),
        json!({}),
    ] {
        let resp = req(Method::PATCH, &path)
            .bearer(&alice)
            .json(bad.clone())
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{bad}: {}", resp.text);
    }

    // Bob sees nothing of Alice's passkey, and cannot touch it.
    let listed = get_("/v1/auth/me/passkeys").bearer(&bob).send(&t.app).await;
    assert_eq!(listed.json["passkeys"], json!([]));
    let resp = req(Method::PATCH, &path)
        .bearer(&bob)
        .json(json!({ "name": "mine" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = req(Method::DELETE, &path).bearer(&bob).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = req(Method::DELETE, "/v1/auth/me/passkeys/not-a-uuid")
        .bearer(&alice)
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "invalid_request");
    let resp = get_("/v1/auth/me/passkeys").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);

    // Alice removes it (she still has her password and email); she is told by email.
    let resp = req(Method::DELETE, &path).bearer(&alice).send(&t.app).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let mail = t.email("alice@example.com", 2).await;
    assert_eq!(mail.kind, "sign_in_method_removed");
    assert!(mail.text.contains("Work phone"));
    assert!(t.audit.kinds().contains(&"passkey_removed".to_owned()));
    let listed = get_("/v1/auth/me/passkeys")
        .bearer(&alice)
        .send(&t.app)
        .await;
    assert_eq!(listed.json["passkeys"], json!([]));
    // Removed means it signs nobody in.
    let resp = sign_in_offering(&t.app, "alice@example.com", &mut device, &credential_id).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
}

/// Two instances on one database, with an `https` public URL (production): one sends
/// texts, the other has SMS sign-in off.
async fn production_pair() -> (axum::Router, axum::Router, MemorySmsSender) {
    let db = database().await;
    let texts = MemorySmsSender::new();
    let with_sms = builder(db.clone())
        .public_url("https://auth.example.test")
        .mailer(MemoryMailer::new())
        .sms_sender(texts.clone())
        .build()
        .await
        .unwrap();
    let without_sms = builder(db)
        .public_url("https://auth.example.test")
        .mailer(MemoryMailer::new())
        .build()
        .await
        .unwrap();
    (mount(&with_sms), mount(&without_sms), texts)
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_removed() {
    let (with_sms, without_sms, texts) = production_pair().await;
    // A phone-only account: no email, no password.
    let phone = "+15555550142";
    let resp = post_("/v1/auth/sign-in/sms-otp")
        .json(json!({ "phone": phone }))
        .send(&with_sms)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let text = texts
        .wait_for(phone, 1, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let code = text.body.split_whitespace().next().unwrap().to_owned();
    let resp = post_("/v1/auth/sms/verify")
        .json(json!({ "phone": phone, "code": code }))
        .send(&with_sms)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let token = resp.access_token();

    let mut first = Device::at("https://auth.example.test");
    let mut second = Device::at("https://auth.example.test");
    let one = register(&with_sms, &token, &mut first).await;
    let two = register(&with_sms, &token, &mut second).await;
    assert_eq!(two["name"], "Passkey 2");
    let delete = |id: &Value| {
        req(
            Method::DELETE,
            &format!("/v1/auth/me/passkeys/{}", id.as_str().unwrap()),
        )
        .bearer(&token)
    };

    // Where SMS is off, passkeys are all this account has: one may go, not both.
    let resp = delete(&one["id"]).send(&without_sms).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let resp = delete(&two["id"]).send(&without_sms).await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text);
    assert_eq!(resp.error_code(), "conflict");
    // Where texts reach the phone, the phone is a way in.
    let resp = delete(&two["id"]).send(&with_sms).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}

#[tokio::test]
async fn removing_the_last_two_at_once_leaves_one() {
    let (with_sms, without_sms, texts) = production_pair().await;
    let phone = "+15555550143";
    post_("/v1/auth/sign-in/sms-otp")
        .json(json!({ "phone": phone }))
        .send(&with_sms)
        .await;
    let text = texts
        .wait_for(phone, 1, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let code = text.body.split_whitespace().next().unwrap().to_owned();
    let token = post_("/v1/auth/sms/verify")
        .json(json!({ "phone": phone, "code": code }))
        .send(&with_sms)
        .await
        .access_token();
    let one = register(
        &with_sms,
        &token,
        &mut Device::at("https://auth.example.test"),
    )
    .await;
    let two = register(
        &with_sms,
        &token,
        &mut Device::at("https://auth.example.test"),
    )
    .await;
    let requests = [&one, &two]
        .iter()
        .map(|p| {
            req(
                Method::DELETE,
                &format!("/v1/auth/me/passkeys/{}", p["id"].as_str().unwrap()),
            )
            .bearer(&token)
        })
        .collect();
    let answers = parallel(&without_sms, requests).await;
    let removed = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(removed, 1, "{answers:?}");
}

#[tokio::test]
async fn proving_the_address_removes_passkeys_of_whoever_registered_it_unverified() {
    let t = app_with(|b| b).await;
    // Someone registers the victim's address (unverified) and adds their own passkey.
    let squatter = sign_up(&t.app, "victim@example.com").await.access_token();
    let mut device = Device::new();
    let passkey = register(&t.app, &squatter, &mut device).await;
    let credential_id = passkey_row(&t, &passkey["id"]).await.credential_id;

    // The owner of the address signs in by link: the account is theirs now.
    post_("/v1/auth/sign-in/magic-link")
        .json(json!({ "email": "victim@example.com" }))
        .send(&t.app)
        .await;
    let mail = t.email("victim@example.com", 2).await;
    assert_eq!(mail.kind, "magic_link");
    let token = link_in(&mail)
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let resp = post_("/v1/auth/magic-link/verify")
        .json(json!({ "token": token }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let listed = get_("/v1/auth/me/passkeys")
        .bearer(&resp.access_token())
        .send(&t.app)
        .await;
    assert_eq!(listed.json["passkeys"], json!([]));
    let resp = sign_in_offering(&t.app, "victim@example.com", &mut device, &credential_id).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_relying_party_comes_from_configuration() {
    let t = app_with(|b| b).await;
    let methods = get_("/v1/auth/methods").send(&t.app).await;
    assert_eq!(methods.json["passkey"], true);

    // An IP address cannot be an RP id: passkeys are off, and say so.
    let ip = app_with(|b| b.public_url("http://127.0.0.1:3000")).await;
    let methods = get_("/v1/auth/methods").send(&ip.app).await;
    assert_eq!(methods.json["passkey"], false);
    let resp = post_("/v1/auth/passkeys/authenticate/begin")
        .json(json!({}))
        .send(&ip.app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);

    // A parent domain is a valid RP id; a foreign one, or a foreign origin, fails build.
    let db = database().await;
    let ok = builder(db.clone())
        .public_url("https://auth.example.test")
        .passkeys(|p| {
            p.rp_id = Some("example.test".into());
            p.origins = vec!["https://app.example.test".into()];
        })
        .mailer(MemoryMailer::new())
        .build()
        .await;
    assert!(ok.is_ok(), "{:?}", ok.err());
    for bad in [
        builder(db.clone())
            .public_url("https://auth.example.test")
            .passkeys(|p| p.rp_id = Some("other.test".into())),
        builder(db.clone())
            .public_url("https://auth.example.test")
            .passkeys(|p| p.rp_id = Some("ample.test".into())),
        builder(db.clone())
            .public_url("https://auth.example.test")
            .passkeys(|p| p.rp_id = Some("127.0.0.1".into())),
        builder(db.clone())
            .public_url("https://auth.example.test")
            .passkeys(|p| p.origins = vec!["https://evil.test".into()]),
    ] {
        let err = bad.mailer(MemoryMailer::new()).build().await.err().unwrap();
        assert!(err.to_string().contains("passkeys"), "{err}");
    }

    // Registered under one origin, the passkey does not answer for another.
    let user = sign_up(&t.app, "rp@example.com").await.access_token();
    let begun = begin_registration(&t.app, &user).await;
    let credential = Device::at("http://localhost:4000").create(&begun.json["options"]);
    let resp = complete_registration(&t.app, &user, json!({ "credential": credential })).await;
    assert_eq!(resp.error_code(), "invalid_request");
}

#[tokio::test]
async fn a_password_reset_removes_passkeys_of_whoever_registered_the_address_unverified() {
    let t = app_with(|b| b).await;
    let squatter = sign_up(&t.app, "reset-victim@example.com")
        .await
        .access_token();
    let mut device = Device::new();
    let passkey = register(&t.app, &squatter, &mut device).await;
    let credential_id = passkey_row(&t, &passkey["id"]).await.credential_id;

    post_("/v1/auth/password/forgot")
        .json(json!({ "email": "reset-victim@example.com" }))
        .send(&t.app)
        .await;
    let mail = t.email("reset-victim@example.com", 2).await;
    assert_eq!(mail.kind, "password_reset");
    let resp = post_("/v1/auth/password/reset")
        .json(json!({ "token": token_in(&mail), "password": "a brand new passphrase 42" }))
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let resp = sign_in_offering(
        &t.app,
        "reset-victim@example.com",
        &mut device,
        &credential_id,
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    // And a registration the squatter had begun cannot be completed any more.
    assert_eq!(hello(&t.app, &squatter).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn methods_the_host_turned_off_do_not_count_as_a_way_in() {
    use portcullis::config::SignInMethod::{EmailOtp, MagicLink, Password};
    let on = app().await;
    // The same deployment, but with the password, links and codes turned off.
    let off = app_on(on.db.clone(), |b| {
        b.sign_in(|s| s.disabled_methods.extend([Password, MagicLink, EmailOtp]))
    })
    .await;
    let grant = sign_up(&on.app, "only-passkey@example.com").await;
    let token = grant.access_token();
    let mut device = Device::new();
    let passkey = register(&on.app, &token, &mut device).await;
    let path = format!("/v1/auth/me/passkeys/{}", passkey["id"].as_str().unwrap());
    // Where the password and the email still work, the passkey may go; where they are
    // off, it is the last way in.
    let resp = req(Method::DELETE, &path)
        .bearer(&token)
        .send(&off.app)
        .await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text);
    let resp = req(Method::DELETE, &path)
        .bearer(&token)
        .send(&on.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}
