//! Registry commands: countries, organisations, providers and capacity
//! commitments, created whole or updated by a field mask. An update merges
//! the masked fields over the record as stored and checks the whole again.

use super::{Checked, UpdateFields, copy_masked, finish, require_mask};
use crate::domain::codes::{Clearance, CountryKind, OrganisationKind, ProviderStatus, ServiceType};
use crate::domain::dispatch::CapacityCommitment;
use crate::domain::names::{self, CommitmentId, CountryCode, OrganisationId, ProviderId};
use crate::domain::registry::{CouncilAct, Country, Lookup, Organisation, Provider};
use crate::domain::request::limits;
use crate::domain::validation::{Choice, Count, Day, Violations};

/// At most this many Council acts per country, certifications, countries
/// a provider deploys to, conflicts of interest.
pub const COUNCIL_ACTS: usize = 50;
const CERTIFICATIONS: usize = 20;
const COUNTRY_LIST: usize = 60;
const CONFLICT_ORGANISATIONS: usize = 100;
/// Hours a provider may take to deploy.
const HOURS_TO_DEPLOY: std::ops::RangeInclusive<u32> = 1..=720;
/// Person-days of one commitment.
const COMMITTED_DAYS: std::ops::RangeInclusive<u32> = 1..=100_000;

/// The record's message, or a violation naming it as required.
fn required<'a, F>(v: &mut Violations, field: &str, f: Option<&'a F>) -> Option<&'a F> {
    if f.is_none() {
        v.add(field, "is required");
    }
    f
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CouncilActFields {
    pub reference: String,
    pub valid_from: Day,
    pub valid_until: Day,
    /// 0: no cap.
    pub max_support_days: Count,
    /// Unset: not repealed.
    pub repeal_date: Day,
}

/// A country as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountryFields {
    /// `countries/{code}`, for updates.
    pub name: String,
    pub code: String,
    pub display_name: String,
    pub kind: Choice<CountryKind>,
    pub required_languages: Vec<String>,
    pub required_clearance: Choice<Clearance>,
    pub required_certifications: Vec<String>,
    pub association_date: Day,
    pub reserve_coverage_from: Day,
    pub council_acts: Vec<CouncilActFields>,
    pub single_point_of_contact: String,
    pub capability_info_received: Day,
    pub capability_info_updated: Day,
    pub specific_conditions: String,
}

impl Country {
    /// A new country (`country`: None when the message lacks it).
    pub fn parse(f: Option<&CountryFields>) -> Result<Checked<Country>, Violations> {
        let mut v = Violations::new();
        let country = required(&mut v, "country", f).and_then(|f| country(&mut v, f));
        finish(v, || country.map(Checked))
    }

    /// The target of an update (`country.name`).
    pub fn update_target(f: &UpdateFields<CountryFields>) -> Result<CountryCode, Violations> {
        let mut v = Violations::new();
        let code = f
            .record(&mut v, "country")
            .and_then(|c| CountryCode::parse_name(&mut v, "country.name", &c.name));
        finish(v, || code)
    }

    /// `current` with the masked fields of `f`.
    pub fn parse_update(
        f: &UpdateFields<CountryFields>,
        current: &Country,
    ) -> Result<Checked<Country>, Violations> {
        let mut v = Violations::new();
        require_mask(&mut v, &f.update_mask);
        let mut merged = current.to_fields();
        if let Some(incoming) = f.record(&mut v, "country") {
            copy_masked!(
                merged,
                incoming,
                &f.update_mask,
                v,
                [
                    display_name,
                    kind,
                    required_languages,
                    required_clearance,
                    required_certifications,
                    association_date,
                    reserve_coverage_from,
                    council_acts,
                    single_point_of_contact,
                    capability_info_received,
                    capability_info_updated,
                    specific_conditions,
                ]
            );
        }
        let country = country(&mut v, &merged);
        finish(v, || country.map(Checked))
    }

