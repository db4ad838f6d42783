//! Support requests with their affected entities and service lines.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement,
    sea_query::{Expr, ExprTrait, OnConflict},
};

use super::entities::{
    affected_entity, eligibility_evaluation, granted_line, reference_counter, service_line,
    support_request,
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

const ENTITY: i32 = 0;
const LINE: i32 = 1;
const EVALUATION: i32 = 2;
const GRANTED: i32 = 3;
const REPORT: i32 = 4;

/// Requests whose children one query reads.
const CHILDREN_CHUNK: usize = 1_000;

/// One query for the children of several requests: affected entities,
/// service lines, evaluations, granted lines and summary reports (each for
/// its own keys; a table with no key is left out), as rows of one shape
/// (`kind`, `request`, `ord`, text `t1` to `t4`, integer `n`, timestamp
/// `at`), in order. One round trip instead of five.
fn children_query(backend: DbBackend, keys: [&Vec<i64>; 5]) -> Statement {
    const PARTS: [&str; 5] = [
        "SELECT 0 AS kind, support_request_id AS request, CAST(position AS BIGINT) AS ord, \
         name AS t1, sector AS t2, entity_type AS t3, country_code AS t4, \
         CAST(NULL AS INTEGER) AS n, CAST(NULL AS TIMESTAMPTZ) AS at \
         FROM affected_entities WHERE support_request_id IN",
        "SELECT 1, support_request_id, CAST(position AS BIGINT), service, languages, \
         clearance, planned_use, person_days, NULL FROM service_lines WHERE support_request_id IN",
        "SELECT 2, support_request_id, CAST(id AS BIGINT), rule_set_version, outcome, results, \
         NULL, NULL, evaluated_at FROM eligibility_evaluations WHERE support_request_id IN",
        "SELECT 3, support_request_id, CAST(position AS BIGINT), service, languages, \
         clearance, planned_use, person_days, NULL FROM granted_lines WHERE support_request_id IN",
        "SELECT 4, support_request_id, CAST(0 AS BIGINT), service_provided, results, \
         lessons_learned, recipients, NULL, submitted_at FROM summary_reports \
         WHERE support_request_id IN",
    ];
    let mut sql = String::new();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    for (part, keys) in PARTS.iter().zip(keys) {
        if keys.is_empty() {
            continue;
        }
        if !sql.is_empty() {
            sql.push_str(" UNION ALL ");
        }
        // The first part names and types the columns; it is always there.
        sql.push_str(part);
        sql.push_str(" (");
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            values.push((*key).into());
            match backend {
                DbBackend::Postgres => sql.push_str(&format!("${}", values.len())),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql.push_str(" ORDER BY kind, request, ord");
    Statement::from_sql_and_values(backend, sql, values)
}

fn corrupt_child(column: &str) -> DbErr {
    DbErr::Custom(format!("a request's child row has no `{column}`"))
}

/// The children of the requests being assembled, by request key.
#[derive(Default)]
struct Children {
    entities: HashMap<i64, Vec<AffectedEntity>>,
    lines: HashMap<i64, Vec<ServiceLine>>,
    evaluations: HashMap<i64, Vec<Decision>>,
    granted: HashMap<i64, Vec<ServiceLine>>,
    reports: HashMap<i64, SummaryReport>,
}

impl Children {
    /// Files one row of `children_query` under its request.
    fn add(&mut self, row: &sea_orm::QueryResult) -> Result<(), DbErr> {
        let text = |column: &str| -> Result<String, DbErr> {
            row.try_get::<Option<String>>("", column)?
                .ok_or_else(|| corrupt_child(column))
        };
        let request: i64 = row.try_get("", "request")?;
        let line = || -> Result<ServiceLine, DbErr> {
            Ok(ServiceLine {
                service: parse_code("service_lines.service", &text("t1")?)?,
                person_days: row
                    .try_get::<Option<i32>>("", "n")?
                    .ok_or_else(|| corrupt_child("n"))? as u32,
                languages: from_json("service_lines.languages", &text("t2")?)?,
                clearance: parse_code("service_lines.clearance", &text("t3")?)?,
                planned_use: text("t4")?,
            })
        };
        let at = || -> Result<DateTime<Utc>, DbErr> {
            row.try_get::<Option<DateTime<Utc>>>("", "at")?
                .ok_or_else(|| corrupt_child("at"))
        };
        match row.try_get::<i32>("", "kind")? {
            ENTITY => self
                .entities
                .entry(request)
                .or_default()
                .push(AffectedEntity {
                    name: text("t1")?,
                    sector: parse_code("affected_entities.sector", &text("t2")?)?,
                    entity_type: parse_code("affected_entities.entity_type", &text("t3")?)?,
                    country: text("t4")?,
                }),
            LINE => self.lines.entry(request).or_default().push(line()?),
            EVALUATION => self.evaluations.entry(request).or_default().push(Decision {
                rule_set_version: text("t1")?,
                evaluated_at: at()?,
                outcome: parse_code("eligibility_evaluations.outcome", &text("t2")?)?,
                results: from_json::<Vec<RuleResult>>(
                    "eligibility_evaluations.results",
                    &text("t3")?,
                )?,
            }),
            GRANTED => self.granted.entry(request).or_default().push(line()?),
            REPORT => {
                self.reports.insert(
                    request,
                    SummaryReport {
                        service_provided: text("t1")?,
                        results: text("t2")?,
                        lessons_learned: text("t3")?,
                        recipients: from_json("summary_reports.recipients", &text("t4")?)?,
                        submitted_at: at()?,
                    },
                );
            }
            other => return Err(corrupt_child(&format!("kind {other}"))),
        }
        Ok(())
    }
}

/// Loads the children of `rows` (one query per 1,000 requests) and builds
/// the domain values.
async fn assemble<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<support_request::Model>,
) -> Result<Vec<StoredRequest>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut children = Children::default();
    // A query binds each key up to five times: chunks keep it well under
    // the databases' limits on parameters (SQLite 32,766, PostgreSQL 65,535).
    for chunk in rows.chunks(CHILDREN_CHUNK) {
        let keys: Vec<i64> = chunk.iter().map(|r| r.id).collect();
        // Keys of the requests that can have rows in a table, by what their
        // own row says: an evaluation is written only by a submission (which
        // sets `submitted_at`), granted lines only by a decision
        // (`decided_at`), a summary report only on the way to REPORTED (and
        // then CLOSED).
        let having = |has: fn(&support_request::Model) -> bool| -> Vec<i64> {
            chunk.iter().filter(|r| has(r)).map(|r| r.id).collect()
        };
        let evaluated = having(|r| r.submitted_at.is_some());
        let decided = having(|r| r.decided_at.is_some());
        let reported = having(|r| {
            r.state == RequestState::Reported.as_str() || r.state == RequestState::Closed.as_str()
        });
        let statement = children_query(
            conn.get_database_backend(),
            [&keys, &keys, &evaluated, &decided, &reported],
        );
        for row in conn.query_all_raw(statement).await? {
            children.add(&row)?;
        }
    }
    let Children {
        mut entities,
        mut lines,
        mut evaluations,
        mut granted,
        mut reports,
    } = children;
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
