//! Pictures drawn on the server as SVG (no script): a request's timeline
//! against its deadlines, and a usage report's requests per user kind and
//! outcome. Each has a text alternative saying what it shows, in its
//! `<title>` and `<desc>`; colours come from the style sheet's classes (the
//! Content-Security-Policy admits no inline style), and every mark also has
//! a shape or a label, so colour is never the only cue.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Months, Utc};

use crate::domain::request::{RequestState, SupportRequest};
use crate::domain::usage::UsageRow;

/// A picture and what it says in words.
pub struct Picture {
    /// The SVG element, its dynamic text escaped.
    pub svg: String,
    pub alt: String,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%d %b %Y %H:%M UTC").to_string()
}

const WIDTH: f64 = 720.0;
const MARGIN: f64 = 24.0;

/// The request's milestones from its submission on, against its deadlines:
/// the decision due, the end of support, the summary report due.
pub fn request_timeline(
    r: &SupportRequest,
    report_due_months: u32,
    now: DateTime<Utc>,
    id: &str,
) -> Option<Picture> {
    let start = r.submitted_at?;
    let mut milestones: Vec<(&str, DateTime<Utc>)> = vec![("Submitted", start)];
    if let Some(t) = &r.transmission {
        milestones.push(("Transmitted", t.at));
    }
    if let Some(d) = r.decided_at {
        milestones.push(("Decided", d));
    }
    if let Some(p) = &r.support {
        milestones.push(("Support began", p.starts));
    }
    if let Some(c) = r.completed_at {
        milestones.push(("Completed", c));
    }
    if let Some(s) = &r.summary_report {
        milestones.push(("Report filed", s.submitted_at));
    }
    let mut deadlines: Vec<(&str, DateTime<Utc>)> = Vec::new();
    if let Some(d) = r.response_deadline {
        deadlines.push(("Decision due", d));
    }
    if let Some(p) = &r.support {
        deadlines.push(("Support ends", p.ends));
    }
    if let Some(due) = r
        .completed_at
        .and_then(|c| c.checked_add_months(Months::new(report_due_months)))
    {
        deadlines.push(("Report due", due));
    }
    let finished = matches!(
        r.state,
        RequestState::Closed
            | RequestState::Rejected
            | RequestState::Ineligible
            | RequestState::Withdrawn
    );
    let last = milestones
        .iter()
        .chain(deadlines.iter())
        .map(|(_, t)| *t)
        .chain((!finished).then_some(now))
        .max()
        .unwrap_or(start);
    let span = (last - start).num_seconds().max(3600) as f64;
    let x = |t: DateTime<Utc>| {
        MARGIN + ((t - start).num_seconds().max(0) as f64 / span) * (WIDTH - 2.0 * MARGIN)
    };
    let title_id = format!("timeline-{id}-title");
    let desc_id = format!("timeline-{id}-desc");
    let mut words: Vec<String> = milestones
        .iter()
        .map(|(what, t)| format!("{what} {}", day(*t)))
        .collect();
    words.extend(deadlines.iter().map(|(what, t)| {
        let kept = match *what {
            "Decision due" => r.decided_at.map(|d| d <= *t),
            "Report due" => r.summary_report.as_ref().map(|s| s.submitted_at <= *t),
            _ => None,
        };
        let verdict = match kept {
            Some(true) => " (met)",
            Some(false) => " (missed)",
            None if *t < now => " (passed)",
            None => "",
        };
        format!("{what} {}{verdict}", day(*t))
    }));
    let alt = format!("{}. {}.", r.reference, words.join("; "));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="timeline-chart" viewBox="0 0 720 130" width="720" height="130" role="img" aria-labelledby="{title_id} {desc_id}"><title id="{title_id}">Timeline of {reference} against its deadlines</title><desc id="{desc_id}">{desc}</desc><line class="axis" x1="{m}" y1="65" x2="{end}" y2="65"></line>"#,
        reference = escape(&r.reference),
        desc = escape(&alt),
        m = MARGIN,
        end = WIDTH - MARGIN,
    );
    for (i, (what, t)) in deadlines.iter().enumerate() {
        let at = x(*t);
        let y = if i % 2 == 0 { 112 } else { 124 };
        let _ = write!(
            svg,
            r#"<line class="deadline" x1="{at:.1}" y1="48" x2="{at:.1}" y2="82"></line><text class="deadline-label" x="{at:.1}" y="{y}" text-anchor="middle">{what}</text>"#,
        );
    }
    if !finished && now >= start {
        let at = x(now);
        let _ = write!(
            svg,
            r#"<line class="now" x1="{at:.1}" y1="40" x2="{at:.1}" y2="90"></line><text class="now-label" x="{at:.1}" y="98" text-anchor="middle">now</text>"#,
        );
    }
    for (i, (what, t)) in milestones.iter().enumerate() {
        let at = x(*t);
        let y = if i % 2 == 0 { 30 } else { 44 };
        let _ = write!(
            svg,
            r#"<circle class="milestone" cx="{at:.1}" cy="65" r="6"></circle><text class="milestone-label" x="{at:.1}" y="{y}" text-anchor="middle">{what}</text>"#,
        );
    }
    svg.push_str("</svg>");
    Some(Picture { svg, alt })
}

