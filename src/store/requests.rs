//! Support requests: one aggregate in one row. The affected entities,
//! service lines, evaluations, granted lines and summary report are JSON
//! columns of the request's row (JSONB on PostgreSQL), holding the domain's
//! values as they serialise, so a request is written by one statement and
//! read by one.

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
    sea_query::{Expr, LockType},
};
use serde::{Serialize, de::DeserializeOwned};

use super::entities::support_request;
use super::{from_json, parse_code, to_json};
use crate::domain::priority::{QueueKey, queue_key};
use crate::domain::request::{ContactPoint, RequestContent, RequestState, SupportRequest};

/// A request as stored, with its row key (orders lists, keys offers and
/// dispatch lines) and the hash of the body it was created with (for
/// idempotent creation).
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub key: i64,
    pub body_hash: String,
    pub request: SupportRequest,
}

/// A creation's reference number, with what the same statement read.
#[derive(Debug, Clone, Copy)]
pub struct Numbered {
    pub number: i64,
    /// The registry's version (see `registry::version`).
    pub registry_version: i64,
}

/// The next reference number, in one statement that also reads the
/// registry's version. PostgreSQL draws it from a sequence: unique and
/// increasing, taken without a lock, so creations commit in parallel; a
/// creation that fails leaves its number unused. SQLite, whose one writer
/// orders creations anyway, counts per year in a counter row, without gaps,
/// and reads the chain's head with it (the writer lock keeps it until the
/// commit).
pub async fn next_reference_number(txn: &super::Txn, at: DateTime<Utc>) -> Result<Numbered, DbErr> {
    let backend = txn.get_database_backend();
    let statement = match backend {
        sea_orm::DbBackend::Postgres => sea_orm::Statement::from_string(
            backend,
            "SELECT nextval('support_request_numbers') AS last, \
             (SELECT version FROM registry_version WHERE id = 1) AS registry_version",
        ),
        _ => sea_orm::Statement::from_sql_and_values(
            backend,
            "INSERT INTO reference_counters (year, last) VALUES (?, 1) \
             ON CONFLICT (year) DO UPDATE SET last = reference_counters.last + 1 \
             RETURNING last, (SELECT version FROM registry_version WHERE id = 1) AS registry_version, \
             (SELECT last_sequence FROM audit_head WHERE id = 1) AS chain_sequence, \
             (SELECT last_hash FROM audit_head WHERE id = 1) AS chain_hash",
            [at.year().into()],
        ),
    };
    let row = txn
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("reference number".into()))?;
    if backend == sea_orm::DbBackend::Sqlite {
        txn.know_head(super::audit::Head {
            sequence: row.try_get("", "chain_sequence")?,
            hash: row.try_get("", "chain_hash")?,
        });
    }
    Ok(Numbered {
        number: row.try_get("", "last")?,
        registry_version: row.try_get("", "registry_version")?,
    })
}

fn json<T: Serialize + ?Sized>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("the domain's values serialise")
}

fn from_value<T: DeserializeOwned>(column: &str, value: serde_json::Value) -> Result<T, DbErr> {
    serde_json::from_value(value)
        .map_err(|e| DbErr::Custom(format!("stored value of `{column}` cannot be read: {e}")))
}

