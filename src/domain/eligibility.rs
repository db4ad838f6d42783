//! The eligibility engine: each rule of the Cyber Solidarity Act is a pure
//! function of the request, the requesting organisation, its country and the
//! submission time. The words of each rule (article, messages) are data from
//! the rule-set file; the logic is here, keyed by rule id.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::codes::{Classification, CountryKind, OrganisationKind, Sector, code_enum};
use super::registry::{Country, Organisation};
use super::request::{RequestContent, RequestState};

code_enum!(Outcome {
    Pass = "PASS",
    Fail = "FAIL",
    MissingInfo = "MISSING_INFO",
    NotApplicable = "NOT_APPLICABLE",
});

code_enum!(
    /// What a rule's FAIL does: a legal bar makes the request INELIGIBLE
    /// (no one may set it aside); a finding goes to the decider as a
    /// recommendation to reject, which the decider may set aside with a
    /// justification (Art. 16(3), 19(10)).
    #[derive(Default)]
    RuleKind {
        LegalBar = "LEGAL_BAR",
        #[default]
        Finding = "FINDING",
    }
);

/// The legal bars of the Act: not a user under Art. 14(3); a third country
/// whose association does not cover the Reserve; no Council implementing
/// act in force; no capability information under Art. 19(2). The rule
/// file states each rule's kind, and must state these.
pub const LEGAL_BARS: [&str; 4] = [
    "CSA-USER",
    "CSA-TC-ASSOC",
    "CSA-TC-COUNCIL",
    "CSA-TC-CAPINFO",
];

/// One rule as the rule-set file words it.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleDef {
    pub id: String,
    pub kind: RuleKind,
    pub article: String,
    pub description: String,
    #[serde(default)]
    pub fail_message: String,
    #[serde(default)]
    pub missing_message: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Thresholds {
    pub min_mitigation_chars: usize,
    pub capability_info_max_age_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deadlines {
    pub member_state_hours: u32,
    pub third_country_target_hours: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PriorityConfig {
    pub weights: super::priority::Weights,
    /// Scores this close count as equal, and the order then goes by the
    /// kind of user and the time of transmission (Art. 16(4)).
    pub tie_tolerance: f64,
}

/// The support period's notices.
#[derive(Debug, Clone, Deserialize)]
pub struct SupportPolicy {
    /// Days before the end of a support period when the duty officers, the
    /// decider and the requester are told.
    pub warning_days: u32,
}

/// Reporting and preparedness (Art. 14(2), 16(11)-(12)).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportingPolicy {
    /// The length of a reporting period in months, counted from 1 January:
    /// 1, 2, 3, 4 or 6 (at least two reports a year).
    pub period_months: u32,
    /// Days before a commitment's period ends when the duty officers are
    /// told of its unused person-days.
    pub conversion_notice_days: u32,
}

impl Default for ReportingPolicy {
    fn default() -> Self {
        Self {
            period_months: 6,
            conversion_notice_days: 30,
        }
    }
}

/// A versioned rule set with its thresholds, deadlines and priority weights.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleSet {
    pub version: String,
    pub thresholds: Thresholds,
    pub deadlines: Deadlines,
    pub priority: PriorityConfig,
    pub offers: super::dispatch::OfferPolicy,
    pub support: SupportPolicy,
    #[serde(default)]
    pub reporting: ReportingPolicy,
    pub rules: Vec<RuleDef>,
}

/// The ids this engine implements, in the order decisions list them.
pub const RULE_IDS: [&str; 10] = [
    "CSA-USER",
    "CSA-ROUTE",
    "CSA-CLASS",
    "CSA-TC-ASSOC",
    "CSA-TC-COUNCIL",
    "CSA-TC-SPOC",
    "CSA-TC-CAPINFO",
    "CSA-MITIGATION",
    "CSA-CONTENT",
    "CSA-SECTOR",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleSetError {
    #[error("the rule set does not define rule {0}")]
    Missing(String),
    #[error("the rule set defines {0}, which this service does not implement")]
    Unknown(String),
    #[error("the rule set defines {0} twice")]
    Duplicate(String),
    #[error("the rule set gives {0} the kind {1}; the Act makes it {2}")]
    Kind(String, RuleKind, RuleKind),
    #[error(
        "a reporting period of {0} months is not one of 1, 2, 3, 4 or 6 (at least two reports a year, counted from 1 January)"
    )]
    ReportingPeriod(u32),
}

