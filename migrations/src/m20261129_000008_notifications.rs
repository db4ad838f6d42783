//! Notifications: subscriptions (who, which events, where), the outbox of
//! notifications derived from the audit trail (one per subscription and
//! event, whatever replica derives it), and the cursor of the derivation.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(string_len(Subscriptions::Id, 36).primary_key())
                    .col(string_len(Subscriptions::Organisation, 64))
                    .col(string_len(Subscriptions::Role, 32))
                    .col(string_len(Subscriptions::Person, 256))
                    .col(string_len(Subscriptions::Channel, 16))
                    .col(string_len(Subscriptions::Target, 2048))
                    .col(string_len(Subscriptions::Secret, 128))
                    .col(text(Subscriptions::Actions))
                    .col(timestamp_with_time_zone(Subscriptions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(
                        big_integer(Notifications::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string_len(Notifications::SubscriptionId, 36))
                    .col(big_integer(Notifications::Sequence))
                    .col(string_len(Notifications::State, 16))
                    .col(integer(Notifications::Attempts).default(0))
                    .col(timestamp_with_time_zone(Notifications::NextAttemptAt))
                    .col(text(Notifications::LastError).default(""))
                    .col(string_len_null(Notifications::LeaseOwner, 64))
                    .col(timestamp_with_time_zone_null(Notifications::LeaseUntil))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_once")
                    .table(Notifications::Table)
                    .col(Notifications::SubscriptionId)
                    .col(Notifications::Sequence)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_due")
                    .table(Notifications::Table)
                    .col(Notifications::State)
                    .col(Notifications::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationCursor::Table)
                    .col(integer(NotificationCursor::Id).primary_key())
                    .col(big_integer(NotificationCursor::LastSequence))
                    .to_owned(),
            )
            .await?;
        // From the chain's end: subscriptions are told of what happens next.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO notification_cursor (id, last_sequence) \
                 SELECT 1, last_sequence FROM audit_head WHERE id = 1",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            NotificationCursor::Table.into_iden(),
            Notifications::Table.into_iden(),
            Subscriptions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
    Organisation,
    Role,
    Person,
    Channel,
    Target,
    Secret,
    Actions,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    SubscriptionId,
    Sequence,
    State,
    Attempts,
    NextAttemptAt,
    LastError,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum NotificationCursor {
    Table,
    Id,
    LastSequence,
}
