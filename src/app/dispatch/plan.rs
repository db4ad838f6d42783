//! Proposals and approval: the ranked candidates of each granted line, and
//! the duty officer's plan, whose lines become offers.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::offers::offer_next;
use super::{country_of, demand};
use crate::app::kernel::{self, Step};
use crate::app::requests::load_visible;
use crate::app::{App, AppError, AppResult, require};
use crate::domain::actor::{Actor, Operation};
use crate::domain::command::dispatch::{ApprovePlan, Planning};
use crate::domain::dispatch::{LineState, TimerKind};
use crate::domain::matching::{self, Proposal};
use crate::domain::names::RequestId;
use crate::domain::request::{Action, RequestState, SupportPeriod, SupportRequest};
use crate::domain::validation::Violations;
use crate::store::{self, dispatch::DispatchLine, registry::Snapshot};

/// A proposal for each granted line.
pub struct LineProposal {
    pub line_index: u32,
    pub service: crate::domain::codes::ServiceType,
    pub person_days: u32,
    pub proposal: Proposal,
}

/// The ranked candidates of every granted line of `request`.
pub(super) async fn proposals<C: ConnectionTrait>(
    conn: &C,
    registry: &Snapshot,
    request: &SupportRequest,
    now: DateTime<Utc>,
) -> AppResult<Vec<LineProposal>> {
    let country = country_of(registry, request)?;
    let mut out = Vec::new();
    for (i, line) in request.granted_lines.iter().enumerate() {
        let pool = store::dispatch::pool(conn, registry, line.service, now.date_naive()).await?;
        out.push(LineProposal {
            line_index: i as u32,
            service: line.service,
            person_days: line.person_days,
            proposal: matching::propose(&demand(request, i, country), &pool),
        });
    }
    Ok(out)
}

/// The ranked candidates for each granted line of an authorised request.
#[tracing::instrument(name = "dispatch.propose", skip_all)]
pub async fn propose(app: &App, actor: &Actor, id: &RequestId) -> AppResult<Vec<LineProposal>> {
    require(actor, Operation::Dispatch)?;
    let stored = load_visible(&app.db, actor, id).await?;
    let request = &stored.request;
    if !matches!(
        request.state,
        RequestState::Authorised | RequestState::Dispatching | RequestState::WaitingCapacity
    ) {
        return Err(AppError::FailedPrecondition(format!(
            "a request in state {} has no lines to match",
            request.state
        )));
    }
    let registry = app.registry.at(&app.db, None).await?;
    proposals(&app.db, &registry, request, app.now()).await
}

/// Approves the plan the door's constructor makes against the request as
/// loaded and its candidates now (`ApprovePlan::parse`): each line becomes
/// an offer to its first provider with free capacity, holding that capacity
/// until answered; AUTHORISED -> DISPATCHING (or WAITING_CAPACITY when a line
/// finds no one).
#[tracing::instrument(name = "dispatch.approve", skip_all)]
pub async fn approve(
    app: &App,
    actor: &Actor,
    id: &RequestId,
    plan: impl FnOnce(&Planning) -> Result<ApprovePlan, Violations>,
) -> AppResult<SupportRequest> {
    require(actor, Operation::Dispatch)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_for_change(&txn, actor, id).await?;
    r.check(Action::Approve)?;
    let registry = r.registry(app).await?;
    let country = country_of(&registry, &r.request)?;
    let proposals = proposals(&txn, &registry, &r.request, now).await?;
    let plan = plan(&Planning {
        request: &r.request,
        country,
        registry: registry.as_ref(),
        top: proposals
            .iter()
            .map(|p| p.proposal.candidates.first().map(|c| c.provider.as_str()))
            .collect(),
    })?;
    r.expect_version(plan.version)?;
    // The support period starts now, for the duration granted, and ends no
    // later than the Council act a third country's support was authorised
    // under (Art. 16, 19(4)); after that act, nothing is dispatched.
    let act = r
        .request
        .assessment
        .as_ref()
        .and_then(|a| a.council_act.as_deref())
        .map(|reference| {
            country
                .council_acts
                .iter()
                .find(|a| a.reference == reference)
                .map(|a| (reference, a.last_day()))
                .unwrap_or((reference, now.date_naive().pred_opt().unwrap_or_default()))
        });
    if let Some((reference, last_day)) = act
        && last_day < now.date_naive()
    {
        return Err(AppError::FailedPrecondition(format!(
            "the Council implementing act {reference} the support was authorised under ended on \
             {last_day}; nothing is dispatched under it (Art. 19(4))"
        )));
    }
    let period = SupportPeriod::new(now, r.request.granted_duration_days.unwrap_or(0), act);
    let warning = period.ends - chrono::Duration::days(app.rules.support.warning_days.into());
    if warning > now {
        store::timers::schedule(&txn, TimerKind::SupportEnding, &r.request.id, warning);
    }
    store::timers::schedule(&txn, TimerKind::SupportEnds, &r.request.id, period.ends);
    r.step(
        &txn,
        actor,
        now,
        Step {
            action: Action::Approve,
            event: "ApproveDispatch",
            payload: json!({
                "plan": plan.lines.iter().map(|l| json!({
                    "line": l.line_index, "provider": l.provider, "fallbacks": l.fallbacks,
                    "justification": l.justification,
                })).collect::<Vec<_>>(),
                "support_period": period,
            }),
        },
    )?;
    r.request.support = Some(period);
    let mut lines: Vec<DispatchLine> = plan
        .lines
        .into_iter()
        .map(|l| DispatchLine {
            line_index: l.line_index,
            service: r.request.granted_lines[l.line_index as usize].service,
            state: LineState::Offered,
            plan: std::iter::once(l.provider).chain(l.fallbacks).collect(),
            next_candidate: 0,
            justification: l.justification,
        })
        .collect();
    lines.sort_by_key(|l| l.line_index);
    let mut waiting = false;
    for line in &mut lines {
        if offer_next(&txn, app, actor, &r, &registry, country, line, now)
            .await?
            .is_none()
        {
            waiting = true;
        }
    }
    store::dispatch::insert_lines(&txn, r.key, &lines);
    if waiting {
        r.step(
            &txn,
            actor,
            now,
            Step {
                action: Action::Wait,
                event: "WaitForCapacity",
                payload: json!({}),
            },
        )?;
    }
    r.finish(txn, now).await
}
