//! `reserve capacity` and `reserve usage`: reports for administrators and
//! for the NIS Cooperation Group and the Council.

use super::{Connection, server, table};
use crate::grpc::pb;

#[derive(Debug, clap::Subcommand)]
pub enum CapacityCommand {
    /// Commitments whose period has ended with person-days unused (Art. 14(2)).
    Unused {
        /// Periods ended on or before this day (YYYY-MM-DD); default today.
        #[arg(long)]
        ended_by: Option<chrono::NaiveDate>,
    },
}

pub async fn capacity(connection: Connection, command: CapacityCommand) -> anyhow::Result<()> {
    let mut client =
        pb::registry_service_client::RegistryServiceClient::new(connection.channel().await?);
    match command {
        CapacityCommand::Unused { ended_by } => {
            use chrono::Datelike;
            let request = pb::ListUnusedCapacityRequest {
                ended_on_or_before: ended_by.map(|d| crate::proto::google::r#type::Date {
                    year: d.year(),
                    month: d.month() as i32,
                    day: d.day() as i32,
                }),
            };
            let report = client
                .list_unused_capacity(connection.authed(request)?)
                .await
                .map_err(server)?
                .into_inner();
            print!("{}", render_unused(&report));
            Ok(())
        }
    }
}

/// The unused-capacity report as a table.
pub fn render_unused(report: &pb::ListUnusedCapacityResponse) -> String {
    let date = |d: &Option<crate::proto::google::r#type::Date>| {
        d.as_ref()
            .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
            .unwrap_or_default()
    };
    let rows: Vec<[String; 5]> = report
        .entries
        .iter()
        .map(|e| {
            [
                e.provider.trim_start_matches("providers/").to_owned(),
                pb::ServiceType::try_from(e.service)
                    .map(|s| s.as_str_name())
                    .unwrap_or("?")
                    .to_owned(),
                format!("{} to {}", date(&e.period_start), date(&e.period_end)),
                format!("{} of {}", e.consumed_person_days, e.committed_person_days),
                e.unused_person_days.to_string(),
            ]
        })
        .collect();
    let mut out = table(
        ["PROVIDER", "SERVICE", "PERIOD", "CONSUMED", "UNUSED"],
        &rows,
    );
    out.push_str(&format!(
        "total unused: {} person-days\n",
        report.total_unused_person_days
    ));
    out
}

/// Which usage report, over which period, in which format.
#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// `nis` (Member States and CERT-EU) or `council` (third countries).
    #[arg(long, value_parser = ["nis", "council"])]
    pub view: String,
    /// First day of the period (YYYY-MM-DD).
    #[arg(long)]
    pub from: chrono::NaiveDate,
    /// Day after the period (YYYY-MM-DD).
    #[arg(long)]
    pub to: chrono::NaiveDate,
    /// `json` or `csv`.
    #[arg(long, default_value = "csv", value_parser = ["json", "csv"])]
    pub format: String,
}

pub async fn usage(connection: Connection, args: UsageArgs) -> anyhow::Result<()> {
    let mut client =
        pb::dispatch_service_client::DispatchServiceClient::new(connection.channel().await?);
    let at = |d: chrono::NaiveDate| prost_types::Timestamp {
        seconds: d
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp(),
        nanos: 0,
    };
    let view = match args.view.as_str() {
        "nis" => pb::UsageView::NisCooperationGroup,
        _ => pb::UsageView::Council,
    };
    let report = client
        .get_usage_report(connection.authed(pb::GetUsageReportRequest {
            period_start: Some(at(args.from)),
            period_end: Some(at(args.to)),
            view: view as i32,
        })?)
        .await
        .map_err(server)?
        .into_inner();
    if args.format == "json" {
        println!("{}", usage_json(&report));
    } else {
        print!("{}", usage_csv(&report));
    }
    Ok(())
}

fn kind_name(kind: i32) -> &'static str {
    pb::OrganisationKind::try_from(kind)
        .map(|k| k.as_str_name())
        .unwrap_or("?")
}

/// The report as JSON, one object per row.
pub fn usage_json(report: &pb::UsageReport) -> String {
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "user_kind": kind_name(r.user_kind),
                "country": r.country,
                "requests_by_outcome": r.requests_by_outcome,
                "decided_within_deadline": r.decided_within_deadline,
                "deadline_breaches": r.deadline_breaches,
                "mean_response_hours": r.mean_response_hours,
                "person_days_used": r.person_days_used,
                "providers": r.providers,
            })
        })
        .collect();
    serde_json::json!({
        "total_requests": report.total_requests,
        "total_person_days": report.total_person_days,
        "rows": rows,
    })
    .to_string()
}

/// The report as CSV: a line per user kind, country and outcome; the
/// per-country figures repeat on each of its lines.
pub fn usage_csv(report: &pb::UsageReport) -> String {
    let mut out = String::from(
        "user_kind,country,outcome,requests,decided_within_deadline,deadline_breaches,mean_response_hours,person_days_used,providers\n",
    );
    for r in &report.rows {
        let mut outcomes: Vec<_> = r.requests_by_outcome.iter().collect();
        outcomes.sort();
        for (outcome, count) in outcomes {
            out.push_str(&format!(
                "{},{},{},{},{},{},{:.2},{},{}\n",
                kind_name(r.user_kind),
                r.country,
                outcome,
                count,
                r.decided_within_deadline,
                r.deadline_breaches,
                r.mean_response_hours,
                r.person_days_used,
                r.providers.join(" ")
            ));
        }
    }
    out
}
