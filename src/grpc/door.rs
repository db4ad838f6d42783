//! The front door's conversions, for fuzzing: arbitrary bytes decoded as
//! each message the API converts, then converted and validated as the
//! handlers do. Whatever the input, this must not panic; a refusal must be
//! `INVALID_ARGUMENT` naming only fields of the message it came in; and a
//! request that is accepted must convert back to itself. The cargo-fuzz
//! target (`fuzz/fuzz_targets/door.rs`) and the property tests below call it.

use chrono::{DateTime, Utc};
use prost::Message;
use tonic::Code;

use super::{convert, invalid, pb};
use crate::domain::command::dispatch::{RecordAgreement, RecordAgreementFields};
use crate::domain::command::preparedness::ProposeConversion;
use crate::domain::command::request::EditRequest;
use crate::domain::dispatch::CapacityCommitment;
use crate::domain::registry::{AnyRegistered, Country, Organisation, Provider};
use crate::domain::request::RequestContent;
use crate::domain::validation::Violations;

/// Runs every conversion on `data` read as each message type.
pub fn check_bytes(data: &[u8]) {
    let now = now();
    if let Ok(m) = pb::SupportRequest::decode(data) {
        check_support_request(&m);
    }
    if let Ok(m) = pb::UpdateSupportRequestRequest::decode(data) {
        check_update(&m);
    }
    if let Ok(m) = pb::Conversion::decode(data) {
        refused_or_round_trip(
            ProposeConversion::parse(&convert::conversion_fields(&m)),
            "conversion.",
            |p| {
                let again =
                    ProposeConversion::parse(&convert::conversion_fields(&pb::Conversion {
                        capacity_commitment: format!(
                            "providers/p/capacityCommitments/{}",
                            p.commitment.0
                        ),
                        organisation: p.organisation.name(),
                        preparedness_service: convert::Wire::to_wire(p.preparedness_service),
                        person_days: p.person_days,
                        description: p.description.clone(),
                        ..Default::default()
                    }))?;
                assert_eq!(again, *p, "a proposed conversion converts back to itself");
                Ok(())
            },
        );
    }
    if let Ok(m) = pb::Country::decode(data) {
        refused_or_round_trip(
            Country::parse(Some(&convert::country_fields(&m))),
            "country.",
            |c| {
                let again = Country::parse(Some(&convert::country_fields(
                    &convert::country_to_proto(c),
                )))?;
                assert_eq!(*again, **c, "a country converts back to itself");
                Ok(())
            },
        );
    }
    if let Ok(m) = pb::Organisation::decode(data) {
        let registry = AnyRegistered;
        refused_or_round_trip(
            Organisation::parse(Some(&convert::organisation_fields(&m)), &registry),
            "organisation.",
            |o| {
                let again = Organisation::parse(
                    Some(&convert::organisation_fields(
                        &convert::organisation_to_proto(o),
                    )),
                    &registry,
                )?;
                assert_eq!(*again, **o, "an organisation converts back to itself");
                Ok(())
            },
        );
    }
    if let Ok(m) = pb::Provider::decode(data) {
        refused_or_round_trip(
            Provider::parse(Some(&convert::provider_fields(&m))),
            "provider.",
            |p| {
                let again = Provider::parse(Some(&convert::provider_fields(
                    &convert::provider_to_proto(p),
                )))?;
                assert_eq!(*again, **p, "a provider converts back to itself");
                Ok(())
            },
        );
    }
    if let Ok(m) = pb::CapacityCommitment::decode(data) {
        let registry = AnyRegistered;
        refused_or_round_trip(
            CapacityCommitment::parse(Some(&convert::commitment_fields(&m)), &registry),
            "capacity_commitment.",
            |c| {
                let again = CapacityCommitment::parse(
                    Some(&convert::commitment_fields(&convert::commitment_to_proto(
                        c,
                    ))),
                    &registry,
                )?;
                assert_eq!(*again, **c, "a commitment converts back to itself");
                Ok(())
            },
        );
    }
    if let Ok(m) = pb::Agreement::decode(data) {
        let fields = RecordAgreementFields {
            name: "offers/x".into(),
            agreement: Some(convert::agreement_fields(&m)),
        };
        refused_or_round_trip(RecordAgreement::parse(&fields, now), "agreement.", |a| {
            assert_eq!(RecordAgreement::parse(&a.to_fields(), now).as_ref(), Ok(a));
            Ok(())
        });
    }
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_790_000_000, 0).expect("a valid instant")
}

