//! Durable timers: due times in the database, claimed with a lease so that
//! several server processes fire each exactly once, and a crashed one's
//! timers are claimed again when its lease runs out.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};

use super::entities::timer;
use super::parse_code;
use crate::domain::dispatch::TimerKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub id: i64,
    pub kind: TimerKind,
    pub target: String,
    pub due_at: DateTime<Utc>,
}

/// Schedules a timer, written with the transaction's other deferred writes.
pub fn schedule(txn: &super::Txn, kind: TimerKind, target: &str, due_at: DateTime<Utc>) {
    let insert = timer::Entity::insert(timer::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        target: Set(target.to_owned()),
        due_at: Set(due_at),
        lease_until: Set(None),
        lease_owner: Set(None),
        fired_at: Set(None),
        attempts: Set(0),
        ..Default::default()
    });
    txn.defer(insert.build(txn.get_database_backend()));
}

/// Claims up to `limit` due timers for `owner` until `now + lease`, and
/// commits the claim at once. On PostgreSQL the rows are picked with
/// `FOR UPDATE SKIP LOCKED`, so concurrent workers take different timers;
/// SQLite has a single writer and needs no lock clause.
pub async fn claim(
    db: &DatabaseConnection,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<Timer>, DbErr> {
    let claimable = || {
        timer::Entity::find()
            .filter(timer::Column::FiredAt.is_null())
            .filter(timer::Column::DueAt.lte(now))
            .filter(
                Condition::any()
                    .add(timer::Column::LeaseUntil.is_null())
                    .add(timer::Column::LeaseUntil.lt(now)),
            )
    };
    // Most ticks find nothing due: look first without the write lock, which
    // every writer of every replica would otherwise wait for each second.
    if claimable().one(db).await?.is_none() {
        return Ok(Vec::new());
    }
    let txn = super::begin(db).await?;
    let mut query = claimable()
        .order_by_asc(timer::Column::DueAt)
        .order_by_asc(timer::Column::Id)
        .limit(limit);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = query.all(&txn).await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    timer::Entity::update_many()
        .col_expr(timer::Column::LeaseUntil, Expr::value(now + lease))
        .col_expr(timer::Column::LeaseOwner, Expr::value(owner))
        .col_expr(
            timer::Column::Attempts,
            Expr::col(timer::Column::Attempts).add(1),
        )
        .filter(timer::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(Timer {
                id: r.id,
                kind: parse_code("timers.kind", &r.kind)?,
                target: r.target,
                due_at: r.due_at,
            })
        })
        .collect()
}

/// Marks a timer fired, in the transaction of what it does; false when it
/// already fired (another process came first), and then nothing is done.
pub async fn mark_fired<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let updated = timer::Entity::update_many()
        .col_expr(timer::Column::FiredAt, Expr::value(now))
        .filter(timer::Column::Id.eq(id))
        .filter(timer::Column::FiredAt.is_null())
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Cancels the pending timers of a kind for a target (the thing they would
/// do is done); they count as fired. Written with the transaction's other
/// deferred writes.
pub fn cancel(txn: &super::Txn, kind: TimerKind, target: &str, now: DateTime<Utc>) {
    let update = timer::Entity::update_many()
        .col_expr(timer::Column::FiredAt, Expr::value(now))
        .filter(timer::Column::Kind.eq(kind.as_str()))
        .filter(timer::Column::Target.eq(target))
        .filter(timer::Column::FiredAt.is_null());
    txn.defer(update.build(txn.get_database_backend()));
}

/// Timers not yet fired (for operators and tests): (kind, target, due).
pub async fn pending<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<(String, String, DateTime<Utc>)>, DbErr> {
    timer::Entity::find()
        .filter(timer::Column::FiredAt.is_null())
        .order_by_asc(timer::Column::DueAt)
        .select_only()
        .column(timer::Column::Kind)
        .column(timer::Column::Target)
        .column(timer::Column::DueAt)
        .into_tuple()
        .all(conn)
        .await
}

/// Whether a timer of `kind` is pending.
pub async fn any_pending<C: ConnectionTrait>(conn: &C, kind: TimerKind) -> Result<bool, DbErr> {
    Ok(timer::Entity::find()
        .filter(timer::Column::FiredAt.is_null())
        .filter(timer::Column::Kind.eq(kind.as_str()))
        .one(conn)
        .await?
        .is_some())
}
