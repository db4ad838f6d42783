//! The scale scenario's data: requests in every state and a long audit
//! chain, written straight into the database (as the service would store
//! them, but in bulk), so that reads can be measured on a database the
//! size of years of use.

use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::domain::codes::OrganisationKind;
use crate::domain::eligibility::{self, RuleSet};
use crate::domain::request::{RequestState, SummaryReport, SupportRequest};
use crate::store;

/// Requests written per statement.
const REQUEST_CHUNK: usize = 200;
/// Events sealed per statement.
const EVENT_CHUNK: usize = 1_000;

/// What was written.
pub struct Populated {
    /// Ids of some of the requests, to read.
    pub sample: Vec<String>,
    pub seconds: f64,
}

/// Member State CSIRTs of the demo registry that own the requests, and the
/// Moldovan contact point that owns the referred ones.
const OWNERS: [&str; 8] = [
    "ee-csirt", "lv-csirt", "lt-csirt", "fi-csirt", "se-csirt", "dk-csirt", "nl-csirt", "be-csirt",
];
const THIRD_COUNTRY_OWNER: &str = "md-spoc";

/// Writes `requests` requests, spread over every state, numbered from
/// `first`, and `events` audit events chained after the chain's head (with
/// the server stopped, when there are events).
pub async fn populate(
    db: &DatabaseConnection,
    requests: usize,
    events: usize,
    first: usize,
    template: &crate::domain::request::RequestContent,
) -> anyhow::Result<Populated> {
    let started = Instant::now();
    let rules: RuleSet = toml::from_str(crate::startup::DEFAULT_RULES)?;
    let registry = store::registry::load(db).await?;
    let now = Utc::now();
    let year = chrono::Datelike::year(&now) - 1;
    let mut sample = Vec::new();
    let mut ids = Vec::with_capacity(requests);
    let mut batch = Vec::with_capacity(REQUEST_CHUNK);
    for i in first..first + requests {
        let state = RequestState::ALL[i % RequestState::ALL.len()];
        let owner = if state == RequestState::Referred {
            THIRD_COUNTRY_OWNER
        } else {
            OWNERS[i % OWNERS.len()]
        };
        let organisation = registry
            .organisation(owner)
            .with_context(|| format!("the demo registry has no {owner}"))?;
        let country = registry
            .country(&organisation.country)
            .context("the organisation's country")?;
        let created_at = now - Duration::minutes((first + requests - i) as i64);
        let mut content = template.clone();
        content.title = format!("Incident {i} at an operator of essential services");
        content.detected_at = created_at - Duration::hours(2);
        let submitted = state != RequestState::Draft;
        let decision = eligibility::evaluate(
            &rules,
            &eligibility::Input {
                content: &content,
                organisation,
                country,
                submitted_at: created_at,
                transmitted_by: &organisation.id,
            },
        );
        let priority = crate::domain::priority::score(
            &content,
            &organisation.country,
            &rules.priority.weights,
            rules.thresholds.min_mitigation_chars,
            rules.priority.tie_tolerance,
        );
        let decided = matches!(
            state,
            RequestState::Authorised
                | RequestState::Rejected
                | RequestState::Dispatching
                | RequestState::WaitingCapacity
                | RequestState::Dispatched
                | RequestState::Completed
                | RequestState::Reported
                | RequestState::Closed
        );
        let granted = decided && state != RequestState::Rejected;
        let id = uuid::Uuid::now_v7().to_string();
        let request = SupportRequest {
            id: id.clone(),
            reference: format!("CSR-{year}-{:06}", i + 1),
            organisation: organisation.id.clone(),
            organisation_kind: organisation.kind,
            country: organisation.country.clone(),
            request_id: format!("populate-{i}"),
            state,
            version: 3,
            created_at,
            updated_at: created_at,
            submitted_at: submitted.then_some(created_at),
            decision_note: None,
            evaluations: if submitted {
                vec![decision]
            } else {
                Vec::new()
            },
            priority: submitted.then_some(priority),
            response_deadline: submitted.then(|| {
                eligibility::response_deadline(&rules.deadlines, organisation.kind, created_at)
            }),
            decided_at: decided.then_some(created_at + Duration::hours(1)),
            granted_lines: if granted {
                content.service_lines.clone()
            } else {
                Vec::new()
            },
            granted_duration_days: granted.then_some(30),
            completed_at: matches!(
                state,
                RequestState::Completed | RequestState::Reported | RequestState::Closed
            )
            .then_some(created_at + Duration::days(20)),
            report_overdue: false,
            summary_report: matches!(state, RequestState::Reported | RequestState::Closed).then(
                || SummaryReport {
                    service_provided: "Containment and forensics".into(),
                    results: "Restored".into(),
                    lessons_learned: "Offline backups".into(),
                    recipients: crate::domain::dispatch::report_recipients(organisation.kind)
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect(),
                    submitted_at: created_at + Duration::days(30),
                },
            ),
            contact_point: None,
            transmission: submitted.then(|| crate::domain::request::Transmission {
                by: organisation.id.clone(),
                at: created_at,
                note: String::new(),
            }),
            assessment: None,
            support: None,
            content,
        };
        debug_assert!(
            state != RequestState::Referred
                || request.organisation_kind == OrganisationKind::TcCsirt
                || request.organisation_kind == OrganisationKind::TcAuthority
        );
        if sample.len() < 1_000 && (i - first).is_multiple_of((requests / 1_000).max(1)) {
            sample.push(id.clone());
        }
        ids.push(id);
        batch.push(request);
        if batch.len() == REQUEST_CHUNK {
            store::requests::insert_many(db, &batch, "populate").await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store::requests::insert_many(db, &batch, "populate").await?;
    }

    // The chain: events of the requests, sealed after the head.
    let mut head = store::audit::head(db).await?;
    let mut written = 0;
    while written < events {
        let n = EVENT_CHUNK.min(events - written);
        let chunk: Vec<store::audit::NewEvent> = (written..written + n)
            .map(|e| {
                let request = &ids[e % ids.len().max(1)];
                store::audit::NewEvent {
                    time: now,
                    actor: "populate".into(),
                    role: "requester".into(),
                    organisation: OWNERS[e % OWNERS.len()].into(),
                    action: "UpdateSupportRequest".into(),
                    resource: format!("supportRequests/{request}"),
                    from_state: "DRAFT".into(),
                    to_state: "DRAFT".into(),
                    payload: format!("{{\"fields\":[\"title\"],\"n\":{e}}}"),
                }
            })
            .collect();
        let (statements, next) = store::audit::seal(db.get_database_backend(), head, &chunk);
        let txn = db.begin().await?;
        for statement in statements {
            txn.execute_raw(statement).await?;
        }
        txn.commit().await?;
        head = next;
        written += n;
    }
    // As a database of years of use would have them: the planner's
    // statistics.
    db.execute_unprepared("ANALYZE").await?;
    Ok(Populated {
        sample,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The database's size on disk, in bytes.
pub async fn database_bytes(db: &DatabaseConnection, url: &str) -> anyhow::Result<u64> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_database_size(current_database()) AS bytes",
            ))
            .await?
            .context("the database's size")?;
        return Ok(row.try_get::<i64>("", "bytes")? as u64);
    }
    // The file and its write-ahead log, after a checkpoint.
    db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
        .await?;
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Ok(size(path.to_owned()) + size(format!("{path}-wal")))
}
