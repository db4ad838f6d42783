//! Dispatch: proposals, the approved plan, offers and their answers, the
//! capacity they hold, re-matching of waiting requests, delivery and the
//! summary report.

use chrono::{DateTime, Duration, Months, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::requests::{
    Step, apply, commit_and_read, load_for_change, load_visible, not_found, resource_name,
};
use super::{App, AppError, AppResult, Change, Page, PageRequest, record, require};
use crate::domain::actor::{Actor, Role};
use crate::domain::dispatch::{
    Agreement, DeclineReason, LineState, Offer, OfferAction, OfferState, TimerKind,
    report_recipients,
};
use crate::domain::matching::{self, Demand, Proposal};
use crate::domain::priority::{QueueKey, queue_order};
use crate::domain::registry::Country;
use crate::domain::request::{Action, RequestState, SupportRequest};
use crate::domain::validation::Violations;
use crate::store::{
    self,
    dispatch::{DispatchLine, Movement},
    requests::{Changes, StoredRequest},
};

pub fn offer_name(id: &str) -> String {
    format!("offers/{id}")
}

fn offer_not_found(id: &str) -> AppError {
    AppError::NotFound(format!("{} not found", offer_name(id)))
}

fn demand<'a>(request: &'a SupportRequest, line: usize, country: &'a Country) -> Demand<'a> {
    let l = &request.granted_lines[line];
    Demand {
        service: l.service,
        person_days: l.person_days,
        languages: &l.languages,
        clearance: l.clearance,
        country,
        organisation: &request.organisation,
    }
}

async fn country_of<C: ConnectionTrait>(conn: &C, request: &SupportRequest) -> AppResult<Country> {
    store::registry::get_country(conn, &request.country)
        .await?
        .ok_or_else(|| {
            AppError::FailedPrecondition("the requesting country is not registered".into())
        })
}

/// A proposal for each granted line.
pub struct LineProposal {
    pub line_index: u32,
    pub service: crate::domain::codes::ServiceType,
    pub person_days: u32,
    pub proposal: Proposal,
}

async fn proposals<C: ConnectionTrait>(
    conn: &C,
    request: &SupportRequest,
    now: DateTime<Utc>,
) -> AppResult<Vec<LineProposal>> {
    let country = country_of(conn, request).await?;
    let mut out = Vec::new();
    for (i, line) in request.granted_lines.iter().enumerate() {
        let pool = store::dispatch::pool(conn, line.service, now.date_naive()).await?;
        out.push(LineProposal {
            line_index: i as u32,
            service: line.service,
            person_days: line.person_days,
            proposal: matching::propose(&demand(request, i, &country), &pool),
        });
    }
    Ok(out)
}

/// The ranked candidates for each granted line of an authorised request.
#[tracing::instrument(name = "dispatch.propose", skip_all)]
pub async fn propose(app: &App, actor: &Actor, id: &str) -> AppResult<Vec<LineProposal>> {
    require(actor, &[Role::DutyOfficer])?;
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
    proposals(&app.db, request, app.now()).await
}

/// The duty officer's choice for one line.
pub struct LinePlan {
    pub line_index: u32,
    pub provider: String,
    pub fallbacks: Vec<String>,
    pub justification: String,
}

/// Approves the plan: each line becomes an offer to its first provider with
/// free capacity, holding that capacity until answered; AUTHORISED ->
/// DISPATCHING (or WAITING_CAPACITY when a line finds no one).
#[tracing::instrument(name = "dispatch.approve", skip_all)]
pub async fn approve(
    app: &App,
    actor: &Actor,
    id: &str,
    expected_version: i64,
    plan: Vec<LinePlan>,
) -> AppResult<SupportRequest> {
    require(actor, &[Role::DutyOfficer])?;
    let now = app.now();
    let (txn, stored) = load_for_change(app, actor, id).await?;
    if expected_version != 0 && expected_version != stored.request.version {
        return Err(AppError::Aborted(format!(
            "the request is at version {}, not {expected_version}; read it again",
            stored.request.version
        )));
    }
    let request = &stored.request;
    request
        .state
        .apply(Action::Approve)
        .map_err(|e| AppError::FailedPrecondition(e.to_string()))?;
    check_plan(&txn, request, &plan, now).await?;

    let mut waiting = false;
    for line in &plan {
        let candidates: Vec<String> = std::iter::once(line.provider.clone())
            .chain(line.fallbacks.iter().cloned())
            .collect();
        store::dispatch::insert_line(
            &txn,
            stored.key,
            line.line_index,
            &candidates,
            &line.justification,
        )
        .await?;
    }
    let mut steps = vec![Step {
        action: Action::Approve,
        rpc: "ApproveDispatch",
        payload: json!({
            "plan": plan.iter().map(|l| json!({
                "line": l.line_index, "provider": l.provider, "fallbacks": l.fallbacks,
                "justification": l.justification,
            })).collect::<Vec<_>>(),
        }),
    }];
    let country = country_of(&txn, request).await?;
    for line in store::dispatch::lines(&txn, stored.key).await? {
        if offer_next(&txn, actor, &stored, &country, &line, app, now)
            .await?
            .is_none()
        {
            waiting = true;
        }
    }
    if waiting {
        steps.push(Step {
            action: Action::Wait,
            rpc: "WaitForCapacity",
            payload: json!({}),
        });
    }
    apply(&txn, actor, &stored, now, steps, Changes::default()).await?;
    commit_and_read(txn, &app.db, id).await
}

/// Every granted line once; providers eligible; a choice other than the
/// top-ranked candidate justified.
async fn check_plan<C: ConnectionTrait>(
    conn: &C,
    request: &SupportRequest,
    plan: &[LinePlan],
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut v = Violations::new();
    let lines = request.granted_lines.len();
    for (i, line) in plan.iter().enumerate() {
        if line.line_index as usize >= lines {
            v.add(
                format!("plan[{i}].line_index"),
                format!("the request has {lines} granted lines"),
            );
        } else if plan[..i].iter().any(|l| l.line_index == line.line_index) {
            v.add(
                format!("plan[{i}].line_index"),
                "names a line planned before",
            );
        }
    }
    for index in 0..lines {
        if !plan.iter().any(|l| l.line_index as usize == index) {
            v.add("plan", format!("has no entry for granted line {index}"));
        }
    }
    v.finish(())?;
    let proposals = proposals(conn, request, now).await?;
    let country = country_of(conn, request).await?;
    let mut v = Violations::new();
    for (i, line) in plan.iter().enumerate() {
        let d = demand(request, line.line_index as usize, &country);
        let all: Vec<&String> = std::iter::once(&line.provider)
            .chain(&line.fallbacks)
            .collect();
        for (j, provider) in all.iter().enumerate() {
            let field = if j == 0 {
                format!("plan[{i}].provider")
            } else {
                format!("plan[{i}].fallbacks[{}]", j - 1)
            };
            if all[..j].contains(provider) {
                v.add(field, "names a provider twice");
                continue;
            }
            match store::registry::get_provider(conn, provider).await? {
                None => v.add(field, "names no registered provider"),
                Some(p) => {
                    if let Some(reason) = matching::excluded(&p, &d) {
                        v.add(field, format!("is not eligible: {reason}"));
                    }
                }
            }
        }
        let top = proposals[line.line_index as usize]
            .proposal
            .candidates
            .first()
            .map(|c| c.provider.as_str());
        if top != Some(line.provider.as_str()) && line.justification.trim().is_empty() {
            v.add(
                format!("plan[{i}].justification"),
                "is required when the provider is not the top-ranked candidate",
            );
        }
    }
    Ok(v.finish(())?)
}

/// Offers `line` to the next provider of its plan that has free capacity,
/// holding the capacity and setting the expiry timer. None when no one is
/// left: the line then waits for capacity.
async fn offer_next(
    conn: &crate::store::Txn,
    actor: &Actor,
    stored: &StoredRequest,
    country: &Country,
    line: &DispatchLine,
    app: &App,
    now: DateTime<Utc>,
) -> AppResult<Option<Offer>> {
    let request = &stored.request;
    let index = line.line_index as usize;
    let d = demand(request, index, country);
    let mut next = line.next_candidate as usize;
    while next < line.plan.len() {
        let provider_id = &line.plan[next];
        next += 1;
        // The registry may have changed since the plan: check again.
        let Some(provider) = store::registry::get_provider(conn, provider_id).await? else {
            continue;
        };
        if matching::excluded(&provider, &d).is_some() {
            continue;
        }
        let Some(commitment) = store::dispatch::commitment_for(
            conn,
            provider_id,
            d.service,
            now.date_naive(),
            d.person_days,
        )
        .await?
        else {
            continue;
        };
        let offer = Offer {
            id: uuid::Uuid::now_v7().to_string(),
            support_request_id: request.id.clone(),
            line_index: line.line_index,
            provider: provider_id.clone(),
            commitment_id: commitment.id,
            person_days: d.person_days,
            state: OfferState::Offered,
            accept_deadline: now
                + Duration::hours(
                    app.rules
                        .offers
                        .accept_hours(request.content.severity)
                        .into(),
                ),
            decline_reason: None,
            decline_note: None,
            agreement: None,
            delivery_note: None,
            created_at: now,
        };
        // Another transaction may have taken the capacity since it was read.
        if !store::dispatch::move_capacity(
            conn,
            commitment.id,
            &offer.id,
            Movement::Hold,
            d.person_days,
            now,
        )
        .await?
        {
            continue;
        }
        store::dispatch::insert_offer(conn, stored.key, &offer).await?;
        store::timers::schedule(
            conn,
            TimerKind::OfferExpiry,
            &offer.id,
            offer.accept_deadline,
        );
        store::dispatch::update_line(conn, line.id, LineState::Offered, next as u32).await?;
        record(
            conn,
            actor,
            now,
            Change {
                action: "MakeOffer",
                resource: offer_name(&offer.id),
                from: "",
                to: OfferState::Offered.as_str(),
                payload: json!({
                    "support_request": resource_name(&request.id),
                    "line": line.line_index,
                    "provider": offer.provider,
                    "person_days": offer.person_days,
                    "accept_deadline": offer.accept_deadline,
                }),
            },
        )
        .await?;
        return Ok(Some(offer));
    }
    store::dispatch::update_line(conn, line.id, LineState::Waiting, next as u32).await?;
    Ok(None)
}

/// Loads an offer of the calling provider; another provider's is `NOT_FOUND`.
async fn load_own_offer<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: &str,
) -> AppResult<(i64, Offer)> {
    require(actor, &[Role::Provider])?;
    match store::dispatch::find_offer(conn, id).await? {
        Some((key, offer)) if offer.provider == actor.organisation => Ok((key, offer)),
        _ => Err(offer_not_found(id)),
    }
}

