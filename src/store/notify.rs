//! Subscriptions and the notifications' outbox.
//!
//! Notifications are derived from the sealed audit trail by `derive`, in a
//! transaction holding the derivation's cursor (SQLite: the writer lock;
//! PostgreSQL: the cursor's row, `FOR UPDATE`), and are unique per
//! subscription and event: two replicas never queue one twice. Deliveries
//! are claimed with a lease (`claim`), as timers are, and end sent, retried
//! later, or dead after `MAX_ATTEMPTS`.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Value};

use super::log::statement;
use crate::domain::actor::Role;
use crate::domain::audit::AuditEvent;
use crate::domain::notify::{Channel, Subscription};

/// Events read per derivation.
pub const BATCH: u64 = 500;

const SUBSCRIPTION_COLUMNS: &str =
    "id, organisation, role, person, channel, target, secret, actions, created_at";

fn subscription_of(row: &QueryResult) -> Result<Subscription, DbErr> {
    let role: String = row.try_get("", "role")?;
    let actions: String = row.try_get("", "actions")?;
    Ok(Subscription {
        id: row.try_get("", "id")?,
        organisation: row.try_get("", "organisation")?,
        role: Role::of_token(&role)
            .ok_or_else(|| DbErr::Custom(format!("`{role}` is not a role")))?,
        person: row.try_get("", "person")?,
        channel: match row.try_get::<String>("", "channel")?.as_str() {
            "EMAIL" => Channel::Email(row.try_get("", "target")?),
            _ => Channel::Webhook(row.try_get("", "target")?),
        },
        secret: row.try_get("", "secret")?,
        actions: serde_json::from_str(&actions).map_err(|e| DbErr::Custom(e.to_string()))?,
        created_at: row.try_get("", "created_at")?,
    })
}

