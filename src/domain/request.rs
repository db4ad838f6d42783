//! Support requests: their content, their states and the transitions between them.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::codes::{
    Classification, Clearance, EntityType, IncidentCategory, OrganisationKind, Sector, ServiceType,
    Severity, Tlp, code_enum,
};
use super::eligibility::Decision;
use super::priority::PriorityScore;

/// Limits of the content a requester writes, enforced at the door.
pub mod limits {
    use std::ops::RangeInclusive;
    pub const TITLE: RangeInclusive<usize> = 3..=200;
    pub const DESCRIPTION: RangeInclusive<usize> = 1..=super::super::validation::MAX_LONG_TEXT;
    /// Free texts that may stay empty in a draft (eligibility asks for them).
    pub const OPTIONAL_TEXT: RangeInclusive<usize> = 0..=super::super::validation::MAX_LONG_TEXT;
    pub const NAME: RangeInclusive<usize> = 1..=200;
    pub const EMAIL: RangeInclusive<usize> = 3..=254;
    pub const PHONE: RangeInclusive<usize> = 0..=40;
    pub const PLANNED_USE: RangeInclusive<usize> = 0..=2_000;
    pub const REASON: RangeInclusive<usize> = 1..=2_000;
    pub const PERSON_DAYS: RangeInclusive<u32> = 1..=365;
    pub const AFFECTED_ENTITIES: usize = 50;
    pub const COUNTRIES: usize = 40;
    pub const SERVICE_LINES: usize = 10;
    pub const LANGUAGES: usize = 10;
}

code_enum!(
    /// The states of DESIGN.md's chart.
    RequestState {
        Draft = "DRAFT",
        Submitted = "SUBMITTED",
        Eligible = "ELIGIBLE",
        Ineligible = "INELIGIBLE",
        NeedsInfo = "NEEDS_INFO",
        Referred = "REFERRED",
        Authorised = "AUTHORISED",
        Rejected = "REJECTED",
        Dispatching = "DISPATCHING",
        WaitingCapacity = "WAITING_CAPACITY",
        Dispatched = "DISPATCHED",
        Completed = "COMPLETED",
        Reported = "REPORTED",
        Closed = "CLOSED",
        Withdrawn = "WITHDRAWN",
    }
);

/// A step of a request's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Edit,
    Submit,
    Withdraw,
    /// The eligibility engine's outcome: ELIGIBLE, INELIGIBLE or NEEDS_INFO.
    Assess(RequestState),
    /// An eligible third-country request goes to the Commission.
    Refer,
    Authorise,
    Reject,
    AskInformation,
    /// The duty officer approves the dispatch plan; offers go out.
    Approve,
    /// A line ran out of candidates.
    Wait,
    /// Capacity freed and every line has an offer again.
    Resume,
    /// Every line's agreement is recorded.
    AllActive,
    /// Every line is delivered.
    AllDelivered,
    Report,
    Close,
}

/// A transition not on the chart; it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a request in state {from} cannot be {verb}")]
pub struct IllegalTransition {
    pub from: RequestState,
    pub verb: &'static str,
}

