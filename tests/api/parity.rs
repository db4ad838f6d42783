//! One door: every invalid input of every command the console has a form
//! for is sent through both doors, a real gRPC client and the console over
//! HTTP (a signed-in session with its CSRF token). Both must refuse it,
//! name the same fields with the same words, and write nothing; the
//! console must send the form back with what was typed.
//!
//! The console's forms are authorising, rejecting, asking for information,
//! approving a dispatch plan, declining an offer and filing the summary
//! report. Creating and editing a request, withdrawing, the agreement,
//! completion and the registry have no console form yet: their refusals
//! are tested through the API (`validation.rs`, `registry.rs`), and their
//! constructors are the same ones a form will call.

use tonic::Code;

use crate::console::{Web, spawn_console};
use crate::helpers::{
    TestApp, approve, authed, authorise, member_state_request, moldova_request, offers_of,
    open_offer, plan, spawn_app, state, violated_fields,
};
use pb::RequestState as S;
use pb::ServiceType::{DigitalForensics as DF, IncidentResponse as IR};
use reserve_dispatch::grpc::pb;

/// What a form or message holds for one command, independent of the door.
#[derive(Clone, Debug)]
enum Input {
    /// Person-days per line asked ("0" leaves it out), duration, note.
    Authorise {
        days: [&'static str; 2],
        duration: &'static str,
        note: String,
    },
    Reject {
        reason: String,
    },
    Ask {
        questions: Vec<String>,
    },
    /// Line 0's provider (an id), fallbacks and justification.
    Approve {
        provider: String,
        fallbacks: Vec<String>,
        justification: String,
    },
    /// A reason code ("" unset) and a note.
    Decline {
        reason: &'static str,
        note: String,
    },
    Report {
        service_provided: String,
        results: String,
        lessons_learned: String,
    },
}

/// Which object a case is sent against.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// A Member State's request, ELIGIBLE: ENISA decides.
    Eligible,
    /// Moldova's request, REFERRED: the Commission decides, within the
    /// Council act's cap of 90 days.
    Referred,
    /// AUTHORISED, incident response only: ENISA approves a plan.
    Authorised,
    /// An open offer to the provider the plan chose.
    Offer,
    /// COMPLETED: the requester files the report.
    Completed,
}

struct Case {
    what: &'static str,
    target: Target,
    input: Input,
    /// The fields named, in order.
    fields: &'static [&'static str],
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

