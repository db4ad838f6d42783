//! Support requests with their affected entities and service lines.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};

use super::entities::{
    affected_entity, eligibility_evaluation, granted_line, reference_counter, service_line,
    summary_report, support_request,
};
use super::{from_json, parse_code, to_json};
use crate::domain::eligibility::{Decision, RuleResult};
use crate::domain::priority::PriorityScore;
use crate::domain::request::{
    AffectedEntity, ContactPoint, RequestContent, RequestState, ServiceLine, SummaryReport,
    SupportRequest,
};

/// A request as stored, with its row key (orders lists and keys the children)
/// and the hash of the body it was created with (for idempotent creation).
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub key: i64,
    pub body_hash: String,
    pub request: SupportRequest,
}

/// The next number of the year's references, in one statement (an insert
/// of the year's first, or else an increment); the counter row's lock
/// serialises concurrent creations, so numbers are unique and gapless.
pub async fn next_reference_number<C: ConnectionTrait>(
    conn: &C,
    at: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let year = at.year();
    let row = reference_counter::Entity::insert(reference_counter::ActiveModel {
        year: Set(year),
        last: Set(1),
    })
    .on_conflict(
        OnConflict::column(reference_counter::Column::Year)
            .value(
                reference_counter::Column::Last,
                Expr::col((reference_counter::Entity, reference_counter::Column::Last)).add(1),
            )
            .to_owned(),
    )
    .exec_with_returning(conn)
    .await?;
    Ok(row.last)
}

pub async fn insert(
    conn: &super::Txn,
    request: &SupportRequest,
    body_hash: &str,
    created_by: &str,
) -> Result<i64, DbErr> {
    let c = &request.content;
    let row = support_request::ActiveModel {
        uid: Set(request.id.clone()),
        reference: Set(request.reference.clone()),
        organisation_id: Set(request.organisation.clone()),
        organisation_kind: Set(request.organisation_kind.as_str().to_owned()),
        country_code: Set(request.country.clone()),
        request_id: Set(request.request_id.clone()),
        body_hash: Set(body_hash.to_owned()),
        state: Set(request.state.as_str().to_owned()),
        version: Set(request.version),
        created_by: Set(created_by.to_owned()),
        created_at: Set(request.created_at),
        updated_at: Set(request.updated_at),
        submitted_at: Set(request.submitted_at),
        decision_note: Set(request.decision_note.clone()),
        ..content_columns(c)
    };
    let key = support_request::Entity::insert(row)
        .exec(conn)
        .await?
        .last_insert_id;
    insert_children(conn, key, c);
    Ok(key)
}

fn content_columns(c: &RequestContent) -> support_request::ActiveModel {
    support_request::ActiveModel {
        title: Set(c.title.clone()),
        description: Set(c.description.clone()),
        category: Set(c.category.as_str().to_owned()),
        classification: Set(c.classification.as_str().to_owned()),
        capacity_exceeded_declared: Set(c.capacity_exceeded_declared),
        severity: Set(c.severity.as_str().to_owned()),
        detected_at: Set(c.detected_at),
        countries_affected: Set(to_json(&c.countries_affected)),
        potential_impact: Set(c.potential_impact.clone()),
        mitigation_measures: Set(c.mitigation_measures.clone()),
        other_support: Set(c.other_support.clone()),
        tlp: Set(c.tlp.as_str().to_owned()),
        contact_name: Set(c.contact.name.clone()),
        contact_email: Set(c.contact.email.clone()),
        contact_phone: Set(c.contact.phone.clone()),
        ..Default::default()
    }
}

