//! Persistence with sea-orm: the only layer that knows tables and SQL.
//! Functions take any connection, so a use case runs them inside its one
//! transaction.

pub mod audit;
pub mod dispatch;
pub mod entities;
pub mod log;
pub mod notify;
pub mod preparedness;
pub mod registry;
pub mod requests;
pub mod sessions;
pub mod stats;
pub mod timers;
pub(crate) mod txn;

pub use txn::{Txn, begin, forget};

use std::time::Duration;

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use serde::{Serialize, de::DeserializeOwned};

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
        // A ping before each use is a round trip on every call (and on
        // SQLite two thread switches); a connection that died is found by
        // the call that uses it, which answers UNAVAILABLE, and replaced.
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(statement_timeout)
                .foreign_keys(true)
                // 8 MiB of pages kept per connection (SQLite's default is
                // 2 MiB), for the indexes of a database of years of use.
                .pragma("cache_size", "-8192")
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
        let shared = txn::shared(&db);
        let mut wait = shared.wait.lock().expect("never poisoned");
        *wait = Some(wait.map_or(statement_timeout, |w| w.min(statement_timeout)));
    }
    Ok(db)
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
