//! A working auth server in one file: the reference mounting of the HTTP contract, a
//! small page to try every flow by hand, and a protected `/hello`.
//!
//! ```sh
//! cargo run --example quickstart            # SQLite in ./portcullis.db, http://localhost:3000
//! PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1/app cargo run --example quickstart
//! ```
//!
//! `/openapi.json` is the OpenAPI 3.1 document of every route (ours from
//! [`Portcullis::openapi`], merged with this file's own `/hello`), and `/docs` a reference
//! page that reads it (served from this directory: nothing is fetched from elsewhere).
//!
//! Every setting comes from the environment (`PORTCULLIS_*`, see `API.md`). Without
//! `PORTCULLIS_SECRET`, a secret is generated once and kept in `./portcullis.secret`.

use std::{net::SocketAddr, path::Path, sync::Arc};

use axum::{
    Json, Router,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use base64::Engine as _;
use http::{HeaderValue, header};
use portcullis::{Config, CurrentUser, Portcullis, Secret};
use sea_orm::Database;
use tracing_subscriber::EnvFilter;

const SECRET_FILE: &str = "portcullis.secret";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let database_url = env_or("PORTCULLIS_DATABASE_URL", "sqlite://portcullis.db?mode=rwc");
    let bind: SocketAddr = env_or("PORTCULLIS_BIND", "127.0.0.1:3000").parse()?;

    let mut config = Config::from_env()?;
    if config.secret.is_none() {
        config.secret = Some(load_or_create_secret(Path::new(SECRET_FILE))?);
    }
    // Browsers that open the listen address itself (http://127.0.0.1:3000) send it as their
    // Origin: allow it too, so the page works whichever URL was typed.
    if bind.ip().is_loopback() {
        config
            .requests
            .allowed_origins
            .push(format!("http://{bind}"));
    }

    // Bounded waits (a database outage answers 503 in two seconds, not thirty) and, on
    // SQLite, the WAL journal with synchronous=NORMAL: see `portcullis::connect_options`.
    let db = Database::connect(portcullis::connect_options(&database_url)).await?;
    portcullis::migrate(&db).await?;
    let info = PageInfo {
        client_key: config
            .clients
            .first()
            .map(|client| client.publishable_key.clone()),
        waitlists: config.waitlists.clone(),
    };
    let builder = Portcullis::from_config(db, config);
    // Several instances share their rate limits through Redis, and hear each other's
    // revocations on it (cargo feature `redis`).
    #[cfg(feature = "redis")]
    let builder = match std::env::var("PORTCULLIS_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let limiter = portcullis::rate_limit::RedisRateLimiter::connect(&url).await?;
            tracing::info!("rate limits and revocations are shared through Redis");
            builder.rate_limiter(limiter).redis_revocations(url)
        }
        _ => builder,
    };
    #[cfg(not(feature = "redis"))]
    if std::env::var_os("PORTCULLIS_REDIS_URL").is_some() {
        tracing::warn!(
            "PORTCULLIS_REDIS_URL is set but this build has no `redis` feature: limits stay in process"
        );
    }
    let auth = builder.build().await?;
    let document: Arc<str> = openapi_document(&auth)?.into();

    let app = Router::new()
        .route("/", get(page).with_state(info))
        .route("/hello", get(hello))
        .route(
            "/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    document.to_string(),
                )
            }),
        )
        .route(
            "/docs",
            get(|| async { Html(include_str!("openapi-viewer.html")) }),
        )
        .route("/reset-password", get(reset_password_page))
        .route("/accept-invitation", get(accept_invitation_page))
        .nest("/v1/auth", auth.router())
        .nest("/v1/orgs", auth.orgs_router())
        .nest("/v1/admin", auth.admin_router())
        .nest("/v1/billing", auth.billing_router())
        .nest("/v1/stripe", auth.stripe_webhook_router())
        .merge(auth.well_known_router())
        .layer(auth.session_layer());

    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(
        "portcullis quickstart listening on {bind}: open {} (database {})",
        auth.config().public_url,
        redact_password(&database_url),
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    // A rolling deploy sends SIGTERM: stop accepting, finish the requests in flight, then
    // let portcullis finish its background work and the emails it was sending.
    .with_graceful_shutdown(stop_signal())
    .await?;
    auth.shutdown().await;
    tracing::info!("portcullis quickstart stopped");
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("stopping: finishing the requests in flight");
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The secret from `path`, or a new one written there (readable by the owner only).
fn load_or_create_secret(path: &Path) -> Result<Secret, Box<dyn std::error::Error>> {
    if path.exists() {
        let secret = Secret::parse(&std::fs::read_to_string(path)?)?;
        tracing::info!("using the server secret kept in ./{SECRET_FILE}");
        return Ok(secret);
    }
    let secret = Secret::generate();
    write_private(path, &secret.to_base64())?;
    tracing::warn!(
        "PORTCULLIS_SECRET is not set: generated a new server secret and kept it in ./{SECRET_FILE}; \
         set PORTCULLIS_SECRET in production (every instance must share it)"
    );
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The document `/openapi.json` serves: portcullis' routes, and this host's own `/hello`
/// merged in the way any host adds its routes.
fn openapi_document(auth: &Portcullis) -> Result<String, serde_json::Error> {
    use utoipa::OpenApi as _;

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(hello))]
    struct HostRoutes;

    let mut document = auth.openapi();
    document.info.title = "portcullis quickstart".to_owned();
    document.merge(HostRoutes::openapi());
    document.to_json()
}

/// `{ ok, user_id, email, acr, amr, impersonator, features, api_key }`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Hello {
    ok: bool,
    user_id: uuid::Uuid,
    email: Option<String>,
    /// `aal2` after a second factor or a passkey, else `aal1`.
    acr: String,
    /// The methods the session used (`pwd`, `otp`, `hwk`, ...).
    amr: Vec<String>,
    /// The admin acting as this user, on an impersonation.
    impersonator: Option<uuid::Uuid>,
    /// Plan and waitlist features.
    features: Vec<String>,
    /// The API key the request came with, if it did.
    api_key: Option<uuid::Uuid>,
}

