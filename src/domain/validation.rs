//! Field-level checks shared by every command's constructor. A constructor
//! collects every violation it finds, so that a caller learns all that is
//! wrong with its input at once, each named by its field path.
//!
//! The raw values a front door hands over are plain: texts, and for the
//! rest the types below, each of which a wire message and a form can both
//! express (a code by its number or its word, a number or its digits, a time
//! in seconds or in RFC 3339). What they mean, and every limit, is decided
//! here, once for every door.

use std::ops::RangeInclusive;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// One code of a closed set, as a door received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Choice<T> {
    /// Not given: the wire's 0 (`..._UNSPECIFIED`), a form's empty field.
    #[default]
    Unset,
    Known(T),
    /// A number or a word that names no value of the set.
    Unknown(String),
}

impl<T: FromStr> Choice<T> {
    /// A code from a form: its word (`INCIDENT_RESPONSE`); empty is unset.
    pub fn word(word: &str) -> Self {
        let word = word.trim();
        if word.is_empty() {
            Choice::Unset
        } else {
            word.parse()
                .map_or_else(|_| Choice::Unknown(word.to_owned()), Choice::Known)
        }
    }
}

impl<T> From<T> for Choice<T> {
    fn from(value: T) -> Self {
        Choice::Known(value)
    }
}

/// A whole number as a door received it: the wire's number, or the digits
/// a person typed (empty is the wire's default, 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Count {
    Number(u64),
    Text(String),
}

impl Default for Count {
    fn default() -> Self {
        Count::Number(0)
    }
}

impl From<u32> for Count {
    fn from(n: u32) -> Self {
        Count::Number(n.into())
    }
}

/// A point in time as a door received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Instant {
    #[default]
    Unset,
    /// Seconds and nanoseconds since the Unix epoch (`google.protobuf.Timestamp`).
    Unix { seconds: i64, nanos: i32 },
    /// RFC 3339 text, such as `2026-11-27T03:10:00Z`.
    Text(String),
}

impl From<DateTime<Utc>> for Instant {
    fn from(t: DateTime<Utc>) -> Self {
        Instant::Unix {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        }
    }
}

/// A calendar day as a door received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Day {
    /// Not given (the wire's absent or all-zero `google.type.Date`).
    #[default]
    Unset,
    Ymd {
        year: i32,
        month: i32,
        day: i32,
    },
    /// ISO 8601 text, such as `2026-07-14`.
    Text(String),
}

impl From<NaiveDate> for Day {
    fn from(d: NaiveDate) -> Self {
        use chrono::Datelike;
        Day::Ymd {
            year: d.year(),
            month: d.month() as i32,
            day: d.day() as i32,
        }
    }
}

impl From<Option<NaiveDate>> for Day {
    fn from(d: Option<NaiveDate>) -> Self {
        d.map_or(Day::Unset, Day::from)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, such as `support_request.service_lines[0].person_days`.
    pub field: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

/// Longest text field accepted anywhere.
pub const MAX_LONG_TEXT: usize = 20_000;
/// How far in the future a reported time may lie, for clock skew.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
/// The earliest time accepted anywhere (2000-01-01T00:00:00Z).
const EARLIEST: i64 = 946_684_800;

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Self::new();
        v.add(field, description);
        v
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    pub fn extend(&mut self, other: Violations) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was found wrong.
    pub fn finish<T>(self, value: T) -> Result<T, Violations> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// A text of `chars` characters (Unicode scalar values), without control
    /// characters other than line breaks and tabs (PostgreSQL refuses NUL).
    pub fn text(&mut self, field: &str, value: &str, chars: RangeInclusive<usize>) -> String {
        let len = value.chars().count();
        if *chars.start() >= 1 && value.trim().is_empty() {
            self.add(field, "is required");
        } else if len < *chars.start() {
            if *chars.start() == 1 {
                self.add(field, "is required");
            } else {
                self.add(
                    field,
                    format!("must have at least {} characters", chars.start()),
                );
            }
        } else if len > *chars.end() {
            self.add(
                field,
                format!("must have at most {} characters", chars.end()),
            );
        } else if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.add(field, "must not contain control characters");
        }
        value.to_owned()
    }

