//! The pages and their forms. Each handler reads or changes through one use
//! case (or a few reads) with the signed-in person as the actor.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::format::{self, words};
use super::forms::{FieldError, Form};
use super::session::{Posted, User};
use super::{PageError, Shared, render};
use crate::app::{
    self, AppError, PageRequest, decisions,
    dispatch::{self, OfferView},
    requests,
};
use crate::domain::actor::{Operation, Role};
use crate::domain::audit::AuditEvent;
use crate::domain::command::decision::{
    AskFields, AskInformation, AuthoriseFields, AuthoriseSupport, GrantFields, OverrideFields,
    ReasonFields, Reject, RejectFields,
};
use crate::domain::command::dispatch::{
    AgreementFields, ApprovePlan, Complete, CompleteFields, Decline, DeclineFields, LinePlanFields,
    PlanFields, RecordAgreement, RecordAgreementFields,
};
use crate::domain::command::request::{
    FileReport, ReportFields, ReturnFields, ReturnToFiler, Transmit, TransmitFields,
};
use crate::domain::dispatch::{CapacityCommitment, DeclineReason, Offer};
use crate::domain::eligibility::Outcome;
use crate::domain::names::{OfferId, RequestId};
use crate::domain::priority::PriorityScore;
use crate::domain::request::{Criterion, RequestState, ServiceLine, SupportRequest};
use crate::domain::validation::{Choice, Count, Violations};

