//! Social sign-in against stand-in providers on 127.0.0.1: an OpenID Connect provider
//! (discovery, JWKS, ES256 ID tokens the test can tamper with, userinfo, PKCE checked) and
//! a GitHub-style OAuth 2.0 provider (user and emails APIs). The attack tests: missing,
//! foreign and replayed `state`, another browser, another provider's callback, wrong `iss`,
//! tampered ID tokens, unverified emails merging into accounts, open redirects; then
//! linking, unlinking and the last-way rule.
//!
//! The run against a real provider (node's `oidc-provider`, through the quickstart) is
//! `.ci/oidc-e2e`.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    extract::{Form, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use http::{Method, StatusCode};
use portcullis::oauth::OAuthProvider;
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _},
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::common::*;

const CLIENT_ID: &str = "portcullis-test";
const CLIENT_SECRET: &str = "stand-in secret";

/// How the stand-in answers the next token request.
#[derive(Clone, Debug, PartialEq)]
enum Tamper {
    None,
    AlgNone,
    WrongAudience,
    NoNonce,
    WrongIssuer,
    BadSignature,
    Expired,
}

#[derive(Clone, Debug)]
struct Person {
    sub: String,
    email: Option<String>,
    /// The `email_verified` claim exactly as sent (`None`: absent).
    email_verified: Option<Value>,
}

struct Stand {
    issuer: String,
    key: EcdsaKeyPair,
    person: Person,
    tamper: Tamper,
    /// code → (code_challenge, nonce, redirect_uri)
    codes: Vec<(String, String, Option<String>, String)>,
    /// Whether the ID token carries the email (else only userinfo has it).
    email_in_id_token: bool,
    /// Whether discovery says every authorization response names the issuer (RFC 9207).
    advertise_iss: bool,
}

type Shared = Arc<Mutex<Stand>>;

fn s256(verifier: &str) -> String {
    B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

async fn discovery(State(stand): State<Shared>) -> axum::Json<Value> {
    let (issuer, advertise_iss) = {
        let stand = stand.lock().unwrap();
        (stand.issuer.clone(), stand.advertise_iss)
    };
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "authorization_response_iss_parameter_supported": advertise_iss,
    }))
}

async fn jwks(State(stand): State<Shared>) -> axum::Json<Value> {
    let stand = stand.lock().unwrap();
    let public = stand.key.public_key().as_ref();
    axum::Json(json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
        "x": B64.encode(&public[1..33]), "y": B64.encode(&public[33..65]),
    }]}))
}

async fn authorize(
    State(stand): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut stand = stand.lock().unwrap();
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    let code = format!("code-{}", stand.codes.len());
    let redirect = q["redirect_uri"].clone();
    stand.codes.push((
        code.clone(),
        q["code_challenge"].clone(),
        q.get("nonce").cloned(),
        redirect.clone(),
    ));
    let issuer = stand.issuer.clone();
    Redirect::to(&format!(
        "{redirect}?code={code}&state={}&iss={}",
        q["state"],
        urlencode(&issuer)
    ))
    .into_response()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn token(
    State(stand): State<Shared>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let stand = stand.lock().unwrap();
    let Some((_, challenge, nonce, redirect)) = stand
        .codes
        .iter()
        .find(|(code, ..)| Some(code) == form.get("code"))
        .cloned()
    else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    };
    // PKCE: the verifier must hash to the challenge sent at authorize.
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if s256(&verifier) != challenge || form.get("redirect_uri") != Some(&redirect) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": stand.issuer, "sub": stand.person.sub, "aud": CLIENT_ID,
        "iat": now, "exp": now + 300,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if stand.email_in_id_token {
        if let Some(email) = &stand.person.email {
            claims["email"] = json!(email);
        }
        if let Some(verified) = &stand.person.email_verified {
            claims["email_verified"] = verified.clone();
        }
    }
    let mut header = json!({ "alg": "ES256", "typ": "JWT", "kid": "k1" });
    match stand.tamper {
        Tamper::None | Tamper::BadSignature => {}
        Tamper::AlgNone => header = json!({ "alg": "none", "typ": "JWT" }),
        Tamper::WrongAudience => claims["aud"] = json!("someone-else"),
        Tamper::NoNonce => {
            claims.as_object_mut().unwrap().remove("nonce");
        }
        Tamper::WrongIssuer => claims["iss"] = json!("https://evil.example"),
        Tamper::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
    }
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = if stand.tamper == Tamper::AlgNone {
        String::new()
    } else {
        let mut sig = stand
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec();
        if stand.tamper == Tamper::BadSignature {
            sig[10] ^= 1;
        }
        B64.encode(sig)
    };
    axum::Json(json!({
        "access_token": "stand-in-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": format!("{signing_input}.{signature}"),
    }))
    .into_response()
}