    pub fn to_fields(&self) -> CountryFields {
        CountryFields {
            name: names::country(&self.code),
            code: self.code.clone(),
            display_name: self.display_name.clone(),
            kind: self.kind.into(),
            required_languages: self.required_languages.clone(),
            required_clearance: self.required_clearance.into(),
            required_certifications: self.required_certifications.clone(),
            association_date: self.association_date.into(),
            reserve_coverage_from: self.reserve_coverage_from.into(),
            council_acts: self
                .council_acts
                .iter()
                .map(|a| CouncilActFields {
                    reference: a.reference.clone(),
                    valid_from: a.valid_from.into(),
                    valid_until: a.valid_until.into(),
                    max_support_days: a.max_support_days.unwrap_or(0).into(),
                    repeal_date: a.repealed_on.into(),
                })
                .collect(),
            single_point_of_contact: self.single_point_of_contact.clone().unwrap_or_default(),
            capability_info_received: self.capability_info_received.into(),
            capability_info_updated: self.capability_info_updated.into(),
            specific_conditions: self.specific_conditions.clone().unwrap_or_default(),
        }
    }
}

fn country(v: &mut Violations, f: &CountryFields) -> Option<Country> {
    let code = v.country_code("country.code", &f.code);
    let display_name = v.text("country.display_name", &f.display_name, limits::NAME);
    let kind = v.choice("country.kind", &f.kind);
    let required_languages = v.languages(
        "country.required_languages",
        &f.required_languages,
        limits::LANGUAGES,
    );
    let required_clearance = v.choice("country.required_clearance", &f.required_clearance);
    let required_certifications = v.list(
        "country.required_certifications",
        &f.required_certifications,
        CERTIFICATIONS,
        |v, field, s| v.text(field, s, limits::NAME),
    );
    let association_date = v.day("country.association_date", &f.association_date);
    let reserve_coverage_from = v.day("country.reserve_coverage_from", &f.reserve_coverage_from);
    let council_acts = v.list(
        "country.council_acts",
        &f.council_acts,
        COUNCIL_ACTS,
        |v, field, a| {
            let reference = v.text(&format!("{field}.reference"), &a.reference, limits::NAME);
            let valid_from = v.required_day(&format!("{field}.valid_from"), &a.valid_from);
            let valid_until = v.required_day(&format!("{field}.valid_until"), &a.valid_until);
            let cap = v.count(
                &format!("{field}.max_support_days"),
                &a.max_support_days,
                0..=u32::MAX,
            );
            let repealed_on = v.day(&format!("{field}.repeal_date"), &a.repeal_date);
            let act = CouncilAct {
                reference,
                valid_from: valid_from?,
                valid_until: valid_until?,
                max_support_days: cap.filter(|days| *days > 0),
                repealed_on,
            };
            act.check(field, v);
            Some(act)
        },
    );
    let spoc = v.text(
        "country.single_point_of_contact",
        &f.single_point_of_contact,
        0..=200,
    );
    let capability_info_received = v.day(
        "country.capability_info_received",
        &f.capability_info_received,
    );
    let capability_info_updated = v.day(
        "country.capability_info_updated",
        &f.capability_info_updated,
    );
    let specific_conditions = v.text(
        "country.specific_conditions",
        &f.specific_conditions,
        limits::OPTIONAL_TEXT,
    );
    if kind == Some(CountryKind::MemberState)
        && (!f.council_acts.is_empty() || association_date.is_some())
    {
        v.add(
            "country.kind",
            "a Member State has no association agreement or Council acts",
        );
    }
    Some(Country {
        code,
        display_name,
        kind: kind?,
        required_languages,
        required_clearance: required_clearance?,
        required_certifications,
        association_date,
        reserve_coverage_from,
        council_acts: council_acts.into_iter().collect::<Option<_>>()?,
        single_point_of_contact: (!spoc.is_empty()).then_some(spoc),
        capability_info_received,
        capability_info_updated,
        specific_conditions: (!specific_conditions.is_empty()).then_some(specific_conditions),
    })
}

/// An organisation as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrganisationFields {
    /// `organisations/{id}`, for updates.
    pub name: String,
    pub id: String,
    pub display_name: String,
    pub kind: Choice<OrganisationKind>,
    pub country: String,
}

impl Organisation {
    /// A new organisation, of a registered country.
    pub fn parse(
        f: Option<&OrganisationFields>,
        registry: &dyn Lookup,
    ) -> Result<Checked<Organisation>, Violations> {
        let mut v = Violations::new();
        let organisation =
            required(&mut v, "organisation", f).and_then(|f| organisation(&mut v, f, registry));
        finish(v, || organisation.map(Checked))
    }

    pub fn update_target(
        f: &UpdateFields<OrganisationFields>,
    ) -> Result<OrganisationId, Violations> {
        let mut v = Violations::new();
        let id = f
            .record(&mut v, "organisation")
            .and_then(|o| OrganisationId::parse_name(&mut v, "organisation.name", &o.name));
        finish(v, || id)
    }

