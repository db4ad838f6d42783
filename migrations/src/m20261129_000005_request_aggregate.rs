//! A request is one aggregate in one row: its affected entities, service
//! lines, eligibility evaluations, granted lines and summary report move
//! from five child tables into JSON columns of `support_requests` (JSONB on
//! PostgreSQL, JSON text on SQLite), written by one statement and read by
//! one. The assessment queues page on `queue_key`, an indexed sort key; the
//! lists page on the row key through indexes of their filters. Dispatch
//! lines name their service, so that re-matching asks for the waiting lines
//! of the service whose capacity freed, not for every waiting request.
//!
//! On PostgreSQL, reference numbers come from a sequence
//! (`support_request_numbers`) instead of the year's counter row, which
//! every creation had to lock until its commit.
//!
//! Audit events are no longer sealed by their writers on PostgreSQL: a
//! writer queues its events in `audit_pending`, and the sequencer moves
//! them into the chain (see `store::audit`). The registry's version, bumped
//! by every change of it, lets each process keep the registry in memory.
//!
//! The JSON is the serde form of the domain's values (`AffectedEntity`,
//! `ServiceLine`, `Decision`, `SummaryReport`): field names are the storage
//! format. `down` moves the data back into the child tables.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value},
};
use serde_json::{Value as Json, json};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            json_binary(SupportRequests::AffectedEntities)
                .default("[]")
                .to_owned(),
            json_binary(SupportRequests::ServiceLines)
                .default("[]")
                .to_owned(),
            json_binary(SupportRequests::Evaluations)
                .default("[]")
                .to_owned(),
            json_binary(SupportRequests::GrantedLines)
                .default("[]")
                .to_owned(),
            json_binary_null(SupportRequests::SummaryReport),
            string_len_null(SupportRequests::QueueKey, 64),
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
            .alter_table(
                Table::alter()
                    .table(DispatchLines::Table)
                    .add_column(string_len(DispatchLines::Service, 32).default(""))
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        fold_children(db, backend).await?;
        if backend == DatabaseBackend::Postgres {
            // Reference numbers from a sequence, after every number given.
            let next: i64 = db
                .query_one_raw(statement(
                    backend,
                    "SELECT COALESCE(MAX(last), 0) + 1 AS next FROM reference_counters",
                    vec![],
                ))
                .await?
                .map(|r| r.try_get("", "next"))
                .transpose()?
                .unwrap_or(1);
            db.execute_unprepared(&format!(
                "CREATE SEQUENCE support_request_numbers START WITH {next}"
            ))
            .await?;
        }

        for table in [
            SummaryReports::Table.into_iden(),
            GrantedLines::Table.into_iden(),
            EligibilityEvaluations::Table.into_iden(),
            ServiceLines::Table.into_iden(),
            AffectedEntities::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AuditPending::Table)
                    .col(big_pk_auto(AuditPending::Id))
                    .col(timestamp_with_time_zone(AuditPending::OccurredAt))
                    .col(string(AuditPending::Actor))
                    .col(string(AuditPending::Role))
                    .col(string(AuditPending::Organisation))
                    .col(string(AuditPending::Action))
                    .col(string(AuditPending::Resource))
                    .col(string(AuditPending::FromState))
                    .col(string(AuditPending::ToState))
                    .col(text(AuditPending::Payload))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RegistryVersion::Table)
                    .col(integer(RegistryVersion::Id).primary_key())
                    .col(big_integer(RegistryVersion::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(RegistryVersion::Table)
                    .columns([RegistryVersion::Id, RegistryVersion::Version])
                    .values_panic([1.into(), 1i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_support_requests_state")
                    .table(SupportRequests::Table)
                    .to_owned(),
            )
            .await?;
        for (name, table, columns) in indexes() {
            let mut index = Index::create();
            index.name(name).table(table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        // Events still queued join the chain before the queue goes.
        seal_pending(db, backend).await?;
        if backend == DatabaseBackend::Postgres {
            // The counter of this year carries on from the sequence.
            db.execute_unprepared(
                "INSERT INTO reference_counters (year, last) \
                 SELECT CAST(EXTRACT(YEAR FROM now()) AS INTEGER), last_value \
                 FROM support_request_numbers WHERE is_called \
                 ON CONFLICT (year) DO UPDATE SET last = GREATEST(reference_counters.last, EXCLUDED.last)",
            )
            .await?;
            db.execute_unprepared("DROP SEQUENCE support_request_numbers")
                .await?;
        }
        for table in [
            AuditPending::Table.into_iden(),
            RegistryVersion::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for (name, table, _) in indexes() {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_support_requests_state")
                    .table(SupportRequests::Table)
                    .col(SupportRequests::State)
                    .to_owned(),
            )
            .await?;
        create_child_tables(manager).await?;
        unfold_children(db, backend).await?;
        for column in [
            SupportRequests::AffectedEntities,
            SupportRequests::ServiceLines,
            SupportRequests::Evaluations,
            SupportRequests::GrantedLines,
            SupportRequests::SummaryReport,
            SupportRequests::QueueKey,
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
        manager
            .alter_table(
                Table::alter()
                    .table(DispatchLines::Table)
                    .drop_column(DispatchLines::Service)
                    .to_owned(),
            )
            .await
    }
}

/// The indexes the new reads page on.
fn indexes() -> Vec<(&'static str, DynIden, Vec<DynIden>)> {
    vec![
        // The assessment queues: requests in one state, in queue order.
        (
            "idx_support_requests_queue",
            SupportRequests::Table.into_iden(),
            vec![
                SupportRequests::State.into_iden(),
                SupportRequests::QueueKey.into_iden(),
            ],
        ),
        // Lists of one state, newest first.
        (
            "idx_support_requests_state_id",
            SupportRequests::Table.into_iden(),
            vec![
                SupportRequests::State.into_iden(),
                SupportRequests::Id.into_iden(),
            ],
        ),
        // A requester's list, newest first.
        (
            "idx_support_requests_organisation_id",
            SupportRequests::Table.into_iden(),
            vec![
                SupportRequests::OrganisationId.into_iden(),
                SupportRequests::Id.into_iden(),
            ],
        ),
        // The Commission's list (third-country kinds), newest first.
        (
            "idx_support_requests_kind_id",
            SupportRequests::Table.into_iden(),
            vec![
                SupportRequests::OrganisationKind.into_iden(),
                SupportRequests::Id.into_iden(),
            ],
        ),
        // Usage reports: requests submitted in a period.
        (
            "idx_support_requests_submitted",
            SupportRequests::Table.into_iden(),
            vec![SupportRequests::SubmittedAt.into_iden()],
        ),
        // Waiting lines of one service, for re-matching.
        (
            "idx_dispatch_lines_state_service",
            DispatchLines::Table.into_iden(),
            vec![
                DispatchLines::State.into_iden(),
                DispatchLines::Service.into_iden(),
            ],
        ),
        // Timers cancelled by what they are for.
        (
            "idx_timers_target",
            Timers::Table.into_iden(),
            vec![Timers::Target.into_iden(), Timers::Kind.into_iden()],
        ),
    ]
}

fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    // Written with `?`; PostgreSQL numbers its parameters.
    let sql = match backend {
        DatabaseBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// A JSON parameter: a JSONB cast on PostgreSQL, text on SQLite.
fn json_param(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "CAST(? AS JSONB)",
        _ => "?",
    }
}

fn time(row: &sea_orm_migration::sea_orm::QueryResult, column: &str) -> Result<Json, DbErr> {
    let at: chrono::DateTime<chrono::Utc> = row.try_get("", column)?;
    Ok(Json::String(
        at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    ))
}

fn text_json(row: &sea_orm_migration::sea_orm::QueryResult, column: &str) -> Result<Json, DbErr> {
    let text: String = row.try_get("", column)?;
    serde_json::from_str(&text)
        .map_err(|e| DbErr::Migration(format!("`{column}` holds no JSON: {e}")))
}

fn line(row: &sea_orm_migration::sea_orm::QueryResult) -> Result<Json, DbErr> {
    Ok(json!({
        "service": row.try_get::<String>("", "service")?,
        "person_days": row.try_get::<i32>("", "person_days")?,
        "languages": text_json(row, "languages")?,
        "clearance": row.try_get::<String>("", "clearance")?,
        "planned_use": row.try_get::<String>("", "planned_use")?,
    }))
}

/// Reads the rows of one child table, in order, by request key.
async fn by_request<F>(
    db: &SchemaManagerConnection<'_>,
    backend: DatabaseBackend,
    sql: &str,
    row: F,
) -> Result<std::collections::BTreeMap<i64, Vec<Json>>, DbErr>
where
    F: Fn(&sea_orm_migration::sea_orm::QueryResult) -> Result<Json, DbErr>,
{
    let mut out: std::collections::BTreeMap<i64, Vec<Json>> = Default::default();
    for r in db.query_all_raw(statement(backend, sql, vec![])).await? {
        let key: i64 = r.try_get("", "support_request_id")?;
        out.entry(key).or_default().push(row(&r)?);
    }
    Ok(out)
}

async fn fold_children(
    db: &SchemaManagerConnection<'_>,
    backend: DatabaseBackend,
) -> Result<(), DbErr> {
    let entities = by_request(
        db,
        backend,
        "SELECT support_request_id, name, sector, entity_type, country_code \
         FROM affected_entities ORDER BY support_request_id, position",
        |r| {
            Ok(json!({
                "name": r.try_get::<String>("", "name")?,
                "sector": r.try_get::<String>("", "sector")?,
                "entity_type": r.try_get::<String>("", "entity_type")?,
                "country": r.try_get::<String>("", "country_code")?,
            }))
        },
    )
    .await?;
    let lines = by_request(
        db,
        backend,
        "SELECT support_request_id, service, person_days, languages, clearance, planned_use \
         FROM service_lines ORDER BY support_request_id, position",
        line,
    )
    .await?;
    let evaluations = by_request(
        db,
        backend,
        "SELECT support_request_id, evaluated_at, rule_set_version, outcome, results \
         FROM eligibility_evaluations ORDER BY support_request_id, id",
        |r| {
            Ok(json!({
                "rule_set_version": r.try_get::<String>("", "rule_set_version")?,
                "evaluated_at": time(r, "evaluated_at")?,
                "outcome": r.try_get::<String>("", "outcome")?,
                "results": text_json(r, "results")?,
            }))
        },
    )
    .await?;
    let granted = by_request(
        db,
        backend,
        "SELECT support_request_id, service, person_days, languages, clearance, planned_use \
         FROM granted_lines ORDER BY support_request_id, position",
        line,
    )
    .await?;
    let reports = by_request(
        db,
        backend,
        "SELECT support_request_id, service_provided, results, lessons_learned, recipients, \
         submitted_at FROM summary_reports ORDER BY support_request_id",
        |r| {
            Ok(json!({
                "service_provided": r.try_get::<String>("", "service_provided")?,
                "results": r.try_get::<String>("", "results")?,
                "lessons_learned": r.try_get::<String>("", "lessons_learned")?,
                "recipients": text_json(r, "recipients")?,
                "submitted_at": time(r, "submitted_at")?,
            }))
        },
    )
    .await?;
    let j = json_param(backend);
    let update = format!(
        "UPDATE support_requests SET affected_entities = {j}, service_lines = {j}, \
         evaluations = {j}, granted_lines = {j}, summary_report = {j}, queue_key = ? WHERE id = ?"
    );
    let rows = db
        .query_all_raw(statement(
            backend,
            "SELECT id, uid, organisation_kind, priority_total, submitted_at \
             FROM support_requests ORDER BY id",
            vec![],
        ))
        .await?;
    for r in rows {
        let key: i64 = r.try_get("", "id")?;
        let uid: String = r.try_get("", "uid")?;
        let kind: String = r.try_get("", "organisation_kind")?;
        let total: Option<f64> = r.try_get("", "priority_total")?;
        let submitted: Option<chrono::DateTime<chrono::Utc>> = r.try_get("", "submitted_at")?;
        let list = |m: &std::collections::BTreeMap<i64, Vec<Json>>| {
            Json::Array(m.get(&key).cloned().unwrap_or_default()).to_string()
        };
        let report = reports
            .get(&key)
            .and_then(|r| r.first())
            .map(|r| r.to_string());
        let queue_key = submitted.map(|at| queue_key(total.unwrap_or(0.0), &kind, at, &uid));
        db.execute_raw(statement(
            backend,
            &update,
            vec![
                list(&entities).into(),
                list(&lines).into(),
                list(&evaluations).into(),
                list(&granted).into(),
                report.into(),
                queue_key.into(),
                key.into(),
            ],
        ))
        .await?;
    }
    // Each dispatch line's service is its granted line's.
    let lines = db
        .query_all_raw(statement(
            backend,
            "SELECT d.id AS id, g.service AS service FROM dispatch_lines d \
             JOIN granted_lines g ON g.support_request_id = d.support_request_id \
             AND g.position = d.line_index",
            vec![],
        ))
        .await?;
    for r in lines {
        let id: i32 = r.try_get("", "id")?;
        let service: String = r.try_get("", "service")?;
        db.execute_raw(statement(
            backend,
            "UPDATE dispatch_lines SET service = ? WHERE id = ?",
            vec![service.into(), id.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The queue's sort key, as `domain::priority::queue_key` writes it: the
/// score's complement in hundredths, the user's rank (Member States first),
/// the submission in microseconds, the request id; fixed widths, so that
/// the text sorts as the order does.
fn queue_key(
    total: f64,
    kind: &str,
    submitted_at: chrono::DateTime<chrono::Utc>,
    id: &str,
) -> String {
    let rank = match kind {
        "MS_CSIRT" | "MS_CRISIS_AUTHORITY" => 0,
        "CERT_EU" => 1,
        _ => 2,
    };
    let hundredths = (total * 100.0).round().clamp(0.0, 999_999.0) as i64;
    format!(
        "{:06}{rank}{:017}{id}",
        999_999 - hundredths,
        Ord::max(submitted_at.timestamp_micros(), 0)
    )
}

async fn create_child_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let fk = |table: DynIden, column: DynIden| {
        ForeignKey::create()
            .from(table, column)
            .to(SupportRequests::Table, SupportRequests::Id)
            .on_delete(ForeignKeyAction::Cascade)
            .to_owned()
    };
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
                .foreign_key(&mut fk(
                    AffectedEntities::Table.into_iden(),
                    AffectedEntities::SupportRequestId.into_iden(),
                ))
                .to_owned(),
        )
        .await?;
    for (table, id, key, position, name) in [
        (
            ServiceLines::Table.into_iden(),
            ServiceLines::Id.into_iden(),
            ServiceLines::SupportRequestId.into_iden(),
            ServiceLines::Position.into_iden(),
            "idx_service_lines_request",
        ),
        (
            GrantedLines::Table.into_iden(),
            GrantedLines::Id.into_iden(),
            GrantedLines::SupportRequestId.into_iden(),
            GrantedLines::Position.into_iden(),
            "idx_granted_lines_request",
        ),
    ] {
        manager
            .create_table(
                Table::create()
                    .table(table.clone())
                    .col(pk_auto(id))
                    .col(big_integer(key.clone()))
                    .col(integer(position))
                    .col(string(Line::Service))
                    .col(integer(Line::PersonDays))
                    .col(text(Line::Languages))
                    .col(string(Line::Clearance))
                    .col(text(Line::PlannedUse))
                    .foreign_key(&mut fk(table.clone(), key.clone()))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name(name).table(table).col(key).to_owned())
            .await?;
    }
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
                .table(EligibilityEvaluations::Table)
                .col(pk_auto(EligibilityEvaluations::Id))
                .col(big_integer(EligibilityEvaluations::SupportRequestId))
                .col(timestamp_with_time_zone(
                    EligibilityEvaluations::EvaluatedAt,
                ))
                .col(string(EligibilityEvaluations::RuleSetVersion))
                .col(string(EligibilityEvaluations::Outcome))
                .col(text(EligibilityEvaluations::Results))
                .foreign_key(&mut fk(
                    EligibilityEvaluations::Table.into_iden(),
                    EligibilityEvaluations::SupportRequestId.into_iden(),
                ))
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
                .table(SummaryReports::Table)
                .col(big_integer(SummaryReports::SupportRequestId).primary_key())
                .col(text(SummaryReports::ServiceProvided))
                .col(text(SummaryReports::Results))
                .col(text(SummaryReports::LessonsLearned))
                .col(text(SummaryReports::Recipients))
                .col(timestamp_with_time_zone(SummaryReports::SubmittedAt))
                .foreign_key(&mut fk(
                    SummaryReports::Table.into_iden(),
                    SummaryReports::SupportRequestId.into_iden(),
                ))
                .to_owned(),
        )
        .await
}

fn parse_time(value: &Json, what: &str) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
    value
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| DbErr::Migration(format!("{what} holds no time")))
}

fn field<'a>(value: &'a Json, name: &str) -> Result<&'a Json, DbErr> {
    value
        .get(name)
        .ok_or_else(|| DbErr::Migration(format!("a stored value has no `{name}`")))
}

fn string_of(value: &Json, name: &str) -> Result<String, DbErr> {
    Ok(field(value, name)?.as_str().unwrap_or_default().to_owned())
}

async fn unfold_children(
    db: &SchemaManagerConnection<'_>,
    backend: DatabaseBackend,
) -> Result<(), DbErr> {
    let rows = db
        .query_all_raw(statement(
            backend,
            "SELECT id, affected_entities, service_lines, evaluations, granted_lines, \
             summary_report FROM support_requests ORDER BY id",
            vec![],
        ))
        .await?;
    for r in rows {
        let key: i64 = r.try_get("", "id")?;
        let json_of = |column: &str| -> Result<Json, DbErr> {
            let value: Option<Json> = r.try_get("", column)?;
            Ok(value.unwrap_or(Json::Null))
        };
        let list = |column: &str| -> Result<Vec<Json>, DbErr> {
            Ok(json_of(column)?.as_array().cloned().unwrap_or_default())
        };
        for (i, e) in list("affected_entities")?.iter().enumerate() {
            db.execute_raw(statement(
                backend,
                "INSERT INTO affected_entities (support_request_id, position, name, sector, \
                 entity_type, country_code) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    key.into(),
                    (i as i32).into(),
                    string_of(e, "name")?.into(),
                    string_of(e, "sector")?.into(),
                    string_of(e, "entity_type")?.into(),
                    string_of(e, "country")?.into(),
                ],
            ))
            .await?;
        }
        for (table, column) in [
            ("service_lines", "service_lines"),
            ("granted_lines", "granted_lines"),
        ] {
            for (i, l) in list(column)?.iter().enumerate() {
                db.execute_raw(statement(
                    backend,
                    &format!(
                        "INSERT INTO {table} (support_request_id, position, service, person_days, \
                         languages, clearance, planned_use) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    ),
                    vec![
                        key.into(),
                        (i as i32).into(),
                        string_of(l, "service")?.into(),
                        (field(l, "person_days")?.as_i64().unwrap_or(0) as i32).into(),
                        field(l, "languages")?.to_string().into(),
                        string_of(l, "clearance")?.into(),
                        string_of(l, "planned_use")?.into(),
                    ],
                ))
                .await?;
            }
        }
        for e in list("evaluations")? {
            db.execute_raw(statement(
                backend,
                "INSERT INTO eligibility_evaluations (support_request_id, evaluated_at, \
                 rule_set_version, outcome, results) VALUES (?, ?, ?, ?, ?)",
                vec![
                    key.into(),
                    parse_time(field(&e, "evaluated_at")?, "evaluated_at")?.into(),
                    string_of(&e, "rule_set_version")?.into(),
                    string_of(&e, "outcome")?.into(),
                    field(&e, "results")?.to_string().into(),
                ],
            ))
            .await?;
        }
        let report = json_of("summary_report")?;
        if !Json::is_null(&report) {
            db.execute_raw(statement(
                backend,
                "INSERT INTO summary_reports (support_request_id, service_provided, results, \
                 lessons_learned, recipients, submitted_at) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    key.into(),
                    string_of(&report, "service_provided")?.into(),
                    string_of(&report, "results")?.into(),
                    string_of(&report, "lessons_learned")?.into(),
                    field(&report, "recipients")?.to_string().into(),
                    parse_time(field(&report, "submitted_at")?, "submitted_at")?.into(),
                ],
            ))
            .await?;
        }
    }
    Ok(())
}

/// Seals the queued events into the chain, as the sequencer would: the
/// hash covers the previous hash and the canonical encoding of
/// `domain::audit`.
async fn seal_pending(
    db: &SchemaManagerConnection<'_>,
    backend: DatabaseBackend,
) -> Result<(), DbErr> {
    use sha2::Digest;
    let head = db
        .query_one_raw(statement(
            backend,
            "SELECT last_sequence, last_hash FROM audit_head WHERE id = 1",
            vec![],
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("the audit chain has no head".into()))?;
    let mut sequence: i64 = head.try_get("", "last_sequence")?;
    let mut hash: String = head.try_get("", "last_hash")?;
    let pending = db
        .query_all_raw(statement(
            backend,
            "SELECT id, occurred_at, actor, role, organisation, action, resource, from_state, \
             to_state, payload FROM audit_pending ORDER BY id",
            vec![],
        ))
        .await?;
    for r in pending {
        sequence += 1;
        let at: chrono::DateTime<chrono::Utc> = r.try_get("", "occurred_at")?;
        let text = |c: &str| -> Result<String, DbErr> { r.try_get("", c) };
        let canonical = json!([
            sequence,
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            text("actor")?,
            text("role")?,
            text("organisation")?,
            text("action")?,
            text("resource")?,
            text("from_state")?,
            text("to_state")?,
            text("payload")?,
        ])
        .to_string();
        let mut hasher = sha2::Sha256::new();
        hasher.update(hash.as_bytes());
        hasher.update(canonical.as_bytes());
        let next = hex::encode(hasher.finalize());
        db.execute_raw(statement(
            backend,
            "INSERT INTO audit_events (sequence, occurred_at, actor, role, organisation, action, \
             resource, from_state, to_state, payload, previous_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                sequence.into(),
                at.into(),
                text("actor")?.into(),
                text("role")?.into(),
                text("organisation")?.into(),
                text("action")?.into(),
                text("resource")?.into(),
                text("from_state")?.into(),
                text("to_state")?.into(),
                text("payload")?.into(),
                hash.clone().into(),
                next.clone().into(),
            ],
        ))
        .await?;
        hash = next;
    }
    db.execute_raw(statement(
        backend,
        "UPDATE audit_head SET last_sequence = ?, last_hash = ? WHERE id = 1",
        vec![sequence.into(), hash.into()],
    ))
    .await?;
    Ok(())
}

#[derive(DeriveIden)]
enum AuditPending {
    Table,
    Id,
    OccurredAt,
    Actor,
    Role,
    Organisation,
    Action,
    Resource,
    FromState,
    ToState,
    Payload,
}

#[derive(DeriveIden)]
enum RegistryVersion {
    Table,
    Id,
    Version,
}

#[derive(DeriveIden)]
enum SupportRequests {
    Table,
    Id,
    State,
    OrganisationId,
    OrganisationKind,
    SubmittedAt,
    AffectedEntities,
    ServiceLines,
    Evaluations,
    GrantedLines,
    SummaryReport,
    QueueKey,
}

#[derive(DeriveIden)]
enum DispatchLines {
    Table,
    State,
    Service,
}

#[derive(DeriveIden)]
enum Timers {
    Table,
    Target,
    Kind,
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
}

#[derive(DeriveIden)]
enum GrantedLines {
    Table,
    Id,
    SupportRequestId,
    Position,
}

/// The columns service and granted lines share.
#[derive(DeriveIden)]
enum Line {
    Service,
    PersonDays,
    Languages,
    Clearance,
    PlannedUse,
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
enum SummaryReports {
    Table,
    SupportRequestId,
    ServiceProvided,
    Results,
    LessonsLearned,
    Recipients,
    SubmittedAt,
}
