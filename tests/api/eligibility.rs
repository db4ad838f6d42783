//! Every rule of the Cyber Solidarity Act, passed and failed through the API.

use crate::helpers::{
    authed, day_from_today, member_state_request, moldova_request, rule, spawn_app, state,
};
use reserve_dispatch::grpc::pb;

use pb::RequestState as S;
use pb::RuleOutcome::{Fail, MissingInfo, NotApplicable, Pass};

const TC_RULES: [&str; 4] = [
    "CSA-TC-ASSOC",
    "CSA-TC-COUNCIL",
    "CSA-TC-SPOC",
    "CSA-TC-CAPINFO",
];

#[tokio::test]
async fn moldovas_contact_point_is_referred_to_the_commission() {
    let app = spawn_app().await;
    let referred = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(state(&referred), S::Referred);
    let decision = referred.eligibility.as_ref().unwrap();
    assert_eq!(decision.rule_set_version, "csa-v1");
    assert_eq!(decision.results.len(), 10);
    for result in &decision.results {
        assert_eq!(result.outcome, Pass as i32, "{result:?}");
        assert!(!result.article.is_empty() && !result.message.is_empty());
    }
    let council = decision
        .results
        .iter()
        .find(|r| r.rule_id == "CSA-TC-COUNCIL")
        .unwrap();
    assert_eq!(council.article, "Art. 19(4), 19(10)");
    assert!(council.message.contains("2025/1458"), "{}", council.message);

    // As the CLI prints it: one row per rule with its article and outcome.
    let printed = reserve_dispatch::client::render(&referred);
    println!("{printed}");
    assert!(printed.contains("state: REFERRED"));
    assert!(printed.contains("eligibility: ELIGIBLE under rule set csa-v1"));
    let table: Vec<&str> = printed
        .lines()
        .skip_while(|l| !l.starts_with("RULE"))
        .collect();
    assert_eq!(table.len(), 11, "a header and ten rules");
    assert!(
        table[5].starts_with("CSA-TC-COUNCIL  Art. 19(4), 19(10)") && table[5].contains("PASS")
    );
    app.stop().await;
}

#[tokio::test]
async fn third_country_routing_classification_and_council_act() {
    let app = spawn_app().await;
    // A Moldovan CSIRT that is not the single point of contact files; its
    // request reaches the Commission once md-spoc transmits it.
    let csirt = app.submit_new("md-csirt", moldova_request()).await;
    assert_eq!(state(&csirt), S::AwaitingTransmission);
    assert_eq!(csirt.contact_point, "organisations/md-spoc");
    assert!(
        csirt.eligibility.is_none(),
        "not assessed before it is transmitted"
    );
    let transmitted = app.transmit("md-spoc", &csirt.name, "").await;
    assert_eq!(state(&transmitted), S::Referred);
    assert_eq!(rule(&transmitted, "CSA-ROUTE"), Pass);

    // Ukraine: associated, but no Council implementing act.
    let mut ua = moldova_request();
    ua.affected_entities[0].country = "UA".into();
    ua.countries_affected = vec!["UA".into()];
    let ukraine = app.submit_new("ua-cert", ua).await;
    assert_eq!(state(&ukraine), S::Ineligible);
    assert_eq!(rule(&ukraine, "CSA-TC-COUNCIL"), Fail);
    assert_eq!(rule(&ukraine, "CSA-ROUTE"), Pass);

    // A Member State classification claimed by a third country.
    let mut large = moldova_request();
    large.classification = pb::Classification::LargeScale as i32;
    // A finding, not a legal bar: the Commission decides, advised to reject.
    let large = app.submit_new("md-spoc", large).await;
    assert_eq!(state(&large), S::Referred);
    assert_eq!(rule(&large, "CSA-CLASS"), Fail);
    assert!(large.eligibility.as_ref().unwrap().recommend_rejection);

    // Large-scale-equivalent needs the declaration of Art. 2(13).
    let mut equivalent = moldova_request();
    equivalent.classification = pb::Classification::LargeScaleEquivalent as i32;
    let undeclared = app.submit_new("md-spoc", equivalent.clone()).await;
    assert_eq!(state(&undeclared), S::NeedsInfo);
    assert_eq!(rule(&undeclared, "CSA-CLASS"), MissingInfo);
    equivalent.capacity_exceeded_declared = true;
    let declared = app.submit_new("md-spoc", equivalent).await;
    assert_eq!(rule(&declared, "CSA-CLASS"), Pass);
    assert_eq!(state(&declared), S::Referred);
    app.stop().await;
}

