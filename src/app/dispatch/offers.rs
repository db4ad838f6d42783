//! Offers and their answers: an offer holds capacity until the provider
//! accepts (consumed), declines or lets it expire (released, and the line
//! offered to the next provider of the plan), or the request is withdrawn.
//! Capacity that frees re-matches the requests waiting for it.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::plan::proposals;
use super::{country_of, demand, offer_name};
use crate::app::kernel::{self, Change, Loaded, Step};
use crate::app::requests::resource_name;
use crate::app::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation};
use crate::domain::codes::ServiceType;
use crate::domain::command::dispatch::Decline;
use crate::domain::dispatch::{LineState, Offer, OfferAction, OfferState, TimerKind};
use crate::domain::matching;
use crate::domain::names::OfferId;
use crate::domain::registry::Country;
use crate::domain::request::{Action, RequestState, SupportRequest, end_of};
use crate::store::{
    self, Txn,
    dispatch::{DispatchLine, Holder, Movement},
    registry::Snapshot,
};

fn offer_not_found(id: &str) -> AppError {
    AppError::NotFound(format!("{} not found", offer_name(id)))
}

/// Refuses what the support period's end stops: accepting an offer,
/// recording an agreement (Art. 16, 19(4)).
pub(super) fn support_running(r: &Loaded, now: DateTime<Utc>) -> AppResult<()> {
    match &r.request.support {
        Some(period) if r.request.support_ended(now) => Err(AppError::FailedPrecondition(format!(
            "the support period of {} ended at {}",
            crate::app::kernel::resource_name(&r.request.id),
            period.ends
        ))),
        _ => Ok(()),
    }
}

fn capacity_error() -> AppError {
    AppError::FailedPrecondition("the capacity ledger does not bear this movement".into())
}

/// Offers `line` to the next provider of its plan that has free capacity,
/// holding the capacity and setting the expiry timer; the line's state and
/// next candidate move in `line` (the caller writes it). None when no one
/// is left: the line then waits for capacity.
#[allow(clippy::too_many_arguments)]
pub(super) async fn offer_next(
    txn: &Txn,
    app: &App,
    actor: &Actor,
    r: &Loaded,
    registry: &Snapshot,
    country: &Country,
    line: &mut DispatchLine,
    now: DateTime<Utc>,
) -> AppResult<Option<Offer>> {
    let request = &r.request;
    if request.support_ended(now) {
        // No offer after the support period (Art. 16, 19(4)).
        line.state = LineState::Waiting;
        return Ok(None);
    }
    let d = demand(request, line.line_index as usize, country);
    let mut next = line.next_candidate as usize;
    while next < line.plan.len() {
        let provider_id = &line.plan[next];
        next += 1;
        // The registry may have changed since the plan: check again.
        let Some(provider) = registry.provider(provider_id) else {
            continue;
        };
        if matching::excluded(provider, &d).is_some() {
            continue;
        }
        let Some(commitment) = store::dispatch::commitment_for(
            txn,
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
            txn,
            commitment.id,
            Holder::Offer(&offer.id),
            Movement::Hold,
            d.person_days,
            now,
        )
        .await?
        {
            continue;
        }
        store::dispatch::insert_offer(txn, r.key, &offer);
        store::timers::schedule(
            txn,
            TimerKind::OfferExpiry,
            &offer.id,
            offer.accept_deadline,
        );
        line.state = LineState::Offered;
        line.next_candidate = next as u32;
        kernel::record(
            txn,
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
        );
        return Ok(Some(offer));
    }
    line.state = LineState::Waiting;
    line.next_candidate = next as u32;
    Ok(None)
}

/// Locks the request an offer belongs to, then reads the offer; an offer
/// of another provider is `NOT_FOUND`. With `provider` None (the service's
/// own changes), any offer.
pub(super) async fn load_offer(
    txn: &Txn,
    provider: Option<&str>,
    id: &str,
) -> AppResult<(Loaded, Offer)> {
    let Some(read) = store::requests::find_for_offer(txn, id).await? else {
        return Err(offer_not_found(id));
    };
    match store::dispatch::find_offer(txn, id).await? {
        Some((_, offer)) if provider.is_none_or(|p| offer.provider == p) => {
            Ok((Loaded::from(read), offer))
        }
        _ => Err(offer_not_found(id)),
    }
}