    pub fn parse_update(
        f: &UpdateFields<OrganisationFields>,
        current: &Organisation,
        registry: &dyn Lookup,
    ) -> Result<Checked<Organisation>, Violations> {
        let mut v = Violations::new();
        require_mask(&mut v, &f.update_mask);
        let mut merged = current.to_fields();
        if let Some(incoming) = f.record(&mut v, "organisation") {
            copy_masked!(
                merged,
                incoming,
                &f.update_mask,
                v,
                [display_name, kind, country]
            );
        }
        let organisation = organisation(&mut v, &merged, registry);
        finish(v, || organisation.map(Checked))
    }

    pub fn to_fields(&self) -> OrganisationFields {
        OrganisationFields {
            name: names::organisation(&self.id),
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            kind: self.kind.into(),
            country: self.country.clone(),
        }
    }
}

fn organisation(
    v: &mut Violations,
    f: &OrganisationFields,
    registry: &dyn Lookup,
) -> Option<Organisation> {
    let id = v.identifier("organisation.id", &f.id);
    let display_name = v.text("organisation.display_name", &f.display_name, limits::NAME);
    let kind = v.choice("organisation.kind", &f.kind);
    let before = v.iter().count();
    let country = v.country_code("organisation.country", &f.country);
    let registered = registry.country(&country);
    if v.iter().count() == before && registered.is_none() {
        v.add("organisation.country", "names no registered country");
    }
    // Whether it is its country's single point of contact is the
    // country's to say (`Country.single_point_of_contact`).
    let single_point_of_contact = registered
        .and_then(|c| c.single_point_of_contact.as_deref())
        .is_some_and(|spoc| spoc == id);
    Some(Organisation {
        id,
        display_name,
        kind: kind?,
        country,
        single_point_of_contact,
    })
}

/// A provider as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderFields {
    /// `providers/{id}`, for updates.
    pub name: String,
    pub id: String,
    pub display_name: String,
    pub country: String,
    pub status: Choice<ProviderStatus>,
    pub services: Vec<Choice<ServiceType>>,
    pub languages: Vec<String>,
    pub deployable_countries: Vec<String>,
    pub clearance: Choice<Clearance>,
    pub certifications: Vec<String>,
    pub hours_to_deploy: Count,
    pub conflict_organisations: Vec<String>,
    pub conflict_countries: Vec<String>,
}

impl Provider {
    pub fn parse(f: Option<&ProviderFields>) -> Result<Checked<Provider>, Violations> {
        let mut v = Violations::new();
        let provider = required(&mut v, "provider", f).and_then(|f| provider(&mut v, f));
        finish(v, || provider.map(Checked))
    }

    pub fn update_target(f: &UpdateFields<ProviderFields>) -> Result<ProviderId, Violations> {
        let mut v = Violations::new();
        let id = f
            .record(&mut v, "provider")
            .and_then(|p| ProviderId::parse_name(&mut v, "provider.name", &p.name));
        finish(v, || id)
    }

    pub fn parse_update(
        f: &UpdateFields<ProviderFields>,
        current: &Provider,
    ) -> Result<Checked<Provider>, Violations> {
        let mut v = Violations::new();
        require_mask(&mut v, &f.update_mask);
        let mut merged = current.to_fields();
        if let Some(incoming) = f.record(&mut v, "provider") {
            copy_masked!(
                merged,
                incoming,
                &f.update_mask,
                v,
                [
                    display_name,
                    country,
                    status,
                    services,
                    languages,
                    deployable_countries,
                    clearance,
                    certifications,
                    hours_to_deploy,
                    conflict_organisations,
                    conflict_countries,
                ]
            );
        }
        let provider = provider(&mut v, &merged);
        finish(v, || provider.map(Checked))
    }

    pub fn to_fields(&self) -> ProviderFields {
        ProviderFields {
            name: names::provider(&self.id),
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            country: self.country.clone(),
            status: self.status.into(),
            services: self.services.iter().map(|s| (*s).into()).collect(),
            languages: self.languages.clone(),
            deployable_countries: self.deployable_countries.clone(),
            clearance: self.clearance.into(),
            certifications: self.certifications.clone(),
            hours_to_deploy: self.hours_to_deploy.into(),
            conflict_organisations: self.conflict_organisations.clone(),
            conflict_countries: self.conflict_countries.clone(),
        }
    }
}

