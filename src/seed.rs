//! The demo registry (`reserve seed --demo`, `reserve serve --seed-demo`).
//!
//! DEMO DATA, not an authoritative list: the Member States with one CSIRT each
//! as single point of contact, CERT-EU (registered under the code `EU`),
//! Moldova with its Council act and yearly renewals labelled as demo data up to
//! the day of loading, Ukraine
//! associated to the Digital Europe Programme but with no Council act, and a
//! few fictitious providers. Loading is idempotent: existing records are kept.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::app::{App, AppResult, registry};
use crate::domain::actor::Actor;
use crate::domain::codes::{Clearance, CountryKind, OrganisationKind, ProviderStatus, ServiceType};
use crate::domain::registry::{CouncilAct, Country, Organisation, Provider};
use crate::store;

/// (code, name, official language) of the Member States.
const MEMBER_STATES: [(&str, &str, &str); 27] = [
    ("AT", "Austria", "de"),
    ("BE", "Belgium", "nl"),
    ("BG", "Bulgaria", "bg"),
    ("CY", "Cyprus", "el"),
    ("CZ", "Czechia", "cs"),
    ("DE", "Germany", "de"),
    ("DK", "Denmark", "da"),
    ("EE", "Estonia", "et"),
    ("ES", "Spain", "es"),
    ("FI", "Finland", "fi"),
    ("FR", "France", "fr"),
    ("GR", "Greece", "el"),
    ("HR", "Croatia", "hr"),
    ("HU", "Hungary", "hu"),
    ("IE", "Ireland", "en"),
    ("IT", "Italy", "it"),
    ("LT", "Lithuania", "lt"),
    ("LU", "Luxembourg", "fr"),
    ("LV", "Latvia", "lv"),
    ("MT", "Malta", "en"),
    ("NL", "Netherlands", "nl"),
    ("PL", "Poland", "pl"),
    ("PT", "Portugal", "pt"),
    ("RO", "Romania", "ro"),
    ("SE", "Sweden", "sv"),
    ("SI", "Slovenia", "sl"),
    ("SK", "Slovakia", "sk"),
];

fn day(s: &str) -> NaiveDate {
    s.parse().expect("demo dates are valid")
}

fn member_state(code: &str, name: &str, language: &str) -> Country {
    Country {
        code: code.into(),
        display_name: name.into(),
        kind: CountryKind::MemberState,
        // The national language and English, once each (Ireland, Malta).
        required_languages: if language == "en" {
            vec!["en".into()]
        } else {
            vec![language.into(), "en".into()]
        },
        required_clearance: Clearance::None,
        required_certifications: vec![],
        association_date: None,
        reserve_coverage_from: None,
        council_acts: vec![],
        single_point_of_contact: Some(format!("{}-csirt", code.to_lowercase())),
        capability_info_received: None,
        capability_info_updated: None,
        specific_conditions: None,
    }
}

/// Council Implementing Decision (EU) 2025/1458 for Moldova, its dates and
/// cap demo values (not checked against the Official Journal), then yearly
/// renewals, labelled as demo data, until one covers `today`.
fn moldova_acts(today: NaiveDate) -> Vec<CouncilAct> {
    let mut acts = vec![CouncilAct {
        reference: "Council Implementing Decision (EU) 2025/1458 (DEMO DATA: dates and cap not \
                    verified)"
            .into(),
        valid_from: day("2025-07-14"),
        valid_until: day("2026-07-13"),
        max_support_days: Some(90),
        repealed_on: None,
    }];
    while let Some(last) = acts.last().filter(|a| a.valid_until < today) {
        let valid_from = last.valid_until + Days::new(1);
        acts.push(CouncilAct {
            reference: format!(
                "DEMO DATA: renewal of (EU) 2025/1458 from {valid_from}, not a real act"
            ),
            valid_from,
            valid_until: valid_from + Months::new(12) - Days::new(1),
            max_support_days: Some(90),
            repealed_on: None,
        });
    }
    acts
}

