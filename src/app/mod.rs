//! Use cases: one function per user action. Each owns its transaction and
//! writes the state change and its audit event together.

pub mod audit;
pub mod capacity;
pub mod decisions;
pub mod dispatch;
pub mod events;
pub(crate) mod kernel;
pub mod log;
pub mod notify;
pub mod preparedness;
pub mod registry;
pub mod registry_import;
pub mod requests;
pub mod usage;

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{DatabaseConnection, DbErr, SqlErr};

use crate::domain::actor::{Actor, Denied, Operation};
use crate::domain::eligibility::RuleSet;
use crate::domain::validation::Violations;
use crate::store;

/// Errors of the use cases; the gRPC layer maps each to one status code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid argument: {0}")]
    Invalid(Violations),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// A concurrent change came first; the caller may read again and retry.
    #[error("{0}")]
    Aborted(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl From<Violations> for AppError {
    fn from(v: Violations) -> Self {
        AppError::Invalid(v)
    }
}

impl From<Denied> for AppError {
    fn from(d: Denied) -> Self {
        AppError::PermissionDenied(d.to_string())
    }
}

impl AppError {
    pub fn invalid(field: &str, description: &str) -> Self {
        AppError::Invalid(Violations::one(field, description))
    }

    /// Maps a unique-key violation to `AlreadyExists(what)`.
    fn unique_as_exists(err: DbErr, what: impl FnOnce() -> String) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppError::AlreadyExists(what()),
            _ => AppError::Database(err),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The time source; tests substitute their own.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time at the microsecond precision both databases store, so
/// that a value written and read back (and the audit hash over it) is equal.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that runs with the wall clock plus an offset the caller moves:
/// tests use it to make deadlines pass without waiting.
#[derive(Default)]
pub struct ManualClock {
    offset: std::sync::Mutex<chrono::Duration>,
}

impl ManualClock {
    pub fn advance(&self, by: chrono::Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + *self.offset.lock().expect("clock lock")
    }
}

/// Everything a use case needs.
#[derive(Clone)]
pub struct App {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// The eligibility rule set in force, with thresholds, deadlines and weights.
    pub rules: Arc<RuleSet>,
    /// Live events for watchers in this process.
    pub events: Arc<events::EventBus>,
    /// The instruments RPCs, timers and gauges report to.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The registry in memory.
    pub registry: Arc<RegistryCache>,
    /// The audit log's tree and checkpoints: their origin and signing key.
    pub log: Arc<log::AuditLog>,
    /// How notifications are sent (the SMTP server, the console's address).
    pub notify: Arc<notify::NotifyConfig>,
}

impl App {
    pub fn new(db: DatabaseConnection, rules: RuleSet) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
            rules: Arc::new(rules),
            events: Arc::default(),
            metrics: Arc::default(),
            registry: Arc::default(),
            log: Arc::default(),
            notify: Arc::default(),
        }
    }

    /// Sends notifications with `notify` (its SMTP server) instead.
    pub fn with_notify(mut self, notify: notify::NotifyConfig) -> Self {
        self.notify = Arc::new(notify);
        self
    }

    /// Keeps the audit log with `log` (its signing key, say) instead.
    pub fn with_log(mut self, log: log::AuditLog) -> Self {
        self.log = Arc::new(log);
        self
    }

    /// Reports to `metrics` (with an OTLP reader, say) instead.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Arc::new(metrics);
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The registry as it stands now, for the checks of a command that
    /// names countries or providers (one query to learn its version).
    pub async fn registry_now(&self) -> AppResult<Arc<store::registry::Snapshot>> {
        self.registry.at(&self.db, None).await
    }
}

/// Refuses callers whose role may never do `operation` (DESIGN.md, "Who
/// uses it"); the doors ask the same before reading what was sent.
pub fn require(actor: &Actor, operation: Operation) -> AppResult<()> {
    Ok(actor.permit(operation)?)
}

/// The registry in memory (`store::registry::Snapshot`), read again when
/// its version moves.
#[derive(Default)]
pub struct RegistryCache {
    current: std::sync::RwLock<Arc<store::registry::Snapshot>>,
    loading: tokio::sync::Mutex<()>,
}

impl RegistryCache {
    /// The registry at `version` or later (None: at the version stored now,
    /// one query to learn it).
    pub async fn at(
        &self,
        db: &DatabaseConnection,
        version: Option<i64>,
    ) -> AppResult<Arc<store::registry::Snapshot>> {
        let version = match version {
            Some(v) => v,
            None => store::registry::version(db).await?,
        };
        let fresh = |s: &Arc<store::registry::Snapshot>| s.version >= version;
        let current = self.current.read().expect("never poisoned").clone();
        if fresh(&current) {
            return Ok(current);
        }
        // One reader loads it; the others wait for its result.
        let _loading = self.loading.lock().await;
        let current = self.current.read().expect("never poisoned").clone();
        if fresh(&current) {
            return Ok(current);
        }
        let loaded = Arc::new(store::registry::load(db).await?);
        *self.current.write().expect("never poisoned") = loaded.clone();
        Ok(loaded)
    }
}

pub use crate::domain::query::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest};

/// A page of results with the token for the next.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}
