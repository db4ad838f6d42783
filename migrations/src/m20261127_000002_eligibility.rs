//! Eligibility decisions, priority and response deadlines, and the nature of
//! the support granted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            text_null(SupportRequests::Priority),
            double_null(SupportRequests::PriorityTotal),
            timestamp_with_time_zone_null(SupportRequests::ResponseDeadline),
            timestamp_with_time_zone_null(SupportRequests::DecidedAt),
            integer_null(SupportRequests::GrantedDurationDays),
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
        manager
            .create_table(
                Table::create()
                    .table(EligibilityEvaluations::Table)
                    .col(pk_auto(EligibilityEvaluations::Id))
                    .col(big_integer(EligibilityEvaluations::SupportRequestId))
                    .col(timestamp_with_time_zone(
                        EligibilityEvaluations::EvaluatedAt,
                    ))
                    .col(string(EligibilityEvaluations::RuleSetVersion))
                    .col(string(EligibilityEvaluations::Outcome))
                    .col(text(EligibilityEvaluations::Results))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                EligibilityEvaluations::Table,
                                EligibilityEvaluations::SupportRequestId,
                            )
                            .to(SupportRequests::Table, SupportRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_eligibility_evaluations_request")
                    .table(EligibilityEvaluations::Table)
                    .col(EligibilityEvaluations::SupportRequestId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GrantedLines::Table)
                    .col(pk_auto(GrantedLines::Id))
                    .col(big_integer(GrantedLines::SupportRequestId))
                    .col(integer(GrantedLines::Position))
                    .col(string(GrantedLines::Service))
                    .col(integer(GrantedLines::PersonDays))
                    .col(text(GrantedLines::Languages))
                    .col(string(GrantedLines::Clearance))
                    .col(text(GrantedLines::PlannedUse))
                    .foreign_key(
                        ForeignKey::create()
                            .from(GrantedLines::Table, GrantedLines::SupportRequestId)
                            .to(SupportRequests::Table, SupportRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_granted_lines_request")
                    .table(GrantedLines::Table)
                    .col(GrantedLines::SupportRequestId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(GrantedLines::Table).to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(EligibilityEvaluations::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            SupportRequests::Priority,
            SupportRequests::PriorityTotal,
            SupportRequests::ResponseDeadline,
            SupportRequests::DecidedAt,
            SupportRequests::GrantedDurationDays,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SupportRequests::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum SupportRequests {
    Table,
    Id,
    Priority,
    PriorityTotal,
    ResponseDeadline,
    DecidedAt,
    GrantedDurationDays,
}

#[derive(DeriveIden)]
enum EligibilityEvaluations {
    Table,
    Id,
    SupportRequestId,
    EvaluatedAt,
    RuleSetVersion,
    Outcome,
    Results,
}

#[derive(DeriveIden)]
enum GrantedLines {
    Table,
    Id,
    SupportRequestId,
    Position,
    Service,
    PersonDays,
    Languages,
    Clearance,
    PlannedUse,
}