fn cases() -> Vec<Case> {
    use Input::*;
    use Target::*;
    let grant = |days, duration, note: &str| Authorise {
        days,
        duration,
        note: note.to_owned(),
    };
    let approve = |provider: &str, fallbacks: &[&str], justification: &str| Approve {
        provider: provider.to_owned(),
        fallbacks: fallbacks.iter().map(|f| (*f).to_owned()).collect(),
        justification: justification.to_owned(),
    };
    let report = |s: &str, r: &str, l: &str| Report {
        service_provided: s.to_owned(),
        results: r.to_owned(),
        lessons_learned: l.to_owned(),
    };
    vec![
        // AuthoriseSupport
        Case {
            what: "more person-days than asked",
            target: Eligible,
            input: grant(["25", "10"], "30", ""),
            fields: &["granted_lines[0].person_days"],
        },
        Case {
            what: "no line granted",
            target: Eligible,
            input: grant(["0", "0"], "30", ""),
            fields: &["granted_lines"],
        },
        Case {
            what: "person-days out of range",
            target: Eligible,
            input: grant(["20", "366"], "30", ""),
            fields: &["granted_lines[1].person_days"],
        },
        Case {
            what: "no duration",
            target: Eligible,
            input: grant(["20", "10"], "0", ""),
            fields: &["duration_days"],
        },
        Case {
            what: "a duration over a year",
            target: Eligible,
            input: grant(["20", "10"], "366", ""),
            fields: &["duration_days"],
        },
        Case {
            what: "a note too long",
            target: Eligible,
            input: grant(["20", "10"], "30", &long(2_001)),
            fields: &["note"],
        },
        Case {
            what: "a note with a control character",
            target: Eligible,
            input: grant(["20", "10"], "30", "see\u{7}here"),
            fields: &["note"],
        },
        Case {
            what: "every fault at once",
            target: Eligible,
            input: grant(["400", "11"], "400", &long(2_001)),
            fields: &[
                "granted_lines[0].person_days",
                "granted_lines[1].person_days",
                "duration_days",
                "note",
            ],
        },
        Case {
            what: "beyond the Council act's cap",
            target: Referred,
            input: grant(["20", "10"], "120", ""),
            fields: &["duration_days"],
        },
        Case {
            what: "beyond the cap and more than asked, in one answer",
            target: Referred,
            input: grant(["30", "0"], "120", ""),
            fields: &["granted_lines[0].person_days", "duration_days"],
        },
        // RejectSupportRequest
        Case {
            what: "no reason",
            target: Eligible,
            input: Reject {
                reason: String::new(),
            },
            fields: &["reason"],
        },
        Case {
            what: "a blank reason",
            target: Eligible,
            input: Reject {
                reason: "   ".into(),
            },
            fields: &["reason"],
        },
        Case {
            what: "a reason too long",
            target: Eligible,
            input: Reject {
                reason: long(2_001),
            },
            fields: &["reason"],
        },
        // RequestMoreInformation
        Case {
            what: "no question",
            target: Eligible,
            input: Ask { questions: vec![] },
            fields: &["questions"],
        },
        Case {
            what: "a question too long",
            target: Eligible,
            input: Ask {
                questions: vec!["Which hospitals?".into(), long(1_001)],
            },
            fields: &["questions[1]"],
        },
        Case {
            what: "too many questions",
            target: Eligible,
            input: Ask {
                questions: (0..21).map(|i| format!("Question {i}?")).collect(),
            },
            fields: &["questions"],
        },
        // ApproveDispatch
        Case {
            what: "an unknown provider",
            target: Authorised,
            input: approve("nobody", &[], "Chosen for a reason"),
            fields: &["plan[0].provider"],
        },
        Case {
            what: "a provider id that cannot be",
            target: Authorised,
            input: approve("no body!", &[], "Chosen for a reason"),
            fields: &["plan[0].provider", "plan[0].provider"],
        },
        Case {
            what: "an unknown fallback",
            target: Authorised,
            input: approve("{top}", &["nobody"], ""),
            fields: &["plan[0].fallbacks[0]"],
        },
        Case {
            what: "another than the top candidate without a justification",
            target: Authorised,
            input: approve("{other}", &[], ""),
            fields: &["plan[0].justification"],
        },
        Case {
            what: "an ineligible provider and a justification too long",
            target: Authorised,
            input: approve("baltic-shield", &[], &long(2_001)),
            fields: &["plan[0].justification", "plan[0].provider"],
        },
        // DeclineOffer
        Case {
            what: "no reason",
            target: Offer,
            input: Decline {
                reason: "",
                note: String::new(),
            },
            fields: &["reason"],
        },
        Case {
            what: "a note too long",
            target: Offer,
            input: Decline {
                reason: "NO_CAPACITY",
                note: long(2_001),
            },
            fields: &["note"],
        },
        Case {
            what: "no reason and a note too long",
            target: Offer,
            input: Decline {
                reason: "",
                note: long(2_001),
            },
            fields: &["reason", "note"],
        },
        // SubmitSummaryReport
        Case {
            what: "nothing written",
            target: Completed,
            input: report("", "", ""),
            fields: &["service_provided", "results", "lessons_learned"],
        },
        Case {
            what: "results too long",
            target: Completed,
            input: report("Containment", &long(20_001), "Offline backups"),
            fields: &["results"],
        },
    ]
}

/// The objects the cases are sent against, and who acts on each.
struct World {
    app: TestApp,
    web: std::net::SocketAddr,
    eligible: pb::SupportRequest,
    referred: pb::SupportRequest,
    authorised: pb::SupportRequest,
    offered: pb::SupportRequest,
    offer: pb::Offer,
    completed: pb::SupportRequest,
    /// The top candidate of the authorised request's line, and another.
    top: String,
    other: String,
}

