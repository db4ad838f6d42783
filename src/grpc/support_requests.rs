use tonic::{Request, Response, Status};

use super::convert::{choice, content_fields, edit_fields, request_to_proto};
use super::{caller, pb};
use crate::app::{App, PageRequest, requests};
use crate::domain::actor::Operation;
use crate::domain::command::request::{
    CreateFields, CreateRequest, EditRequest, FileReport, ReportFields, ReturnFields,
    ReturnToFiler, Transmit, TransmitFields, Withdraw, WithdrawFields, edit_target,
};
use crate::domain::names::RequestId;
use crate::domain::query::state_filter;

pub struct SupportRequestService {
    pub app: App,
}

#[tonic::async_trait]
impl pb::support_request_service_server::SupportRequestService for SupportRequestService {
    async fn create_support_request(
        &self,
        request: Request<pb::CreateSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::FileRequests)?;
        let body = request.into_inner();
        let command = CreateRequest::parse(
            &CreateFields {
                request_id: body.request_id,
                content: body.support_request.as_ref().map(content_fields),
            },
            self.app.now(),
        )?;
        let created = requests::create(&self.app, &actor, command).await?;
        Ok(Response::new(request_to_proto(&created, self.app.now())))
    }

    async fn update_support_request(
        &self,
        request: Request<pb::UpdateSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::FileRequests)?;
        let fields = edit_fields(request.get_ref());
        let id = edit_target(&fields)?;
        let now = self.app.now();
        let updated = requests::update(&self.app, &actor, &id, |current| {
            EditRequest::parse(&fields, current, now)
        })
        .await?;
        Ok(Response::new(request_to_proto(&updated, self.app.now())))
    }

    async fn submit_support_request(
        &self,
        request: Request<pb::SubmitSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::FileRequests)?;
        let id = RequestId::from_name("name", &request.get_ref().name)?;
        let submitted = requests::submit(&self.app, &actor, &id).await?;
        Ok(Response::new(request_to_proto(&submitted, self.app.now())))
    }

    async fn get_support_request(
        &self,
        request: Request<pb::GetSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::ReadRequests)?;
        let id = RequestId::from_name("name", &request.get_ref().name)?;
        let found = requests::get(&self.app, &actor, &id).await?;
        Ok(Response::new(request_to_proto(&found, self.app.now())))
    }

    async fn list_support_requests(
        &self,
        request: Request<pb::ListSupportRequestsRequest>,
    ) -> Result<Response<pb::ListSupportRequestsResponse>, Status> {
        let actor = caller(&request, Operation::ReadRequests)?;
        let body = request.get_ref();
        let state = state_filter(&choice(body.state))?;
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let page = requests::list(&self.app, &actor, state, page).await?;
        Ok(Response::new(pb::ListSupportRequestsResponse {
            support_requests: page
                .items
                .iter()
                .map(|r| request_to_proto(r, self.app.now()))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn withdraw_support_request(
        &self,
        request: Request<pb::WithdrawSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::FileRequests)?;
        let body = request.into_inner();
        let command = Withdraw::parse(&WithdrawFields {
            name: body.name,
            reason: body.reason,
        })?;
        let withdrawn = requests::withdraw(&self.app, &actor, command).await?;
        Ok(Response::new(request_to_proto(&withdrawn, self.app.now())))
    }

    async fn transmit_support_request(
        &self,
        request: Request<pb::TransmitSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::Transmit)?;
        let body = request.into_inner();
        let command = Transmit::parse(&TransmitFields {
            name: body.name,
            note: body.note,
        })?;
        let transmitted = requests::transmit(&self.app, &actor, command).await?;
        Ok(Response::new(request_to_proto(
            &transmitted,
            self.app.now(),
        )))
    }

    async fn return_support_request(
        &self,
        request: Request<pb::ReturnSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::Transmit)?;
        let body = request.into_inner();
        let command = ReturnToFiler::parse(&ReturnFields {
            name: body.name,
            reason: body.reason,
        })?;
        let returned = requests::return_to_filer(&self.app, &actor, command).await?;
        Ok(Response::new(request_to_proto(&returned, self.app.now())))
    }

    async fn submit_summary_report(
        &self,
        request: Request<pb::SubmitSummaryReportRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::FileRequests)?;
        let body = request.into_inner();
        let command = FileReport::parse(&ReportFields {
            name: body.name,
            service_provided: body.service_provided,
            results: body.results,
            lessons_learned: body.lessons_learned,
        })?;
        let reported = crate::app::dispatch::submit_report(&self.app, &actor, command).await?;
        Ok(Response::new(request_to_proto(&reported, self.app.now())))
    }
}