/// A support request as CreateSupportRequest converts it.
pub fn check_support_request(m: &pb::SupportRequest) {
    match RequestContent::parse(&convert::content_fields(m), "support_request", now()) {
        Ok(content) => {
            let again = RequestContent::parse(
                &convert::content_fields(&convert::content_to_proto(&content)),
                "support_request",
                now(),
            )
            .expect("an accepted request converts back to an accepted request");
            assert_eq!(
                again, content,
                "an accepted request converts back to itself"
            );
        }
        Err(violations) => assert_refusal(&violations, "support_request."),
    }
}

/// An update as UpdateSupportRequest merges it over a valid request.
pub fn check_update(m: &pb::UpdateSupportRequestRequest) {
    let current = RequestContent::parse(
        &convert::content_fields(&sample_request()),
        "support_request",
        now(),
    )
    .expect("the sample request is valid");
    let fields = convert::edit_fields(m);
    match EditRequest::parse(&fields, &current, now()) {
        Ok(_) => {}
        Err(violations) => {
            assert!(!violations.is_empty());
            for v in violations.iter() {
                assert!(
                    v.field == "update_mask" || v.field.starts_with("support_request"),
                    "a violation names a field of the update: {}",
                    v.field
                );
                assert!(!v.description.is_empty());
            }
        }
    }
}

fn refused_or_round_trip<T>(
    converted: Result<T, Violations>,
    prefix: &str,
    round_trip: impl FnOnce(&T) -> Result<(), Violations>,
) {
    match converted {
        Ok(value) => {
            if let Err(violations) = round_trip(&value) {
                panic!("an accepted {prefix} converts back to an accepted one: {violations:?}");
            }
        }
        Err(violations) => assert_refusal(&violations, prefix),
    }
}

fn assert_refusal(violations: &Violations, prefix: &str) {
    assert!(!violations.is_empty(), "a refusal names at least one field");
    let status = invalid(violations);
    assert_eq!(status.code(), Code::InvalidArgument);
    for v in violations.iter() {
        // Registry messages are validated under their own name or bare.
        assert!(
            v.field.starts_with(prefix) || !v.field.contains('.'),
            "violation `{}` is outside `{prefix}`",
            v.field
        );
        assert!(
            !v.description.is_empty(),
            "violation `{}` says why",
            v.field
        );
    }
}

