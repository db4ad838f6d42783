//! Conversions of unused capacity into preparedness services, and the
//! usage reports produced for each period.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, sea_query::Expr,
};

use super::entities::{capacity_commitment as cc, conversion, offer, usage_report};
use super::parse_code;
use crate::domain::dispatch::CapacityCommitment;
use crate::domain::preparedness::{Conversion, ConversionState};

// --- Conversions ---

/// Writes a new conversion with the transaction's other deferred writes.
pub fn insert_conversion(txn: &super::Txn, c: &Conversion) {
    let insert = conversion::Entity::insert(conversion::ActiveModel {
        id: Set(c.id.clone()),
        commitment_id: Set(c.commitment_id),
        provider_id: Set(c.provider.clone()),
        service: Set(c.service.as_str().to_owned()),
        organisation_id: Set(c.organisation.clone()),
        preparedness_service: Set(c.preparedness_service.as_str().to_owned()),
        person_days: Set(c.person_days as i32),
        description: Set(c.description.clone()),
        state: Set(c.state.as_str().to_owned()),
        proposed_by: Set(c.proposed_by.clone()),
        decline_note: Set(c.decline_note.clone()),
        delivery_note: Set(c.delivery_note.clone()),
        created_at: Set(c.created_at),
        updated_at: Set(c.updated_at),
        delivered_at: Set(c.delivered_at),
    });
    txn.defer(insert.build(txn.get_database_backend()));
}

pub async fn find_conversion<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<Conversion>, DbErr> {
    conversion::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .map(conversion_from_row)
        .transpose()
}

/// A conversion, its row locked until the transaction ends (on
/// PostgreSQL; SQLite's single writer serialises the rest).
pub async fn lock_conversion(txn: &super::Txn, id: &str) -> Result<Option<Conversion>, DbErr> {
    conversion::Entity::find_by_id(id.to_owned())
        .lock(sea_orm::sea_query::LockType::Update)
        .one(txn)
        .await?
        .map(conversion_from_row)
        .transpose()
}

