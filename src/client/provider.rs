//! `reserve offer` and `reserve assignment`: a provider's side of dispatch.

use std::path::PathBuf;

use tonic::transport::Channel;

use super::{
    ClientArgs, UsageError, files, offer_state_name, print, resource, server, service_name, short,
    table, timestamp_text,
};
use crate::grpc::pb;

type Client = pb::provider_service_client::ProviderServiceClient<Channel>;

#[derive(Debug, clap::Subcommand)]
pub enum OfferCommand {
    /// Your offers, open and answered (redacted until accepted).
    List,
    /// Accept an offer: the line's capacity is consumed, the full request shown.
    Accept { name: String },
    /// Decline an offer; the line passes to the next provider of the plan.
    Decline {
        name: String,
        /// NO_CAPACITY, CONFLICT_OF_INTEREST, LACKS_EXPERTISE,
        /// CANNOT_MEET_DEADLINE or OTHER_REASON.
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Record the specific agreement with the user (Art. 16(5)-(6)):
    /// ACCEPTED -> OFFER_ACTIVE.
    Agree {
        name: String,
        /// An Agreement in the proto3 JSON mapping, instead of the flags.
        #[arg(long, conflicts_with_all = ["reference", "template_version", "liability"])]
        file: Option<PathBuf>,
        #[arg(long, required_unless_present = "file")]
        reference: Option<String>,
        #[arg(long, required_unless_present = "file")]
        template_version: Option<String>,
        /// When it was signed (RFC 3339); now when absent.
        #[arg(long)]
        signed: Option<chrono::DateTime<chrono::Utc>>,
        /// The liability conditions agreed.
        #[arg(long, required_unless_present = "file")]
        liability: Option<String>,
        /// The affected entity party to the agreement, if any.
        #[arg(long, default_value = "")]
        affected_entity: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AssignmentCommand {
    /// Your accepted, active and delivered work, with the full requests.
    List,
    /// Report an assignment delivered.
    Complete {
        name: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub async fn offers(args: ClientArgs, command: OfferCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    let out = args.output;
    let name = |n: &str| resource("offers", n);
    let answer = match command {
        OfferCommand::List => {
            let mut client = Client::new(connection.channel().await?);
            let mut all = pb::ListOffersResponse::default();
            loop {
                let page = client
                    .list_offers(connection.authed(pb::ListOffersRequest {
                        page_size: 100,
                        page_token: all.next_page_token.clone(),
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                all.offers.extend(page.offers);
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            return print(out, &all, |l| render_offers(&l.offers));
        }
        OfferCommand::Accept { name: n } => {
            let mut client = Client::new(connection.channel().await?);
            client
                .accept_offer(connection.authed(pb::AcceptOfferRequest { name: name(&n) })?)
                .await
        }
        OfferCommand::Decline {
            name: n,
            reason,
            note,
        } => {
            let reason = pb::DeclineReason::from_str_name(&reason.to_uppercase())
                .filter(|r| *r != pb::DeclineReason::Unspecified)
                .ok_or_else(|| {
                    UsageError(format!(
                        "--reason `{reason}`: one of NO_CAPACITY, CONFLICT_OF_INTEREST, LACKS_EXPERTISE, CANNOT_MEET_DEADLINE, OTHER_REASON"
                    ))
                })?;
            let mut client = Client::new(connection.channel().await?);
            client
                .decline_offer(connection.authed(pb::DeclineOfferRequest {
                    name: name(&n),
                    reason: reason as i32,
                    note,
                })?)
                .await
        }
        OfferCommand::Agree {
            name: n,
            file,
            reference,
            template_version,
            signed,
            liability,
            affected_entity,
        } => {
            let agreement = match file {
                Some(file) => files::read_message::<pb::Agreement>(&file)?,
                None => pb::Agreement {
                    reference: reference.unwrap_or_default(),
                    template_version: template_version.unwrap_or_default(),
                    sign_time: Some(crate::grpc::convert::timestamp(
                        signed.unwrap_or_else(chrono::Utc::now),
                    )),
                    liability_conditions: liability.unwrap_or_default(),
                    affected_entity,
                },
            };
            let mut client = Client::new(connection.channel().await?);
            client
                .record_agreement(connection.authed(pb::RecordAgreementRequest {
                    name: name(&n),
                    agreement: Some(agreement),
                })?)
                .await
        }
    };
    let offer = answer.map_err(server)?.into_inner();
    print(out, &offer, render_offer)
}

pub async fn assignments(args: ClientArgs, command: AssignmentCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    let mut client = Client::new(connection.channel().await?);
    match command {
        AssignmentCommand::List => {
            let mut all = pb::ListAssignmentsResponse::default();
            loop {
                let page = client
                    .list_assignments(connection.authed(pb::ListAssignmentsRequest {
                        page_size: 100,
                        page_token: all.next_page_token.clone(),
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                all.assignments.extend(page.assignments);
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            print(args.output, &all, |l| render_offers(&l.assignments))
        }
        AssignmentCommand::Complete { name, note } => {
            let offer = client
                .complete_assignment(connection.authed(pb::CompleteAssignmentRequest {
                    name: resource("offers", &name),
                    delivery_note: note,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            print(args.output, &offer, render_offer)
        }
    }
}

fn render_offers(offers: &[pb::Offer]) -> String {
    let rows: Vec<[String; 8]> = offers
        .iter()
        .map(|o| {
            let s = o.summary.clone().unwrap_or_default();
            let reference = o
                .support_request_detail
                .as_ref()
                .map(|r| r.reference.clone())
                .unwrap_or_default();
            [
                o.name.clone(),
                offer_state_name(o.state).to_owned(),
                service_name(s.service).to_owned(),
                s.person_days.to_string(),
                s.country.clone(),
                super::enum_name(s.severity, |v: pb::Severity| v.as_str_name()).to_owned(),
                timestamp_text(&o.accept_deadline),
                reference,
            ]
        })
        .collect();
    table(
        [
            "OFFER",
            "STATE",
            "SERVICE",
            "DAYS",
            "COUNTRY",
            "SEVERITY",
            "ANSWER BY",
            "REQUEST",
        ],
        &rows,
    )
}

fn render_offer(o: &pb::Offer) -> String {
    let s = o.summary.clone().unwrap_or_default();
    let mut out = format!(
        "{}  {}\n{} {} person-days in {} (severity {}), answer by {}\n",
        o.name,
        offer_state_name(o.state),
        service_name(s.service),
        s.person_days,
        s.country,
        super::enum_name(s.severity, |v: pb::Severity| v.as_str_name()),
        timestamp_text(&o.accept_deadline)
    );
    if let Some(r) = &o.support_request_detail {
        out.push_str(&format!(
            "request: {}  {}  {}\n",
            r.reference,
            short(&r.name),
            r.title
        ));
        if let Some(c) = &r.contact {
            out.push_str(&format!("contact: {} <{}> {}\n", c.name, c.email, c.phone));
        }
    }
    if let Some(a) = &o.agreement {
        out.push_str(&format!(
            "agreement: {} (template {}), signed {}\n",
            a.reference,
            a.template_version,
            timestamp_text(&a.sign_time)
        ));
    }
    if !o.delivery_note.is_empty() {
        out.push_str(&format!("delivered: {}\n", o.delivery_note));
    }
    out
}