/// The header of every signed-in page.
pub struct Nav {
    pub who: String,
    pub role: String,
    pub csrf: String,
    pub links: Vec<NavLink>,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

impl Nav {
    pub(super) fn new(user: &User, current: &str) -> Nav {
        let links: &[(&'static str, &'static str)] = match user.role() {
            Role::DutyOfficer => &[
                ("/queue", "Queue"),
                ("/requests", "All requests"),
                ("/capacity", "Capacity"),
                ("/reports", "Usage reports"),
                ("/audit", "Audit trail"),
            ],
            Role::Commission => &[
                ("/queue", "Queue"),
                ("/requests", "Third-country requests"),
                ("/reports", "Usage reports"),
            ],
            Role::Requester => &[("/requests", "Our requests")],
            Role::Provider => &[
                ("/offers", "Offers and assignments"),
                ("/capacity", "Capacity"),
            ],
            Role::Auditor => &[
                ("/requests", "Requests"),
                ("/audit", "Audit trail"),
                ("/capacity", "Capacity"),
                ("/reports", "Usage reports"),
            ],
            Role::Admin => &[("/registry", "Registry"), ("/capacity", "Capacity")],
            // No session is the service's (no token carries its role).
            Role::Service => &[],
        };
        Nav {
            who: format!("{} ({})", user.actor.subject, user.actor.organisation),
            role: words(user.role().as_str()),
            csrf: user.csrf.clone(),
            links: links
                .iter()
                .map(|&(href, label)| NavLink {
                    href,
                    label,
                    current: href == current,
                })
                .chain(std::iter::once(NavLink {
                    href: "/notifications",
                    label: "Notifications",
                    current: current == "/notifications",
                }))
                .collect(),
        }
    }
}

/// Where each role starts.
pub async fn home(user: User) -> Redirect {
    Redirect::to(match user.role() {
        Role::DutyOfficer | Role::Commission => "/queue",
        Role::Requester | Role::Auditor => "/requests",
        Role::Provider => "/offers",
        Role::Admin | Role::Service => "/capacity",
    })
}

/// One row of a list of requests.
pub struct RequestRow {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub organisation: String,
    pub country: String,
    pub state: String,
    pub state_code: &'static str,
    pub updated: String,
}

impl RequestRow {
    fn of(r: &SupportRequest) -> RequestRow {
        RequestRow {
            id: r.id.clone(),
            reference: r.reference.clone(),
            title: r.content.title.clone(),
            organisation: r.organisation.clone(),
            country: r.country.clone(),
            state: words(r.state.as_str()),
            state_code: r.state.as_str(),
            updated: format::time(r.updated_at),
        }
    }
}

pub struct QueueRow {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub organisation: String,
    pub country: String,
    pub severity: String,
    pub total: String,
    pub parts: Vec<(&'static str, String)>,
    pub time_left: String,
    pub deadline: String,
    pub deadline_machine: String,
    pub urgency: &'static str,
}

/// The parts of an Art. 16(3) priority score, labelled.
fn score_parts(p: &PriorityScore) -> Vec<(&'static str, String)> {
    vec![
        ("Scale and severity", format::score(p.scale_and_severity)),
        ("Essential entities", format::score(p.essential_entities)),
        ("Impact", format::score(p.impact)),
        ("Cross-border", format::score(p.cross_border)),
        ("Own measures", format::score(p.own_measures)),
    ]
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    nav: Nav,
    heading: &'static str,
    rows: Vec<QueueRow>,
    dispatch: Vec<RequestRow>,
    show_dispatch: bool,
}

/// Every entry of the caller's queue (pages of the largest size).
async fn whole_queue(app: &app::App, user: &User) -> Result<Vec<decisions::QueueEntry>, PageError> {
    let mut entries = Vec::new();
    let mut token = String::new();
    loop {
        let page = decisions::queue(
            app,
            &user.actor,
            PageRequest {
                size: app::MAX_PAGE_SIZE,
                after: PageRequest::parse(0, &token)?.after,
            },
        )
        .await?;
        entries.extend(page.items);
        if page.next_page_token.is_empty() || entries.len() >= 1_000 {
            return Ok(entries);
        }
        token = page.next_page_token;
    }
}

/// The assessment queue: overdue requests first, then by the queue's own
/// order (priority score, Member States, submission).
pub async fn queue(State(console): State<Shared>, user: User) -> Result<Response, PageError> {
    let app = &console.app;
    let mut entries = whole_queue(app, &user).await?;
    // A stable sort keeps the priority order within each group.
    entries.sort_by_key(|e| !e.overdue);
    let rows = entries
        .iter()
        .map(|e| {
            let r = &e.request;
            let p = r.priority.unwrap_or_default();
            QueueRow {
                id: r.id.clone(),
                reference: r.reference.clone(),
                title: r.content.title.clone(),
                organisation: r.organisation.clone(),
                country: r.country.clone(),
                severity: words(r.content.severity.as_str()),
                total: format::score(p.total),
                parts: score_parts(&p),
                time_left: format::time_left(e.time_left),
                deadline: r.response_deadline.map(format::time).unwrap_or_default(),
                deadline_machine: r
                    .response_deadline
                    .map(format::machine_time)
                    .unwrap_or_default(),
                urgency: format::urgency(e.time_left),
            }
        })
        .collect();
    let show_dispatch = user.role() == Role::DutyOfficer;
    let mut dispatch = Vec::new();
    if show_dispatch {
        for state in [
            RequestState::Authorised,
            RequestState::WaitingCapacity,
            RequestState::Dispatching,
        ] {
            let page = requests::list(
                app,
                &user.actor,
                Some(state),
                PageRequest {
                    size: app::MAX_PAGE_SIZE,
                    after: None,
                },
            )
            .await?;
            dispatch.extend(page.items.iter().map(RequestRow::of));
        }
    }
    Ok(render(&QueuePage {
        nav: Nav::new(&user, "/queue"),
        heading: if user.role() == Role::Commission {
            "Third-country requests to decide"
        } else {
            "Requests to decide"
        },
        rows,
        dispatch,
        show_dispatch,
    }))
}

#[derive(Template)]
#[template(path = "console/requests.html")]
struct RequestsPage {
    nav: Nav,
    heading: &'static str,
    rows: Vec<RequestRow>,
    next: String,
    /// A contact point's queue: requests of its country's organisations
    /// waiting for its transmission (Art. 15(3)).
    to_transmit: Vec<RequestRow>,
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    after: String,
}

pub async fn requests(
    State(console): State<Shared>,
    user: User,
    axum::extract::Query(query): axum::extract::Query<ListQuery>,
) -> Result<Response, PageError> {
    let page = requests::list(
        &console.app,
        &user.actor,
        None,
        PageRequest::parse(50, &query.after)?,
    )
    .await?;
    let to_transmit = if user.role() == Role::Requester {
        requests::list(
            &console.app,
            &user.actor,
            Some(RequestState::AwaitingTransmission),
            PageRequest {
                size: app::MAX_PAGE_SIZE,
                after: None,
            },
        )
        .await?
        .items
        .iter()
        .filter(|r| {
            r.contact_point.as_deref() == Some(user.actor.organisation.as_str())
                && r.organisation != user.actor.organisation
        })
        .map(RequestRow::of)
        .collect()
    } else {
        Vec::new()
    };
    Ok(render(&RequestsPage {
        to_transmit,
        nav: Nav::new(&user, "/requests"),
        heading: match user.role() {
            Role::Requester => "Our requests",
            Role::Commission => "Third-country requests",
            _ => "All requests",
        },
        rows: page.items.iter().map(RequestRow::of).collect(),
        next: page.next_page_token,
    }))
}

pub struct LineRow {
    pub index: usize,
    pub service: String,
    pub days: u32,
    pub languages: String,
    pub clearance: String,
    pub planned_use: String,
}

fn line_rows(lines: &[ServiceLine]) -> Vec<LineRow> {
    lines
        .iter()
        .enumerate()
        .map(|(index, l)| LineRow {
            index,
            service: words(l.service.as_str()),
            days: l.person_days,
            languages: l.languages.join(", "),
            clearance: words(l.clearance.as_str()),
            planned_use: l.planned_use.clone(),
        })
        .collect()
}

pub struct RuleRow {
    pub id: String,
    pub article: String,
    pub outcome: String,
    pub class: &'static str,
    pub message: String,
}

pub struct EventRow {
    pub sequence: i64,
    pub time: String,
    pub machine_time: String,
    pub who: String,
    pub action: String,
    pub resource: String,
    pub change: String,
}

impl EventRow {
    fn of(e: &AuditEvent) -> EventRow {
        EventRow {
            sequence: e.sequence,
            time: format::time(e.time),
            machine_time: format::machine_time(e.time),
            who: if e.actor.is_empty() {
                "(withheld)".into()
            } else if e.role == Role::Service.as_str() {
                format!("the service ({})", e.actor)
            } else {
                format!("{} ({}, {})", e.actor, words(&e.role), e.organisation)
            },
            action: e.action.clone(),
            resource: e.resource.clone(),
            change: if e.from_state == e.to_state {
                words(&e.to_state)
            } else {
                format!("{} → {}", words(&e.from_state), words(&e.to_state))
            },
        }
    }
}

pub struct OfferRow {
    pub id: String,
    pub line: u32,
    pub provider: String,
    pub days: u32,
    pub state: String,
    pub deadline: String,
    pub deadline_machine: String,
    pub urgency: &'static str,
    pub open: bool,
}

fn offer_row(o: &Offer, now: chrono::DateTime<chrono::Utc>) -> OfferRow {
    let open = o.state == crate::domain::dispatch::OfferState::Offered;
    OfferRow {
        id: o.id.clone(),
        line: o.line_index,
        provider: o.provider.clone(),
        days: o.person_days,
        state: words(o.state.as_str()),
        deadline: format::time(o.accept_deadline),
        deadline_machine: format::machine_time(o.accept_deadline),
        urgency: if open {
            format::urgency(o.accept_deadline - now)
        } else {
            "done"
        },
        open,
    }
}

#[derive(Template)]
#[template(path = "console/request.html")]
struct RequestPage {
    nav: Nav,
    r: SupportRequest,
    state: String,
    kind: String,
    third_country: bool,
    category: String,
    classification: String,
    severity: String,
    tlp: String,
    detected: String,
    submitted: String,
    deadline: String,
    deadline_urgency: &'static str,
    affected: Vec<(String, String, String, String)>,
    lines: Vec<LineRow>,
    granted: Vec<LineRow>,
    eligibility: Option<(String, String, String)>,
    rules: Vec<RuleRow>,
    score: Option<(String, Vec<(&'static str, String)>)>,
    timeline: Vec<EventRow>,
    offers: Vec<OfferRow>,
    /// The resources whose events refresh this page.
    live: String,
    can_decide: bool,
    /// For a third country: the Council implementing act in force, and its
    /// cap on the duration of support.
    council_act: Option<(String, String, Option<u32>)>,
    can_dispatch: bool,
    can_report: bool,
    report: Option<(String, String, String, String)>,
    /// The forms as sent back after a refusal (empty otherwise).
    forms: RequestForms,
    /// The authorise form's line inputs.
    grants: Vec<GrantInput>,
    /// The authorise form's inputs of a justification for each failed
    /// finding: (rule, its finding, the input's name).
    findings: Vec<(String, String, String)>,
    /// The inputs of a reason on each criterion of Art. 16(3): (input
    /// name, label).
    criteria: Vec<(String, &'static str)>,
    /// The request's timeline against its deadlines, drawn.
    picture: Option<super::pictures::Picture>,
    /// The request waits for the signed-in organisation to transmit it.
    can_transmit: bool,
    /// The filer may edit and submit it (a draft, or sent back for
    /// information).
    can_edit: bool,
    /// The filer may withdraw it.
    can_withdraw: bool,
    /// How the request reached its decider: (by, when, note).
    transmission: Option<(String, String, String)>,
    /// The decider's assessment, once decided.
    assessment: Option<AssessmentView>,
    /// The support period, once dispatch is approved: (from, to, act, ended).
    support: Option<(String, String, String, bool)>,
}

/// The decider's assessment as the request page shows it.
pub struct AssessmentView {
    pub conditions_met: bool,
    pub reasons: Vec<(&'static str, String)>,
    pub overrides: Vec<(String, String)>,
    pub covered: String,
}

/// What each criterion of Art. 16(3) is called on the decision forms.
fn criterion_label(c: Criterion) -> &'static str {
    match c {
        Criterion::ScaleAndSeverity => "(a) Scale and severity of the incident",
        Criterion::EssentialEntities => "(b) Type of entities affected",
        Criterion::Impact => "(c) Potential impact on the countries or Union entities",
        Criterion::CrossBorder => "(d) Cross-border nature and risk of spill-over",
        Criterion::OwnMeasures => "(e) Measures taken by the user itself",
    }
}

/// The reasons typed on a decision form, one input per criterion; an input
/// left empty gives none.
fn posted_reasons(posted: &Posted) -> Vec<ReasonFields> {
    Criterion::ALL
        .iter()
        .filter(|c| !posted.get(&format!("criterion-{}", c.as_str())).is_empty())
        .map(|c| ReasonFields {
            criterion: (*c).into(),
            reason: posted.get(&format!("criterion-{}", c.as_str())).to_owned(),
        })
        .collect()
}

/// The forms of a request's page: one at most was sent back.
#[derive(Default)]
pub struct RequestForms {
    pub authorise: Form,
    pub ask: Form,
    pub reject: Form,
    pub report: Form,
    pub transmit: Form,
    pub give_back: Form,
}

/// One line of the authorise form: the person-days to grant.
pub struct GrantInput {
    pub index: usize,
    pub service: String,
    pub asked: u32,
    pub value: String,
    pub errors: Vec<FieldError>,
}

/// A request named by a path of the console: one that cannot exist is not
/// found, as the API's is.
fn request_id(id: &str) -> Result<RequestId, PageError> {
    RequestId::from_id("name", id).map_err(|_| PageError::NotFound(format!("{id} not found")))
}

pub async fn request(
    State(console): State<Shared>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    user.permit(Operation::ReadRequests)?;
    let id = request_id(&id)?;
    let page = request_page(&console.app, &user, &id, RequestForms::default()).await?;
    Ok(render(&page))
}

/// A page with a form sent back after a refusal: 422, what was typed kept,
/// each refusal next to its field.
fn sent_back<T: Template>(page: &T) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, render(page)).into_response()
}

/// The request page with `forms` as sent back.
async fn refused_request_page(
    app: &app::App,
    user: &User,
    id: &RequestId,
    forms: RequestForms,
) -> Result<Response, PageError> {
    Ok(sent_back(&request_page(app, user, id, forms).await?))
}

async fn request_page(
    app: &app::App,
    user: &User,
    id: &RequestId,
    forms: RequestForms,
) -> Result<RequestPage, PageError> {
    let requests::History {
        request: r,
        offers,
        events: timeline,
    } = requests::history(app, &user.actor, id).await?;
    let now = app.now();
    let third_country = r.organisation_kind.is_third_country();
    let decider = if third_country {
        Role::Commission
    } else {
        Role::DutyOfficer
    };
    let decidable = matches!(r.state, RequestState::Eligible | RequestState::Referred);
    let latest = r.evaluations.last();
    let can_decide = decidable && user.role() == decider;
    let council_act = if third_country && can_decide {
        let country = app::registry::get_country(app, &user.actor, &r.country).await?;
        country
            .council_acts
            .iter()
            .find(|a| a.in_force_on(now.date_naive()))
            .map(|a| {
                (
                    a.reference.clone(),
                    a.valid_until.to_string(),
                    a.max_support_days,
                )
            })
    } else {
        None
    };
    let mut live = vec![requests::resource_name(&r.id)];
    live.extend(offers.iter().map(|o| dispatch::offer_name(&o.id)));
    let page = RequestPage {
        nav: Nav::new(user, ""),
        state: words(r.state.as_str()),
        kind: words(r.organisation_kind.as_str()),
        third_country,
        category: words(r.content.category.as_str()),
        classification: words(r.content.classification.as_str()),
        severity: words(r.content.severity.as_str()),
        tlp: r.content.tlp.as_str().to_owned(),
        detected: format::time(r.content.detected_at),
        submitted: r.submitted_at.map(format::time).unwrap_or_default(),
        deadline: match (r.response_deadline, decidable) {
            (Some(d), true) => format!("{} ({})", format::time(d), format::time_left(d - now)),
            (Some(d), false) => format::time(d),
            (None, _) => String::new(),
        },
        deadline_urgency: match (r.response_deadline, decidable) {
            (Some(d), true) => format::urgency(d - now),
            _ => "done",
        },
        affected: r
            .content
            .affected_entities
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    words(e.sector.as_str()),
                    words(e.entity_type.as_str()),
                    e.country.clone(),
                )
            })
            .collect(),
        lines: line_rows(&r.content.service_lines),
        granted: line_rows(&r.granted_lines),
        eligibility: latest.map(|d| {
            (
                words(d.outcome.as_str()),
                format::time(d.evaluated_at),
                d.rule_set_version.clone(),
            )
        }),
        rules: latest
            .map(|d| {
                d.results
                    .iter()
                    .map(|res| RuleRow {
                        id: res.rule_id.clone(),
                        article: res.article.clone(),
                        outcome: words(res.outcome.as_str()),
                        class: match res.outcome {
                            Outcome::Pass => "pass",
                            Outcome::Fail => "fail",
                            _ => "other",
                        },
                        message: res.message.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        score: r
            .priority
            .map(|p| (format::score(p.total), score_parts(&p))),
        timeline: timeline.iter().map(EventRow::of).collect(),
        offers: offers.iter().map(|o| offer_row(o, now)).collect(),
        live: live.join(" "),
        can_decide,
        council_act,
        can_dispatch: user.role() == Role::DutyOfficer
            && matches!(
                r.state,
                RequestState::Authorised
                    | RequestState::Dispatching
                    | RequestState::WaitingCapacity
            ),
        can_report: user.role() == Role::Requester
            && r.organisation == user.actor.organisation
            && r.summary_report.is_none()
            && (r.state == RequestState::Completed
                || (r.state == RequestState::Withdrawn
                    && offers
                        .iter()
                        .any(|o| o.state == crate::domain::dispatch::OfferState::Delivered))),
        findings: latest
            .map(|d| {
                d.failed_findings()
                    .map(|f| {
                        (
                            f.rule_id.clone(),
                            f.message.clone(),
                            format!("override-{}", f.rule_id),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        criteria: Criterion::ALL
            .iter()
            .map(|c| (format!("criterion-{}", c.as_str()), criterion_label(*c)))
            .collect(),
        picture: super::pictures::request_timeline(
            &r,
            app.rules.offers.report_due_months,
            now,
            &r.id,
        ),
        can_transmit: user.role() == Role::Requester
            && r.state == RequestState::AwaitingTransmission
            && r.contact_point.as_deref() == Some(user.actor.organisation.as_str()),
        can_edit: user.role() == Role::Requester
            && r.organisation == user.actor.organisation
            && matches!(r.state, RequestState::Draft | RequestState::NeedsInfo),
        can_withdraw: user.role() == Role::Requester
            && r.organisation == user.actor.organisation
            && r.state
                .apply(crate::domain::request::Action::Withdraw)
                .is_ok(),
        transmission: r
            .transmission
            .as_ref()
            .map(|t| (t.by.clone(), format::time(t.at), t.note.clone())),
        assessment: r.assessment.as_ref().map(|a| AssessmentView {
            conditions_met: a.conditions_met,
            reasons: a
                .reasons
                .iter()
                .map(|x| (criterion_label(x.criterion), x.reason.clone()))
                .collect(),
            overrides: a
                .overrides
                .iter()
                .map(|o| (o.rule_id.clone(), o.justification.clone()))
                .collect(),
            covered: a.covered_entities.join(", "),
        }),
        support: r.support.as_ref().map(|p| {
            (
                format::time(p.starts),
                format::time(p.ends),
                p.council_act.clone().unwrap_or_default(),
                p.ended || now >= p.ends,
            )
        }),
        report: r.summary_report.as_ref().map(|s| {
            (
                s.service_provided.clone(),
                s.results.clone(),
                s.lessons_learned.clone(),
                s.recipients.join(", "),
            )
        }),
        grants: r
            .content
            .service_lines
            .iter()
            .enumerate()
            .map(|(index, l)| {
                let input = format!("line{index}");
                GrantInput {
                    index,
                    service: words(l.service.as_str()),
                    asked: l.person_days,
                    value: forms
                        .authorise
                        .typed(&input)
                        .map_or_else(|| l.person_days.to_string(), str::to_owned),
                    errors: forms
                        .authorise
                        .errors(&input)
                        .into_iter()
                        .cloned()
                        .collect(),
                }
            })
            .collect(),
        forms,
        r,
    };
    Ok(page)
}

fn back_to(id: &str) -> Option<String> {
    Some(format!("/requests/{id}"))
}

fn version(posted: &Posted) -> Result<i64, PageError> {
    posted
        .get("version")
        .parse()
        .map_err(|_| PageError::BadRequest("The form lacks the request's version.".into()))
}

fn done(id: &str) -> Response {
    Redirect::to(&format!("/requests/{id}")).into_response()
}

/// The form's own input named like the field, if it has one: `inputs` maps
/// the API's top-level field names to the form's inputs and element ids.
fn place_by_name(inputs: &[(&str, &str)]) -> impl Fn(&str) -> Option<(String, String)> {
    move |field| {
        let top = field.split(['.', '[']).next().unwrap_or(field);
        inputs
            .iter()
            .find(|(name, _)| *name == top)
            .map(|(name, anchor)| ((*name).to_owned(), (*anchor).to_owned()))
    }
}

/// The lines the authorise form grants: each line of the request with its
/// typed person-days; 0 leaves a line out.
fn granted_inputs(posted: &Posted, lines: &[ServiceLine]) -> Vec<usize> {
    (0..lines.len())
        .filter(|i| posted.get(&format!("line{i}")).parse::<u64>() != Ok(0))
        .collect()
}

/// AuthoriseSupport: the service lines granted (person-days each; 0 leaves
/// a line out), the duration, and a note.
pub async fn authorise(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Decide)?;
    let id = request_id(&id)?;
    let version = version(&posted)?;
    let mut granted = Vec::new();
    let answer = decisions::authorise(app, actor, &id, |at| {
        let lines = &at.request.content.service_lines;
        granted = granted_inputs(&posted, lines);
        let fields = AuthoriseFields {
            granted_lines: granted
                .iter()
                .map(|i| GrantFields {
                    service: lines[*i].service.into(),
                    person_days: Count::Text(posted.get(&format!("line{i}")).to_owned()),
                })
                .collect(),
            duration_days: Count::Text(posted.get("duration_days").to_owned()),
            note: posted.get("note").to_owned(),
            version,
            overrides: at
                .request
                .evaluations
                .last()
                .map(|d| {
                    d.failed_findings()
                        .filter(|f| !posted.get(&format!("override-{}", f.rule_id)).is_empty())
                        .map(|f| OverrideFields {
                            rule_id: f.rule_id.clone(),
                            justification: posted
                                .get(&format!("override-{}", f.rule_id))
                                .to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            reasons: posted_reasons(&posted),
            // Every entity the evaluation judged covered (the API may name
            // fewer).
            covered_entities: Vec::new(),
        };
        AuthoriseSupport::parse(&fields, at)
    })
    .await;
    match answer {
        Ok(_) => Ok(done(&id)),
        Err(AppError::Invalid(v)) => {
            let form = Form::refused(&posted, &v, "authorise-form", |field| {
                let line = field
                    .strip_prefix("granted_lines[")
                    .and_then(|rest| rest.split(']').next())
                    .and_then(|k| k.parse::<usize>().ok())
                    .and_then(|k| granted.get(k));
                match line {
                    Some(i) => Some((format!("line{i}"), format!("grant-{i}"))),
                    None => place_by_name(&[
                        ("granted_lines", "grant-0"),
                        ("duration_days", "duration"),
                        ("note", "authorise-note"),
                    ])(field)
                    .or_else(|| place_decision_field(&posted, field, "authorise")),
                }
            });
            let forms = RequestForms {
                authorise: form,
                ..Default::default()
            };
            refused_request_page(app, &posted.user, &id, forms).await
        }
        Err(e) => Err(PageError::from_app(e, back_to(&id))),
    }
}

/// A decision form's command refused by its constructor or its use case:
/// the request page again, with `form` sent back; any other refusal is a
/// page of its own.
async fn answer_request_form(
    app: &app::App,
    posted: &Posted,
    id: &RequestId,
    answer: Result<SupportRequest, AppError>,
    sent_back: impl FnOnce(&Violations) -> RequestForms,
) -> Result<Response, PageError> {
    match answer {
        Ok(_) => Ok(done(id)),
        Err(AppError::Invalid(v)) => {
            refused_request_page(app, &posted.user, id, sent_back(&v)).await
        }
        Err(e) => Err(PageError::from_app(e, back_to(id))),
    }
}

pub async fn reject(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Decide)?;
    let id = request_id(&id)?;
    let answer = match Reject::parse(&RejectFields {
        name: id.name(),
        reason: posted.get("reason").to_owned(),
        version: version(&posted)?,
        reasons: posted_reasons(&posted),
        conditions_met: posted.get("conditions_met") == "yes",
    }) {
        Ok(command) => decisions::reject(app, actor, command).await,
        Err(v) => Err(v.into()),
    };
    answer_request_form(app, &posted, &id, answer, |v| RequestForms {
        reject: Form::refused(&posted, v, "reject-form", |field| {
            place_by_name(&[("reason", "reason")])(field)
                .or_else(|| place_decision_field(&posted, field, "reject"))
        }),
        ..Default::default()
    })
    .await
}

/// The input of a decision form a refusal of a reason or an override names:
/// `reasons[i]` is the i-th criterion given, `overrides[i]` the i-th
/// finding set aside.
fn place_decision_field(posted: &Posted, field: &str, form: &str) -> Option<(String, String)> {
    let index = |prefix: &str| {
        field
            .strip_prefix(prefix)?
            .split(']')
            .next()?
            .parse::<usize>()
            .ok()
    };
    if let Some(i) = index("reasons[") {
        let c = Criterion::ALL
            .iter()
            .filter(|c| !posted.get(&format!("criterion-{}", c.as_str())).is_empty())
            .nth(i)?;
        let input = format!("criterion-{}", c.as_str());
        return Some((input.clone(), format!("{form}-{input}")));
    }
    if let Some(i) = index("overrides[") {
        let (name, _) = posted
            .fields
            .iter()
            .filter(|(k, v)| k.starts_with("override-") && !v.trim().is_empty())
            .nth(i)?;
        return Some((name.clone(), format!("{form}-{name}")));
    }
    None
}

/// TransmitSupportRequest: the contact point sends the request on to its
/// decider, with an optional note.
pub async fn transmit(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Transmit)?;
    let id = request_id(&id)?;
    let answer = match Transmit::parse(&TransmitFields {
        name: id.name(),
        note: posted.get("note").to_owned(),
    }) {
        Ok(command) => requests::transmit(app, actor, command).await,
        Err(v) => Err(v.into()),
    };
    answer_request_form(app, &posted, &id, answer, |v| RequestForms {
        transmit: Form::refused(
            &posted,
            v,
            "transmit-form",
            place_by_name(&[("note", "transmit-note")]),
        ),
        ..Default::default()
    })
    .await
}

/// ReturnSupportRequest: the contact point sends the request back to its
/// filer, with the reason.
pub async fn give_back(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Transmit)?;
    let id = request_id(&id)?;
    let answer = match ReturnToFiler::parse(&ReturnFields {
        name: id.name(),
        reason: posted.get("reason").to_owned(),
    }) {
        Ok(command) => requests::return_to_filer(app, actor, command).await,
        Err(v) => Err(v.into()),
    };
    answer_request_form(app, &posted, &id, answer, |v| RequestForms {
        give_back: Form::refused(
            &posted,
            v,
            "return-form",
            place_by_name(&[("reason", "return-reason")]),
        ),
        ..Default::default()
    })
    .await
}

/// RequestMoreInformation: one question per line.
pub async fn ask(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Decide)?;
    let id = request_id(&id)?;
    let questions: Vec<String> = posted
        .get("questions")
        .lines()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .collect();
    let answer = match AskInformation::parse(&AskFields {
        name: id.name(),
        questions,
        version: version(&posted)?,
    }) {
        Ok(command) => decisions::request_information(app, actor, command).await,
        Err(v) => Err(v.into()),
    };
    answer_request_form(app, &posted, &id, answer, |v| RequestForms {
        ask: Form::refused(
            &posted,
            v,
            "ask-form",
            place_by_name(&[("questions", "questions")]),
        ),
        ..Default::default()
    })
    .await
}

pub struct CandidateRow {
    pub provider: String,
    pub name: String,
    pub score: String,
    pub free: u32,
    pub days: u32,
    pub reasons: Vec<String>,
    /// Chosen as the line's provider (the top one, or as sent back).
    pub chosen: bool,
    /// Ticked as a fallback.
    pub fallback: bool,
}

pub struct ProposalLine {
    pub index: u32,
    pub service: String,
    pub days: u32,
    /// The providers to choose from: those able to take the whole line,
    /// or else those of the proposed split (each can take a part).
    pub choices: Vec<CandidateRow>,
    /// No provider can take the whole line.
    pub partial: bool,
    pub justification: String,
    /// Refusals of the line's provider, fallbacks and justification.
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "console/proposal.html")]
struct ProposalPage {
    nav: Nav,
    id: String,
    reference: String,
    title: String,
    state: String,
    version: i64,
    /// Authorised, and every line has someone to choose.
    can_approve: bool,
    /// The plan was approved already.
    approved: bool,
    lines: Vec<ProposalLine>,
    /// The approve form as sent back after a refusal.
    form: Form,
}

fn candidate_rows(
    candidates: &[crate::domain::matching::Candidate],
    line: u32,
    form: &Form,
) -> Vec<CandidateRow> {
    let chosen = form.typed(&format!("line{line}.provider"));
    let fallbacks = form.all(&format!("line{line}.fallback"));
    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| CandidateRow {
            provider: c.provider.clone(),
            name: c.display_name.clone(),
            score: format::score(c.score),
            free: c.free,
            days: c.person_days,
            reasons: c.reasons.clone(),
            chosen: chosen.map_or(i == 0, |p| p == c.provider),
            fallback: if form.sent() {
                fallbacks.contains(&c.provider.as_str())
            } else {
                i > 0
            },
        })
        .collect()
}

/// ProposeMatches, with the approve form.
pub async fn proposal(
    State(console): State<Shared>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    user.permit(Operation::Dispatch)?;
    let id = request_id(&id)?;
    let page = proposal_page(&console.app, &user, &id, Form::default()).await?;
    Ok(render(&page))
}

async fn proposal_page(
    app: &app::App,
    user: &User,
    id: &RequestId,
    form: Form,
) -> Result<ProposalPage, PageError> {
    let r = requests::get(app, &user.actor, id).await?;
    let proposals = dispatch::propose(app, &user.actor, id).await?;
    let lines: Vec<ProposalLine> = proposals
        .iter()
        .map(|p| {
            let partial = p.proposal.candidates.is_empty();
            let prefix = format!("line{}.", p.line_index);
            ProposalLine {
                index: p.line_index,
                service: words(p.service.as_str()),
                days: p.person_days,
                choices: candidate_rows(
                    if partial {
                        &p.proposal.split
                    } else {
                        &p.proposal.candidates
                    },
                    p.line_index,
                    &form,
                ),
                partial,
                justification: form.value(&format!("{prefix}justification"), "").to_owned(),
                errors: form
                    .summary()
                    .iter()
                    .filter(|e| e.input.starts_with(&prefix))
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    Ok(ProposalPage {
        nav: Nav::new(user, ""),
        id: r.id.clone(),
        reference: r.reference.clone(),
        title: r.content.title.clone(),
        state: words(r.state.as_str()),
        version: r.version,
        can_approve: r.state == RequestState::Authorised
            && lines.iter().all(|l| !l.choices.is_empty()),
        approved: r.state != RequestState::Authorised,
        lines,
        form,
    })
}

/// ApproveDispatch: for each line the chosen provider, the fallbacks in
/// the order shown, and the justification.
pub async fn approve(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Dispatch)?;
    let id = request_id(&id)?;
    // One entry per line the form lists; the plan's checks refuse one that
    // leaves a granted line out.
    let fields = PlanFields {
        plan: (0..)
            .take_while(|i| !posted.get(&format!("line{i}.provider")).is_empty())
            .map(|i| {
                let provider = posted.get(&format!("line{i}.provider")).to_owned();
                LinePlanFields {
                    line_index: i,
                    fallbacks: posted
                        .all(&format!("line{i}.fallback"))
                        .into_iter()
                        .filter(|f| *f != provider)
                        .map(str::to_owned)
                        .collect(),
                    justification: posted.get(&format!("line{i}.justification")).to_owned(),
                    provider,
                }
            })
            .collect(),
        version: version(&posted)?,
    };
    let answer = dispatch::approve(app, actor, &id, |at| ApprovePlan::parse(&fields, at)).await;
    match answer {
        Ok(_) => Ok(done(&id)),
        Err(AppError::Invalid(v)) => {
            let form = Form::refused(&posted, &v, "approve-form", |field| {
                // plan[k] is the form's line k.
                let (k, rest) = field.strip_prefix("plan[")?.split_once(']')?;
                let input = match rest.trim_start_matches('.').split(['.', '[']).next()? {
                    "provider" => "provider",
                    "fallbacks" => "fallback",
                    "justification" => "justification",
                    _ => return None,
                };
                Some((format!("line{k}.{input}"), format!("line-{k}-heading")))
            });
            Ok(sent_back(
                &proposal_page(app, &posted.user, &id, form).await?,
            ))
        }
        Err(e) => Err(PageError::from_app(
            e,
            Some(format!("/requests/{id}/dispatch")),
        )),
    }
}

/// SubmitSummaryReport (Art. 16(9)).
pub async fn report(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::FileRequests)?;
    let id = request_id(&id)?;
    let answer = match FileReport::parse(&ReportFields {
        name: id.name(),
        service_provided: posted.get("service_provided").to_owned(),
        results: posted.get("results").to_owned(),
        lessons_learned: posted.get("lessons_learned").to_owned(),
    }) {
        Ok(command) => dispatch::submit_report(app, actor, command).await,
        Err(v) => Err(v.into()),
    };
    answer_request_form(app, &posted, &id, answer, |v| RequestForms {
        report: Form::refused(
            &posted,
            v,
            "report-form",
            place_by_name(&[
                ("service_provided", "service-provided"),
                ("results", "results"),
                ("lessons_learned", "lessons"),
            ]),
        ),
        ..Default::default()
    })
    .await
}

pub struct CapacityRow {
    pub service: String,
    pub period: String,
    pub committed: u32,
    pub held: u32,
    pub consumed: u32,
    pub free: u32,
    /// The bar's segments, in pixels of 300: consumed, held, free.
    pub consumed_px: u32,
    pub held_px: u32,
    pub free_px: u32,
    /// The period drawn under it: how much of it has passed, in pixels of
    /// 300, and the same in words.
    pub elapsed_px: u32,
    pub elapsed: String,
}

pub struct ProviderCapacity {
    pub provider: String,
    pub rows: Vec<CapacityRow>,
}

#[derive(Template)]
#[template(path = "console/capacity.html")]
struct CapacityPage {
    nav: Nav,
    providers: Vec<ProviderCapacity>,
}

const BAR_PX: u32 = 300;

fn capacity_row(c: &CapacityCommitment, today: chrono::NaiveDate) -> CapacityRow {
    let free = c.person_days.saturating_sub(c.held + c.consumed);
    let length = (c.period_end - c.period_start).num_days() + 1;
    let passed = ((today - c.period_start).num_days() + 1).clamp(0, length);
    let elapsed_px = (passed * i64::from(BAR_PX) / length.max(1)) as u32;
    let elapsed = match (passed, length) {
        (0, _) => format!("the period begins on {}", c.period_start),
        (p, l) if p >= l => format!("the period ended on {}", c.period_end),
        (p, l) => format!("day {p} of {l} of the period"),
    };
    let px = |days: u32| {
        if c.person_days == 0 {
            0
        } else {
            (u64::from(days) * u64::from(BAR_PX) / u64::from(c.person_days)) as u32
        }
    };
    let (consumed_px, held_px) = (px(c.consumed), px(c.held));
    CapacityRow {
        service: words(c.service.as_str()),
        period: format!("{} to {}", c.period_start, c.period_end),
        committed: c.person_days,
        held: c.held,
        consumed: c.consumed,
        free,
        consumed_px,
        held_px,
        free_px: BAR_PX.saturating_sub(consumed_px + held_px),
        elapsed_px,
        elapsed,
    }
}

/// Capacity per provider and service: committed, held, consumed, free.
pub async fn capacity(State(console): State<Shared>, user: User) -> Result<Response, PageError> {
    let app = &console.app;
    let mut commitments = Vec::new();
    let mut token = String::new();
    loop {
        let page = app::capacity::list(
            app,
            &user.actor,
            None,
            PageRequest {
                size: app::MAX_PAGE_SIZE,
                after: PageRequest::parse(0, &token)?.after,
            },
        )
        .await?;
        commitments.extend(page.items);
        if page.next_page_token.is_empty() || commitments.len() >= 5_000 {
            break;
        }
        token = page.next_page_token;
    }
    commitments.sort_by(|a, b| {
        (&a.provider, a.service, a.period_start).cmp(&(&b.provider, b.service, b.period_start))
    });
    let today = app.now().date_naive();
    let mut providers: Vec<ProviderCapacity> = Vec::new();
    for c in &commitments {
        match providers.last_mut() {
            Some(p) if p.provider == c.provider => p.rows.push(capacity_row(c, today)),
            _ => providers.push(ProviderCapacity {
                provider: c.provider.clone(),
                rows: vec![capacity_row(c, today)],
            }),
        }
    }
    Ok(render(&CapacityPage {
        nav: Nav::new(&user, "/capacity"),
        providers,
    }))
}

/// An offer as its provider sees it before accepting: no requester, no
/// description (the redacted view of the API).
pub struct OfferCard {
    pub id: String,
    pub state: String,
    pub open: bool,
    pub category: String,
    pub service: String,
    pub country: String,
    pub severity: String,
    pub days: u32,
    pub deadline: String,
    pub deadline_machine: String,
    pub urgency: &'static str,
    pub reason: String,
    /// The decline form: each reason, and whether it is the one chosen.
    pub reasons: Vec<(&'static str, String, bool)>,
    pub note: String,
    /// The decline form as sent back for this offer.
    pub form: Form,
}

pub struct AssignmentRow {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub organisation: String,
    pub state: String,
    pub service: String,
    pub days: u32,
    /// Accepted: the specific agreement is to be recorded.
    pub to_agree: bool,
    /// Active: the delivery is to be reported.
    pub to_complete: bool,
    pub delivery_note: String,
}

#[derive(Template)]
#[template(path = "console/offers.html")]
struct OffersPage {
    nav: Nav,
    offers: Vec<OfferCard>,
    assignments: Vec<AssignmentRow>,
}

pub async fn offers(State(console): State<Shared>, user: User) -> Result<Response, PageError> {
    user.permit(Operation::Deliver)?;
    Ok(render(&offers_page(&console.app, &user, None).await?))
}

/// The provider's offers and assignments; `declined` is a decline form
/// sent back, with the offer it was for.
async fn offers_page(
    app: &app::App,
    user: &User,
    declined: Option<(&str, Form)>,
) -> Result<OffersPage, PageError> {
    let now = app.now();
    let page = |view| {
        dispatch::list_for_provider(
            app,
            &user.actor,
            view,
            PageRequest {
                size: app::MAX_PAGE_SIZE,
                after: None,
            },
        )
    };
    let offers = page(OfferView::Offers).await?;
    let assignments = page(OfferView::Assignments).await?;
    let service = |o: &Offer, r: &SupportRequest| {
        r.granted_lines
            .get(o.line_index as usize)
            .map(|l| words(l.service.as_str()))
            .unwrap_or_default()
    };
    let mut declined = declined;
    Ok(OffersPage {
        nav: Nav::new(user, "/offers"),
        offers: offers
            .items
            .iter()
            .map(|(o, r)| {
                let row = offer_row(o, now);
                let form = match declined.take_if(|(id, _)| *id == o.id) {
                    Some((_, form)) => form,
                    None => Form::default(),
                };
                let chosen = form.value("reason", "");
                OfferCard {
                    id: o.id.clone(),
                    state: row.state,
                    open: row.open,
                    category: words(r.content.category.as_str()),
                    service: service(o, r),
                    country: r.country.clone(),
                    severity: words(r.content.severity.as_str()),
                    days: o.person_days,
                    deadline: row.deadline,
                    deadline_machine: row.deadline_machine,
                    urgency: row.urgency,
                    reason: o
                        .decline_reason
                        .map(|d| words(d.as_str()))
                        .unwrap_or_default(),
                    reasons: DeclineReason::ALL
                        .iter()
                        .map(|r| (r.as_str(), words(r.as_str()), r.as_str() == chosen))
                        .collect(),
                    note: form.value("note", "").to_owned(),
                    form,
                }
            })
            .collect(),
        assignments: assignments
            .items
            .iter()
            .map(|(o, r)| AssignmentRow {
                id: o.id.clone(),
                reference: r.reference.clone(),
                title: r.content.title.clone(),
                organisation: r.organisation.clone(),
                state: words(o.state.as_str()),
                service: service(o, r),
                days: o.person_days,
                to_agree: o.state == crate::domain::dispatch::OfferState::Accepted,
                to_complete: o.state == crate::domain::dispatch::OfferState::Active,
                delivery_note: o.delivery_note.clone().unwrap_or_default(),
            })
            .collect(),
    })
}

/// A time typed in a form: RFC 3339, or a `datetime-local` value
/// (`2026-11-30T10:00`, read as UTC); empty: unset.
pub(super) fn typed_time(value: &str) -> crate::domain::validation::Instant {
    use crate::domain::validation::Instant;
    let value = value.trim();
    if value.is_empty() {
        return Instant::Unset;
    }
    match chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M") {
        Ok(t) => Instant::Text(format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S"))),
        Err(_) => Instant::Text(value.to_owned()),
    }
}

/// The provider records the specific agreement of an accepted offer
/// (Art. 16(5)-(6)); signed now when no time is given.
pub async fn agree(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Deliver)?;
    let id = offer_id(&id)?;
    let now = app.now();
    let sign_time = match typed_time(posted.get("signed")) {
        crate::domain::validation::Instant::Unset => crate::domain::validation::Instant::Text(
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        typed => typed,
    };
    let command = RecordAgreement::parse(
        &RecordAgreementFields {
            name: id.name(),
            agreement: Some(AgreementFields {
                reference: posted.get("reference").to_owned(),
                template_version: posted.get("template_version").to_owned(),
                sign_time,
                liability_conditions: posted.get("liability").to_owned(),
                affected_entity: posted.get("affected_entity").to_owned(),
            }),
        },
        now,
    )
    .map_err(|v| back_to_offers(v.into()))?;
    dispatch::record_agreement(app, actor, command)
        .await
        .map_err(back_to_offers)?;
    Ok(Redirect::to("/offers").into_response())
}

/// The provider reports an active assignment delivered, with its note.
pub async fn complete(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::Deliver)?;
    let id = offer_id(&id)?;
    let command = Complete::parse(&CompleteFields {
        name: id.name(),
        delivery_note: posted.get("delivery_note").to_owned(),
    })
    .map_err(|v| back_to_offers(v.into()))?;
    dispatch::complete(&console.app, actor, command)
        .await
        .map_err(back_to_offers)?;
    Ok(Redirect::to("/offers").into_response())
}

fn back_to_offers(e: app::AppError) -> PageError {
    PageError::from_app(e, Some("/offers".into()))
}

/// An offer named by a path of the console.
fn offer_id(id: &str) -> Result<OfferId, PageError> {
    OfferId::from_id("name", id).map_err(|_| PageError::NotFound(format!("{id} not found")))
}

pub async fn accept(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::Deliver)?;
    let id = offer_id(&id)?;
    dispatch::accept(&console.app, actor, &id)
        .await
        .map_err(back_to_offers)?;
    Ok(Redirect::to("/offers").into_response())
}

pub async fn decline(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Deliver)?;
    let id = offer_id(&id)?;
    let answer = match Decline::parse(&DeclineFields {
        name: id.name(),
        reason: Choice::word(posted.get("reason")),
        note: posted.get("note").to_owned(),
    }) {
        Ok(command) => dispatch::decline(app, actor, command).await,
        Err(v) => Err(v.into()),
    };
    match answer {
        Ok(_) => Ok(Redirect::to("/offers").into_response()),
        Err(AppError::Invalid(v)) => {
            let anchor = format!("decline-{id}");
            let form = Form::refused(&posted, &v, &anchor, |field| {
                let input = field.split(['.', '[']).next()?;
                matches!(input, "reason" | "note")
                    .then(|| (input.to_owned(), format!("{input}-{id}")))
            });
            Ok(sent_back(
                &offers_page(app, &posted.user, Some((&id, form))).await?,
            ))
        }
        Err(e) => Err(back_to_offers(e)),
    }
}

/// A subscription as the notifications page lists it.
struct SubscriptionRow {
    id: String,
    target: String,
    actions: String,
    whom: String,
    since: String,
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct NotificationsPage {
    nav: Nav,
    organisation: String,
    subscriptions: Vec<SubscriptionRow>,
    defaults: String,
    mail: bool,
    form: Form,
    /// The secret of the webhook subscription just made, shown once.
    created_secret: Option<String>,
}

async fn notifications_page(
    app: &app::App,
    user: &User,
    form: Form,
    created_secret: Option<String>,
) -> Result<NotificationsPage, PageError> {
    let subscriptions = app::notify::subscriptions(app, &user.actor)
        .await?
        .into_iter()
        .map(|s| SubscriptionRow {
            id: s.id.clone(),
            target: s.channel.target().to_owned(),
            actions: if s.actions.is_empty() {
                "the role's".into()
            } else {
                s.actions.join(", ")
            },
            whom: if s.person.is_empty() {
                format!("{} ({})", s.organisation, words(s.role.as_str()))
            } else {
                s.person.clone()
            },
            since: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect();
    let defaults = crate::domain::notify::default_actions(user.role());
    Ok(NotificationsPage {
        nav: Nav::new(user, "/notifications"),
        organisation: user.actor.organisation.clone(),
        subscriptions,
        defaults: if defaults.is_empty() {
            "nothing; name the events".into()
        } else {
            defaults.join(", ")
        },
        mail: app.notify.smtp_url.is_some(),
        form,
        created_secret,
    })
}

/// The organisation's subscriptions, and the form to subscribe.
pub async fn notifications(
    State(console): State<Shared>,
    user: User,
) -> Result<Response, PageError> {
    user.permit(Operation::Subscribe)?;
    Ok(render(
        &notifications_page(&console.app, &user, Form::default(), None).await?,
    ))
}

/// CreateSubscription; the webhook's secret is shown once, on the answer.
pub async fn subscribe(
    State(console): State<Shared>,
    posted: Posted,
) -> Result<Response, PageError> {
    let app = &console.app;
    let actor = posted.user.permit(Operation::Subscribe)?;
    let actions: Vec<String> = posted
        .get("actions")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    let answer = app::notify::subscribe(
        app,
        actor,
        posted.get("webhook_url").trim(),
        posted.get("email").trim(),
        &actions,
        posted.get("personal") == "yes",
    )
    .await;
    match answer {
        Ok(created) => {
            let secret = (!created.secret.is_empty()).then_some(created.secret);
            Ok(render(
                &notifications_page(app, &posted.user, Form::default(), secret).await?,
            ))
        }
        Err(AppError::Invalid(v)) => {
            let form = Form::refused(&posted, &v, "subscribe-form", |field| {
                let field = field.strip_prefix("subscription.")?;
                let input = field.split(['.', '[']).next()?;
                let anchor = match input {
                    "webhook_url" => "subscribe-webhook",
                    "email" => "subscribe-email",
                    "actions" => "subscribe-actions",
                    _ => return None,
                };
                Some((input.to_owned(), anchor.to_owned()))
            });
            Ok(sent_back(
                &notifications_page(app, &posted.user, form, None).await?,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// DeleteSubscription.
pub async fn unsubscribe(
    State(console): State<Shared>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::Subscribe)?;
    app::notify::unsubscribe(&console.app, actor, &id).await?;
    Ok(Redirect::to("/notifications").into_response())
}
