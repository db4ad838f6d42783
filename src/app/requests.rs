//! Use cases of the requesting side: create, edit, submit, read, withdraw.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::kernel::{self, Change, Step};
use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::command::request::{CreateRequest, EditRequest, Withdraw};
use crate::domain::dispatch::TimerKind;
use crate::domain::eligibility::{self, Outcome};
use crate::domain::names::RequestId;
use crate::domain::priority;
use crate::domain::request::{Action, RequestContent, RequestState, SupportRequest, reference};
use crate::domain::validation::Violations;
use crate::store::{self, requests::StoredRequest};

pub(crate) use super::kernel::not_found;
pub use super::kernel::resource_name;

/// Hash of a request body, to tell a retried creation from a conflicting one.
fn body_hash(content: &RequestContent) -> String {
    let body = serde_json::to_vec(content).expect("request content serialises");
    hex::encode(Sha256::digest(body))
}

/// Loads a request the actor may see; another organisation's is `NOT_FOUND`,
/// exactly as a request that does not exist.
pub(crate) async fn load_visible<C: sea_orm::ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: &str,
) -> AppResult<StoredRequest> {
    match store::requests::find(conn, id).await? {
        Some(stored) if stored.request.visible_to(actor) => Ok(stored),
        _ => Err(not_found(id)),
    }
}

#[tracing::instrument(name = "requests.create", skip_all)]
pub async fn create(app: &App, actor: &Actor, command: CreateRequest) -> AppResult<SupportRequest> {
    require(actor, Operation::FileRequests)?;
    let now = app.now();
    let CreateRequest {
        request_id,
        content,
        ..
    } = command;
    let request_id = request_id.as_str();
    let hash = body_hash(&content);
    let txn = kernel::begin(app).await?;
    let numbered = store::requests::next_reference_number(&txn, now).await?;
    let registry = app
        .registry
        .at(&app.db, Some(numbered.registry_version))
        .await?;
    let organisation = registry.organisation(&actor.organisation).ok_or_else(|| {
        AppError::PermissionDenied(format!(
            "organisation `{}` is not registered with the Reserve",
            actor.organisation
        ))
    })?;
    let request = SupportRequest {
        id: uuid::Uuid::now_v7().to_string(),
        reference: reference(now, numbered.number),
        organisation: organisation.id.clone(),
        organisation_kind: organisation.kind,
        country: organisation.country.clone(),
        request_id: request_id.to_owned(),
        state: RequestState::Draft,
        version: 1,
        content,
        created_at: now,
        updated_at: now,
        submitted_at: None,
        decision_note: None,
        evaluations: Vec::new(),
        priority: None,
        response_deadline: None,
        decided_at: None,
        granted_lines: Vec::new(),
        granted_duration_days: None,
        completed_at: None,
        report_overdue: false,
        summary_report: None,
    };
    // The organisation's request id is a unique key: a retried creation
    // (or one racing with it) fails it at the commit, and rolls back.
    store::requests::insert(&txn, &request, &hash, &actor.subject);
    kernel::record(
        &txn,
        actor,
        now,
        Change {
            action: "CreateSupportRequest",
            resource: resource_name(&request.id),
            from: "",
            to: request.state.as_str(),
            payload: json!({ "reference": request.reference, "request_id": request_id }),
        },
    );
    match txn.commit().await {
        Ok(()) => Ok(request),
        Err(err) => {
            match store::requests::find_by_request_id(&app.db, &actor.organisation, request_id)
                .await?
            {
                Some(existing) => replay(existing, &hash, request_id),
                None => Err(err.into()),
            }
        }
    }
}

fn replay(existing: StoredRequest, hash: &str, request_id: &str) -> AppResult<SupportRequest> {
    if existing.body_hash == hash {
        Ok(existing.request)
    } else {
        Err(AppError::AlreadyExists(format!(
            "request_id `{request_id}` was already used for {} with another body",
            resource_name(&existing.request.id)
        )))
    }
}

/// Replaces the request's content by the edit, which the door's constructor
/// makes from the content as stored (`EditRequest::parse`).
#[tracing::instrument(name = "requests.update", skip_all)]
pub async fn update(
    app: &App,
    actor: &Actor,
    id: &RequestId,
    edit: impl FnOnce(&RequestContent) -> Result<EditRequest, Violations>,
) -> AppResult<SupportRequest> {
    require(actor, Operation::FileRequests)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_for_change(&txn, actor, id).await?;
    let EditRequest {
        content, fields, ..
    } = edit(&r.request.content)?;
    r.check(Action::Edit)?;
    r.request.content = content;
    r.event(
        &txn,
        actor,
        now,
        "UpdateSupportRequest",
        json!({ "fields": fields }),
    );
    r.finish(txn, now).await
}

