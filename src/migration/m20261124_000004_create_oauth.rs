//! Social sign-in: linked provider accounts, and authorizations in flight.

use sea_orm_migration::{prelude::*, schema::*};

use super::instant;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthAccounts::Table)
                    .col(pk_uuid(OauthAccounts::Id))
                    .col(uuid(OauthAccounts::UserId))
                    .col(string_len(OauthAccounts::Provider, 64))
                    .col(exact(manager, OauthAccounts::Issuer))
                    .col(exact(manager, OauthAccounts::Subject))
                    .col(string_len_null(OauthAccounts::Email, 320))
                    .col(boolean(OauthAccounts::EmailVerified))
                    .col(instant(manager, OauthAccounts::CreatedAt, false))
                    .col(instant(manager, OauthAccounts::LastUsedAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_oauth_accounts-user_id")
                            .from(OauthAccounts::Table, OauthAccounts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One external identity, one account: (issuer, subject) is unique.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_oauth_accounts-identity")
                    .table(OauthAccounts::Table)
                    .col(OauthAccounts::Issuer)
                    .col(OauthAccounts::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_oauth_accounts-user_id")
                    .table(OauthAccounts::Table)
                    .col(OauthAccounts::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .col(pk_uuid(OauthStates::Id))
                    .col(string_len_uniq(OauthStates::StateHash, 64))
                    .col(string_len(OauthStates::BrowserHash, 64))
                    .col(string_len(OauthStates::Provider, 64))
                    .col(string_len(OauthStates::Issuer, 255))
                    .col(text(OauthStates::PkceVerifier))
                    .col(text(OauthStates::Nonce))
                    .col(text_null(OauthStates::RedirectUrl))
                    .col(uuid_null(OauthStates::LinkUserId))
                    .col(uuid_null(OauthStates::LinkSessionId))
                    .col(instant(manager, OauthStates::CreatedAt, false))
                    .col(instant(manager, OauthStates::ExpiresAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_oauth_states-expires_at")
                    .table(OauthStates::Table)
                    .col(OauthStates::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OauthStates::Table.into_iden(),
            OauthAccounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// A 255-character identity column that compares byte for byte: MySQL's default
/// collation would take `Alice` and `alice` (or `é` and `e`) for the same subject.
fn exact(manager: &SchemaManager, column: impl IntoIden) -> ColumnDef {
    if manager.get_database_backend() == sea_orm::DatabaseBackend::MySql {
        ColumnDef::new(column)
            .custom(Alias::new(
                "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            ))
            .not_null()
            .to_owned()
    } else {
        string_len(column, 255)
    }
}

#[derive(DeriveIden)]
enum Users {
    #[sea_orm(iden = "portcullis_users")]
    Table,
    Id,
}

#[derive(DeriveIden)]
enum OauthAccounts {
    #[sea_orm(iden = "portcullis_oauth_accounts")]
    Table,
    Id,
    UserId,
    Provider,
    Issuer,
    Subject,
    Email,
    EmailVerified,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum OauthStates {
    #[sea_orm(iden = "portcullis_oauth_states")]
    Table,
    Id,
    StateHash,
    BrowserHash,
    Provider,
    Issuer,
    PkceVerifier,
    Nonce,
    RedirectUrl,
    LinkUserId,
    LinkSessionId,
    CreatedAt,
    ExpiresAt,
}
