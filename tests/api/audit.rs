//! The audit trail: a verifiable chain, and live streams that miss nothing
//! and show each watcher only what is theirs.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use tokio_stream::StreamExt;

use crate::helpers::{
    TestApp, authed, create, member_state_request, moldova_request, spawn_app, spawn_on,
};
use reserve_dispatch::grpc::pb;

async fn watch(app: &TestApp, token: &str, after: i64) -> tonic::Streaming<pb::AuditEvent> {
    app.audit()
        .await
        .watch_events(authed(
            pb::WatchEventsRequest {
                after_sequence: after,
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("watching")
        .into_inner()
}

/// Receives until `stop` says so, or fails after a few seconds.
async fn collect(
    stream: &mut tonic::Streaming<pb::AuditEvent>,
    mut stop: impl FnMut(&[pb::AuditEvent]) -> bool,
) -> Vec<pb::AuditEvent> {
    let mut seen = Vec::new();
    while !stop(&seen) {
        let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .expect("no error");
        seen.push(next);
    }
    seen
}

async fn execute(app: &TestApp, sql: &str) {
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    db.execute_unprepared(sql).await.unwrap();
    db.close().await.ok();
}

#[tokio::test]
async fn the_chain_verifies_and_tampering_is_found_where_it_happened() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let mut requests = app.requests().await;
    let created = requests
        .create_support_request(authed(create(moldova_request(), "a"), &token))
        .await
        .unwrap()
        .into_inner();
    requests
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: created.name.clone(),
            },
            &token,
        ))
        .await
        .unwrap();
    let ok = app.verify_chain().await;
    assert!(ok.ok, "{ok:?}");
    let events = app.events(&created.name).await;
    assert!(ok.events_checked >= events.len() as i64);
    // Each event links to the one before it.
    let all = app.events("").await;
    for pair in all.windows(2) {
        assert_eq!(pair[1].previous_hash, pair[0].hash);
        assert_eq!(pair[1].sequence, pair[0].sequence + 1);
    }

    let changed = events[1].sequence;
    execute(
        &app,
        &format!(
            "UPDATE audit_events SET payload = '{{\"forged\":true}}' WHERE sequence = {changed}"
        ),
    )
    .await;
    let broken = app.verify_chain().await;
    assert!(!broken.ok);
    assert_eq!(broken.first_broken_sequence, changed);
    execute(
        &app,
        &format!(
            "UPDATE audit_events SET payload = '{}' WHERE sequence = {changed}",
            events[1].payload
        ),
    )
    .await;
    assert!(app.verify_chain().await.ok, "restored");

    let deleted = events[2].sequence;
    execute(
        &app,
        &format!("DELETE FROM audit_events WHERE sequence = {deleted}"),
    )
    .await;
    let gap = app.verify_chain().await;
    assert!(!gap.ok);
    assert_eq!(
        gap.first_broken_sequence,
        deleted + 1,
        "found at the event after the missing one"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_watcher_resumes_from_its_cursor_without_gap_or_duplicate() {
    let app = spawn_app().await;
    let auditor = app.token("auditor", "oversight");
    // Keep writing while the watcher comes and goes.
    let writer = {
        let client = app.requests().await;
        let token = app.token("requester", "ro-csirt");
        tokio::spawn(async move {
            let mut client = client;
            for i in 0..30 {
                client
                    .create_support_request(authed(
                        create(member_state_request("RO"), &format!("w{i}")),
                        &token,
                    ))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut first = watch(&app, &auditor, 0).await;
    let before = collect(&mut first, |seen| seen.len() >= 80).await;
    drop(first);
    let cursor = before.last().unwrap().sequence;
    writer.await.unwrap();
    let last = app.events("").await.last().unwrap().sequence;
    let mut second = watch(&app, &auditor, cursor).await;
    let after = collect(&mut second, |seen| {
        seen.last().is_some_and(|e| e.sequence == last)
    })
    .await;
    let sequences: Vec<i64> = before.iter().chain(&after).map(|e| e.sequence).collect();
    let expected: Vec<i64> = (1..=last).collect();
    assert_eq!(sequences, expected, "every event once, in order");
    app.stop().await;
}

#[tokio::test]
async fn watchers_see_only_what_is_theirs() {
    let app = spawn_app().await;
    app.commit_capacity("nordic-ir", pb::ServiceType::IncidentResponse, 50)
        .await;
    app.commit_capacity("danube-cyber", pb::ServiceType::IncidentResponse, 50)
        .await;
    let start = app.events("").await.last().unwrap().sequence;
    let mut romania = watch(&app, &app.token("requester", "ro-csirt"), start).await;
    let mut danube = watch(&app, &app.token("provider", "danube-cyber"), start).await;

    let md = app.submit_new("md-spoc", moldova_request()).await;
    let ro = app.submit_new("ro-csirt", member_state_request("RO")).await;
    let mut dispatch = app.dispatch().await;
    for (name, role, provider) in [
        (&md.name, "commission", "nordic-ir"),
        (&ro.name, "duty_officer", "danube-cyber"),
    ] {
        dispatch
            .authorise_support(authed(
                pb::AuthoriseSupportRequest {
                    name: name.clone(),
                    granted_lines: vec![pb::ServiceLine {
                        service: pb::ServiceType::IncidentResponse as i32,
                        person_days: 5,
                        ..Default::default()
                    }],
                    duration_days: 30,
                    ..Default::default()
                },
                &app.token(role, "officers"),
            ))
            .await
            .unwrap();
        dispatch
            .approve_dispatch(authed(
                pb::ApproveDispatchRequest {
                    name: name.clone(),
                    plan: vec![pb::LinePlan {
                        line_index: 0,
                        provider: format!("providers/{provider}"),
                        justification: "test".into(),
                        ..Default::default()
                    }],
                    version: 0,
                },
                &app.token("duty_officer", "enisa"),
            ))
            .await
            .unwrap();
    }
    // Romania sees its own request's life, and the offer made for it, nothing of Moldova's.
    let seen = collect(&mut romania, |seen| {
        seen.iter().any(|e| e.action == "MakeOffer")
    })
    .await;
    assert!(
        seen.iter()
            .any(|e| e.resource == ro.name && e.action == "AssessEligibility")
    );
    assert!(seen.iter().all(|e| e.resource != md.name), "{seen:?}");
    // Danube sees its offer, redacted, and nothing else.
    let offers = collect(&mut danube, |seen| !seen.is_empty()).await;
    assert_eq!(offers.len(), 1);
    assert!(offers[0].resource.starts_with("offers/"));
    assert_eq!(offers[0].action, "MakeOffer");
    assert_eq!(offers[0].payload, "{}");
    assert!(offers[0].actor.is_empty());
    let more = tokio::time::timeout(Duration::from_millis(700), danube.next()).await;
    assert!(more.is_err(), "nothing else reaches the provider: {more:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_watcher_on_one_server_sees_events_written_through_another() {
    let app = spawn_app().await;
    let replica = spawn_on(app.db.clone(), app.keys.clone()).await;
    let start = app.events("").await.last().unwrap().sequence;
    let mut stream = watch(&replica, &replica.token("duty_officer", "enisa"), start).await;
    let created = app
        .requests()
        .await
        .create_support_request(authed(
            create(moldova_request(), "x"),
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap()
        .into_inner();
    let seen = tokio::time::timeout(
        Duration::from_secs(1),
        collect(&mut stream, |seen| {
            seen.iter().any(|e| e.resource == created.name)
        }),
    )
    .await
    .expect("within a second");
    assert_eq!(seen.last().unwrap().action, "CreateSupportRequest");
    replica.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn concurrent_writers_form_one_chain() {
    let app = spawn_app().await;
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let writers = (0..8).map(|w| {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 0..125 {
                let txn = reserve_dispatch::store::begin(&db).await.unwrap();
                reserve_dispatch::store::audit::append(
                    &txn,
                    reserve_dispatch::store::audit::NewEvent {
                        time: chrono::Utc::now(),
                        actor: format!("writer-{w}"),
                        role: "admin".into(),
                        organisation: "test".into(),
                        action: "Test".into(),
                        resource: format!("tests/{w}"),
                        from_state: String::new(),
                        to_state: String::new(),
                        payload: format!("{{\"i\":{i}}}"),
                    },
                );
                txn.commit().await.unwrap();
            }
        })
    });
    for writer in writers {
        writer.await.unwrap();
    }
    db.close().await.ok();
    let result = app.verify_chain().await;
    assert!(result.ok, "{result:?}");
    assert!(result.events_checked >= 1_000);
    app.stop().await;
}

#[tokio::test]
async fn reads_of_tlp_red_requests_are_recorded() {
    let app = spawn_app().await;
    let mut red = member_state_request("RO");
    red.tlp = pb::Tlp::Red as i32;
    let token = app.token("requester", "ro-csirt");
    let created = app
        .requests()
        .await
        .create_support_request(authed(create(red, "red"), &token))
        .await
        .unwrap()
        .into_inner();
    app.requests()
        .await
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: created.name.clone(),
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap();
    let reads: Vec<_> = app
        .events(&created.name)
        .await
        .into_iter()
        .filter(|e| e.action == "ReadSupportRequest")
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(
        (reads[0].actor.as_str(), reads[0].role.as_str()),
        ("duty_officer@enisa", "duty_officer")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_slow_watcher_is_ended_with_its_cursor_and_others_go_on() {
    let app = spawn_app().await;
    let auditor = app.token("auditor", "oversight");
    let start = app.events("").await.last().unwrap().sequence;
    // A reader that takes little: an HTTP/2 window of 1 KiB, so the server
    // cannot push the backlog into socket buffers.
    let narrow = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let mut slow = pb::audit_service_client::AuditServiceClient::new(narrow)
        .watch_events(authed(
            pb::WatchEventsRequest {
                after_sequence: start,
                ..Default::default()
            },
            &auditor,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut fast = watch(&app, &auditor, start).await;
    // More events than the shared buffer and the connection's buffers hold,
    // while the slow watcher reads nothing; the fast one keeps up.
    let total = reserve_dispatch::app::events::BUS_CAPACITY as i64 + 900;
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let writer = tokio::spawn(async move {
        for batch in 0..total / 100 {
            let txn = reserve_dispatch::store::begin(&db).await.unwrap();
            for i in 0..100 {
                reserve_dispatch::store::audit::append(
                    &txn,
                    reserve_dispatch::store::audit::NewEvent {
                        time: chrono::Utc::now(),
                        actor: "load".into(),
                        role: "admin".into(),
                        organisation: "test".into(),
                        action: "Test".into(),
                        resource: "tests/load".into(),
                        from_state: String::new(),
                        to_state: String::new(),
                        payload: format!("{{\"n\":{}}}", batch * 100 + i),
                    },
                );
            }
            txn.commit().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        db.close().await.ok();
    });
    let expected_last = start + (total / 100) * 100;
    let received = collect(&mut fast, |seen| {
        seen.last().is_some_and(|e| e.sequence == expected_last)
    })
    .await;
    assert_eq!(
        received.len() as i64,
        expected_last - start,
        "the fast watcher got every event"
    );
    writer.await.unwrap();

    // The slow one gets what was buffered, then a clear end with its cursor.
    let mut got = 0i64;
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(5), slow.next())
            .await
            .expect("no hang")
        {
            Some(Ok(event)) => {
                got += 1;
                assert_eq!(event.sequence, start + got);
            }
            Some(Err(status)) => break status,
            None => panic!("the stream ended without saying why"),
        }
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(got < expected_last - start);
    assert!(
        status.message().contains("after_sequence"),
        "{}",
        status.message()
    );
    // Resuming from the cursor delivers the rest.
    let cursor: i64 = status
        .message()
        .rsplit("= ")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut resumed = watch(&app, &auditor, cursor).await;
    let rest = collect(&mut resumed, |seen| {
        seen.last().is_some_and(|e| e.sequence == expected_last)
    })
    .await;
    assert_eq!(rest.first().unwrap().sequence, cursor + 1);
    app.stop().await;
}

#[tokio::test]
async fn a_watch_is_ended_with_its_cursor_when_the_server_stops() {
    let app = spawn_app().await;
    let start = app.events("").await.last().unwrap().sequence;
    let mut stream = watch(&app, &app.token("auditor", "oversight"), start).await;
    let created = app
        .requests()
        .await
        .create_support_request(authed(
            create(moldova_request(), "bye"),
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap()
        .into_inner();
    let seen = collect(&mut stream, |seen| {
        seen.iter().any(|e| e.resource == created.name)
    })
    .await;
    let last = seen.last().unwrap().sequence;
    // The shutdown does not wait for the open stream.
    let stopping = tokio::spawn(app.stop());
    let status = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("no hang")
        .expect("a status, not a silent end")
        .expect_err("no more events");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .ends_with(&format!("after_sequence = {last}")),
        "{}",
        status.message()
    );
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the server stops")
        .unwrap();
}
