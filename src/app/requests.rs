//! Use cases of the requesting side: create, edit, submit, read, withdraw.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{App, AppError, AppResult, Change, Page, PageRequest, record, require};
use crate::domain::actor::{Actor, Role};
use crate::domain::dispatch::TimerKind;
use crate::domain::eligibility::{self, Outcome};
use crate::domain::priority;
use crate::domain::request::{Action, RequestContent, RequestState, SupportRequest, reference};
use crate::domain::validation::{CLOCK_SKEW, Violations};
use crate::store::{self, requests::StoredRequest};

pub fn resource_name(id: &str) -> String {
    format!("supportRequests/{id}")
}

pub(crate) fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!("{} not found", resource_name(id)))
}

fn concurrent(id: &str) -> AppError {
    AppError::Aborted(format!(
        "{} was changed concurrently; read it again and retry",
        resource_name(id)
    ))
}

/// Checks that depend on the time of the call.
fn check_times(content: &RequestContent, now: chrono::DateTime<chrono::Utc>) -> AppResult<()> {
    if content.detected_at > now + CLOCK_SKEW {
        return Err(
            Violations::one("support_request.detect_time", "must not be in the future").into(),
        );
    }
    Ok(())
}

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
    match store::requests::find_by_id(conn, id).await? {
        Some(stored) if stored.request.visible_to(actor) => Ok(stored),
        _ => Err(not_found(id)),
    }
}

