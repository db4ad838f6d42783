//! `WatchEvents`, served by a route of its own in front of the generated
//! `AuditService`: each live event is encoded once into its wire form,
//! which every stream that sees it alike then sends as it is (the
//! generated code would encode it again for each stream). The watch itself
//! (`audit::watch`) is the same as the generated method's.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use prost::Message;
use tokio_stream::StreamExt;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use super::{audit, caller, pb};
use crate::app::App;
use crate::domain::actor::Operation;

const WATCH_EVENTS: &str = "/reserve.v1.AuditService/WatchEvents";

/// The audit service with `WatchEvents` answered from shared wire forms.
#[derive(Clone)]
pub struct WatchRoute<S> {
    pub inner: S,
    pub app: App,
    pub max_decoding_message_size: usize,
}

impl<S: NamedService> NamedService for WatchRoute<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for WatchRoute<S>
where
    S: tower::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != WATCH_EVENTS {
            let future = self.inner.call(request);
            return Box::pin(future);
        }
        let service = Watch {
            app: self.app.clone(),
        };
        let max = self.max_decoding_message_size;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(SharedWireCodec)
                .apply_max_message_size_config(Some(max), None);
            Ok(grpc.server_streaming(service, request).await)
        })
    }
}

struct Watch {
    app: App,
}

type WireStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Bytes, Status>> + Send>>;

impl tonic::server::ServerStreamingService<pb::WatchEventsRequest> for Watch {
    type Response = Bytes;
    type ResponseStream = WireStream;
    type Future = tonic::codegen::BoxFuture<Response<WireStream>, Status>;

    fn call(&mut self, request: Request<pb::WatchEventsRequest>) -> Self::Future {
        let app = self.app.clone();
        Box::pin(async move {
            let actor = caller(&request, Operation::WatchEvents)?;
            let filter = audit::request_filter(request.get_ref())?;
            let stream = audit::watch(&app, actor, filter)?.map(|item| {
                item.map(|seen| {
                    seen.wire
                        .get_or_init(|| {
                            Bytes::from(audit::event_to_proto(&seen.event).encode_to_vec())
                        })
                        .clone()
                })
            });
            Ok(Response::new(Box::pin(stream) as WireStream))
        })
    }
}

/// Sends messages already encoded; reads the request as prost would.
#[derive(Default)]
struct SharedWireCodec;

impl Codec for SharedWireCodec {
    type Encode = Bytes;
    type Decode = pb::WatchEventsRequest;
    type Encoder = WireEncoder;
    type Decoder = tonic_prost::ProstDecoder<pb::WatchEventsRequest>;

    fn encoder(&mut self) -> Self::Encoder {
        WireEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstCodec::<pb::AuditEvent, pb::WatchEventsRequest>::default().decoder()
    }
}

struct WireEncoder;

impl Encoder for WireEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}
