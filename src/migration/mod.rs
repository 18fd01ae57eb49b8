//! Schema migrations for portcullis' own tables.
//!
//! [`Migrator`] keeps its bookkeeping in `portcullis_migrations`, not SeaORM's default
//! `seaql_migrations`, so it never collides with the host's own migrator: run
//! [`migrate`](crate::migrate) at start-up, or call `Migrator::up(&db, None)` from the
//! host's migration binary.
//!
//! Rules for contributors:
//!
//! - Migrations are append-only; never edit one that has been released.
//! - Every table is created regardless of feature flags, because SeaORM refuses to run
//!   when an applied migration is missing from the list.
//! - Columns are written out here, not derived from the entities, which keep changing
//!   while released migrations must not.
//! - Never expose `Migrator::fresh`: it drops every table of the host's database.

// `prelude::*`/`schema::*` and `&SchemaManager` (no `<'_>`, which `#[async_trait]`
// rejects) are the SeaORM migration idiom.
#![allow(clippy::wildcard_imports, elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_core_tables;
mod m20261124_000002_create_organizations;
mod m20261124_000003_create_passkeys;
mod m20261124_000004_create_oauth;

/// Runs portcullis' migrations, tracked in the `portcullis_migrations` table.
#[derive(Debug)]
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_core_tables::Migration),
            Box::new(m20261124_000002_create_organizations::Migration),
            Box::new(m20261124_000003_create_passkeys::Migration),
            Box::new(m20261124_000004_create_oauth::Migration),
        ]
    }

    // Not the default `seaql_migrations`: the host's migrator would otherwise see our
    // versions as "applied but missing" and refuse to run.
    fn migration_table_name() -> DynIden {
        "portcullis_migrations".into_iden()
    }
}

/// A timestamp column: `timestamptz` on PostgreSQL, `DATETIME(6)` (UTC, microseconds) on
/// MySQL/MariaDB, whose `TIMESTAMP` ends in 2038 and may update itself, text on SQLite.
fn instant(manager: &SchemaManager, column: impl IntoIden, nullable: bool) -> ColumnDef {
    let mut def = ColumnDef::new(column);
    match manager.get_database_backend() {
        sea_orm::DatabaseBackend::MySql => def.custom(Alias::new("DATETIME(6)")),
        _ => def.timestamp_with_time_zone(),
    };
    if nullable {
        def.null();
    } else {
        def.not_null();
    }
    def
}
