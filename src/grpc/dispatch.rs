//! Decisions on requests and dispatch. Dispatch itself (proposals, offers)
//! answers `UNIMPLEMENTED` until it lands.

use tonic::{Request, Response, Status};

use super::convert::{code, request_to_proto};
use super::{actor, invalid, not_yet, pb, resource_id};
use crate::app::{App, PageRequest, decisions};
use crate::domain::request::limits;
use crate::domain::validation::Violations;

const COLLECTION: &str = "supportRequests";

pub struct DispatchService {
    pub app: App,
}

fn duration(d: chrono::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.num_seconds(),
        nanos: 0,
    }
}

#[tonic::async_trait]
impl pb::dispatch_service_server::DispatchService for DispatchService {
    async fn list_assessment_queue(
        &self,
        request: Request<pb::ListAssessmentQueueRequest>,
    ) -> Result<Response<pb::ListAssessmentQueueResponse>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let page = decisions::queue(&self.app, &actor, page).await?;
        Ok(Response::new(pb::ListAssessmentQueueResponse {
            entries: page
                .items
                .iter()
                .map(|e| pb::QueueEntry {
                    support_request: Some(request_to_proto(&e.request)),
                    time_left: Some(duration(e.time_left)),
                    overdue: e.overdue,
                })
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn authorise_support(
        &self,
        request: Request<pb::AuthoriseSupportRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let id = resource_id("name", &body.name, COLLECTION)?;
        let mut v = Violations::new();
        let lines = v.list(
            "granted_lines",
            &body.granted_lines,
            limits::SERVICE_LINES,
            |v, field, l| {
                let service = code(v, &format!("{field}.service"), l.service);
                let days = v.number(
                    &format!("{field}.person_days"),
                    l.person_days,
                    limits::PERSON_DAYS,
                );
                service.map(|s| (s, days))
            },
        );
        let duration_days = v.number("duration_days", body.duration_days, 1..=365);
        let note = v.text("note", &body.note, 0..=2_000);
        v.finish(()).map_err(|v| invalid(&v))?;
        let grant = decisions::Grant {
            lines: lines.into_iter().flatten().collect(),
            duration_days,
            note,
        };
        let authorised = decisions::authorise(&self.app, &actor, id, body.version, grant).await?;
        Ok(Response::new(request_to_proto(&authorised)))
    }

    async fn reject_support_request(
        &self,
        request: Request<pb::RejectSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let id = resource_id("name", &body.name, COLLECTION)?;
        let mut v = Violations::new();
        let reason = v.text("reason", &body.reason, limits::REASON);
        v.finish(()).map_err(|v| invalid(&v))?;
        let rejected = decisions::reject(&self.app, &actor, id, body.version, &reason).await?;
        Ok(Response::new(request_to_proto(&rejected)))
    }

    async fn request_more_information(
        &self,
        request: Request<pb::RequestMoreInformationRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let id = resource_id("name", &body.name, COLLECTION)?;
        let mut v = Violations::new();
        if body.questions.is_empty() {
            v.add("questions", "must ask at least one question");
        }
        let questions = v.list("questions", &body.questions, 20, |v, f, q| {
            v.text(f, q, 1..=1_000)
        });
        v.finish(()).map_err(|v| invalid(&v))?;
        let sent_back =
            decisions::request_information(&self.app, &actor, id, body.version, &questions).await?;
        Ok(Response::new(request_to_proto(&sent_back)))
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
