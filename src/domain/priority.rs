//! The priority of concurrent requests, by the criteria of Art. 16(3), and
//! the order of the assessment queues (Art. 16(4)).

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::codes::{Classification, EntityType, OrganisationKind, Severity};
use super::request::RequestContent;

/// Weight of each criterion; the total is out of their sum.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
pub struct Weights {
    pub scale_and_severity: f64,
    pub essential_entities: f64,
    pub impact: f64,
    pub cross_border: f64,
    pub own_measures: f64,
}

/// Each part is the criterion's weight times its degree (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
pub struct PriorityScore {
    pub total: f64,
    pub scale_and_severity: f64,
    pub essential_entities: f64,
    pub impact: f64,
    pub cross_border: f64,
    pub own_measures: f64,
}

/// Scores a request. Degrees:
/// - scale and severity: severity LOW 0.25 .. CRITICAL 1.0, times 0.75, plus
///   0.25 for a large-scale (or equivalent) incident;
/// - essential entities: 0.5 for each essential entity, 0.25 for each
///   important one, at most 1;
/// - impact: the most critical sector affected (NIS2 Annex I or a Union
///   entity 1.0, Annex II 0.6, other 0.3), or 0 with no entity;
/// - cross-border: other countries affected besides the user's own, 0.5
///   for one, 1.0 for two or more;
/// - own measures: 1.0 when mitigation measures are described with at least
///   `min_mitigation_chars` characters.
pub fn score(
    content: &RequestContent,
    own_country: &str,
    weights: &Weights,
    min_mitigation_chars: usize,
) -> PriorityScore {
    let severity = match content.severity {
        Severity::Low => 0.25,
        Severity::Medium => 0.5,
        Severity::High => 0.75,
        Severity::Critical => 1.0,
    };
    let large = match content.classification {
        Classification::Significant => 0.0,
        Classification::LargeScale | Classification::LargeScaleEquivalent => 1.0,
    };
    let essential: f64 = content
        .affected_entities
        .iter()
        .map(|e| match e.entity_type {
            EntityType::Essential => 0.5,
            EntityType::Important => 0.25,
            EntityType::OtherEntity => 0.0,
        })
        .sum();
    let impact = content
        .affected_entities
        .iter()
        .map(|e| {
            if e.sector.is_annex_i() || e.sector == super::codes::Sector::UnionEntity {
                1.0
            } else if e.sector.is_nis2() {
                0.6
            } else {
                0.3
            }
        })
        .fold(0.0, f64::max);
    let others = content
        .countries_affected
        .iter()
        .filter(|c| c.as_str() != own_country)
        .count();
    let cross_border = match others {
        0 => 0.0,
        1 => 0.5,
        _ => 1.0,
    };
    let own = if content.mitigation_measures.trim().chars().count() >= min_mitigation_chars {
        1.0
    } else {
        0.0
    };
    let parts = PriorityScore {
        total: 0.0,
        scale_and_severity: round(weights.scale_and_severity * (0.75 * severity + 0.25 * large)),
        essential_entities: round(weights.essential_entities * essential.min(1.0)),
        impact: round(weights.impact * impact),
        cross_border: round(weights.cross_border * cross_border),
        own_measures: round(weights.own_measures * own),
    };
    PriorityScore {
        total: round(
            parts.scale_and_severity
                + parts.essential_entities
                + parts.impact
                + parts.cross_border
                + parts.own_measures,
        ),
        ..parts
    }
}

/// Two decimals, so that equal inputs give equal scores across platforms.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Member State users first (Art. 16(4)), then CERT-EU, then third countries.
pub fn user_rank(kind: OrganisationKind) -> u8 {
    match kind {
        OrganisationKind::MsCsirt | OrganisationKind::MsCrisisAuthority => 0,
        OrganisationKind::CertEu => 1,
        OrganisationKind::TcCsirt | OrganisationKind::TcAuthority => 2,
    }
}

/// A total order for paging a queue: `queue_order`, then the request id.
/// Scores have two decimals, so they compare exactly as hundredths.
pub fn queue_position(k: &QueueKey, id: &str) -> (i64, u8, i64, String) {
    (
        -(k.total * 100.0).round() as i64,
        user_rank(k.kind),
        k.submitted_at.timestamp_micros(),
        id.to_owned(),
    )
}

