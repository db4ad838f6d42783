//! Limits that keep one caller from starving the others: message size,
//! streams per connection, time per call, and calls per second per
//! organisation.

use std::{
    num::NonZeroU32,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures_util::future::BoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use http::{Request, Response};
use tonic::{Code, Status, body::Body};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use crate::domain::actor::Actor;

/// The transport's limits (see docs/OPERATIONS.md for the settings).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request message accepted, in bytes; larger ones are refused
    /// with OUT_OF_RANGE before they are decoded.
    pub max_message_bytes: usize,
    /// HTTP/2 streams (calls) one connection may have open at once; more
    /// wait for a free one, on that connection only.
    pub max_concurrent_streams: u32,
    /// Time a unary call may take, reading its request included; DEADLINE_EXCEEDED after.
    pub request_timeout: Duration,
    /// Calls per second per organisation, and the burst above that rate;
    /// `None`: no limit.
    pub rate: Option<Rate>,
}

#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 1024 * 1024,
            max_concurrent_streams: 64,
            request_timeout: Duration::from_secs(30),
            rate: Some(Rate {
                per_second: NonZeroU32::new(50).expect("non-zero"),
                burst: NonZeroU32::new(100).expect("non-zero"),
            }),
        }
    }
}

/// Refuses calls above an organisation's rate with RESOURCE_EXHAUSTED and
/// a RetryInfo detail saying when to retry. It sits inside the
/// authentication layer, which has put the caller in the request; calls
/// without a caller (health checks, reflection) are not counted.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl RateLimitLayer {
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            limiter: rate.map(|r| {
                Arc::new(RateLimiter::keyed(
                    Quota::per_second(r.per_second).allow_burst(r.burst),
                ))
            }),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimited {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RateLimited<S> {
    inner: S,
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl<S, B> Service<Request<B>> for RateLimited<S>
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
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if let (Some(limiter), Some(actor)) = (&self.limiter, request.extensions().get::<Actor>())
            && let Err(not_until) = limiter.check_key(&actor.organisation)
        {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            // Whole milliseconds, rounded up: retrying sooner is refused again.
            let wait = Duration::from_millis(wait.as_millis() as u64 + 1);
            tracing::info!(
                organisation = %actor.organisation,
                retry_after_ms = wait.as_millis() as u64,
                "rate limit reached"
            );
            let status = Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "too many calls from organisation `{}`: retry after {} ms",
                    actor.organisation,
                    wait.as_millis()
                ),
                ErrorDetails::with_retry_info(Some(wait)),
            );
            return Box::pin(async move { Ok(status.into_http()) });
        }
        Box::pin(inner.call(request))
    }
}
