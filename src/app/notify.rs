//! Subscriptions to the events one may see, and the outbox administrators
//! read (`store::notify`, `worker::notify`).

use super::{App, AppError, AppResult, Page, PageRequest, require};

/// How notifications leave the service.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// `smtp://host:587?tls=required`, `smtps://host:465` or `smtp://host:25`
    /// (plain, for a relay on the same network); no e-mail without it.
    pub smtp_url: Option<String>,
    /// The sender of the messages.
    pub smtp_from: String,
    /// Where messages link to: the console's address as users reach it.
    pub console_url: Option<String>,
}
use crate::domain::actor::{Actor, Operation, Role};
use crate::domain::notify::{Subscription, parse_subscription};
use crate::store::{self, notify::Notification};

/// Subscribes the caller's organisation (or the caller alone).
#[tracing::instrument(name = "notify.subscribe", skip_all)]
pub async fn subscribe(
    app: &App,
    actor: &Actor,
    url: &str,
    email: &str,
    actions: &[String],
    personal: bool,
) -> AppResult<Subscription> {
    require(actor, Operation::Subscribe)?;
    let subscription = parse_subscription(actor, url, email, actions, personal, app.now())?;
    if matches!(
        subscription.channel,
        crate::domain::notify::Channel::Email(_)
    ) && app.notify.smtp_url.is_none()
    {
        return Err(AppError::FailedPrecondition(
            "this service sends no e-mail: no smtp_url is configured; subscribe a webhook".into(),
        ));
    }
    store::notify::save_subscription(&app.db, &subscription).await?;
    Ok(subscription)
}

/// The organisation's subscriptions (every one for administrators), their
/// secrets withheld.
#[tracing::instrument(name = "notify.subscriptions", skip_all)]
pub async fn subscriptions(app: &App, actor: &Actor) -> AppResult<Vec<Subscription>> {
    require(actor, Operation::Subscribe)?;
    let organisation = (actor.role != Role::Admin).then_some(actor.organisation.as_str());
    Ok(store::notify::subscriptions(&app.db, organisation)
        .await?
        .into_iter()
        .map(|s| Subscription {
            secret: String::new(),
            ..s
        })
        .collect())
}

/// Ends a subscription of the caller's organisation (administrators: any);
/// what it had still to send is dropped.
#[tracing::instrument(name = "notify.unsubscribe", skip_all)]
pub async fn unsubscribe(app: &App, actor: &Actor, id: &str) -> AppResult<()> {
    require(actor, Operation::Subscribe)?;
    let not_found = || AppError::NotFound(format!("subscriptions/{id} not found"));
    let found = store::notify::subscription(&app.db, id)
        .await?
        .filter(|s| actor.role == Role::Admin || s.organisation == actor.organisation)
        .ok_or_else(not_found)?;
    let txn = store::begin(&app.db).await?;
    store::notify::delete_subscription(&txn, &found.id).await?;
    txn.commit().await?;
    Ok(())
}

/// The outbox, oldest first, in one state or all.
#[tracing::instrument(name = "notify.outbox", skip_all)]
pub async fn outbox(
    app: &App,
    actor: &Actor,
    state: Option<&str>,
    page: PageRequest,
) -> AppResult<Page<Notification>> {
    require(actor, Operation::ReadOutbox)?;
    let after = match &page.after {
        Some(a) => a
            .parse::<i64>()
            .map_err(|_| AppError::invalid("page_token", "is not a token this service issued"))?,
        None => 0,
    };
    let items = store::notify::notifications(&app.db, state, after, page.size).await?;
    let last = items.last().map(|n| n.id.to_string());
    let next_page_token = page.next_token(items.len(), last.as_deref());
    Ok(Page {
        items,
        next_page_token,
    })
}
