//! Field-level checks shared by every conversion from the wire. A conversion
//! collects every violation it finds, so that a client learns all that is
//! wrong with its input at once, each named by its field path.

use std::ops::RangeInclusive;

use chrono::{DateTime, Duration, Utc};

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
        if len < *chars.start() {
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

    /// A number within `range`.
    pub fn number(&mut self, field: &str, value: u32, range: RangeInclusive<u32>) -> u32 {
        if !range.contains(&value) {
            self.add(
                field,
                format!("must be between {} and {}", range.start(), range.end()),
            );
        }
        value
    }

    /// A time not after `now` (give or take the clock skew).
    pub fn past_time(&mut self, field: &str, value: DateTime<Utc>, now: DateTime<Utc>) {
        if value > now + CLOCK_SKEW {
            self.add(field, "must not be in the future");
        }
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