/// Loads an offer of the calling provider, its request locked.
pub(super) async fn load_own_offer(
    txn: &Txn,
    actor: &Actor,
    id: &str,
) -> AppResult<(Loaded, Offer)> {
    require(actor, Operation::Deliver)?;
    load_offer(txn, Some(&actor.organisation), id).await
}

/// One step of an offer: its chart action and the audit event it writes.
pub(super) struct OfferStep<'a> {
    pub action: OfferAction,
    pub event: &'a str,
    pub payload: serde_json::Value,
}

/// Writes an offer's transition with its audit event; a refused transition
/// changes nothing.
pub(super) async fn save_offer(
    txn: &Txn,
    actor: &Actor,
    mut offer: Offer,
    step: OfferStep<'_>,
    now: DateTime<Utc>,
    edit: impl FnOnce(&mut Offer),
) -> AppResult<Offer> {
    let from = offer.state;
    offer.state = from
        .apply(step.action)
        .map_err(|e| AppError::FailedPrecondition(e.to_string()))?;
    edit(&mut offer);
    store::dispatch::save_offer(txn, &offer, from, now).await?;
    kernel::record(
        txn,
        actor,
        now,
        Change {
            action: step.event,
            resource: offer_name(&offer.id),
            from: from.as_str(),
            to: offer.state.as_str(),
            payload: step.payload,
        },
    );
    Ok(offer)
}

/// Sets the state of the request's line of `line_index` (deferred).
pub(super) async fn set_line_state(
    txn: &Txn,
    key: i64,
    line_index: u32,
    state: LineState,
) -> AppResult<Vec<DispatchLine>> {
    let mut lines = store::dispatch::lines(txn, key).await?;
    if let Some(line) = lines.iter_mut().find(|l| l.line_index == line_index) {
        line.state = state;
        store::dispatch::save_line(txn, key, line);
    }
    Ok(lines)
}

#[tracing::instrument(name = "dispatch.accept", skip_all)]
pub async fn accept(app: &App, actor: &Actor, id: &OfferId) -> AppResult<Offer> {
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let (r, offer) = load_own_offer(&txn, actor, id).await?;
    if offer.state == OfferState::Offered && now > offer.accept_deadline {
        return Err(AppError::FailedPrecondition(format!(
            "the offer expired at {}",
            offer.accept_deadline
        )));
    }
    support_running(&r, now)?;
    let offer = save_offer(
        &txn,
        actor,
        offer,
        OfferStep {
            action: OfferAction::Accept,
            event: "AcceptOffer",
            payload: json!({}),
        },
        now,
        |_| {},
    )
    .await?;
    if !store::dispatch::move_capacity(
        &txn,
        offer.commitment_id,
        Holder::Offer(&offer.id),
        Movement::Consume,
        offer.person_days,
        now,
    )
    .await?
    {
        return Err(capacity_error());
    }
    store::timers::cancel(&txn, TimerKind::OfferExpiry, &offer.id, now);
    set_line_state(&txn, r.key, offer.line_index, LineState::Accepted).await?;
    txn.commit().await?;
    Ok(offer)
}

#[tracing::instrument(name = "dispatch.decline", skip_all)]
pub async fn decline(app: &App, actor: &Actor, command: Decline) -> AppResult<Offer> {
    let (id, reason, note) = (&command.offer, command.reason, command.note.as_str());
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let (mut r, offer) = load_own_offer(&txn, actor, id).await?;
    let payload = json!({ "reason": reason, "note": note });
    let offer = save_offer(
        &txn,
        actor,
        offer,
        OfferStep {
            action: OfferAction::Decline,
            event: "DeclineOffer",
            payload,
        },
        now,
        |o| {
            o.decline_reason = Some(reason);
            o.decline_note = (!note.is_empty()).then(|| note.to_owned());
        },
    )
    .await?;
    let freed = move_on(&txn, app, &mut r, &offer, now).await?;
    txn.commit().await?;
    rematch_after(app, freed).await;
    Ok(offer)
}

