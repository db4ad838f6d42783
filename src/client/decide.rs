//! `reserve decide`: the assessment queue and the decisions on it, for duty
//! officers (Member States and CERT-EU) and Commission officers (third
//! countries, Art. 19(10)).

use tonic::transport::Channel;

use super::{ClientArgs, UsageError, print, server, service_name, table};
use crate::client::requests::render_brief as render;
use crate::grpc::pb;

type Client = pb::dispatch_service_client::DispatchServiceClient<Channel>;

#[derive(Debug, clap::Subcommand)]
pub enum DecideCommand {
    /// The requests waiting for your decision, by priority, with the time
    /// left on their response deadline.
    Queue,
    /// Authorise support: the service lines and person-days granted, and a duration.
    Authorise {
        name: String,
        /// A line granted, as SERVICE=PERSON_DAYS (repeatable), such as
        /// INCIDENT_RESPONSE=15; every line asked for, in full, when absent.
        #[arg(long = "grant", value_name = "SERVICE=DAYS")]
        grants: Vec<String>,
        /// Duration of the support in days.
        #[arg(long)]
        days: u32,
        #[arg(long, default_value = "")]
        note: String,
        /// A failed finding set aside, such as CSA-MITIGATION (repeatable;
        /// one for each finding that failed), each followed by its
        /// --justification.
        #[arg(long = "override", value_name = "RULE_ID")]
        overrides: Vec<String>,
        /// Why the --override before it is set aside.
        #[arg(long = "justification", value_name = "TEXT")]
        justifications: Vec<String>,
        /// A reason on a criterion of Art. 16(3), as CRITERION=TEXT
        /// (repeatable), such as SCALE_AND_SEVERITY="..."
        #[arg(long = "criterion", value_name = "CRITERION=TEXT")]
        criteria: Vec<String>,
        /// An affected entity the support may be used for (repeatable);
        /// every one the evaluation judged covered, when absent.
        #[arg(long = "cover", value_name = "ENTITY")]
        covered_entities: Vec<String>,
    },
    /// Reject a request, with the reason.
    Reject {
        name: String,
        #[arg(long)]
        reason: String,
        /// A reason on a criterion of Art. 16(3), as CRITERION=TEXT
        /// (repeatable).
        #[arg(long = "criterion", value_name = "CRITERION=TEXT")]
        criteria: Vec<String>,
        /// The conditions of Art. 15(1)-(2) are met (rejected on the
        /// criteria nonetheless).
        #[arg(long)]
        conditions_met: bool,
    },
    /// Send the request back to its requester with questions (NEEDS_INFO).
    Ask {
        name: String,
        /// A question (repeatable).
        #[arg(long = "question", required = true)]
        questions: Vec<String>,
    },
}

