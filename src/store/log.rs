//! The audit log's Merkle tree and its signed checkpoints
//! (`domain::merkle`, `domain::checkpoint`).
//!
//! The tree is integrated from the sealed chain by `integrate`, in a write
//! transaction that holds the tree's head (SQLite: the writer lock;
//! PostgreSQL: the head's row, `FOR UPDATE`), so that two processes never
//! integrate the same events: each node is written once, when its subtree
//! is complete, and never changed. A leaf is the SHA-256 of its event's
//! chain hash (which covers the event and the one before it).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};

use crate::domain::merkle::{self, Hash, Node, Range};

/// Events integrated per transaction.
pub const BATCH: u64 = 5_000;

/// The tree integrated so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

/// A checkpoint as stored: the signed note and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    pub created_at: DateTime<Utc>,
    pub note: String,
}

/// `sql` with `?` placeholders, numbered for PostgreSQL.
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

fn decode(hex_hash: &str) -> Result<Hash, DbErr> {
    hex::decode(hex_hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| DbErr::Custom(format!("`{hex_hash}` is not a SHA-256 hash")))
}

/// The leaf of an event whose chain hash is `hash` (hex).
pub fn leaf_of(hash: &str) -> Result<Hash, DbErr> {
    Ok(merkle::leaf_hash(&decode(hash)?))
}

/// The tree integrated so far.
pub async fn tree_head<C: ConnectionTrait>(conn: &C) -> Result<TreeHead, DbErr> {
    read_head(conn, false).await
}

async fn read_head<C: ConnectionTrait>(conn: &C, lock: bool) -> Result<TreeHead, DbErr> {
    let backend = conn.get_database_backend();
    let lock = if lock && backend == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT size, root FROM audit_tree_head WHERE id = 1{lock}"),
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the audit tree's head".into()))?;
    let size: i64 = row.try_get("", "size")?;
    let root: String = row.try_get("", "root")?;
    Ok(TreeHead {
        size: size as u64,
        root: decode(&root)?,
    })
}

/// The stored hashes of `nodes`.
pub async fn nodes<C: ConnectionTrait>(
    conn: &C,
    nodes: &[Node],
) -> Result<HashMap<Node, Hash>, DbErr> {
    let mut found = HashMap::with_capacity(nodes.len());
    for chunk in nodes.chunks(500) {
        if chunk.is_empty() {
            continue;
        }
        let marks = vec!["?"; chunk.len()].join(", ");
        let rows = conn
            .query_all_raw(statement(
                conn.get_database_backend(),
                &format!("SELECT id, hash FROM audit_tree_nodes WHERE id IN ({marks})"),
                chunk.iter().map(|n| Value::from(n.key())).collect(),
            ))
            .await?;
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let hash: String = row.try_get("", "hash")?;
            found.insert(Node::from_key(id), decode(&hash)?);
        }
    }
    Ok(found)
}

