//! Commands: the input of every use case that changes something, parsed in
//! one place for every front door (the gRPC API, the web console, and any
//! door added later).
//!
//! A door converts what it received into a command's raw `…Fields` (texts,
//! and the plain types of `validation`: a code, a count, a time, a day, each
//! as a wire message or a form can express it) and calls the command's one
//! constructor. The constructor checks everything: required fields, lengths,
//! ranges, lists, and the checks that need the clock or the registry, and
//! answers with the command or with every violation found, each naming its
//! field as the API does (`support_request.title`,
//! `granted_lines[0].person_days`). A command cannot be built any other way
//! (each has a private field), and the use cases take only commands, so
//! nothing unchecked reaches them.
//!
//! Some commands are checked against the state they change: an edit against
//! the record it merges into, an authorisation against the lines asked and
//! the Council act in force, a plan against the granted lines and the
//! candidates. Their constructors take that state, and the use case that
//! loads it, in its transaction, calls the constructor the door hands it, so
//! that those checks join the same list and judge the state the change is
//! written over.
//!
//! Layout: `request` (create, edit, withdraw, the summary report),
//! `decision` (authorise, reject, ask for information), `dispatch` (the
//! plan, declining, the agreement, completion), `registry` (countries,
//! organisations, providers, capacity commitments), `preparedness`
//! (conversions of unused capacity, the usage reports' transmission).

pub mod decision;
pub mod dispatch;
pub mod preparedness;
pub mod registry;
pub mod request;

use super::validation::Violations;

/// The mark every command carries: its type is private to this module, so
/// that a command cannot be written out anywhere else, only parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed;

/// A record that passed its constructor's checks; only the constructors of
/// this module make one.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T>(T);

impl<T> Checked<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Checked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// An update as a door received it: the record's fields, its name among
/// them, and the paths of the update mask (top-level field names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateFields<F> {
    pub record: Option<F>,
    pub update_mask: Vec<String>,
}

impl<F> UpdateFields<F> {
    /// The record's fields, or a violation naming `field` as required.
    fn record(&self, v: &mut Violations, field: &str) -> Option<&F> {
        if self.record.is_none() {
            v.add(field, "is required");
        }
        self.record.as_ref()
    }
}

/// An empty mask names nothing to update.
fn require_mask(v: &mut Violations, paths: &[String]) {
    if paths.is_empty() {
        v.add("update_mask", "must name at least one field");
    }
}

/// Copies the fields named by `paths` from `$src` into `$dst`; an unknown
/// path is a violation of `update_mask`.
macro_rules! copy_masked {
    ($dst:expr, $src:expr, $paths:expr, $violations:expr, [$($field:ident),+ $(,)?]) => {
        for path in $paths {
            match path.as_str() {
                $(stringify!($field) => $dst.$field = $src.$field.clone(),)+
                other => $violations.add(
                    "update_mask",
                    format!("`{other}` is not a field that can be updated"),
                ),
            }
        }
    };
}
use copy_masked;

/// `Ok(value)` when `v` is empty; `value` is built only then, from parts
/// that are all present whenever nothing was found wrong.
fn finish<T>(v: Violations, value: impl FnOnce() -> Option<T>) -> Result<T, Violations> {
    v.finish(())?;
    Ok(value().expect("a missing part is always a violation"))
}

#[cfg(test)]
mod tests;
