//! Matching: for a granted service line, the providers that may serve it,
//! ranked by a documented score with the reasons for it. Pure: it works on an
//! in-memory view of the registry and the capacity ledger.

use std::cmp::Ordering;

use super::codes::{Clearance, ProviderStatus, ServiceType};
use super::registry::{Country, Provider};

/// A provider with what the ledger says of it for one service today.
#[derive(Debug, Clone)]
pub struct Pool {
    pub provider: Provider,
    /// Person-days committed for the service in periods covering today.
    pub committed: u32,
    /// Free person-days of its most available single commitment (a hold
    /// must fit in one).
    pub free: u32,
    /// Past offers accepted, and past offers answered (accepted, declined, expired).
    pub accepted: u32,
    pub answered: u32,
}

/// What a line needs.
#[derive(Debug, Clone)]
pub struct Demand<'a> {
    pub service: ServiceType,
    pub person_days: u32,
    pub languages: &'a [String],
    pub clearance: Clearance,
    pub country: &'a Country,
    pub organisation: &'a str,
}

impl<'a> Demand<'a> {
    /// What granted line `line` of `request` asks of a provider.
    pub fn of_line(
        request: &'a super::request::SupportRequest,
        line: usize,
        country: &'a Country,
    ) -> Demand<'a> {
        let l = &request.granted_lines[line];
        Demand {
            service: l.service,
            person_days: l.person_days,
            languages: &l.languages,
            clearance: l.clearance,
            country,
            organisation: &request.organisation,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub provider: String,
    pub display_name: String,
    pub score: f64,
    pub free: u32,
    /// Person-days this candidate would take on.
    pub person_days: u32,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Proposal {
    /// Providers able to take the whole line, best first.
    pub candidates: Vec<Candidate>,
    /// When none can: a split across providers, best first, covering the line.
    pub split: Vec<Candidate>,
}

/// Why a provider may not serve the demand at all (before capacity).
pub fn excluded(p: &Provider, d: &Demand<'_>) -> Option<String> {
    let country = d.country;
    let needed = d.clearance.max(country.required_clearance);
    if p.status != ProviderStatus::Active {
        Some(format!("{} is {}", p.id, p.status))
    } else if !p.services.contains(&d.service) {
        Some(format!("{} is not qualified for {}", p.id, d.service))
    } else if !p.deployable_countries.contains(&country.code) {
        Some(format!("{} may not deploy to {}", p.id, country.code))
    } else if !country.required_languages.is_empty()
        && !country
            .required_languages
            .iter()
            .any(|l| p.languages.contains(l))
    {
        Some(format!(
            "{} speaks none of {}'s required languages ({})",
            p.id,
            country.code,
            country.required_languages.join(", ")
        ))
    } else if p.clearance < needed {
        Some(format!("{} lacks {} clearance", p.id, needed))
    } else if let Some(missing) = country
        .required_certifications
        .iter()
        .find(|c| !p.certifications.contains(c))
    {
        Some(format!("{} lacks the certification {missing}", p.id))
    } else if p.conflict_organisations.iter().any(|o| o == d.organisation) {
        Some(format!(
            "{} declared a conflict of interest with {}",
            p.id, d.organisation
        ))
    } else if p.conflict_countries.contains(&country.code) {
        Some(format!(
            "{} declared a conflict of interest with {}",
            p.id, country.code
        ))
    } else {
        None
    }
}

/// Whether `excluded(p, d)` is `None`, without putting the reason into
/// words: matching asks it of every provider in the registry. The checks are
/// the same, cheapest first (fields of the provider, then its short lists,
/// then the list of countries it may deploy to, the longest).
fn admissible(p: &Provider, d: &Demand<'_>) -> bool {
    let country = d.country;
    p.status == ProviderStatus::Active
        && p.services.contains(&d.service)
        && p.clearance >= d.clearance.max(country.required_clearance)
        && (country.required_languages.is_empty()
            || country
                .required_languages
                .iter()
                .any(|l| p.languages.contains(l)))
        && country
            .required_certifications
            .iter()
            .all(|c| p.certifications.contains(c))
        && !p.conflict_organisations.iter().any(|o| o == d.organisation)
        && !p.conflict_countries.contains(&country.code)
        && p.deployable_countries.contains(&country.code)
}

/// The degree (0 to 1) of each part of the score.
struct Parts {
    /// Languages asked that the provider speaks.
    spoken: usize,
    language: f64,
    deploy: f64,
    capacity: f64,
    acceptance: f64,
}

impl Parts {
    fn of(entry: &Pool, d: &Demand<'_>) -> Parts {
        let p = &entry.provider;
        let spoken = d
            .languages
            .iter()
            .filter(|l| p.languages.contains(l))
            .count();
        Parts {
            spoken,
            language: if d.languages.is_empty() {
                1.0
            } else {
                spoken as f64 / d.languages.len() as f64
            },
            deploy: 1.0 - (p.hours_to_deploy.min(72) as f64 / 72.0),
            capacity: if entry.committed == 0 {
                0.0
            } else {
                entry.free as f64 / entry.committed as f64
            },
            acceptance: if entry.answered == 0 {
                0.5
            } else {
                entry.accepted as f64 / entry.answered as f64
            },
        }
    }

    fn total(&self) -> f64 {
        let total = 30.0 * self.language
            + 25.0 * self.deploy
            + 25.0 * self.capacity
            + 20.0 * self.acceptance;
        (total * 100.0).round() / 100.0
    }
}

/// The score, out of 100, with its reasons:
/// - language fit, 30: the share of the line's languages the provider speaks
///   (all of it when the line names none);
/// - hours to deploy, 25: linearly from 0 hours (25) to 72 hours or more (0);
/// - capacity left, 25: the share of the committed person-days still free;
/// - past acceptance, 20: accepted over answered offers (half marks with no history).
pub fn score(entry: &Pool, d: &Demand<'_>) -> (f64, Vec<String>) {
    let parts = Parts::of(entry, d);
    (parts.total(), reasons(entry, d, &parts))
}

fn reasons(entry: &Pool, d: &Demand<'_>, parts: &Parts) -> Vec<String> {
    let p = &entry.provider;
    let language = if d.languages.is_empty() {
        "no language asked".to_owned()
    } else if parts.spoken == 0 {
        format!("speaks 0 of {} languages asked", d.languages.len())
    } else {
        let spoken: Vec<&str> = d
            .languages
            .iter()
            .filter(|l| p.languages.contains(l))
            .map(String::as_str)
            .collect();
        format!(
            "speaks {} of {} languages asked ({})",
            parts.spoken,
            d.languages.len(),
            spoken.join(", ")
        )
    };
    vec![
        language,
        format!("deploys in {} h", p.hours_to_deploy),
        format!(
            "{} of {} committed person-days free ({:.0}%)",
            entry.free,
            entry.committed,
            parts.capacity * 100.0
        ),
        if entry.answered == 0 {
            "no past offers".to_owned()
        } else {
            format!(
                "accepted {} of {} past offers",
                entry.accepted, entry.answered
            )
        },
    ]
}

/// A provider able to serve the line, before it is put into words.
struct Able<'p> {
    entry: &'p Pool,
    parts: Parts,
    score: f64,
}

impl Able<'_> {
    fn candidate(&self, d: &Demand<'_>, person_days: u32) -> Candidate {
        let p = &self.entry.provider;
        Candidate {
            provider: p.id.clone(),
            display_name: p.display_name.clone(),
            score: self.score,
            free: self.entry.free,
            person_days,
            reasons: reasons(self.entry, d, &self.parts),
        }
    }
}

