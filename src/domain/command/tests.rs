//! Every constructor, on any input: a value it accepts converts back into
//! fields that it accepts again as the same value; a refusal names fields.

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::decision::{
    AskFields, AskInformation, AuthoriseFields, AuthoriseSupport, Authorising, GrantFields, Reject,
    RejectFields,
};
use super::dispatch::{
    AgreementFields, Complete, CompleteFields, Decline, DeclineFields, RecordAgreement,
    RecordAgreementFields,
};
use super::registry::{
    CommitmentFields, CouncilActFields, CountryFields, OrganisationFields, ProviderFields,
};
use super::request::{
    ContactFields, ContentFields, CreateFields, CreateRequest, EntityFields, FileReport,
    LineFields, ReportFields, Withdraw, WithdrawFields,
};
use crate::domain::codes::{
    Classification, Clearance, CountryKind, EntityType, IncidentCategory, OrganisationKind,
    ProviderStatus, Sector, ServiceType, Severity, Tlp,
};
use crate::domain::dispatch::{CapacityCommitment, DeclineReason};
use crate::domain::registry::{AnyRegistered, CouncilAct, Country, Organisation, Provider};
use crate::domain::request::{RequestContent, RequestState, SupportRequest};
use crate::domain::validation::{Choice, Count, Day, Instant, Violations};

fn now() -> DateTime<Utc> {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

/// Texts, mostly acceptable, some not.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z][a-zA-Z0-9 .,@+-]{2,40}",
        1 => Just(String::new()),
        1 => "\\PC{0,60}",
        1 => Just(" \t\n".to_owned()),
        1 => Just("a\u{0}b".to_owned()),
        1 => (1usize..3).prop_map(|n| "é".repeat(n * 1_500)),
    ]
}

fn code<T: Copy + std::fmt::Debug + 'static>(
    all: &'static [T],
) -> impl Strategy<Value = Choice<T>> {
    prop_oneof![
        1 => Just(Choice::Unset),
        4 => prop::sample::select(all).prop_map(Choice::Known),
        1 => Just(Choice::Unknown("99".to_owned())),
    ]
}

fn count() -> impl Strategy<Value = Count> {
    prop_oneof![
        6 => (0u64..400).prop_map(Count::Number),
        1 => any::<u64>().prop_map(Count::Number),
        2 => "[0-9 ]{0,4}".prop_map(Count::Text),
        1 => text().prop_map(Count::Text),
    ]
}

fn instant() -> impl Strategy<Value = Instant> {
    prop_oneof![
        Just(Instant::Unset),
        (900_000_000i64..1_900_000_000, 0..1_000_000_000i32)
            .prop_map(|(seconds, nanos)| Instant::Unix { seconds, nanos }),
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Instant::Unix { seconds, nanos }),
        Just(Instant::Text(
            "2026-01-02T03:04:05.123456789+02:00".to_owned()
        )),
        text().prop_map(Instant::Text),
    ]
}

fn day() -> impl Strategy<Value = Day> {
    prop_oneof![
        1 => Just(Day::Unset),
        6 => (1990i32..2040, 0i32..14, 0i32..32).prop_map(|(year, month, day)| Day::Ymd {
            year,
            month,
            day
        }),
        1 => (any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(year, month, day)| Day::Ymd {
            year,
            month,
            day
        }),
        2 => Just(Day::Text("2026-07-14".to_owned())),
        1 => text().prop_map(Day::Text),
    ]
}

fn country_code() -> impl Strategy<Value = String> {
    prop_oneof![4 => Just("MD".to_owned()), 1 => Just("RO".to_owned()), 1 => text()]
}

fn language() -> impl Strategy<Value = String> {
    prop_oneof![4 => Just("ro".to_owned()), 1 => Just("en".to_owned()), 1 => text()]
}

/// `base`, or now and then another value from `other`.
fn or<T: Clone + std::fmt::Debug + 'static>(
    base: T,
    other: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = T> {
    prop::option::weighted(0.15, other).prop_map(move |o| o.unwrap_or_else(|| base.clone()))
}

