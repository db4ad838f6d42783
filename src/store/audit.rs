//! Appending to the audit chain and reading it back.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement, sea_query::Expr,
};

use super::entities::{audit_event, audit_head, audit_pending};
use crate::domain::audit::{AuditEvent, Owner};

/// An event to append; its sequence and hashes are assigned when it is
/// sealed into the chain.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub time: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    pub organisation: String,
    pub action: String,
    pub resource: String,
    pub from_state: String,
    pub to_state: String,
    /// Compact JSON.
    pub payload: String,
}

/// Appends an event in `txn`: it is written (sealed on SQLite, queued for
/// the sequencer on PostgreSQL) at the commit, in the order appended.
pub fn append(txn: &super::Txn, event: NewEvent) {
    txn.record(event);
}

/// The chain's last sequence and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub sequence: i64,
    pub hash: String,
}

/// Reads the chain's head.
pub async fn head<C: ConnectionTrait>(conn: &C) -> Result<Head, DbErr> {
    let row = audit_head::Entity::find_by_id(1)
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("audit chain head".into()))?;
    Ok(Head {
        sequence: row.last_sequence,
        hash: row.last_hash,
    })
}

/// Chains `events` after `head`: the statements that write them and move
/// the head, and the new head.
pub(crate) fn seal(backend: DbBackend, head: Head, events: &[NewEvent]) -> (Vec<Statement>, Head) {
    let mut previous = head;
    let mut rows = Vec::with_capacity(events.len());
    for new in events {
        let mut event = AuditEvent {
            sequence: previous.sequence + 1,
            time: new.time,
            actor: new.actor.clone(),
            role: new.role.clone(),
            organisation: new.organisation.clone(),
            action: new.action.clone(),
            resource: new.resource.clone(),
            from_state: new.from_state.clone(),
            to_state: new.to_state.clone(),
            payload: new.payload.clone(),
            previous_hash: previous.hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        previous = Head {
            sequence: event.sequence,
            hash: event.hash.clone(),
        };
        rows.push(audit_event::ActiveModel {
            sequence: Set(event.sequence),
            occurred_at: Set(event.time),
            actor: Set(event.actor),
            role: Set(event.role),
            organisation: Set(event.organisation),
            action: Set(event.action),
            resource: Set(event.resource),
            from_state: Set(event.from_state),
            to_state: Set(event.to_state),
            payload: Set(event.payload),
            previous_hash: Set(event.previous_hash),
            hash: Set(event.hash),
        });
    }
    let mut statements: Vec<Statement> = Vec::with_capacity(rows.len() / ROWS_PER_INSERT + 2);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        statements.push(audit_event::Entity::insert_many(chunk).build(backend));
    }
    statements.extend([audit_head::Entity::update_many()
        .col_expr(
            audit_head::Column::LastSequence,
            Expr::value(previous.sequence),
        )
        .col_expr(
            audit_head::Column::LastHash,
            Expr::value(previous.hash.clone()),
        )
        .filter(audit_head::Column::Id.eq(1))
        .build(backend)]);
    (statements, previous)
}

/// Queues `events` for the sequencer, in order.
pub(crate) fn queue(backend: DbBackend, events: &[NewEvent]) -> Vec<Statement> {
    events
        .chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            audit_pending::Entity::insert_many(chunk.iter().map(|e| audit_pending::ActiveModel {
                occurred_at: Set(e.time),
                actor: Set(e.actor.clone()),
                role: Set(e.role.clone()),
                organisation: Set(e.organisation.clone()),
                action: Set(e.action.clone()),
                resource: Set(e.resource.clone()),
                from_state: Set(e.from_state.clone()),
                to_state: Set(e.to_state.clone()),
                payload: Set(e.payload.clone()),
                ..Default::default()
            }))
            .build(backend)
        })
        .collect()
}

/// Rows per multi-row insert of events: twelve values each stay well
/// within SQLite's 32,766 variables and PostgreSQL's 65,535 parameters
/// per statement, however many events one transaction records (an import
/// of a registry file records one per record).
const ROWS_PER_INSERT: usize = 1_000;

/// Events in sequence order, after `after`, optionally of one resource.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    resource: Option<&str>,
    after: i64,
    limit: u64,
) -> Result<Vec<AuditEvent>, DbErr> {
    list_matching(conn, resource, None, after, limit).await
}

