//! The audit trail. `ListEvents` reads it (auditors and duty officers);
//! streaming and chain verification answer `UNIMPLEMENTED` for now.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::{actor, not_yet, pb};
use crate::app::{App, PageRequest, audit};
use crate::domain::audit::AuditEvent;

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

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditService {
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let resource = match body.resource.as_str() {
            "" => None,
            name => {
                let mut v = crate::domain::validation::Violations::new();
                v.text("resource", name, 1..=200);
                v.finish(()).map_err(|v| super::invalid(&v))?;
                Some(name)
            }
        };
        let page = audit::list(&self.app, &actor, resource, page).await?;
        Ok(Response::new(pb::ListEventsResponse {
            events: page.items.iter().map(event_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    type WatchEventsStream = Pin<Box<dyn Stream<Item = Result<pb::AuditEvent, Status>> + Send>>;

    async fn watch_events(
        &self,
        _: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Err(not_yet("WatchEvents"))
    }

    async fn verify_audit_chain(
        &self,
        _: Request<pb::VerifyAuditChainRequest>,
    ) -> Result<Response<pb::VerifyAuditChainResponse>, Status> {
        Err(not_yet("VerifyAuditChain"))
    }
}
