//! Notifications: who is told of which events, and how a webhook delivery
//! is written (a CloudEvent in structured JSON mode) and signed (Standard
//! Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::actor::{Actor, Role};
use super::audit::{AuditEvent, Owner, Visibility, visibility};
use super::validation::Violations;

/// Where a subscription's notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Posted to this URL, signed with the subscription's secret.
    Webhook(String),
    /// Mailed to this address.
    Email(String),
}

impl Channel {
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook(_) => "WEBHOOK",
            Channel::Email(_) => "EMAIL",
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Channel::Webhook(t) | Channel::Email(t) => t,
        }
    }
}

/// A subscription: the events one organisation (or one person of it) may
/// see, of the actions it names (its role's defaults when none), sent to a
/// webhook or mailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub organisation: String,
    pub role: Role,
    /// One person (`sub`), or the whole organisation when empty.
    pub person: String,
    pub channel: Channel,
    /// `whsec_` and the base64 key (webhooks).
    pub secret: String,
    pub actions: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// The actions each role is told of when it names none (DESIGN.md, "Who
/// uses it"): what needs it.
pub fn default_actions(role: Role) -> &'static [&'static str] {
    match role {
        Role::Provider => &[
            "MakeOffer",
            "SupportPeriodEnding",
            "WithdrawOffer",
            "ProposeConversion",
            "WithdrawConversion",
        ],
        Role::DutyOfficer => &[
            "AssessEligibility",
            "AssessmentDeadlineBreached",
            "DeclineOffer",
            "ExpireOffer",
            "WaitForCapacity",
            "CouncilActEnded",
            "SupportPeriodEnding",
            "CapacityCommitmentEnding",
            "DeclineConversion",
            "ProduceUsageReport",
        ],
        Role::Commission => &[
            "ReferToCommission",
            "AssessmentDeadlineBreached",
            "CouncilActEnded",
            "SupportPeriodEnding",
            "ProduceUsageReport",
        ],
        Role::Requester => &[
            "AwaitTransmission",
            "ReturnSupportRequest",
            "AuthoriseSupport",
            "RejectSupportRequest",
            "RequestMoreInformation",
            "AssessEligibility",
            "SupportPeriodEnding",
            "SupportPeriodEnded",
            "SummaryReportOverdue",
        ],
        Role::Admin | Role::Auditor | Role::Service => &[],
    }
}

impl Subscription {
    /// The actor the subscription sees as.
    fn actor(&self) -> Actor {
        Actor {
            subject: self.person.clone(),
            role: self.role,
            organisation: self.organisation.clone(),
        }
    }

    /// The event as this subscription is told of it, if at all: an action
    /// it asked for (or its role's defaults), that its organisation may see
    /// (as `WatchEvents` shows it: a provider's view is redacted).
    pub fn wants(&self, event: &AuditEvent, owner: Option<&Owner>) -> Option<AuditEvent> {
        let asked = if self.actions.is_empty() {
            default_actions(self.role).contains(&event.action.as_str())
        } else {
            self.actions.contains(&event.action)
        };
        if !asked {
            return None;
        }
        match visibility(&self.actor(), owner) {
            Visibility::Hidden => None,
            v => event.seen_as(v),
        }
    }
}

/// The outbox's states a listing may ask for; every state when empty.
pub fn outbox_state(state: &str) -> Result<Option<&'static str>, Violations> {
    match state {
        "" => Ok(None),
        "PENDING" => Ok(Some("PENDING")),
        "SENT" => Ok(Some("SENT")),
        "DEAD" => Ok(Some("DEAD")),
        _ => Err(Violations::one("state", "must be PENDING, SENT or DEAD")),
    }
}

/// The id of a subscription's name, `subscriptions/{id}`.
pub fn subscription_id(name: &str) -> Result<&str, Violations> {
    name.strip_prefix("subscriptions/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| Violations::one("name", "must be subscriptions/{id}"))
}

/// A new webhook secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    format!("whsec_{}", B64.encode(rand::random::<[u8; 24]>()))
}

/// Checks a webhook URL: http or https, with a host.
fn check_url(v: &mut Violations, field: &str, url: &str) {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && url.len() <= 2048 => {}
        _ => v.add(field, "must be an http:// or https:// URL with a host"),
    }
}

/// The id of a delivery: the same across its retries.
pub fn webhook_id(subscription: &str, sequence: i64) -> String {
    format!("msg_{subscription}_{sequence}")
}

/// The CloudEvent (JSON, structured mode) of `event`, as the subscription
/// may see it.
pub fn cloud_event(id: &str, source: &str, event: &AuditEvent) -> serde_json::Value {
    let payload: serde_json::Value =
        serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": format!("eu.reserve.audit.{}", event.action),
        "subject": event.resource,
        "time": event.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        "datacontenttype": "application/json",
        "data": {
            "sequence": event.sequence,
            "action": event.action,
            "resource": event.resource,
            "from_state": event.from_state,
            "to_state": event.to_state,
            "actor": event.actor,
            "organisation": event.organisation,
            "payload": payload,
        },
    })
}

