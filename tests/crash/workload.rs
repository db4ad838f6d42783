//! The mixed workload: concurrent clients, each taking request after request
//! through its life (create, submit, decision, dispatch, the providers'
//! answers, agreement, delivery, report, closing, sometimes a withdrawal),
//! with every choice drawn from a seeded generator. Every write the service
//! answers OK goes into the ledger; a call cut off by a crash or answered
//! UNAVAILABLE is counted as not acknowledged, and the client reads the
//! request again to learn where it stands.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reserve_dispatch::grpc::pb;
use tonic::{Code, Status, transport::Channel};

use crate::helpers::{Keys, authed, create, day_from_today, member_state_request, moldova_request};

use pb::RequestState as S;
use pb::dispatch_service_client::DispatchServiceClient;
use pb::provider_service_client::ProviderServiceClient;
use pb::support_request_service_client::SupportRequestServiceClient;

/// The providers the clients plan with (both serve Romania and Moldova).
pub const PROVIDERS: [&str; 2] = ["nordic-ir", "danube-cyber"];
/// Every demo provider, for reading all offers back.
pub const ALL_PROVIDERS: [&str; 4] = [
    "nordic-ir",
    "danube-cyber",
    "iberia-forensics",
    "baltic-shield",
];
/// No call may take longer than this, whatever happens to the server or the database.
pub const CALL_BOUND: Duration = Duration::from_secs(20);
/// How long a read is retried while the service is down.
const RETRY_BOUND: Duration = Duration::from_secs(90);
/// Steps a client takes with one request before calling it stuck.
const MAX_STEPS: u32 = 100;

/// A write the service answered OK: it must survive every crash.
#[derive(Debug, Clone)]
pub struct Ack {
    pub resource: String,
    pub action: &'static str,
    /// The state the answer reported.
    pub state: String,
}

/// One call as the client saw it.
#[derive(Debug, Clone, Copy)]
pub struct CallRecord {
    pub started: Instant,
    pub took: Duration,
    pub code: Code,
}

#[derive(Default)]
pub struct Ledger {
    pub acks: Vec<Ack>,
    pub calls: Vec<CallRecord>,
    /// Writes cut off by a crash or answered UNAVAILABLE.
    pub not_acknowledged: u64,
    /// Writes the chart refused (FAILED_PRECONDITION, ABORTED): a retry of
    /// a write that had been applied, or a race with a timer.
    pub refused: u64,
    /// Answers no crash explains (INTERNAL, a hang, ...): each fails the run.
    pub unexpected: Vec<String>,
}

pub enum Outcome<T> {
    Ok(T),
    NotAcknowledged,
    Refused,
}

pub struct Workload {
    channel: Arc<RwLock<Channel>>,
    keys: Arc<Keys>,
    pub ledger: Mutex<Ledger>,
    stop: AtomicBool,
    /// The server process may die under a call: a broken connection is then
    /// a call not acknowledged, not a failure.
    server_dies: bool,
}

/// The audit trail's name of a request state.
pub fn request_state(state: i32) -> String {
    S::try_from(state)
        .map(|s| s.as_str_name().to_owned())
        .unwrap_or_else(|_| format!("unknown request state {state}"))
}

/// The audit trail's name of an offer state (`OFFER_ACTIVE` is `ACTIVE`).
pub fn offer_state(state: i32) -> String {
    pb::OfferState::try_from(state)
        .map(|s| {
            let name = s.as_str_name();
            name.strip_prefix("OFFER_").unwrap_or(name).to_owned()
        })
        .unwrap_or_else(|_| format!("unknown offer state {state}"))
}

/// Whether a failed call is the client's own report of a broken connection
/// (a status the server sent has no source error).
fn transport_failure(status: &Status) -> bool {
    std::error::Error::source(status).is_some()
        && matches!(
            status.code(),
            Code::Unknown | Code::Cancelled | Code::Internal | Code::Unavailable
        )
}