/// Every column a change may write: all but the request's identity.
fn changing_columns(r: &SupportRequest) -> support_request::ActiveModel {
    let c = &r.content;
    support_request::ActiveModel {
        state: Set(r.state.as_str().to_owned()),
        version: Set(r.version),
        title: Set(c.title.clone()),
        description: Set(c.description.clone()),
        category: Set(c.category.as_str().to_owned()),
        classification: Set(c.classification.as_str().to_owned()),
        capacity_exceeded_declared: Set(c.capacity_exceeded_declared),
        severity: Set(c.severity.as_str().to_owned()),
        detected_at: Set(c.detected_at),
        countries_affected: Set(to_json(&c.countries_affected)),
        potential_impact: Set(c.potential_impact.clone()),
        mitigation_measures: Set(c.mitigation_measures.clone()),
        other_support: Set(c.other_support.clone()),
        tlp: Set(c.tlp.as_str().to_owned()),
        contact_name: Set(c.contact.name.clone()),
        contact_email: Set(c.contact.email.clone()),
        contact_phone: Set(c.contact.phone.clone()),
        updated_at: Set(r.updated_at),
        submitted_at: Set(r.submitted_at),
        decision_note: Set(r.decision_note.clone()),
        priority: Set(r.priority.as_ref().map(to_json)),
        priority_total: Set(r.priority.map(|p| p.total)),
        response_deadline: Set(r.response_deadline),
        decided_at: Set(r.decided_at),
        granted_duration_days: Set(r.granted_duration_days.map(|d| d as i32)),
        completed_at: Set(r.completed_at),
        report_overdue: Set(r.report_overdue),
        affected_entities: Set(json(&c.affected_entities)),
        service_lines: Set(json(&c.service_lines)),
        evaluations: Set(json(&r.evaluations)),
        granted_lines: Set(json(&r.granted_lines)),
        summary_report: Set(r.summary_report.as_ref().map(json)),
        queue_key: Set(r.priority.zip(r.transmission.as_ref()).map(|(p, t)| {
            queue_key(
                &QueueKey {
                    band: p.band,
                    kind: r.organisation_kind,
                    transmitted_at: t.at,
                },
                &r.id,
            )
        })),
        contact_point: Set(r.contact_point.clone()),
        transmission: Set(r.transmission.as_ref().map(json)),
        assessment: Set(r.assessment.as_ref().map(json)),
        support: Set(r.support.as_ref().map(json)),
        id: NotSet,
        uid: NotSet,
        reference: NotSet,
        organisation_id: NotSet,
        organisation_kind: NotSet,
        country_code: NotSet,
        request_id: NotSet,
        body_hash: NotSet,
        created_by: NotSet,
        created_at: NotSet,
    }
}

/// Inserts a new request, with the transaction's other deferred writes: a
/// request id used before surfaces as a unique-key violation at the commit.
pub fn insert(txn: &super::Txn, request: &SupportRequest, body_hash: &str, created_by: &str) {
    let row = support_request::ActiveModel {
        uid: Set(request.id.clone()),
        reference: Set(request.reference.clone()),
        organisation_id: Set(request.organisation.clone()),
        organisation_kind: Set(request.organisation_kind.as_str().to_owned()),
        country_code: Set(request.country.clone()),
        request_id: Set(request.request_id.clone()),
        body_hash: Set(body_hash.to_owned()),
        created_by: Set(created_by.to_owned()),
        created_at: Set(request.created_at),
        ..changing_columns(request)
    };
    txn.defer(support_request::Entity::insert(row).build(txn.get_database_backend()));
}

