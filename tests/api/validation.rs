use prost_types::{FieldMask, Timestamp};
use tonic::Code;

use crate::helpers::{authed, create, moldova_request, spawn_app, violated_fields};
use reserve_dispatch::grpc::pb;

type Mutation = fn(&mut pb::SupportRequest);

/// Each rule of validation, broken once, with the field that must be named.
fn broken_requests() -> Vec<(&'static str, Mutation)> {
    vec![
        ("support_request.title", |r| r.title = String::new()),
        ("support_request.title", |r| r.title = "x".repeat(201)),
        ("support_request.title", |r| r.title = "nul\0byte".into()),
        ("support_request.description", |r| {
            r.description = String::new()
        }),
        ("support_request.description", |r| {
            r.description = "d".repeat(20_001)
        }),
        ("support_request.category", |r| r.category = 0),
        ("support_request.category", |r| r.category = 999),
        ("support_request.classification", |r| r.classification = 0),
        ("support_request.severity", |r| r.severity = 0),
        ("support_request.detect_time", |r| r.detect_time = None),
        ("support_request.detect_time", |r| {
            r.detect_time = Some(Timestamp {
                seconds: chrono::Utc::now().timestamp() + 86_400,
                nanos: 0,
            })
        }),
        ("support_request.detect_time", |r| {
            r.detect_time = Some(Timestamp {
                seconds: 0,
                nanos: -1,
            })
        }),
        ("support_request.affected_entities[0].name", |r| {
            r.affected_entities[0].name = String::new()
        }),
        ("support_request.affected_entities[0].sector", |r| {
            r.affected_entities[0].sector = 0
        }),
        ("support_request.affected_entities[0].entity_type", |r| {
            r.affected_entities[0].entity_type = 0
        }),
        ("support_request.affected_entities[0].country", |r| {
            r.affected_entities[0].country = "Moldova".into()
        }),
        ("support_request.affected_entities", |r| {
            r.affected_entities = vec![r.affected_entities[0].clone(); 51]
        }),
        ("support_request.countries_affected[1]", |r| {
            r.countries_affected[1] = "ro".into()
        }),
        ("support_request.countries_affected[1]", |r| {
            r.countries_affected[1] = "MD".into()
        }),
        ("support_request.potential_impact", |r| {
            r.potential_impact = "i".repeat(20_001)
        }),
        ("support_request.mitigation_measures", |r| {
            r.mitigation_measures = "m".repeat(20_001)
        }),
        ("support_request.other_support", |r| {
            r.other_support = "o".repeat(20_001)
        }),
        ("support_request.service_lines[0].service", |r| {
            r.service_lines[0].service = 0
        }),
        ("support_request.service_lines[0].person_days", |r| {
            r.service_lines[0].person_days = 0
        }),
        ("support_request.service_lines[1].person_days", |r| {
            r.service_lines[1].person_days = 366
        }),
        ("support_request.service_lines[0].languages[0]", |r| {
            r.service_lines[0].languages[0] = "ron".into()
        }),
        ("support_request.service_lines[0].languages", |r| {
            r.service_lines[0].languages = (0..11)
                .map(|i| format!("a{}", (b'a' + i) as char))
                .collect()
        }),
        ("support_request.service_lines[0].clearance", |r| {
            r.service_lines[0].clearance = 0
        }),
        ("support_request.service_lines[0].planned_use", |r| {
            r.service_lines[0].planned_use = "p".repeat(2_001)
        }),
        ("support_request.service_lines", |r| {
            r.service_lines = vec![r.service_lines[0].clone(); 11]
        }),
        ("support_request.service_lines[1].service", |r| {
            r.service_lines[1].service = r.service_lines[0].service
        }),
        ("support_request.tlp", |r| r.tlp = 0),
        ("support_request.contact", |r| r.contact = None),
        ("support_request.contact.name", |r| {
            r.contact.as_mut().unwrap().name = String::new()
        }),
        ("support_request.contact.email", |r| {
            r.contact.as_mut().unwrap().email = "not-an-address".into()
        }),
        ("support_request.contact.phone", |r| {
            r.contact.as_mut().unwrap().phone = "9".repeat(41)
        }),
    ]
}