/// A complete, valid request (a Moldovan ransomware incident).
pub fn sample_request() -> pb::SupportRequest {
    pb::SupportRequest {
        title: "Ransomware at the national grid operator".into(),
        description: "Encrypted SCADA historians and billing systems.".into(),
        category: pb::IncidentCategory::Ransomware as i32,
        classification: pb::Classification::LargeScaleEquivalent as i32,
        severity: pb::Severity::Critical as i32,
        detect_time: Some(prost_types::Timestamp {
            seconds: 1_789_000_000,
            nanos: 0,
        }),
        affected_entities: vec![pb::AffectedEntity {
            name: "Moldelectrica".into(),
            sector: pb::Sector::Energy as i32,
            entity_type: pb::EntityType::Essential as i32,
            country: "MD".into(),
        }],
        countries_affected: vec!["MD".into()],
        potential_impact: "Power outages across the country.".into(),
        mitigation_measures: "Networks isolated; backups being checked.".into(),
        other_support: "None yet.".into(),
        service_lines: vec![pb::ServiceLine {
            service: pb::ServiceType::IncidentResponse as i32,
            person_days: 20,
            languages: vec!["ro".into(), "en".into()],
            clearance: pb::Clearance::None as i32,
            planned_use: "Containment and eradication.".into(),
        }],
        tlp: pb::Tlp::Amber as i32,
        contact: Some(pb::ContactPoint {
            name: "Duty officer".into(),
            email: "duty@cert.gov.md".into(),
            phone: "+373 22 000 000".into(),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-zA-Z0-9 .,@+-]{1,60}",
            "\\PC{0,120}",
            any::<String>(),
            (1usize..3).prop_map(|n| "é".repeat(n * 12_000)),
            Just(" \t\n".into()),
            Just("a\u{0}b".into()),
        ]
    }

    fn code() -> impl Strategy<Value = i32> {
        prop_oneof![0..16i32, any::<i32>()]
    }

    fn timestamp() -> impl Strategy<Value = Option<prost_types::Timestamp>> {
        prop_oneof![
            Just(None),
            (1_700_000_000i64..1_800_000_000, 0..1_000_000_000i32)
                .prop_map(|(seconds, nanos)| Some(prost_types::Timestamp { seconds, nanos })),
            (any::<i64>(), any::<i32>())
                .prop_map(|(seconds, nanos)| Some(prost_types::Timestamp { seconds, nanos })),
        ]
    }

    fn entity() -> impl Strategy<Value = pb::AffectedEntity> {
        (
            text(),
            code(),
            code(),
            prop_oneof![Just("MD".to_owned()), text()],
        )
            .prop_map(|(name, sector, entity_type, country)| pb::AffectedEntity {
                name,
                sector,
                entity_type,
                country,
            })
    }

    fn line() -> impl Strategy<Value = pb::ServiceLine> {
        (
            code(),
            prop_oneof![0u32..400, any::<u32>()],
            prop::collection::vec(prop_oneof![Just("en".to_owned()), text()], 0..4),
            code(),
            text(),
        )
            .prop_map(
                |(service, person_days, languages, clearance, planned_use)| pb::ServiceLine {
                    service,
                    person_days,
                    languages,
                    clearance,
                    planned_use,
                },
            )
    }

    /// The sample request with any of its fields replaced by hostile values.
    fn request() -> impl Strategy<Value = pb::SupportRequest> {
        (
            (
                prop::option::of(text()),
                prop::option::of(text()),
                prop::option::of(code()),
                prop::option::of(code()),
                prop::option::of(code()),
                prop::option::of(timestamp()),
                prop::option::of(prop::collection::vec(entity(), 0..4)),
            ),
            (
                prop::option::of(prop::collection::vec(
                    prop_oneof![Just("MD".to_owned()), text()],
                    0..5,
                )),
                prop::option::of(text()),
                prop::option::of(prop::collection::vec(line(), 0..4)),
                prop::option::of(code()),
                prop::option::of((text(), text(), text())),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (title, description, category, classification, severity, detect, entities),
                    (countries, impact, lines, tlp, contact, no_contact),
                )| {
                    let mut r = sample_request();
                    if let Some(t) = title {
                        r.title = t;
                    }
                    if let Some(d) = description {
                        r.description = d;
                    }
                    if let Some(c) = category {
                        r.category = c;
                    }
                    if let Some(c) = classification {
                        r.classification = c;
                    }
                    if let Some(s) = severity {
                        r.severity = s;
                    }
                    if let Some(d) = detect {
                        r.detect_time = d;
                    }
                    if let Some(e) = entities {
                        r.affected_entities = e;
                    }
                    if let Some(c) = countries {
                        r.countries_affected = c;
                    }
                    if let Some(i) = impact {
                        r.potential_impact = i;
                    }
                    if let Some(l) = lines {
                        r.service_lines = l;
                    }
                    if let Some(t) = tlp {
                        r.tlp = t;
                    }
                    if let Some((name, email, phone)) = contact {
                        r.contact = Some(pb::ContactPoint { name, email, phone });
                    }
                    if no_contact {
                        r.contact = None;
                    }
                    r
                },
            )
    }

    fn paths() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            prop_oneof![
                Just("title".to_owned()),
                Just("detect_time".to_owned()),
                Just("service_lines".to_owned()),
                Just("contact".to_owned()),
                Just("state".to_owned()),
                Just("reference".to_owned()),
                text(),
            ],
            0..4,
        )
    }

    #[test]
    fn the_sample_request_is_accepted() {
        RequestContent::parse(
            &convert::content_fields(&sample_request()),
            "support_request",
            now(),
        )
        .expect("valid");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_support_request_is_accepted_or_refused_field_by_field(r in request()) {
            check_support_request(&r);
        }

        #[test]
        fn any_update_is_merged_or_refused_field_by_field(r in request(), p in paths()) {
            check_update(&pb::UpdateSupportRequestRequest {
                support_request: Some(r),
                update_mask: Some(prost_types::FieldMask { paths: p }),
            });
        }

        #[test]
        fn any_bytes_pass_the_door_without_a_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
            check_bytes(&data);
        }

        #[test]
        fn any_encoded_request_passes_the_door(r in request()) {
            check_bytes(&r.encode_to_vec());
        }
    }
}
