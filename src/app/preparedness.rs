//! Conversions of unused pre-committed capacity into preparedness services
//! (Art. 14(2)): duty officers propose and withdraw, the provider accepts,
//! declines and records the delivery; the commitment's end lapses what is
//! still only proposed. Each step is one transaction with its audit event
//! and its movement of the capacity ledger.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::capacity::commitment_name;
use super::kernel::{self, Change};
use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::command::preparedness::{
    CompleteConversion, DeclineConversion, ProposeConversion,
};
use crate::domain::dispatch::{CapacityCommitment, TimerKind};
use crate::domain::names::{self, ConversionId};
use crate::domain::preparedness::{self, Conversion, ConversionAction, ConversionState};
use crate::store::{
    self, Txn,
    dispatch::{Holder, Movement},
    preparedness::ConversionFilter,
};

fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!("{} not found", names::conversion(id)))
}

/// Whether `actor` may see `c`: duty officers, administrators and auditors
/// all; a provider its own; a requester those for its organisation; the
/// Commission those for third countries' users.
fn visible(registry: &store::registry::Snapshot, actor: &Actor, c: &Conversion) -> bool {
    match actor.role {
        Role::DutyOfficer | Role::Admin | Role::Auditor => true,
        Role::Provider => c.provider == actor.organisation,
        Role::Requester => c.organisation == actor.organisation,
        Role::Commission => registry
            .organisation(&c.organisation)
            .is_some_and(|o| o.kind.is_third_country()),
        Role::Service => false,
    }
}

fn record(txn: &Txn, actor: &Actor, now: DateTime<Utc>, c: &Conversion, event: &str, from: &str) {
    kernel::record(
        txn,
        actor,
        now,
        Change {
            action: event,
            resource: names::conversion(&c.id),
            from,
            to: c.state.as_str(),
            payload: json!({
                "capacity_commitment": names::capacity_commitment(&c.provider, c.commitment_id),
                "organisation": names::organisation(&c.organisation),
                "preparedness_service": c.preparedness_service,
                "person_days": c.person_days,
                "note": c.decline_note.as_deref().or(c.delivery_note.as_deref()),
                "article": "Art. 14(2)",
            }),
        },
    );
}

/// A duty officer proposes converting free person-days of a commitment
/// whose period has not ended into a preparedness service for an eligible
/// user. The proposal holds the days: never more than are free, whatever
/// the concurrency (the ledger's guarded hold).
#[tracing::instrument(name = "conversion.propose", skip_all)]
pub async fn propose(app: &App, actor: &Actor, cmd: ProposeConversion) -> AppResult<Conversion> {
    require(actor, Operation::ConvertCapacity)?;
    let now = app.now();
    let today = now.date_naive();
    let registry = app.registry_now().await?;
    let user = registry.organisation(&cmd.organisation).ok_or_else(|| {
        AppError::invalid(
            "conversion.organisation",
            "names no registered organisation",
        )
    })?;
    let txn = kernel::begin(app).await?;
    let commitment = store::dispatch::get_commitment(&txn, cmd.commitment.0)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "capacity commitment {} not found",
                cmd.commitment.0
            ))
        })?;
    if today > commitment.period_end {
        return Err(AppError::FailedPrecondition(format!(
            "{} ended on {}; what it left unused has lapsed",
            commitment_name(&commitment),
            commitment.period_end
        )));
    }
    let provider = registry.provider(&commitment.provider).ok_or_else(|| {
        AppError::FailedPrecondition(format!(
            "provider {} is not registered",
            commitment.provider
        ))
    })?;
    if let Some(why) = preparedness::refusal(user, registry.country(&user.country), provider, today)
    {
        return Err(AppError::FailedPrecondition(why));
    }
    let conversion = Conversion {
        id: uuid::Uuid::new_v4().to_string(),
        commitment_id: commitment.id,
        provider: commitment.provider.clone(),
        service: commitment.service,
        organisation: user.id.clone(),
        preparedness_service: cmd.preparedness_service,
        person_days: cmd.person_days,
        description: cmd.description,
        state: ConversionState::Proposed,
        proposed_by: actor.subject.clone(),
        decline_note: None,
        delivery_note: None,
        created_at: now,
        updated_at: now,
        delivered_at: None,
    };
    if !store::dispatch::move_capacity(
        &txn,
        commitment.id,
        Holder::Conversion(&conversion.id),
        Movement::Hold,
        conversion.person_days,
        now,
    )
    .await?
    {
        return Err(AppError::FailedPrecondition(format!(
            "{} has fewer than {} person-days free; none were converted",
            commitment_name(&commitment),
            conversion.person_days
        )));
    }
    store::preparedness::insert_conversion(&txn, &conversion);
    record(&txn, actor, now, &conversion, "ProposeConversion", "");
    txn.commit().await?;
    Ok(conversion)
}

/// One step of a conversion's chart, with the ledger's movement it makes.
struct Transition<'a> {
    operation: Operation,
    action: ConversionAction,
    event: &'a str,
    movement: Option<Movement>,
}

