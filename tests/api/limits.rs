//! Limits: oversized messages, calls per second per organisation, streams per
//! connection, slow senders and database deadlines. Each keeps one caller
//! from starving the others.

use std::{sync::Arc, time::Duration};

use reserve_dispatch::grpc::pb;
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt;

use crate::helpers::{
    Keys, TestApp, TestDb, authed, create, member_state_request, spawn_configured,
};

async fn spawn(configure: impl FnOnce(&mut reserve_dispatch::config::Settings)) -> TestApp {
    spawn_configured(
        Arc::new(TestDb::fresh().await),
        Arc::new(Keys::new()),
        None,
        configure,
    )
    .await
}

fn list() -> pb::ListSupportRequestsRequest {
    pb::ListSupportRequestsRequest::default()
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_the_connection_stays_usable() {
    let app = spawn(|s| s.max_message_bytes = 8 * 1024).await;
    let token = app.token("requester", "ee-csirt");
    let mut client = app.requests().await;

    let mut body = member_state_request("EE");
    body.description = "x".repeat(10 * 1024);
    let refused = client
        .create_support_request(authed(create(body, "big-1"), &token))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    assert!(refused.message().contains("too large"), "{refused:?}");

    // Just under the limit, on the same connection: accepted.
    let mut body = member_state_request("EE");
    body.description = "x".repeat(4 * 1024);
    client
        .create_support_request(authed(create(body, "big-2"), &token))
        .await
        .expect("a message under the limit is accepted");
}

#[tokio::test]
async fn an_organisation_over_its_rate_is_told_when_to_retry_and_others_are_served() {
    let app = spawn(|s| {
        s.rate_limit_per_second = 2;
        s.rate_limit_burst = 3;
    })
    .await;
    let mut client = app.requests().await;
    let estonia = app.token("requester", "ee-csirt");
    for _ in 0..3 {
        client
            .list_support_requests(authed(list(), &estonia))
            .await
            .expect("within the burst");
    }
    let refused = client
        .list_support_requests(authed(list(), &estonia))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("ee-csirt"), "{refused:?}");
    let retry = refused
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo with a delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_millis(501),
        "{retry:?}"
    );

    // Another organisation has a bucket of its own.
    let latvia = app.token("requester", "lv-csirt");
    client
        .list_support_requests(authed(list(), &latvia))
        .await
        .expect("another organisation is served");

    // After the advised delay, served again.
    tokio::time::sleep(retry).await;
    client
        .list_support_requests(authed(list(), &estonia))
        .await
        .expect("served after the delay");
}

#[tokio::test]
async fn streams_held_open_on_one_connection_do_not_block_other_connections() {
    let app = spawn(|s| s.max_concurrent_streams = 2).await;
    let token = app.token("auditor", "enisa-audit");
    let held = app.channel().await;
    let mut audit = pb::audit_service_client::AuditServiceClient::new(held.clone());
    let first = audit
        .watch_events(authed(pb::WatchEventsRequest::default(), &token))
        .await
        .expect("first stream");
    let second = audit
        .watch_events(authed(pb::WatchEventsRequest::default(), &token))
        .await
        .expect("second stream");

    // A third call on the full connection waits for a free stream...
    let mut queued_client =
        pb::support_request_service_client::SupportRequestServiceClient::new(held.clone());
    let queued_token = app.token("requester", "ee-csirt");
    let mut queued = tokio::spawn(async move {
        queued_client
            .list_support_requests(authed(list(), &queued_token))
            .await
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut queued)
            .await
            .is_err(),
        "the connection's two streams are taken"
    );
    // ...while another connection is served at once.
    let fresh = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        pb::support_request_service_client::SupportRequestServiceClient::new(fresh)
            .list_support_requests(authed(list(), &app.token("requester", "lv-csirt"))),
    )
    .await
    .expect("another connection is not blocked")
    .expect("served");

    // Closing one stream lets the queued call through.
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), queued)
        .await
        .expect("the queued call proceeds once a stream closes")
        .unwrap()
        .expect("served");
    drop(second);
}

#[tokio::test]
async fn a_client_sending_slowly_is_cut_off_and_does_not_hold_up_others() {
    let app = spawn(|s| s.request_timeout_secs = 1).await;
    let token = app.token("requester", "ee-csirt");

    // A raw HTTP/2 client: headers, five bytes of a promised 1 000, then nothing.
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut h2, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{}/reserve.v1.SupportRequestService/CreateSupportRequest",
            app.addr
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let (response, mut body) = h2.send_request(request, false).unwrap();
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 3, 232]), false)
        .unwrap();

    // Meanwhile another client is served.
    app.requests()
        .await
        .list_support_requests(authed(list(), &app.token("requester", "lv-csirt")))
        .await
        .expect("others are served while one sends slowly");

    // The slow call ends with a status well before it finishes sending.
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("the server answers the slow client")
        .unwrap();
    let status = match response.headers().get("grpc-status") {
        Some(code) => code.to_str().unwrap().to_owned(),
        None => {
            let mut body = response.into_body();
            while body.data().await.is_some() {}
            let trailers = body.trailers().await.unwrap().expect("trailers");
            trailers["grpc-status"].to_str().unwrap().to_owned()
        }
    };
    // CANCELLED (1) is what tonic answers when its timeout expires.
    assert_eq!(
        status, "1",
        "the slow call is cut off by the request timeout"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_write_waiting_on_a_held_database_lock_gives_up_with_unavailable() {
    let app = spawn(|s| s.db_statement_timeout_ms = 500).await;
    let token = app.token("requester", "ee-csirt");
    let mut client = app.requests().await;
    let draft = client
        .create_support_request(authed(create(member_state_request("EE"), "lock-1"), &token))
        .await
        .unwrap()
        .into_inner();
    let id = draft.name.trim_start_matches("supportRequests/").to_owned();

    // Another session holds the request for a change of its own (as a
    // stuck writer would): its row, and on SQLite the write lock.
    let other = reserve_dispatch::store::connect(&app.db.url, 1)
        .await
        .unwrap();
    let held = reserve_dispatch::store::begin(&other).await.unwrap();
    reserve_dispatch::store::requests::find_for_change(&held, &id)
        .await
        .unwrap()
        .expect("the request");

    let started = std::time::Instant::now();
    let submit = || pb::SubmitSupportRequestRequest {
        name: draft.name.clone(),
    };
    let refused = client
        .submit_support_request(authed(submit(), &token))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up after the deadline, took {:?}",
        started.elapsed()
    );

    // Released: the same call goes through.
    held.rollback().await.unwrap();
    client
        .submit_support_request(authed(submit(), &token))
        .await
        .expect("served once the lock is free");
}
