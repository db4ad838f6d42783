//! Black-box tests: a real tonic client against a server spawned on port 0,
//! each test with its own fresh database. `TEST_DATABASE_URL` selects the
//! database: unset (or `sqlite:`) for a temporary SQLite file, or a
//! PostgreSQL URL such as `postgres://postgres@127.0.0.1:5432/postgres`, on
//! which each test creates its own database.

mod audit;
mod auth;
mod authz;
mod bench;
mod cli;
mod console;
mod console_browser;
mod decisions;
mod dispatch;
mod eligibility;
mod health;
mod helpers;
mod limits;
mod log;
mod migrations;
mod notify;
mod oidc;
mod parity;
mod platform;
mod preparedness;
mod process;
mod registry;
mod replicas;
mod requests;
mod settings;
mod telemetry;
mod tls;
mod validation;
