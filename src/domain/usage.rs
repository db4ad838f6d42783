//! Usage reports for a period (Art. 16(11)-(12)): per user kind and country,
//! requests by outcome, response times against their deadlines, providers
//! and person-days used.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::codes::OrganisationKind;
use super::request::SupportRequest;

/// One of the two audiences of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageView {
    /// Member States and CERT-EU, for the NIS Cooperation Group.
    NisCooperationGroup,
    /// Third countries, for the Council.
    Council,
}

impl UsageView {
    pub fn covers(self, kind: OrganisationKind) -> bool {
        match self {
            UsageView::NisCooperationGroup => !kind.is_third_country(),
            UsageView::Council => kind.is_third_country(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageRow {
    pub user_kind: Option<OrganisationKind>,
    pub country: String,
    /// Requests by their state at the time of the report.
    pub by_outcome: BTreeMap<String, u32>,
    pub decided_within_deadline: u32,
    pub deadline_breaches: u32,
    pub mean_response_hours: f64,
    pub person_days_used: u32,
    pub providers: BTreeSet<String>,
}

/// Person-days a provider took on (accepted, active or delivered) for a request.
#[derive(Debug, Clone)]
pub struct Use {
    pub provider: String,
    pub person_days: u32,
}

/// Aggregates requests (with what providers took on for each) into rows
/// ordered by user kind, then country.
pub fn aggregate(requests: &[(SupportRequest, Vec<Use>)], now: DateTime<Utc>) -> Vec<UsageRow> {
    let mut rows: BTreeMap<(OrganisationKind, String), (UsageRow, Vec<f64>)> = BTreeMap::new();
    for (request, uses) in requests {
        let (row, hours) = rows
            .entry((request.organisation_kind, request.country.clone()))
            .or_insert_with(|| {
                (
                    UsageRow {
                        user_kind: Some(request.organisation_kind),
                        country: request.country.clone(),
                        ..Default::default()
                    },
                    Vec::new(),
                )
            });
        *row.by_outcome
            .entry(request.state.as_str().to_owned())
            .or_default() += 1;
        if let (Some(decided), Some(submitted)) = (request.decided_at, request.submitted_at) {
            hours.push((decided - submitted).num_seconds() as f64 / 3600.0);
            if request.response_deadline.is_some_and(|d| decided <= d) {
                row.decided_within_deadline += 1;
            }
        }
        if request.deadline_breached(now) {
            row.deadline_breaches += 1;
        }
        for u in uses {
            row.person_days_used += u.person_days;
            row.providers.insert(u.provider.clone());
        }
    }
    rows.into_values()
        .map(|(mut row, hours)| {
            if !hours.is_empty() {
                row.mean_response_hours = hours.iter().sum::<f64>() / hours.len() as f64;
            }
            row
        })
        .collect()
}
