//! Reporting that runs itself and preparedness (Art. 14(2), 16(11)-(12)):
//! conversions of unused pre-committed capacity into preparedness services,
//! the ledger's movements that name a conversion, and the usage reports the
//! service produces for each period, stored once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Conversions::Table)
                    .col(string_len(Conversions::Id, 36).primary_key())
                    .col(integer(Conversions::CommitmentId))
                    .col(string_len(Conversions::ProviderId, 64))
                    .col(string_len(Conversions::Service, 32))
                    .col(string_len(Conversions::OrganisationId, 64))
                    .col(string_len(Conversions::PreparednessService, 32))
                    .col(integer(Conversions::PersonDays))
                    .col(text(Conversions::Description))
                    .col(string_len(Conversions::State, 16))
                    .col(string_len(Conversions::ProposedBy, 256))
                    .col(text_null(Conversions::DeclineNote))
                    .col(text_null(Conversions::DeliveryNote))
                    .col(timestamp_with_time_zone(Conversions::CreatedAt))
                    .col(timestamp_with_time_zone(Conversions::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Conversions::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_conversions_commitment", Conversions::CommitmentId),
            ("idx_conversions_provider", Conversions::ProviderId),
            ("idx_conversions_organisation", Conversions::OrganisationId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Conversions::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(CapacityEntries::Table)
                    .add_column(string_len_null(CapacityEntries::ConversionId, 36))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageReports::Table)
                    .col(string_len(UsageReports::Id, 36).primary_key())
                    .col(string_len(UsageReports::View, 32))
                    .col(timestamp_with_time_zone(UsageReports::PeriodStart))
                    .col(timestamp_with_time_zone(UsageReports::PeriodEnd))
                    .col(timestamp_with_time_zone(UsageReports::ProducedAt))
                    .col(text(UsageReports::Content))
                    .col(string_len(UsageReports::Sha256, 64))
                    .col(string_len_null(UsageReports::Recipient, 256))
                    .col(timestamp_with_time_zone_null(UsageReports::TransmittedAt))
                    .col(string_len_null(UsageReports::TransmittedBy, 256))
                    .col(text_null(UsageReports::TransmissionNote))
                    .to_owned(),
            )
            .await?;
        // One report per view and period, whichever replica's timer fires.
        manager
            .create_index(
                Index::create()
                    .name("idx_usage_reports_once")
                    .table(UsageReports::Table)
                    .col(UsageReports::View)
                    .col(UsageReports::PeriodStart)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsageReports::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CapacityEntries::Table)
                    .drop_column(CapacityEntries::ConversionId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Conversions::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Conversions {
    Table,
    Id,
    CommitmentId,
    ProviderId,
    Service,
    OrganisationId,
    PreparednessService,
    PersonDays,
    Description,
    State,
    ProposedBy,
    DeclineNote,
    DeliveryNote,
    CreatedAt,
    UpdatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum CapacityEntries {
    Table,
    ConversionId,
}

#[derive(DeriveIden)]
enum UsageReports {
    Table,
    Id,
    View,
    PeriodStart,
    PeriodEnd,
    ProducedAt,
    Content,
    Sha256,
    Recipient,
    TransmittedAt,
    TransmittedBy,
    TransmissionNote,
}
