//! Dispatch commands: the duty officer's plan; the provider's decline (with
//! a reason), agreement and completion (with a note).

use chrono::{DateTime, Utc};

use super::{Parsed, finish};
use crate::domain::dispatch::{Agreement, DeclineReason};
use crate::domain::matching::{self, Demand};
use crate::domain::names::{self, OfferId};
use crate::domain::registry::{Country, Lookup};
use crate::domain::request::{SupportRequest, limits};
use crate::domain::validation::{Choice, Instant, Violations};

/// Longest justification, decline note or liability text.
pub const SHORT_TEXT: std::ops::RangeInclusive<usize> = 0..=2_000;
/// At most this many fallbacks per line.
pub const FALLBACKS: usize = 20;
/// A delivery note.
pub const DELIVERY_NOTE: std::ops::RangeInclusive<usize> = 1..=20_000;

/// One line of a plan as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinePlanFields {
    pub line_index: u32,
    /// `providers/{id}` or the id.
    pub provider: String,
    pub fallbacks: Vec<String>,
    pub justification: String,
}

/// ApproveDispatch as a door received it (the request is named apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanFields {
    pub plan: Vec<LinePlanFields>,
    pub version: i64,
}

/// What a plan is checked against: the authorised request, its country,
/// the registry, and the top-ranked candidate of each granted line.
pub struct Planning<'a> {
    pub request: &'a SupportRequest,
    pub country: &'a Country,
    pub registry: &'a dyn Lookup,
    /// By granted line: the first candidate proposed, if any.
    pub top: Vec<Option<&'a str>>,
}

/// The duty officer's choice for one line: a provider and ordered fallbacks.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlan {
    pub line_index: u32,
    pub provider: String,
    pub fallbacks: Vec<String>,
    pub justification: String,
}

/// A plan naming every granted line once, with eligible providers, and a
/// justification wherever the provider is not the top-ranked candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovePlan {
    pub lines: Vec<LinePlan>,
    pub version: i64,
    parsed: Parsed,
}