/// The demo countries, with Moldova's acts and information current on `today`.
pub fn countries(today: NaiveDate) -> Vec<Country> {
    let mut all: Vec<Country> = MEMBER_STATES
        .iter()
        .map(|(code, name, lang)| member_state(code, name, lang))
        .collect();
    all.push(Country {
        code: "EU".into(),
        display_name: "Union institutions, bodies, offices and agencies".into(),
        single_point_of_contact: Some("cert-eu".into()),
        required_languages: vec!["en".into(), "fr".into()],
        ..member_state("EU", "", "en")
    });
    all.push(Country {
        code: "MD".into(),
        display_name: "Republic of Moldova".into(),
        kind: CountryKind::ThirdCountry,
        required_languages: vec!["ro".into()],
        required_clearance: Clearance::None,
        required_certifications: vec![],
        association_date: Some(day("2024-01-01")),
        reserve_coverage_from: Some(day("2025-05-20")),
        council_acts: moldova_acts(today),
        single_point_of_contact: Some("md-spoc".into()),
        capability_info_received: Some(day("2025-06-02")),
        // Updated "this year", whenever the demo is loaded.
        capability_info_updated: Some(
            NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("1 January exists"),
        ),
        specific_conditions: None,
    });
    all.push(Country {
        code: "UA".into(),
        display_name: "Ukraine".into(),
        kind: CountryKind::ThirdCountry,
        required_languages: vec!["uk".into()],
        required_clearance: Clearance::None,
        required_certifications: vec![],
        association_date: Some(day("2023-01-01")),
        reserve_coverage_from: Some(day("2025-05-20")),
        council_acts: vec![],
        single_point_of_contact: Some("ua-cert".into()),
        capability_info_received: None,
        capability_info_updated: None,
        specific_conditions: None,
    });
    all
}

pub fn organisations() -> Vec<Organisation> {
    let mut all: Vec<Organisation> = MEMBER_STATES
        .iter()
        .map(|(code, name, _)| Organisation {
            id: format!("{}-csirt", code.to_lowercase()),
            display_name: format!("National CSIRT of {name} (demo)"),
            kind: OrganisationKind::MsCsirt,
            country: (*code).into(),
            single_point_of_contact: true,
        })
        .collect();
    let org = |id: &str, name: &str, kind, country: &str, spoc| Organisation {
        id: id.into(),
        display_name: name.into(),
        kind,
        country: country.into(),
        single_point_of_contact: spoc,
    };
    all.extend([
        org(
            "ro-dnsc",
            "Romanian crisis authority (demo)",
            OrganisationKind::MsCrisisAuthority,
            "RO",
            false,
        ),
        org("cert-eu", "CERT-EU", OrganisationKind::CertEu, "EU", true),
        org(
            "md-spoc",
            "Moldova single point of contact (demo)",
            OrganisationKind::TcAuthority,
            "MD",
            true,
        ),
        org(
            "md-csirt",
            "A Moldovan sectoral CSIRT (demo)",
            OrganisationKind::TcCsirt,
            "MD",
            false,
        ),
        org(
            "ua-cert",
            "Ukrainian CERT (demo)",
            OrganisationKind::TcCsirt,
            "UA",
            true,
        ),
    ]);
    all
}

pub fn providers() -> Vec<Provider> {
    let eu: Vec<String> = MEMBER_STATES
        .iter()
        .map(|(c, _, _)| (*c).to_owned())
        .collect();
    let with = |extra: &[&str]| -> Vec<String> {
        eu.iter()
            .cloned()
            .chain(extra.iter().map(|s| (*s).to_owned()))
            .collect()
    };
    let list = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        Provider {
            id: "nordic-ir".into(),
            display_name: "Nordic Incident Response Oy (demo)".into(),
            country: "FI".into(),
            status: ProviderStatus::Active,
            services: vec![
                ServiceType::IncidentResponse,
                ServiceType::DigitalForensics,
                ServiceType::ThreatHunting,
            ],
            languages: list(&["en", "fi", "sv", "ro"]),
            deployable_countries: with(&["EU", "MD"]),
            clearance: Clearance::SecretUe,
            certifications: list(&["ISO 27001"]),
            hours_to_deploy: 12,
            conflict_organisations: vec![],
            conflict_countries: vec![],
        },
        Provider {
            id: "danube-cyber".into(),
            display_name: "Danube Cyber Defence SRL (demo)".into(),
            country: "RO".into(),
            status: ProviderStatus::Active,
            services: vec![
                ServiceType::IncidentResponse,
                ServiceType::RecoverySupport,
                ServiceType::CrisisCoordination,
            ],
            languages: list(&["ro", "en", "fr"]),
            deployable_countries: list(&["RO", "BG", "HU", "MD"]),
            clearance: Clearance::RestreintUe,
            certifications: list(&["ISO 27001"]),
            hours_to_deploy: 8,
            conflict_organisations: list(&["ua-cert"]),
            conflict_countries: vec![],
        },
        Provider {
            id: "iberia-forensics".into(),
            display_name: "Iberia Forensics SL (demo)".into(),
            country: "ES".into(),
            status: ProviderStatus::Active,
            services: vec![ServiceType::DigitalForensics, ServiceType::MalwareAnalysis],
            languages: list(&["es", "pt", "en"]),
            deployable_countries: list(&["ES", "PT", "FR"]),
            clearance: Clearance::ConfidentielUe,
            certifications: vec![],
            hours_to_deploy: 48,
            conflict_organisations: vec![],
            conflict_countries: vec![],
        },
        Provider {
            id: "baltic-shield".into(),
            display_name: "Baltic Shield AS (demo, suspended)".into(),
            country: "EE".into(),
            status: ProviderStatus::Suspended,
            services: vec![ServiceType::IncidentResponse, ServiceType::MalwareAnalysis],
            languages: list(&["et", "en", "ro"]),
            deployable_countries: with(&["MD"]),
            clearance: Clearance::RestreintUe,
            certifications: vec![],
            hours_to_deploy: 24,
            conflict_organisations: vec![],
            conflict_countries: vec![],
        },
    ]
}

