//! Unused pre-committed capacity converted into preparedness services
//! (Art. 14(2)): a duty officer proposes converting some of a commitment's
//! free person-days into a named service for an eligible user; the provider
//! accepts or declines; an accepted conversion is delivered as an
//! assignment is.
//!
//! ```text
//! PROPOSED -> ACCEPTED -> DELIVERED
//!     |-> DECLINED (the provider)   |-> WITHDRAWN (a duty officer)
//!     `-> LAPSED (the commitment's period ended first)
//! ```
//!
//! The ledger follows the offers': a proposal holds its person-days (never
//! more than are free), acceptance consumes them, and a proposal that ends
//! otherwise releases them.

use chrono::{DateTime, NaiveDate, Utc};

use super::codes::{ProviderStatus, ServiceType, code_enum};
use super::registry::{Country, Organisation, Provider};

code_enum!(
    /// The preparedness services capacity converts into.
    PreparednessService {
        Exercise = "EXERCISE",
        Training = "TRAINING",
        ThreatAssessment = "THREAT_ASSESSMENT",
        ReadinessReview = "READINESS_REVIEW",
    }
);

code_enum!(ConversionState {
    Proposed = "PROPOSED",
    Accepted = "ACCEPTED",
    Declined = "DECLINED",
    Withdrawn = "WITHDRAWN",
    Lapsed = "LAPSED",
    Delivered = "DELIVERED",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionAction {
    Accept,
    Decline,
    Withdraw,
    Lapse,
    Deliver,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a conversion in state {from} cannot be {verb}")]
pub struct IllegalConversionTransition {
    pub from: ConversionState,
    pub verb: &'static str,
}

impl ConversionState {
    pub fn apply(
        self,
        action: ConversionAction,
    ) -> Result<ConversionState, IllegalConversionTransition> {
        use ConversionAction as A;
        use ConversionState::*;
        let next = match (action, self) {
            (A::Accept, Proposed) => Some(Accepted),
            (A::Decline, Proposed) => Some(Declined),
            (A::Withdraw, Proposed) => Some(Withdrawn),
            (A::Lapse, Proposed) => Some(Lapsed),
            (A::Deliver, Accepted) => Some(Delivered),
            _ => None,
        };
        next.ok_or(IllegalConversionTransition {
            from: self,
            verb: match action {
                A::Accept => "accepted",
                A::Decline => "declined",
                A::Withdraw => "withdrawn",
                A::Lapse => "lapsed",
                A::Deliver => "delivered",
            },
        })
    }

    /// Whether the conversion's person-days are converted (or about to be,
    /// once delivered): they count as converted in the reports.
    pub fn converts(self) -> bool {
        matches!(self, ConversionState::Accepted | ConversionState::Delivered)
    }

    /// Whether the proposal still holds its person-days.
    pub fn holds(self) -> bool {
        self == ConversionState::Proposed
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub id: String,
    pub commitment_id: i32,
    pub provider: String,
    /// The service the person-days were committed for.
    pub service: ServiceType,
    /// The user organisation the preparedness service is for.
    pub organisation: String,
    pub preparedness_service: PreparednessService,
    pub person_days: u32,
    pub description: String,
    pub state: ConversionState,
    pub proposed_by: String,
    pub decline_note: Option<String>,
    pub delivery_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Why `provider` may not deliver a preparedness service to `user` on
/// `today`, if it may not: a third country's user needs a Council act in
/// force (Art. 19(1)); the provider must be active and free of a declared
/// conflict of interest with the user or its country.
pub fn refusal(
    user: &Organisation,
    country: Option<&Country>,
    provider: &Provider,
    today: NaiveDate,
) -> Option<String> {
    if user.kind.is_third_country()
        && !country.is_some_and(|c| c.council_acts.iter().any(|a| a.in_force_on(today)))
    {
        return Some(format!(
            "{} is not an eligible user: no Council act for {} is in force (Art. 19(1))",
            user.id, user.country
        ));
    }
    if provider.status != ProviderStatus::Active {
        return Some(format!("provider {} is not active", provider.id));
    }
    if provider.conflict_organisations.contains(&user.id)
        || provider.conflict_countries.contains(&user.country)
    {
        return Some(format!(
            "provider {} has declared a conflict of interest with {}",
            provider.id, user.id
        ));
    }
    None
}

/// The first instant after a commitment's last day: when what is left of
/// it lapses.
pub fn period_over(end: NaiveDate) -> DateTime<Utc> {
    end.succ_opt()
        .unwrap_or(end)
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart() {
        use ConversionAction as A;
        use ConversionState::*;
        assert_eq!(Proposed.apply(A::Accept), Ok(Accepted));
        assert_eq!(Accepted.apply(A::Deliver), Ok(Delivered));
        assert_eq!(Proposed.apply(A::Lapse), Ok(Lapsed));
        assert!(Accepted.apply(A::Decline).is_err());
        assert!(Proposed.apply(A::Deliver).is_err());
        assert!(Delivered.apply(A::Withdraw).is_err());
        assert_eq!(
            Declined.apply(A::Accept).unwrap_err().to_string(),
            "a conversion in state DECLINED cannot be accepted"
        );
    }

    #[test]
    fn a_period_is_over_at_the_next_midnight() {
        let end = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(period_over(end).to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }
}
