//! Metrics: OpenTelemetry instruments, read by a Prometheus scrape endpoint
//! and, when the standard `OTEL_*` variables name a collector, pushed to it
//! over OTLP as well.
//!
//! | name (Prometheus)              | kind      | labels                                  |
//! |--------------------------------|-----------|-----------------------------------------|
//! | `rpc_server_duration_seconds`  | histogram | `rpc_service`, `rpc_method`, `rpc_grpc_status_code` |
//! | `reserve_requests`             | gauge     | `state`                                 |
//! | `reserve_offers_open`          | gauge     |                                         |
//! | `reserve_assessments_overdue`  | gauge     |                                         |
//! | `reserve_timers_due`           | gauge     |                                         |
//! | `reserve_timers_lag_seconds`   | gauge     | (age of the oldest due, unfired timer)  |
//! | `reserve_timer_fire_lag_seconds` | histogram | `kind` (due time to firing)           |
//! | `reserve_notifications`        | gauge     | `state` (PENDING, SENT, DEAD)           |
//! | `reserve_notifications_lag_seconds` | gauge | (age of the oldest pending notification) |
//! | `reserve_notification_failures_total` | counter | (failed delivery attempts)          |
//! | `reserve_evaluation_hours`     | gauge     | `measure` (to_decision, to_deploy, to_delivery), `stat` (mean, p50, p90), `user_kind` |
//! | `reserve_evaluation_person_days` | gauge   | `service`, `kind` (granted, used, converted) |
//! | `reserve_evaluation_converted_percent` | gauge |                                     |
//!
//! The gauges come from the database: they are read again at each scrape
//! (the evaluation's over the current reporting period, as the usage
//! report computes them)
//! and, when OTLP is on, every few seconds by [`refresh_every`].

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry::{
    KeyValue,
    metrics::{Histogram, MeterProvider},
};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::store;
pub use crate::store::stats::Snapshot;

/// Latency buckets of RPCs, in seconds: 1 ms to 10 s.
const RPC_BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Timer lateness buckets, in seconds: a timer fires within the worker's
/// period (1 s) when all is well.
const TIMER_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];