#[tokio::test]
async fn each_validation_rule_names_its_field() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let mut client = app.requests().await;
    for (i, (field, mutate)) in broken_requests().into_iter().enumerate() {
        let mut body = moldova_request();
        mutate(&mut body);
        let status = client
            .create_support_request(authed(create(body, &format!("v{i}")), &token))
            .await
            .expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let fields = violated_fields(&status);
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not in {fields:?}"
        );
    }

    // Several faults at once are all reported.
    let mut body = moldova_request();
    body.title = String::new();
    body.tlp = 0;
    let status = client
        .create_support_request(authed(create(body, "many"), &token))
        .await
        .unwrap_err();
    let fields = violated_fields(&status);
    assert!(fields.contains(&"support_request.title".to_owned()));
    assert!(fields.contains(&"support_request.tlp".to_owned()));

    for (request_id, field) in [("", "request_id"), ("has space", "request_id")] {
        let status = client
            .create_support_request(authed(create(moldova_request(), request_id), &token))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), [field]);
    }
    let status = client
        .create_support_request(authed(
            pb::CreateSupportRequestRequest {
                support_request: None,
                request_id: "x".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["support_request"]);

    // Nothing invalid was stored.
    let listed = client
        .list_support_requests(authed(pb::ListSupportRequestsRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.support_requests.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn names_masks_and_pages_are_checked() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let mut client = app.requests().await;
    let created = client
        .create_support_request(authed(create(moldova_request(), "r"), &token))
        .await
        .unwrap()
        .into_inner();

    let bad_name = client
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: "requests/1".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_name), ["name"]);

    let update = |paths: Vec<&str>, mutate: Mutation| {
        let mut body = moldova_request();
        body.name = created.name.clone();
        mutate(&mut body);
        pb::UpdateSupportRequestRequest {
            support_request: Some(body),
            update_mask: Some(FieldMask {
                paths: paths.into_iter().map(str::to_owned).collect(),
            }),
        }
    };
    let unknown = client
        .update_support_request(authed(update(vec!["reference"], |_| {}), &token))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown), ["update_mask"]);
    let empty = client
        .update_support_request(authed(update(vec![], |_| {}), &token))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["update_mask"]);
    let invalid_value = client
        .update_support_request(authed(update(vec!["severity"], |r| r.severity = 0), &token))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&invalid_value),
        ["support_request.severity"]
    );

    let negative = client
        .list_support_requests(authed(
            pb::ListSupportRequestsRequest {
                page_size: -1,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&negative), ["page_size"]);
    let forged = client
        .list_support_requests(authed(
            pb::ListSupportRequestsRequest {
                page_token: "not-ours".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&forged), ["page_token"]);

    let no_reason = client
        .withdraw_support_request(authed(
            pb::WithdrawSupportRequestRequest {
                name: created.name.clone(),
                reason: String::new(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);

    // The request is as it was created.
    let stored = client
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: created.name.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, created);
    app.stop().await;
}

/// Mutation fuzzing through the front door: the encoded Moldovan request
/// with random bytes overwritten, inserted or removed; whatever still
/// decodes is sent to the server, which answers it (OK or a field error),
/// never with INTERNAL or UNKNOWN, and keeps serving.
#[test]
fn mutated_requests_are_answered_never_with_internal() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use prost::Message;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let token = app.token("requester", "md-spoc");
    let client = runtime.block_on(app.requests());
    let base = moldova_request().encode_to_vec();
    let sent = std::cell::Cell::new(0u32);

    // Mostly printable bytes written over others: strings stay UTF-8 and
    // the message still decodes, so most cases reach the server.
    let mutation = (
        any::<prop::sample::Index>(),
        prop_oneof![4 => 0x20u8..0x7f, 1 => any::<u8>()],
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
    );
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(mutation, 1..4), |mutations| {
            let mut bytes = base.clone();
            for (at, byte, op) in mutations {
                let i = at.index(bytes.len().max(1));
                match op {
                    0 if !bytes.is_empty() => bytes[i] = byte,
                    1 => bytes.insert(i.min(bytes.len()), byte),
                    _ if !bytes.is_empty() => {
                        bytes.remove(i);
                    }
                    _ => {}
                }
            }
            let Ok(message) = pb::SupportRequest::decode(&bytes[..]) else {
                return Ok(());
            };
            sent.set(sent.get() + 1);
            let id = uuid::Uuid::new_v4().to_string();
            let answer = runtime.block_on(
                client
                    .clone()
                    .create_support_request(authed(create(message, &id), &token)),
            );
            if let Err(status) = answer {
                prop_assert!(
                    !matches!(status.code(), Code::Internal | Code::Unknown),
                    "{status:?}"
                );
                if status.code() == Code::InvalidArgument {
                    prop_assert!(!violated_fields(&status).is_empty(), "{status:?}");
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "{} of 300 mutated requests decoded and were sent",
        sent.get()
    );
    // About two in five decode (115 to 140 seen); the bound only proves the
    // server was exercised (a random run once fell under 100 of 300).
    assert!(
        sent.get() >= 60,
        "at least a fifth of the mutations still decode: {}",
        sent.get()
    );
    runtime
        .block_on(
            client
                .clone()
                .create_support_request(authed(create(moldova_request(), "after"), &token)),
        )
        .expect("still serving");
}

/// Checks that need the clock or the registry join the same answer as the
/// fields' own: one refusal names every field at fault.
#[tokio::test]
async fn one_answer_names_every_field_at_fault() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let mut client = app.requests().await;

    // An empty title and a detection time in the future (the clock's check).
    let mut body = moldova_request();
    body.title = String::new();
    body.detect_time = Some(Timestamp {
        seconds: chrono::Utc::now().timestamp() + 86_400,
        nanos: 0,
    });
    let status = client
        .create_support_request(authed(create(body, "both"), &token))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["support_request.title", "support_request.detect_time"]
    );

    // An edit: a path that cannot be updated and a value that is refused.
    let created = client
        .create_support_request(authed(create(moldova_request(), "edit"), &token))
        .await
        .unwrap()
        .into_inner();
    let mut edited = moldova_request();
    edited.name = created.name.clone();
    edited.severity = 0;
    let status = client
        .update_support_request(authed(
            pb::UpdateSupportRequestRequest {
                support_request: Some(edited),
                update_mask: Some(FieldMask {
                    paths: vec!["reference".into(), "severity".into()],
                }),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["update_mask", "support_request.severity"]
    );

    // The registry's checks: a country not registered, a provider unknown.
    let admin = app.token("admin", "reserve");
    let mut registry = app.registry().await;
    let status = registry
        .create_organisation(authed(
            pb::CreateOrganisationRequest {
                organisation: Some(pb::Organisation {
                    id: "zz-csirt".into(),
                    display_name: String::new(),
                    kind: pb::OrganisationKind::MsCsirt as i32,
                    country: "ZZ".into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["organisation.display_name", "organisation.country"]
    );
    let status = registry
        .create_capacity_commitment(authed(
            pb::CreateCapacityCommitmentRequest {
                capacity_commitment: Some(pb::CapacityCommitment {
                    provider: "providers/nobody".into(),
                    service: pb::ServiceType::IncidentResponse as i32,
                    person_days: 0,
                    period_start: crate::helpers::day_from_today(10),
                    period_end: crate::helpers::day_from_today(0),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        [
            "capacity_commitment.provider",
            "capacity_commitment.person_days",
            "capacity_commitment.period_end"
        ]
    );
    app.stop().await;
}