/// Inserts requests in one statement, outside the use cases (the scale
/// benchmark's data).
pub async fn insert_many<C: ConnectionTrait>(
    conn: &C,
    requests: &[SupportRequest],
    created_by: &str,
) -> Result<(), DbErr> {
    if requests.is_empty() {
        return Ok(());
    }
    let rows = requests.iter().map(|r| support_request::ActiveModel {
        uid: Set(r.id.clone()),
        reference: Set(r.reference.clone()),
        organisation_id: Set(r.organisation.clone()),
        organisation_kind: Set(r.organisation_kind.as_str().to_owned()),
        country_code: Set(r.country.clone()),
        request_id: Set(r.request_id.clone()),
        body_hash: Set(String::new()),
        created_by: Set(created_by.to_owned()),
        created_at: Set(r.created_at),
        ..changing_columns(r)
    });
    support_request::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes a changed request whose row this transaction locked when it read
/// it (`find_for_change`): one update of the whole row, guarded by the
/// version read, which the lock keeps. It goes with the deferred writes;
/// debug builds send it at once and check the guard held.
pub async fn save(
    txn: &super::Txn,
    key: i64,
    read_version: i64,
    request: &SupportRequest,
) -> Result<(), DbErr> {
    let statement = support_request::Entity::update_many()
        .set(changing_columns(request))
        .filter(support_request::Column::Id.eq(key))
        .filter(support_request::Column::Version.eq(read_version))
        .build(txn.get_database_backend());
    if cfg!(debug_assertions) {
        let updated = txn.execute_raw(statement).await?;
        if updated.rows_affected() != 1 {
            return Err(DbErr::Custom(format!(
                "request {key} changed under its lock (version {read_version})"
            )));
        }
    } else {
        txn.defer(statement);
    }
    Ok(())
}

/// A request by id.
pub async fn find<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<StoredRequest>, DbErr> {
    support_request::Entity::find()
        .filter(support_request::Column::Uid.eq(id))
        .one(conn)
        .await?
        .map(assemble)
        .transpose()
}

/// A request locked for change, with the registry's version read in the
/// same statement.
#[derive(Debug, Clone)]
pub struct ForChange {
    pub stored: StoredRequest,
    pub registry_version: i64,
}

/// A request by id, its row locked until the transaction ends (on
/// PostgreSQL; SQLite's writer holds the whole database): what a change
/// reads, so that no other change of the request runs between its read
/// and its write. The registry's version comes with it.
pub async fn find_for_change(txn: &super::Txn, id: &str) -> Result<Option<ForChange>, DbErr> {
    locked(
        txn,
        support_request::Entity::find().filter(support_request::Column::Uid.eq(id)),
    )
    .await
}

/// A request by row key, locked as `find_for_change` locks it.
pub async fn find_key_for_change(txn: &super::Txn, key: i64) -> Result<Option<ForChange>, DbErr> {
    locked(txn, support_request::Entity::find_by_id(key)).await
}

/// The request an offer belongs to, locked as `find_for_change` locks it:
/// every change of an offer takes its request's lock first, so changes of
/// one request and its offers run one at a time, in one lock order.
pub async fn find_for_offer(txn: &super::Txn, offer: &str) -> Result<Option<ForChange>, DbErr> {
    use super::entities::offer as o;
    let of_offer = sea_orm::sea_query::Query::select()
        .column(o::Column::SupportRequestId)
        .from(o::Entity)
        .and_where(o::Column::Id.eq(offer))
        .to_owned();
    locked(
        txn,
        support_request::Entity::find().filter(support_request::Column::Id.in_subquery(of_offer)),
    )
    .await
}

async fn locked(
    txn: &super::Txn,
    query: sea_orm::Select<support_request::Entity>,
) -> Result<Option<ForChange>, DbErr> {
    use sea_orm::FromQueryResult;
    let backend = txn.get_database_backend();
    let mut query = query
        .column_as(super::registry::version_column(), "registry_version")
        .lock(LockType::Update);
    if backend == sea_orm::DbBackend::Sqlite {
        // Under SQLite's writer lock the chain's head holds until the
        // commit, which seals this change's events after it.
        query = query
            .column_as(
                Expr::cust("(SELECT last_sequence FROM audit_head WHERE id = 1)"),
                "chain_sequence",
            )
            .column_as(
                Expr::cust("(SELECT last_hash FROM audit_head WHERE id = 1)"),
                "chain_hash",
            );
    }
    let Some(row) = txn.query_one_raw(query.build(backend)).await? else {
        return Ok(None);
    };
    if backend == sea_orm::DbBackend::Sqlite {
        txn.know_head(super::audit::Head {
            sequence: row.try_get("", "chain_sequence")?,
            hash: row.try_get("", "chain_hash")?,
        });
    }
    let model = support_request::Model::from_query_result(&row, "")?;
    Ok(Some(ForChange {
        stored: assemble(model)?,
        registry_version: row.try_get("", "registry_version")?,
    }))
}

/// Requests submitted in `[from, to)` by organisations of the given kinds.
pub async fn submitted_between<C: ConnectionTrait>(
    conn: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    organisation_kinds: Vec<String>,
) -> Result<Vec<StoredRequest>, DbErr> {
    support_request::Entity::find()
        .filter(support_request::Column::SubmittedAt.gte(from))
        .filter(support_request::Column::SubmittedAt.lt(to))
        .filter(support_request::Column::OrganisationKind.is_in(organisation_kinds))
        .order_by_asc(support_request::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(assemble)
        .collect()
}

/// The row keys of a country's requests whose support may be running
/// (approved for dispatch and not yet completed).
pub async fn supported_in_country<C: ConnectionTrait>(
    conn: &C,
    country: &str,
) -> Result<Vec<i64>, DbErr> {
    use sea_orm::QuerySelect;
    support_request::Entity::find()
        .select_only()
        .column(support_request::Column::Id)
        .filter(support_request::Column::CountryCode.eq(country))
        .filter(support_request::Column::State.is_in([
            RequestState::Dispatching.as_str(),
            RequestState::WaitingCapacity.as_str(),
            RequestState::Dispatched.as_str(),
        ]))
        .filter(support_request::Column::Support.is_not_null())
        .order_by_asc(support_request::Column::Id)
        .into_tuple()
        .all(conn)
        .await
}

/// Requests by row key (in no particular order).
pub async fn find_by_keys<C: ConnectionTrait>(
    conn: &C,
    keys: Vec<i64>,
) -> Result<Vec<StoredRequest>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    support_request::Entity::find()
        .filter(support_request::Column::Id.is_in(keys))
        .all(conn)
        .await?
        .into_iter()
        .map(assemble)
        .collect()
}

pub async fn find_by_request_id<C: ConnectionTrait>(
    conn: &C,
    organisation: &str,
    request_id: &str,
) -> Result<Option<StoredRequest>, DbErr> {
    support_request::Entity::find()
        .filter(support_request::Column::OrganisationId.eq(organisation))
        .filter(support_request::Column::RequestId.eq(request_id))
        .one(conn)
        .await?
        .map(assemble)
        .transpose()
}

/// Which requests a list may show.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub organisation: Option<String>,
    /// Only requests of these organisation kinds, if set.
    pub organisation_kinds: Option<Vec<String>>,
    pub state: Option<RequestState>,
}