/// Events in sequence order, after `after`, optionally of one resource and
/// one action: a watcher of one action skips the others here rather than
/// reading them all.
pub async fn list_matching<C: ConnectionTrait>(
    conn: &C,
    resource: Option<&str>,
    action: Option<&str>,
    after: i64,
    limit: u64,
) -> Result<Vec<AuditEvent>, DbErr> {
    let mut query = audit_event::Entity::find()
        .filter(audit_event::Column::Sequence.gt(after))
        .order_by_asc(audit_event::Column::Sequence)
        .limit(limit);
    if let Some(resource) = resource {
        query = query.filter(audit_event::Column::Resource.eq(resource));
    }
    if let Some(action) = action {
        query = query.filter(audit_event::Column::Action.eq(action));
    }
    Ok(query
        .all(conn)
        .await?
        .into_iter()
        .map(into_domain)
        .collect())
}

fn into_domain(m: audit_event::Model) -> AuditEvent {
    AuditEvent {
        sequence: m.sequence,
        time: m.occurred_at,
        actor: m.actor,
        role: m.role,
        organisation: m.organisation,
        action: m.action,
        resource: m.resource,
        from_state: m.from_state,
        to_state: m.to_state,
        payload: m.payload,
        previous_hash: m.previous_hash,
        hash: m.hash,
    }
}

/// Whose `resource` is (see `domain::audit::visibility`); None for resources
/// that no longer exist or that no one owns.
pub async fn owner_of<C: ConnectionTrait>(
    conn: &C,
    resource: &str,
) -> Result<Option<Owner>, DbErr> {
    use super::entities::offer;
    let third = |kind: &str| kind.starts_with("TC_");
    if let Some(id) = resource.strip_prefix("supportRequests/") {
        let row = super::requests::owner_of(conn, id).await?;
        return Ok(
            row.map(|(organisation, kind, contact_point)| Owner::Request {
                third_country: third(&kind),
                organisation,
                contact_point,
            }),
        );
    }
    if let Some(id) = resource.strip_prefix("offers/") {
        let Some(o) = offer::Entity::find_by_id(id.to_owned()).one(conn).await? else {
            return Ok(None);
        };
        let request = super::requests::owner_of_key(conn, o.support_request_id).await?;
        return Ok(
            request.map(|(organisation, kind, contact_point)| Owner::Offer {
                provider: o.provider_id,
                third_country: third(&kind),
                organisation,
                contact_point,
            }),
        );
    }
    if let Some(id) = resource.strip_prefix("conversions/") {
        let Some(c) = super::preparedness::find_conversion(conn, id).await? else {
            return Ok(None);
        };
        let kind = super::entities::organisation::Entity::find_by_id(c.organisation.clone())
            .one(conn)
            .await?
            .map(|o| o.kind)
            .unwrap_or_default();
        return Ok(Some(Owner::Conversion {
            provider: c.provider,
            organisation: c.organisation,
            third_country: third(&kind),
        }));
    }
    if let Some(id) = resource.strip_prefix("usageReports/") {
        return Ok(super::preparedness::find_report(conn, id)
            .await?
            .map(|r| Owner::UsageReport {
                third_country: r.view == crate::domain::usage::UsageView::Council,
            }));
    }
    let registry = ["countries/", "organisations/", "providers/"];
    Ok(registry
        .iter()
        .any(|p| resource.starts_with(p))
        .then_some(Owner::Registry))
}

/// The sequence of the last event, 0 when there is none.
pub async fn last_sequence<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    Ok(audit_head::Entity::find_by_id(1)
        .one(conn)
        .await?
        .map(|h| h.last_sequence)
        .unwrap_or(0))
}

/// Every event of these resources, in sequence order.
pub async fn of_resources<C: ConnectionTrait>(
    conn: &C,
    resources: Vec<String>,
) -> Result<Vec<AuditEvent>, DbErr> {
    Ok(audit_event::Entity::find()
        .filter(audit_event::Column::Resource.is_in(resources))
        .order_by_asc(audit_event::Column::Sequence)
        .all(conn)
        .await?
        .into_iter()
        .map(into_domain)
        .collect())
}

/// The advisory lock that elects one sequencer per PostgreSQL database
/// ("reserve" and 1, as a number).
const SEQUENCER_LOCK: i64 = 0x7265_7365_7276_6501;

fn sqlx_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)))
}

/// The sequencer of a PostgreSQL database: the one process that moves
/// committed events from `audit_pending` into the chain. It holds the
/// advisory lock `SEQUENCER_LOCK` on a connection of its own for as long as
/// it lives, so two processes never seal at once and the chain never forks;
/// when its process dies its connection closes, the lock with it, and
/// another process is elected. The chain's primary key (the sequence)
/// refuses a fork all the same.
pub struct Sequencer {
    conn: sea_orm::sqlx::PgConnection,
    head: Head,
}

