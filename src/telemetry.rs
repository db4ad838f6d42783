//! Logs, traces and the OpenTelemetry wiring.
//!
//! Logs go to standard error (text) or standard output (JSON); the level
//! follows `RUST_LOG` (default `info`). Traces are exported over OTLP/gRPC
//! when the standard variables ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, with the other `OTEL_*` variables
//! the SDK reads: headers, timeout, batch delays, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`), and not at all otherwise, or when
//! `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.

use opentelemetry::{propagation::Extractor, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

/// Keeps the exporters alive; dropping it sends what is still buffered.
#[derive(Default)]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn tracing_enabled(&self) -> bool {
        self.tracer_provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("flushing traces at exit: {err}");
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
}

/// Whether the `OTEL_*` variables ask for export of `signal` (`TRACES` or
/// `METRICS`).
pub fn otlp_wanted(signal: &str) -> bool {
    !env_is("OTEL_SDK_DISABLED", "true")
        && !env_is(&format!("OTEL_{signal}_EXPORTER"), "none")
        && (env_set("OTEL_EXPORTER_OTLP_ENDPOINT")
            || env_set(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")))
}

/// What the service reports itself as: `reserve-dispatch` unless
/// `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` say otherwise.
pub fn resource() -> Resource {
    let named = env_set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    let builder = Resource::builder();
    let builder = if named {
        builder
    } else {
        builder.with_service_name("reserve-dispatch")
    };
    builder
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

/// Logs only: for the command-line tools.
pub fn init(format: &str) {
    let _ = subscriber(format, None);
}

/// Logs, and traces over OTLP when the environment asks for them. Must run
/// inside the Tokio runtime (the exporter's gRPC client lives there).
pub fn init_service(format: &str) -> anyhow::Result<Telemetry> {
    let mut telemetry = Telemetry::default();
    let tracer = if otlp_wanted("TRACES") {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build();
        let tracer = provider.tracer("reserve-dispatch");
        telemetry.tracer_provider = Some(provider);
        Some(tracer)
    } else {
        None
    };
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let _ = subscriber(format, tracer);
    if telemetry.tracing_enabled() {
        tracing::info!("exporting traces over OTLP");
    }
    Ok(telemetry)
}

fn subscriber(
    format: &str,
    tracer: Option<opentelemetry_sdk::trace::Tracer>,
) -> Result<(), tracing_subscriber::util::TryInitError> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,h2=warn,tower=warn"));
    let logs = if format == "json" {
        fmt::layer().json().with_current_span(true).boxed()
    } else {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed()
    };
    // Traces hold the RPC, use-case and transaction spans, and sea-orm's
    // span per statement; `RESERVE_TRACE_FILTER` narrows or widens them.
    let traces = tracer.map(|t| {
        let filter = std::env::var("RESERVE_TRACE_FILTER")
            .ok()
            .and_then(|f| EnvFilter::try_new(f).ok())
            .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn,hyper=warn"));
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_filter(filter)
    });
    // A second initialisation (tests, nested calls) keeps the first.
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .try_init()
}

/// The caller's trace context (W3C `traceparent` and `tracestate`) from the
/// request's headers, through the propagator in force.
pub fn remote_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    struct Headers<'a>(&'a http::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)))
}
