//! `reserve dispatch`: matching an authorised request to providers, approving
//! the plan, and closing the request once reported (duty officers).

use std::path::PathBuf;

use tonic::transport::Channel;

use super::{ClientArgs, UsageError, files, print, resource, server, service_name, short, table};
use crate::client::requests::render_brief as render;
use crate::grpc::pb;

type Client = pb::dispatch_service_client::DispatchServiceClient<Channel>;

#[derive(Debug, clap::Subcommand)]
pub enum DispatchCommand {
    /// Ranked candidate providers for each granted service line, with their reasons.
    Propose { name: String },
    /// Approve a dispatch plan: each line is offered to its provider, then to
    /// its fallbacks in order.
    #[command(group(clap::ArgGroup::new("how").required(true).args(["lines", "plan", "proposed"])))]
    Approve {
        name: String,
        /// A line of the plan, as SERVICE=PROVIDER[,FALLBACK...] (repeatable);
        /// SERVICE is a granted service such as INCIDENT_RESPONSE, or the
        /// line's index.
        #[arg(long = "line", value_name = "SERVICE=PROVIDER[,FALLBACK...]")]
        lines: Vec<String>,
        /// Why a provider other than the top-ranked candidate is chosen
        /// (applies to every --line).
        #[arg(long, requires = "lines")]
        justification: Option<String>,
        /// A plan file: an ApproveDispatchRequest in the proto3 JSON mapping
        /// (see examples/dispatch-plan.yaml).
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Approve the proposal as it stands: each line to its top-ranked
        /// candidate, the others as fallbacks in rank order.
        #[arg(long)]
        proposed: bool,
    },
    /// Close a request whose summary report is filed.
    Close { name: String },
}

