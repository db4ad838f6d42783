//! Two `reserve serve` processes on one database: requests driven through
//! both alternately, and each due timer fired exactly once between them.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, Header, encode};
use reserve_dispatch::auth::claims_for;
use reserve_dispatch::grpc::pb;
use tonic::transport::Channel;

use crate::helpers::{
    AUDIENCE, ISSUER, Keys, ServerProcess, TestDb, authed, create, day_from_today,
    member_state_request, moldova_request, start_server,
};

fn start(db: &TestDb, keys: &Keys, rules: &std::path::Path, seed: bool) -> ServerProcess {
    start_server(
        db,
        keys,
        &[
            ("RESERVE_RULES_FILE", rules.to_str().unwrap()),
            ("RESERVE_SEED_DEMO", if seed { "true" } else { "false" }),
        ],
    )
}

async fn channel(p: &ServerProcess) -> Channel {
    Channel::from_shared(p.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_processes_share_the_work_and_fire_each_timer_once() {
    let db = TestDb::fresh().await;
    let keys = Keys::new();
    // Offers expire the moment they are made, so the timers are due at once.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/csa-v1.toml")).unwrap();
    let zero: String = text
        .lines()
        .map(|l| {
            if l.starts_with("accept_hours_") {
                format!("{} = 0", l.split(' ').next().unwrap())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&rules, zero).unwrap();

    let a = start(&db, &keys, &rules, true);
    let b = start(&db, &keys, &rules, false);
    let token = |role: &str, org: &str| {
        encode(
            &Header::new(Algorithm::EdDSA),
            &claims_for(role, org, &format!("{role}@{org}"), ISSUER, AUDIENCE, 600),
            &keys.trusted,
        )
        .unwrap()
    };
    let (ca, cb) = (channel(&a).await, channel(&b).await);
    let pick = |i: usize| {
        if i.is_multiple_of(2) {
            ca.clone()
        } else {
            cb.clone()
        }
    };

    pb::registry_service_client::RegistryServiceClient::new(pick(0))
        .create_capacity_commitment(authed(
            pb::CreateCapacityCommitmentRequest {
                capacity_commitment: Some(pb::CapacityCommitment {
                    provider: "providers/nordic-ir".into(),
                    service: pb::ServiceType::IncidentResponse as i32,
                    person_days: 200,
                    period_start: day_from_today(-1),
                    period_end: day_from_today(100),
                    ..Default::default()
                }),
            },
            &token("admin", "reserve"),
        ))
        .await
        .unwrap();

    let mut names = Vec::new();
    for i in 0..6 {
        let mut requests =
            pb::support_request_service_client::SupportRequestServiceClient::new(pick(i));
        let created = requests
            .create_support_request(authed(
                create(moldova_request(), &format!("r{i}")),
                &token("requester", "md-spoc"),
            ))
            .await
            .unwrap()
            .into_inner();
        let mut requests =
            pb::support_request_service_client::SupportRequestServiceClient::new(pick(i + 1));
        let referred = requests
            .submit_support_request(authed(
                pb::SubmitSupportRequestRequest {
                    name: created.name.clone(),
                },
                &token("requester", "md-spoc"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(referred.state, pb::RequestState::Referred as i32);
        let mut dispatch = pb::dispatch_service_client::DispatchServiceClient::new(pick(i));
        dispatch
            .authorise_support(authed(
                pb::AuthoriseSupportRequest {
                    name: created.name.clone(),
                    granted_lines: vec![pb::ServiceLine {
                        service: pb::ServiceType::IncidentResponse as i32,
                        person_days: 5,
                        ..Default::default()
                    }],
                    duration_days: 30,
                    ..Default::default()
                },
                &token("commission", "ec"),
            ))
            .await
            .unwrap();
        let mut dispatch = pb::dispatch_service_client::DispatchServiceClient::new(pick(i + 1));
        dispatch
            .approve_dispatch(authed(
                pb::ApproveDispatchRequest {
                    name: created.name.clone(),
                    plan: vec![pb::LinePlan {
                        line_index: 0,
                        provider: "providers/nordic-ir".into(),
                        ..Default::default()
                    }],
                    version: 0,
                },
                &token("duty_officer", "enisa"),
            ))
            .await
            .unwrap();
        names.push(created.name);
    }

    // Both workers race for the six expiries; each offer expires once and
    // its request, with no fallback, waits for capacity.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut audit = pb::audit_service_client::AuditServiceClient::new(pick(1));
    let auditor = token("auditor", "oversight");
    let expiries = loop {
        let mut expiries = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = audit
                .list_events(authed(
                    pb::ListEventsRequest {
                        page_size: 100,
                        page_token,
                        ..Default::default()
                    },
                    &auditor,
                ))
                .await
                .unwrap()
                .into_inner();
            expiries.extend(
                page.events
                    .into_iter()
                    .filter(|e| e.action == "ExpireOffer")
                    .map(|e| e.resource),
            );
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        if expiries.len() >= 6 || Instant::now() > deadline {
            break expiries;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let both workers run a few more passes: nothing may fire twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut again = expiries.clone();
    again.sort();
    again.dedup();
    assert_eq!(again.len(), 6, "six distinct offers expired: {expiries:?}");
    let mut requests =
        pb::support_request_service_client::SupportRequestServiceClient::new(pick(0));
    for name in &names {
        let read = requests
            .get_support_request(authed(
                pb::GetSupportRequestRequest { name: name.clone() },
                &token("requester", "md-spoc"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            read.state,
            pb::RequestState::WaitingCapacity as i32,
            "{name}"
        );
    }
    let conn = sea_orm::Database::connect(&db.url).await.unwrap();
    let pending = reserve_dispatch::store::timers::pending(&conn)
        .await
        .unwrap();
    assert!(
        pending.iter().all(|(kind, _, _)| kind != "OFFER_EXPIRY"),
        "{pending:?}"
    );
    let count: usize = {
        let events = reserve_dispatch::store::audit::list(&conn, None, 0, 10_000)
            .await
            .unwrap();
        events.iter().filter(|e| e.action == "ExpireOffer").count()
    };
    assert_eq!(count, 6, "each timer fired exactly once");
    conn.close().await.ok();
    drop(a);
    drop(b);
}

/// One Moldovan request from creation to closing, each step sent to the
/// next of `channels` in turn, while an auditor watches the events on the
/// last one. Returns the request's trail as ListEvents gives it and as the
/// watch delivered it: (action, from, to).
async fn lifecycle(
    channels: &[Channel],
    token: &dyn Fn(&str, &str) -> String,
) -> (Vec<(String, String, String)>, Vec<(String, String, String)>) {
    let step = std::cell::Cell::new(0usize);
    let next = || {
        step.set(step.get() + 1);
        channels[step.get() % channels.len()].clone()
    };
    let watcher = channels.last().unwrap().clone();
    let mut watch = pb::audit_service_client::AuditServiceClient::new(watcher)
        .watch_events(authed(
            pb::WatchEventsRequest::default(),
            &token("auditor", "oversight"),
        ))
        .await
        .unwrap()
        .into_inner();

    pb::registry_service_client::RegistryServiceClient::new(next())
        .create_capacity_commitment(authed(
            pb::CreateCapacityCommitmentRequest {
                capacity_commitment: Some(pb::CapacityCommitment {
                    provider: "providers/nordic-ir".into(),
                    service: pb::ServiceType::IncidentResponse as i32,
                    person_days: 50,
                    period_start: day_from_today(-1),
                    period_end: day_from_today(100),
                    ..Default::default()
                }),
            },
            &token("admin", "reserve"),
        ))
        .await
        .unwrap();
    let requester = token("requester", "md-spoc");
    let name = pb::support_request_service_client::SupportRequestServiceClient::new(next())
        .create_support_request(authed(create(moldova_request(), "life-1"), &requester))
        .await
        .unwrap()
        .into_inner()
        .name;
    pb::support_request_service_client::SupportRequestServiceClient::new(next())
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest { name: name.clone() },
            &requester,
        ))
        .await
        .unwrap();
    pb::dispatch_service_client::DispatchServiceClient::new(next())
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
            &token("commission", "ec"),
        ))
        .await
        .unwrap();
    pb::dispatch_service_client::DispatchServiceClient::new(next())
        .approve_dispatch(authed(
            pb::ApproveDispatchRequest {
                name: name.clone(),
                plan: vec![pb::LinePlan {
                    line_index: 0,
                    provider: "providers/nordic-ir".into(),
                    ..Default::default()
                }],
                version: 0,
            },
            &token("duty_officer", "enisa"),
        ))
        .await
        .unwrap();
    let provider = token("provider", "nordic-ir");
    let offer = pb::provider_service_client::ProviderServiceClient::new(next())
        .list_offers(authed(pb::ListOffersRequest::default(), &provider))
        .await
        .unwrap()
        .into_inner()
        .offers
        .into_iter()
        .find(|o| o.support_request == name)
        .expect("the offer")
        .name;
    pb::provider_service_client::ProviderServiceClient::new(next())
        .accept_offer(authed(
            pb::AcceptOfferRequest {
                name: offer.clone(),
            },
            &provider,
        ))
        .await
        .unwrap();
    pb::provider_service_client::ProviderServiceClient::new(next())
        .record_agreement(authed(
            pb::RecordAgreementRequest {
                name: offer.clone(),
                agreement: Some(pb::Agreement {
                    reference: "SA-MD-1".into(),
                    template_version: "CSR-SA-2026.1".into(),
                    sign_time: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() - 60,
                        nanos: 0,
                    }),
                    liability_conditions: "Art. 16(6)".into(),
                    affected_entity: "Grid operator".into(),
                }),
            },
            &provider,
        ))
        .await
        .unwrap();
    pb::provider_service_client::ProviderServiceClient::new(next())
        .complete_assignment(authed(
            pb::CompleteAssignmentRequest {
                name: offer.clone(),
                delivery_note: "Delivered".into(),
            },
            &provider,
        ))
        .await
        .unwrap();
    pb::support_request_service_client::SupportRequestServiceClient::new(next())
        .submit_summary_report(authed(
            pb::SubmitSummaryReportRequest {
                name: name.clone(),
                service_provided: "Containment".into(),
                results: "Restored".into(),
                lessons_learned: "Offline backups".into(),
            },
            &requester,
        ))
        .await
        .unwrap();
    let closed = pb::dispatch_service_client::DispatchServiceClient::new(next())
        .close_support_request(authed(
            pb::CloseSupportRequestRequest { name: name.clone() },
            &token("duty_officer", "enisa"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state, pb::RequestState::Closed as i32);

    let ours = |e: &pb::AuditEvent| e.resource == name || e.resource == offer;
    let triple = |e: pb::AuditEvent| (e.action, e.from_state, e.to_state);
    let listed: Vec<_> = pb::audit_service_client::AuditServiceClient::new(next())
        .list_events(authed(
            pb::ListEventsRequest {
                page_size: 100,
                ..Default::default()
            },
            &token("auditor", "oversight"),
        ))
        .await
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .filter(ours)
        .map(triple)
        .collect();
    let mut watched = Vec::new();
    while watched.len() < listed.len() {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .unwrap_or_else(|_| panic!("every event reaches the watcher on the other process: listed {listed:?}, watched {watched:?}"))
            .unwrap()
            .expect("the stream stays open");
        if ours(&event) {
            watched.push(triple(event));
        }
    }
    (listed, watched)
}

#[tokio::test]
async fn a_lifecycle_through_two_processes_matches_one_process() {
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/csa-v1.toml")).unwrap(),
    )
    .unwrap();
    let token = |role: &str, org: &str| keys.token_for(role, org);

    let shared = TestDb::fresh().await;
    let a = start(&shared, &keys, &rules, true);
    let b = start(&shared, &keys, &rules, false);
    let (two, two_watched) = lifecycle(&[channel(&a).await, channel(&b).await], &token).await;

    let alone = TestDb::fresh().await;
    let c = start(&alone, &keys, &rules, true);
    let (one, one_watched) = lifecycle(&[channel(&c).await], &token).await;

    assert!(two.len() >= 10, "the whole trail: {two:?}");
    assert_eq!(two, one, "two processes write the trail one process writes");
    assert_eq!(
        two_watched, two,
        "the watcher on the other process saw it all, in order"
    );
    assert_eq!(one_watched, one);
    drop((a, b, c));
}

/// Writers per process in the test below.
const WRITERS: usize = 64;
/// Requests each writer creates and submits.
const REQUESTS_EACH: usize = 2;

#[tokio::test]
async fn two_processes_under_concurrent_writers_keep_one_gapless_chain() {
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/csa-v1.toml")).unwrap(),
    )
    .unwrap();
    let db = TestDb::fresh().await;
    let a = start(&db, &keys, &rules, true);
    let b = start(&db, &keys, &rules, false);
    let (ca, cb) = (channel(&a).await, channel(&b).await);
    let auditor = keys.token_for("auditor", "oversight");

    // A watcher follows replica B from the start of the chain.
    let mut watch = pb::audit_service_client::AuditServiceClient::new(cb.clone())
        .watch_events(authed(pb::WatchEventsRequest::default(), &auditor))
        .await
        .unwrap()
        .into_inner();

    // 64 writers on each process, each creating and submitting requests.
    let writers = (0..2 * WRITERS).map(|w| {
        let channel = if w < WRITERS { ca.clone() } else { cb.clone() };
        let token = keys.token_for("requester", "ee-csirt");
        tokio::spawn(async move {
            let mut client =
                pb::support_request_service_client::SupportRequestServiceClient::new(channel);
            for i in 0..REQUESTS_EACH {
                let created = client
                    .create_support_request(authed(
                        create(member_state_request("EE"), &format!("load-{w}-{i}")),
                        &token,
                    ))
                    .await
                    .expect("created")
                    .into_inner();
                client
                    .submit_support_request(authed(
                        pb::SubmitSupportRequestRequest { name: created.name },
                        &token,
                    ))
                    .await
                    .expect("submitted");
            }
        })
    });
    for writer in futures_util::future::join_all(writers).await {
        writer.unwrap();
    }

    // The chain verifies, through either process.
    let verified = pb::audit_service_client::AuditServiceClient::new(ca.clone())
        .verify_audit_chain(authed(pb::VerifyAuditChainRequest::default(), &auditor))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    // Every sequence from 1 to the last, once.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = pb::audit_service_client::AuditServiceClient::new(cb.clone())
            .list_events(authed(
                pb::ListEventsRequest {
                    page_size: 100,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &auditor,
            ))
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let sequences: Vec<i64> = listed.iter().map(|e| e.sequence).collect();
    let expected: Vec<i64> = (1..=listed.len() as i64).collect();
    assert_eq!(sequences, expected, "no gap, no repeat");
    assert_eq!(verified.events_checked, listed.len() as i64);
    let requests = 2 * WRITERS * REQUESTS_EACH;
    let created = listed
        .iter()
        .filter(|e| e.action == "CreateSupportRequest")
        .count();
    assert_eq!(
        created, requests,
        "every acknowledged creation is in the chain"
    );

    // The watcher on B received every event, in order, whichever process
    // wrote it.
    let mut watched = Vec::new();
    while watched.len() < listed.len() {
        let event = tokio::time::timeout(Duration::from_secs(20), watch.message())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the watcher missed events: {} of {}",
                    watched.len(),
                    listed.len()
                )
            })
            .unwrap()
            .expect("the stream stays open");
        watched.push(event.sequence);
    }
    assert_eq!(watched, sequences);
    drop((a, b));
}
