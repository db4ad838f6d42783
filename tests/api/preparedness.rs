//! Reporting that runs itself and unused capacity converted into
//! preparedness services (Art. 14(2), 16(11)-(12), 25(3)): with the manual
//! clock, a commitment nearing its end raises the notice, conversions are
//! proposed, answered, delivered and reported; a reporting period ends and
//! both views' reports appear on their own, sealed in the audit chain.

use sha2::Digest;
use tonic::Code;

use crate::helpers::{
    TestApp, authed, day_from_today, member_state_request, moldova_request, spawn_app,
};
use reserve_dispatch::grpc::pb;

const IR: pb::ServiceType = pb::ServiceType::IncidentResponse;

async fn preparedness(
    app: &TestApp,
) -> pb::preparedness_service_client::PreparednessServiceClient<tonic::transport::Channel> {
    pb::preparedness_service_client::PreparednessServiceClient::new(app.channel().await)
}

/// A commitment of `provider` whose period ends `ends_in` days from today.
async fn commitment(
    app: &TestApp,
    provider: &str,
    days: u32,
    ends_in: i64,
) -> pb::CapacityCommitment {
    app.registry()
        .await
        .create_capacity_commitment(authed(
            pb::CreateCapacityCommitmentRequest {
                capacity_commitment: Some(pb::CapacityCommitment {
                    provider: format!("providers/{provider}"),
                    service: IR as i32,
                    person_days: days,
                    period_start: day_from_today(-100),
                    period_end: day_from_today(ends_in),
                    ..Default::default()
                }),
            },
            &app.token("admin", "reserve-admin"),
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn propose(
    app: &TestApp,
    commitment: &str,
    organisation: &str,
    days: u32,
) -> Result<pb::Conversion, tonic::Status> {
    preparedness(app)
        .await
        .propose_conversion(authed(
            pb::ProposeConversionRequest {
                conversion: Some(pb::Conversion {
                    capacity_commitment: commitment.into(),
                    organisation: format!("organisations/{organisation}"),
                    preparedness_service: pb::PreparednessServiceType::Exercise as i32,
                    person_days: days,
                    description: "A national tabletop exercise on ransomware".into(),
                    ..Default::default()
                }),
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .map(|r| r.into_inner())
}

async fn held_and_consumed(app: &TestApp, name: &str) -> (u32, u32) {
    let c = app
        .registry()
        .await
        .get_capacity_commitment(authed(
            pb::GetCapacityCommitmentRequest { name: name.into() },
            &app.token("admin", "reserve-admin"),
        ))
        .await
        .unwrap()
        .into_inner();
    (c.held_person_days, c.consumed_person_days)
}

async fn fire_timers(app: &TestApp) -> usize {
    reserve_dispatch::worker::run_once(&app.app, "test")
        .await
        .expect("timers fire")
}

async fn actions(app: &TestApp, resource: &str) -> Vec<String> {
    app.events(resource)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn unused_capacity_is_noticed_converted_delivered_and_reported() {
    let app = spawn_app().await;
    let c = commitment(&app, "nordic-ir", 40, 10).await;
    // The notice is due at once: the period ends within the notice days.
    assert!(fire_timers(&app).await >= 1);
    let noticed = app.events(&c.name).await;
    let notice = noticed
        .iter()
        .find(|e| e.action == "CapacityCommitmentEnding")
        .expect("the duty officers are told");
    let payload: serde_json::Value = serde_json::from_str(&notice.payload).unwrap();
    assert_eq!(payload["unused_person_days"], 40);

    let provider = app.token("provider", "nordic-ir");
    let mut client = preparedness(&app).await;
    // Proposed, accepted, delivered.
    let exercise = propose(&app, &c.name, "ro-csirt", 15).await.unwrap();
    assert_eq!(
        exercise.state,
        pb::ConversionState::ConversionProposed as i32
    );
    assert_eq!(held_and_consumed(&app, &c.name).await, (15, 0));
    let accepted = client
        .accept_conversion(authed(
            pb::AcceptConversionRequest {
                name: exercise.name.clone(),
            },
            &provider,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        accepted.state,
        pb::ConversionState::ConversionAccepted as i32
    );
    assert_eq!(held_and_consumed(&app, &c.name).await, (0, 15));
    let delivered = client
        .complete_conversion(authed(
            pb::CompleteConversionRequest {
                name: exercise.name.clone(),
                delivery_note: "Exercise held on site with 40 participants".into(),
            },
            &provider,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        delivered.state,
        pb::ConversionState::ConversionDelivered as i32
    );
    assert!(delivered.deliver_time.is_some());
    // Delivering twice is an illegal transition.
    let again = client
        .complete_conversion(authed(
            pb::CompleteConversionRequest {
                name: exercise.name.clone(),
                delivery_note: "again".into(),
            },
            &provider,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    // Declined: the days are free again.
    let declined = propose(&app, &c.name, "md-csirt", 10).await.unwrap();
    client
        .decline_conversion(authed(
            pb::DeclineConversionRequest {
                name: declined.name.clone(),
                note: "no Romanian speakers free".into(),
            },
            &provider,
        ))
        .await
        .unwrap();
    assert_eq!(held_and_consumed(&app, &c.name).await, (0, 15));
    // More than is free, a user without a Council act, and a bad request.
    let too_much = propose(&app, &c.name, "ro-csirt", 26).await.unwrap_err();
    assert_eq!(too_much.code(), Code::FailedPrecondition, "{too_much:?}");
    let ukraine = propose(&app, &c.name, "ua-cert", 5).await.unwrap_err();
    assert_eq!(ukraine.code(), Code::FailedPrecondition, "{ukraine:?}");
    assert!(ukraine.message().contains("Council act"), "{ukraine:?}");
    let invalid = propose(&app, "commitments/1", "ro-csirt", 0)
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = crate::helpers::violated_fields(&invalid);
    assert!(
        fields.contains(&"conversion.capacity_commitment".to_owned()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"conversion.person_days".to_owned()),
        "{fields:?}"
    );
    // Another provider does not see it; the user organisation does.
    let hidden = client
        .get_conversion(authed(
            pb::GetConversionRequest {
                name: exercise.name.clone(),
            },
            &app.token("provider", "danube-cyber"),
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let own = client
        .list_conversions(authed(
            pb::ListConversionsRequest::default(),
            &app.token("requester", "ro-csirt"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.conversions.len(), 1);
    assert_eq!(own.conversions[0].name, exercise.name);
    // A proposal left open lapses with the period.
    let open = propose(&app, &c.name, "md-csirt", 5).await.unwrap();
    assert_eq!(held_and_consumed(&app, &c.name).await, (5, 15));

    app.clock.advance(chrono::Duration::days(11));
    assert!(fire_timers(&app).await >= 1);
    let lapsed = client
        .get_conversion(authed(
            pb::GetConversionRequest {
                name: open.name.clone(),
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lapsed.state, pb::ConversionState::ConversionLapsed as i32);
    assert_eq!(held_and_consumed(&app, &c.name).await, (0, 15));
    let ended = app
        .events(&c.name)
        .await
        .into_iter()
        .find(|e| e.action == "CapacityCommitmentEnded")
        .expect("the end is recorded");
    let payload: serde_json::Value = serde_json::from_str(&ended.payload).unwrap();
    assert_eq!(payload["converted_person_days"], 15);
    assert_eq!(payload["lapsed_person_days"], 25);
    assert_eq!(
        actions(&app, &open.name).await,
        ["ProposeConversion", "LapseConversion"]
    );
    // After the end nothing more is converted.
    let late = propose(&app, &c.name, "ro-csirt", 1).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);

    // The unused-capacity report: converted and lapsed.
    let duty = app.token("duty_officer", "enisa");
    let unused = app
        .registry()
        .await
        .list_unused_capacity(authed(pb::ListUnusedCapacityRequest::default(), &duty))
        .await
        .unwrap()
        .into_inner();
    let entry = unused
        .entries
        .iter()
        .find(|e| e.commitment == c.name)
        .expect("the commitment is reported");
    assert_eq!(
        (
            entry.consumed_person_days,
            entry.converted_person_days,
            entry.lapsed_person_days,
            entry.unused_person_days
        ),
        (0, 15, 25, 40)
    );
    // The usage report's evaluation: 15 of 40 converted.
    let now = app.app.now();
    let report = app
        .dispatch()
        .await
        .get_usage_report(authed(
            pb::GetUsageReportRequest {
                period_start: Some(prost_types::Timestamp {
                    seconds: (now - chrono::Duration::days(30)).timestamp(),
                    nanos: 0,
                }),
                period_end: Some(prost_types::Timestamp {
                    seconds: now.timestamp(),
                    nanos: 0,
                }),
                view: pb::UsageView::NisCooperationGroup as i32,
            },
            &duty,
        ))
        .await
        .unwrap()
        .into_inner();
    let evaluation = report.evaluation.expect("the measures");
    assert_eq!(evaluation.committed_person_days, 40);
    assert_eq!(evaluation.converted_person_days, 15);
    assert_eq!(evaluation.lapsed_person_days, 25);
    assert_eq!(evaluation.converted_percent, 37.5);
    let ir = evaluation
        .by_service
        .iter()
        .find(|s| s.service == IR as i32)
        .expect("incident response");
    assert_eq!(ir.converted_person_days, 15);
    app.stop().await;
}

#[tokio::test]
async fn two_duty_officers_cannot_convert_the_same_person_days() {
    let app = spawn_app().await;
    for round in 0..4 {
        let c = commitment(&app, "nordic-ir", 10, 20 + round).await;
        let (a, b) = tokio::join!(
            propose(&app, &c.name, "ro-csirt", 10),
            propose(&app, &c.name, "bg-csirt", 10)
        );
        let outcomes = [a.is_ok(), b.is_ok()];
        assert_eq!(
            outcomes.iter().filter(|ok| **ok).count(),
            1,
            "round {round}: {a:?} {b:?}"
        );
        let refused = if a.is_ok() { b } else { a }.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert_eq!(held_and_consumed(&app, &c.name).await, (10, 0));
    }
    app.stop().await;
}

/// The period containing the server's now, as the service counts it.
fn current_period(app: &TestApp) -> (chrono::NaiveDate, chrono::NaiveDate) {
    reserve_dispatch::domain::usage::period_containing(app.app.now().date_naive(), 6)
}

#[tokio::test]
async fn each_views_report_appears_at_the_end_of_its_period_sealed_in_the_chain() {
    let app = spawn_app().await;
    let (start, end) = current_period(&app);
    let pending = reserve_dispatch::store::timers::pending(&app.app.db)
        .await
        .unwrap();
    assert!(
        pending
            .iter()
            .any(|(kind, target, _)| kind == "USAGE_REPORT_DUE" && *target == start.to_string()),
        "{pending:?}"
    );
    app.submit_new("ro-csirt", member_state_request("RO")).await;
    app.submit_new("md-spoc", moldova_request()).await;
    let duty = app.token("duty_officer", "enisa");
    let commission = app.token("commission", "ec");
    let list = |token: String| {
        let app = &app;
        async move {
            app.dispatch()
                .await
                .list_usage_reports(authed(pb::ListUsageReportsRequest::default(), &token))
                .await
                .unwrap()
                .into_inner()
                .usage_reports
        }
    };
    assert!(
        list(duty.clone()).await.is_empty(),
        "nothing before the end"
    );

    // The period ends: both reports appear on their own.
    let until_end = reserve_dispatch::domain::usage::midnight(end) - app.app.now();
    app.clock.advance(until_end + chrono::Duration::minutes(1));
    assert!(fire_timers(&app).await >= 1);
    assert_eq!(fire_timers(&app).await, 0, "fired once");
    let reports = list(duty.clone()).await;
    assert_eq!(reports.len(), 2, "{reports:?}");
    for r in &reports {
        assert_eq!(r.state, pb::UsageReportState::ReportProduced as i32);
        assert_eq!(
            r.sha256,
            hex::encode(sha2::Sha256::digest(r.content.as_bytes()))
        );
        let produced = app.events(&r.name).await;
        assert_eq!(produced.len(), 1);
        assert_eq!(produced[0].action, "ProduceUsageReport");
        let payload: serde_json::Value = serde_json::from_str(&produced[0].payload).unwrap();
        assert_eq!(payload["sha256"], r.sha256, "the hash is in the chain");
        let report = r.report.as_ref().unwrap();
        assert_eq!(report.total_requests, 1, "{}", r.content);
    }
    let council = list(commission.clone()).await;
    assert_eq!(council.len(), 1, "the Commission reads the Council's");
    assert_eq!(council[0].view, pb::UsageView::Council as i32);
    // The next period's report is due at its end.
    let pending = reserve_dispatch::store::timers::pending(&app.app.db)
        .await
        .unwrap();
    assert!(
        pending
            .iter()
            .any(|(kind, target, _)| kind == "USAGE_REPORT_DUE" && *target == end.to_string()),
        "{pending:?}"
    );

    // Transmission: recorded once, by an officer who may read the report.
    let nis = reports
        .iter()
        .find(|r| r.view == pb::UsageView::NisCooperationGroup as i32)
        .unwrap();
    let transmit = |name: String, token: String| {
        let app = &app;
        async move {
            app.dispatch()
                .await
                .transmit_usage_report(authed(
                    pb::TransmitUsageReportRequest {
                        name,
                        recipient: "NIS Cooperation Group secretariat".into(),
                        transmit_time: None,
                        note: "sent by e-mail".into(),
                    },
                    &token,
                ))
                .await
        }
    };
    let hidden = transmit(nis.name.clone(), commission.clone())
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let sent = transmit(nis.name.clone(), duty.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.state, pb::UsageReportState::ReportTransmitted as i32);
    let t = sent.transmission.as_ref().unwrap();
    assert_eq!(t.recipient, "NIS Cooperation Group secretariat");
    assert!(!t.transmitted_by.is_empty());
    assert_eq!(sent.content, nis.content, "the content never changes");
    let twice = transmit(nis.name.clone(), duty.clone()).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    transmit(council[0].name.clone(), commission.clone())
        .await
        .unwrap();
    assert_eq!(
        actions(&app, &nis.name).await,
        ["ProduceUsageReport", "TransmitUsageReport"]
    );
    let verified = app.verify_chain().await;
    assert!(verified.ok, "{verified:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_metrics_endpoint_shows_the_evaluation() {
    let app = spawn_app().await;
    app.commit_capacity("danube-cyber", IR, 50).await;
    let r = app.submit_new("ro-csirt", member_state_request("RO")).await;
    crate::helpers::authorise(&app, &r.name, &[(IR, 6)], "duty_officer").await;
    app.app.metrics.refresh(&app.app).await.unwrap();
    let text = app.app.metrics.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("reserve_evaluation_person_days{")
                && l.contains("kind=\"granted\"")
                && l.contains("service=\"INCIDENT_RESPONSE\"")
                && l.ends_with(" 6")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("reserve_evaluation_hours{")
                && l.contains("measure=\"to_decision\"")
                && l.contains("user_kind=\"MS_CSIRT\"")),
        "{text}"
    );
    assert!(
        text.contains("reserve_evaluation_converted_percent"),
        "{text}"
    );
    app.stop().await;
}
