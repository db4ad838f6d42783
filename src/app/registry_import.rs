//! Importing a registry file: each record created when missing, or updated
//! in the fields the file sets that differ, all in one transaction, so a
//! file is taken whole or not at all (and `validate_only` takes nothing).
//! The audit trail holds one event per record changed, as if each had been
//! sent on its own.

use std::collections::{BTreeSet, HashMap};

use super::registry::{recorded, unknown_country};
use super::{App, AppError, AppResult, capacity, dispatch, kernel, require};
use crate::domain::actor::{Actor, Operation};
use crate::domain::codes::{ProviderStatus, ServiceType};
use crate::domain::command::registry::{
    COMMITMENT_IMPORTED, COUNTRY_UPDATABLE, Imported, ORGANISATION_UPDATABLE, PROVIDER_UPDATABLE,
    RegistryImport, placed_in_file,
};
use crate::domain::command::{Checked, UpdateFields};
use crate::domain::dispatch::CapacityCommitment;
use crate::domain::names;
use crate::domain::registry::{Country, Lookup, Organisation, Provider};
use crate::domain::validation::Violations;
use crate::store::{self, Txn};

/// What an import did to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// One record of the file, as imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its resource name (`countries/MD`).
    pub resource: String,
    pub outcome: Outcome,
    /// The fields updated.
    pub fields: Vec<String>,
}

/// The registry as the import's checks read it: the records the file has
/// written so far over the registry as it was.
struct Written<'a> {
    before: &'a store::registry::Snapshot,
    countries: HashMap<String, Country>,
    organisations: HashMap<String, Organisation>,
    providers: HashMap<String, Provider>,
}

impl Lookup for Written<'_> {
    fn country(&self, code: &str) -> Option<&Country> {
        self.countries
            .get(code)
            .or_else(|| self.before.country(code))
    }

    fn organisation(&self, id: &str) -> Option<&Organisation> {
        self.organisations
            .get(id)
            .or_else(|| self.before.organisation(id))
    }

    fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id).or_else(|| self.before.provider(id))
    }
}

/// The fields of `set` an update may change whose value differs from
/// `current`, and the record with them. A field differs unless merging it
/// alone gives the record as stored (a value that cannot be merged alone is
/// not the stored one: that would give the stored record, which is valid).
fn differing<T: PartialEq>(
    set: &[String],
    updatable: &[&str],
    current: &T,
    merge: impl Fn(Vec<String>) -> Result<Checked<T>, Violations>,
) -> Result<Option<(Vec<String>, T)>, Violations> {
    let changed: Vec<String> = set
        .iter()
        .filter(|f| updatable.contains(&f.as_str()))
        .filter(|f| !merge(vec![(*f).clone()]).is_ok_and(|alone| alone.into_inner() == *current))
        .cloned()
        .collect();
    if changed.is_empty() {
        return Ok(None);
    }
    let next = merge(changed.clone())?.into_inner();
    Ok(Some((changed, next)))
}

/// A refusal of one record, named where it is in the file.
fn at(record: &str, entry_at: &str, err: AppError) -> AppError {
    match err {
        AppError::Invalid(v) => AppError::Invalid(placed_in_file(v, record, entry_at)),
        AppError::FailedPrecondition(m) => AppError::FailedPrecondition(format!("{entry_at}: {m}")),
        AppError::AlreadyExists(m) => AppError::AlreadyExists(format!("{entry_at}: {m}")),
        other => other,
    }
}

fn update_fields<F: Clone>(entry: &Imported<F>, mask: Vec<String>) -> UpdateFields<F> {
    UpdateFields {
        record: Some(entry.record.clone()),
        update_mask: mask,
    }
}