/// `GET /hello`: straight from the verified token, no database: who, what the session
/// proved (`acr` is `aal2` after a second factor or a passkey), and who is really acting
/// when an admin impersonates.
#[utoipa::path(
    get, path = "/hello", tag = "quickstart",
    security(("access_token" = []), ("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The verified token's claims", body = Hello),
        (status = 401, description = "`unauthorized`: no, malformed, expired or revoked credentials"),
    ),
)]
async fn hello(user: CurrentUser) -> Json<Hello> {
    Json(Hello {
        ok: true,
        user_id: user.id(),
        email: user.email.clone(),
        acr: user.acr().to_owned(),
        amr: user.amr().to_vec(),
        impersonator: user.impersonator(),
        features: user.features.clone(),
        api_key: user.api_key().map(|key| key.id),
    })
}

/// What the page needs from the configuration.
#[derive(Clone)]
struct PageInfo {
    /// The first client app's publishable key (a public identifier), if any.
    client_key: Option<String>,
    /// The declared waitlist features.
    waitlists: Vec<String>,
}

/// `GET /`: the page to try every flow. With client apps configured (`PORTCULLIS_CLIENTS`),
/// the page names itself with the first one's publishable key.
async fn page(axum::extract::State(info): axum::extract::State<PageInfo>) -> Response {
    let mut meta = String::new();
    if let Some(key) = &info.client_key {
        meta.push_str(&format!(
            "<meta name=\"portcullis-client-key\" content=\"{}\">\n",
            escape(key)
        ));
    }
    meta.push_str(&format!(
        "<meta name=\"portcullis-waitlists\" content=\"{}\">\n",
        escape(&info.waitlists.join(","))
    ));
    html_page_with("portcullis quickstart", INDEX_BODY, INDEX_SCRIPT, &meta)
}

fn escape(text: &str) -> String {
    portcullis::delivery::templates::escape_html(text)
}

/// `GET /reset-password?token=...`: where the emailed reset link lands.
async fn reset_password_page() -> Response {
    html_page("Choose a new password", RESET_BODY, RESET_SCRIPT)
}

/// `GET /accept-invitation?token=...`: where the emailed invitation link lands.
async fn accept_invitation_page() -> Response {
    html_page("Join an organization", ACCEPT_BODY, ACCEPT_SCRIPT)
}

/// A page whose CSP allows exactly its own inline script and the shared style.
fn html_page(title: &str, body: &str, script: &str) -> Response {
    html_page_with(title, body, script, "")
}

/// [`html_page`] with extra `<head>` markup.
fn html_page_with(title: &str, body: &str, script: &str, head: &str) -> Response {
    let csp = format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; img-src 'self' https: data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        csp_hash(script),
        csp_hash(STYLE),
    );
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n{head}<style>{STYLE}</style>\n</head>\n<body>\n{body}\n\
         <h3>Last answer</h3>\n<pre id=\"out\" class=\"muted\">(nothing yet)</pre>\n\
         <script>{script}</script>\n</body>\n</html>\n"
    );
    let csp = HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("default-src 'none'"));
    (
        [
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        Html(html),
    )
        .into_response()
}

