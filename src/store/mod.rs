//! Persistence with sea-orm: the only layer that knows tables and SQL.
//! Functions take any connection, so a use case runs them inside its one
//! transaction.

pub mod audit;
pub mod dispatch;
pub mod entities;
pub mod registry;
pub mod requests;
pub mod sessions;
pub mod stats;
pub mod timers;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use serde::{Serialize, de::DeserializeOwned};
use tracing::{Instrument, field::Empty};

pub use sea_orm::DatabaseConnection as Db;

/// Opens the pool with a 10 s statement deadline.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, max_connections, Duration::from_secs(10)).await
}

/// Opens the pool. SQLite runs in WAL mode with foreign keys on, and waits
/// at most `statement_timeout` for the write lock; PostgreSQL cancels a
/// statement running longer (`statement_timeout`) and a lock wait past it
/// (`lock_timeout`). Every database gets bounded connect and acquire
/// timeouts, so a call never waits on the database without end.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    statement_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let millis = statement_timeout.as_millis().to_string();
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(statement_timeout)
                .foreign_keys(true)
        })
        .map_sqlx_postgres_opts(move |o| {
            o.options([
                ("statement_timeout", millis.as_str()),
                ("lock_timeout", millis.as_str()),
            ])
        });
    let db = Database::connect(options).await?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
        // Pools of one process on one file share the queue, and its
        // shortest deadline.
        let lock = sqlite_writer_lock(&db);
        let mut wait = lock.wait.lock().expect("never poisoned");
        *wait = Some(wait.map_or(statement_timeout, |w| w.min(statement_timeout)));
    }
    Ok(db)
}

/// Starts a transaction that will write, holding the database's single
/// write lock until it ends: on SQLite `BEGIN IMMEDIATE`; on PostgreSQL the
/// row lock of the audit chain's head, which every change takes anyway to
/// append its event. Taking it first, before any read, makes each use case
/// see and change a state no other writer is changing: check-then-write
/// steps (all lines active? which lines wait?) cannot race, and locks are
/// always taken in the same order, so writers never deadlock.
pub async fn begin(db: &DatabaseConnection) -> Result<Txn, DbErr> {
    start(db, true).await
}

/// Starts a write transaction for a use case whose writes check again what
/// its reads found: a state-and-version-guarded update, an insert under a
/// unique key. On PostgreSQL its reads run without the write lock (while
/// another writer holds it), and the lock is taken before its first write
/// (`lock_for_writes`, or the first write itself), so a writer holds it for
/// its writes and the commit only. A change committed between its reads and
/// its writes fails the guard (the caller answers as for any concurrent
/// change) or the key; the lock order stays the one of `begin` (the head
/// first, then rows), so writers still never deadlock. On SQLite it is
/// `begin`: there the lock is the database's.
pub async fn begin_guarded(db: &DatabaseConnection) -> Result<Txn, DbErr> {
    start(db, false).await
}

async fn start(db: &DatabaseConnection, lock_first: bool) -> Result<Txn, DbErr> {
    // SQLite: writers of this process queue on an async lock first, in
    // order, instead of polling SQLite's busy handler (whose sleeps of up to
    // 100 ms made the tail latency). Other processes still meet the busy
    // timeout.
    let queued = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => {
            let lock = sqlite_writer_lock(db);
            let wait = lock
                .wait
                .lock()
                .expect("never poisoned")
                .unwrap_or(Duration::from_secs(10));
            match tokio::time::timeout(wait, lock.queue.clone().lock_owned()).await {
                Ok(guard) => Some(guard),
                // As SQLite's own busy timeout would: the caller may retry.
                Err(_) => {
                    return Err(DbErr::ConnectionAcquire(
                        sea_orm::error::ConnAcquireErr::Timeout,
                    ));
                }
            }
        }
        _ => None,
    };
    let span = tracing::info_span!(
        "db.transaction",
        otel.kind = "internal",
        db.system = match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "postgresql",
            _ => "sqlite",
        },
        db.outcome = Empty,
    );
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .instrument(span.clone())
        .await?;
    let txn = Txn {
        inner: Some(txn),
        span,
        _queued: queued,
        head: std::sync::Mutex::new(None),
        deferred: std::sync::Mutex::new(Vec::new()),
        // SQLite's lock was taken by BEGIN IMMEDIATE.
        locked: std::sync::atomic::AtomicBool::new(
            db.get_database_backend() != sea_orm::DatabaseBackend::Postgres,
        ),
    };
    if lock_first {
        txn.lock_for_writes().await?;
    }
    Ok(txn)
}