impl Workload {
    pub fn new(channel: Arc<RwLock<Channel>>, keys: Arc<Keys>, server_dies: bool) -> Arc<Workload> {
        Arc::new(Workload {
            channel,
            keys,
            ledger: Mutex::default(),
            stop: AtomicBool::new(false),
            server_dies,
        })
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Writes acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.ledger.lock().unwrap().acks.len()
    }

    /// How many calls ended with each code.
    pub fn codes(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for c in &self.ledger.lock().unwrap().calls {
            *counts.entry(format!("{:?}", c.code)).or_default() += 1;
        }
        counts
    }

    /// The calls made so far.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.ledger.lock().unwrap().calls.clone()
    }

    pub fn token(&self, role: &str, org: &str) -> String {
        self.keys.token_for(role, org)
    }

    fn unexpected(&self, what: String) {
        eprintln!("crash harness: UNEXPECTED {what}");
        self.ledger.lock().unwrap().unexpected.push(what);
    }

    fn ack(&self, resource: &str, action: &'static str, state: String) {
        self.ledger.lock().unwrap().acks.push(Ack {
            resource: resource.to_owned(),
            action,
            state,
        });
    }

    /// One call on the current incarnation of the server, bounded in time
    /// and classified.
    pub async fn call<T, Fut>(
        &self,
        what: &str,
        write: bool,
        f: impl FnOnce(Channel) -> Fut,
    ) -> Outcome<T>
    where
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let channel = self.channel.read().unwrap().clone();
        let started = Instant::now();
        let result = tokio::time::timeout(CALL_BOUND, f(channel)).await;
        let took = started.elapsed();
        let code = match &result {
            Ok(Ok(_)) => Code::Ok,
            Ok(Err(status)) => status.code(),
            Err(_) => Code::DeadlineExceeded,
        };
        self.ledger.lock().unwrap().calls.push(CallRecord {
            started,
            took,
            code,
        });
        match result {
            Ok(Ok(response)) => Outcome::Ok(response.into_inner()),
            Err(_) => {
                self.unexpected(format!("{what} got no answer within {CALL_BOUND:?}"));
                Outcome::NotAcknowledged
            }
            Ok(Err(status))
                if status.code() == Code::Unavailable
                    || (self.server_dies && transport_failure(&status)) =>
            {
                if write {
                    self.ledger.lock().unwrap().not_acknowledged += 1;
                }
                Outcome::NotAcknowledged
            }
            Ok(Err(status))
                if write && matches!(status.code(), Code::FailedPrecondition | Code::Aborted) =>
            {
                self.ledger.lock().unwrap().refused += 1;
                Outcome::Refused
            }
            Ok(Err(status)) => {
                self.unexpected(format!(
                    "{what}: {:?} {} (source: {:?})",
                    status.code(),
                    status.message(),
                    std::error::Error::source(&status)
                ));
                Outcome::Refused
            }
        }
    }

    /// A read (or an idempotent write), retried while the service is down.
    pub async fn retry<T, Fut>(
        &self,
        what: &str,
        write: bool,
        mut f: impl FnMut(Channel) -> Fut,
    ) -> Option<T>
    where
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + RETRY_BOUND;
        loop {
            match self.call(what, write, &mut f).await {
                Outcome::Ok(t) => return Some(t),
                Outcome::Refused => return None,
                Outcome::NotAcknowledged => {}
            }
            if Instant::now() > deadline {
                self.unexpected(format!("{what}: no answer within {RETRY_BOUND:?}"));
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Capacity for both providers, enough for the run.
    pub async fn commit_capacity(&self, person_days: u32) {
        for provider in PROVIDERS {
            let commitment = self
                .retry("CreateCapacityCommitment", false, |ch| {
                    let request = authed(
                        pb::CreateCapacityCommitmentRequest {
                            capacity_commitment: Some(pb::CapacityCommitment {
                                provider: format!("providers/{provider}"),
                                service: pb::ServiceType::IncidentResponse as i32,
                                person_days,
                                period_start: day_from_today(-1),
                                period_end: day_from_today(100),
                                ..Default::default()
                            }),
                        },
                        &self.token("admin", "reserve"),
                    );
                    async move {
                        pb::registry_service_client::RegistryServiceClient::new(ch)
                            .create_capacity_commitment(request)
                            .await
                    }
                })
                .await;
            assert!(commitment.is_some(), "capacity committed for {provider}");
        }
    }

    /// A client: request after request until told to stop.
    pub async fn client(self: Arc<Self>, index: u32, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed ^ (u64::from(index) << 48));
        let mut n = 0;
        while !self.stopped() {
            self.drive_one(&mut rng, index, n).await;
            n += 1;
        }
    }

    async fn read_request(&self, org: &str, name: &str) -> Option<pb::SupportRequest> {
        self.retry("GetSupportRequest", false, |ch| {
            let request = authed(
                pb::GetSupportRequestRequest { name: name.into() },
                &self.token("requester", org),
            );
            async move {
                SupportRequestServiceClient::new(ch)
                    .get_support_request(request)
                    .await
            }
        })
        .await
    }

    /// A write answered with the request: acknowledged when OK.
    async fn request_write<Fut>(&self, action: &'static str, f: impl FnOnce(Channel) -> Fut)
    where
        Fut: Future<Output = Result<tonic::Response<pb::SupportRequest>, Status>>,
    {
        if let Outcome::Ok(r) = self.call(action, true, f).await {
            self.ack(&r.name, action, request_state(r.state));
        }
    }

    /// A write answered with the offer: acknowledged when OK.
    async fn offer_write<Fut>(&self, action: &'static str, f: impl FnOnce(Channel) -> Fut)
    where
        Fut: Future<Output = Result<tonic::Response<pb::Offer>, Status>>,
    {
        if let Outcome::Ok(o) = self.call(action, true, f).await {
            self.ack(&o.name, action, offer_state(o.state));
        }
    }

    /// One request through its life, as far as the dice say.
    async fn drive_one(&self, rng: &mut StdRng, client: u32, n: u32) {
        let third_country = rng.random_bool(0.5);
        // CRITICAL offers expire at once (see the rules file): the timers' share.
        let critical = rng.random_bool(0.25);
        let withdraw_at = rng.random_bool(0.1).then(|| rng.random_range(0..8u32));
        let days = rng.random_range(1..=5u32);
        let first = rng.random_range(0..PROVIDERS.len());
        let (org, mut body) = if third_country {
            ("md-spoc", moldova_request())
        } else {
            ("ro-csirt", member_state_request("RO"))
        };
        body.severity = if critical {
            pb::Severity::Critical
        } else {
            pb::Severity::High
        } as i32;
        let request_id = format!("crash-{client}-{n}");
        // Creation is idempotent by request_id: retried until answered.
        let Some(created) = self
            .retry("CreateSupportRequest", true, |ch| {
                let request = authed(
                    create(body.clone(), &request_id),
                    &self.token("requester", org),
                );
                async move {
                    SupportRequestServiceClient::new(ch)
                        .create_support_request(request)
                        .await
                }
            })
            .await
        else {
            return;
        };
        self.ack(
            &created.name,
            "CreateSupportRequest",
            request_state(created.state),
        );
        let name = created.name;
        let requester = || self.token("requester", org);
        let mut answers: HashMap<String, bool> = HashMap::new();
        for step in 0..MAX_STEPS {
            if self.stopped() {
                return;
            }
            let Some(current) = self.read_request(org, &name).await else {
                return;
            };
            let state = S::try_from(current.state).unwrap_or(S::Unspecified);
            if withdraw_at == Some(step)
                && !matches!(
                    state,
                    S::Completed
                        | S::Reported
                        | S::Closed
                        | S::Withdrawn
                        | S::Ineligible
                        | S::Rejected
                )
            {
                let request = authed(
                    pb::WithdrawSupportRequestRequest {
                        name: name.clone(),
                        reason: "Resolved by our own means".into(),
                    },
                    &requester(),
                );
                self.request_write("WithdrawSupportRequest", |ch| async move {
                    SupportRequestServiceClient::new(ch)
                        .withdraw_support_request(request)
                        .await
                })
                .await;
                continue;
            }
            match state {
                S::Draft => {
                    let request = authed(
                        pb::SubmitSupportRequestRequest { name: name.clone() },
                        &requester(),
                    );
                    self.request_write("SubmitSupportRequest", |ch| async move {
                        SupportRequestServiceClient::new(ch)
                            .submit_support_request(request)
                            .await
                    })
                    .await;
                }
                S::Eligible | S::Referred => {
                    let (role, org) = if state == S::Referred {
                        ("commission", "ec")
                    } else {
                        ("duty_officer", "enisa")
                    };
                    let request = authed(
                        pb::AuthoriseSupportRequest {
                            name: name.clone(),
                            granted_lines: vec![pb::ServiceLine {
                                service: pb::ServiceType::IncidentResponse as i32,
                                person_days: days,
                                ..Default::default()
                            }],
                            duration_days: 30,
                            ..Default::default()
                        },
                        &self.token(role, org),
                    );
                    self.request_write("AuthoriseSupport", |ch| async move {
                        DispatchServiceClient::new(ch)
                            .authorise_support(request)
                            .await
                    })
                    .await;
                }
                S::Authorised => {
                    let request = authed(
                        pb::ApproveDispatchRequest {
                            name: name.clone(),
                            plan: vec![pb::LinePlan {
                                line_index: 0,
                                provider: format!("providers/{}", PROVIDERS[first]),
                                fallbacks: vec![format!("providers/{}", PROVIDERS[1 - first])],
                                justification: "Chosen by the crash harness".into(),
                            }],
                            version: 0,
                        },
                        &self.token("duty_officer", "enisa"),
                    );
                    self.request_write("ApproveDispatch", |ch| async move {
                        DispatchServiceClient::new(ch)
                            .approve_dispatch(request)
                            .await
                    })
                    .await;
                }
                // Its offers expire by themselves: left to the timers.
                S::Dispatching if critical => return,
                S::Dispatching => {
                    if !self.answer_offers(rng, &name, &mut answers).await {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                S::Dispatched => self.deliver(&name).await,
                S::Completed => {
                    let request = authed(
                        pb::SubmitSummaryReportRequest {
                            name: name.clone(),
                            service_provided: "Containment".into(),
                            results: "Restored".into(),
                            lessons_learned: "Offline backups".into(),
                        },
                        &requester(),
                    );
                    self.request_write("SubmitSummaryReport", |ch| async move {
                        SupportRequestServiceClient::new(ch)
                            .submit_summary_report(request)
                            .await
                    })
                    .await;
                }
                S::Reported => {
                    let request = authed(
                        pb::CloseSupportRequestRequest { name: name.clone() },
                        &self.token("duty_officer", "enisa"),
                    );
                    self.request_write("CloseSupportRequest", |ch| async move {
                        DispatchServiceClient::new(ch)
                            .close_support_request(request)
                            .await
                    })
                    .await;
                }
                S::WaitingCapacity | S::Closed | S::Withdrawn => return,
                other => {
                    self.unexpected(format!(
                        "{name} reached {other:?}, which this workload never asks for"
                    ));
                    return;
                }
            }
        }
        self.unexpected(format!("{name} made no progress in {MAX_STEPS} steps"));
    }

    /// A provider's offers (or assignments), newest first, down to those
    /// made no earlier than the request `since` (ids are UUIDv7, ordered by
    /// time, and a request's offers are younger than the request).
    async fn offers(&self, provider: &str, assignments: bool, since: &str) -> Vec<pb::Offer> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let token = self.token("provider", provider);
            let pt = page_token.clone();
            let page = self
                .retry("ListOffers", false, |ch| {
                    let (token, page_token) = (token.clone(), pt.clone());
                    async move {
                        let mut client = ProviderServiceClient::new(ch);
                        if assignments {
                            client
                                .list_assignments(authed(
                                    pb::ListAssignmentsRequest {
                                        page_size: 100,
                                        page_token,
                                    },
                                    &token,
                                ))
                                .await
                                .map(|r| r.map(|p| (p.assignments, p.next_page_token)))
                        } else {
                            client
                                .list_offers(authed(
                                    pb::ListOffersRequest {
                                        page_size: 100,
                                        page_token,
                                    },
                                    &token,
                                ))
                                .await
                                .map(|r| r.map(|p| (p.offers, p.next_page_token)))
                        }
                    }
                })
                .await;
            let Some((offers, next)) = page else {
                return all;
            };
            let older = offers
                .last()
                .is_some_and(|o| o.name.trim_start_matches("offers/") < since);
            all.extend(offers);
            if next.is_empty() || older {
                return all;
            }
            page_token = next;
        }
    }

    /// Every offer of every demo provider, as the API lists them.
    pub async fn all_offers(&self) -> Vec<pb::Offer> {
        let mut all = Vec::new();
        for provider in ALL_PROVIDERS {
            all.extend(self.offers(provider, false, "").await);
            all.extend(self.offers(provider, true, "").await);
        }
        all
    }

    /// The providers answer the request's open offers (accept or decline, by
    /// the dice, once per offer) and record agreements for accepted ones.
    /// False when there was nothing to do.
    async fn answer_offers(
        &self,
        rng: &mut StdRng,
        name: &str,
        answers: &mut HashMap<String, bool>,
    ) -> bool {
        let mut acted = false;
        let since = name.trim_start_matches("supportRequests/");
        for provider in PROVIDERS {
            let token = self.token("provider", provider);
            for offer in self.offers(provider, false, since).await {
                if offer.support_request != name || offer.state != pb::OfferState::Offered as i32 {
                    continue;
                }
                let accept = *answers
                    .entry(offer.name.clone())
                    .or_insert_with(|| rng.random_bool(0.75));
                acted = true;
                if accept {
                    let request = authed(pb::AcceptOfferRequest { name: offer.name }, &token);
                    self.offer_write("AcceptOffer", |ch| async move {
                        ProviderServiceClient::new(ch).accept_offer(request).await
                    })
                    .await;
                } else {
                    let request = authed(
                        pb::DeclineOfferRequest {
                            name: offer.name,
                            reason: pb::DeclineReason::NoCapacity as i32,
                            note: String::new(),
                        },
                        &token,
                    );
                    self.offer_write("DeclineOffer", |ch| async move {
                        ProviderServiceClient::new(ch).decline_offer(request).await
                    })
                    .await;
                }
            }
            for offer in self.offers(provider, true, since).await {
                if offer.support_request != name || offer.state != pb::OfferState::Accepted as i32 {
                    continue;
                }
                acted = true;
                let request = authed(
                    pb::RecordAgreementRequest {
                        name: offer.name,
                        agreement: Some(pb::Agreement {
                            reference: format!("SA-{}", &name[name.len() - 8..]),
                            template_version: "CSR-SA-2026.1".into(),
                            sign_time: Some(prost_types::Timestamp {
                                seconds: chrono::Utc::now().timestamp() - 60,
                                nanos: 0,
                            }),
                            liability_conditions: "Per Art. 16(6)".into(),
                            affected_entity: String::new(),
                        }),
                    },
                    &token,
                );
                self.offer_write("RecordAgreement", |ch| async move {
                    ProviderServiceClient::new(ch)
                        .record_agreement(request)
                        .await
                })
                .await;
            }
        }
        acted
    }

    /// The providers report delivery of the request's active assignments.
    async fn deliver(&self, name: &str) {
        let since = name.trim_start_matches("supportRequests/");
        for provider in PROVIDERS {
            let token = self.token("provider", provider);
            for offer in self.offers(provider, true, since).await {
                if offer.support_request != name
                    || offer.state != pb::OfferState::OfferActive as i32
                {
                    continue;
                }
                let request = authed(
                    pb::CompleteAssignmentRequest {
                        name: offer.name,
                        delivery_note: "Delivered".into(),
                    },
                    &token,
                );
                self.offer_write("CompleteAssignment", |ch| async move {
                    ProviderServiceClient::new(ch)
                        .complete_assignment(request)
                        .await
                })
                .await;
            }
        }
    }
}