    /// An identifier: 1..=64 of ASCII letters, digits, `-`, `_` and `.`.
    pub fn identifier(&mut self, field: &str, value: &str) -> String {
        if value.is_empty() {
            self.add(field, "is required");
        } else if value.len() > 64
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            self.add(
                field,
                "must be 1 to 64 ASCII letters, digits, '-', '_' or '.'",
            );
        }
        value.to_owned()
    }

    /// An ISO 3166-1 alpha-2 country code (`EU` stands for the Union entities).
    pub fn country_code(&mut self, field: &str, value: &str) -> String {
        if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
            self.add(field, "must be an ISO 3166-1 alpha-2 code such as `MD`");
        }
        value.to_owned()
    }

    /// An ISO 639-1 language code.
    pub fn language(&mut self, field: &str, value: &str) -> String {
        if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_lowercase()) {
            self.add(field, "must be an ISO 639-1 code such as `ro`");
        }
        value.to_owned()
    }

    /// A list of at most `max` items, each checked by `item` under `field[i]`.
    pub fn list<T, U>(
        &mut self,
        field: &str,
        values: &[T],
        max: usize,
        mut item: impl FnMut(&mut Self, &str, &T) -> U,
    ) -> Vec<U> {
        if values.len() > max {
            self.add(field, format!("must have at most {max} items"));
            return Vec::new();
        }
        values
            .iter()
            .enumerate()
            .map(|(i, v)| item(self, &format!("{field}[{i}]"), v))
            .collect()
    }

    /// A whole number within `range`.
    pub fn count(&mut self, field: &str, value: &Count, range: RangeInclusive<u32>) -> Option<u32> {
        let number = match value {
            Count::Number(n) => *n,
            Count::Text(text) if text.trim().is_empty() => 0,
            Count::Text(text) => match text.trim().parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    self.add(field, "must be a whole number");
                    return None;
                }
            },
        };
        match u32::try_from(number).ok().filter(|n| range.contains(n)) {
            Some(n) => Some(n),
            None => {
                self.add(
                    field,
                    format!("must be between {} and {}", range.start(), range.end()),
                );
                None
            }
        }
    }

    /// A required code of a closed set.
    pub fn choice<T: Copy>(&mut self, field: &str, value: &Choice<T>) -> Option<T> {
        match value {
            Choice::Known(v) => Some(*v),
            Choice::Unset => {
                self.add(field, "is required");
                None
            }
            Choice::Unknown(what) => {
                self.add(field, format!("has no value {what}"));
                None
            }
        }
    }

    /// A required time after 2000-01-01, truncated to the microseconds the
    /// databases keep.
    pub fn instant(&mut self, field: &str, value: &Instant) -> Option<DateTime<Utc>> {
        let parsed = match value {
            Instant::Unset => {
                self.add(field, "is required");
                return None;
            }
            Instant::Unix { seconds, nanos } => (0..1_000_000_000)
                .contains(nanos)
                .then(|| DateTime::from_timestamp(*seconds, (*nanos / 1000 * 1000) as u32))
                .flatten(),
            Instant::Text(text) => DateTime::parse_from_rfc3339(text.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc))
                .and_then(|t| {
                    DateTime::from_timestamp(t.timestamp(), t.timestamp_subsec_micros() * 1000)
                }),
        }
        .filter(|t| t.timestamp() >= EARLIEST);
        if parsed.is_none() {
            self.add(field, "must be a valid time after 2000-01-01");
        }
        parsed
    }

    /// A time not after `now` (give or take the clock skew).
    pub fn past_time(&mut self, field: &str, value: DateTime<Utc>, now: DateTime<Utc>) {
        if value > now + CLOCK_SKEW {
            self.add(field, "must not be in the future");
        }
    }

    /// An optional calendar day.
    pub fn day(&mut self, field: &str, value: &Day) -> Option<NaiveDate> {
        let parsed = match value {
            Day::Unset
            | Day::Ymd {
                year: 0,
                month: 0,
                day: 0,
            } => return None,
            Day::Ymd { year, month, day } => (*month > 0 && *day > 0)
                .then(|| NaiveDate::from_ymd_opt(*year, *month as u32, *day as u32))
                .flatten(),
            Day::Text(text) if text.trim().is_empty() => return None,
            Day::Text(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok(),
        }
        .filter(|d| {
            use chrono::Datelike;
            (1900..=9999).contains(&d.year())
        });
        if parsed.is_none() {
            self.add(field, "must be a full valid date");
        }
        parsed
    }

    /// A required calendar day.
    pub fn required_day(&mut self, field: &str, value: &Day) -> Option<NaiveDate> {
        let before = self.0.len();
        let parsed = self.day(field, value);
        if parsed.is_none() && self.0.len() == before {
            self.add(field, "is required");
        }
        parsed
    }

    /// ISO 639-1 languages, each once.
    pub fn languages(&mut self, field: &str, values: &[String], max: usize) -> Vec<String> {
        let out = self.list(field, values, max, |v, f, s| v.language(f, s));
        self.distinct(field, values);
        out
    }

    /// Country codes, each once.
    pub fn countries(&mut self, field: &str, values: &[String], max: usize) -> Vec<String> {
        let out = self.list(field, values, max, |v, f, s| v.country_code(f, s));
        self.distinct(field, values);
        out
    }

    /// Identifiers, each once.
    pub fn identifiers(&mut self, field: &str, values: &[String], max: usize) -> Vec<String> {
        let out = self.list(field, values, max, |v, f, s| v.identifier(f, s));
        self.distinct(field, values);
        out
    }

    /// A list of codes without repetitions.
    pub fn distinct<T: PartialEq>(&mut self, field: &str, values: &[T]) {
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                self.add(format!("{field}[{i}]"), "repeats an earlier item");
            }
        }
    }
}

impl std::fmt::Display for Violations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bounds_and_control_characters() {
        let mut v = Violations::new();
        v.text("a", "", 1..=5);
        v.text("b", "abcdef", 1..=5);
        v.text("c", "a\0b", 1..=5);
        v.text("d", "ok\n", 1..=5);
        let fields: Vec<_> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c"]);
    }

    #[test]
    fn codes() {
        let mut v = Violations::new();
        v.country_code("c1", "MD");
        v.country_code("c2", "md");
        v.language("l1", "ro");
        v.language("l2", "RO");
        v.identifier("i1", "md-csirt_1.a");
        v.identifier("i2", "no spaces");
        let fields: Vec<_> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["c2", "l2", "i2"]);
    }
}