/// Deferred: written with the transaction's next statement or its commit.
fn insert_children(txn: &super::Txn, key: i64, c: &RequestContent) {
    let entities =
        c.affected_entities
            .iter()
            .enumerate()
            .map(|(i, e)| affected_entity::ActiveModel {
                support_request_id: Set(key),
                position: Set(i as i32),
                name: Set(e.name.clone()),
                sector: Set(e.sector.as_str().to_owned()),
                entity_type: Set(e.entity_type.as_str().to_owned()),
                country_code: Set(e.country.clone()),
                ..Default::default()
            });
    if !c.affected_entities.is_empty() {
        txn.defer(affected_entity::Entity::insert_many(entities).build(txn.get_database_backend()));
    }
    let lines = c
        .service_lines
        .iter()
        .enumerate()
        .map(|(i, l)| service_line::ActiveModel {
            support_request_id: Set(key),
            position: Set(i as i32),
            service: Set(l.service.as_str().to_owned()),
            person_days: Set(l.person_days as i32),
            languages: Set(to_json(&l.languages)),
            clearance: Set(l.clearance.as_str().to_owned()),
            planned_use: Set(l.planned_use.clone()),
            ..Default::default()
        });
    if !c.service_lines.is_empty() {
        txn.defer(service_line::Entity::insert_many(lines).build(txn.get_database_backend()));
    }
}

/// Replaces the content of a request in `state` at `version`; false when
/// another change came first (nothing is written then).
pub async fn replace_content(
    conn: &super::Txn,
    key: i64,
    state: RequestState,
    version: i64,
    content: &RequestContent,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = support_request::ActiveModel {
        version: Set(version + 1),
        updated_at: Set(now),
        ..content_columns(content)
    };
    let updated = support_request::Entity::update_many()
        .set(row)
        .filter(support_request::Column::Id.eq(key))
        .filter(support_request::Column::State.eq(state.as_str()))
        .filter(support_request::Column::Version.eq(version))
        .exec(conn)
        .await?;
    if updated.rows_affected != 1 {
        return Ok(false);
    }
    affected_entity::Entity::delete_many()
        .filter(affected_entity::Column::SupportRequestId.eq(key))
        .exec(conn)
        .await?;
    service_line::Entity::delete_many()
        .filter(service_line::Column::SupportRequestId.eq(key))
        .exec(conn)
        .await?;
    insert_children(conn, key, content);
    Ok(true)
}

/// Columns a transition sets besides the state, when given.
#[derive(Debug, Default)]
pub struct Changes<'a> {
    pub submitted_at: Option<DateTime<Utc>>,
    pub note: Option<&'a str>,
    pub priority: Option<&'a PriorityScore>,
    pub response_deadline: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub granted_duration_days: Option<u32>,
    pub completed_at: Option<DateTime<Utc>>,
    pub report_overdue: Option<bool>,
}

/// A guarded state change: applies only if the request is still in `from` at
/// `version`. False when another change came first (nothing is written).
pub struct Transition<'a> {
    pub key: i64,
    pub from: RequestState,
    pub version: i64,
    pub to: RequestState,
    pub now: DateTime<Utc>,
    pub changes: Changes<'a>,
}

