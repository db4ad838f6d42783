//! The registry: countries with their conditions, requesting organisations and
//! providers.

use chrono::{Months, NaiveDate};

use super::codes::{Clearance, CountryKind, OrganisationKind, ProviderStatus, ServiceType};
use super::validation::Violations;

/// Shortest cap on support per request a Council act may set (Art. 19(4)).
pub const MIN_SUPPORT_DAYS_CAP: u32 = 75;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouncilAct {
    pub reference: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub max_support_days: Option<u32>,
    /// The day it is repealed from, if it is (in force until the day before).
    pub repealed_on: Option<NaiveDate>,
}

impl CouncilAct {
    /// Art. 19(4): an act authorises support for at most one year, and a cap
    /// on support per request is no shorter than 75 days.
    pub fn check(&self, field: &str, violations: &mut Violations) {
        if self.valid_until < self.valid_from {
            violations.add(
                format!("{field}.valid_until"),
                "must not be before valid_from",
            );
        } else if self
            .valid_from
            .checked_add_months(Months::new(12))
            .is_none_or(|year| self.valid_until >= year)
        {
            // A year from 1 March runs to the last day of February.
            violations.add(
                format!("{field}.valid_until"),
                "must be within one year of valid_from (Art. 19(4))",
            );
        }
        if let Some(repealed) = self.repealed_on
            && repealed <= self.valid_from
        {
            violations.add(format!("{field}.repeal_date"), "must be after valid_from");
        }
        if let Some(days) = self.max_support_days
            && !(MIN_SUPPORT_DAYS_CAP..=366).contains(&days)
        {
            violations.add(
                format!("{field}.max_support_days"),
                format!("must be 0 (no cap) or {MIN_SUPPORT_DAYS_CAP} to 366 days"),
            );
        }
    }

    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && day <= self.last_day()
    }

    /// The last day it is in force: its `valid_until`, or the day before
    /// its repeal.
    pub fn last_day(&self) -> NaiveDate {
        match self.repealed_on.and_then(|r| r.pred_opt()) {
            Some(before) if before < self.valid_until => before,
            _ => self.valid_until,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country {
    pub code: String,
    pub display_name: String,
    pub kind: CountryKind,
    pub required_languages: Vec<String>,
    pub required_clearance: Clearance,
    pub required_certifications: Vec<String>,
    pub association_date: Option<NaiveDate>,
    pub reserve_coverage_from: Option<NaiveDate>,
    pub council_acts: Vec<CouncilAct>,
    pub single_point_of_contact: Option<String>,
    pub capability_info_received: Option<NaiveDate>,
    pub capability_info_updated: Option<NaiveDate>,
    pub specific_conditions: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: String,
    pub display_name: String,
    pub kind: OrganisationKind,
    pub country: String,
    pub single_point_of_contact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub id: String,
    pub display_name: String,
    pub country: String,
    pub status: ProviderStatus,
    pub services: Vec<ServiceType>,
    pub languages: Vec<String>,
    pub deployable_countries: Vec<String>,
    pub clearance: Clearance,
    pub certifications: Vec<String>,
    pub hours_to_deploy: u32,
    pub conflict_organisations: Vec<String>,
    pub conflict_countries: Vec<String>,
}

/// The registry as a command's checks read it (a country named must be
/// registered, a provider planned must exist).
pub trait Lookup {
    fn country(&self, code: &str) -> Option<&Country>;
    fn organisation(&self, id: &str) -> Option<&Organisation>;
    fn provider(&self, id: &str) -> Option<&Provider>;
}

/// A registry in which every country and every provider is registered (as
/// a placeholder record): for checking a command's fields alone, as the
/// fuzzing harness and the property tests do.
pub struct AnyRegistered;

impl Lookup for AnyRegistered {
    fn country(&self, _: &str) -> Option<&Country> {
        static ANY: std::sync::OnceLock<Country> = std::sync::OnceLock::new();
        Some(ANY.get_or_init(|| Country {
            code: "ZZ".into(),
            display_name: "Any country".into(),
            kind: CountryKind::ThirdCountry,
            required_languages: vec![],
            required_clearance: Clearance::None,
            required_certifications: vec![],
            association_date: None,
            reserve_coverage_from: None,
            council_acts: vec![],
            single_point_of_contact: None,
            capability_info_received: None,
            capability_info_updated: None,
            specific_conditions: None,
        }))
    }

    fn organisation(&self, _: &str) -> Option<&Organisation> {
        None
    }

    fn provider(&self, _: &str) -> Option<&Provider> {
        static ANY: std::sync::OnceLock<Provider> = std::sync::OnceLock::new();
        Some(ANY.get_or_init(|| Provider {
            id: "any".into(),
            display_name: "Any provider".into(),
            country: "ZZ".into(),
            status: ProviderStatus::Active,
            services: ServiceType::ALL.to_vec(),
            languages: vec![],
            deployable_countries: vec![],
            clearance: Clearance::None,
            certifications: vec![],
            hours_to_deploy: 1,
            conflict_organisations: vec![],
            conflict_countries: vec![],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(from: &str, until: &str, cap: Option<u32>) -> CouncilAct {
        CouncilAct {
            reference: "(EU) 2025/1458".into(),
            valid_from: from.parse().unwrap(),
            valid_until: until.parse().unwrap(),
            max_support_days: cap,
            repealed_on: None,
        }
    }

    #[test]
    fn council_act_at_most_one_year() {
        let mut v = Violations::new();
        act("2025-07-14", "2026-07-13", Some(75)).check("a", &mut v);
        act("2024-03-01", "2025-02-28", None).check("a", &mut v);
        assert!(v.is_empty(), "{v}");
        // 366 days: a day more than a year.
        act("2025-07-14", "2026-07-14", None).check("b", &mut v);
        act("2025-07-14", "2025-07-13", None).check("c", &mut v);
        act("2025-07-14", "2026-01-01", Some(74)).check("d", &mut v);
        let fields: Vec<_> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(
            fields,
            ["b.valid_until", "c.valid_until", "d.max_support_days"]
        );
    }

    #[test]
    fn in_force_includes_both_ends() {
        let a = act("2025-07-14", "2026-07-13", None);
        assert!(!a.in_force_on("2025-07-13".parse().unwrap()));
        assert!(a.in_force_on("2025-07-14".parse().unwrap()));
        assert!(a.in_force_on("2026-07-13".parse().unwrap()));
        assert!(!a.in_force_on("2026-07-14".parse().unwrap()));
    }
}
