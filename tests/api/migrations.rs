//! The request aggregate's migration, both ways, on a database with
//! requests in it: `migrate down` moves every part of a request back into
//! its child table, and `migrate up` brings the same request back.

use migration::{Migrator, MigratorTrait};
use reserve_dispatch::grpc::pb;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::helpers::{authed, moldova_request, spawn_on, state};

async fn count(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

#[tokio::test]
async fn the_aggregate_migration_moves_a_request_out_and_back() {
    let app = crate::helpers::spawn_app().await;
    let (db_handle, keys) = (app.db.clone(), app.keys.clone());
    // A Moldovan request carried to its summary report: entities, lines,
    // an evaluation, granted lines and the report are all stored.
    app.commit_capacity("danube-cyber", pb::ServiceType::IncidentResponse, 30)
        .await;
    let name = app.submit_new("md-spoc", moldova_request()).await.name;
    app.dispatch()
        .await
        .authorise_support(authed(
            pb::AuthoriseSupportRequest {
                name: name.clone(),
                granted_lines: vec![pb::ServiceLine {
                    service: pb::ServiceType::IncidentResponse as i32,
                    person_days: 10,
                    ..Default::default()
                }],
                duration_days: 30,
                ..Default::default()
            },
            &app.token("commission", "ec"),
        ))
        .await
        .unwrap();
    app.dispatch()
        .await
        .approve_dispatch(authed(
            pb::ApproveDispatchRequest {
                name: name.clone(),
                plan: vec![pb::LinePlan {
                    line_index: 0,
                    provider: "danube-cyber".into(),
                    justification: "known to the user".into(),
                    ..Default::default()
                }],
                version: 0,
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap();
    let danube = app.token("provider", "danube-cyber");
    let mut providers = app.provider_client().await;
    let offer = providers
        .list_offers(authed(pb::ListOffersRequest::default(), &danube))
        .await
        .unwrap()
        .into_inner()
        .offers
        .into_iter()
        .find(|o| o.support_request == name)
        .unwrap()
        .name;
    providers
        .accept_offer(authed(
            pb::AcceptOfferRequest {
                name: offer.clone(),
            },
            &danube,
        ))
        .await
        .unwrap();
    providers
        .record_agreement(authed(
            pb::RecordAgreementRequest {
                name: offer.clone(),
                agreement: Some(pb::Agreement {
                    reference: "SA-MD-9".into(),
                    template_version: "CSR-SA-2026.1".into(),
                    sign_time: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() - 60,
                        nanos: 0,
                    }),
                    liability_conditions: "Art. 16(6)".into(),
                    affected_entity: String::new(),
                }),
            },
            &danube,
        ))
        .await
        .unwrap();
    providers
        .complete_assignment(authed(
            pb::CompleteAssignmentRequest {
                name: offer,
                delivery_note: "Delivered".into(),
            },
            &danube,
        ))
        .await
        .unwrap();
    app.requests()
        .await
        .submit_summary_report(authed(
            pb::SubmitSummaryReportRequest {
                name: name.clone(),
                service_provided: "Containment".into(),
                results: "Restored".into(),
                lessons_learned: "Offline backups".into(),
            },
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap();
    let before = app.read("md-spoc", &name).await;
    assert_eq!(state(&before), pb::RequestState::Reported);
    app.stop().await;

    let db = Database::connect(&db_handle.url).await.unwrap();
    // Down past reports and preparedness, the notifications, the audit
    // tree, the Act's process (transmission, assessment, support period)
    // and the aggregate itself.
    Migrator::down(&db, Some(5)).await.unwrap();
    // Every part of every request is a row of its child table again.
    let requests = count(&db, "support_requests").await;
    assert!(requests >= 1);
    assert_eq!(
        count(&db, "affected_entities").await,
        before.affected_entities.len() as i64
    );
    assert_eq!(
        count(&db, "service_lines").await,
        before.service_lines.len() as i64
    );
    assert_eq!(count(&db, "eligibility_evaluations").await, 1);
    assert_eq!(count(&db, "granted_lines").await, 1);
    assert_eq!(count(&db, "summary_reports").await, 1);
    // ... and the queue of unsealed events is gone, sealed into the chain.
    assert!(
        db.query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM audit_pending".to_owned(),
        ))
        .await
        .is_err(),
        "the queue of events is dropped with the migration"
    );

    Migrator::up(&db, None).await.unwrap();
    db.close().await.ok();
    let app = spawn_on(db_handle, keys).await;
    let after = app.read("md-spoc", &name).await;
    // The schema before the Act's process had no place for the decider's
    // assessment or the support period: those are lost going down (see
    // DECISIONS.md); the transmission is derived again from the submission.
    assert!(before.assessment.is_some() && before.support_period.is_some());
    let mut whole = pb::SupportRequest {
        assessment: None,
        support_period: None,
        ..before.clone()
    };
    // Nor for the entities an evaluation judged covered.
    for decision in whole.eligibility.iter_mut().chain(&mut whole.evaluations) {
        decision.entities.clear();
    }
    assert_eq!(after, whole, "the request came back whole");
    // The chain still verifies over the events sealed on the way down.
    let verified = app.verify_chain().await;
    assert!(verified.ok, "{verified:?}");
    app.stop().await;
}
