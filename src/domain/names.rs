//! Resource names, in the style of Google's API design guide: each
//! collection is spelt here once, and an id read from a caller is checked
//! here once, whichever door it came through.
//!
//! ```text
//! supportRequests/{id}   offers/{id}   countries/{code}   organisations/{id}
//! providers/{id}         providers/{provider}/capacityCommitments/{number}
//! conversions/{id}       usageReports/{id}
//! ```

use super::validation::Violations;

pub const SUPPORT_REQUESTS: &str = "supportRequests";
pub const OFFERS: &str = "offers";
pub const COUNTRIES: &str = "countries";
pub const ORGANISATIONS: &str = "organisations";
pub const PROVIDERS: &str = "providers";
pub const CONVERSIONS: &str = "conversions";
pub const USAGE_REPORTS: &str = "usageReports";
const CAPACITY_COMMITMENTS: &str = "capacityCommitments";

/// Whether `id` may be the last segment of a name: 1 to 64 ASCII letters,
/// digits, `-`, `_` and `.`.
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

macro_rules! resource_id {
    ($(#[$meta:meta])* $name:ident = $collection:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// From a name such as `collection/{id}`.
            pub fn parse_name(v: &mut Violations, field: &str, name: &str) -> Option<Self> {
                match name
                    .strip_prefix($collection)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .filter(|id| is_id(id))
                {
                    Some(id) => Some(Self(id.to_owned())),
                    None => {
                        v.add(
                            field,
                            format!("must be a resource name `{}/{{id}}`", $collection),
                        );
                        None
                    }
                }
            }

            /// From an id alone (a path of the console, a stored row).
            pub fn parse_id(v: &mut Violations, field: &str, id: &str) -> Option<Self> {
                Self::parse_name(v, field, &format!("{}/{id}", $collection))
            }

            /// Its name alone, or its violation.
            pub fn from_name(field: &str, name: &str) -> Result<Self, Violations> {
                let mut v = Violations::new();
                let id = Self::parse_name(&mut v, field, name);
                v.finish(id).map(|id| id.expect("checked"))
            }

            /// Its id alone, or its violation.
            pub fn from_id(field: &str, id: &str) -> Result<Self, Violations> {
                let mut v = Violations::new();
                let id = Self::parse_id(&mut v, field, id);
                v.finish(id).map(|id| id.expect("checked"))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn name(&self) -> String {
                format!("{}/{}", $collection, self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

resource_id!(
    /// `supportRequests/{id}`.
    RequestId = SUPPORT_REQUESTS
);
resource_id!(
    /// `offers/{id}`.
    OfferId = OFFERS
);
resource_id!(
    /// `countries/{code}`.
    CountryCode = COUNTRIES
);
resource_id!(
    /// `organisations/{id}`.
    OrganisationId = ORGANISATIONS
);
resource_id!(
    /// `providers/{id}`.
    ProviderId = PROVIDERS
);
resource_id!(
    /// `conversions/{id}`.
    ConversionId = CONVERSIONS
);
resource_id!(
    /// `usageReports/{id}`.
    UsageReportId = USAGE_REPORTS
);

/// `providers/{provider}/capacityCommitments/{number}`: the number alone
/// identifies the commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitmentId(pub i32);

impl CommitmentId {
    pub fn parse_name(v: &mut Violations, field: &str, name: &str) -> Option<Self> {
        let parsed = name
            .split_once(&format!("/{CAPACITY_COMMITMENTS}/"))
            .filter(|(provider, _)| {
                provider
                    .strip_prefix(PROVIDERS)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(is_id)
            })
            .and_then(|(_, id)| id.parse::<i32>().ok());
        if parsed.is_none() {
            v.add(
                field,
                format!(
                    "must be a resource name `{PROVIDERS}/{{provider}}/{CAPACITY_COMMITMENTS}/{{id}}`"
                ),
            );
        }
        parsed.map(CommitmentId)
    }

    pub fn from_name(field: &str, name: &str) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let id = Self::parse_name(&mut v, field, name);
        v.finish(id).map(|id| id.expect("checked"))
    }
}

pub fn support_request(id: &str) -> String {
    format!("{SUPPORT_REQUESTS}/{id}")
}

pub fn offer(id: &str) -> String {
    format!("{OFFERS}/{id}")
}

pub fn conversion(id: &str) -> String {
    format!("{CONVERSIONS}/{id}")
}

pub fn usage_report(id: &str) -> String {
    format!("{USAGE_REPORTS}/{id}")
}

pub fn country(code: &str) -> String {
    format!("{COUNTRIES}/{code}")
}

pub fn organisation(id: &str) -> String {
    format!("{ORGANISATIONS}/{id}")
}

pub fn provider(id: &str) -> String {
    format!("{PROVIDERS}/{id}")
}

pub fn capacity_commitment(provider_id: &str, number: i32) -> String {
    format!("{PROVIDERS}/{provider_id}/{CAPACITY_COMMITMENTS}/{number}")
}

/// A provider named by `providers/{id}` or by its id alone (plans and
/// commitments accept both): its id, checked.
pub fn provider_id(v: &mut Violations, field: &str, name_or_id: &str) -> String {
    let id = name_or_id
        .strip_prefix(PROVIDERS)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(name_or_id);
    v.identifier(field, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        let mut v = Violations::new();
        assert_eq!(
            RequestId::parse_name(&mut v, "name", "supportRequests/abc-1")
                .unwrap()
                .name(),
            "supportRequests/abc-1"
        );
        assert!(RequestId::parse_name(&mut v, "a", "requests/1").is_none());
        assert!(RequestId::parse_name(&mut v, "b", "supportRequests/").is_none());
        assert!(RequestId::parse_id(&mut v, "c", "has space").is_none());
        assert_eq!(
            CommitmentId::parse_name(&mut v, "d", "providers/x/capacityCommitments/7"),
            Some(CommitmentId(7))
        );
        assert!(
            CommitmentId::parse_name(&mut v, "e", "providers//capacityCommitments/7").is_none()
        );
        let fields: Vec<_> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c", "e"]);
    }
}
