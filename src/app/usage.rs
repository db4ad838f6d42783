//! Usage reports (Art. 16(11)-(12)).

use chrono::{DateTime, Utc};

use super::{App, AppError, AppResult, require};
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::codes::OrganisationKind;
use crate::domain::usage::{UsageRow, UsageView, Use, aggregate};
use crate::store;

/// The report for requests submitted in `[from, to)`.
#[tracing::instrument(name = "usage.report", skip_all)]
pub async fn report(
    app: &App,
    actor: &Actor,
    view: UsageView,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<Vec<UsageRow>> {
    require(actor, Operation::ReportUsage)?;
    if actor.role == Role::Commission && view != UsageView::Council {
        return Err(AppError::PermissionDenied(
            "the Commission's report is the one for the Council".into(),
        ));
    }
    let kinds = OrganisationKind::ALL
        .iter()
        .filter(|k| view.covers(**k))
        .map(|k| k.as_str().to_owned())
        .collect();
    let requests = store::requests::submitted_between(&app.db, from, to, kinds).await?;
    let taken =
        store::dispatch::taken_on(&app.db, requests.iter().map(|r| r.key).collect()).await?;
    let with_uses: Vec<_> = requests
        .into_iter()
        .map(|stored| {
            let uses = taken
                .iter()
                .filter(|(key, _, _)| *key == stored.key)
                .map(|(_, provider, days)| Use {
                    provider: provider.clone(),
                    person_days: *days,
                })
                .collect();
            (stored.request, uses)
        })
        .collect();
    Ok(aggregate(&with_uses, app.now()))
}
