//! Crash safety: the real `reserve serve` binary under a mixed workload from
//! concurrent clients, killed with SIGKILL at random moments and restarted on
//! the same database (and, on PostgreSQL, the database itself restarted under
//! load); then every acknowledged write is looked for, every request's state
//! is explained by its audit events, the capacity ledger is balanced, every
//! due timer has fired exactly once and the audit chain verifies.
//!
//! Short by default (10 kills); the long form, and replaying a run:
//!
//! ```sh
//! RESERVE_CRASH_KILLS=100 RESERVE_CRASH_SEED=42 cargo test --test crash -- --nocapture
//! ```
//!
//! The tests of this binary run one at a time (`SERIAL`): restarting
//! PostgreSQL would break a kill test running beside it. Cargo runs test
//! binaries one after another, so no other test of the suite sees the
//! restart either. See `docs/RELIABILITY.md`.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod checks;
mod kills;
mod postgres;
mod service;
mod workload;

/// Held by each test of this binary for its whole run.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The knobs of a run, from the environment.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// SIGKILLs per run (`RESERVE_CRASH_KILLS`, at least 10).
    pub kills: u32,
    /// Seed of every random choice (`RESERVE_CRASH_SEED`; random when unset).
    pub seed: u64,
    /// Concurrent clients (`RESERVE_CRASH_CLIENTS`).
    pub clients: u32,
}

impl Config {
    pub fn from_env() -> Config {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            let value = std::env::var(name).ok()?;
            Some(
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
            )
        }
        let config = Config {
            kills: var("RESERVE_CRASH_KILLS").unwrap_or(10).max(10),
            seed: var("RESERVE_CRASH_SEED").unwrap_or_else(rand::random),
            clients: var("RESERVE_CRASH_CLIENTS").unwrap_or(4).max(1),
        };
        eprintln!(
            "crash harness: seed {} ({} kills, {} clients); replay with RESERVE_CRASH_SEED={}",
            config.seed, config.kills, config.clients, config.seed
        );
        config
    }
}

/// Which database the run is on, for the figures.
pub fn backend() -> &'static str {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => "PostgreSQL",
        _ => "SQLite",
    }
}
