//! Reading the audit trail.

use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Role};
use crate::domain::audit::AuditEvent;
use crate::store;

/// Events in sequence order, for auditors and duty officers.
pub async fn list(
    app: &App,
    actor: &Actor,
    resource: Option<&str>,
    page: PageRequest,
) -> AppResult<Page<AuditEvent>> {
    require(actor, &[Role::Auditor, Role::DutyOfficer])?;
    let after = match &page.after {
        Some(a) => a
            .parse::<i64>()
            .map_err(|_| AppError::invalid("page_token", "is not a token this service issued"))?,
        None => 0,
    };
    let items = store::audit::list(&app.db, resource, after, page.size).await?;
    let last = items.last().map(|e| e.sequence.to_string());
    let next_page_token = page.next_token(items.len(), last.as_deref());
    Ok(Page {
        items,
        next_page_token,
    })
}
