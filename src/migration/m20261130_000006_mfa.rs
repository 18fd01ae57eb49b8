//! Second factors: TOTP secrets (sealed) and recovery codes (hashed); what a session
//! proved (`acr`) and when it last proved it (`auth_time`, moved by re-authentication);
//! organizations that require a second factor.

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
                    .table(Totp::Table)
                    .col(pk_uuid(Totp::UserId))
                    .col(text(Totp::SecretSealed))
                    .col(instant(manager, Totp::CreatedAt, false))
                    .col(instant(manager, Totp::ConfirmedAt, true))
                    .col(big_integer_null(Totp::LastStep))
                    .col(integer(Totp::Failures).default(0))
                    .col(boolean(Totp::FailureNoticeSent).default(false))
                    .col(instant(manager, Totp::LastFailureAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_totp-user_id")
                            .from(Totp::Table, Totp::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(pk_uuid(RecoveryCodes::Id))
                    .col(uuid(RecoveryCodes::UserId))
                    .col(string_len_uniq(RecoveryCodes::CodeHash, 64))
                    .col(instant(manager, RecoveryCodes::CreatedAt, false))
                    .col(instant(manager, RecoveryCodes::UsedAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_recovery_codes-user_id")
                            .from(RecoveryCodes::Table, RecoveryCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_recovery_codes-user_id")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(string_len(Sessions::Acr, 8).default("aal1"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(instant(manager, Sessions::AuthTime, true))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(boolean(Organizations::RequireMfa).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .drop_column(Organizations::RequireMfa)
                    .to_owned(),
            )
            .await?;
        for column in [Sessions::AuthTime, Sessions::Acr] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(RecoveryCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Totp::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Totp {
    #[sea_orm(iden = "portcullis_totp")]
    Table,
    UserId,
    SecretSealed,
    CreatedAt,
    ConfirmedAt,
    LastStep,
    Failures,
    FailureNoticeSent,
    LastFailureAt,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    #[sea_orm(iden = "portcullis_recovery_codes")]
    Table,
    Id,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    #[sea_orm(iden = "portcullis_sessions")]
    Table,
    Acr,
    AuthTime,
}

#[derive(DeriveIden)]
enum Organizations {
    #[sea_orm(iden = "portcullis_organizations")]
    Table,
    RequireMfa,
}

#[derive(DeriveIden)]
enum Users {
    #[sea_orm(iden = "portcullis_users")]
    Table,
    Id,
}