pub async fn run(args: ClientArgs, command: DispatchCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    let out = args.output;
    match command {
        DispatchCommand::Propose { name } => {
            let mut client = Client::new(connection.channel().await?);
            let proposal = client
                .propose_matches(connection.authed(pb::ProposeMatchesRequest {
                    name: super::request_name(connection, &name).await?,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &proposal, render_proposal)
        }
        DispatchCommand::Approve {
            name,
            lines,
            justification,
            plan,
            proposed,
        } => {
            let plan = match plan {
                Some(file) => {
                    let request: pb::ApproveDispatchRequest = files::read_message(&file)?;
                    request.plan
                }
                None => Vec::new(),
            };
            let name = super::request_name(connection, &name).await?;
            let mut client = Client::new(connection.channel().await?);
            let plan = if proposed {
                let proposal = client
                    .propose_matches(
                        connection.authed(pb::ProposeMatchesRequest { name: name.clone() })?,
                    )
                    .await
                    .map_err(server)?
                    .into_inner();
                from_proposal(&proposal)?
            } else if !lines.is_empty() {
                let mut requests =
                    pb::support_request_service_client::SupportRequestServiceClient::new(
                        connection.channel().await?,
                    );
                let granted = requests
                    .get_support_request(
                        connection.authed(pb::GetSupportRequestRequest { name: name.clone() })?,
                    )
                    .await
                    .map_err(server)?
                    .into_inner()
                    .granted_lines;
                lines
                    .iter()
                    .map(|l| parse_line(l, &granted, justification.as_deref().unwrap_or("")))
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                plan
            };
            let plan = plan
                .into_iter()
                .map(|l| pb::LinePlan {
                    provider: resource("providers", &l.provider),
                    fallbacks: l
                        .fallbacks
                        .iter()
                        .map(|f| resource("providers", f))
                        .collect(),
                    ..l
                })
                .collect();
            let approved = client
                .approve_dispatch(connection.authed(pb::ApproveDispatchRequest {
                    name,
                    plan,
                    version: 0,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &approved, render)
        }
        DispatchCommand::Close { name } => {
            let mut client = Client::new(connection.channel().await?);
            let closed = client
                .close_support_request(connection.authed(pb::CloseSupportRequestRequest {
                    name: super::request_name(connection, &name).await?,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &closed, render)
        }
    }
}

/// `SERVICE=PROVIDER[,FALLBACK...]` as a line of the plan; the service is
/// looked up among the granted lines.
fn parse_line(
    line: &str,
    granted: &[pb::ServiceLine],
    justification: &str,
) -> Result<pb::LinePlan, UsageError> {
    let bad = |why: &str| UsageError(format!("--line `{line}`: {why}"));
    let (key, providers) = line
        .split_once('=')
        .ok_or_else(|| bad("expected SERVICE=PROVIDER[,FALLBACK...]"))?;
    let key = key.trim();
    let line_index = match key.parse::<u32>() {
        Ok(index) => index,
        Err(_) => {
            let service = pb::ServiceType::from_str_name(&key.to_uppercase())
                .ok_or_else(|| bad("not a service type"))?;
            granted
                .iter()
                .position(|l| l.service == service as i32)
                .ok_or_else(|| bad("no line of this service was granted"))? as u32
        }
    };
    let mut providers = providers
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let provider = providers.next().ok_or_else(|| bad("no provider named"))?;
    Ok(pb::LinePlan {
        line_index,
        provider: provider.to_owned(),
        fallbacks: providers.map(str::to_owned).collect(),
        justification: justification.to_owned(),
    })
}

fn from_proposal(proposal: &pb::ProposeMatchesResponse) -> anyhow::Result<Vec<pb::LinePlan>> {
    proposal
        .lines
        .iter()
        .map(|line| {
            let mut candidates = line.candidates.iter().map(|c| c.provider.clone());
            let provider = candidates.next().ok_or_else(|| {
                anyhow::anyhow!(
                    "line {} ({}) has no candidate: name providers with --line",
                    line.line_index,
                    service_name(line.service)
                )
            })?;
            Ok(pb::LinePlan {
                line_index: line.line_index,
                provider,
                fallbacks: candidates.collect(),
                justification: String::new(),
            })
        })
        .collect()
}

fn render_proposal(proposal: &pb::ProposeMatchesResponse) -> String {
    let mut out = String::new();
    for line in &proposal.lines {
        out.push_str(&format!(
            "line {}: {} {} person-days\n",
            line.line_index,
            service_name(line.service),
            line.person_days
        ));
        if line.candidates.is_empty() {
            out.push_str("  no candidate\n");
        }
        let rows: Vec<[String; 5]> = line
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                [
                    (i + 1).to_string(),
                    short(&c.provider).to_owned(),
                    format!("{:.1}", c.score),
                    c.free_person_days.to_string(),
                    c.reasons.join("; "),
                ]
            })
            .collect();
        if !rows.is_empty() {
            for row in table(["RANK", "PROVIDER", "SCORE", "FREE", "REASONS"], &rows).lines() {
                out.push_str(&format!("  {row}\n"));
            }
        }
        if !line.split.is_empty() {
            let split: Vec<String> = line
                .split
                .iter()
                .map(|c| format!("{} {} person-days", short(&c.provider), c.person_days))
                .collect();
            out.push_str(&format!("  split: {}\n", split.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_line_names_a_granted_service_and_its_providers() {
        let granted = [
            pb::ServiceLine {
                service: pb::ServiceType::IncidentResponse as i32,
                ..Default::default()
            },
            pb::ServiceLine {
                service: pb::ServiceType::DigitalForensics as i32,
                ..Default::default()
            },
        ];
        let line = parse_line("DIGITAL_FORENSICS=nordic-ir", &granted, "").unwrap();
        assert_eq!((line.line_index, line.provider.as_str()), (1, "nordic-ir"));
        let line = parse_line("0=danube-cyber, nordic-ir", &granted, "closer").unwrap();
        assert_eq!(line.fallbacks, ["nordic-ir"]);
        assert_eq!(line.justification, "closer");
        assert!(parse_line("MALWARE_ANALYSIS=x", &granted, "").is_err());
        assert!(parse_line("INCIDENT_RESPONSE=", &granted, "").is_err());
    }
}