/// Writes an offer's transition with its audit event; refused transitions
/// and lost races change nothing.
/// One step of an offer: its chart action and the audit event it writes.
struct OfferStep<'a> {
    action: OfferAction,
    rpc: &'a str,
    payload: serde_json::Value,
}

async fn save_offer(
    conn: &crate::store::Txn,
    actor: &Actor,
    mut offer: Offer,
    step: OfferStep<'_>,
    now: DateTime<Utc>,
    edit: impl FnOnce(&mut Offer),
) -> AppResult<Offer> {
    let OfferStep {
        action,
        rpc,
        payload,
    } = step;
    let from = offer.state;
    offer.state = from
        .apply(action)
        .map_err(|e| AppError::FailedPrecondition(e.to_string()))?;
    edit(&mut offer);
    if !store::dispatch::save_offer(conn, &offer, from, now).await? {
        return Err(AppError::Aborted(format!(
            "{} was changed concurrently; read it again",
            offer_name(&offer.id)
        )));
    }
    record(
        conn,
        actor,
        now,
        Change {
            action: rpc,
            resource: offer_name(&offer.id),
            from: from.as_str(),
            to: offer.state.as_str(),
            payload,
        },
    )
    .await?;
    Ok(offer)
}

fn capacity_error() -> AppError {
    AppError::FailedPrecondition("the capacity ledger does not bear this movement".into())
}

