//! The write transaction: one per use case, with its deferred writes and
//! its audit events, on a connection of its own whose `BEGIN` and `COMMIT`
//! it sends itself, so that they travel with its first and last
//! statements: a change that reads its request and writes it back is two
//! round trips (`BEGIN` and the locked read; the writes and `COMMIT`).
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
//!
//! Statements are sent several to a round trip: on SQLite as one query of
//! several statements with their parameters bound; on PostgreSQL as one
//! simple query, each statement with its values written in by sea-query's
//! quoting (the extended protocol takes one statement per query).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
    sqlx::{self, Either, pool::PoolConnection, postgres::Postgres, sqlite::Sqlite},
};
use sea_query_sqlx::SqlxValues;
use tracing::{Instrument, field::Empty};

use super::audit::{self, Head, NewEvent};

/// Starts a write transaction on a connection of its own. On SQLite it
/// waits for this process's turn at the writer lock (at most the statement
/// deadline); its `BEGIN IMMEDIATE` takes the database's. On PostgreSQL it
/// takes no lock. Nothing is sent until the first statement.
pub async fn begin(db: &DatabaseConnection) -> Result<Txn, DbErr> {
    let shared = shared(db);
    let backend = db.get_database_backend();
    let queued = match backend {
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
        db.system = match backend {
            DbBackend::Postgres => "postgresql",
            _ => "sqlite",
        },
        db.outcome = Empty,
    );
    let conn = match backend {
        DbBackend::Postgres => Conn::Postgres(
            db.get_postgres_connection_pool()
                .acquire()
                .instrument(span.clone())
                .await
                .map_err(conn_err)?,
        ),
        _ => Conn::Sqlite(
            db.get_sqlite_connection_pool()
                .acquire()
                .instrument(span.clone())
                .await
                .map_err(conn_err)?,
        ),
    };
    Ok(Txn {
        session: tokio::sync::Mutex::new(Session {
            conn: Some(conn),
            begun: false,
        }),
        backend,
        span,
        queued: Mutex::new(queued),
        shared,
        deferred: Mutex::new(Vec::new()),
        events: Mutex::new(Vec::new()),
        head: Mutex::new(None),
    })
}

enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// The connection and whether `BEGIN` has gone out on it.
struct Session {
    /// Taken when the transaction ends.
    conn: Option<Conn>,
    begun: bool,
}

/// A write transaction, traced as one `db.transaction` span from its first
/// statement to its end, with a `db.query` span for each round trip. It
/// runs everything a sea-orm connection runs.
pub struct Txn {
    session: tokio::sync::Mutex<Session>,
    backend: DbBackend,
    span: tracing::Span,
    /// SQLite: this process's turn at the writer lock, held to the end.
    queued: Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
    shared: Arc<Shared>,
    /// Writes whose answer nobody reads, sent with the transaction's next
    /// statement or its commit.
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
    /// A pool of one connection of its own for reading the registry, which
    /// a transaction may need while it holds its connection and its locks:
    /// from the shared pool it could wait for a connection that waits for
    /// its locks.
    registry_reader: tokio::sync::OnceCell<DatabaseConnection>,
}

/// The connection the registry is read on (see `Shared::registry_reader`).
pub(crate) async fn registry_reader(db: &DatabaseConnection) -> Result<DatabaseConnection, DbErr> {
    let shared = shared(db);
    shared
        .registry_reader
        .get_or_try_init(|| async {
            fn one<D: sqlx::Database>() -> sqlx::pool::PoolOptions<D> {
                sqlx::pool::PoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
            }
            Ok(match db.get_database_backend() {
                DbBackend::Postgres => {
                    let options = db.get_postgres_connection_pool().connect_options();
                    sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(
                        one().connect_lazy_with((*options).clone()),
                    )
                }
                _ => {
                    let options = db.get_sqlite_connection_pool().connect_options();
                    sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(
                        one().connect_lazy_with((*options).clone()),
                    )
                }
            })
        })
        .await
        .cloned()
}

/// The shared state of `db`'s database in this process: by file for
/// SQLite, by server and database name for PostgreSQL.
pub(crate) fn shared(db: &DatabaseConnection) -> Arc<Shared> {
    shared_table()
        .lock()
        .expect("the table is never poisoned")
        .entry(shared_key(db))
        .or_default()
        .clone()
}

