//! The requester's commands: create and edit a request, withdraw it, file
//! its summary report.

use chrono::{DateTime, Utc};

use super::{Parsed, copy_masked, finish, require_mask};
use crate::domain::codes::{
    Classification, Clearance, EntityType, IncidentCategory, Sector, ServiceType, Severity, Tlp,
};
use crate::domain::names::RequestId;
use crate::domain::request::{AffectedEntity, ContactPoint, RequestContent, ServiceLine, limits};
use crate::domain::validation::{Choice, Count, Instant, Violations};

/// A request's content as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContentFields {
    pub title: String,
    pub description: String,
    pub category: Choice<IncidentCategory>,
    pub classification: Choice<Classification>,
    pub capacity_exceeded_declared: bool,
    pub severity: Choice<Severity>,
    pub detect_time: Instant,
    pub affected_entities: Vec<EntityFields>,
    pub countries_affected: Vec<String>,
    pub potential_impact: String,
    pub mitigation_measures: String,
    pub other_support: String,
    pub service_lines: Vec<LineFields>,
    pub tlp: Choice<Tlp>,
    pub contact: Option<ContactFields>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityFields {
    pub name: String,
    pub sector: Choice<Sector>,
    pub entity_type: Choice<EntityType>,
    pub country: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineFields {
    pub service: Choice<ServiceType>,
    pub person_days: Count,
    pub languages: Vec<String>,
    pub clearance: Choice<Clearance>,
    pub planned_use: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactFields {
    pub name: String,
    pub email: String,
    pub phone: String,
}

impl RequestContent {
    /// The content from its fields, named under `prefix`, checked at `now`
    /// (a detection time may not lie in the future).
    pub fn parse(
        f: &ContentFields,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<RequestContent, Violations> {
        let mut v = Violations::new();
        let content = content(&mut v, f, prefix, now);
        finish(v, || content)
    }

    /// The fields this content parses from: `parse` gives it back.
    pub fn to_fields(&self) -> ContentFields {
        ContentFields {
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category.into(),
            classification: self.classification.into(),
            capacity_exceeded_declared: self.capacity_exceeded_declared,
            severity: self.severity.into(),
            detect_time: self.detected_at.into(),
            affected_entities: self
                .affected_entities
                .iter()
                .map(|e| EntityFields {
                    name: e.name.clone(),
                    sector: e.sector.into(),
                    entity_type: e.entity_type.into(),
                    country: e.country.clone(),
                })
                .collect(),
            countries_affected: self.countries_affected.clone(),
            potential_impact: self.potential_impact.clone(),
            mitigation_measures: self.mitigation_measures.clone(),
            other_support: self.other_support.clone(),
            service_lines: self
                .service_lines
                .iter()
                .map(ServiceLine::to_fields)
                .collect(),
            tlp: self.tlp.into(),
            contact: Some(ContactFields {
                name: self.contact.name.clone(),
                email: self.contact.email.clone(),
                phone: self.contact.phone.clone(),
            }),
        }
    }
}

impl ServiceLine {
    pub fn to_fields(&self) -> LineFields {
        LineFields {
            service: self.service.into(),
            person_days: self.person_days.into(),
            languages: self.languages.clone(),
            clearance: self.clearance.into(),
            planned_use: self.planned_use.clone(),
        }
    }
}

/// Every check of a request's content; None when one failed (recorded in `v`).
fn content(
    v: &mut Violations,
    f: &ContentFields,
    prefix: &str,
    now: DateTime<Utc>,
) -> Option<RequestContent> {
    let at = |name: &str| format!("{prefix}.{name}");
    let title = v.text(&at("title"), &f.title, limits::TITLE);
    let description = v.text(&at("description"), &f.description, limits::DESCRIPTION);
    let category = v.choice(&at("category"), &f.category);
    let classification = v.choice(&at("classification"), &f.classification);
    let severity = v.choice(&at("severity"), &f.severity);
    let detected_at = v.instant(&at("detect_time"), &f.detect_time);
    if let Some(t) = detected_at {
        v.past_time(&at("detect_time"), t, now);
    }
    let affected_entities = v.list(
        &at("affected_entities"),
        &f.affected_entities,
        limits::AFFECTED_ENTITIES,
        |v, field, e| {
            let name = v.text(&format!("{field}.name"), &e.name, limits::NAME);
            let sector = v.choice(&format!("{field}.sector"), &e.sector);
            let entity_type = v.choice(&format!("{field}.entity_type"), &e.entity_type);
            let country = v.country_code(&format!("{field}.country"), &e.country);
            Some(AffectedEntity {
                name,
                sector: sector?,
                entity_type: entity_type?,
                country,
            })
        },
    );
    let countries_affected = v.countries(
        &at("countries_affected"),
        &f.countries_affected,
        limits::COUNTRIES,
    );
    let potential_impact = v.text(
        &at("potential_impact"),
        &f.potential_impact,
        limits::OPTIONAL_TEXT,
    );
    let mitigation_measures = v.text(
        &at("mitigation_measures"),
        &f.mitigation_measures,
        limits::OPTIONAL_TEXT,
    );
    let other_support = v.text(
        &at("other_support"),
        &f.other_support,
        limits::OPTIONAL_TEXT,
    );
    let service_lines = v.list(
        &at("service_lines"),
        &f.service_lines,
        limits::SERVICE_LINES,
        service_line,
    );
    // One line per service: a grant names services, and matching takes each
    // line's languages and clearance.
    for (i, line) in f.service_lines.iter().enumerate() {
        if f.service_lines[..i]
            .iter()
            .any(|l| l.service == line.service)
        {
            v.add(
                format!("{prefix}.service_lines[{i}].service"),
                "repeats the service of an earlier line",
            );
        }
    }
    let tlp = v.choice(&at("tlp"), &f.tlp);
    let contact = match &f.contact {
        None => {
            v.add(at("contact"), "is required");
            None
        }
        Some(c) => {
            let name = v.text(&at("contact.name"), &c.name, limits::NAME);
            let email = v.text(&at("contact.email"), &c.email, limits::EMAIL);
            if !email.trim().is_empty() && !is_email(&email) {
                v.add(at("contact.email"), "must be an e-mail address");
            }
            let phone = v.text(&at("contact.phone"), &c.phone, limits::PHONE);
            Some(ContactPoint { name, email, phone })
        }
    };
    Some(RequestContent {
        title,
        description,
        category: category?,
        classification: classification?,
        capacity_exceeded_declared: f.capacity_exceeded_declared,
        severity: severity?,
        detected_at: detected_at?,
        affected_entities: affected_entities.into_iter().collect::<Option<_>>()?,
        countries_affected,
        potential_impact,
        mitigation_measures,
        other_support,
        service_lines: service_lines.into_iter().collect::<Option<_>>()?,
        tlp: tlp?,
        contact: contact?,
    })
}

fn service_line(v: &mut Violations, field: &str, l: &LineFields) -> Option<ServiceLine> {
    let service = v.choice(&format!("{field}.service"), &l.service);
    let person_days = v.count(
        &format!("{field}.person_days"),
        &l.person_days,
        limits::PERSON_DAYS,
    );
    let languages = v.languages(
        &format!("{field}.languages"),
        &l.languages,
        limits::LANGUAGES,
    );
    let clearance = v.choice(&format!("{field}.clearance"), &l.clearance);
    let planned_use = v.text(
        &format!("{field}.planned_use"),
        &l.planned_use,
        limits::PLANNED_USE,
    );
    Some(ServiceLine {
        service: service?,
        person_days: person_days?,
        languages,
        clearance: clearance?,
        planned_use,
    })
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// CreateSupportRequest as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateFields {
    /// The client's key for an idempotent creation.
    pub request_id: String,
    /// `support_request`; None when absent.
    pub content: Option<ContentFields>,
}

/// A new request of the caller's organisation, in DRAFT.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub request_id: String,
    pub content: RequestContent,
    parsed: Parsed,
}

impl CreateRequest {
    pub fn parse(f: &CreateFields, now: DateTime<Utc>) -> Result<CreateRequest, Violations> {
        let mut v = Violations::new();
        let request_id = v.identifier("request_id", &f.request_id);
        let content = match &f.content {
            Some(c) => content(&mut v, c, "support_request", now),
            None => {
                v.add("support_request", "is required");
                None
            }
        };
        finish(v, || {
            Some(CreateRequest {
                request_id,
                content: content?,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> CreateFields {
        CreateFields {
            request_id: self.request_id.clone(),
            content: Some(self.content.to_fields()),
        }
    }
}

/// The request an UpdateSupportRequest names, with the fields to replace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EditedFields {
    /// `support_request.name`.
    pub name: String,
    pub content: ContentFields,
}

pub type EditFields = super::UpdateFields<EditedFields>;

/// The request an edit names (`support_request.name`).
pub fn edit_target(f: &EditFields) -> Result<RequestId, Violations> {
    let mut v = Violations::new();
    let id = f
        .record(&mut v, "support_request")
        .and_then(|r| RequestId::parse_name(&mut v, "support_request.name", &r.name));
    finish(v, || id)
}

/// An edit: the masked fields replace the stored ones, and the whole
/// content is checked again.
#[derive(Debug, Clone, PartialEq)]
pub struct EditRequest {
    pub content: RequestContent,
    /// The paths replaced.
    pub fields: Vec<String>,
    parsed: Parsed,
}

impl EditRequest {
    /// The edit of `current` by the masked fields of `f`, checked at `now`.
    pub fn parse(
        f: &EditFields,
        current: &RequestContent,
        now: DateTime<Utc>,
    ) -> Result<EditRequest, Violations> {
        let mut v = Violations::new();
        require_mask(&mut v, &f.update_mask);
        let record = f.record(&mut v, "support_request");
        let mut merged = current.to_fields();
        if let Some(incoming) = record {
            copy_masked!(
                merged,
                incoming.content,
                &f.update_mask,
                v,
                [
                    title,
                    description,
                    category,
                    classification,
                    capacity_exceeded_declared,
                    severity,
                    detect_time,
                    affected_entities,
                    countries_affected,
                    potential_impact,
                    mitigation_measures,
                    other_support,
                    service_lines,
                    tlp,
                    contact,
                ]
            );
        }
        let content = content(&mut v, &merged, "support_request", now);
        finish(v, || {
            Some(EditRequest {
                content: content?,
                fields: f.update_mask.clone(),
                parsed: Parsed,
            })
        })
    }
}

/// WithdrawSupportRequest as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WithdrawFields {
    pub name: String,
    pub reason: String,
}

/// A withdrawal by the requester, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Withdraw {
    pub request: RequestId,
    pub reason: String,
    parsed: Parsed,
}

impl Withdraw {
    pub fn parse(f: &WithdrawFields) -> Result<Withdraw, Violations> {
        let mut v = Violations::new();
        let request = RequestId::parse_name(&mut v, "name", &f.name);
        let reason = v.text("reason", &f.reason, limits::REASON);
        finish(v, || {
            Some(Withdraw {
                request: request?,
                reason,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> WithdrawFields {
        WithdrawFields {
            name: self.request.name(),
            reason: self.reason.clone(),
        }
    }
}

/// TransmitSupportRequest as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransmitFields {
    pub name: String,
    pub note: String,
}

/// Longest note of a transmission.
pub const TRANSMISSION_NOTE: std::ops::RangeInclusive<usize> = 0..=2_000;

/// The contact point's transmission of a request to its decider, with an
/// optional note (Art. 15(3)).
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    pub request: RequestId,
    pub note: String,
    parsed: Parsed,
}

impl Transmit {
    pub fn parse(f: &TransmitFields) -> Result<Transmit, Violations> {
        let mut v = Violations::new();
        let request = RequestId::parse_name(&mut v, "name", &f.name);
        let note = v.text("note", &f.note, TRANSMISSION_NOTE);
        finish(v, || {
            Some(Transmit {
                request: request?,
                note,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> TransmitFields {
        TransmitFields {
            name: self.request.name(),
            note: self.note.clone(),
        }
    }
}

/// ReturnSupportRequest as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReturnFields {
    pub name: String,
    pub reason: String,
}

/// The contact point's return of a request to its filer, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnToFiler {
    pub request: RequestId,
    pub reason: String,
    parsed: Parsed,
}

impl ReturnToFiler {
    pub fn parse(f: &ReturnFields) -> Result<ReturnToFiler, Violations> {
        let mut v = Violations::new();
        let request = RequestId::parse_name(&mut v, "name", &f.name);
        let reason = v.text("reason", &f.reason, limits::REASON);
        finish(v, || {
            Some(ReturnToFiler {
                request: request?,
                reason,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> ReturnFields {
        ReturnFields {
            name: self.request.name(),
            reason: self.reason.clone(),
        }
    }
}

/// SubmitSummaryReport as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportFields {
    pub name: String,
    pub service_provided: String,
    pub results: String,
    pub lessons_learned: String,
}

/// The summary report after the support (Art. 16(9)).
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub request: RequestId,
    pub service_provided: String,
    pub results: String,
    pub lessons_learned: String,
    parsed: Parsed,
}

impl FileReport {
    pub fn parse(f: &ReportFields) -> Result<FileReport, Violations> {
        let mut v = Violations::new();
        let request = RequestId::parse_name(&mut v, "name", &f.name);
        let long = limits::DESCRIPTION;
        let service_provided = v.text("service_provided", &f.service_provided, long.clone());
        let results = v.text("results", &f.results, long.clone());
        let lessons_learned = v.text("lessons_learned", &f.lessons_learned, long);
        finish(v, || {
            Some(FileReport {
                request: request?,
                service_provided,
                results,
                lessons_learned,
                parsed: Parsed,
            })
        })
    }

    pub fn to_fields(&self) -> ReportFields {
        ReportFields {
            name: self.request.name(),
            service_provided: self.service_provided.clone(),
            results: self.results.clone(),
            lessons_learned: self.lessons_learned.clone(),
        }
    }
}
