//! The Act's process: requests transmitted via the single point of contact
//! (Art. 15(3)), decisions left to the deciders (Art. 16(3), 19(10)), and
//! the support period enforced (Art. 16, 19(4)).

use reserve_dispatch::grpc::pb;
use tonic::Code;

use crate::helpers::{
    TestApp, approve, authed, authorise, day_from_today, member_state_request, moldova_request,
    offers_of, plan, rule, spawn_app, state, violated_fields,
};

use pb::RequestState as S;

const IR: pb::ServiceType = pb::ServiceType::IncidentResponse;

fn seconds(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().expect("a time").seconds
}

async fn fire_due(app: &TestApp) -> usize {
    reserve_dispatch::worker::run_once(&app.app, "w")
        .await
        .expect("timers fire")
}

/// The actions recorded on `name`, in order.
async fn actions(app: &TestApp, name: &str) -> Vec<String> {
    app.events(name)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn a_csirt_files_and_its_contact_point_transmits_or_returns() {
    let app = spawn_app().await;
    let mut requests = app.requests().await;
    let filer = app.token("requester", "md-csirt");
    let spoc = app.token("requester", "md-spoc");

    let waiting = app.submit_new("md-csirt", moldova_request()).await;
    assert_eq!(state(&waiting), S::AwaitingTransmission);
    assert_eq!(waiting.contact_point, "organisations/md-spoc");
    assert!(waiting.transmission.is_none() && waiting.response_deadline.is_none());

    // The contact point's queue: what waits for it, filtered by state.
    let queue = requests
        .list_support_requests(authed(
            pb::ListSupportRequestsRequest {
                page_size: 50,
                page_token: String::new(),
                state: S::AwaitingTransmission as i32,
            },
            &spoc,
        ))
        .await
        .unwrap()
        .into_inner()
        .support_requests;
    assert_eq!(
        queue.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        [waiting.name.as_str()]
    );
    // Nobody else's: another country's contact point does not see it.
    let hidden = requests
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: waiting.name.clone(),
            },
            &app.token("requester", "ua-cert"),
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    // The filer waits; it neither transmits its own request nor edits it.
    let own = requests
        .transmit_support_request(authed(
            pb::TransmitSupportRequestRequest {
                name: waiting.name.clone(),
                note: String::new(),
            },
            &filer,
        ))
        .await
        .unwrap_err();
    assert_eq!(own.code(), Code::PermissionDenied, "{own:?}");
    // The contact point does not decide: it may not authorise.
    let decide = app
        .dispatch()
        .await
        .authorise_support(authed(
            pb::AuthoriseSupportRequest {
                name: waiting.name.clone(),
                ..Default::default()
            },
            &spoc,
        ))
        .await
        .unwrap_err();
    assert_eq!(decide.code(), Code::PermissionDenied);

    // Returned with a reason: a draft of its filer again.
    let no_reason = requests
        .return_support_request(authed(
            pb::ReturnSupportRequestRequest {
                name: waiting.name.clone(),
                reason: "  ".into(),
            },
            &spoc,
        ))
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    assert_eq!(
        state(&app.read("md-csirt", &waiting.name).await),
        S::AwaitingTransmission,
        "a refused return writes nothing"
    );
    let returned = requests
        .return_support_request(authed(
            pb::ReturnSupportRequestRequest {
                name: waiting.name.clone(),
                reason: "Name the SCADA vendor in the description".into(),
            },
            &spoc,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&returned), S::Draft);
    assert_eq!(
        returned.decision_note,
        "Name the SCADA vendor in the description"
    );
    assert!(returned.contact_point.is_empty());
    let gone = requests
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: waiting.name.clone(),
            },
            &spoc,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "a draft is its filer's alone");

    // Edited, submitted again, transmitted with a note.
    requests
        .update_support_request(authed(
            pb::UpdateSupportRequestRequest {
                support_request: Some(pb::SupportRequest {
                    name: waiting.name.clone(),
                    description: "SCADA historian (vendor X) and billing encrypted.".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["description".into()],
                }),
            },
            &filer,
        ))
        .await
        .unwrap();
    let again = requests
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: waiting.name.clone(),
            },
            &filer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&again), S::AwaitingTransmission);
    app.clock.advance(chrono::Duration::hours(3));
    let referred = app
        .transmit("md-spoc", &waiting.name, "Grid operator confirmed")
        .await;
    assert_eq!(state(&referred), S::Referred);
    assert_eq!(rule(&referred, "CSA-ROUTE"), pb::RuleOutcome::Pass);
    let transmission = referred.transmission.as_ref().unwrap();
    assert_eq!(transmission.transmitted_by, "organisations/md-spoc");
    assert_eq!(transmission.note, "Grid operator confirmed");
    // The clock runs from the transmission, not from the filing.
    assert!(seconds(&transmission.transmit_time) >= seconds(&again.submit_time) + 3 * 3600);
    // Transmitted once.
    let twice = requests
        .transmit_support_request(authed(
            pb::TransmitSupportRequestRequest {
                name: waiting.name.clone(),
                note: String::new(),
            },
            &spoc,
        ))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    // The filer and its contact point both follow it.
    assert_eq!(
        state(&app.read("md-csirt", &waiting.name).await),
        S::Referred
    );
    assert_eq!(
        state(&app.read("md-spoc", &waiting.name).await),
        S::Referred
    );
    let trail = actions(&app, &waiting.name).await;
    for action in [
        "AwaitTransmission",
        "ReturnSupportRequest",
        "TransmitSupportRequest",
        "ReferToCommission",
    ] {
        assert!(trail.iter().any(|a| a == action), "{action} in {trail:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_forty_eight_hours_run_from_the_transmission() {
    let app = spawn_app().await;
    let filed = app.submit_new("ro-dnsc", member_state_request("RO")).await;
    assert_eq!(state(&filed), S::AwaitingTransmission);
    // The contact point transmits a day later.
    app.clock.advance(chrono::Duration::hours(24));
    let eligible = app.transmit("ro-csirt", &filed.name, "").await;
    assert_eq!(state(&eligible), S::Eligible);
    let transmitted = seconds(&eligible.transmission.as_ref().unwrap().transmit_time);
    assert_eq!(
        seconds(&eligible.response_deadline),
        transmitted + 48 * 3600
    );
    // 47 hours after the filing plus 24: not yet breached.
    app.clock.advance(chrono::Duration::hours(47));
    fire_due(&app).await;
    assert!(!app.read("ro-dnsc", &filed.name).await.deadline_breached);
    app.clock.advance(chrono::Duration::hours(2));
    fire_due(&app).await;
    assert!(app.read("ro-dnsc", &filed.name).await.deadline_breached);
    app.stop().await;
}

#[tokio::test]
async fn a_finding_is_for_the_decider_to_set_aside_and_a_legal_bar_ends_the_request() {
    let app = spawn_app().await;
    let mut body = member_state_request("RO");
    body.affected_entities[0].sector = pb::Sector::OtherSector as i32;
    let outside = app.submit_new("ro-csirt", body).await;
    assert_eq!(state(&outside), S::Eligible);
    let decision = outside.eligibility.as_ref().unwrap();
    assert!(decision.recommend_rejection);
    let sector = decision
        .results
        .iter()
        .find(|r| r.rule_id == "CSA-SECTOR")
        .unwrap();
    assert_eq!(sector.outcome, pb::RuleOutcome::Fail as i32);
    assert_eq!(sector.kind, pb::RuleKind::Finding as i32);
    assert!(
        decision.entities.iter().all(|e| !e.covered),
        "{:?}",
        decision.entities
    );

    let officer = app.token("duty_officer", "enisa");
    let grant = |overrides: Vec<pb::RuleOverride>| pb::AuthoriseSupportRequest {
        name: outside.name.clone(),
        granted_lines: vec![pb::ServiceLine {
            service: IR as i32,
            person_days: 5,
            ..Default::default()
        }],
        duration_days: 30,
        overrides,
        reasons: vec![pb::CriterionReason {
            criterion: pb::Criterion::ScaleAndSeverity as i32,
            reason: "Nationwide outage of payments".into(),
        }],
        ..Default::default()
    };
    let mut dispatch = app.dispatch().await;
    // Authorising against the finding needs it set aside, by name.
    let silent = dispatch
        .authorise_support(authed(grant(vec![]), &officer))
        .await
        .unwrap_err();
    assert_eq!(silent.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&silent), ["overrides"]);
    let wrong = dispatch
        .authorise_support(authed(
            grant(vec![pb::RuleOverride {
                rule_id: "CSA-USER".into(),
                justification: "Not a finding".into(),
            }]),
            &officer,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&wrong),
        ["overrides[0].rule_id", "overrides"]
    );
    assert_eq!(
        state(&app.read("ro-csirt", &outside.name).await),
        S::Eligible,
        "a refused decision writes nothing"
    );
    let justification = "A payment processor serving banks: a financial market infrastructure";
    let authorised = dispatch
        .authorise_support(authed(
            grant(vec![pb::RuleOverride {
                rule_id: "CSA-SECTOR".into(),
                justification: justification.into(),
            }]),
            &officer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&authorised), S::Authorised);
    let assessment = authorised.assessment.as_ref().unwrap();
    assert!(assessment.conditions_met);
    assert_eq!(assessment.overrides[0].rule_id, "CSA-SECTOR");
    assert_eq!(assessment.reasons.len(), 1);
    assert_eq!(
        assessment.covered_entities,
        [outside.affected_entities[0].name.clone()],
        "set aside, the finding's entities are served"
    );
    let events = app.events(&outside.name).await;
    let recorded = events
        .iter()
        .find(|e| e.action == "AuthoriseSupport")
        .unwrap();
    assert!(
        recorded.payload.contains(justification),
        "{}",
        recorded.payload
    );

    // A rejection records the criteria it rests on.
    let second = app.submit_new("ro-csirt", member_state_request("RO")).await;
    let rejected = dispatch
        .reject_support_request(authed(
            pb::RejectSupportRequestRequest {
                name: second.name.clone(),
                reason: "Other requests rank higher".into(),
                reasons: vec![pb::CriterionReason {
                    criterion: pb::Criterion::OwnMeasures as i32,
                    reason: "Few measures taken".into(),
                }],
                conditions_met: true,
                ..Default::default()
            },
            &officer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&rejected), S::Rejected);
    let assessment = rejected.assessment.as_ref().unwrap();
    assert!(assessment.conditions_met);
    assert_eq!(
        assessment.reasons[0].criterion,
        pb::Criterion::OwnMeasures as i32
    );

    // A legal bar: Ukraine has no Council implementing act.
    let mut ua = moldova_request();
    ua.affected_entities[0].country = "UA".into();
    ua.countries_affected = vec!["UA".into()];
    let barred = app.submit_new("ua-cert", ua).await;
    assert_eq!(state(&barred), S::Ineligible);
    assert!(!barred.eligibility.as_ref().unwrap().recommend_rejection);
    let council = barred
        .eligibility
        .as_ref()
        .unwrap()
        .results
        .iter()
        .find(|r| r.rule_id == "CSA-TC-COUNCIL")
        .unwrap();
    assert_eq!(council.kind, pb::RuleKind::LegalBar as i32);
    let closed = dispatch
        .authorise_support(authed(
            pb::AuthoriseSupportRequest {
                name: barred.name.clone(),
                ..grant(vec![])
            },
            &app.token("commission", "ec"),
        ))
        .await
        .unwrap_err();
    assert_eq!(closed.code(), Code::FailedPrecondition, "{closed:?}");
    app.stop().await;
}