async fn userinfo(State(stand): State<Shared>) -> axum::Json<Value> {
    let stand = stand.lock().unwrap();
    let mut info = json!({ "sub": stand.person.sub });
    if let Some(email) = &stand.person.email {
        info["email"] = json!(email);
    }
    if let Some(verified) = &stand.person.email_verified {
        info["email_verified"] = verified.clone();
    }
    axum::Json(info)
}

/// GitHub's API shape: `/user` and `/user/emails`.
async fn github_user(State(stand): State<Shared>) -> axum::Json<Value> {
    let stand = stand.lock().unwrap();
    axum::Json(
        json!({ "id": stand.person.sub.parse::<u64>().unwrap_or(7), "login": "octo", "name": "Octo Cat" }),
    )
}

async fn github_emails(State(stand): State<Shared>) -> axum::Json<Value> {
    let stand = stand.lock().unwrap();
    let verified = stand.person.email_verified == Some(json!(true));
    axum::Json(json!([
        { "email": "secondary@example.com", "primary": false, "verified": true },
        { "email": stand.person.email, "primary": true, "verified": verified },
    ]))
}

struct Provider {
    stand: Shared,
    router: Router,
    issuer: String,
}

impl Provider {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let stand = Arc::new(Mutex::new(Stand {
            issuer: issuer.clone(),
            key,
            person: Person {
                sub: "1001".into(),
                email: Some("octo@example.com".into()),
                email_verified: Some(json!(true)),
            },
            tamper: Tamper::None,
            codes: Vec::new(),
            email_in_id_token: true,
            advertise_iss: false,
        }));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/user", get(github_user))
            .route("/user/emails", get(github_emails))
            .with_state(stand.clone());
        let served = router.clone();
        tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
        Self {
            stand,
            router,
            issuer,
        }
    }

    fn person(&self, sub: &str, email: Option<&str>, verified: Option<Value>) {
        self.stand.lock().unwrap().person = Person {
            sub: sub.into(),
            email: email.map(str::to_owned),
            email_verified: verified,
        };
    }

    fn tamper(&self, tamper: Tamper) {
        self.stand.lock().unwrap().tamper = tamper;
    }

    fn oidc(&self) -> OAuthProvider {
        OAuthProvider::oidc("local", &self.issuer, CLIENT_ID, CLIENT_SECRET)
    }

    fn github(&self) -> OAuthProvider {
        OAuthProvider::github(CLIENT_ID, CLIENT_SECRET).endpoints(
            format!("{}/authorize", self.issuer),
            format!("{}/token", self.issuer),
            &self.issuer,
        )
    }

    /// The person at the provider approves: the provider's redirect back to us.
    async fn approve(&self, location: &str) -> String {
        let path = location.strip_prefix(&self.issuer).unwrap();
        let response = self
            .router
            .clone()
            .oneshot(
                http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        response.headers()["location"].to_str().unwrap().to_owned()
    }
}

async fn app_with_providers(provider: &Provider) -> TestApp {
    let oidc = provider.oidc();
    let github = provider.github();
    app_with(move |b| b.oauth(|o| o.providers.extend([oidc, github]))).await
}