/// The instruments of one server.
pub struct Metrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
    rpc_duration: Histogram<f64>,
    timer_lag: Histogram<f64>,
    notification_failures: opentelemetry::metrics::Counter<u64>,
    snapshot: Arc<Mutex<Snapshot>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Metrics {
    /// Instruments read by the Prometheus endpoint, and by `otlp` (a reader
    /// pushing to a collector) when given.
    pub fn new(
        otlp: Option<
            opentelemetry_sdk::metrics::PeriodicReader<opentelemetry_otlp::MetricExporter>,
        >,
    ) -> Self {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .build()
            .expect("a fresh registry accepts the exporter");
        let mut builder = SdkMeterProvider::builder()
            .with_reader(exporter)
            .with_resource(crate::telemetry::resource());
        if let Some(reader) = otlp {
            builder = builder.with_reader(reader);
        }
        let provider = builder.build();
        let meter = provider.meter("reserve-dispatch");
        let rpc_duration = meter
            .f64_histogram("rpc.server.duration")
            .with_unit("s")
            .with_description("Duration of RPCs served, by method and status code")
            .with_boundaries(RPC_BUCKETS.to_vec())
            .build();
        let timer_lag = meter
            .f64_histogram("reserve.timer.fire_lag")
            .with_unit("s")
            .with_description("Time from a durable timer's due time to its firing")
            .with_boundaries(TIMER_BUCKETS.to_vec())
            .build();
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let read = |f: fn(&Snapshot) -> f64| {
            let snapshot = snapshot.clone();
            move |observer: &dyn opentelemetry::metrics::AsyncInstrument<f64>| {
                observer.observe(f(&snapshot.lock().expect("metrics lock")), &[])
            }
        };
        let by_state = snapshot.clone();
        meter
            .f64_observable_gauge("reserve.requests")
            .with_description("Support requests by state")
            .with_callback(move |observer| {
                for (state, n) in &by_state.lock().expect("metrics lock").requests_by_state {
                    observer.observe(*n as f64, &[KeyValue::new("state", state.clone())]);
                }
            })
            .build();
        meter
            .f64_observable_gauge("reserve.offers.open")
            .with_description("Offers awaiting the provider's answer")
            .with_callback(read(|s| s.open_offers as f64))
            .build();
        meter
            .f64_observable_gauge("reserve.assessments.overdue")
            .with_description("Requests past their response deadline with no decision")
            .with_callback(read(|s| s.overdue_assessments as f64))
            .build();
        meter
            .f64_observable_gauge("reserve.timers.due")
            .with_description("Durable timers due and not yet fired")
            .with_callback(read(|s| s.timers_due as f64))
            .build();
        meter
            .f64_observable_gauge("reserve.timers.lag")
            .with_unit("s")
            .with_description("How long the oldest due, unfired timer has waited")
            .with_callback(read(|s| s.timer_lag_seconds))
            .build();
        let notifications = snapshot.clone();
        meter
            .f64_observable_gauge("reserve.notifications")
            .with_description(
                "Notifications by state: queued (PENDING), SENT, dead-lettered (DEAD)",
            )
            .with_callback(move |observer| {
                let snapshot = notifications.lock().expect("metrics lock");
                for (state, n) in &snapshot.notifications_by_state {
                    observer.observe(*n as f64, &[KeyValue::new("state", state.clone())]);
                }
            })
            .build();
        meter
            .f64_observable_gauge("reserve.notifications.lag")
            .with_unit("s")
            .with_description("How long the oldest pending notification has waited")
            .with_callback(read(|s| s.notification_lag_seconds))
            .build();
        let evaluation = snapshot.clone();
        meter
            .f64_observable_gauge("reserve.evaluation.hours")
            .with_description(
                "Hours from transmission to decision, decision to first agreement (deploy), first agreement to delivery, this reporting period",
            )
            .with_callback(move |observer| {
                let snapshot = evaluation.lock().expect("metrics lock");
                for k in &snapshot.evaluation.by_user_kind {
                    let kind = k.user_kind.map(|k| k.as_str()).unwrap_or("");
                    for (measure, d) in [
                        ("to_decision", &k.to_decision),
                        ("to_deploy", &k.to_deploy),
                        ("to_delivery", &k.to_delivery),
                    ] {
                        if d.count == 0 {
                            continue;
                        }
                        for (stat, value) in
                            [("mean", d.mean_hours), ("p50", d.p50_hours), ("p90", d.p90_hours)]
                        {
                            observer.observe(
                                value,
                                &[
                                    KeyValue::new("measure", measure),
                                    KeyValue::new("stat", stat),
                                    KeyValue::new("user_kind", kind),
                                ],
                            );
                        }
                    }
                }
            })
            .build();
        let person_days = snapshot.clone();
        meter
            .f64_observable_gauge("reserve.evaluation.person_days")
            .with_description(
                "Person-days granted, used and converted into preparedness, per service, this reporting period",
            )
            .with_callback(move |observer| {
                let snapshot = person_days.lock().expect("metrics lock");
                for s in &snapshot.evaluation.by_service {
                    let service = s.service.map(|s| s.as_str()).unwrap_or("");
                    for (kind, value) in
                        [("granted", s.granted), ("used", s.used), ("converted", s.converted)]
                    {
                        observer.observe(
                            value as f64,
                            &[
                                KeyValue::new("service", service),
                                KeyValue::new("kind", kind),
                            ],
                        );
                    }
                }
            })
            .build();
        meter
            .f64_observable_gauge("reserve.evaluation.converted_percent")
            .with_description(
                "Share of the person-days pre-committed by commitments ending this reporting period converted into preparedness services",
            )
            .with_callback(read(|s| s.evaluation.converted_percent))
            .build();
        let notification_failures = meter
            .u64_counter("reserve.notification.failures")
            .with_description("Failed delivery attempts of notifications")
            .build();
        Metrics {
            provider,
            registry,
            rpc_duration,
            timer_lag,
            notification_failures,
            snapshot,
        }
    }

    /// One RPC answered (`code` is the numeric gRPC status).
    pub fn rpc_finished(&self, path: &str, code: &str, elapsed: Duration) {
        let (service, method) = split_path(path);
        self.rpc_duration.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", service.to_owned()),
                KeyValue::new("rpc.method", method.to_owned()),
                KeyValue::new("rpc.grpc.status_code", code.parse::<i64>().unwrap_or(2)),
            ],
        );
    }

    /// One durable timer fired `lag` after it was due.
    pub fn timer_fired(&self, kind: &str, lag: chrono::Duration) {
        let seconds = lag.num_milliseconds().max(0) as f64 / 1000.0;
        self.timer_lag
            .record(seconds, &[KeyValue::new("kind", kind.to_owned())]);
    }

    /// A notification's delivery failed (it is retried, or dead).
    pub fn notification_failed(&self) {
        self.notification_failures.add(1, &[]);
    }

    /// Reads the gauges' figures from the database: the counts, and the
    /// evaluation's measures over the current reporting period.
    pub async fn refresh(&self, app: &crate::app::App) -> Result<(), crate::app::AppError> {
        let mut snapshot = store::stats::read(&app.db, app.now()).await?;
        snapshot.evaluation = crate::app::usage::current_evaluation(app).await?;
        *self.snapshot.lock().expect("metrics lock") = snapshot;
        Ok(())
    }

    /// The Prometheus text exposition of every instrument.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into memory does not fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    /// Pushes what is pending to the OTLP collector, if any.
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

/// `/reserve.v1.DispatchService/ApproveDispatch` → (`reserve.v1.DispatchService`, `ApproveDispatch`).
pub fn split_path(path: &str) -> (&str, &str) {
    path.trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""))
}

/// Re-reads the gauges every `every` until `shutdown`, so that a push
/// exporter sends current figures.
pub async fn refresh_every(
    app: crate::app::App,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let refresh = async {
        loop {
            if let Err(err) = app.metrics.refresh(&app).await {
                tracing::warn!(error = %err, "cannot read the metrics' figures");
            }
            tokio::time::sleep(every).await;
        }
    };
    tokio::select! {
        _ = refresh => {},
        _ = shutdown => {},
    }
}

/// Serves `GET /metrics` (Prometheus text format) on `listener` until
/// `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: crate::app::App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::{Router, http::header, response::IntoResponse, routing::get};
    let scrape = move || {
        let app = app.clone();
        async move {
            if let Err(err) = app.metrics.refresh(&app).await {
                // Serve the last figures read rather than nothing.
                tracing::warn!(error = %err, "cannot read the metrics' figures");
            }
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                app.metrics.render(),
            )
                .into_response()
        }
    };
    let router = Router::new().route("/metrics", get(scrape));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
