//! A form the service refused, sent back: what the person typed, and each
//! refusal of the API placed next to the input it names, in the API's own
//! words (the field path and its description, as a gRPC client reads them in
//! the `google.rpc.BadRequest`).

use super::session::Posted;
use crate::domain::validation::Violations;

/// One refusal, placed.
#[derive(Debug, Clone)]
pub struct FieldError {
    /// The form's input it belongs to; empty for the form as a whole.
    pub input: String,
    /// The id of the element to jump to from the summary.
    pub anchor: String,
    /// The API's field path (`granted_lines[0].person_days`).
    pub field: String,
    pub description: String,
}

/// A form as sent back; the default is a form not sent.
#[derive(Debug, Clone, Default)]
pub struct Form {
    values: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl Form {
    /// `posted`, refused with `violations`; `place` names the input and the
    /// element id of a field path, when the form has one for it, and
    /// `anchor` is where the refusals of the form as a whole point.
    pub fn refused(
        posted: &Posted,
        violations: &Violations,
        anchor: &str,
        place: impl Fn(&str) -> Option<(String, String)>,
    ) -> Form {
        Form {
            values: posted.fields.clone(),
            errors: violations
                .iter()
                .map(|v| {
                    let (input, anchor) =
                        place(&v.field).unwrap_or_else(|| (String::new(), anchor.to_owned()));
                    FieldError {
                        input,
                        anchor,
                        field: v.field.clone(),
                        description: v.description.clone(),
                    }
                })
                .collect(),
        }
    }

    /// What was typed in `input`, or `default` when the form was not sent.
    pub fn value<'a>(&'a self, input: &str, default: &'a str) -> &'a str {
        self.typed(input).unwrap_or(default)
    }

    pub fn typed(&self, input: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == input)
            .map(|(_, v)| v.as_str())
    }

    /// Every value typed in `input` (checkboxes).
    pub fn all(&self, input: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(k, _)| k == input)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn sent(&self) -> bool {
        !self.values.is_empty()
    }

    /// The refusals next to `input`.
    pub fn errors(&self, input: &str) -> Vec<&FieldError> {
        self.errors.iter().filter(|e| e.input == input).collect()
    }

    /// Every refusal, for the summary at the top of the form.
    pub fn summary(&self) -> &[FieldError] {
        &self.errors
    }
}

/// A refusal of a form with rows (the request's, a country's), placed by
/// the form's own `input_of` next to the input it names, or at the top.
pub struct Refusal {
    pub input: String,
    pub field: String,
    pub description: String,
}

/// Every refusal of `violations`, placed.
pub fn placed(violations: Option<&Violations>, input_of: fn(&str) -> String) -> Vec<Refusal> {
    violations
        .map(|v| {
            v.iter()
                .map(|r| Refusal {
                    input: input_of(&r.field),
                    field: r.field.clone(),
                    description: r.description.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}
