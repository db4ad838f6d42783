//! Usage reports for a period (Art. 16(11)-(12)): per user kind and country,
//! requests by outcome, response times against their deadlines, providers
//! and person-days used.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::codes::{OrganisationKind, ServiceType, code_enum};
use super::request::SupportRequest;

code_enum!(
    /// One of the two audiences of the reports.
    UsageView {
        /// Member States and CERT-EU, for the NIS Cooperation Group.
        NisCooperationGroup = "NIS_COOPERATION_GROUP",
        /// Third countries, for the Council.
        Council = "COUNCIL",
    }
);

impl UsageView {
    /// Whom the report goes to (Art. 16(11)-(12)).
    pub fn audience(self) -> &'static str {
        match self {
            UsageView::NisCooperationGroup => "NIS Cooperation Group",
            UsageView::Council => "Council",
        }
    }

    pub fn covers(self, kind: OrganisationKind) -> bool {
        match self {
            UsageView::NisCooperationGroup => !kind.is_third_country(),
            UsageView::Council => kind.is_third_country(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UsageRow {
    pub user_kind: Option<OrganisationKind>,
    pub country: String,
    /// Requests by their state at the time of the report.
    pub by_outcome: BTreeMap<String, u32>,
    pub decided_within_deadline: u32,
    pub deadline_breaches: u32,
    pub mean_response_hours: f64,
    pub person_days_used: u32,
    pub providers: BTreeSet<String>,
}

/// Person-days a provider took on (accepted, active or delivered) for a request.
#[derive(Debug, Clone)]
pub struct Use {
    pub provider: String,
    pub person_days: u32,
}

/// Aggregates requests (with what providers took on for each) into rows
/// ordered by user kind, then country.
pub fn aggregate(requests: &[(SupportRequest, Vec<Use>)], now: DateTime<Utc>) -> Vec<UsageRow> {
    let mut rows: BTreeMap<(OrganisationKind, String), (UsageRow, Vec<f64>)> = BTreeMap::new();
    for (request, uses) in requests {
        let (row, hours) = rows
            .entry((request.organisation_kind, request.country.clone()))
            .or_insert_with(|| {
                (
                    UsageRow {
                        user_kind: Some(request.organisation_kind),
                        country: request.country.clone(),
                        ..Default::default()
                    },
                    Vec::new(),
                )
            });
        *row.by_outcome
            .entry(request.state.as_str().to_owned())
            .or_default() += 1;
        if let (Some(decided), Some(submitted)) = (request.decided_at, request.submitted_at) {
            hours.push((decided - submitted).num_seconds() as f64 / 3600.0);
            if request.response_deadline.is_some_and(|d| decided <= d) {
                row.decided_within_deadline += 1;
            }
        }
        if request.deadline_breached(now) {
            row.deadline_breaches += 1;
        }
        for u in uses {
            row.person_days_used += u.person_days;
            row.providers.insert(u.provider.clone());
        }
    }
    rows.into_values()
        .map(|(mut row, hours)| {
            if !hours.is_empty() {
                row.mean_response_hours = hours.iter().sum::<f64>() / hours.len() as f64;
            }
            row
        })
        .collect()
}

/// The reporting period containing `day`: `period_months` long, counted
/// from 1 January; its first day and the first day after it.
pub fn period_containing(day: NaiveDate, period_months: u32) -> (NaiveDate, NaiveDate) {
    let months = period_months.clamp(1, 12);
    let first_month = (day.month0() / months) * months + 1;
    let start = NaiveDate::from_ymd_opt(day.year(), first_month, 1).expect("a first of the month");
    (start, start + Months::new(months))
}

/// Midnight (UTC) at the start of `day`.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// Durations in hours: how many, their mean and their 50th and 90th
/// percentiles (nearest rank).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Durations {
    pub count: u32,
    pub mean_hours: f64,
    pub p50_hours: f64,
    pub p90_hours: f64,
}

impl Durations {
    pub fn of(mut hours: Vec<f64>) -> Durations {
        if hours.is_empty() {
            return Durations::default();
        }
        hours.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p * hours.len() as f64).ceil() as usize).clamp(1, hours.len()) - 1;
            hours[i]
        };
        Durations {
            count: hours.len() as u32,
            mean_hours: hours.iter().sum::<f64>() / hours.len() as f64,
            p50_hours: rank(0.5),
            p90_hours: rank(0.9),
        }
    }
}