impl World {
    async fn prepare() -> World {
        let app = spawn_app().await;
        app.commit_capacity("nordic-ir", IR, 100).await;
        app.commit_capacity("nordic-ir", DF, 100).await;
        app.commit_capacity("danube-cyber", IR, 100).await;
        let eligible = app.submit_new("ro-csirt", member_state_request("RO")).await;
        assert_eq!(state(&eligible), S::Eligible);
        let referred = app.submit_new("md-spoc", moldova_request()).await;
        assert_eq!(state(&referred), S::Referred);
        let authorised = new_authorised(&app).await;
        let proposal = app.propose(&authorised.name).await;
        let providers: Vec<String> = proposal.lines[0]
            .candidates
            .iter()
            .map(|c| c.provider.trim_start_matches("providers/").to_owned())
            .collect();
        assert!(providers.len() >= 2, "two candidates: {providers:?}");
        let (top, other) = (providers[0].clone(), providers[1].clone());
        let offered = new_authorised(&app).await;
        let offer = approve_and_offer(&app, &offered.name, &top).await;
        let completed = new_authorised(&app).await;
        let work = approve_and_offer(&app, &completed.name, &top).await;
        deliver(&app, &top, &work.name).await;
        let completed = app.read("ro-csirt", &completed.name).await;
        assert_eq!(state(&completed), S::Completed);
        let web = spawn_console(&app, true).await;
        World {
            app,
            web,
            eligible,
            referred,
            authorised,
            offered,
            offer,
            completed,
            top,
            other,
        }
    }

    /// Who acts on `target`: the organisation of a demo user and the role.
    fn actor(&self, target: Target) -> (&'static str, &'static str) {
        match target {
            Target::Eligible | Target::Authorised => ("enisa", "duty_officer"),
            Target::Referred => ("ec", "commission"),
            Target::Offer => (self.provider(), "provider"),
            Target::Completed => ("ro-csirt", "requester"),
        }
    }