/// Lets go of what this process keeps for `db`'s database (the registry
/// reader's connection among it), for a process that opens many databases
/// one after another, such as a test run: each would otherwise keep a
/// connection to the server until the process ends.
pub fn forget(db: &DatabaseConnection) {
    shared_table()
        .lock()
        .expect("the table is never poisoned")
        .remove(&shared_key(db));
}

fn shared_table() -> &'static Mutex<std::collections::HashMap<String, Arc<Shared>>> {
    static SHARED: std::sync::OnceLock<Mutex<std::collections::HashMap<String, Arc<Shared>>>> =
        std::sync::OnceLock::new();
    SHARED.get_or_init(Default::default)
}

fn shared_key(db: &DatabaseConnection) -> String {
    match db.get_database_backend() {
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
    }
}

fn conn_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)))
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

/// What one round trip answers for its last statement of interest.
enum Answer {
    Rows(Vec<QueryResult>),
    Done(ExecResult),
}

impl Txn {
    /// Queues a write to be sent with the others of this transaction, in
    /// order, in one round trip: with the next statement the transaction
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

    /// Sends, in one round trip: `BEGIN` if not sent yet, the deferred
    /// writes, `statement` if any, and `COMMIT` when `commit`. Answers for
    /// `statement` (its rows, or what it changed).
    async fn send(
        &self,
        statement: Option<Statement>,
        rows: bool,
        commit: bool,
    ) -> Result<Answer, DbErr> {
        let mut session = self.session.lock().await;
        let mut parts: Vec<Statement> = Vec::new();
        let begin = !session.begun;
        if begin {
            parts.push(Statement::from_string(
                self.backend,
                match self.backend {
                    DbBackend::Postgres => "BEGIN",
                    _ => "BEGIN IMMEDIATE",
                },
            ));
        }
        parts.append(&mut std::mem::take(
            &mut *self.deferred.lock().expect("never poisoned"),
        ));
        // The index of the statement answered for.
        let target = statement.is_some().then_some(parts.len());
        parts.extend(statement);
        if commit {
            parts.push(Statement::from_string(self.backend, "COMMIT"));
        }
        let span = tracing::info_span!(
            parent: &self.span,
            "db.query",
            otel.kind = "client",
            db.statements = parts.len() as i64,
        );
        // Once BEGIN is on its way the transaction may be open, whatever
        // the answer: its end must be sent.
        session.begun = true;
        let conn = session
            .conn
            .as_mut()
            .expect("a transaction is not used after it ends");
        let run = async {
            let mut answer_rows = Vec::new();
            let mut answer_done = None;
            let mut index = 0;
            match conn {
                Conn::Sqlite(conn) => {
                    let mut sql = String::new();
                    let mut values = Vec::new();
                    for s in &parts {
                        if !sql.is_empty() {
                            sql.push_str(";\n");
                        }
                        sql.push_str(&s.sql);
                        values.extend(s.values.iter().flat_map(|v| v.0.iter().cloned()));
                    }
                    #[allow(deprecated)]
                    let mut results = sqlx::query_with(
                        sqlx::AssertSqlSafe(sql),
                        SqlxValues(sea_orm::sea_query::Values(values)),
                    )
                    // Prepared once per shape of round trip and kept: a use
                    // case sends the same few shapes again and again.
                    .persistent(true)
                    .fetch_many(&mut **conn);
                    while let Some(step) = results
                        .try_next()
                        .await
                        .map_err(|e| if rows { query_err(e) } else { exec_err(e) })?
                    {
                        match step {
                            Either::Left(done) => {
                                if Some(index) == target {
                                    answer_done = Some(ExecResult::from(done));
                                }
                                index += 1;
                            }
                            Either::Right(row) => {
                                if Some(index) == target {
                                    answer_rows.push(QueryResult::from(row));
                                }
                            }
                        }
                    }
                }
                Conn::Postgres(conn) => {
                    let sql = parts
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
                    let mut results =
                        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_many(&mut **conn);
                    while let Some(step) = results
                        .try_next()
                        .await
                        .map_err(|e| if rows { query_err(e) } else { exec_err(e) })?
                    {
                        match step {
                            Either::Left(done) => {
                                if Some(index) == target {
                                    answer_done = Some(ExecResult::from(done));
                                }
                                index += 1;
                            }
                            Either::Right(row) => {
                                if Some(index) == target {
                                    answer_rows.push(QueryResult::from(row));
                                }
                            }
                        }
                    }
                }
            }
            Ok::<_, DbErr>(if rows {
                Answer::Rows(answer_rows)
            } else {
                Answer::Done(answer_done.unwrap_or_else(|| match self.backend {
                    DbBackend::Postgres => {
                        ExecResult::from(sqlx::postgres::PgQueryResult::default())
                    }
                    _ => ExecResult::from(sqlx::sqlite::SqliteQueryResult::default()),
                }))
            })
        };
        let answer = run.instrument(span).await;
        if begin && answer.is_err() {
            tracing::debug!("a transaction's first round trip failed");
        }
        answer
    }

