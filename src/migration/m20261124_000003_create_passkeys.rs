//! Passkeys, the WebAuthn user handles, and ceremonies in flight.

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
                    .table(WebauthnHandles::Table)
                    .col(uuid(WebauthnHandles::UserId).primary_key())
                    .col(uuid_uniq(WebauthnHandles::Handle))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_webauthn_handles-user_id")
                            .from(WebauthnHandles::Table, WebauthnHandles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Passkeys::Table)
                    .col(pk_uuid(Passkeys::Id))
                    .col(uuid(Passkeys::UserId))
                    // Credential ids run to 1023 bytes: unique on their hash, kept in full.
                    .col(string_len_uniq(Passkeys::CredentialHash, 64))
                    .col(text(Passkeys::CredentialId))
                    .col(string_len(Passkeys::Name, 100))
                    .col(text(Passkeys::Passkey))
                    .col(big_integer(Passkeys::Counter))
                    .col(boolean(Passkeys::BackupEligible))
                    .col(boolean(Passkeys::BackupState))
                    .col(instant(manager, Passkeys::CreatedAt, false))
                    .col(instant(manager, Passkeys::LastUsedAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_passkeys-user_id")
                            .from(Passkeys::Table, Passkeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_passkeys-user_id")
                    .table(Passkeys::Table)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebauthnChallenges::Table)
                    .col(pk_uuid(WebauthnChallenges::Id))
                    .col(string_len(WebauthnChallenges::Kind, 32))
                    .col(uuid_null(WebauthnChallenges::UserId))
                    .col(text(WebauthnChallenges::State))
                    .col(instant(manager, WebauthnChallenges::CreatedAt, false))
                    .col(instant(manager, WebauthnChallenges::ExpiresAt, false))
                    .to_owned(),
            )
            .await?;
        // A user's registration in flight.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_webauthn_challenges-user_id")
                    .table(WebauthnChallenges::Table)
                    .col(WebauthnChallenges::UserId)
                    .to_owned(),
            )
            .await?;
        // Expired ceremonies are swept on every begin.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_webauthn_challenges-expires_at")
                    .table(WebauthnChallenges::Table)
                    .col(WebauthnChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebauthnChallenges::Table.into_iden(),
            Passkeys::Table.into_iden(),
            WebauthnHandles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    #[sea_orm(iden = "portcullis_users")]
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebauthnHandles {
    #[sea_orm(iden = "portcullis_webauthn_handles")]
    Table,
    UserId,
    Handle,
}

#[derive(DeriveIden)]
enum Passkeys {
    #[sea_orm(iden = "portcullis_passkeys")]
    Table,
    Id,
    UserId,
    CredentialHash,
    CredentialId,
    Name,
    Passkey,
    Counter,
    BackupEligible,
    BackupState,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum WebauthnChallenges {
    #[sea_orm(iden = "portcullis_webauthn_challenges")]
    Table,
    Id,
    Kind,
    UserId,
    State,
    CreatedAt,
    ExpiresAt,
}
