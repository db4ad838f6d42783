//! Appending to the audit chain and reading it back.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, sea_query::Expr,
};

use super::entities::{audit_event, audit_head};
use crate::domain::audit::{AuditEvent, Owner};

/// An event to append; sequence and hashes are assigned here.
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

/// The chain's head inside a write transaction.
#[derive(Debug, Clone)]
pub struct Head {
    pub sequence: i64,
    pub hash: String,
    /// Moved by this transaction: written back at its commit.
    pub dirty: bool,
}

/// Appends one event, in the caller's write transaction, which holds the
/// write lock (SQLite's, or the head's row lock on PostgreSQL) from its
/// start, so the chain never forks. The head is read once per transaction
/// and written back once, at commit; each event costs one insert.
pub async fn append(txn: &super::Txn, new: NewEvent) -> Result<AuditEvent, DbErr> {
    txn.lock_for_writes().await?;
    let cached = txn.head.lock().expect("never poisoned").clone();
    let head = match cached {
        Some(head) => head,
        None => {
            let row = audit_head::Entity::find_by_id(1)
                .one(txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("audit chain head".into()))?;
            Head {
                sequence: row.last_sequence,
                hash: row.last_hash,
                dirty: false,
            }
        }
    };
    let mut event = AuditEvent {
        sequence: head.sequence + 1,
        time: new.time,
        actor: new.actor,
        role: new.role,
        organisation: new.organisation,
        action: new.action,
        resource: new.resource,
        from_state: new.from_state,
        to_state: new.to_state,
        payload: new.payload,
        previous_hash: head.hash,
        hash: String::new(),
    };
    event.hash = event.compute_hash();
    txn.defer(
        audit_event::Entity::insert(audit_event::ActiveModel {
            sequence: Set(event.sequence),
            occurred_at: Set(event.time),
            actor: Set(event.actor.clone()),
            role: Set(event.role.clone()),
            organisation: Set(event.organisation.clone()),
            action: Set(event.action.clone()),
            resource: Set(event.resource.clone()),
            from_state: Set(event.from_state.clone()),
            to_state: Set(event.to_state.clone()),
            payload: Set(event.payload.clone()),
            previous_hash: Set(event.previous_hash.clone()),
            hash: Set(event.hash.clone()),
        })
        .build(txn.get_database_backend()),
    );
    *txn.head.lock().expect("never poisoned") = Some(Head {
        sequence: event.sequence,
        hash: event.hash.clone(),
        dirty: true,
    });
    Ok(event)
}

/// Writes the head a transaction moved, with its last writes before its
/// commit. The row exists: the transaction read it (and on PostgreSQL
/// locked it) before appending.
pub(super) fn write_head(txn: &super::Txn, head: &Head) {
    txn.defer(
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::LastSequence, Expr::value(head.sequence))
            .col_expr(audit_head::Column::LastHash, Expr::value(head.hash.clone()))
            .filter(audit_head::Column::Id.eq(1))
            .build(txn.get_database_backend()),
    );
}

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
    use super::entities::{offer, support_request};
    let third = |kind: &str| kind.starts_with("TC_");
    if let Some(id) = resource.strip_prefix("supportRequests/") {
        let row = support_request::Entity::find()
            .filter(support_request::Column::Uid.eq(id))
            .one(conn)
            .await?;
        return Ok(row.map(|r| Owner::Request {
            third_country: third(&r.organisation_kind),
            organisation: r.organisation_id,
        }));
    }
    if let Some(id) = resource.strip_prefix("offers/") {
        let Some(o) = offer::Entity::find_by_id(id.to_owned()).one(conn).await? else {
            return Ok(None);
        };
        let request = support_request::Entity::find_by_id(o.support_request_id)
            .one(conn)
            .await?;
        return Ok(request.map(|r| Owner::Offer {
            provider: o.provider_id,
            third_country: third(&r.organisation_kind),
            organisation: r.organisation_id,
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
