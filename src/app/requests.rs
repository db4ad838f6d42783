//! Use cases of the requesting side: create, edit, submit, read, withdraw.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::kernel::{self, Change, Step};
use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::codes::OrganisationKind;
use crate::domain::command::request::{
    CreateRequest, EditRequest, ReturnToFiler, Transmit, Withdraw,
};
use crate::domain::dispatch::TimerKind;
use crate::domain::eligibility::{self, Outcome};
use crate::domain::names::RequestId;
use crate::domain::priority;
use crate::domain::request::{
    Action, RequestContent, RequestState, SupportRequest, Transmission, reference,
};
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
        contact_point: None,
        transmission: None,
        assessment: None,
        support: None,
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
    filer_only(actor, &r.request)?;
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

/// The filing organisation's changes (edit, submit, withdraw, the report)
/// are its own: a contact point sees the requests that go through it, and
/// only transmits or returns them.
fn filer_only(actor: &Actor, request: &SupportRequest) -> AppResult<()> {
    if request.organisation == actor.organisation {
        Ok(())
    } else {
        Err(AppError::PermissionDenied(format!(
            "only {} changes its own request; its contact point transmits or returns it",
            request.organisation
        )))
    }
}

/// Submits the request. A request of its country's single point of contact
/// (or of CERT-EU, or of a country that designates none) reaches its
/// decider at once: its eligibility is decided (ELIGIBLE, INELIGIBLE or
/// NEEDS_INFO) and an eligible third-country request goes on to the
/// Commission (REFERRED, the Council informed). Any other waits for its
/// contact point to transmit it (AWAITING_TRANSMISSION, Art. 15(3)).
#[tracing::instrument(name = "requests.submit", skip_all)]
pub async fn submit(app: &App, actor: &Actor, id: &RequestId) -> AppResult<SupportRequest> {
    require(actor, Operation::FileRequests)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_for_change(&txn, actor, id).await?;
    filer_only(actor, &r.request)?;
    r.check(Action::Submit)?;
    let registry = r.registry(app).await?;
    let (organisation, country) = user_of(&registry, &r.request)?;
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
    r.request.submitted_at = Some(now);
    match country.single_point_of_contact.as_deref() {
        Some(spoc) if spoc != organisation.id && organisation.kind != OrganisationKind::CertEu => {
            r.request.contact_point = Some(spoc.to_owned());
            r.step(
                &txn,
                actor,
                now,
                Step {
                    action: Action::AwaitTransmission,
                    event: "AwaitTransmission",
                    payload: json!({ "contact_point": spoc, "article": "Art. 15(3)" }),
                },
            )?;
        }
        _ => reach_decider(app, &txn, &mut r, actor, organisation, country, "", now)?,
    }
    r.finish(txn, now).await
}

/// The organisation that filed `request` and its country, as registered.
fn user_of<'a>(
    registry: &'a store::registry::Snapshot,
    request: &SupportRequest,
) -> AppResult<(
    &'a crate::domain::registry::Organisation,
    &'a crate::domain::registry::Country,
)> {
    let organisation = registry
        .organisation(&request.organisation)
        .ok_or_else(|| {
            AppError::FailedPrecondition(
                "the requesting organisation is no longer registered".into(),
            )
        })?;
    let country = registry.country(&organisation.country).ok_or_else(|| {
        AppError::FailedPrecondition("the organisation's country is not registered".into())
    })?;
    Ok((organisation, country))
}