#[tracing::instrument(name = "dispatch.accept", skip_all)]
pub async fn accept(app: &App, actor: &Actor, id: &str) -> AppResult<Offer> {
    let now = app.now();
    let txn = store::begin(&app.db).await?;
    let (key, offer) = load_own_offer(&txn, actor, id).await?;
    if offer.state == OfferState::Offered && now > offer.accept_deadline {
        return Err(AppError::FailedPrecondition(format!(
            "the offer expired at {}",
            offer.accept_deadline
        )));
    }
    let offer = save_offer(
        &txn,
        actor,
        offer,
        OfferStep {
            action: OfferAction::Accept,
            rpc: "AcceptOffer",
            payload: json!({}),
        },
        now,
        |_| {},
    )
    .await?;
    if !store::dispatch::move_capacity(
        &txn,
        offer.commitment_id,
        &offer.id,
        Movement::Consume,
        offer.person_days,
        now,
    )
    .await?
    {
        return Err(capacity_error());
    }
    store::timers::cancel(&txn, TimerKind::OfferExpiry, &offer.id, now);
    set_line_state(&txn, key, offer.line_index, LineState::Accepted).await?;
    txn.commit().await?;
    Ok(offer)
}

async fn set_line_state<C: ConnectionTrait>(
    conn: &C,
    key: i64,
    line_index: u32,
    state: LineState,
) -> AppResult<()> {
    if let Some(line) = store::dispatch::lines(conn, key)
        .await?
        .into_iter()
        .find(|l| l.line_index == line_index)
    {
        store::dispatch::update_line(conn, line.id, state, line.next_candidate).await?;
    }
    Ok(())
}

