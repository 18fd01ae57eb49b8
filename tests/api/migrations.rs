//! The migrator: its own bookkeeping table, a real `down`, idempotent `up`.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};

use crate::common::*;

async fn tables(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table'"
        }
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'"
        }
        _ => {
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<String>("", "t").unwrap())
        .collect()
}

#[tokio::test]
async fn bookkeeping_stays_out_of_the_default_table_and_down_undoes_up() {
    let db = database().await;
    let names = tables(&db).await;
    for table in [
        "portcullis_migrations",
        "portcullis_users",
        "portcullis_password_credentials",
        "portcullis_sessions",
        "portcullis_signing_keys",
        "portcullis_one_time_secrets",
        "portcullis_audit_events",
    ] {
        assert!(
            names.contains(&table.to_owned()),
            "{table} missing from {names:?}"
        );
    }
    assert!(!names.contains(&"seaql_migrations".to_owned()));
    // Running again is a no-op.
    portcullis::migrate(&db).await.unwrap();

    portcullis::Migrator::down(&db, None).await.unwrap();
    let names = tables(&db).await;
    assert!(
        names.iter().all(|n| n == "portcullis_migrations"),
        "{names:?}"
    );
    portcullis::migrate(&db).await.unwrap();
    assert!(tables(&db).await.contains(&"portcullis_users".to_owned()));
}
