//! Capacity commitments and their ledger, dispatch lines, offers, summary
//! reports.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait},
};

use super::entities::{capacity_commitment as cc, capacity_entry, dispatch_line, offer, provider};
use super::{from_json, parse_code, to_json};
use crate::domain::codes::ServiceType;
use crate::domain::dispatch::{Agreement, CapacityCommitment, LineState, Offer, OfferState};
use crate::domain::matching::Pool;

// --- Capacity commitments and the ledger ---

pub async fn insert_commitment<C: ConnectionTrait>(
    conn: &C,
    c: &CapacityCommitment,
    now: DateTime<Utc>,
) -> Result<i32, DbErr> {
    let row = cc::ActiveModel {
        provider_id: Set(c.provider.clone()),
        service: Set(c.service.as_str().to_owned()),
        person_days: Set(c.person_days as i32),
        held_days: Set(0),
        consumed_days: Set(0),
        period_start: Set(c.period_start),
        period_end: Set(c.period_end),
        created_at: Set(now),
        ..Default::default()
    };
    Ok(cc::Entity::insert(row).exec(conn).await?.last_insert_id)
}

/// Changes the size and period of a commitment, never below what is held
/// and consumed. False when the commitment is missing or too small.
pub async fn resize_commitment<C: ConnectionTrait>(
    conn: &C,
    id: i32,
    person_days: u32,
    period_start: NaiveDate,
    period_end: NaiveDate,
) -> Result<bool, DbErr> {
    let updated = cc::Entity::update_many()
        .col_expr(cc::Column::PersonDays, Expr::value(person_days as i32))
        .col_expr(cc::Column::PeriodStart, Expr::value(period_start))
        .col_expr(cc::Column::PeriodEnd, Expr::value(period_end))
        .filter(cc::Column::Id.eq(id))
        .filter(
            Expr::col(cc::Column::HeldDays)
                .add(Expr::col(cc::Column::ConsumedDays))
                .lte(person_days as i32),
        )
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

pub async fn get_commitment<C: ConnectionTrait>(
    conn: &C,
    id: i32,
) -> Result<Option<CapacityCommitment>, DbErr> {
    cc::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(commitment_from_row)
        .transpose()
}

/// A commitment, its row locked until the transaction ends (on
/// PostgreSQL), so that its ledger does not move under a change of it.
pub async fn lock_commitment(
    txn: &super::Txn,
    id: i32,
) -> Result<Option<CapacityCommitment>, DbErr> {
    cc::Entity::find_by_id(id)
        .lock(sea_orm::sea_query::LockType::Update)
        .one(txn)
        .await?
        .map(commitment_from_row)
        .transpose()
}

pub async fn list_commitments<C: ConnectionTrait>(
    conn: &C,
    provider: Option<&str>,
    after: Option<i32>,
    limit: u64,
) -> Result<Vec<CapacityCommitment>, DbErr> {
    let mut query = cc::Entity::find().order_by_asc(cc::Column::Id).limit(limit);
    if let Some(p) = provider {
        query = query.filter(cc::Column::ProviderId.eq(p));
    }
    if let Some(after) = after {
        query = query.filter(cc::Column::Id.gt(after));
    }
    query
        .all(conn)
        .await?
        .into_iter()
        .map(commitment_from_row)
        .collect()
}

/// The commitment of `provider` for `service` over exactly that period,
/// locked until the transaction ends.
pub async fn lock_commitment_for_period(
    txn: &super::Txn,
    provider: &str,
    service: ServiceType,
    period_start: NaiveDate,
    period_end: NaiveDate,
) -> Result<Option<CapacityCommitment>, DbErr> {
    cc::Entity::find()
        .filter(cc::Column::ProviderId.eq(provider))
        .filter(cc::Column::Service.eq(service.as_str()))
        .filter(cc::Column::PeriodStart.eq(period_start))
        .filter(cc::Column::PeriodEnd.eq(period_end))
        .order_by_asc(cc::Column::Id)
        .lock(sea_orm::sea_query::LockType::Update)
        .one(txn)
        .await?
        .map(commitment_from_row)
        .transpose()
}

/// Commitments whose period ended on or before `day`, with days left unused.
pub async fn ended_commitments<C: ConnectionTrait>(
    conn: &C,
    ended_by: NaiveDate,
) -> Result<Vec<CapacityCommitment>, DbErr> {
    cc::Entity::find()
        .filter(cc::Column::PeriodEnd.lte(ended_by))
        .order_by_asc(cc::Column::ProviderId)
        .order_by_asc(cc::Column::PeriodEnd)
        .all(conn)
        .await?
        .into_iter()
        .map(commitment_from_row)
        .collect()
}

pub(crate) fn commitment_from_row(r: cc::Model) -> Result<CapacityCommitment, DbErr> {
    Ok(CapacityCommitment {
        id: r.id,
        provider: r.provider_id,
        service: parse_code("capacity_commitments.service", &r.service)?,
        person_days: r.person_days as u32,
        held: r.held_days as u32,
        consumed: r.consumed_days as u32,
        period_start: r.period_start,
        period_end: r.period_end,
    })
}

/// A movement of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Free to held (an offer is made).
    Hold,
    /// Held to consumed (the offer is accepted).
    Consume,
    /// Held back to free (declined, expired, withdrawn before acceptance).
    ReleaseHeld,
    /// Consumed back to free (withdrawn after acceptance, before delivery).
    ReleaseConsumed,
}

