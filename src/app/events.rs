//! Live events: every server process follows the audit table and publishes
//! what is committed, by whichever process, to its watchers. A watcher gets
//! the stored events after its cursor first, then the live ones, each once,
//! in order; one that falls behind is ended with its cursor, to resume.
//!
//! Whose each live event is gets looked up once, by the tail, before the
//! event is published: with thousands of watchers, a lookup per watcher
//! would cost a query per watcher per event. Live delivery is then filtering
//! in memory. A watch is a stream polled by its connection, not a task with
//! a queue of its own: the broadcast holds each event once for all watchers,
//! and a watcher that reads slowly costs only its place in it.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
    time::Duration,
};

use futures_util::Stream;
use tokio::sync::broadcast;

use super::{App, AppError, AppResult, require};
use crate::domain::actor::{Actor, Operation};
use crate::domain::audit::{AuditEvent, Owner, Visibility, visibility};
use crate::store;

/// Events published to watchers in this process, at most this many behind.
pub const BUS_CAPACITY: usize = 4_096;
/// Owners remembered by the tail (and by a watcher replaying stored events)
/// before the cache starts afresh.
const OWNERS_CACHED: usize = 10_000;
/// Stored events read at a time by a watcher catching up.
const REPLAY_PAGE: u64 = 500;

pub struct EventBus {
    sender: broadcast::Sender<Arc<Published>>,
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

/// An event as one watcher sees it, with a slot for its form on the wire:
/// every watcher that sees a live event alike shares both, so that the
/// transport encodes it once for all of them.
#[derive(Debug, Clone)]
pub struct Seen {
    pub event: Arc<AuditEvent>,
    pub wire: Arc<OnceLock<bytes::Bytes>>,
}

impl Seen {
    /// An event seen by one watcher alone (one read from the table).
    fn alone(event: AuditEvent) -> Self {
        Seen {
            event: Arc::new(event),
            wire: Arc::default(),
        }
    }
}

/// A committed event as the watchers of this process receive it.
pub struct Published {
    pub event: Arc<AuditEvent>,
    /// Whose the event's resource is, which decides who sees it.
    pub owner: Option<Owner>,
    full: Arc<OnceLock<bytes::Bytes>>,
    /// The event as a provider sees its own offer; made by the first
    /// watcher that needs it, shared by the others.
    redacted: OnceLock<Seen>,
}

impl Published {
    pub fn new(event: AuditEvent, owner: Option<Owner>) -> Self {
        Self {
            event: Arc::new(event),
            owner,
            full: Arc::default(),
            redacted: OnceLock::new(),
        }
    }

    /// The event as `actor` may see it, if at all.
    pub fn seen_by(&self, actor: &Actor) -> Option<Seen> {
        match visibility(actor, self.owner.as_ref()) {
            Visibility::Full => Some(Seen {
                event: self.event.clone(),
                wire: self.full.clone(),
            }),
            Visibility::Redacted => Some(
                self.redacted
                    .get_or_init(|| {
                        Seen::alone(
                            self.event
                                .seen_as(Visibility::Redacted)
                                .expect("a redacted event is seen"),
                        )
                    })
                    .clone(),
            ),
            Visibility::Hidden => None,
        }
    }
}

/// Follows the audit table from its end and publishes each new event, with
/// its resource's owner.
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
    let mut owners = Owners::default();
    loop {
        tokio::time::sleep(every).await;
        let events = match store::audit::list(&app.db, None, last, 1_000).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(error = %err, "event tail read failed");
                continue;
            }
        };
        for event in events {
            // No receiver is not an error: no one is watching, and a watcher
            // that subscribes now reads this event from the table.
            if app.events.sender.receiver_count() == 0 {
                last = event.sequence;
                continue;
            }
            let owner = match owners.get(&app.db, &event.resource).await {
                Ok(owner) => owner,
                Err(err) => {
                    // Published in order or not at all: the next round
                    // starts again from this event.
                    tracing::warn!(error = %err, "event tail cannot find an owner");
                    break;
                }
            };
            last = event.sequence;
            let _ = app
                .events
                .sender
                .send(Arc::new(Published::new(event, owner)));
        }
    }
}

/// Owners of resources seen, so that each is looked up once. An owner does
/// not change: a request's organisation, an offer's provider and request.
#[derive(Default)]
struct Owners(HashMap<String, Option<Owner>>);

impl Owners {
    async fn get(
        &mut self,
        db: &sea_orm::DatabaseConnection,
        resource: &str,
    ) -> Result<Option<Owner>, sea_orm::DbErr> {
        if let Some(owner) = self.0.get(resource) {
            return Ok(owner.clone());
        }
        if self.0.len() >= OWNERS_CACHED {
            self.0.clear();
        }
        // Boxed: a watch holds this future only while it replays.
        let owner = Box::pin(store::audit::owner_of(db, resource)).await?;
        self.0.insert(resource.to_owned(), owner.clone());
        Ok(owner)
    }
}

pub use crate::domain::query::WatchFilter;