/// An authorised RO request with nordic-ir offered its line; returns its name.
async fn dispatched(app: &TestApp, duration_days: u32) -> String {
    app.commit_capacity("nordic-ir", IR, 100).await;
    let name = app
        .submit_new("ro-csirt", member_state_request("RO"))
        .await
        .name;
    app.dispatch()
        .await
        .authorise_support(authed(
            pb::AuthoriseSupportRequest {
                name: name.clone(),
                granted_lines: vec![pb::ServiceLine {
                    service: IR as i32,
                    person_days: 5,
                    ..Default::default()
                }],
                duration_days,
                ..Default::default()
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .expect("authorised");
    let approved = approve(app, &name, vec![plan(0, "nordic-ir", &[], "Closest team")])
        .await
        .expect("approved");
    assert_eq!(state(&approved), S::Dispatching);
    name
}

#[tokio::test]
async fn the_support_period_ends_with_the_duration_granted() {
    let app = spawn_app().await;
    let name = dispatched(&app, 10).await;
    let read = app.read("ro-csirt", &name).await;
    let period = read.support_period.as_ref().unwrap();
    assert_eq!(
        seconds(&period.end_time) - seconds(&period.start_time),
        10 * 86_400
    );
    assert!(!period.ended && period.council_act.is_empty());

    // A week before its end, the warning.
    app.clock
        .advance(chrono::Duration::days(3) + chrono::Duration::minutes(1));
    fire_due(&app).await;
    assert!(
        actions(&app, &name)
            .await
            .contains(&"SupportPeriodEnding".to_owned())
    );
    // Its offer expired meanwhile, with no one else to offer it to.
    assert_eq!(
        state(&app.read("ro-csirt", &name).await),
        S::WaitingCapacity
    );

    // At its end: nothing more is offered, the request is completed and
    // its summary report falls due in two months.
    app.clock.advance(chrono::Duration::days(7));
    fire_due(&app).await;
    let ended = app.read("ro-csirt", &name).await;
    assert_eq!(state(&ended), S::Completed);
    assert!(ended.support_period.as_ref().unwrap().ended);
    assert!(
        offers_of(&app, "nordic-ir")
            .await
            .iter()
            .filter(|o| o.support_request == name)
            .all(|o| o.state != pb::OfferState::Offered as i32),
        "no offer stays open"
    );
    assert!(
        actions(&app, &name)
            .await
            .contains(&"SupportPeriodEnded".to_owned())
    );
    app.clock.advance(chrono::Duration::days(62));
    fire_due(&app).await;
    assert!(
        actions(&app, &name)
            .await
            .contains(&"SummaryReportOverdue".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_repealed_council_act_ends_the_support_authorised_under_it() {
    let app = spawn_app().await;
    app.commit_capacity("danube-cyber", IR, 100).await;
    let name = app.submit_new("md-spoc", moldova_request()).await.name;
    authorise(&app, &name, &[(IR, 5)], "commission").await;
    approve(
        &app,
        &name,
        vec![plan(0, "danube-cyber", &[], "Speaks Romanian")],
    )
    .await
    .expect("approved");
    // danube-cyber accepts before the act ends; its agreement comes late.
    let offer = offers_of(&app, "danube-cyber")
        .await
        .into_iter()
        .find(|o| o.support_request == name && o.state == pb::OfferState::Offered as i32)
        .expect("an open offer")
        .name;
    let mut providers = app.provider_client().await;
    let danube = app.token("provider", "danube-cyber");
    providers
        .accept_offer(authed(
            pb::AcceptOfferRequest {
                name: offer.clone(),
            },
            &danube,
        ))
        .await
        .expect("accepted");
    let before = app.read("md-spoc", &name).await;
    let act = before.support_period.as_ref().unwrap().council_act.clone();
    assert!(!act.is_empty(), "authorised under the act in force");

    // The Council repeals the act from tomorrow: its last day is today.
    let md = app
        .registry()
        .await
        .get_country(authed(
            pb::GetCountryRequest {
                name: "countries/MD".into(),
            },
            &app.token("admin", "reserve-admin"),
        ))
        .await
        .unwrap()
        .into_inner();
    let mut acts = md.council_acts.clone();
    for a in acts.iter_mut().filter(|a| a.reference == act) {
        a.repeal_date = day_from_today(1);
    }
    app.update_country("MD", &["council_acts"], |c| c.council_acts = acts)
        .await;
    let moved = app.read("md-spoc", &name).await;
    let ends = seconds(&moved.support_period.as_ref().unwrap().end_time);
    assert!(ends < seconds(&before.support_period.as_ref().unwrap().end_time));
    assert_eq!(ends % 86_400, 0, "at the end of the act's last day");
    assert!(ends - chrono::Utc::now().timestamp() <= 86_400);
    let trail = app.events(&name).await;
    let ended = trail
        .iter()
        .find(|e| e.action == "CouncilActEnded")
        .expect("the end of the act is recorded on the request");
    assert!(ended.payload.contains(&act), "{}", ended.payload);

    app.clock
        .advance(chrono::Duration::days(1) + chrono::Duration::hours(1));
    fire_due(&app).await;
    let completed = app.read("md-spoc", &name).await;
    assert_eq!(state(&completed), S::Completed);
    // No agreement after the end of the support.
    let late = providers
        .record_agreement(authed(
            pb::RecordAgreementRequest {
                name: offer,
                agreement: Some(pb::Agreement {
                    reference: "SA-MD-LATE".into(),
                    template_version: "CSR-SA-2026.1".into(),
                    sign_time: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp(),
                        nanos: 0,
                    }),
                    liability_conditions: "Art. 16(6)".into(),
                    affected_entity: String::new(),
                }),
            },
            &danube,
        ))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition, "{late:?}");

    // Nothing more is authorised or dispatched under an act that ended.
    let next = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(rule(&next, "CSA-TC-COUNCIL"), pb::RuleOutcome::Fail);
    app.stop().await;
}
