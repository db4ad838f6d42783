//! Database migrations of reserve-dispatch, shared by SQLite and PostgreSQL.
//!
//! Applied by `reserve migrate up` (and on start by `reserve serve --migrate`);
//! `reserve migrate down` reverts the last one, `reserve migrate status` lists them.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_foundation;
mod m20261127_000002_eligibility;
mod m20261127_000003_dispatch;
mod m20261128_000004_console;
mod m20261129_000005_request_aggregate;
mod m20261129_000006_transmission;
mod m20261129_000007_audit_tree;
mod m20261129_000008_notifications;
mod m20261130_000009_preparedness;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_foundation::Migration),
            Box::new(m20261127_000002_eligibility::Migration),
            Box::new(m20261127_000003_dispatch::Migration),
            Box::new(m20261128_000004_console::Migration),
            Box::new(m20261129_000005_request_aggregate::Migration),
            Box::new(m20261129_000006_transmission::Migration),
            Box::new(m20261129_000007_audit_tree::Migration),
            Box::new(m20261129_000008_notifications::Migration),
            Box::new(m20261130_000009_preparedness::Migration),
        ]
    }
}
