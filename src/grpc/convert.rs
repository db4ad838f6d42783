//! The only door between the wire and the domain: proto messages become
//! domain values here (every violation collected, each named by its field
//! path), and domain values become proto messages.

use chrono::{DateTime, NaiveDate, Utc};
use prost_types::Timestamp;

use super::pb;
use crate::domain::codes as dc;
use crate::domain::dispatch::{Agreement, CapacityCommitment, Offer};
use crate::domain::eligibility::{Decision, Outcome};
use crate::domain::priority::PriorityScore;
use crate::domain::registry::{CouncilAct, Country, Organisation, Provider};
use crate::domain::request::{
    AffectedEntity, ContactPoint, RequestContent, RequestState, ServiceLine, SupportRequest, limits,
};
use crate::domain::validation::Violations;
use crate::proto::google::r#type::Date as PbDate;

/// A domain code enum with its proto twin; UNSPECIFIED and unknown numbers
/// have no domain value.
pub trait Wire: Sized + Copy {
    fn from_wire(value: i32) -> Option<Self>;
    fn to_wire(self) -> i32;
}

macro_rules! bridge {
    ($domain:path => $proto:ident { $($variant:ident),+ $(,)? }) => {
        bridge!($domain => $proto { $($variant = $variant),+ });
    };
    ($domain:path => $proto:ident { $($variant:ident = $wire:ident),+ $(,)? }) => {
        impl Wire for $domain {
            fn from_wire(value: i32) -> Option<Self> {
                use $domain as D;
                match pb::$proto::try_from(value).ok()? {
                    $(pb::$proto::$wire => Some(D::$variant),)+
                    _ => None,
                }
            }
            fn to_wire(self) -> i32 {
                use $domain as D;
                match self {
                    $(D::$variant => pb::$proto::$wire as i32),+
                }
            }
        }
    };
}

bridge!(dc::OrganisationKind => OrganisationKind { MsCsirt, MsCrisisAuthority, CertEu, TcCsirt, TcAuthority });
bridge!(dc::CountryKind => CountryKind { MemberState, ThirdCountry });
bridge!(dc::ServiceType => ServiceType {
    IncidentResponse, DigitalForensics, MalwareAnalysis, ThreatHunting, RecoverySupport, CrisisCoordination
});
bridge!(dc::Clearance => Clearance { None, RestreintUe, ConfidentielUe, SecretUe });
bridge!(dc::ProviderStatus => ProviderStatus { Active, Suspended });
bridge!(dc::Classification => Classification { Significant, LargeScale, LargeScaleEquivalent });
bridge!(dc::Severity => Severity { Low, Medium, High, Critical });
bridge!(dc::IncidentCategory => IncidentCategory {
    Ransomware, Malware, Intrusion, DataBreach, DenialOfService, SupplyChain, Wiper, OtherCategory
});
bridge!(dc::EntityType => EntityType { Essential, Important, OtherEntity });
bridge!(dc::Sector => Sector {
    Energy, Transport, Banking, FinancialMarketInfrastructure, Health, DrinkingWater, WasteWater,
    DigitalInfrastructure, IctServiceManagement, PublicAdministration, Space, PostalAndCourier,
    WasteManagement, Chemicals, Food, Manufacturing, DigitalProviders, Research, UnionEntity,
    OtherSector
});
bridge!(dc::Tlp => Tlp { Clear, Green, Amber, AmberStrict, Red });
bridge!(RequestState => RequestState {
    Draft, Submitted, Eligible, Ineligible, NeedsInfo, Referred, Authorised, Rejected, Dispatching,
    WaitingCapacity, Dispatched, Completed, Reported, Closed, Withdrawn
});

/// A required enum field; UNSPECIFIED and unknown values are violations.
pub fn code<T: Wire>(v: &mut Violations, field: &str, value: i32) -> Option<T> {
    let parsed = T::from_wire(value);
    if parsed.is_none() {
        v.add(
            field,
            if value == 0 {
                "is required".to_owned()
            } else {
                format!("has no value {value}")
            },
        );
    }
    parsed
}

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A required timestamp, truncated to the microseconds the databases keep.
pub fn time(v: &mut Violations, field: &str, t: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    let Some(t) = t else {
        v.add(field, "is required");
        return None;
    };
    let parsed = (0..1_000_000_000)
        .contains(&t.nanos)
        .then(|| DateTime::from_timestamp(t.seconds, (t.nanos / 1000 * 1000) as u32))
        .flatten()
        .filter(|d| d.timestamp() >= 946_684_800); // 2000-01-01
    if parsed.is_none() {
        v.add(field, "must be a valid time after 2000-01-01");
    }
    parsed
}