/// A write transaction, traced as one `db.transaction` span from BEGIN to
/// COMMIT (or to the rollback when it is dropped), with its statements
/// inside. It runs everything a `DatabaseTransaction` runs.
pub struct Txn {
    /// Taken by `commit` and `rollback`.
    inner: Option<DatabaseTransaction>,
    span: tracing::Span,
    /// SQLite: this process's writer lock, held to the end.
    _queued: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The audit chain's head as this transaction moves it: read once (with
    /// the write lock held), written back once at commit.
    head: std::sync::Mutex<Option<audit::Head>>,
    /// Writes whose answer nobody reads (events, child rows, timers), sent
    /// together before the transaction's next statement or its commit.
    deferred: std::sync::Mutex<Vec<Statement>>,
    /// Whether this transaction holds the write lock (see `begin_guarded`).
    locked: std::sync::atomic::AtomicBool,
}

/// The writers' queue of one SQLite file in this process, and how long a
/// writer waits in it (the statement deadline, as SQLite's busy timeout).
struct WriterLock {
    queue: std::sync::Arc<tokio::sync::Mutex<()>>,
    wait: std::sync::Mutex<Option<Duration>>,
}

impl Default for WriterLock {
    fn default() -> Self {
        WriterLock {
            queue: Default::default(),
            wait: std::sync::Mutex::new(None),
        }
    }
}

/// One lock per SQLite file, shared by every pool of this process on it.
fn sqlite_writer_lock(db: &DatabaseConnection) -> std::sync::Arc<WriterLock> {
    use std::{
        collections::HashMap,
        path::PathBuf,
        sync::{Arc, Mutex, OnceLock},
    };
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<WriterLock>>>> = OnceLock::new();
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    LOCKS
        .get_or_init(Default::default)
        .lock()
        .expect("the lock table is never poisoned")
        .entry(file)
        .or_default()
        .clone()
}

impl Txn {
    fn inner(&self) -> &DatabaseTransaction {
        self.inner
            .as_ref()
            .expect("a transaction is not used after it ends")
    }

    /// Takes the write lock if this transaction does not hold it yet: on
    /// PostgreSQL the row lock of the chain's head, whose value it keeps for
    /// the events it appends.
    pub async fn lock_for_writes(&self) -> Result<(), DbErr> {
        use sea_orm::{EntityTrait, FromQueryResult, QuerySelect, QueryTrait};
        use std::sync::atomic::Ordering;
        if self.locked.load(Ordering::Acquire) {
            return Ok(());
        }
        let inner = self.inner();
        let statement = entities::audit_head::Entity::find_by_id(1)
            .lock_exclusive()
            .build(inner.get_database_backend());
        let head = inner
            .query_one_raw(statement)
            .instrument(self.span.clone())
            .await?
            .map(|row| entities::audit_head::Model::from_query_result(&row, ""))
            .transpose()?;
        *self.head.lock().expect("never poisoned") = head.map(|h| audit::Head {
            sequence: h.last_sequence,
            hash: h.last_hash,
            dirty: false,
        });
        self.locked.store(true, Ordering::Release);
        Ok(())
    }

    /// Queues a write to be sent with the others of this transaction, in
    /// order, in one round trip: before the next statement the transaction
    /// runs, or at its commit. For writes whose result (rows affected,
    /// generated keys) nothing reads; an error it meets surfaces from that
    /// next statement or the commit, and the transaction rolls back as
    /// with any other error.
    pub(crate) fn defer(&self, statement: Statement) {
        self.deferred
            .lock()
            .expect("never poisoned")
            .push(statement);
    }

