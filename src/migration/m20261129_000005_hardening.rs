//! Hardening: a cumulative count of wrong codes per address, and the indexes the retention
//! sweeps delete by.

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
                    .table(CodeFailures::Table)
                    .col(string_len(CodeFailures::Purpose, 32))
                    .col(string_len(CodeFailures::Identifier, 320))
                    .col(integer(CodeFailures::Failures))
                    .col(instant(manager, CodeFailures::WindowStartedAt, false))
                    .col(instant(manager, CodeFailures::NotifiedAt, true))
                    .primary_key(
                        Index::create()
                            .col(CodeFailures::Purpose)
                            .col(CodeFailures::Identifier),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, table, column) in [
            (
                "idx-portcullis_audit_events-occurred_at",
                AuditEvents::Table.into_iden(),
                AuditEvents::OccurredAt.into_iden(),
            ),
            (
                "idx-portcullis_sessions-expires_at",
                Sessions::Table.into_iden(),
                Sessions::ExpiresAt.into_iden(),
            ),
            (
                "idx-portcullis_one_time_secrets-expires_at",
                OneTimeSecrets::Table.into_iden(),
                OneTimeSecrets::ExpiresAt.into_iden(),
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (
                "idx-portcullis_audit_events-occurred_at",
                AuditEvents::Table.into_iden(),
            ),
            (
                "idx-portcullis_sessions-expires_at",
                Sessions::Table.into_iden(),
            ),
            (
                "idx-portcullis_one_time_secrets-expires_at",
                OneTimeSecrets::Table.into_iden(),
            ),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(CodeFailures::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CodeFailures {
    #[sea_orm(iden = "portcullis_code_failures")]
    Table,
    Purpose,
    Identifier,
    Failures,
    WindowStartedAt,
    NotifiedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    #[sea_orm(iden = "portcullis_audit_events")]
    Table,
    OccurredAt,
}

#[derive(DeriveIden)]
enum Sessions {
    #[sea_orm(iden = "portcullis_sessions")]
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OneTimeSecrets {
    #[sea_orm(iden = "portcullis_one_time_secrets")]
    Table,
    ExpiresAt,
}