    /// Writes the recorded events (sealed on SQLite, queued on PostgreSQL)
    /// with the deferred writes and `COMMIT`, in one round trip (SQLite
    /// first reads the chain's head when no read of this transaction
    /// brought it).
    pub async fn commit(self) -> Result<(), DbErr> {
        let events = std::mem::take(&mut *self.events.lock().expect("never poisoned"));
        match self.backend {
            DbBackend::Postgres => {
                for statement in audit::queue(self.backend, &events) {
                    self.defer(statement);
                }
            }
            _ if events.is_empty() => {}
            _ => {
                let known = self.head.lock().expect("never poisoned").take();
                let head = match known {
                    Some(head) => head,
                    None => audit::head(&self).await?,
                };
                let (statements, _) = audit::seal(self.backend, head, &events);
                for statement in statements {
                    self.defer(statement);
                }
            }
        }
        let nothing = !self.session.lock().await.begun
            && self.deferred.lock().expect("never poisoned").is_empty();
        let result = if nothing {
            Ok(())
        } else {
            self.send(None, false, true).await.map(drop)
        };
        self.span.record(
            "db.outcome",
            if result.is_ok() { "commit" } else { "failed" },
        );
        if result.is_ok() {
            // Committed: the connection goes back as it is.
            self.session.lock().await.begun = false;
            if self.backend == DbBackend::Postgres && !events.is_empty() {
                self.shared.sealer.notify_one();
            }
        }
        result
    }

    /// Rolls back now (dropping the transaction does it too).
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.span.record("db.outcome", "rollback");
        let mut session = self.session.lock().await;
        if !session.begun {
            return Ok(());
        }
        session.begun = false;
        let result = match session.conn.as_mut() {
            Some(Conn::Sqlite(conn)) => sqlx::raw_sql("ROLLBACK")
                .execute(&mut **conn)
                .await
                .map(drop),
            Some(Conn::Postgres(conn)) => sqlx::raw_sql("ROLLBACK")
                .execute(&mut **conn)
                .await
                .map(drop),
            None => return Ok(()),
        };
        result.map_err(exec_err)
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        let session = self.session.get_mut();
        if !session.begun {
            // Committed, rolled back or never begun: the connection goes
            // back to the pool as it is.
            return;
        }
        self.span.record("db.outcome", "rollback");
        let Some(conn) = session.conn.take() else {
            return;
        };
        // The transaction is open on its connection: roll it back before
        // the connection goes back to the pool, and keep SQLite's writer
        // turn until then.
        let queued = self.queued.lock().expect("never poisoned").take();
        let rollback = async move {
            let result = match conn {
                Conn::Sqlite(mut conn) => {
                    let result = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                    if result.is_err() {
                        // Not returned to the pool half-done.
                        let _ = conn.close().await;
                    }
                    result.map(drop)
                }
                Conn::Postgres(mut conn) => {
                    let result = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                    if result.is_err() {
                        let _ = conn.close().await;
                    }
                    result.map(drop)
                }
            };
            if let Err(err) = result {
                tracing::warn!(error = %err, "a rollback failed; its connection was closed");
            }
            drop(queued);
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(rollback);
        }
        // Without a runtime the future is dropped with the connection in
        // it, which closes the connection: the database rolls back.
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.send(Some(stmt), false, false).await? {
            Answer::Done(done) => Ok(done),
            Answer::Rows(_) => unreachable!("asked for what it changed"),
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.execute_raw(Statement::from_string(self.backend, sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.query_all_raw(stmt).await?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.send(Some(stmt), true, false).await? {
            Answer::Rows(rows) => Ok(rows),
            Answer::Done(_) => unreachable!("asked for rows"),
        }
    }
}
