//! The auditors' pages: the audit trail filtered by resource and action,
//! the chain's verification with its result, and the export as JSON lines.

use askama::Template;
use axum::{
    body::Body,
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};

use super::pages::Nav;
use super::session::{Posted, User};
use super::{PageError, Shared, render};
use crate::app::{self, PageRequest};
use crate::domain::actor::Operation;
use crate::domain::audit::AuditEvent;

/// Events on a page of the trail.
const PAGE: u64 = 100;

#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    action: String,
    /// The page after this sequence.
    #[serde(default)]
    after: i64,
}

pub struct EventRow {
    pub sequence: i64,
    pub time: String,
    pub who: String,
    pub action: String,
    pub resource: String,
    pub states: String,
    pub hash: String,
}

/// The chain's verification, when one was asked for.
pub struct Verified {
    pub ok: bool,
    pub text: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    nav: Nav,
    resource: String,
    action: String,
    events: Vec<EventRow>,
    /// The query of the next page, if there is one.
    next: Option<String>,
    verified: Option<Verified>,
    may_verify: bool,
}

fn row(e: &AuditEvent) -> EventRow {
    EventRow {
        sequence: e.sequence,
        time: e.time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        who: if e.organisation.is_empty() {
            e.actor.clone()
        } else {
            format!("{} ({}, {})", e.actor, e.role, e.organisation)
        },
        action: e.action.clone(),
        resource: e.resource.clone(),
        states: match (e.from_state.as_str(), e.to_state.as_str()) {
            ("", "") => String::new(),
            (from, to) if from == to => to.to_owned(),
            (from, to) => format!("{from} → {to}"),
        },
        hash: e.hash.chars().take(16).collect(),
    }
}

async fn page(
    console: &Shared,
    user: &User,
    filter: &Filter,
    verified: Option<Verified>,
) -> Result<AuditPage, PageError> {
    let resource = filter.resource.trim();
    let action = filter.action.trim();
    let found = app::audit::list(
        &console.app,
        &user.actor,
        (!resource.is_empty()).then_some(resource),
        PageRequest {
            size: PAGE,
            after: (filter.after > 0).then(|| filter.after.to_string()),
        },
    )
    .await?;
    let last = found.items.last().map(|e| e.sequence);
    let events = found
        .items
        .iter()
        .filter(|e| action.is_empty() || e.action == action)
        .map(row)
        .collect();
    let next = (!found.next_page_token.is_empty())
        .then_some(last)
        .flatten()
        .map(|last| {
            serde_urlencoded::to_string([
                ("resource", resource),
                ("action", action),
                ("after", &last.to_string()),
            ])
            .expect("plain strings encode")
        });
    Ok(AuditPage {
        nav: Nav::new(user, "/audit"),
        resource: resource.to_owned(),
        action: action.to_owned(),
        events,
        next,
        verified,
        may_verify: user.actor.permit(Operation::VerifyChain).is_ok(),
    })
}

pub async fn trail(
    State(console): State<Shared>,
    user: User,
    Query(filter): Query<Filter>,
) -> Result<Response, PageError> {
    user.permit(Operation::ListEvents)?;
    Ok(render(&page(&console, &user, &filter, None).await?))
}

/// Verifies the whole chain and shows the trail with the result.
pub async fn verify(State(console): State<Shared>, posted: Posted) -> Result<Response, PageError> {
    let actor = posted.user.permit(Operation::VerifyChain)?;
    let result = app::audit::verify(&console.app, actor, 0, None).await?;
    let verified = match result.broken {
        None => Verified {
            ok: true,
            text: format!(
                "The chain verifies: {} events checked, each hash and each link recomputed.",
                result.checked
            ),
        },
        Some((sequence, what)) => Verified {
            ok: false,
            text: format!("The chain is broken at event {sequence}: {what}"),
        },
    };
    Ok(render(
        &page(&console, &posted.user, &Filter::default(), Some(verified)).await?,
    ))
}

/// Every event as JSON lines (every stored field, the hashes included, so
/// that the chain can be verified from the file alone), read page by page.
pub async fn export(State(console): State<Shared>, user: User) -> Result<Response, PageError> {
    user.permit(Operation::ListEvents)?;
    // The first page now, so that a refusal is a page, not a broken file.
    let first = app::audit::list(
        &console.app,
        &user.actor,
        None,
        PageRequest {
            size: app::MAX_PAGE_SIZE,
            after: None,
        },
    )
    .await?;
    let state = (console.clone(), user.actor.clone(), Some(first));
    let lines = futures_util::stream::unfold(state, |(console, actor, page)| async move {
        let page = page?;
        let mut chunk = String::new();
        for e in &page.items {
            chunk.push_str(&crate::domain::audit::to_json_line(e));
            chunk.push('\n');
        }
        let next = if page.next_page_token.is_empty() {
            None
        } else {
            match app::audit::list(
                &console.app,
                &actor,
                None,
                PageRequest {
                    size: app::MAX_PAGE_SIZE,
                    after: page.items.last().map(|e| e.sequence.to_string()),
                },
            )
            .await
            {
                Ok(next) => Some(next),
                Err(err) => {
                    tracing::error!(error = %err, "console: the export stopped");
                    return Some((
                        Err(std::io::Error::other(err.to_string())),
                        (console, actor, None),
                    ));
                }
            }
        };
        Some((Ok::<_, std::io::Error>(chunk), (console, actor, next)))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-trail.jsonl\"",
            ),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}
