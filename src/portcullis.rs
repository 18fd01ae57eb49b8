//! [`Portcullis`]: the cheap-to-clone handle hosts build once and mount everywhere. It
//! holds the [`Context`] and hands it to the routers, the layer and the Rust façades; it
//! also runs the background tasks (the revocation and key poll, the retention sweep) for
//! as long as it lives.

use std::{
    fmt,
    sync::{Arc, Weak},
};

use axum::Router;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{
    BuildError, Config, Error, PortcullisBuilder,
    auth::{AuthLayer, verify},
    context::Context,
    crypto::jwt::Claims,
    flows, routes,
};

/// Cheap-to-clone handle to portcullis: configuration, database, keys and caches.
///
/// Build it once with [`Portcullis::builder`], then mount its routers and layer:
///
/// ```rust,no_run
/// use axum::{Router, routing::get};
/// use portcullis::{CurrentUser, Portcullis, Secret};
///
/// async fn hello(user: CurrentUser) -> String {
///     format!("hello {}", user.email.as_deref().unwrap_or("there"))
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let db = sea_orm::Database::connect("sqlite://app.db?mode=rwc").await?;
/// portcullis::migrate(&db).await?;
/// let auth = Portcullis::builder(db)
///     .public_url("https://app.example.com")
///     .secret(Secret::parse(&std::env::var("AUTH_SECRET")?)?)
///     .build()
///     .await?;
///
/// let app: Router = Router::new()
///     .route("/hello", get(hello))
///     .nest("/v1/auth", auth.router())
///     .merge(auth.well_known_router())
///     .layer(auth.session_layer());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Portcullis {
    ctx: Arc<Context>,
}

impl Portcullis {
    /// Starts configuring portcullis on the host's database, from the default settings.
    pub fn builder(db: DatabaseConnection) -> PortcullisBuilder {
        PortcullisBuilder::new(db, Config::default())
    }

    /// Starts configuring portcullis on the host's database from a whole [`Config`]
    /// (typically [`Config::from_env`], or a section of the host's own configuration
    /// file); the builder's section methods then adjust it.
    pub fn from_config(db: DatabaseConnection, config: Config) -> PortcullisBuilder {
        PortcullisBuilder::new(db, config)
    }