/// Takes `t` on the conversion `id` for `actor`, after `edit` fills in what
/// the step records; refused when the chart does not allow it, or when the
/// commitment's period is over for a step that needs it running.
async fn transition(
    app: &App,
    actor: &Actor,
    id: &ConversionId,
    t: Transition<'_>,
    edit: impl FnOnce(&mut Conversion, DateTime<Utc>),
) -> AppResult<Conversion> {
    require(actor, t.operation)?;
    let now = app.now();
    let registry = app.registry_now().await?;
    let txn = kernel::begin(app).await?;
    let mut c = match store::preparedness::lock_conversion(&txn, id).await? {
        Some(c) if visible(&registry, actor, &c) => c,
        _ => return Err(not_found(id)),
    };
    let from = c.state;
    c.state = from
        .apply(t.action)
        .map_err(|e| AppError::FailedPrecondition(e.to_string()))?;
    if t.action == ConversionAction::Accept {
        let commitment = store::dispatch::get_commitment(&txn, c.commitment_id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if now.date_naive() > commitment.period_end {
            return Err(AppError::FailedPrecondition(format!(
                "{} ended on {}; the proposal has lapsed",
                commitment_name(&commitment),
                commitment.period_end
            )));
        }
    }
    edit(&mut c, now);
    c.updated_at = now;
    finish(&txn, actor, now, &c, from, &t).await?;
    txn.commit().await?;
    Ok(c)
}

/// Writes a step: the guarded save, the ledger's movement, the event.
async fn finish(
    txn: &Txn,
    actor: &Actor,
    now: DateTime<Utc>,
    c: &Conversion,
    from: ConversionState,
    t: &Transition<'_>,
) -> AppResult<()> {
    if !store::preparedness::save_conversion(txn, c, from).await? {
        return Err(AppError::Aborted(format!(
            "{} changed meanwhile; read it again",
            names::conversion(&c.id)
        )));
    }
    if let Some(movement) = t.movement {
        store::dispatch::move_capacity(
            txn,
            c.commitment_id,
            Holder::Conversion(&c.id),
            movement,
            c.person_days,
            now,
        )
        .await?;
    }
    record(txn, actor, now, c, t.event, from.as_str());
    Ok(())
}

/// The provider accepts: the held person-days are consumed, converted.
#[tracing::instrument(name = "conversion.accept", skip_all)]
pub async fn accept(app: &App, actor: &Actor, id: &ConversionId) -> AppResult<Conversion> {
    let t = Transition {
        operation: Operation::DeliverConversion,
        action: ConversionAction::Accept,
        event: "AcceptConversion",
        movement: Some(Movement::Consume),
    };
    transition(app, actor, id, t, |_, _| {}).await
}

/// The provider declines, with its reason: the person-days are free again.
#[tracing::instrument(name = "conversion.decline", skip_all)]
pub async fn decline(app: &App, actor: &Actor, cmd: DeclineConversion) -> AppResult<Conversion> {
    let t = Transition {
        operation: Operation::DeliverConversion,
        action: ConversionAction::Decline,
        event: "DeclineConversion",
        movement: Some(Movement::ReleaseHeld),
    };
    let note = cmd.note;
    transition(app, actor, &cmd.conversion, t, |c, _| {
        c.decline_note = Some(note)
    })
    .await
}

/// A duty officer withdraws a proposal not yet answered.
#[tracing::instrument(name = "conversion.withdraw", skip_all)]
pub async fn withdraw(app: &App, actor: &Actor, id: &ConversionId) -> AppResult<Conversion> {
    let t = Transition {
        operation: Operation::ConvertCapacity,
        action: ConversionAction::Withdraw,
        event: "WithdrawConversion",
        movement: Some(Movement::ReleaseHeld),
    };
    transition(app, actor, id, t, |_, _| {}).await
}

/// The provider records the service's delivery, as for an assignment.
#[tracing::instrument(name = "conversion.complete", skip_all)]
pub async fn complete(app: &App, actor: &Actor, cmd: CompleteConversion) -> AppResult<Conversion> {
    let t = Transition {
        operation: Operation::DeliverConversion,
        action: ConversionAction::Deliver,
        event: "CompleteConversion",
        movement: None,
    };
    let note = cmd.delivery_note;
    transition(app, actor, &cmd.conversion, t, |c, now| {
        c.delivery_note = Some(note);
        c.delivered_at = Some(now);
    })
    .await
}

#[tracing::instrument(name = "conversion.get", skip_all)]
pub async fn get(app: &App, actor: &Actor, id: &ConversionId) -> AppResult<Conversion> {
    require(actor, Operation::ReadConversions)?;
    let registry = app.registry_now().await?;
    match store::preparedness::find_conversion(&app.db, id).await? {
        Some(c) if visible(&registry, actor, &c) => Ok(c),
        _ => Err(not_found(id)),
    }
}

/// Conversions the actor may see, filtered; a provider's and a requester's
/// lists hold only their own.
#[tracing::instrument(name = "conversion.list", skip_all)]
pub async fn list(
    app: &App,
    actor: &Actor,
    mut filter: ConversionFilter<'_>,
    page: PageRequest,
) -> AppResult<Page<Conversion>> {
    require(actor, Operation::ReadConversions)?;
    match actor.role {
        Role::Provider => filter.provider = Some(actor.organisation.as_str()),
        Role::Requester => filter.organisation = Some(actor.organisation.as_str()),
        _ => {}
    }
    let registry = app.registry_now().await?;
    let mut items = Vec::new();
    let mut after = page.after.clone();
    // The Commission's filter is by the user's country kind, which the
    // table does not hold: read on until the page is full.
    loop {
        let batch =
            store::preparedness::list_conversions(&app.db, &filter, after.as_deref(), page.size)
                .await?;
        let fetched = batch.len();
        after = batch.last().map(|c| c.id.clone());
        items.extend(
            batch
                .into_iter()
                .filter(|c| visible(&registry, actor, c))
                .take(page.size as usize - items.len()),
        );
        if fetched < page.size as usize || items.len() == page.size as usize {
            break;
        }
    }
    let last = items.last().map(|c| c.id.clone());
    let next_page_token = page.next_token(items.len(), last.as_deref());
    Ok(Page {
        items,
        next_page_token,
    })
}

/// The timers of a commitment's end: the notice `notice_days` before it
/// (at once when that is past), and the lapse after its last day. Their
/// target names the commitment and the last day they were set for, so a
/// period moved since leaves them without effect.
pub(crate) fn schedule_end(txn: &Txn, app: &App, c: &CapacityCommitment, now: DateTime<Utc>) {
    let over = preparedness::period_over(c.period_end);
    if over <= now {
        return;
    }
    let target = end_target(c);
    let notice = over
        - chrono::Duration::days(app.rules.reporting.conversion_notice_days.into())
        - chrono::Duration::days(1);
    store::timers::schedule(txn, TimerKind::CommitmentEnding, &target, notice.max(now));
    store::timers::schedule(txn, TimerKind::CommitmentEnds, &target, over);
}

fn end_target(c: &CapacityCommitment) -> String {
    format!("{}@{}", c.id, c.period_end)
}

/// The commitment a timer of its end names, if its period still ends then.
async fn ending(txn: &Txn, target: &str) -> AppResult<Option<CapacityCommitment>> {
    let Some((id, end)) = target.split_once('@') else {
        return Ok(None);
    };
    let Ok(id) = id.parse() else { return Ok(None) };
    Ok(store::dispatch::get_commitment(txn, id)
        .await?
        .filter(|c| c.period_end.to_string() == end))
}

/// The notice: a commitment ends soon with person-days free.
pub(crate) async fn notice(txn: &Txn, target: &str, now: DateTime<Utc>) -> AppResult<()> {
    if let Some(c) = ending(txn, target).await?
        && c.free() > 0
    {
        kernel::record(
            txn,
            &Actor::service("timer"),
            now,
            Change {
                action: "CapacityCommitmentEnding",
                resource: commitment_name(&c),
                from: "",
                to: "",
                payload: json!({
                    "period_end": c.period_end,
                    "unused_person_days": c.free(),
                    "next_step": "propose converting the unused person-days into preparedness services",
                    "article": "Art. 14(2)",
                }),
            },
        );
    }
    Ok(())
}

/// The end: open proposals lapse (their days are released) and what is
/// left neither used nor converted is recorded as lapsed.
pub(crate) async fn lapse(txn: &Txn, target: &str, now: DateTime<Utc>) -> AppResult<()> {
    let Some(c) = ending(txn, target).await? else {
        return Ok(());
    };
    let actor = Actor::service("timer");
    let open = store::preparedness::list_conversions(
        txn,
        &ConversionFilter {
            commitment: Some(c.id),
            state: Some(ConversionState::Proposed),
            ..Default::default()
        },
        None,
        u64::MAX >> 1,
    )
    .await?;
    let mut released = 0;
    for mut conversion in open {
        let from = conversion.state;
        conversion.state = ConversionState::Lapsed;
        conversion.updated_at = now;
        let t = Transition {
            operation: Operation::ConvertCapacity,
            action: ConversionAction::Lapse,
            event: "LapseConversion",
            movement: Some(Movement::ReleaseHeld),
        };
        finish(txn, &actor, now, &conversion, from, &t).await?;
        released += conversion.person_days;
    }
    let converted: u32 = store::preparedness::conversions_of(txn, vec![c.id])
        .await?
        .iter()
        .filter(|x| x.state.converts())
        .map(|x| x.person_days)
        .sum();
    kernel::record(
        txn,
        &actor,
        now,
        Change {
            action: "CapacityCommitmentEnded",
            resource: commitment_name(&c),
            from: "",
            to: "",
            payload: json!({
                "period_end": c.period_end,
                "committed_person_days": c.person_days,
                "converted_person_days": converted,
                "lapsed_person_days": (c.free() + released),
                "article": "Art. 14(2)",
            }),
        },
    );
    Ok(())
}
