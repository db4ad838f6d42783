//! `reserve conversion`: unused capacity converted into preparedness
//! services (Art. 14(2)); duty officers propose and withdraw, providers
//! accept, decline and complete.

use tonic::transport::Channel;

use super::{ClientArgs, UsageError, enum_name, print, resource, server, short, table};
use crate::grpc::pb;

type Client = pb::preparedness_service_client::PreparednessServiceClient<Channel>;

#[derive(Debug, clap::Subcommand)]
pub enum ConversionCommand {
    /// Propose converting free person-days of a commitment (duty officers);
    /// they are held until the provider answers.
    Propose {
        /// `providers/{provider}/capacityCommitments/{id}`.
        #[arg(long)]
        commitment: String,
        /// The user organisation the service is for (its id or name).
        #[arg(long)]
        organisation: String,
        /// EXERCISE, TRAINING, THREAT_ASSESSMENT or READINESS_REVIEW.
        #[arg(long)]
        service: String,
        #[arg(long)]
        person_days: u32,
        #[arg(long)]
        description: String,
    },
    /// Accept a proposed conversion (providers): the days are converted.
    Accept {
        name: String,
    },
    /// Decline a proposed conversion (providers): the days are free again.
    Decline {
        name: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Withdraw a proposal not yet answered (duty officers).
    Withdraw {
        name: String,
    },
    /// Record the preparedness service delivered (providers).
    Complete {
        name: String,
        #[arg(long)]
        note: String,
    },
    Show {
        name: String,
    },
    /// The conversions you may see.
    List {
        /// PROPOSED, ACCEPTED, DECLINED, WITHDRAWN, LAPSED or DELIVERED.
        #[arg(long)]
        state: Option<String>,
    },
}

fn state_name(state: i32) -> &'static str {
    enum_name(state, |s: pb::ConversionState| {
        s.as_str_name().trim_start_matches("CONVERSION_")
    })
}

fn service_type_name(service: i32) -> &'static str {
    enum_name(service, |s: pb::PreparednessServiceType| s.as_str_name())
}

fn render_conversion(c: &pb::Conversion) -> String {
    format!(
        "{}  {}\n  {} person-days of {} ({})\n  {} for {}: {}\n{}{}",
        c.name,
        state_name(c.state),
        c.person_days,
        c.capacity_commitment,
        super::service_name(c.service),
        service_type_name(c.preparedness_service),
        c.organisation,
        c.description,
        if c.decline_note.is_empty() {
            String::new()
        } else {
            format!("  declined: {}\n", c.decline_note)
        },
        if c.delivery_note.is_empty() {
            String::new()
        } else {
            format!("  delivered: {}\n", c.delivery_note)
        },
    )
}

fn render_list(list: &pb::ListConversionsResponse) -> String {
    let rows: Vec<[String; 6]> = list
        .conversions
        .iter()
        .map(|c| {
            [
                short(&c.name).to_owned(),
                state_name(c.state).to_owned(),
                short(&c.provider).to_owned(),
                short(&c.organisation).to_owned(),
                service_type_name(c.preparedness_service).to_owned(),
                c.person_days.to_string(),
            ]
        })
        .collect();
    table(
        [
            "CONVERSION",
            "STATE",
            "PROVIDER",
            "FOR",
            "SERVICE",
            "PERSON-DAYS",
        ],
        &rows,
    )
}

pub async fn conversions(args: ClientArgs, command: ConversionCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    let out = args.output;
    let name = |n: &str| resource("conversions", n);
    let mut client = Client::new(connection.channel().await?);
    let answer = match command {
        ConversionCommand::List { state } => {
            let state = match state {
                None => 0,
                Some(s) => pb::ConversionState::from_str_name(&format!(
                    "CONVERSION_{}",
                    s.to_uppercase()
                ))
                .ok_or_else(|| {
                    UsageError(format!(
                        "--state `{s}`: one of PROPOSED, ACCEPTED, DECLINED, WITHDRAWN, LAPSED, DELIVERED"
                    ))
                })? as i32,
            };
            let mut all = pb::ListConversionsResponse::default();
            loop {
                let page = client
                    .list_conversions(connection.authed(pb::ListConversionsRequest {
                        state,
                        page_size: 100,
                        page_token: all.next_page_token.clone(),
                        ..Default::default()
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                all.conversions.extend(page.conversions);
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            return print(out, &all, render_list);
        }
        ConversionCommand::Propose {
            commitment,
            organisation,
            service,
            person_days,
            description,
        } => {
            let service = pb::PreparednessServiceType::from_str_name(&service.to_uppercase())
                .filter(|s| *s != pb::PreparednessServiceType::Unspecified)
                .ok_or_else(|| {
                    UsageError(format!(
                        "--service `{service}`: one of EXERCISE, TRAINING, THREAT_ASSESSMENT, READINESS_REVIEW"
                    ))
                })?;
            client
                .propose_conversion(connection.authed(pb::ProposeConversionRequest {
                    conversion: Some(pb::Conversion {
                        capacity_commitment: commitment,
                        organisation: resource("organisations", &organisation),
                        preparedness_service: service as i32,
                        person_days,
                        description,
                        ..Default::default()
                    }),
                })?)
                .await
        }
        ConversionCommand::Accept { name: n } => {
            client
                .accept_conversion(
                    connection.authed(pb::AcceptConversionRequest { name: name(&n) })?,
                )
                .await
        }
        ConversionCommand::Decline { name: n, note } => {
            client
                .decline_conversion(connection.authed(pb::DeclineConversionRequest {
                    name: name(&n),
                    note,
                })?)
                .await
        }
        ConversionCommand::Withdraw { name: n } => {
            client
                .withdraw_conversion(
                    connection.authed(pb::WithdrawConversionRequest { name: name(&n) })?,
                )
                .await
        }
        ConversionCommand::Complete { name: n, note } => {
            client
                .complete_conversion(connection.authed(pb::CompleteConversionRequest {
                    name: name(&n),
                    delivery_note: note,
                })?)
                .await
        }
        ConversionCommand::Show { name: n } => {
            client
                .get_conversion(connection.authed(pb::GetConversionRequest { name: name(&n) })?)
                .await
        }
    };
    let conversion = answer.map_err(server)?.into_inner();
    print(out, &conversion, render_conversion)
}