/// The queue position as text that sorts as `queue_position` does, for an
/// indexed column: the score's complement in hundredths (6 digits), the
/// user's rank (1), the submission in microseconds since 1970 (17), then
/// the request id. Fixed widths, so that comparing the text compares the
/// parts in turn; at most 60 characters with a UUID.
pub fn queue_key(k: &QueueKey, id: &str) -> String {
    let hundredths = (k.total * 100.0).round().clamp(0.0, 999_999.0) as i64;
    format!(
        "{:06}{}{:017}{id}",
        999_999 - hundredths,
        user_rank(k.kind),
        k.submitted_at.timestamp_micros().max(0)
    )
}

/// What the queue order looks at.
#[derive(Debug, Clone, Copy)]
pub struct QueueKey {
    pub total: f64,
    pub kind: OrganisationKind,
    pub submitted_at: DateTime<Utc>,
}

/// Higher score first; on equal scores Member State users first (Art. 16(4)),
/// then CERT-EU, then third countries; then the earlier submission.
pub fn queue_order(a: &QueueKey, b: &QueueKey) -> Ordering {
    let rank = user_rank;
    b.total
        .total_cmp(&a.total)
        .then(rank(a.kind).cmp(&rank(b.kind)))
        .then(a.submitted_at.cmp(&b.submitted_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(total: f64, kind: OrganisationKind, at: &str) -> QueueKey {
        QueueKey {
            total,
            kind,
            submitted_at: at.parse().unwrap(),
        }
    }

    #[test]
    fn the_queue_key_sorts_as_the_queue_order() {
        let keys = [
            key(50.0, OrganisationKind::CertEu, "2026-01-01T00:00:00Z"),
            key(50.0, OrganisationKind::MsCsirt, "2026-01-01T02:00:00Z"),
            key(80.0, OrganisationKind::TcCsirt, "2026-01-01T03:00:00Z"),
            key(50.0, OrganisationKind::MsCsirt, "2026-01-01T01:00:00Z"),
            key(100.0, OrganisationKind::TcAuthority, "2025-12-31T23:59:59Z"),
            key(0.0, OrganisationKind::MsCsirt, "2026-01-01T00:00:00Z"),
            key(49.99, OrganisationKind::MsCsirt, "2026-01-01T00:00:00Z"),
        ];
        let mut by_order: Vec<(QueueKey, String)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, format!("id-{i}")))
            .collect();
        by_order.sort_by_key(|(k, id)| queue_position(k, id));
        let mut by_key = by_order.clone();
        by_key.sort_by_key(|(k, id)| queue_key(k, id));
        let ids = |v: &[(QueueKey, String)]| v.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&by_key), ids(&by_order));
        assert_eq!(
            queue_key(&keys[0], "0195ee84-0000-7000-8000-000000000000").len(),
            60
        );
    }

    #[test]
    fn higher_scores_first_then_member_states_then_earlier() {
        let mut keys = [
            key(50.0, OrganisationKind::CertEu, "2026-01-01T00:00:00Z"),
            key(50.0, OrganisationKind::MsCsirt, "2026-01-01T02:00:00Z"),
            key(80.0, OrganisationKind::TcCsirt, "2026-01-01T03:00:00Z"),
            key(
                50.0,
                OrganisationKind::MsCrisisAuthority,
                "2026-01-01T01:00:00Z",
            ),
            key(50.0, OrganisationKind::TcAuthority, "2026-01-01T00:00:00Z"),
        ];
        keys.sort_by(queue_order);
        let order: Vec<_> = keys.iter().map(|k| (k.total, k.kind)).collect();
        assert_eq!(
            order,
            [
                (80.0, OrganisationKind::TcCsirt),
                (50.0, OrganisationKind::MsCrisisAuthority),
                (50.0, OrganisationKind::MsCsirt),
                (50.0, OrganisationKind::CertEu),
                (50.0, OrganisationKind::TcAuthority),
            ]
        );
    }
}
