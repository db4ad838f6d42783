//! The audit trail: listing, live watching and verification of the chain.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::{caller, pb};
use crate::app::{App, PageRequest, audit, events};
use crate::domain::actor::Operation;
use crate::domain::audit::AuditEvent;
use crate::domain::query::{Checkpoint, WatchFilter, resource_filter};

pub struct AuditService {
    pub app: App,
}

pub fn event_to_proto(e: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        sequence: e.sequence,
        time: Some(timestamp(e.time)),
        actor: e.actor.clone(),
        role: e.role.clone(),
        organisation: e.organisation.clone(),
        action: e.action.clone(),
        resource: e.resource.clone(),
        from_state: e.from_state.clone(),
        to_state: e.to_state.clone(),
        payload: e.payload.clone(),
        hash: e.hash.clone(),
        previous_hash: e.previous_hash.clone(),
    }
}

/// What a watch asks for, checked.
pub(super) fn request_filter(body: &pb::WatchEventsRequest) -> Result<WatchFilter, Status> {
    Ok(WatchFilter::parse(
        body.after_sequence,
        &body.resource,
        &body.action,
    )?)
}

/// A watch's events as the caller sees them, and how it ends.
pub(super) fn watch(
    app: &App,
    actor: crate::domain::actor::Actor,
    filter: events::WatchFilter,
) -> Result<impl Stream<Item = Result<events::Seen, Status>> + Send + use<>, Status> {
    Ok(events::watch(app, actor, filter)?.map(|item| match item {
        events::WatchItem::Event(seen) => Ok(seen),
        events::WatchItem::Lagged { last } => Err(Status::resource_exhausted(format!(
            "the stream fell behind; watch again with after_sequence = {last}"
        ))),
        events::WatchItem::Closing { last } => Err(Status::unavailable(format!(
            "the server is shutting down; watch again with after_sequence = {last}"
        ))),
        events::WatchItem::Failed(err) => Err(err.into()),
    }))
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditService {
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let actor = caller(&request, Operation::ListEvents)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let resource = resource_filter(&body.resource)?;
        let page = audit::list(&self.app, &actor, resource.as_deref(), page).await?;
        Ok(Response::new(pb::ListEventsResponse {
            events: page.items.iter().map(event_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    type WatchEventsStream = Pin<Box<dyn Stream<Item = Result<pb::AuditEvent, Status>> + Send>>;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let actor = caller(&request, Operation::WatchEvents)?;
        let stream = watch(&self.app, actor, request_filter(request.get_ref())?)?
            .map(|item| item.map(|seen| event_to_proto(&seen.event)));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn verify_audit_chain(
        &self,
        request: Request<pb::VerifyAuditChainRequest>,
    ) -> Result<Response<pb::VerifyAuditChainResponse>, Status> {
        let actor = caller(&request, Operation::VerifyChain)?;
        let body = request.get_ref();
        let from = Checkpoint::parse(body.after_sequence, &body.checkpoint_hash)?;
        let result = audit::verify(&self.app, &actor, from.after, from.hash.as_deref()).await?;
        Ok(Response::new(pb::VerifyAuditChainResponse {
            ok: result.broken.is_none(),
            events_checked: result.checked,
            first_broken_sequence: result.broken.as_ref().map(|b| b.0).unwrap_or(0),
            detail: result.broken.map(|b| b.1).unwrap_or_default(),
        }))
    }
}
