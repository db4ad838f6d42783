//! The verifiable log: the audit trail as a Merkle tree with signed
//! checkpoints (RFC 9162, C2SP `tlog-checkpoint`), and the proofs that let
//! a party check that the events it may see were recorded and never
//! rewritten, without reading anyone else's.

use std::time::Duration;

use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation};
use crate::domain::audit::{AuditEvent, Visibility, visibility};
use crate::domain::checkpoint::{Checkpoint, NoteSigner};
use crate::domain::merkle::{self, Hash};
use crate::store::{self, log::StoredCheckpoint};

/// How the service keeps its log.
#[derive(Debug, Clone)]
pub struct AuditLog {
    /// The checkpoints' origin line, and the name of their key.
    pub origin: String,
    /// Signs checkpoints; none are made without it.
    pub signer: Option<NoteSigner>,
    /// A checkpoint at most this often, whenever the log has grown.
    pub checkpoint_every: Duration,
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog {
            origin: DEFAULT_ORIGIN.into(),
            signer: None,
            checkpoint_every: Duration::from_secs(60),
        }
    }
}

/// The origin of checkpoints when none is configured.
pub const DEFAULT_ORIGIN: &str = "reserve-dispatch.example/audit";

/// Signs a checkpoint of the tree as integrated, when the log has grown
/// since the last one and `checkpoint_every` has passed; its size.
pub async fn checkpoint_if_due(app: &App) -> AppResult<Option<u64>> {
    let Some(signer) = &app.log.signer else {
        return Ok(None);
    };
    let head = store::log::tree_head(&app.db).await?;
    if head.size == 0 {
        return Ok(None);
    }
    let now = app.now();
    if let Some(last) = store::log::checkpoint(&app.db, None).await? {
        let every = chrono::Duration::from_std(app.log.checkpoint_every).unwrap_or_default();
        if last.size >= head.size || now - last.created_at < every {
            return Ok(None);
        }
    }
    let body = Checkpoint {
        origin: app.log.origin.clone(),
        size: head.size,
        root: head.root,
    }
    .body();
    let saved = store::log::save_checkpoint(
        &app.db,
        &StoredCheckpoint {
            size: head.size,
            root: head.root,
            created_at: now,
            note: signer.sign(&body),
        },
    )
    .await?;
    Ok(saved.then_some(head.size))
}

/// A checkpoint and the key that signed it.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub checkpoint: StoredCheckpoint,
    pub verifier_key: String,
}

fn signed(app: &App, checkpoint: StoredCheckpoint) -> SignedCheckpoint {
    SignedCheckpoint {
        checkpoint,
        verifier_key: app
            .log
            .signer
            .as_ref()
            .map(NoteSigner::verifier_key)
            .unwrap_or_default(),
    }
}

/// The latest checkpoint, or the one of `size`.
#[tracing::instrument(name = "log.checkpoint", skip_all)]
pub async fn checkpoint(
    app: &App,
    actor: &Actor,
    size: Option<u64>,
) -> AppResult<SignedCheckpoint> {
    require(actor, Operation::ProveLog)?;
    let found = store::log::checkpoint(&app.db, size).await?;
    found.map(|c| signed(app, c)).ok_or_else(|| match size {
        Some(size) => AppError::NotFound(format!("no checkpoint of tree size {size}")),
        None => AppError::FailedPrecondition(
            "no checkpoint is signed yet (the log is empty, or no signing key is configured)"
                .into(),
        ),
    })
}

/// Every checkpoint, oldest first, for a witness to archive.
#[tracing::instrument(name = "log.checkpoints", skip_all)]
pub async fn checkpoints(
    app: &App,
    actor: &Actor,
    page: PageRequest,
) -> AppResult<Page<SignedCheckpoint>> {
    require(actor, Operation::ProveLog)?;
    let after = match &page.after {
        Some(a) => a
            .parse::<u64>()
            .map_err(|_| AppError::invalid("page_token", "is not a token this service issued"))?,
        None => 0,
    };
    let found = store::log::list_checkpoints(&app.db, after, page.size).await?;
    let last = found.last().map(|c| c.size.to_string());
    let next_page_token = page.next_token(found.len(), last.as_deref());
    Ok(Page {
        items: found.into_iter().map(|c| signed(app, c)).collect(),
        next_page_token,
    })
}

/// The tree size a proof is asked against: the one given, which the tree
/// must have reached, or the latest checkpoint's (the tree's own, before
/// the first checkpoint).
async fn resolve_size(app: &App, asked: Option<u64>, field: &str) -> AppResult<u64> {
    let integrated = store::log::tree_head(&app.db).await?.size;
    match asked {
        Some(size) if size > integrated => Err(AppError::FailedPrecondition(format!(
            "{field}: the log's tree holds {integrated} events so far"
        ))),
        Some(size) => Ok(size),
        None => Ok(store::log::checkpoint(&app.db, None)
            .await?
            .map_or(integrated, |c| c.size)),
    }
}

/// An event's inclusion proof.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    /// The event as the caller may see it.
    pub event: AuditEvent,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub hashes: Vec<Hash>,
}

/// The proof that the event `sequence` is in the tree of `tree_size`
/// events, for a caller who may see the event: what it proves is that
/// event, so any other is not found.
#[tracing::instrument(name = "log.prove_inclusion", skip_all)]
pub async fn prove_inclusion(
    app: &App,
    actor: &Actor,
    sequence: i64,
    tree_size: Option<u64>,
) -> AppResult<InclusionProof> {
    require(actor, Operation::ProveLog)?;
    let not_found = || AppError::NotFound(format!("event {sequence} not found"));
    let event = store::audit::list(&app.db, None, sequence - 1, 1)
        .await?
        .pop()
        .filter(|e| e.sequence == sequence)
        .ok_or_else(not_found)?;
    let owner = store::audit::owner_of(&app.db, &event.resource).await?;
    let seen = match visibility(actor, owner.as_ref()) {
        Visibility::Hidden => return Err(not_found()),
        v => event.seen_as(v).ok_or_else(not_found)?,
    };
    let size = resolve_size(app, tree_size, "tree_size").await?;
    let index = sequence as u64 - 1;
    if index >= size {
        return Err(AppError::FailedPrecondition(format!(
            "event {sequence} is not in the tree of {size} events; ask against a later checkpoint"
        )));
    }
    let hashes = store::log::range_hashes(&app.db, &merkle::inclusion_ranges(index, size)).await?;
    Ok(InclusionProof {
        leaf_hash: store::log::leaf_of(&event.hash)?,
        event: seen,
        leaf_index: index,
        tree_size: size,
        hashes,
    })
}

/// The proof that the tree of `second` events extends the tree of `first`
/// (the latest checkpoint's size when `second` is not given).
#[tracing::instrument(name = "log.prove_consistency", skip_all)]
pub async fn prove_consistency(
    app: &App,
    actor: &Actor,
    first: u64,
    second: Option<u64>,
) -> AppResult<(u64, Vec<Hash>)> {
    require(actor, Operation::ProveLog)?;
    let second = resolve_size(app, second, "second_tree_size").await?;
    if first == 0 || first > second {
        return Err(AppError::invalid(
            "first_tree_size",
            &format!("must be between 1 and the second tree size, {second}"),
        ));
    }
    let hashes =
        store::log::range_hashes(&app.db, &merkle::consistency_ranges(first, second)).await?;
    Ok((second, hashes))
}
