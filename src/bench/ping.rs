//! The transport ceiling's RPC: `reserve.bench.v1.Ping/Ping`, an empty
//! message in and out, served through the same layers as the API (the
//! observation layer, token verification, the rate limit) when
//! `bench_ping` is on. It touches no database.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use tonic::{Request, Response, Status, codegen::StdError};

pub const PATH: &str = "/reserve.bench.v1.Ping/Ping";

#[derive(Debug, Clone, Default)]
pub struct PingServer;

impl tonic::server::NamedService for PingServer {
    const NAME: &'static str = "reserve.bench.v1.Ping";
}

struct Pong;

impl tonic::server::UnaryService<()> for Pong {
    type Response = ();
    type Future = Ready<Result<Response<()>, Status>>;

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        ready(Ok(Response::new(())))
    }
}

impl<B> tower::Service<http::Request<B>> for PingServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() != PATH {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<(), ()>::default());
            Ok(grpc.unary(Pong, request).await)
        })
    }
}

/// Calls the ping on `channel` with `token`.
pub async fn call(channel: tonic::transport::Channel, token: &str) -> Result<(), Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let request = super::authed((), token);
    client
        .unary(
            request,
            http::uri::PathAndQuery::from_static(PATH),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
        .map(|_| ())
}