#[tracing::instrument(name = "dispatch.decline", skip_all)]
pub async fn decline(
    app: &App,
    actor: &Actor,
    id: &str,
    reason: DeclineReason,
    note: &str,
) -> AppResult<Offer> {
    let now = app.now();
    let txn = store::begin(&app.db).await?;
    let (key, offer) = load_own_offer(&txn, actor, id).await?;
    let payload = json!({ "reason": reason, "note": note });
    let offer = save_offer(
        &txn,
        actor,
        offer,
        OfferStep {
            action: OfferAction::Decline,
            rpc: "DeclineOffer",
            payload,
        },
        now,
        |o| {
            o.decline_reason = Some(reason);
            o.decline_note = (!note.is_empty()).then(|| note.to_owned());
        },
    )
    .await?;
    move_on(&txn, app, &offer, key, now).await?;
    txn.commit().await?;
    Ok(offer)
}

/// After a decline or an expiry: release the hold, offer the line to the
/// next provider of the plan, or let the request wait for capacity; then
/// try the waiting requests with the capacity released.
async fn move_on(
    conn: &crate::store::Txn,
    app: &App,
    offer: &Offer,
    key: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if !store::dispatch::move_capacity(
        conn,
        offer.commitment_id,
        &offer.id,
        Movement::ReleaseHeld,
        offer.person_days,
        now,
    )
    .await?
    {
        return Err(capacity_error());
    }
    store::timers::cancel(conn, TimerKind::OfferExpiry, &offer.id, now);
    let matcher = Actor::system("matcher");
    let stored = store::requests::find_by_keys(conn, vec![key])
        .await?
        .pop()
        .ok_or_else(|| not_found(&offer.support_request_id))?;
    if !matches!(
        stored.request.state,
        RequestState::Dispatching | RequestState::WaitingCapacity
    ) {
        // Withdrawn (or otherwise past dispatch): nothing more to offer.
        return Ok(());
    }
    let country = country_of(conn, &stored.request).await?;
    let line = store::dispatch::lines(conn, key)
        .await?
        .into_iter()
        .find(|l| l.line_index == offer.line_index)
        .ok_or_else(|| AppError::FailedPrecondition("the offer's line has no plan".into()))?;
    if offer_next(conn, &matcher, &stored, &country, &line, app, now)
        .await?
        .is_none()
        && stored.request.state == RequestState::Dispatching
    {
        let step = Step {
            action: Action::Wait,
            rpc: "WaitForCapacity",
            payload: json!({ "line": offer.line_index }),
        };
        apply(conn, &matcher, &stored, now, vec![step], Changes::default()).await?;
    }
    rematch_waiting(conn, app, now).await
}