pub fn date(d: NaiveDate) -> PbDate {
    use chrono::Datelike;
    PbDate {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// An optional date: unset or all-zero is none.
pub fn opt_date(v: &mut Violations, field: &str, d: Option<&PbDate>) -> Option<NaiveDate> {
    let d = d.filter(|d| (d.year, d.month, d.day) != (0, 0, 0))?;
    let parsed = NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32)
        .filter(|_| d.month > 0 && d.day > 0 && (1900..=9999).contains(&d.year));
    if parsed.is_none() {
        v.add(field, "must be a full valid date");
    }
    parsed
}

fn req_date(v: &mut Violations, field: &str, d: Option<&PbDate>) -> Option<NaiveDate> {
    let parsed = opt_date(v, field, d);
    if parsed.is_none() && d.is_none_or(|d| (d.year, d.month, d.day) == (0, 0, 0)) {
        v.add(field, "is required");
    }
    parsed
}

fn languages(v: &mut Violations, field: &str, values: &[String]) -> Vec<String> {
    let out = v.list(field, values, limits::LANGUAGES, |v, f, s| v.language(f, s));
    v.distinct(field, values);
    out
}

fn countries(v: &mut Violations, field: &str, values: &[String], max: usize) -> Vec<String> {
    let out = v.list(field, values, max, |v, f, s| v.country_code(f, s));
    v.distinct(field, values);
    out
}

fn identifiers(v: &mut Violations, field: &str, values: &[String], max: usize) -> Vec<String> {
    let out = v.list(field, values, max, |v, f, s| v.identifier(f, s));
    v.distinct(field, values);
    out
}

/// The content of a request, from `support_request` (fields under `prefix`).
pub fn content(p: &pb::SupportRequest, prefix: &str) -> Result<RequestContent, Violations> {
    let mut v = Violations::new();
    let f = |name: &str| format!("{prefix}.{name}");
    let title = v.text(&f("title"), &p.title, limits::TITLE);
    let description = v.text(&f("description"), &p.description, limits::DESCRIPTION);
    let category = code(&mut v, &f("category"), p.category);
    let classification = code(&mut v, &f("classification"), p.classification);
    let severity = code(&mut v, &f("severity"), p.severity);
    let detected_at = time(&mut v, &f("detect_time"), p.detect_time.as_ref());
    let affected_entities = v.list(
        &f("affected_entities"),
        &p.affected_entities,
        limits::AFFECTED_ENTITIES,
        |v, field, e| {
            let name = v.text(&format!("{field}.name"), &e.name, limits::NAME);
            let sector = code(v, &format!("{field}.sector"), e.sector);
            let entity_type = code(v, &format!("{field}.entity_type"), e.entity_type);
            let country = v.country_code(&format!("{field}.country"), &e.country);
            Some(AffectedEntity {
                name,
                sector: sector?,
                entity_type: entity_type?,
                country,
            })
        },
    );
    let countries_affected = countries(
        &mut v,
        &f("countries_affected"),
        &p.countries_affected,
        limits::COUNTRIES,
    );
    let potential_impact = v.text(
        &f("potential_impact"),
        &p.potential_impact,
        limits::OPTIONAL_TEXT,
    );
    let mitigation_measures = v.text(
        &f("mitigation_measures"),
        &p.mitigation_measures,
        limits::OPTIONAL_TEXT,
    );
    let other_support = v.text(&f("other_support"), &p.other_support, limits::OPTIONAL_TEXT);
    let service_lines = v.list(
        &f("service_lines"),
        &p.service_lines,
        limits::SERVICE_LINES,
        service_line,
    );
    // One line per service: a grant names services, and matching takes each
    // line's languages and clearance.
    let services: Vec<i32> = p.service_lines.iter().map(|l| l.service).collect();
    for (i, service) in services.iter().enumerate() {
        if services[..i].contains(service) {
            v.add(
                format!("{prefix}.service_lines[{i}].service"),
                "repeats the service of an earlier line",
            );
        }
    }
    let tlp = code(&mut v, &f("tlp"), p.tlp);
    let contact = match &p.contact {
        None => {
            v.add(f("contact"), "is required");
            None
        }
        Some(c) => {
            let name = v.text(&f("contact.name"), &c.name, limits::NAME);
            let email = v.text(&f("contact.email"), &c.email, limits::EMAIL);
            if !email.is_empty() && !is_email(&email) {
                v.add(f("contact.email"), "must be an e-mail address");
            }
            let phone = v.text(&f("contact.phone"), &c.phone, limits::PHONE);
            Some(ContactPoint { name, email, phone })
        }
    };
    if !v.is_empty() {
        return Err(v);
    }
    // Every Option below is Some: a None was recorded as a violation above.
    let (
        Some(category),
        Some(classification),
        Some(severity),
        Some(detected_at),
        Some(tlp),
        Some(contact),
    ) = (
        category,
        classification,
        severity,
        detected_at,
        tlp,
        contact,
    )
    else {
        unreachable!("a missing field is always a violation");
    };
    Ok(RequestContent {
        title,
        description,
        category,
        classification,
        capacity_exceeded_declared: p.capacity_exceeded_declared,
        severity,
        detected_at,
        affected_entities: affected_entities.into_iter().flatten().collect(),
        countries_affected,
        potential_impact,
        mitigation_measures,
        other_support,
        service_lines: service_lines.into_iter().flatten().collect(),
        tlp,
        contact,
    })
}

pub fn service_line(v: &mut Violations, field: &str, l: &pb::ServiceLine) -> Option<ServiceLine> {
    let service = code(v, &format!("{field}.service"), l.service);
    let person_days = v.number(
        &format!("{field}.person_days"),
        l.person_days,
        limits::PERSON_DAYS,
    );
    let langs = languages(v, &format!("{field}.languages"), &l.languages);
    let clearance = code(v, &format!("{field}.clearance"), l.clearance);
    let planned_use = v.text(
        &format!("{field}.planned_use"),
        &l.planned_use,
        limits::PLANNED_USE,
    );
    Some(ServiceLine {
        service: service?,
        person_days,
        languages: langs,
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

pub fn content_to_proto(c: &RequestContent) -> pb::SupportRequest {
    pb::SupportRequest {
        title: c.title.clone(),
        description: c.description.clone(),
        category: c.category.to_wire(),
        classification: c.classification.to_wire(),
        capacity_exceeded_declared: c.capacity_exceeded_declared,
        severity: c.severity.to_wire(),
        detect_time: Some(timestamp(c.detected_at)),
        affected_entities: c
            .affected_entities
            .iter()
            .map(|e| pb::AffectedEntity {
                name: e.name.clone(),
                sector: e.sector.to_wire(),
                entity_type: e.entity_type.to_wire(),
                country: e.country.clone(),
            })
            .collect(),
        countries_affected: c.countries_affected.clone(),
        potential_impact: c.potential_impact.clone(),
        mitigation_measures: c.mitigation_measures.clone(),
        other_support: c.other_support.clone(),
        service_lines: c.service_lines.iter().map(service_line_to_proto).collect(),
        tlp: c.tlp.to_wire(),
        contact: Some(pb::ContactPoint {
            name: c.contact.name.clone(),
            email: c.contact.email.clone(),
            phone: c.contact.phone.clone(),
        }),
        ..Default::default()
    }
}

pub fn service_line_to_proto(l: &ServiceLine) -> pb::ServiceLine {
    pb::ServiceLine {
        service: l.service.to_wire(),
        person_days: l.person_days,
        languages: l.languages.clone(),
        clearance: l.clearance.to_wire(),
        planned_use: l.planned_use.clone(),
    }
}

bridge!(Outcome => RuleOutcome { Pass, Fail, MissingInfo, NotApplicable });

pub fn decision_to_proto(d: &Decision) -> pb::EligibilityDecision {
    pb::EligibilityDecision {
        rule_set_version: d.rule_set_version.clone(),
        evaluate_time: Some(timestamp(d.evaluated_at)),
        outcome: d.outcome.to_wire(),
        results: d
            .results
            .iter()
            .map(|r| pb::RuleResult {
                rule_id: r.rule_id.clone(),
                article: r.article.clone(),
                outcome: r.outcome.to_wire(),
                message: r.message.clone(),
            })
            .collect(),
    }
}

pub fn priority_to_proto(p: &PriorityScore) -> pb::PriorityScore {
    pb::PriorityScore {
        total: p.total,
        scale_and_severity: p.scale_and_severity,
        essential_entities: p.essential_entities,
        impact: p.impact,
        cross_border: p.cross_border,
        own_measures: p.own_measures,
    }
}

/// The request as the API shows it at `now` (which decides whether its
/// deadline is breached).
pub fn request_to_proto(r: &SupportRequest, now: DateTime<Utc>) -> pb::SupportRequest {
    pb::SupportRequest {
        eligibility: r.evaluations.last().map(decision_to_proto),
        evaluations: r.evaluations.iter().map(decision_to_proto).collect(),
        priority: r.priority.as_ref().map(priority_to_proto),
        response_deadline: r.response_deadline.map(timestamp),
        deadline_breached: r.deadline_breached(now),
        summary_report: r.summary_report.as_ref().map(|s| pb::SummaryReport {
            service_provided: s.service_provided.clone(),
            results: s.results.clone(),
            lessons_learned: s.lessons_learned.clone(),
            submit_time: Some(timestamp(s.submitted_at)),
            recipients: s.recipients.clone(),
        }),
        granted_lines: r.granted_lines.iter().map(service_line_to_proto).collect(),
        granted_duration_days: r.granted_duration_days.unwrap_or(0),
        name: format!("supportRequests/{}", r.id),
        reference: r.reference.clone(),
        organisation: format!("organisations/{}", r.organisation),
        state: r.state.to_wire(),
        create_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
        submit_time: r.submitted_at.map(timestamp),
        version: r.version,
        decision_note: r.decision_note.clone().unwrap_or_default(),
        ..content_to_proto(&r.content)
    }
}

/// Copies the fields named by `paths` from `$src` into `$dst`; an unknown
/// path is a violation of `update_mask`.
macro_rules! copy_masked {
    ($dst:expr, $src:expr, $paths:expr, $violations:expr, [$($field:ident),+ $(,)?]) => {
        for path in $paths {
            match path.as_str() {
                $(stringify!($field) => $dst.$field = $src.$field.clone(),)+
                other => $violations.add(
                    "update_mask",
                    format!("`{other}` is not a field that can be updated"),
                ),
            }
        }
    };
}

fn require_mask(v: &mut Violations, paths: &[String]) {
    if paths.is_empty() {
        v.add("update_mask", "must name at least one field");
    }
}

/// Applies an update: the masked fields of `incoming` over `current`, then
/// the whole content validated again. Returns the content and the fields.
pub fn merge_content(
    current: &RequestContent,
    incoming: &pb::SupportRequest,
    paths: &[String],
) -> Result<(RequestContent, Vec<String>), Violations> {
    let mut v = Violations::new();
    require_mask(&mut v, paths);
    let mut merged = content_to_proto(current);
    copy_masked!(
        merged,
        incoming,
        paths,
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
    v.finish(())?;
    Ok((content(&merged, "support_request")?, paths.to_vec()))
}

// --- Registry ---

pub fn country(p: &pb::Country) -> Result<Country, Violations> {
    let mut v = Violations::new();
    let iso = v.country_code("country.code", &p.code);
    let display_name = v.text("country.display_name", &p.display_name, limits::NAME);
    let kind: Option<dc::CountryKind> = code(&mut v, "country.kind", p.kind);
    let required_languages = languages(&mut v, "country.required_languages", &p.required_languages);
    let required_clearance: Option<dc::Clearance> =
        code(&mut v, "country.required_clearance", p.required_clearance);
    let required_certifications = v.list(
        "country.required_certifications",
        &p.required_certifications,
        20,
        |v, f, s| v.text(f, s, limits::NAME),
    );
    let association_date = opt_date(
        &mut v,
        "country.association_date",
        p.association_date.as_ref(),
    );
    let reserve_coverage_from = opt_date(
        &mut v,
        "country.reserve_coverage_from",
        p.reserve_coverage_from.as_ref(),
    );
    let council_acts: Vec<Option<CouncilAct>> =
        v.list("country.council_acts", &p.council_acts, 50, |v, f, a| {
            let reference = v.text(&format!("{f}.reference"), &a.reference, limits::NAME);
            let valid_from = req_date(v, &format!("{f}.valid_from"), a.valid_from.as_ref());
            let valid_until = req_date(v, &format!("{f}.valid_until"), a.valid_until.as_ref());
            let act = CouncilAct {
                reference,
                valid_from: valid_from?,
                valid_until: valid_until?,
                max_support_days: (a.max_support_days > 0).then_some(a.max_support_days),
            };
            act.check(f, v);
            Some(act)
        });
    let spoc = v.text(
        "country.single_point_of_contact",
        &p.single_point_of_contact,
        0..=200,
    );
    let capability_info_received = opt_date(
        &mut v,
        "country.capability_info_received",
        p.capability_info_received.as_ref(),
    );
    let capability_info_updated = opt_date(
        &mut v,
        "country.capability_info_updated",
        p.capability_info_updated.as_ref(),
    );
    let specific_conditions = v.text(
        "country.specific_conditions",
        &p.specific_conditions,
        limits::OPTIONAL_TEXT,
    );
    if kind == Some(dc::CountryKind::MemberState)
        && (!p.council_acts.is_empty() || p.association_date.is_some())
    {
        v.add(
            "country.kind",
            "a Member State has no association agreement or Council acts",
        );
    }
    v.finish(())?;
    Ok(Country {
        code: iso,
        display_name,
        kind: kind.expect("checked"),
        required_languages,
        required_clearance: required_clearance.expect("checked"),
        required_certifications,
        association_date,
        reserve_coverage_from,
        council_acts: council_acts.into_iter().flatten().collect(),
        single_point_of_contact: (!spoc.is_empty()).then_some(spoc),
        capability_info_received,
        capability_info_updated,
        specific_conditions: (!specific_conditions.is_empty()).then_some(specific_conditions),
    })
}

pub fn country_to_proto(c: &Country) -> pb::Country {
    pb::Country {
        name: format!("countries/{}", c.code),
        code: c.code.clone(),
        display_name: c.display_name.clone(),
        kind: c.kind.to_wire(),
        required_languages: c.required_languages.clone(),
        required_clearance: c.required_clearance.to_wire(),
        required_certifications: c.required_certifications.clone(),
        association_date: c.association_date.map(date),
        reserve_coverage_from: c.reserve_coverage_from.map(date),
        council_acts: c
            .council_acts
            .iter()
            .map(|a| pb::CouncilAct {
                reference: a.reference.clone(),
                valid_from: Some(date(a.valid_from)),
                valid_until: Some(date(a.valid_until)),
                max_support_days: a.max_support_days.unwrap_or(0),
            })
            .collect(),
        single_point_of_contact: c.single_point_of_contact.clone().unwrap_or_default(),
        capability_info_received: c.capability_info_received.map(date),
        capability_info_updated: c.capability_info_updated.map(date),
        specific_conditions: c.specific_conditions.clone().unwrap_or_default(),
    }
}

pub fn merge_country(
    current: &Country,
    incoming: &pb::Country,
    paths: &[String],
) -> Result<Country, Violations> {
    let mut v = Violations::new();
    require_mask(&mut v, paths);
    let mut merged = country_to_proto(current);
    copy_masked!(
        merged,
        incoming,
        paths,
        v,
        [
            display_name,
            kind,
            required_languages,
            required_clearance,
            required_certifications,
            association_date,
            reserve_coverage_from,
            council_acts,
            single_point_of_contact,
            capability_info_received,
            capability_info_updated,
            specific_conditions,
        ]
    );
    v.finish(())?;
    country(&merged)
}

pub fn organisation(p: &pb::Organisation) -> Result<Organisation, Violations> {
    let mut v = Violations::new();
    let id = v.identifier("organisation.id", &p.id);
    let display_name = v.text("organisation.display_name", &p.display_name, limits::NAME);
    let kind: Option<dc::OrganisationKind> = code(&mut v, "organisation.kind", p.kind);
    let country = v.country_code("organisation.country", &p.country);
    v.finish(())?;
    Ok(Organisation {
        id,
        display_name,
        kind: kind.expect("checked"),
        country,
        single_point_of_contact: p.single_point_of_contact,
    })
}

pub fn organisation_to_proto(o: &Organisation) -> pb::Organisation {
    pb::Organisation {
        name: format!("organisations/{}", o.id),
        id: o.id.clone(),
        display_name: o.display_name.clone(),
        kind: o.kind.to_wire(),
        country: o.country.clone(),
        single_point_of_contact: o.single_point_of_contact,
    }
}

pub fn merge_organisation(
    current: &Organisation,
    incoming: &pb::Organisation,
    paths: &[String],
) -> Result<Organisation, Violations> {
    let mut v = Violations::new();
    require_mask(&mut v, paths);
    let mut merged = organisation_to_proto(current);
    copy_masked!(
        merged,
        incoming,
        paths,
        v,
        [display_name, kind, country, single_point_of_contact]
    );
    v.finish(())?;
    organisation(&merged)
}

pub fn provider(p: &pb::Provider) -> Result<Provider, Violations> {
    let mut v = Violations::new();
    let id = v.identifier("provider.id", &p.id);
    let display_name = v.text("provider.display_name", &p.display_name, limits::NAME);
    let country = v.country_code("provider.country", &p.country);
    let status: Option<dc::ProviderStatus> = code(&mut v, "provider.status", p.status);
    let services: Vec<Option<dc::ServiceType>> = v.list(
        "provider.services",
        &p.services,
        dc::ServiceType::ALL.len(),
        |v, f, s| code(v, f, *s),
    );
    v.distinct("provider.services", &p.services);
    if p.services.is_empty() {
        v.add("provider.services", "must name at least one service");
    }
    let langs = languages(&mut v, "provider.languages", &p.languages);
    let deployable_countries = countries(
        &mut v,
        "provider.deployable_countries",
        &p.deployable_countries,
        60,
    );
    let clearance: Option<dc::Clearance> = code(&mut v, "provider.clearance", p.clearance);
    let certifications = v.list(
        "provider.certifications",
        &p.certifications,
        20,
        |v, f, s| v.text(f, s, limits::NAME),
    );
    let hours_to_deploy = v.number("provider.hours_to_deploy", p.hours_to_deploy, 1..=720);
    let conflict_organisations = identifiers(
        &mut v,
        "provider.conflict_organisations",
        &p.conflict_organisations,
        100,
    );
    let conflict_countries = countries(
        &mut v,
        "provider.conflict_countries",
        &p.conflict_countries,
        60,
    );
    v.finish(())?;
    Ok(Provider {
        id,
        display_name,
        country,
        status: status.expect("checked"),
        services: services.into_iter().flatten().collect(),
        languages: langs,
        deployable_countries,
        clearance: clearance.expect("checked"),
        certifications,
        hours_to_deploy,
        conflict_organisations,
        conflict_countries,
    })
}

pub fn provider_to_proto(p: &Provider) -> pb::Provider {
    pb::Provider {
        name: format!("providers/{}", p.id),
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        country: p.country.clone(),
        status: p.status.to_wire(),
        services: p.services.iter().map(|s| s.to_wire()).collect(),
        languages: p.languages.clone(),
        deployable_countries: p.deployable_countries.clone(),
        clearance: p.clearance.to_wire(),
        certifications: p.certifications.clone(),
        hours_to_deploy: p.hours_to_deploy,
        conflict_organisations: p.conflict_organisations.clone(),
        conflict_countries: p.conflict_countries.clone(),
    }
}

pub fn merge_provider(
    current: &Provider,
    incoming: &pb::Provider,
    paths: &[String],
) -> Result<Provider, Violations> {
    let mut v = Violations::new();
    require_mask(&mut v, paths);
    let mut merged = provider_to_proto(current);
    copy_masked!(
        merged,
        incoming,
        paths,
        v,
        [
            display_name,
            country,
            status,
            services,
            languages,
            deployable_countries,
            clearance,
            certifications,
            hours_to_deploy,
            conflict_organisations,
            conflict_countries,
        ]
    );
    v.finish(())?;
    provider(&merged)
}

// --- Dispatch ---

bridge!(crate::domain::dispatch::OfferState => OfferState {
    Offered = Offered,
    Accepted = Accepted,
    Declined = Declined,
    Expired = Expired,
    Withdrawn = OfferWithdrawn,
    Active = OfferActive,
    Delivered = Delivered,
});
bridge!(crate::domain::dispatch::DeclineReason => DeclineReason {
    NoCapacity, ConflictOfInterest, LacksExpertise, CannotMeetDeadline, OtherReason
});

pub fn commitment(p: &pb::CapacityCommitment) -> Result<CapacityCommitment, Violations> {
    let mut v = Violations::new();
    let provider = v.identifier(
        "capacity_commitment.provider",
        p.provider.trim_start_matches("providers/"),
    );
    let service: Option<dc::ServiceType> = code(&mut v, "capacity_commitment.service", p.service);
    let person_days = v.number(
        "capacity_commitment.person_days",
        p.person_days,
        1..=100_000,
    );
    let start = req_date(
        &mut v,
        "capacity_commitment.period_start",
        p.period_start.as_ref(),
    );
    let end = req_date(
        &mut v,
        "capacity_commitment.period_end",
        p.period_end.as_ref(),
    );
    v.finish(())?;
    Ok(CapacityCommitment {
        id: 0,
        provider,
        service: service.expect("checked"),
        person_days,
        held: 0,
        consumed: 0,
        period_start: start.expect("checked"),
        period_end: end.expect("checked"),
    })
}

pub fn commitment_to_proto(c: &CapacityCommitment) -> pb::CapacityCommitment {
    pb::CapacityCommitment {
        name: format!("providers/{}/capacityCommitments/{}", c.provider, c.id),
        provider: format!("providers/{}", c.provider),
        service: c.service.to_wire(),
        person_days: c.person_days,
        period_start: Some(date(c.period_start)),
        period_end: Some(date(c.period_end)),
        held_person_days: c.held,
        consumed_person_days: c.consumed,
        free_person_days: c.free(),
    }
}

pub fn merge_commitment(
    current: &CapacityCommitment,
    incoming: &pb::CapacityCommitment,
    paths: &[String],
) -> Result<CapacityCommitment, Violations> {
    let mut v = Violations::new();
    require_mask(&mut v, paths);
    let mut merged = commitment_to_proto(current);
    copy_masked!(
        merged,
        incoming,
        paths,
        v,
        [person_days, period_start, period_end]
    );
    v.finish(())?;
    Ok(CapacityCommitment {
        id: current.id,
        ..commitment(&merged)?
    })
}

/// An offer as its provider sees it: the redacted summary always; the full
/// request only once the offer is accepted.
pub fn offer_to_proto(o: &Offer, request: &SupportRequest, now: DateTime<Utc>) -> pb::Offer {
    let line = request.granted_lines.get(o.line_index as usize);
    pb::Offer {
        name: format!("offers/{}", o.id),
        provider: format!("providers/{}", o.provider),
        support_request: format!("supportRequests/{}", o.support_request_id),
        line_index: o.line_index,
        state: o.state.to_wire(),
        accept_deadline: Some(timestamp(o.accept_deadline)),
        summary: Some(pb::RedactedRequest {
            category: request.content.category.to_wire(),
            service: line.map(|l| l.service.to_wire()).unwrap_or(0),
            country: request.country.clone(),
            severity: request.content.severity.to_wire(),
            person_days: o.person_days,
        }),
        support_request_detail: o
            .state
            .is_assignment()
            .then(|| request_to_proto(request, now)),
        agreement: o.agreement.as_ref().map(|a| pb::Agreement {
            reference: a.reference.clone(),
            template_version: a.template_version.clone(),
            sign_time: Some(timestamp(a.signed_at)),
            liability_conditions: a.liability_conditions.clone(),
            affected_entity: a.affected_entity.clone().unwrap_or_default(),
        }),
        decline_reason: o.decline_reason.map(|r| r.to_wire()).unwrap_or(0),
        delivery_note: o.delivery_note.clone().unwrap_or_default(),
        create_time: Some(timestamp(o.created_at)),
    }
}

pub fn agreement(p: Option<&pb::Agreement>, now: DateTime<Utc>) -> Result<Agreement, Violations> {
    let mut v = Violations::new();
    let Some(a) = p else {
        return Err(Violations::one("agreement", "is required"));
    };
    let reference = v.text("agreement.reference", &a.reference, limits::NAME);
    let template_version = v.text("agreement.template_version", &a.template_version, 1..=50);
    let signed_at = time(&mut v, "agreement.sign_time", a.sign_time.as_ref());
    if let Some(t) = signed_at {
        v.past_time("agreement.sign_time", t, now);
    }
    let liability = v.text(
        "agreement.liability_conditions",
        &a.liability_conditions,
        1..=limits::PLANNED_USE.end().to_owned(),
    );
    let entity = v.text("agreement.affected_entity", &a.affected_entity, 0..=200);
    v.finish(())?;
    Ok(Agreement {
        reference,
        template_version,
        signed_at: signed_at.expect("checked"),
        liability_conditions: liability,
        affected_entity: (!entity.is_empty()).then_some(entity),
    })
}