/// A page of requests in `state`, in queue order, after the queue key
/// `after`: the index on (state, queue key) gives it without reading the
/// rest. (Each queue's state holds one kind of user only, ELIGIBLE the
/// Union's and REFERRED the third countries', so the query names the state
/// alone and the index serves it whatever the statistics.)
pub async fn queue<C: ConnectionTrait>(
    conn: &C,
    state: RequestState,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<StoredRequest>, DbErr> {
    let mut query = support_request::Entity::find()
        .filter(support_request::Column::State.eq(state.as_str()))
        .filter(support_request::Column::QueueKey.is_not_null())
        .order_by_asc(support_request::Column::QueueKey)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(support_request::Column::QueueKey.gt(after));
    }
    query.all(conn).await?.into_iter().map(assemble).collect()
}

/// Newest first, after the row key `before` (exclusive) when paging; each
/// filter has an index ending with the row key.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &ListFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<StoredRequest>, DbErr> {
    let mut condition = Condition::all();
    if let Some(org) = &filter.organisation {
        // Its own requests, and those that go through it as its country's
        // single point of contact.
        condition = condition.add(
            Condition::any()
                .add(support_request::Column::OrganisationId.eq(org.as_str()))
                .add(support_request::Column::ContactPoint.eq(org.as_str())),
        );
    }
    if let Some(kinds) = &filter.organisation_kinds {
        condition = condition.add(support_request::Column::OrganisationKind.is_in(kinds.clone()));
    }
    if let Some(state) = filter.state {
        condition = condition.add(support_request::Column::State.eq(state.as_str()));
    }
    if let Some(before) = before {
        condition = condition.add(support_request::Column::Id.lt(before));
    }
    support_request::Entity::find()
        .filter(condition)
        .order_by_desc(support_request::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(assemble)
        .collect()
}