/// A valid request's content with any of its fields replaced, now and
/// then, by another value, valid or not.
fn content() -> impl Strategy<Value = ContentFields> {
    let base = request().content.to_fields();
    let entity = (
        text(),
        code(Sector::ALL),
        code(EntityType::ALL),
        country_code(),
    )
        .prop_map(|(name, sector, entity_type, country)| EntityFields {
            name,
            sector,
            entity_type,
            country,
        });
    let line = (
        code(ServiceType::ALL),
        count(),
        prop::collection::vec(language(), 0..3),
        code(Clearance::ALL),
        text(),
    )
        .prop_map(
            |(service, person_days, languages, clearance, planned_use)| LineFields {
                service,
                person_days,
                languages,
                clearance,
                planned_use,
            },
        );
    (
        (
            or(base.title.clone(), text()),
            or(base.description.clone(), text()),
            or(base.category.clone(), code(IncidentCategory::ALL)),
            or(base.classification.clone(), code(Classification::ALL)),
            any::<bool>(),
            or(base.severity.clone(), code(Severity::ALL)),
            or(base.detect_time.clone(), instant()),
        ),
        (
            or(
                base.affected_entities.clone(),
                prop::collection::vec(entity, 0..3),
            ),
            or(
                base.countries_affected.clone(),
                prop::collection::vec(country_code(), 0..3),
            ),
            or(base.potential_impact.clone(), text()),
            or(base.mitigation_measures.clone(), text()),
            or(base.other_support.clone(), text()),
            or(
                base.service_lines.clone(),
                prop::collection::vec(line, 0..3),
            ),
            or(base.tlp.clone(), code(Tlp::ALL)),
            or(
                base.contact.clone(),
                prop::option::of((text(), text(), text())).prop_map(|c| {
                    c.map(|(name, email, phone)| ContactFields { name, email, phone })
                }),
            ),
        ),
    )
        .prop_map(
            |(
                (title, description, category, classification, declared, severity, detect_time),
                (
                    affected_entities,
                    countries_affected,
                    potential_impact,
                    mitigation_measures,
                    other_support,
                    service_lines,
                    tlp,
                    contact,
                ),
            )| ContentFields {
                title,
                description,
                category,
                classification,
                capacity_exceeded_declared: declared,
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
            },
        )
}

/// A refusal names at least one field, each with a reason.
fn refusal(v: &Violations) {
    assert!(!v.is_empty());
    for x in v.iter() {
        assert!(!x.field.is_empty() && !x.description.is_empty(), "{x:?}");
    }
}

/// A value accepted converts back into fields that give it again; a
/// refusal names fields.
fn converts_back<T: PartialEq + std::fmt::Debug>(
    parsed: Result<T, Violations>,
    again: impl FnOnce(&T) -> Result<T, Violations>,
) -> Result<(), TestCaseError> {
    match parsed {
        Ok(value) => prop_assert_eq!(again(&value), Ok(value)),
        Err(v) => refusal(&v),
    }
    Ok(())
}

/// A request asking for incident response (20 days) and forensics (10).
fn request() -> SupportRequest {
    let content = RequestContent::parse(
        &ContentFields {
            title: "Ransomware".into(),
            description: "Encrypted".into(),
            category: IncidentCategory::Ransomware.into(),
            classification: Classification::Significant.into(),
            severity: Severity::High.into(),
            detect_time: Instant::Text("2026-11-28T00:00:00Z".into()),
            service_lines: [
                (ServiceType::IncidentResponse, 20),
                (ServiceType::DigitalForensics, 10),
            ]
            .into_iter()
            .map(|(service, days)| LineFields {
                service: service.into(),
                person_days: days.into(),
                clearance: Clearance::None.into(),
                ..Default::default()
            })
            .collect(),
            tlp: Tlp::Amber.into(),
            contact: Some(ContactFields {
                name: "Duty".into(),
                email: "duty@example.md".into(),
                phone: String::new(),
            }),
            ..Default::default()
        },
        "support_request",
        now(),
    )
    .unwrap();
    SupportRequest {
        id: "r".into(),
        reference: "CSR-2026-000001".into(),
        organisation: "md-spoc".into(),
        organisation_kind: OrganisationKind::TcAuthority,
        country: "MD".into(),
        request_id: "x".into(),
        state: RequestState::Referred,
        version: 3,
        content,
        created_at: now(),
        updated_at: now(),
        submitted_at: Some(now()),
        decision_note: None,
        evaluations: vec![],
        priority: None,
        response_deadline: None,
        decided_at: None,
        granted_lines: vec![],
        granted_duration_days: None,
        completed_at: None,
        report_overdue: false,
        summary_report: None,
        contact_point: None,
        transmission: None,
        assessment: None,
        support: None,
    }
}

