//! Telemetry through the front door: traces received by a real OTLP
//! receiver from a `reserve serve` process, and the Prometheus endpoint.

use std::time::Duration;

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind},
};
use reserve_dispatch::grpc::pb;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, transport::Channel};

use crate::helpers::{
    Keys, TestDb, authed, create, member_state_request, moldova_request, spawn_app, start_server,
};

/// An OTLP trace receiver: every span exported to it, with the service name
/// of the resource that sent it.
struct Receiver(mpsc::UnboundedSender<(String, Span)>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| string_attribute(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let _ = self.0.send((service.clone(), span));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int_attribute(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

#[tokio::test]
async fn spans_reach_an_otlp_receiver_and_continue_the_callers_trace() {
    let (tx, mut received) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let db = TestDb::fresh().await;
    let keys = Keys::new();
    let endpoint = format!("http://{collector}");
    let server = start_server(
        &db,
        &keys,
        &[
            ("RESERVE_SEED_DEMO", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "reserve-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let channel = Channel::from_shared(server.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let token = keys.token_for("requester", "md-spoc");

    // The caller's trace: W3C trace context in the metadata.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let mut request = authed(create(moldova_request(), "otel-1"), &token);
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{caller_span}-01").parse().unwrap(),
    );
    pb::support_request_service_client::SupportRequestServiceClient::new(channel)
        .create_support_request(request)
        .await
        .expect("created");

    // Gather what arrives until the three spans are in.
    let mut spans: Vec<(String, Span)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let find = |spans: &[(String, Span)], name: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == name && hex::encode(&s.trace_id) == trace_id)
            .cloned()
    };
    while find(&spans, "db.transaction").is_none()
        || find(&spans, "requests.create").is_none()
        || find(
            &spans,
            "reserve.v1.SupportRequestService/CreateSupportRequest",
        )
        .is_none()
    {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(span)) => spans.push(span),
            _ => panic!(
                "spans missing after 20 s; received: {:?}",
                spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
            ),
        }
    }

    let (service, rpc) = find(
        &spans,
        "reserve.v1.SupportRequestService/CreateSupportRequest",
    )
    .unwrap();
    assert_eq!(service, "reserve-under-test");
    assert_eq!(hex::encode(&rpc.parent_span_id), caller_span);
    assert_eq!(rpc.kind, SpanKind::Server as i32);
    assert_eq!(
        string_attribute(&rpc.attributes, "rpc.system").as_deref(),
        Some("grpc")
    );
    assert_eq!(
        string_attribute(&rpc.attributes, "rpc.service").as_deref(),
        Some("reserve.v1.SupportRequestService")
    );
    assert_eq!(
        string_attribute(&rpc.attributes, "rpc.method").as_deref(),
        Some("CreateSupportRequest")
    );
    assert_eq!(
        int_attribute(&rpc.attributes, "rpc.grpc.status_code"),
        Some(0)
    );

    let (_, use_case) = find(&spans, "requests.create").unwrap();
    assert_eq!(use_case.parent_span_id, rpc.span_id);

    let (_, txn) = find(&spans, "db.transaction").unwrap();
    assert_eq!(txn.parent_span_id, use_case.span_id);
    assert_eq!(
        string_attribute(&txn.attributes, "db.outcome").as_deref(),
        Some("commit")
    );
    assert!(
        txn.start_time_unix_nano >= use_case.start_time_unix_nano
            && txn.end_time_unix_nano <= use_case.end_time_unix_nano,
        "the transaction lies within its use case"
    );
    // Its round trips sit inside the transaction, each with the number of
    // statements it carried: a creation is two (BEGIN with the reference
    // number; the request, its event and COMMIT).
    let round_trips: Vec<_> = spans
        .iter()
        .filter(|(_, s)| s.parent_span_id == txn.span_id && s.name == "db.query")
        .collect();
    assert_eq!(round_trips.len(), 2, "{round_trips:?}");
    assert!(
        round_trips
            .iter()
            .all(|(_, s)| int_attribute(&s.attributes, "db.statements").unwrap_or(0) >= 2),
        "{round_trips:?}"
    );
}

/// `GET /metrics` over a plain TCP connection.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain")
    );
    body.to_owned()
}

/// The value of the first sample line starting with `prefix`.
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn prometheus_endpoint_serves_the_named_metrics() {
    let app = spawn_app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(reserve_dispatch::metrics::serve(
        listener,
        app.app.clone(),
        std::future::pending(),
    ));

    // Two submitted requests, and one refused for a bad field.
    app.submit_new("md-spoc", moldova_request()).await;
    app.submit_new("ee-csirt", member_state_request("EE")).await;
    let mut bad = member_state_request("EE");
    bad.title.clear();
    let refused = app
        .requests()
        .await
        .create_support_request(authed(
            create(bad, "bad-1"),
            &app.token("requester", "ee-csirt"),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    let metrics = scrape(addr).await;
    let created_ok = r#"rpc_server_duration_seconds_count{rpc_grpc_status_code="0",rpc_method="CreateSupportRequest",rpc_service="reserve.v1.SupportRequestService",rpc_system="grpc"}"#;
    assert_eq!(sample(&metrics, created_ok), Some(2.0), "{metrics}");
    let created_invalid = r#"rpc_server_duration_seconds_count{rpc_grpc_status_code="3",rpc_method="CreateSupportRequest","#;
    assert_eq!(sample(&metrics, created_invalid), Some(1.0), "{metrics}");
    assert!(
        metrics.contains(r#"rpc_server_duration_seconds_bucket{rpc_grpc_status_code="0",rpc_method="SubmitSupportRequest""#),
        "latency histogram by method"
    );
    // The Moldovan request is referred to the Commission; the Estonian one is eligible.
    assert_eq!(
        sample(&metrics, r#"reserve_requests{state="REFERRED"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, r#"reserve_requests{state="ELIGIBLE"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&metrics, "reserve_offers_open "), Some(0.0));
    assert_eq!(sample(&metrics, "reserve_assessments_overdue "), Some(0.0));
    assert_eq!(sample(&metrics, "reserve_timers_due "), Some(0.0));
    assert_eq!(sample(&metrics, "reserve_timers_lag_seconds "), Some(0.0));

    // Past the response deadlines: both overdue, and their deadline timers
    // wait for the worker.
    app.clock.advance(chrono::Duration::hours(80));
    let metrics = scrape(addr).await;
    assert_eq!(
        sample(&metrics, "reserve_assessments_overdue "),
        Some(2.0),
        "{metrics}"
    );
    assert!(sample(&metrics, "reserve_timers_due ").unwrap() >= 2.0);
    assert!(sample(&metrics, "reserve_timers_lag_seconds ").unwrap() > 3600.0);

    // The worker fires them and reports how late.
    reserve_dispatch::worker::run_once(&app.app, "test")
        .await
        .unwrap();
    let metrics = scrape(addr).await;
    assert_eq!(sample(&metrics, "reserve_timers_due "), Some(0.0));
    assert!(
        metrics.contains(r#"reserve_timer_fire_lag_seconds_count{kind="ASSESSMENT_DEADLINE"}"#),
        "{metrics}"
    );
}
