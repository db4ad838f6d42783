//! The write transaction: one per use case, with its deferred writes and
//! its audit events.
//!
//! Locks are explicit. On SQLite a write transaction is the database's one
//! writer from `BEGIN IMMEDIATE` to its end (writers of this process queue
//! for it in order). On PostgreSQL nothing is global: a use case locks the
//! rows it changes (`requests::find_for_change` reads its request
//! `FOR UPDATE`; guarded updates lock what they update), and writers
//! conflict only there.
//!
//! Audit events are kept in the transaction and written at its commit.
//! SQLite seals them into the chain there and then: the writer lock already
//! orders all writers, of every process, and the chain's head is read under
//! it (with the request a change reads, or at the commit). PostgreSQL
//! queues them in `audit_pending`, for the sequencer to seal in commit
//! order (`store::audit`), so that no writer waits for another to append
//! to the chain.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tracing::{Instrument, field::Empty};

use super::audit::{self, Head, NewEvent};

/// Starts a write transaction. On SQLite it waits for this process's turn
/// at the writer lock (at most the statement deadline), then takes the
/// database's with `BEGIN IMMEDIATE`. On PostgreSQL it takes no lock.
pub async fn begin(db: &DatabaseConnection) -> Result<Txn, DbErr> {
    let shared = shared(db);
    let queued = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let wait = shared
                .wait
                .lock()
                .expect("never poisoned")
                .unwrap_or(Duration::from_secs(10));
            match tokio::time::timeout(wait, shared.writer.clone().lock_owned()).await {
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
            DbBackend::Postgres => "postgresql",
            _ => "sqlite",
        },
        db.outcome = Empty,
    );
    let inner = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .instrument(span.clone())
        .await?;
    Ok(Txn {
        inner: Some(inner),
        span,
        _queued: queued,
        shared,
        deferred: Mutex::new(Vec::new()),
        events: Mutex::new(Vec::new()),
        head: Mutex::new(None),
    })
}

/// A write transaction, traced as one `db.transaction` span from BEGIN to
/// COMMIT (or to the rollback when it is dropped), with its statements
/// inside. It runs everything a `DatabaseTransaction` runs.
pub struct Txn {
    /// Taken by `commit` and `rollback`.
    inner: Option<DatabaseTransaction>,
    span: tracing::Span,
    /// SQLite: this process's turn at the writer lock, held to the end.
    _queued: Option<tokio::sync::OwnedMutexGuard<()>>,
    shared: Arc<Shared>,
    /// Writes whose answer nobody reads, sent together before the
    /// transaction's next statement or its commit.
    deferred: Mutex<Vec<Statement>>,
    /// Audit events, written at the commit.
    events: Mutex<Vec<NewEvent>>,
    /// SQLite: the chain's head, when a read under the writer lock brought
    /// it along.
    head: Mutex<Option<Head>>,
}

/// What the transactions of one database share in this process.
#[derive(Default)]
pub(crate) struct Shared {
    /// SQLite: the writers' queue.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// SQLite: how long a writer waits in it (the statement deadline).
    pub(crate) wait: Mutex<Option<Duration>>,
    /// PostgreSQL: wakes this process's sequencer after a commit queued
    /// events.
    pub(crate) sealer: tokio::sync::Notify,
}

/// The shared state of `db`'s database in this process: by file for
/// SQLite, by server and database name for PostgreSQL.
pub(crate) fn shared(db: &DatabaseConnection) -> Arc<Shared> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static SHARED: OnceLock<Mutex<HashMap<String, Arc<Shared>>>> = OnceLock::new();
    let key = match db.get_database_backend() {
        DbBackend::Postgres => {
            let o = db.get_postgres_connection_pool().connect_options();
            format!(
                "postgres://{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or_default()
            )
        }
        _ => format!(
            "sqlite:{}",
            db.get_sqlite_connection_pool()
                .connect_options()
                .get_filename()
                .display()
        ),
    };
    SHARED
        .get_or_init(Default::default)
        .lock()
        .expect("the table is never poisoned")
        .entry(key)
        .or_default()
        .clone()
}

impl Txn {
    fn inner(&self) -> &DatabaseTransaction {
        self.inner
            .as_ref()
            .expect("a transaction is not used after it ends")
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

    /// SQLite: the chain's head as a statement of this transaction read it
    /// (under the writer lock, so it holds until the commit).
    pub(crate) fn know_head(&self, head: Head) {
        *self.head.lock().expect("never poisoned") = Some(head);
    }

    /// Records an audit event, written at the commit in the order recorded.
    pub(crate) fn record(&self, event: NewEvent) {
        self.events.lock().expect("never poisoned").push(event);
    }

    /// Sends the deferred writes. SQLite runs several statements of one
    /// query with their parameters in turn; PostgreSQL's extended protocol
    /// takes one statement per query, so there they go as one simple query,
    /// each with its values written in by the query builder's quoting.
    async fn flush(&self) -> Result<(), DbErr> {
        let mut batch = std::mem::take(&mut *self.deferred.lock().expect("never poisoned"));
        if batch.is_empty() {
            return Ok(());
        }
        let inner = self.inner();
        let run = async {
            if batch.len() == 1 {
                let statement = batch.pop().expect("one statement");
                return inner.execute_raw(statement).await.map(drop);
            }
            match inner.get_database_backend() {
                DbBackend::Postgres => {
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

    /// Writes the recorded events (sealed on SQLite, queued on PostgreSQL)
    /// with the deferred writes, and commits.
    pub async fn commit(mut self) -> Result<(), DbErr> {
        let events = std::mem::take(&mut *self.events.lock().expect("never poisoned"));
        let backend = self.get_database_backend();
        match backend {
            DbBackend::Postgres => {
                if !events.is_empty() {
                    self.defer(audit::queue(backend, &events));
                }
            }
            _ if events.is_empty() => {}
            _ => {
                let known = self.head.lock().expect("never poisoned").take();
                let head = match known {
                    Some(head) => head,
                    None => audit::head(&self).await?,
                };
                let (statements, _) = audit::seal(backend, head, &events);
                for statement in statements {
                    self.defer(statement);
                }
            }
        }
        let result = async {
            self.flush().await?;
            let inner = self.inner.take().expect("a transaction ends once");
            inner.commit().instrument(self.span.clone()).await
        }
        .await;
        self.span.record(
            "db.outcome",
            if result.is_ok() { "commit" } else { "failed" },
        );
        if backend == DbBackend::Postgres && result.is_ok() && !events.is_empty() {
            self.shared.sealer.notify_one();
        }
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
        self.inner()
            .execute_raw(stmt)
            .instrument(self.span.clone())
            .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.flush().await?;
        self.inner()
            .execute_unprepared(sql)
            .instrument(self.span.clone())
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.flush().await?;
        self.inner()
            .query_one_raw(stmt)
            .instrument(self.span.clone())
            .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.flush().await?;
        self.inner()
            .query_all_raw(stmt)
            .instrument(self.span.clone())
            .await
    }
}