/// Submits the request and decides its eligibility at once: SUBMITTED, then
/// ELIGIBLE, INELIGIBLE or NEEDS_INFO by the rule set, and an eligible
/// third-country request on to the Commission (REFERRED, the Council informed).
#[tracing::instrument(name = "requests.submit", skip_all)]
pub async fn submit(app: &App, actor: &Actor, id: &RequestId) -> AppResult<SupportRequest> {
    require(actor, Operation::FileRequests)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_for_change(&txn, actor, id).await?;
    r.check(Action::Submit)?;
    let registry = r.registry(app).await?;
    let organisation = registry
        .organisation(&r.request.organisation)
        .ok_or_else(|| {
            AppError::FailedPrecondition(
                "the requesting organisation is no longer registered".into(),
            )
        })?;
    let country = registry.country(&organisation.country).ok_or_else(|| {
        AppError::FailedPrecondition("the organisation's country is not registered".into())
    })?;
    let rules = &app.rules;
    let decision = eligibility::evaluate(
        rules,
        &eligibility::Input {
            content: &r.request.content,
            organisation,
            country,
            submitted_at: now,
        },
    );
    let by_outcome = |o: Outcome| -> Vec<&str> {
        decision
            .results
            .iter()
            .filter(|r| r.outcome == o)
            .map(|r| r.rule_id.as_str())
            .collect()
    };
    r.step(
        &txn,
        actor,
        now,
        Step {
            action: Action::Submit,
            event: "SubmitSupportRequest",
            payload: json!({}),
        },
    )?;
    r.step(
        &txn,
        actor,
        now,
        Step {
            action: Action::Assess(decision.outcome),
            event: "AssessEligibility",
            payload: json!({
                "rule_set_version": decision.rule_set_version,
                "failed": by_outcome(Outcome::Fail),
                "missing_info": by_outcome(Outcome::MissingInfo),
            }),
        },
    )?;
    if decision.outcome == RequestState::Eligible && r.request.organisation_kind.is_third_country()
    {
        r.step(
            &txn,
            actor,
            now,
            Step {
                action: Action::Refer,
                event: "ReferToCommission",
                payload: json!({ "article": "Art. 19(10)-(11)", "council_informed": true }),
            },
        )?;
        // Art. 19(11): the Council is informed of every referred request.
        r.event(
            &txn,
            actor,
            now,
            "InformCouncil",
            json!({ "article": "Art. 19(11)" }),
        );
    }
    let deadline =
        eligibility::response_deadline(&rules.deadlines, r.request.organisation_kind, now);
    if decision.outcome == RequestState::Eligible {
        store::timers::schedule(&txn, TimerKind::AssessmentDeadline, id, deadline);
    }
    let request = &mut r.request;
    request.priority = Some(priority::score(
        &request.content,
        &request.country,
        &rules.priority.weights,
        rules.thresholds.min_mitigation_chars,
    ));
    request.submitted_at = Some(now);
    request.response_deadline = Some(deadline);
    request.evaluations.push(decision);
    r.finish(txn, now).await
}

#[tracing::instrument(name = "requests.withdraw", skip_all)]
pub async fn withdraw(app: &App, actor: &Actor, command: Withdraw) -> AppResult<SupportRequest> {
    require(actor, Operation::FileRequests)?;
    let (id, reason) = (&command.request, command.reason.as_str());
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_for_change(&txn, actor, id).await?;
    r.step(
        &txn,
        actor,
        now,
        Step {
            action: Action::Withdraw,
            event: "WithdrawSupportRequest",
            payload: json!({ "reason": reason }),
        },
    )?;
    r.request.decision_note = Some(reason.to_owned());
    let freed = super::dispatch::withdraw_offers(&txn, actor, r.key, now).await?;
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    let request = r.finish(txn, now).await?;
    super::dispatch::rematch_after(app, freed).await;
    Ok(request)
}

