//! The figures behind the metrics' gauges: a handful of counting queries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::entities::{offer, support_request, timer};
use crate::domain::dispatch::OfferState;
use crate::domain::request::RequestState;

/// What the gauges report, as last read from the database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub requests_by_state: BTreeMap<String, i64>,
    pub open_offers: i64,
    pub overdue_assessments: i64,
    pub timers_due: i64,
    pub timer_lag_seconds: f64,
    /// Notifications by state (PENDING, SENT, DEAD).
    pub notifications_by_state: BTreeMap<String, i64>,
    /// How long the oldest pending notification has waited.
    pub notification_lag_seconds: f64,
    /// The evaluation's measures over the current reporting period
    /// (filled in by the metrics' refresh, not by [`read`]).
    pub evaluation: crate::domain::usage::Evaluation,
}

pub async fn read<C: ConnectionTrait>(conn: &C, now: DateTime<Utc>) -> Result<Snapshot, DbErr> {
    let requests_by_state: Vec<(String, i64)> = support_request::Entity::find()
        .select_only()
        .column(support_request::Column::State)
        .column_as(support_request::Column::Id.count(), "n")
        .group_by(support_request::Column::State)
        .into_tuple()
        .all(conn)
        .await?;
    let open_offers = offer::Entity::find()
        .filter(offer::Column::State.eq(OfferState::Offered.as_str()))
        .count(conn)
        .await? as i64;
    // As `SupportRequest::overdue`: awaiting a decision past the deadline.
    let overdue_assessments = support_request::Entity::find()
        .filter(support_request::Column::DecidedAt.is_null())
        .filter(support_request::Column::State.is_in([
            RequestState::Submitted.as_str(),
            RequestState::Eligible.as_str(),
            RequestState::Referred.as_str(),
        ]))
        .filter(support_request::Column::ResponseDeadline.lt(now))
        .count(conn)
        .await? as i64;
    let due = timer::Entity::find()
        .filter(timer::Column::FiredAt.is_null())
        .filter(timer::Column::DueAt.lte(now));
    let timers_due = due.clone().count(conn).await? as i64;
    let oldest: Option<DateTime<Utc>> = due
        .select_only()
        .column_as(timer::Column::DueAt.min(), "oldest")
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(conn)
        .await?
        .flatten();
    let (notifications, pending) = super::notify::stats(conn, now).await?;
    Ok(Snapshot {
        notifications_by_state: notifications.into_iter().collect(),
        notification_lag_seconds: pending
            .map(|d| d.num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0),
        requests_by_state: requests_by_state.into_iter().collect(),
        open_offers,
        overdue_assessments,
        timers_due,
        timer_lag_seconds: oldest
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0),
        evaluation: Default::default(),
    })
}
