//! Countries (with their Council acts), organisations and providers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, sea_query::ExprTrait,
};

use super::entities::{council_act, country, organisation, provider, registry_version};
use super::{from_json, parse_code, to_json};
use crate::domain::registry::{CouncilAct, Country, Organisation, Provider};

/// Inserts (`create`) or replaces a country with its Council acts.
/// Replacing an unknown country returns false.
pub async fn save_country<C: ConnectionTrait>(
    conn: &C,
    c: &Country,
    now: DateTime<Utc>,
    create: bool,
) -> Result<bool, DbErr> {
    let mut row = country::ActiveModel {
        code: Set(c.code.clone()),
        display_name: Set(c.display_name.clone()),
        kind: Set(c.kind.as_str().to_owned()),
        required_languages: Set(to_json(&c.required_languages)),
        required_clearance: Set(c.required_clearance.as_str().to_owned()),
        required_certifications: Set(to_json(&c.required_certifications)),
        association_date: Set(c.association_date),
        reserve_coverage_from: Set(c.reserve_coverage_from),
        single_point_of_contact: Set(c.single_point_of_contact.clone()),
        capability_info_received: Set(c.capability_info_received),
        capability_info_updated: Set(c.capability_info_updated),
        specific_conditions: Set(c.specific_conditions.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    if create {
        country::Entity::insert(row)
            .exec_without_returning(conn)
            .await?;
    } else {
        row.created_at = sea_orm::ActiveValue::NotSet;
        let updated = country::Entity::update_many()
            .set(row)
            .filter(country::Column::Code.eq(c.code.as_str()))
            .exec(conn)
            .await?;
        if updated.rows_affected != 1 {
            return Ok(false);
        }
        council_act::Entity::delete_many()
            .filter(council_act::Column::CountryCode.eq(c.code.as_str()))
            .exec(conn)
            .await?;
    }
    let acts = c.council_acts.iter().map(|a| council_act::ActiveModel {
        country_code: Set(c.code.clone()),
        reference: Set(a.reference.clone()),
        valid_from: Set(a.valid_from),
        valid_until: Set(a.valid_until),
        max_support_days: Set(a.max_support_days.map(|d| d as i32)),
        repealed_on: Set(a.repealed_on),
        ..Default::default()
    });
    council_act::Entity::insert_many(acts)
        .exec_without_returning(conn)
        .await?;
    Ok(true)
}

pub async fn get_country<C: ConnectionTrait>(
    conn: &C,
    code: &str,
) -> Result<Option<Country>, DbErr> {
    let row = country::Entity::find_by_id(code.to_owned())
        .one(conn)
        .await?;
    Ok(assemble_countries(conn, row.into_iter().collect())
        .await?
        .pop())
}

pub async fn list_countries<C: ConnectionTrait>(
    conn: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Country>, DbErr> {
    let mut query = country::Entity::find()
        .order_by_asc(country::Column::Code)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(country::Column::Code.gt(after));
    }
    let rows = query.all(conn).await?;
    assemble_countries(conn, rows).await
}

async fn assemble_countries<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<country::Model>,
) -> Result<Vec<Country>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
    let acts = council_act::Entity::find()
        .filter(council_act::Column::CountryCode.is_in(codes))
        .order_by_asc(council_act::Column::ValidFrom)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Country {
                council_acts: acts
                    .iter()
                    .filter(|a| a.country_code == r.code)
                    .map(|a| CouncilAct {
                        reference: a.reference.clone(),
                        valid_from: a.valid_from,
                        valid_until: a.valid_until,
                        max_support_days: a.max_support_days.map(|d| d as u32),
                        repealed_on: a.repealed_on,
                    })
                    .collect(),
                kind: parse_code("countries.kind", &r.kind)?,
                required_languages: from_json(
                    "countries.required_languages",
                    &r.required_languages,
                )?,
                required_clearance: parse_code(
                    "countries.required_clearance",
                    &r.required_clearance,
                )?,
                required_certifications: from_json(
                    "countries.required_certifications",
                    &r.required_certifications,
                )?,
                code: r.code,
                display_name: r.display_name,
                association_date: r.association_date,
                reserve_coverage_from: r.reserve_coverage_from,
                single_point_of_contact: r.single_point_of_contact,
                capability_info_received: r.capability_info_received,
                capability_info_updated: r.capability_info_updated,
                specific_conditions: r.specific_conditions,
            })
        })
        .collect()
}