impl RuleSet {
    /// Every implemented rule is worded exactly once, and nothing else.
    pub fn check(&self) -> Result<(), RuleSetError> {
        if ![1, 2, 3, 4, 6].contains(&self.reporting.period_months) {
            return Err(RuleSetError::ReportingPeriod(self.reporting.period_months));
        }
        let mut seen = HashSet::new();
        for rule in &self.rules {
            if !RULE_IDS.contains(&rule.id.as_str()) {
                return Err(RuleSetError::Unknown(rule.id.clone()));
            }
            if !seen.insert(rule.id.as_str()) {
                return Err(RuleSetError::Duplicate(rule.id.clone()));
            }
            let act = if LEGAL_BARS.contains(&rule.id.as_str()) {
                RuleKind::LegalBar
            } else {
                RuleKind::Finding
            };
            if rule.kind != act {
                return Err(RuleSetError::Kind(rule.id.clone(), rule.kind, act));
            }
        }
        match RULE_IDS.iter().find(|id| !seen.contains(**id)) {
            Some(id) => Err(RuleSetError::Missing((*id).to_owned())),
            None => Ok(()),
        }
    }

    fn def(&self, id: &str) -> &RuleDef {
        self.rules
            .iter()
            .find(|r| r.id == id)
            .expect("a checked rule set words every rule")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    pub rule_id: String,
    #[serde(default)]
    pub kind: RuleKind,
    pub article: String,
    pub outcome: Outcome,
    pub message: String,
}

/// Whether support may be used for one affected entity (Art. 16(8)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCoverage {
    pub name: String,
    pub covered: bool,
    /// Why not, when not.
    pub reason: String,
}

/// One evaluation, as stored with the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub rule_set_version: String,
    pub evaluated_at: DateTime<Utc>,
    pub outcome: RequestState,
    pub results: Vec<RuleResult>,
    /// Each affected entity, judged on its own.
    #[serde(default)]
    pub entities: Vec<EntityCoverage>,
}

impl Decision {
    /// The findings that failed: each a reason to reject that the decider
    /// may set aside with a justification.
    pub fn failed_findings(&self) -> impl Iterator<Item = &RuleResult> {
        self.results
            .iter()
            .filter(|r| r.kind == RuleKind::Finding && r.outcome == Outcome::Fail)
    }

    /// Whether the decider is recommended to reject.
    pub fn recommends_rejection(&self) -> bool {
        self.failed_findings().next().is_some()
    }

    /// The affected entities support may be used for.
    pub fn covered_entities(&self) -> impl Iterator<Item = &str> {
        self.entities
            .iter()
            .filter(|e| e.covered)
            .map(|e| e.name.as_str())
    }
}

/// What the rules look at.
pub struct Input<'a> {
    pub content: &'a RequestContent,
    pub organisation: &'a Organisation,
    pub country: &'a Country,
    /// When the request reached its decider.
    pub submitted_at: DateTime<Utc>,
    /// The organisation that transmitted it to its decider (its country's
    /// single point of contact, or the filer when the country designates
    /// none or the filer is CERT-EU).
    pub transmitted_by: &'a str,
}

/// A rule's verdict with a detail appended to its message.
struct Verdict(Outcome, String);

fn pass() -> Verdict {
    Verdict(Outcome::Pass, String::new())
}
fn fail(detail: impl Into<String>) -> Verdict {
    Verdict(Outcome::Fail, detail.into())
}
fn missing(detail: impl Into<String>) -> Verdict {
    Verdict(Outcome::MissingInfo, detail.into())
}
fn not_applicable(detail: impl Into<String>) -> Verdict {
    Verdict(Outcome::NotApplicable, detail.into())
}

/// The kind of user, as the Act distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum User {
    MemberState,
    CertEu,
    ThirdCountry,
}

fn user(kind: OrganisationKind) -> User {
    match kind {
        OrganisationKind::MsCsirt | OrganisationKind::MsCrisisAuthority => User::MemberState,
        OrganisationKind::CertEu => User::CertEu,
        OrganisationKind::TcCsirt | OrganisationKind::TcAuthority => User::ThirdCountry,
    }
}

