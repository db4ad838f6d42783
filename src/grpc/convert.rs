//! The gRPC door's conversions: a proto message becomes the raw fields of a
//! domain command (`domain::command`), whose constructor checks them; domain
//! values become proto messages. No limit of a command is decided here.

use chrono::{DateTime, NaiveDate, Utc};
use prost_types::Timestamp;

use super::pb;
use crate::domain::codes as dc;
use crate::domain::command::UpdateFields;
use crate::domain::command::decision::{
    AuthoriseFields, GrantFields, OverrideFields, ReasonFields, RejectFields,
};
use crate::domain::command::dispatch::{AgreementFields, LinePlanFields, PlanFields};
use crate::domain::command::registry::{
    CommitmentFields, CouncilActFields, CountryFields, OrganisationFields, ProviderFields,
};
use crate::domain::command::request::{
    ContactFields, ContentFields, EditFields, EditedFields, EntityFields, LineFields,
};
use crate::domain::dispatch::{CapacityCommitment, Offer};
use crate::domain::eligibility::{Decision, Outcome};
use crate::domain::names;
use crate::domain::priority::PriorityScore;
use crate::domain::registry::{Country, Organisation, Provider};
use crate::domain::request::{
    Assessment, Criterion, CriterionReason, RequestContent, RequestState, ServiceLine,
    SupportRequest,
};
use crate::domain::validation::{Choice, Day, Instant, Violations};
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
    WaitingCapacity, Dispatched, Completed, Reported, Closed, Withdrawn, AwaitingTransmission
});
bridge!(crate::domain::eligibility::RuleKind => RuleKind { LegalBar, Finding });
bridge!(crate::domain::preparedness::PreparednessService => PreparednessServiceType {
    Exercise, Training, ThreatAssessment, ReadinessReview
});
bridge!(crate::domain::preparedness::ConversionState => ConversionState {
    Proposed = ConversionProposed, Accepted = ConversionAccepted, Declined = ConversionDeclined,
    Withdrawn = ConversionWithdrawn, Lapsed = ConversionLapsed, Delivered = ConversionDelivered
});
bridge!(crate::domain::usage::UsageView => UsageView { NisCooperationGroup, Council });
bridge!(Criterion => Criterion {
    ScaleAndSeverity, EssentialEntities, Impact, CrossBorder, OwnMeasures
});

/// An enum field as received: 0 (UNSPECIFIED) is unset, a number of no
/// value is unknown.
pub fn choice<T: Wire>(value: i32) -> Choice<T> {
    match (value, T::from_wire(value)) {
        (0, _) => Choice::Unset,
        (_, Some(known)) => Choice::Known(known),
        (n, None) => Choice::Unknown(n.to_string()),
    }
}

pub fn instant(t: Option<&Timestamp>) -> Instant {
    t.map_or(Instant::Unset, |t| Instant::Unix {
        seconds: t.seconds,
        nanos: t.nanos,
    })
}

/// A date as received: absent or all zero is unset.
pub fn day(d: Option<&PbDate>) -> Day {
    match d {
        None => Day::Unset,
        Some(d) => Day::Ymd {
            year: d.year,
            month: d.month,
            day: d.day,
        },
    }
}