/// What a watcher receives.
#[derive(Debug)]
pub enum WatchItem {
    /// Shared with the other watchers that see it the same way.
    Event(Seen),
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

/// Starts a watch for `actor`: the stored events after the cursor, then
/// the live ones. The stream ends after a `Lagged`, `Closing` or `Failed`,
/// and the watch with it when the stream is dropped.
pub fn watch(
    app: &App,
    actor: Actor,
    filter: WatchFilter,
) -> AppResult<impl Stream<Item = WatchItem> + Send + use<>> {
    require(&actor, Operation::WatchEvents)?;
    // Subscribe before reading the stored events, so none falls between.
    let watcher = Watcher {
        live: app.events.sender.subscribe(),
        closing: app.events.closing.subscribe(),
        app: app.clone(),
        actor,
        last: filter.after,
        filter,
        stored: Vec::new().into_iter(),
        replaying: true,
        read_all: None,
        owners: Owners::default(),
        ended: false,
    };
    Ok(futures_util::stream::unfold(
        watcher,
        |mut watcher| async move {
            let item = watcher.next().await?;
            Some((item, watcher))
        },
    ))
}

struct Watcher {
    app: App,
    actor: Actor,
    filter: WatchFilter,
    /// The last event sent, or passed over as not for this watcher.
    last: i64,
    live: broadcast::Receiver<Arc<Published>>,
    closing: tokio::sync::watch::Receiver<bool>,
    /// The page of stored events being replayed.
    stored: std::vec::IntoIter<AuditEvent>,
    replaying: bool,
    /// The last page of stored events has been read, and with it every
    /// event up to this sequence.
    read_all: Option<i64>,
    /// For the stored events only: live ones come with their owner.
    owners: Owners,
    ended: bool,
}

impl Watcher {
    /// The next item for this watcher; None once the watch has ended.
    async fn next(&mut self) -> Option<WatchItem> {
        if self.ended {
            return None;
        }
        let item = self.next_item().await;
        self.ended = !matches!(item, WatchItem::Event(_));
        Some(item)
    }

    async fn next_item(&mut self) -> WatchItem {
        loop {
            // Stored events first.
            while self.replaying {
                match self.next_stored().await {
                    Ok(Some(event)) => return WatchItem::Event(event),
                    Ok(None) => {
                        self.replaying = false;
                        // Not needed any more: live events come with owners.
                        self.owners = Owners::default();
                        self.stored = Vec::new().into_iter();
                    }
                    Err(err) => return WatchItem::Failed(err.into()),
                }
            }
            // Then live ones, until the server shuts down.
            let received = tokio::select! {
                received = self.live.recv() => received,
                _ = closed(&mut self.closing) => return WatchItem::Closing { last: self.last },
            };
            match received {
                Ok(published) => {
                    let sequence = published.event.sequence;
                    if sequence <= self.last {
                        continue;
                    }
                    if sequence > self.last + 1 {
                        // Events between were sealed after this watcher read
                        // the stored ones and before the tail began to
                        // publish to it: read them from the table, then go
                        // on (this one among them).
                        self.replaying = true;
                        self.read_all = None;
                        continue;
                    }
                    self.last = sequence;
                    if !self.filter.admits(&published.event) {
                        continue;
                    }
                    if let Some(seen) = published.seen_by(&self.actor) {
                        return WatchItem::Event(seen);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return WatchItem::Lagged { last: self.last };
                }
                Err(broadcast::error::RecvError::Closed) => {
                    // The bus is gone with the server.
                    return WatchItem::Closing { last: self.last };
                }
            }
        }
    }

    /// The next stored event after the cursor for this watcher, None when
    /// the stored ones are all through.
    async fn next_stored(&mut self) -> Result<Option<Seen>, sea_orm::DbErr> {
        loop {
            let Some(event) = self.stored.next() else {
                if let Some(scanned) = self.read_all {
                    // Every event up to `scanned` that this watch admits was
                    // read: the rest up to there is not for it.
                    self.last = self.last.max(scanned);
                    return Ok(None);
                }
                // The chain's end before the page: a short page covers it.
                let end = Box::pin(store::audit::last_sequence(&self.app.db)).await?;
                // Boxed: a watch holds this future only while it replays.
                let page = Box::pin(store::audit::list_matching(
                    &self.app.db,
                    self.filter.resource.as_deref(),
                    self.filter.action.as_deref(),
                    self.last,
                    REPLAY_PAGE,
                ))
                .await?;
                // A short page is the end of what is stored; what follows
                // comes live (the watcher subscribed before reading).
                self.read_all = ((page.len() as u64) < REPLAY_PAGE).then_some(end);
                self.stored = page.into_iter();
                continue;
            };
            self.last = event.sequence;
            if !self.filter.admits(&event) {
                continue;
            }
            let owner = self.owners.get(&self.app.db, &event.resource).await?;
            if let Some(seen) = event.seen_as(visibility(&self.actor, owner.as_ref())) {
                return Ok(Some(Seen::alone(seen)));
            }
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
