use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{
    authed, create, member_state_request, moldova_request, spawn_app, spawn_on, state,
};
use reserve_dispatch::grpc::pb;

#[tokio::test]
async fn create_update_submit_get_list_withdraw() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let mut client = app.requests().await;

    let created = client
        .create_support_request(authed(create(moldova_request(), "req-1"), &token))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(created.state, pb::RequestState::Draft as i32);
    assert!(created.name.starts_with("supportRequests/"));
    assert_eq!(created.organisation, "organisations/md-spoc");
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(created.reference, format!("CSR-{year}-000001"));
    assert_eq!(created.version, 1);
    assert_eq!(created.service_lines.len(), 2);

    let mut changes = moldova_request();
    changes.name = created.name.clone();
    changes.title = "Ransomware at the electricity distributor, spreading".into();
    changes.severity = pb::Severity::Critical as i32;
    let updated = client
        .update_support_request(authed(
            pb::UpdateSupportRequestRequest {
                support_request: Some(changes),
                update_mask: Some(FieldMask {
                    paths: vec!["title".into(), "severity".into()],
                }),
            },
            &token,
        ))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.severity, pb::Severity::Critical as i32);

    let submitted = client
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: created.name.clone(),
            },
            &token,
        ))
        .await
        .expect("submitted")
        .into_inner();
    // Moldova's single point of contact with a complete request: eligible,
    // and forwarded at once to the Commission.
    assert_eq!(submitted.state, pb::RequestState::Referred as i32);
    assert!(submitted.submit_time.is_some());
    assert_eq!(
        submitted.eligibility.as_ref().unwrap().outcome,
        pb::RequestState::Eligible as i32
    );

    // Read back from the store: every field as written, the masked ones changed.
    let read = client
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: created.name.clone(),
            },
            &token,
        ))
        .await
        .expect("read")
        .into_inner();
    let expected = moldova_request();
    assert_eq!(
        read.title,
        "Ransomware at the electricity distributor, spreading"
    );
    assert_eq!(read.severity, pb::Severity::Critical as i32);
    assert_eq!(read.state, pb::RequestState::Referred as i32);
    assert_eq!(read.description, expected.description);
    assert_eq!(read.affected_entities, expected.affected_entities);
    assert_eq!(read.countries_affected, expected.countries_affected);
    assert_eq!(read.service_lines, expected.service_lines);
    assert_eq!(read.contact, expected.contact);
    assert_eq!(read.tlp, expected.tlp);
    assert_eq!(read.detect_time, expected.detect_time);
    assert_eq!(read.version, 3);

    // Two more requests, then page through all three newest first.
    for id in ["req-2", "req-3"] {
        client
            .create_support_request(authed(create(moldova_request(), id), &token))
            .await
            .unwrap();
    }
    let first = client
        .list_support_requests(authed(
            pb::ListSupportRequestsRequest {
                page_size: 2,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.support_requests.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_support_requests(authed(
            pb::ListSupportRequestsRequest {
                page_size: 2,
                page_token: first.next_page_token.clone(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.support_requests.len(), 1);
    assert!(second.next_page_token.is_empty());
    let references: Vec<_> = first
        .support_requests
        .iter()
        .chain(&second.support_requests)
        .map(|r| r.reference.clone())
        .collect();
    assert_eq!(
        references,
        [3, 2, 1].map(|n| format!("CSR-{year}-{n:06}")).to_vec(),
        "newest first, each once"
    );

    let drafts = client
        .list_support_requests(authed(
            pb::ListSupportRequestsRequest {
                state: pb::RequestState::Draft as i32,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(drafts.support_requests.len(), 2);

    let withdrawn = client
        .withdraw_support_request(authed(
            pb::WithdrawSupportRequestRequest {
                name: created.name.clone(),
                reason: "Contained by national means".into(),
            },
            &token,
        ))
        .await
        .expect("withdrawn")
        .into_inner();
    assert_eq!(withdrawn.state, pb::RequestState::Withdrawn as i32);
    assert_eq!(withdrawn.decision_note, "Contained by national means");

    // Each change left one audit event, in order.
    let mut audit = app.audit().await;
    let events = audit
        .list_events(authed(
            pb::ListEventsRequest {
                resource: created.name.clone(),
                ..Default::default()
            },
            &app.token("auditor", "ecsr-oversight"),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let trail: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.from_state.as_str(),
                e.to_state.as_str(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("CreateSupportRequest", "", "DRAFT"),
            ("UpdateSupportRequest", "DRAFT", "DRAFT"),
            ("SubmitSupportRequest", "DRAFT", "SUBMITTED"),
            ("AssessEligibility", "SUBMITTED", "ELIGIBLE"),
            ("ReferToCommission", "ELIGIBLE", "REFERRED"),
            ("InformCouncil", "REFERRED", "REFERRED"),
            ("WithdrawSupportRequest", "REFERRED", "WITHDRAWN"),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.actor == "requester@md-spoc" && e.organisation == "md-spoc")
    );
    app.stop().await;
}

#[tokio::test]
async fn create_is_idempotent_on_request_id() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let mut client = app.requests().await;
    let first = client
        .create_support_request(authed(create(moldova_request(), "same-id"), &token))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .create_support_request(authed(create(moldova_request(), "same-id"), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again, "the same id and body give the same resource");

    let mut other = moldova_request();
    other.title = "Another incident entirely".into();
    let err = client
        .create_support_request(authed(create(other, "same-id"), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    let all = client
        .list_support_requests(authed(pb::ListSupportRequestsRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.support_requests.len(), 1);

    // Another organisation may use the same client id for its own request.
    let ro = client
        .create_support_request(authed(
            create(moldova_request(), "same-id"),
            &app.token("requester", "ro-csirt"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(ro.name, first.name);
    app.stop().await;
}

#[tokio::test]
async fn another_organisations_request_is_not_found() {
    let app = spawn_app().await;
    let owner = app.token("requester", "md-spoc");
    let stranger = app.token("requester", "ro-csirt");
    let mut client = app.requests().await;
    let theirs = client
        .create_support_request(authed(create(moldova_request(), "r1"), &owner))
        .await
        .unwrap()
        .into_inner();
    client
        .create_support_request(authed(create(moldova_request(), "mine"), &stranger))
        .await
        .unwrap();

    let name = theirs.name.clone();
    let get = client
        .get_support_request(authed(
            pb::GetSupportRequestRequest { name: name.clone() },
            &stranger,
        ))
        .await
        .unwrap_err();
    let mut changes = moldova_request();
    changes.name = name.clone();
    let update = client
        .update_support_request(authed(
            pb::UpdateSupportRequestRequest {
                support_request: Some(changes),
                update_mask: Some(FieldMask {
                    paths: vec!["title".into()],
                }),
            },
            &stranger,
        ))
        .await
        .unwrap_err();
    let submit = client
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest { name: name.clone() },
            &stranger,
        ))
        .await
        .unwrap_err();
    let withdraw = client
        .withdraw_support_request(authed(
            pb::WithdrawSupportRequestRequest {
                name: name.clone(),
                reason: "not mine".into(),
            },
            &stranger,
        ))
        .await
        .unwrap_err();
    let missing = client
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: "supportRequests/does-not-exist".into(),
            },
            &stranger,
        ))
        .await
        .unwrap_err();
    for status in [&get, &update, &submit, &withdraw] {
        assert_eq!(status.code(), tonic::Code::NotFound);
        // Indistinguishable from a request that does not exist.
        assert_eq!(
            status.message().replace(&name, "X"),
            missing
                .message()
                .replace("supportRequests/does-not-exist", "X")
        );
        assert!(!status.message().contains("md-spoc"));
    }

    let listed = client
        .list_support_requests(authed(pb::ListSupportRequestsRequest::default(), &stranger))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.support_requests.len(), 1);
    assert!(
        listed
            .support_requests
            .iter()
            .all(|r| r.organisation == "organisations/ro-csirt")
    );

    // The owner's request is untouched.
    let still = client
        .get_support_request(authed(pb::GetSupportRequestRequest { name }, &owner))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still, theirs);
    app.stop().await;
}

#[tokio::test]
async fn officers_see_by_mandate() {
    let app = spawn_app().await;
    let mut client = app.requests().await;
    let md = client
        .create_support_request(authed(
            create(moldova_request(), "md"),
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap()
        .into_inner();
    let ro = client
        .create_support_request(authed(
            create(moldova_request(), "ro"),
            &app.token("requester", "ro-csirt"),
        ))
        .await
        .unwrap()
        .into_inner();
    let list = |token: String| {
        let mut client = client.clone();
        async move {
            client
                .list_support_requests(authed(pb::ListSupportRequestsRequest::default(), &token))
                .await
                .unwrap()
                .into_inner()
                .support_requests
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(app.token("duty_officer", "enisa")).await,
        [ro.name.clone(), md.name.clone()]
    );
    assert_eq!(
        list(app.token("auditor", "ecsr-oversight")).await,
        [ro.name.clone(), md.name.clone()]
    );
    // The Commission decides third-country requests only (Art. 19(10)).
    assert_eq!(
        list(app.token("commission", "ec-dg-cnect")).await,
        vec![md.name.clone()]
    );
    let hidden = client
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: ro.name.clone(),
            },
            &app.token("commission", "ec-dg-cnect"),
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let provider = client
        .list_support_requests(authed(
            pb::ListSupportRequestsRequest::default(),
            &app.token("provider", "nordic-ir"),
        ))
        .await
        .unwrap_err();
    assert_eq!(provider.code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test]
async fn illegal_transitions_change_nothing() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let mut client = app.requests().await;
    let created = client
        .create_support_request(authed(create(moldova_request(), "r"), &token))
        .await
        .unwrap()
        .into_inner();
    let submitted = client
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: created.name.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();

    let mut changes = moldova_request();
    changes.name = created.name.clone();
    changes.title = "Edited after submission".into();
    let update = client
        .update_support_request(authed(
            pb::UpdateSupportRequestRequest {
                support_request: Some(changes),
                update_mask: Some(FieldMask {
                    paths: vec!["title".into()],
                }),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(update.code(), Code::FailedPrecondition, "{update:?}");
    let again = client
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: created.name.clone(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    let withdrawn = client
        .withdraw_support_request(authed(
            pb::WithdrawSupportRequestRequest {
                name: created.name.clone(),
                reason: "done".into(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let twice = client
        .withdraw_support_request(authed(
            pb::WithdrawSupportRequestRequest {
                name: created.name.clone(),
                reason: "again".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);

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
    assert_eq!(stored, withdrawn, "nothing changed after the refused calls");
    assert_eq!(stored.title, submitted.title);
    assert_eq!(stored.decision_note, "done");

    let events = app
        .audit()
        .await
        .list_events(authed(
            pb::ListEventsRequest {
                resource: created.name.clone(),
                ..Default::default()
            },
            &app.token("auditor", "ecsr-oversight"),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "CreateSupportRequest",
            "SubmitSupportRequest",
            "AssessEligibility",
            "ReferToCommission",
            "InformCouncil",
            "WithdrawSupportRequest"
        ],
        "refused calls leave no event"
    );
    app.stop().await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let created = app
        .requests()
        .await
        .create_support_request(authed(create(moldova_request(), "durable"), &token))
        .await
        .unwrap()
        .into_inner();
    let (db, keys) = (app.db.clone(), app.keys.clone());
    app.stop().await;

    let restarted = spawn_on(db, keys).await;
    let mut client = restarted.requests().await;
    let read = client
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: created.name.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
    // References go on from where they were.
    let next = client
        .create_support_request(authed(create(moldova_request(), "after-restart"), &token))
        .await
        .unwrap()
        .into_inner();
    assert!(next.reference.ends_with("000002"), "{}", next.reference);
    restarted.stop().await;
}

#[tokio::test]
async fn concurrent_creations_with_one_request_id_create_one_request() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let client = app.requests().await;
    let calls = (0..12).map(|_| {
        let mut client = client.clone();
        let token = token.clone();
        tokio::spawn(async move {
            client
                .create_support_request(authed(create(moldova_request(), "one-id"), &token))
                .await
                .map(|r| r.into_inner())
        })
    });
    let mut created = Vec::new();
    for call in calls {
        created.push(call.await.unwrap().expect("created, or the same one again"));
    }
    assert!(created.iter().all(|r| r == &created[0]), "one request");
    let events = app.events(&created[0].name).await;
    let creations = events
        .iter()
        .filter(|e| e.action == "CreateSupportRequest")
        .count();
    assert_eq!(creations, 1);
    app.stop().await;
}

#[tokio::test]
async fn of_concurrent_submissions_of_one_draft_exactly_one_submits_it() {
    let app = spawn_app().await;
    let token = app.token("requester", "ro-csirt");
    let mut client = app.requests().await;
    let draft = client
        .create_support_request(authed(
            create(member_state_request("RO"), "submitted-once"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let calls = (0..8).map(|_| {
        let mut client = client.clone();
        let token = token.clone();
        let name = draft.name.clone();
        tokio::spawn(async move {
            client
                .submit_support_request(authed(pb::SubmitSupportRequestRequest { name }, &token))
                .await
        })
    });
    let mut submitted = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => submitted += 1,
            Err(status) => assert!(
                matches!(status.code(), Code::Aborted | Code::FailedPrecondition),
                "{status:?}"
            ),
        }
    }
    assert_eq!(submitted, 1);
    let events = app.events(&draft.name).await;
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(count("SubmitSupportRequest"), 1);
    assert_eq!(count("AssessEligibility"), 1);
    let now = app.read("ro-csirt", &draft.name).await;
    assert_eq!(state(&now), pb::RequestState::Eligible);
    assert_eq!(now.version, draft.version + 1);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_creations_get_unique_references() {
    let app = spawn_app().await;
    let token = app.token("requester", "md-spoc");
    let client = app.requests().await;
    let calls = (0..16).map(|i| {
        let mut client = client.clone();
        let token = token.clone();
        tokio::spawn(async move {
            client
                .create_support_request(authed(create(moldova_request(), &format!("c{i}")), &token))
                .await
                .map(|r| r.into_inner().reference)
        })
    });
    let mut references = Vec::new();
    for call in calls {
        references.push(call.await.unwrap().expect("created"));
    }
    references.sort();
    references.dedup();
    assert_eq!(references.len(), 16);
    app.stop().await;
}