pub async fn transition<C: ConnectionTrait>(conn: &C, t: Transition<'_>) -> Result<bool, DbErr> {
    let mut row = support_request::ActiveModel {
        state: Set(t.to.as_str().to_owned()),
        version: Set(t.version + 1),
        updated_at: Set(t.now),
        ..Default::default()
    };
    let c = t.changes;
    if let Some(at) = c.submitted_at {
        row.submitted_at = Set(Some(at));
    }
    if let Some(note) = c.note {
        row.decision_note = Set(Some(note.to_owned()));
    }
    if let Some(priority) = c.priority {
        row.priority = Set(Some(to_json(priority)));
        row.priority_total = Set(Some(priority.total));
    }
    if let Some(deadline) = c.response_deadline {
        row.response_deadline = Set(Some(deadline));
    }
    if let Some(at) = c.decided_at {
        row.decided_at = Set(Some(at));
    }
    if let Some(days) = c.granted_duration_days {
        row.granted_duration_days = Set(Some(days as i32));
    }
    if let Some(at) = c.completed_at {
        row.completed_at = Set(Some(at));
    }
    if let Some(overdue) = c.report_overdue {
        row.report_overdue = Set(overdue);
    }
    let updated = support_request::Entity::update_many()
        .set(row)
        .filter(support_request::Column::Id.eq(t.key))
        .filter(support_request::Column::State.eq(t.from.as_str()))
        .filter(support_request::Column::Version.eq(t.version))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Flags the summary report as overdue (a flag, not a state change).
pub async fn flag_report_overdue<C: ConnectionTrait>(conn: &C, key: i64) -> Result<(), DbErr> {
    support_request::Entity::update_many()
        .col_expr(support_request::Column::ReportOverdue, Expr::value(true))
        .filter(support_request::Column::Id.eq(key))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deferred: written with the transaction's next statement or its commit.
pub fn insert_evaluation(txn: &super::Txn, key: i64, decision: &Decision) {
    let insert = eligibility_evaluation::Entity::insert(eligibility_evaluation::ActiveModel {
        support_request_id: Set(key),
        evaluated_at: Set(decision.evaluated_at),
        rule_set_version: Set(decision.rule_set_version.clone()),
        outcome: Set(decision.outcome.as_str().to_owned()),
        results: Set(to_json(&decision.results)),
        ..Default::default()
    });
    txn.defer(insert.build(txn.get_database_backend()));
}

/// Deferred: written with the transaction's next statement or its commit.
pub fn insert_granted_lines(txn: &super::Txn, key: i64, lines: &[ServiceLine]) {
    if lines.is_empty() {
        return;
    }
    let rows = lines
        .iter()
        .enumerate()
        .map(|(i, l)| granted_line::ActiveModel {
            support_request_id: Set(key),
            position: Set(i as i32),
            service: Set(l.service.as_str().to_owned()),
            person_days: Set(l.person_days as i32),
            languages: Set(to_json(&l.languages)),
            clearance: Set(l.clearance.as_str().to_owned()),
            planned_use: Set(l.planned_use.clone()),
            ..Default::default()
        });
    txn.defer(granted_line::Entity::insert_many(rows).build(txn.get_database_backend()));
}

pub async fn find_by_id<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<StoredRequest>, DbErr> {
    let row = support_request::Entity::find()
        .filter(support_request::Column::Uid.eq(id))
        .one(conn)
        .await?;
    Ok(assemble(conn, row.into_iter().collect()).await?.pop())
}

/// Requests submitted in `[from, to)` by organisations of the given kinds.
pub async fn submitted_between<C: ConnectionTrait>(
    conn: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    organisation_kinds: Vec<String>,
) -> Result<Vec<StoredRequest>, DbErr> {
    let rows = support_request::Entity::find()
        .filter(support_request::Column::SubmittedAt.gte(from))
        .filter(support_request::Column::SubmittedAt.lt(to))
        .filter(support_request::Column::OrganisationKind.is_in(organisation_kinds))
        .order_by_asc(support_request::Column::Id)
        .all(conn)
        .await?;
    assemble(conn, rows).await
}

/// Requests by row key (in no particular order).
pub async fn find_by_keys<C: ConnectionTrait>(
    conn: &C,
    keys: Vec<i64>,
) -> Result<Vec<StoredRequest>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows = support_request::Entity::find()
        .filter(support_request::Column::Id.is_in(keys))
        .all(conn)
        .await?;
    assemble(conn, rows).await
}

pub async fn find_by_request_id<C: ConnectionTrait>(
    conn: &C,
    organisation: &str,
    request_id: &str,
) -> Result<Option<StoredRequest>, DbErr> {
    let row = support_request::Entity::find()
        .filter(support_request::Column::OrganisationId.eq(organisation))
        .filter(support_request::Column::RequestId.eq(request_id))
        .one(conn)
        .await?;
    Ok(assemble(conn, row.into_iter().collect()).await?.pop())
}

/// Which requests a list may show.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub organisation: Option<String>,
    /// Only requests of these organisation kinds, if set.
    pub organisation_kinds: Option<Vec<String>>,
    pub state: Option<RequestState>,
}