pub fn mask(m: Option<prost_types::FieldMask>) -> Vec<String> {
    m.map(|m| m.paths).unwrap_or_default()
}

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn date(d: NaiveDate) -> PbDate {
    use chrono::Datelike;
    PbDate {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// A request's content as received.
pub fn content_fields(p: &pb::SupportRequest) -> ContentFields {
    ContentFields {
        title: p.title.clone(),
        description: p.description.clone(),
        category: choice(p.category),
        classification: choice(p.classification),
        capacity_exceeded_declared: p.capacity_exceeded_declared,
        severity: choice(p.severity),
        detect_time: instant(p.detect_time.as_ref()),
        affected_entities: p
            .affected_entities
            .iter()
            .map(|e| EntityFields {
                name: e.name.clone(),
                sector: choice(e.sector),
                entity_type: choice(e.entity_type),
                country: e.country.clone(),
            })
            .collect(),
        countries_affected: p.countries_affected.clone(),
        potential_impact: p.potential_impact.clone(),
        mitigation_measures: p.mitigation_measures.clone(),
        other_support: p.other_support.clone(),
        service_lines: p
            .service_lines
            .iter()
            .map(|l| LineFields {
                service: choice(l.service),
                person_days: l.person_days.into(),
                languages: l.languages.clone(),
                clearance: choice(l.clearance),
                planned_use: l.planned_use.clone(),
            })
            .collect(),
        tlp: choice(p.tlp),
        contact: p.contact.as_ref().map(|c| ContactFields {
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
        }),
    }
}

/// The content of a request as CreateSupportRequest checks it now.
pub fn content(p: &pb::SupportRequest, prefix: &str) -> Result<RequestContent, Violations> {
    RequestContent::parse(&content_fields(p), prefix, Utc::now())
}

/// UpdateSupportRequest as received.
pub fn edit_fields(b: &pb::UpdateSupportRequestRequest) -> EditFields {
    UpdateFields {
        record: b.support_request.as_ref().map(|r| EditedFields {
            name: r.name.clone(),
            content: content_fields(r),
        }),
        update_mask: mask(b.update_mask.clone()),
    }
}

pub fn authorise_fields(b: &pb::AuthoriseSupportRequest) -> AuthoriseFields {
    AuthoriseFields {
        granted_lines: b
            .granted_lines
            .iter()
            .map(|l| GrantFields {
                service: choice(l.service),
                person_days: l.person_days.into(),
            })
            .collect(),
        duration_days: b.duration_days.into(),
        note: b.note.clone(),
        version: b.version,
        overrides: b
            .overrides
            .iter()
            .map(|o| OverrideFields {
                rule_id: o.rule_id.clone(),
                justification: o.justification.clone(),
            })
            .collect(),
        reasons: reason_fields(&b.reasons),
        covered_entities: b.covered_entities.clone(),
    }
}

pub fn reject_fields(b: &pb::RejectSupportRequestRequest) -> RejectFields {
    RejectFields {
        name: b.name.clone(),
        reason: b.reason.clone(),
        version: b.version,
        reasons: reason_fields(&b.reasons),
        conditions_met: b.conditions_met,
    }
}

fn reason_fields(reasons: &[pb::CriterionReason]) -> Vec<ReasonFields> {
    reasons
        .iter()
        .map(|r| ReasonFields {
            criterion: choice(r.criterion),
            reason: r.reason.clone(),
        })
        .collect()
}

pub fn plan_fields(b: &pb::ApproveDispatchRequest) -> PlanFields {
    PlanFields {
        plan: b
            .plan
            .iter()
            .map(|l| LinePlanFields {
                line_index: l.line_index,
                provider: l.provider.clone(),
                fallbacks: l.fallbacks.clone(),
                justification: l.justification.clone(),
            })
            .collect(),
        version: b.version,
    }
}

pub fn agreement_fields(a: &pb::Agreement) -> AgreementFields {
    AgreementFields {
        reference: a.reference.clone(),
        template_version: a.template_version.clone(),
        sign_time: instant(a.sign_time.as_ref()),
        liability_conditions: a.liability_conditions.clone(),
        affected_entity: a.affected_entity.clone(),
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
                kind: r.kind.to_wire(),
            })
            .collect(),
        recommend_rejection: d.recommends_rejection(),
        entities: d
            .entities
            .iter()
            .map(|e| pb::EntityCoverage {
                name: e.name.clone(),
                covered: e.covered,
                reason: e.reason.clone(),
            })
            .collect(),
    }
}

fn criterion_reasons_to_proto(reasons: &[CriterionReason]) -> Vec<pb::CriterionReason> {
    reasons
        .iter()
        .map(|r| pb::CriterionReason {
            criterion: r.criterion.to_wire(),
            reason: r.reason.clone(),
        })
        .collect()
}

pub fn assessment_to_proto(a: &Assessment) -> pb::DecisionAssessment {
    pb::DecisionAssessment {
        conditions_met: a.conditions_met,
        reasons: criterion_reasons_to_proto(&a.reasons),
        overrides: a
            .overrides
            .iter()
            .map(|o| pb::RuleOverride {
                rule_id: o.rule_id.clone(),
                justification: o.justification.clone(),
            })
            .collect(),
        covered_entities: a.covered_entities.clone(),
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
        name: names::support_request(&r.id),
        reference: r.reference.clone(),
        organisation: names::organisation(&r.organisation),
        state: r.state.to_wire(),
        create_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
        submit_time: r.submitted_at.map(timestamp),
        version: r.version,
        decision_note: r.decision_note.clone().unwrap_or_default(),
        contact_point: r
            .contact_point
            .as_deref()
            .map(names::organisation)
            .unwrap_or_default(),
        transmission: r.transmission.as_ref().map(|t| pb::Transmission {
            transmitted_by: names::organisation(&t.by),
            transmit_time: Some(timestamp(t.at)),
            note: t.note.clone(),
        }),
        assessment: r.assessment.as_ref().map(assessment_to_proto),
        support_period: r.support.as_ref().map(|p| pb::SupportPeriod {
            start_time: Some(timestamp(p.starts)),
            end_time: Some(timestamp(p.ends)),
            council_act: p.council_act.clone().unwrap_or_default(),
            ended: p.ended,
        }),
        ..content_to_proto(&r.content)
    }
}

// --- Registry ---

