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
    /// The total's band of the rule set's tolerance (`total / tolerance`,
    /// rounded down): scores in one band count as equal (Art. 16(4)).
    #[serde(default)]
    pub band: i64,
}

/// How far a text goes: 0 when shorter than `min` characters, then 0.4,
/// 0.7 from twice `min`, and 1 from four times `min` (a one-line statement
/// against a described one).
fn described(text: &str, min: usize) -> f64 {
    let chars = text.trim().chars().count();
    if chars >= 4 * min {
        1.0
    } else if chars >= 2 * min {
        0.7
    } else if chars >= min {
        0.4
    } else {
        0.0
    }
}

/// Scores a request. Degrees, each discriminating between requests on its
/// own ground (criterion (b) looks at the entities, (c) at the stated
/// impact, (d) at the other countries, (e) at the user's own measures):
/// - (a) scale and severity: severity LOW 0.25 .. CRITICAL 1.0, times 0.75,
///   plus 0.25 for a large-scale (or equivalent) incident;
/// - (b) essential entities: 0.5 for each essential entity, 0.25 for each
///   important one, at most 1;
/// - (c) impact on the countries or Union entities affected: 0.6 times how
///   far the potential impact is described (`described`, with
///   `min_chars`), plus 0.4 times the countries affected, the user's own
///   included (one third each, at most 1);
/// - (d) cross-border: other countries affected besides the user's own, 0.5
///   for one, 1.0 for two or more;
/// - (e) the user's own measures, graded by how far they are described
///   (`described`: 0.4 from `min_chars`, 0.7 from twice, 1 from four times).
///
/// The band is the total over `tolerance`, rounded down.
pub fn score(
    content: &RequestContent,
    own_country: &str,
    weights: &Weights,
    min_chars: usize,
    tolerance: f64,
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
    let mut countries: Vec<&str> = content
        .countries_affected
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(own_country))
        .collect();
    countries.sort_unstable();
    countries.dedup();
    let impact = 0.6 * described(&content.potential_impact, min_chars)
        + 0.4 * (countries.len() as f64 / 3.0).min(1.0);
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
    let own = described(&content.mitigation_measures, min_chars);
    let parts = PriorityScore {
        total: 0.0,
        scale_and_severity: round(weights.scale_and_severity * (0.75 * severity + 0.25 * large)),
        essential_entities: round(weights.essential_entities * essential.min(1.0)),
        impact: round(weights.impact * impact),
        cross_border: round(weights.cross_border * cross_border),
        own_measures: round(weights.own_measures * own),
        band: 0,
    };
    let total = round(
        parts.scale_and_severity
            + parts.essential_entities
            + parts.impact
            + parts.cross_border
            + parts.own_measures,
    );
    PriorityScore {
        total,
        band: band(total, tolerance),
        ..parts
    }
}