impl Movement {
    fn code(self) -> &'static str {
        match self {
            Movement::Hold => "HOLD",
            Movement::Consume => "CONSUME",
            Movement::ReleaseHeld => "RELEASE_HELD",
            Movement::ReleaseConsumed => "RELEASE_CONSUMED",
        }
    }
}

/// Whose hold a ledger movement is: an offer's or a conversion's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder<'a> {
    Offer(&'a str),
    Conversion(&'a str),
}

/// Moves `days` on a commitment's ledger and records the movement. A hold
/// is a guarded update, sent at once: it applies only if the commitment
/// has the days free (nothing is ever overbooked, whatever the
/// concurrency), and false says it had not. The other movements give back
/// or consume what an offer holds, which its request's lock keeps; they go
/// with the deferred writes, so that the commitment's row is locked only
/// from the last round trip to the commit, and the table's check
/// (`held_days >= 0 AND consumed_days >= 0 AND held_days + consumed_days
/// <= person_days`) refuses, with the whole transaction, a movement the
/// ledger would not bear.
pub async fn move_capacity(
    conn: &super::Txn,
    commitment: i32,
    holder: Holder<'_>,
    movement: Movement,
    days: u32,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let d = days as i32;
    let held = Expr::col(cc::Column::HeldDays);
    let consumed = Expr::col(cc::Column::ConsumedDays);
    let update = cc::Entity::update_many().filter(cc::Column::Id.eq(commitment));
    match movement {
        Movement::Hold => {
            let hold = update
                .col_expr(cc::Column::HeldDays, held.clone().add(d))
                .filter(
                    held.add(consumed)
                        .add(d)
                        .lte(Expr::col(cc::Column::PersonDays)),
                );
            if hold.exec(conn).await?.rows_affected != 1 {
                return Ok(false);
            }
        }
        Movement::Consume => conn.defer(
            update
                .col_expr(cc::Column::HeldDays, held.sub(d))
                .col_expr(cc::Column::ConsumedDays, consumed.add(d))
                .build(conn.get_database_backend()),
        ),
        Movement::ReleaseHeld => conn.defer(
            update
                .col_expr(cc::Column::HeldDays, held.sub(d))
                .build(conn.get_database_backend()),
        ),
        Movement::ReleaseConsumed => conn.defer(
            update
                .col_expr(cc::Column::ConsumedDays, consumed.sub(d))
                .build(conn.get_database_backend()),
        ),
    }
    let entry = capacity_entry::Entity::insert(capacity_entry::ActiveModel {
        commitment_id: Set(commitment),
        offer_id: Set(match holder {
            Holder::Offer(id) => Some(id.to_owned()),
            Holder::Conversion(_) => None,
        }),
        conversion_id: Set(match holder {
            Holder::Conversion(id) => Some(id.to_owned()),
            Holder::Offer(_) => None,
        }),
        kind: Set(movement.code().to_owned()),
        person_days: Set(d),
        created_at: Set(now),
        ..Default::default()
    });
    conn.defer(entry.build(conn.get_database_backend()));
    Ok(true)
}

/// What the ledger entries of a commitment add up to: (held, consumed).
pub async fn ledger_totals<C: ConnectionTrait>(
    conn: &C,
    commitment: i32,
) -> Result<(i64, i64), DbErr> {
    let entries = capacity_entry::Entity::find()
        .filter(capacity_entry::Column::CommitmentId.eq(commitment))
        .all(conn)
        .await?;
    let (mut held, mut consumed) = (0i64, 0i64);
    for e in entries {
        let d = e.person_days as i64;
        match e.kind.as_str() {
            "HOLD" => held += d,
            "CONSUME" => {
                held -= d;
                consumed += d
            }
            "RELEASE_HELD" => held -= d,
            "RELEASE_CONSUMED" => consumed -= d,
            other => return Err(DbErr::Custom(format!("unknown ledger movement {other}"))),
        }
    }
    Ok((held, consumed))
}

/// The commitment of `provider` for `service` covering `day` with at least
/// `days` free; the one ending first, so that short periods are used up first.
pub async fn commitment_for<C: ConnectionTrait>(
    conn: &C,
    provider: &str,
    service: ServiceType,
    day: NaiveDate,
    days: u32,
) -> Result<Option<CapacityCommitment>, DbErr> {
    let rows = cc::Entity::find()
        .filter(cc::Column::ProviderId.eq(provider))
        .filter(cc::Column::Service.eq(service.as_str()))
        .filter(cc::Column::PeriodStart.lte(day))
        .filter(cc::Column::PeriodEnd.gte(day))
        .order_by_asc(cc::Column::PeriodEnd)
        .order_by_asc(cc::Column::Id)
        .all(conn)
        .await?;
    for row in rows {
        let c = commitment_from_row(row)?;
        if c.free() >= days {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// The providers qualified for `service` with free capacity for it on
/// `day`, each with its capacity and its record of answering offers: the
/// in-memory view matching works on. A provider without free capacity can
/// be no candidate, so it is left out here.
pub async fn pool<C: ConnectionTrait>(
    conn: &C,
    registry: &super::registry::Snapshot,
    service: ServiceType,
    day: NaiveDate,
) -> Result<Vec<Pool>, DbErr> {
    use std::collections::HashMap;
    let commitments = cc::Entity::find()
        .filter(cc::Column::Service.eq(service.as_str()))
        .filter(cc::Column::PeriodStart.lte(day))
        .filter(cc::Column::PeriodEnd.gte(day))
        .all(conn)
        .await?;
    // (committed, largest free part): a hold must fit in one commitment.
    let mut capacity: HashMap<&str, (i32, i32)> = HashMap::new();
    for c in &commitments {
        let entry = capacity.entry(c.provider_id.as_str()).or_default();
        entry.0 += c.person_days;
        entry.1 = Ord::max(entry.1, c.person_days - c.held_days - c.consumed_days);
    }
    let providers: Vec<_> = registry
        .providers()
        .filter(|p| p.services.contains(&service))
        .filter_map(|p| {
            capacity
                .get(p.id.as_str())
                .filter(|(_, free)| *free > 0)
                .map(|c| (p, *c))
        })
        .collect();
    if providers.is_empty() {
        return Ok(Vec::new());
    }
    // Their record of answering offers, counted in the database.
    let answered: Vec<(String, String, i64)> = offer::Entity::find()
        .filter(offer::Column::ProviderId.is_in(providers.iter().map(|(p, _)| p.id.as_str())))
        .filter(offer::Column::State.is_in([
            "ACCEPTED",
            "ACTIVE",
            "DELIVERED",
            "DECLINED",
            "EXPIRED",
        ]))
        .select_only()
        .column(offer::Column::ProviderId)
        .column(offer::Column::State)
        .column_as(offer::Column::Id.count(), "answers")
        .group_by(offer::Column::ProviderId)
        .group_by(offer::Column::State)
        .into_tuple()
        .all(conn)
        .await?;
    // (accepted, answered) by provider.
    let mut record: HashMap<&str, (i64, i64)> = HashMap::new();
    for (provider, state, n) in &answered {
        let entry = record.entry(provider.as_str()).or_default();
        entry.1 += n;
        if !matches!(state.as_str(), "DECLINED" | "EXPIRED") {
            entry.0 += n;
        }
    }
    Ok(providers
        .into_iter()
        .map(|(p, (committed, free))| {
            let (accepted, answers) = record.get(p.id.as_str()).copied().unwrap_or_default();
            Pool {
                committed: committed as u32,
                free: free as u32,
                accepted: accepted as u32,
                answered: answers as u32,
                provider: p.clone(),
            }
        })
        .collect())
}

// --- Dispatch lines ---

/// The plan of one granted line and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchLine {
    pub line_index: u32,
    pub service: ServiceType,
    pub state: LineState,
    pub plan: Vec<String>,
    pub next_candidate: u32,
    pub justification: String,
}

/// Inserts the lines of an approved plan (deferred).
pub fn insert_lines(txn: &super::Txn, request_key: i64, lines: &[DispatchLine]) {
    if lines.is_empty() {
        return;
    }
    let rows = lines.iter().map(|l| dispatch_line::ActiveModel {
        support_request_id: Set(request_key),
        line_index: Set(l.line_index as i32),
        service: Set(l.service.as_str().to_owned()),
        state: Set(l.state.as_str().to_owned()),
        plan: Set(to_json(&l.plan)),
        next_candidate: Set(l.next_candidate as i32),
        justification: Set(l.justification.clone()),
        ..Default::default()
    });
    txn.defer(dispatch_line::Entity::insert_many(rows).build(txn.get_database_backend()));
}

pub async fn lines<C: ConnectionTrait>(
    conn: &C,
    request_key: i64,
) -> Result<Vec<DispatchLine>, DbErr> {
    dispatch_line::Entity::find()
        .filter(dispatch_line::Column::SupportRequestId.eq(request_key))
        .order_by_asc(dispatch_line::Column::LineIndex)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| {
            Ok(DispatchLine {
                line_index: r.line_index as u32,
                service: parse_code("dispatch_lines.service", &r.service)?,
                state: parse_code("dispatch_lines.state", &r.state)?,
                plan: from_json("dispatch_lines.plan", &r.plan)?,
                next_candidate: r.next_candidate as u32,
                justification: r.justification,
            })
        })
        .collect()
}

/// Writes a line's state, plan and next candidate (deferred).
pub fn save_line(txn: &super::Txn, request_key: i64, line: &DispatchLine) {
    let update = dispatch_line::Entity::update_many()
        .col_expr(
            dispatch_line::Column::State,
            Expr::value(line.state.as_str()),
        )
        .col_expr(
            dispatch_line::Column::Plan,
            Expr::value(to_json(&line.plan)),
        )
        .col_expr(
            dispatch_line::Column::NextCandidate,
            Expr::value(line.next_candidate as i32),
        )
        .filter(dispatch_line::Column::SupportRequestId.eq(request_key))
        .filter(dispatch_line::Column::LineIndex.eq(line.line_index as i32));
    txn.defer(update.build(txn.get_database_backend()));
}

/// Requests with a line of `service` waiting for capacity, in queue
/// order, after the queue key `after`: (row key, queue key). The index on
/// the lines' state and service finds them without reading the others.
pub async fn waiting_for<C: ConnectionTrait>(
    conn: &C,
    service: ServiceType,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<(i64, String)>, DbErr> {
    use super::entities::support_request as sr;
    let mut query = dispatch_line::Entity::find()
        .filter(dispatch_line::Column::State.eq(LineState::Waiting.as_str()))
        .filter(dispatch_line::Column::Service.eq(service.as_str()))
        .join(
            sea_orm::JoinType::InnerJoin,
            dispatch_line::Entity::belongs_to(sr::Entity)
                .from(dispatch_line::Column::SupportRequestId)
                .to(sr::Column::Id)
                .into(),
        )
        .filter(sr::Column::QueueKey.is_not_null())
        .select_only()
        .column(dispatch_line::Column::SupportRequestId)
        .column(sr::Column::QueueKey)
        .distinct()
        .order_by_asc(sr::Column::QueueKey)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(sr::Column::QueueKey.gt(after));
    }
    query.into_tuple().all(conn).await
}

// --- Offers ---

/// Inserts a new offer (deferred).
pub fn insert_offer(txn: &super::Txn, request_key: i64, o: &Offer) {
    let insert = offer::Entity::insert(offer::ActiveModel {
        id: Set(o.id.clone()),
        support_request_id: Set(request_key),
        support_request_uid: Set(o.support_request_id.clone()),
        line_index: Set(o.line_index as i32),
        provider_id: Set(o.provider.clone()),
        commitment_id: Set(o.commitment_id),
        person_days: Set(o.person_days as i32),
        state: Set(o.state.as_str().to_owned()),
        accept_deadline: Set(o.accept_deadline),
        decline_reason: Set(None),
        decline_note: Set(None),
        agreement_reference: Set(None),
        agreement_template_version: Set(None),
        agreement_signed_at: Set(None),
        agreement_liability: Set(None),
        agreement_affected_entity: Set(None),
        delivery_note: Set(None),
        created_at: Set(o.created_at),
        updated_at: Set(o.created_at),
    });
    txn.defer(insert.build(txn.get_database_backend()));
}

/// An offer with the row key of its request.
pub async fn find_offer<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<(i64, Offer)>, DbErr> {
    offer::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .map(|r| Ok((r.support_request_id, offer_from_row(r)?)))
        .transpose()
}

/// Writes an offer's new state (and the fields of `o`), guarded by the
/// state `from` it was read in. Its request's row lock (taken before the
/// offer was read) keeps the guard, so the write goes with the deferred
/// ones; debug builds send it at once and check the guard held.
pub async fn save_offer(
    txn: &super::Txn,
    o: &Offer,
    from: OfferState,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let agreement = o.agreement.as_ref();
    let row = offer::ActiveModel {
        state: Set(o.state.as_str().to_owned()),
        decline_reason: Set(o.decline_reason.map(|r| r.as_str().to_owned())),
        decline_note: Set(o.decline_note.clone()),
        agreement_reference: Set(agreement.map(|a| a.reference.clone())),
        agreement_template_version: Set(agreement.map(|a| a.template_version.clone())),
        agreement_signed_at: Set(agreement.map(|a| a.signed_at)),
        agreement_liability: Set(agreement.map(|a| a.liability_conditions.clone())),
        agreement_affected_entity: Set(agreement.and_then(|a| a.affected_entity.clone())),
        delivery_note: Set(o.delivery_note.clone()),
        updated_at: Set(now),
        ..Default::default()
    };
    let statement = offer::Entity::update_many()
        .set(row)
        .filter(offer::Column::Id.eq(o.id.as_str()))
        .filter(offer::Column::State.eq(from.as_str()))
        .build(txn.get_database_backend());
    if cfg!(debug_assertions) {
        let updated = txn.execute_raw(statement).await?;
        if updated.rows_affected() != 1 {
            return Err(DbErr::Custom(format!(
                "offer {} left {from} under its request's lock",
                o.id
            )));
        }
    } else {
        txn.defer(statement);
    }
    Ok(())
}

pub async fn offers_of_request<C: ConnectionTrait>(
    conn: &C,
    request_key: i64,
) -> Result<Vec<Offer>, DbErr> {
    offer::Entity::find()
        .filter(offer::Column::SupportRequestId.eq(request_key))
        .order_by_asc(offer::Column::CreatedAt)
        .order_by_asc(offer::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(offer_from_row)
        .collect()
}

/// A provider's offers in the given states, newest first, after `before` (an offer id).
pub async fn offers_of_provider<C: ConnectionTrait>(
    conn: &C,
    provider: &str,
    states: &[OfferState],
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<(i64, Offer)>, DbErr> {
    let mut condition = Condition::all()
        .add(offer::Column::ProviderId.eq(provider))
        .add(offer::Column::State.is_in(states.iter().map(|s| s.as_str())));
    if let Some(before) = before {
        condition = condition.add(offer::Column::Id.lt(before));
    }
    offer::Entity::find()
        .filter(condition)
        .order_by_desc(offer::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| Ok((r.support_request_id, offer_from_row(r)?)))
        .collect()
}

fn offer_from_row(r: offer::Model) -> Result<Offer, DbErr> {
    let agreement = match (r.agreement_reference, r.agreement_signed_at) {
        (Some(reference), Some(signed_at)) => Some(Agreement {
            reference,
            template_version: r.agreement_template_version.unwrap_or_default(),
            signed_at,
            liability_conditions: r.agreement_liability.unwrap_or_default(),
            affected_entity: r.agreement_affected_entity,
        }),
        _ => None,
    };
    Ok(Offer {
        id: r.id,
        support_request_id: r.support_request_uid,
        line_index: r.line_index as u32,
        provider: r.provider_id,
        commitment_id: r.commitment_id,
        person_days: r.person_days as u32,
        state: parse_code("offers.state", &r.state)?,
        accept_deadline: r.accept_deadline,
        decline_reason: r
            .decline_reason
            .map(|c| parse_code("offers.decline_reason", &c))
            .transpose()?,
        decline_note: r.decline_note,
        agreement,
        delivery_note: r.delivery_note,
        created_at: r.created_at,
    })
}

/// Whether the provider exists (for commitments).
pub async fn provider_exists<C: ConnectionTrait>(conn: &C, id: &str) -> Result<bool, DbErr> {
    Ok(provider::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .is_some())
}