/// The request reaches its decider, transmitted by `actor`'s organisation:
/// its eligibility is decided, the response deadline runs from now (Art.
/// 16(1)), and an eligible third-country request goes to the Commission.
#[allow(clippy::too_many_arguments)]
fn reach_decider(
    app: &App,
    txn: &store::Txn,
    r: &mut kernel::Loaded,
    actor: &Actor,
    organisation: &crate::domain::registry::Organisation,
    country: &crate::domain::registry::Country,
    note: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let rules = &app.rules;
    let transmission = Transmission {
        by: actor.organisation.clone(),
        at: now,
        note: note.to_owned(),
    };
    let decision = eligibility::evaluate(
        rules,
        &eligibility::Input {
            content: &r.request.content,
            organisation,
            country,
            submitted_at: now,
            transmitted_by: &transmission.by,
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
        txn,
        actor,
        now,
        Step {
            action: Action::Assess(decision.outcome),
            event: "AssessEligibility",
            payload: json!({
                "rule_set_version": decision.rule_set_version,
                "failed": by_outcome(Outcome::Fail),
                "missing_info": by_outcome(Outcome::MissingInfo),
                "recommend_rejection": decision.recommends_rejection(),
            }),
        },
    )?;
    if decision.outcome == RequestState::Eligible && r.request.organisation_kind.is_third_country()
    {
        r.step(
            txn,
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
            txn,
            actor,
            now,
            "InformCouncil",
            json!({ "article": "Art. 19(11)" }),
        );
    }
    let deadline =
        eligibility::response_deadline(&rules.deadlines, r.request.organisation_kind, now);
    if decision.outcome == RequestState::Eligible {
        store::timers::schedule(txn, TimerKind::AssessmentDeadline, &r.request.id, deadline);
    }
    let request = &mut r.request;
    request.priority = Some(priority::score(
        &request.content,
        &request.country,
        &rules.priority.weights,
        rules.thresholds.min_mitigation_chars,
        rules.priority.tie_tolerance,
    ));
    request.transmission = Some(transmission);
    request.response_deadline = Some(deadline);
    request.evaluations.push(decision);
    Ok(())
}

/// Loads a request waiting for transmission, for the contact point it
/// waits for (its filer sees it too, but may not transmit or return it).
async fn load_for_contact_point(
    txn: &store::Txn,
    actor: &Actor,
    id: &RequestId,
) -> AppResult<kernel::Loaded> {
    let r = kernel::load_for_change(txn, actor, id).await?;
    if r.request.contact_point.as_deref() != Some(actor.organisation.as_str()) {
        return Err(AppError::PermissionDenied(
            "a request is transmitted or returned by the single point of contact it waits for \
             (Art. 15(3))"
                .into(),
        ));
    }
    Ok(r)
}

/// The contact point transmits a request waiting for it: the request
/// reaches its decider (see `submit`).
#[tracing::instrument(name = "requests.transmit", skip_all)]
pub async fn transmit(app: &App, actor: &Actor, command: Transmit) -> AppResult<SupportRequest> {
    require(actor, Operation::Transmit)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = load_for_contact_point(&txn, actor, &command.request).await?;
    if r.request.state != RequestState::AwaitingTransmission {
        return Err(AppError::FailedPrecondition(format!(
            "a request in state {} cannot be transmitted",
            r.request.state
        )));
    }
    let registry = r.registry(app).await?;
    let (organisation, country) = user_of(&registry, &r.request)?;
    r.event(
        &txn,
        actor,
        now,
        "TransmitSupportRequest",
        json!({ "note": command.note, "article": "Art. 15(3)" }),
    );
    reach_decider(
        app,
        &txn,
        &mut r,
        actor,
        organisation,
        country,
        &command.note,
        now,
    )?;
    r.finish(txn, now).await
}

/// The contact point returns a request waiting for it to its filer, with a
/// reason: AWAITING_TRANSMISSION -> DRAFT.
#[tracing::instrument(name = "requests.return", skip_all)]
pub async fn return_to_filer(
    app: &App,
    actor: &Actor,
    command: ReturnToFiler,
) -> AppResult<SupportRequest> {
    require(actor, Operation::Transmit)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = load_for_contact_point(&txn, actor, &command.request).await?;
    r.step(
        &txn,
        actor,
        now,
        Step {
            action: Action::Return,
            event: "ReturnSupportRequest",
            payload: json!({ "reason": command.reason }),
        },
    )?;
    r.request.decision_note = Some(command.reason);
    // A draft again: its filer's alone until submitted again.
    r.request.contact_point = None;
    r.request.submitted_at = None;
    r.finish(txn, now).await
}

#[tracing::instrument(name = "requests.withdraw", skip_all)]
pub async fn withdraw(app: &App, actor: &Actor, command: Withdraw) -> AppResult<SupportRequest> {
    require(actor, Operation::FileRequests)?;
    let (id, reason) = (&command.request, command.reason.as_str());
    let now = app.now();
    let txn = kernel::begin(app).await?;
    let mut r = kernel::load_for_change(&txn, actor, id).await?;
    filer_only(actor, &r.request)?;
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
    // Support received before the withdrawal is reported on all the same
    // (Art. 16(9)): two months from now.
    if store::dispatch::offers_of_request(&txn, r.key)
        .await?
        .iter()
        .any(|o| o.state == crate::domain::dispatch::OfferState::Delivered)
    {
        let due = now
            .checked_add_months(chrono::Months::new(app.rules.offers.report_due_months))
            .unwrap_or(now);
        store::timers::schedule(&txn, TimerKind::ReportDue, id, due);
    }
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
                    contact_point: request.contact_point.clone(),
                },
                None => Owner::Request {
                    third_country,
                    organisation: request.organisation.clone(),
                    contact_point: request.contact_point.clone(),
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
