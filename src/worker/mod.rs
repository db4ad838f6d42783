//! The durable-timer worker that runs in every server process: it claims due
//! timers with a lease, then fires each in its own transaction together with
//! the change it makes. A timer fires exactly once: the change is written
//! only if the timer is still unfired, and a process that dies holding a
//! lease leaves its timers to be claimed again when the lease runs out.

pub mod log;
pub mod notify;
pub mod sequencer;

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::json;

use std::collections::BTreeSet;

use crate::app::{App, AppResult, dispatch, kernel, preparedness, usage};
use crate::domain::actor::Actor;
use crate::domain::dispatch::TimerKind;
use crate::domain::request::RequestState;
use crate::store::{self, timers::Timer};

/// How long a claim protects a timer from other workers.
pub const LEASE: Duration = Duration::seconds(30);
/// How often the worker re-matches waiting requests by itself.
const SWEEP: StdDuration = StdDuration::from_secs(60);
/// Timers claimed at a time.
const BATCH: u64 = 32;

/// Claims and fires the timers due now; returns how many fired. Tests call
/// this with a clock they control instead of waiting.
pub async fn run_once(app: &App, owner: &str) -> AppResult<usize> {
    let now = app.now();
    let claimed = store::timers::claim(&app.db, owner, now, LEASE, BATCH).await?;
    let mut fired = 0;
    for timer in claimed {
        match fire(app, &timer).await {
            Ok(true) => {
                fired += 1;
                app.metrics
                    .timer_fired(timer.kind.as_str(), app.now() - timer.due_at);
            }
            Ok(false) => {}
            // Left unfired: claimed again when the lease runs out.
            Err(err) => {
                tracing::warn!(timer = timer.id, kind = %timer.kind, error = %err, "timer failed")
            }
        }
    }
    Ok(fired)
}

/// Fires one claimed timer in one transaction; false when another process
/// fired it first. Capacity it frees is re-matched after the commit.
async fn fire(app: &App, timer: &Timer) -> AppResult<bool> {
    let now = app.now();
    let txn = kernel::begin(app).await?;
    if !store::timers::mark_fired(&txn, timer.id, now).await? {
        return Ok(false);
    }
    let actor = Actor::service("timer");
    let mut freed = BTreeSet::new();
    match timer.kind {
        TimerKind::OfferExpiry => {
            freed.extend(dispatch::expire(&txn, app, &timer.target, now).await?)
        }
        TimerKind::CapacityStarts => {
            if let Ok(id) = timer.target.parse()
                && let Some(c) = store::dispatch::get_commitment(&txn, id).await?
            {
                freed.insert(c.service);
            }
        }
        TimerKind::AssessmentDeadline => {
            if let Some(r) = kernel::load_id_for_change(&txn, &timer.target).await?
                && r.request.decided_at.is_none()
                // A timer of an earlier submission is not this deadline.
                && r.request.response_deadline == Some(timer.due_at)
                && matches!(
                    r.request.state,
                    RequestState::Eligible | RequestState::Referred
                )
            {
                r.event(
                    &txn,
                    &actor,
                    now,
                    "AssessmentDeadlineBreached",
                    json!({ "deadline": r.request.response_deadline }),
                );
            }
        }
        TimerKind::SupportEnding => {
            if let Some(r) = kernel::load_id_for_change(&txn, &timer.target).await?
                && let Some(period) = r.request.support.as_ref().filter(|p| !p.ended)
                // A timer of an end since moved is not this warning.
                && period.ends
                    - chrono::Duration::days(app.rules.support.warning_days.into())
                    == timer.due_at
            {
                r.event(
                    &txn,
                    &actor,
                    now,
                    "SupportPeriodEnding",
                    json!({ "ends": period.ends, "articles": "Art. 16, 19(4)" }),
                );
            }
        }
        TimerKind::SupportEnds => {
            if let Some(mut r) = kernel::load_id_for_change(&txn, &timer.target).await?
                && r.request
                    .support
                    .as_ref()
                    .is_some_and(|p| !p.ended && p.ends <= now)
            {
                freed.extend(dispatch::end_support(&txn, app, &mut r, now).await?);
            }
        }
        TimerKind::CommitmentEnding => preparedness::notice(&txn, &timer.target, now).await?,
        TimerKind::CommitmentEnds => preparedness::lapse(&txn, &timer.target, now).await?,
        TimerKind::UsageReportDue => usage::produce(&txn, app, &timer.target, now).await?,
        TimerKind::ReportDue => {
            if let Some(mut r) = kernel::load_id_for_change(&txn, &timer.target).await?
                // Owed after the support, and by a request withdrawn after
                // some of its work was delivered.
                && matches!(
                    r.request.state,
                    RequestState::Completed | RequestState::Withdrawn
                )
                && r.request.summary_report.is_none()
            {
                r.request.report_overdue = true;
                r.event(
                    &txn,
                    &actor,
                    now,
                    "SummaryReportOverdue",
                    json!({ "article": "Art. 16(9)" }),
                );
                r.save(&txn, now).await?;
            }
        }
    }
    txn.commit().await?;
    tracing::info!(timer = timer.id, kind = %timer.kind, target = %timer.target, "timer fired");
    dispatch::rematch_after(app, freed).await;
    Ok(true)
}

/// Runs the worker until `shutdown` resolves, polling every `every`.
/// Every `SWEEP` (and at its start) it also re-matches the requests waiting
/// for capacity (`dispatch::rematch_all`), in case a process stopped
/// between a change that freed capacity and the re-matching that follows it.
pub async fn run(app: App, every: StdDuration, shutdown: impl std::future::Future<Output = ()>) {
    let owner = format!("worker-{}", uuid::Uuid::new_v4());
    tokio::pin!(shutdown);
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
        if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP) {
            last_sweep = Some(std::time::Instant::now());
            if let Err(err) = dispatch::rematch_all(&app).await {
                tracing::warn!(error = %err, "re-matching sweep failed");
            }
        }
        if let Err(err) = run_once(&app, &owner).await {
            tracing::warn!(error = %err, "timer worker pass failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
