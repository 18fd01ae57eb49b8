//! The README's embedding example, compiled: portcullis in a small axum app on SQLite.
//!
//! ```sh
//! PORTCULLIS_SECRET=$(openssl rand -hex 32) cargo run --example minimal
//! ```

use std::net::SocketAddr;

use axum::{Router, routing::get};
use portcullis::{Config, CurrentUser, Portcullis};

async fn hello(user: CurrentUser) -> String {
    format!("hello {}", user.email.as_deref().unwrap_or("you"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Two-second waits for the database, WAL on SQLite: see `connect_options`.
    let options = portcullis::connect_options("sqlite://app.db?mode=rwc");
    let db = sea_orm::Database::connect(options).await?;
    portcullis::migrate(&db).await?;
    // PORTCULLIS_SECRET, PORTCULLIS_PUBLIC_URL, PORTCULLIS_SMTP_URL, ...
    let auth = Portcullis::from_config(db, Config::from_env()?)
        .build()
        .await?;

    let app = Router::new()
        .route("/hello", get(hello))
        .nest("/v1/auth", auth.router())
        .nest("/v1/orgs", auth.orgs_router())
        .merge(auth.well_known_router())
        .layer(auth.session_layer());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    // The client IP (for rate limits and the audit trail) comes from the socket.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