/// Offers the waiting lines of waiting requests, in priority order, to the
/// best-ranked provider that now has capacity; a request whose lines all have
/// an offer again goes back to DISPATCHING.
pub(crate) async fn rematch_waiting(
    conn: &crate::store::Txn,
    app: &App,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let keys = store::dispatch::waiting_request_keys(conn).await?;
    let mut waiting: Vec<StoredRequest> = store::requests::find_by_keys(conn, keys)
        .await?
        .into_iter()
        .filter(|s| s.request.state == RequestState::WaitingCapacity)
        .collect();
    let key = |s: &StoredRequest| QueueKey {
        total: s.request.priority.map(|p| p.total).unwrap_or(0.0),
        kind: s.request.organisation_kind,
        submitted_at: s.request.submitted_at.unwrap_or(s.request.created_at),
    };
    waiting.sort_by(|a, b| queue_order(&key(a), &key(b)));
    let matcher = Actor::system("matcher");
    for stored in waiting {
        let country = country_of(conn, &stored.request).await?;
        let proposals = proposals(conn, &stored.request, now).await?;
        let mut still_waiting = false;
        let offers = store::dispatch::offers_of_request(conn, stored.key).await?;
        for line in store::dispatch::lines(conn, stored.key).await? {
            if line.state != LineState::Waiting {
                continue;
            }
            // Providers already offered this line (and who declined or let it
            // expire) are not asked again; the rest of the plan comes first,
            // then anyone able now, best first.
            let tried: Vec<&str> = offers
                .iter()
                .filter(|o| o.line_index == line.line_index)
                .map(|o| o.provider.as_str())
                .collect();
            let mut plan: Vec<String> = line.plan[..line.next_candidate as usize].to_vec();
            let untried = line.plan[line.next_candidate as usize..]
                .iter()
                .cloned()
                .chain(
                    proposals[line.line_index as usize]
                        .proposal
                        .candidates
                        .iter()
                        .map(|c| c.provider.clone()),
                );
            let start = plan.len() as u32;
            for provider in untried {
                if !tried.contains(&provider.as_str())
                    && !plan[start as usize..].contains(&provider)
                {
                    plan.push(provider);
                }
            }
            let extended = DispatchLine {
                plan,
                next_candidate: start,
                ..line.clone()
            };
            store::dispatch::set_plan(conn, line.id, &extended.plan).await?;
            if offer_next(conn, &matcher, &stored, &country, &extended, app, now)
                .await?
                .is_none()
            {
                still_waiting = true;
            }
        }
        if !still_waiting {
            let step = Step {
                action: Action::Resume,
                rpc: "RematchWaiting",
                payload: json!({}),
            };
            apply(conn, &matcher, &stored, now, vec![step], Changes::default()).await?;
        }
    }
    Ok(())
}

/// Re-matches waiting requests in a transaction of its own.
pub(crate) async fn rematch_now(app: &App) -> AppResult<()> {
    let txn = store::begin(&app.db).await?;
    rematch_waiting(&txn, app, app.now()).await?;
    txn.commit().await?;
    Ok(())
}

/// An offer whose deadline passed unanswered expires, as a decline would.
pub(crate) async fn expire(
    conn: &crate::store::Txn,
    app: &App,
    id: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some((key, offer)) = store::dispatch::find_offer(conn, id).await? else {
        return Ok(());
    };
    if offer.state != OfferState::Offered {
        return Ok(());
    }
    let timer = Actor::system("timer");
    let offer = save_offer(
        conn,
        &timer,
        offer,
        OfferStep {
            action: OfferAction::Expire,
            rpc: "ExpireOffer",
            payload: json!({}),
        },
        now,
        |_| {},
    )
    .await?;
    move_on(conn, app, &offer, key, now).await
}