pub async fn run(args: ClientArgs, command: DecideCommand) -> anyhow::Result<()> {
    let connection = &args.connection;
    let out = args.output;
    let mut client = Client::new(connection.channel().await?);
    match command {
        DecideCommand::Queue => {
            let mut all = pb::ListAssessmentQueueResponse::default();
            loop {
                let page = client
                    .list_assessment_queue(connection.authed(pb::ListAssessmentQueueRequest {
                        page_size: 100,
                        page_token: all.next_page_token.clone(),
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                all.entries.extend(page.entries);
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            print(out, &all, render_queue)
        }
        DecideCommand::Authorise {
            name,
            grants,
            days,
            note,
            overrides,
            justifications,
            criteria,
            covered_entities,
        } => {
            let overrides = pair_overrides(overrides, justifications)?;
            let name = super::request_name(connection, &name).await?;
            let reasons = parse_criteria(&criteria)?;
            let granted_lines = grants
                .iter()
                .map(|g| parse_grant(g))
                .collect::<Result<Vec<_>, _>>()?;
            let granted_lines = if granted_lines.is_empty() {
                // Everything asked for: read the request first.
                let mut requests =
                    pb::support_request_service_client::SupportRequestServiceClient::new(
                        connection.channel().await?,
                    );
                requests
                    .get_support_request(
                        connection.authed(pb::GetSupportRequestRequest { name: name.clone() })?,
                    )
                    .await
                    .map_err(server)?
                    .into_inner()
                    .service_lines
                    .into_iter()
                    .map(|l| pb::ServiceLine {
                        service: l.service,
                        person_days: l.person_days,
                        ..Default::default()
                    })
                    .collect()
            } else {
                granted_lines
            };
            let authorised = client
                .authorise_support(connection.authed(pb::AuthoriseSupportRequest {
                    name,
                    granted_lines,
                    duration_days: days,
                    note,
                    version: 0,
                    overrides,
                    reasons,
                    covered_entities,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &authorised, render)
        }
        DecideCommand::Reject {
            name,
            reason,
            criteria,
            conditions_met,
        } => {
            let reasons = parse_criteria(&criteria)?;
            let rejected = client
                .reject_support_request(connection.authed(pb::RejectSupportRequestRequest {
                    name: super::request_name(connection, &name).await?,
                    reason,
                    version: 0,
                    reasons,
                    conditions_met,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &rejected, render)
        }
        DecideCommand::Ask { name, questions } => {
            let asked = client
                .request_more_information(connection.authed(pb::RequestMoreInformationRequest {
                    name: super::request_name(connection, &name).await?,
                    questions,
                    version: 0,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            print(out, &asked, render)
        }
    }
}

/// `SERVICE=DAYS` as a granted line.
fn parse_grant(grant: &str) -> Result<pb::ServiceLine, UsageError> {
    let bad = || {
        UsageError(format!(
            "--grant `{grant}`: expected SERVICE=DAYS, such as INCIDENT_RESPONSE=15"
        ))
    };
    let (service, days) = grant.split_once('=').ok_or_else(bad)?;
    let service = pb::ServiceType::from_str_name(&service.trim().to_uppercase()).ok_or_else(bad)?;
    let person_days = days.trim().parse().map_err(|_| bad())?;
    Ok(pb::ServiceLine {
        service: service as i32,
        person_days,
        ..Default::default()
    })
}

/// Each `--override RULE_ID` with the `--justification` given for it, in
/// order.
fn pair_overrides(
    rules: Vec<String>,
    justifications: Vec<String>,
) -> Result<Vec<pb::RuleOverride>, UsageError> {
    if rules.len() != justifications.len() {
        return Err(UsageError(format!(
            "{} --override and {} --justification: give one --justification after each \
             --override, such as --override CSA-MITIGATION --justification \"...\"",
            rules.len(),
            justifications.len()
        )));
    }
    Ok(rules
        .into_iter()
        .zip(justifications)
        .map(|(rule_id, justification)| pb::RuleOverride {
            rule_id,
            justification,
        })
        .collect())
}

/// Each `CRITERION=TEXT` as a reason on a criterion of Art. 16(3).
fn parse_criteria(criteria: &[String]) -> Result<Vec<pb::CriterionReason>, UsageError> {
    criteria
        .iter()
        .map(|text| {
            let bad = || {
                let known: Vec<&str> = (1..=5)
                    .filter_map(|n| pb::Criterion::try_from(n).ok())
                    .map(|c| c.as_str_name())
                    .collect();
                UsageError(format!(
                    "--criterion `{text}`: expected CRITERION=TEXT, CRITERION one of {}",
                    known.join(", ")
                ))
            };
            let (criterion, reason) = text.split_once('=').ok_or_else(bad)?;
            let criterion =
                pb::Criterion::from_str_name(&criterion.trim().to_uppercase()).ok_or_else(bad)?;
            Ok(pb::CriterionReason {
                criterion: criterion as i32,
                reason: reason.trim().to_owned(),
            })
        })
        .collect()
}

/// `1d 4h`, `-3h 10m` (overdue), from a protobuf duration.
pub fn duration_text(d: &Option<prost_types::Duration>) -> String {
    let Some(d) = d else { return String::new() };
    let sign = if d.seconds < 0 { "-" } else { "" };
    let minutes = d.seconds.unsigned_abs() / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if days > 0 {
        format!("{sign}{days}d {hours}h")
    } else {
        format!("{sign}{hours}h {minutes:02}m")
    }
}

fn render_queue(queue: &pb::ListAssessmentQueueResponse) -> String {
    let rows: Vec<[String; 7]> = queue
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let sr = e.support_request.clone().unwrap_or_default();
            let services: Vec<&str> = sr
                .service_lines
                .iter()
                .map(|l| service_name(l.service))
                .collect();
            [
                (i + 1).to_string(),
                sr.reference.clone(),
                sr.priority
                    .as_ref()
                    .map(|p| format!("{:.2}", p.total))
                    .unwrap_or_default(),
                duration_text(&e.time_left),
                if e.overdue { "OVERDUE" } else { "" }.to_owned(),
                sr.name.clone(),
                format!("{} [{}]", sr.title, services.join(", ")),
            ]
        })
        .collect();
    table(
        [
            "POS",
            "REFERENCE",
            "SCORE",
            "TIME LEFT",
            "OVERDUE",
            "NAME",
            "TITLE",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_left_reads_in_days_hours_and_minutes() {
        let d = |seconds| super::duration_text(&Some(prost_types::Duration { seconds, nanos: 0 }));
        assert_eq!(d(47 * 3600 + 59 * 60), "1d 23h");
        assert_eq!(d(3 * 3600 + 5 * 60), "3h 05m");
        assert_eq!(d(-(2 * 3600 + 30 * 60)), "-2h 30m");
    }

    #[test]
    fn a_grant_names_a_service_and_its_days() {
        let line = super::parse_grant("incident_response=15").unwrap();
        assert_eq!(line.person_days, 15);
        assert!(super::parse_grant("INCIDENT_RESPONSE").is_err());
        assert!(super::parse_grant("FIREFIGHTING=3").is_err());
    }
}
