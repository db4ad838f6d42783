//! Reading the audit trail.

use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation};
use crate::domain::audit::{AuditEvent, GENESIS_HASH};
use crate::store;

/// How long a reader of the chain waits for events committed before it to
/// be sealed (PostgreSQL; see `store::audit::settle`).
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Events in sequence order, for auditors and duty officers.
#[tracing::instrument(name = "audit.list", skip_all)]
pub async fn list(
    app: &App,
    actor: &Actor,
    resource: Option<&str>,
    page: PageRequest,
) -> AppResult<Page<AuditEvent>> {
    require(actor, Operation::ListEvents)?;
    let after = match &page.after {
        Some(a) => a
            .parse::<i64>()
            .map_err(|_| AppError::invalid("page_token", "is not a token this service issued"))?,
        None => 0,
    };
    store::audit::settle(&app.db, SETTLE).await?;
    let items = store::audit::list(&app.db, resource, after, page.size).await?;
    let last = items.last().map(|e| e.sequence.to_string());
    let next_page_token = page.next_token(items.len(), last.as_deref());
    Ok(Page {
        items,
        next_page_token,
    })
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub checked: i64,
    /// The first sequence whose hash or link is broken, with what is wrong.
    pub broken: Option<(i64, String)>,
}

/// Recomputes the chain from a trusted checkpoint (`after`, with its hash),
/// or from the start, page by page.
#[tracing::instrument(name = "audit.verify_chain", skip_all)]
pub async fn verify_chain<C: sea_orm::ConnectionTrait>(
    conn: &C,
    after: i64,
    checkpoint_hash: Option<&str>,
) -> AppResult<Verification> {
    let mut expected_sequence = after + 1;
    let mut previous = match (after, checkpoint_hash) {
        (0, _) => GENESIS_HASH.to_owned(),
        (_, Some(hash)) => hash.to_owned(),
        (_, None) => match store::audit::list(conn, None, after - 1, 1).await?.pop() {
            Some(e) if e.sequence == after => e.hash,
            _ => {
                return Err(AppError::invalid(
                    "after_sequence",
                    "names no stored event; give its hash as checkpoint_hash",
                ));
            }
        },
    };
    let mut checked = 0;
    let mut page = store::audit::list(conn, None, after, VERIFY_PAGE).await?;
    loop {
        let Some(last) = page.last() else {
            return Ok(Verification {
                checked,
                broken: None,
            });
        };
        let cursor = last.sequence;
        // The hashes of this page are recomputed on other threads while
        // the next page is read.
        let hashing = tokio::task::spawn_blocking(move || {
            let matches = hashes_match(&page);
            (page, matches)
        });
        let next = store::audit::list(conn, None, cursor, VERIFY_PAGE).await?;
        let (events, matches) = hashing
            .await
            .map_err(|e| AppError::Database(sea_orm::DbErr::Custom(e.to_string())))?;
        for (event, hash_ok) in events.into_iter().zip(matches) {
            let problem = if event.sequence != expected_sequence {
                Some(format!(
                    "expected sequence {expected_sequence}, found {}",
                    event.sequence
                ))
            } else if event.previous_hash != previous {
                Some("its previous hash does not match the event before it".to_owned())
            } else if !hash_ok {
                Some("its hash does not match its content".to_owned())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(Verification {
                    checked,
                    broken: Some((event.sequence, problem)),
                });
            }
            checked += 1;
            expected_sequence += 1;
            previous = event.hash;
        }
        page = next;
    }
}

/// Events read at a time when verifying.
const VERIFY_PAGE: u64 = 5_000;

/// Whether each event's stored hash is the one its content gives, computed
/// on as many threads as the machine has cores (each event's hash needs
/// only itself and the previous hash it stores).
fn hashes_match(events: &[AuditEvent]) -> Vec<bool> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let chunk = events.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = events
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut buf = Vec::with_capacity(512);
                    part.iter()
                        .map(|e| e.hash_matches(&mut buf))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("hashing does not panic"))
            .collect()
    })
}

#[tracing::instrument(name = "audit.verify", skip_all)]
pub async fn verify(
    app: &App,
    actor: &Actor,
    after: i64,
    checkpoint_hash: Option<&str>,
) -> AppResult<Verification> {
    require(actor, Operation::VerifyChain)?;
    store::audit::settle(&app.db, SETTLE).await?;
    verify_chain(&app.db, after, checkpoint_hash).await
}

/// The sequence of the last event committed, 0 when there is none: where a
/// watch of what happens from now on starts.
pub async fn last_sequence(app: &App) -> AppResult<i64> {
    Ok(store::audit::last_sequence(&app.db).await?)
}
