//! Queries: what a read asks for (a page, a filter, a period), parsed here
//! once for every door, as commands are in `command`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};

use super::audit::AuditEvent;
use super::request::RequestState;
use super::usage::UsageView;
use super::validation::{Choice, Day, Instant, Violations};

/// A page request: how many, and where the previous page ended.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub size: u64,
    pub after: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u64 = 25;
pub const MAX_PAGE_SIZE: u64 = 100;

impl PageRequest {
    /// Parses `page_size` (0: the default; above the maximum: the maximum)
    /// and the opaque `page_token` of an earlier page.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, Violations> {
        let mut violations = Violations::new();
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => {
                violations.add("page_size", "must not be negative");
                0
            }
            n => (n as u64).min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            match URL_SAFE_NO_PAD
                .decode(page_token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("v1:").map(str::to_owned))
                .filter(|after| {
                    // Every key this service pages on is a short identifier.
                    !after.is_empty()
                        && after.len() <= 64
                        && after
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                }) {
                Some(after) => Some(after),
                None => {
                    violations.add("page_token", "is not a token this service issued");
                    None
                }
            }
        };
        violations.finish(PageRequest { size, after })
    }

    /// The token for the page after the one ending at `last`, when the page
    /// was full (there may be more).
    pub fn next_token(&self, returned: usize, last: Option<&str>) -> String {
        match last {
            Some(last) if returned as u64 == self.size => {
                URL_SAFE_NO_PAD.encode(format!("v1:{last}"))
            }
            _ => String::new(),
        }
    }
}

/// ListUnusedCapacity: the commitments ended on or before a day (unset:
/// today).
pub fn ended_by(day: &Day) -> Result<Option<NaiveDate>, Violations> {
    let mut v = Violations::new();
    let day = v.day("ended_on_or_before", day);
    v.finish(day)
}

/// A list's state filter: unset lists every state.
pub fn state_filter(state: &Choice<RequestState>) -> Result<Option<RequestState>, Violations> {
    match state {
        Choice::Unset => Ok(None),
        Choice::Known(state) => Ok(Some(*state)),
        Choice::Unknown(_) => Err(Violations::one("state", "is not a request state")),
    }
}

/// ListEvents' filter: one resource's events, or every event (empty).
pub fn resource_filter(resource: &str) -> Result<Option<String>, Violations> {
    if resource.is_empty() {
        return Ok(None);
    }
    let mut v = Violations::new();
    let resource = v.text("resource", resource, 1..=200);
    v.finish(Some(resource))
}

/// What a watcher follows: events after a sequence, of one resource or
/// action when given.
#[derive(Debug, Clone, Default)]
pub struct WatchFilter {
    pub after: i64,
    pub resource: Option<String>,
    pub action: Option<String>,
}

impl WatchFilter {
    pub fn parse(after: i64, resource: &str, action: &str) -> Result<WatchFilter, Violations> {
        let mut v = Violations::new();
        if after < 0 {
            v.add("after_sequence", "must not be negative");
        }
        let resource = v.text("resource", resource, 0..=200);
        let action = v.text("action", action, 0..=100);
        v.finish(WatchFilter {
            after,
            resource: (!resource.is_empty()).then_some(resource),
            action: (!action.is_empty()).then_some(action),
        })
    }

    pub fn admits(&self, event: &AuditEvent) -> bool {
        self.resource.as_ref().is_none_or(|r| *r == event.resource)
            && self.action.as_ref().is_none_or(|a| *a == event.action)
    }
}

/// Where a verification of the chain starts: after a sequence, from a
/// checkpoint's hash when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub after: i64,
    pub hash: Option<String>,
}

impl Checkpoint {
    pub fn parse(after: i64, hash: &str) -> Result<Checkpoint, Violations> {
        let mut v = Violations::new();
        if after < 0 {
            v.add("after_sequence", "must not be negative");
        }
        let hash = match hash {
            "" => None,
            hash if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(hash.to_owned())
            }
            _ => {
                v.add("checkpoint_hash", "must be 64 hexadecimal digits");
                None
            }
        };
        v.finish(Checkpoint { after, hash })
    }
}

/// A usage report's audience and period `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePeriod {
    pub view: UsageView,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl UsagePeriod {
    pub fn parse(
        view: &Choice<UsageView>,
        period_start: &Instant,
        period_end: &Instant,
    ) -> Result<UsagePeriod, Violations> {
        let mut v = Violations::new();
        let from = v.instant("period_start", period_start);
        let to = v.instant("period_end", period_end);
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            v.add("period_end", "must be after period_start");
        }
        let view = match view {
            Choice::Known(view) => Some(*view),
            _ => {
                v.add("view", "is required");
                None
            }
        };
        v.finish(())?;
        Ok(UsagePeriod {
            view: view.expect("checked"),
            from: from.expect("checked"),
            to: to.expect("checked"),
        })
    }
}

/// A tree size a caller names: none (0) for the latest checkpoint's.
pub fn tree_size(field: &str, size: i64) -> Result<Option<u64>, Violations> {
    match size {
        0 => Ok(None),
        1.. => Ok(Some(size as u64)),
        _ => Err(Violations::one(field, "must not be negative")),
    }
}

/// An inclusion proof asked for: the event's sequence and the tree.
pub fn inclusion(sequence: i64, size: i64) -> Result<(i64, Option<u64>), Violations> {
    let mut v = Violations::new();
    if sequence < 1 {
        v.add("sequence", "must be at least 1");
    }
    let size = tree_size("tree_size", size).unwrap_or_else(|e| {
        v.extend(e);
        None
    });
    v.finish((sequence, size))
}

/// A consistency proof asked for: from the tree of `first` events to the
/// one of `second` (the latest checkpoint's when none).
pub fn consistency(first: i64, second: i64) -> Result<(u64, Option<u64>), Violations> {
    let mut v = Violations::new();
    if first < 1 {
        v.add("first_tree_size", "must be at least 1");
    }
    let second = tree_size("second_tree_size", second).unwrap_or_else(|e| {
        v.extend(e);
        None
    });
    if let Some(second) = second
        && first as u64 > second
    {
        v.add("first_tree_size", "must not exceed second_tree_size");
    }
    v.finish((first.max(0) as u64, second))
}