#[tracing::instrument(name = "requests.create", skip_all)]
pub async fn create(
    app: &App,
    actor: &Actor,
    request_id: &str,
    content: RequestContent,
) -> AppResult<SupportRequest> {
    require(actor, &[Role::Requester])?;
    let now = app.now();
    check_times(&content, now)?;
    let hash = body_hash(&content);
    // The request id's unique key guards the insert.
    let txn = store::begin_guarded(&app.db).await?;
    if let Some(existing) =
        store::requests::find_by_request_id(&txn, &actor.organisation, request_id).await?
    {
        return replay(existing, &hash, request_id);
    }
    let organisation = store::registry::get_organisation(&txn, &actor.organisation)
        .await?
        .ok_or_else(|| {
            AppError::PermissionDenied(format!(
                "organisation `{}` is not registered with the Reserve",
                actor.organisation
            ))
        })?;
    let number = store::requests::next_reference_number(&txn, now).await?;
    let request = SupportRequest {
        id: uuid::Uuid::now_v7().to_string(),
        reference: reference(now, number),
        organisation: organisation.id,
        organisation_kind: organisation.kind,
        country: organisation.country,
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
    if let Err(err) = store::requests::insert(&txn, &request, &hash, &actor.subject).await {
        // Another creation with the same request_id won the race: answer as a retry.
        txn.rollback().await?;
        if let Some(existing) =
            store::requests::find_by_request_id(&app.db, &actor.organisation, request_id).await?
        {
            return replay(existing, &hash, request_id);
        }
        return Err(err.into());
    }
    record(
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
    )
    .await?;
    txn.commit().await?;
    Ok(request)
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

/// Replaces the request's content by `merge(current)`: the gRPC layer applies
/// the field mask there, and every field is validated again.
#[tracing::instrument(name = "requests.update", skip_all)]
pub async fn update(
    app: &App,
    actor: &Actor,
    id: &str,
    merge: impl FnOnce(&RequestContent) -> Result<(RequestContent, Vec<String>), Violations>,
) -> AppResult<SupportRequest> {
    require(actor, &[Role::Requester])?;
    let now = app.now();
    // `replace_content` is guarded by state and version.
    let txn = store::begin_guarded(&app.db).await?;
    let stored = load_visible(&txn, actor, id).await?;
    let state = stored.request.state;
    state
        .apply(Action::Edit)
        .map_err(|e| AppError::FailedPrecondition(e.to_string()))?;
    let (content, fields) = merge(&stored.request.content)?;
    check_times(&content, now)?;
    let version = stored.request.version;
    if !store::requests::replace_content(&txn, stored.key, state, version, &content, now).await? {
        return Err(concurrent(id));
    }
    record(
        &txn,
        actor,
        now,
        Change {
            action: "UpdateSupportRequest",
            resource: resource_name(id),
            from: state.as_str(),
            to: state.as_str(),
            payload: json!({ "fields": fields }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(SupportRequest {
        content,
        version: version + 1,
        updated_at: now,
        ..stored.request
    })
}

/// One step of a use case: the chart's action and the audit event it writes.
pub(crate) struct Step<'a> {
    pub action: Action,
    pub rpc: &'a str,
    pub payload: serde_json::Value,
}

/// Applies `steps` to a loaded request in the caller's transaction: the
/// chart must allow each, the row is updated once (guarded by the state and
/// version read), and each step writes its audit event. Returns the state
/// reached; nothing is written when a step is refused.
pub(crate) async fn apply(
    conn: &crate::store::Txn,
    actor: &Actor,
    stored: &StoredRequest,
    now: chrono::DateTime<chrono::Utc>,
    steps: Vec<Step<'_>>,
    changes: store::requests::Changes<'_>,
) -> AppResult<RequestState> {
    let id = &stored.request.id;
    let mut path = Vec::with_capacity(steps.len());
    let mut state = stored.request.state;
    for step in &steps {
        let next = state
            .apply(step.action)
            .map_err(|e| AppError::FailedPrecondition(e.to_string()))?;
        path.push((state, next));
        state = next;
    }
    let applied = store::requests::transition(
        conn,
        store::requests::Transition {
            key: stored.key,
            from: stored.request.state,
            version: stored.request.version,
            to: state,
            now,
            changes,
        },
    )
    .await?;
    if !applied {
        return Err(concurrent(id));
    }
    for (step, (from, to)) in steps.into_iter().zip(path) {
        record(
            conn,
            actor,
            now,
            Change {
                action: step.rpc,
                resource: resource_name(id),
                from: from.as_str(),
                to: to.as_str(),
                payload: step.payload,
            },
        )
        .await?;
    }
    Ok(state)
}

/// Loads a request the actor may see, in a write transaction.
pub(crate) async fn load_for_change(
    app: &App,
    actor: &Actor,
    id: &str,
) -> AppResult<(crate::store::Txn, StoredRequest)> {
    let txn = store::begin(&app.db).await?;
    let stored = load_visible(&txn, actor, id).await?;
    Ok((txn, stored))
}

/// Commits, then reads the request back: outside the write lock, which
/// the next writer can take meanwhile. A change committed in between shows
/// in the answer (it is the request as it now stands).
pub(crate) async fn commit_and_read(
    txn: crate::store::Txn,
    db: &sea_orm::DatabaseConnection,
    id: &str,
) -> AppResult<SupportRequest> {
    txn.commit().await?;
    Ok(store::requests::find_by_id(db, id)
        .await?
        .ok_or_else(|| not_found(id))?
        .request)
}

/// Submits the request and decides its eligibility at once: SUBMITTED, then
/// ELIGIBLE, INELIGIBLE or NEEDS_INFO by the rule set, and an eligible
/// third-country request on to the Commission (REFERRED, the Council informed).
#[tracing::instrument(name = "requests.submit", skip_all)]
pub async fn submit(app: &App, actor: &Actor, id: &str) -> AppResult<SupportRequest> {
    require(actor, &[Role::Requester])?;
    let now = app.now();
    // `apply` is guarded by state and version; the rest are inserts.
    let txn = store::begin_guarded(&app.db).await?;
    let stored = load_visible(&txn, actor, id).await?;
    // The registry is read under the lock: a country's row and its lists
    // are two statements, and a half-updated country must not be judged.
    txn.lock_for_writes().await?;
    let request = &stored.request;
    let organisation = store::registry::get_organisation(&txn, &request.organisation)
        .await?
        .ok_or_else(|| {
            AppError::FailedPrecondition(
                "the requesting organisation is no longer registered".into(),
            )
        })?;
    let country = store::registry::get_country(&txn, &organisation.country)
        .await?
        .ok_or_else(|| {
            AppError::FailedPrecondition("the organisation's country is not registered".into())
        })?;
    let rules = &app.rules;
    let decision = eligibility::evaluate(
        rules,
        &eligibility::Input {
            content: &request.content,
            organisation: &organisation,
            country: &country,
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
    let mut steps = vec![
        Step {
            action: Action::Submit,
            rpc: "SubmitSupportRequest",
            payload: json!({}),
        },
        Step {
            action: Action::Assess(decision.outcome),
            rpc: "AssessEligibility",
            payload: json!({
                "rule_set_version": decision.rule_set_version,
                "failed": by_outcome(Outcome::Fail),
                "missing_info": by_outcome(Outcome::MissingInfo),
            }),
        },
    ];
    let refer =
        decision.outcome == RequestState::Eligible && request.organisation_kind.is_third_country();
    if refer {
        steps.push(Step {
            action: Action::Refer,
            rpc: "ReferToCommission",
            payload: json!({ "article": "Art. 19(10)-(11)", "council_informed": true }),
        });
    }
    let priority = priority::score(
        &request.content,
        &request.country,
        &rules.priority.weights,
        rules.thresholds.min_mitigation_chars,
    );
    let deadline = eligibility::response_deadline(&rules.deadlines, request.organisation_kind, now);
    apply(
        &txn,
        actor,
        &stored,
        now,
        steps,
        store::requests::Changes {
            submitted_at: Some(now),
            priority: Some(&priority),
            response_deadline: Some(deadline),
            ..Default::default()
        },
    )
    .await?;
    store::requests::insert_evaluation(&txn, stored.key, &decision);
    if matches!(decision.outcome, RequestState::Eligible) {
        store::timers::schedule(&txn, TimerKind::AssessmentDeadline, id, deadline);
    }
    if refer {
        // Art. 19(11): the Council is informed of every referred request.
        record(
            &txn,
            actor,
            now,
            Change {
                action: "InformCouncil",
                resource: resource_name(id),
                from: RequestState::Referred.as_str(),
                to: RequestState::Referred.as_str(),
                payload: json!({ "article": "Art. 19(11)" }),
            },
        )
        .await?;
    }
    commit_and_read(txn, &app.db, id).await
}

#[tracing::instrument(name = "requests.withdraw", skip_all)]
pub async fn withdraw(
    app: &App,
    actor: &Actor,
    id: &str,
    reason: &str,
) -> AppResult<SupportRequest> {
    require(actor, &[Role::Requester])?;
    let now = app.now();
    let (txn, stored) = load_for_change(app, actor, id).await?;
    let step = Step {
        action: Action::Withdraw,
        rpc: "WithdrawSupportRequest",
        payload: json!({ "reason": reason }),
    };
    let changes = store::requests::Changes {
        note: Some(reason),
        ..Default::default()
    };
    apply(&txn, actor, &stored, now, vec![step], changes).await?;
    super::dispatch::withdraw_offers(&txn, app, actor, stored.key, now).await?;
    store::timers::cancel(&txn, TimerKind::AssessmentDeadline, id, now);
    commit_and_read(txn, &app.db, id).await
}

#[tracing::instrument(name = "requests.get", skip_all)]
pub async fn get(app: &App, actor: &Actor, id: &str) -> AppResult<SupportRequest> {
    require(
        actor,
        &[
            Role::Requester,
            Role::DutyOfficer,
            Role::Commission,
            Role::Auditor,
        ],
    )?;
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
pub async fn history(app: &App, actor: &Actor, id: &str) -> AppResult<History> {
    use crate::domain::audit::{Owner, visibility};
    require(
        actor,
        &[
            Role::Requester,
            Role::DutyOfficer,
            Role::Commission,
            Role::Auditor,
        ],
    )?;
    let stored = load_visible(&app.db, actor, id).await?;
    record_red_reads(app, actor, [&stored.request]).await?;
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
    let txn = store::begin(&app.db).await?;
    for request in red {
        record(
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
        )
        .await?;
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
    require(
        actor,
        &[
            Role::Requester,
            Role::DutyOfficer,
            Role::Commission,
            Role::Auditor,
        ],
    )?;
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