fn csp_hash(source: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, source.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;color:#222}\
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;padding:1rem;flex:1;min-width:16rem;margin-bottom:1rem}\
label{display:block;margin:.5rem 0}input{display:block;width:100%;padding:.4rem;box-sizing:border-box}\
button,a.button{padding:.4rem .8rem;margin:.25rem .25rem .25rem 0;cursor:pointer}a.button{border:1px solid #888;border-radius:4px;color:inherit;text-decoration:none;display:inline-block}.danger{color:#a00}.row{display:flex;flex-wrap:wrap}\
pre{background:#f6f6f6;padding:.75rem;border-radius:6px;overflow:auto}.muted{color:#666}.notice{background:#fff7d6;padding:.5rem;border-radius:6px}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3rem;text-align:left;font-size:13px}";

const INDEX_BODY: &str = r#"<h1>portcullis quickstart</h1>
<p class="muted">Every button calls the HTTP contract under <code>/v1/auth</code>; the session lives in HttpOnly cookies.
Providers come from <code>PORTCULLIS_OIDC_&lt;NAME&gt;_CLIENT_ID</code> (with <code>_CLIENT_SECRET</code>, <code>_ISSUER</code>).
Emails go to the SMTP server in <code>PORTCULLIS_SMTP_URL</code> and texts to <code>PORTCULLIS_SMS_WEBHOOK_URL</code>,
or both to this server's log.</p>
<p id="notice" class="notice" hidden></p>
<p id="impersonating" class="notice" hidden><strong>You are impersonating this user</strong> (an admin session: one hour, no refresh). <button id="stop-impersonating">Stop (sign out)</button></p>

<section id="signed-out">
  <div id="mfa-challenge" class="card" hidden>
    <h2>Two-step verification</h2>
    <p class="muted">Your password (or link, or code) was right. Now enter the code from your authenticator app, or one of your recovery codes.</p>
    <form id="mfa-verify" class="row">
      <input name="code" autocomplete="one-time-code" placeholder="123456, or a recovery code" required>
      <button type="submit">Verify</button>
    </form>
    <button id="mfa-passkey" hidden>Use a passkey instead</button>
  </div>
  <div class="cards">
    <form id="sign-up" class="card">
      <h2>Sign up</h2>
      <label>Email <input name="email" type="email" autocomplete="email" required></label>
      <label>Name <input name="name" autocomplete="name"></label>
      <label>Password <input name="password" type="password" autocomplete="new-password" required minlength="8"></label>
      <button type="submit">Create account</button>
    </form>
    <form id="sign-in" class="card">
      <h2>Sign in</h2>
      <label>Email <input name="email" type="email" autocomplete="username webauthn" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
      <button type="submit">Sign in</button>
    </form>
    <form id="forgot" class="card">
      <h2>Forgot your password?</h2>
      <label>Email <input name="email" type="email" autocomplete="email" required></label>
      <button type="submit">Email me a reset link</button>
    </form>
  </div>
  <div id="providers" class="card" hidden>
    <h2>Or with an account elsewhere</h2>
    <div id="provider-buttons" class="row"></div>
  </div>
  <h2>Or without a password</h2>
  <div class="cards">
    <form id="magic-link" class="card">
      <h3>Email me a link</h3>
      <label>Email <input name="email" type="email" autocomplete="email" required></label>
      <button type="submit">Send me a sign-in link</button>
    </form>
    <form id="email-code" class="card">
      <h3>Email me a code</h3>
      <label>Email <input name="email" type="email" autocomplete="email" required></label>
      <button type="submit">Send me a code</button>
      <label>Code <input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"></label>
      <button type="button" id="email-code-verify">Sign in with the code</button>
    </form>
    <form id="passkey-sign-in" class="card">
      <h3>Use a passkey</h3>
      <label>Email (optional) <input name="email" type="email" autocomplete="username webauthn"></label>
      <button type="submit">Sign in with a passkey</button>
    </form>
    <form id="sms-code" class="card">
      <h3>Text me a code</h3>
      <label>Phone <input name="phone" type="tel" autocomplete="tel" placeholder="+15555550123" required></label>
      <button type="submit">Text me a code</button>
      <label>Code <input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"></label>
      <button type="button" id="sms-code-verify">Sign in with the code</button>
    </form>
  </div>
</section>

<section id="signed-in" hidden>
  <div class="card">
    <h2>Signed in as <span id="who"></span> <small id="verified" class="muted"></small></h2>
    <div class="row">
      <button id="verify-email">Verify my email</button>
      <button id="call-hello">Call /hello</button>
      <button id="refresh">Refresh tokens</button>
      <button id="sign-out">Sign out</button>
      <button id="sign-out-all" class="danger">Sign out everywhere</button>
    </div>
    <h3>/v1/auth/me</h3>
    <pre id="me"></pre>
    <h3>Sessions</h3>
    <table><thead><tr><th>Started</th><th>Method</th><th>IP</th><th>Browser</th><th></th></tr></thead><tbody id="sessions"></tbody></table>
  </div>
  <div class="card">
    <h2>Organizations</h2>
    <p>Acting in: <strong id="active-org">none</strong> <span id="perms" class="muted"></span></p>
    <table><thead><tr><th>Name</th><th>Slug</th><th>Your role</th><th></th></tr></thead><tbody id="orgs"></tbody></table>
    <form id="create-org" class="row"><input name="name" placeholder="New organization name" required><button type="submit">Create</button></form>
    <div id="active-org-tools" hidden>
      <h3>Members</h3>
      <table><thead><tr><th>Email</th><th>Role</th></tr></thead><tbody id="members"></tbody></table>
      <form id="invite" class="row">
        <input name="email" type="email" placeholder="Invite by email" required>
        <select name="role"><option value="member">member</option><option value="admin">admin</option><option value="owner">owner</option></select>
        <button type="submit">Invite</button>
      </form>
    </div>
  </div>
  <div class="card" id="accounts-card" hidden>
    <h2>Linked accounts</h2>
    <table><thead><tr><th>Provider</th><th>Email</th><th>Linked</th><th></th></tr></thead><tbody id="accounts"></tbody></table>
    <div id="link-buttons" class="row"></div>
  </div>
  <div class="card">
    <h2>Passkeys</h2>
    <table><thead><tr><th>Name</th><th>Added</th><th>Last used</th><th></th></tr></thead><tbody id="passkeys"></tbody></table>
    <form id="add-passkey" class="row"><input name="name" placeholder="Name (optional)" maxlength="100"><button type="submit">Add a passkey</button></form>
  </div>
  <div class="card">
    <h2>Two-step verification</h2>
    <p id="mfa-status" class="muted"></p>
    <button id="mfa-setup" hidden>Set up an authenticator app</button>
    <div id="mfa-enrol" hidden>
      <p>Scan this with your authenticator app (or type the key), then enter the code it shows.</p>
      <img id="mfa-qr" alt="QR code for your authenticator app" width="200" height="200">
      <p>Key: <code id="mfa-secret"></code></p>
      <form id="mfa-confirm" class="row">
        <input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" placeholder="123456" required>
        <button type="submit">Turn on</button>
      </form>
    </div>
    <div id="mfa-on" hidden>
      <button id="mfa-new-codes">New recovery codes</button>
      <button id="mfa-disable" class="danger">Turn off</button>
    </div>
    <div id="mfa-codes-box" hidden>
      <p><strong>Your recovery codes.</strong> Each works once, if you lose your authenticator. They are shown only now: keep them somewhere safe.</p>
      <pre id="mfa-codes"></pre>
    </div>
  </div>
  <div class="card">
    <h2>Confirm it's you</h2>
    <p class="muted">Sensitive changes need a recent sign-in; removing a second factor needs one made with a second factor. This session: <strong id="session-level"></strong></p>
    <form id="reauth-password" class="row"><input name="password" type="password" autocomplete="current-password" placeholder="Password" required><button type="submit">With my password</button></form>
    <form id="reauth-code" class="row"><input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" placeholder="Authenticator code" required><button type="submit">With a code</button></form>
    <button id="reauth-passkey">With a passkey</button>
  </div>
  <div class="card">
    <h2>API keys</h2>
    <p class="muted">For scripts and servers: <code>Authorization: Bearer sk_...</code>. A key is shown once.</p>
    <table><thead><tr><th>Name</th><th>Prefix</th><th>Scopes</th><th>Last used</th><th>Expires</th><th></th></tr></thead><tbody id="api-keys"></tbody></table>
    <form id="create-api-key" class="row">
      <input name="name" placeholder="Name" required maxlength="100">
      <input name="scopes" placeholder="Scopes (optional, comma-separated: user:read, org:read)">
      <input name="expires_in_days" type="number" min="1" max="3650" placeholder="Days (optional)">
      <button type="submit">Create key</button>
    </form>
    <p id="api-key-secret" class="notice" hidden></p>
  </div>
  <div class="card" id="waitlists-card" hidden>
    <h2>Waitlists</h2>
    <p class="muted">Join from your account, or from the organization you act in.</p>
    <table><thead><tr><th>Feature</th><th>Status</th><th>Place</th><th></th></tr></thead><tbody id="waitlists"></tbody></table>
    <p>Features in your token: <strong id="features">none</strong></p>
  </div>
  <div class="card" id="billing-card" hidden>
    <h2>Billing</h2>
    <p class="muted">Plans from <code>PORTCULLIS_BILLING_PLANS</code>; checkout and the billing portal are Stripe's pages.</p>
    <table><thead><tr><th>Plan</th><th>Price</th><th>Features</th><th></th></tr></thead><tbody id="plans"></tbody></table>
    <p>Your subscription: <strong id="my-subscription">none</strong> <button id="my-portal" hidden>Manage billing</button></p>
    <p id="org-billing" hidden>The organization's subscription: <strong id="org-subscription">none</strong> <button id="org-portal" hidden>Manage billing</button></p>
  </div>
  <div class="card">
    <h2>Activity</h2>
    <table><thead><tr><th>When</th><th>What</th><th>By an admin</th><th>IP</th></tr></thead><tbody id="activity"></tbody></table>
  </div>
  <div class="card" id="admin-card" hidden>
    <h2>Admin</h2>
    <form id="admin-search" class="row">
      <input name="query" placeholder="Search email or name">
      <select name="filter"><option value="">everyone</option><option value="verified=true">verified</option><option value="verified=false">unverified</option><option value="disabled=true">disabled</option></select>
      <button type="submit">Search</button>
    </form>
    <table><thead><tr><th>Email</th><th>Name</th><th>Role</th><th>Last sign-in</th><th></th></tr></thead><tbody id="admin-users"></tbody></table>
    <button id="admin-next" hidden>Next page</button>
    <div id="admin-user" hidden>
      <h3>User <span id="admin-user-email"></span></h3>
      <div class="row">
        <button id="admin-disable">Disable</button>
        <button id="admin-enable">Enable</button>
        <button id="admin-revoke">Revoke all sessions</button>
        <button id="admin-impersonate">Impersonate</button>
        <button id="admin-delete" class="danger">Delete</button>
      </div>
      <pre id="admin-user-detail"></pre>
    </div>
    <h3>Waitlists</h3>
    <form id="admin-admit" class="row"><input name="feature" placeholder="Feature" required><input name="count" type="number" min="1" max="1000" value="1"><button type="submit">Admit the oldest</button></form>
    <h3>Audit log</h3>
    <table><thead><tr><th>When</th><th>Kind</th><th>User</th><th>Admin</th></tr></thead><tbody id="admin-audit"></tbody></table>
    <button id="admin-audit-next" hidden>Older</button>
  </div>
  <form id="change-password" class="card">
    <h2>Change password</h2>
    <label>Current password <input name="current_password" type="password" autocomplete="current-password"></label>
    <label>New password <input name="new_password" type="password" autocomplete="new-password" required minlength="8"></label>
    <button type="submit">Change password</button>
  </form>
</section>"#;

/// The API helper (refreshing once on 401), then the page logic.
const INDEX_SCRIPT: &str = concat!(
    r#"
const API = '/v1/auth';
const $ = (id) => document.getElementById(id);
// With client apps configured, the page names itself (a publishable key identifies only).
const CLIENT_KEY = document.querySelector('meta[name="portcullis-client-key"]')?.content;
const show = (what) => { $('out').textContent = typeof what === 'string' ? what : JSON.stringify(what, null, 2); };
async function call(method, path, body, retried) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (CLIENT_KEY) init.headers['x-api-key'] = CLIENT_KEY;
  if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  // The access token lives 5 minutes: on 401, refresh once through the cookie and retry.
  if (res.status === 401 && !retried && path !== API + '/sessions/refresh') {
    const r = await fetch(API + '/sessions/refresh', { method: 'POST', credentials: 'same-origin', headers: CLIENT_KEY ? { 'x-api-key': CLIENT_KEY } : {} });
    if (r.ok) return call(method, path, body, true);
  }
  return { status: res.status, data };
}
function formData(form) { return Object.fromEntries(new FormData(form).entries()); }
"#,
    r#"
const params = new URLSearchParams(location.search);
if (params.get('error')) { $('notice').hidden = false; $('notice').textContent = 'That link did not work: ' + params.get('error'); }

// Two-step verification at sign-in. A JSON sign-in answers { mfa_required, mfa_token,
// factors }; a browser flow (a magic link, social sign-in) comes back with
// ?mfa_required=1 and the token in an HttpOnly cookie that /mfa/verify reads.
let mfaToken = null;
function challenge(answer) {
  if (!answer.data || !answer.data.mfa_required) return false;
  mfaToken = answer.data.mfa_token;
  $('mfa-challenge').hidden = false;
  $('mfa-passkey').hidden = !(answer.data.factors || []).includes('passkey');
  $('mfa-verify').querySelector('input').focus();
  return true;
}
if (params.get('mfa_required')) { $('mfa-challenge').hidden = false; $('mfa-passkey').hidden = false; }
async function signedIn(answer) {
  show(answer);
  if (challenge(answer)) return;
  $('mfa-challenge').hidden = true;
  mfaToken = null;
  if (params.get('mfa_required')) history.replaceState(null, '', location.pathname);
  render();
}
$('mfa-verify').addEventListener('submit', async (e) => {
  e.preventDefault();
  const code = formData(e.target).code.trim();
  const method = /^[0-9]{6}$/.test(code) ? 'totp' : 'recovery_code';
  const body = { method, code };
  if (mfaToken) body.mfa_token = mfaToken;
  const answer = await call('POST', API + '/mfa/verify', body);
  e.target.reset();
  if (answer.status === 200) signedIn(answer); else show(answer);
});
$('mfa-passkey').addEventListener('click', async () => {
  if (!passkeys) return show('This browser has no passkey support.');
  try {
    const body = mfaToken ? { mfa_token: mfaToken } : {};
    const begun = await call('POST', API + '/mfa/passkey/begin', body);
    if (begun.status !== 200) return show(begun);
    if (autofill) { autofill.abort(); autofill = null; }
    const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(begun.data.options) });
    const answer = await call('POST', API + '/mfa/passkey/complete', { ...body, challenge_id: begun.data.challenge_id, credential: credential.toJSON() });
    if (answer.status === 200) signedIn(answer); else show(answer);
  } catch (err) { show('Passkey not used: ' + err.message); }
});