#[tracing::instrument(name = "dispatch.record_agreement", skip_all)]
pub async fn record_agreement(
    app: &App,
    actor: &Actor,
    id: &str,
    agreement: Agreement,
) -> AppResult<Offer> {
    let now = app.now();
    let txn = store::begin(&app.db).await?;
    let (key, offer) = load_own_offer(&txn, actor, id).await?;
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
            rpc: "RecordAgreement",
            payload,
        },
        now,
        |o| o.agreement = Some(agreement),
    )
    .await?;
    set_line_state(&txn, key, offer.line_index, LineState::Active).await?;
    advance_request(&txn, key, now, LineState::Active).await?;
    txn.commit().await?;
    Ok(offer)
}

#[tracing::instrument(name = "dispatch.complete", skip_all)]
pub async fn complete(app: &App, actor: &Actor, id: &str, delivery_note: &str) -> AppResult<Offer> {
    let now = app.now();
    let txn = store::begin(&app.db).await?;
    let (key, offer) = load_own_offer(&txn, actor, id).await?;
    let offer = save_offer(
        &txn,
        actor,
        offer,
        OfferStep {
            action: OfferAction::Complete,
            rpc: "CompleteAssignment",
            payload: json!({}),
        },
        now,
        |o| o.delivery_note = Some(delivery_note.to_owned()),
    )
    .await?;
    set_line_state(&txn, key, offer.line_index, LineState::Delivered).await?;
    if advance_request(&txn, key, now, LineState::Delivered).await? {
        let due = now
            .checked_add_months(Months::new(app.rules.offers.report_due_months))
            .unwrap_or(now);
        store::timers::schedule(&txn, TimerKind::ReportDue, &offer.support_request_id, due);
    }
    txn.commit().await?;
    Ok(offer)
}

/// When every line has reached `reached`, moves the request on: all active
/// makes it DISPATCHED, all delivered COMPLETED. True when it moved.
async fn advance_request(
    conn: &crate::store::Txn,
    key: i64,
    now: DateTime<Utc>,
    reached: LineState,
) -> AppResult<bool> {
    let lines = store::dispatch::lines(conn, key).await?;
    let done = |l: &DispatchLine| match reached {
        LineState::Active => matches!(l.state, LineState::Active | LineState::Delivered),
        _ => l.state == reached,
    };
    if lines.is_empty() || !lines.iter().all(done) {
        return Ok(false);
    }
    let stored = store::requests::find_by_keys(conn, vec![key])
        .await?
        .pop()
        .ok_or_else(|| AppError::NotFound("support request not found".into()))?;
    let (action, rpc, changes) = match reached {
        LineState::Active => (Action::AllActive, "AllLinesActive", Changes::default()),
        _ => (
            Action::AllDelivered,
            "AllLinesDelivered",
            Changes {
                completed_at: Some(now),
                ..Default::default()
            },
        ),
    };
    if stored.request.state.apply(action).is_err() {
        return Ok(false);
    }
    let step = Step {
        action,
        rpc,
        payload: json!({}),
    };
    apply(
        conn,
        &Actor::system("dispatch"),
        &stored,
        now,
        vec![step],
        changes,
    )
    .await?;
    Ok(true)
}

/// Withdraws a request's open offers and gives back their capacity
/// (held, or consumed but not delivered), in the withdrawal's transaction.
pub(crate) async fn withdraw_offers(
    conn: &crate::store::Txn,
    app: &App,
    actor: &Actor,
    key: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut released = false;
    for offer in store::dispatch::offers_of_request(conn, key).await? {
        if !offer.state.holds_capacity() {
            continue;
        }
        let movement = if offer.state == OfferState::Offered {
            Movement::ReleaseHeld
        } else {
            Movement::ReleaseConsumed
        };
        let offer = save_offer(
            conn,
            actor,
            offer,
            OfferStep {
                action: OfferAction::Withdraw,
                rpc: "WithdrawOffer",
                payload: json!({}),
            },
            now,
            |_| {},
        )
        .await?;
        if !store::dispatch::move_capacity(
            conn,
            offer.commitment_id,
            &offer.id,
            movement,
            offer.person_days,
            now,
        )
        .await?
        {
            return Err(capacity_error());
        }
        store::timers::cancel(conn, TimerKind::OfferExpiry, &offer.id, now);
        released = true;
    }
    for line in store::dispatch::lines(conn, key).await? {
        if line.state != LineState::Delivered {
            store::dispatch::update_line(conn, line.id, LineState::Withdrawn, line.next_candidate)
                .await?;
        }
    }
    if released {
        rematch_waiting(conn, app, now).await?;
    }
    Ok(())
}

