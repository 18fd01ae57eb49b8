//! Billing: one Stripe customer per payer, the subscriptions webhooks keep in step, and
//! every Stripe event applied (its id recorded in the transaction of its effect).

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
                    .table(Customers::Table)
                    .col(pk_uuid(Customers::PayerId))
                    .col(string_len(Customers::PayerKind, 16))
                    .col(string_len_uniq(Customers::StripeCustomerId, 255))
                    .col(instant(manager, Customers::CreatedAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(string_len(Subscriptions::Id, 255).primary_key())
                    .col(uuid(Subscriptions::PayerId))
                    .col(string_len(Subscriptions::PayerKind, 16))
                    .col(string_len(Subscriptions::CustomerId, 255))
                    .col(string_len_null(Subscriptions::PlanId, 64))
                    .col(string_len_null(Subscriptions::PriceId, 255))
                    .col(string_len_null(Subscriptions::ItemId, 255))
                    .col(string_len(Subscriptions::Status, 32))
                    .col(big_integer(Subscriptions::Seats))
                    .col(instant(manager, Subscriptions::CurrentPeriodEnd, true))
                    .col(boolean(Subscriptions::CancelAtPeriodEnd))
                    .col(instant(manager, Subscriptions::PastDueSince, true))
                    .col(big_integer(Subscriptions::StateAt))
                    .col(boolean(Subscriptions::SeatsPending).default(false))
                    .col(instant(manager, Subscriptions::CreatedAt, false))
                    .col(instant(manager, Subscriptions::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-portcullis_subscriptions-payer_id")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::PayerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StripeEvents::Table)
                    .col(string_len(StripeEvents::Id, 255).primary_key())
                    .col(string_len(StripeEvents::EventType, 128))
                    .col(big_integer(StripeEvents::Created))
                    .col(instant(manager, StripeEvents::ReceivedAt, false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StripeEvents::Table.into_iden(),
            Subscriptions::Table.into_iden(),
            Customers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Customers {
    #[sea_orm(iden = "portcullis_billing_customers")]
    Table,
    PayerId,
    PayerKind,
    StripeCustomerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Subscriptions {
    #[sea_orm(iden = "portcullis_subscriptions")]
    Table,
    Id,
    PayerId,
    PayerKind,
    CustomerId,
    PlanId,
    PriceId,
    ItemId,
    Status,
    Seats,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    PastDueSince,
    StateAt,
    SeatsPending,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StripeEvents {
    #[sea_orm(iden = "portcullis_stripe_events")]
    Table,
    Id,
    EventType,
    Created,
    ReceivedAt,
}