async function renderMfa() {
  const status = await call('GET', API + '/me/mfa');
  const on = !!status.data.totp;
  $('mfa-status').textContent = on
    ? 'On: sign-ins ask for a code from your authenticator app' + (status.data.passkey_as_second_factor ? ' (or a passkey)' : '') + '. Recovery codes left: ' + status.data.recovery_codes_left + '.'
    : 'Off: your password alone signs you in.';
  $('mfa-setup').hidden = on || !$('mfa-enrol').hidden;
  $('mfa-on').hidden = !on;
  if (on) $('mfa-enrol').hidden = true;
  const hello = await call('GET', '/hello');
  $('session-level').textContent = hello.data.acr === 'aal2' ? 'two factors (' + hello.data.amr.join(' + ') + ')' : 'one factor (' + (hello.data.amr || []).join(' + ') + ')';
}
function showCodes(answer) {
  show(answer);
  if (answer.status !== 200) return;
  $('mfa-codes').textContent = answer.data.recovery_codes.join('\n');
  $('mfa-codes-box').hidden = false;
}
$('mfa-setup').addEventListener('click', async () => {
  const begun = await call('POST', API + '/me/mfa/totp');
  show(begun.status === 200 ? { status: 200, data: { ok: true, otpauth_url: begun.data.otpauth_url } } : begun);
  if (begun.status !== 200) return;
  $('mfa-qr').src = 'data:image/svg+xml;base64,' + btoa(begun.data.qr_svg);
  $('mfa-secret').textContent = begun.data.secret;
  $('mfa-enrol').hidden = false;
  $('mfa-setup').hidden = true;
});
$('mfa-confirm').addEventListener('submit', async (e) => {
  e.preventDefault();
  const answer = await call('POST', API + '/me/mfa/totp/confirm', { code: formData(e.target).code.trim() });
  e.target.reset();
  showCodes(answer);
  if (answer.status === 200) { $('mfa-enrol').hidden = true; render(); }
});
$('mfa-new-codes').addEventListener('click', async () => { showCodes(await call('POST', API + '/me/mfa/recovery-codes')); render(); });
$('mfa-disable').addEventListener('click', async () => { show(await call('DELETE', API + '/me/mfa/totp')); $('mfa-codes-box').hidden = true; render(); });
$('reauth-password').addEventListener('submit', async (e) => {
  e.preventDefault();
  show(await call('POST', API + '/reauthenticate', { password: formData(e.target).password })); e.target.reset(); render();
});
$('reauth-code').addEventListener('submit', async (e) => {
  e.preventDefault();
  show(await call('POST', API + '/reauthenticate', { code: formData(e.target).code.trim() })); e.target.reset(); render();
});
$('reauth-passkey').addEventListener('click', async () => {
  if (!passkeys) return show('This browser has no passkey support.');
  try {
    const begun = await call('POST', API + '/passkeys/authenticate/begin', {});
    if (begun.status !== 200) return show(begun);
    const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(begun.data.options) });
    show(await call('POST', API + '/reauthenticate', { challenge_id: begun.data.challenge_id, credential: credential.toJSON() }));
  } catch (err) { show('Passkey not used: ' + err.message); }
  render();
});

