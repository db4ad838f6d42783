//! Decisions on requests, dispatch, and usage reports (on demand, and
//! those the service produced for each period).

use tonic::{Request, Response, Status};

use chrono::{DateTime, Utc};

use super::convert::{
    Wire, authorise_fields, choice, instant, plan_fields, reject_fields, request_to_proto,
    timestamp,
};
use super::{caller, pb};
use crate::app::{App, PageRequest, decisions, dispatch, usage};
use crate::domain::actor::Operation;
use crate::domain::command::decision::{AskFields, AskInformation, AuthoriseSupport, Reject};
use crate::domain::command::dispatch::ApprovePlan;
use crate::domain::command::preparedness::{TransmitReport, TransmitReportFields};
use crate::domain::matching;
use crate::domain::names::{self, RequestId, UsageReportId};
use crate::domain::query::UsagePeriod;
use crate::domain::usage::{Durations, Evaluation, ReportDocument, UsageRow, UsageView};
use crate::domain::validation::{Choice, Violations};
use crate::store::preparedness::StoredReport;

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
        let period = UsagePeriod::parse(
            &choice(body.view),
            &instant(body.period_start.as_ref()),
            &instant(body.period_end.as_ref()),
        )?;
        let report = usage::report(&self.app, &actor, period.view, period.from, period.to).await?;
        Ok(Response::new(usage_report_to_proto(
            period.view,
            period.from,
            period.to,
            report.rows,
            report.evaluation,
        )))
    }

    async fn list_usage_reports(
        &self,
        request: Request<pb::ListUsageReportsRequest>,
    ) -> Result<Response<pb::ListUsageReportsResponse>, Status> {
        let actor = caller(&request, Operation::ReportUsage)?;
        let body = request.get_ref();
        let mut v = Violations::new();
        let view = match choice(body.view) {
            Choice::Unset => None,
            known => v.choice("view", &known),
        };
        let page = PageRequest::parse(body.page_size, &body.page_token).map_err(|e| {
            v.extend(e);
        });
        v.finish(())?;
        let page = usage::list_stored(&self.app, &actor, view, page.expect("checked")).await?;
        Ok(Response::new(pb::ListUsageReportsResponse {
            usage_reports: page
                .items
                .iter()
                .map(stored_report_to_proto)
                .collect::<Result<_, _>>()?,
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_stored_usage_report(
        &self,
        request: Request<pb::GetStoredUsageReportRequest>,
    ) -> Result<Response<pb::StoredUsageReport>, Status> {
        let actor = caller(&request, Operation::ReportUsage)?;
        let id = UsageReportId::from_name("name", &request.get_ref().name)?;
        let report = usage::get_stored(&self.app, &actor, &id).await?;
        Ok(Response::new(stored_report_to_proto(&report)?))
    }

    async fn transmit_usage_report(
        &self,
        request: Request<pb::TransmitUsageReportRequest>,
    ) -> Result<Response<pb::StoredUsageReport>, Status> {
        let actor = caller(&request, Operation::TransmitReport)?;
        let body = request.into_inner();
        let command = TransmitReport::parse(
            &TransmitReportFields {
                name: body.name,
                recipient: body.recipient,
                transmit_time: instant(body.transmit_time.as_ref()),
                note: body.note,
            },
            self.app.now(),
        )?;
        let report = usage::transmit(&self.app, &actor, command).await?;
        Ok(Response::new(stored_report_to_proto(&report)?))
    }
}

fn durations(d: &Durations) -> pb::Durations {
    pb::Durations {
        count: d.count,
        mean_hours: d.mean_hours,
        p50_hours: d.p50_hours,
        p90_hours: d.p90_hours,
    }
}

fn evaluation_to_proto(e: Evaluation) -> pb::Evaluation {
    pb::Evaluation {
        by_user_kind: e
            .by_user_kind
            .iter()
            .map(|k| pb::KindMeasures {
                user_kind: k.user_kind.map(|k| k.to_wire()).unwrap_or(0),
                to_decision: Some(durations(&k.to_decision)),
                to_deploy: Some(durations(&k.to_deploy)),
                to_delivery: Some(durations(&k.to_delivery)),
            })
            .collect(),
        by_service: e
            .by_service
            .iter()
            .map(|s| pb::ServiceMeasures {
                service: s.service.map(|s| s.to_wire()).unwrap_or(0),
                granted_person_days: s.granted,
                used_person_days: s.used,
                converted_person_days: s.converted,
            })
            .collect(),
        committed_person_days: e.committed_person_days,
        converted_person_days: e.converted_person_days,
        lapsed_person_days: e.lapsed_person_days,
        converted_percent: e.converted_percent,
    }
}

/// A report's rows and measures on the wire.
pub fn usage_report_to_proto(
    view: UsageView,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: Vec<UsageRow>,
    evaluation: Evaluation,
) -> pb::UsageReport {
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
    pb::UsageReport {
        view: view.to_wire(),
        period_start: Some(timestamp(from)),
        period_end: Some(timestamp(to)),
        total_requests: rows
            .iter()
            .map(|r| r.requests_by_outcome.values().sum::<u32>())
            .sum(),
        total_person_days: rows.iter().map(|r| r.person_days_used).sum(),
        rows,
        evaluation: Some(evaluation_to_proto(evaluation)),
    }
}

/// A stored report on the wire: its stored text, and the same read as a
/// report.
pub fn stored_report_to_proto(r: &StoredReport) -> Result<pb::StoredUsageReport, Status> {
    let document: ReportDocument = serde_json::from_str(&r.content).map_err(|e| {
        tracing::error!(report = %r.id, error = %e, "a stored usage report does not parse");
        Status::internal("internal error")
    })?;
    Ok(pb::StoredUsageReport {
        name: names::usage_report(&r.id),
        view: r.view.to_wire(),
        period_start: Some(timestamp(r.period_start)),
        period_end: Some(timestamp(r.period_end)),
        produce_time: Some(timestamp(r.produced_at)),
        sha256: r.sha256.clone(),
        content: r.content.clone(),
        report: Some(usage_report_to_proto(
            r.view,
            r.period_start,
            r.period_end,
            document.rows,
            document.evaluation,
        )),
        state: if r.transmission.is_some() {
            pb::UsageReportState::ReportTransmitted
        } else {
            pb::UsageReportState::ReportProduced
        } as i32,
        transmission: r.transmission.as_ref().map(|t| pb::ReportTransmission {
            recipient: t.recipient.clone(),
            transmit_time: Some(timestamp(t.at)),
            transmitted_by: t.by.clone(),
            note: t.note.clone(),
        }),
    })
}
