//! Matching and dispatch through the API: proposals, approval, offers and
//! their answers, capacity, waiting and re-matching, timers, the summary
//! report and closing.

use tonic::Code;

use crate::helpers::{
    TestApp, approve, authed, authorise, day_from_today, member_state_request, moldova_provider,
    moldova_request, offers_of, open_offer, plan, spawn_app, state, violated_fields,
};
use reserve_dispatch::grpc::pb;

use pb::RequestState as S;
use pb::ServiceType::{DigitalForensics as DF, IncidentResponse as IR};

/// Moldova's request, referred and authorised by the Commission with `lines`.
async fn authorised_moldova(app: &TestApp, lines: &[(pb::ServiceType, u32)]) -> pb::SupportRequest {
    let referred = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(state(&referred), S::Referred);
    authorise(app, &referred.name, lines, "commission").await
}

#[tokio::test]
async fn a_moldovan_request_from_authorisation_to_closing() {
    let app = spawn_app().await;
    app.commit_capacity("nordic-ir", IR, 30).await;
    app.commit_capacity("nordic-ir", DF, 30).await;
    app.commit_capacity("danube-cyber", IR, 30).await;
    let request = authorised_moldova(&app, &[(IR, 15), (DF, 10)]).await;
    assert_eq!(state(&request), S::Authorised);
    let name = request.name.clone();

    let proposal = app
        .dispatch()
        .await
        .propose_matches(authed(
            pb::ProposeMatchesRequest { name: name.clone() },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proposal.lines.len(), 2);
    let ir: Vec<_> = proposal.lines[0]
        .candidates
        .iter()
        .map(|c| c.provider.as_str())
        .collect();
    assert_eq!(
        ir,
        ["providers/danube-cyber", "providers/nordic-ir"],
        "danube deploys faster"
    );
    let df: Vec<_> = proposal.lines[1]
        .candidates
        .iter()
        .map(|c| c.provider.as_str())
        .collect();
    assert_eq!(
        df,
        ["providers/nordic-ir"],
        "the only one qualified, deployable and with capacity"
    );
    assert!(
        proposal.lines[0].candidates[0]
            .reasons
            .iter()
            .any(|r| r.contains("deploys in 8 h"))
    );

    let dispatching = approve(
        &app,
        &name,
        vec![
            plan(0, "danube-cyber", &["nordic-ir"], ""),
            plan(1, "nordic-ir", &[], ""),
        ],
    )
    .await
    .unwrap();
    assert_eq!(state(&dispatching), S::Dispatching);

    // Each provider sees its own offer, redacted.
    let danube = app.token("provider", "danube-cyber");
    let nordic = app.token("provider", "nordic-ir");
    let danube_offers = offers_of(&app, "danube-cyber").await;
    let offer_ir = open_offer(&danube_offers, &name).clone();
    assert!(
        offer_ir.support_request_detail.is_none(),
        "nothing beyond the summary before acceptance"
    );
    let summary = offer_ir.summary.clone().unwrap();
    assert_eq!(
        (
            summary.service,
            summary.country.as_str(),
            summary.person_days
        ),
        (IR as i32, "MD", 15)
    );
    assert_eq!(summary.severity, pb::Severity::High as i32);
    let nordic_offers = offers_of(&app, "nordic-ir").await;
    let offer_df = open_offer(&nordic_offers, &name).clone();
    assert_eq!(offer_df.summary.as_ref().unwrap().service, DF as i32);

    let mut providers = app.provider_client().await;
    for (offer, token) in [(&offer_ir, &danube), (&offer_df, &nordic)] {
        let accepted = providers
            .accept_offer(authed(
                pb::AcceptOfferRequest {
                    name: offer.name.clone(),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(accepted.state, pb::OfferState::Accepted as i32);
        let detail = accepted
            .support_request_detail
            .expect("the full request once accepted");
        assert_eq!(detail.title, moldova_request().title);
    }
    let agreement = |reference: &str| pb::Agreement {
        reference: reference.into(),
        template_version: "CSR-SA-2026.1".into(),
        sign_time: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() - 60,
            nanos: 0,
        }),
        liability_conditions: "Per Art. 16(6) and the framework contract".into(),
        affected_entity: "Distribution grid operator (demo)".into(),
    };
    providers
        .record_agreement(authed(
            pb::RecordAgreementRequest {
                name: offer_ir.name.clone(),
                agreement: Some(agreement("SA-MD-1")),
            },
            &danube,
        ))
        .await
        .unwrap();
    assert_eq!(
        state(&app.read("md-spoc", &name).await),
        S::Dispatching,
        "one line still without agreement"
    );
    let active = providers
        .record_agreement(authed(
            pb::RecordAgreementRequest {
                name: offer_df.name.clone(),
                agreement: Some(agreement("SA-MD-2")),
            },
            &nordic,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(active.state, pb::OfferState::OfferActive as i32);
    assert_eq!(active.agreement.as_ref().unwrap().reference, "SA-MD-2");
    assert_eq!(state(&app.read("md-spoc", &name).await), S::Dispatched);

    for (offer, token) in [(&offer_ir, &danube), (&offer_df, &nordic)] {
        providers
            .complete_assignment(authed(
                pb::CompleteAssignmentRequest {
                    name: offer.name.clone(),
                    delivery_note: "Delivered".into(),
                },
                token,
            ))
            .await
            .unwrap();
    }
    assert_eq!(state(&app.read("md-spoc", &name).await), S::Completed);
    let assignments = providers
        .list_assignments(authed(pb::ListAssignmentsRequest::default(), &nordic))
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert_eq!(assignments.len(), 1);
    assert_eq!(assignments[0].state, pb::OfferState::Delivered as i32);

    let reported = app
        .requests()
        .await
        .submit_summary_report(authed(
            pb::SubmitSummaryReportRequest {
                name: name.clone(),
                service_provided: "Containment and forensics".into(),
                results: "Grid control restored in 36 hours".into(),
                lessons_learned: "Offline backups of the historian".into(),
            },
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&reported), S::Reported);
    assert_eq!(
        reported.summary_report.as_ref().unwrap().recipients,
        ["European Commission (forwarding to the Council and the High Representative)"]
    );
    let closed = app
        .dispatch()
        .await
        .close_support_request(authed(
            pb::CloseSupportRequestRequest { name: name.clone() },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&closed), S::Closed);

    let trail: Vec<(String, String, String)> = app
        .events(&name)
        .await
        .into_iter()
        .map(|e| (e.action, e.from_state, e.to_state))
        .collect();
    let expected = [
        ("CreateSupportRequest", "", "DRAFT"),
        ("SubmitSupportRequest", "DRAFT", "SUBMITTED"),
        ("AssessEligibility", "SUBMITTED", "ELIGIBLE"),
        ("ReferToCommission", "ELIGIBLE", "REFERRED"),
        ("InformCouncil", "REFERRED", "REFERRED"),
        ("AuthoriseSupport", "REFERRED", "AUTHORISED"),
        ("ApproveDispatch", "AUTHORISED", "DISPATCHING"),
        ("AllLinesActive", "DISPATCHING", "DISPATCHED"),
        ("AllLinesDelivered", "DISPATCHED", "COMPLETED"),
        ("SubmitSummaryReport", "COMPLETED", "REPORTED"),
        ("CloseSupportRequest", "REPORTED", "CLOSED"),
    ]
    .map(|(a, f, t)| (a.to_owned(), f.to_owned(), t.to_owned()));
    assert_eq!(trail, expected);
    // The steps the service took by itself are recorded as the service's,
    // not as an administrator's.
    for event in app.events(&name).await {
        let by_service = event.action.starts_with("AllLines");
        assert_eq!(
            (event.role == "service", event.organisation == "system"),
            (by_service, by_service),
            "{event:?}"
        );
        if by_service {
            assert_eq!(event.actor, "dispatch");
        }
    }
    let offer_trail: Vec<String> = app
        .events(&offer_ir.name)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        offer_trail,
        [
            "MakeOffer",
            "AcceptOffer",
            "RecordAgreement",
            "CompleteAssignment"
        ]
    );

    // Everything consumed, nothing held.
    let commitments = app
        .registry()
        .await
        .list_capacity_commitments(authed(
            pb::ListCapacityCommitmentsRequest::default(),
            &app.token("auditor", "o"),
        ))
        .await
        .unwrap()
        .into_inner()
        .capacity_commitments;
    let ledger: Vec<_> = commitments
        .iter()
        .map(|c| {
            (
                c.provider.as_str(),
                c.service,
                c.held_person_days,
                c.consumed_person_days,
            )
        })
        .collect();
    assert_eq!(
        ledger,
        [
            ("providers/nordic-ir", IR as i32, 0, 0),
            ("providers/nordic-ir", DF as i32, 0, 10),
            ("providers/danube-cyber", IR as i32, 0, 15)
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn declines_and_expiries_move_to_the_fallback_then_wait_for_capacity() {
    let app = spawn_app().await;
    app.commit_capacity("nordic-ir", IR, 30).await;
    app.commit_capacity("danube-cyber", IR, 30).await;
    let request = authorised_moldova(&app, &[(IR, 10)]).await;
    let name = request.name.clone();
    approve(
        &app,
        &name,
        vec![plan(0, "danube-cyber", &["nordic-ir"], "")],
    )
    .await
    .unwrap();

    let mut providers = app.provider_client().await;
    let first = open_offer(&offers_of(&app, "danube-cyber").await, &name).clone();
    let missing_reason = providers
        .decline_offer(authed(
            pb::DeclineOfferRequest {
                name: first.name.clone(),
                reason: 0,
                note: String::new(),
            },
            &app.token("provider", "danube-cyber"),
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&missing_reason), ["reason"]);
    let declined = providers
        .decline_offer(authed(
            pb::DeclineOfferRequest {
                name: first.name.clone(),
                reason: pb::DeclineReason::NoCapacity as i32,
                note: "Team deployed elsewhere".into(),
            },
            &app.token("provider", "danube-cyber"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(declined.state, pb::OfferState::Declined as i32);

    // The fallback has the line now; its offer expires unanswered (HIGH: 4 hours).
    let second = open_offer(&offers_of(&app, "nordic-ir").await, &name).clone();
    assert_eq!(
        reserve_dispatch::worker::run_once(&app.app, "w")
            .await
            .unwrap(),
        0,
        "nothing due yet"
    );
    app.clock.advance(chrono::Duration::hours(5));
    assert_eq!(
        reserve_dispatch::worker::run_once(&app.app, "w")
            .await
            .unwrap(),
        1
    );
    let expired = offers_of(&app, "nordic-ir").await;
    assert_eq!(
        expired
            .iter()
            .find(|o| o.name == second.name)
            .unwrap()
            .state,
        pb::OfferState::Expired as i32
    );
    let expiry = app
        .events(&second.name)
        .await
        .into_iter()
        .find(|e| e.action == "ExpireOffer")
        .expect("the expiry is recorded");
    assert_eq!(
        (
            expiry.actor.as_str(),
            expiry.role.as_str(),
            expiry.organisation.as_str()
        ),
        ("timer", "service", "system"),
        "the service's timer expired it"
    );
    let accept_late = providers
        .accept_offer(authed(
            pb::AcceptOfferRequest {
                name: second.name.clone(),
            },
            &app.token("provider", "nordic-ir"),
        ))
        .await
        .unwrap_err();
    assert_eq!(accept_late.code(), Code::FailedPrecondition);

    // No one left: the request waits, with every hold released.
    assert_eq!(state(&app.read("md-spoc", &name).await), S::WaitingCapacity);
    let held: u32 = app
        .registry()
        .await
        .list_capacity_commitments(authed(
            pb::ListCapacityCommitmentsRequest::default(),
            &app.token("auditor", "o"),
        ))
        .await
        .unwrap()
        .into_inner()
        .capacity_commitments
        .iter()
        .map(|c| c.held_person_days)
        .sum();
    assert_eq!(held, 0);

    // The decline and the expiry count in the providers' records.
    let proposal = app.propose(&name).await;
    for candidate in &proposal.lines[0].candidates {
        assert!(
            candidate
                .reasons
                .iter()
                .any(|r| r == "accepted 0 of 1 past offers"),
            "{candidate:?}"
        );
    }
    assert_eq!(proposal.lines[0].candidates.len(), 2);

    // New capacity from a provider not yet asked: matched again at once.
    app.add_provider(moldova_provider("prut-response")).await;
    app.commit_capacity("prut-response", IR, 12).await;
    assert_eq!(state(&app.read("md-spoc", &name).await), S::Dispatching);
    let third = open_offer(&offers_of(&app, "prut-response").await, &name).clone();
    assert_eq!(third.summary.unwrap().person_days, 10);
    let actions: Vec<String> = app
        .events(&name)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.ends_with(&["WaitForCapacity".to_owned(), "RematchWaiting".to_owned()]),
        "{actions:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn hard_filters_keep_unsuitable_providers_out() {
    let app = spawn_app().await;
    let mut conflicted = moldova_provider("conflicted");
    conflicted.conflict_organisations = vec!["md-spoc".into()];
    let mut uncleared = moldova_provider("uncleared");
    uncleared.clearance = pb::Clearance::None as i32;
    let mut no_romanian = moldova_provider("no-romanian");
    no_romanian.languages = vec!["en".into(), "de".into()];
    let mut elsewhere = moldova_provider("elsewhere");
    elsewhere.deployable_countries = vec!["RO".into()];
    let mut suspended = moldova_provider("suspended");
    suspended.status = pb::ProviderStatus::Suspended as i32;
    for p in [
        conflicted,
        uncleared,
        no_romanian,
        elsewhere,
        suspended,
        moldova_provider("suitable"),
    ] {
        let id = p.id.clone();
        app.add_provider(p).await;
        app.commit_capacity(&id, IR, 50).await;
    }
    // The line needs RESTREINT UE.
    let mut body = moldova_request();
    body.service_lines[0].clearance = pb::Clearance::RestreintUe as i32;
    let referred = app.submit_new("md-spoc", body).await;
    let request = authorise(&app, &referred.name, &[(IR, 10)], "commission").await;

    let proposal = app.propose(&request.name).await;
    let proposed: Vec<_> = proposal.lines[0]
        .candidates
        .iter()
        .map(|c| c.provider.as_str())
        .collect();
    assert_eq!(proposed, ["providers/suitable"]);

    for excluded in [
        "conflicted",
        "uncleared",
        "no-romanian",
        "elsewhere",
        "suspended",
    ] {
        let status = approve(
            &app,
            &request.name,
            vec![plan(0, excluded, &[], "chosen by hand")],
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), ["plan[0].provider"], "{excluded}");
    }
    // The top candidate needs no justification; another would.
    let unjustified = approve(&app, &request.name, vec![plan(0, "nordic-ir", &[], "")])
        .await
        .unwrap_err();
    assert!(violated_fields(&unjustified).contains(&"plan[0].justification".to_owned()));
    assert_eq!(
        state(&app.read("md-spoc", &request.name).await),
        S::Authorised,
        "refused plans change nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn providers_see_only_their_own_offers() {
    let app = spawn_app().await;
    app.commit_capacity("danube-cyber", IR, 30).await;
    let request = authorised_moldova(&app, &[(IR, 5)]).await;
    approve(&app, &request.name, vec![plan(0, "danube-cyber", &[], "")])
        .await
        .unwrap();
    let offer = open_offer(&offers_of(&app, "danube-cyber").await, &request.name).clone();

    assert!(offers_of(&app, "nordic-ir").await.is_empty());
    let mut providers = app.provider_client().await;
    let stolen = providers
        .accept_offer(authed(
            pb::AcceptOfferRequest {
                name: offer.name.clone(),
            },
            &app.token("provider", "nordic-ir"),
        ))
        .await
        .unwrap_err();
    assert_eq!(stolen.code(), Code::NotFound);
    let by_requester = providers
        .list_offers(authed(
            pb::ListOffersRequest::default(),
            &app.token("requester", "md-spoc"),
        ))
        .await
        .unwrap_err();
    assert_eq!(by_requester.code(), Code::PermissionDenied);
    // Providers cannot read requests directly either.
    let read = app
        .requests()
        .await
        .get_support_request(authed(
            pb::GetSupportRequestRequest {
                name: request.name.clone(),
            },
            &app.token("provider", "danube-cyber"),
        ))
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test]
async fn capacity_is_never_overbooked_under_concurrency() {
    let app = spawn_app().await;
    let mut solo = moldova_provider("solo-ir");
    solo.languages = vec!["ro".into(), "en".into(), "de".into(), "fr".into()];
    solo.deployable_countries = vec![
        "RO".into(),
        "DE".into(),
        "FR".into(),
        "AT".into(),
        "BE".into(),
    ];
    app.add_provider(solo).await;
    let commitment = app.commit_capacity("solo-ir", IR, 10).await;

    // Authorised requests competing for the same ten person-days, three each.
    let countries = ["RO", "DE", "FR", "AT", "BE"];
    let mut names = Vec::new();
    for i in 0..50 {
        let country = countries[i % countries.len()];
        let org = format!("{}-csirt", country.to_lowercase());
        let eligible = app.submit_new(&org, member_state_request(country)).await;
        let authorised = authorise(&app, &eligible.name, &[(IR, 3)], "duty_officer").await;
        names.push((org, authorised.name));
    }
    let approvals = names.iter().map(|(_, name)| {
        let name = name.clone();
        let channel = app.dispatch();
        let token = app.token("duty_officer", "enisa");
        async move {
            channel
                .await
                .approve_dispatch(authed(
                    pb::ApproveDispatchRequest {
                        name,
                        plan: vec![plan(0, "solo-ir", &[], "the only provider")],
                        version: 0,
                    },
                    &token,
                ))
                .await
        }
    });
    let results = futures_util::future::join_all(approvals).await;
    let states: Vec<_> = results
        .into_iter()
        .map(|r| state(r.expect("approved").get_ref()))
        .collect();
    let dispatching = states.iter().filter(|s| **s == S::Dispatching).count();
    assert_eq!(
        dispatching, 3,
        "three offers of three days fit in ten: {states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == S::WaitingCapacity).count(),
        47
    );

    // Every offer accepted at once, concurrently.
    let offers: Vec<String> = offers_of(&app, "solo-ir")
        .await
        .into_iter()
        .map(|o| o.name)
        .collect();
    let accepts = offers.iter().map(|name| {
        let name = name.clone();
        let client = app.provider_client();
        let token = app.token("provider", "solo-ir");
        async move {
            client
                .await
                .accept_offer(authed(pb::AcceptOfferRequest { name }, &token))
                .await
        }
    });
    let accepted = futures_util::future::join_all(accepts)
        .await
        .into_iter()
        .filter(|r| r.is_ok())
        .count();
    assert_eq!(accepted, 3);
    let after_accepts = read_commitment(&app, &commitment.name).await;
    assert_eq!(
        (
            after_accepts.held_person_days,
            after_accepts.consumed_person_days
        ),
        (0, 9)
    );
    assert!(after_accepts.held_person_days + after_accepts.consumed_person_days <= 10);
    check_ledger(&app, &commitment.name).await;

    // Withdrawing everything gives every person-day back; the waiting
    // requests are matched with it as it frees, never beyond ten.
    for (org, name) in &names {
        let _ = app
            .requests()
            .await
            .withdraw_support_request(authed(
                pb::WithdrawSupportRequestRequest {
                    name: name.clone(),
                    reason: "test over".into(),
                },
                &app.token("requester", org),
            ))
            .await
            .expect("withdrawn");
        let now = read_commitment(&app, &commitment.name).await;
        assert!(now.held_person_days + now.consumed_person_days <= 10);
    }
    let end = read_commitment(&app, &commitment.name).await;
    assert_eq!(
        (
            end.held_person_days,
            end.consumed_person_days,
            end.free_person_days
        ),
        (0, 0, 10)
    );
    check_ledger(&app, &commitment.name).await;
    app.stop().await;
}

async fn read_commitment(app: &TestApp, name: &str) -> pb::CapacityCommitment {
    app.registry()
        .await
        .get_capacity_commitment(authed(
            pb::GetCapacityCommitmentRequest { name: name.into() },
            &app.token("auditor", "o"),
        ))
        .await
        .unwrap()
        .into_inner()
}

/// The ledger's entries add up to the commitment's running totals.
async fn check_ledger(app: &TestApp, name: &str) {
    let id: i32 = name.rsplit('/').next().unwrap().parse().unwrap();
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let (held, consumed) = reserve_dispatch::store::dispatch::ledger_totals(&db, id)
        .await
        .unwrap();
    let c = reserve_dispatch::store::dispatch::get_commitment(&db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((held, consumed), (c.held as i64, c.consumed as i64));
    db.close().await.ok();
}

#[tokio::test]
async fn of_two_concurrent_decisions_exactly_one_wins() {
    let app = spawn_app().await;
    let eligible = app.submit_new("ro-csirt", member_state_request("RO")).await;
    let calls = (0..8u32).map(|i| {
        let name = eligible.name.clone();
        let client = app.dispatch();
        let token = app.token("duty_officer", "enisa");
        async move {
            let mut client = client.await;
            if i.is_multiple_of(2) {
                client
                    .reject_support_request(authed(
                        pb::RejectSupportRequestRequest {
                            name,
                            reason: "no".into(),
                            version: 0,
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await
                    .map(|_| ())
            } else {
                client
                    .authorise_support(authed(
                        pb::AuthoriseSupportRequest {
                            name,
                            granted_lines: vec![pb::ServiceLine {
                                service: IR as i32,
                                person_days: 5,
                                ..Default::default()
                            }],
                            duration_days: 30,
                            note: String::new(),
                            version: 0,
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await
                    .map(|_| ())
            }
        }
    });
    let results = futures_util::future::join_all(calls).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(err.code(), Code::Aborted | Code::FailedPrecondition),
            "{err:?}"
        );
    }
    let decisions = app
        .events(&eligible.name)
        .await
        .into_iter()
        .filter(|e| e.action == "AuthoriseSupport" || e.action == "RejectSupportRequest")
        .count();
    assert_eq!(decisions, 1);
    app.stop().await;
}

#[tokio::test]
async fn each_timer_fires_once_across_replicas_and_survives_a_dead_lease() {
    let app = spawn_app().await;
    // A second replica on the same database.
    let replica = crate::helpers::spawn_on(app.db.clone(), app.keys.clone()).await;
    app.commit_capacity("nordic-ir", IR, 100).await;
    let mut names = Vec::new();
    for _ in 0..4 {
        let request = authorised_moldova(&app, &[(IR, 5)]).await;
        approve(&app, &request.name, vec![plan(0, "nordic-ir", &[], "")])
            .await
            .unwrap();
        names.push(request.name);
    }
    // A worker claims every due timer and dies without firing them.
    let later = app.app.now() + chrono::Duration::hours(5);
    let claimed = reserve_dispatch::store::timers::claim(
        &app.app.db,
        "dead-worker",
        later,
        reserve_dispatch::worker::LEASE,
        100,
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 4, "the four offer expiries");
    app.clock.advance(chrono::Duration::hours(5));
    replica.clock.advance(chrono::Duration::hours(5));
    assert_eq!(
        reserve_dispatch::worker::run_once(&replica.app, "b")
            .await
            .unwrap(),
        0,
        "leased"
    );
    // The lease runs out: both replicas race for the timers.
    app.clock.advance(chrono::Duration::seconds(31));
    replica.clock.advance(chrono::Duration::seconds(31));
    let (a, b) = tokio::join!(
        reserve_dispatch::worker::run_once(&app.app, "a"),
        reserve_dispatch::worker::run_once(&replica.app, "b"),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 4, "each fired exactly once");
    for name in &names {
        let expiries = app.events(name).await.len();
        assert!(expiries > 0);
    }
    let offers = offers_of(&app, "nordic-ir").await;
    assert_eq!(
        offers
            .iter()
            .filter(|o| o.state == pb::OfferState::Expired as i32)
            .count(),
        4
    );
    let mut expire_events = 0;
    for o in &offers {
        expire_events += app
            .events(&o.name)
            .await
            .iter()
            .filter(|e| e.action == "ExpireOffer")
            .count();
    }
    assert_eq!(expire_events, 4);
    // Nothing left to fire, on either.
    assert_eq!(
        reserve_dispatch::worker::run_once(&app.app, "a")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        reserve_dispatch::worker::run_once(&replica.app, "b")
            .await
            .unwrap(),
        0
    );
    replica.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn unused_capacity_at_period_end_is_reported() {
    let app = spawn_app().await;
    let admin = app.token("admin", "reserve-admin");
    let mut registry = app.registry().await;
    registry
        .create_capacity_commitment(authed(
            pb::CreateCapacityCommitmentRequest {
                capacity_commitment: Some(pb::CapacityCommitment {
                    provider: "providers/nordic-ir".into(),
                    service: IR as i32,
                    person_days: 40,
                    period_start: day_from_today(-200),
                    period_end: day_from_today(-1),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap();
    app.commit_capacity("danube-cyber", IR, 25).await; // still running
    let report = registry
        .list_unused_capacity(authed(
            pb::ListUnusedCapacityRequest::default(),
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.entries.len(), 1);
    assert_eq!(report.entries[0].provider, "providers/nordic-ir");
    assert_eq!(report.total_unused_person_days, 40);
    let printed = reserve_dispatch::client::render_unused(&report);
    assert!(
        printed.contains("nordic-ir  INCIDENT_RESPONSE"),
        "{printed}"
    );
    assert!(
        printed.ends_with("total unused: 40 person-days (converted 0, lapsed 40)\n"),
        "{printed}"
    );
    assert_eq!(report.entries[0].lapsed_person_days, 40);
    let denied = registry
        .list_unused_capacity(authed(
            pb::ListUnusedCapacityRequest::default(),
            &app.token("provider", "nordic-ir"),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test]
async fn the_usage_report_adds_up_to_what_was_written() {
    let app = spawn_app().await;
    app.commit_capacity("danube-cyber", IR, 50).await;
    let start = app.app.now() - chrono::Duration::minutes(1);
    // Romania: one authorised and dispatched (6 days accepted), one rejected,
    // one left undecided; Germany: one eligible; Moldova: one referred.
    let dispatched = app.submit_new("ro-csirt", member_state_request("RO")).await;
    authorise(&app, &dispatched.name, &[(IR, 6)], "duty_officer").await;
    approve(
        &app,
        &dispatched.name,
        vec![plan(0, "danube-cyber", &[], "")],
    )
    .await
    .unwrap();
    let offer = open_offer(&offers_of(&app, "danube-cyber").await, &dispatched.name).clone();
    app.provider_client()
        .await
        .accept_offer(authed(
            pb::AcceptOfferRequest { name: offer.name },
            &app.token("provider", "danube-cyber"),
        ))
        .await
        .unwrap();
    let rejected = app.submit_new("ro-csirt", member_state_request("RO")).await;
    app.dispatch()
        .await
        .reject_support_request(authed(
            pb::RejectSupportRequestRequest {
                name: rejected.name,
                reason: "national capacity".into(),
                version: 0,
                ..Default::default()
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap();
    app.submit_new("ro-csirt", member_state_request("RO")).await;
    app.submit_new("de-csirt", member_state_request("DE")).await;
    app.submit_new("md-spoc", moldova_request()).await;
    let end = app.app.now() + chrono::Duration::minutes(1);
    let period = |t: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };

    let report = |view: pb::UsageView, role: &'static str| {
        let dispatch = app.dispatch();
        let token = app.token(role, "x");
        async move {
            dispatch
                .await
                .get_usage_report(authed(
                    pb::GetUsageReportRequest {
                        period_start: Some(period(start)),
                        period_end: Some(period(end)),
                        view: view as i32,
                    },
                    &token,
                ))
                .await
        }
    };
    let nis = report(pb::UsageView::NisCooperationGroup, "auditor")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nis.total_requests, 4);
    assert_eq!(nis.total_person_days, 6);
    let romania = nis.rows.iter().find(|r| r.country == "RO").unwrap();
    assert_eq!(romania.user_kind, pb::OrganisationKind::MsCsirt as i32);
    assert_eq!(romania.requests_by_outcome.get("DISPATCHING"), Some(&1));
    assert_eq!(romania.requests_by_outcome.get("REJECTED"), Some(&1));
    assert_eq!(romania.requests_by_outcome.get("ELIGIBLE"), Some(&1));
    assert_eq!(romania.decided_within_deadline, 2);
    assert_eq!(romania.deadline_breaches, 0);
    assert_eq!(romania.providers, ["providers/danube-cyber"]);
    let germany = nis.rows.iter().find(|r| r.country == "DE").unwrap();
    assert_eq!(germany.requests_by_outcome.values().sum::<u32>(), 1);

    let council = report(pb::UsageView::Council, "commission")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(council.total_requests, 1);
    assert_eq!(
        council.rows[0].requests_by_outcome.get("REFERRED"),
        Some(&1)
    );
    let denied = report(pb::UsageView::NisCooperationGroup, "commission")
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let printed = reserve_dispatch::client::usage_csv(&nis);
    let mut lines = printed.lines();
    assert_eq!(
        lines.next(),
        Some(
            "user_kind,country,outcome,requests,decided_within_deadline,deadline_breaches,mean_response_hours,person_days_used,providers"
        )
    );
    assert_eq!(
        printed.lines().count(),
        1 + 4,
        "a line per kind, country and outcome"
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_answers_on_two_lines_move_the_request_on() {
    let app = spawn_app().await;
    app.commit_capacity("nordic-ir", DF, 100).await;
    app.commit_capacity("danube-cyber", IR, 100).await;
    for _ in 0..3 {
        let request = authorised_moldova(&app, &[(IR, 5), (DF, 5)]).await;
        let name = request.name.clone();
        approve(
            &app,
            &name,
            vec![
                plan(0, "danube-cyber", &[], ""),
                plan(1, "nordic-ir", &[], ""),
            ],
        )
        .await
        .unwrap();
        let ir = open_offer(&offers_of(&app, "danube-cyber").await, &name)
            .name
            .clone();
        let df = open_offer(&offers_of(&app, "nordic-ir").await, &name)
            .name
            .clone();
        let agreement = || pb::Agreement {
            reference: "SA".into(),
            template_version: "1".into(),
            sign_time: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() - 60,
                nanos: 0,
            }),
            liability_conditions: "standard".into(),
            affected_entity: String::new(),
        };
        let both = |step: &'static str| {
            let calls = [(ir.clone(), "danube-cyber"), (df.clone(), "nordic-ir")].map(
                |(offer, provider)| {
                    let client = app.provider_client();
                    let token = app.token("provider", provider);
                    let agreement = agreement();
                    async move {
                        let mut client = client.await;
                        match step {
                            "accept" => client
                                .accept_offer(authed(
                                    pb::AcceptOfferRequest { name: offer },
                                    &token,
                                ))
                                .await
                                .map(|_| ()),
                            "agree" => client
                                .record_agreement(authed(
                                    pb::RecordAgreementRequest {
                                        name: offer,
                                        agreement: Some(agreement),
                                    },
                                    &token,
                                ))
                                .await
                                .map(|_| ()),
                            _ => client
                                .complete_assignment(authed(
                                    pb::CompleteAssignmentRequest {
                                        name: offer,
                                        delivery_note: "done".into(),
                                    },
                                    &token,
                                ))
                                .await
                                .map(|_| ()),
                        }
                    }
                },
            );
            futures_util::future::join_all(calls)
        };
        for result in both("accept").await {
            result.unwrap();
        }
        for result in both("agree").await {
            result.unwrap();
        }
        assert_eq!(state(&app.read("md-spoc", &name).await), S::Dispatched);
        for result in both("complete").await {
            result.unwrap();
        }
        assert_eq!(state(&app.read("md-spoc", &name).await), S::Completed);
    }
    app.stop().await;
}

#[tokio::test]
async fn waiting_requests_are_matched_when_a_provider_returns_or_a_period_begins() {
    let app = spawn_app().await;
    let admin = app.token("admin", "reserve-admin");
    let mut returning = moldova_provider("returning-ir");
    returning.status = pb::ProviderStatus::Suspended as i32;
    app.add_provider(returning.clone()).await;
    app.commit_capacity("returning-ir", IR, 20).await;

    // No one able: the request waits.
    let first = authorised_moldova(&app, &[(IR, 5)]).await;
    let waiting = approve(
        &app,
        &first.name,
        vec![plan(0, "danube-cyber", &[], "the usual partner")],
    )
    .await
    .unwrap();
    assert_eq!(state(&waiting), S::WaitingCapacity);

    // The suspended provider is reactivated: matched at once.
    app.registry()
        .await
        .update_provider(authed(
            pb::UpdateProviderRequest {
                provider: Some(pb::Provider {
                    name: "providers/returning-ir".into(),
                    status: pb::ProviderStatus::Active as i32,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["status".into()],
                }),
            },
            &admin,
        ))
        .await
        .unwrap();
    assert_eq!(
        state(&app.read("md-spoc", &first.name).await),
        S::Dispatching
    );
    let offer = open_offer(&offers_of(&app, "returning-ir").await, &first.name)
        .name
        .clone();
    // Accepted, so that no expiry frees capacity when the clock moves below.
    app.provider_client()
        .await
        .accept_offer(authed(
            pb::AcceptOfferRequest { name: offer },
            &app.token("provider", "returning-ir"),
        ))
        .await
        .unwrap();

    // A commitment whose period begins tomorrow matches when it begins.
    let second = authorised_moldova(&app, &[(IR, 18)]).await;
    approve(
        &app,
        &second.name,
        vec![plan(0, "danube-cyber", &[], "the usual partner")],
    )
    .await
    .unwrap();
    app.add_provider(moldova_provider("later-ir")).await;
    app.registry()
        .await
        .create_capacity_commitment(authed(
            pb::CreateCapacityCommitmentRequest {
                capacity_commitment: Some(pb::CapacityCommitment {
                    provider: "providers/later-ir".into(),
                    service: IR as i32,
                    person_days: 30,
                    period_start: day_from_today(1),
                    period_end: day_from_today(100),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap();
    assert_eq!(
        state(&app.read("md-spoc", &second.name).await),
        S::WaitingCapacity
    );
    app.clock.advance(chrono::Duration::hours(25));
    reserve_dispatch::worker::run_once(&app.app, "w")
        .await
        .unwrap();
    assert_eq!(
        state(&app.read("md-spoc", &second.name).await),
        S::Dispatching
    );
    open_offer(&offers_of(&app, "later-ir").await, &second.name);
    app.stop().await;
}

/// `serve --dev --seed-demo`, the README's first command, commits demo
/// capacity too: a request is matched to candidates without any import.
#[tokio::test]
async fn a_first_development_run_has_capacity_to_dispatch() {
    use crate::helpers::{Keys, TestDb, start_server};
    let db = TestDb::fresh().await;
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    // The development keys are made on first use, beside this one.
    let dev_key = dir.path().join("dev.pem");
    let env = [
        ("RESERVE_DEV", "true"),
        ("RESERVE_SEED_DEMO", "true"),
        ("RESERVE_DEV_KEY_FILE", dev_key.to_str().unwrap()),
    ];
    let server = start_server(&db, &keys, &env);
    let channel = tonic::transport::Channel::from_shared(server.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let commitments = pb::registry_service_client::RegistryServiceClient::new(channel.clone())
        .list_capacity_commitments(authed(
            pb::ListCapacityCommitmentsRequest {
                page_size: 100,
                ..Default::default()
            },
            &keys.token_for("admin", "reserve"),
        ))
        .await
        .unwrap()
        .into_inner()
        .capacity_commitments;
    assert!(!commitments.is_empty(), "demo capacity is committed");
    assert!(
        commitments
            .iter()
            .all(|c| c.person_days == reserve_dispatch::seed::DEMO_PERSON_DAYS)
    );
    let mut requests =
        pb::support_request_service_client::SupportRequestServiceClient::new(channel.clone());
    let requester = keys.token_for("requester", "ro-csirt");
    let created = requests
        .create_support_request(authed(
            crate::helpers::create(
                member_state_request("RO"),
                &uuid::Uuid::new_v4().to_string(),
            ),
            &requester,
        ))
        .await
        .unwrap()
        .into_inner();
    requests
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: created.name.clone(),
            },
            &requester,
        ))
        .await
        .unwrap();
    let duty = keys.token_for("duty_officer", "enisa");
    let mut dispatch = pb::dispatch_service_client::DispatchServiceClient::new(channel);
    dispatch
        .authorise_support(authed(
            pb::AuthoriseSupportRequest {
                name: created.name.clone(),
                granted_lines: vec![pb::ServiceLine {
                    service: IR as i32,
                    person_days: 5,
                    ..Default::default()
                }],
                duration_days: 30,
                ..Default::default()
            },
            &duty,
        ))
        .await
        .unwrap();
    let proposed = dispatch
        .propose_matches(authed(
            pb::ProposeMatchesRequest {
                name: created.name.clone(),
            },
            &duty,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        proposed.lines.iter().all(|l| !l.candidates.is_empty()),
        "{proposed:?}"
    );
}
