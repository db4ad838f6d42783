//! Registry use cases: administrators write, every authenticated role reads.

use sea_orm::DbErr;

use crate::store::Txn;
use serde_json::json;

use super::kernel::{self, Change};
use super::{App, AppError, AppResult, Page, PageRequest, require};
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::command::Checked;
use crate::domain::names::{self, CountryCode, OrganisationId, ProviderId};
use crate::domain::registry::{Country, Organisation, Provider};
use crate::domain::validation::Violations;
use crate::store;

/// Writes one registry record and its audit event in one transaction.
/// `save` returns false when the record to replace does not exist.
async fn write(
    app: &App,
    actor: &Actor,
    action: &str,
    resource: String,
    save: impl AsyncFnOnce(&Txn, chrono::DateTime<chrono::Utc>) -> Result<bool, DbErr>,
) -> AppResult<()> {
    require(actor, Operation::WriteRegistry)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    // Registry writes take the version row first, as an import does, so
    // that neither waits on the other's rows while holding its own.
    store::registry::lock_version(&txn).await?;
    match save(&txn, now).await {
        Ok(true) => {}
        Ok(false) => return Err(AppError::NotFound(format!("{resource} not found"))),
        Err(err) => {
            return Err(AppError::unique_as_exists(err, || {
                format!("{resource} already exists")
            }));
        }
    }
    recorded(&txn, actor, now, action, resource);
    store::registry::bump_version(&txn);
    txn.commit().await?;
    Ok(())
}

/// Reads one registry record, merges the update into it (the door's
/// constructor, given the record as stored) and writes it back (`save`,
/// with what follows from it in the same transaction), in one transaction,
/// so that concurrent updates of different fields do not undo each other.
async fn update<T>(
    app: &App,
    actor: &Actor,
    action: &str,
    resource: String,
    load: impl AsyncFnOnce(&Txn) -> Result<Option<T>, DbErr>,
    merge: impl FnOnce(&T) -> Result<Checked<T>, Violations>,
    save: impl AsyncFnOnce(&Txn, &T, chrono::DateTime<chrono::Utc>) -> AppResult<bool>,
) -> AppResult<T> {
    require(actor, Operation::WriteRegistry)?;
    let now = app.now();
    let txn = kernel::begin(app).await?;
    store::registry::lock_version(&txn).await?;
    let current = load(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("{resource} not found")))?;
    let next = merge(&current)?.into_inner();
    if !save(&txn, &next, now).await? {
        return Err(AppError::NotFound(format!("{resource} not found")));
    }
    recorded(&txn, actor, now, action, resource);
    store::registry::bump_version(&txn);
    txn.commit().await?;
    Ok(next)
}

/// The audit event of one registry write.
pub(crate) fn recorded(
    txn: &Txn,
    actor: &Actor,
    now: chrono::DateTime<chrono::Utc>,
    action: &str,
    resource: String,
) {
    kernel::record(
        txn,
        actor,
        now,
        Change {
            action,
            resource,
            from: "",
            to: "",
            payload: json!({}),
        },
    );
}

fn readers(actor: &Actor) -> AppResult<()> {
    // Every role may read countries: requesters need their country's
    // conditions, providers where they may deploy.
    require(actor, Operation::ReadRegistry)
}

/// An organisation's country is a foreign key: one that went away since
/// the update was checked is refused as the check would have.
pub(crate) fn unknown_country(err: AppError) -> AppError {
    match err {
        AppError::Database(db)
            if matches!(
                db.sql_err(),
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
            ) =>
        {
            AppError::invalid("organisation.country", "names no registered country")
        }
        other => other,
    }
}

/// Officers, administrators and auditors read every organisation and
/// provider; a requester only its own organisation, a provider only its own
/// record (conflicts of interest and clearances are not for competitors).
fn reads_all(actor: &Actor) -> bool {
    matches!(
        actor.role,
        Role::DutyOfficer | Role::Commission | Role::Admin | Role::Auditor
    )
}

fn own_record(actor: &Actor, role: Role, id: &str) -> bool {
    reads_all(actor) || (actor.role == role && actor.organisation == id)
}

#[tracing::instrument(name = "registry.create_country", skip_all)]
pub async fn create_country(
    app: &App,
    actor: &Actor,
    country: Checked<Country>,
) -> AppResult<Country> {
    let country = country.into_inner();
    let resource = names::country(&country.code);
    write(app, actor, "CreateCountry", resource, async |txn, now| {
        store::registry::save_country(txn, &country, now, true).await
    })
    .await?;
    Ok(country)
}

#[tracing::instrument(name = "registry.update_country", skip_all)]
pub async fn update_country(
    app: &App,
    actor: &Actor,
    code: &CountryCode,
    merge: impl FnOnce(&Country) -> Result<Checked<Country>, Violations>,
) -> AppResult<Country> {
    update(
        app,
        actor,
        "UpdateCountry",
        code.name(),
        async |txn| store::registry::get_country(txn, code).await,
        merge,
        async |txn, country, now| {
            if !store::registry::save_country(txn, country, now, false).await? {
                return Ok(false);
            }
            // Support running under an act that now ends earlier ends with it.
            crate::app::dispatch::follow_council_acts(txn, app, actor, country, now).await?;
            Ok(true)
        },
    )
    .await
}

#[tracing::instrument(name = "registry.get_country", skip_all)]
pub async fn get_country(app: &App, actor: &Actor, code: &str) -> AppResult<Country> {
    readers(actor)?;
    store::registry::get_country(&app.db, code)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("{} not found", names::country(code))))
}

