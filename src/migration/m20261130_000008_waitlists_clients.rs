//! Waitlists (entries per feature and account context) and the client app a session
//! signed in through.

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
                    .table(WaitlistEntries::Table)
                    .col(pk_uuid(WaitlistEntries::Id))
                    .col(string_len(WaitlistEntries::Feature, 64))
                    .col(uuid(WaitlistEntries::SubjectId))
                    .col(string_len(WaitlistEntries::SubjectKind, 16))
                    .col(uuid(WaitlistEntries::JoinedBy))
                    .col(instant(manager, WaitlistEntries::JoinedAt, false))
                    .col(string_len(WaitlistEntries::Status, 16))
                    .col(instant(manager, WaitlistEntries::AdmittedAt, true))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_waitlist_entries-feature-subject")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::Feature)
                    .col(WaitlistEntries::SubjectId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_waitlist_entries-feature-status-id")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::Feature)
                    .col(WaitlistEntries::Status)
                    .col(WaitlistEntries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_waitlist_entries-subject")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::SubjectId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(string_len_null(Sessions::ClientId, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::ClientId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(WaitlistEntries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WaitlistEntries {
    #[sea_orm(iden = "portcullis_waitlist_entries")]
    Table,
    Id,
    Feature,
    SubjectId,
    SubjectKind,
    JoinedBy,
    JoinedAt,
    Status,
    AdmittedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    #[sea_orm(iden = "portcullis_sessions")]
    Table,
    ClientId,
}
