//! Live updates: the events the signed-in person may see, as server-sent
//! events naming the resource that changed. The page's script refreshes
//! the parts of the page that show that resource; the event's content never
//! leaves the server this way.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::Stream;
use tokio_stream::StreamExt;

use super::session::User;
use super::{PageError, Shared};
use crate::app::events::{self, WatchFilter, WatchItem};

pub async fn stream(
    State(console): State<Shared>,
    user: User,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let app = &console.app;
    // A reconnecting browser names the last event it had.
    let after = match headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
    {
        Some(last) => last,
        None => crate::app::audit::last_sequence(app).await?,
    };
    let watch = events::watch(
        app,
        user.actor,
        WatchFilter {
            after,
            ..Default::default()
        },
    )?;
    // A watcher that fell behind, or a server closing, ends the stream; the
    // browser reconnects by itself and resumes after its last event.
    let events = watch.map_while(|item| match item {
        WatchItem::Event(seen) => Some(Ok(Event::default()
            .event("change")
            .id(seen.event.sequence.to_string())
            .data(&seen.event.resource))),
        WatchItem::Lagged { .. } | WatchItem::Closing { .. } | WatchItem::Failed(_) => None,
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
