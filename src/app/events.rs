//! Live events: every server process follows the audit table and publishes
//! what is committed, by whichever process, to its watchers. A watcher gets
//! the stored events after its cursor first, then the live ones, each once,
//! in order; one that falls behind is ended with its cursor, to resume.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::sync::{broadcast, mpsc};

use super::{App, AppError, AppResult, require};
use crate::domain::actor::{Actor, Role};
use crate::domain::audit::{AuditEvent, Owner, visibility};
use crate::store;

/// Events published to watchers in this process, at most this many behind.
pub const BUS_CAPACITY: usize = 4_096;
/// Events buffered for one watcher's connection.
pub const STREAM_BUFFER: usize = 256;

pub struct EventBus {
    sender: broadcast::Sender<Arc<AuditEvent>>,
    /// Set when the server shuts down: watches end, so that the shutdown
    /// does not wait for streams that never finish.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BUS_CAPACITY).0,
            closing: tokio::sync::watch::channel(false).0,
        }
    }
}

impl EventBus {
    /// Ends every watch of this process (each told where to resume).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// Follows the audit table from its end and publishes each new event.
pub async fn tail(app: App, every: Duration) {
    let mut last = loop {
        match store::audit::last_sequence(&app.db).await {
            Ok(last) => break last,
            Err(err) => {
                tracing::warn!(error = %err, "event tail cannot start yet");
                tokio::time::sleep(every).await;
            }
        }
    };
    loop {
        tokio::time::sleep(every).await;
        match store::audit::list(&app.db, None, last, 1_000).await {
            Ok(events) => {
                for event in events {
                    last = event.sequence;
                    // No receiver is not an error: no one is watching.
                    let _ = app.events.sender.send(Arc::new(event));
                }
            }
            Err(err) => tracing::warn!(error = %err, "event tail read failed"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct WatchFilter {
    pub after: i64,
    pub resource: Option<String>,
    pub action: Option<String>,
}

/// What a watcher receives.
#[derive(Debug)]
pub enum WatchItem {
    Event(Box<AuditEvent>),
    /// The watcher fell behind; it may resume after `last` (the last event
    /// it was sent or that was not for it).
    Lagged {
        last: i64,
    },
    /// The server is shutting down; resume elsewhere after `last`.
    Closing {
        last: i64,
    },
    Failed(AppError),
}

/// Starts a watch for `actor`; the receiver ends when the watch does.
pub fn watch(app: &App, actor: Actor, filter: WatchFilter) -> AppResult<mpsc::Receiver<WatchItem>> {
    require(
        &actor,
        &[
            Role::Requester,
            Role::DutyOfficer,
            Role::Commission,
            Role::Provider,
            Role::Admin,
            Role::Auditor,
        ],
    )?;
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    // Subscribe before reading the stored events, so none falls between.
    let live = app.events.sender.subscribe();
    tokio::spawn(run(app.clone(), actor, filter, live, tx));
    Ok(rx)
}

async fn run(
    app: App,
    actor: Actor,
    filter: WatchFilter,
    mut live: broadcast::Receiver<Arc<AuditEvent>>,
    tx: mpsc::Sender<WatchItem>,
) {
    let mut watcher = Watcher {
        app: &app,
        actor,
        filter,
        owners: HashMap::new(),
        last: 0,
    };
    watcher.last = watcher.filter.after;
    // Stored events first.
    loop {
        let page = match store::audit::list(
            &app.db,
            watcher.filter.resource.as_deref(),
            watcher.last,
            500,
        )
        .await
        {
            Ok(page) => page,
            Err(err) => {
                let _ = tx.send(WatchItem::Failed(err.into())).await;
                return;
            }
        };
        if page.is_empty() {
            break;
        }
        for event in page {
            if !watcher.deliver(&event, &tx).await {
                return;
            }
        }
    }
    // Then live ones, until the server shuts down.
    let mut closing = app.events.closing.subscribe();
    loop {
        let received = tokio::select! {
            received = live.recv() => received,
            _ = closed(&mut closing) => {
                let _ = tx.send(WatchItem::Closing { last: watcher.last }).await;
                return;
            }
            // The client went away: end even if nothing was for it.
            _ = tx.closed() => return,
        };
        match received {
            Ok(event) => {
                if event.sequence > watcher.last && !watcher.deliver(&event, &tx).await {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let _ = tx.send(WatchItem::Lagged { last: watcher.last }).await;
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Resolves once the bus is closing.
async fn closed(closing: &mut tokio::sync::watch::Receiver<bool>) {
    if closing.wait_for(|closing| *closing).await.is_err() {
        // The bus is gone with the server: nothing to wait for.
        std::future::pending::<()>().await;
    }
}

struct Watcher<'a> {
    app: &'a App,
    actor: Actor,
    filter: WatchFilter,
    /// Owners of resources seen, so that each is looked up once.
    owners: HashMap<String, Option<Owner>>,
    last: i64,
}

impl Watcher<'_> {
    /// Sends the event if it is for this watcher; false when the watcher is gone.
    async fn deliver(&mut self, event: &AuditEvent, tx: &mpsc::Sender<WatchItem>) -> bool {
        self.last = event.sequence;
        if self
            .filter
            .resource
            .as_ref()
            .is_some_and(|r| *r != event.resource)
            || self
                .filter
                .action
                .as_ref()
                .is_some_and(|a| *a != event.action)
        {
            return true;
        }
        if self.owners.len() > 10_000 {
            self.owners.clear();
        }
        let owner = match self.owners.get(&event.resource) {
            Some(owner) => owner.clone(),
            None => match store::audit::owner_of(&self.app.db, &event.resource).await {
                Ok(owner) => {
                    self.owners.insert(event.resource.clone(), owner.clone());
                    owner
                }
                Err(err) => {
                    let _ = tx.send(WatchItem::Failed(err.into())).await;
                    return false;
                }
            },
        };
        match event.seen_as(visibility(&self.actor, owner.as_ref())) {
            Some(seen) => tx.send(WatchItem::Event(Box::new(seen))).await.is_ok(),
            None => true,
        }
    }
}