/// Writes a conversion's new state and notes, guarded by the state it was
/// read in: false when another transaction moved it first.
pub async fn save_conversion(
    txn: &super::Txn,
    c: &Conversion,
    read_in: ConversionState,
) -> Result<bool, DbErr> {
    let updated = conversion::Entity::update_many()
        .col_expr(conversion::Column::State, Expr::value(c.state.as_str()))
        .col_expr(
            conversion::Column::DeclineNote,
            Expr::value(c.decline_note.clone()),
        )
        .col_expr(
            conversion::Column::DeliveryNote,
            Expr::value(c.delivery_note.clone()),
        )
        .col_expr(conversion::Column::DeliveredAt, Expr::value(c.delivered_at))
        .col_expr(conversion::Column::UpdatedAt, Expr::value(c.updated_at))
        .filter(conversion::Column::Id.eq(c.id.as_str()))
        .filter(conversion::Column::State.eq(read_in.as_str()))
        .exec(txn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Which conversions a list holds.
#[derive(Debug, Clone, Default)]
pub struct ConversionFilter<'a> {
    pub provider: Option<&'a str>,
    pub organisation: Option<&'a str>,
    pub commitment: Option<i32>,
    pub state: Option<ConversionState>,
}

/// A page of conversions, newest first by id after `after`.
pub async fn list_conversions<C: ConnectionTrait>(
    conn: &C,
    filter: &ConversionFilter<'_>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Conversion>, DbErr> {
    let mut query = conversion::Entity::find().order_by_asc(conversion::Column::Id);
    if let Some(p) = filter.provider {
        query = query.filter(conversion::Column::ProviderId.eq(p));
    }
    if let Some(o) = filter.organisation {
        query = query.filter(conversion::Column::OrganisationId.eq(o));
    }
    if let Some(c) = filter.commitment {
        query = query.filter(conversion::Column::CommitmentId.eq(c));
    }
    if let Some(s) = filter.state {
        query = query.filter(conversion::Column::State.eq(s.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(conversion::Column::Id.gt(after));
    }
    query
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(conversion_from_row)
        .collect()
}

/// Every conversion of these commitments.
pub async fn conversions_of<C: ConnectionTrait>(
    conn: &C,
    commitments: Vec<i32>,
) -> Result<Vec<Conversion>, DbErr> {
    if commitments.is_empty() {
        return Ok(Vec::new());
    }
    conversion::Entity::find()
        .filter(conversion::Column::CommitmentId.is_in(commitments))
        .order_by_asc(conversion::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(conversion_from_row)
        .collect()
}

fn conversion_from_row(r: conversion::Model) -> Result<Conversion, DbErr> {
    Ok(Conversion {
        id: r.id,
        commitment_id: r.commitment_id,
        provider: r.provider_id,
        service: parse_code("conversions.service", &r.service)?,
        organisation: r.organisation_id,
        preparedness_service: parse_code(
            "conversions.preparedness_service",
            &r.preparedness_service,
        )?,
        person_days: r.person_days as u32,
        description: r.description,
        state: parse_code("conversions.state", &r.state)?,
        proposed_by: r.proposed_by,
        decline_note: r.decline_note,
        delivery_note: r.delivery_note,
        created_at: r.created_at,
        updated_at: r.updated_at,
        delivered_at: r.delivered_at,
    })
}

/// Commitments whose period's last day is in `[from, to)`.
pub async fn commitments_ending<C: ConnectionTrait>(
    conn: &C,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CapacityCommitment>, DbErr> {
    let rows = cc::Entity::find()
        .filter(cc::Column::PeriodEnd.gte(from))
        .filter(cc::Column::PeriodEnd.lt(to))
        .order_by_asc(cc::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(super::dispatch::commitment_from_row)
        .collect()
}

/// An offer a provider took on (accepted, active or delivered), with the
/// line it serves, when its agreement was signed and, once delivered, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOffer {
    pub request_key: i64,
    pub provider: String,
    pub line_index: u32,
    pub person_days: u32,
    pub agreed: Option<DateTime<Utc>>,
    pub delivered: Option<DateTime<Utc>>,
}

/// The offers taken on for these requests.
pub async fn taken_with_times<C: ConnectionTrait>(
    conn: &C,
    keys: Vec<i64>,
) -> Result<Vec<TakenOffer>, DbErr> {
    let mut out = Vec::new();
    // Bounded IN lists: a period may hold many requests.
    for chunk in keys.chunks(500) {
        let rows = offer::Entity::find()
            .filter(offer::Column::SupportRequestId.is_in(chunk.to_vec()))
            .filter(offer::Column::State.is_in(["ACCEPTED", "ACTIVE", "DELIVERED"]))
            .all(conn)
            .await?;
        out.extend(rows.into_iter().map(|o| TakenOffer {
            delivered: (o.state == "DELIVERED").then_some(o.updated_at),
            request_key: o.support_request_id,
            provider: o.provider_id,
            line_index: o.line_index as u32,
            person_days: o.person_days as u32,
            agreed: o.agreement_signed_at,
        }));
    }
    Ok(out)
}

// --- Usage reports ---

/// A stored usage report, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    pub id: String,
    pub view: crate::domain::usage::UsageView,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub produced_at: DateTime<Utc>,
    pub content: String,
    pub sha256: String,
    pub transmission: Option<ReportTransmission>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTransmission {
    pub recipient: String,
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: String,
}

/// Stores a report, once per view and period: false when one is stored
/// already (another replica's timer came first).
pub async fn insert_report(txn: &super::Txn, r: &StoredReport) -> Result<bool, DbErr> {
    let exists = usage_report::Entity::find()
        .filter(usage_report::Column::View.eq(r.view.as_str()))
        .filter(usage_report::Column::PeriodStart.eq(r.period_start))
        .one(txn)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    usage_report::Entity::insert(usage_report::ActiveModel {
        id: Set(r.id.clone()),
        view: Set(r.view.as_str().to_owned()),
        period_start: Set(r.period_start),
        period_end: Set(r.period_end),
        produced_at: Set(r.produced_at),
        content: Set(r.content.clone()),
        sha256: Set(r.sha256.clone()),
        recipient: Set(None),
        transmitted_at: Set(None),
        transmitted_by: Set(None),
        transmission_note: Set(None),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(true)
}

pub async fn find_report<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<StoredReport>, DbErr> {
    usage_report::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .map(report_from_row)
        .transpose()
}

/// Reports of these views, the latest period first, then by view; a page
/// after the report `after` (its period start and id).
pub async fn list_reports<C: ConnectionTrait>(
    conn: &C,
    views: &[crate::domain::usage::UsageView],
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<StoredReport>, DbErr> {
    let mut query = usage_report::Entity::find()
        .filter(usage_report::Column::View.is_in(views.iter().map(|v| v.as_str())))
        .order_by_desc(usage_report::Column::PeriodStart)
        .order_by_asc(usage_report::Column::Id);
    if let Some((start, id)) = after {
        query = query.filter(
            Condition::any()
                .add(usage_report::Column::PeriodStart.lt(start))
                .add(
                    Condition::all()
                        .add(usage_report::Column::PeriodStart.eq(start))
                        .add(usage_report::Column::Id.gt(id)),
                ),
        );
    }
    query
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(report_from_row)
        .collect()
}

/// Records a report's transmission, once: false when it was recorded
/// already. The report's content is never written again.
pub async fn record_transmission(
    txn: &super::Txn,
    id: &str,
    t: &ReportTransmission,
) -> Result<bool, DbErr> {
    let updated = usage_report::Entity::update_many()
        .col_expr(
            usage_report::Column::Recipient,
            Expr::value(t.recipient.clone()),
        )
        .col_expr(usage_report::Column::TransmittedAt, Expr::value(t.at))
        .col_expr(
            usage_report::Column::TransmittedBy,
            Expr::value(t.by.clone()),
        )
        .col_expr(
            usage_report::Column::TransmissionNote,
            Expr::value(t.note.clone()),
        )
        .filter(usage_report::Column::Id.eq(id))
        .filter(usage_report::Column::TransmittedAt.is_null())
        .exec(txn)
        .await?;
    Ok(updated.rows_affected == 1)
}

fn report_from_row(r: usage_report::Model) -> Result<StoredReport, DbErr> {
    let transmission = match (r.recipient, r.transmitted_at, r.transmitted_by) {
        (Some(recipient), Some(at), Some(by)) => Some(ReportTransmission {
            recipient,
            at,
            by,
            note: r.transmission_note.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(StoredReport {
        id: r.id,
        view: parse_code("usage_reports.view", &r.view)?,
        period_start: r.period_start,
        period_end: r.period_end,
        produced_at: r.produced_at,
        content: r.content,
        sha256: r.sha256,
        transmission,
    })
}
