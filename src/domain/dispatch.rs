//! Offers, capacity and the summary report: the dispatch side of a request.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::codes::{OrganisationKind, ServiceType, Severity, code_enum};

code_enum!(
    /// `OFFERED -> ACCEPTED | DECLINED | EXPIRED | WITHDRAWN`; an accepted offer
    /// becomes `ACTIVE` with its specific agreement, then `DELIVERED`.
    OfferState {
        Offered = "OFFERED",
        Accepted = "ACCEPTED",
        Declined = "DECLINED",
        Expired = "EXPIRED",
        Withdrawn = "WITHDRAWN",
        Active = "ACTIVE",
        Delivered = "DELIVERED",
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferAction {
    Accept,
    Decline,
    Expire,
    Withdraw,
    RecordAgreement,
    Complete,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an offer in state {from} cannot be {verb}")]
pub struct IllegalOfferTransition {
    pub from: OfferState,
    pub verb: &'static str,
}

impl OfferState {
    pub fn apply(self, action: OfferAction) -> Result<OfferState, IllegalOfferTransition> {
        use OfferAction as A;
        use OfferState::*;
        let next = match (action, self) {
            (A::Accept, Offered) => Some(Accepted),
            (A::Decline, Offered) => Some(Declined),
            (A::Expire, Offered) => Some(Expired),
            (A::Withdraw, Offered | Accepted | Active) => Some(Withdrawn),
            (A::RecordAgreement, Accepted) => Some(Active),
            (A::Complete, Active) => Some(Delivered),
            _ => None,
        };
        next.ok_or(IllegalOfferTransition {
            from: self,
            verb: match action {
                A::Accept => "accepted",
                A::Decline => "declined",
                A::Expire => "expired",
                A::Withdraw => "withdrawn",
                A::RecordAgreement => "given an agreement",
                A::Complete => "completed",
            },
        })
    }

    /// Whether the offer holds (OFFERED) or consumes (accepted, not yet
    /// delivered) capacity that a withdrawal gives back.
    pub fn holds_capacity(self) -> bool {
        matches!(self, Self::Offered | Self::Accepted | Self::Active)
    }

    /// Whether the provider has taken the work on (the full view is theirs).
    pub fn is_assignment(self) -> bool {
        matches!(self, Self::Accepted | Self::Active | Self::Delivered)
    }
}

code_enum!(
    /// Where a granted line stands.
    LineState {
        Offered = "OFFERED",
        Accepted = "ACCEPTED",
        Active = "ACTIVE",
        Delivered = "DELIVERED",
        Waiting = "WAITING",
        Withdrawn = "WITHDRAWN",
    }
);

code_enum!(
    /// What a durable timer does when it fires.
    TimerKind {
        /// An offer not answered by its deadline expires (as a decline).
        OfferExpiry = "OFFER_EXPIRY",
        /// The response deadline of a request passed without a decision.
        AssessmentDeadline = "ASSESSMENT_DEADLINE",
        /// The summary report is due (Art. 16(9)).
        ReportDue = "REPORT_DUE",
        /// A capacity commitment's period begins: waiting requests may use it.
        CapacityStarts = "CAPACITY_STARTS",
        /// A request's support period ends soon: the duty officers, the
        /// decider and the requester are told.
        SupportEnding = "SUPPORT_ENDING",
        /// A request's support period ends: open offers are withdrawn, no
        /// offer, agreement or re-match is made after it.
        SupportEnds = "SUPPORT_ENDS",
        /// A capacity commitment's period ends soon with person-days
        /// unused: the duty officers are told, to convert them (Art. 14(2)).
        CommitmentEnding = "COMMITMENT_ENDING",
        /// A capacity commitment's period is over: open conversion
        /// proposals lapse and what is left unused is recorded as lapsed.
        CommitmentEnds = "COMMITMENT_ENDS",
        /// A reporting period is over: each view's usage report for it is
        /// produced and stored (Art. 16(11)-(12)). Its target is the
        /// period's first day.
        UsageReportDue = "USAGE_REPORT_DUE",
    }
);

code_enum!(DeclineReason {
    NoCapacity = "NO_CAPACITY",
    ConflictOfInterest = "CONFLICT_OF_INTEREST",
    LacksExpertise = "LACKS_EXPERTISE",
    CannotMeetDeadline = "CANNOT_MEET_DEADLINE",
    OtherReason = "OTHER_REASON",
});

/// The specific agreement between provider and user (Art. 16(5)-(6)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub reference: String,
    pub template_version: String,
    pub signed_at: DateTime<Utc>,
    pub liability_conditions: String,
    pub affected_entity: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: String,
    pub support_request_id: String,
    pub line_index: u32,
    pub provider: String,
    pub commitment_id: i32,
    pub person_days: u32,
    pub state: OfferState,
    pub accept_deadline: DateTime<Utc>,
    pub decline_reason: Option<DeclineReason>,
    pub decline_note: Option<String>,
    pub agreement: Option<Agreement>,
    pub delivery_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A provider's pre-committed person-days for one service over a period,
/// with the ledger's running totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityCommitment {
    pub id: i32,
    pub provider: String,
    pub service: ServiceType,
    pub person_days: u32,
    pub held: u32,
    pub consumed: u32,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

impl CapacityCommitment {
    pub fn free(&self) -> u32 {
        self.person_days.saturating_sub(self.held + self.consumed)
    }

    pub fn covers(&self, day: NaiveDate) -> bool {
        self.period_start <= day && day <= self.period_end
    }
}

/// Hours a provider has to accept an offer, by the request's severity.
#[derive(Debug, Clone, Deserialize)]
pub struct OfferPolicy {
    pub accept_hours_low: u32,
    pub accept_hours_medium: u32,
    pub accept_hours_high: u32,
    pub accept_hours_critical: u32,
    /// Months after the end of support within which the summary report is due (Art. 16(9)).
    pub report_due_months: u32,
}

impl OfferPolicy {
    pub fn accept_hours(&self, severity: Severity) -> u32 {
        match severity {
            Severity::Low => self.accept_hours_low,
            Severity::Medium => self.accept_hours_medium,
            Severity::High => self.accept_hours_high,
            Severity::Critical => self.accept_hours_critical,
        }
    }
}

/// Who receives a summary report, by the kind of user (Art. 16(9)).
pub fn report_recipients(kind: OrganisationKind) -> Vec<&'static str> {
    match kind {
        OrganisationKind::MsCsirt | OrganisationKind::MsCrisisAuthority => {
            vec![
                "European Commission",
                "ENISA",
                "CSIRTs network",
                "EU-CyCLONe",
            ]
        }
        OrganisationKind::CertEu => vec!["European Commission", "ENISA", "IICB"],
        OrganisationKind::TcCsirt | OrganisationKind::TcAuthority => {
            vec!["European Commission (forwarding to the Council and the High Representative)"]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_move_along_their_chart() {
        use OfferAction::*;
        assert_eq!(OfferState::Offered.apply(Accept), Ok(OfferState::Accepted));
        assert_eq!(
            OfferState::Accepted.apply(RecordAgreement),
            Ok(OfferState::Active)
        );
        assert_eq!(
            OfferState::Active.apply(Complete),
            Ok(OfferState::Delivered)
        );
        assert!(OfferState::Declined.apply(Accept).is_err());
        assert!(OfferState::Delivered.apply(Withdraw).is_err());
        assert!(OfferState::Offered.apply(Complete).is_err());
    }
}
