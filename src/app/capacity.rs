//! Capacity commitments: administrators record them, providers read their
//! own, officers and auditors all; new capacity re-matches waiting requests.

use chrono::NaiveDate;
use serde_json::json;

use super::kernel::{self, Change};
use super::{App, AppError, AppResult, Page, PageRequest, dispatch, require};
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::command::Checked;
use crate::domain::dispatch::{CapacityCommitment, TimerKind};
use crate::domain::names::{self, CommitmentId};
use crate::domain::validation::Violations;
use crate::store;

pub fn commitment_name(c: &CapacityCommitment) -> String {
    names::capacity_commitment(&c.provider, c.id)
}

fn not_found(id: i32) -> AppError {
    AppError::NotFound(format!("capacity commitment {id} not found"))
}

/// Records a commitment of a registered provider (the door's constructor
/// checked it against the registry).
#[tracing::instrument(name = "capacity.create", skip_all)]
pub async fn create(
    app: &App,
    actor: &Actor,
    c: Checked<CapacityCommitment>,
) -> AppResult<CapacityCommitment> {
    require(actor, Operation::WriteRegistry)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let c = insert(&txn, app, actor, c.into_inner(), now).await?;
    txn.commit().await?;
    dispatch::rematch_after(app, [c.service].into()).await;
    Ok(c)
}

/// Records a checked commitment in `txn`: its row, its event and its timers.
pub(crate) async fn insert(
    txn: &store::Txn,
    app: &App,
    actor: &Actor,
    mut c: CapacityCommitment,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<CapacityCommitment> {
    c.id = store::dispatch::insert_commitment(txn, &c, now).await?;
    c.held = 0;
    c.consumed = 0;
    kernel::record(
        txn,
        actor,
        now,
        Change {
            action: "CreateCapacityCommitment",
            resource: commitment_name(&c),
            from: "",
            to: "",
            payload: json!({ "service": c.service, "person_days": c.person_days,
                             "period_start": c.period_start, "period_end": c.period_end }),
        },
    );
    schedule_start(txn, &c, now);
    super::preparedness::schedule_end(txn, app, &c, now);
    Ok(c)
}

/// Changes the size or period; never below what is held and consumed.
#[tracing::instrument(name = "capacity.update", skip_all)]
pub async fn update(
    app: &App,
    actor: &Actor,
    id: CommitmentId,
    merge: impl FnOnce(&CapacityCommitment) -> Result<Checked<CapacityCommitment>, Violations>,
) -> AppResult<CapacityCommitment> {
    require(actor, Operation::WriteRegistry)?;
    let CommitmentId(id) = id;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let current = store::dispatch::lock_commitment(&txn, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let next = merge(&current)?.into_inner();
    let next = resize(&txn, app, actor, &current, next, now).await?;
    txn.commit().await?;
    dispatch::rematch_after(app, [next.service].into()).await;
    Ok(next)
}

/// Changes `current` (locked in `txn`) to `next`: its row, its event and
/// its timers; never below what is held and consumed.
pub(crate) async fn resize(
    txn: &store::Txn,
    app: &App,
    actor: &Actor,
    current: &CapacityCommitment,
    next: CapacityCommitment,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<CapacityCommitment> {
    if !store::dispatch::resize_commitment(
        txn,
        current.id,
        next.person_days,
        next.period_start,
        next.period_end,
    )
    .await?
    {
        return Err(AppError::FailedPrecondition(format!(
            "{} person-days are held or consumed; the commitment cannot be smaller",
            current.held + current.consumed
        )));
    }
    kernel::record(
        txn,
        actor,
        now,
        Change {
            action: "UpdateCapacityCommitment",
            resource: commitment_name(current),
            from: "",
            to: "",
            payload: json!({ "person_days": next.person_days,
                             "period_start": next.period_start, "period_end": next.period_end }),
        },
    );
    schedule_start(txn, &next, now);
    if next.period_end != current.period_end {
        super::preparedness::schedule_end(txn, app, &next, now);
    }
    Ok(CapacityCommitment {
        held: current.held,
        consumed: current.consumed,
        ..next
    })
}

/// A period that begins later re-matches waiting requests when it begins.
fn schedule_start(conn: &store::Txn, c: &CapacityCommitment, now: chrono::DateTime<chrono::Utc>) {
    if c.period_start > now.date_naive() {
        let starts = c
            .period_start
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        store::timers::schedule(conn, TimerKind::CapacityStarts, &c.id.to_string(), starts);
    }
}

/// Who may read which commitments: a provider its own, officers,
/// administrators and auditors all.
fn readable(actor: &Actor, c: &CapacityCommitment) -> bool {
    actor.role != Role::Provider || c.provider == actor.organisation
}

fn readers(actor: &Actor) -> AppResult<()> {
    require(actor, Operation::ReadCapacity)
}

#[tracing::instrument(name = "capacity.get", skip_all)]
pub async fn get(app: &App, actor: &Actor, id: i32) -> AppResult<CapacityCommitment> {
    readers(actor)?;
    match store::dispatch::get_commitment(&app.db, id).await? {
        Some(c) if readable(actor, &c) => Ok(c),
        _ => Err(not_found(id)),
    }
}

#[tracing::instrument(name = "capacity.list", skip_all)]
pub async fn list(
    app: &App,
    actor: &Actor,
    provider: Option<&str>,
    page: PageRequest,
) -> AppResult<Page<CapacityCommitment>> {
    readers(actor)?;
    let provider = if actor.role == Role::Provider {
        Some(actor.organisation.as_str())
    } else {
        provider
    };
    let after = page
        .after
        .as_deref()
        .map(|a| a.parse::<i32>())
        .transpose()
        .map_err(|_| AppError::invalid("page_token", "is not a token this service issued"))?;
    let items = store::dispatch::list_commitments(&app.db, provider, after, page.size).await?;
    let last = items.last().map(|c| c.id.to_string());
    let next_page_token = page.next_token(items.len(), last.as_deref());
    Ok(Page {
        items,
        next_page_token,
    })
}

/// A commitment whose period has ended, with what became of what it
/// committed beyond incident response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    pub commitment: CapacityCommitment,
    /// Consumed by assignments (incident response).
    pub consumed_by_assignments: u32,
    /// Converted into preparedness services (accepted or delivered).
    pub converted: u32,
    /// Neither used nor converted.
    pub lapsed: u32,
}

/// Commitments ended by `ended_by` with capacity not used for incident
/// response: converted into preparedness services or lapsed (Art. 14(2)).
#[tracing::instrument(name = "capacity.unused", skip_all)]
pub async fn unused(
    app: &App,
    actor: &Actor,
    ended_by: Option<NaiveDate>,
) -> AppResult<Vec<Unused>> {
    require(actor, Operation::ReadUnusedCapacity)?;
    let day = ended_by.unwrap_or_else(|| app.now().date_naive());
    let ended = store::dispatch::ended_commitments(&app.db, day).await?;
    let conversions =
        store::preparedness::conversions_of(&app.db, ended.iter().map(|c| c.id).collect()).await?;
    Ok(ended
        .into_iter()
        .map(|c| {
            let converted = conversions
                .iter()
                .filter(|x| x.commitment_id == c.id && x.state.converts())
                .map(|x| x.person_days)
                .sum::<u32>();
            Unused {
                consumed_by_assignments: c.consumed.saturating_sub(converted),
                lapsed: c.person_days.saturating_sub(c.consumed),
                converted,
                commitment: c,
            }
        })
        .filter(|u| u.converted + u.lapsed > 0)
        .collect())
}
