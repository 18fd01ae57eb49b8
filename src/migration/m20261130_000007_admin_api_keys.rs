//! Admins and API keys: a `role` and admin-only `private_metadata` on users, the last
//! sign-in for listings; the acting admin on audit rows; the impersonating admin on
//! sessions; API keys (stored as SHA-256); tombstones of deleted users and organizations,
//! which every instance's revocation view reads (their own rows are gone).

use sea_orm_migration::{prelude::*, schema::*};

use super::instant;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        let alters = [
            Table::alter()
                .table(Users::Table)
                .add_column(string_len(Users::Role, 16).default("user"))
                .to_owned(),
            Table::alter()
                .table(Users::Table)
                .add_column(text_null(Users::PrivateMetadata))
                .to_owned(),
            Table::alter()
                .table(Users::Table)
                .add_column(instant(manager, Users::LastSignInAt, true))
                .to_owned(),
            Table::alter()
                .table(AuditEvents::Table)
                .add_column(uuid_null(AuditEvents::ActorId))
                .to_owned(),
            Table::alter()
                .table(Sessions::Table)
                .add_column(uuid_null(Sessions::ImpersonatorId))
                .to_owned(),
        ];
        for alter in alters {
            manager.alter_table(alter).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_audit_events-user_id-id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::UserId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk_uuid(ApiKeys::Id))
                    .col(uuid_null(ApiKeys::UserId))
                    .col(uuid_null(ApiKeys::OrgId))
                    .col(uuid(ApiKeys::CreatedBy))
                    .col(string_len(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Prefix, 16))
                    .col(string_len_uniq(ApiKeys::KeyHash, 64))
                    .col(text_null(ApiKeys::Scopes))
                    .col(string_len(ApiKeys::Acr, 8).default("aal1"))
                    .col(instant(manager, ApiKeys::CreatedAt, false))
                    .col(instant(manager, ApiKeys::ExpiresAt, true))
                    .col(instant(manager, ApiKeys::LastUsedAt, true))
                    .col(instant(manager, ApiKeys::RevokedAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_api_keys-user_id")
                            .from(ApiKeys::Table, ApiKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_api_keys-org_id")
                            .from(ApiKeys::Table, ApiKeys::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx-portcullis_api_keys-user_id", ApiKeys::UserId),
            ("idx-portcullis_api_keys-org_id", ApiKeys::OrgId),
            ("idx-portcullis_api_keys-revoked_at", ApiKeys::RevokedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ApiKeys::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Tombstones::Table)
                    .col(pk_uuid(Tombstones::SubjectId))
                    .col(string_len(Tombstones::Kind, 16))
                    .col(instant(manager, Tombstones::DeletedAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_tombstones-deleted_at")
                    .table(Tombstones::Table)
                    .col(Tombstones::DeletedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tombstones::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx-portcullis_audit_events-user_id-id")
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        let drops = [
            (
                Sessions::Table.into_iden(),
                Sessions::ImpersonatorId.into_iden(),
            ),
            (
                AuditEvents::Table.into_iden(),
                AuditEvents::ActorId.into_iden(),
            ),
            (Users::Table.into_iden(), Users::LastSignInAt.into_iden()),
            (Users::Table.into_iden(), Users::PrivateMetadata.into_iden()),
            (Users::Table.into_iden(), Users::Role.into_iden()),
        ];
        for (table, column) in drops {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
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
    Role,
    PrivateMetadata,
    LastSignInAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    #[sea_orm(iden = "portcullis_audit_events")]
    Table,
    Id,
    UserId,
    ActorId,
}

#[derive(DeriveIden)]
enum Sessions {
    #[sea_orm(iden = "portcullis_sessions")]
    Table,
    ImpersonatorId,
}

#[derive(DeriveIden)]
enum Organizations {
    #[sea_orm(iden = "portcullis_organizations")]
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiKeys {
    #[sea_orm(iden = "portcullis_api_keys")]
    Table,
    Id,
    UserId,
    OrgId,
    CreatedBy,
    Name,
    Prefix,
    KeyHash,
    Scopes,
    Acr,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Tombstones {
    #[sea_orm(iden = "portcullis_tombstones")]
    Table,
    SubjectId,
    Kind,
    DeletedAt,
}
