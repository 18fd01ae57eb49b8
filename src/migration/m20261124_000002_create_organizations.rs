//! Organizations, memberships and invitations.

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
                    .table(Organizations::Table)
                    .col(pk_uuid(Organizations::Id))
                    .col(string_len(Organizations::Name, 100))
                    .col(string_len_uniq(Organizations::Slug, 64))
                    .col(text(Organizations::Metadata))
                    .col(instant(manager, Organizations::CreatedAt, false))
                    .col(instant(manager, Organizations::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(uuid(Memberships::OrgId))
                    .col(uuid(Memberships::UserId))
                    .col(string_len(Memberships::Role, 32))
                    .col(instant(manager, Memberships::CreatedAt, false))
                    .col(instant(manager, Memberships::UpdatedAt, false))
                    .primary_key(
                        Index::create()
                            .col(Memberships::OrgId)
                            .col(Memberships::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_memberships-org_id")
                            .from(Memberships::Table, Memberships::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_memberships-user_id")
                            .from(Memberships::Table, Memberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "My organizations".
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_memberships-user_id")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(pk_uuid(Invitations::Id))
                    .col(uuid(Invitations::OrgId))
                    .col(string_len(Invitations::Email, 254))
                    .col(string_len(Invitations::Role, 32))
                    .col(uuid_null(Invitations::InviterId))
                    .col(instant(manager, Invitations::CreatedAt, false))
                    .col(instant(manager, Invitations::ExpiresAt, false))
                    .col(instant(manager, Invitations::AcceptedAt, true))
                    .col(uuid_null(Invitations::AcceptedBy))
                    .col(instant(manager, Invitations::RevokedAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-portcullis_invitations-org_id")
                            .from(Invitations::Table, Invitations::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // An organization's pending invitations.
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_invitations-org_id")
                    .table(Invitations::Table)
                    .col(Invitations::OrgId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Invitations::Table.into_iden(),
            Memberships::Table.into_iden(),
            Organizations::Table.into_iden(),
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
enum Organizations {
    #[sea_orm(iden = "portcullis_organizations")]
    Table,
    Id,
    Name,
    Slug,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    #[sea_orm(iden = "portcullis_memberships")]
    Table,
    OrgId,
    UserId,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    #[sea_orm(iden = "portcullis_invitations")]
    Table,
    Id,
    OrgId,
    Email,
    Role,
    InviterId,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
    RevokedAt,
}
