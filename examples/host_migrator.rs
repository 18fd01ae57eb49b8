//! portcullis' migrations inside the host's own SeaORM migrator.
//!
//! Order matters: portcullis' migrations come first, so the host's tables may reference
//! `portcullis_users` (here `posts.author_id`). Run this migrator *instead of*
//! `portcullis::migrate`: it records every migration, ours included, in the host's own
//! `seaql_migrations` table. (To keep them apart, call `portcullis::migrate` and leave
//! our migrations out of this list; never both.)
//!
//! ```sh
//! cargo run --example host_migrator
//! ```

// `&SchemaManager` without `<'_>`: `#[async_trait]` rejects the anonymous lifetime there.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// The host's migrator: portcullis' migrations, then the host's.
struct HostMigrator;

#[async_trait::async_trait]
impl MigratorTrait for HostMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = portcullis::Migrator::migrations();
        migrations.push(Box::new(CreatePosts));
        migrations
    }
}

#[derive(DeriveMigrationName)]
struct CreatePosts;

#[async_trait::async_trait]
impl MigrationTrait for CreatePosts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Posts::Table)
                    .col(pk_auto(Posts::Id))
                    .col(uuid(Posts::AuthorId))
                    .col(string(Posts::Title))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Posts::Table, Posts::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Posts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Posts {
    Table,
    Id,
    AuthorId,
    Title,
}

#[derive(DeriveIden)]
enum Users {
    #[sea_orm(iden = "portcullis_users")]
    Table,
    Id,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = sea_orm::Database::connect(&url).await?;
    HostMigrator::up(&db, None).await?;
    let applied = HostMigrator::get_applied_migrations(&db).await?;
    for migration in &applied {
        println!("applied {}", migration.name());
    }
    // portcullis starts on these tables as on its own.
    let auth = portcullis::Portcullis::builder(db)
        .secret(portcullis::Secret::generate())
        .build()
        .await?;
    println!("portcullis is up on the host's schema: {auth:?}");
    Ok(())
}
