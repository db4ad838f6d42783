//! Console sessions: who signed in, until when, and the session's CSRF token.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::console_session;

pub use console_session::Model as Session;

pub async fn insert<C: ConnectionTrait>(conn: &C, session: Session) -> Result<(), DbErr> {
    console_session::Entity::insert(console_session::ActiveModel {
        id_hash: Set(session.id_hash),
        subject: Set(session.subject),
        role: Set(session.role),
        organisation: Set(session.organisation),
        csrf: Set(session.csrf),
        created_at: Set(session.created_at),
        expires_at: Set(session.expires_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The session with this hash, if it has not expired at `now`.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, DbErr> {
    console_session::Entity::find_by_id(id_hash.to_owned())
        .filter(console_session::Column::ExpiresAt.gt(now))
        .one(conn)
        .await
}

pub async fn delete<C: ConnectionTrait>(conn: &C, id_hash: &str) -> Result<(), DbErr> {
    console_session::Entity::delete_by_id(id_hash.to_owned())
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes the sessions expired by `now`; how many.
pub async fn purge_expired<C: ConnectionTrait>(conn: &C, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(console_session::Entity::delete_many()
        .filter(console_session::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await?
        .rows_affected)
}
