//! Deciding requests: the assessment queues, authorisation, rejection and
//! requests for more information (Art. 16(1), 19(10)).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::kernel::{self, Loaded, Step};
use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::command::decision::{AskInformation, AuthoriseSupport, Authorising, Reject};
use crate::domain::dispatch::TimerKind;
use crate::domain::names::RequestId;
use crate::domain::priority::{QueueKey, queue_key};
use crate::domain::request::{Action, RequestState, SupportRequest};
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
    require(actor, Operation::Decide)?;
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
                band: r.priority.map(|p| p.band).unwrap_or(0),
                kind: r.organisation_kind,
                transmitted_at: r
                    .transmission
                    .as_ref()
                    .map(|t| t.at)
                    .unwrap_or(r.created_at),
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
async fn load_for_decision(txn: &Txn, actor: &Actor, id: &str) -> AppResult<Loaded> {
    require(actor, Operation::Decide)?;
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
    Ok(r)
}

/// Authorises the request by the grant the door's constructor makes from
/// the request as loaded and the Council act in force today
/// (`AuthoriseSupport::parse`).
#[tracing::instrument(name = "decisions.authorise", skip_all)]
pub async fn authorise(
    app: &App,
    actor: &Actor,
    id: &RequestId,
    grant: impl FnOnce(&Authorising) -> Result<AuthoriseSupport, Violations>,
) -> AppResult<SupportRequest> {
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = load_for_decision(&txn, actor, id).await?;
    let third_country = r.request.organisation_kind.is_third_country();
    // Art. 19(4), (10): a third country only while a Council implementing
    // act is in force, and for no longer than its cap on support per request.
    let registry = match third_country {
        true => Some(r.registry(app).await?),
        false => None,
    };
    let today = now.date_naive();
    let act = registry
        .as_ref()
        .and_then(|registry| registry.country(&r.request.country))
        .and_then(|c| c.council_acts.iter().find(|a| a.in_force_on(today)));
    let grant = grant(&Authorising {
        request: &r.request,
        act,
    })?;
    r.expect_version(grant.version)?;
    r.check(Action::Authorise)?;
    if third_country && act.is_none() {
        return Err(AppError::FailedPrecondition(format!(
            "no Council implementing act authorising support to {} is in force today ({today})",
            r.request.country
        )));
    }
    let step = Step {
        action: Action::Authorise,
        event: "AuthoriseSupport",
        payload: json!({
            "granted": grant.lines.iter().map(|l| json!({"service": l.service, "person_days": l.person_days})).collect::<Vec<_>>(),
            "duration_days": grant.duration_days,
            "council_act": grant.council_act,
            "note": grant.note,
            "assessment": grant.assessment,
        }),
    };
    r.step(&txn, actor, now, step)?;
    r.request.decided_at = Some(now);
    r.request.granted_duration_days = Some(grant.duration_days);
    if !grant.note.is_empty() {
        r.request.decision_note = Some(grant.note);
    }
    r.request.granted_lines = grant.lines;
    r.request.assessment = Some(grant.assessment);
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    r.finish(txn, now).await
}

#[tracing::instrument(name = "decisions.reject", skip_all)]
pub async fn reject(app: &App, actor: &Actor, command: Reject) -> AppResult<SupportRequest> {
    let (id, reason) = (&command.request, &command.reason);
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = load_for_decision(&txn, actor, id).await?;
    r.expect_version(command.version)?;
    let step = Step {
        action: Action::Reject,
        event: "RejectSupportRequest",
        payload: json!({ "reason": reason, "assessment": command.assessment }),
    };
    r.step(&txn, actor, now, step)?;
    r.request.decided_at = Some(now);
    r.request.decision_note = Some(reason.clone());
    r.request.assessment = Some(command.assessment);
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    r.finish(txn, now).await
}

#[tracing::instrument(name = "decisions.request_information", skip_all)]
pub async fn request_information(
    app: &App,
    actor: &Actor,
    command: AskInformation,
) -> AppResult<SupportRequest> {
    let (id, questions) = (&command.request, &command.questions);
    let now: DateTime<Utc> = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = load_for_decision(&txn, actor, id).await?;
    r.expect_version(command.version)?;
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
