//! The audit trail: listing, live watching and verification of the chain.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::{caller, pb};
use crate::app::{App, PageRequest, audit, events, log, notify};
use crate::domain::actor::Operation;
use crate::domain::audit::AuditEvent;
use crate::domain::query::{self, Checkpoint, WatchFilter, resource_filter};

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

fn checkpoint_to_proto(c: &log::SignedCheckpoint) -> pb::Checkpoint {
    pb::Checkpoint {
        tree_size: c.checkpoint.size as i64,
        root_hash: c.checkpoint.root.to_vec(),
        note: c.checkpoint.note.clone(),
        create_time: Some(timestamp(c.checkpoint.created_at)),
        verifier_key: c.verifier_key.clone(),
    }
}

fn subscription_to_proto(s: &crate::domain::notify::Subscription) -> pb::Subscription {
    pb::Subscription {
        name: format!("subscriptions/{}", s.id),
        organisation: s.organisation.clone(),
        role: s.role.as_str().to_owned(),
        person: s.person.clone(),
        personal: !s.person.is_empty(),
        webhook_url: match &s.channel {
            crate::domain::notify::Channel::Webhook(url) => url.clone(),
            crate::domain::notify::Channel::Email(_) => String::new(),
        },
        email: match &s.channel {
            crate::domain::notify::Channel::Email(to) => to.clone(),
            crate::domain::notify::Channel::Webhook(_) => String::new(),
        },
        secret: s.secret.clone(),
        actions: s.actions.clone(),
        create_time: Some(timestamp(s.created_at)),
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

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        let actor = caller(&request, Operation::ProveLog)?;
        let size = query::tree_size("tree_size", request.get_ref().tree_size)?;
        let found = log::checkpoint(&self.app, &actor, size).await?;
        Ok(Response::new(checkpoint_to_proto(&found)))
    }

    async fn list_checkpoints(
        &self,
        request: Request<pb::ListCheckpointsRequest>,
    ) -> Result<Response<pb::ListCheckpointsResponse>, Status> {
        let actor = caller(&request, Operation::ProveLog)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let page = log::checkpoints(&self.app, &actor, page).await?;
        Ok(Response::new(pb::ListCheckpointsResponse {
            checkpoints: page.items.iter().map(checkpoint_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let actor = caller(&request, Operation::ProveLog)?;
        let body = request.get_ref();
        let (sequence, size) = query::inclusion(body.sequence, body.tree_size)?;
        let proof = log::prove_inclusion(&self.app, &actor, sequence, size).await?;
        Ok(Response::new(pb::InclusionProof {
            leaf_index: proof.leaf_index as i64,
            tree_size: proof.tree_size as i64,
            leaf_hash: proof.leaf_hash.to_vec(),
            hashes: proof.hashes.iter().map(|h| h.to_vec()).collect(),
            event: Some(event_to_proto(&proof.event)),
        }))
    }

    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let actor = caller(&request, Operation::Subscribe)?;
        let body = request.get_ref().subscription.clone().unwrap_or_default();
        let created = notify::subscribe(
            &self.app,
            &actor,
            &body.webhook_url,
            &body.email,
            &body.actions,
            body.personal,
        )
        .await?;
        Ok(Response::new(subscription_to_proto(&created)))
    }

    async fn list_subscriptions(
        &self,
        request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let actor = caller(&request, Operation::Subscribe)?;
        let found = notify::subscriptions(&self.app, &actor).await?;
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions: found.iter().map(subscription_to_proto).collect(),
        }))
    }

    async fn delete_subscription(
        &self,
        request: Request<pb::DeleteSubscriptionRequest>,
    ) -> Result<Response<pb::DeleteSubscriptionResponse>, Status> {
        let actor = caller(&request, Operation::Subscribe)?;
        let id = crate::domain::notify::subscription_id(&request.get_ref().name)?;
        notify::unsubscribe(&self.app, &actor, id).await?;
        Ok(Response::new(pb::DeleteSubscriptionResponse {}))
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let actor = caller(&request, Operation::ReadOutbox)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let state = crate::domain::notify::outbox_state(&body.state)?;
        let page = notify::outbox(&self.app, &actor, state, page).await?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: page
                .items
                .iter()
                .map(|n| pb::Notification {
                    id: n.id,
                    subscription: format!("subscriptions/{}", n.subscription_id),
                    sequence: n.sequence,
                    state: n.state.clone(),
                    attempts: n.attempts,
                    last_error: n.last_error.clone(),
                    create_time: Some(timestamp(n.created_at)),
                    send_time: n.sent_at.map(timestamp),
                })
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let actor = caller(&request, Operation::ProveLog)?;
        let body = request.get_ref();
        let (first, second) = query::consistency(body.first_tree_size, body.second_tree_size)?;
        let (second, hashes) = log::prove_consistency(&self.app, &actor, first, second).await?;
        Ok(Response::new(pb::ConsistencyProof {
            first_tree_size: first as i64,
            second_tree_size: second as i64,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }))
    }
}