/// How fast the Reserve answered one kind of user (Art. 25(3)(c)).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KindMeasures {
    pub user_kind: Option<OrganisationKind>,
    /// From transmission (or submission, for a request that needs none) to
    /// the decision.
    pub to_decision: Durations,
    /// From the decision to the first specific agreement: the time to deploy.
    pub to_deploy: Durations,
    /// From the first agreement to the last delivery.
    pub to_delivery: Durations,
}

/// Person-days of one service: granted by decisions, used by providers,
/// and converted into preparedness services.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceMeasures {
    pub service: Option<ServiceType>,
    pub granted: u32,
    pub used: u32,
    pub converted: u32,
}

/// The measures the Reserve's evaluation needs (Art. 25(3)(c)).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evaluation {
    pub by_user_kind: Vec<KindMeasures>,
    pub by_service: Vec<ServiceMeasures>,
    /// Person-days pre-committed by the commitments counted (those whose
    /// period ended in the reporting period).
    pub committed_person_days: u32,
    /// Of those, converted into preparedness services (accepted or delivered).
    pub converted_person_days: u32,
    /// Of those, neither used nor converted by the end of their period.
    pub lapsed_person_days: u32,
    /// `converted / committed`, in percent (0 when nothing was committed).
    pub converted_percent: f64,
}

/// What the measures are computed from, for one request: when it was
/// transmitted and decided, what was granted, and its offers taken on.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub user_kind: OrganisationKind,
    pub transmitted: Option<DateTime<Utc>>,
    pub decided: Option<DateTime<Utc>>,
    /// Granted person-days per service.
    pub granted: Vec<(ServiceType, u32)>,
    /// Offers taken on: their service, person-days, agreement and delivery.
    pub taken: Vec<Taken>,
}

#[derive(Debug, Clone)]
pub struct Taken {
    pub service: ServiceType,
    pub person_days: u32,
    pub agreed: Option<DateTime<Utc>>,
    pub delivered: Option<DateTime<Utc>>,
}

/// A commitment's figures for the capacity part of the evaluation.
#[derive(Debug, Clone)]
pub struct CommitmentUse {
    pub service: ServiceType,
    pub committed: u32,
    /// Consumed by assignments and by conversions.
    pub consumed: u32,
    pub converted: u32,
}

impl Timeline {
    /// The request's timeline as the measures read it.
    pub fn of(request: &SupportRequest, taken: Vec<Taken>) -> Timeline {
        let granted = if request.decided_at.is_some() {
            request
                .granted_lines
                .iter()
                .map(|l| (l.service, l.person_days))
                .collect()
        } else {
            Vec::new()
        };
        Timeline {
            user_kind: request.organisation_kind,
            transmitted: request
                .transmission
                .as_ref()
                .map(|t| t.at)
                .or(request.submitted_at),
            decided: request.decided_at,
            granted,
            taken,
        }
    }
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds().max(0) as f64 / 3600.0
}

