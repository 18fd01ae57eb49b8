//! The outbox: emails and texts kept until delivered (sealed, since they carry links and
//! codes), so an SMTP server or SMS gateway that is down for a while, or a restart, loses
//! nothing.

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
                    .table(Outbox::Table)
                    .col(pk_uuid(Outbox::Id))
                    .col(string_len(Outbox::Channel, 8))
                    .col(string_len(Outbox::Kind, 64))
                    .col(uuid_null(Outbox::UserId))
                    .col(text(Outbox::Payload))
                    .col(string_len(Outbox::Status, 16))
                    .col(integer(Outbox::Attempts).default(0))
                    .col(instant(manager, Outbox::NextAttemptAt, false))
                    .col(instant(manager, Outbox::LockedUntil, true))
                    .col(instant(manager, Outbox::ExpiresAt, true))
                    .col(string_len_null(Outbox::LastError, 255))
                    .col(instant(manager, Outbox::CreatedAt, false))
                    .col(instant(manager, Outbox::SentAt, true))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_outbox-status-next_attempt_at")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    #[sea_orm(iden = "portcullis_outbox")]
    Table,
    Id,
    Channel,
    Kind,
    UserId,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    ExpiresAt,
    LastError,
    CreatedAt,
    SentAt,
}