#[tokio::test]
async fn a_council_act_counts_from_the_day_it_takes_effect_to_the_day_it_lapses() {
    let app = spawn_app().await;
    let act = |from: i64, until: i64| pb::CouncilAct {
        reference: "(EU) test act".into(),
        valid_from: day_from_today(from),
        valid_until: day_from_today(until),
        max_support_days: 0,
        ..Default::default()
    };
    // Takes effect tomorrow: today is the day before.
    app.update_country("MD", &["council_acts"], |c| {
        c.council_acts = vec![act(1, 300)]
    })
    .await;
    let before = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&before, "CSA-TC-COUNCIL"), Fail);
    assert_eq!(state(&before), S::Ineligible);
    // Takes effect today.
    app.update_country("MD", &["council_acts"], |c| {
        c.council_acts = vec![act(0, 300)]
    })
    .await;
    let first_day = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&first_day, "CSA-TC-COUNCIL"), Pass);
    assert_eq!(state(&first_day), S::Referred);
    // In force until today inclusive.
    app.update_country("MD", &["council_acts"], |c| {
        c.council_acts = vec![act(-300, 0)]
    })
    .await;
    let last_day = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&last_day, "CSA-TC-COUNCIL"), Pass);
    // Lapsed yesterday: today is the day after.
    app.update_country("MD", &["council_acts"], |c| {
        c.council_acts = vec![act(-300, -1)]
    })
    .await;
    let after = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&after, "CSA-TC-COUNCIL"), Fail);
    assert_eq!(state(&after), S::Ineligible);

    // The decision taken under the earlier act does not change afterwards.
    let read = app
        .requests()
        .await
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: first_day.name.clone(),
            },
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.eligibility, first_day.eligibility);
    app.stop().await;
}

#[tokio::test]
async fn association_contact_point_and_capability_information() {
    let app = spawn_app().await;
    app.update_country("MD", &["reserve_coverage_from"], |c| {
        c.reserve_coverage_from = day_from_today(1)
    })
    .await;
    let uncovered = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&uncovered, "CSA-TC-ASSOC"), Fail);
    assert_eq!(state(&uncovered), S::Ineligible);
    app.update_country("MD", &["reserve_coverage_from"], |c| {
        c.reserve_coverage_from = day_from_today(0)
    })
    .await;
    let covered = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&covered, "CSA-TC-ASSOC"), Pass);

    app.update_country("MD", &["single_point_of_contact"], |c| {
        c.single_point_of_contact = String::new()
    })
    .await;
    let no_contact = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&no_contact, "CSA-TC-SPOC"), Fail);
    app.update_country("MD", &["single_point_of_contact"], |c| {
        c.single_point_of_contact = "md-spoc".into()
    })
    .await;

    // Thirteen months old.
    app.update_country("MD", &["capability_info_updated"], |c| {
        c.capability_info_updated = day_from_today(-396)
    })
    .await;
    let stale = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&stale, "CSA-TC-CAPINFO"), Fail);
    assert_eq!(state(&stale), S::Ineligible);
    app.update_country("MD", &["capability_info_updated"], |c| {
        c.capability_info_updated = day_from_today(-300)
    })
    .await;
    let fresh = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&fresh, "CSA-TC-CAPINFO"), Pass);
    assert_eq!(state(&fresh), S::Referred);
    app.stop().await;
}

