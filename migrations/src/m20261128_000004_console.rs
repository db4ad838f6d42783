//! Sessions of the web console. Only a hash of the session's secret is
//! stored, so a copy of the table signs no one in.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleSessions::Table)
                    .col(string_len(ConsoleSessions::IdHash, 64).primary_key())
                    .col(string_len(ConsoleSessions::Subject, 200))
                    .col(string_len(ConsoleSessions::Role, 32))
                    .col(string_len(ConsoleSessions::Organisation, 64))
                    .col(string_len(ConsoleSessions::Csrf, 64))
                    .col(timestamp_with_time_zone(ConsoleSessions::CreatedAt))
                    .col(timestamp_with_time_zone(ConsoleSessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_console_sessions_expires")
                    .table(ConsoleSessions::Table)
                    .col(ConsoleSessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConsoleSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    IdHash,
    Subject,
    Role,
    Organisation,
    Csrf,
    CreatedAt,
    ExpiresAt,
}
