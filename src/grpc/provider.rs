//! Offers and assignments, for trusted providers.

use tonic::{Request, Response, Status};

use super::convert::{agreement_fields, choice, offer_to_proto};
use super::{caller, pb};
use crate::app::{App, PageRequest, dispatch};
use crate::domain::actor::Operation;
use crate::domain::command::dispatch::{
    Complete, CompleteFields, Decline, DeclineFields, RecordAgreement, RecordAgreementFields,
};
use crate::domain::names::OfferId;

pub struct ProviderService {
    pub app: App,
}

impl ProviderService {
    async fn list(
        &self,
        request: &Request<impl Sized>,
        view: dispatch::OfferView,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<pb::Offer>, String), Status> {
        let actor = caller(request, Operation::Deliver)?;
        let page = PageRequest::parse(page_size, page_token)?;
        let page = dispatch::list_for_provider(&self.app, &actor, view, page).await?;
        let now = self.app.now();
        Ok((
            page.items
                .iter()
                .map(|(o, r)| offer_to_proto(o, r, now))
                .collect(),
            page.next_page_token,
        ))
    }

    async fn answer(
        &self,
        offer: crate::domain::dispatch::Offer,
    ) -> Result<Response<pb::Offer>, Status> {
        // The answer shows what the provider may now see of the request.
        let request = dispatch::request_of_offer(&self.app, &offer).await?;
        Ok(Response::new(offer_to_proto(
            &offer,
            &request,
            self.app.now(),
        )))
    }
}

#[tonic::async_trait]
impl pb::provider_service_server::ProviderService for ProviderService {
    async fn list_offers(
        &self,
        request: Request<pb::ListOffersRequest>,
    ) -> Result<Response<pb::ListOffersResponse>, Status> {
        let body = request.get_ref();
        let (offers, next_page_token) = self
            .list(
                &request,
                dispatch::OfferView::Offers,
                body.page_size,
                &body.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListOffersResponse {
            offers,
            next_page_token,
        }))
    }

    async fn accept_offer(
        &self,
        request: Request<pb::AcceptOfferRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        let actor = caller(&request, Operation::Deliver)?;
        let id = OfferId::from_name("name", &request.get_ref().name)?;
        let offer = dispatch::accept(&self.app, &actor, &id).await?;
        self.answer(offer).await
    }

    async fn decline_offer(
        &self,
        request: Request<pb::DeclineOfferRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        let actor = caller(&request, Operation::Deliver)?;
        let body = request.into_inner();
        let command = Decline::parse(&DeclineFields {
            name: body.name,
            reason: choice(body.reason),
            note: body.note,
        })?;
        let offer = dispatch::decline(&self.app, &actor, command).await?;
        self.answer(offer).await
    }

    async fn record_agreement(
        &self,
        request: Request<pb::RecordAgreementRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        let actor = caller(&request, Operation::Deliver)?;
        let body = request.into_inner();
        let command = RecordAgreement::parse(
            &RecordAgreementFields {
                name: body.name,
                agreement: body.agreement.as_ref().map(agreement_fields),
            },
            self.app.now(),
        )?;
        let offer = dispatch::record_agreement(&self.app, &actor, command).await?;
        self.answer(offer).await
    }

    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        let body = request.get_ref();
        let (assignments, next_page_token) = self
            .list(
                &request,
                dispatch::OfferView::Assignments,
                body.page_size,
                &body.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListAssignmentsResponse {
            assignments,
            next_page_token,
        }))
    }

    async fn complete_assignment(
        &self,
        request: Request<pb::CompleteAssignmentRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        let actor = caller(&request, Operation::Deliver)?;
        let body = request.into_inner();
        let command = Complete::parse(&CompleteFields {
            name: body.name,
            delivery_note: body.delivery_note,
        })?;
        let offer = dispatch::complete(&self.app, &actor, command).await?;
        self.answer(offer).await
    }
}