#[tracing::instrument(name = "registry.list_countries", skip_all)]
pub async fn list_countries(
    app: &App,
    actor: &Actor,
    page: PageRequest,
) -> AppResult<Page<Country>> {
    readers(actor)?;
    let items = store::registry::list_countries(&app.db, page.after.as_deref(), page.size).await?;
    let next_page_token = page.next_token(items.len(), items.last().map(|c| c.code.as_str()));
    Ok(Page {
        items,
        next_page_token,
    })
}

#[tracing::instrument(name = "registry.create_organisation", skip_all)]
pub async fn create_organisation(
    app: &App,
    actor: &Actor,
    organisation: Checked<Organisation>,
) -> AppResult<Organisation> {
    let organisation = organisation.into_inner();
    let resource = names::organisation(&organisation.id);
    write(
        app,
        actor,
        "CreateOrganisation",
        resource,
        async |txn, now| store::registry::save_organisation(txn, &organisation, now, true).await,
    )
    .await
    .map_err(unknown_country)?;
    Ok(organisation)
}

#[tracing::instrument(name = "registry.update_organisation", skip_all)]
pub async fn update_organisation(
    app: &App,
    actor: &Actor,
    id: &OrganisationId,
    merge: impl FnOnce(&Organisation) -> Result<Checked<Organisation>, Violations>,
) -> AppResult<Organisation> {
    update(
        app,
        actor,
        "UpdateOrganisation",
        id.name(),
        async |txn| store::registry::get_organisation(txn, id).await,
        merge,
        async |txn, organisation, now| {
            Ok(store::registry::save_organisation(txn, organisation, now, false).await?)
        },
    )
    .await
    .map_err(unknown_country)
}

#[tracing::instrument(name = "registry.get_organisation", skip_all)]
pub async fn get_organisation(app: &App, actor: &Actor, id: &str) -> AppResult<Organisation> {
    readers(actor)?;
    let found = if own_record(actor, Role::Requester, id) {
        store::registry::get_organisation(&app.db, id).await?
    } else {
        None
    };
    found.ok_or_else(|| AppError::NotFound(format!("{} not found", names::organisation(id))))
}

#[tracing::instrument(name = "registry.list_organisations", skip_all)]
pub async fn list_organisations(
    app: &App,
    actor: &Actor,
    page: PageRequest,
) -> AppResult<Page<Organisation>> {
    readers(actor)?;
    let items: Vec<Organisation> = if reads_all(actor) {
        store::registry::list_organisations(&app.db, page.after.as_deref(), page.size).await?
    } else {
        let own = get_organisation(app, actor, &actor.organisation).await.ok();
        own.into_iter()
            .filter(|o| page.after.as_deref() < Some(o.id.as_str()))
            .collect()
    };
    let next_page_token = page.next_token(items.len(), items.last().map(|o| o.id.as_str()));
    Ok(Page {
        items,
        next_page_token,
    })
}

#[tracing::instrument(name = "registry.create_provider", skip_all)]
pub async fn create_provider(
    app: &App,
    actor: &Actor,
    provider: Checked<Provider>,
) -> AppResult<Provider> {
    let provider = provider.into_inner();
    let resource = names::provider(&provider.id);
    write(app, actor, "CreateProvider", resource, async |txn, now| {
        store::registry::save_provider(txn, &provider, now, true).await
    })
    .await?;
    Ok(provider)
}

#[tracing::instrument(name = "registry.update_provider", skip_all)]
pub async fn update_provider(
    app: &App,
    actor: &Actor,
    id: &ProviderId,
    merge: impl FnOnce(&Provider) -> Result<Checked<Provider>, Violations>,
) -> AppResult<Provider> {
    let provider = update(
        app,
        actor,
        "UpdateProvider",
        id.name(),
        async |txn| store::registry::get_provider(txn, id).await,
        merge,
        async |txn, provider, now| {
            Ok(store::registry::save_provider(txn, provider, now, false).await?)
        },
    )
    .await?;
    // An active provider (perhaps reactivated, or newly deployable) may take
    // lines that wait for capacity.
    if provider.status == crate::domain::codes::ProviderStatus::Active {
        super::dispatch::rematch_after(app, provider.services.iter().copied().collect()).await;
    }
    Ok(provider)
}

#[tracing::instrument(name = "registry.get_provider", skip_all)]
pub async fn get_provider(app: &App, actor: &Actor, id: &str) -> AppResult<Provider> {
    readers(actor)?;
    let found = if own_record(actor, Role::Provider, id) {
        store::registry::get_provider(&app.db, id).await?
    } else {
        None
    };
    found.ok_or_else(|| AppError::NotFound(format!("{} not found", names::provider(id))))
}

#[tracing::instrument(name = "registry.list_providers", skip_all)]
pub async fn list_providers(
    app: &App,
    actor: &Actor,
    page: PageRequest,
) -> AppResult<Page<Provider>> {
    readers(actor)?;
    let items: Vec<Provider> = if reads_all(actor) {
        store::registry::list_providers(&app.db, page.after.as_deref(), page.size).await?
    } else {
        let own = get_provider(app, actor, &actor.organisation).await.ok();
        own.into_iter()
            .filter(|p| page.after.as_deref() < Some(p.id.as_str()))
            .collect()
    };
    let next_page_token = page.next_token(items.len(), items.last().map(|p| p.id.as_str()));
    Ok(Page {
        items,
        next_page_token,
    })
}
