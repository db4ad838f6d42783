//! The deciders' commands: authorise (with the grant), reject (with a
//! reason), ask for more information (with questions).

use super::{Parsed, finish};
use crate::domain::codes::ServiceType;
use crate::domain::eligibility::Decision;
use crate::domain::names::RequestId;
use crate::domain::registry::CouncilAct;
use crate::domain::request::{
    Assessment, Criterion, CriterionReason, RuleOverride, ServiceLine, SupportRequest, limits,
};
use crate::domain::validation::{Choice, Count, Violations};

/// A decider's reason, a justification of an override: 1 to 2,000
/// characters.
pub const REASON: std::ops::RangeInclusive<usize> = 1..=2_000;

/// A reason on one criterion of Art. 16(3) as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReasonFields {
    pub criterion: Choice<Criterion>,
    pub reason: String,
}

/// An override of a failed finding as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverrideFields {
    pub rule_id: String,
    pub justification: String,
}

/// The decider's reasons on the criteria, each criterion at most once.
fn reasons(v: &mut Violations, fields: &[ReasonFields]) -> Vec<CriterionReason> {
    let parsed = v.list("reasons", fields, Criterion::ALL.len(), |v, field, r| {
        let criterion = v.choice(&format!("{field}.criterion"), &r.criterion);
        let reason = v.text(&format!("{field}.reason"), &r.reason, REASON);
        criterion.map(|criterion| CriterionReason { criterion, reason })
    });
    let mut out: Vec<CriterionReason> = Vec::new();
    for (i, r) in parsed.into_iter().enumerate() {
        let Some(r) = r else { continue };
        if out.iter().any(|o| o.criterion == r.criterion) {
            v.add(
                format!("reasons[{i}].criterion"),
                "gives a reason on a criterion given before",
            );
            continue;
        }
        out.push(r);
    }
    out
}

/// Longest duration of support granted at once, in days.
pub const MAX_DURATION_DAYS: u32 = 365;
/// Longest decision note.
pub const NOTE: std::ops::RangeInclusive<usize> = 0..=2_000;
/// At most this many questions, each of at most 1,000 characters.
pub const QUESTIONS: usize = 20;
pub const QUESTION: std::ops::RangeInclusive<usize> = 1..=1_000;

/// One granted line as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrantFields {
    pub service: Choice<ServiceType>,
    pub person_days: Count,
}

/// AuthoriseSupport as a door received it (the request is named apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthoriseFields {
    pub granted_lines: Vec<GrantFields>,
    pub duration_days: Count,
    pub note: String,
    /// The version the decider read (0: any).
    pub version: i64,
    /// Each failed finding set aside, with its justification.
    pub overrides: Vec<OverrideFields>,
    pub reasons: Vec<ReasonFields>,
    /// The entities the support may be used for; empty: every one covered.
    pub covered_entities: Vec<String>,
}

/// What an authorisation is checked against: the request, and for a third
/// country the Council implementing act in force today (None when none is).
pub struct Authorising<'a> {
    pub request: &'a SupportRequest,
    pub act: Option<&'a CouncilAct>,
}

impl Authorising<'_> {
    /// The evaluation the decider decides on: the latest.
    fn decision(&self) -> Option<&Decision> {
        self.request.evaluations.last()
    }
}

/// The nature and duration of the support granted (Art. 16(8), 19(4)).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthoriseSupport {
    /// Each a line of the request, for the person-days granted.
    pub lines: Vec<ServiceLine>,
    pub duration_days: u32,
    pub note: String,
    pub version: i64,
    /// The Council act it was authorised under (third countries).
    pub council_act: Option<String>,
    /// The decider's assessment: the conditions of Art. 15(1)-(2) met, the
    /// reasons, the findings set aside and the entities covered.
    pub assessment: Assessment,
    parsed: Parsed,
}