    /// Sends the deferred writes. SQLite runs several statements of one
    /// query with their parameters in turn; PostgreSQL's extended protocol
    /// takes one statement per query, so there they go as one simple query,
    /// each with its values written in by the query builder's quoting.
    async fn flush(&self) -> Result<(), DbErr> {
        if self.deferred.lock().expect("never poisoned").is_empty() {
            return Ok(());
        }
        self.lock_for_writes().await?;
        let mut batch = std::mem::take(&mut *self.deferred.lock().expect("never poisoned"));
        let inner = self.inner();
        let run = async {
            if batch.len() == 1 {
                let statement = batch.pop().expect("one statement");
                return inner.execute_raw(statement).await.map(drop);
            }
            match inner.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    let sql = batch
                        .iter()
                        .map(|s| {
                            let values = s.values.as_ref().map_or(&[][..], |v| &v.0[..]);
                            sea_orm::sea_query::inject_parameters(
                                &s.sql,
                                values,
                                &sea_orm::sea_query::PostgresQueryBuilder,
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(";\n");
                    inner.execute_unprepared(&sql).await.map(drop)
                }
                backend => {
                    let mut sql = String::new();
                    let mut values = Vec::new();
                    for s in batch {
                        if !sql.is_empty() {
                            sql.push_str(";\n");
                        }
                        sql.push_str(&s.sql);
                        values.extend(s.values.map(|v| v.0).unwrap_or_default());
                    }
                    let statement = Statement::from_sql_and_values(backend, sql, values);
                    inner.execute_raw(statement).await.map(drop)
                }
            }
        };
        run.instrument(self.span.clone()).await
    }

    pub async fn commit(mut self) -> Result<(), DbErr> {
        let head = self.head.lock().expect("never poisoned").take();
        if let Some(head) = head.filter(|h| h.dirty) {
            audit::write_head(&self, &head);
        }
        self.flush().await?;
        let inner = self.inner.take().expect("a transaction ends once");
        let result = inner.commit().instrument(self.span.clone()).await;
        self.span.record(
            "db.outcome",
            if result.is_ok() { "commit" } else { "failed" },
        );
        result
    }

    pub async fn rollback(mut self) -> Result<(), DbErr> {
        let inner = self.inner.take().expect("a transaction ends once");
        self.span.record("db.outcome", "rollback");
        inner.rollback().instrument(self.span.clone()).await
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        if self.inner.is_some() {
            // Dropped before its end: the driver rolls it back.
            self.span.record("db.outcome", "rollback");
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        self.inner().get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.flush().await?;
        self.lock_for_writes().await?;
        self.inner()
            .execute_raw(stmt)
            .instrument(self.span.clone())
            .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.flush().await?;
        self.lock_for_writes().await?;
        self.inner()
            .execute_unprepared(sql)
            .instrument(self.span.clone())
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.flush().await?;
        if writes(&stmt) {
            self.lock_for_writes().await?;
        }
        self.inner()
            .query_one_raw(stmt)
            .instrument(self.span.clone())
            .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.flush().await?;
        if writes(&stmt) {
            self.lock_for_writes().await?;
        }
        self.inner()
            .query_all_raw(stmt)
            .instrument(self.span.clone())
            .await
    }
}

/// Whether a statement that returns rows writes (`INSERT … RETURNING`, an
/// upsert, `UPDATE … RETURNING`) or locks rows (`SELECT … FOR UPDATE`).
fn writes(statement: &Statement) -> bool {
    let sql = statement.sql.trim_start();
    let starts = |verb: &str| {
        sql.get(..verb.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(verb))
    };
    // A locking read (`SELECT ... FOR UPDATE`, `FOR SHARE`, ...) takes row
    // locks too, so it waits for the head lock like a write.
    ["INSERT", "UPDATE", "DELETE", "WITH"]
        .into_iter()
        .any(starts)
        || (starts("SELECT") && locks_rows(sql))
}

fn locks_rows(sql: &str) -> bool {
    // Every read passes here: compared in place, not on an upper-cased copy.
    [
        " FOR UPDATE",
        " FOR NO KEY UPDATE",
        " FOR SHARE",
        " FOR KEY SHARE",
    ]
    .iter()
    .any(|clause| {
        sql.as_bytes()
            .windows(clause.len())
            .any(|w| w.eq_ignore_ascii_case(clause.as_bytes()))
    })
}

/// Lists of codes are stored as JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("lists of strings always serialise")
}

pub(crate) fn from_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T, DbErr> {
    serde_json::from_str(text).map_err(|e| corrupt(column, e))
}

pub(crate) fn parse_code<T: std::str::FromStr>(column: &str, text: &str) -> Result<T, DbErr>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| corrupt(column, e))
}