/// A browser's trip: authorize (with `auth` if signed in), approve at the provider,
/// and the callback path with its binding cookie.
struct Trip {
    callback: String,
    cookie: String,
}

async fn begin(
    t: &TestApp,
    provider: &Provider,
    name: &str,
    query: &str,
    auth: Option<&str>,
) -> Trip {
    let mut request = get_(&format!("/v1/auth/oauth/{name}/authorize{query}"));
    if let Some(token) = auth {
        request = request.bearer(token);
    }
    let resp = request.send(&t.app).await;
    assert_eq!(resp.status, StatusCode::FOUND, "{}", resp.text);
    let location = resp.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&provider.issuer), "{location}");
    assert!(location.contains("code_challenge_method=S256"));
    let cookie = resp.cookie("__oauth").expect("binding cookie");
    let set = resp.set_cookie("__oauth").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let back = provider.approve(&location).await;
    let callback = back.strip_prefix(ORIGIN).unwrap().to_owned();
    Trip { callback, cookie }
}

async fn finish(t: &TestApp, trip: &Trip, json: bool) -> Resp {
    finish_as(t, trip, json, None).await
}

/// The callback, in a browser that is signed in with `token` (the session a link needs).
async fn finish_as(t: &TestApp, trip: &Trip, json: bool, token: Option<&str>) -> Resp {
    let mut request = get_(&trip.callback).cookie(&trip.cookie);
    if json {
        request = request.header("accept", "application/json");
    }
    if let Some(token) = token {
        request = request.bearer(token);
    }
    request.send(&t.app).await
}

