//! Decisions on requests, dispatch, and usage reports.

use tonic::{Request, Response, Status};

use super::convert::{Wire, code, request_to_proto, time};
use super::{actor, invalid, pb, resource_id};
use crate::app::{App, PageRequest, decisions, dispatch, usage};
use crate::domain::matching;
use crate::domain::request::limits;
use crate::domain::usage::UsageView;
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
        Ok(Response::new(request_to_proto(&authorised, self.app.now())))
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
        Ok(Response::new(request_to_proto(&rejected, self.app.now())))
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
        Ok(Response::new(request_to_proto(&sent_back, self.app.now())))
    }

    async fn propose_matches(
        &self,
        request: Request<pb::ProposeMatchesRequest>,
    ) -> Result<Response<pb::ProposeMatchesResponse>, Status> {
        let actor = actor(&request)?;
        let id = resource_id("name", &request.get_ref().name, COLLECTION)?;
        let lines = dispatch::propose(&self.app, &actor, id).await?;
        let candidate = |c: &matching::Candidate| pb::Candidate {
            provider: format!("providers/{}", c.provider),
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
        let actor = actor(&request)?;
        let body = request.get_ref();
        let id = resource_id("name", &body.name, COLLECTION)?;
        let mut v = Violations::new();
        if body.plan.is_empty() {
            v.add("plan", "must plan every granted line");
        }
        let provider_id = |v: &mut Violations, field: &str, name: &str| {
            v.identifier(field, name.strip_prefix("providers/").unwrap_or(name))
        };
        let plan = v.list("plan", &body.plan, limits::SERVICE_LINES, |v, f, l| {
            dispatch::LinePlan {
                line_index: l.line_index,
                provider: provider_id(v, &format!("{f}.provider"), &l.provider),
                fallbacks: v.list(&format!("{f}.fallbacks"), &l.fallbacks, 20, |v, f, p| {
                    provider_id(v, f, p)
                }),
                justification: v.text(&format!("{f}.justification"), &l.justification, 0..=2_000),
            }
        });
        v.finish(()).map_err(|v| invalid(&v))?;
        let approved = dispatch::approve(&self.app, &actor, id, body.version, plan).await?;
        Ok(Response::new(request_to_proto(&approved, self.app.now())))
    }

    async fn close_support_request(
        &self,
        request: Request<pb::CloseSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let actor = actor(&request)?;
        let id = resource_id("name", &request.get_ref().name, COLLECTION)?;
        let closed = dispatch::close(&self.app, &actor, id).await?;
        Ok(Response::new(request_to_proto(&closed, self.app.now())))
    }

    async fn get_usage_report(
        &self,
        request: Request<pb::GetUsageReportRequest>,
    ) -> Result<Response<pb::UsageReport>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let mut v = Violations::new();
        let from = time(&mut v, "period_start", body.period_start.as_ref());
        let to = time(&mut v, "period_end", body.period_end.as_ref());
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            v.add("period_end", "must be after period_start");
        }
        let view = match pb::UsageView::try_from(body.view) {
            Ok(pb::UsageView::NisCooperationGroup) => Some(UsageView::NisCooperationGroup),
            Ok(pb::UsageView::Council) => Some(UsageView::Council),
            _ => {
                v.add("view", "is required");
                None
            }
        };
        v.finish(()).map_err(|v| invalid(&v))?;
        let (from, to, view) = (
            from.expect("checked"),
            to.expect("checked"),
            view.expect("checked"),
        );
        let rows = usage::report(&self.app, &actor, view, from, to).await?;
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
                    .map(|p| format!("providers/{p}"))
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