/// The outcomes drawn, in this order, each with its class.
const OUTCOMES: [(&str, &str); 5] = [
    ("supported", "Supported"),
    ("pending", "Pending"),
    ("rejected", "Rejected or ineligible"),
    ("withdrawn", "Withdrawn"),
    ("other", "Other"),
];

fn outcome_of(state: &str) -> &'static str {
    match state {
        "AUTHORISED" | "DISPATCHING" | "WAITING_CAPACITY" | "DISPATCHED" | "COMPLETED"
        | "REPORTED" | "CLOSED" => "supported",
        "DRAFT"
        | "SUBMITTED"
        | "AWAITING_TRANSMISSION"
        | "ELIGIBLE"
        | "REFERRED"
        | "NEEDS_INFO" => "pending",
        "REJECTED" | "INELIGIBLE" => "rejected",
        "WITHDRAWN" => "withdrawn",
        _ => "other",
    }
}

fn kind_label(kind: crate::domain::codes::OrganisationKind) -> &'static str {
    use crate::domain::codes::OrganisationKind as K;
    match kind {
        K::MsCsirt => "Member State CSIRT",
        K::MsCrisisAuthority => "Member State crisis authority",
        K::CertEu => "CERT-EU",
        K::TcCsirt => "Third-country CSIRT",
        K::TcAuthority => "Third-country authority",
    }
}

/// A usage report's requests per user kind, each bar split by outcome.
pub fn usage_by_kind(rows: &[UsageRow], id: &str) -> Picture {
    let mut kinds: BTreeMap<String, BTreeMap<&str, u32>> = BTreeMap::new();
    for row in rows {
        let kind = row.user_kind.map(kind_label).unwrap_or_default().to_owned();
        let counts = kinds.entry(kind).or_default();
        for (state, n) in &row.by_outcome {
            *counts.entry(outcome_of(state)).or_default() += n;
        }
    }
    let most = kinds
        .values()
        .map(|c| c.values().sum::<u32>())
        .max()
        .unwrap_or(0)
        .max(1);
    let label_width = 190.0;
    let bar_width = WIDTH - label_width - MARGIN - 40.0;
    let height = 40 + kinds.len() * 30;
    let title_id = format!("usage-{id}-title");
    let desc_id = format!("usage-{id}-desc");
    let alt = if kinds.is_empty() {
        "No request was submitted in the period.".to_owned()
    } else {
        kinds
            .iter()
            .map(|(kind, counts)| {
                let parts: Vec<String> = OUTCOMES
                    .iter()
                    .filter_map(|(key, label)| {
                        counts
                            .get(key)
                            .map(|n| format!("{n} {}", label.to_lowercase()))
                    })
                    .collect();
                format!(
                    "{kind}: {} requests ({})",
                    counts.values().sum::<u32>(),
                    parts.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
            + "."
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="usage-chart" viewBox="0 0 720 {height}" width="720" height="{height}" role="img" aria-labelledby="{title_id} {desc_id}"><title id="{title_id}">Requests per user kind and outcome</title><desc id="{desc_id}">{desc}</desc>"#,
        desc = escape(&alt),
    );
    let mut x = label_width;
    for (key, label) in OUTCOMES {
        let _ = write!(
            svg,
            r#"<rect class="outcome-{key}" x="{x:.1}" y="6" width="12" height="12"></rect><text class="legend" x="{lx:.1}" y="16">{label}</text>"#,
            lx = x + 16.0,
        );
        x += 16.0 + label.len() as f64 * 7.0 + 14.0;
    }
    for (i, (kind, counts)) in kinds.iter().enumerate() {
        let y = 34 + i * 30;
        let _ = write!(
            svg,
            r#"<text class="bar-label" x="{lx}" y="{ty}" text-anchor="end">{kind}</text>"#,
            lx = label_width - 8.0,
            ty = y + 15,
            kind = escape(kind),
        );
        let mut at = label_width;
        for (key, _) in OUTCOMES {
            let n = counts.get(key).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let w = bar_width * n as f64 / most as f64;
            let _ = write!(
                svg,
                r#"<rect class="outcome-{key}" x="{at:.1}" y="{y}" width="{w:.1}" height="20"></rect>"#,
            );
            at += w;
        }
        let _ = write!(
            svg,
            r#"<text class="bar-total" x="{tx:.1}" y="{ty}">{total}</text>"#,
            tx = at + 6.0,
            ty = y + 15,
            total = counts.values().sum::<u32>(),
        );
    }
    svg.push_str("</svg>");
    Picture { svg, alt }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_group_the_states() {
        assert_eq!(outcome_of("DISPATCHED"), "supported");
        assert_eq!(outcome_of("REFERRED"), "pending");
        assert_eq!(outcome_of("INELIGIBLE"), "rejected");
    }

    #[test]
    fn the_usage_picture_says_what_it_draws() {
        let row = UsageRow {
            user_kind: Some(crate::domain::codes::OrganisationKind::TcCsirt),
            by_outcome: [("DISPATCHED".to_owned(), 2), ("REJECTED".to_owned(), 1)].into(),
            ..Default::default()
        };
        let p = usage_by_kind(&[row], "r1");
        assert_eq!(
            p.alt,
            "Third-country CSIRT: 3 requests (2 supported, 1 rejected or ineligible)."
        );
        assert!(p.svg.contains("<title id=\"usage-r1-title\">"));
        assert_eq!(p.svg.matches("<rect class=\"outcome-").count(), 5 + 2);
    }
}