#[tokio::test]
async fn an_oidc_provider_signs_a_new_person_in() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;

    let methods = get_("/v1/auth/methods").send(&t.app).await;
    let listed: Vec<&str> = methods.json["oauth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["local", "github"]);
    assert_eq!(
        methods.json["oauth"][0]["authorize_url"],
        "http://localhost:3000/v1/auth/oauth/local/authorize"
    );

    let trip = begin(&t, &provider, "local", "?redirect_url=/welcome", None).await;
    let resp = finish(&t, &trip, false).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text);
    assert_eq!(resp.headers["location"], "/welcome");
    let session = resp.cookie("__session").expect("signed in by cookie");
    assert!(resp.set_cookie("__oauth").unwrap().contains("Max-Age=0"));
    let me = get_("/v1/auth/me").cookie(&session).send(&t.app).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json["user"]["email"], "octo@example.com");
    assert_eq!(me.json["user"]["email_verified"], true);
    assert_eq!(me.json["user"]["has_password"], false);

    // Again, as a JSON client: the same user, a grant with `amr: ["fed"]`.
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["id"], me.json["user"]["id"]);
    assert_eq!(resp.json["session"]["auth_method"], "oauth");
    assert_eq!(claims(&resp.access_token())["amr"], json!(["fed"]));

    let accounts = get_("/v1/auth/me/accounts")
        .bearer(&resp.access_token())
        .send(&t.app)
        .await;
    assert_eq!(accounts.json["accounts"][0]["provider"], "local");
    assert_eq!(accounts.json["accounts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_email_can_come_from_userinfo() {
    let provider = Provider::start().await;
    provider.stand.lock().unwrap().email_in_id_token = false;
    let t = app_with_providers(&provider).await;
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email"], "octo@example.com");
    assert_eq!(resp.json["user"]["email_verified"], true);
}

#[tokio::test]
async fn a_github_style_provider_signs_in_through_its_user_api() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;
    provider.person("4242", Some("gh@example.com"), Some(json!(true)));
    let trip = begin(&t, &provider, "github", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email"], "gh@example.com");
    assert_eq!(resp.json["user"]["email_verified"], true);
    assert_eq!(resp.json["user"]["name"], "Octo Cat");
    let accounts = get_("/v1/auth/me/accounts")
        .bearer(&resp.access_token())
        .send(&t.app)
        .await;
    assert_eq!(accounts.json["accounts"][0]["provider"], "github");
}

#[tokio::test]
async fn state_is_single_use_bound_to_the_browser_and_to_its_provider() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;

    // No state, a made-up state, a malformed one.
    for query in [
        "?code=x",
        "?code=x&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "?code=x&state=%00",
    ] {
        let resp = get_(&format!("/v1/auth/oauth/local/callback{query}"))
            .header("accept", "application/json")
            .send(&t.app)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(resp.error_code(), "token_invalid");
    }

    // A duplicated state (two values for one parameter) is malformed, never "either".
    let trip = begin(&t, &provider, "local", "", None).await;
    let state = trip
        .callback
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let resp = get_(&format!("{}&state={state}", trip.callback))
        .cookie(&trip.cookie)
        .header("accept", "application/json")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    assert_eq!(resp.error_code(), "invalid_request");

    // Another browser (no cookie, or someone else's).
    let trip = begin(&t, &provider, "local", "", None).await;
    let other = begin(&t, &provider, "local", "", None).await;
    let resp = get_(&trip.callback)
        .cookie(&other.cookie)
        .header("accept", "application/json")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    // ... and that attempt used the state up: the right browser cannot finish it now.
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.error_code(), "token_invalid");

    // Replayed: the second use of a state (and of its code) fails.
    let trip = begin(&t, &provider, "local", "", None).await;
    assert_eq!(finish(&t, &trip, true).await.status, StatusCode::OK);
    assert_eq!(finish(&t, &trip, true).await.error_code(), "token_invalid");
    // A used code under a fresh state: the fresh flow's PKCE verifier does not fit it.
    let used_code = trip
        .callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let fresh = begin(&t, &provider, "local", "", None).await;
    let fresh_code = fresh
        .callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let replay = Trip {
        callback: fresh
            .callback
            .replace(&format!("code={fresh_code}"), &format!("code={used_code}")),
        cookie: fresh.cookie.clone(),
    };
    let resp = finish(&t, &replay, true).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    assert_eq!(resp.error_code(), "token_invalid");

    // One provider's state on another provider's callback.
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = get_(&trip.callback.replace("/oauth/local/", "/oauth/github/"))
        .cookie(&trip.cookie)
        .header("accept", "application/json")
        .send(&t.app)
        .await;
    assert_eq!(resp.error_code(), "token_invalid");

    // RFC 9207: an `iss` that is not the provider's.
    let trip = begin(&t, &provider, "local", "", None).await;
    let wrong_iss = Trip {
        callback: trip
            .callback
            .replace("iss=http", "iss=https%3A%2F%2Fevil.example&x=http"),
        cookie: trip.cookie.clone(),
    };
    let resp = finish(&t, &wrong_iss, true).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);

    // The provider's error comes back escaped, to the stored redirect.
    let trip = begin(&t, &provider, "local", "?redirect_url=/after", None).await;
    let state = trip
        .callback
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let resp = get_(&format!(
        "/v1/auth/oauth/local/callback?state={state}&error=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    ))
    .cookie(&trip.cookie)
    .send(&t.app)
    .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert_eq!(resp.headers["location"], "/after?error=forbidden");
    assert!(!resp.text.contains("<script>"));

    // An expired state.
    let trip = begin(&t, &provider, "local", "", None).await;
    sql(
        &t.db,
        "UPDATE portcullis_oauth_states SET expires_at = created_at",
    )
    .await;
    assert_eq!(finish(&t, &trip, true).await.error_code(), "token_expired");

    // Unknown providers.
    let resp = get_("/v1/auth/oauth/myspace/authorize").send(&t.app).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.error_code(), "not_found");
}

