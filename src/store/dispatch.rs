//! Capacity commitments and their ledger, dispatch lines, offers, summary
//! reports.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait},
};

use super::entities::{
    capacity_commitment as cc, capacity_entry, dispatch_line, offer, provider, summary_report,
};
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

fn commitment_from_row(r: cc::Model) -> Result<CapacityCommitment, DbErr> {
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

/// Moves `days` on a commitment's ledger with a guarded update: it applies
/// only if the commitment can bear it (nothing is ever overbooked, whatever
/// the concurrency), and records the movement. False when it cannot.
pub async fn move_capacity<C: ConnectionTrait>(
    conn: &C,
    commitment: i32,
    offer: &str,
    movement: Movement,
    days: u32,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let d = days as i32;
    let held = Expr::col(cc::Column::HeldDays);
    let consumed = Expr::col(cc::Column::ConsumedDays);
    let update = cc::Entity::update_many().filter(cc::Column::Id.eq(commitment));
    let update = match movement {
        Movement::Hold => update
            .col_expr(cc::Column::HeldDays, held.clone().add(d))
            .filter(
                held.add(consumed)
                    .add(d)
                    .lte(Expr::col(cc::Column::PersonDays)),
            ),
        Movement::Consume => update
            .col_expr(cc::Column::HeldDays, held.clone().sub(d))
            .col_expr(cc::Column::ConsumedDays, consumed.add(d))
            .filter(held.gte(d)),
        Movement::ReleaseHeld => update
            .col_expr(cc::Column::HeldDays, held.clone().sub(d))
            .filter(held.gte(d)),
        Movement::ReleaseConsumed => update
            .col_expr(cc::Column::ConsumedDays, consumed.clone().sub(d))
            .filter(consumed.gte(d)),
    };
    if update.exec(conn).await?.rows_affected != 1 {
        return Ok(false);
    }
    capacity_entry::Entity::insert(capacity_entry::ActiveModel {
        commitment_id: Set(commitment),
        offer_id: Set(Some(offer.to_owned())),
        kind: Set(movement.code().to_owned()),
        person_days: Set(d),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
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

/// Every provider with its capacity for `service` on `day` and its record of
/// answering offers: the in-memory view matching works on.
pub async fn pool<C: ConnectionTrait>(
    conn: &C,
    service: ServiceType,
    day: NaiveDate,
) -> Result<Vec<Pool>, DbErr> {
    // The registry of providers is small (tens to thousands): read it whole.
    let providers = super::registry::list_providers(conn, None, i64::MAX as u64).await?;
    let commitments = cc::Entity::find()
        .filter(cc::Column::Service.eq(service.as_str()))
        .filter(cc::Column::PeriodStart.lte(day))
        .filter(cc::Column::PeriodEnd.gte(day))
        .all(conn)
        .await?;
    // Each provider's record of answering offers, counted in the database.
    let answered: Vec<(String, String, i64)> = offer::Entity::find()
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
    Ok(providers
        .into_iter()
        .map(|p| {
            let mine = commitments.iter().filter(|c| c.provider_id == p.id);
            let committed: i32 = mine.clone().map(|c| c.person_days).sum();
            // A hold must fit in one commitment: what counts is the largest free part.
            let free: i32 = mine
                .map(|c| c.person_days - c.held_days - c.consumed_days)
                .max()
                .unwrap_or(0);
            let mut accepted = 0;
            let mut answers = 0;
            for (_, state, n) in answered.iter().filter(|(id, _, _)| *id == p.id) {
                answers += n;
                if !matches!(state.as_str(), "DECLINED" | "EXPIRED") {
                    accepted += n;
                }
            }
            Pool {
                committed: committed as u32,
                free: Ord::max(free, 0) as u32,
                accepted: accepted as u32,
                answered: answers as u32,
                provider: p,
            }
        })
        .collect())
}

// --- Dispatch lines ---

/// The plan of one granted line and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchLine {
    pub id: i32,
    pub line_index: u32,
    pub state: LineState,
    pub plan: Vec<String>,
    pub next_candidate: u32,
    pub justification: String,
}

pub async fn insert_line<C: ConnectionTrait>(
    conn: &C,
    request_key: i64,
    line_index: u32,
    plan: &[String],
    justification: &str,
) -> Result<i32, DbErr> {
    let row = dispatch_line::ActiveModel {
        support_request_id: Set(request_key),
        line_index: Set(line_index as i32),
        state: Set(LineState::Offered.as_str().to_owned()),
        plan: Set(to_json(plan)),
        next_candidate: Set(0),
        justification: Set(justification.to_owned()),
        ..Default::default()
    };
    Ok(dispatch_line::Entity::insert(row)
        .exec(conn)
        .await?
        .last_insert_id)
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
                id: r.id,
                line_index: r.line_index as u32,
                state: parse_code("dispatch_lines.state", &r.state)?,
                plan: from_json("dispatch_lines.plan", &r.plan)?,
                next_candidate: r.next_candidate as u32,
                justification: r.justification,
            })
        })
        .collect()
}

