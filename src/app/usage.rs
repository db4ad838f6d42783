//! Usage reports (Art. 16(11)-(12)) with the measures the Reserve's
//! evaluation needs (Art. 25(3)(c)): on demand for any period, and produced
//! by the service itself at the end of each reporting period, stored once
//! with their hash in the audit chain, and their transmission recorded.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::kernel::{self, Change};
use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::codes::OrganisationKind;
use crate::domain::command::preparedness::TransmitReport;
use crate::domain::dispatch::TimerKind;
use crate::domain::names::{self, UsageReportId};
use crate::domain::usage::{
    CommitmentUse, Evaluation, ReportDocument, Taken, Timeline, UsageRow, UsageView, Use,
    aggregate, evaluate, midnight, period_containing,
};
use crate::store::{
    self, Txn,
    preparedness::{ReportTransmission, StoredReport},
};

/// A report's rows and measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rows: Vec<UsageRow>,
    pub evaluation: Evaluation,
}

/// The views a role may read: the Commission the Council's, the others both.
fn views_of(actor: &Actor) -> &'static [UsageView] {
    if actor.role == Role::Commission {
        &[UsageView::Council]
    } else {
        &[UsageView::NisCooperationGroup, UsageView::Council]
    }
}

fn may_read(actor: &Actor, view: UsageView) -> AppResult<()> {
    if views_of(actor).contains(&view) {
        Ok(())
    } else {
        Err(AppError::PermissionDenied(
            "the Commission's report is the one for the Council".into(),
        ))
    }
}