/// The owner of a request: its organisation, its kind and its contact
/// point (for the visibility of its events), without the rest of its row.
pub async fn owner_of<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<(String, String, Option<String>)>, DbErr> {
    support_request::Entity::find()
        .filter(support_request::Column::Uid.eq(id))
        .select_only()
        .column(support_request::Column::OrganisationId)
        .column(support_request::Column::OrganisationKind)
        .column(support_request::Column::ContactPoint)
        .into_tuple()
        .one(conn)
        .await
}

/// The owner of a request by row key.
pub async fn owner_of_key<C: ConnectionTrait>(
    conn: &C,
    key: i64,
) -> Result<Option<(String, String, Option<String>)>, DbErr> {
    support_request::Entity::find_by_id(key)
        .select_only()
        .column(support_request::Column::OrganisationId)
        .column(support_request::Column::OrganisationKind)
        .column(support_request::Column::ContactPoint)
        .into_tuple()
        .one(conn)
        .await
}

fn assemble(r: support_request::Model) -> Result<StoredRequest, DbErr> {
    let content = RequestContent {
        affected_entities: from_value("affected_entities", r.affected_entities)?,
        service_lines: from_value("service_lines", r.service_lines)?,
        title: r.title,
        description: r.description,
        category: parse_code("category", &r.category)?,
        classification: parse_code("classification", &r.classification)?,
        capacity_exceeded_declared: r.capacity_exceeded_declared,
        severity: parse_code("severity", &r.severity)?,
        detected_at: r.detected_at,
        countries_affected: from_json("countries_affected", &r.countries_affected)?,
        potential_impact: r.potential_impact,
        mitigation_measures: r.mitigation_measures,
        other_support: r.other_support,
        tlp: parse_code("tlp", &r.tlp)?,
        contact: ContactPoint {
            name: r.contact_name,
            email: r.contact_email,
            phone: r.contact_phone,
        },
    };
    Ok(StoredRequest {
        key: r.id,
        body_hash: r.body_hash,
        request: SupportRequest {
            id: r.uid,
            reference: r.reference,
            organisation: r.organisation_id,
            organisation_kind: parse_code("organisation_kind", &r.organisation_kind)?,
            country: r.country_code,
            request_id: r.request_id,
            state: parse_code("state", &r.state)?,
            version: r.version,
            content,
            created_at: r.created_at,
            updated_at: r.updated_at,
            submitted_at: r.submitted_at,
            decision_note: r.decision_note,
            evaluations: from_value("evaluations", r.evaluations)?,
            priority: r
                .priority
                .as_deref()
                .map(|p| from_json("priority", p))
                .transpose()?,
            response_deadline: r.response_deadline,
            decided_at: r.decided_at,
            granted_lines: from_value("granted_lines", r.granted_lines)?,
            granted_duration_days: r.granted_duration_days.map(|d| d as u32),
            completed_at: r.completed_at,
            report_overdue: r.report_overdue,
            summary_report: r
                .summary_report
                .map(|s| from_value("summary_report", s))
                .transpose()?,
            contact_point: r.contact_point,
            transmission: r
                .transmission
                .map(|t| from_value("transmission", t))
                .transpose()?,
            assessment: r
                .assessment
                .map(|a| from_value("assessment", a))
                .transpose()?,
            support: r.support.map(|s| from_value("support", s)).transpose()?,
        },
    })
}
