//! Server assembly in one place: the services, health and reflection, the
//! observation (span, log line, metrics) and authentication layers, and a
//! graceful shutdown.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig, server::TcpIncoming};

use crate::app::App;
use crate::auth::{AuthLayer, Verifier};
use crate::grpc::{self, pb};
use crate::limits::{Limits, RateLimitLayer};

/// Serves the API on `listener` until `shutdown` completes, then finishes the
/// calls in flight; with the default limits.
pub async fn serve(
    listener: TcpListener,
    app: App,
    verifier: Arc<Verifier>,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    serve_with(
        listener,
        app,
        verifier,
        tls,
        Limits::default(),
        false,
        shutdown,
    )
    .await
}

/// Serves the API with the given limits; with `bench_ping`, also the
/// benchmark's trivial RPC (`reserve.bench.v1.Ping`) behind the same layers.
pub async fn serve_with(
    listener: TcpListener,
    app: App,
    verifier: Arc<Verifier>,
    tls: Option<ServerTlsConfig>,
    limits: Limits,
    bench_ping: bool,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::support_request_service_server::SupportRequestServiceServer<
            grpc::support_requests::SupportRequestService,
        >>()
        .await;
    // The google.rpc error details too (BadRequest, RetryInfo, ...), so that
    // a tool like grpcurl decodes the details of an error, not raw bytes.
    let descriptors = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = descriptors()
        .build_v1()
        .expect("the embedded descriptor set is valid");
    let reflection_v1alpha = descriptors()
        .build_v1alpha()
        .expect("the embedded descriptor set is valid");

    let tail = tokio::spawn(crate::app::events::tail(
        app.clone(),
        Duration::from_millis(100),
    ));
    let sequencer = tokio::spawn(crate::worker::sequencer::run(app.db.clone()));
    let log = tokio::spawn(crate::worker::log::run(app.clone()));
    let notify = tokio::spawn(crate::worker::notify::run(app.clone()));
    let events = app.events.clone();
    let shutdown = async move {
        shutdown.await;
        // Open watches would hold the graceful shutdown forever: end them.
        events.close();
    };
    // Headers up to 96 KiB reach the auth layer, which refuses oversized
    // tokens with a clear UNAUTHENTICATED rather than a transport error.
    let mut builder = Server::builder()
        .http2_max_header_list_size(Some(96 * 1024))
        .max_concurrent_streams(Some(limits.max_concurrent_streams))
        .timeout(limits.request_timeout)
        // Dead peers are noticed and their connections closed.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    let max = limits.max_message_bytes;
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let served = builder
        .layer(crate::observe::ObserveLayer::new(app.metrics.clone()))
        .layer(AuthLayer::new(verifier))
        .layer(RateLimitLayer::new(limits.rate))
        .add_service(health_service)
        .add_optional_service(bench_ping.then_some(crate::bench::ping::PingServer))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            pb::support_request_service_server::SupportRequestServiceServer::new(
                grpc::support_requests::SupportRequestService { app: app.clone() },
            )
            .max_decoding_message_size(max),
        )
        .add_service(
            pb::registry_service_server::RegistryServiceServer::new(
                grpc::registry::RegistryService { app: app.clone() },
            )
            .max_decoding_message_size(max),
        )
        .add_service(
            pb::dispatch_service_server::DispatchServiceServer::new(
                grpc::dispatch::DispatchService { app: app.clone() },
            )
            .max_decoding_message_size(max),
        )
        .add_service(
            pb::provider_service_server::ProviderServiceServer::new(
                grpc::provider::ProviderService { app: app.clone() },
            )
            .max_decoding_message_size(max),
        )
        .add_service(
            pb::preparedness_service_server::PreparednessServiceServer::new(
                grpc::preparedness::PreparednessService { app: app.clone() },
            )
            .max_decoding_message_size(max),
        )
        .add_service(grpc::watch::WatchRoute {
            inner: pb::audit_service_server::AuditServiceServer::new(grpc::audit::AuditService {
                app: app.clone(),
            })
            .max_decoding_message_size(max),
            app,
            max_decoding_message_size: max,
        })
        .serve_with_incoming_shutdown(
            // No Nagle: a unary answer is written as several small frames,
            // and waiting for the peer's delayed ACK between them costs 40 ms.
            TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .with_keepalive(Some(Duration::from_secs(60))),
            shutdown,
        )
        .await;
    tail.abort();
    sequencer.abort();
    log.abort();
    notify.abort();
    served
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing calls in flight");
}

/// The TLS configuration: a certificate and key, and with `client_ca` the
/// client certificates it signs are required (mutual TLS).
pub fn tls_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> ServerTlsConfig {
    let config = ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem));
    match client_ca_pem {
        Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
        None => config,
    }
}

/// Binds the listening socket (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