async function render() {
  const me = await call('GET', API + '/me');
  const signedIn = me.status === 200;
  $('signed-in').hidden = !signedIn;
  $('signed-out').hidden = signedIn;
  if (!signedIn) { $('impersonating').hidden = true; offerPasskeyAutofill(); renderProviders(); return; }
  const user = me.data.user;
  $('who').textContent = user.email || user.phone;
  $('verified').textContent = !user.email ? '' : user.email_verified ? '(email verified)' : '(email not verified)';
  $('verify-email').hidden = !user.email || user.email_verified;
  $('me').textContent = JSON.stringify(me.data, null, 2);
  await renderOrgs();
  await renderMfa();
  await renderApiKeys();
  await renderWaitlists();
  await renderBilling();
  await renderActivity();
  await renderAdmin();
  await renderPasskeys();
  await renderAccounts();
  const list = await call('GET', API + '/sessions');
  const rows = $('sessions');
  rows.replaceChildren();
  for (const s of list.data.sessions || []) {
    const tr = document.createElement('tr');
    for (const text of [new Date(s.created_at).toLocaleString(), s.auth_method, s.ip || '', (s.user_agent || '').slice(0, 40)]) {
      const td = document.createElement('td'); td.textContent = text; tr.appendChild(td);
    }
    const td = document.createElement('td');
    if (s.current) { td.textContent = 'this browser'; } else {
      const b = document.createElement('button'); b.textContent = 'Revoke';
      b.addEventListener('click', async () => { show(await call('DELETE', API + '/sessions/' + s.id)); render(); });
      td.appendChild(b);
    }
    tr.appendChild(td); rows.appendChild(tr);
  }
}

// Passkeys, with the browser's own JSON helpers: options in, credential.toJSON() out.
const passkeys = !!(window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON);
let autofill = null; // the pending autofill request, aborted before any other ceremony
async function passkeySignIn(email, conditional) {
  if (autofill) { autofill.abort(); autofill = null; }
  const begun = await call('POST', API + '/passkeys/authenticate/begin', email ? { email } : {});
  if (begun.status !== 200) return begun;
  const request = { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(begun.data.options) };
  if (conditional) { autofill = new AbortController(); request.mediation = 'conditional'; request.signal = autofill.signal; }
  const credential = await navigator.credentials.get(request);
  return call('POST', API + '/passkeys/authenticate/complete', { challenge_id: begun.data.challenge_id, credential: credential.toJSON() });
}
// Autofill: the browser offers saved passkeys in the email fields (autocomplete="username
// webauthn"); the request waits until the person picks one, or another ceremony starts.
async function offerPasskeyAutofill() {
  if (!passkeys || autofill || !(await PublicKeyCredential.isConditionalMediationAvailable?.())) return;
  try {
    const answer = await passkeySignIn(null, true);
    show(answer);
    if (answer.status === 200) render();
  } catch (err) {
    if (err.name !== 'AbortError') show('Passkey sign-in failed: ' + err.message);
  } finally { autofill = null; }
}
$('passkey-sign-in').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!passkeys) return show('This browser has no passkey support.');
  try { show(await passkeySignIn(formData(e.target).email, false)); } catch (err) { show('Passkey sign-in failed: ' + err.message); }
  render();
});
async function renderPasskeys() {
  const list = await call('GET', API + '/me/passkeys');
  const rows = $('passkeys');
  rows.replaceChildren();
  for (const p of list.data.passkeys || []) {
    const tr = document.createElement('tr');
    for (const text of [p.name, new Date(p.created_at).toLocaleString(), p.last_used_at ? new Date(p.last_used_at).toLocaleString() : 'never']) {
      const td = document.createElement('td'); td.textContent = text; tr.appendChild(td);
    }
    const td = document.createElement('td');
    const rename = document.createElement('button'); rename.textContent = 'Rename';
    rename.addEventListener('click', async () => {
      const name = prompt('New name', p.name);
      if (name) { show(await call('PATCH', API + '/me/passkeys/' + p.id, { name })); render(); }
    });
    const remove = document.createElement('button'); remove.textContent = 'Remove'; remove.className = 'danger';
    remove.addEventListener('click', async () => { show(await call('DELETE', API + '/me/passkeys/' + p.id)); render(); });
    td.append(rename, remove); tr.appendChild(td); rows.appendChild(tr);
  }
}
$('add-passkey').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!passkeys) return show('This browser has no passkey support.');
  try {
    const begun = await call('POST', API + '/me/passkeys/register/begin');
    if (begun.status !== 200) return show(begun);
    const credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(begun.data.options) });
    show(await call('POST', API + '/me/passkeys/register/complete', { name: formData(e.target).name || undefined, credential: credential.toJSON() }));
    e.target.reset();
  } catch (err) { show('Passkey not added: ' + err.message); }
  render();
});

