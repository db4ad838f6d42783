use tonic::{Request, Response, Status};

use super::convert::{Wire, content, merge_content, request_to_proto};
use super::{actor, invalid, pb, resource_id};
use crate::app::{App, PageRequest, requests};
use crate::domain::request::RequestState;
use crate::domain::validation::Violations;

const COLLECTION: &str = "supportRequests";

pub struct SupportRequestService {
    pub app: App,
}

#[tonic::async_trait]
impl pb::support_request_service_server::SupportRequestService for SupportRequestService {
    async fn create_support_request(
        &self,
        request: Request<pb::CreateSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let body = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.identifier("request_id", &body.request_id);
        let parsed = match &body.support_request {
            Some(sr) => content(sr, "support_request").map_err(|e| v.extend(e)).ok(),
            None => {
                v.add("support_request", "is required");
                None
            }
        };
        let content = v.finish(parsed).map_err(|v| invalid(&v))?.expect("checked");
        let created = requests::create(&self.app, &actor, &request_id, content).await?;
        Ok(Response::new(request_to_proto(&created, self.app.now())))
    }

    async fn update_support_request(
        &self,
        request: Request<pb::UpdateSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let body = request.into_inner();
        let incoming = body
            .support_request
            .ok_or_else(|| invalid(&Violations::one("support_request", "is required")))?;
        let id = resource_id("support_request.name", &incoming.name, COLLECTION)?;
        let paths = body.update_mask.map(|m| m.paths).unwrap_or_default();
        let updated = requests::update(&self.app, &actor, id, |current| {
            merge_content(current, &incoming, &paths)
        })
        .await?;
        Ok(Response::new(request_to_proto(&updated, self.app.now())))
    }

    async fn submit_support_request(
        &self,
        request: Request<pb::SubmitSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let id = resource_id("name", &request.get_ref().name, COLLECTION)?;
        let submitted = requests::submit(&self.app, &actor, id).await?;
        Ok(Response::new(request_to_proto(&submitted, self.app.now())))
    }

    async fn get_support_request(
        &self,
        request: Request<pb::GetSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let id = resource_id("name", &request.get_ref().name, COLLECTION)?;
        let found = requests::get(&self.app, &actor, id).await?;
        Ok(Response::new(request_to_proto(&found, self.app.now())))
    }

    async fn list_support_requests(
        &self,
        request: Request<pb::ListSupportRequestsRequest>,
    ) -> Result<Response<pb::ListSupportRequestsResponse>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let state = match body.state {
            0 => None,
            n => Some(
                RequestState::from_wire(n)
                    .ok_or_else(|| invalid(&Violations::one("state", "is not a request state")))?,
            ),
        };
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
        let actor = actor(&request)?;
        let body = request.get_ref();
        let id = resource_id("name", &body.name, COLLECTION)?;
        let mut v = Violations::new();
        let reason = v.text(
            "reason",
            &body.reason,
            crate::domain::request::limits::REASON,
        );
        v.finish(()).map_err(|v| invalid(&v))?;
        let withdrawn = requests::withdraw(&self.app, &actor, id, &reason).await?;
        Ok(Response::new(request_to_proto(&withdrawn, self.app.now())))
    }

    async fn submit_summary_report(
        &self,
        request: Request<pb::SubmitSummaryReportRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let id = resource_id("name", &body.name, COLLECTION)?;
        let mut v = Violations::new();
        let long = crate::domain::request::limits::DESCRIPTION;
        let service_provided = v.text("service_provided", &body.service_provided, long.clone());
        let results = v.text("results", &body.results, long.clone());
        let lessons = v.text("lessons_learned", &body.lessons_learned, long);
        v.finish(()).map_err(|v| invalid(&v))?;
        let reported = crate::app::dispatch::submit_report(
            &self.app,
            &actor,
            id,
            &service_provided,
            &results,
            &lessons,
        )
        .await?;
        Ok(Response::new(request_to_proto(&reported, self.app.now())))
    }
}