#[test]
fn one_answer_names_every_field_at_fault_the_clock_and_the_cap_included() {
    let mut fields = request().content.to_fields();
    fields.title = String::new();
    fields.detect_time = Instant::Text("2099-01-01T00:00:00Z".into());
    let create = CreateFields {
        request_id: "a b".into(),
        content: Some(fields),
    };
    let refused = CreateRequest::parse(&create, now()).unwrap_err();
    let named: Vec<_> = refused.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        named,
        [
            "request_id",
            "support_request.title",
            "support_request.detect_time"
        ]
    );

    let request = request();
    let act = CouncilAct {
        reference: "(EU) 2025/1458".into(),
        valid_from: NaiveDate::from_ymd_opt(2026, 7, 14).unwrap(),
        valid_until: NaiveDate::from_ymd_opt(2027, 7, 13).unwrap(),
        max_support_days: Some(90),
        repealed_on: None,
    };
    let grant = AuthoriseFields {
        granted_lines: vec![GrantFields {
            service: ServiceType::IncidentResponse.into(),
            person_days: 25.into(),
        }],
        duration_days: 120.into(),
        note: "n".repeat(2_001),
        version: 0,
        ..Default::default()
    };
    let refused = AuthoriseSupport::parse(
        &grant,
        &Authorising {
            request: &request,
            act: Some(&act),
        },
    )
    .unwrap_err();
    let named: Vec<_> = refused.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        named,
        ["granted_lines[0].person_days", "duration_days", "note"]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_request_accepted_converts_back_to_itself(c in content(), id in "[a-z0-9-]{1,20}") {
        let fields = CreateFields { request_id: id, content: Some(c) };
        converts_back(CreateRequest::parse(&fields, now()), |c| {
            CreateRequest::parse(&c.to_fields(), now())
        })?;
    }

    #[test]
    fn a_country_accepted_converts_back_to_itself(
        code in or("MD".to_owned(), country_code()),
        name in or("Moldova".to_owned(), text()),
        kind in or(CountryKind::ThirdCountry.into(), code(CountryKind::ALL)),
        languages in prop::collection::vec(language(), 0..3),
        clearance in or(Clearance::None.into(), code(Clearance::ALL)),
        association in day(),
        acts in prop::collection::vec(
            (
                text(),
                or(Day::Text("2026-07-14".into()), day()),
                or(Day::Text("2027-07-13".into()), day()),
                or(Count::Number(90), count()),
            ),
            0..3,
        ),
        spoc in text(),
    ) {
        let fields = CountryFields {
            code,
            display_name: name,
            kind,
            required_languages: languages,
            required_clearance: clearance,
            association_date: association,
            council_acts: acts
                .into_iter()
                .map(|(reference, valid_from, valid_until, max_support_days)| CouncilActFields {
                    reference, valid_from, valid_until, max_support_days,
                    ..Default::default()
                })
                .collect(),
            single_point_of_contact: spoc,
            ..Default::default()
        };
        converts_back(Country::parse(Some(&fields)), |c| Country::parse(Some(&c.to_fields())))?;
    }

    #[test]
    fn an_organisation_and_a_provider_accepted_convert_back(
        id in or("md-spoc".to_owned(), text()),
        name in or("Moldova SPOC".to_owned(), text()),
        kind in or(OrganisationKind::TcAuthority.into(), code(OrganisationKind::ALL)),
        country in country_code(),
        status in or(ProviderStatus::Active.into(), code(ProviderStatus::ALL)),
        services in or(
            vec![ServiceType::IncidentResponse.into()],
            prop::collection::vec(code(ServiceType::ALL), 0..3),
        ),
        hours in or(Count::Number(24), count()),
        conflicts in or(vec![], prop::collection::vec(text(), 0..2)),
    ) {
        let organisation = OrganisationFields {
            id: id.clone(), display_name: name.clone(), kind, country: country.clone(),
            ..Default::default()
        };
        converts_back(Organisation::parse(Some(&organisation), &AnyRegistered), |o| {
            Organisation::parse(Some(&o.to_fields()), &AnyRegistered)
        })?;
        let provider = ProviderFields {
            id, display_name: name, country, status, services,
            clearance: Clearance::None.into(), hours_to_deploy: hours,
            conflict_organisations: conflicts,
            ..Default::default()
        };
        converts_back(Provider::parse(Some(&provider)), |p| Provider::parse(Some(&p.to_fields())))?;
    }

    #[test]
    fn a_commitment_and_an_agreement_accepted_convert_back(
        provider in or("providers/nordic-ir".to_owned(), text()),
        service in or(ServiceType::IncidentResponse.into(), code(ServiceType::ALL)),
        days in or(Count::Number(100), count()),
        start in or(Day::Text("2026-01-01".into()), day()),
        end in or(Day::Text("2026-12-31".into()), day()),
        reference in or("SA-1".to_owned(), text()),
        signed in or(Instant::Text("2026-11-01T00:00:00Z".into()), instant()),
        liability in or("Art. 16(6)".to_owned(), text()),
    ) {
        let commitment = CommitmentFields {
            provider, service, person_days: days, period_start: start, period_end: end,
            ..Default::default()
        };
        converts_back(CapacityCommitment::parse(Some(&commitment), &AnyRegistered), |c| {
            CapacityCommitment::parse(Some(&c.to_fields()), &AnyRegistered)
        })?;
        let agreement = RecordAgreementFields {
            name: "offers/o-1".into(),
            agreement: Some(AgreementFields {
                reference, template_version: "v1".into(), sign_time: signed,
                liability_conditions: liability, affected_entity: String::new(),
            }),
        };
        converts_back(RecordAgreement::parse(&agreement, now()), |a| {
            RecordAgreement::parse(&a.to_fields(), now())
        })?;
    }

    #[test]
    fn the_short_commands_accepted_convert_back(
        name in prop_oneof![Just("supportRequests/r-1".to_owned()), text()],
        offer in prop_oneof![Just("offers/o-1".to_owned()), text()],
        a in text(),
        b in text(),
        c in text(),
        questions in prop::collection::vec(text(), 0..3),
        reason in code(DeclineReason::ALL),
        version in any::<i64>(),
    ) {
        let reject = RejectFields {
            name: name.clone(), reason: a.clone(), version, ..Default::default()
        };
        converts_back(Reject::parse(&reject), |x| Reject::parse(&x.to_fields()))?;
        let withdraw = WithdrawFields { name: name.clone(), reason: a.clone() };
        converts_back(Withdraw::parse(&withdraw), |x| Withdraw::parse(&x.to_fields()))?;
        let ask = AskFields { name: name.clone(), questions, version };
        converts_back(AskInformation::parse(&ask), |x| AskInformation::parse(&x.to_fields()))?;
        let report = ReportFields {
            name, service_provided: a.clone(), results: b.clone(), lessons_learned: c,
        };
        converts_back(FileReport::parse(&report), |x| FileReport::parse(&x.to_fields()))?;
        let decline = DeclineFields { name: offer.clone(), reason, note: b };
        converts_back(Decline::parse(&decline), |x| Decline::parse(&x.to_fields()))?;
        let complete = CompleteFields { name: offer, delivery_note: a };
        converts_back(Complete::parse(&complete), |x| Complete::parse(&x.to_fields()))?;
    }

    #[test]
    fn a_grant_accepted_converts_back_to_itself(
        lines in or(
            vec![(ServiceType::IncidentResponse.into(), Count::Number(20))],
            prop::collection::vec((code(ServiceType::ALL), count()), 0..3),
        ),
        duration in or(Count::Number(60), count()),
        note in or(String::new(), text()),
        cap in prop::option::of(75u32..200),
    ) {
        let request = request();
        let act = CouncilAct {
            reference: "(EU) 2025/1458".into(),
            valid_from: NaiveDate::from_ymd_opt(2026, 7, 14).unwrap(),
            valid_until: NaiveDate::from_ymd_opt(2027, 7, 13).unwrap(),
            max_support_days: cap,
            repealed_on: None,
        };
        let at = Authorising { request: &request, act: Some(&act) };
        let fields = AuthoriseFields {
            granted_lines: lines
                .into_iter()
                .map(|(service, person_days)| GrantFields { service, person_days })
                .collect(),
            duration_days: duration,
            note,
            version: 0,
            ..Default::default()
        };
        converts_back(AuthoriseSupport::parse(&fields, &at), |g| {
            AuthoriseSupport::parse(&g.to_fields(), &at)
        })?;
    }
}