// Social sign-in: plain links to /oauth/{provider}/authorize; the provider sends the
// browser back with the session cookies. Signed in, the same link adds the provider.
async function providerList() {
  const methods = await call('GET', API + '/methods');
  return methods.data.oauth || [];
}
function providerLink(p, text) {
  const a = document.createElement('a');
  a.href = API + '/oauth/' + encodeURIComponent(p.provider) + '/authorize?redirect_url=/';
  a.textContent = text; a.className = 'button';
  return a;
}
async function renderProviders() {
  const providers = await providerList();
  $('providers').hidden = providers.length === 0;
  $('provider-buttons').replaceChildren(...providers.map((p) => providerLink(p, 'Sign in with ' + p.name)));
}
async function renderAccounts() {
  const providers = await providerList();
  $('accounts-card').hidden = providers.length === 0;
  if (providers.length === 0) return;
  const list = await call('GET', API + '/me/accounts');
  const rows = $('accounts');
  rows.replaceChildren();
  for (const a of list.data.accounts || []) {
    const tr = document.createElement('tr');
    for (const text of [a.provider, a.email || '', new Date(a.created_at).toLocaleString()]) {
      const td = document.createElement('td'); td.textContent = text; tr.appendChild(td);
    }
    const td = document.createElement('td');
    const b = document.createElement('button'); b.textContent = 'Unlink'; b.className = 'danger';
    b.addEventListener('click', async () => { show(await call('DELETE', API + '/me/accounts/' + a.id)); render(); });
    td.appendChild(b); tr.appendChild(td); rows.appendChild(tr);
  }
  $('link-buttons').replaceChildren(...providers.map((p) => providerLink(p, 'Link ' + p.name)));
}

let activeOrg = null;
async function renderOrgs() {
  const perms = await call('GET', API + '/sessions/current/permissions');
  const active = perms.data.org_id;
  activeOrg = active || null;
  const list = await call('GET', '/v1/orgs');
  const rows = $('orgs');
  rows.replaceChildren();
  let activeName = 'none';
  for (const org of list.data.orgs || []) {
    const tr = document.createElement('tr');
    for (const text of [org.name, org.slug, org.role]) {
      const td = document.createElement('td'); td.textContent = text; tr.appendChild(td);
    }
    const td = document.createElement('td');
    if (org.id === active) { td.textContent = 'active'; activeName = org.name; } else {
      const b = document.createElement('button'); b.textContent = 'Switch to';
      b.addEventListener('click', async () => { show(await call('PATCH', '/v1/orgs/current', { org_id: org.id })); render(); });
      td.appendChild(b);
    }
    tr.appendChild(td); rows.appendChild(tr);
  }
  $('active-org').textContent = activeName;
  $('perms').textContent = active ? '(' + perms.data.org_role + ': ' + perms.data.permissions.join(', ') + ')' : '';
  $('active-org-tools').hidden = !active;
  if (active) {
    const members = await call('GET', '/v1/orgs/' + active + '/members');
    const body = $('members');
    body.replaceChildren();
    for (const m of members.data.members || []) {
      const tr = document.createElement('tr');
      for (const text of [m.email || m.user_id, m.role]) {
        const td = document.createElement('td'); td.textContent = text; tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }
}
$('create-org').addEventListener('submit', async (e) => {
  e.preventDefault();
  show(await call('POST', '/v1/orgs', { name: formData(e.target).name })); e.target.reset(); render();
});
$('invite').addEventListener('submit', async (e) => {
  e.preventDefault();
  const perms = await call('GET', API + '/sessions/current/permissions');
  show(await call('POST', '/v1/orgs/' + perms.data.org_id + '/invitations', formData(e.target))); e.target.reset();
});
$('sign-up').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = formData(e.target);
  if (!f.name) delete f.name;
  show(await call('POST', API + '/sign-up/email-password', f)); render();
});
$('sign-in').addEventListener('submit', async (e) => {
  e.preventDefault();
  signedIn(await call('POST', API + '/sign-in/email-password', formData(e.target)));
});
$('forgot').addEventListener('submit', async (e) => {
  e.preventDefault();
  show(await call('POST', API + '/password/forgot', formData(e.target)));
});
$('magic-link').addEventListener('submit', async (e) => {
  e.preventDefault();
  show(await call('POST', API + '/sign-in/magic-link', { email: formData(e.target).email, redirect_url: '/' }));
});
$('email-code').addEventListener('submit', async (e) => {
  e.preventDefault();
  show(await call('POST', API + '/sign-in/email-otp', { email: formData(e.target).email }));
});
$('email-code-verify').addEventListener('click', async () => {
  const f = formData($('email-code'));
  signedIn(await call('POST', API + '/email-otp/verify', { email: f.email, code: f.code }));
});
$('sms-code').addEventListener('submit', async (e) => {
  e.preventDefault();
  show(await call('POST', API + '/sign-in/sms-otp', { phone: formData(e.target).phone }));
});
$('sms-code-verify').addEventListener('click', async () => {
  const f = formData($('sms-code'));
  signedIn(await call('POST', API + '/sms/verify', { phone: f.phone, code: f.code }));
});
$('verify-email').addEventListener('click', async () => {
  show(await call('POST', API + '/email/send-verification', { redirect_url: '/' }));
});
$('change-password').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = formData(e.target);
  if (!f.current_password) delete f.current_password;
  show(await call('POST', API + '/me/password', f)); e.target.reset(); render();
});
// API keys: the secret is shown once, in the answer to the creation.
function cells(tr, texts) {
  for (const text of texts) { const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); }
}
const when = (at) => at ? new Date(at).toLocaleString() : '';
async function renderApiKeys() {
  const list = await call('GET', API + '/me/api-keys');
  const rows = $('api-keys');
  rows.replaceChildren();
  for (const k of list.data.api_keys || []) {
    const tr = document.createElement('tr');
    cells(tr, [k.name, k.prefix + '…', k.scopes ? k.scopes.join(' ') : 'everything you may do', when(k.last_used_at) || 'never', when(k.expires_at) || 'never']);
    const td = document.createElement('td');
    const b = document.createElement('button'); b.textContent = 'Revoke'; b.className = 'danger';
    b.addEventListener('click', async () => { show(await call('DELETE', API + '/me/api-keys/' + k.id)); render(); });
    td.appendChild(b); tr.appendChild(td); rows.appendChild(tr);
  }
}
$('create-api-key').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = formData(e.target);
  const body = { name: f.name };
  if (f.scopes.trim()) body.scopes = f.scopes.split(',').map((s) => s.trim()).filter(Boolean);
  if (f.expires_in_days) body.expires_in_days = Number(f.expires_in_days);
  const answer = await call('POST', API + '/me/api-keys', body);
  show(answer);
  if (answer.status === 201) {
    $('api-key-secret').hidden = false;
    $('api-key-secret').textContent = 'Your new key (copy it now, it is not shown again): ' + answer.data.secret;
    e.target.reset();
  }
  render();
});