/// The evaluation's measures over requests and commitments.
pub fn evaluate(requests: &[Timeline], commitments: &[CommitmentUse]) -> Evaluation {
    type Samples = (Vec<f64>, Vec<f64>, Vec<f64>);
    let mut kinds: BTreeMap<OrganisationKind, Samples> = BTreeMap::new();
    let mut services: BTreeMap<ServiceType, ServiceMeasures> = BTreeMap::new();
    fn service(
        services: &mut BTreeMap<ServiceType, ServiceMeasures>,
        s: ServiceType,
    ) -> &mut ServiceMeasures {
        services.entry(s).or_insert_with(|| ServiceMeasures {
            service: Some(s),
            ..Default::default()
        })
    }
    for r in requests {
        let (decision, deploy, delivery) = kinds.entry(r.user_kind).or_default();
        if let (Some(t), Some(d)) = (r.transmitted, r.decided) {
            decision.push(hours(t, d));
        }
        let first_agreement = r.taken.iter().filter_map(|t| t.agreed).min();
        let last_delivery = r.taken.iter().filter_map(|t| t.delivered).max();
        if let (Some(d), Some(a)) = (r.decided, first_agreement) {
            deploy.push(hours(d, a));
        }
        if let (Some(a), Some(l)) = (first_agreement, last_delivery) {
            delivery.push(hours(a, l));
        }
        for (s, days) in &r.granted {
            service(&mut services, *s).granted += days;
        }
        for t in &r.taken {
            service(&mut services, t.service).used += t.person_days;
        }
    }
    let (mut committed, mut converted, mut lapsed) = (0, 0, 0);
    for c in commitments {
        service(&mut services, c.service).converted += c.converted;
        committed += c.committed;
        converted += c.converted;
        lapsed += c.committed.saturating_sub(c.consumed);
    }
    Evaluation {
        by_user_kind: kinds
            .into_iter()
            .map(|(kind, (decision, deploy, delivery))| KindMeasures {
                user_kind: Some(kind),
                to_decision: Durations::of(decision),
                to_deploy: Durations::of(deploy),
                to_delivery: Durations::of(delivery),
            })
            .collect(),
        by_service: services.into_values().collect(),
        committed_person_days: committed,
        converted_person_days: converted,
        lapsed_person_days: lapsed,
        converted_percent: if committed == 0 {
            0.0
        } else {
            100.0 * converted as f64 / committed as f64
        },
    }
}

/// A usage report as the service produces it for a period and stores it,
/// once: the bytes of its JSON are what its hash is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDocument {
    pub view: UsageView,
    pub audience: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub produced_at: DateTime<Utc>,
    pub rule_set: String,
    pub rows: Vec<UsageRow>,
    pub evaluation: Evaluation,
}

impl ReportDocument {
    /// The stored text and its SHA-256, in hex.
    pub fn seal(&self) -> (String, String) {
        let text = serde_json::to_string(self).expect("a report serialises");
        let hash = sha256_hex(text.as_bytes());
        (text, hash)
    }
}

/// Rows as CSV, the same for every door: a line per user kind, country and
/// outcome; the per-country figures repeat on each of its lines.
pub fn csv(rows: &[UsageRow]) -> String {
    let mut out = String::from(
        "user_kind,country,outcome,requests,decided_within_deadline,deadline_breaches,mean_response_hours,person_days_used,providers\n",
    );
    for r in rows {
        for (outcome, count) in &r.by_outcome {
            out.push_str(&format!(
                "{},{},{},{},{},{},{:.2},{},{}\n",
                r.user_kind.map(|k| k.as_str()).unwrap_or("?"),
                r.country,
                outcome,
                count,
                r.decided_within_deadline,
                r.deadline_breaches,
                r.mean_response_hours,
                r.person_days_used,
                r.providers.iter().cloned().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_counted_from_the_first_of_january() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            period_containing(d(2026, 11, 30), 6),
            (d(2026, 7, 1), d(2027, 1, 1))
        );
        assert_eq!(
            period_containing(d(2026, 1, 1), 6),
            (d(2026, 1, 1), d(2026, 7, 1))
        );
        assert_eq!(
            period_containing(d(2026, 5, 31), 4),
            (d(2026, 5, 1), d(2026, 9, 1))
        );
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let d = Durations::of((1..=10).map(f64::from).collect());
        assert_eq!(d.count, 10);
        assert_eq!(d.mean_hours, 5.5);
        assert_eq!(d.p50_hours, 5.0);
        assert_eq!(d.p90_hours, 9.0);
        assert_eq!(Durations::of(vec![]), Durations::default());
    }

    #[test]
    fn conversion_share_and_lapse() {
        let e = evaluate(
            &[],
            &[
                CommitmentUse {
                    service: ServiceType::IncidentResponse,
                    committed: 40,
                    consumed: 30,
                    converted: 10,
                },
                CommitmentUse {
                    service: ServiceType::DigitalForensics,
                    committed: 60,
                    consumed: 0,
                    converted: 0,
                },
            ],
        );
        assert_eq!(e.committed_person_days, 100);
        assert_eq!(e.converted_person_days, 10);
        assert_eq!(e.lapsed_person_days, 70);
        assert_eq!(e.converted_percent, 10.0);
    }
}