pub async fn update_line<C: ConnectionTrait>(
    conn: &C,
    id: i32,
    state: LineState,
    next_candidate: u32,
) -> Result<(), DbErr> {
    dispatch_line::Entity::update_many()
        .col_expr(dispatch_line::Column::State, Expr::value(state.as_str()))
        .col_expr(
            dispatch_line::Column::NextCandidate,
            Expr::value(next_candidate as i32),
        )
        .filter(dispatch_line::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Replaces a line's plan (re-matching appends candidates).
pub async fn set_plan<C: ConnectionTrait>(conn: &C, id: i32, plan: &[String]) -> Result<(), DbErr> {
    dispatch_line::Entity::update_many()
        .col_expr(dispatch_line::Column::Plan, Expr::value(to_json(plan)))
        .filter(dispatch_line::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Keys of requests with a line waiting for capacity.
pub async fn waiting_request_keys<C: ConnectionTrait>(conn: &C) -> Result<Vec<i64>, DbErr> {
    dispatch_line::Entity::find()
        .filter(dispatch_line::Column::State.eq(LineState::Waiting.as_str()))
        .select_only()
        .column(dispatch_line::Column::SupportRequestId)
        .distinct()
        .into_tuple::<i64>()
        .all(conn)
        .await
}

// --- Offers ---

pub async fn insert_offer<C: ConnectionTrait>(
    conn: &C,
    request_key: i64,
    o: &Offer,
) -> Result<(), DbErr> {
    offer::Entity::insert(offer::ActiveModel {
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
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
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

/// Writes an offer's new state (and the fields of `o`) if it is still in `from`.
pub async fn save_offer<C: ConnectionTrait>(
    conn: &C,
    o: &Offer,
    from: OfferState,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
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
    let updated = offer::Entity::update_many()
        .set(row)
        .filter(offer::Column::Id.eq(o.id.as_str()))
        .filter(offer::Column::State.eq(from.as_str()))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
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

/// What providers took on (accepted, active, delivered) for the given
/// requests: (request key, provider, person-days).
pub async fn taken_on<C: ConnectionTrait>(
    conn: &C,
    keys: Vec<i64>,
) -> Result<Vec<(i64, String, u32)>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(offer::Entity::find()
        .filter(offer::Column::SupportRequestId.is_in(keys))
        .filter(offer::Column::State.is_in(["ACCEPTED", "ACTIVE", "DELIVERED"]))
        .all(conn)
        .await?
        .into_iter()
        .map(|o| (o.support_request_id, o.provider_id, o.person_days as u32))
        .collect())
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

// --- Summary reports ---

pub struct Report<'a> {
    pub service_provided: &'a str,
    pub results: &'a str,
    pub lessons_learned: &'a str,
    pub recipients: &'a [&'a str],
    pub submitted_at: DateTime<Utc>,
}

/// Deferred: written with the transaction's next statement or its commit.
pub fn insert_report(txn: &super::Txn, request_key: i64, r: &Report<'_>) {
    let insert = summary_report::Entity::insert(summary_report::ActiveModel {
        support_request_id: Set(request_key),
        service_provided: Set(r.service_provided.to_owned()),
        results: Set(r.results.to_owned()),
        lessons_learned: Set(r.lessons_learned.to_owned()),
        recipients: Set(to_json(r.recipients)),
        submitted_at: Set(r.submitted_at),
    });
    txn.defer(insert.build(txn.get_database_backend()));
}

/// Whether the provider exists (for commitments).
pub async fn provider_exists<C: ConnectionTrait>(conn: &C, id: &str) -> Result<bool, DbErr> {
    Ok(provider::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .is_some())
}
