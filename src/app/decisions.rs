//! Deciding requests: the assessment queues, authorisation, rejection and
//! requests for more information (Art. 16(1), 19(10)).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::kernel::{self, Loaded, Step};
use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Role};
use crate::domain::codes::ServiceType;
use crate::domain::dispatch::TimerKind;
use crate::domain::priority::{QueueKey, queue_key};
use crate::domain::request::{Action, RequestState, ServiceLine, SupportRequest};
use crate::domain::validation::Violations;
use crate::store::{self, Txn};

/// A request waiting for its decision, with its clock.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub request: SupportRequest,
    pub time_left: Duration,
    pub overdue: bool,
}

/// The caller's queue: for duty officers the ELIGIBLE requests of Member
/// States and CERT-EU, for Commission officers the REFERRED requests of
/// third countries; by priority, then Member State users, then submission.
#[tracing::instrument(name = "decisions.queue", skip_all)]
pub async fn queue(app: &App, actor: &Actor, page: PageRequest) -> AppResult<Page<QueueEntry>> {
    require(actor, &[Role::DutyOfficer, Role::Commission])?;
    let third_country = actor.role == Role::Commission;
    let state = if third_country {
        RequestState::Referred
    } else {
        RequestState::Eligible
    };
    let now = app.now();
    // The page comes from the index on (state, queue key): the token is the
    // key of the last entry shown, so a request decided or added meanwhile
    // shifts nothing.
    if let Some(after) = &page.after
        && after.len() < 25
    {
        return Err(AppError::invalid(
            "page_token",
            "is not a token this service issued",
        ));
    }
    let rows = store::requests::queue(&app.db, state, page.after.as_deref(), page.size).await?;
    let last = rows.last().map(|s| {
        let r = &s.request;
        queue_key(
            &QueueKey {
                total: r.priority.map(|p| p.total).unwrap_or(0.0),
                kind: r.organisation_kind,
                submitted_at: r.submitted_at.unwrap_or(r.created_at),
            },
            &r.id,
        )
    });
    let next_page_token = page.next_token(rows.len(), last.as_deref());
    let items = rows
        .into_iter()
        // The chart keeps each kind of user in its own queue's state; a
        // request of the other kind would be a bug, and is not shown.
        .filter(|s| s.request.organisation_kind.is_third_country() == third_country)
        .map(|s| {
            let request = s.request;
            let deadline = request.response_deadline.unwrap_or(now);
            QueueEntry {
                time_left: deadline - now,
                overdue: request.overdue(now),
                request,
            }
        })
        .collect();
    Ok(Page {
        items,
        next_page_token,
    })
}

/// Loads a request for its decider, checking the caller is the one who decides.
async fn load_for_decision(
    txn: &Txn,
    actor: &Actor,
    id: &str,
    expected_version: i64,
) -> AppResult<Loaded> {
    require(actor, &[Role::DutyOfficer, Role::Commission])?;
    let r = kernel::load_for_change(txn, actor, id).await?;
    let decider = r.request.decider();
    if actor.role != decider {
        return Err(AppError::PermissionDenied(match decider {
            Role::Commission => {
                "requests of third countries are decided by the Commission (Art. 19(10))".into()
            }
            _ => "requests of Member States and CERT-EU are decided by ENISA (Art. 16(1))".into(),
        }));
    }
    r.expect_version(expected_version)?;
    Ok(r)
}

/// The nature and duration of the support granted.
pub struct Grant {
    /// Service and person-days of each line granted.
    pub lines: Vec<(ServiceType, u32)>,
    pub duration_days: u32,
    pub note: String,
}

