//! The write kernel: every change of a request goes through here.
//!
//! A use case begins a transaction, loads the request for change (its row
//! locked until the commit, and only if the caller may see it), applies the
//! chart's steps (each checked by `RequestState::apply` and recorded as an
//! audit event in the order taken), edits the request's other fields in
//! memory, and saves: one update of the request's row, guarded by the
//! version read, with the events and the other deferred writes sent with
//! it. The answer is the request as saved, from memory, not read back.
//!
//! ```text
//! let txn = kernel::begin(app).await?;
//! let mut r = kernel::load_for_change(&txn, actor, id).await?;
//! r.step(&txn, actor, now, Step { action: Action::Close, event: "CloseSupportRequest", payload })?;
//! r.save(&txn, now).await?;
//! txn.commit().await?;
//! ```

use chrono::{DateTime, Utc};

use super::{App, AppError, AppResult};
use crate::domain::actor::Actor;
use crate::domain::request::{Action, RequestState, SupportRequest};
use crate::store::{self, Txn, audit::NewEvent};

pub fn resource_name(id: &str) -> String {
    crate::domain::names::support_request(id)
}

pub(crate) fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!("{} not found", resource_name(id)))
}

/// Starts a use case's transaction.
pub(crate) async fn begin(app: &App) -> AppResult<Txn> {
    Ok(store::begin(&app.db).await?)
}

/// One audit event.
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub resource: String,
    pub from: &'a str,
    pub to: &'a str,
    pub payload: serde_json::Value,
}

/// Records one audit event in the transaction; it is written at the commit.
pub(crate) fn record(txn: &Txn, actor: &Actor, at: DateTime<Utc>, change: Change<'_>) {
    txn.record(NewEvent {
        time: at,
        actor: actor.subject.clone(),
        role: actor.role.as_str().to_owned(),
        organisation: actor.organisation.clone(),
        action: change.action.to_owned(),
        resource: change.resource,
        from_state: change.from.to_owned(),
        to_state: change.to.to_owned(),
        payload: change.payload.to_string(),
    });
}

/// One step of the chart and the audit event it writes (named after what
/// happened: an RPC, or a step the service takes itself).
pub(crate) struct Step<'a> {
    pub action: Action,
    pub event: &'a str,
    pub payload: serde_json::Value,
}

/// A request loaded for change, its row locked by the transaction.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub key: i64,
    /// The request as the use case changes it.
    pub request: SupportRequest,
    /// The registry's version when the request was read: the registry a
    /// change judges by is at least this one (`RegistryCache::at`).
    pub registry_version: i64,
    /// The version read, which the save is guarded by.
    read_version: i64,
}

impl From<store::requests::ForChange> for Loaded {
    fn from(read: store::requests::ForChange) -> Self {
        let stored = read.stored;
        Loaded {
            key: stored.key,
            registry_version: read.registry_version,
            read_version: stored.request.version,
            request: stored.request,
        }
    }
}

/// Loads a request the actor may see, for change; another organisation's
/// is `NOT_FOUND`, exactly as a request that does not exist.
pub(crate) async fn load_for_change(txn: &Txn, actor: &Actor, id: &str) -> AppResult<Loaded> {
    match store::requests::find_for_change(txn, id).await? {
        Some(read) if read.stored.request.visible_to(actor) => Ok(read.into()),
        _ => Err(not_found(id)),
    }
}

/// Loads a request by id for a change the service makes itself; None when
/// there is no such request.
pub(crate) async fn load_id_for_change(txn: &Txn, id: &str) -> AppResult<Option<Loaded>> {
    Ok(store::requests::find_for_change(txn, id)
        .await?
        .map(Loaded::from))
}

/// Loads a request by row key, for a change the service makes itself.
pub(crate) async fn load_key_for_change(txn: &Txn, key: i64) -> AppResult<Loaded> {
    store::requests::find_key_for_change(txn, key)
        .await?
        .map(Loaded::from)
        .ok_or_else(|| AppError::NotFound("support request not found".into()))
}

impl Loaded {
    /// Refuses a change made against another version than the one the
    /// caller read (0: any).
    pub fn expect_version(&self, expected: i64) -> AppResult<()> {
        if expected != 0 && expected != self.read_version {
            return Err(AppError::Aborted(format!(
                "the request is at version {}, not {expected}; read it again",
                self.read_version
            )));
        }
        Ok(())
    }

    /// Whether the chart allows `action` now.
    pub fn allows(&self, action: Action) -> bool {
        self.request.state.apply(action).is_ok()
    }

    /// Checks `action` against the chart without taking it.
    pub fn check(&self, action: Action) -> AppResult<RequestState> {
        self.request
            .state
            .apply(action)
            .map_err(|e| AppError::FailedPrecondition(e.to_string()))
    }

    /// Takes a step of the chart: refused (and nothing changed) when the
    /// chart does not allow it; otherwise the state moves and the event is
    /// recorded.
    pub fn step(
        &mut self,
        txn: &Txn,
        actor: &Actor,
        now: DateTime<Utc>,
        step: Step<'_>,
    ) -> AppResult<()> {
        let from = self.request.state;
        let to = self.check(step.action)?;
        self.request.state = to;
        self.record(txn, actor, now, step.event, from, step.payload);
        Ok(())
    }

    /// Records an event of the request that moves no state.
    pub fn event(
        &self,
        txn: &Txn,
        actor: &Actor,
        now: DateTime<Utc>,
        event: &str,
        payload: serde_json::Value,
    ) {
        self.record(txn, actor, now, event, self.request.state, payload);
    }

    fn record(
        &self,
        txn: &Txn,
        actor: &Actor,
        now: DateTime<Utc>,
        event: &str,
        from: RequestState,
        payload: serde_json::Value,
    ) {
        record(
            txn,
            actor,
            now,
            Change {
                action: event,
                resource: resource_name(&self.request.id),
                from: from.as_str(),
                to: self.request.state.as_str(),
                payload,
            },
        );
    }

    /// Writes the request as changed: a new version, one guarded update.
    pub async fn save(&mut self, txn: &Txn, now: DateTime<Utc>) -> AppResult<()> {
        self.request.version = self.read_version + 1;
        self.request.updated_at = now;
        store::requests::save(txn, self.key, self.read_version, &self.request).await?;
        self.read_version = self.request.version;
        Ok(())
    }

    /// Saves, commits and answers with the request as saved.
    pub async fn finish(mut self, txn: Txn, now: DateTime<Utc>) -> AppResult<SupportRequest> {
        self.save(&txn, now).await?;
        txn.commit().await?;
        Ok(self.request)
    }
}

impl Loaded {
    /// The registry as it stood when the request was read, or later.
    pub async fn registry(
        &self,
        app: &App,
    ) -> AppResult<std::sync::Arc<store::registry::Snapshot>> {
        app.registry.at(&app.db, Some(self.registry_version)).await
    }
}