fn provider(v: &mut Violations, f: &ProviderFields) -> Option<Provider> {
    let id = v.identifier("provider.id", &f.id);
    let display_name = v.text("provider.display_name", &f.display_name, limits::NAME);
    let country = v.country_code("provider.country", &f.country);
    let status = v.choice("provider.status", &f.status);
    let services = v.list(
        "provider.services",
        &f.services,
        ServiceType::ALL.len(),
        |v, field, s| v.choice(field, s),
    );
    v.distinct("provider.services", &f.services);
    if f.services.is_empty() {
        v.add("provider.services", "must name at least one service");
    }
    let languages = v.languages("provider.languages", &f.languages, limits::LANGUAGES);
    let deployable_countries = v.countries(
        "provider.deployable_countries",
        &f.deployable_countries,
        COUNTRY_LIST,
    );
    let clearance = v.choice("provider.clearance", &f.clearance);
    let certifications = v.list(
        "provider.certifications",
        &f.certifications,
        CERTIFICATIONS,
        |v, field, s| v.text(field, s, limits::NAME),
    );
    let hours_to_deploy = v.count(
        "provider.hours_to_deploy",
        &f.hours_to_deploy,
        HOURS_TO_DEPLOY,
    );
    let conflict_organisations = v.identifiers(
        "provider.conflict_organisations",
        &f.conflict_organisations,
        CONFLICT_ORGANISATIONS,
    );
    let conflict_countries = v.countries(
        "provider.conflict_countries",
        &f.conflict_countries,
        COUNTRY_LIST,
    );
    Some(Provider {
        id,
        display_name,
        country,
        status: status?,
        services: services.into_iter().collect::<Option<_>>()?,
        languages,
        deployable_countries,
        clearance: clearance?,
        certifications,
        hours_to_deploy: hours_to_deploy?,
        conflict_organisations,
        conflict_countries,
    })
}

/// A capacity commitment as a door received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitmentFields {
    /// `providers/{provider}/capacityCommitments/{id}`, for updates.
    pub name: String,
    /// `providers/{id}` or the id.
    pub provider: String,
    pub service: Choice<ServiceType>,
    pub person_days: Count,
    pub period_start: Day,
    pub period_end: Day,
}

impl CapacityCommitment {
    /// A new commitment of a registered provider.
    pub fn parse(
        f: Option<&CommitmentFields>,
        registry: &dyn Lookup,
    ) -> Result<Checked<CapacityCommitment>, Violations> {
        let mut v = Violations::new();
        let commitment = required(&mut v, "capacity_commitment", f)
            .and_then(|f| commitment(&mut v, f, Some(registry)));
        finish(v, || commitment.map(Checked))
    }

    pub fn update_target(f: &UpdateFields<CommitmentFields>) -> Result<CommitmentId, Violations> {
        let mut v = Violations::new();
        let id = f
            .record(&mut v, "capacity_commitment")
            .and_then(|c| CommitmentId::parse_name(&mut v, "capacity_commitment.name", &c.name));
        finish(v, || id)
    }

    /// Its size or period changed; never its provider or service.
    pub fn parse_update(
        f: &UpdateFields<CommitmentFields>,
        current: &CapacityCommitment,
    ) -> Result<Checked<CapacityCommitment>, Violations> {
        let mut v = Violations::new();
        require_mask(&mut v, &f.update_mask);
        let mut merged = current.to_fields();
        if let Some(incoming) = f.record(&mut v, "capacity_commitment") {
            copy_masked!(
                merged,
                incoming,
                &f.update_mask,
                v,
                [person_days, period_start, period_end]
            );
        }
        let commitment = commitment(&mut v, &merged, None);
        finish(v, || {
            commitment.map(|c| {
                Checked(CapacityCommitment {
                    id: current.id,
                    held: current.held,
                    consumed: current.consumed,
                    ..c
                })
            })
        })
    }

    pub fn to_fields(&self) -> CommitmentFields {
        CommitmentFields {
            name: names::capacity_commitment(&self.provider, self.id),
            provider: names::provider(&self.provider),
            service: self.service.into(),
            person_days: self.person_days.into(),
            period_start: self.period_start.into(),
            period_end: self.period_end.into(),
        }
    }
}

