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