async function renderActivity() {
  const list = await call('GET', API + '/me/activity?limit=10');
  const rows = $('activity');
  rows.replaceChildren();
  for (const ev of list.data.events || []) {
    const tr = document.createElement('tr');
    cells(tr, [when(ev.created_at), ev.kind, ev.actor_id ? 'yes' : '', ev.ip || '']);
    rows.appendChild(tr);
  }
}

// Admin: shown when /v1/admin answers (admins are re-checked on every request).
let adminCursor = null, adminQuery = '', auditCursor = null, adminSelected = null;
async function renderAdmin() {
  const hello = await call('GET', '/hello');
  $('impersonating').hidden = !hello.data.impersonator;
  const page = await call('GET', '/v1/admin/users?limit=10' + adminQuery);
  $('admin-card').hidden = page.status !== 200;
  if (page.status !== 200) return;
  adminCursor = page.data.next_cursor;
  fillAdminUsers(page.data.users, false);
  auditCursor = null;
  await renderAudit(false);
}
function fillAdminUsers(users, append) {
  const rows = $('admin-users');
  if (!append) rows.replaceChildren();
  for (const u of users) {
    const tr = document.createElement('tr');
    cells(tr, [u.email || u.phone || u.id, u.name || '', u.role + (u.disabled ? ' (disabled)' : ''), when(u.last_sign_in_at)]);
    const td = document.createElement('td');
    const b = document.createElement('button'); b.textContent = 'Open';
    b.addEventListener('click', () => openAdminUser(u.id));
    td.appendChild(b); tr.appendChild(td); rows.appendChild(tr);
  }
  $('admin-next').hidden = !adminCursor;
}
$('admin-next').addEventListener('click', async () => {
  const page = await call('GET', '/v1/admin/users?limit=10' + adminQuery + '&cursor=' + adminCursor);
  adminCursor = page.data.next_cursor;
  fillAdminUsers(page.data.users || [], true);
});
$('admin-search').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = formData(e.target);
  adminQuery = (f.query ? '&query=' + encodeURIComponent(f.query) : '') + (f.filter ? '&' + f.filter : '');
  renderAdmin();
});
async function openAdminUser(id) {
  const detail = await call('GET', '/v1/admin/users/' + id);
  show(detail);
  if (detail.status !== 200) return;
  adminSelected = id;
  $('admin-user').hidden = false;
  $('admin-user-email').textContent = detail.data.user.email || id;
  $('admin-user-detail').textContent = JSON.stringify(detail.data, null, 2);
}
async function adminAction(method, suffix, body) {
  const answer = await call(method, '/v1/admin/users/' + adminSelected + suffix, body);
  show(answer);
  return answer;
}
$('admin-disable').addEventListener('click', async () => { await adminAction('POST', '/disable'); openAdminUser(adminSelected); renderAdmin(); });
$('admin-enable').addEventListener('click', async () => { await adminAction('POST', '/enable'); openAdminUser(adminSelected); renderAdmin(); });
$('admin-revoke').addEventListener('click', async () => { await adminAction('DELETE', '/sessions'); openAdminUser(adminSelected); });
$('admin-delete').addEventListener('click', async () => {
  if (!confirm('Delete this user and everything they own?')) return;
  const answer = await adminAction('DELETE', '');
  if (answer.status === 200) { $('admin-user').hidden = true; adminSelected = null; }
  renderAdmin();
});
$('admin-impersonate').addEventListener('click', async () => {
  const reason = prompt('Why (recorded, and shown to the user)?');
  if (!reason) return;
  const answer = await adminAction('POST', '/impersonate', { reason });
  if (answer.status === 200) { $('admin-user').hidden = true; render(); }
});
$('stop-impersonating').addEventListener('click', async () => { show(await call('POST', API + '/sign-out')); render(); });
async function renderAudit(append) {
  const page = await call('GET', '/v1/admin/audit?limit=15' + (append && auditCursor ? '&cursor=' + auditCursor : ''));
  if (page.status !== 200) return;
  const rows = $('admin-audit');
  if (!append) rows.replaceChildren();
  for (const ev of page.data.events || []) {
    const tr = document.createElement('tr');
    cells(tr, [when(ev.created_at), ev.kind, ev.user_id || '', ev.actor_id || '']);
    rows.appendChild(tr);
  }
  auditCursor = page.data.next_cursor;
  $('admin-audit-next').hidden = !auditCursor;
}
$('admin-audit-next').addEventListener('click', () => renderAudit(true));
// Waitlists: the features the host declared (PORTCULLIS_WAITLISTS) come from /me/waitlists
// joined entries plus the names the page tries; the token's features come from /hello.
const WAITLIST_FEATURES = (document.querySelector('meta[name="portcullis-waitlists"]')?.content || '').split(',').filter(Boolean);
async function renderWaitlists() {
  $('waitlists-card').hidden = WAITLIST_FEATURES.length === 0;
  if (WAITLIST_FEATURES.length === 0) return;
  const rows = $('waitlists');
  rows.replaceChildren();
  for (const feature of WAITLIST_FEATURES) {
    const entry = await call('GET', API + '/me/waitlists/' + encodeURIComponent(feature));
    const tr = document.createElement('tr');
    cells(tr, [feature, entry.data.joined ? entry.data.status : 'not joined', entry.data.position || '']);
    const td = document.createElement('td');
    const b = document.createElement('button');
    b.textContent = entry.data.joined ? 'Leave' : 'Join';
    b.addEventListener('click', async () => {
      show(await call(entry.data.joined ? 'DELETE' : 'PUT', API + '/me/waitlists/' + encodeURIComponent(feature)));
      render();
    });
    td.appendChild(b); tr.appendChild(td); rows.appendChild(tr);
  }
  const hello = await call('GET', '/hello');
  $('features').textContent = (hello.data.features || []).join(', ') || 'none';
}
// Billing: the catalog, a checkout for yourself or the organization you act in (Stripe's
// page), each payer's subscription and its billing portal.
function describe(sub) {
  if (!sub) return 'none';
  const end = sub.current_period_end ? ' until ' + new Date(sub.current_period_end).toLocaleDateString() : '';
  return sub.plan_id + ' (' + sub.status + ', ' + sub.seats + (sub.seats === 1 ? ' seat' : ' seats') + end + (sub.cancel_at_period_end ? ', ends then' : '') + ')';
}
async function checkout(plan, orgId) {
  const body = { plan_id: plan, success_url: location.origin + '/?checkout=done', cancel_url: location.origin + '/?checkout=canceled' };
  if (orgId) body.org_id = orgId;
  const res = await call('POST', '/v1/billing/checkout', body);
  show(res);
  if (res.status === 200) location.href = res.data.url;
}
async function portal(orgId) {
  const body = { return_url: location.origin + '/' };
  if (orgId) body.org_id = orgId;
  const res = await call('POST', '/v1/billing/portal', body);
  show(res);
  if (res.status === 200) location.href = res.data.url;
}
async function renderBilling() {
  const plans = await call('GET', '/v1/billing/plans');
  $('billing-card').hidden = plans.status !== 200;
  if (plans.status !== 200) return;
  const rows = $('plans');
  rows.replaceChildren();
  for (const plan of plans.data.plans) {
    const tr = document.createElement('tr');
    const price = (plan.amount / 100).toFixed(2) + ' ' + plan.currency.toUpperCase() + ' / ' + plan.interval + (plan.per_seat ? ' per seat' : '') + (plan.trial_days ? ', ' + plan.trial_days + '-day trial' : '');
    cells(tr, [plan.name, price, plan.features.join(', ')]);
    const td = document.createElement('td');
    const mine = document.createElement('button'); mine.textContent = 'Subscribe';
    mine.addEventListener('click', () => checkout(plan.id, null));
    td.appendChild(mine);
    if (activeOrg) {
      const org = document.createElement('button'); org.textContent = 'For the organization';
      org.addEventListener('click', () => checkout(plan.id, activeOrg));
      td.appendChild(org);
    }
    tr.appendChild(td); rows.appendChild(tr);
  }
  const mine = await call('GET', '/v1/billing/subscription');
  $('my-subscription').textContent = describe(mine.data.subscription);
  $('my-portal').hidden = !mine.data.subscription;
  $('org-billing').hidden = !activeOrg;
  if (activeOrg) {
    const org = await call('GET', '/v1/billing/subscription?org_id=' + activeOrg);
    $('org-subscription').textContent = org.status === 200 ? describe(org.data.subscription) : '(' + (org.data.message || 'not allowed') + ')';
    $('org-portal').hidden = !(org.status === 200 && org.data.subscription);
  }
}
$('my-portal').addEventListener('click', () => portal(null));
$('org-portal').addEventListener('click', () => portal(activeOrg));
$('admin-admit').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = formData(e.target);
  show(await call('POST', '/v1/admin/waitlists/' + encodeURIComponent(f.feature) + '/admit', { count: Number(f.count) }));
  renderAudit(false);
});
$('call-hello').addEventListener('click', async () => show(await call('GET', '/hello')));
$('refresh').addEventListener('click', async () => { show(await call('POST', API + '/sessions/refresh')); render(); });
$('sign-out').addEventListener('click', async () => { show(await call('POST', API + '/sign-out')); render(); });
$('sign-out-all').addEventListener('click', async () => { show(await call('POST', API + '/sign-out/all')); render(); });
render();
"#
);

