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
    let rows: Vec<[String; 7]> = report
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
                e.converted_person_days.to_string(),
                e.lapsed_person_days.to_string(),
            ]
        })
        .collect();
    let mut out = table(
        [
            "PROVIDER",
            "SERVICE",
            "PERIOD",
            "CONSUMED",
            "UNUSED",
            "CONVERTED",
            "LAPSED",
        ],
        &rows,
    );
    out.push_str(&format!(
        "total unused: {} person-days (converted {}, lapsed {})\n",
        report.total_unused_person_days,
        report.total_converted_person_days,
        report.total_lapsed_person_days
    ));
    out
}

/// `reserve usage`.
#[derive(Debug, clap::Subcommand)]
pub enum UsageCommand {
    /// A report computed now, over any period.
    Report(UsageArgs),
    /// The reports the service produced at the end of each period, the
    /// latest first, with their state (produced, transmitted).
    List {
        /// `nis` or `council`; both (those you may read) when absent.
        #[arg(long, value_parser = ["nis", "council"])]
        view: Option<String>,
    },
    /// One produced report: its record, or (`--format`) its CSV, or the
    /// JSON exactly as stored, whose SHA-256 the audit chain holds.
    Show {
        name: String,
        #[arg(long, value_parser = ["csv", "json"])]
        format: Option<String>,
    },
    /// Record that a produced report was sent: to whom, when (now by
    /// default); by you.
    Transmit {
        name: String,
        #[arg(long)]
        recipient: String,
        /// When it was sent (RFC 3339).
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, default_value = "")]
        note: String,
    },
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

fn view_of(view: &str) -> pb::UsageView {
    match view {
        "nis" => pb::UsageView::NisCooperationGroup,
        _ => pb::UsageView::Council,
    }
}

pub async fn usage(args: super::ClientArgs, command: UsageCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    let mut client =
        pb::dispatch_service_client::DispatchServiceClient::new(connection.channel().await?);
    match command {
        UsageCommand::Report(args) => {
            let at = |d: chrono::NaiveDate| {
                crate::grpc::convert::timestamp(crate::domain::usage::midnight(d))
            };
            let report = client
                .get_usage_report(connection.authed(pb::GetUsageReportRequest {
                    period_start: Some(at(args.from)),
                    period_end: Some(at(args.to)),
                    view: view_of(&args.view) as i32,
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
        UsageCommand::List { view } => {
            let mut all = pb::ListUsageReportsResponse::default();
            loop {
                let page = client
                    .list_usage_reports(connection.authed(pb::ListUsageReportsRequest {
                        view: view.as_deref().map(view_of).unwrap_or_default() as i32,
                        page_size: 100,
                        page_token: all.next_page_token.clone(),
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                all.usage_reports.extend(page.usage_reports);
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            super::print(args.output, &all, render_stored_list)
        }
        UsageCommand::Show { name, format } => {
            let report = client
                .get_stored_usage_report(connection.authed(pb::GetStoredUsageReportRequest {
                    name: super::resource("usageReports", &name),
                })?)
                .await
                .map_err(server)?
                .into_inner();
            match format.as_deref() {
                Some("json") => println!("{}", report.content),
                Some(_) => print!("{}", usage_csv(&report.report.unwrap_or_default())),
                None => super::print(args.output, &report, render_stored)?,
            }
            Ok(())
        }
        UsageCommand::Transmit {
            name,
            recipient,
            at,
            note,
        } => {
            let report = client
                .transmit_usage_report(connection.authed(pb::TransmitUsageReportRequest {
                    name: super::resource("usageReports", &name),
                    recipient,
                    transmit_time: at.map(crate::grpc::convert::timestamp),
                    note,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            super::print(args.output, &report, render_stored)
        }
    }
}

fn view_name(view: i32) -> &'static str {
    super::enum_name(view, |v: pb::UsageView| v.as_str_name())
}

fn report_state(state: i32) -> &'static str {
    super::enum_name(state, |s: pb::UsageReportState| {
        s.as_str_name().trim_start_matches("REPORT_")
    })
}

/// Produced reports as a table.
pub fn render_stored_list(list: &pb::ListUsageReportsResponse) -> String {
    let rows: Vec<[String; 5]> = list
        .usage_reports
        .iter()
        .map(|r| {
            [
                super::short(&r.name).to_owned(),
                view_name(r.view).to_owned(),
                format!(
                    "{} to {}",
                    super::timestamp_text(&r.period_start),
                    super::timestamp_text(&r.period_end)
                ),
                report_state(r.state).to_owned(),
                r.sha256.chars().take(16).collect(),
            ]
        })
        .collect();
    table(["REPORT", "VIEW", "PERIOD", "STATE", "SHA-256"], &rows)
}

/// One produced report's record.
pub fn render_stored(r: &pb::StoredUsageReport) -> String {
    let mut out = format!(
        "{}  {}  {}
  period {} to {}, produced {}
  sha256 {}
",
        r.name,
        view_name(r.view),
        report_state(r.state),
        super::timestamp_text(&r.period_start),
        super::timestamp_text(&r.period_end),
        super::timestamp_text(&r.produce_time),
        r.sha256
    );
    if let Some(t) = &r.transmission {
        out.push_str(&format!(
            "  transmitted to {} on {} by {}{}\n",
            t.recipient,
            super::timestamp_text(&t.transmit_time),
            t.transmitted_by,
            if t.note.is_empty() {
                String::new()
            } else {
                format!(": {}", t.note)
            }
        ));
    }
    if let Some(e) = r.report.as_ref().and_then(|r| r.evaluation.as_ref()) {
        out.push_str(&format!(
            "  {} of {} pre-committed person-days converted ({:.1} %), {} lapsed\n",
            e.converted_person_days,
            e.committed_person_days,
            e.converted_percent,
            e.lapsed_person_days
        ));
    }
    out
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

/// The report as CSV (`domain::usage::csv`, as the console writes it).
pub fn usage_csv(report: &pb::UsageReport) -> String {
    use crate::grpc::convert::Wire;
    let rows: Vec<crate::domain::usage::UsageRow> = report
        .rows
        .iter()
        .map(|r| crate::domain::usage::UsageRow {
            user_kind: crate::domain::codes::OrganisationKind::from_wire(r.user_kind),
            country: r.country.clone(),
            by_outcome: r
                .requests_by_outcome
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            decided_within_deadline: r.decided_within_deadline,
            deadline_breaches: r.deadline_breaches,
            mean_response_hours: r.mean_response_hours,
            person_days_used: r.person_days_used,
            providers: r.providers.iter().cloned().collect(),
        })
        .collect();
    crate::domain::usage::csv(&rows)
}
