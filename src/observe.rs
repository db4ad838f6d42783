//! One span, one log line and one latency sample per RPC.
//!
//! The span continues the caller's trace (W3C `traceparent` in the gRPC
//! metadata) and is named as OpenTelemetry's RPC conventions ask:
//! `reserve.v1.DispatchService/ApproveDispatch`, kind server, with
//! `rpc.system`, `rpc.service`, `rpc.method` and `rpc.grpc.status_code`.
//! The status is known when the trailers are sent (or in the headers of a
//! "trailers-only" answer), so the response body is watched for them; a
//! stream the client drops is recorded as CANCELLED.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame};
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::{Metrics, split_path};

#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let (service, method) = split_path(&path);
        let span = tracing::info_span!(
            "rpc",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = Empty,
            latency_ms = Empty,
        );
        let _ = span.set_parent(crate::telemetry::remote_context(request.headers()));
        let started = Instant::now();
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let metrics = self.metrics.clone();
        Box::pin(
            async move {
                let response = future.await?;
                let mut outcome = Outcome {
                    span: Span::current(),
                    path,
                    started,
                    metrics,
                    done: false,
                };
                let code = response
                    .headers()
                    .get("grpc-status")
                    .map(|c| c.to_str().unwrap_or("2").to_owned());
                match code {
                    Some(code) => {
                        outcome.finish(&code);
                        Ok(response)
                    }
                    None => Ok(response.map(|body| {
                        Body::new(Watched {
                            inner: body,
                            outcome,
                        })
                    })),
                }
            }
            .instrument(span),
        )
    }
}

/// Records the RPC once, when its status is known.
struct Outcome {
    span: Span,
    path: String,
    started: Instant,
    metrics: Arc<Metrics>,
    done: bool,
}

impl Outcome {
    fn finish(&mut self, code: &str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed: Duration = self.started.elapsed();
        self.span
            .record("rpc.grpc.status_code", code.parse::<i64>().unwrap_or(2));
        self.span
            .record("latency_ms", elapsed.as_secs_f64() * 1000.0);
        // OpenTelemetry's convention for servers: these codes are errors.
        if matches!(code, "2" | "4" | "12" | "13" | "14" | "15") {
            self.span.record("otel.status_code", "ERROR");
        }
        self.metrics.rpc_finished(&self.path, code, elapsed);
        tracing::info!(parent: &self.span, "rpc finished");
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        // The body went away before its trailers: the client cancelled.
        self.finish("1");
    }
}

/// The response body, watched for the trailers that carry the status.
struct Watched {
    inner: Body,
    outcome: Outcome,
}

impl HttpBody for Watched {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let _entered = this.outcome.span.enter();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(|t| t.get("grpc-status")) {
                    let code = code.to_str().unwrap_or("2").to_owned();
                    drop(_entered);
                    this.outcome.finish(&code);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                drop(_entered);
                this.outcome.finish("2");
            }
            Poll::Ready(None) => {
                drop(_entered);
                this.outcome.finish("0");
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