#[tokio::test]
async fn member_states_and_cert_eu() {
    let app = spawn_app().await;
    let romania = app.submit_new("ro-csirt", member_state_request("RO")).await;
    assert_eq!(state(&romania), S::Eligible);
    for id in TC_RULES {
        assert_eq!(rule(&romania, id), NotApplicable, "{id}");
    }
    assert_eq!(rule(&romania, "CSA-USER"), Pass);
    assert_eq!(rule(&romania, "CSA-SECTOR"), Pass);

    // Not the single point of contact: transmitted by it.
    let authority = app.submit_new("ro-dnsc", member_state_request("RO")).await;
    assert_eq!(state(&authority), S::AwaitingTransmission);
    let authority = app.transmit("ro-csirt", &authority.name, "").await;
    assert_eq!(state(&authority), S::Eligible);
    assert_eq!(rule(&authority, "CSA-ROUTE"), Pass);
    assert!(!authority.eligibility.as_ref().unwrap().recommend_rejection);

    // Large-scale-equivalent is for CERT-EU and third countries.
    let mut equivalent = member_state_request("RO");
    equivalent.classification = pb::Classification::LargeScaleEquivalent as i32;
    let equivalent = app.submit_new("ro-csirt", equivalent).await;
    assert_eq!(rule(&equivalent, "CSA-CLASS"), Fail);
    let mut large = member_state_request("RO");
    large.classification = pb::Classification::LargeScale as i32;
    assert_eq!(
        rule(&app.submit_new("ro-csirt", large).await, "CSA-CLASS"),
        Pass
    );

    // No entity in a NIS2 sector.
    let mut outside = member_state_request("RO");
    outside.affected_entities[0].sector = pb::Sector::OtherSector as i32;
    let outside = app.submit_new("ro-csirt", outside).await;
    assert_eq!(rule(&outside, "CSA-SECTOR"), Fail);
    assert_eq!(state(&outside), S::Eligible, "ENISA decides on the finding");
    assert!(outside.eligibility.as_ref().unwrap().recommend_rejection);

    // CERT-EU: a Union entity, a major incident.
    let mut union_entity = member_state_request("EU");
    union_entity.affected_entities[0].sector = pb::Sector::UnionEntity as i32;
    union_entity.classification = pb::Classification::LargeScaleEquivalent as i32;
    let cert_eu = app.submit_new("cert-eu", union_entity).await;
    assert_eq!(state(&cert_eu), S::Eligible, "{:?}", cert_eu.eligibility);
    assert_eq!(rule(&cert_eu, "CSA-ROUTE"), Pass);
    let energy = app.submit_new("cert-eu", member_state_request("EU")).await;
    assert_eq!(rule(&energy, "CSA-SECTOR"), Fail);

    // An organisation registered with a kind its country cannot have.
    app.registry()
        .await
        .create_organisation(authed(
            pb::CreateOrganisationRequest {
                organisation: Some(pb::Organisation {
                    id: "md-misfiled".into(),
                    display_name: "Misfiled as a Member State CSIRT".into(),
                    kind: pb::OrganisationKind::MsCsirt as i32,
                    country: "MD".into(),
                    ..Default::default()
                }),
            },
            &app.token("admin", "reserve-admin"),
        ))
        .await
        .unwrap();
    // Transmitted by the contact point, and barred by law all the same.
    let misfiled = app.submit_new("md-misfiled", moldova_request()).await;
    let misfiled = app.transmit("md-spoc", &misfiled.name, "").await;
    assert_eq!(rule(&misfiled, "CSA-USER"), Fail);
    assert_eq!(state(&misfiled), S::Ineligible);

    // A Member State that designates no contact point: nobody to transmit.
    app.update_country("RO", &["single_point_of_contact"], |c| {
        c.single_point_of_contact = String::new()
    })
    .await;
    let untransmitted = app.submit_new("ro-dnsc", member_state_request("RO")).await;
    assert_eq!(rule(&untransmitted, "CSA-ROUTE"), Fail);
    assert_eq!(state(&untransmitted), S::Eligible);
    assert!(
        untransmitted
            .eligibility
            .as_ref()
            .unwrap()
            .recommend_rejection
    );
    app.stop().await;
}

#[tokio::test]
async fn missing_information_then_update_and_resubmit() {
    let app = spawn_app().await;
    let token = app.token("requester", "ro-csirt");
    let mut body = member_state_request("RO");
    body.mitigation_measures = String::new();
    body.potential_impact = String::new();
    let needs_info = app.submit_new("ro-csirt", body).await;
    assert_eq!(state(&needs_info), S::NeedsInfo);
    assert_eq!(rule(&needs_info, "CSA-MITIGATION"), MissingInfo);
    assert_eq!(rule(&needs_info, "CSA-CONTENT"), MissingInfo);
    let content = needs_info
        .eligibility
        .as_ref()
        .unwrap()
        .results
        .iter()
        .find(|r| r.rule_id == "CSA-CONTENT")
        .unwrap();
    assert!(
        content.message.contains("potential impact"),
        "{}",
        content.message
    );

    let mut client = app.requests().await;
    let mut changes = member_state_request("RO");
    changes.name = needs_info.name.clone();
    client
        .update_support_request(authed(
            pb::UpdateSupportRequestRequest {
                support_request: Some(changes),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["mitigation_measures".into(), "potential_impact".into()],
                }),
            },
            &token,
        ))
        .await
        .expect("a request in NEEDS_INFO can be edited");
    let eligible = client
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: needs_info.name.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&eligible), S::Eligible);
    assert_eq!(eligible.evaluations.len(), 2, "both evaluations are kept");
    assert_eq!(eligible.evaluations[0].outcome, S::NeedsInfo as i32);
    assert_eq!(eligible.evaluations[1].outcome, S::Eligible as i32);
    assert_eq!(eligible.eligibility.as_ref(), eligible.evaluations.last());

    // An entity-less request lacks information for two rules.
    let mut bare = member_state_request("RO");
    bare.affected_entities.clear();
    let bare = app.submit_new("ro-csirt", bare).await;
    assert_eq!(rule(&bare, "CSA-SECTOR"), MissingInfo);
    assert_eq!(rule(&bare, "CSA-CONTENT"), MissingInfo);
    assert_eq!(state(&bare), S::NeedsInfo);
    app.stop().await;
}
