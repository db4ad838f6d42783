//! The notifications task of every server process: queues the
//! notifications of newly sealed events (`store::notify::derive`) and
//! delivers those due (`store::notify::claim`), each webhook a CloudEvent
//! signed per Standard Webhooks, retried with back-off and jitter, dead
//! after `MAX_ATTEMPTS`. It runs beside the API: a slow or failing
//! receiver holds only its own delivery, for at most `TIMEOUT`.

use std::time::Duration;

use crate::app::App;
use crate::domain::notify::{self, Channel, MAX_ATTEMPTS};
use crate::store::{self, notify::Delivery};

/// How often the task looks for work.
pub const POLL: Duration = Duration::from_millis(100);
/// How long one delivery may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries claimed at once.
const CLAIM: u64 = 32;

/// Makes ring the process's TLS provider (the one tonic uses), which
/// reqwest's clients need; once is enough, more is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client of deliveries (rustls with ring).
pub fn client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("reserve-dispatch-webhooks")
        .build()
        .expect("the webhook client builds")
}

/// Runs until the task is dropped: the queueing and the deliveries in
/// two loops, so that slow deliveries never hold up the queueing (whose
/// batches would then grow, and hold the writer lock the longer).
pub async fn run(app: App) {
    let owner = format!("notify-{}", uuid::Uuid::new_v4());
    let client = client();
    let queueing = async {
        loop {
            if let Err(err) = queue(&app).await {
                tracing::warn!(error = %err, "queueing notifications failed");
            }
            tokio::time::sleep(POLL).await;
        }
    };
    let delivering = async {
        loop {
            if let Err(err) = deliver_due(&app, &client, &owner).await {
                tracing::warn!(error = %err, "delivering notifications failed");
            }
            tokio::time::sleep(POLL).await;
        }
    };
    tokio::join!(queueing, delivering);
}

/// Queues the notifications of every event sealed since the last pass.
pub async fn queue(app: &App) -> anyhow::Result<()> {
    store::audit::settle(&app.db, Duration::from_secs(1)).await?;
    while store::notify::derive(&app.db, app.now()).await? > 0 {}
    Ok(())
}

/// Delivers what is due, at most `CLAIM` at once, and records the
/// outcomes in one transaction; how many were sent.
async fn deliver_due(app: &App, client: &reqwest::Client, owner: &str) -> anyhow::Result<usize> {
    let lease = chrono::Duration::from_std(TIMEOUT * 3).unwrap_or_default();
    let due = store::notify::claim(&app.db, owner, app.now(), lease, CLAIM).await?;
    let outcomes =
        futures_util::future::join_all(due.into_iter().map(|d| deliver(app, client, d))).await;
    let sent = outcomes.iter().filter(|(_, o)| o.is_ok()).count();
    store::notify::settle_all(&app.db, owner, app.now(), outcomes).await?;
    Ok(sent)
}

/// Sends one notification; its outcome.
async fn deliver(
    app: &App,
    client: &reqwest::Client,
    d: Delivery,
) -> (i64, store::notify::Outcome) {
    let result = match &d.subscription.channel {
        Channel::Webhook(url) => post(app, client, url, &d).await,
        Channel::Email(to) => mail(app, to, &d).await,
    };
    (d.id, outcome(app, &d, result))
}

/// Posts the delivery's CloudEvent to `url`, signed.
async fn post(app: &App, client: &reqwest::Client, url: &str, d: &Delivery) -> Result<(), String> {
    let id = notify::webhook_id(&d.subscription.id, d.event.sequence);
    let body = notify::cloud_event(&id, &format!("//{}", app.log.origin), &d.event).to_string();
    let timestamp = app.now().timestamp();
    match notify::sign(&d.subscription.secret, &id, timestamp, &body) {
        None => Err("the subscription's secret is not a whsec_ key".to_owned()),
        Some(signature) => client
            .post(url)
            .header("content-type", "application/cloudevents+json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{e}"))
            .and_then(|r| {
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the receiver answered {}", r.status()))
                }
            }),
    }
}

/// Mails the delivery's message to `to` through the configured server.
async fn mail(app: &App, to: &str, d: &Delivery) -> Result<(), String> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let Some(url) = &app.notify.smtp_url else {
        return Err("no smtp_url is configured".into());
    };
    let (subject, body) = notify::email(&d.event, app.notify.console_url.as_deref());
    let message = Message::builder()
        .from(
            app.notify
                .smtp_from
                .parse()
                .map_err(|e| format!("smtp_from: {e}"))?,
        )
        .to(to.parse().map_err(|e| format!("{to}: {e}"))?)
        .subject(subject)
        .message_id(Some(format!(
            "<{}@reserve-dispatch>",
            notify::webhook_id(&d.subscription.id, d.event.sequence)
        )))
        .body(body)
        .map_err(|e| e.to_string())?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| format!("smtp_url: {e}"))?
        .timeout(Some(TIMEOUT))
        .build();
    transport
        .send(message)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A delivery's result as recorded: retried after its back-off, or dead.
fn outcome(app: &App, d: &Delivery, result: Result<(), String>) -> store::notify::Outcome {
    if result.is_err() {
        app.metrics.notification_failed();
    }
    let now = app.now();
    result.map_err(|error| {
        let attempts = d.attempts + 1;
        let retry = (attempts < MAX_ATTEMPTS).then(|| now + notify::backoff(attempts - 1));
        if retry.is_none() {
            tracing::warn!(notification = d.id, %error, "notification dead after {attempts} attempts");
        }
        (error, retry)
    })
}
