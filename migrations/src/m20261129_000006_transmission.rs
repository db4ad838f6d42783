//! The Act's process (DESIGN.md, "Changes", turn 2): a request goes to its
//! decider through its country's single point of contact (the organisation
//! it waits for, `contact_point`, and how it was transmitted); the decider's
//! assessment is kept with the decision; a granted request has a support
//! period; a Council implementing act may be repealed.
//!
//! Requests submitted before count as transmitted on their submission by
//! their filer (only contact points could file then), and the queue's sort
//! key is written again from the priority band of the shipped rule set's
//! tolerance (2 points) and that transmission.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, Statement},
};
use serde_json::json;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The shipped rule set's tolerance of equal scores (`priority.tie_tolerance`).
const TOLERANCE: f64 = 2.0;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            string_len_null(SupportRequests::ContactPoint, 64),
            json_binary_null(SupportRequests::Transmission),
            json_binary_null(SupportRequests::Assessment),
            json_binary_null(SupportRequests::Support),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(SupportRequests::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(CouncilActs::Table)
                    .add_column(date_null(CouncilActs::RepealedOn))
                    .to_owned(),
            )
            .await?;
        // The country designates its contact point; the organisation's own
        // flag disagreed with it at times and goes.
        manager
            .alter_table(
                Table::alter()
                    .table(Organisations::Table)
                    .drop_column(Organisations::SinglePointOfContact)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_support_requests_contact_point")
                    .table(SupportRequests::Table)
                    .col(SupportRequests::ContactPoint)
                    .col(SupportRequests::Id)
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, uid, organisation_id, organisation_kind, priority_total, submitted_at \
                 FROM support_requests WHERE submitted_at IS NOT NULL",
            ))
            .await?;
        let (json, p) = match backend {
            DatabaseBackend::Postgres => ("CAST($1 AS JSONB)", ["$2", "$3"]),
            _ => ("?", ["?", "?"]),
        };
        let update = format!(
            "UPDATE support_requests SET transmission = {json}, queue_key = {} WHERE id = {}",
            p[0], p[1]
        );
        for r in rows {
            let key: i64 = r.try_get("", "id")?;
            let uid: String = r.try_get("", "uid")?;
            let organisation: String = r.try_get("", "organisation_id")?;
            let kind: String = r.try_get("", "organisation_kind")?;
            let total: Option<f64> = r.try_get("", "priority_total")?;
            let at: chrono::DateTime<chrono::Utc> = r.try_get("", "submitted_at")?;
            let transmission = json!({
                "by": organisation,
                "at": at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                "note": "",
            });
            let queue_key = total.map(|t| queue_key(t, &kind, at, &uid));
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                &update,
                [
                    transmission.to_string().into(),
                    queue_key.into(),
                    key.into(),
                ],
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_support_requests_contact_point")
                    .table(SupportRequests::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            SupportRequests::ContactPoint,
            SupportRequests::Transmission,
            SupportRequests::Assessment,
            SupportRequests::Support,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SupportRequests::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(CouncilActs::Table)
                    .drop_column(CouncilActs::RepealedOn)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organisations::Table)
                    .add_column(boolean(Organisations::SinglePointOfContact).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE organisations SET single_point_of_contact = TRUE WHERE id IN \
                 (SELECT single_point_of_contact FROM countries \
                 WHERE single_point_of_contact IS NOT NULL)",
            )
            .await?;
        Ok(())
    }
}

/// `domain::priority::queue_key`: the band's complement, the user's rank,
/// the transmission in microseconds, the id.
fn queue_key(total: f64, kind: &str, at: chrono::DateTime<chrono::Utc>, id: &str) -> String {
    let rank = match kind {
        "MS_CSIRT" | "MS_CRISIS_AUTHORITY" => 0,
        "CERT_EU" => 1,
        _ => 2,
    };
    let band = ((total + 1e-9) / TOLERANCE).floor() as i64;
    format!(
        "{:06}{rank}{:017}{id}",
        999_999 - band.clamp(0, 999_999),
        Ord::max(at.timestamp_micros(), 0)
    )
}

#[derive(DeriveIden)]
enum SupportRequests {
    Table,
    Id,
    ContactPoint,
    Transmission,
    Assessment,
    Support,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    SinglePointOfContact,
}

#[derive(DeriveIden)]
enum CouncilActs {
    Table,
    RepealedOn,
}