pub async fn save_subscription<C: ConnectionTrait>(
    conn: &C,
    s: &Subscription,
) -> Result<(), DbErr> {
    conn.execute_raw(statement(
        conn.get_database_backend(),
        &format!(
            "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        vec![
            s.id.clone().into(),
            s.organisation.clone().into(),
            s.role.as_str().into(),
            s.person.clone().into(),
            s.channel.kind().into(),
            s.channel.target().into(),
            s.secret.clone().into(),
            serde_json::to_string(&s.actions).unwrap_or_default().into(),
            s.created_at.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The subscriptions of `organisation` (every one when None).
pub async fn subscriptions<C: ConnectionTrait>(
    conn: &C,
    organisation: Option<&str>,
) -> Result<Vec<Subscription>, DbErr> {
    let backend = conn.get_database_backend();
    let rows = match organisation {
        Some(org) => {
            conn.query_all_raw(statement(
                backend,
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE organisation = ? \
                     ORDER BY created_at, id"
                ),
                vec![org.into()],
            ))
            .await?
        }
        None => {
            conn.query_all_raw(statement(
                backend,
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY created_at, id"
                ),
                vec![],
            ))
            .await?
        }
    };
    rows.iter().map(subscription_of).collect()
}

pub async fn subscription<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<Subscription>, DbErr> {
    conn.query_one_raw(statement(
        conn.get_database_backend(),
        &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?"),
        vec![id.into()],
    ))
    .await?
    .as_ref()
    .map(subscription_of)
    .transpose()
}

/// Deletes a subscription and what it still had to send.
pub async fn delete_subscription<C: ConnectionTrait>(conn: &C, id: &str) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    conn.execute_raw(statement(
        backend,
        "DELETE FROM notifications WHERE subscription_id = ? AND state = 'PENDING'",
        vec![id.into()],
    ))
    .await?;
    let done = conn
        .execute_raw(statement(
            backend,
            "DELETE FROM subscriptions WHERE id = ?",
            vec![id.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Queues the notifications of the events sealed since the cursor, up to
/// `BATCH` events; how many events were read (0 when there is nothing to
/// do). Each event's owner is read once, for every subscription.
pub async fn derive(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let backend = db.get_database_backend();
    let cursor =
        |lock: &str| format!("SELECT last_sequence FROM notification_cursor WHERE id = 1{lock}");
    let sealed = super::audit::last_sequence(db).await?;
    let seen: i64 = db
        .query_one_raw(statement(backend, &cursor(""), vec![]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the notifications' cursor".into()))?
        .try_get("", "last_sequence")?;
    // Without subscriptions nothing is taken: the cursor stays, and a first
    // subscription's derivation skips what happened before it.
    if seen >= sealed || subscriptions(db, None).await?.is_empty() {
        return Ok(0);
    }
    let txn = super::begin(db).await?;
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let seen: i64 = txn
        .query_one_raw(statement(backend, &cursor(lock), vec![]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the notifications' cursor".into()))?
        .try_get("", "last_sequence")?;
    let events = super::audit::list(&txn, None, seen, BATCH).await?;
    let Some(last) = events.last().map(|e| e.sequence) else {
        txn.rollback().await?;
        return Ok(0);
    };
    let subscriptions = subscriptions(&txn, None).await?;
    let mut rows: Vec<(String, i64)> = Vec::new();
    let mut owners = std::collections::HashMap::new();
    for event in &events {
        if !owners.contains_key(&event.resource) {
            let owner = super::audit::owner_of(&txn, &event.resource).await?;
            owners.insert(event.resource.clone(), owner);
        }
        let owner = owners[&event.resource].as_ref();
        for s in &subscriptions {
            if s.created_at <= event.time && s.wants(event, owner).is_some() {
                rows.push((s.id.clone(), event.sequence));
            }
        }
    }
    let queued = rows.len();
    // Several rows a statement: the writer lock is held the shortest time.
    for chunk in rows.chunks(200) {
        let marks = vec!["(?, ?, 'PENDING', 0, ?, '', ?)"; chunk.len()].join(", ");
        let values = chunk
            .iter()
            .flat_map(|(id, sequence)| {
                [
                    Value::from(id.clone()),
                    Value::from(*sequence),
                    Value::from(now),
                    Value::from(now),
                ]
            })
            .collect();
        txn.execute_raw(statement(
            backend,
            &format!(
                "INSERT INTO notifications (subscription_id, sequence, state, attempts, \
                 next_attempt_at, last_error, created_at) VALUES {marks} \
                 ON CONFLICT (subscription_id, sequence) DO NOTHING"
            ),
            values,
        ))
        .await?;
    }
    txn.execute_raw(statement(
        backend,
        "UPDATE notification_cursor SET last_sequence = ? WHERE id = 1",
        vec![last.into()],
    ))
    .await?;
    txn.commit().await?;
    tracing::debug!(queued, "notifications queued");
    Ok(events.len())
}

/// A notification claimed for delivery: what to send, where.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub attempts: i32,
    pub subscription: Subscription,
    /// The event as the subscription sees it.
    pub event: AuditEvent,
}

/// Claims up to `limit` notifications due by `now` for `lease`, with the
/// events they tell of.
pub async fn claim(
    db: &DatabaseConnection,
    owner: &str,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: u64,
) -> Result<Vec<Delivery>, DbErr> {
    let backend = db.get_database_backend();
    let due = "FROM notifications WHERE state = 'PENDING' AND next_attempt_at <= ? \
               AND (lease_until IS NULL OR lease_until < ?)";
    let any = db
        .query_one_raw(statement(
            backend,
            &format!("SELECT id {due} LIMIT 1"),
            vec![now.into(), now.into()],
        ))
        .await?;
    if any.is_none() {
        return Ok(Vec::new());
    }
    let txn = super::begin(db).await?;
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let rows = txn
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT id, subscription_id, sequence, attempts {due} ORDER BY id LIMIT ?{lock}"
            ),
            vec![now.into(), now.into(), (limit as i64).into()],
        ))
        .await?;
    let mut claimed = Vec::new();
    for row in &rows {
        let id: i64 = row.try_get("", "id")?;
        txn.execute_raw(statement(
            backend,
            "UPDATE notifications SET lease_owner = ?, lease_until = ? WHERE id = ?",
            vec![owner.into(), (now + lease).into(), id.into()],
        ))
        .await?;
        claimed.push((
            id,
            row.try_get::<String>("", "subscription_id")?,
            row.try_get::<i64>("", "sequence")?,
            row.try_get::<i32>("", "attempts")?,
        ));
    }
    txn.commit().await?;
    let mut deliveries = Vec::new();
    for (id, subscription, sequence, attempts) in claimed {
        let Some(subscription) = self::subscription(db, &subscription).await? else {
            continue;
        };
        let Some(event) = super::audit::list(db, None, sequence - 1, 1).await?.pop() else {
            continue;
        };
        let owner = super::audit::owner_of(db, &event.resource).await?;
        let Some(event) = subscription.wants(&event, owner.as_ref()) else {
            continue;
        };
        deliveries.push(Delivery {
            id,
            attempts,
            subscription,
            event,
        });
    }
    Ok(deliveries)
}

/// A delivery's outcome: sent, or failed with an error (retried at the
/// time given, or dead when none).
pub type Outcome = Result<(), (String, Option<DateTime<Utc>>)>;

/// Records the outcomes of a pass's deliveries, in one transaction.
pub async fn settle_all(
    db: &DatabaseConnection,
    owner: &str,
    now: DateTime<Utc>,
    outcomes: Vec<(i64, Outcome)>,
) -> Result<(), DbErr> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let txn = super::begin(db).await?;
    for (id, outcome) in outcomes {
        settle(&txn, id, owner, now, outcome).await?;
    }
    txn.commit().await
}

async fn settle<C: ConnectionTrait>(
    db: &C,
    id: i64,
    owner: &str,
    now: DateTime<Utc>,
    outcome: Outcome,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let (sql, values): (&str, Vec<Value>) = match outcome {
        Ok(()) => (
            "UPDATE notifications SET state = 'SENT', sent_at = ?, attempts = attempts + 1, \
             lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
            vec![now.into(), id.into(), owner.into()],
        ),
        Err((error, Some(retry))) => (
            "UPDATE notifications SET next_attempt_at = ?, last_error = ?, \
             attempts = attempts + 1, lease_owner = NULL, lease_until = NULL \
             WHERE id = ? AND lease_owner = ?",
            vec![retry.into(), error.into(), id.into(), owner.into()],
        ),
        Err((error, None)) => (
            "UPDATE notifications SET state = 'DEAD', last_error = ?, attempts = attempts + 1, \
             lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
            vec![error.into(), id.into(), owner.into()],
        ),
    };
    db.execute_raw(statement(backend, sql, values)).await?;
    Ok(())
}

/// A notification as administrators list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub subscription_id: String,
    pub sequence: i64,
    pub state: String,
    pub attempts: i32,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Notifications in `state` (every state when None), oldest first, after
/// the id `after`.
pub async fn notifications<C: ConnectionTrait>(
    conn: &C,
    state: Option<&str>,
    after: i64,
    limit: u64,
) -> Result<Vec<Notification>, DbErr> {
    let backend = conn.get_database_backend();
    let mut values: Vec<Value> = vec![after.into()];
    let filter = match state {
        Some(state) => {
            values.push(state.into());
            " AND state = ?"
        }
        None => "",
    };
    values.push((limit as i64).into());
    let rows = conn
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT id, subscription_id, sequence, state, attempts, last_error, created_at, \
                 sent_at FROM notifications WHERE id > ?{filter} ORDER BY id LIMIT ?"
            ),
            values,
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Notification {
                id: row.try_get("", "id")?,
                subscription_id: row.try_get("", "subscription_id")?,
                sequence: row.try_get("", "sequence")?,
                state: row.try_get("", "state")?,
                attempts: row.try_get("", "attempts")?,
                last_error: row.try_get("", "last_error")?,
                created_at: row.try_get("", "created_at")?,
                sent_at: row.try_get("", "sent_at")?,
            })
        })
        .collect()
}

/// Counts by state, and the age of the oldest pending notification.
pub async fn stats<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<(Vec<(String, i64)>, Option<chrono::Duration>), DbErr> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(statement(
            backend,
            "SELECT state, COUNT(*) AS n FROM notifications GROUP BY state",
            vec![],
        ))
        .await?;
    let counts = rows
        .iter()
        .map(|r| Ok((r.try_get("", "state")?, r.try_get("", "n")?)))
        .collect::<Result<Vec<_>, DbErr>>()?;
    let oldest: Option<DateTime<Utc>> = conn
        .query_one_raw(statement(
            backend,
            "SELECT created_at FROM notifications WHERE state = 'PENDING' ORDER BY id LIMIT 1",
            vec![],
        ))
        .await?
        .map(|r| r.try_get("", "created_at"))
        .transpose()?;
    Ok((counts, oldest.map(|t| now - t)))
}
