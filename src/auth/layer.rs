//! The authentication layer: verifies the bearer token of every call but the
//! health checks and reflection, and puts the caller (`Actor`) in the
//! request's extensions for the handlers.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::{AuthError, Verifier};

/// Paths served without a token.
const PUBLIC_PREFIXES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

impl<S, B> Service<Request<B>> for Auth<S>
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

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is ready only after poll_ready; keep the ready one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        if PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Box::pin(inner.call(request));
        }
        let token = bearer(&request).map(str::to_owned);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let verified = match token {
                Ok(token) => verifier.verify_bearer(&token).await,
                Err(err) => Err(err),
            };
            match verified {
                Ok(actor) => {
                    request.extensions_mut().insert(actor);
                    inner.call(request).await
                }
                Err(err) => {
                    let path = request.uri().path();
                    tracing::info!(error = %err, path, "unauthenticated call refused");
                    let message = match err {
                        AuthError::Missing => "a bearer token is required",
                        AuthError::Invalid(_) => "the bearer token is not valid",
                    };
                    Ok(Status::unauthenticated(message).into_http())
                }
            }
        })
    }
}

fn bearer<B>(request: &Request<B>) -> Result<&str, AuthError> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let value = value
        .to_str()
        .map_err(|_| AuthError::Invalid("authorization header is not text".into()))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)
}
