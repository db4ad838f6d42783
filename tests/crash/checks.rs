//! What must hold after the crashes: every acknowledged write present, every
//! state explained by its events, the capacity ledger balanced, every due
//! timer fired exactly once, the audit chain intact.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use reserve_dispatch::grpc::pb;
use reserve_dispatch::store::entities::{capacity_commitment, capacity_entry, offer, timer};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::helpers::authed;
use crate::service::Service;
use crate::workload::{Workload, offer_state, request_state};

/// How long the worker is given to catch up after the last restart: a timer
/// claimed by a killed process waits out its 30-second lease.
const TIMER_CATCH_UP: Duration = Duration::from_secs(90);

/// The figures of a run.
#[derive(Debug, Default)]
pub struct Figures {
    pub acknowledged: usize,
    pub not_acknowledged: u64,
    pub refused: u64,
    pub requests: usize,
    pub offers: usize,
    pub expiries: usize,
    pub events: i64,
    pub commitments: usize,
    pub ledger_entries: usize,
}

/// The request chart of DESIGN.md, with the steps the service takes itself
/// (waiting for capacity and matching again).
fn request_edge(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("", "DRAFT")
            | ("DRAFT" | "NEEDS_INFO", "SUBMITTED")
            | ("SUBMITTED", "ELIGIBLE" | "INELIGIBLE" | "NEEDS_INFO")
            | ("ELIGIBLE", "REFERRED")
            | (
                "ELIGIBLE" | "REFERRED",
                "AUTHORISED" | "REJECTED" | "NEEDS_INFO"
            )
            | ("AUTHORISED", "DISPATCHING")
            | ("DISPATCHING", "WAITING_CAPACITY" | "DISPATCHED")
            | ("WAITING_CAPACITY", "DISPATCHING")
            | ("DISPATCHED", "COMPLETED")
            | ("COMPLETED", "REPORTED")
            | ("REPORTED", "CLOSED")
            | (
                "DRAFT"
                    | "SUBMITTED"
                    | "ELIGIBLE"
                    | "NEEDS_INFO"
                    | "REFERRED"
                    | "AUTHORISED"
                    | "DISPATCHING"
                    | "WAITING_CAPACITY"
                    | "DISPATCHED",
                "WITHDRAWN"
            )
    )
}

/// The offer chart.
fn offer_edge(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("", "OFFERED")
            | ("OFFERED", "ACCEPTED" | "DECLINED" | "EXPIRED" | "WITHDRAWN")
            | ("ACCEPTED", "ACTIVE" | "WITHDRAWN")
            | ("ACTIVE", "DELIVERED" | "WITHDRAWN")
    )
}

const REQUEST_STATES: [&str; 15] = [
    "DRAFT",
    "SUBMITTED",
    "ELIGIBLE",
    "INELIGIBLE",
    "NEEDS_INFO",
    "REFERRED",
    "AUTHORISED",
    "REJECTED",
    "DISPATCHING",
    "WAITING_CAPACITY",
    "DISPATCHED",
    "COMPLETED",
    "REPORTED",
    "CLOSED",
    "WITHDRAWN",
];
const OFFER_STATES: [&str; 7] = [
    "OFFERED",
    "ACCEPTED",
    "DECLINED",
    "EXPIRED",
    "WITHDRAWN",
    "ACTIVE",
    "DELIVERED",
];

/// A state chart: its steps and its states.
struct Chart {
    edge: fn(&str, &str) -> bool,
    states: &'static [&'static str],
}

const REQUESTS: Chart = Chart {
    edge: request_edge,
    states: &REQUEST_STATES,
};
const OFFERS: Chart = Chart {
    edge: offer_edge,
    states: &OFFER_STATES,
};

/// The chart a resource's states follow.
fn chart_of(resource: &str) -> Option<&'static Chart> {
    if resource.starts_with("supportRequests/") {
        Some(&REQUESTS)
    } else if resource.starts_with("offers/") {
        Some(&OFFERS)
    } else {
        None
    }
}

impl Chart {
    /// Whether `to` is `from` or lies beyond it.
    fn reachable(&self, from: &str, to: &str) -> bool {
        let mut seen = vec![from];
        let mut frontier = vec![from];
        while let Some(state) = frontier.pop() {
            if state == to {
                return true;
            }
            for next in self.states {
                if (self.edge)(state, next) && !seen.contains(next) {
                    seen.push(next);
                    frontier.push(next);
                }
            }
        }
        false
    }
}

