//! Delivery, report and closing: the specific agreement makes an accepted
//! offer active, completion delivers it, and when every line has moved on
//! the request does; then the requester's summary report (Art. 16(9)) and
//! the duty officer's closing.

use chrono::{DateTime, Months, Utc};
use serde_json::json;

use super::offers::{OfferStep, load_own_offer, save_offer, set_line_state};
use crate::app::kernel::{self, Loaded, Step};
use crate::app::{App, AppResult, require};
use crate::domain::actor::{Actor, Operation};
use crate::domain::command::dispatch::{Complete, RecordAgreement};
use crate::domain::command::request::FileReport;
use crate::domain::dispatch::{
    LineState, Offer, OfferAction, OfferState, TimerKind, report_recipients,
};
use crate::domain::names::RequestId;
use crate::domain::request::{Action, RequestState, SummaryReport, SupportRequest};
use crate::store::{self, Txn, dispatch::DispatchLine};

#[tracing::instrument(name = "dispatch.record_agreement", skip_all)]
pub async fn record_agreement(
    app: &App,
    actor: &Actor,
    command: RecordAgreement,
) -> AppResult<Offer> {
    let RecordAgreement {
        offer: id,
        agreement,
        ..
    } = command;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let (mut r, offer) = load_own_offer(&txn, actor, &id).await?;
    super::offers::support_running(&r, now)?;
    let payload = json!({
        "reference": agreement.reference,
        "template_version": agreement.template_version,
        "signed_at": agreement.signed_at,
    });
    let offer = save_offer(
        &txn,
        actor,
        offer,
        OfferStep {
            action: OfferAction::RecordAgreement,
            event: "RecordAgreement",
            payload,
        },
        now,
        |o| o.agreement = Some(agreement),
    )
    .await?;
    let lines = set_line_state(&txn, r.key, offer.line_index, LineState::Active).await?;
    advance_request(&txn, &mut r, &lines, now, LineState::Active).await?;
    txn.commit().await?;
    Ok(offer)
}

#[tracing::instrument(name = "dispatch.complete", skip_all)]
pub async fn complete(app: &App, actor: &Actor, command: Complete) -> AppResult<Offer> {
    let (id, delivery_note) = (&command.offer, command.delivery_note.as_str());
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let (mut r, offer) = load_own_offer(&txn, actor, id).await?;
    let offer = save_offer(
        &txn,
        actor,
        offer,
        OfferStep {
            action: OfferAction::Complete,
            event: "CompleteAssignment",
            payload: json!({}),
        },
        now,
        |o| o.delivery_note = Some(delivery_note.to_owned()),
    )
    .await?;
    let lines = set_line_state(&txn, r.key, offer.line_index, LineState::Delivered).await?;
    if advance_request(&txn, &mut r, &lines, now, LineState::Delivered).await? {
        let due = now
            .checked_add_months(Months::new(app.rules.offers.report_due_months))
            .unwrap_or(now);
        store::timers::schedule(&txn, TimerKind::ReportDue, &offer.support_request_id, due);
    }
    txn.commit().await?;
    Ok(offer)
}

/// When every line (as now written) has reached `reached`, moves the
/// request on: all active makes it DISPATCHED, all delivered COMPLETED.
/// True when it moved.
async fn advance_request(
    txn: &Txn,
    r: &mut Loaded,
    lines: &[DispatchLine],
    now: DateTime<Utc>,
    reached: LineState,
) -> AppResult<bool> {
    let done = |l: &DispatchLine| match reached {
        LineState::Active => matches!(l.state, LineState::Active | LineState::Delivered),
        _ => l.state == reached,
    };
    if lines.is_empty() || !lines.iter().all(done) {
        return Ok(false);
    }
    let (action, event) = match reached {
        LineState::Active => (Action::AllActive, "AllLinesActive"),
        _ => (Action::AllDelivered, "AllLinesDelivered"),
    };
    if !r.allows(action) {
        return Ok(false);
    }
    r.step(
        txn,
        &Actor::service("dispatch"),
        now,
        Step {
            action,
            event,
            payload: json!({}),
        },
    )?;
    if action == Action::AllDelivered {
        r.request.completed_at = Some(now);
    }
    r.save(txn, now).await?;
    Ok(true)
}

/// Files the summary report (Art. 16(9)) and records its distribution.
#[tracing::instrument(name = "dispatch.submit_report", skip_all)]
pub async fn submit_report(
    app: &App,
    actor: &Actor,
    command: FileReport,
) -> AppResult<SupportRequest> {
    require(actor, Operation::FileRequests)?;
    let FileReport {
        request: id,
        service_provided,
        results,
        lessons_learned,
        ..
    } = command;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_for_change(&txn, actor, &id).await?;
    if r.request.organisation != actor.organisation {
        return Err(crate::app::AppError::PermissionDenied(
            "the summary report is its filer's".into(),
        ));
    }
    let recipients = report_recipients(r.request.organisation_kind);
    let payload = json!({ "recipients": recipients });
    // A request withdrawn after some of its work was delivered owes its
    // report too (Art. 16(9)); it stays withdrawn.
    let delivered_then_withdrawn = r.request.state == RequestState::Withdrawn
        && r.request.summary_report.is_none()
        && store::dispatch::offers_of_request(&txn, r.key)
            .await?
            .iter()
            .any(|o| o.state == OfferState::Delivered);
    if delivered_then_withdrawn {
        r.event(&txn, actor, now, "SubmitSummaryReport", payload);
    } else {
        r.step(
            &txn,
            actor,
            now,
            Step {
                action: Action::Report,
                event: "SubmitSummaryReport",
                payload,
            },
        )?;
    }
    r.request.report_overdue = false;
    r.request.summary_report = Some(SummaryReport {
        service_provided,
        results,
        lessons_learned,
        recipients: recipients.iter().map(|s| (*s).to_owned()).collect(),
        submitted_at: now,
    });
    store::timers::cancel(&txn, TimerKind::ReportDue, &id, now);
    r.finish(txn, now).await
}

#[tracing::instrument(name = "dispatch.close", skip_all)]
pub async fn close(app: &App, actor: &Actor, id: &RequestId) -> AppResult<SupportRequest> {
    require(actor, Operation::Dispatch)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_for_change(&txn, actor, id).await?;
    r.step(
        &txn,
        actor,
        now,
        Step {
            action: Action::Close,
            event: "CloseSupportRequest",
            payload: json!({}),
        },
    )?;
    r.finish(txn, now).await
}