/// The `webhook-signature` of `body` sent as `id` at `timestamp` (Unix
/// seconds), with `secret` (`whsec_…`): `v1,` and the base64 HMAC-SHA256
/// of `id.timestamp.body`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// What the receiver of a notification of `action` is asked to do.
fn asked(action: &str) -> &'static str {
    match action {
        "MakeOffer" => "accept or decline the offer before it expires",
        "AssessEligibility" => "decide the request within its response deadline",
        "ReferToCommission" => "decide the request without undue delay",
        "AssessmentDeadlineBreached" => "decide the request: its response deadline has passed",
        "AwaitTransmission" => "as its contact point, transmit the request or return it",
        "ReturnSupportRequest" => "edit the request and submit it again",
        "RequestMoreInformation" => "answer the questions and submit the request again",
        "DeclineOffer" | "ExpireOffer" | "WaitForCapacity" => {
            "see to the line that is still without a provider"
        }
        "SupportPeriodEnding" => "plan for the end of the support period",
        "SupportPeriodEnded" | "SummaryReportOverdue" => "file the summary report (Art. 16(9))",
        "CouncilActEnded" => "see to the support running under the Council act that ended",
        "CapacityCommitmentEnding" => {
            "propose converting the unused person-days into preparedness services (Art. 14(2))"
        }
        "ProposeConversion" => "accept or decline the proposed preparedness service",
        "DeclineConversion" => "propose the person-days to another user, or let them lapse",
        "ProduceUsageReport" => "send the report to its audience and record its transmission",
        _ => "nothing: this is for your information",
    }
}

/// The e-mail of `event` as the subscription may see it: a subject and a
/// plain-text body saying what happened, what is asked and by when, with a
/// link to the console. Only the event's own fields and a deadline from
/// its payload go in; never a request's content, whatever its TLP.
pub fn email(event: &AuditEvent, console: Option<&str>) -> (String, String) {
    let subject = format!(
        "[Cybersecurity Reserve] {} {}",
        event.action, event.resource
    );
    let mut body = format!("What happened: {} on {}", event.action, event.resource);
    if !event.from_state.is_empty() || !event.to_state.is_empty() {
        body.push_str(&format!(" ({} -> {})", event.from_state, event.to_state));
    }
    body.push_str(&format!(
        ", at {}.\nWhat is asked: {}.\n",
        event.time.to_rfc3339_opts(SecondsFormat::Secs, true),
        asked(&event.action)
    ));
    let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap_or_default();
    for key in ["expires_at", "deadline", "ends", "support_ends"] {
        if let Some(when) = payload.get(key).and_then(|v| v.as_str()) {
            body.push_str(&format!("By when: {when}.\n"));
            break;
        }
    }
    if let Some(console) = console {
        let page = match event.resource.split_once('/') {
            Some(("supportRequests", id)) => format!("/requests/{id}"),
            Some(("offers", _)) => "/offers".to_owned(),
            _ => "/".to_owned(),
        };
        body.push_str(&format!(
            "Open it: {}{page}\n",
            console.trim_end_matches('/')
        ));
    }
    body.push_str(
        "\nThis message carries no content of the request: read it in the console or with \
         the reserve CLI.\n",
    );
    (subject, body)
}

/// Deliveries tried before a notification goes to the dead letters.
pub const MAX_ATTEMPTS: i32 = 8;

/// The wait before attempt `attempts + 1`: 2^attempts seconds (at most an
/// hour), with up to a fifth of it added at random so that retries of many
/// notifications do not arrive together.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let base = 1i64 << attempts.clamp(0, 12);
    let millis = (base * 1000).min(3_600_000);
    let jitter = rand::random::<u64>() % (millis as u64 / 5 + 1);
    chrono::Duration::milliseconds(millis + jitter as i64)
}

/// A subscription as a door received it, checked for `actor` at `now`:
/// the caller's organisation and role, the caller alone when `personal`.
pub fn parse_subscription(
    actor: &Actor,
    url: &str,
    email: &str,
    actions: &[String],
    personal: bool,
    now: DateTime<Utc>,
) -> Result<Subscription, Violations> {
    let mut v = Violations::new();
    let channel = match (url.is_empty(), email.is_empty()) {
        (false, true) => {
            check_url(&mut v, "subscription.webhook_url", url);
            Channel::Webhook(url.to_owned())
        }
        (true, false) => {
            let (local, domain) = email.split_once('@').unwrap_or(("", ""));
            if local.is_empty()
                || !domain.contains('.')
                || email.len() > 254
                || email.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                v.add("subscription.email", "must be an e-mail address");
            }
            Channel::Email(email.to_owned())
        }
        _ => {
            v.add(
                "subscription.webhook_url",
                "give a webhook URL or an e-mail address, one of them",
            );
            Channel::Webhook(String::new())
        }
    };
    if actions.len() > 32 {
        v.add("subscription.actions", "at most 32 actions");
    }
    for (i, action) in actions.iter().enumerate() {
        if action.is_empty()
            || action.len() > 64
            || !action.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            v.add(
                format!("subscription.actions[{i}]"),
                "must be an action's name, such as MakeOffer",
            );
        }
    }
    v.finish(Subscription {
        id: uuid::Uuid::now_v7().to_string(),
        organisation: actor.organisation.clone(),
        role: actor.role,
        person: if personal {
            actor.subject.clone()
        } else {
            String::new()
        },
        secret: match channel {
            Channel::Webhook(_) => new_secret(),
            Channel::Email(_) => String::new(),
        },
        channel,
        actions: actions.to_vec(),
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert!(backoff(0) >= chrono::Duration::seconds(1));
        assert!(backoff(0) < chrono::Duration::seconds(2));
        assert!(backoff(5) >= chrono::Duration::seconds(32));
        assert!(backoff(30) <= chrono::Duration::minutes(72));
    }
}