/// Waits until no due timer is left unfired (bounded), reading the timers
/// table itself.
pub async fn wait_for_timers(url: &str) -> Result<(), String> {
    let conn = sea_orm::Database::connect(url).await.unwrap();
    let deadline = Instant::now() + TIMER_CATCH_UP;
    let result = loop {
        let due = timer::Entity::find()
            .filter(timer::Column::FiredAt.is_null())
            .filter(timer::Column::DueAt.lte(chrono::Utc::now()))
            .all(&conn)
            .await
            .unwrap();
        if due.is_empty() {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(format!(
                "{} due timers still unfired after {TIMER_CATCH_UP:?}: {:?}",
                due.len(),
                due.iter().map(|t| (&t.kind, &t.target)).collect::<Vec<_>>()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    conn.close().await.ok();
    result
}

/// Every event, in sequence order, as an auditor lists them.
async fn all_events(workload: &Workload) -> Vec<pb::AuditEvent> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let token = workload.token("auditor", "oversight");
        let pt = page_token.clone();
        let page = workload
            .retry("ListEvents", false, |ch| {
                let request = authed(
                    pb::ListEventsRequest {
                        resource: String::new(),
                        page_size: 100,
                        page_token: pt.clone(),
                    },
                    &token,
                );
                async move {
                    pb::audit_service_client::AuditServiceClient::new(ch)
                        .list_events(request)
                        .await
                }
            })
            .await
            .expect("the events are listed");
        all.extend(page.events);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

/// Runs every check on the service as it stands (it must be running and
/// the clients stopped); panics listing every failure.
pub async fn check(service: &Service, workload: &Workload) -> Figures {
    let mut failures: Vec<String> = Vec::new();
    let catch_up = Instant::now();
    if let Err(e) = wait_for_timers(&service.db.url).await {
        failures.push(e);
    }
    eprintln!(
        "crash harness: the timers caught up in {:.1?}",
        catch_up.elapsed()
    );

    // The audit trail, by resource, and what the API says of each resource.
    let events = all_events(workload).await;
    let mut by_resource: BTreeMap<&str, Vec<&pb::AuditEvent>> = BTreeMap::new();
    for e in &events {
        by_resource.entry(e.resource.as_str()).or_default().push(e);
    }
    let mut current: HashMap<String, String> = HashMap::new();
    let mut requests = 0;
    for (resource, trail) in &by_resource {
        if !resource.starts_with("supportRequests/") {
            continue;
        }
        requests += 1;
        let org = trail[0].organisation.clone();
        let name = resource.to_string();
        let read = workload
            .retry("GetSupportRequest", false, |ch| {
                let request = authed(
                    pb::GetSupportRequestRequest { name: name.clone() },
                    &workload.token("requester", &org),
                );
                async move {
                    pb::support_request_service_client::SupportRequestServiceClient::new(ch)
                        .get_support_request(request)
                        .await
                }
            })
            .await;
        match read {
            Some(r) => {
                current.insert(name, request_state(r.state));
            }
            None => failures.push(format!("{resource} has events but cannot be read")),
        }
    }
    let api_offers = workload.all_offers().await;
    for o in &api_offers {
        current.insert(o.name.clone(), offer_state(o.state));
        if !by_resource.contains_key(o.name.as_str()) {
            failures.push(format!("{} is listed but has no events", o.name));
        }
    }

    // Every state is the end of its trail, and every step of the trail is on the chart.
    let mut expiries = 0;
    for (resource, trail) in &by_resource {
        let Some(chart) = chart_of(resource) else {
            continue;
        };
        let mut state = "";
        for e in trail {
            if e.from_state != state {
                failures.push(format!(
                    "{resource}: event {} ({}) starts from {} but the trail stood at {state:?}",
                    e.sequence, e.action, e.from_state
                ));
            }
            if e.from_state != e.to_state && !(chart.edge)(&e.from_state, &e.to_state) {
                failures.push(format!(
                    "{resource}: event {} ({}) goes {} -> {}, not on the chart",
                    e.sequence, e.action, e.from_state, e.to_state
                ));
            }
            state = &e.to_state;
        }
        match current.get(*resource) {
            Some(s) if s == state => {}
            Some(s) => failures.push(format!("{resource} is {s} but its events end at {state}")),
            None => failures.push(format!(
                "{resource} has events but the API does not show it"
            )),
        }
        let expired = trail.iter().filter(|e| e.action == "ExpireOffer").count();
        expiries += expired;
        if expired > 1 {
            failures.push(format!("{resource} expired {expired} times"));
        }
        if (state == "EXPIRED") != (expired == 1) {
            failures.push(format!(
                "{resource} is {state} with {expired} expiry events"
            ));
        }
    }

    // Every acknowledged write is there, in the order acknowledged, and the
    // resource stands at or beyond what was acknowledged.
    let (acks, not_acknowledged, refused, unexpected) = {
        let ledger = workload.ledger.lock().unwrap();
        (
            ledger.acks.clone(),
            ledger.not_acknowledged,
            ledger.refused,
            ledger.unexpected.clone(),
        )
    };
    failures.extend(
        unexpected
            .into_iter()
            .map(|u| format!("during the run: {u}")),
    );
    let mut cursor: HashMap<&str, usize> = HashMap::new();
    for ack in &acks {
        let Some(trail) = by_resource.get(ack.resource.as_str()) else {
            failures.push(format!(
                "acknowledged {} of {} is lost: no events",
                ack.action, ack.resource
            ));
            continue;
        };
        let from = cursor.entry(ack.resource.as_str()).or_default();
        match trail[*from..].iter().position(|e| e.action == ack.action) {
            Some(i) => *from += i + 1,
            None => failures.push(format!(
                "acknowledged {} of {} is lost (or out of order)",
                ack.action, ack.resource
            )),
        }
        let chart =
            chart_of(&ack.resource).expect("acknowledged writes are on requests and offers");
        match current.get(&ack.resource) {
            Some(now) if chart.reachable(&ack.state, now) => {}
            Some(now) => failures.push(format!(
                "{} was acknowledged {} by {} but is now {now}",
                ack.resource, ack.state, ack.action
            )),
            None => failures.push(format!("acknowledged {} is gone", ack.resource)),
        }
    }

    // The capacity ledger, read from the database.
    let conn = sea_orm::Database::connect(&service.db.url).await.unwrap();
    let commitments = capacity_commitment::Entity::find()
        .all(&conn)
        .await
        .unwrap();
    // In the order they were written: for one commitment, each by a
    // transaction holding its row until the commit.
    let entries = capacity_entry::Entity::find()
        .order_by_asc(capacity_entry::Column::Id)
        .all(&conn)
        .await
        .unwrap();
    let offers = offer::Entity::find().all(&conn).await.unwrap();
    if offers.len() != api_offers.len() {
        failures.push(format!(
            "{} offers in the database, {} through the API",
            offers.len(),
            api_offers.len()
        ));
    }
    for c in &commitments {
        let (mut held, mut consumed) = (0i64, 0i64);
        for e in entries.iter().filter(|e| e.commitment_id == c.id) {
            let d = i64::from(e.person_days);
            if d <= 0 {
                failures.push(format!("ledger entry {} moves {d} person-days", e.id));
            }
            match e.kind.as_str() {
                "HOLD" => held += d,
                "CONSUME" => {
                    held -= d;
                    consumed += d;
                }
                "RELEASE_HELD" => held -= d,
                "RELEASE_CONSUMED" => consumed -= d,
                other => failures.push(format!("ledger entry {} of unknown kind {other}", e.id)),
            }
            if held < 0 || consumed < 0 {
                failures.push(format!(
                    "commitment {}: the ledger goes negative at entry {} (held {held}, consumed {consumed})",
                    c.id, e.id
                ));
            }
        }
        let mine = offers.iter().filter(|o| o.commitment_id == c.id);
        let open: i64 = mine
            .clone()
            .filter(|o| o.state == "OFFERED")
            .map(|o| i64::from(o.person_days))
            .sum();
        let taken: i64 = mine
            .filter(|o| matches!(o.state.as_str(), "ACCEPTED" | "ACTIVE" | "DELIVERED"))
            .map(|o| i64::from(o.person_days))
            .sum();
        let row = (i64::from(c.held_days), i64::from(c.consumed_days));
        if row != (held, consumed) || row != (open, taken) {
            failures.push(format!(
                "commitment {} counts held {}, consumed {}; its ledger sums to {held}, {consumed}; its offers to {open}, {taken}",
                c.id, c.held_days, c.consumed_days
            ));
        }
        if c.held_days < 0 || c.consumed_days < 0 || c.held_days + c.consumed_days > c.person_days {
            failures.push(format!(
                "commitment {} is overbooked or negative: held {} + consumed {} of {}",
                c.id, c.held_days, c.consumed_days, c.person_days
            ));
        }
    }

    // Each offer had one expiry timer, and each due one fired.
    let timers = timer::Entity::find()
        .filter(timer::Column::Kind.eq("OFFER_EXPIRY"))
        .all(&conn)
        .await
        .unwrap();
    for o in &offers {
        let mine: Vec<_> = timers.iter().filter(|t| t.target == o.id).collect();
        if mine.len() != 1 {
            failures.push(format!("offers/{} has {} expiry timers", o.id, mine.len()));
        }
        if o.state == "OFFERED" && o.accept_deadline <= chrono::Utc::now() {
            failures.push(format!(
                "offers/{} is past its deadline and still OFFERED",
                o.id
            ));
        }
    }
    conn.close().await.ok();

    // The chain.
    let verification = workload
        .retry("VerifyAuditChain", false, |ch| {
            let request = authed(
                pb::VerifyAuditChainRequest::default(),
                &workload.token("auditor", "oversight"),
            );
            async move {
                pb::audit_service_client::AuditServiceClient::new(ch)
                    .verify_audit_chain(request)
                    .await
            }
        })
        .await
        .expect("the chain is verified");
    if !verification.ok || verification.events_checked < events.len() as i64 {
        failures.push(format!(
            "the audit chain does not verify: {verification:?} ({} events listed)",
            events.len()
        ));
    }

    assert!(
        failures.is_empty(),
        "{} failures (seed printed above):\n{}",
        failures.len(),
        failures.join("\n")
    );
    Figures {
        acknowledged: acks.len(),
        not_acknowledged,
        refused,
        requests,
        offers: offers.len(),
        expiries,
        events: verification.events_checked,
        commitments: commitments.len(),
        ledger_entries: entries.len(),
    }
}