#[tokio::test]
async fn tampered_id_tokens_are_refused() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;
    for tamper in [
        Tamper::AlgNone,
        Tamper::WrongAudience,
        Tamper::NoNonce,
        Tamper::WrongIssuer,
        Tamper::BadSignature,
        Tamper::Expired,
    ] {
        provider.tamper(tamper.clone());
        let trip = begin(&t, &provider, "local", "", None).await;
        let resp = finish(&t, &trip, true).await;
        assert_eq!(
            resp.status,
            StatusCode::UNAUTHORIZED,
            "{tamper:?}: {}",
            resp.text
        );
        assert_eq!(resp.error_code(), "invalid_credentials");
    }
    provider.tamper(Tamper::None);
    let trip = begin(&t, &provider, "local", "", None).await;
    assert_eq!(finish(&t, &trip, true).await.status, StatusCode::OK);
    let users: Vec<_> = t.audit.kinds();
    assert!(users.iter().filter(|k| *k == "sign_in_failed").count() >= 6);
}

#[tokio::test]
async fn an_email_merges_only_when_both_sides_vouch_for_it() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;
    // A local account with an unverified address.
    sign_up(&t.app, "taken@example.com").await;

    // The provider does not say verified (missing, string "true", false): no merge, no
    // takeover; the person is told to sign in and link.
    for verified in [None, Some(json!(false))] {
        provider.person("2001", Some("taken@example.com"), verified.clone());
        let trip = begin(&t, &provider, "local", "", None).await;
        let resp = finish(&t, &trip, true).await;
        assert_eq!(
            resp.status,
            StatusCode::CONFLICT,
            "{verified:?}: {}",
            resp.text
        );
    }
    // Verified by the provider, but not locally: the provider's word proves the address,
    // so the unverified account is taken back from whoever registered it (their password
    // and sessions go) and the identity signs into it.
    let squatter = sign_in(&t.app, "taken@example.com", PASSWORD).await;
    assert_eq!(
        hello(&t.app, &squatter.access_token()).await,
        StatusCode::OK
    );
    provider.person("2001", Some("taken@example.com"), Some(json!(true)));
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email"], "taken@example.com");
    assert_eq!(resp.json["user"]["email_verified"], true);
    assert_eq!(resp.json["user"]["has_password"], false);
    assert_eq!(
        hello(&t.app, &squatter.access_token()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&t.app, "taken@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(t.audit.kinds().contains(&"address_claimed".to_owned()));

    // Both verified: the identity joins the existing account.
    let user = t
        .auth
        .users()
        .create(portcullis::users::NewUser::new("verified@example.com").email_verified(true))
        .await
        .unwrap();
    provider.person("2002", Some("verified@example.com"), Some(json!(true)));
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["id"], user.id.to_string());
    // The owner is told a provider joined their account.
    assert_eq!(
        t.email("verified@example.com", 1).await.kind,
        "sign_in_method_added"
    );

    // An address the provider does not vouch for does not reserve it here.
    provider.person("2004", Some("unvouched@example.com"), Some(json!(false)));
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email"], Value::Null);
    assert_eq!(
        sign_up(&t.app, "unvouched@example.com").await.status,
        StatusCode::CREATED
    );

    // A string "true" is not a boolean: the token is refused outright.
    provider.person("2003", Some("string@example.com"), Some(json!("true")));
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert!(resp.status.is_client_error(), "{}", resp.text);
    assert_ne!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn redirects_go_only_where_allowed() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;
    for target in [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let resp = get_(&format!(
            "/v1/auth/oauth/local/authorize?redirect_url={}",
            urlencode(target)
        ))
        .send(&t.app)
        .await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{target}: {}",
            resp.text
        );
    }
}

