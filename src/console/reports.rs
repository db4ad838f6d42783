//! The usage reports the service produced for each period: their list with
//! their state, and each one's CSV and stored JSON to download.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};

use super::pages::Nav;
use super::session::User;
use super::{PageError, Shared, render};
use crate::app::{PageRequest, usage};
use crate::domain::actor::Operation;
use crate::domain::names::UsageReportId;

pub struct ReportRow {
    pub id: String,
    pub view: String,
    pub period: String,
    pub produced: String,
    pub state: &'static str,
    pub transmission: String,
    pub sha256: String,
    /// Requests per user kind and outcome, drawn (the latest reports).
    pub picture: Option<super::pictures::Picture>,
}

/// Reports whose picture the page draws, the latest first.
const DRAWN: usize = 4;

#[derive(Template)]
#[template(path = "console/reports.html")]
struct ReportsPage {
    nav: Nav,
    reports: Vec<ReportRow>,
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

pub async fn list(State(console): State<Shared>, user: User) -> Result<Response, PageError> {
    user.permit(Operation::ReportUsage)?;
    let page = usage::list_stored(
        &console.app,
        &user.actor,
        None,
        PageRequest {
            size: crate::app::MAX_PAGE_SIZE,
            after: None,
        },
    )
    .await?;
    let reports = page
        .items
        .iter()
        .enumerate()
        .map(|(i, r)| ReportRow {
            picture: (i < DRAWN)
                .then(|| {
                    serde_json::from_str::<crate::domain::usage::ReportDocument>(&r.content).ok()
                })
                .flatten()
                .map(|d| super::pictures::usage_by_kind(&d.rows, &r.id)),
            id: r.id.clone(),
            view: r.view.audience().to_owned(),
            period: format!(
                "{} to {}",
                day(r.period_start),
                day(r.period_end - chrono::Duration::days(1))
            ),
            produced: r.produced_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            state: if r.transmission.is_some() {
                "Transmitted"
            } else {
                "Produced"
            },
            transmission: r
                .transmission
                .as_ref()
                .map(|t| format!("to {} on {} by {}", t.recipient, day(t.at), t.by))
                .unwrap_or_default(),
            sha256: r.sha256.clone(),
        })
        .collect();
    Ok(render(&ReportsPage {
        nav: Nav::new(&user, "/reports"),
        reports,
    }))
}

/// `/reports/{id}.csv` or `/reports/{id}.json`: the report as CSV, or the
/// JSON exactly as stored (whose SHA-256 the audit chain holds).
pub async fn download(
    State(console): State<Shared>,
    user: User,
    Path(file): Path<String>,
) -> Result<Response, PageError> {
    user.permit(Operation::ReportUsage)?;
    let (id, format) = file
        .rsplit_once('.')
        .filter(|(_, ext)| matches!(*ext, "csv" | "json"))
        .ok_or_else(|| PageError::NotFound("There is no such report.".into()))?;
    let id = UsageReportId::from_id("id", id)
        .map_err(|_| PageError::NotFound("There is no such report.".into()))?;
    let report = usage::get_stored(&console.app, &user.actor, &id).await?;
    let (content_type, body) = if format == "json" {
        ("application/json", report.content.clone())
    } else {
        let document: crate::domain::usage::ReportDocument =
            serde_json::from_str(&report.content).map_err(|e| {
                tracing::error!(report = %report.id, error = %e, "a stored usage report does not parse");
                PageError::Unavailable("The report cannot be read.".into())
            })?;
        (
            "text/csv; charset=utf-8",
            crate::domain::usage::csv(&document.rows),
        )
    };
    let disposition = format!(
        "attachment; filename=\"usage-{}-{}.{format}\"",
        report.view.as_str().to_lowercase(),
        day(report.period_start)
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