/// Imports `file`; with `validate_only`, checks it all and changes nothing.
#[tracing::instrument(name = "registry.import", skip_all, fields(records = file.len()))]
pub async fn import(
    app: &App,
    actor: &Actor,
    file: &RegistryImport,
    validate_only: bool,
) -> AppResult<Vec<Change>> {
    require(actor, Operation::WriteRegistry)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    // One import at a time: each reads what exists before it creates, and
    // the registry its checks read is the one as of the lock (an import
    // that waited finds the records of the one before it).
    store::registry::lock_version(&txn).await?;
    let before = app.registry_now().await?;
    let mut written = Written {
        before: before.as_ref(),
        countries: HashMap::new(),
        organisations: HashMap::new(),
        providers: HashMap::new(),
    };
    let mut changes = Vec::with_capacity(file.len());
    let mut rematch: BTreeSet<ServiceType> = BTreeSet::new();
    for entry in &file.countries {
        let change = country(&txn, app, actor, entry, now, &mut written)
            .await
            .map_err(|e| at("country", &entry.at, e))?;
        changes.push(change);
    }
    for entry in &file.organisations {
        let change = organisation(&txn, actor, entry, now, &mut written)
            .await
            .map_err(unknown_country)
            .map_err(|e| at("organisation", &entry.at, e))?;
        changes.push(change);
    }
    for entry in &file.providers {
        let change = provider(&txn, actor, entry, now, &mut written, &mut rematch)
            .await
            .map_err(|e| at("provider", &entry.at, e))?;
        changes.push(change);
    }
    for entry in &file.commitments {
        let change = commitment(&txn, app, actor, entry, now, &written, &mut rematch)
            .await
            .map_err(|e| at("capacity_commitment", &entry.at, e))?;
        changes.push(change);
    }
    if validate_only {
        // Dropped: rolled back.
        return Ok(changes);
    }
    if changes.iter().any(|c| c.outcome != Outcome::Unchanged) {
        store::registry::bump_version(&txn);
    }
    txn.commit().await?;
    dispatch::rematch_after(app, rematch).await;
    Ok(changes)
}

/// A record created meanwhile by another door (the import read it missing).
fn exists(err: sea_orm::DbErr, resource: &str) -> AppError {
    AppError::unique_as_exists(err, || format!("{resource} already exists"))
}

fn unchanged(resource: String) -> Change {
    Change {
        resource,
        outcome: Outcome::Unchanged,
        fields: vec![],
    }
}

async fn country(
    txn: &Txn,
    app: &App,
    actor: &Actor,
    entry: &Imported<crate::domain::command::registry::CountryFields>,
    now: chrono::DateTime<chrono::Utc>,
    written: &mut Written<'_>,
) -> AppResult<Change> {
    let resource = names::country(&entry.record.code);
    let Some(current) = store::registry::get_country(txn, &entry.record.code).await? else {
        let created = Country::parse(Some(&entry.record))?.into_inner();
        store::registry::save_country(txn, &created, now, true)
            .await
            .map_err(|e| exists(e, &resource))?;
        recorded(txn, actor, now, "CreateCountry", resource.clone());
        written.countries.insert(created.code.clone(), created);
        return Ok(Change {
            resource,
            outcome: Outcome::Created,
            fields: vec![],
        });
    };
    let Some((fields, next)) = differing(&entry.set, COUNTRY_UPDATABLE, &current, |mask| {
        Country::parse_update(&update_fields(entry, mask), &current)
    })?
    else {
        return Ok(unchanged(resource));
    };
    store::registry::save_country(txn, &next, now, false).await?;
    dispatch::follow_council_acts(txn, app, actor, &next, now).await?;
    recorded(txn, actor, now, "UpdateCountry", resource.clone());
    written.countries.insert(next.code.clone(), next);
    Ok(Change {
        resource,
        outcome: Outcome::Updated,
        fields,
    })
}

