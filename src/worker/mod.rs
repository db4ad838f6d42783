//! The durable-timer worker that runs in every server process: it claims due
//! timers with a lease, then fires each in its own transaction together with
//! the change it makes. A timer fires exactly once: the change is written
//! only if the timer is still unfired, and a process that dies holding a
//! lease leaves its timers to be claimed again when the lease runs out.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::json;

use crate::app::{App, AppResult, Change, dispatch, record, requests::resource_name};
use crate::domain::actor::Actor;
use crate::domain::dispatch::TimerKind;
use crate::domain::request::RequestState;
use crate::store::{self, timers::Timer};

/// How long a claim protects a timer from other workers.
pub const LEASE: Duration = Duration::seconds(30);
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
/// fired it first.
async fn fire(app: &App, timer: &Timer) -> AppResult<bool> {
    let now = app.now();
    let txn = store::begin(&app.db).await?;
    if !store::timers::mark_fired(&txn, timer.id, now).await? {
        return Ok(false);
    }
    let actor = Actor::system("timer");
    match timer.kind {
        TimerKind::OfferExpiry => dispatch::expire(&txn, app, &timer.target, now).await?,
        TimerKind::CapacityStarts => dispatch::rematch_waiting(&txn, app, now).await?,
        TimerKind::AssessmentDeadline => {
            if let Some(stored) = store::requests::find_by_id(&txn, &timer.target).await?
                && stored.request.decided_at.is_none()
                // A timer of an earlier submission is not this deadline.
                && stored.request.response_deadline == Some(timer.due_at)
                && matches!(
                    stored.request.state,
                    RequestState::Eligible | RequestState::Referred
                )
            {
                record(
                    &txn,
                    &actor,
                    now,
                    Change {
                        action: "AssessmentDeadlineBreached",
                        resource: resource_name(&timer.target),
                        from: stored.request.state.as_str(),
                        to: stored.request.state.as_str(),
                        payload: json!({ "deadline": stored.request.response_deadline }),
                    },
                )
                .await?;
            }
        }
        TimerKind::ReportDue => {
            if let Some(stored) = store::requests::find_by_id(&txn, &timer.target).await?
                && stored.request.state == RequestState::Completed
            {
                store::requests::flag_report_overdue(&txn, stored.key).await?;
                record(
                    &txn,
                    &actor,
                    now,
                    Change {
                        action: "SummaryReportOverdue",
                        resource: resource_name(&timer.target),
                        from: RequestState::Completed.as_str(),
                        to: RequestState::Completed.as_str(),
                        payload: json!({ "article": "Art. 16(9)" }),
                    },
                )
                .await?;
            }
        }
    }
    txn.commit().await?;
    tracing::info!(timer = timer.id, kind = %timer.kind, target = %timer.target, "timer fired");
    Ok(true)
}

/// Runs the worker until `shutdown` resolves, polling every `every`.
pub async fn run(app: App, every: StdDuration, shutdown: impl std::future::Future<Output = ()>) {
    let owner = format!("worker-{}", uuid::Uuid::new_v4());
    tokio::pin!(shutdown);
    loop {
        if let Err(err) = run_once(&app, &owner).await {
            tracing::warn!(error = %err, "timer worker pass failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
