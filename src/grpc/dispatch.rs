//! Decisions on requests, dispatch, and usage reports.

use tonic::{Request, Response, Status};

use super::convert::{
    Wire, authorise_fields, instant, plan_fields, reject_fields, request_to_proto,
};
use super::{caller, pb};
use crate::app::{App, PageRequest, decisions, dispatch, usage};
use crate::domain::actor::Operation;
use crate::domain::command::decision::{AskFields, AskInformation, AuthoriseSupport, Reject};
use crate::domain::command::dispatch::ApprovePlan;
use crate::domain::matching;
use crate::domain::names::{self, RequestId};
use crate::domain::query::UsagePeriod;
use crate::domain::usage::UsageView;
use crate::domain::validation::Choice;

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
        let actor = caller(&request, Operation::Decide)?;
        let body = request.get_ref();
        let page = PageRequest::parse(body.page_size, &body.page_token)?;
        let page = decisions::queue(&self.app, &actor, page).await?;
        Ok(Response::new(pb::ListAssessmentQueueResponse {
            entries: page
                .items
                .iter()
                .map(|e| pb::QueueEntry {
                    support_request: Some(request_to_proto(&e.request, self.app.now())),
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
        let actor = caller(&request, Operation::Decide)?;
        let body = request.get_ref();
        let id = RequestId::from_name("name", &body.name)?;
        let fields = authorise_fields(body);
        let authorised = decisions::authorise(&self.app, &actor, &id, |at| {
            AuthoriseSupport::parse(&fields, at)
        })
        .await?;
        Ok(Response::new(request_to_proto(&authorised, self.app.now())))
    }

    async fn reject_support_request(
        &self,
        request: Request<pb::RejectSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::Decide)?;
        let body = request.into_inner();
        let command = Reject::parse(&reject_fields(&body))?;
        let rejected = decisions::reject(&self.app, &actor, command).await?;
        Ok(Response::new(request_to_proto(&rejected, self.app.now())))
    }

    async fn request_more_information(
        &self,
        request: Request<pb::RequestMoreInformationRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::Decide)?;
        let body = request.into_inner();
        let command = AskInformation::parse(&AskFields {
            name: body.name,
            questions: body.questions,
            version: body.version,
        })?;
        let sent_back = decisions::request_information(&self.app, &actor, command).await?;
        Ok(Response::new(request_to_proto(&sent_back, self.app.now())))
    }

    async fn propose_matches(
        &self,
        request: Request<pb::ProposeMatchesRequest>,
    ) -> Result<Response<pb::ProposeMatchesResponse>, Status> {
        let actor = caller(&request, Operation::Dispatch)?;
        let id = RequestId::from_name("name", &request.get_ref().name)?;
        let lines = dispatch::propose(&self.app, &actor, &id).await?;
        let candidate = |c: &matching::Candidate| pb::Candidate {
            provider: names::provider(&c.provider),
            provider_display_name: c.display_name.clone(),
            score: c.score,
            free_person_days: c.free,
            person_days: c.person_days,
            reasons: c.reasons.clone(),
        };
        Ok(Response::new(pb::ProposeMatchesResponse {
            lines: lines
                .iter()
                .map(|l| pb::LineProposal {
                    line_index: l.line_index,
                    service: l.service.to_wire(),
                    person_days: l.person_days,
                    candidates: l.proposal.candidates.iter().map(candidate).collect(),
                    split: l.proposal.split.iter().map(candidate).collect(),
                })
                .collect(),
        }))
    }

    async fn approve_dispatch(
        &self,
        request: Request<pb::ApproveDispatchRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::Dispatch)?;
        let body = request.get_ref();
        let id = RequestId::from_name("name", &body.name)?;
        let fields = plan_fields(body);
        let approved =
            dispatch::approve(&self.app, &actor, &id, |at| ApprovePlan::parse(&fields, at)).await?;
        Ok(Response::new(request_to_proto(&approved, self.app.now())))
    }

    async fn close_support_request(
        &self,
        request: Request<pb::CloseSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = caller(&request, Operation::Dispatch)?;
        let id = RequestId::from_name("name", &request.get_ref().name)?;
        let closed = dispatch::close(&self.app, &actor, &id).await?;
        Ok(Response::new(request_to_proto(&closed, self.app.now())))
    }

    async fn get_usage_report(
        &self,
        request: Request<pb::GetUsageReportRequest>,
    ) -> Result<Response<pb::UsageReport>, Status> {
        let actor = caller(&request, Operation::ReportUsage)?;
        let body = request.get_ref();
        let view = match pb::UsageView::try_from(body.view) {
            Ok(pb::UsageView::NisCooperationGroup) => Choice::Known(UsageView::NisCooperationGroup),
            Ok(pb::UsageView::Council) => Choice::Known(UsageView::Council),
            Ok(pb::UsageView::Unspecified) => Choice::Unset,
            Err(_) => Choice::Unknown(body.view.to_string()),
        };
        let period = UsagePeriod::parse(
            &view,
            &instant(body.period_start.as_ref()),
            &instant(body.period_end.as_ref()),
        )?;
        let rows = usage::report(&self.app, &actor, period.view, period.from, period.to).await?;
        let rows: Vec<pb::UsageRow> = rows
            .into_iter()
            .map(|r| pb::UsageRow {
                user_kind: r.user_kind.map(|k| k.to_wire()).unwrap_or(0),
                country: r.country,
                requests_by_outcome: r.by_outcome.into_iter().collect(),
                decided_within_deadline: r.decided_within_deadline,
                deadline_breaches: r.deadline_breaches,
                mean_response_hours: r.mean_response_hours,
                person_days_used: r.person_days_used,
                providers: r
                    .providers
                    .into_iter()
                    .map(|p| names::provider(&p))
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::UsageReport {
            view: body.view,
            period_start: body.period_start,
            period_end: body.period_end,
            total_requests: rows
                .iter()
                .map(|r| r.requests_by_outcome.values().sum::<u32>())
                .sum(),
            total_person_days: rows.iter().map(|r| r.person_days_used).sum(),
            rows,
        }))
    }
}