    fn provider(&self) -> &'static str {
        ["nordic-ir", "danube-cyber"]
            .into_iter()
            .find(|p| *p == self.top)
            .unwrap()
    }

    fn request(&self, target: Target) -> &pb::SupportRequest {
        match target {
            Target::Eligible => &self.eligible,
            Target::Referred => &self.referred,
            Target::Authorised => &self.authorised,
            Target::Offer => &self.offered,
            Target::Completed => &self.completed,
        }
    }

    fn provider_of(&self, id: &str) -> String {
        id.replace("{top}", &self.top)
            .replace("{other}", &self.other)
    }

    /// The target's state as written: its version and its events (the
    /// offer's too).
    async fn written(&self, target: Target) -> (i64, usize) {
        let request = self.request(target);
        let read = self
            .app
            .requests()
            .await
            .get_support_request(authed(
                pb::GetSupportRequestRequest {
                    name: request.name.clone(),
                },
                &self.app.token("auditor", "oversight"),
            ))
            .await
            .unwrap()
            .into_inner();
        let events = self.app.events(&request.name).await.len()
            + self.app.events(&self.offer.name).await.len();
        (read.version, events)
    }

    /// The case through the API: the fields and descriptions named.
    async fn through_grpc(&self, case: &Case) -> Vec<(String, String)> {
        let (org, role) = self.actor(case.target);
        let token = self.app.token(role, org);
        let request = self.request(case.target);
        let name = request.name.clone();
        let answer = match &case.input {
            Input::Authorise {
                days,
                duration,
                note,
            } => {
                let granted_lines = request
                    .service_lines
                    .iter()
                    .zip(days)
                    .filter(|(_, d)| **d != "0")
                    .map(|(line, d)| pb::ServiceLine {
                        service: line.service,
                        person_days: d.parse().unwrap(),
                        ..Default::default()
                    })
                    .collect();
                self.app
                    .dispatch()
                    .await
                    .authorise_support(authed(
                        pb::AuthoriseSupportRequest {
                            name,
                            granted_lines,
                            duration_days: duration.parse().unwrap(),
                            note: note.clone(),
                            version: request.version,
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await
                    .map(drop)
            }
            Input::Reject { reason } => self
                .app
                .dispatch()
                .await
                .reject_support_request(authed(
                    pb::RejectSupportRequestRequest {
                        name,
                        reason: reason.clone(),
                        version: request.version,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .map(drop),
            Input::Ask { questions } => self
                .app
                .dispatch()
                .await
                .request_more_information(authed(
                    pb::RequestMoreInformationRequest {
                        name,
                        questions: questions.clone(),
                        version: request.version,
                    },
                    &token,
                ))
                .await
                .map(drop),
            Input::Approve {
                provider,
                fallbacks,
                justification,
            } => self
                .app
                .dispatch()
                .await
                .approve_dispatch(authed(
                    pb::ApproveDispatchRequest {
                        name,
                        plan: vec![pb::LinePlan {
                            line_index: 0,
                            provider: format!("providers/{}", self.provider_of(provider)),
                            fallbacks: fallbacks
                                .iter()
                                .map(|f| format!("providers/{}", self.provider_of(f)))
                                .collect(),
                            justification: justification.clone(),
                        }],
                        version: request.version,
                    },
                    &token,
                ))
                .await
                .map(drop),
            Input::Decline { reason, note } => self
                .app
                .provider_client()
                .await
                .decline_offer(authed(
                    pb::DeclineOfferRequest {
                        name: self.offer.name.clone(),
                        reason: pb::DeclineReason::from_str_name(reason).map_or(0, |r| r as i32),
                        note: note.clone(),
                    },
                    &token,
                ))
                .await
                .map(drop),
            Input::Report {
                service_provided,
                results,
                lessons_learned,
            } => self
                .app
                .requests()
                .await
                .submit_summary_report(authed(
                    pb::SubmitSummaryReportRequest {
                        name,
                        service_provided: service_provided.clone(),
                        results: results.clone(),
                        lessons_learned: lessons_learned.clone(),
                    },
                    &token,
                ))
                .await
                .map(drop),
        };
        let status = answer.expect_err(case.what);
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{}: {status:?}",
            case.what
        );
        assert_eq!(violated_fields(&status).len(), described(&status).len());
        described(&status)
    }

    /// The case through the console: the fields and descriptions its page
    /// sends back, and the page.
    async fn through_console(&self, case: &Case) -> (Vec<(String, String)>, String) {
        let (org, _) = self.actor(case.target);
        let mut web = Web::new(self.web);
        web.sign_in_as(org).await;
        let csrf = web.session_csrf().await;
        let request = self.request(case.target);
        let id = request.name.trim_start_matches("supportRequests/");
        let version = request.version.to_string();
        let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf)];
        let path = match &case.input {
            Input::Authorise {
                days,
                duration,
                note,
            } => {
                form.push(("version".into(), version));
                for (i, d) in days.iter().enumerate() {
                    form.push((format!("line{i}"), (*d).to_owned()));
                }
                form.push(("duration_days".into(), (*duration).to_owned()));
                form.push(("note".into(), note.clone()));
                format!("/requests/{id}/authorise")
            }
            Input::Reject { reason } => {
                form.push(("version".into(), version));
                form.push(("reason".into(), reason.clone()));
                format!("/requests/{id}/reject")
            }
            Input::Ask { questions } => {
                form.push(("version".into(), version));
                form.push(("questions".into(), questions.join("\n")));
                format!("/requests/{id}/ask")
            }
            Input::Approve {
                provider,
                fallbacks,
                justification,
            } => {
                form.push(("version".into(), version));
                form.push(("line0.provider".into(), self.provider_of(provider)));
                for f in fallbacks {
                    form.push(("line0.fallback".into(), self.provider_of(f)));
                }
                form.push(("line0.justification".into(), justification.clone()));
                format!("/requests/{id}/dispatch")
            }
            Input::Decline { reason, note } => {
                form.push(("reason".into(), (*reason).to_owned()));
                form.push(("note".into(), note.clone()));
                let offer = self.offer.name.trim_start_matches("offers/");
                format!("/offers/{offer}/decline")
            }
            Input::Report {
                service_provided,
                results,
                lessons_learned,
            } => {
                form.push(("service_provided".into(), service_provided.clone()));
                form.push(("results".into(), results.clone()));
                form.push(("lessons_learned".into(), lessons_learned.clone()));
                format!("/requests/{id}/report")
            }
        };
        let fields: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let page = web.post(&path, &fields).await;
        assert_eq!(page.status, 422, "{}: {}", case.what, page.body);
        // What was typed is sent back (the printable values; a provider is
        // chosen among the candidates shown, not typed).
        for (name, value) in &form {
            let chosen = name.ends_with(".provider") || name.ends_with(".fallback");
            if ["csrf", "version"].contains(&name.as_str()) || chosen || value.is_empty() {
                continue;
            }
            if !value.chars().any(char::is_control) {
                assert!(
                    page.body.contains(value.as_str()),
                    "{}: the form keeps {name} = {value:.40}",
                    case.what
                );
            }
        }
        (refusals(&page.body), page.body)
    }
}

/// The `google.rpc.BadRequest` of a status as (field, description) pairs.
fn described(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// The refusals a console page shows in its summary, as (field, description).
fn refusals(html: &str) -> Vec<(String, String)> {
    let marker = r#"<li data-field=""#;
    html.match_indices(marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            let field = &rest[..rest.find('"').unwrap()];
            let text = &rest[rest.find("</a>: ").unwrap() + "</a>: ".len()..];
            let description = &text[..text.find("</li>").unwrap()];
            (unescape(field), unescape(description.trim()))
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn every_invalid_input_is_refused_alike_by_the_api_and_the_console_and_writes_nothing() {
    let world = World::prepare().await;
    let mut seen = std::collections::HashSet::new();
    for case in cases() {
        let before = world.written(case.target).await;
        let api = world.through_grpc(&case).await;
        let (console, page) = world.through_console(&case).await;
        let named: Vec<&str> = api.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(named, case.fields, "{}: the API names", case.what);
        assert_eq!(
            console, api,
            "{}: the console names the same fields in the same words",
            case.what
        );
        // Each refusal is also next to its field (or the plan's line).
        for (field, description) in &api {
            let next_to = format!(r#"<p data-field="{field}">{}</p>"#, escape(description));
            assert!(
                page.contains(&next_to),
                "{}: `{next_to}` is next to an input",
                case.what
            );
        }
        assert_eq!(
            world.written(case.target).await,
            before,
            "{}: nothing was written",
            case.what
        );
        seen.insert(std::mem::discriminant(&case.input));
    }
    assert_eq!(seen.len(), 6, "every command with a form is covered");
    world.app.stop().await;
}

/// A new Romanian request, incident response authorised for 20 days.
async fn new_authorised(app: &TestApp) -> pb::SupportRequest {
    let mut body = member_state_request("RO");
    body.service_lines.truncate(1);
    let submitted = app.submit_new("ro-csirt", body).await;
    authorise(app, &submitted.name, &[(IR, 20)], "duty_officer").await
}

/// Approves `provider` for the request's line and returns its offer.
async fn approve_and_offer(app: &TestApp, name: &str, provider: &str) -> pb::Offer {
    // The ranking moves as capacity is held: justified either way.
    approve(
        app,
        name,
        vec![plan(0, provider, &[], "The provider of the others")],
    )
    .await
    .expect("approved");
    open_offer(&offers_of(app, provider).await, name).clone()
}

/// The provider accepts, records the agreement and completes the work.
async fn deliver(app: &TestApp, provider: &str, offer: &str) {
    app.provider_client()
        .await
        .accept_offer(authed(
            pb::AcceptOfferRequest { name: offer.into() },
            &app.token("provider", provider),
        ))
        .await
        .expect("accepted");
    app.agree_and_complete(provider, offer).await;
}