impl Sequencer {
    /// Becomes the sequencer if no process is; None when one is.
    pub async fn elect(db: &sea_orm::DatabaseConnection) -> Result<Option<Sequencer>, DbErr> {
        use sea_orm::sqlx::Row;
        let pool = db.get_postgres_connection_pool();
        let mut conn = pool.acquire().await.map_err(sqlx_err)?;
        let won: bool = sea_orm::sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(SEQUENCER_LOCK)
            .fetch_one(&mut *conn)
            .await
            .map_err(sqlx_err)?
            .try_get(0)
            .map_err(sqlx_err)?;
        if !won {
            return Ok(None);
        }
        // The lock lives with this connection: it leaves the pool.
        let mut conn = conn.detach();
        let row =
            sea_orm::sqlx::query("SELECT last_sequence, last_hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut conn)
                .await
                .map_err(sqlx_err)?;
        let head = Head {
            sequence: row.try_get(0).map_err(sqlx_err)?,
            hash: row.try_get(1).map_err(sqlx_err)?,
        };
        Ok(Some(Sequencer { conn, head }))
    }

    /// Seals up to `limit` committed events, oldest queued first, and
    /// returns how many. The events, the head and the removal from the
    /// queue are one statement list sent as one simple query, which
    /// PostgreSQL runs as one transaction. After an error the sequencer
    /// must be dropped (its head may be stale); a new one is elected.
    pub async fn seal(&mut self, limit: i64) -> Result<usize, DbErr> {
        use sea_orm::sqlx::Row;
        let rows = sea_orm::sqlx::query(
            "SELECT id, occurred_at, actor, role, organisation, action, resource, from_state, \
             to_state, payload FROM audit_pending ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut self.conn)
        .await
        .map_err(sqlx_err)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            ids.push(row.try_get::<i64, _>(0).map_err(sqlx_err)?);
            events.push(NewEvent {
                time: row.try_get(1).map_err(sqlx_err)?,
                actor: row.try_get(2).map_err(sqlx_err)?,
                role: row.try_get(3).map_err(sqlx_err)?,
                organisation: row.try_get(4).map_err(sqlx_err)?,
                action: row.try_get(5).map_err(sqlx_err)?,
                resource: row.try_get(6).map_err(sqlx_err)?,
                from_state: row.try_get(7).map_err(sqlx_err)?,
                to_state: row.try_get(8).map_err(sqlx_err)?,
                payload: row.try_get(9).map_err(sqlx_err)?,
            });
        }
        let backend = DbBackend::Postgres;
        let (mut statements, head) = seal(backend, self.head.clone(), &events);
        statements.push(
            audit_pending::Entity::delete_many()
                .filter(audit_pending::Column::Id.is_in(ids))
                .build(backend),
        );
        let sql = statements
            .iter()
            .map(|s| {
                let values = s.values.as_ref().map_or(&[][..], |v| &v.0[..]);
                sea_orm::sea_query::inject_parameters(
                    &s.sql,
                    values,
                    &sea_orm::sea_query::PostgresQueryBuilder,
                )
            })
            .collect::<Vec<_>>()
            .join(";\n");
        sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await
            .map_err(sqlx_err)?;
        self.head = head;
        Ok(events.len())
    }
}

/// Waits until every event committed before the call is sealed into the
/// chain, for at most `within`: readers of the chain (lists, verification,
/// a request's history) call it first, so that a write they follow shows.
/// At once on SQLite, where events are sealed by their writers.
pub async fn settle(
    db: &sea_orm::DatabaseConnection,
    within: std::time::Duration,
) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let newest = audit_pending::Entity::find()
        .select_only()
        .column_as(audit_pending::Column::Id.max(), "newest")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    let Some(newest) = newest else {
        return Ok(());
    };
    super::txn::shared(db).sealer.notify_one();
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        tokio::time::sleep(pause).await;
        let left = audit_pending::Entity::find()
            .filter(audit_pending::Column::Id.lte(newest))
            .select_only()
            .column(audit_pending::Column::Id)
            .into_tuple::<i64>()
            .one(db)
            .await?;
        if left.is_none() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                pending = newest,
                "audit events are still unsealed; is a sequencer running?"
            );
            return Ok(());
        }
        pause = (pause * 2).min(std::time::Duration::from_millis(20));
    }
}
