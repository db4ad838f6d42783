//! The deciders' commands: authorise (with the grant), reject (with a
//! reason), ask for more information (with questions).

use super::{Parsed, finish};
use crate::domain::codes::ServiceType;
use crate::domain::names::RequestId;
use crate::domain::registry::CouncilAct;
use crate::domain::request::{ServiceLine, SupportRequest, limits};
use crate::domain::validation::{Choice, Count, Violations};

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
}

/// What an authorisation is checked against: the request, and for a third
/// country the Council implementing act in force today (None when none is).
pub struct Authorising<'a> {
    pub request: &'a SupportRequest,
    pub act: Option<&'a CouncilAct>,
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
        finish(v, || {
            Some(AuthoriseSupport {
                lines: granted,
                duration_days: duration_days?,
                note,
                version: f.version,
                council_act: at.act.map(|a| a.reference.clone()),
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
        }
    }
}

/// RejectSupportRequest as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RejectFields {
    pub name: String,
    pub reason: String,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub request: RequestId,
    pub reason: String,
    pub version: i64,
    parsed: Parsed,
}

impl Reject {
    pub fn parse(f: &RejectFields) -> Result<Reject, Violations> {
        let mut v = Violations::new();
        let request = RequestId::parse_name(&mut v, "name", &f.name);
        let reason = v.text("reason", &f.reason, limits::REASON);
        finish(v, || {
            Some(Reject {
                request: request?,
                reason,
                version: f.version,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> RejectFields {
        RejectFields {
            name: self.request.name(),
            reason: self.reason.clone(),
            version: self.version,
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