#[tokio::test]
async fn a_signed_in_person_links_and_unlinks_providers() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;
    let grant = sign_up(&t.app, "linker@example.com").await;
    let token = grant.access_token();

    // Signed in: authorize links instead of signing in.
    provider.person(
        "3001",
        Some("other-address@example.com"),
        Some(json!(false)),
    );
    // Finished outside the session that started it (signed out, or someone else): refused.
    let trip = begin(&t, &provider, "local", "", Some(&token)).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    // Started from another site: refused before it begins.
    let resp = get_("/v1/auth/oauth/local/authorize")
        .bearer(&token)
        .header("sec-fetch-site", "cross-site")
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let trip = begin(&t, &provider, "local", "", Some(&token)).await;
    let resp = finish_as(&t, &trip, true, Some(&token)).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["account"]["provider"], "local");
    assert_eq!(
        t.email("linker@example.com", 1).await.kind,
        "sign_in_method_added"
    );
    // That identity now signs this user in.
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.json["user"]["email"], "linker@example.com");

    // Linking an identity already linked elsewhere is refused.
    let other = sign_up(&t.app, "other@example.com").await.access_token();
    let trip = begin(&t, &provider, "local", "", Some(&other)).await;
    let resp = finish_as(&t, &trip, true, Some(&other)).await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text);

    // Link needs a fresh session.
    let stale = sign_in(&t.app, "linker@example.com", PASSWORD).await;
    edit_session(&t.db, stale.json["session"]["id"].as_str().unwrap(), |s| {
        s.created_at = sea_orm::ActiveValue::Set(ago(3600))
    })
    .await;
    let stale = refresh(&t.app, &stale.refresh_token()).await;
    let resp = get_("/v1/auth/oauth/local/authorize")
        .bearer(&stale.access_token())
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);

    // Unlink: someone else's is 404; one's own goes (password and email remain).
    let accounts = get_("/v1/auth/me/accounts")
        .bearer(&token)
        .send(&t.app)
        .await;
    let id = accounts.json["accounts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = req(Method::DELETE, &format!("/v1/auth/me/accounts/{id}"))
        .bearer(&other)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = req(Method::DELETE, &format!("/v1/auth/me/accounts/{id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert!(t.audit.kinds().contains(&"account_unlinked".to_owned()));
}

#[tokio::test]
async fn the_last_provider_of_an_account_stays_linked() {
    let provider = Provider::start().await;
    let oidc = provider.oidc();
    let github = provider.github();
    // Production (https), so email sign-in is still a way in... unless there is no email.
    let t = app_with(move |b| b.oauth(|o| o.providers.extend([oidc, github]))).await;
    provider.person("5001", None, None);
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["user"]["email"], Value::Null);
    let token = resp.access_token();
    let accounts = get_("/v1/auth/me/accounts")
        .bearer(&token)
        .send(&t.app)
        .await;
    let id = accounts.json["accounts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = req(Method::DELETE, &format!("/v1/auth/me/accounts/{id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text);
    assert_eq!(resp.error_code(), "conflict");

    // With a second provider linked, the first may go.
    provider.person("6001", None, None);
    let trip = begin(&t, &provider, "github", "", Some(&token)).await;
    assert_eq!(
        finish_as(&t, &trip, true, Some(&token)).await.status,
        StatusCode::OK
    );
    let resp = req(Method::DELETE, &format!("/v1/auth/me/accounts/{id}"))
        .bearer(&token)
        .send(&t.app)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
}

#[tokio::test]
async fn providers_are_checked_at_build() {
    let db = database().await;
    for bad in [
        OAuthProvider::oidc("Bad Name", "https://sso.example.com", "id", "s"),
        OAuthProvider::oidc("plain", "http://sso.example.com", "id", "s"),
        OAuthProvider::oidc("empty", "https://sso.example.com", "", "s"),
    ] {
        let err = builder(db.clone())
            .mailer(portcullis::delivery::MemoryMailer::new())
            .oauth(|o| o.providers.push(bad))
            .build()
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("oauth"), "{err}");
    }
    let config = portcullis::Config::from_lookup(|name| match name {
        "PORTCULLIS_SECRET" => Some("a".repeat(64)),
        "PORTCULLIS_OIDC_GITHUB_CLIENT_ID" => Some("gh-id".into()),
        "PORTCULLIS_OIDC_GITHUB_CLIENT_SECRET" => Some("gh-secret".into()),
        "PORTCULLIS_OIDC_GOOGLE_CLIENT_ID" => Some("g-id".into()),
        "PORTCULLIS_OIDC_GOOGLE_ISSUER" => Some("https://accounts.google.com".into()),
        _ => None,
    })
    .unwrap();
    let names: Vec<&str> = config
        .oauth
        .providers
        .iter()
        .map(OAuthProvider::name)
        .collect();
    assert_eq!(names, ["github", "google"]);
    assert!(!format!("{config:?}").contains("gh-secret"));
}

#[tokio::test]
async fn subjects_compare_exactly() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;
    let mut users = Vec::new();
    for sub in ["Case-Sub", "case-sub", "café", "cafe"] {
        provider.person(sub, None, None);
        let trip = begin(&t, &provider, "local", "", None).await;
        let resp = finish(&t, &trip, true).await;
        assert_eq!(resp.status, StatusCode::OK, "{sub}: {}", resp.text);
        users.push(resp.json["user"]["id"].clone());
    }
    users.sort_by_key(ToString::to_string);
    users.dedup();
    assert_eq!(users.len(), 4, "each subject is its own person");
    // A subject with padding or control characters is no identity.
    provider.person(" padded", None, None);
    let trip = begin(&t, &provider, "local", "", None).await;
    assert_eq!(
        finish(&t, &trip, true).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_provider_that_promises_iss_must_send_it() {
    let provider = Provider::start().await;
    provider.stand.lock().unwrap().advertise_iss = true;
    let t = app_with_providers(&provider).await;
    let trip = begin(&t, &provider, "local", "", None).await;
    let without_iss = Trip {
        callback: trip.callback.split("&iss=").next().unwrap().to_owned(),
        cookie: trip.cookie.clone(),
    };
    let resp = finish(&t, &without_iss, true).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text);
    let trip = begin(&t, &provider, "local", "", None).await;
    assert_eq!(finish(&t, &trip, true).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_provider_is_a_first_factor_when_the_account_has_a_second() {
    let provider = Provider::start().await;
    let t = app_with_providers(&provider).await;
    let trip = begin(&t, &provider, "local", "", None).await;
    let first = finish(&t, &trip, true).await;
    let (secret, _) = crate::mfa::enrol(&t.app, &first.access_token()).await;

    // A browser comes back to the page with ?mfa_required=1 and the token in a cookie.
    let trip = begin(&t, &provider, "local", "?redirect_url=/welcome", None).await;
    let resp = finish(&t, &trip, false).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text);
    assert_eq!(resp.headers["location"], "/welcome?mfa_required=1");
    assert!(resp.set_cookie("__session").is_none());
    let mfa = resp
        .cookie("__mfa")
        .expect("the challenge rides in a cookie");
    let done = post_("/v1/auth/mfa/verify")
        .json(json!({ "method": "totp", "code": crate::mfa::code(&secret, 0) }))
        .cookie(&mfa)
        .origin(ORIGIN)
        .send(&t.app)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(claims(&done.access_token())["amr"], json!(["fed", "otp"]));
    assert_eq!(claims(&done.access_token())["acr"], "aal2");

    // A provider vouching for the address of a *local* account with a second factor does
    // not attach itself: sign in (both factors), then link.
    let local = sign_up(&t.app, "guarded@example.com").await;
    crate::mfa::enrol(&t.app, &local.access_token()).await;
    sql(
        &t.db,
        "UPDATE portcullis_users SET email_verified_at = created_at WHERE email = 'guarded@example.com'",
    )
    .await;
    provider.person("2002", Some("guarded@example.com"), Some(json!(true)));
    let trip = begin(&t, &provider, "local", "", None).await;
    let refused = finish(&t, &trip, true).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    provider.person("1001", Some("octo@example.com"), Some(json!(true)));

    // A JSON client gets the challenge in the body.
    let trip = begin(&t, &provider, "local", "", None).await;
    let resp = finish(&t, &trip, true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.json["mfa_required"], true);
    assert!(resp.json["mfa_token"].is_string());
}
