//! The sequencer task of every server process on PostgreSQL. One process
//! at a time is elected (`store::audit::Sequencer`, an advisory lock) and
//! seals what writers queued: after each local commit that queued events,
//! and every `POLL` for those of the other replicas. The others try to take
//! over every `ELECTION`, which bounds how long events wait when the
//! sequencer's process dies: its lock goes with its connection.
//!
//! On SQLite there is nothing to do: writers seal their own events.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::store::audit::Sequencer;

/// How often the sequencer looks for events queued by other processes.
pub const POLL: Duration = Duration::from_millis(20);
/// How often a process that is not the sequencer tries to become it.
pub const ELECTION: Duration = Duration::from_secs(1);
/// Events sealed per statement list.
const BATCH: i64 = 1_000;
/// After a wake-up, how long the sequencer lets more commits arrive before
/// its pass: under load one pass seals the events of many transactions.
const GATHER: Duration = Duration::from_millis(2);

/// Runs until the task is dropped.
pub async fn run(db: DatabaseConnection) {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let shared = crate::store::txn::shared(&db);
    loop {
        match Sequencer::elect(&db).await {
            Ok(Some(sequencer)) => {
                tracing::info!("this process seals the audit chain");
                lead(sequencer, &shared.sealer).await;
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "sequencer election failed"),
        }
        tokio::time::sleep(ELECTION).await;
    }
}

/// Seals until a pass fails (the connection is gone, say); the sequencer is
/// then dropped with its lock, and the election starts again.
async fn lead(mut sequencer: Sequencer, wake: &tokio::sync::Notify) {
    loop {
        match sequencer.seal(BATCH).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "sealing audit events failed; electing again");
                return;
            }
        }
        if tokio::time::timeout(POLL, wake.notified()).await.is_ok() {
            tokio::time::sleep(GATHER).await;
        }
    }
}