async fn organisation(
    txn: &Txn,
    actor: &Actor,
    entry: &Imported<crate::domain::command::registry::OrganisationFields>,
    now: chrono::DateTime<chrono::Utc>,
    written: &mut Written<'_>,
) -> AppResult<Change> {
    let resource = names::organisation(&entry.record.id);
    let Some(current) = store::registry::get_organisation(txn, &entry.record.id).await? else {
        let created = Organisation::parse(Some(&entry.record), &*written)?.into_inner();
        store::registry::save_organisation(txn, &created, now, true)
            .await
            .map_err(|e| exists(e, &resource))?;
        recorded(txn, actor, now, "CreateOrganisation", resource.clone());
        written.organisations.insert(created.id.clone(), created);
        return Ok(Change {
            resource,
            outcome: Outcome::Created,
            fields: vec![],
        });
    };
    let Some((fields, next)) = differing(&entry.set, ORGANISATION_UPDATABLE, &current, |mask| {
        Organisation::parse_update(&update_fields(entry, mask), &current, &*written)
    })?
    else {
        return Ok(unchanged(resource));
    };
    store::registry::save_organisation(txn, &next, now, false).await?;
    recorded(txn, actor, now, "UpdateOrganisation", resource.clone());
    written.organisations.insert(next.id.clone(), next);
    Ok(Change {
        resource,
        outcome: Outcome::Updated,
        fields,
    })
}

async fn provider(
    txn: &Txn,
    actor: &Actor,
    entry: &Imported<crate::domain::command::registry::ProviderFields>,
    now: chrono::DateTime<chrono::Utc>,
    written: &mut Written<'_>,
    rematch: &mut BTreeSet<ServiceType>,
) -> AppResult<Change> {
    let resource = names::provider(&entry.record.id);
    let Some(current) = store::registry::get_provider(txn, &entry.record.id).await? else {
        let created = Provider::parse(Some(&entry.record))?.into_inner();
        store::registry::save_provider(txn, &created, now, true)
            .await
            .map_err(|e| exists(e, &resource))?;
        recorded(txn, actor, now, "CreateProvider", resource.clone());
        written.providers.insert(created.id.clone(), created);
        return Ok(Change {
            resource,
            outcome: Outcome::Created,
            fields: vec![],
        });
    };
    let Some((fields, next)) = differing(&entry.set, PROVIDER_UPDATABLE, &current, |mask| {
        Provider::parse_update(&update_fields(entry, mask), &current)
    })?
    else {
        return Ok(unchanged(resource));
    };
    store::registry::save_provider(txn, &next, now, false).await?;
    recorded(txn, actor, now, "UpdateProvider", resource.clone());
    // As `registry::update_provider`: an active provider may take lines
    // that wait for capacity.
    if next.status == ProviderStatus::Active {
        rematch.extend(next.services.iter().copied());
    }
    written.providers.insert(next.id.clone(), next);
    Ok(Change {
        resource,
        outcome: Outcome::Updated,
        fields,
    })
}

/// A commitment is the file's when it has the same provider, service and
/// period; only its size is then updated.
async fn commitment(
    txn: &Txn,
    app: &App,
    actor: &Actor,
    entry: &Imported<crate::domain::command::registry::CommitmentFields>,
    now: chrono::DateTime<chrono::Utc>,
    written: &Written<'_>,
    rematch: &mut BTreeSet<ServiceType>,
) -> AppResult<Change> {
    let incoming = CapacityCommitment::parse(Some(&entry.record), written)?.into_inner();
    let found = store::dispatch::lock_commitment_for_period(
        txn,
        &incoming.provider,
        incoming.service,
        incoming.period_start,
        incoming.period_end,
    )
    .await?;
    let Some(current) = found else {
        let created = capacity::insert(txn, app, actor, incoming, now).await?;
        rematch.insert(created.service);
        return Ok(Change {
            resource: capacity::commitment_name(&created),
            outcome: Outcome::Created,
            fields: vec![],
        });
    };
    let resource = capacity::commitment_name(&current);
    let Some((fields, next)) = differing(&entry.set, COMMITMENT_IMPORTED, &current, |mask| {
        CapacityCommitment::parse_update(&update_fields(entry, mask), &current)
    })?
    else {
        return Ok(unchanged(resource));
    };
    let next = capacity::resize(txn, app, actor, &current, next, now).await?;
    rematch.insert(next.service);
    Ok(Change {
        resource,
        outcome: Outcome::Updated,
        fields,
    })
}
