//! The registry, support requests with their entities and service lines, and
//! the audit trail with its chain head.
//!
//! Lists of codes (languages, services, countries) are stored as JSON text:
//! they are read and written whole with their row and never queried inside.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Countries::Table)
                    .col(string_len(Countries::Code, 2).primary_key())
                    .col(string(Countries::DisplayName))
                    .col(string(Countries::Kind))
                    .col(text(Countries::RequiredLanguages))
                    .col(string(Countries::RequiredClearance))
                    .col(text(Countries::RequiredCertifications))
                    .col(date_null(Countries::AssociationDate))
                    .col(date_null(Countries::ReserveCoverageFrom))
                    .col(string_null(Countries::SinglePointOfContact))
                    .col(date_null(Countries::CapabilityInfoReceived))
                    .col(date_null(Countries::CapabilityInfoUpdated))
                    .col(text_null(Countries::SpecificConditions))
                    .col(timestamp_with_time_zone(Countries::CreatedAt))
                    .col(timestamp_with_time_zone(Countries::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CouncilActs::Table)
                    .col(pk_auto(CouncilActs::Id))
                    .col(string_len(CouncilActs::CountryCode, 2))
                    .col(string(CouncilActs::Reference))
                    .col(date(CouncilActs::ValidFrom))
                    .col(date(CouncilActs::ValidUntil))
                    .col(integer_null(CouncilActs::MaxSupportDays))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CouncilActs::Table, CouncilActs::CountryCode)
                            .to(Countries::Table, Countries::Code)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_council_acts_country")
                    .table(CouncilActs::Table)
                    .col(CouncilActs::CountryCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Organisations::Table)
                    .col(string_len(Organisations::Id, 64).primary_key())
                    .col(string(Organisations::DisplayName))
                    .col(string(Organisations::Kind))
                    .col(string_len(Organisations::CountryCode, 2))
                    .col(boolean(Organisations::SinglePointOfContact))
                    .col(timestamp_with_time_zone(Organisations::CreatedAt))
                    .col(timestamp_with_time_zone(Organisations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Organisations::Table, Organisations::CountryCode)
                            .to(Countries::Table, Countries::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Providers::Table)
                    .col(string_len(Providers::Id, 64).primary_key())
                    .col(string(Providers::DisplayName))
                    .col(string_len(Providers::CountryCode, 2))
                    .col(string(Providers::Status))
                    .col(text(Providers::Services))
                    .col(text(Providers::Languages))
                    .col(text(Providers::DeployableCountries))
                    .col(string(Providers::Clearance))
                    .col(text(Providers::Certifications))
                    .col(integer(Providers::HoursToDeploy))
                    .col(text(Providers::ConflictOrganisations))
                    .col(text(Providers::ConflictCountries))
                    .col(timestamp_with_time_zone(Providers::CreatedAt))
                    .col(timestamp_with_time_zone(Providers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReferenceCounters::Table)
                    .col(integer(ReferenceCounters::Year).primary_key())
                    .col(big_integer(ReferenceCounters::Last))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SupportRequests::Table)
                    .col(big_pk_auto(SupportRequests::Id))
                    .col(string_len_uniq(SupportRequests::Uid, 36))
                    .col(string_len_uniq(SupportRequests::Reference, 16))
                    .col(string_len(SupportRequests::OrganisationId, 64))
                    .col(string_len(SupportRequests::OrganisationKind, 32))
                    .col(string_len(SupportRequests::CountryCode, 2))
                    .col(string_len(SupportRequests::RequestId, 64))
                    .col(string_len(SupportRequests::BodyHash, 64))
                    .col(string_len(SupportRequests::State, 32))
                    .col(big_integer(SupportRequests::Version))
                    .col(string(SupportRequests::Title))
                    .col(text(SupportRequests::Description))
                    .col(string(SupportRequests::Category))
                    .col(string(SupportRequests::Classification))
                    .col(boolean(SupportRequests::CapacityExceededDeclared))
                    .col(string(SupportRequests::Severity))
                    .col(timestamp_with_time_zone(SupportRequests::DetectedAt))
                    .col(text(SupportRequests::CountriesAffected))
                    .col(text(SupportRequests::PotentialImpact))
                    .col(text(SupportRequests::MitigationMeasures))
                    .col(text(SupportRequests::OtherSupport))
                    .col(string(SupportRequests::Tlp))
                    .col(string(SupportRequests::ContactName))
                    .col(string(SupportRequests::ContactEmail))
                    .col(string(SupportRequests::ContactPhone))
                    .col(string(SupportRequests::CreatedBy))
                    .col(timestamp_with_time_zone(SupportRequests::CreatedAt))
                    .col(timestamp_with_time_zone(SupportRequests::UpdatedAt))
                    .col(timestamp_with_time_zone_null(SupportRequests::SubmittedAt))
                    .col(text_null(SupportRequests::DecisionNote))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SupportRequests::Table, SupportRequests::OrganisationId)
                            .to(Organisations::Table, Organisations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_support_requests_org_request_id")
                    .table(SupportRequests::Table)
                    .col(SupportRequests::OrganisationId)
                    .col(SupportRequests::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_support_requests_state")
                    .table(SupportRequests::Table)
                    .col(SupportRequests::State)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AffectedEntities::Table)
                    .col(pk_auto(AffectedEntities::Id))
                    .col(big_integer(AffectedEntities::SupportRequestId))
                    .col(integer(AffectedEntities::Position))
                    .col(string(AffectedEntities::Name))
                    .col(string(AffectedEntities::Sector))
                    .col(string(AffectedEntities::EntityType))
                    .col(string_len(AffectedEntities::CountryCode, 2))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AffectedEntities::Table, AffectedEntities::SupportRequestId)
                            .to(SupportRequests::Table, SupportRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_affected_entities_request")
                    .table(AffectedEntities::Table)
                    .col(AffectedEntities::SupportRequestId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ServiceLines::Table)
                    .col(pk_auto(ServiceLines::Id))
                    .col(big_integer(ServiceLines::SupportRequestId))
                    .col(integer(ServiceLines::Position))
                    .col(string(ServiceLines::Service))
                    .col(integer(ServiceLines::PersonDays))
                    .col(text(ServiceLines::Languages))
                    .col(string(ServiceLines::Clearance))
                    .col(text(ServiceLines::PlannedUse))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ServiceLines::Table, ServiceLines::SupportRequestId)
                            .to(SupportRequests::Table, SupportRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_service_lines_request")
                    .table(ServiceLines::Table)
                    .col(ServiceLines::SupportRequestId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(integer(AuditHead::Id).primary_key())
                    .col(big_integer(AuditHead::LastSequence))
                    .col(string_len(AuditHead::LastHash, 64))
                    .to_owned(),
            )
            .await?;
        let genesis = Query::insert()
            .into_table(AuditHead::Table)
            .columns([AuditHead::Id, AuditHead::LastSequence, AuditHead::LastHash])
            .values_panic([1.into(), 0i64.into(), "0".repeat(64).into()])
            .to_owned();
        manager.exec_stmt(genesis).await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_integer(AuditEvents::Sequence).primary_key())
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(string(AuditEvents::Actor))
                    .col(string(AuditEvents::Role))
                    .col(string(AuditEvents::Organisation))
                    .col(string(AuditEvents::Action))
                    .col(string(AuditEvents::Resource))
                    .col(string(AuditEvents::FromState))
                    .col(string(AuditEvents::ToState))
                    .col(text(AuditEvents::Payload))
                    .col(string_len(AuditEvents::PreviousHash, 64))
                    .col(string_len(AuditEvents::Hash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_resource")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Resource)
                    .col(AuditEvents::Sequence)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            AuditHead::Table.into_iden(),
            ServiceLines::Table.into_iden(),
            AffectedEntities::Table.into_iden(),
            SupportRequests::Table.into_iden(),
            ReferenceCounters::Table.into_iden(),
            Providers::Table.into_iden(),
            Organisations::Table.into_iden(),
            CouncilActs::Table.into_iden(),
            Countries::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Countries {
    Table,
    Code,
    DisplayName,
    Kind,
    RequiredLanguages,
    RequiredClearance,
    RequiredCertifications,
    AssociationDate,
    ReserveCoverageFrom,
    SinglePointOfContact,
    CapabilityInfoReceived,
    CapabilityInfoUpdated,
    SpecificConditions,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CouncilActs {
    Table,
    Id,
    CountryCode,
    Reference,
    ValidFrom,
    ValidUntil,
    MaxSupportDays,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    DisplayName,
    Kind,
    CountryCode,
    SinglePointOfContact,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    DisplayName,
    CountryCode,
    Status,
    Services,
    Languages,
    DeployableCountries,
    Clearance,
    Certifications,
    HoursToDeploy,
    ConflictOrganisations,
    ConflictCountries,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ReferenceCounters {
    Table,
    Year,
    Last,
}

#[derive(DeriveIden)]
enum SupportRequests {
    Table,
    Id,
    Uid,
    Reference,
    OrganisationId,
    OrganisationKind,
    CountryCode,
    RequestId,
    BodyHash,
    State,
    Version,
    Title,
    Description,
    Category,
    Classification,
    CapacityExceededDeclared,
    Severity,
    DetectedAt,
    CountriesAffected,
    PotentialImpact,
    MitigationMeasures,
    OtherSupport,
    Tlp,
    ContactName,
    ContactEmail,
    ContactPhone,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    SubmittedAt,
    DecisionNote,
}

#[derive(DeriveIden)]
enum AffectedEntities {
    Table,
    Id,
    SupportRequestId,
    Position,
    Name,
    Sector,
    EntityType,
    CountryCode,
}

#[derive(DeriveIden)]
enum ServiceLines {
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

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    LastSequence,
    LastHash,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Sequence,
    OccurredAt,
    Actor,
    Role,
    Organisation,
    Action,
    Resource,
    FromState,
    ToState,
    Payload,
    PreviousHash,
    Hash,
}