    /// The auth routes of the contract, ready to [`nest`](Router::nest) at `/v1/auth`.
    ///
    /// The router carries its own state, so it fits an app with any state `S`.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::router(self.ctx.clone())
    }

    /// `/.well-known/jwks.json`, `/healthz` and `/readyz`, to [`merge`](Router::merge) at the
    /// root.
    pub fn well_known_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::well_known::router(self.ctx.clone())
    }

    /// The organizations routes of the contract, ready to [`nest`](Router::nest) at
    /// `/v1/orgs`.
    pub fn orgs_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::orgs::router(self.ctx.clone())
    }

    /// The admin routes of the contract, ready to [`nest`](Router::nest) at `/v1/admin`:
    /// users (search, create, read, change, disable, delete, sessions, impersonation) and
    /// the audit trail, for users whose role is `admin`
    /// ([`Users::set_role`](crate::users::Users::set_role)).
    pub fn admin_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::admin::router(self.ctx.clone())
    }

    /// The billing router (feature `billing`): plans, checkout, the subscription and the
    /// billing portal. The contract nests it at `/v1/billing`; without Stripe keys its
    /// routes answer 404.
    #[cfg(feature = "billing")]
    pub fn billing_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::billing::router(self.ctx.clone())
    }

    /// Stripe's webhook (feature `billing`): `POST /webhook`, nested at `/v1/stripe` in
    /// the contract. It reads the raw body itself (up to 1 MiB) and needs no session.
    #[cfg(feature = "billing")]
    pub fn stripe_webhook_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::billing::webhook_router(self.ctx.clone())
    }

    /// The OpenAPI 3.1 document of every route of every router (feature `openapi`, on by
    /// default), under the prefixes the contract mounts them at (the auth router at
    /// [`auth_base_path`](crate::Config::auth_base_path), `/v1/auth` by default; `/v1/orgs`,
    /// `/v1/admin`, `/v1/billing`, `/v1/stripe`; the well-known routes at the root):
    /// request bodies, each answer by status with the error codes it can carry, cookies and
    /// the security schemes. Routes of sign-in methods this instance turned off, and billing
    /// without Stripe, are left out, as they answer 404.
    ///
    /// It is a [`utoipa`] document, so a host merges it into its own:
    ///
    /// ```no_run
    /// # async fn demo(auth: portcullis::Portcullis) {
    /// let mut doc = auth.openapi();
    /// doc.info.title = "my service".to_owned();
    /// let json = doc.to_pretty_json().expect("a document serializes");
    /// # let _ = json;
    /// # }
    /// ```
    #[cfg(feature = "openapi")]
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        routes::openapi::document(&self.ctx)
    }

    /// The layer that authenticates requests. Apply it last (outermost), so it covers the
    /// host's routes and the nested auth routes alike.
    pub fn session_layer(&self) -> AuthLayer {
        AuthLayer::new(self.ctx.clone())
    }

    /// Account administration from Rust: create, import, find, disable users.
    #[must_use]
    pub fn users(&self) -> flows::users::Users<'_> {
        flows::users::Users::new(&self.ctx)
    }

    /// Waitlists from Rust: admit people, list who waits.
    #[must_use]
    pub fn waitlists(&self) -> flows::waitlists::Waitlists<'_> {
        flows::waitlists::Waitlists::new(&self.ctx)
    }

    /// Billing from Rust: a payer's entitlements and subscription, seat counts.
    #[cfg(feature = "billing")]
    #[must_use]
    pub fn billing(&self) -> flows::billing::Billing<'_> {
        flows::billing::Billing::new(&self.ctx)
    }

    /// Session administration from Rust: list and revoke sessions.
    #[must_use]
    pub fn sessions(&self) -> flows::sessions::Sessions<'_> {
        flows::sessions::Sessions::new(&self.ctx)
    }

    /// Whether `user_id` holds `permission` in `org_id` by their membership and role, read
    /// from the database now: for host code outside a request (a job, a queue consumer).
    /// It judges no session, so an organization's second-factor requirement does not
    /// apply; inside a request use [`session_has_permission`](Self::session_has_permission).
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn has_permission(
        &self,
        user_id: Uuid,
        org_id: Uuid,
        permission: &str,
    ) -> Result<bool, Error> {
        flows::orgs::has_permission(
            &self.ctx,
            flows::orgs::Caller::trusted(user_id),
            org_id,
            permission,
        )
        .await
    }

    /// Whether the signed-in `user` may use `permission` in `org_id` (any organization, not
    /// only the active one), as the organization routes and
    /// [`RequirePermission`](crate::RequirePermission) judge it: membership and role read
    /// now, and the organization's second-factor requirement against what this session
    /// proved.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn session_has_permission(
        &self,
        user: &crate::CurrentUser,
        org_id: Uuid,
        permission: &str,
    ) -> Result<bool, Error> {
        flows::orgs::has_permission(&self.ctx, flows::orgs::Caller::of(user), org_id, permission)
            .await
    }

    /// Verifies an access token exactly as the layer does (signature, issuer, lifetime,
    /// revocation), for hosts that receive tokens elsewhere (a WebSocket handshake, a
    /// message queue).
    ///
    /// # Errors
    ///
    /// [`Error::Unauthorized`] for any token that is not valid now.
    pub async fn verify_access_token(&self, token: &str) -> Result<Claims, Error> {
        verify::authenticate(&self.ctx, token)
            .await?
            .map(|claims| (*claims).clone())
            .ok_or(Error::Unauthorized)
    }

    /// Adds a new signing key and retires the current one, which stays in the JWKS until
    /// the last token it signed has expired. Returns the new `kid`. Other instances pick
    /// the new key up on their next poll.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn rotate_signing_key(&self) -> Result<String, Error> {
        flows::signing::rotate(&self.ctx).await
    }

    /// Deletes what the retention rules let go of (expired links, codes, ceremonies,
    /// ended sessions, old audit events; see [`retention`](crate::retention)). Each
    /// instance already does this every
    /// [`sweep_interval`](crate::config::RetentionConfig::sweep_interval); call it yourself
    /// when that interval is zero.
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn sweep(&self) -> Result<flows::retention::Swept, Error> {
        flows::retention::sweep(&self.ctx).await
    }

    /// The database portcullis stores its tables in.
    #[must_use]
    pub fn db(&self) -> &DatabaseConnection {
        &self.ctx.db
    }

    /// The checked configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// The context, for this crate's benchmarks (`__private`).
    pub(crate) fn context(&self) -> &Context {
        &self.ctx
    }

    pub(crate) fn start(ctx: Context) -> Self {
        let handle = Self { ctx: Arc::new(ctx) };
        let ctx = Arc::downgrade(&handle.ctx);
        let tasks = [
            spawn_poller(ctx.clone()),
            spawn_sweeper(ctx.clone()),
            spawn_probe(ctx.clone()),
            spawn_outbox_worker(ctx.clone()),
            #[cfg(any(feature = "postgres", feature = "redis"))]
            spawn_revocation_push(&ctx),
            #[cfg(feature = "billing")]
            spawn_seat_task(ctx),
        ];
        handle.ctx.tasks.add(tasks.into_iter().flatten());
        handle
    }

    /// Stops this instance's background work, for a graceful shutdown: the revocation
    /// poll, the retention sweep, the database probe, the outbox worker and the seat task
    /// stop after finishing what they hold, and the emails and texts already handed over
    /// are stored in the outbox (and most often delivered); another instance, or this one
    /// after a restart, delivers what is left. Call it once
    /// the server stopped taking requests (after axum's graceful shutdown); every clone of
    /// the handle shares the same background work.
    ///
    /// ```no_run
    /// # async fn run(auth: portcullis::Portcullis, app: axum::Router) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
    ///     .await?;
    /// auth.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self) {
        self.ctx.tasks.stop().await;
        // A transport that hangs must not hold the shutdown forever.
        let sent = tokio::time::timeout(SHUTDOWN_DELIVERY_WAIT, self.ctx.outbox.drained()).await;
        if sent.is_err() {
            tracing::warn!("shutting down with emails or texts still being sent");
        }
    }
}

