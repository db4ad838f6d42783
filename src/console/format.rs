//! How values read on the pages.

use chrono::{DateTime, Duration, Utc};

/// `2026-11-28 03:10 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2026-11-28T03:10:00Z`, for `<time datetime>`.
pub fn machine_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `5 h 12 min left` or `3 h 05 min overdue`.
pub fn time_left(left: Duration) -> String {
    let minutes = left.num_minutes();
    let (abs, suffix) = if minutes < 0 {
        (-minutes, "overdue")
    } else {
        (minutes, "left")
    };
    if abs >= 24 * 60 {
        format!("{} d {} h {suffix}", abs / (24 * 60), (abs / 60) % 24)
    } else {
        format!("{} h {:02} min {suffix}", abs / 60, abs % 60)
    }
}

/// The colour class of a deadline: `late` past it, `soon` within a quarter
/// of the 48-hour clock (12 h), else `ok`.
pub fn urgency(left: Duration) -> &'static str {
    if left < Duration::zero() {
        "late"
    } else if left < Duration::hours(12) {
        "soon"
    } else {
        "ok"
    }
}

/// A code as words: `INCIDENT_RESPONSE` → `Incident response`.
pub fn words(code: &str) -> String {
    let lower = code.replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A score part to two decimals.
pub fn score(value: f64) -> String {
    format!("{value:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_both_ways() {
        assert_eq!(time_left(Duration::minutes(312)), "5 h 12 min left");
        assert_eq!(time_left(Duration::minutes(-185)), "3 h 05 min overdue");
        assert_eq!(time_left(Duration::hours(47)), "1 d 23 h left");
        assert_eq!(urgency(Duration::hours(30)), "ok");
        assert_eq!(urgency(Duration::hours(3)), "soon");
        assert_eq!(urgency(Duration::minutes(-1)), "late");
    }

    #[test]
    fn codes_read_as_words() {
        assert_eq!(words("INCIDENT_RESPONSE"), "Incident response");
        assert_eq!(words(""), "");
    }
}
