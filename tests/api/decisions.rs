//! Queues and decisions: who decides what, in which order, within which limits.

use tonic::Code;

use crate::helpers::{
    authed, member_state_request, moldova_request, spawn_app, state, violated_fields,
};
use reserve_dispatch::grpc::pb;

use pb::RequestState as S;

fn grant(name: &str, lines: &[(pb::ServiceType, u32)], days: u32) -> pb::AuthoriseSupportRequest {
    pb::AuthoriseSupportRequest {
        name: name.into(),
        granted_lines: lines
            .iter()
            .map(|(service, person_days)| pb::ServiceLine {
                service: *service as i32,
                person_days: *person_days,
                ..Default::default()
            })
            .collect(),
        duration_days: days,
        note: String::new(),
        version: 0,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_commission_decides_third_countries_within_the_council_cap() {
    let app = spawn_app().await;
    let referred = app.submit_new("md-spoc", moldova_request()).await;
    let mut dispatch = app.dispatch().await;
    let commission = app.token("commission", "ec-dg-cnect");
    let duty = app.token("duty_officer", "enisa");

    let queue = dispatch
        .list_assessment_queue(authed(
            pb::ListAssessmentQueueRequest::default(),
            &commission,
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(queue.len(), 1);
    let entry = &queue[0];
    assert_eq!(entry.support_request.as_ref().unwrap().name, referred.name);
    assert!(!entry.overdue);
    let left = entry.time_left.as_ref().unwrap().seconds;
    assert!(
        left > 71 * 3600 && left <= 72 * 3600,
        "third-country target of 72 h: {left}"
    );
    assert!(
        entry
            .support_request
            .as_ref()
            .unwrap()
            .priority
            .as_ref()
            .unwrap()
            .total
            > 0.0
    );
    // Not in the duty officer's queue.
    let duty_queue = dispatch
        .list_assessment_queue(authed(pb::ListAssessmentQueueRequest::default(), &duty))
        .await
        .unwrap()
        .into_inner();
    assert!(duty_queue.entries.is_empty());

    let ir = pb::ServiceType::IncidentResponse;
    let refused = dispatch
        .authorise_support(authed(grant(&referred.name, &[(ir, 15)], 30), &duty))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let over_cap = dispatch
        .authorise_support(authed(grant(&referred.name, &[(ir, 15)], 91), &commission))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&over_cap), ["duration_days"]);
    let too_many_days = dispatch
        .authorise_support(authed(grant(&referred.name, &[(ir, 21)], 30), &commission))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&too_many_days),
        ["granted_lines[0].person_days"]
    );
    let not_asked = dispatch
        .authorise_support(authed(
            grant(&referred.name, &[(pb::ServiceType::ThreatHunting, 5)], 30),
            &commission,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&not_asked), ["granted_lines[0].service"]);

    let authorised = dispatch
        .authorise_support(authed(grant(&referred.name, &[(ir, 15)], 90), &commission))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&authorised), S::Authorised);
    assert_eq!(authorised.granted_duration_days, 90);
    assert_eq!(authorised.granted_lines.len(), 1);
    assert_eq!(authorised.granted_lines[0].person_days, 15);
    assert_eq!(
        authorised.granted_lines[0].languages,
        ["ro", "en"],
        "taken from the request"
    );
    let again = dispatch
        .authorise_support(authed(grant(&referred.name, &[(ir, 15)], 30), &commission))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // The requester sees the decision.
    let seen = app
        .requests()
        .await
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: referred.name.clone(),
            },
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&seen), S::Authorised);
    assert_eq!(seen.eligibility, referred.eligibility);
    app.stop().await;
}