/// How long [`Portcullis::shutdown`] waits for emails and texts being sent.
const SHUTDOWN_DELIVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl PortcullisBuilder {
    /// Validates the settings, loads (or creates) the signing key and the revocation view,
    /// and starts the background poller. Needs a Tokio runtime and a migrated database.
    ///
    /// # Errors
    ///
    /// [`BuildError::Config`] naming the first unsafe or inconsistent setting;
    /// [`BuildError::Database`] when the database is unreachable or not migrated;
    /// [`BuildError::Keys`] when the stored signing key cannot be opened with this secret.
    pub async fn build(self) -> Result<Portcullis, BuildError> {
        let ctx = self.into_context().await?;
        Ok(Portcullis::start(ctx))
    }
}

impl fmt::Debug for Portcullis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portcullis")
            .field("public_url", &self.ctx.config.public_url)
            .finish_non_exhaustive()
    }
}

/// Refreshes the revocation view and the key ring on the configured interval, and at once
/// when another instance announced a revocation, until the handle is dropped or shut down.
fn spawn_poller(ctx: Weak<Context>) -> Option<JoinHandle<()>> {
    let (interval, view, mut stop) = ctx.upgrade().map(|c| {
        (
            c.config.sessions.revocation_poll_interval,
            c.revocation.clone(),
            c.tasks.stopped(),
        )
    })?;
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = stop.wait() => break,
                _ = ticker.tick() => {}
                () = view.poll_asked() => {}
            }
            let Some(ctx) = ctx.upgrade() else { break };
            let overlap = interval * 2 + ctx.config.sessions.clock_leeway;
            if let Err(err) = ctx
                .revocation
                .poll(&ctx.db, ctx.config.token_window(), overlap)
                .await
            {
                tracing::warn!(error = %err, "refreshing the revocation view failed; retrying");
            }
            if let Err(err) = ctx.key_ring.reload(&ctx.db, &ctx.keys).await {
                tracing::warn!(error = %err, "reloading the signing keys failed; retrying");
            }
            if let Some(every) = ctx.config.sessions.signing_key_rotation {
                match flows::signing::rotate_if_due(&ctx, every).await {
                    Ok(Some(kid)) => tracing::info!(%kid, "rotated the signing key (scheduled)"),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "rotating the signing key failed; retrying");
                    }
                }
            }
        }
    }))
}

