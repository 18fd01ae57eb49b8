//! The core tables: users, password credentials, sessions, signing keys, one-time
//! secrets and audit events.

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
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(string_len_null(Users::Email, 254).unique_key())
                    .col(instant(manager, Users::EmailVerifiedAt, true))
                    .col(string_len_null(Users::Phone, 32).unique_key())
                    .col(instant(manager, Users::PhoneVerifiedAt, true))
                    .col(string_len_null(Users::Name, 200))
                    .col(string_len_null(Users::ImageUrl, 2048))
                    .col(text(Users::Metadata))
                    .col(instant(manager, Users::DisabledAt, true))
                    .col(instant(manager, Users::TokensValidAfter, true))
                    .col(instant(manager, Users::CreatedAt, false))
                    .col(instant(manager, Users::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        // The revocation view polls for cut-offs that moved since its last look.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_users-tokens_valid_after")
                    .table(Users::Table)
                    .col(Users::TokensValidAfter)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PasswordCredentials::Table)
                    .col(uuid(PasswordCredentials::UserId).primary_key())
                    .col(string_len(PasswordCredentials::Hash, 512))
                    .col(instant(manager, PasswordCredentials::UpdatedAt, false))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_password_credentials-user_id")
                            .from(PasswordCredentials::Table, PasswordCredentials::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::UserId))
                    .col(string_len(Sessions::RefreshHash, 64))
                    .col(string_len_null(Sessions::PreviousRefreshHash, 64))
                    .col(big_integer(Sessions::Generation))
                    .col(instant(manager, Sessions::RotatedAt, true))
                    .col(string_len(Sessions::AuthMethod, 32))
                    .col(string_len(Sessions::Amr, 128))
                    .col(string_len_null(Sessions::Ip, 64))
                    .col(string_len_null(Sessions::UserAgent, 512))
                    .col(uuid_null(Sessions::ActiveOrgId))
                    .col(instant(manager, Sessions::CreatedAt, false))
                    .col(instant(manager, Sessions::LastActiveAt, false))
                    .col(instant(manager, Sessions::IdleExpiresAt, false))
                    .col(instant(manager, Sessions::ExpiresAt, false))
                    .col(instant(manager, Sessions::RevokedAt, true))
                    .col(string_len_null(Sessions::RevokedReason, 32))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_sessions-user_id")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Listing a user's sessions.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_sessions-user_id")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        // The revocation view polls for sessions revoked since its last look.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_sessions-revoked_at")
                    .table(Sessions::Table)
                    .col(Sessions::RevokedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string_len(SigningKeys::Id, 64).primary_key())
                    .col(string_len(SigningKeys::Algorithm, 16))
                    .col(string_len(SigningKeys::PublicKey, 256))
                    .col(text(SigningKeys::PrivateKey))
                    .col(instant(manager, SigningKeys::CreatedAt, false))
                    .col(instant(manager, SigningKeys::RetiredAt, true))
                    .col(instant(manager, SigningKeys::PublishUntil, true))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OneTimeSecrets::Table)
                    .col(pk_uuid(OneTimeSecrets::Id))
                    .col(string_len(OneTimeSecrets::Purpose, 64))
                    .col(uuid_null(OneTimeSecrets::UserId))
                    .col(string_len_null(OneTimeSecrets::Identifier, 320))
                    .col(string_len(OneTimeSecrets::SecretHash, 64))
                    .col(integer(OneTimeSecrets::Attempts).default(0))
                    .col(text_null(OneTimeSecrets::Data))
                    .col(instant(manager, OneTimeSecrets::CreatedAt, false))
                    .col(instant(manager, OneTimeSecrets::ExpiresAt, false))
                    .col(instant(manager, OneTimeSecrets::ConsumedAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_one_time_secrets-user_id")
                            .from(OneTimeSecrets::Table, OneTimeSecrets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Redemption looks a secret up by (purpose, hash).
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_one_time_secrets-purpose-secret_hash")
                    .table(OneTimeSecrets::Table)
                    .col(OneTimeSecrets::Purpose)
                    .col(OneTimeSecrets::SecretHash)
                    .to_owned(),
            )
            .await?;
        // Superseding older secrets of the same purpose for the same address.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_one_time_secrets-purpose-identifier")
                    .table(OneTimeSecrets::Table)
                    .col(OneTimeSecrets::Purpose)
                    .col(OneTimeSecrets::Identifier)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(pk_uuid(AuditEvents::Id))
                    .col(instant(manager, AuditEvents::OccurredAt, false))
                    .col(string_len(AuditEvents::Kind, 64))
                    .col(uuid_null(AuditEvents::UserId))
                    .col(uuid_null(AuditEvents::SessionId))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(string_len_null(AuditEvents::UserAgent, 512))
                    .col(text(AuditEvents::Detail))
                    .to_owned(),
            )
            .await?;
        // Audit events outlive their users, so there is no foreign key; look-ups by user
        // still need an index.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_audit_events-user_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            OneTimeSecrets::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Sessions::Table.into_iden(),
            PasswordCredentials::Table.into_iden(),
            Users::Table.into_iden(),
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
    Email,
    EmailVerifiedAt,
    Phone,
    PhoneVerifiedAt,
    Name,
    ImageUrl,
    Metadata,
    DisabledAt,
    TokensValidAfter,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PasswordCredentials {
    #[sea_orm(iden = "portcullis_password_credentials")]
    Table,
    UserId,
    Hash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    #[sea_orm(iden = "portcullis_sessions")]
    Table,
    Id,
    UserId,
    RefreshHash,
    PreviousRefreshHash,
    Generation,
    RotatedAt,
    AuthMethod,
    Amr,
    Ip,
    UserAgent,
    ActiveOrgId,
    CreatedAt,
    LastActiveAt,
    IdleExpiresAt,
    ExpiresAt,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum SigningKeys {
    #[sea_orm(iden = "portcullis_signing_keys")]
    Table,
    Id,
    Algorithm,
    PublicKey,
    PrivateKey,
    CreatedAt,
    RetiredAt,
    PublishUntil,
}

#[derive(DeriveIden)]
enum OneTimeSecrets {
    #[sea_orm(iden = "portcullis_one_time_secrets")]
    Table,
    Id,
    Purpose,
    UserId,
    Identifier,
    SecretHash,
    Attempts,
    Data,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    #[sea_orm(iden = "portcullis_audit_events")]
    Table,
    Id,
    OccurredAt,
    Kind,
    UserId,
    SessionId,
    Ip,
    UserAgent,
    Detail,
}
