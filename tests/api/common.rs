//! Shared set-up: the contract's reference mounting on a fresh database, driven in-process
//! with `oneshot`.
//!
//! The database is SQLite in memory by default. With `PORTCULLIS_TEST_DATABASE_URL` set to
//! a PostgreSQL or MySQL server URL (`postgres://postgres@127.0.0.1:5432`,
//! `mysql://root@127.0.0.1:3306`), every test gets its own fresh database on that server.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    routing::{get, post},
};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use portcullis::{
    CurrentUser, CurrentUserRecord, Portcullis, PortcullisBuilder, Secret,
    audit::AuditEvent,
    audit::AuditHook,
    delivery::{Email, MemoryMailer, MemorySmsSender},
};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub const PASSWORD: &str = "correct horse battery staple";
pub const ORIGIN: &str = "http://localhost:3000";

/// A fresh, migrated database.
pub async fn database() -> DatabaseConnection {
    let db = match std::env::var("PORTCULLIS_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        None => Database::connect("sqlite::memory:").await.unwrap(),
        Some(server) => {
            let server = server.trim_end_matches('/');
            let name = format!("pt_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(server).await.unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await.unwrap();
            Database::connect(format!("{server}/{name}")).await.unwrap()
        }
    };
    portcullis::migrate(&db).await.unwrap();
    db
}

/// Audit events handed to the host hook, for assertions.
#[derive(Debug, Default, Clone)]
pub struct Recorder(pub Arc<Mutex<Vec<AuditEvent>>>);

impl AuditHook for Recorder {
    fn record(&self, event: &AuditEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    pub fn kinds(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect()
    }
}

pub struct TestApp {
    pub app: Router,
    pub auth: Portcullis,
    pub db: DatabaseConnection,
    pub audit: Recorder,
    pub mail: MemoryMailer,
    pub texts: MemorySmsSender,
}

/// The secret every test instance shares (instances of one deployment must).
pub fn secret() -> Secret {
    Secret::from_bytes(b"portcullis integration tests, 32+ bytes of secret".to_vec()).unwrap()
}

/// A builder with the test defaults: rate limits off, plain-http public URL.
pub fn builder(db: DatabaseConnection) -> PortcullisBuilder {
    Portcullis::builder(db)
        .public_url(ORIGIN)
        .secret(secret())
        .requests(|r| r.rate_limit = false)
}

pub async fn app() -> TestApp {
    app_with(|b| b).await
}

pub async fn app_with(configure: impl FnOnce(PortcullisBuilder) -> PortcullisBuilder) -> TestApp {
    let db = database().await;
    app_on(db, configure).await
}

/// Another instance of the app on an existing database (as a second server would be).
pub async fn app_on(
    db: DatabaseConnection,
    configure: impl FnOnce(PortcullisBuilder) -> PortcullisBuilder,
) -> TestApp {
    let audit = Recorder::default();
    let mail = MemoryMailer::new();
    let texts = MemorySmsSender::new();
    let base = builder(db.clone())
        .audit_hook(audit.clone())
        .mailer(mail.clone())
        .sms_sender(texts.clone());
    let auth = configure(base).build().await.unwrap();
    TestApp {
        app: mount(&auth),
        auth,
        db,
        audit,
        mail,
        texts,
    }
}

/// The contract's reference mounting plus the quickstart's `/hello` and a few host routes.
pub fn mount(auth: &Portcullis) -> Router {
    Router::new()
        .route(
            "/hello",
            get(|user: CurrentUser| async move {
                axum::Json(json!({ "ok": true, "user_id": user.id(), "email": user.email }))
            }),
        )
        .route(
            "/maybe",
            get(|user: Option<CurrentUser>| async move {
                axum::Json(json!({ "signed_in": user.is_some() }))
            }),
        )
        .route("/action", post(|user: CurrentUser| async move { axum::Json(json!({ "ok": true, "by": user.id() })) }))
        .route(
            "/key",
            get(|key: portcullis::extract::CurrentApiKey| async move {
                axum::Json(json!({ "key_id": key.id, "user_id": key.user.id(), "org_id": key.org_id, "scopes": key.scopes }))
            }),
        )
        .route(
            "/who",
            get(|user: CurrentUser| async move {
                axum::Json(json!({ "user_id": user.id(), "impersonator": user.impersonator(), "api_key": user.api_key().map(|k| k.id) }))
            }),
        )
        .route(
            "/beta",
            get(|portcullis::extract::RequireFeature(user, ..): portcullis::extract::RequireFeature<Beta>| async move {
                axum::Json(json!({ "ok": true, "user_id": user.id(), "features": user.features }))
            }),
        )
        .route(
            "/pro",
            get(|portcullis::extract::RequirePlan(user, ..): portcullis::extract::RequirePlan<Pro>| async move {
                axum::Json(json!({ "ok": true, "user_id": user.id() }))
            }),
        )
        .route(
            "/paid",
            get(|portcullis::extract::RequirePlan(user, ..): portcullis::extract::RequirePlan| async move {
                axum::Json(json!({ "ok": true, "user_id": user.id() }))
            }),
        )
        .route(
            "/aal2",
            get(|portcullis::extract::RequireAal2(user): portcullis::extract::RequireAal2| async move {
                axum::Json(json!({ "ok": true, "acr": user.acr(), "amr": user.amr() }))
            }),
        )
        .route(
            "/record",
            get(|CurrentUserRecord(user): CurrentUserRecord| async move { axum::Json(json!({ "name": user.name })) }),
        )
                .route(
            "/billing",
            get(|p: portcullis::RequirePermission<portcullis::extract::permissions::BillingManage>| async move {
                axum::Json(json!({ "org_id": p.org_id, "role": p.role }))
            }),
        )
        .nest("/v1/auth", auth.router())
        .nest("/v1/orgs", auth.orgs_router())
        .nest("/v1/admin", auth.admin_router())
        .nest("/v1/billing", auth.billing_router())
        .nest("/v1/stripe", auth.stripe_webhook_router())
        .merge(auth.well_known_router())
        .layer(auth.session_layer())
}

/// The `pro` plan, for host routes.
pub struct Pro;

impl portcullis::extract::PaidPlan for Pro {
    const ID: &'static str = "pro";
}

/// The `beta` feature, for host routes.
pub struct Beta;

impl portcullis::extract::Feature for Beta {
    const NAME: &'static str = "beta";
}

/// A request under construction.
pub struct Req {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Body,
    ip: Option<SocketAddr>,
}

pub fn req(method: Method, path: &str) -> Req {
    Req {
        method,
        path: path.to_owned(),
        headers: HeaderMap::new(),
        body: Body::empty(),
        ip: None,
    }
}

pub fn get_(path: &str) -> Req {
    req(Method::GET, path)
}

pub fn post_(path: &str) -> Req {
    req(Method::POST, path)
}

impl Req {
    pub fn json(mut self, value: Value) -> Self {
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body = Body::from(value.to_string());
        self
    }

    pub fn raw(mut self, content_type: &str, body: impl Into<Body>) -> Self {
        self.headers
            .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        self.body = body.into();
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn cookie(self, cookie: &str) -> Self {
        self.header("cookie", cookie)
    }

    pub fn origin(self, origin: &str) -> Self {
        self.header("origin", origin)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        self
    }

    pub fn ip(mut self, ip: &str) -> Self {
        self.ip = Some(SocketAddr::new(ip.parse().unwrap(), 40000));
        self
    }

    pub fn build(self) -> Request<Body> {
        let mut request = Request::builder()
            .method(self.method)
            .uri(self.path)
            .body(self.body)
            .unwrap();
        *request.headers_mut() = self.headers;
        if let Some(ip) = self.ip {
            request.extensions_mut().insert(ConnectInfo(ip));
        }
        request
    }

    pub async fn send(self, app: &Router) -> Resp {
        let request = self.build();
        let (method, path) = (request.method().clone(), request.uri().to_string());
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        // Every answer must be one the OpenAPI document describes.
        #[cfg(feature = "openapi")]
        crate::conformance::check(
            &method,
            &path,
            status,
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            &bytes,
        );
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// The `Set-Cookie` line for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|line| line.starts_with(&format!("{name}=")))
    }

    /// `name=value` from the response's `Set-Cookie` for `name`, ready to send back.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookie(name)
            .map(|line| line.split(';').next().unwrap().to_owned())
    }

    /// Asserts the contract's error shape and returns the code.
    pub fn error_code(&self) -> &str {
        assert_eq!(self.json["ok"], false, "{}", self.text);
        assert!(self.json["message"].is_string(), "{}", self.text);
        self.json["error"].as_str().unwrap()
    }

    pub fn access_token(&self) -> String {
        self.json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {}", self.text))
            .to_owned()
    }

    pub fn refresh_token(&self) -> String {
        self.json["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh token: {}", self.text))
            .to_owned()
    }
}

/// Signs up `email` with [`PASSWORD`] and returns the grant response.
pub async fn sign_up(app: &Router, email: &str) -> Resp {
    let resp = post_("/v1/auth/sign-up/email-password")
        .json(json!({ "email": email, "password": PASSWORD }))
        .send(app)
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    resp
}

pub async fn sign_in(app: &Router, email: &str, password: &str) -> Resp {
    post_("/v1/auth/sign-in/email-password")
        .json(json!({ "email": email, "password": password }))
        .send(app)
        .await
}

pub async fn refresh(app: &Router, token: &str) -> Resp {
    post_("/v1/auth/sessions/refresh")
        .json(json!({ "refresh_token": token }))
        .send(app)
        .await
}

/// The status of `/hello` with this bearer token.
pub async fn hello(app: &Router, token: &str) -> StatusCode {
    get_("/hello").bearer(token).send(app).await.status
}

/// Signs `token`'s session out on instance `on`, then waits up to `within` for instance
/// `other` (which accepted the token before) to refuse it too.
pub async fn signed_out_everywhere(
    on: &Router,
    other: &Router,
    token: &str,
    within: std::time::Duration,
) -> bool {
    let out = post_("/v1/auth/sign-out").bearer(token).send(on).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if hello(other, token).await == StatusCode::UNAUTHORIZED {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// The decoded claims of a JWT (no verification).
pub fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

pub fn header_of(token: &str) -> Value {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap()
}

/// Runs a raw SQL statement on the test database (to move time in tests: expiries).
pub async fn sql(db: &DatabaseConnection, statement: &str) {
    db.execute_unprepared(statement).await.unwrap();
}

/// Sends every request at once, each on its own task, and returns the answers in order.
pub async fn parallel(app: &Router, requests: Vec<Req>) -> Vec<Resp> {
    let handles: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let app = app.clone();
            tokio::spawn(async move { request.send(&app).await })
        })
        .collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// Edits a session row directly (to move its clock in tests).
pub async fn edit_session(
    db: &DatabaseConnection,
    id: &str,
    edit: impl FnOnce(&mut portcullis::entity::session::ActiveModel),
) {
    use sea_orm::{ActiveModelTrait as _, EntityTrait as _, IntoActiveModel as _};
    let id: uuid::Uuid = id.parse().unwrap();
    let row = portcullis::entity::session::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let mut active = row.into_active_model();
    edit(&mut active);
    active.update(db).await.unwrap();
}

/// A point in the past.
pub fn ago(seconds: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() - time::Duration::seconds(seconds)
}

/// A session row, read straight from the database.
pub async fn session_row(db: &DatabaseConnection, id: &str) -> portcullis::entity::session::Model {
    use sea_orm::EntityTrait as _;
    let id: uuid::Uuid = id.parse().unwrap();
    portcullis::entity::session::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

impl TestApp {
    /// The `count`-th email to `address` (waiting for it: emails leave in the background).
    pub async fn email(&self, address: &str, count: usize) -> Email {
        self.mail
            .wait_for(address, count, std::time::Duration::from_secs(10))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no email #{count} to {address}; sent: {:?}",
                    self.mail.sent()
                )
            })
    }

    /// Waits a moment and asserts nothing more than `count` emails went to `address`.
    pub async fn assert_no_more_email(&self, address: &str, count: usize) {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        assert_eq!(
            self.mail.sent_to(address).len(),
            count,
            "unexpected email to {address}"
        );
    }
}

/// The `token` query parameter of the first link in an email's text.
pub fn token_in(email: &Email) -> String {
    link_in(email)
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

/// The first link in an email's text.
pub fn link_in(email: &Email) -> String {
    email
        .text
        .split_whitespace()
        .find(|word| word.starts_with("http://") || word.starts_with("https://"))
        .unwrap_or_else(|| panic!("no link in {:?}", email.text))
        .to_owned()
}

/// The path and query of an absolute link, to send through the in-process router.
pub fn path_of(link: &str) -> String {
    let rest = link.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

/// Makes the session of `grant` look signed in an hour ago, and returns a refreshed
/// access token that says so.
pub async fn stale(t: &TestApp, grant: &Resp) -> Resp {
    edit_session(&t.db, grant.json["session"]["id"].as_str().unwrap(), |s| {
        s.created_at = sea_orm::ActiveValue::Set(ago(3600));
        s.auth_time = sea_orm::ActiveValue::Set(None);
    })
    .await;
    let resp = refresh(&t.app, &grant.refresh_token()).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    resp
}