/// Every request in `state` of the given organisation kinds (the queues).
pub async fn in_state<C: ConnectionTrait>(
    conn: &C,
    state: RequestState,
    organisation_kinds: Vec<String>,
) -> Result<Vec<StoredRequest>, DbErr> {
    let rows = support_request::Entity::find()
        .filter(support_request::Column::State.eq(state.as_str()))
        .filter(support_request::Column::OrganisationKind.is_in(organisation_kinds))
        .all(conn)
        .await?;
    assemble(conn, rows).await
}

/// Newest first, after the row key `before` (exclusive) when paging.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &ListFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<StoredRequest>, DbErr> {
    let mut condition = Condition::all();
    if let Some(org) = &filter.organisation {
        condition = condition.add(support_request::Column::OrganisationId.eq(org.as_str()));
    }
    if let Some(kinds) = &filter.organisation_kinds {
        condition = condition.add(support_request::Column::OrganisationKind.is_in(kinds.clone()));
    }
    if let Some(state) = filter.state {
        condition = condition.add(support_request::Column::State.eq(state.as_str()));
    }
    if let Some(before) = before {
        condition = condition.add(support_request::Column::Id.lt(before));
    }
    let rows = support_request::Entity::find()
        .filter(condition)
        .order_by_desc(support_request::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    assemble(conn, rows).await
}