#[tracing::instrument(name = "requests.get", skip_all)]
pub async fn get(app: &App, actor: &Actor, id: &RequestId) -> AppResult<SupportRequest> {
    require(actor, Operation::ReadRequests)?;
    let request = load_visible(&app.db, actor, id).await?.request;
    record_red_reads(app, actor, [&request]).await?;
    Ok(request)
}

/// A request with its offers and its events (the request's and its
/// offers'), oldest first, as the caller may see them: its page.
pub struct History {
    pub request: SupportRequest,
    pub offers: Vec<crate::domain::dispatch::Offer>,
    pub events: Vec<crate::domain::audit::AuditEvent>,
}

#[tracing::instrument(name = "requests.history", skip_all)]
pub async fn history(app: &App, actor: &Actor, id: &RequestId) -> AppResult<History> {
    use crate::domain::audit::{Owner, visibility};
    require(actor, Operation::ReadRequests)?;
    let stored = load_visible(&app.db, actor, id).await?;
    record_red_reads(app, actor, [&stored.request]).await?;
    store::audit::settle(&app.db, super::audit::SETTLE).await?;
    let offers = store::dispatch::offers_of_request(&app.db, stored.key).await?;
    let request = stored.request;
    let third_country = request.organisation_kind.is_third_country();
    let offer_names: Vec<String> = offers
        .iter()
        .map(|o| super::dispatch::offer_name(&o.id))
        .collect();
    let mut resources = vec![resource_name(id)];
    resources.extend(offer_names.iter().cloned());
    let events = store::audit::of_resources(&app.db, resources)
        .await?
        .into_iter()
        .filter_map(|event| {
            let owner = match offer_names.iter().position(|n| *n == event.resource) {
                Some(i) => Owner::Offer {
                    provider: offers[i].provider.clone(),
                    third_country,
                    organisation: request.organisation.clone(),
                },
                None => Owner::Request {
                    third_country,
                    organisation: request.organisation.clone(),
                },
            };
            event.seen_as(visibility(actor, Some(&owner)))
        })
        .collect();
    Ok(History {
        request,
        offers,
        events,
    })
}

/// Reads of requests marked TLP RED are recorded: who read which, and when.
async fn record_red_reads<'a>(
    app: &App,
    actor: &Actor,
    requests: impl IntoIterator<Item = &'a SupportRequest>,
) -> AppResult<()> {
    let red: Vec<&SupportRequest> = requests
        .into_iter()
        .filter(|r| r.content.tlp == crate::domain::codes::Tlp::Red)
        .collect();
    if red.is_empty() {
        return Ok(());
    }
    let now = app.now();
    let txn = kernel::begin(app).await?;
    for request in red {
        kernel::record(
            &txn,
            actor,
            now,
            Change {
                action: "ReadSupportRequest",
                resource: resource_name(&request.id),
                from: request.state.as_str(),
                to: request.state.as_str(),
                payload: json!({ "tlp": "RED" }),
            },
        );
    }
    txn.commit().await?;
    Ok(())
}

#[tracing::instrument(name = "requests.list", skip_all)]
pub async fn list(
    app: &App,
    actor: &Actor,
    state: Option<RequestState>,
    page: PageRequest,
) -> AppResult<Page<SupportRequest>> {
    require(actor, Operation::ReadRequests)?;
    let before =
        match &page.after {
            Some(after) => Some(after.parse::<i64>().map_err(|_| {
                AppError::invalid("page_token", "is not a token this service issued")
            })?),
            None => None,
        };
    let mut filter = store::requests::ListFilter {
        state,
        ..Default::default()
    };
    match actor.role {
        Role::Requester => filter.organisation = Some(actor.organisation.clone()),
        Role::Commission => {
            filter.organisation_kinds = Some(
                crate::domain::codes::OrganisationKind::ALL
                    .iter()
                    .filter(|k| k.is_third_country())
                    .map(|k| k.as_str().to_owned())
                    .collect(),
            )
        }
        _ => {}
    }
    let rows = store::requests::list(&app.db, &filter, before, page.size).await?;
    let last = rows.last().map(|r| r.key.to_string());
    let next_page_token = page.next_token(rows.len(), last.as_deref());
    let items: Vec<SupportRequest> = rows
        .into_iter()
        .map(|r| r.request)
        .filter(|r| r.visible_to(actor))
        .collect();
    record_red_reads(app, actor, &items).await?;
    Ok(Page {
        items,
        next_page_token,
    })
}
