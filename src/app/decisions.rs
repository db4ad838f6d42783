//! Deciding requests: the assessment queues, authorisation, rejection and
//! requests for more information (Art. 16(1), 19(10)).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::requests::{Step, apply, commit_and_read, load_for_change};
use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Role};
use crate::domain::codes::{OrganisationKind, ServiceType};
use crate::domain::dispatch::TimerKind;
use crate::domain::priority::{QueueKey, queue_position};
use crate::domain::request::{Action, RequestState, ServiceLine, SupportRequest};
use crate::domain::validation::Violations;
use crate::store::{self, requests::StoredRequest};

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
    let kinds = OrganisationKind::ALL
        .iter()
        .filter(|k| k.is_third_country() == third_country)
        .map(|k| k.as_str().to_owned())
        .collect();
    let now = app.now();
    let mut rows: Vec<SupportRequest> = store::requests::in_state(&app.db, state, kinds)
        .await?
        .into_iter()
        .map(|s| s.request)
        .collect();
    let key = |r: &SupportRequest| QueueKey {
        total: r.priority.map(|p| p.total).unwrap_or(0.0),
        kind: r.organisation_kind,
        submitted_at: r.submitted_at.unwrap_or(r.created_at),
    };
    let position = |r: &SupportRequest| queue_position(&key(r), &r.id);
    rows.sort_by_cached_key(position);
    // Keyset paging: the token is the position of the last entry shown, so a
    // request decided or added meanwhile shifts nothing.
    let after = match &page.after {
        Some(token) => Some(parse_position(token).ok_or_else(|| {
            AppError::invalid("page_token", "is not a token this service issued")
        })?),
        None => None,
    };
    let items: Vec<QueueEntry> = rows
        .into_iter()
        .filter(|r| after.as_ref().is_none_or(|a| position(r) > *a))
        .take(page.size as usize)
        .map(|request| {
            let deadline = request.response_deadline.unwrap_or(now);
            QueueEntry {
                time_left: deadline - now,
                overdue: request.overdue(now),
                request,
            }
        })
        .collect();
    let last = items.last().map(|e| {
        let (total, rank, micros, id) = position(&e.request);
        format!("{total}_{rank}_{micros}_{id}")
    });
    let next_page_token = page.next_token(items.len(), last.as_deref());
    Ok(Page {
        items,
        next_page_token,
    })
}

fn parse_position(token: &str) -> Option<(i64, u8, i64, String)> {
    let mut parts = token.splitn(4, '_');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.to_owned(),
    ))
}

/// Loads a request for its decider, checking the caller is the one who decides.
async fn load_for_decision(
    app: &App,
    actor: &Actor,
    id: &str,
    expected_version: i64,
) -> AppResult<(crate::store::Txn, StoredRequest)> {
    require(actor, &[Role::DutyOfficer, Role::Commission])?;
    let (txn, stored) = load_for_change(app, actor, id).await?;
    let decider = stored.request.decider();
    if actor.role != decider {
        return Err(AppError::PermissionDenied(match decider {
            Role::Commission => {
                "requests of third countries are decided by the Commission (Art. 19(10))".into()
            }
            _ => "requests of Member States and CERT-EU are decided by ENISA (Art. 16(1))".into(),
        }));
    }
    if expected_version != 0 && expected_version != stored.request.version {
        return Err(AppError::Aborted(format!(
            "the request is at version {}, not {expected_version}; read it again",
            stored.request.version
        )));
    }
    Ok((txn, stored))
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
    let (txn, stored) = load_for_decision(app, actor, id, expected_version).await?;
    let request = &stored.request;
    request
        .state
        .apply(Action::Authorise)
        .map_err(|e| AppError::FailedPrecondition(e.to_string()))?;
    let lines = granted_lines(request, &grant.lines)?;
    let mut act_reference = None;
    if request.organisation_kind.is_third_country() {
        // Art. 19(4), (10): only while a Council implementing act is in force,
        // and for no longer than its cap on support per request.
        let country = store::registry::get_country(&txn, &request.country)
            .await?
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
        rpc: "AuthoriseSupport",
        payload: json!({
            "granted": lines.iter().map(|l| json!({"service": l.service, "person_days": l.person_days})).collect::<Vec<_>>(),
            "duration_days": grant.duration_days,
            "council_act": act_reference,
            "note": grant.note,
        }),
    };
    let changes = store::requests::Changes {
        decided_at: Some(now),
        granted_duration_days: Some(grant.duration_days),
        note: (!grant.note.is_empty()).then_some(grant.note.as_str()),
        ..Default::default()
    };
    apply(&txn, actor, &stored, now, vec![step], changes).await?;
    store::requests::insert_granted_lines(&txn, stored.key, &lines);
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    commit_and_read(txn, &app.db, id).await
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
    let (txn, stored) = load_for_decision(app, actor, id, expected_version).await?;
    let step = Step {
        action: Action::Reject,
        rpc: "RejectSupportRequest",
        payload: json!({ "reason": reason }),
    };
    let changes = store::requests::Changes {
        decided_at: Some(now),
        note: Some(reason),
        ..Default::default()
    };
    apply(&txn, actor, &stored, now, vec![step], changes).await?;
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    commit_and_read(txn, &app.db, id).await
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
    let (txn, stored) = load_for_decision(app, actor, id, expected_version).await?;
    let note = questions.join("\n");
    let step = Step {
        action: Action::AskInformation,
        rpc: "RequestMoreInformation",
        payload: json!({ "questions": questions }),
    };
    let changes = store::requests::Changes {
        note: Some(&note),
        ..Default::default()
    };
    apply(&txn, actor, &stored, now, vec![step], changes).await?;
    // A new response deadline starts at the next submission.
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    commit_and_read(txn, &app.db, id).await
}