pub fn country_fields(p: &pb::Country) -> CountryFields {
    CountryFields {
        name: p.name.clone(),
        code: p.code.clone(),
        display_name: p.display_name.clone(),
        kind: choice(p.kind),
        required_languages: p.required_languages.clone(),
        required_clearance: choice(p.required_clearance),
        required_certifications: p.required_certifications.clone(),
        association_date: day(p.association_date.as_ref()),
        reserve_coverage_from: day(p.reserve_coverage_from.as_ref()),
        council_acts: p
            .council_acts
            .iter()
            .map(|a| CouncilActFields {
                reference: a.reference.clone(),
                valid_from: day(a.valid_from.as_ref()),
                valid_until: day(a.valid_until.as_ref()),
                max_support_days: a.max_support_days.into(),
                repeal_date: day(a.repeal_date.as_ref()),
            })
            .collect(),
        single_point_of_contact: p.single_point_of_contact.clone(),
        capability_info_received: day(p.capability_info_received.as_ref()),
        capability_info_updated: day(p.capability_info_updated.as_ref()),
        specific_conditions: p.specific_conditions.clone(),
    }
}

pub fn country_to_proto(c: &Country) -> pb::Country {
    pb::Country {
        name: names::country(&c.code),
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
                repeal_date: a.repealed_on.map(date),
            })
            .collect(),
        single_point_of_contact: c.single_point_of_contact.clone().unwrap_or_default(),
        capability_info_received: c.capability_info_received.map(date),
        capability_info_updated: c.capability_info_updated.map(date),
        specific_conditions: c.specific_conditions.clone().unwrap_or_default(),
    }
}

pub fn organisation_fields(p: &pb::Organisation) -> OrganisationFields {
    OrganisationFields {
        name: p.name.clone(),
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        kind: choice(p.kind),
        country: p.country.clone(),
    }
}

pub fn organisation_to_proto(o: &Organisation) -> pb::Organisation {
    pb::Organisation {
        name: names::organisation(&o.id),
        id: o.id.clone(),
        display_name: o.display_name.clone(),
        kind: o.kind.to_wire(),
        country: o.country.clone(),
        single_point_of_contact: o.single_point_of_contact,
    }
}

pub fn provider_fields(p: &pb::Provider) -> ProviderFields {
    ProviderFields {
        name: p.name.clone(),
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        country: p.country.clone(),
        status: choice(p.status),
        services: p.services.iter().map(|s| choice(*s)).collect(),
        languages: p.languages.clone(),
        deployable_countries: p.deployable_countries.clone(),
        clearance: choice(p.clearance),
        certifications: p.certifications.clone(),
        hours_to_deploy: p.hours_to_deploy.into(),
        conflict_organisations: p.conflict_organisations.clone(),
        conflict_countries: p.conflict_countries.clone(),
    }
}

pub fn provider_to_proto(p: &Provider) -> pb::Provider {
    pb::Provider {
        name: names::provider(&p.id),
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

pub fn commitment_fields(p: &pb::CapacityCommitment) -> CommitmentFields {
    CommitmentFields {
        name: p.name.clone(),
        provider: p.provider.clone(),
        service: choice(p.service),
        person_days: p.person_days.into(),
        period_start: day(p.period_start.as_ref()),
        period_end: day(p.period_end.as_ref()),
    }
}

pub fn commitment_to_proto(c: &CapacityCommitment) -> pb::CapacityCommitment {
    pb::CapacityCommitment {
        name: names::capacity_commitment(&c.provider, c.id),
        provider: names::provider(&c.provider),
        service: c.service.to_wire(),
        person_days: c.person_days,
        period_start: Some(date(c.period_start)),
        period_end: Some(date(c.period_end)),
        held_person_days: c.held,
        consumed_person_days: c.consumed,
        free_person_days: c.free(),
    }
}

/// An offer as its provider sees it: the redacted summary always; the full
/// request only once the offer is accepted.
pub fn offer_to_proto(o: &Offer, request: &SupportRequest, now: DateTime<Utc>) -> pb::Offer {
    let line = request.granted_lines.get(o.line_index as usize);
    pb::Offer {
        name: names::offer(&o.id),
        provider: names::provider(&o.provider),
        support_request: names::support_request(&o.support_request_id),
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

/// ProposeConversion's conversion as its command's raw fields.
pub fn conversion_fields(
    c: &pb::Conversion,
) -> crate::domain::command::preparedness::ProposeConversionFields {
    crate::domain::command::preparedness::ProposeConversionFields {
        capacity_commitment: c.capacity_commitment.clone(),
        organisation: c.organisation.clone(),
        preparedness_service: choice(c.preparedness_service),
        person_days: crate::domain::validation::Count::Number(c.person_days.into()),
        description: c.description.clone(),
    }
}