/// Evaluates every rule: a legal bar's FAIL makes the request INELIGIBLE;
/// otherwise any MISSING_INFO makes it NEEDS_INFO (back to the requester);
/// otherwise it is ELIGIBLE, with a recommendation to reject when a finding
/// failed (`Decision::recommends_rejection`).
pub fn evaluate(rules: &RuleSet, input: &Input<'_>) -> Decision {
    let results: Vec<RuleResult> = RULE_IDS
        .iter()
        .map(|id| {
            let Verdict(outcome, detail) = check(id, rules, input);
            let def = rules.def(id);
            let base = match outcome {
                Outcome::Pass => &def.description,
                Outcome::Fail => &def.fail_message,
                Outcome::MissingInfo => &def.missing_message,
                Outcome::NotApplicable => &String::new(),
            };
            let message = [base.as_str(), detail.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            RuleResult {
                rule_id: (*id).to_owned(),
                kind: def.kind,
                article: def.article.clone(),
                outcome,
                message,
            }
        })
        .collect();
    let outcome = if results
        .iter()
        .any(|r| r.kind == RuleKind::LegalBar && r.outcome == Outcome::Fail)
    {
        RequestState::Ineligible
    } else if results.iter().any(|r| r.outcome == Outcome::MissingInfo) {
        RequestState::NeedsInfo
    } else {
        RequestState::Eligible
    };
    Decision {
        rule_set_version: rules.version.clone(),
        evaluated_at: input.submitted_at,
        outcome,
        results,
        entities: coverage(input),
    }
}

/// Each affected entity judged on its own (Art. 16(8)): Member States and
/// third countries, an entity in a sector of NIS2 Annex I or II (or its
/// equivalent); CERT-EU, a Union entity.
fn coverage(input: &Input<'_>) -> Vec<EntityCoverage> {
    let who = user(input.organisation.kind);
    input
        .content
        .affected_entities
        .iter()
        .map(|e| {
            let (covered, reason) = match who {
                User::CertEu if e.sector == Sector::UnionEntity => (true, String::new()),
                User::CertEu => (
                    false,
                    "CERT-EU requests support for Union entities only.".into(),
                ),
                User::MemberState | User::ThirdCountry if e.sector.is_nis2() => {
                    (true, String::new())
                }
                User::MemberState | User::ThirdCountry => (
                    false,
                    format!("{} is not a sector of NIS2 Annex I or II.", e.sector),
                ),
            };
            EntityCoverage {
                name: e.name.clone(),
                covered,
                reason,
            }
        })
        .collect()
}

fn check(id: &str, rules: &RuleSet, input: &Input<'_>) -> Verdict {
    let org = input.organisation;
    let country = input.country;
    let content = input.content;
    let who = user(org.kind);
    let day = input.submitted_at.date_naive();
    let third_country_only = || not_applicable("Applies to third countries only.");
    match id {
        "CSA-USER" => {
            let consistent = match who {
                User::MemberState => {
                    country.kind == CountryKind::MemberState && country.code != "EU"
                }
                User::CertEu => country.code == "EU",
                User::ThirdCountry => country.kind == CountryKind::ThirdCountry,
            };
            if consistent {
                pass()
            } else {
                fail(format!(
                    "An organisation of kind {} cannot be established in {}.",
                    org.kind, country.code
                ))
            }
        }
        "CSA-ROUTE" => match (who, &country.single_point_of_contact) {
            (User::CertEu, _) => pass(),
            (_, Some(spoc)) if spoc == input.transmitted_by => pass(),
            (_, Some(spoc)) => fail(format!(
                "It was transmitted by {}, not by {spoc}, the single point of contact of {}.",
                input.transmitted_by, country.code
            )),
            (_, None) => fail(format!(
                "{} has designated no single point of contact to transmit it.",
                country.code
            )),
        },
        "CSA-CLASS" => {
            use Classification::*;
            match (who, content.classification) {
                (User::MemberState, Significant | LargeScale) => pass(),
                (User::MemberState, LargeScaleEquivalent) => {
                    fail("Member States request support for significant or large-scale incidents.")
                }
                (User::CertEu, Significant | LargeScaleEquivalent) => pass(),
                (User::CertEu, LargeScale) => fail(
                    "CERT-EU requests support for significant or large-scale-equivalent (major) incidents.",
                ),
                (User::ThirdCountry, Significant) => pass(),
                (User::ThirdCountry, LargeScaleEquivalent)
                    if content.capacity_exceeded_declared =>
                {
                    pass()
                }
                (User::ThirdCountry, LargeScaleEquivalent) => missing(""),
                (User::ThirdCountry, LargeScale) => fail(
                    "A large-scale incident is a Member State classification; a third country may claim a large-scale-equivalent incident.",
                ),
            }
        }
        "CSA-TC-ASSOC" => {
            if who != User::ThirdCountry {
                return third_country_only();
            }
            match (country.association_date, country.reserve_coverage_from) {
                (Some(_), Some(from)) if from <= day => pass(),
                (Some(_), Some(from)) => fail(format!("Coverage of the Reserve starts on {from}.")),
                _ => fail("No association agreement covering the Reserve is recorded."),
            }
        }
        "CSA-TC-COUNCIL" => {
            if who != User::ThirdCountry {
                return third_country_only();
            }
            match country.council_acts.iter().find(|a| a.in_force_on(day)) {
                Some(act) => Verdict(
                    Outcome::Pass,
                    format!(
                        "In force: {} ({} to {}).",
                        act.reference, act.valid_from, act.valid_until
                    ),
                ),
                None => fail(format!("Submission date: {day}.")),
            }
        }
        "CSA-TC-SPOC" => {
            if who != User::ThirdCountry {
                return third_country_only();
            }
            match &country.single_point_of_contact {
                Some(_) => pass(),
                None => fail(""),
            }
        }
        "CSA-TC-CAPINFO" => {
            if who != User::ThirdCountry {
                return third_country_only();
            }
            let oldest = day
                .checked_sub_days(chrono::Days::new(
                    rules.thresholds.capability_info_max_age_days.into(),
                ))
                .unwrap_or(day);
            let latest = country
                .capability_info_updated
                .or(country.capability_info_received);
            match (country.capability_info_received, latest) {
                (Some(_), Some(latest)) if latest >= oldest => pass(),
                (Some(_), Some(latest)) => fail(format!("Last updated on {latest}.")),
                _ => fail("No information has been received."),
            }
        }
        "CSA-MITIGATION" => {
            let described = content.mitigation_measures.trim().chars().count();
            if described >= rules.thresholds.min_mitigation_chars {
                pass()
            } else {
                missing(format!(
                    "At least {} characters are needed.",
                    rules.thresholds.min_mitigation_chars
                ))
            }
        }
        "CSA-CONTENT" => {
            let mut lacking = Vec::new();
            if content.affected_entities.is_empty() {
                lacking.push("the affected entities".to_owned());
            }
            if content.potential_impact.trim().is_empty() {
                lacking.push("the potential impact".to_owned());
            }
            if content.service_lines.is_empty() {
                lacking.push("the services requested".to_owned());
            }
            for (i, line) in content.service_lines.iter().enumerate() {
                if line.planned_use.trim().is_empty() {
                    lacking.push(format!("the planned use of service line {}", i + 1));
                }
            }
            if lacking.is_empty() {
                pass()
            } else {
                missing(format!("Missing: {}.", lacking.join(", ")))
            }
        }
        "CSA-SECTOR" => {
            if content.affected_entities.is_empty() {
                return missing("");
            }
            let served = |s: Sector| match who {
                User::CertEu => s == Sector::UnionEntity,
                User::MemberState | User::ThirdCountry => s.is_nis2(),
            };
            let outside: Vec<&str> = content
                .affected_entities
                .iter()
                .filter(|e| !served(e.sector))
                .map(|e| e.name.as_str())
                .collect();
            if outside.len() < content.affected_entities.len() {
                if outside.is_empty() {
                    pass()
                } else {
                    // Support may be used only for the entities covered.
                    Verdict(
                        Outcome::Pass,
                        format!("Not covered: {}.", outside.join(", ")),
                    )
                }
            } else if who == User::CertEu {
                fail("CERT-EU requests support for Union entities.")
            } else {
                fail("No affected entity is in a sector of NIS2 Annex I or II (or its equivalent).")
            }
        }
        other => unreachable!("rule {other} is in RULE_IDS but not implemented"),
    }
}

/// The response deadline of a request submitted at `submitted_at`.
pub fn response_deadline(
    deadlines: &Deadlines,
    kind: OrganisationKind,
    submitted_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let hours = if kind.is_third_country() {
        deadlines.third_country_target_hours
    } else {
        deadlines.member_state_hours
    };
    submitted_at + chrono::Duration::hours(hours.into())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::codes::{
        Clearance, EntityType, IncidentCategory, ServiceType, Severity, Tlp,
    };
    use crate::domain::registry::CouncilAct;
    use crate::domain::request::{AffectedEntity, ContactPoint, ServiceLine};

    fn rules() -> RuleSet {
        let rules: RuleSet = toml::from_str(include_str!("../../rules/csa-v1.toml"))
            .expect("shipped rule set parses");
        rules.check().expect("shipped rule set is complete");
        rules
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn moldova() -> (Organisation, Country) {
        (
            Organisation {
                id: "md-spoc".into(),
                display_name: "Moldova".into(),
                kind: OrganisationKind::TcAuthority,
                country: "MD".into(),
                single_point_of_contact: true,
            },
            Country {
                code: "MD".into(),
                display_name: "Moldova".into(),
                kind: CountryKind::ThirdCountry,
                required_languages: vec!["ro".into()],
                required_clearance: Clearance::None,
                required_certifications: vec![],
                association_date: Some(day("2024-01-01")),
                reserve_coverage_from: Some(day("2025-05-20")),
                council_acts: vec![CouncilAct {
                    reference: "(EU) 2025/1458".into(),
                    valid_from: day("2025-07-14"),
                    valid_until: day("2026-07-13"),
                    max_support_days: None,
                    repealed_on: None,
                }],
                single_point_of_contact: Some("md-spoc".into()),
                capability_info_received: Some(day("2025-06-02")),
                capability_info_updated: None,
                specific_conditions: None,
            },
        )
    }

    fn complete() -> RequestContent {
        RequestContent {
            title: "Ransomware".into(),
            description: "Encrypted systems".into(),
            category: IncidentCategory::Ransomware,
            classification: Classification::Significant,
            capacity_exceeded_declared: false,
            severity: Severity::High,
            detected_at: "2026-01-10T03:00:00Z".parse().unwrap(),
            affected_entities: vec![AffectedEntity {
                name: "Grid".into(),
                sector: Sector::Energy,
                entity_type: EntityType::Essential,
                country: "MD".into(),
            }],
            countries_affected: vec!["MD".into()],
            potential_impact: "Blackout".into(),
            mitigation_measures: "Network segmented and backups restored".into(),
            other_support: String::new(),
            service_lines: vec![ServiceLine {
                service: ServiceType::IncidentResponse,
                person_days: 10,
                languages: vec!["ro".into()],
                clearance: Clearance::None,
                planned_use: "Containment".into(),
            }],
            tlp: Tlp::Amber,
            contact: ContactPoint {
                name: "Duty".into(),
                email: "duty@example.md".into(),
                phone: String::new(),
            },
        }
    }

    fn decide(content: &RequestContent, at: &str) -> Decision {
        let (org, country) = moldova();
        evaluate(
            &rules(),
            &Input {
                content,
                organisation: &org,
                country: &country,
                submitted_at: at.parse().unwrap(),
                transmitted_by: "md-spoc",
            },
        )
    }

    #[test]
    fn a_complete_moldovan_request_is_eligible_while_the_act_is_in_force() {
        let decision = decide(&complete(), "2026-01-12T10:00:00Z");
        assert_eq!(decision.outcome, RequestState::Eligible, "{decision:?}");
        assert_eq!(decision.results.len(), RULE_IDS.len());
        assert_eq!(
            decide(&complete(), "2026-07-14T00:00:00Z").outcome,
            RequestState::Ineligible
        );
    }

    #[test]
    fn capability_information_older_than_a_year_fails() {
        // Received 2025-06-02, never updated: stale from 2026-06-03 on.
        let decision = decide(&complete(), "2026-06-03T08:00:00Z");
        let capinfo = decision
            .results
            .iter()
            .find(|r| r.rule_id == "CSA-TC-CAPINFO")
            .unwrap();
        assert_eq!(capinfo.outcome, Outcome::Fail);
        assert!(
            capinfo.message.contains("2025-06-02"),
            "{}",
            capinfo.message
        );
    }

    #[test]
    fn the_rule_set_must_word_every_rule_once() {
        let mut rules = rules();
        rules.rules.pop();
        assert_eq!(
            rules.check(),
            Err(RuleSetError::Missing("CSA-SECTOR".into()))
        );
        let mut rules = self::rules();
        rules.rules.push(rules.rules[0].clone());
        assert_eq!(
            rules.check(),
            Err(RuleSetError::Duplicate("CSA-USER".into()))
        );
        let mut rules = self::rules();
        rules.rules[0].id = "CSA-NEW".into();
        assert_eq!(rules.check(), Err(RuleSetError::Unknown("CSA-NEW".into())));
    }

    fn arbitrary_content() -> impl Strategy<Value = RequestContent> {
        (
            prop::sample::select(Classification::ALL.to_vec()),
            any::<bool>(),
            prop::sample::select(Severity::ALL.to_vec()),
            prop::collection::vec(
                (
                    prop::sample::select(Sector::ALL.to_vec()),
                    prop::sample::select(EntityType::ALL.to_vec()),
                ),
                0..4,
            ),
            prop::collection::vec(prop::sample::select(vec!["MD", "RO", "UA", "BG"]), 0..4),
            "[a-z ]{0,60}",
            "[a-z ]{0,60}",
            prop::collection::vec(("[a-z ]{0,20}", 1u32..60), 0..3),
        )
            .prop_map(
                |(
                    classification,
                    declared,
                    severity,
                    entities,
                    countries,
                    impact,
                    mitigation,
                    lines,
                )| {
                    RequestContent {
                        classification,
                        capacity_exceeded_declared: declared,
                        severity,
                        affected_entities: entities
                            .into_iter()
                            .map(|(sector, entity_type)| AffectedEntity {
                                name: "Entity".into(),
                                sector,
                                entity_type,
                                country: "MD".into(),
                            })
                            .collect(),
                        countries_affected: countries.into_iter().map(String::from).collect(),
                        potential_impact: impact,
                        mitigation_measures: mitigation,
                        service_lines: lines
                            .into_iter()
                            .map(|(planned_use, person_days)| ServiceLine {
                                service: ServiceType::IncidentResponse,
                                person_days,
                                languages: vec![],
                                clearance: Clearance::None,
                                planned_use,
                            })
                            .collect(),
                        ..complete()
                    }
                },
            )
    }

    /// Everything a requester can add: an entity of an Annex I sector, more
    /// countries, longer texts, a planned use where one is missing.
    fn add_information(mut c: RequestContent) -> RequestContent {
        c.affected_entities.push(AffectedEntity {
            name: "Hospital".into(),
            sector: Sector::Health,
            entity_type: EntityType::Essential,
            country: "MD".into(),
        });
        c.countries_affected.push("RO".into());
        c.potential_impact
            .push_str(" and loss of essential services across the region");
        c.mitigation_measures
            .push_str(" isolated the affected segments and reset all credentials");
        for line in &mut c.service_lines {
            if line.planned_use.trim().is_empty() {
                line.planned_use = "Containment on site".into();
            }
        }
        if c.service_lines.is_empty() {
            c.service_lines = complete().service_lines;
        }
        c
    }

    proptest! {
        #[test]
        fn evaluation_is_deterministic(content in arbitrary_content()) {
            prop_assert_eq!(decide(&content, "2026-01-12T10:00:00Z"), decide(&content, "2026-01-12T10:00:00Z"));
        }

        #[test]
        fn adding_information_never_makes_an_eligible_request_ineligible(content in arbitrary_content()) {
            let before = decide(&content, "2026-01-12T10:00:00Z");
            let after = decide(&add_information(content), "2026-01-12T10:00:00Z");
            if before.outcome == RequestState::Eligible {
                prop_assert_eq!(after.outcome, RequestState::Eligible);
            }
            // Information added never adds a failure.
            for (b, a) in before.results.iter().zip(&after.results) {
                if a.outcome == Outcome::Fail {
                    prop_assert_eq!(b.outcome, Outcome::Fail, "{}", a.rule_id);
                }
            }
        }
    }
}
