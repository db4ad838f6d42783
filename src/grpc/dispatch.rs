//! Decisions and dispatch: answered `UNIMPLEMENTED` until the eligibility and
//! dispatch workflow lands.

use tonic::{Request, Response, Status};

use super::{not_yet, pb};

pub struct DispatchService;

#[tonic::async_trait]
impl pb::dispatch_service_server::DispatchService for DispatchService {
    async fn list_assessment_queue(
        &self,
        _: Request<pb::ListAssessmentQueueRequest>,
    ) -> Result<Response<pb::ListAssessmentQueueResponse>, Status> {
        Err(not_yet("ListAssessmentQueue"))
    }

    async fn authorise_support(
        &self,
        _: Request<pb::AuthoriseSupportRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        Err(not_yet("AuthoriseSupport"))
    }

    async fn reject_support_request(
        &self,
        _: Request<pb::RejectSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        Err(not_yet("RejectSupportRequest"))
    }

    async fn request_more_information(
        &self,
        _: Request<pb::RequestMoreInformationRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        Err(not_yet("RequestMoreInformation"))
    }

    async fn propose_matches(
        &self,
        _: Request<pb::ProposeMatchesRequest>,
    ) -> Result<Response<pb::ProposeMatchesResponse>, Status> {
        Err(not_yet("ProposeMatches"))
    }

    async fn approve_dispatch(
        &self,
        _: Request<pb::ApproveDispatchRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        Err(not_yet("ApproveDispatch"))
    }

    async fn close_support_request(
        &self,
        _: Request<pb::CloseSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        Err(not_yet("CloseSupportRequest"))
    }

    async fn get_usage_report(
        &self,
        _: Request<pb::GetUsageReportRequest>,
    ) -> Result<Response<pb::UsageReport>, Status> {
        Err(not_yet("GetUsageReport"))
    }
}