/// The requests generated are accepted about half the time, so that the
/// property above is not vacuous either way.
#[test]
fn generated_requests_are_both_accepted_and_refused() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let accepted = (0..400)
        .filter(|_| {
            let c = content().new_tree(&mut runner).unwrap().current();
            let fields = CreateFields {
                request_id: "x".into(),
                content: Some(c),
            };
            CreateRequest::parse(&fields, now()).is_ok()
        })
        .count();
    assert!((40..360).contains(&accepted), "{accepted} of 400");
}

/// Each field an import may update is one `parse_update` takes in a mask.
#[test]
fn the_updatable_fields_are_those_an_update_takes() {
    use super::registry::{
        COMMITMENT_IMPORTED, COUNTRY_UPDATABLE, ORGANISATION_UPDATABLE, PROVIDER_UPDATABLE,
    };
    use crate::domain::registry::{AnyRegistered, Lookup};
    let registry = AnyRegistered;
    let country = registry.country("ZZ").unwrap().clone();
    let provider = registry.provider("any").unwrap().clone();
    let organisation = crate::domain::registry::Organisation {
        id: "o".into(),
        display_name: "O".into(),
        kind: crate::domain::codes::OrganisationKind::MsCsirt,
        country: "ZZ".into(),
        single_point_of_contact: false,
    };
    let commitment = crate::domain::dispatch::CapacityCommitment {
        id: 1,
        provider: "any".into(),
        service: crate::domain::codes::ServiceType::IncidentResponse,
        person_days: 10,
        held: 0,
        consumed: 0,
        period_start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        period_end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    };
    let mask_refused = |v: Result<(), Violations>| {
        v.err()
            .is_some_and(|v| v.iter().any(|x| x.field == "update_mask"))
    };
    fn update<F>(record: F, fields: &[&str]) -> super::UpdateFields<F> {
        super::UpdateFields {
            record: Some(record),
            update_mask: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }
    for field in COUNTRY_UPDATABLE {
        let r = Country::parse_update(&update(country.to_fields(), &[field]), &country);
        assert!(!mask_refused(r.map(|_| ())), "{field}");
    }
    for field in ORGANISATION_UPDATABLE {
        let r = Organisation::parse_update(
            &update(organisation.to_fields(), &[field]),
            &organisation,
            &registry,
        );
        assert!(!mask_refused(r.map(|_| ())), "{field}");
    }
    for field in PROVIDER_UPDATABLE {
        let r = Provider::parse_update(&update(provider.to_fields(), &[field]), &provider);
        assert!(!mask_refused(r.map(|_| ())), "{field}");
    }
    for field in COMMITMENT_IMPORTED {
        let r = CapacityCommitment::parse_update(
            &update(commitment.to_fields(), &[field]),
            &commitment,
        );
        assert!(!mask_refused(r.map(|_| ())), "{field}");
    }
    let r = Country::parse_update(&update(country.to_fields(), &["code"]), &country);
    assert!(mask_refused(r.map(|_| ())), "an identity is not updated");
}