/// Higher score first, then more free capacity, then the provider id, so
/// that the order never depends on the order of the input.
fn rank(a: &Able<'_>, b: &Able<'_>) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then(b.entry.free.cmp(&a.entry.free))
        .then(a.entry.provider.id.cmp(&b.entry.provider.id))
}

/// Ranks the pool for a demand. Every provider is filtered and scored, but
/// only those in the proposal are put into words (ids, names, reasons): in a
/// registry of thousands, most are excluded and most of the rest are cut.
pub fn propose(d: &Demand<'_>, pool: &[Pool]) -> Proposal {
    let mut able: Vec<Able<'_>> = pool
        .iter()
        .filter(|e| e.free > 0 && admissible(&e.provider, d))
        .map(|entry| {
            let parts = Parts::of(entry, d);
            Able {
                entry,
                score: parts.total(),
                parts,
            }
        })
        .collect();
    able.sort_by(rank);
    let candidates: Vec<Candidate> = able
        .iter()
        .filter(|a| a.entry.free >= d.person_days)
        .map(|a| a.candidate(d, d.person_days))
        .collect();
    let mut split = Vec::new();
    if candidates.is_empty() && able.iter().map(|a| a.entry.free).sum::<u32>() >= d.person_days {
        let mut left = d.person_days;
        for a in &able {
            if left == 0 {
                break;
            }
            let take = a.entry.free.min(left);
            left -= take;
            split.push(a.candidate(d, take));
        }
    }
    Proposal { candidates, split }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::codes::CountryKind;

    fn moldova() -> Country {
        Country {
            code: "MD".into(),
            display_name: "Moldova".into(),
            kind: CountryKind::ThirdCountry,
            required_languages: vec!["ro".into()],
            required_clearance: Clearance::None,
            required_certifications: vec![],
            association_date: None,
            reserve_coverage_from: None,
            council_acts: vec![],
            single_point_of_contact: None,
            capability_info_received: None,
            capability_info_updated: None,
            specific_conditions: None,
        }
    }

    fn provider(id: &str, hours: u32) -> Provider {
        Provider {
            id: id.into(),
            display_name: id.into(),
            country: "RO".into(),
            status: ProviderStatus::Active,
            services: vec![ServiceType::IncidentResponse],
            languages: vec!["ro".into(), "en".into()],
            deployable_countries: vec!["MD".into()],
            clearance: Clearance::RestreintUe,
            certifications: vec![],
            hours_to_deploy: hours,
            conflict_organisations: vec![],
            conflict_countries: vec![],
        }
    }

    fn pool(p: Provider, free: u32) -> Pool {
        Pool {
            provider: p,
            committed: 20,
            free,
            accepted: 0,
            answered: 0,
        }
    }

    fn demand<'a>(country: &'a Country, languages: &'a [String], days: u32) -> Demand<'a> {
        Demand {
            service: ServiceType::IncidentResponse,
            person_days: days,
            languages,
            clearance: Clearance::None,
            country,
            organisation: "md-spoc",
        }
    }

    #[test]
    fn hard_filters_exclude_with_a_reason() {
        let md = moldova();
        let d = demand(&md, &[], 5);
        let mut suspended = provider("a", 8);
        suspended.status = ProviderStatus::Suspended;
        let mut conflicted = provider("b", 8);
        conflicted.conflict_organisations = vec!["md-spoc".into()];
        let mut mute = provider("c", 8);
        mute.languages = vec!["fr".into()];
        let mut elsewhere = provider("d", 8);
        elsewhere.deployable_countries = vec!["RO".into()];
        let mut uncleared = provider("e", 8);
        uncleared.clearance = Clearance::None;
        let secret = Demand {
            clearance: Clearance::SecretUe,
            ..d.clone()
        };
        assert!(excluded(&suspended, &d).unwrap().contains("SUSPENDED"));
        assert!(excluded(&conflicted, &d).unwrap().contains("conflict"));
        assert!(excluded(&mute, &d).unwrap().contains("languages"));
        assert!(excluded(&elsewhere, &d).unwrap().contains("deploy"));
        assert!(excluded(&uncleared, &secret).unwrap().contains("clearance"));
        assert_eq!(excluded(&provider("f", 8), &d), None);
    }

    #[test]
    fn ranking_is_deterministic_and_explained() {
        let md = moldova();
        let langs = vec!["ro".to_owned()];
        let d = demand(&md, &langs, 5);
        let entries = vec![
            pool(provider("slow", 60), 20),
            pool(provider("fast", 4), 20),
            pool(provider("twin", 4), 20),
        ];
        let mut reversed = entries.clone();
        reversed.reverse();
        let a = propose(&d, &entries);
        let b = propose(&d, &reversed);
        assert_eq!(a, b);
        let order: Vec<_> = a.candidates.iter().map(|c| c.provider.as_str()).collect();
        assert_eq!(
            order,
            ["fast", "twin", "slow"],
            "equal scores fall back to the id"
        );
        assert!(
            a.candidates[0]
                .reasons
                .iter()
                .any(|r| r == "deploys in 4 h")
        );
        assert!(
            a.candidates[2]
                .reasons
                .iter()
                .any(|r| r == "deploys in 60 h")
        );
    }

    #[test]
    fn a_line_no_one_can_cover_alone_is_split() {
        let md = moldova();
        let d = demand(&md, &[], 12);
        let proposal = propose(&d, &[pool(provider("a", 4), 8), pool(provider("b", 8), 6)]);
        assert!(proposal.candidates.is_empty());
        let split: Vec<_> = proposal
            .split
            .iter()
            .map(|c| (c.provider.as_str(), c.person_days))
            .collect();
        assert_eq!(split, [("a", 8), ("b", 4)]);
        let short = propose(&demand(&md, &[], 20), &[pool(provider("a", 4), 8)]);
        assert!(
            short.split.is_empty(),
            "no split that cannot cover the line"
        );
    }

    /// `propose` as it was first written: every provider put into words,
    /// then ranked. The faster `propose` must give the same proposal.
    fn propose_in_words(d: &Demand<'_>, pool: &[Pool]) -> Proposal {
        let mut able: Vec<Candidate> = pool
            .iter()
            .filter(|e| e.free > 0 && excluded(&e.provider, d).is_none())
            .map(|e| {
                let (score, reasons) = score(e, d);
                Candidate {
                    provider: e.provider.id.clone(),
                    display_name: e.provider.display_name.clone(),
                    score,
                    free: e.free,
                    person_days: d.person_days.min(e.free),
                    reasons,
                }
            })
            .collect();
        able.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.free.cmp(&a.free))
                .then(a.provider.cmp(&b.provider))
        });
        let candidates: Vec<Candidate> = able
            .iter()
            .filter(|c| c.free >= d.person_days)
            .cloned()
            .collect();
        let mut split = Vec::new();
        if candidates.is_empty() && able.iter().map(|c| c.free).sum::<u32>() >= d.person_days {
            let mut left = d.person_days;
            for c in able {
                if left == 0 {
                    break;
                }
                let take = c.free.min(left);
                left -= take;
                split.push(Candidate {
                    person_days: take,
                    ..c
                });
            }
        }
        Proposal { candidates, split }
    }

    fn arbitrary_entry() -> impl Strategy<Value = Pool> {
        (
            (
                0usize..40,
                any::<bool>(),
                prop::sample::subsequence(ServiceType::ALL.to_vec(), 0..=3),
                prop::sample::subsequence(vec!["ro", "en", "fr", "uk"], 0..=3),
                prop::sample::subsequence(vec!["MD", "RO", "UA"], 0..=3),
                prop::sample::select(Clearance::ALL.to_vec()),
                prop::sample::subsequence(vec!["ISO-27001", "EUCC"], 0..=2),
                0u32..100,
            ),
            (
                any::<bool>(),
                any::<bool>(),
                0u32..40,
                0u32..40,
                0u32..20,
                0u32..20,
            ),
        )
            .prop_map(
                |(
                    (id, active, services, languages, countries, clearance, certs, hours),
                    (conflict_org, conflict_country, committed, free, accepted, answered),
                )| {
                    let strings = |v: Vec<&str>| v.into_iter().map(String::from).collect();
                    Pool {
                        provider: Provider {
                            id: format!("p{id:02}"),
                            display_name: format!("Provider {id}"),
                            country: "RO".into(),
                            status: if active {
                                ProviderStatus::Active
                            } else {
                                ProviderStatus::Suspended
                            },
                            services,
                            languages: strings(languages),
                            deployable_countries: strings(countries),
                            clearance,
                            certifications: strings(certs),
                            hours_to_deploy: hours,
                            conflict_organisations: if conflict_org {
                                vec!["md-spoc".into()]
                            } else {
                                vec![]
                            },
                            conflict_countries: if conflict_country {
                                vec!["MD".into()]
                            } else {
                                vec![]
                            },
                        },
                        committed: committed.max(free),
                        free,
                        accepted: accepted.min(answered),
                        answered,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn admissible_is_not_excluded(
            entry in arbitrary_entry(),
            languages in prop::sample::subsequence(vec!["ro", "en"], 0..=2),
            clearance in prop::sample::select(Clearance::ALL.to_vec()),
            certifications in prop::sample::subsequence(vec!["ISO-27001", "EUCC"], 0..=2),
        ) {
            let mut md = moldova();
            md.required_languages = languages.into_iter().map(String::from).collect();
            md.required_certifications = certifications.into_iter().map(String::from).collect();
            let d = Demand {
                clearance,
                ..demand(&md, &[], 5)
            };
            prop_assert_eq!(admissible(&entry.provider, &d), excluded(&entry.provider, &d).is_none());
        }

        #[test]
        fn the_proposal_is_the_one_put_into_words(
            pool in prop::collection::vec(arbitrary_entry(), 0..30),
            languages in prop::sample::subsequence(vec!["ro", "en", "fr"], 0..=3),
            clearance in prop::sample::select(Clearance::ALL.to_vec()),
            certifications in prop::sample::subsequence(vec!["ISO-27001", "EUCC"], 0..=2),
            days in 1u32..40,
        ) {
            let mut md = moldova();
            md.required_certifications = certifications.into_iter().map(String::from).collect();
            let languages: Vec<String> = languages.into_iter().map(String::from).collect();
            let d = Demand {
                clearance,
                ..demand(&md, &languages, days)
            };
            prop_assert_eq!(propose(&d, &pool), propose_in_words(&d, &pool));
        }
    }
}
