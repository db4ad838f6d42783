//! Persistence with sea-orm: the only layer that knows tables and SQL.
//! Functions take any connection, so a use case runs them inside its one
//! transaction.

pub mod audit;
pub mod dispatch;
pub mod entities;
pub mod registry;
pub mod requests;
pub mod timers;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use serde::{Serialize, de::DeserializeOwned};

pub use sea_orm::DatabaseConnection as Db;

/// Opens the pool. SQLite runs in WAL mode with a busy timeout and foreign
/// keys on; every database gets bounded connect and acquire timeouts.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options).await
}

/// Starts a transaction that will write, holding the database's single
/// write lock until it ends: on SQLite `BEGIN IMMEDIATE`; on PostgreSQL the
/// row lock of the audit chain's head, which every change takes anyway to
/// append its event. Taking it first, before any read, makes each use case
/// see and change a state no other writer is changing: check-then-write
/// steps (all lines active? which lines wait?) cannot race, and locks are
/// always taken in the same order, so writers never deadlock.
pub async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        use sea_orm::{EntityTrait, QuerySelect};
        entities::audit_head::Entity::find_by_id(1)
            .lock_exclusive()
            .one(&txn)
            .await?;
    }
    Ok(txn)
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