impl AuthoriseSupport {
    /// Each service granted at most once, requested, for no more
    /// person-days than asked; a duration within the Council act's cap.
    pub fn parse(f: &AuthoriseFields, at: &Authorising) -> Result<AuthoriseSupport, Violations> {
        let mut v = Violations::new();
        let request = at.request;
        if f.granted_lines.is_empty() {
            v.add("granted_lines", "must grant at least one service line");
        }
        let lines = v.list(
            "granted_lines",
            &f.granted_lines,
            limits::SERVICE_LINES,
            |v, field, l| {
                let service = v.choice(&format!("{field}.service"), &l.service);
                let days = v.count(
                    &format!("{field}.person_days"),
                    &l.person_days,
                    limits::PERSON_DAYS,
                );
                Some((service?, days))
            },
        );
        let mut granted = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let Some((service, days)) = line else {
                continue;
            };
            let field = format!("granted_lines[{i}]");
            if lines[..i].iter().flatten().any(|(s, _)| s == service) {
                v.add(format!("{field}.service"), "repeats an earlier line");
                continue;
            }
            let Some(asked) = request
                .content
                .service_lines
                .iter()
                .find(|l| l.service == *service)
            else {
                v.add(
                    format!("{field}.service"),
                    format!("{service} was not requested"),
                );
                continue;
            };
            if let Some(days) = days {
                if *days > asked.person_days {
                    v.add(
                        format!("{field}.person_days"),
                        format!(
                            "must be at most the {} person-days requested",
                            asked.person_days
                        ),
                    );
                }
                granted.push(ServiceLine {
                    person_days: *days,
                    ..asked.clone()
                });
            }
        }
        let duration_days = v.count("duration_days", &f.duration_days, 1..=MAX_DURATION_DAYS);
        if let (Some(days), Some(act)) = (duration_days, at.act)
            && let Some(cap) = act.max_support_days
            && days > cap
        {
            v.add(
                "duration_days",
                format!("must be at most {cap} days, the cap of {}", act.reference),
            );
        }
        let note = v.text("note", &f.note, NOTE);
        let reasons = reasons(&mut v, &f.reasons);
        // Each failed finding set aside, by name, with a justification;
        // nothing else may be (Art. 16(3), 19(10)).
        let failed: Vec<&str> = at
            .decision()
            .map(|d| d.failed_findings().map(|r| r.rule_id.as_str()).collect())
            .unwrap_or_default();
        let overrides = v.list("overrides", &f.overrides, 16, |v, field, o| {
            let justification = v.text(&format!("{field}.justification"), &o.justification, REASON);
            if !failed.contains(&o.rule_id.as_str()) {
                v.add(
                    format!("{field}.rule_id"),
                    format!("`{}` is not a finding that failed", o.rule_id),
                );
            }
            RuleOverride {
                rule_id: o.rule_id.clone(),
                justification,
            }
        });
        for rule in &failed {
            if !f.overrides.iter().any(|o| o.rule_id == *rule) {
                v.add(
                    "overrides",
                    format!(
                        "must set aside the failed finding {rule} with a justification, or the \
                         request be rejected"
                    ),
                );
            }
        }
        // The entities covered: those the evaluation judged covered, or
        // those of them the decider names (Art. 16(8)). A decider who sets
        // aside the finding on sectors judges every affected entity served.
        let sectors_set_aside =
            failed.contains(&"CSA-SECTOR") && f.overrides.iter().any(|o| o.rule_id == "CSA-SECTOR");
        let judged: Vec<&str> = if sectors_set_aside {
            request
                .content
                .affected_entities
                .iter()
                .map(|e| e.name.as_str())
                .collect()
        } else {
            at.decision()
                .map(|d| d.covered_entities().collect())
                .unwrap_or_default()
        };
        let covered_entities = if f.covered_entities.is_empty() {
            judged.iter().map(|e| (*e).to_owned()).collect()
        } else {
            v.list(
                "covered_entities",
                &f.covered_entities,
                limits::AFFECTED_ENTITIES,
                |v, field, name| {
                    if !request
                        .content
                        .affected_entities
                        .iter()
                        .any(|e| e.name == *name)
                    {
                        v.add(field, "names no affected entity of the request");
                    } else if !judged.contains(&name.as_str()) {
                        v.add(
                            field,
                            "is not an entity the support may be used for (Art. 16(8))",
                        );
                    }
                    name.clone()
                },
            )
        };
        finish(v, || {
            Some(AuthoriseSupport {
                lines: granted,
                duration_days: duration_days?,
                note,
                version: f.version,
                council_act: at.act.map(|a| a.reference.clone()),
                assessment: Assessment {
                    conditions_met: true,
                    reasons,
                    overrides,
                    covered_entities,
                    council_act: at.act.map(|a| a.reference.clone()),
                },
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> AuthoriseFields {
        AuthoriseFields {
            granted_lines: self
                .lines
                .iter()
                .map(|l| GrantFields {
                    service: l.service.into(),
                    person_days: l.person_days.into(),
                })
                .collect(),
            duration_days: self.duration_days.into(),
            note: self.note.clone(),
            version: self.version,
            overrides: self
                .assessment
                .overrides
                .iter()
                .map(|o| OverrideFields {
                    rule_id: o.rule_id.clone(),
                    justification: o.justification.clone(),
                })
                .collect(),
            reasons: reason_fields(&self.assessment.reasons),
            covered_entities: self.assessment.covered_entities.clone(),
        }
    }
}

fn reason_fields(reasons: &[CriterionReason]) -> Vec<ReasonFields> {
    reasons
        .iter()
        .map(|r| ReasonFields {
            criterion: r.criterion.into(),
            reason: r.reason.clone(),
        })
        .collect()
}

/// RejectSupportRequest as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RejectFields {
    pub name: String,
    pub reason: String,
    pub version: i64,
    pub reasons: Vec<ReasonFields>,
    pub conditions_met: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub request: RequestId,
    pub reason: String,
    pub version: i64,
    /// The decider's assessment (no overrides, no entities covered).
    pub assessment: Assessment,
    parsed: Parsed,
}

impl Reject {
    pub fn parse(f: &RejectFields) -> Result<Reject, Violations> {
        let mut v = Violations::new();
        let request = RequestId::parse_name(&mut v, "name", &f.name);
        let reason = v.text("reason", &f.reason, limits::REASON);
        let reasons = reasons(&mut v, &f.reasons);
        finish(v, || {
            Some(Reject {
                request: request?,
                reason,
                version: f.version,
                assessment: Assessment {
                    conditions_met: f.conditions_met,
                    reasons,
                    overrides: Vec::new(),
                    covered_entities: Vec::new(),
                    council_act: None,
                },
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> RejectFields {
        RejectFields {
            name: self.request.name(),
            reason: self.reason.clone(),
            version: self.version,
            reasons: reason_fields(&self.assessment.reasons),
            conditions_met: self.assessment.conditions_met,
        }
    }
}

/// RequestMoreInformation as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AskFields {
    pub name: String,
    pub questions: Vec<String>,
    pub version: i64,
}

/// The request goes back to the requester with questions.
#[derive(Debug, Clone, PartialEq)]
pub struct AskInformation {
    pub request: RequestId,
    pub questions: Vec<String>,
    pub version: i64,
    parsed: Parsed,
}

impl AskInformation {
    pub fn parse(f: &AskFields) -> Result<AskInformation, Violations> {
        let mut v = Violations::new();
        let request = RequestId::parse_name(&mut v, "name", &f.name);
        if f.questions.is_empty() {
            v.add("questions", "must ask at least one question");
        }
        let questions = v.list("questions", &f.questions, QUESTIONS, |v, field, q| {
            v.text(field, q, QUESTION)
        });
        finish(v, || {
            Some(AskInformation {
                request: request?,
                questions,
                version: f.version,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> AskFields {
        AskFields {
            name: self.request.name(),
            questions: self.questions.clone(),
            version: self.version,
        }
    }
}
