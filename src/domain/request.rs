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
        AwaitingTransmission = "AWAITING_TRANSMISSION",
    }
);

/// A step of a request's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Edit,
    Submit,
    Withdraw,
    /// A request of a user that is not its country's single point of
    /// contact waits for the contact point (Art. 15(3)).
    AwaitTransmission,
    /// The contact point sends it back to its filer.
    Return,
    /// The eligibility engine's outcome: ELIGIBLE, INELIGIBLE or NEEDS_INFO,
    /// when the request reaches its decider (on submission by a contact
    /// point, or on transmission).
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
    /// The support period ended before every line was delivered.
    EndSupport,
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
            (Action::AwaitTransmission, Submitted) => Some(AwaitingTransmission),
            (Action::Return, AwaitingTransmission) => Some(Draft),
            (
                Action::Assess(to @ (Eligible | Ineligible | NeedsInfo)),
                Submitted | AwaitingTransmission,
            ) => Some(to),
            (Action::Refer, Eligible) => Some(Referred),
            (Action::Authorise, Eligible | Referred) => Some(Authorised),
            (Action::Reject, Eligible | Referred) => Some(Rejected),
            (Action::AskInformation, Eligible | Referred) => Some(NeedsInfo),
            (Action::Approve, Authorised) => Some(Dispatching),
            (Action::Wait, Dispatching) => Some(WaitingCapacity),
            (Action::Resume, WaitingCapacity) => Some(Dispatching),
            (Action::AllActive, Dispatching) => Some(Dispatched),
            (Action::AllDelivered, Dispatched) => Some(Completed),
            (Action::EndSupport, Dispatching | WaitingCapacity | Dispatched) => Some(Completed),
            (Action::Report, Completed) => Some(Reported),
            (Action::Close, Reported) => Some(Closed),
            (
                Action::Withdraw,
                Draft | Submitted | AwaitingTransmission | Eligible | NeedsInfo | Referred
                | Authorised | Dispatching | WaitingCapacity | Dispatched,
            ) => Some(Withdrawn),
            _ => None,
        };
        next.ok_or(IllegalTransition {
            from: self,
            verb: match action {
                Action::Edit => "edited",
                Action::Submit => "submitted",
                Action::Withdraw => "withdrawn",
                Action::AwaitTransmission => "put to wait for its contact point",
                Action::Return => "returned to its filer",
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
                Action::EndSupport => "ended for the end of its support period",
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
    /// The organisation the request goes through to its decider, when its
    /// filer is not its country's single point of contact (designated on
    /// the country when the request was submitted).
    pub contact_point: Option<String>,
    /// How the request reached its decider (Art. 15(3)).
    pub transmission: Option<Transmission>,
    /// The decider's assessment, once decided (Art. 16(3), 19(10)).
    pub assessment: Option<Assessment>,
    /// When the support granted runs, once the dispatch is approved.
    pub support: Option<SupportPeriod>,
}

/// The moment a request reached its decider: transmitted by its country's
/// single point of contact (or submitted by it, or by CERT-EU itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transmission {
    /// The organisation that transmitted it.
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: String,
}

code_enum!(
    /// The criteria of Art. 16(3), (a) to (e).
    Criterion {
        ScaleAndSeverity = "SCALE_AND_SEVERITY",
        EssentialEntities = "ESSENTIAL_ENTITIES",
        Impact = "IMPACT",
        CrossBorder = "CROSS_BORDER",
        OwnMeasures = "OWN_MEASURES",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionReason {
    pub criterion: Criterion,
    pub reason: String,
}

/// A failed finding the decider set aside, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOverride {
    pub rule_id: String,
    pub justification: String,
}

/// What the decider recorded with the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Whether the conditions of Art. 15(1)-(2) are met.
    pub conditions_met: bool,
    pub reasons: Vec<CriterionReason>,
    pub overrides: Vec<RuleOverride>,
    /// The affected entities the support may be used for (Art. 16(8)).
    pub covered_entities: Vec<String>,
    /// The Council implementing act a third country's support was
    /// authorised under.
    #[serde(default)]
    pub council_act: Option<String>,
}

/// When the support granted runs (Art. 16, 19(4)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportPeriod {
    pub starts: DateTime<Utc>,
    /// The earlier of the duration granted and the end of the Council act
    /// it was authorised under.
    pub ends: DateTime<Utc>,
    pub council_act: Option<String>,
    /// Set when the end has been carried out (open offers withdrawn, the
    /// request completed).
    #[serde(default)]
    pub ended: bool,
}

impl SupportPeriod {
    /// A period starting at `starts` for `days` days, ending no later than
    /// the end of the last day of the Council act it was authorised under,
    /// if any.
    pub fn new(
        starts: DateTime<Utc>,
        days: u32,
        council_act: Option<(&str, chrono::NaiveDate)>,
    ) -> SupportPeriod {
        let by_duration = starts + chrono::Duration::days(days.into());
        let ends = match council_act {
            Some((_, last_day)) => by_duration.min(end_of(last_day)),
            None => by_duration,
        };
        SupportPeriod {
            starts,
            ends,
            council_act: council_act.map(|(reference, _)| reference.to_owned()),
            ended: false,
        }
    }
}

/// The end of `day` (the start of the next, in UTC).
pub fn end_of(day: chrono::NaiveDate) -> DateTime<Utc> {
    day.succ_opt()
        .unwrap_or(day)
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
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
    /// Whether the support period has ended (no offer, agreement or
    /// re-match is made after it).
    pub fn support_ended(&self, now: DateTime<Utc>) -> bool {
        self.support
            .as_ref()
            .is_some_and(|p| p.ended || now >= p.ends)
    }

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
    /// organisation's requests and those that go through it as its country's
    /// single point of contact, Commission officers third-country requests
    /// (Art. 19(10)), duty officers and auditors every request; providers and
    /// administrators see requests only through offers and the registry.
    pub fn visible_to(&self, actor: &super::actor::Actor) -> bool {
        use super::actor::Role;
        match actor.role {
            Role::Requester => {
                self.organisation == actor.organisation
                    || self.contact_point.as_deref() == Some(actor.organisation.as_str())
            }
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