/// Which of a provider's offers to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferView {
    /// Offers not taken on: the redacted view.
    Offers,
    /// Accepted, active and delivered: the full view.
    Assignments,
}

#[tracing::instrument(name = "dispatch.list_for_provider", skip_all)]
pub async fn list_for_provider(
    app: &App,
    actor: &Actor,
    view: OfferView,
    page: PageRequest,
) -> AppResult<Page<(Offer, SupportRequest)>> {
    require(actor, &[Role::Provider])?;
    let states: &[OfferState] = match view {
        OfferView::Offers => &[
            OfferState::Offered,
            OfferState::Declined,
            OfferState::Expired,
            OfferState::Withdrawn,
        ],
        OfferView::Assignments => &[
            OfferState::Accepted,
            OfferState::Active,
            OfferState::Delivered,
        ],
    };
    let rows = store::dispatch::offers_of_provider(
        &app.db,
        &actor.organisation,
        states,
        page.after.as_deref(),
        page.size,
    )
    .await?;
    let requests =
        store::requests::find_by_keys(&app.db, rows.iter().map(|(k, _)| *k).collect()).await?;
    let next_page_token = page.next_token(rows.len(), rows.last().map(|(_, o)| o.id.as_str()));
    let items = rows
        .into_iter()
        .filter_map(|(key, offer)| {
            requests
                .iter()
                .find(|s| s.key == key)
                .map(|s| (offer, s.request.clone()))
        })
        .collect();
    Ok(Page {
        items,
        next_page_token,
    })
}

/// The request an offer belongs to, for showing the offer to its provider.
#[tracing::instrument(name = "dispatch.request_of_offer", skip_all)]
pub async fn request_of_offer(app: &App, offer: &Offer) -> AppResult<SupportRequest> {
    Ok(
        store::requests::find_by_id(&app.db, &offer.support_request_id)
            .await?
            .ok_or_else(|| not_found(&offer.support_request_id))?
            .request,
    )
}

/// Files the summary report (Art. 16(9)) and records its distribution.
#[tracing::instrument(name = "dispatch.submit_report", skip_all)]
pub async fn submit_report(
    app: &App,
    actor: &Actor,
    id: &str,
    service_provided: &str,
    results: &str,
    lessons_learned: &str,
) -> AppResult<SupportRequest> {
    require(actor, &[Role::Requester])?;
    let now = app.now();
    let (txn, stored) = load_for_change(app, actor, id).await?;
    let recipients = report_recipients(stored.request.organisation_kind);
    let step = Step {
        action: Action::Report,
        rpc: "SubmitSummaryReport",
        payload: json!({ "recipients": recipients }),
    };
    apply(
        &txn,
        actor,
        &stored,
        now,
        vec![step],
        Changes {
            report_overdue: Some(false),
            ..Default::default()
        },
    )
    .await?;
    store::dispatch::insert_report(
        &txn,
        stored.key,
        &store::dispatch::Report {
            service_provided,
            results,
            lessons_learned,
            recipients: &recipients,
            submitted_at: now,
        },
    );
    store::timers::cancel(&txn, TimerKind::ReportDue, id, now);
    commit_and_read(txn, &app.db, id).await
}

#[tracing::instrument(name = "dispatch.close", skip_all)]
pub async fn close(app: &App, actor: &Actor, id: &str) -> AppResult<SupportRequest> {
    require(actor, &[Role::DutyOfficer])?;
    let now = app.now();
    let (txn, stored) = load_for_change(app, actor, id).await?;
    let step = Step {
        action: Action::Close,
        rpc: "CloseSupportRequest",
        payload: json!({}),
    };
    apply(&txn, actor, &stored, now, vec![step], Changes::default()).await?;
    commit_and_read(txn, &app.db, id).await
}
