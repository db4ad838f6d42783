//! Use cases of the requesting side: create, edit, submit, read, withdraw.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{App, AppError, AppResult, Change, Page, PageRequest, record, require};
use crate::domain::actor::{Actor, Role};
use crate::domain::request::{Action, RequestContent, RequestState, SupportRequest, reference};
use crate::domain::validation::{CLOCK_SKEW, Violations};
use crate::store::{self, requests::StoredRequest};

pub fn resource_name(id: &str) -> String {
    format!("supportRequests/{id}")
}

fn not_found(id: &str) -> AppError {
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
async fn load_visible<C: sea_orm::ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: &str,
) -> AppResult<StoredRequest> {
    match store::requests::find_by_id(conn, id).await? {
        Some(stored) if stored.request.visible_to(actor) => Ok(stored),
        _ => Err(not_found(id)),
    }
}

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
    let txn = store::begin(&app.db).await?;
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
pub async fn update(
    app: &App,
    actor: &Actor,
    id: &str,
    merge: impl FnOnce(&RequestContent) -> Result<(RequestContent, Vec<String>), Violations>,
) -> AppResult<SupportRequest> {
    require(actor, &[Role::Requester])?;
    let now = app.now();
    let txn = store::begin(&app.db).await?;
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

/// Moves the request along `action` in one guarded transition.
async fn transition(
    app: &App,
    actor: &Actor,
    id: &str,
    action: Action,
    rpc: &str,
    note: Option<&str>,
) -> AppResult<SupportRequest> {
    require(actor, &[Role::Requester])?;
    let now = app.now();
    let txn = store::begin(&app.db).await?;
    let stored = load_visible(&txn, actor, id).await?;
    let from = stored.request.state;
    let to = from
        .apply(action)
        .map_err(|e| AppError::FailedPrecondition(e.to_string()))?;
    let submitted = action == Action::Submit;
    let applied = store::requests::transition(
        &txn,
        store::requests::Transition {
            key: stored.key,
            from,
            version: stored.request.version,
            to,
            now,
            submitted,
            note,
        },
    )
    .await?;
    if !applied {
        return Err(concurrent(id));
    }
    record(
        &txn,
        actor,
        now,
        Change {
            action: rpc,
            resource: resource_name(id),
            from: from.as_str(),
            to: to.as_str(),
            payload: match note {
                Some(note) => json!({ "reason": note }),
                None => json!({}),
            },
        },
    )
    .await?;
    txn.commit().await?;
    let mut request = stored.request;
    request.state = to;
    request.version += 1;
    request.updated_at = now;
    if submitted {
        request.submitted_at = Some(now);
    }
    if let Some(note) = note {
        request.decision_note = Some(note.to_owned());
    }
    Ok(request)
}

pub async fn submit(app: &App, actor: &Actor, id: &str) -> AppResult<SupportRequest> {
    transition(app, actor, id, Action::Submit, "SubmitSupportRequest", None).await
}

pub async fn withdraw(
    app: &App,
    actor: &Actor,
    id: &str,
    reason: &str,
) -> AppResult<SupportRequest> {
    transition(
        app,
        actor,
        id,
        Action::Withdraw,
        "WithdrawSupportRequest",
        Some(reason),
    )
    .await
}

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
    Ok(load_visible(&app.db, actor, id).await?.request)
}

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
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| r.request)
            .filter(|r| r.visible_to(actor))
            .collect(),
        next_page_token,
    })
}