impl ApprovePlan {
    pub fn parse(f: &PlanFields, at: &Planning) -> Result<ApprovePlan, Violations> {
        let mut v = Violations::new();
        if f.plan.is_empty() {
            v.add("plan", "must plan every granted line");
        }
        let granted = at.request.granted_lines.len();
        let lines = v.list("plan", &f.plan, limits::SERVICE_LINES, |v, field, l| {
            LinePlan {
                line_index: l.line_index,
                provider: names::provider_id(v, &format!("{field}.provider"), &l.provider),
                fallbacks: v.list(
                    &format!("{field}.fallbacks"),
                    &l.fallbacks,
                    FALLBACKS,
                    |v, f, p| names::provider_id(v, f, p),
                ),
                justification: v.text(
                    &format!("{field}.justification"),
                    &l.justification,
                    SHORT_TEXT,
                ),
            }
        });
        for (i, line) in lines.iter().enumerate() {
            let index = line.line_index as usize;
            if index >= granted {
                v.add(
                    format!("plan[{i}].line_index"),
                    format!("the request has {granted} granted lines"),
                );
                continue;
            }
            if lines[..i].iter().any(|l| l.line_index == line.line_index) {
                v.add(
                    format!("plan[{i}].line_index"),
                    "names a line planned before",
                );
                continue;
            }
            check_providers(
                &mut v,
                i,
                line,
                &Demand::of_line(at.request, index, at.country),
                at,
            );
        }
        if !f.plan.is_empty() {
            for index in 0..granted {
                if !lines.iter().any(|l| l.line_index as usize == index) {
                    v.add("plan", format!("has no entry for granted line {index}"));
                }
            }
        }
        finish(v, || {
            Some(ApprovePlan {
                lines,
                version: f.version,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> PlanFields {
        PlanFields {
            plan: self
                .lines
                .iter()
                .map(|l| LinePlanFields {
                    line_index: l.line_index,
                    provider: names::provider(&l.provider),
                    fallbacks: l.fallbacks.iter().map(|p| names::provider(p)).collect(),
                    justification: l.justification.clone(),
                })
                .collect(),
            version: self.version,
        }
    }
}

/// Each provider of a line registered, eligible and named once; a provider
/// other than the top-ranked candidate justified.
fn check_providers(v: &mut Violations, i: usize, line: &LinePlan, d: &Demand, at: &Planning) {
    let all: Vec<&String> = std::iter::once(&line.provider)
        .chain(&line.fallbacks)
        .collect();
    for (j, provider) in all.iter().enumerate() {
        let field = if j == 0 {
            format!("plan[{i}].provider")
        } else {
            format!("plan[{i}].fallbacks[{}]", j - 1)
        };
        if provider.is_empty() {
            // Already refused as an identifier.
            continue;
        }
        if all[..j].contains(provider) {
            v.add(field, "names a provider twice");
            continue;
        }
        match at.registry.provider(provider) {
            None => v.add(field, "names no registered provider"),
            Some(p) => {
                if let Some(reason) = matching::excluded(p, d) {
                    v.add(field, format!("is not eligible: {reason}"));
                }
            }
        }
    }
    let top = at.top.get(line.line_index as usize).copied().flatten();
    if top != Some(line.provider.as_str()) && line.justification.trim().is_empty() {
        v.add(
            format!("plan[{i}].justification"),
            "is required when the provider is not the top-ranked candidate",
        );
    }
}

/// DeclineOffer as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeclineFields {
    pub name: String,
    pub reason: Choice<DeclineReason>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decline {
    pub offer: OfferId,
    pub reason: DeclineReason,
    pub note: String,
    parsed: Parsed,
}

impl Decline {
    pub fn parse(f: &DeclineFields) -> Result<Decline, Violations> {
        let mut v = Violations::new();
        let offer = OfferId::parse_name(&mut v, "name", &f.name);
        let reason = v.choice("reason", &f.reason);
        let note = v.text("note", &f.note, SHORT_TEXT);
        finish(v, || {
            Some(Decline {
                offer: offer?,
                reason: reason?,
                note,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> DeclineFields {
        DeclineFields {
            name: self.offer.name(),
            reason: self.reason.into(),
            note: self.note.clone(),
        }
    }
}

/// The specific agreement as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgreementFields {
    pub reference: String,
    pub template_version: String,
    pub sign_time: Instant,
    pub liability_conditions: String,
    pub affected_entity: String,
}

/// RecordAgreement as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordAgreementFields {
    pub name: String,
    /// None when absent.
    pub agreement: Option<AgreementFields>,
}

/// The specific agreement between provider and user (Art. 16(5)-(6)).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordAgreement {
    pub offer: OfferId,
    pub agreement: Agreement,
    parsed: Parsed,
}

impl RecordAgreement {
    /// Checked at `now`: an agreement is not signed in the future.
    pub fn parse(
        f: &RecordAgreementFields,
        now: DateTime<Utc>,
    ) -> Result<RecordAgreement, Violations> {
        let mut v = Violations::new();
        let offer = OfferId::parse_name(&mut v, "name", &f.name);
        let agreement = match &f.agreement {
            None => {
                v.add("agreement", "is required");
                None
            }
            Some(a) => agreement(&mut v, a, now),
        };
        finish(v, || {
            Some(RecordAgreement {
                offer: offer?,
                agreement: agreement?,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> RecordAgreementFields {
        let a = &self.agreement;
        RecordAgreementFields {
            name: self.offer.name(),
            agreement: Some(AgreementFields {
                reference: a.reference.clone(),
                template_version: a.template_version.clone(),
                sign_time: a.signed_at.into(),
                liability_conditions: a.liability_conditions.clone(),
                affected_entity: a.affected_entity.clone().unwrap_or_default(),
            }),
        }
    }
}

fn agreement(v: &mut Violations, a: &AgreementFields, now: DateTime<Utc>) -> Option<Agreement> {
    let reference = v.text("agreement.reference", &a.reference, limits::NAME);
    let template_version = v.text("agreement.template_version", &a.template_version, 1..=50);
    let signed_at = v.instant("agreement.sign_time", &a.sign_time);
    if let Some(t) = signed_at {
        v.past_time("agreement.sign_time", t, now);
    }
    let liability_conditions = v.text(
        "agreement.liability_conditions",
        &a.liability_conditions,
        1..=*limits::PLANNED_USE.end(),
    );
    let entity = v.text("agreement.affected_entity", &a.affected_entity, 0..=200);
    Some(Agreement {
        reference,
        template_version,
        signed_at: signed_at?,
        liability_conditions,
        affected_entity: (!entity.is_empty()).then_some(entity),
    })
}

/// CompleteAssignment as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompleteFields {
    pub name: String,
    pub delivery_note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Complete {
    pub offer: OfferId,
    pub delivery_note: String,
    parsed: Parsed,
}

impl Complete {
    pub fn parse(f: &CompleteFields) -> Result<Complete, Violations> {
        let mut v = Violations::new();
        let offer = OfferId::parse_name(&mut v, "name", &f.name);
        let delivery_note = v.text("delivery_note", &f.delivery_note, DELIVERY_NOTE);
        finish(v, || {
            Some(Complete {
                offer: offer?,
                delivery_note,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> CompleteFields {
        CompleteFields {
            name: self.offer.name(),
            delivery_note: self.delivery_note.clone(),
        }
    }
}
