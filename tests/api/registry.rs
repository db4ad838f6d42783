use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{authed, spawn_app, violated_fields};
use reserve_dispatch::grpc::pb;
use reserve_dispatch::proto::google::r#type::Date;

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

#[tokio::test]
async fn demo_registry_is_loaded() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let mut registry = app.registry().await;
    let moldova = registry
        .get_country(authed(
            pb::GetCountryRequest {
                name: "countries/MD".into(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moldova.kind, pb::CountryKind::ThirdCountry as i32);
    assert!(
        moldova.council_acts.len() >= 2,
        "the act and its demo renewals"
    );
    assert!(moldova.council_acts[0].reference.contains("2025/1458"));
    assert!(moldova.council_acts[1].reference.starts_with("DEMO DATA"));
    assert_eq!(moldova.single_point_of_contact, "md-spoc");

    let ukraine = registry
        .get_country(authed(
            pb::GetCountryRequest {
                name: "countries/UA".into(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(ukraine.council_acts.is_empty());

    // 27 Member States, the Union entities, Moldova and Ukraine, over pages.
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = registry
            .list_countries(authed(
                pb::ListCountriesRequest {
                    page_size: 7,
                    page_token,
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner();
        names.extend(page.countries.into_iter().map(|c| c.code));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(names.len(), 30);
    // A requester reads its own organisation only; an auditor reads all.
    let own = registry
        .list_organisations(authed(pb::ListOrganisationsRequest::default(), &token))
        .await
        .unwrap()
        .into_inner()
        .organisations;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].id, "md-spoc");
    let hidden = registry
        .get_provider(authed(
            pb::GetProviderRequest {
                name: "providers/nordic-ir".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        hidden.code(),
        Code::NotFound,
        "providers' details are not for requesters"
    );
    let orgs = registry
        .list_organisations(authed(
            pb::ListOrganisationsRequest {
                page_size: 100,
                ..Default::default()
            },
            &app.token("auditor", "oversight"),
        ))
        .await
        .unwrap()
        .into_inner()
        .organisations;
    let md: Vec<_> = orgs
        .iter()
        .filter(|o| o.country == "MD")
        .map(|o| (o.id.as_str(), o.single_point_of_contact))
        .collect();
    assert_eq!(md, [("md-csirt", false), ("md-spoc", true)]);
    app.stop().await;
}

#[tokio::test]
async fn administrators_write_the_registry() {
    let app = spawn_app().await;
    let admin = app.token("admin", "reserve-admin");
    let mut registry = app.registry().await;
    let provider = pb::Provider {
        id: "alpine-sec".into(),
        display_name: "Alpine Security GmbH".into(),
        country: "AT".into(),
        status: pb::ProviderStatus::Active as i32,
        services: vec![pb::ServiceType::IncidentResponse as i32],
        languages: vec!["de".into(), "en".into()],
        deployable_countries: vec!["AT".into(), "DE".into()],
        clearance: pb::Clearance::RestreintUe as i32,
        certifications: vec![],
        hours_to_deploy: 24,
        conflict_organisations: vec!["at-csirt".into()],
        conflict_countries: vec![],
        ..Default::default()
    };
    let created = registry
        .create_provider(authed(
            pb::CreateProviderRequest {
                provider: Some(provider.clone()),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "providers/alpine-sec");
    let duplicate = registry
        .create_provider(authed(
            pb::CreateProviderRequest {
                provider: Some(provider.clone()),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let updated = registry
        .update_provider(authed(
            pb::UpdateProviderRequest {
                provider: Some(pb::Provider {
                    name: "providers/alpine-sec".into(),
                    status: pb::ProviderStatus::Suspended as i32,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["status".into()],
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.status, pb::ProviderStatus::Suspended as i32);
    assert_eq!(
        updated.languages, provider.languages,
        "fields outside the mask are kept"
    );

    let read = registry
        .get_provider(authed(
            pb::GetProviderRequest {
                name: "providers/alpine-sec".into(),
            },
            &app.token("provider", "alpine-sec"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, updated);

    // Only administrators write.
    let denied = registry
        .create_provider(authed(
            pb::CreateProviderRequest {
                provider: Some(pb::Provider {
                    id: "other".into(),
                    ..provider.clone()
                }),
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // An organisation must name a registered country.
    let orphan = registry
        .create_organisation(authed(
            pb::CreateOrganisationRequest {
                organisation: Some(pb::Organisation {
                    id: "xx-csirt".into(),
                    display_name: "Nowhere CSIRT".into(),
                    kind: pb::OrganisationKind::MsCsirt as i32,
                    country: "XX".into(),
                    single_point_of_contact: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&orphan), ["organisation.country"]);
    app.stop().await;
}

#[tokio::test]
async fn council_acts_last_at_most_a_year_with_a_cap_of_75_days_or_more() {
    let app = spawn_app().await;
    let admin = app.token("admin", "reserve-admin");
    let mut registry = app.registry().await;
    let country = |acts: Vec<pb::CouncilAct>| pb::Country {
        code: "GE".into(),
        display_name: "Georgia (test)".into(),
        kind: pb::CountryKind::ThirdCountry as i32,
        required_languages: vec!["ka".into()],
        required_clearance: pb::Clearance::None as i32,
        council_acts: acts,
        ..Default::default()
    };
    let act = |from: Option<Date>, until: Option<Date>, cap: u32| pb::CouncilAct {
        reference: "(EU) 2026/1".into(),
        valid_from: from,
        valid_until: until,
        max_support_days: cap,
        ..Default::default()
    };
    let too_long = registry
        .create_country(authed(
            pb::CreateCountryRequest {
                country: Some(country(vec![act(date(2026, 1, 1), date(2027, 1, 1), 0)])),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&too_long),
        ["country.council_acts[0].valid_until"]
    );
    let small_cap = registry
        .create_country(authed(
            pb::CreateCountryRequest {
                country: Some(country(vec![act(date(2026, 1, 1), date(2026, 12, 31), 74)])),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&small_cap),
        ["country.council_acts[0].max_support_days"]
    );
    let bad_date = registry
        .create_country(authed(
            pb::CreateCountryRequest {
                country: Some(country(vec![act(date(2026, 2, 30), None, 0)])),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad_date),
        [
            "country.council_acts[0].valid_from",
            "country.council_acts[0].valid_until"
        ]
    );
    let ok = registry
        .create_country(authed(
            pb::CreateCountryRequest {
                country: Some(country(vec![act(date(2026, 1, 1), date(2026, 12, 31), 75)])),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.council_acts[0].max_support_days, 75);
    app.stop().await;
}

/// A registry file with a new country, an organisation of it, a new
/// provider with a commitment, and a change to a demo provider; `tail` is
/// appended to its commitments.
fn import_file(tail: &str) -> String {
    format!(
        "countries:
  - code: IS
    display_name: Iceland
    kind: MEMBER_STATE
    required_languages: [is, en]
    required_clearance: NONE
organisations:
  - id: is-csirt
    display_name: CERT-IS
    kind: MS_CSIRT
    country: IS
providers:
  - id: arctic-ir
    display_name: Arctic IR ehf.
    country: IS
    status: ACTIVE
    services: [INCIDENT_RESPONSE]
    languages: [is, en]
    deployable_countries: [IS]
    clearance: NONE
    hours_to_deploy: 12
  - id: nordic-ir
    hours_to_deploy: 20
capacity_commitments:
  - provider: providers/arctic-ir
    service: INCIDENT_RESPONSE
    person_days: 15
    period_start: {{year: 2026, month: 1, day: 1}}
    period_end: {{year: 2027, month: 12, day: 31}}
{tail}"
    )
}

#[tokio::test]
async fn an_import_is_taken_whole_or_not_at_all() {
    let app = spawn_app().await;
    let admin = app.token("admin", "reserve-admin");
    let mut registry = app.registry().await;
    let importer = registry.clone();
    let import = |document: String, validate_only: bool| {
        let mut registry = importer.clone();
        let admin = admin.clone();
        async move {
            registry
                .import_registry(authed(
                    pb::ImportRegistryRequest {
                        document,
                        validate_only,
                    },
                    &admin,
                ))
                .await
        }
    };
    let iceland = async |registry: &mut pb::registry_service_client::RegistryServiceClient<_>| {
        registry
            .get_country(authed(
                pb::GetCountryRequest {
                    name: "countries/IS".into(),
                },
                &admin,
            ))
            .await
            .map(|c| c.into_inner())
    };
    let events_before = app.events("").await.len();

    // Checked only: the answer says what would change, and nothing does.
    let checked = import(import_file(""), true).await.unwrap().into_inner();
    let outcomes: Vec<(&str, i32)> = checked
        .changes
        .iter()
        .map(|c| (c.resource.as_str(), c.outcome))
        .collect();
    assert_eq!(
        &outcomes[..4],
        [
            ("countries/IS", pb::ImportOutcome::Created as i32),
            ("organisations/is-csirt", pb::ImportOutcome::Created as i32),
            ("providers/arctic-ir", pb::ImportOutcome::Created as i32),
            ("providers/nordic-ir", pb::ImportOutcome::Updated as i32),
        ]
    );
    assert_eq!(checked.changes[3].updated_fields, ["hours_to_deploy"]);
    assert!(
        checked.changes[4]
            .resource
            .starts_with("providers/arctic-ir/capacityCommitments/")
    );
    assert_eq!((checked.created_count, checked.updated_count), (4, 1));
    assert_eq!(
        iceland(&mut registry).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(app.events("").await.len(), events_before);

    // A bad record at the end refuses the whole file, naming the record.
    let bad = "  - provider: providers/arctic-ir
    service: INCIDENT_RESPONSE
    person_days: 0
    period_start: {year: 2028, month: 1, day: 1}
    period_end: {year: 2028, month: 12, day: 31}
";
    let refused = import(import_file(bad), false).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&refused),
        ["capacity_commitments[1].person_days"]
    );
    assert_eq!(
        iceland(&mut registry).await.unwrap_err().code(),
        Code::NotFound
    );
    // A file that does not read is refused before anything is looked at.
    let unread = import("providers:\n  - id: x\n    services: [TEA]\n".into(), false)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unread), ["providers[0].services"]);

    // Taken: the organisation and the commitment find the country and the
    // provider the same file creates; one event per record changed.
    let taken = import(import_file(""), false).await.unwrap().into_inner();
    assert_eq!((taken.created_count, taken.updated_count), (4, 1));
    assert_eq!(
        iceland(&mut registry).await.unwrap().display_name,
        "Iceland"
    );
    let organisation = registry
        .get_organisation(authed(
            pb::GetOrganisationRequest {
                name: "organisations/is-csirt".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(organisation.country, "IS");
    let nordic = registry
        .get_provider(authed(
            pb::GetProviderRequest {
                name: "providers/nordic-ir".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nordic.hours_to_deploy, 20);
    assert!(
        !nordic.services.is_empty(),
        "fields the file leaves out are kept"
    );
    let events = app.events("").await;
    let actions: Vec<&str> = events[events_before..]
        .iter()
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "CreateCountry",
            "CreateOrganisation",
            "CreateProvider",
            "UpdateProvider",
            "CreateCapacityCommitment"
        ]
    );

    // Again: nothing to do.
    let again = import(import_file(""), false).await.unwrap().into_inner();
    assert_eq!(
        (
            again.created_count,
            again.updated_count,
            again.unchanged_count
        ),
        (0, 0, 5)
    );
    assert_eq!(app.events("").await.len(), events.len());

    // Only administrators import.
    let denied = registry
        .import_registry(authed(
            pb::ImportRegistryRequest {
                document: import_file(""),
                validate_only: true,
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    app.stop().await;
}

/// A file of thousands of records is one transaction with thousands of
/// audit events, more than one statement may carry (SQLite binds at most
/// 32,766 values per statement).
#[tokio::test]
async fn a_file_of_thousands_of_records_is_taken_in_one_transaction() {
    let app = spawn_app().await;
    let admin = app.token("admin", "reserve-admin");
    let records = 3_000;
    let document: String = std::iter::once("organisations:\n".to_owned())
        .chain((0..records).map(|i| {
            format!("- {{id: md-org-{i}, display_name: Organisation {i}, kind: TC_CSIRT, country: MD}}\n")
        }))
        .collect();
    let taken = app
        .registry()
        .await
        .import_registry(authed(
            pb::ImportRegistryRequest {
                document,
                validate_only: false,
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(taken.created_count, records);
    let last = app
        .events(&format!("organisations/md-org-{}", records - 1))
        .await;
    assert_eq!(last.len(), 1, "each record its event");
    assert_eq!(last[0].action, "CreateOrganisation");
    let verified = app.verify_chain().await;
    assert!(verified.ok, "{verified:?}");
    assert!(verified.events_checked >= i64::from(records));
    app.stop().await;
}

/// The same file sent twice at once (a retry, a second click) is taken
/// once: the second import waits for the first and finds its records.
#[tokio::test]
async fn the_same_file_sent_twice_at_once_is_taken_once() {
    let app = spawn_app().await;
    let admin = app.token("admin", "reserve-admin");
    let document = import_file("");
    let send = || {
        let registry = app.registry();
        let document = document.clone();
        let admin = admin.clone();
        async move {
            registry
                .await
                .import_registry(authed(
                    pb::ImportRegistryRequest {
                        document,
                        validate_only: false,
                    },
                    &admin,
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let (first, second) = tokio::join!(send(), send());
    let (first, second) = (first.unwrap(), second.unwrap());
    let mut created = [first.created_count, second.created_count];
    created.sort();
    assert_eq!(created, [0, 4], "{first:?} {second:?}");
    let commitments = app
        .registry()
        .await
        .list_capacity_commitments(authed(
            pb::ListCapacityCommitmentsRequest {
                provider: "providers/arctic-ir".into(),
                page_size: 10,
                page_token: String::new(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .capacity_commitments;
    assert_eq!(commitments.len(), 1, "{commitments:?}");
    app.stop().await;
}