/// The hashes of `ranges`, from the stored nodes, in one query.
pub async fn range_hashes<C: ConnectionTrait>(
    conn: &C,
    ranges: &[Range],
) -> Result<Vec<Hash>, DbErr> {
    let mut wanted: Vec<Node> = ranges.iter().flat_map(|r| r.nodes()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let stored = nodes(conn, &wanted).await?;
    ranges
        .iter()
        .map(|r| {
            r.hash(|n| stored.get(&n).copied()).ok_or_else(|| {
                DbErr::RecordNotFound(format!(
                    "a node of leaves {}..{} of the audit tree",
                    r.start, r.end
                ))
            })
        })
        .collect()
}

/// Integrates up to `batch` sealed events into the tree; how many. Nothing
/// is locked when the tree is level with the chain.
pub async fn integrate(db: &DatabaseConnection, batch: u64) -> Result<u64, DbErr> {
    let sealed = super::audit::last_sequence(db).await? as u64;
    if tree_head(db).await?.size >= sealed {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let txn = super::begin(db).await?;
    let head = read_head(&txn, true).await?;
    let rows = txn
        .query_all_raw(statement(
            backend,
            "SELECT sequence, hash FROM audit_events WHERE sequence > ? ORDER BY sequence LIMIT ?",
            vec![(head.size as i64).into(), (batch as i64).into()],
        ))
        .await?;
    let mut leaves = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let sequence: i64 = row.try_get("", "sequence")?;
        // Sequences are gapless; stop at a gap rather than misplace a leaf.
        if sequence as u64 != head.size + 1 + i as u64 {
            break;
        }
        let hash: String = row.try_get("", "hash")?;
        leaves.push(leaf_of(&hash)?);
    }
    if leaves.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    let edge_nodes = merkle::frontier(head.size);
    let stored = nodes(&txn, &edge_nodes).await?;
    let edge: Vec<Hash> = edge_nodes
        .iter()
        .map(|n| {
            stored
                .get(n)
                .copied()
                .ok_or_else(|| DbErr::RecordNotFound(format!("audit tree node {n:?}")))
        })
        .collect::<Result<_, _>>()?;
    let added = merkle::append(head.size, &edge, &leaves);
    let mut known: HashMap<Node, Hash> = edge_nodes.iter().copied().zip(edge).collect();
    known.extend(added.iter().copied());
    let size = head.size + leaves.len() as u64;
    let root = Range {
        start: 0,
        end: size,
    }
    .hash(|n| known.get(&n).copied())
    .expect("the new right edge is known");
    for chunk in added.chunks(400) {
        let marks = vec!["(?, ?)"; chunk.len()].join(", ");
        let values = chunk
            .iter()
            .flat_map(|(n, h)| [Value::from(n.key()), Value::from(hex::encode(h))])
            .collect();
        txn.execute_raw(statement(
            backend,
            &format!("INSERT INTO audit_tree_nodes (id, hash) VALUES {marks}"),
            values,
        ))
        .await?;
    }
    txn.execute_raw(statement(
        backend,
        "UPDATE audit_tree_head SET size = ?, root = ? WHERE id = 1",
        vec![(size as i64).into(), hex::encode(root).into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(leaves.len() as u64)
}

fn checkpoint_of(row: &sea_orm::QueryResult) -> Result<StoredCheckpoint, DbErr> {
    let size: i64 = row.try_get("", "tree_size")?;
    let root: String = row.try_get("", "root_hash")?;
    Ok(StoredCheckpoint {
        size: size as u64,
        root: decode(&root)?,
        created_at: row.try_get("", "created_at")?,
        note: row.try_get("", "note")?,
    })
}

const CHECKPOINT_COLUMNS: &str = "tree_size, root_hash, created_at, note";

/// Stores a checkpoint; false when one of that size is stored already.
pub async fn save_checkpoint<C: ConnectionTrait>(
    conn: &C,
    checkpoint: &StoredCheckpoint,
) -> Result<bool, DbErr> {
    let done = conn
        .execute_raw(statement(
            conn.get_database_backend(),
            &format!(
                "INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (tree_size) DO NOTHING"
            ),
            vec![
                (checkpoint.size as i64).into(),
                hex::encode(checkpoint.root).into(),
                checkpoint.created_at.into(),
                checkpoint.note.clone().into(),
            ],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The latest checkpoint, or the one of `size`.
pub async fn checkpoint<C: ConnectionTrait>(
    conn: &C,
    size: Option<u64>,
) -> Result<Option<StoredCheckpoint>, DbErr> {
    let backend = conn.get_database_backend();
    let row = match size {
        Some(size) => {
            conn.query_one_raw(statement(
                backend,
                &format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE tree_size = ?"),
                vec![(size as i64).into()],
            ))
            .await?
        }
        None => {
            conn.query_one_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
                     ORDER BY tree_size DESC LIMIT 1"
                ),
            ))
            .await?
        }
    };
    row.as_ref().map(checkpoint_of).transpose()
}

/// Checkpoints in size order, after the size `after`.
pub async fn list_checkpoints<C: ConnectionTrait>(
    conn: &C,
    after: u64,
    limit: u64,
) -> Result<Vec<StoredCheckpoint>, DbErr> {
    conn.query_all_raw(statement(
        conn.get_database_backend(),
        &format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE tree_size > ? \
             ORDER BY tree_size LIMIT ?"
        ),
        vec![(after as i64).into(), (limit as i64).into()],
    ))
    .await?
    .iter()
    .map(checkpoint_of)
    .collect()
}
