//! A host's own organization role and permission, guarding its own route.
//!
//! An `accountant` role (ranked between member and admin) may read the organization and
//! export invoices; `RequirePermission<ExportInvoices>` lets only such members in, reading
//! the membership from the database on every request (a removal takes effect at once).
//!
//! ```sh
//! PORTCULLIS_SECRET=$(openssl rand -hex 32) cargo run --example permissions
//! ```

use std::net::SocketAddr;

use axum::{Router, routing::get};
use portcullis::{
    Config, Portcullis, RequirePermission,
    extract::{Permission, permissions::BillingManage},
    policy::Role,
};

/// The host's permission, as a type the extractor can demand.
struct ExportInvoices;

impl Permission for ExportInvoices {
    const NAME: &'static str = "invoices:export";
}

async fn export(permission: RequirePermission<ExportInvoices>) -> String {
    format!(
        "{} exports the invoices of organization {} (as {})",
        permission.user.id(),
        permission.org_id,
        permission.role
    )
}

async fn billing(permission: RequirePermission<BillingManage>) -> String {
    format!("billing of {}", permission.org_id)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = sea_orm::Database::connect("sqlite://permissions.db?mode=rwc").await?;
    portcullis::migrate(&db).await?;
    let auth = Portcullis::from_config(db, Config::from_env()?)
        .role(Role::new(
            "accountant",
            150,
            ["org:read", "billing:manage", "invoices:export"],
        ))
        .build()
        .await?;

    // Members switch to an organization (`PATCH /v1/orgs/current`); these routes then
    // check the permission there.
    let app = Router::new()
        .route("/invoices/export", get(export))
        .route("/billing", get(billing))
        .nest("/v1/auth", auth.router())
        .nest("/v1/orgs", auth.orgs_router())
        .layer(auth.session_layer());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