fn commitment(
    v: &mut Violations,
    f: &CommitmentFields,
    registry: Option<&dyn Lookup>,
) -> Option<CapacityCommitment> {
    let before = v.iter().count();
    let provider = names::provider_id(v, "capacity_commitment.provider", &f.provider);
    if let Some(registry) = registry
        && v.iter().count() == before
        && registry.provider(&provider).is_none()
    {
        v.add(
            "capacity_commitment.provider",
            "names no registered provider",
        );
    }
    let service = v.choice("capacity_commitment.service", &f.service);
    let person_days = v.count(
        "capacity_commitment.person_days",
        &f.person_days,
        COMMITTED_DAYS,
    );
    let start = v.required_day("capacity_commitment.period_start", &f.period_start);
    let end = v.required_day("capacity_commitment.period_end", &f.period_end);
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        v.add(
            "capacity_commitment.period_end",
            "must not be before period_start",
        );
    }
    Some(CapacityCommitment {
        id: 0,
        provider,
        service: service?,
        person_days: person_days?,
        held: 0,
        consumed: 0,
        period_start: start?,
        period_end: end?,
    })
}

/// The fields an update may set, per record (the rest are its identity or
/// output only): what `parse_update` accepts in a mask.
pub const COUNTRY_UPDATABLE: &[&str] = &[
    "display_name",
    "kind",
    "required_languages",
    "required_clearance",
    "required_certifications",
    "association_date",
    "reserve_coverage_from",
    "council_acts",
    "single_point_of_contact",
    "capability_info_received",
    "capability_info_updated",
    "specific_conditions",
];
pub const ORGANISATION_UPDATABLE: &[&str] = &["display_name", "kind", "country"];
pub const PROVIDER_UPDATABLE: &[&str] = &[
    "display_name",
    "country",
    "status",
    "services",
    "languages",
    "deployable_countries",
    "clearance",
    "certifications",
    "hours_to_deploy",
    "conflict_organisations",
    "conflict_countries",
];
/// A commitment is known in a file by its provider, service and period, so
/// an import changes only its size.
pub const COMMITMENT_IMPORTED: &[&str] = &["person_days"];

/// Most records one registry file may hold, all parts together.
pub const IMPORT_RECORDS: usize = 5_000;
/// Largest registry file, in bytes: within the API's default message size
/// (1 MiB, `max_message_bytes`) with room for the request around it, so
/// every door takes the same files.
pub const IMPORT_BYTES: usize = 1_000_000;

/// One record of a registry file as a door read it: where it is in the
/// file (`countries[2]`), its fields, and which of them the file sets (an
/// import updates only those).
#[derive(Debug, Clone, PartialEq)]
pub struct Imported<F> {
    pub at: String,
    pub record: F,
    pub set: Vec<String>,
}

/// A registry file as a door read it: countries first, then organisations
/// (of those countries), providers, and the providers' commitments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryImport {
    pub countries: Vec<Imported<CountryFields>>,
    pub organisations: Vec<Imported<OrganisationFields>>,
    pub providers: Vec<Imported<ProviderFields>>,
    pub commitments: Vec<Imported<CommitmentFields>>,
}

impl RegistryImport {
    pub fn len(&self) -> usize {
        self.countries.len()
            + self.organisations.len()
            + self.providers.len()
            + self.commitments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A file's size and number of records, checked before it is read
    /// (`bytes`) and after (`self`).
    pub fn check_size(bytes: usize, records: usize) -> Result<(), Violations> {
        let mut v = Violations::new();
        if bytes == 0 {
            v.add("document", "is required");
        } else if bytes > IMPORT_BYTES {
            v.add("document", format!("must be at most {IMPORT_BYTES} bytes"));
        } else if records > IMPORT_RECORDS {
            v.add(
                "document",
                format!("must hold at most {IMPORT_RECORDS} records"),
            );
        }
        v.finish(())
    }
}

/// `violations` of one record (`country.council_acts[0].valid_until`)
/// named where the record is in its file (`countries[3].council_acts[0].valid_until`).
pub fn placed_in_file(violations: Violations, record: &str, at: &str) -> Violations {
    let mut placed = Violations::new();
    for v in violations.iter() {
        let rest = match v.field.strip_prefix(record) {
            Some(rest) if rest.is_empty() || rest.starts_with(['.', '[']) => rest.to_owned(),
            _ => format!(".{}", v.field),
        };
        placed.add(format!("{at}{rest}"), v.description.clone());
    }
    placed
}