#[tokio::test]
async fn no_authorisation_without_a_council_act_in_force() {
    let app = spawn_app().await;
    let referred = app.submit_new("md-spoc", moldova_request()).await;
    app.update_country("MD", &["council_acts"], |c| c.council_acts.clear())
        .await;
    let status = app
        .dispatch()
        .await
        .authorise_support(authed(
            grant(
                &referred.name,
                &[(pb::ServiceType::IncidentResponse, 10)],
                30,
            ),
            &app.token("commission", "ec-dg-cnect"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("Council"));
    app.stop().await;
}

#[tokio::test]
async fn duty_officers_decide_member_states() {
    let app = spawn_app().await;
    let duty = app.token("duty_officer", "enisa");
    let mut dispatch = app.dispatch().await;
    let first = app.submit_new("ro-csirt", member_state_request("RO")).await;
    assert_eq!(state(&first), S::Eligible);

    let hidden = dispatch
        .authorise_support(authed(
            grant(&first.name, &[(pb::ServiceType::IncidentResponse, 5)], 30),
            &app.token("commission", "ec-dg-cnect"),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        hidden.code(),
        Code::NotFound,
        "the Commission does not see Member State requests"
    );

    // Ask for information, the requester completes, resubmits.
    let no_questions = dispatch
        .request_more_information(authed(
            pb::RequestMoreInformationRequest {
                name: first.name.clone(),
                questions: vec![],
                version: 0,
            },
            &duty,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_questions), ["questions"]);
    let asked = dispatch
        .request_more_information(authed(
            pb::RequestMoreInformationRequest {
                name: first.name.clone(),
                questions: vec!["Which backups were restored?".into()],
                version: first.version,
            },
            &duty,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&asked), S::NeedsInfo);
    assert_eq!(asked.decision_note, "Which backups were restored?");
    let resubmitted = app
        .requests()
        .await
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: first.name.clone(),
            },
            &app.token("requester", "ro-csirt"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&resubmitted), S::Eligible);
    assert_eq!(resubmitted.evaluations.len(), 2);

    // A stale version is refused, the current one is taken.
    let stale = dispatch
        .reject_support_request(authed(
            pb::RejectSupportRequestRequest {
                name: first.name.clone(),
                reason: "x".into(),
                version: first.version,
                ..Default::default()
            },
            &duty,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let no_reason = dispatch
        .reject_support_request(authed(
            pb::RejectSupportRequestRequest {
                name: first.name.clone(),
                reason: String::new(),
                version: 0,
                ..Default::default()
            },
            &duty,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let rejected = dispatch
        .reject_support_request(authed(
            pb::RejectSupportRequestRequest {
                name: first.name.clone(),
                reason: "Within national capacity".into(),
                version: resubmitted.version,
                ..Default::default()
            },
            &duty,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&rejected), S::Rejected);
    assert_eq!(rejected.decision_note, "Within national capacity");

    let second = app.submit_new("de-csirt", member_state_request("DE")).await;
    let authorised = dispatch
        .authorise_support(authed(
            grant(
                &second.name,
                &[
                    (pb::ServiceType::IncidentResponse, 20),
                    (pb::ServiceType::DigitalForensics, 4),
                ],
                60,
            ),
            &duty,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&authorised), S::Authorised);
    assert_eq!(authorised.granted_lines.len(), 2);

    let events = app
        .audit()
        .await
        .list_events(authed(
            pb::ListEventsRequest {
                resource: second.name.clone(),
                ..Default::default()
            },
            &app.token("auditor", "oversight"),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let last = events.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.from_state.as_str(),
            last.to_state.as_str()
        ),
        ("AuthoriseSupport", "ELIGIBLE", "AUTHORISED")
    );
    assert_eq!(last.actor, "duty_officer@enisa");
    app.stop().await;
}

#[tokio::test]
async fn the_queue_follows_priority_then_member_states_then_submission_time() {
    let app = spawn_app().await;
    // A LOW local incident first ...
    let mut low = member_state_request("RO");
    low.severity = pb::Severity::Low as i32;
    low.affected_entities[0].entity_type = pb::EntityType::OtherEntity as i32;
    low.affected_entities[0].sector = pb::Sector::Manufacturing as i32;
    let low = app.submit_new("ro-csirt", low).await;
    // ... then a CRITICAL cross-border one affecting an essential entity.
    let mut critical = member_state_request("DE");
    critical.severity = pb::Severity::Critical as i32;
    critical.countries_affected = vec!["DE".into(), "AT".into(), "PL".into()];
    let critical = app.submit_new("de-csirt", critical).await;
    let scores = |r: &pb::SupportRequest| r.priority.unwrap();
    assert!(scores(&critical).total > scores(&low).total);
    assert!(scores(&critical).cross_border > 0.0 && scores(&low).cross_border == 0.0);

    // Equal scores: CERT-EU submitted before a Member State, and two Member States.
    let mut union_entity = member_state_request("EU");
    union_entity.affected_entities[0].sector = pb::Sector::UnionEntity as i32;
    let cert_eu = app.submit_new("cert-eu", union_entity).await;
    let ms_first = app.submit_new("fr-csirt", member_state_request("FR")).await;
    let ms_second = app.submit_new("it-csirt", member_state_request("IT")).await;
    assert_eq!(scores(&cert_eu).total, scores(&ms_first).total);
    assert_eq!(scores(&ms_first).total, scores(&ms_second).total);

    let mut dispatch = app.dispatch().await;
    let duty = app.token("duty_officer", "enisa");
    let mut order = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = dispatch
            .list_assessment_queue(authed(
                pb::ListAssessmentQueueRequest {
                    page_size: 2,
                    page_token,
                },
                &duty,
            ))
            .await
            .unwrap()
            .into_inner();
        order.extend(
            page.entries
                .into_iter()
                .map(|e| e.support_request.unwrap().name),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(
        order,
        [
            critical.name,
            ms_first.name,
            ms_second.name,
            cert_eu.name,
            low.name
        ]
    );

    // Deciding an entry between two pages shifts nothing on the next page.
    let first = dispatch
        .list_assessment_queue(authed(
            pb::ListAssessmentQueueRequest {
                page_size: 2,
                page_token: String::new(),
            },
            &duty,
        ))
        .await
        .unwrap()
        .into_inner();
    dispatch
        .reject_support_request(authed(
            pb::RejectSupportRequestRequest {
                name: order[0].clone(),
                reason: "decided meanwhile".into(),
                version: 0,
                ..Default::default()
            },
            &duty,
        ))
        .await
        .unwrap();
    let second = dispatch
        .list_assessment_queue(authed(
            pb::ListAssessmentQueueRequest {
                page_size: 2,
                page_token: first.next_page_token,
            },
            &duty,
        ))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = second
        .entries
        .into_iter()
        .map(|e| e.support_request.unwrap().name)
        .collect();
    assert_eq!(names, order[2..4].to_vec());
    app.stop().await;
}

#[tokio::test]
async fn only_officers_see_the_queue() {
    let app = spawn_app().await;
    let mut dispatch = app.dispatch().await;
    for role in ["provider", "requester", "admin", "auditor"] {
        let status = dispatch
            .list_assessment_queue(authed(
                pb::ListAssessmentQueueRequest::default(),
                &app.token(role, "md-spoc"),
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
    app.stop().await;
}