impl RequestState {
    /// The state after `action`, if the chart allows it from `self`.
    pub fn apply(self, action: Action) -> Result<RequestState, IllegalTransition> {
        use RequestState::*;
        let next = match (action, self) {
            (Action::Edit, Draft | NeedsInfo) => Some(self),
            (Action::Submit, Draft | NeedsInfo) => Some(Submitted),
            (Action::Assess(to @ (Eligible | Ineligible | NeedsInfo)), Submitted) => Some(to),
            (Action::Refer, Eligible) => Some(Referred),
            (Action::Authorise, Eligible | Referred) => Some(Authorised),
            (Action::Reject, Eligible | Referred) => Some(Rejected),
            (Action::AskInformation, Eligible | Referred) => Some(NeedsInfo),
            (Action::Approve, Authorised) => Some(Dispatching),
            (Action::Wait, Dispatching) => Some(WaitingCapacity),
            (Action::Resume, WaitingCapacity) => Some(Dispatching),
            (Action::AllActive, Dispatching) => Some(Dispatched),
            (Action::AllDelivered, Dispatched) => Some(Completed),
            (Action::Report, Completed) => Some(Reported),
            (Action::Close, Reported) => Some(Closed),
            (
                Action::Withdraw,
                Draft | Submitted | Eligible | NeedsInfo | Referred | Authorised | Dispatching
                | WaitingCapacity | Dispatched,
            ) => Some(Withdrawn),
            _ => None,
        };
        next.ok_or(IllegalTransition {
            from: self,
            verb: match action {
                Action::Edit => "edited",
                Action::Submit => "submitted",
                Action::Withdraw => "withdrawn",
                Action::Assess(_) => "assessed",
                Action::Refer => "referred to the Commission",
                Action::Authorise => "authorised",
                Action::Reject => "rejected",
                Action::AskInformation => "sent back for information",
                Action::Approve => "dispatched",
                Action::Wait => "put to wait for capacity",
                Action::Resume => "matched again",
                Action::AllActive => "marked dispatched",
                Action::AllDelivered => "marked completed",
                Action::Report => "reported on",
                Action::Close => "closed",
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedEntity {
    pub name: String,
    pub sector: Sector,
    pub entity_type: EntityType,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLine {
    pub service: ServiceType,
    pub person_days: u32,
    pub languages: Vec<String>,
    pub clearance: Clearance,
    pub planned_use: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactPoint {
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// What the requester writes: everything of a request but its identity,
/// state and the decisions taken on it. Built only from validated input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestContent {
    pub title: String,
    pub description: String,
    pub category: IncidentCategory,
    pub classification: Classification,
    pub capacity_exceeded_declared: bool,
    pub severity: Severity,
    pub detected_at: DateTime<Utc>,
    pub affected_entities: Vec<AffectedEntity>,
    pub countries_affected: Vec<String>,
    pub potential_impact: String,
    pub mitigation_measures: String,
    pub other_support: String,
    pub service_lines: Vec<ServiceLine>,
    pub tlp: Tlp,
    pub contact: ContactPoint,
}

/// A stored request, as the use cases read it.
#[derive(Debug, Clone, PartialEq)]
pub struct SupportRequest {
    pub id: String,
    pub reference: String,
    pub organisation: String,
    pub organisation_kind: OrganisationKind,
    pub country: String,
    pub request_id: String,
    pub state: RequestState,
    pub version: i64,
    pub content: RequestContent,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    /// Every eligibility evaluation, oldest first.
    pub evaluations: Vec<Decision>,
    pub priority: Option<PriorityScore>,
    pub response_deadline: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The nature of the support granted, once authorised.
    pub granted_lines: Vec<ServiceLine>,
    pub granted_duration_days: Option<u32>,
    /// When the last line was delivered.
    pub completed_at: Option<DateTime<Utc>>,
    /// The summary report is overdue (Art. 16(9)).
    pub report_overdue: bool,
    pub summary_report: Option<SummaryReport>,
}

/// The requester's report after the support (Art. 16(9)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryReport {
    pub service_provided: String,
    pub results: String,
    pub lessons_learned: String,
    pub recipients: Vec<String>,
    pub submitted_at: DateTime<Utc>,
}

/// The human reference of the `number`th request of a year: `CSR-2026-000042`.
pub fn reference(at: DateTime<Utc>, number: i64) -> String {
    format!("CSR-{}-{:06}", at.year(), number)
}

impl SupportRequest {
    /// Who decides this request (Art. 16(1), 19(10)): the Commission for
    /// third countries, ENISA's duty officers for the others.
    pub fn decider(&self) -> super::actor::Role {
        if self.organisation_kind.is_third_country() {
            super::actor::Role::Commission
        } else {
            super::actor::Role::DutyOfficer
        }
    }

    /// The state in which the request waits for its decider.
    pub fn awaiting_decision_in(&self) -> RequestState {
        if self.organisation_kind.is_third_country() {
            RequestState::Referred
        } else {
            RequestState::Eligible
        }
    }

    /// Whether the decision came, or is still to come, after the deadline.
    pub fn deadline_breached(&self, now: DateTime<Utc>) -> bool {
        self.overdue(now)
            || self
                .decided_at
                .zip(self.response_deadline)
                .is_some_and(|(decided, deadline)| decided > deadline)
    }

    /// Whether the response deadline has passed while no decision was taken.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.decided_at.is_none()
            && matches!(
                self.state,
                RequestState::Eligible | RequestState::Referred | RequestState::Submitted
            )
            && self.response_deadline.is_some_and(|d| now > d)
    }

    /// Whether `actor` may see this request at all. Requesters see their own
    /// organisation's requests, Commission officers third-country requests
    /// (Art. 19(10)), duty officers and auditors every request; providers and
    /// administrators see requests only through offers and the registry.
    pub fn visible_to(&self, actor: &super::actor::Actor) -> bool {
        use super::actor::Role;
        match actor.role {
            Role::Requester => self.organisation == actor.organisation,
            Role::Commission => self.organisation_kind.is_third_country(),
            Role::DutyOfficer | Role::Auditor => true,
            Role::Provider | Role::Admin | Role::Service => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestState::*;

    #[test]
    fn submit_only_from_draft_or_needs_info() {
        assert_eq!(Draft.apply(Action::Submit), Ok(Submitted));
        assert_eq!(NeedsInfo.apply(Action::Submit), Ok(Submitted));
        for state in RequestState::ALL
            .iter()
            .filter(|s| !matches!(s, Draft | NeedsInfo))
        {
            assert!(state.apply(Action::Submit).is_err(), "{state}");
            assert!(state.apply(Action::Edit).is_err(), "{state}");
        }
    }

    #[test]
    fn withdraw_only_before_completion() {
        for state in [Completed, Reported, Closed, Withdrawn, Rejected, Ineligible] {
            assert!(state.apply(Action::Withdraw).is_err(), "{state}");
        }
        assert_eq!(Dispatched.apply(Action::Withdraw), Ok(Withdrawn));
    }

    #[test]
    fn reference_format() {
        let at = "2026-03-01T00:00:00Z".parse().unwrap();
        assert_eq!(reference(at, 42), "CSR-2026-000042");
    }
}
