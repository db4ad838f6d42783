//! `reserve request`: requesters file, edit, submit, follow, withdraw and
//! report on their organisation's requests.

use std::path::PathBuf;

use tonic::transport::Channel;

use super::{ClientArgs, Format, files, print, server, state_name, table};
use crate::grpc::pb;

type Client = pb::support_request_service_client::SupportRequestServiceClient<Channel>;

#[derive(Debug, clap::Subcommand)]
pub enum RequestCommand {
    /// Create a draft from a file (YAML or JSON, a SupportRequest in the
    /// proto3 JSON mapping; see examples/moldova-request.yaml).
    Create {
        #[arg(long)]
        file: PathBuf,
        /// Idempotency key: the same key and body create the request once.
        /// A new UUID when absent (printed, to retry with).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Replace the fields the file sets (its top-level fields are the update
    /// mask); only in DRAFT or NEEDS_INFO.
    Edit {
        name: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Submit a draft for assessment and show the decision.
    Submit { name: String },
    /// Show a request with its eligibility decision.
    Show { name: String },
    /// List the requests you may see, newest first.
    List {
        /// Only requests in this state, such as REFERRED.
        #[arg(long)]
        state: Option<String>,
    },
    /// As your country's single point of contact: transmit a request
    /// waiting for you to its decider (Art. 15(3)). The requests waiting
    /// are listed by `reserve request list --state AWAITING_TRANSMISSION`.
    Transmit {
        name: String,
        /// A note for the decider.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// As your country's single point of contact: return a request waiting
    /// for you to its filer, with the reason (it goes back to DRAFT).
    Return {
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Withdraw a request in any state before COMPLETED.
    Withdraw {
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// File the summary report after delivery (Art. 16(9)).
    Report {
        name: String,
        /// A file with `service_provided`, `results` and `lessons_learned`.
        #[arg(long, conflicts_with_all = ["service_provided", "results", "lessons_learned"])]
        file: Option<PathBuf>,
        #[arg(long, required_unless_present = "file")]
        service_provided: Option<String>,
        #[arg(long, required_unless_present = "file")]
        results: Option<String>,
        #[arg(long, required_unless_present = "file")]
        lessons_learned: Option<String>,
    },
}

pub async fn run(args: ClientArgs, command: RequestCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    let out = args.output;
    // Files are read before connecting: a bad file is a local error.
    let client = || async { anyhow::Ok(Client::new(connection.channel().await?)) };
    match command {
        RequestCommand::Create { file, request_id } => {
            let body: pb::SupportRequest = files::read_message(&file)?;
            let request_id = request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let created = client()
                .await?
                .create_support_request(connection.authed(pb::CreateSupportRequestRequest {
                    support_request: Some(body),
                    request_id: request_id.clone(),
                })?)
                .await
                .map_err(server)?
                .into_inner();
            // The key goes to stderr in JSON mode, so that stdout stays one document.
            match out {
                Format::Json => eprintln!("request id: {request_id}"),
                Format::Table => println!("request id: {request_id}"),
            }
            print(out, &created, render_brief)
        }
        RequestCommand::Edit { name, file } => {
            let value = files::read_document(&file)?;
            let paths = files::top_level_fields::<pb::SupportRequest>(&value)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let mut body: pb::SupportRequest = files::from_value(&value)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            body.name = super::request_name(connection, &name).await?;
            let updated = client()
                .await?
                .update_support_request(connection.authed(pb::UpdateSupportRequestRequest {
                    support_request: Some(body),
                    update_mask: Some(prost_types::FieldMask { paths }),
                })?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &updated, render_brief)
        }
        RequestCommand::Submit { name } => {
            let name = super::request_name(connection, &name).await?;
            let submitted = client()
                .await?
                .submit_support_request(
                    connection.authed(pb::SubmitSupportRequestRequest { name })?,
                )
                .await
                .map_err(server)?
                .into_inner();
            print(out, &submitted, render)
        }
        RequestCommand::Show { name } => {
            let name = super::request_name(connection, &name).await?;
            let shown = client()
                .await?
                .get_support_request(connection.authed(pb::GetSupportRequestRequest { name })?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &shown, render)
        }
        RequestCommand::List { state } => {
            let state = match state {
                None => 0,
                Some(s) => pb::RequestState::from_str_name(&s.to_uppercase()).ok_or_else(|| {
                    super::UsageError(format!("--state: `{s}` is not a request state"))
                })? as i32,
            };
            let mut client = client().await?;
            let mut all = pb::ListSupportRequestsResponse::default();
            loop {
                let page = client
                    .list_support_requests(connection.authed(pb::ListSupportRequestsRequest {
                        page_size: 100,
                        page_token: all.next_page_token.clone(),
                        state,
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                all.support_requests.extend(page.support_requests);
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            print(out, &all, render_list)
        }
        RequestCommand::Transmit { name, note } => {
            let name = super::request_name(connection, &name).await?;
            let transmitted = client()
                .await?
                .transmit_support_request(
                    connection.authed(pb::TransmitSupportRequestRequest { name, note })?,
                )
                .await
                .map_err(server)?
                .into_inner();
            // It has reached its decider: its eligibility, as on a submission.
            print(out, &transmitted, render)
        }
        RequestCommand::Return { name, reason } => {
            let name = super::request_name(connection, &name).await?;
            let returned = client()
                .await?
                .return_support_request(
                    connection.authed(pb::ReturnSupportRequestRequest { name, reason })?,
                )
                .await
                .map_err(server)?
                .into_inner();
            print(out, &returned, render_brief)
        }
        RequestCommand::Withdraw { name, reason } => {
            let name = super::request_name(connection, &name).await?;
            let withdrawn = client()
                .await?
                .withdraw_support_request(
                    connection.authed(pb::WithdrawSupportRequestRequest { name, reason })?,
                )
                .await
                .map_err(server)?
                .into_inner();
            print(out, &withdrawn, render_brief)
        }
        RequestCommand::Report {
            name,
            file,
            service_provided,
            results,
            lessons_learned,
        } => {
            let mut report = match file {
                Some(file) => files::read_message::<pb::SubmitSummaryReportRequest>(&file)?,
                None => pb::SubmitSummaryReportRequest {
                    name: String::new(),
                    service_provided: service_provided.unwrap_or_default(),
                    results: results.unwrap_or_default(),
                    lessons_learned: lessons_learned.unwrap_or_default(),
                },
            };
            report.name = super::request_name(connection, &name).await?;
            let reported = client()
                .await?
                .submit_summary_report(connection.authed(report)?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &reported, render_brief)
        }
    }
}

/// A request as a person reads it, with its eligibility table.
pub fn render(sr: &pb::SupportRequest) -> String {
    let mut out = render_brief(sr);
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
                    super::enum_name(r.outcome, |o: pb::RuleOutcome| o.as_str_name()).to_owned(),
                    r.message.clone(),
                ]
            })
            .collect();
        out.push_str(&table(["RULE", "ARTICLE", "OUTCOME", "MESSAGE"], &rows));
    }
    out
}

/// A request after a change: what it is, its state and what was decided,
/// without the eligibility table (`request show` has it).
pub fn render_brief(sr: &pb::SupportRequest) -> String {
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
    if !sr.granted_lines.is_empty() {
        let lines: Vec<String> = sr
            .granted_lines
            .iter()
            .map(|l| {
                format!(
                    "{} {} person-days",
                    super::service_name(l.service),
                    l.person_days
                )
            })
            .collect();
        out.push_str(&format!(
            "granted: {} for {} days\n",
            lines.join(", "),
            sr.granted_duration_days
        ));
    }
    if !sr.decision_note.is_empty() {
        out.push_str(&format!("note: {}\n", sr.decision_note));
    }
    if let Some(report) = &sr.summary_report {
        out.push_str(&format!(
            "summary report: filed {}, to {}\n",
            super::timestamp_text(&report.submit_time),
            report.recipients.join("; ")
        ));
    }
    out
}

fn render_list(list: &pb::ListSupportRequestsResponse) -> String {
    let rows: Vec<[String; 4]> = list
        .support_requests
        .iter()
        .map(|sr| {
            [
                sr.reference.clone(),
                state_name(sr.state).to_owned(),
                sr.name.clone(),
                sr.title.clone(),
            ]
        })
        .collect();
    table(["REFERENCE", "STATE", "NAME", "TITLE"], &rows)
}