/// Loads the demo registry, keeping what is already there; each record is
/// checked as an administrator's would be.
pub async fn demo(app: &App) -> AppResult<()> {
    let actor = Actor::service("seed");
    let mut created = 0;
    for country in countries(app.now().date_naive()) {
        if store::registry::get_country(&app.db, &country.code)
            .await?
            .is_none()
        {
            let country = Country::parse(Some(&country.to_fields()))?;
            registry::create_country(app, &actor, country).await?;
            created += 1;
        }
    }
    // The countries are all in: one read of the registry checks every
    // organisation's (each creation moves its version, and would have it
    // read again).
    let registered = app.registry_now().await?;
    for organisation in organisations() {
        if store::registry::get_organisation(&app.db, &organisation.id)
            .await?
            .is_none()
        {
            let organisation =
                Organisation::parse(Some(&organisation.to_fields()), registered.as_ref())?;
            registry::create_organisation(app, &actor, organisation).await?;
            created += 1;
        }
    }
    for provider in providers() {
        if store::registry::get_provider(&app.db, &provider.id)
            .await?
            .is_none()
        {
            let provider = Provider::parse(Some(&provider.to_fields()))?;
            registry::create_provider(app, &actor, provider).await?;
            created += 1;
        }
    }
    tracing::info!(created, "demo registry loaded");
    Ok(())
}

/// Person-days each demo provider commits for each of its services.
pub const DEMO_PERSON_DAYS: u32 = 60;

/// Demo capacity, for a first run that can dispatch at once (`serve --dev
/// --seed-demo`): each demo provider without any commitment commits
/// [`DEMO_PERSON_DAYS`] for each of its services over the current calendar
/// year. Demo data like the registry it goes with; an import replaces
/// nothing of it.
pub async fn demo_capacity(app: &App) -> AppResult<()> {
    use chrono::Datelike;
    let actor = Actor::service("seed");
    let year = app.now().year();
    let registry = app.registry_now().await?;
    let mut created = 0;
    for provider in providers() {
        let existing =
            store::dispatch::list_commitments(&app.db, Some(&provider.id), None, 1).await?;
        if !existing.is_empty() {
            continue;
        }
        for service in &provider.services {
            let fields = crate::domain::command::registry::CommitmentFields {
                provider: provider.id.clone(),
                service: (*service).into(),
                person_days: DEMO_PERSON_DAYS.into(),
                period_start: chrono::NaiveDate::from_ymd_opt(year, 1, 1)
                    .expect("1 January")
                    .into(),
                period_end: chrono::NaiveDate::from_ymd_opt(year, 12, 31)
                    .expect("31 December")
                    .into(),
                ..Default::default()
            };
            let commitment = crate::domain::dispatch::CapacityCommitment::parse(
                Some(&fields),
                registry.as_ref(),
            )?;
            crate::app::capacity::create(app, &actor, commitment).await?;
            created += 1;
        }
    }
    tracing::info!(created, "demo capacity commitments loaded (demo data)");
    Ok(())
}