/// Pushes revocations between instances (see `revocation::push`): through Redis when the
/// host configured it, else through PostgreSQL when that is the database; nothing (the
/// poll alone) otherwise or when `sessions.revocation_push` is off.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn spawn_revocation_push(ctx: &Weak<Context>) -> Option<JoinHandle<()>> {
    use crate::revocation::push::{self, Bus};

    let context = ctx.upgrade()?;
    if !context.config.sessions.revocation_push {
        return None;
    }
    let bus: Option<Bus> = None;
    #[cfg(feature = "redis")]
    let bus = bus.or_else(|| context.redis_revocations.clone().map(Bus::redis));
    #[cfg(feature = "postgres")]
    let bus = bus.or_else(|| {
        (context.db.get_database_backend() == sea_orm::DbBackend::Postgres)
            .then(|| Bus::Postgres(context.db.get_postgres_connection_pool().clone()))
    });
    Some(push::spawn(
        bus?,
        context.revocation.clone(),
        context.tasks.stopped(),
    ))
}

/// While the database breaker is open, pings the database every second and closes the
/// breaker as soon as it answers.
fn spawn_probe(ctx: Weak<Context>) -> Option<JoinHandle<()>> {
    // The breaker itself, not the context: waiting must not keep the context alive.
    let (breaker, mut stop) = ctx
        .upgrade()
        .map(|c| (c.breaker.clone(), c.tasks.stopped()))?;
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.wait() => break,
                () = breaker.opened() => {}
            }
            loop {
                let Some(ctx) = ctx.upgrade() else { return };
                if flows::health::database(&ctx).await.is_ok() {
                    ctx.breaker.recovered();
                    break;
                }
                drop(ctx);
                tokio::select! {
                    () = stop.wait() => return,
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
        }
    }))
}

/// Delivers the outbox's due messages (retries whose time has come, and what a stopped
/// instance left) every two seconds, until the handle is dropped or shut down.
fn spawn_outbox_worker(ctx: Weak<Context>) -> Option<JoinHandle<()>> {
    let mut stop = ctx.upgrade()?.tasks.stopped();
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(2));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.wait() => break,
                _ = ticker.tick() => {}
            }
            let Some(ctx) = ctx.upgrade() else { break };
            if ctx.breaker.open_for().is_some() {
                continue;
            }
            // Batch after batch while messages are due.
            loop {
                match ctx.outbox.deliver_due().await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "delivering the outbox failed; retrying");
                        break;
                    }
                }
            }
        }
    }))
}

/// Tells Stripe per-seat quantities: on every membership change that marked one, and
/// once a minute (a call Stripe refused is retried then).
#[cfg(feature = "billing")]
fn spawn_seat_task(ctx: Weak<Context>) -> Option<JoinHandle<()>> {
    let (wake, mut stop) = ctx
        .upgrade()
        .filter(|c| c.stripe.is_some())
        .map(|c| (c.seats_changed.clone(), c.tasks.stopped()))?;
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(60));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.wait() => break,
                () = wake.notified() => {}
                _ = ticker.tick() => {}
            }
            let Some(ctx) = ctx.upgrade() else { break };
            if let Err(err) = flows::billing::sync_seats(&ctx).await {
                tracing::warn!(error = %err, "telling Stripe the seat counts failed; retrying");
            }
        }
    }))
}

/// Sweeps expired rows on the configured interval, until the handle is dropped or shut
/// down.
fn spawn_sweeper(ctx: Weak<Context>) -> Option<JoinHandle<()>> {
    let (interval, mut stop) = ctx
        .upgrade()
        .map(|c| (c.config.retention.sweep_interval, c.tasks.stopped()))
        .filter(|(interval, _)| !interval.is_zero())?;
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.wait() => break,
                _ = ticker.tick() => {}
            }
            let Some(ctx) = ctx.upgrade() else { break };
            if let Err(err) = flows::retention::sweep(&ctx).await {
                tracing::warn!(error = %err, "the retention sweep failed; retrying next time");
            }
        }
    }))
}