#[tracing::instrument(name = "decisions.authorise", skip_all)]
pub async fn authorise(
    app: &App,
    actor: &Actor,
    id: &str,
    expected_version: i64,
    grant: Grant,
) -> AppResult<SupportRequest> {
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = load_for_decision(&txn, actor, id, expected_version).await?;
    r.check(Action::Authorise)?;
    let request = &r.request;
    let lines = granted_lines(request, &grant.lines)?;
    let mut act_reference = None;
    if request.organisation_kind.is_third_country() {
        // Art. 19(4), (10): only while a Council implementing act is in force,
        // and for no longer than its cap on support per request.
        let registry = r.registry(app).await?;
        let country = registry
            .country(&request.country)
            .ok_or_else(|| AppError::FailedPrecondition("the country is not registered".into()))?;
        let today = now.date_naive();
        let act = country
            .council_acts
            .iter()
            .find(|a| a.in_force_on(today))
            .ok_or_else(|| {
                AppError::FailedPrecondition(format!(
                    "no Council implementing act authorising support to {} is in force today ({today})",
                    request.country
                ))
            })?;
        if let Some(cap) = act.max_support_days
            && grant.duration_days > cap
        {
            return Err(Violations::one(
                "duration_days",
                format!("must be at most {cap} days, the cap of {}", act.reference),
            )
            .into());
        }
        act_reference = Some(act.reference.clone());
    }
    let step = Step {
        action: Action::Authorise,
        event: "AuthoriseSupport",
        payload: json!({
            "granted": lines.iter().map(|l| json!({"service": l.service, "person_days": l.person_days})).collect::<Vec<_>>(),
            "duration_days": grant.duration_days,
            "council_act": act_reference,
            "note": grant.note,
        }),
    };
    r.step(&txn, actor, now, step)?;
    r.request.decided_at = Some(now);
    r.request.granted_duration_days = Some(grant.duration_days);
    if !grant.note.is_empty() {
        r.request.decision_note = Some(grant.note);
    }
    r.request.granted_lines = lines;
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    r.finish(txn, now).await
}

/// Each granted line names a service requested, for no more person-days
/// than asked; its languages, clearance and planned use are the request's.
fn granted_lines(
    request: &SupportRequest,
    grant: &[(ServiceType, u32)],
) -> AppResult<Vec<ServiceLine>> {
    let mut v = Violations::new();
    if grant.is_empty() {
        v.add("granted_lines", "must grant at least one service line");
    }
    let mut lines = Vec::new();
    for (i, (service, days)) in grant.iter().enumerate() {
        let field = format!("granted_lines[{i}]");
        if grant[..i].iter().any(|(s, _)| s == service) {
            v.add(format!("{field}.service"), "repeats an earlier line");
            continue;
        }
        let asked: u32 = request
            .content
            .service_lines
            .iter()
            .filter(|l| l.service == *service)
            .map(|l| l.person_days)
            .sum();
        let Some(template) = request
            .content
            .service_lines
            .iter()
            .find(|l| l.service == *service)
        else {
            v.add(
                format!("{field}.service"),
                format!("{service} was not requested"),
            );
            continue;
        };
        if *days > asked {
            v.add(
                format!("{field}.person_days"),
                format!("must be at most the {asked} person-days requested"),
            );
        }
        lines.push(ServiceLine {
            person_days: *days,
            ..template.clone()
        });
    }
    Ok(v.finish(lines)?)
}

#[tracing::instrument(name = "decisions.reject", skip_all)]
pub async fn reject(
    app: &App,
    actor: &Actor,
    id: &str,
    expected_version: i64,
    reason: &str,
) -> AppResult<SupportRequest> {
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = load_for_decision(&txn, actor, id, expected_version).await?;
    let step = Step {
        action: Action::Reject,
        event: "RejectSupportRequest",
        payload: json!({ "reason": reason }),
    };
    r.step(&txn, actor, now, step)?;
    r.request.decided_at = Some(now);
    r.request.decision_note = Some(reason.to_owned());
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    r.finish(txn, now).await
}

#[tracing::instrument(name = "decisions.request_information", skip_all)]
pub async fn request_information(
    app: &App,
    actor: &Actor,
    id: &str,
    expected_version: i64,
    questions: &[String],
) -> AppResult<SupportRequest> {
    let now: DateTime<Utc> = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = load_for_decision(&txn, actor, id, expected_version).await?;
    let step = Step {
        action: Action::AskInformation,
        event: "RequestMoreInformation",
        payload: json!({ "questions": questions }),
    };
    r.step(&txn, actor, now, step)?;
    r.request.decision_note = Some(questions.join("\n"));
    // A new response deadline starts at the next submission.
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    r.finish(txn, now).await
}