fn corrupt(column: &str, error: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!(
        "stored value of `{column}` cannot be read: {error}"
    ))
}

/// What a database error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database cannot be reached, or is busy past the timeouts: retry later.
    Unavailable,
    /// A serialisation failure or deadlock: the transaction may be retried.
    Conflict,
    Other,
}

pub fn classify(err: &DbErr) -> Failure {
    use std::ops::Deref;
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => Failure::Unavailable,
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => {
            match e.deref() {
                sea_orm::sqlx::Error::Io(_)
                | sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::PoolClosed => Failure::Unavailable,
                sea_orm::sqlx::Error::Database(db) => match db.code().as_deref() {
                    // PostgreSQL: serialization failure, deadlock; lock or statement timeout.
                    Some("40001" | "40P01") => Failure::Conflict,
                    Some("55P03" | "57014") => Failure::Unavailable,
                    // PostgreSQL shutting down or restarting ("terminating connection
                    // due to administrator command", a crash of another backend, "the
                    // database system is starting up"), and connection exceptions
                    // (class 08): the pool opens a new connection on the next call.
                    Some("57P01" | "57P02" | "57P03") => Failure::Unavailable,
                    Some(code) if code.starts_with("08") => Failure::Unavailable,
                    // SQLite: busy or locked past the busy timeout.
                    Some("5" | "6" | "517") => Failure::Unavailable,
                    _ => Failure::Other,
                },
                _ => Failure::Other,
            }
        }
        _ => Failure::Other,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use sea_orm::sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// A database error with a given SQLSTATE, as the driver reports it.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "from the database"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn query_error(code: &'static str) -> DbErr {
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::Database(Box::new(Sqlstate(code))),
        )))
    }

    #[test]
    fn writes_and_locking_reads_take_the_write_lock_and_plain_reads_do_not() {
        let statement = |sql: &str| Statement::from_string(sea_orm::DbBackend::Postgres, sql);
        for sql in [
            "INSERT INTO t (a) VALUES (1) RETURNING id",
            "  update t SET a = 1 RETURNING id",
            "DELETE FROM t RETURNING id",
            "WITH x AS (UPDATE t SET a = 1 RETURNING id) SELECT id FROM x",
            "SELECT id FROM timers WHERE due <= $1 FOR UPDATE SKIP LOCKED",
            "select id from t for no key update",
            "SELECT id FROM t FOR SHARE",
            "SELECT id FROM t FOR KEY SHARE",
        ] {
            assert!(writes(&statement(sql)), "{sql}");
        }
        for sql in [
            "SELECT id FROM t WHERE a = $1",
            "SELECT id FROM t WHERE note = 'FORUPDATE'",
        ] {
            assert!(!writes(&statement(sql)), "{sql}");
        }
    }

    #[test]
    fn a_database_restart_is_unavailable_not_internal() {
        // 57P01: what a query in flight gets when PostgreSQL is restarted.
        for code in [
            "57P01", "57P02", "57P03", "08006", "08003", "55P03", "57014",
        ] {
            assert_eq!(classify(&query_error(code)), Failure::Unavailable, "{code}");
        }
        assert_eq!(classify(&query_error("40001")), Failure::Conflict);
        // A constraint violation is a bug, not an outage.
        assert_eq!(classify(&query_error("23505")), Failure::Other);
    }
}