/// The band of `total` for `tolerance` (a tolerance of 0 bands by
/// hundredths, the scores' precision).
pub fn band(total: f64, tolerance: f64) -> i64 {
    let width = if tolerance > 0.0 { tolerance } else { 0.01 };
    ((total + 1e-9) / width).floor() as i64
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
pub fn queue_position(k: &QueueKey, id: &str) -> (i64, u8, i64, String) {
    (
        -k.band,
        user_rank(k.kind),
        k.transmitted_at.timestamp_micros(),
        id.to_owned(),
    )
}

/// The queue position as text that sorts as `queue_position` does, for an
/// indexed column: the band's complement (6 digits), the user's rank (1),
/// the transmission in microseconds since 1970 (17), then the request id.
/// Fixed widths, so that comparing the text compares the parts in turn; at
/// most 60 characters with a UUID.
pub fn queue_key(k: &QueueKey, id: &str) -> String {
    format!(
        "{:06}{}{:017}{id}",
        999_999 - k.band.clamp(0, 999_999),
        user_rank(k.kind),
        k.transmitted_at.timestamp_micros().max(0)
    )
}

/// What the queue order looks at.
#[derive(Debug, Clone, Copy)]
pub struct QueueKey {
    /// The score's band (`PriorityScore::band`).
    pub band: i64,
    pub kind: OrganisationKind,
    /// When the request reached its decider.
    pub transmitted_at: DateTime<Utc>,
}

/// Higher band first; within a band (scores equal within the tolerance)
/// Member State users first (Art. 16(4)), then CERT-EU, then third
/// countries; then the earlier transmission.
pub fn queue_order(a: &QueueKey, b: &QueueKey) -> Ordering {
    let rank = user_rank;
    b.band
        .cmp(&a.band)
        .then(rank(a.kind).cmp(&rank(b.kind)))
        .then(a.transmitted_at.cmp(&b.transmitted_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key at the tolerance of the shipped rule set (2 points).
    fn key(total: f64, kind: OrganisationKind, at: &str) -> QueueKey {
        QueueKey {
            band: band(total, 2.0),
            kind,
            transmitted_at: at.parse().unwrap(),
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
    fn higher_bands_first_then_member_states_then_earlier() {
        let mut keys = [
            key(50.0, OrganisationKind::CertEu, "2026-01-01T00:00:00Z"),
            key(50.0, OrganisationKind::MsCsirt, "2026-01-01T02:00:00Z"),
            key(80.0, OrganisationKind::TcCsirt, "2026-01-01T03:00:00Z"),
            key(
                51.5,
                OrganisationKind::MsCrisisAuthority,
                "2026-01-01T01:00:00Z",
            ),
            key(50.9, OrganisationKind::TcAuthority, "2026-01-01T00:00:00Z"),
        ];
        keys.sort_by(queue_order);
        let order: Vec<_> = keys.iter().map(|k| k.kind).collect();
        // 50, 50.9 and 51.5 are one band (50 to 52): Member States first.
        assert_eq!(
            order,
            [
                OrganisationKind::TcCsirt,
                OrganisationKind::MsCrisisAuthority,
                OrganisationKind::MsCsirt,
                OrganisationKind::CertEu,
                OrganisationKind::TcAuthority,
            ]
        );
    }

    fn content(impact: &str, measures: &str, countries: &[&str]) -> RequestContent {
        use crate::domain::codes::{IncidentCategory, Tlp};
        use crate::domain::request::ContactPoint;
        RequestContent {
            title: "t".into(),
            description: "d".into(),
            category: IncidentCategory::Ransomware,
            classification: Classification::Significant,
            capacity_exceeded_declared: false,
            severity: Severity::High,
            detected_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            affected_entities: Vec::new(),
            countries_affected: countries.iter().map(|c| (*c).to_owned()).collect(),
            potential_impact: impact.into(),
            mitigation_measures: measures.into(),
            other_support: String::new(),
            service_lines: Vec::new(),
            tlp: Tlp::Amber,
            contact: ContactPoint {
                name: "n".into(),
                email: "e@x.eu".into(),
                phone: String::new(),
            },
        }
    }

    fn weights() -> Weights {
        Weights {
            scale_and_severity: 35.0,
            essential_entities: 20.0,
            impact: 20.0,
            cross_border: 15.0,
            own_measures: 10.0,
        }
    }

    #[test]
    fn own_measures_are_graded_by_how_far_they_are_described() {
        let line = "Isolated the affected network segment.";
        let more = format!("{line} Restored from offline backups.");
        let most = [line; 3].join(" Restored from offline backups.");
        let grade = |m: &str| score(&content("", m, &[]), "RO", &weights(), 30, 2.0).own_measures;
        assert_eq!(grade(""), 0.0);
        assert_eq!(grade(line), 4.0);
        assert_eq!(grade(&more), 7.0);
        assert_eq!(grade(&most), 10.0);
    }

    #[test]
    fn impact_looks_at_the_stated_impact_and_the_countries_affected() {
        let stated = "Outage of electricity distribution to 400,000 households for days.";
        let impact =
            |i: &str, c: &[&str]| score(&content(i, "", c), "RO", &weights(), 30, 2.0).impact;
        assert!(impact(stated, &["RO"]) > impact("", &["RO"]));
        assert!(impact(stated, &["RO", "MD", "BG"]) > impact(stated, &["RO"]));
        assert_eq!(impact("", &["RO"]), 2.67);
    }
}
