//! The log task of every server process: integrates sealed events into
//! the audit log's Merkle tree (`store::log::integrate`, one process at a
//! time by the tree head's lock) and signs a checkpoint when one is due
//! (`app::log::checkpoint_if_due`; a checkpoint of a size already signed
//! is not stored twice).

use std::time::Duration;

use crate::app::{App, log};
use crate::store;

/// How often the task looks for newly sealed events.
pub const POLL: Duration = Duration::from_millis(100);

/// Runs until the task is dropped.
pub async fn run(app: App) {
    loop {
        if let Err(err) = pass(&app).await {
            tracing::warn!(error = %err, "integrating the audit log failed");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Integrates everything sealed, then signs a checkpoint if one is due;
/// the events integrated.
pub async fn pass(app: &App) -> anyhow::Result<u64> {
    let mut total = 0;
    loop {
        let n = store::log::integrate(&app.db, store::log::BATCH).await?;
        total += n;
        if n < store::log::BATCH {
            break;
        }
    }
    if let Some(size) = log::checkpoint_if_due(app).await? {
        tracing::debug!(size, "audit log checkpoint signed");
    }
    Ok(total)
}