pub async fn save_organisation<C: ConnectionTrait>(
    conn: &C,
    o: &Organisation,
    now: DateTime<Utc>,
    create: bool,
) -> Result<bool, DbErr> {
    let mut row = organisation::ActiveModel {
        id: Set(o.id.clone()),
        display_name: Set(o.display_name.clone()),
        kind: Set(o.kind.as_str().to_owned()),
        country_code: Set(o.country.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    if create {
        organisation::Entity::insert(row)
            .exec_without_returning(conn)
            .await?;
        return Ok(true);
    }
    row.created_at = sea_orm::ActiveValue::NotSet;
    let updated = organisation::Entity::update_many()
        .set(row)
        .filter(organisation::Column::Id.eq(o.id.as_str()))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

pub async fn get_organisation<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<Organisation>, DbErr> {
    Ok(
        organisations(conn, organisation::Entity::find_by_id(id.to_owned()))
            .await?
            .pop(),
    )
}

pub async fn list_organisations<C: ConnectionTrait>(
    conn: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Organisation>, DbErr> {
    let mut query = organisation::Entity::find()
        .order_by_asc(organisation::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(organisation::Column::Id.gt(after));
    }
    organisations(conn, query).await
}

/// Organisations with whether their country designates them as its single
/// point of contact: the country's field is the one place that says so.
async fn organisations<C: ConnectionTrait>(
    conn: &C,
    query: sea_orm::Select<organisation::Entity>,
) -> Result<Vec<Organisation>, DbErr> {
    use sea_orm::FromQueryResult;
    let statement = query
        .column_as(
            sea_orm::sea_query::Expr::cust(
                "COALESCE((SELECT c.single_point_of_contact FROM countries c \
                 WHERE c.code = organisations.country_code) = organisations.id, FALSE)",
            ),
            "designated",
        )
        .build(conn.get_database_backend());
    conn.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| {
            let r = organisation::Model::from_query_result(row, "")?;
            Ok(Organisation {
                kind: parse_code("organisations.kind", &r.kind)?,
                id: r.id,
                display_name: r.display_name,
                country: r.country_code,
                single_point_of_contact: row.try_get("", "designated")?,
            })
        })
        .collect()
}

pub async fn save_provider<C: ConnectionTrait>(
    conn: &C,
    p: &Provider,
    now: DateTime<Utc>,
    create: bool,
) -> Result<bool, DbErr> {
    let mut row = provider::ActiveModel {
        id: Set(p.id.clone()),
        display_name: Set(p.display_name.clone()),
        country_code: Set(p.country.clone()),
        status: Set(p.status.as_str().to_owned()),
        services: Set(to_json(&p.services)),
        languages: Set(to_json(&p.languages)),
        deployable_countries: Set(to_json(&p.deployable_countries)),
        clearance: Set(p.clearance.as_str().to_owned()),
        certifications: Set(to_json(&p.certifications)),
        hours_to_deploy: Set(p.hours_to_deploy as i32),
        conflict_organisations: Set(to_json(&p.conflict_organisations)),
        conflict_countries: Set(to_json(&p.conflict_countries)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    if create {
        provider::Entity::insert(row)
            .exec_without_returning(conn)
            .await?;
        return Ok(true);
    }
    row.created_at = sea_orm::ActiveValue::NotSet;
    let updated = provider::Entity::update_many()
        .set(row)
        .filter(provider::Column::Id.eq(p.id.as_str()))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

pub async fn get_provider<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<Provider>, DbErr> {
    provider::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .map(provider_from_row)
        .transpose()
}

pub async fn list_providers<C: ConnectionTrait>(
    conn: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Provider>, DbErr> {
    let mut query = provider::Entity::find()
        .order_by_asc(provider::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(provider::Column::Id.gt(after));
    }
    query
        .all(conn)
        .await?
        .into_iter()
        .map(provider_from_row)
        .collect()
}

fn provider_from_row(r: provider::Model) -> Result<Provider, DbErr> {
    Ok(Provider {
        status: parse_code("providers.status", &r.status)?,
        services: from_json("providers.services", &r.services)?,
        languages: from_json("providers.languages", &r.languages)?,
        deployable_countries: from_json("providers.deployable_countries", &r.deployable_countries)?,
        clearance: parse_code("providers.clearance", &r.clearance)?,
        certifications: from_json("providers.certifications", &r.certifications)?,
        conflict_organisations: from_json(
            "providers.conflict_organisations",
            &r.conflict_organisations,
        )?,
        conflict_countries: from_json("providers.conflict_countries", &r.conflict_countries)?,
        hours_to_deploy: r.hours_to_deploy as u32,
        id: r.id,
        display_name: r.display_name,
        country: r.country_code,
    })
}

// --- The registry in memory ---

/// The whole registry at one version: countries with their Council acts,
/// organisations and providers. Tens to thousands of records, read by every
/// submission and every match, and changed by administrators a few times a
/// day: each process keeps it in memory and reads it again only when the
/// version has moved (`version`, bumped by every change in its
/// transaction).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub version: i64,
    countries: HashMap<String, Country>,
    organisations: HashMap<String, Organisation>,
    /// By id, in id order.
    providers: std::collections::BTreeMap<String, Provider>,
}

impl Snapshot {
    pub fn country(&self, code: &str) -> Option<&Country> {
        self.countries.get(code)
    }

    pub fn organisation(&self, id: &str) -> Option<&Organisation> {
        self.organisations.get(id)
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    /// Every provider, in id order.
    pub fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }
}

impl crate::domain::registry::Lookup for Snapshot {
    fn country(&self, code: &str) -> Option<&Country> {
        Snapshot::country(self, code)
    }

    fn organisation(&self, id: &str) -> Option<&Organisation> {
        Snapshot::organisation(self, id)
    }

    fn provider(&self, id: &str) -> Option<&Provider> {
        Snapshot::provider(self, id)
    }
}

/// The registry's version.
pub async fn version<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    registry_version::Entity::find_by_id(1)
        .one(conn)
        .await?
        .map(|r| r.version)
        .ok_or_else(|| DbErr::RecordNotFound("registry version".into()))
}

/// The expression of the registry's version, for a query that reads it
/// along with its own columns (`registry_version`), saving a round trip.
pub(crate) fn version_column() -> sea_orm::sea_query::SimpleExpr {
    sea_orm::sea_query::Expr::cust("(SELECT version FROM registry_version WHERE id = 1)")
}

/// Locks the registry's version row until the transaction ends (on
/// PostgreSQL; SQLite's transactions already write one at a time): an
/// import that reads what exists before it creates takes it first, so two
/// imports of one file do not both create its records.
pub async fn lock_version(txn: &super::Txn) -> Result<(), DbErr> {
    registry_version::Entity::find_by_id(1)
        .lock(sea_orm::sea_query::LockType::Update)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("registry version".into()))
        .map(drop)
}

/// Moves the version on, with the change's other writes (deferred).
pub fn bump_version(txn: &super::Txn) {
    let update = registry_version::Entity::update_many()
        .col_expr(
            registry_version::Column::Version,
            sea_orm::sea_query::Expr::col(registry_version::Column::Version).add(1),
        )
        .filter(registry_version::Column::Id.eq(1));
    txn.defer(update.build(txn.get_database_backend()));
}

/// Reads the whole registry in one read-only transaction (one snapshot of
/// the database on PostgreSQL; SQLite's readers see one too), with the
/// version it is at.
pub async fn load(db: &sea_orm::DatabaseConnection) -> Result<Snapshot, DbErr> {
    use sea_orm::{AccessMode, IsolationLevel, TransactionTrait};
    // A connection of its own: the caller may hold a transaction's.
    let db = &super::txn::registry_reader(db).await?;
    let txn = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin_with_config(None, None).await?,
    };
    let version = version(&txn).await?;
    let countries = list_countries(&txn, None, u64::MAX >> 1).await?;
    let organisations = list_organisations(&txn, None, u64::MAX >> 1).await?;
    let providers = list_providers(&txn, None, u64::MAX >> 1).await?;
    txn.commit().await?;
    Ok(Snapshot {
        version,
        countries: countries.into_iter().map(|c| (c.code.clone(), c)).collect(),
        organisations: organisations
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect(),
        providers: providers.into_iter().map(|p| (p.id.clone(), p)).collect(),
    })
}