/// The report for requests submitted in `[from, to)`.
#[tracing::instrument(name = "usage.report", skip_all)]
pub async fn report(
    app: &App,
    actor: &Actor,
    view: UsageView,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<Report> {
    require(actor, Operation::ReportUsage)?;
    may_read(actor, view)?;
    compute(&app.db, Some(view), from, to, app.now()).await
}

/// What a report holds for `view` (None: every user kind) over `[from, to)`:
/// the requests submitted in it, and the commitments whose period ended in it.
async fn compute<C: ConnectionTrait>(
    conn: &C,
    view: Option<UsageView>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<Report> {
    let kinds = OrganisationKind::ALL
        .iter()
        .filter(|k| view.is_none_or(|v| v.covers(**k)))
        .map(|k| k.as_str().to_owned())
        .collect();
    let requests = store::requests::submitted_between(conn, from, to, kinds).await?;
    let taken =
        store::preparedness::taken_with_times(conn, requests.iter().map(|r| r.key).collect())
            .await?;
    let mut by_request: std::collections::HashMap<i64, Vec<_>> = Default::default();
    for t in taken {
        by_request.entry(t.request_key).or_default().push(t);
    }
    let mut with_uses = Vec::with_capacity(requests.len());
    let mut timelines = Vec::with_capacity(requests.len());
    for stored in requests {
        let offers = by_request.remove(&stored.key).unwrap_or_default();
        let uses = offers
            .iter()
            .map(|o| Use {
                provider: o.provider.clone(),
                person_days: o.person_days,
            })
            .collect();
        let taken = offers
            .iter()
            .filter_map(|o| {
                let line = stored.request.granted_lines.get(o.line_index as usize)?;
                Some(Taken {
                    service: line.service,
                    person_days: o.person_days,
                    agreed: o.agreed,
                    delivered: o.delivered,
                })
            })
            .collect();
        timelines.push(Timeline::of(&stored.request, taken));
        with_uses.push((stored.request, uses));
    }
    let commitments =
        store::preparedness::commitments_ending(conn, from.date_naive(), to.date_naive()).await?;
    let conversions =
        store::preparedness::conversions_of(conn, commitments.iter().map(|c| c.id).collect())
            .await?;
    let uses: Vec<CommitmentUse> = commitments
        .iter()
        .map(|c| CommitmentUse {
            service: c.service,
            committed: c.person_days,
            consumed: c.consumed,
            converted: conversions
                .iter()
                .filter(|x| x.commitment_id == c.id && x.state.converts())
                .map(|x| x.person_days)
                .sum(),
        })
        .collect();
    Ok(Report {
        rows: aggregate(&with_uses, now),
        evaluation: evaluate(&timelines, &uses),
    })
}

/// The measures over the current reporting period so far, every user kind:
/// what the metrics endpoint shows.
pub async fn current_evaluation(app: &App) -> AppResult<Evaluation> {
    let now = app.now();
    let (start, end) = period_containing(now.date_naive(), app.rules.reporting.period_months);
    Ok(compute(&app.db, None, midnight(start), midnight(end), now)
        .await?
        .evaluation)
}

/// Makes sure the current period's report is due: a timer at its end,
/// unless one is pending already. Each server calls it when it starts.
pub async fn schedule(app: &App) -> AppResult<()> {
    let now = app.now();
    if store::timers::any_pending(&app.db, TimerKind::UsageReportDue).await? {
        return Ok(());
    }
    let (start, end) = period_containing(now.date_naive(), app.rules.reporting.period_months);
    let txn = kernel::begin(app).await?;
    store::timers::schedule(
        &txn,
        TimerKind::UsageReportDue,
        &start.to_string(),
        midnight(end),
    );
    txn.commit().await?;
    Ok(())
}

/// The timer of a period's end: each view's report for the period starting
/// on `target` is produced and stored, once, its hash recorded in the audit
/// chain; then the next period's report is made due.
pub(crate) async fn produce(
    txn: &Txn,
    app: &App,
    target: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Ok(start) = target.parse::<chrono::NaiveDate>() else {
        return Ok(());
    };
    let (start, end) = period_containing(start, app.rules.reporting.period_months);
    let actor = Actor::service("reporter");
    let mut produced = false;
    for view in [UsageView::NisCooperationGroup, UsageView::Council] {
        let report = compute(txn, Some(view), midnight(start), midnight(end), now).await?;
        let document = ReportDocument {
            view,
            audience: view.audience().to_owned(),
            period_start: midnight(start),
            period_end: midnight(end),
            produced_at: now,
            rule_set: app.rules.version.clone(),
            rows: report.rows,
            evaluation: report.evaluation,
        };
        let (content, sha256) = document.seal();
        let stored = StoredReport {
            id: uuid::Uuid::new_v4().to_string(),
            view,
            period_start: document.period_start,
            period_end: document.period_end,
            produced_at: now,
            content,
            sha256,
            transmission: None,
        };
        if !store::preparedness::insert_report(txn, &stored).await? {
            continue;
        }
        produced = true;
        kernel::record(
            txn,
            &actor,
            now,
            Change {
                action: "ProduceUsageReport",
                resource: names::usage_report(&stored.id),
                from: "",
                to: "PRODUCED",
                payload: json!({
                    "view": view,
                    "audience": view.audience(),
                    "period_start": stored.period_start,
                    "period_end": stored.period_end,
                    "sha256": stored.sha256,
                    "article": "Art. 16(11)-(12)",
                }),
            },
        );
    }
    if produced {
        let next_end = period_containing(end, app.rules.reporting.period_months).1;
        store::timers::schedule(
            txn,
            TimerKind::UsageReportDue,
            &end.to_string(),
            midnight(next_end),
        );
    }
    Ok(())
}

fn report_not_found(id: &str) -> AppError {
    AppError::NotFound(format!("{} not found", names::usage_report(id)))
}

/// A stored report the actor may read.
#[tracing::instrument(name = "usage.get_stored", skip_all)]
pub async fn get_stored(app: &App, actor: &Actor, id: &UsageReportId) -> AppResult<StoredReport> {
    require(actor, Operation::ReportUsage)?;
    match store::preparedness::find_report(&app.db, id).await? {
        Some(r) if views_of(actor).contains(&r.view) => Ok(r),
        _ => Err(report_not_found(id)),
    }
}

/// The stored reports the actor may read, the latest period first.
#[tracing::instrument(name = "usage.list_stored", skip_all)]
pub async fn list_stored(
    app: &App,
    actor: &Actor,
    view: Option<UsageView>,
    page: PageRequest,
) -> AppResult<Page<StoredReport>> {
    require(actor, Operation::ReportUsage)?;
    if let Some(view) = view {
        may_read(actor, view)?;
    }
    let views: Vec<UsageView> = views_of(actor)
        .iter()
        .copied()
        .filter(|v| view.is_none_or(|w| w == *v))
        .collect();
    let after = match page.after.as_deref() {
        None => None,
        Some(token) => {
            let (start, id) = token
                .split_once('|')
                .and_then(|(s, id)| Some((DateTime::parse_from_rfc3339(s).ok()?, id)))
                .ok_or_else(|| {
                    AppError::invalid("page_token", "is not a token this service issued")
                })?;
            Some((start.with_timezone(&Utc), id.to_owned()))
        }
    };
    let items = store::preparedness::list_reports(&app.db, &views, after, page.size).await?;
    let last = items
        .last()
        .map(|r| format!("{}|{}", r.period_start.to_rfc3339(), r.id));
    let next_page_token = page.next_token(items.len(), last.as_deref());
    Ok(Page {
        items,
        next_page_token,
    })
}

/// An officer records that a report was sent to its audience: to whom,
/// when and by whom; once. Duty officers record either view's, the
/// Commission the Council's.
#[tracing::instrument(name = "usage.transmit", skip_all)]
pub async fn transmit(app: &App, actor: &Actor, cmd: TransmitReport) -> AppResult<StoredReport> {
    require(actor, Operation::TransmitReport)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut report = match store::preparedness::find_report(&txn, &cmd.report).await? {
        Some(r) if views_of(actor).contains(&r.view) => r,
        _ => return Err(report_not_found(&cmd.report)),
    };
    if let Some(t) = &report.transmission {
        return Err(AppError::FailedPrecondition(format!(
            "{} was transmitted to {} on {} by {}",
            names::usage_report(&report.id),
            t.recipient,
            t.at.to_rfc3339(),
            t.by
        )));
    }
    if cmd.at < report.produced_at {
        return Err(AppError::invalid(
            "transmit_time",
            "must not be before the report was produced",
        ));
    }
    let transmission = ReportTransmission {
        recipient: cmd.recipient,
        at: cmd.at,
        by: actor.subject.clone(),
        note: cmd.note,
    };
    if !store::preparedness::record_transmission(&txn, &report.id, &transmission).await? {
        return Err(AppError::Aborted(format!(
            "{} was transmitted meanwhile; read it again",
            names::usage_report(&report.id)
        )));
    }
    kernel::record(
        &txn,
        actor,
        now,
        Change {
            action: "TransmitUsageReport",
            resource: names::usage_report(&report.id),
            from: "PRODUCED",
            to: "TRANSMITTED",
            payload: json!({
                "recipient": transmission.recipient,
                "transmitted_at": transmission.at,
                "sha256": report.sha256,
                "note": transmission.note,
            }),
        },
    );
    txn.commit().await?;
    report.transmission = Some(transmission);
    Ok(report)
}
