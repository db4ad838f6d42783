//! Capacity commitments with their ledger, dispatch lines, offers, the
//! summary report, and durable timers.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CapacityCommitments::Table)
                    .col(pk_auto(CapacityCommitments::Id))
                    .col(string_len(CapacityCommitments::ProviderId, 64))
                    .col(string(CapacityCommitments::Service))
                    .col(integer(CapacityCommitments::PersonDays))
                    .col(integer(CapacityCommitments::HeldDays).default(0).to_owned())
                    .col(integer(CapacityCommitments::ConsumedDays).default(0).to_owned())
                    .col(date(CapacityCommitments::PeriodStart))
                    .col(date(CapacityCommitments::PeriodEnd))
                    .col(timestamp_with_time_zone(CapacityCommitments::CreatedAt))
                    // The ledger can never hold or consume more than was committed.
                    .check(Expr::cust("held_days >= 0 AND consumed_days >= 0 AND held_days + consumed_days <= person_days"))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CapacityCommitments::Table, CapacityCommitments::ProviderId)
                            .to(Providers::Table, Providers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_capacity_commitments_provider")
                    .table(CapacityCommitments::Table)
                    .col(CapacityCommitments::ProviderId)
                    .col(CapacityCommitments::Service)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CapacityEntries::Table)
                    .col(big_pk_auto(CapacityEntries::Id))
                    .col(integer(CapacityEntries::CommitmentId))
                    .col(string_len_null(CapacityEntries::OfferId, 36))
                    .col(string_len(CapacityEntries::Kind, 16))
                    .col(integer(CapacityEntries::PersonDays))
                    .col(timestamp_with_time_zone(CapacityEntries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CapacityEntries::Table, CapacityEntries::CommitmentId)
                            .to(CapacityCommitments::Table, CapacityCommitments::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_capacity_entries_commitment")
                    .table(CapacityEntries::Table)
                    .col(CapacityEntries::CommitmentId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DispatchLines::Table)
                    .col(pk_auto(DispatchLines::Id))
                    .col(big_integer(DispatchLines::SupportRequestId))
                    .col(integer(DispatchLines::LineIndex))
                    .col(string(DispatchLines::State))
                    .col(text(DispatchLines::Plan))
                    .col(integer(DispatchLines::NextCandidate))
                    .col(text(DispatchLines::Justification))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DispatchLines::Table, DispatchLines::SupportRequestId)
                            .to(SupportRequests::Table, SupportRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_dispatch_lines_request_line")
                    .table(DispatchLines::Table)
                    .col(DispatchLines::SupportRequestId)
                    .col(DispatchLines::LineIndex)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Offers::Table)
                    .col(string_len(Offers::Id, 36).primary_key())
                    .col(big_integer(Offers::SupportRequestId))
                    .col(string_len(Offers::SupportRequestUid, 36))
                    .col(integer(Offers::LineIndex))
                    .col(string_len(Offers::ProviderId, 64))
                    .col(integer(Offers::CommitmentId))
                    .col(integer(Offers::PersonDays))
                    .col(string_len(Offers::State, 16))
                    .col(timestamp_with_time_zone(Offers::AcceptDeadline))
                    .col(string_null(Offers::DeclineReason))
                    .col(text_null(Offers::DeclineNote))
                    .col(string_null(Offers::AgreementReference))
                    .col(string_null(Offers::AgreementTemplateVersion))
                    .col(timestamp_with_time_zone_null(Offers::AgreementSignedAt))
                    .col(text_null(Offers::AgreementLiability))
                    .col(string_null(Offers::AgreementAffectedEntity))
                    .col(text_null(Offers::DeliveryNote))
                    .col(timestamp_with_time_zone(Offers::CreatedAt))
                    .col(timestamp_with_time_zone(Offers::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Offers::Table, Offers::SupportRequestId)
                            .to(SupportRequests::Table, SupportRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_offers_request", vec![Offers::SupportRequestId]),
            ("idx_offers_provider", vec![Offers::ProviderId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Offers::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(SummaryReports::Table)
                    .col(big_integer(SummaryReports::SupportRequestId).primary_key())
                    .col(text(SummaryReports::ServiceProvided))
                    .col(text(SummaryReports::Results))
                    .col(text(SummaryReports::LessonsLearned))
                    .col(text(SummaryReports::Recipients))
                    .col(timestamp_with_time_zone(SummaryReports::SubmittedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SummaryReports::Table, SummaryReports::SupportRequestId)
                            .to(SupportRequests::Table, SupportRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Timers::Table)
                    .col(big_pk_auto(Timers::Id))
                    .col(string_len(Timers::Kind, 32))
                    .col(string_len(Timers::Target, 64))
                    .col(timestamp_with_time_zone(Timers::DueAt))
                    .col(timestamp_with_time_zone_null(Timers::LeaseUntil))
                    .col(string_len_null(Timers::LeaseOwner, 64))
                    .col(timestamp_with_time_zone_null(Timers::FiredAt))
                    .col(integer(Timers::Attempts).default(0).to_owned())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_timers_due")
                    .table(Timers::Table)
                    .col(Timers::FiredAt)
                    .col(Timers::DueAt)
                    .to_owned(),
            )
            .await?;
        for column in [
            timestamp_with_time_zone_null(SupportRequests::CompletedAt),
            boolean(SupportRequests::ReportOverdue)
                .default(false)
                .to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(SupportRequests::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [SupportRequests::CompletedAt, SupportRequests::ReportOverdue] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SupportRequests::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            Timers::Table.into_iden(),
            SummaryReports::Table.into_iden(),
            Offers::Table.into_iden(),
            DispatchLines::Table.into_iden(),
            CapacityEntries::Table.into_iden(),
            CapacityCommitments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SupportRequests {
    Table,
    Id,
    CompletedAt,
    ReportOverdue,
}

#[derive(DeriveIden)]
enum CapacityCommitments {
    Table,
    Id,
    ProviderId,
    Service,
    PersonDays,
    HeldDays,
    ConsumedDays,
    PeriodStart,
    PeriodEnd,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CapacityEntries {
    Table,
    Id,
    CommitmentId,
    OfferId,
    Kind,
    PersonDays,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DispatchLines {
    Table,
    Id,
    SupportRequestId,
    LineIndex,
    State,
    Plan,
    NextCandidate,
    Justification,
}

#[derive(DeriveIden)]
enum Offers {
    Table,
    Id,
    SupportRequestId,
    SupportRequestUid,
    LineIndex,
    ProviderId,
    CommitmentId,
    PersonDays,
    State,
    AcceptDeadline,
    DeclineReason,
    DeclineNote,
    AgreementReference,
    AgreementTemplateVersion,
    AgreementSignedAt,
    AgreementLiability,
    AgreementAffectedEntity,
    DeliveryNote,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SummaryReports {
    Table,
    SupportRequestId,
    ServiceProvided,
    Results,
    LessonsLearned,
    Recipients,
    SubmittedAt,
}

#[derive(DeriveIden)]
enum Timers {
    Table,
    Id,
    Kind,
    Target,
    DueAt,
    LeaseUntil,
    LeaseOwner,
    FiredAt,
    Attempts,
}