/// An offer whose deadline passed unanswered expires, as a decline would;
/// in the transaction of its timer. Returns the service whose capacity
/// freed, to re-match after the commit.
pub(crate) async fn expire(
    txn: &Txn,
    app: &App,
    id: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<ServiceType>> {
    let (mut r, offer) = match load_offer(txn, None, id).await {
        Ok(found) => found,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(err) => return Err(err),
    };
    if offer.state != OfferState::Offered {
        return Ok(None);
    }
    let timer = Actor::service("timer");
    let offer = save_offer(
        txn,
        &timer,
        offer,
        OfferStep {
            action: OfferAction::Expire,
            event: "ExpireOffer",
            payload: json!({}),
        },
        now,
        |_| {},
    )
    .await?;
    let freed = move_on(txn, app, &mut r, &offer, now).await?;
    Ok(freed.into_iter().next())
}

/// After a decline or an expiry: release the hold, offer the line to the
/// next provider of the plan, or let the request wait for capacity. Returns
/// the service whose capacity freed (re-matched after the commit).
async fn move_on(
    txn: &Txn,
    app: &App,
    r: &mut Loaded,
    offer: &Offer,
    now: DateTime<Utc>,
) -> AppResult<BTreeSet<ServiceType>> {
    if !store::dispatch::move_capacity(
        txn,
        offer.commitment_id,
        Holder::Offer(&offer.id),
        Movement::ReleaseHeld,
        offer.person_days,
        now,
    )
    .await?
    {
        return Err(capacity_error());
    }
    store::timers::cancel(txn, TimerKind::OfferExpiry, &offer.id, now);
    let service = r.request.granted_lines[offer.line_index as usize].service;
    if !matches!(
        r.request.state,
        RequestState::Dispatching | RequestState::WaitingCapacity
    ) {
        // Withdrawn (or otherwise past dispatch): nothing more to offer.
        return Ok(BTreeSet::from([service]));
    }
    let matcher = Actor::service("matcher");
    let registry = r.registry(app).await?;
    let country = country_of(&registry, &r.request)?;
    let mut line = store::dispatch::lines(txn, r.key)
        .await?
        .into_iter()
        .find(|l| l.line_index == offer.line_index)
        .ok_or_else(|| AppError::FailedPrecondition("the offer's line has no plan".into()))?;
    let offered = offer_next(txn, app, &matcher, r, &registry, country, &mut line, now).await?;
    store::dispatch::save_line(txn, r.key, &line);
    if offered.is_none() && r.request.state == RequestState::Dispatching {
        r.step(
            txn,
            &matcher,
            now,
            Step {
                action: Action::Wait,
                event: "WaitForCapacity",
                payload: json!({ "line": offer.line_index }),
            },
        )?;
        r.save(txn, now).await?;
    }
    Ok(BTreeSet::from([service]))
}

/// Re-matches after a commit that freed capacity of `services`. The change
/// is done; a failure here is logged, and the worker's sweep
/// (`rematch_all`) tries again, as it does after a crash between the
/// commit and this.
pub(crate) async fn rematch_after(app: &App, services: BTreeSet<ServiceType>) {
    if services.is_empty() {
        return;
    }
    let app = app.clone();
    let rematching = tokio::spawn(async move {
        for service in services {
            if let Err(err) = rematch(&app, service).await {
                tracing::warn!(%service, error = %err, "re-matching after freed capacity failed");
            }
        }
    });
    // The caller's answer waits for the re-matching, which takes
    // milliseconds, but not for long: with the database away it would wait
    // for connections. It then goes on by itself (and the worker's sweep
    // catches up whatever it could not do).
    let _ = tokio::time::timeout(REMATCH_WAIT, rematching).await;
}

/// How long an answer waits for the re-matching its change set off.
const REMATCH_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Re-matches the waiting requests of every service: the timer worker's
/// sweep, at its start and then every minute, for capacity whose freeing
/// was not followed by its re-matching (the process stopped in between).
pub(crate) async fn rematch_all(app: &App) -> AppResult<()> {
    for service in ServiceType::ALL {
        rematch(app, *service).await?;
    }
    Ok(())
}

/// Requests waiting for `service` read at a time, in queue order.
const WAITING_PAGE: u64 = 50;

/// Offers the waiting lines of `service` of the requests waiting for
/// capacity, in priority order, to the rest of their plan and then to the
/// best-ranked provider now able; each request in a transaction of its own,
/// so that its lock is the only request lock held. A request whose lines
/// all have an offer again goes back to DISPATCHING. Only the lines of the
/// service whose capacity freed are read, through the index on the lines'
/// state and service.
pub(crate) async fn rematch(app: &App, service: ServiceType) -> AppResult<()> {
    let mut after: Option<String> = None;
    loop {
        let waiting =
            store::dispatch::waiting_for(&app.db, service, after.as_deref(), WAITING_PAGE).await?;
        let Some((_, last)) = waiting.last() else {
            return Ok(());
        };
        after = Some(last.clone());
        let full = waiting.len() as u64 == WAITING_PAGE;
        for (key, _) in waiting {
            rematch_request(app, key, service).await?;
        }
        if !full {
            return Ok(());
        }
    }
}

async fn rematch_request(app: &App, key: i64, service: ServiceType) -> AppResult<()> {
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_key_for_change(&txn, key).await?;
    if r.request.state != RequestState::WaitingCapacity || r.request.support_ended(now) {
        return Ok(());
    }
    let registry = r.registry(app).await?;
    let country = country_of(&registry, &r.request)?;
    let proposals = proposals(&txn, &registry, &r.request, now).await?;
    let offers = store::dispatch::offers_of_request(&txn, key).await?;
    let matcher = Actor::service("matcher");
    let mut still_waiting = false;
    for mut line in store::dispatch::lines(&txn, key).await? {
        if line.state != LineState::Waiting {
            continue;
        }
        if line.service != service {
            still_waiting = true;
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
        let start = line.next_candidate as usize;
        let untried = line.plan.split_off(start).into_iter().chain(
            proposals[line.line_index as usize]
                .proposal
                .candidates
                .iter()
                .map(|c| c.provider.clone()),
        );
        for provider in untried {
            if !tried.contains(&provider.as_str()) && !line.plan[start..].contains(&provider) {
                line.plan.push(provider);
            }
        }
        let offered =
            offer_next(&txn, app, &matcher, &r, &registry, country, &mut line, now).await?;
        store::dispatch::save_line(&txn, key, &line);
        if offered.is_none() {
            still_waiting = true;
        }
    }
    if !still_waiting {
        r.step(
            &txn,
            &matcher,
            now,
            Step {
                action: Action::Resume,
                event: "RematchWaiting",
                payload: json!({}),
            },
        )?;
        r.save(&txn, now).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Withdraws a request's open offers and gives back their capacity (held,
/// or consumed but not delivered), in the withdrawal's transaction, whose
/// request lock is held. Returns the services whose capacity freed.
pub(crate) async fn withdraw_offers(
    txn: &Txn,
    actor: &Actor,
    key: i64,
    now: DateTime<Utc>,
) -> AppResult<BTreeSet<ServiceType>> {
    let mut freed = BTreeSet::new();
    let mut lines = store::dispatch::lines(txn, key).await?;
    for offer in store::dispatch::offers_of_request(txn, key).await? {
        if !offer.state.holds_capacity() {
            continue;
        }
        let movement = if offer.state == OfferState::Offered {
            Movement::ReleaseHeld
        } else {
            Movement::ReleaseConsumed
        };
        let offer = save_offer(
            txn,
            actor,
            offer,
            OfferStep {
                action: OfferAction::Withdraw,
                event: "WithdrawOffer",
                payload: json!({}),
            },
            now,
            |_| {},
        )
        .await?;
        if !store::dispatch::move_capacity(
            txn,
            offer.commitment_id,
            Holder::Offer(&offer.id),
            movement,
            offer.person_days,
            now,
        )
        .await?
        {
            return Err(capacity_error());
        }
        store::timers::cancel(txn, TimerKind::OfferExpiry, &offer.id, now);
        if let Some(line) = lines.iter().find(|l| l.line_index == offer.line_index) {
            freed.insert(line.service);
        }
    }
    for line in &mut lines {
        if line.state != LineState::Delivered {
            line.state = LineState::Withdrawn;
            store::dispatch::save_line(txn, key, line);
        }
    }
    Ok(freed)
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
    require(actor, Operation::Deliver)?;
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
    Ok(store::requests::find(&app.db, &offer.support_request_id)
        .await?
        .ok_or_else(|| kernel::not_found(&offer.support_request_id))?
        .request)
}

/// The end of a request's support period (Art. 16, 19(4)), in its timer's
/// transaction: its open offers are withdrawn and their capacity given
/// back, its lines still waiting or offered are withdrawn (accepted and
/// active work goes on to its delivery), and a request still being
/// dispatched is completed, its summary report due two months from now
/// (Art. 16(9)). Returns the services whose capacity freed.
pub(crate) async fn end_support(
    txn: &Txn,
    app: &App,
    r: &mut Loaded,
    now: DateTime<Utc>,
) -> AppResult<BTreeSet<ServiceType>> {
    let service = Actor::service("timer");
    let mut freed = BTreeSet::new();
    let Some(ends) = r
        .request
        .support
        .as_ref()
        .filter(|p| !p.ended)
        .map(|p| p.ends)
    else {
        return Ok(freed);
    };
    let mut lines = store::dispatch::lines(txn, r.key).await?;
    for offer in store::dispatch::offers_of_request(txn, r.key).await? {
        if offer.state != OfferState::Offered {
            continue;
        }
        let offer = save_offer(
            txn,
            &service,
            offer,
            OfferStep {
                action: OfferAction::Withdraw,
                event: "WithdrawOffer",
                payload: json!({ "reason": "the support period ended" }),
            },
            now,
            |_| {},
        )
        .await?;
        store::dispatch::move_capacity(
            txn,
            offer.commitment_id,
            Holder::Offer(&offer.id),
            Movement::ReleaseHeld,
            offer.person_days,
            now,
        )
        .await?;
        store::timers::cancel(txn, TimerKind::OfferExpiry, &offer.id, now);
        if let Some(line) = lines.iter().find(|l| l.line_index == offer.line_index) {
            freed.insert(line.service);
        }
    }
    for line in &mut lines {
        if matches!(line.state, LineState::Offered | LineState::Waiting) {
            line.state = LineState::Withdrawn;
            store::dispatch::save_line(txn, r.key, line);
        }
    }
    let payload = json!({ "ends": ends, "articles": "Art. 16, 19(4)" });
    if r.allows(Action::EndSupport) {
        r.step(
            txn,
            &service,
            now,
            Step {
                action: Action::EndSupport,
                event: "SupportPeriodEnded",
                payload,
            },
        )?;
        r.request.completed_at = Some(now);
        let due = now
            .checked_add_months(chrono::Months::new(app.rules.offers.report_due_months))
            .unwrap_or(now);
        store::timers::schedule(txn, TimerKind::ReportDue, &r.request.id, due);
    } else {
        r.event(txn, &service, now, "SupportPeriodEnded", payload);
    }
    if let Some(period) = r.request.support.as_mut() {
        period.ended = true;
    }
    r.save(txn, now).await?;
    Ok(freed)
}

/// A country's Council implementing acts changed (amended, repealed or
/// removed) in the same transaction: the support running under an act that
/// now ends earlier than the support period ends with it (Art. 19(4)). Each
/// such request records `CouncilActEnded` at once, for the Commission and
/// the duty officers; its end is carried out by its `SupportEnds` timer, due
/// at the act's end (at once, when that has passed).
pub(crate) async fn follow_council_acts(
    txn: &Txn,
    app: &App,
    actor: &Actor,
    country: &Country,
    now: DateTime<Utc>,
) -> AppResult<()> {
    for key in store::requests::supported_in_country(txn, &country.code).await? {
        let mut r = kernel::load_key_for_change(txn, key).await?;
        let Some(period) = r.request.support.as_ref().filter(|p| !p.ended) else {
            continue;
        };
        let Some(reference) = period.council_act.clone() else {
            continue;
        };
        let act = country
            .council_acts
            .iter()
            .find(|a| a.reference == reference);
        // An act taken out of the registry ends the support now.
        let act_ends = act.map_or(now, |a| end_of(a.last_day()));
        if act_ends >= period.ends {
            continue;
        }
        let ends = act_ends.max(period.starts);
        r.event(
            txn,
            actor,
            now,
            "CouncilActEnded",
            json!({
                "council_act": reference,
                "repealed_on": act.and_then(|a| a.repealed_on),
                "valid_until": act.map(|a| a.valid_until),
                "support_ends": ends,
                "article": "Art. 19(4)",
            }),
        );
        if let Some(period) = r.request.support.as_mut() {
            period.ends = ends;
        }
        let warning = ends - Duration::days(app.rules.support.warning_days.into());
        if warning > now {
            store::timers::schedule(txn, TimerKind::SupportEnding, &r.request.id, warning);
        }
        store::timers::schedule(txn, TimerKind::SupportEnds, &r.request.id, ends.max(now));
        r.save(txn, now).await?;
    }
    Ok(())
}