/// Loads the children of `rows` in two queries and builds the domain values.
async fn assemble<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<support_request::Model>,
) -> Result<Vec<StoredRequest>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<i64> = rows.iter().map(|r| r.id).collect();
    // Keys of the requests that can have rows in a table, by what their own
    // row says: an evaluation is written only by a submission (which sets
    // `submitted_at`), granted lines only by a decision (`decided_at`), a
    // summary report only on the way to REPORTED (and then CLOSED). A draft
    // costs three queries, not six.
    let having = |has: fn(&support_request::Model) -> bool| -> Vec<i64> {
        rows.iter().filter(|r| has(r)).map(|r| r.id).collect()
    };
    let evaluated = having(|r| r.submitted_at.is_some());
    let decided = having(|r| r.decided_at.is_some());
    let reported = having(|r| {
        r.state == RequestState::Reported.as_str() || r.state == RequestState::Closed.as_str()
    });
    let mut entities: HashMap<i64, Vec<AffectedEntity>> = HashMap::new();
    for e in affected_entity::Entity::find()
        .filter(affected_entity::Column::SupportRequestId.is_in(keys.clone()))
        .order_by_asc(affected_entity::Column::Position)
        .all(conn)
        .await?
    {
        entities
            .entry(e.support_request_id)
            .or_default()
            .push(AffectedEntity {
                name: e.name,
                sector: parse_code("affected_entities.sector", &e.sector)?,
                entity_type: parse_code("affected_entities.entity_type", &e.entity_type)?,
                country: e.country_code,
            });
    }
    let mut evaluations: HashMap<i64, Vec<Decision>> = HashMap::new();
    for e in if evaluated.is_empty() {
        Vec::new()
    } else {
        eligibility_evaluation::Entity::find()
            .filter(eligibility_evaluation::Column::SupportRequestId.is_in(evaluated))
            .order_by_asc(eligibility_evaluation::Column::Id)
            .all(conn)
            .await?
    } {
        evaluations
            .entry(e.support_request_id)
            .or_default()
            .push(Decision {
                rule_set_version: e.rule_set_version,
                evaluated_at: e.evaluated_at,
                outcome: parse_code("eligibility_evaluations.outcome", &e.outcome)?,
                results: from_json::<Vec<RuleResult>>(
                    "eligibility_evaluations.results",
                    &e.results,
                )?,
            });
    }
    let mut granted: HashMap<i64, Vec<ServiceLine>> = HashMap::new();
    for l in if decided.is_empty() {
        Vec::new()
    } else {
        granted_line::Entity::find()
            .filter(granted_line::Column::SupportRequestId.is_in(decided))
            .order_by_asc(granted_line::Column::Position)
            .all(conn)
            .await?
    } {
        granted
            .entry(l.support_request_id)
            .or_default()
            .push(ServiceLine {
                service: parse_code("granted_lines.service", &l.service)?,
                person_days: l.person_days as u32,
                languages: from_json("granted_lines.languages", &l.languages)?,
                clearance: parse_code("granted_lines.clearance", &l.clearance)?,
                planned_use: l.planned_use,
            });
    }
    let mut reports: HashMap<i64, SummaryReport> = HashMap::new();
    for r in if reported.is_empty() {
        Vec::new()
    } else {
        summary_report::Entity::find()
            .filter(summary_report::Column::SupportRequestId.is_in(reported))
            .all(conn)
            .await?
    } {
        reports.insert(
            r.support_request_id,
            SummaryReport {
                service_provided: r.service_provided,
                results: r.results,
                lessons_learned: r.lessons_learned,
                recipients: from_json("summary_reports.recipients", &r.recipients)?,
                submitted_at: r.submitted_at,
            },
        );
    }
    let mut lines: HashMap<i64, Vec<ServiceLine>> = HashMap::new();
    for l in service_line::Entity::find()
        .filter(service_line::Column::SupportRequestId.is_in(keys))
        .order_by_asc(service_line::Column::Position)
        .all(conn)
        .await?
    {
        lines
            .entry(l.support_request_id)
            .or_default()
            .push(ServiceLine {
                service: parse_code("service_lines.service", &l.service)?,
                person_days: l.person_days as u32,
                languages: from_json("service_lines.languages", &l.languages)?,
                clearance: parse_code("service_lines.clearance", &l.clearance)?,
                planned_use: l.planned_use,
            });
    }
    rows.into_iter()
        .map(|r| {
            let content = RequestContent {
                affected_entities: entities.remove(&r.id).unwrap_or_default(),
                service_lines: lines.remove(&r.id).unwrap_or_default(),
                title: r.title,
                description: r.description,
                category: parse_code("category", &r.category)?,
                classification: parse_code("classification", &r.classification)?,
                capacity_exceeded_declared: r.capacity_exceeded_declared,
                severity: parse_code("severity", &r.severity)?,
                detected_at: r.detected_at,
                countries_affected: from_json("countries_affected", &r.countries_affected)?,
                potential_impact: r.potential_impact,
                mitigation_measures: r.mitigation_measures,
                other_support: r.other_support,
                tlp: parse_code("tlp", &r.tlp)?,
                contact: ContactPoint {
                    name: r.contact_name,
                    email: r.contact_email,
                    phone: r.contact_phone,
                },
            };
            Ok(StoredRequest {
                key: r.id,
                body_hash: r.body_hash,
                request: SupportRequest {
                    id: r.uid,
                    reference: r.reference,
                    organisation: r.organisation_id,
                    organisation_kind: parse_code("organisation_kind", &r.organisation_kind)?,
                    country: r.country_code,
                    request_id: r.request_id,
                    state: parse_code("state", &r.state)?,
                    version: r.version,
                    content,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                    submitted_at: r.submitted_at,
                    decision_note: r.decision_note,
                    evaluations: evaluations.remove(&r.id).unwrap_or_default(),
                    priority: r
                        .priority
                        .as_deref()
                        .map(|p| from_json("priority", p))
                        .transpose()?,
                    response_deadline: r.response_deadline,
                    decided_at: r.decided_at,
                    granted_lines: granted.remove(&r.id).unwrap_or_default(),
                    granted_duration_days: r.granted_duration_days.map(|d| d as u32),
                    completed_at: r.completed_at,
                    report_overdue: r.report_overdue,
                    summary_report: reports.remove(&r.id),
                },
            })
        })
        .collect()
}