const ACCEPT_BODY: &str = r#"<h1>Join an organization</h1>
<div class="card">
  <p>You were invited to an organization. Accepting signs you in as the invited address (or,
  if you are signed in, adds it to your account when it is the invited, verified address).</p>
  <button id="accept">Accept the invitation</button>
</div>
<p><a href="/">Back to the quickstart</a></p>"#;

const ACCEPT_SCRIPT: &str = r#"
const out = document.getElementById('out');
const token = new URLSearchParams(location.search).get('token') || '';
document.getElementById('accept').addEventListener('click', async () => {
  const res = await fetch('/v1/orgs/invitations/accept', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  const data = await res.json().catch(() => ({}));
  out.textContent = JSON.stringify(data, null, 2);
  if (res.ok) location.href = '/';
});
"#;

const RESET_BODY: &str = r#"<h1>Choose a new password</h1>
<form id="reset" class="card">
  <label>New password <input name="password" type="password" autocomplete="new-password" required minlength="8"></label>
  <button type="submit">Set my new password</button>
</form>
<p><a href="/">Back to the quickstart</a></p>"#;

const RESET_SCRIPT: &str = r#"
const out = document.getElementById('out');
const token = new URLSearchParams(location.search).get('token') || '';
document.getElementById('reset').addEventListener('submit', async (e) => {
  e.preventDefault();
  const password = new FormData(e.target).get('password');
  const res = await fetch('/v1/auth/password/reset', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token, password }),
  });
  const data = await res.json().catch(() => ({}));
  out.textContent = res.ok ? 'Your password was changed. Every session was signed out: sign in again with the new one.'
                           : JSON.stringify(data, null, 2);
  if (res.ok) e.target.hidden = true;
});
"#;
