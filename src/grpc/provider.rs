//! Offers and assignments: answered `UNIMPLEMENTED` until dispatch lands.

use tonic::{Request, Response, Status};

use super::{not_yet, pb};

pub struct ProviderService;

#[tonic::async_trait]
impl pb::provider_service_server::ProviderService for ProviderService {
    async fn list_offers(
        &self,
        _: Request<pb::ListOffersRequest>,
    ) -> Result<Response<pb::ListOffersResponse>, Status> {
        Err(not_yet("ListOffers"))
    }

    async fn accept_offer(
        &self,
        _: Request<pb::AcceptOfferRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        Err(not_yet("AcceptOffer"))
    }

    async fn decline_offer(
        &self,
        _: Request<pb::DeclineOfferRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        Err(not_yet("DeclineOffer"))
    }

    async fn record_agreement(
        &self,
        _: Request<pb::RecordAgreementRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        Err(not_yet("RecordAgreement"))
    }

    async fn list_assignments(
        &self,
        _: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        Err(not_yet("ListAssignments"))
    }

    async fn complete_assignment(
        &self,
        _: Request<pb::CompleteAssignmentRequest>,
    ) -> Result<Response<pb::Offer>, Status> {
        Err(not_yet("CompleteAssignment"))
    }
}
