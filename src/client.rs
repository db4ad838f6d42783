//! Client subcommands of `reserve`: a person's view of the API.

use anyhow::Context;
use tonic::{Request, transport::Channel};

use crate::grpc::pb;

/// Where and as whom to call.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Server address.
    #[arg(long, env = "RESERVE_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// Bearer token (see `reserve token`).
    #[arg(long, env = "RESERVE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// CA certificate (PEM) to verify the server with; connects with TLS.
    #[arg(long, env = "RESERVE_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    #[arg(long, env = "RESERVE_CERT_FILE", requires = "key_file")]
    pub cert_file: Option<std::path::PathBuf>,
    #[arg(long, env = "RESERVE_KEY_FILE", requires = "cert_file")]
    pub key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum RequestCommand {
    /// Show a request with its eligibility decision.
    Show { name: String },
    /// Submit a draft for assessment and show the decision.
    Submit { name: String },
    /// List the requests you may see, newest first.
    List,
}

#[derive(Debug, clap::Subcommand)]
pub enum CapacityCommand {
    /// Commitments whose period has ended with person-days unused (Art. 14(2)).
    Unused {
        /// Periods ended on or before this day (YYYY-MM-DD); default today.
        #[arg(long)]
        ended_by: Option<chrono::NaiveDate>,
    },
}

impl Connection {
    async fn channel(&self) -> anyhow::Result<Channel> {
        let mut endpoint =
            Channel::from_shared(self.addr.clone()).context("invalid server address")?;
        if let Some(ca) = &self.ca_file {
            let read = |p: &std::path::PathBuf| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let mut tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
            if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
                tls = tls.identity(tonic::transport::Identity::from_pem(
                    read(cert)?,
                    read(key)?,
                ));
            }
            endpoint = endpoint.tls_config(tls).context("invalid TLS settings")?;
        }
        endpoint
            .connect()
            .await
            .with_context(|| format!("cannot reach {}", self.addr))
    }

    fn authed<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        let mut request = Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token)
                .parse()
                .context("the token is not printable")?,
        );
        Ok(request)
    }
}

/// One line for a failed call: the code, the message, and each field at fault.
pub fn describe(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    let mut line = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|v| format!("{} {}", v.field, v.description))
            .collect();
        if !fields.is_empty() {
            line = format!("{:?}: {}", status.code(), fields.join("; "));
        }
    }
    line
}

pub async fn run(connection: Connection, command: RequestCommand) -> anyhow::Result<()> {
    let mut client = pb::support_request_service_client::SupportRequestServiceClient::new(
        connection.channel().await?,
    );
    let result = match command {
        RequestCommand::Show { name } => client
            .get_support_request(connection.authed(pb::GetSupportRequestRequest { name })?)
            .await
            .map(|r| print!("{}", render(&r.into_inner()))),
        RequestCommand::Submit { name } => client
            .submit_support_request(connection.authed(pb::SubmitSupportRequestRequest { name })?)
            .await
            .map(|r| print!("{}", render(&r.into_inner()))),
        RequestCommand::List => client
            .list_support_requests(connection.authed(pb::ListSupportRequestsRequest::default())?)
            .await
            .map(|r| {
                for sr in r.into_inner().support_requests {
                    println!(
                        "{}  {:<16}  {}  {}",
                        sr.reference,
                        state_name(sr.state),
                        sr.name,
                        sr.title
                    );
                }
            }),
    };
    result.map_err(|status| anyhow::anyhow!(describe(&status)))
}

fn state_name(state: i32) -> &'static str {
    pb::RequestState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("?")
}

/// A request as a person reads it, with its eligibility table.
pub fn render(sr: &pb::SupportRequest) -> String {
    let mut out = format!(
        "{}  {}\n{}\nstate: {}\n",
        sr.reference,
        sr.name,
        sr.title,
        state_name(sr.state)
    );
    if let Some(p) = &sr.priority {
        out.push_str(&format!(
            "priority: {:.2} (scale and severity {:.2}, essential entities {:.2}, impact {:.2}, cross-border {:.2}, own measures {:.2})\n",
            p.total, p.scale_and_severity, p.essential_entities, p.impact, p.cross_border, p.own_measures
        ));
    }
    if let Some(d) = &sr.eligibility {
        out.push_str(&format!(
            "eligibility: {} under rule set {}\n\n",
            state_name(d.outcome),
            d.rule_set_version
        ));
        let rows: Vec<[String; 4]> = d
            .results
            .iter()
            .map(|r| {
                [
                    r.rule_id.clone(),
                    r.article.clone(),
                    pb::RuleOutcome::try_from(r.outcome)
                        .map(|o| o.as_str_name())
                        .unwrap_or("?")
                        .to_owned(),
                    r.message.clone(),
                ]
            })
            .collect();
        out.push_str(&table(["RULE", "ARTICLE", "OUTCOME", "MESSAGE"], &rows));
    }
    out
}

/// Left-aligned columns; the last column is not padded.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
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
                .map_err(|status| anyhow::anyhow!(describe(&status)))?
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
        .map_err(|status| anyhow::anyhow!(describe(&status)))?
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

#[cfg(test)]
mod tests {
    #[test]
    fn table_aligns_columns() {
        let rows = [
            [
                "CSA-USER".to_owned(),
                "Art. 14(3)".to_owned(),
                "PASS".to_owned(),
                "ok".to_owned(),
            ],
            [
                "CSA-TC-COUNCIL".to_owned(),
                "Art. 19(4)".to_owned(),
                "FAIL".to_owned(),
                "none".to_owned(),
            ],
        ];
        let out = super::table(["RULE", "ARTICLE", "OUTCOME", "MESSAGE"], &rows);
        assert_eq!(
            out,
            "RULE            ARTICLE     OUTCOME  MESSAGE\n\
             CSA-USER        Art. 14(3)  PASS     ok\n\
             CSA-TC-COUNCIL  Art. 19(4)  FAIL     none\n"
        );
    }
}
