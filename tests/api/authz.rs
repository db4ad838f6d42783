//! The authorisation matrix: every RPC of `reserve.v1`, by every role, on an
//! object of the caller's own side and of another side, with the outcome
//! DESIGN.md ("Who uses it") and DECISIONS.md ("Identity and visibility")
//! give. One test per cell, named `authz::<rpc>::<role>__<own|other>`.
//!
//! What "own" and "other" mean, per role (the callers' `org` claims are in
//! [`home_org`]):
//!
//! | role | own | other |
//! |---|---|---|
//! | requester (`ro-csirt`) | its organisation's objects | another Member State's (`bg-csirt`) |
//! | duty_officer (`enisa`) | a Member State's request (ENISA decides it) | a third country's (`md-spoc`; the Commission decides it) |
//! | commission | a third country's request (its remit) | a Member State's |
//! | provider (`nordic-ir`) | its own offers and record | another provider's (`danube-cyber`) |
//! | admin, auditor | the token's `org` names the object's owner | the token's `org` is the service's own (`reserve`, `oversight`) |
//!
//! Administrators and auditors act by role, not by organisation: both of
//! their columns name the same object and must agree. An RPC that names no
//! object (lists, reports, creation) is called with a filter or input that
//! points at the other side where it has one (a state only the other side's
//! requests reach, another provider, another organisation's `request_id`,
//! another view of the usage report), else the same call.
//!
//! Outcomes: `Allowed` passes authorisation (OK, or a refusal that is not a
//! denial: FAILED_PRECONDITION, INVALID_ARGUMENT, ALREADY_EXISTS, ABORTED);
//! `Denied` is PERMISSION_DENIED (the role may never do this here); `Hidden`
//! is NOT_FOUND with exactly the message of an object that does not exist.
//! Denials must not carry the object's details; lists and streams must hold
//! only what the caller may see.
//!
//! All cells share one server started once per test binary on its own thread
//! and runtime ([`fixture`]), on a fresh database with a prepared world. Each
//! RPC that changes an object has its own objects, one per side, so that the
//! cells that write do not disturb each other.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prost::Message;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::helpers::{
    Keys, TestApp, authed, create, day_from_today, member_state_request, moldova_request, spawn_app,
};
use reserve_dispatch::grpc::pb;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Allowed,
    Denied,
    Hidden,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Own,
    Other,
}

/// The table: one row per RPC, two columns (own, other) per role.
macro_rules! matrix {
    ($(
        $rpc:ident : $r1:ident $r2:ident | $d1:ident $d2:ident | $c1:ident $c2:ident
                   | $p1:ident $p2:ident | $a1:ident $a2:ident | $u1:ident $u2:ident ;
    )*) => {
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Rpc { $($rpc,)* }

        /// The table as data: per RPC, (own, other) for each of [`ROLES`].
        pub const TABLE: &[(Rpc, [[Expect; 2]; 6])] = &[$(
            (Rpc::$rpc, [
                [Expect::$r1, Expect::$r2], [Expect::$d1, Expect::$d2],
                [Expect::$c1, Expect::$c2], [Expect::$p1, Expect::$p2],
                [Expect::$a1, Expect::$a2], [Expect::$u1, Expect::$u2],
            ]),
        )*];

        $(
            #[allow(non_snake_case)]
            mod $rpc {
                use super::{Expect, Rpc, Scope, cell};
                #[tokio::test] async fn requester__own() { cell(Rpc::$rpc, "requester", Scope::Own, Expect::$r1).await }
                #[tokio::test] async fn requester__other() { cell(Rpc::$rpc, "requester", Scope::Other, Expect::$r2).await }
                #[tokio::test] async fn duty_officer__own() { cell(Rpc::$rpc, "duty_officer", Scope::Own, Expect::$d1).await }
                #[tokio::test] async fn duty_officer__other() { cell(Rpc::$rpc, "duty_officer", Scope::Other, Expect::$d2).await }
                #[tokio::test] async fn commission__own() { cell(Rpc::$rpc, "commission", Scope::Own, Expect::$c1).await }
                #[tokio::test] async fn commission__other() { cell(Rpc::$rpc, "commission", Scope::Other, Expect::$c2).await }
                #[tokio::test] async fn provider__own() { cell(Rpc::$rpc, "provider", Scope::Own, Expect::$p1).await }
                #[tokio::test] async fn provider__other() { cell(Rpc::$rpc, "provider", Scope::Other, Expect::$p2).await }
                #[tokio::test] async fn admin__own() { cell(Rpc::$rpc, "admin", Scope::Own, Expect::$a1).await }
                #[tokio::test] async fn admin__other() { cell(Rpc::$rpc, "admin", Scope::Other, Expect::$a2).await }
                #[tokio::test] async fn auditor__own() { cell(Rpc::$rpc, "auditor", Scope::Own, Expect::$u1).await }
                #[tokio::test] async fn auditor__other() { cell(Rpc::$rpc, "auditor", Scope::Other, Expect::$u2).await }
            }
        )*
    };
}

pub const ROLES: [&str; 6] = [
    "requester",
    "duty_officer",
    "commission",
    "provider",
    "admin",
    "auditor",
];

matrix! {
//  rpc                           requester         duty_officer      commission        provider          admin             auditor
//                                own     other     own     other     own     other     own     other     own     other     own     other
    // SupportRequestService
    create_support_request:       Allowed Allowed | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    update_support_request:       Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    submit_support_request:       Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    get_support_request:          Allowed Hidden  | Allowed Allowed | Allowed Hidden  | Denied  Denied  | Denied  Denied  | Allowed Allowed;
    list_support_requests:        Allowed Allowed | Allowed Allowed | Allowed Allowed | Denied  Denied  | Denied  Denied  | Allowed Allowed;
    withdraw_support_request:     Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    // "own": a request waiting for the caller's organisation as its
    // country's single point of contact.
    transmit_support_request:     Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    return_support_request:       Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    submit_summary_report:        Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    // DispatchService
    list_assessment_queue:        Denied  Denied  | Allowed Allowed | Allowed Allowed | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    authorise_support:            Denied  Denied  | Allowed Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    reject_support_request:       Denied  Denied  | Allowed Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    request_more_information:     Denied  Denied  | Allowed Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    propose_matches:              Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    approve_dispatch:             Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    close_support_request:        Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    get_usage_report:             Denied  Denied  | Allowed Allowed | Allowed Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed;
    // ProviderService
    list_offers:                  Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied ;
    accept_offer:                 Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied ;
    decline_offer:                Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied ;
    record_agreement:             Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied ;
    list_assignments:             Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied ;
    complete_assignment:          Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied ;
    // RegistryService
    create_country:               Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    update_country:               Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    get_country:                  Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    list_countries:               Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    create_organisation:          Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    update_organisation:          Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    get_organisation:             Allowed Hidden  | Allowed Allowed | Allowed Allowed | Hidden  Hidden  | Allowed Allowed | Allowed Allowed;
    list_organisations:           Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    create_provider:              Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    update_provider:              Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    get_provider:                 Hidden  Hidden  | Allowed Allowed | Allowed Allowed | Allowed Hidden  | Allowed Allowed | Allowed Allowed;
    list_providers:               Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    create_capacity_commitment:   Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    update_capacity_commitment:   Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    get_capacity_commitment:      Denied  Denied  | Allowed Allowed | Denied  Denied  | Allowed Hidden  | Allowed Allowed | Allowed Allowed;
    list_capacity_commitments:    Denied  Denied  | Allowed Allowed | Denied  Denied  | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    list_unused_capacity:         Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied  | Allowed Allowed | Allowed Allowed;
    import_registry:              Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    // AuditService
    list_events:                  Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed;
    watch_events:                 Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    // Duty officers and administrators: not in DESIGN.md (see docs/RELIABILITY.md).
    verify_audit_chain:           Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied  | Allowed Allowed | Allowed Allowed;
    // The verifiable log: checkpoints and consistency proofs for all; an
    // inclusion proof of an event only for those who may see the event.
    get_checkpoint:               Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    list_checkpoints:             Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    get_consistency_proof:        Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    get_inclusion_proof:          Allowed Hidden  | Allowed Allowed | Allowed Hidden  | Allowed Hidden  | Hidden  Hidden  | Allowed Allowed;
    // Notifications: one's organisation's subscriptions; the outbox for
    // administrators ("own": a subscription of the caller's organisation).
    create_subscription:          Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    list_subscriptions:           Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
    delete_subscription:          Allowed Hidden  | Allowed Hidden  | Allowed Hidden  | Allowed Hidden  | Allowed Allowed | Allowed Hidden ;
    list_notifications:           Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed | Denied  Denied ;
    // Usage reports produced for each period ("own": the NIS Cooperation
    // Group's, the Commission's the Council's).
    list_usage_reports:           Denied  Denied  | Allowed Allowed | Allowed Denied  | Denied  Denied  | Denied  Denied  | Allowed Allowed;
    get_stored_usage_report:      Denied  Denied  | Allowed Allowed | Allowed Hidden  | Denied  Denied  | Denied  Denied  | Allowed Allowed;
    transmit_usage_report:        Denied  Denied  | Allowed Allowed | Allowed Hidden  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    // PreparednessService: duty officers propose and withdraw, the provider
    // answers and delivers; the user organisation, the Commission (third
    // countries' users), administrators and auditors read.
    propose_conversion:           Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    accept_conversion:            Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied ;
    decline_conversion:           Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied ;
    withdraw_conversion:          Denied  Denied  | Allowed Allowed | Denied  Denied  | Denied  Denied  | Denied  Denied  | Denied  Denied ;
    complete_conversion:          Denied  Denied  | Denied  Denied  | Denied  Denied  | Allowed Hidden  | Denied  Denied  | Denied  Denied ;
    get_conversion:               Allowed Hidden  | Allowed Allowed | Allowed Hidden  | Allowed Hidden  | Allowed Allowed | Allowed Allowed;
    list_conversions:             Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed | Allowed Allowed;
}

// ---------------------------------------------------------------------------
// Who calls, on what.

const RO: &str = "ro-csirt";
const BG: &str = "bg-csirt";
const MD: &str = "md-spoc";
const NORDIC: &str = "nordic-ir";
const DANUBE: &str = "danube-cyber";

/// The organisation (or provider) in each role's token.
fn home_org(role: &str) -> &'static str {
    match role {
        "requester" => RO,
        "duty_officer" => "enisa",
        "commission" => "commission",
        "provider" => NORDIC,
        "admin" => "reserve",
        "auditor" => "oversight",
        other => panic!("unknown role {other}"),
    }
}

/// The requesting side: A and B are Member States' CSIRTs, T a third country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Party {
    A,
    B,
    T,
}

impl Party {
    fn org(self) -> &'static str {
        match self {
            Party::A => RO,
            Party::B => BG,
            Party::T => MD,
        }
    }

    fn country(self) -> &'static str {
        match self {
            Party::A => "RO",
            Party::B => "BG",
            Party::T => "MD",
        }
    }

    /// The provider of this side's offers.
    fn provider(self) -> &'static str {
        match self {
            Party::B => DANUBE,
            Party::A | Party::T => NORDIC,
        }
    }

    fn body(self) -> pb::SupportRequest {
        match self {
            Party::T => moldova_request(),
            _ => member_state_request(self.country()),
        }
    }
}

/// The side of the object a cell names (see the module's table).
fn party(role: &str, scope: Scope) -> Party {
    match (role, scope) {
        ("requester" | "provider", Scope::Other) => Party::B,
        ("duty_officer", Scope::Other) | ("commission", Scope::Own) => Party::T,
        _ => Party::A,
    }
}

/// What a cell names, and what an error about it must not reveal.
#[derive(Clone, Debug, Default)]
struct Target {
    name: String,
    /// The organisation or provider the object belongs to.
    owner: String,
    secrets: Vec<String>,
}

impl Target {
    /// The same kind of name, of an object that does not exist.
    fn missing(&self) -> Target {
        let (prefix, _) = self.name.rsplit_once('/').expect("a resource name");
        let id = if prefix.ends_with("capacityCommitments") || prefix == "events" {
            "999999"
        } else {
            "authz-missing-object"
        };
        Target {
            name: format!("{prefix}/{id}"),
            ..Default::default()
        }
    }

    fn id(&self) -> &str {
        self.name.rsplit_once('/').map(|(_, id)| id).unwrap_or("")
    }
}

#[derive(Clone, Debug)]
enum Owner {
    Request {
        org: String,
        third_country: bool,
        /// The single point of contact it waits for or went through,
        /// when that is not `org`.
        contact_point: Option<String>,
    },
    Offer {
        provider: String,
        org: String,
        third_country: bool,
    },
    Registry,
    Conversion {
        provider: String,
        org: String,
        third_country: bool,
    },
    UsageReport {
        third_country: bool,
    },
}

/// What the fixture prepared.
struct World {
    requests: HashMap<(Rpc, Party), Target>,
    offers: HashMap<(Rpc, Party), Target>,
    /// Conversions of each side's provider's capacity for the side's
    /// organisation, one per RPC that names one.
    conversions: HashMap<(Rpc, Party), Target>,
    /// Produced usage reports: the NIS Cooperation Group's for A and B, the
    /// Council's for T.
    reports: HashMap<Party, Target>,
    /// Each provider's large commitment, by provider.
    convertible: HashMap<&'static str, String>,
    /// Capacity commitments outside the dispatched services: A's is
    /// nordic-ir's, B's and T's danube-cyber's.
    commitments: HashMap<Party, Target>,
    /// The `request_id` B used for one of its requests.
    b_request_id: String,
    owners: HashMap<String, Owner>,
    /// (sequence, resource) of every event up to the end of the preparation.
    events: Vec<(i64, String)>,
    /// Resources whose visibility a cell changes while others watch: the
    /// request the contact point returns to its filer (a draft again, its
    /// filer's alone).
    volatile: Vec<String>,
    /// A subscription of each role's own organisation, and one of another.
    subscriptions: HashMap<&'static str, Target>,
    foreign_subscription: Target,
    last_sequence: i64,
}

impl World {
    fn owner(&self, resource: &str) -> Owner {
        if ["countries/", "organisations/", "providers/"]
            .iter()
            .any(|p| resource.starts_with(p))
        {
            return Owner::Registry;
        }
        self.owners
            .get(resource)
            .cloned()
            .unwrap_or_else(|| panic!("the fixture does not know the owner of {resource}"))
    }

    /// What a cell of `rpc` names, for `role` on `scope`.
    fn target(&self, rpc: Rpc, role: &str, scope: Scope) -> Target {
        let side = party(role, scope);
        let cell_id = format!("authz-{}-{scope:?}", role.replace('_', "-")).to_lowercase();
        use Rpc::*;
        match rpc {
            get_inclusion_proof => self.event_target(role, scope),
            delete_subscription => match scope {
                Scope::Own => self.subscriptions[role].clone(),
                Scope::Other => self.foreign_subscription.clone(),
            },
            update_support_request
            | submit_support_request
            | get_support_request
            | withdraw_support_request
            | transmit_support_request
            | return_support_request
            | submit_summary_report
            | authorise_support
            | reject_support_request
            | request_more_information
            | propose_matches
            | approve_dispatch
            | close_support_request => self.requests[&(rpc, side)].clone(),
            accept_offer | decline_offer | record_agreement | complete_assignment => {
                self.offers[&(rpc, side)].clone()
            }
            accept_conversion | decline_conversion | withdraw_conversion | complete_conversion
            | get_conversion => self.conversions[&(rpc, side)].clone(),
            get_stored_usage_report | transmit_usage_report => self.reports[&side].clone(),
            propose_conversion => Target {
                name: self.commitment_of(side.provider()),
                owner: side.org().into(),
                secrets: vec![],
            },
            update_country | get_country => Target {
                name: format!("countries/{}", side.country()),
                owner: side.org().into(),
                secrets: vec![],
            },
            update_organisation | get_organisation => Target {
                name: format!("organisations/{}", side.org()),
                owner: side.org().into(),
                secrets: vec![organisation_display_name(side).into()],
            },
            update_provider | get_provider => {
                let provider = side.provider();
                Target {
                    name: format!("providers/{provider}"),
                    owner: provider.into(),
                    secrets: vec![provider_display_name(provider).into()],
                }
            }
            update_capacity_commitment | get_capacity_commitment => self.commitments[&side].clone(),
            create_country => {
                // A code no country has: X and a letter per role and scope.
                let i = ROLES.iter().position(|r| *r == role).unwrap() * 2
                    + usize::from(scope == Scope::Other);
                Target {
                    name: format!("countries/X{}", (b'A' + i as u8) as char),
                    owner: side.org().into(),
                    secrets: vec![],
                }
            }
            create_organisation => Target {
                name: format!("organisations/{cell_id}"),
                owner: cell_id.clone(),
                secrets: vec![],
            },
            create_provider => Target {
                name: format!("providers/{cell_id}"),
                owner: cell_id.clone(),
                secrets: vec![],
            },
            create_capacity_commitment => Target {
                name: format!("providers/{}", side.provider()),
                owner: side.provider().into(),
                secrets: vec![],
            },
            create_support_request => Target {
                name: match scope {
                    // Another organisation's request_id names no request of ours.
                    Scope::Other => self.b_request_id.clone(),
                    Scope::Own => uuid::Uuid::new_v4().to_string(),
                },
                owner: side.org().into(),
                secrets: vec![],
            },
            // Lists, reports and streams: the owner is the side's, for the
            // administrators' and auditors' "own" tokens.
            list_support_requests
            | list_assessment_queue
            | get_usage_report
            | list_offers
            | list_assignments
            | list_countries
            | list_organisations
            | list_providers
            | list_capacity_commitments
            | list_unused_capacity
            | import_registry
            | list_events
            | watch_events
            | get_checkpoint
            | list_checkpoints
            | get_consistency_proof
            | create_subscription
            | list_subscriptions
            | list_notifications
            | list_usage_reports
            | list_conversions
            | verify_audit_chain => {
                let owner = match rpc {
                    list_offers | list_assignments | list_capacity_commitments => {
                        side.provider().to_owned()
                    }
                    _ => side.org().to_owned(),
                };
                // For the audit trail, "other" watches another side's request.
                let name = match (rpc, scope) {
                    (list_events | watch_events, Scope::Other) => {
                        let other = match side {
                            Party::A => Party::B,
                            other => other,
                        };
                        self.requests[&(get_support_request, other)].name.clone()
                    }
                    _ => String::new(),
                };
                Target {
                    name,
                    owner,
                    secrets: vec![],
                }
            }
        }
    }
}

impl World {
    /// The large commitment of `provider` the fixture converts from.
    fn commitment_of(&self, provider: &str) -> String {
        self.convertible[provider].clone()
    }

    /// An event of the side's request (of its offer, for a provider), by
    /// its sequence: `events/{sequence}`.
    fn event_target(&self, role: &str, scope: Scope) -> Target {
        let side = party(role, scope);
        let resource = if role == "provider" {
            self.offers[&(Rpc::accept_offer, side)].name.clone()
        } else {
            self.requests[&(Rpc::get_support_request, side)]
                .name
                .clone()
        };
        let (sequence, _) = self
            .events
            .iter()
            .find(|(_, r)| *r == resource)
            .unwrap_or_else(|| panic!("an event of {resource}"));
        Target {
            name: format!("events/{sequence}"),
            owner: side.org().into(),
            secrets: vec![],
        }
    }
}

fn organisation_display_name(side: Party) -> &'static str {
    match side {
        Party::A => "National CSIRT of Romania (demo)",
        Party::B => "National CSIRT of Bulgaria (demo)",
        Party::T => "Moldova single point of contact (demo)",
    }
}

fn provider_display_name(id: &str) -> &'static str {
    match id {
        NORDIC => "Nordic Incident Response Oy",
        DANUBE => "Danube Cyber Defence SRL",
        other => panic!("unknown provider {other}"),
    }
}

// ---------------------------------------------------------------------------
// The shared fixture.

struct Fixture {
    addr: SocketAddr,
    keys: Arc<Keys>,
    world: World,
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();

/// The server every cell calls: started once, on its own thread and runtime so
/// that it outlives each test's runtime, on a fresh database.
fn fixture() -> &'static Fixture {
    let fixture = FIXTURE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("authz-fixture".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    let app = spawn_app().await;
                    let world = prepare(&app).await;
                    let fixture = Fixture {
                        addr: app.addr,
                        keys: app.keys.clone(),
                        world,
                    };
                    if tx.send(fixture).is_ok() {
                        // Serve (and keep the database) until the test binary ends.
                        std::future::pending::<()>().await;
                    }
                });
            })
            .expect("the fixture thread starts");
        rx.recv()
            .map_err(|_| "preparing the authorisation fixture failed (see its panic)".to_owned())
    });
    fixture.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

impl Fixture {
    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the fixture")
    }
}

const IR: pb::ServiceType = pb::ServiceType::IncidentResponse;

/// Builds the world: for each RPC that names a request or an offer, one
/// object per side in a state the RPC accepts.
async fn prepare(app: &TestApp) -> World {
    let convertible = HashMap::from([
        (NORDIC, app.commit_capacity(NORDIC, IR, 5_000).await.name),
        (DANUBE, app.commit_capacity(DANUBE, IR, 5_000).await.name),
    ]);
    let mut b = Builder {
        app,
        owners: HashMap::new(),
        n: 0,
        b_request_id: String::new(),
    };
    let mut requests = HashMap::new();
    use Rpc::*;
    for side in [Party::A, Party::B, Party::T] {
        for rpc in [
            update_support_request,
            submit_support_request,
            withdraw_support_request,
        ] {
            requests.insert((rpc, side), b.draft(side).await.0);
        }
        requests.insert((get_support_request, side), b.submitted(side).await);
        for rpc in [transmit_support_request, return_support_request] {
            let target = match side {
                Party::A => b.awaiting_transmission().await,
                _ => b.draft(side).await.0,
            };
            requests.insert((rpc, side), target);
        }
        for rpc in [
            authorise_support,
            reject_support_request,
            request_more_information,
        ] {
            requests.insert((rpc, side), b.submitted(side).await);
        }
        for rpc in [propose_matches, approve_dispatch] {
            requests.insert((rpc, side), b.authorised(side).await);
        }
    }
    // Only the requester's own report and the duty officer's closings can
    // succeed; the other sides' objects are there to be refused.
    let (completed, _) = b.delivered(Party::A).await;
    requests.insert((submit_summary_report, Party::A), completed);
    for side in [Party::B, Party::T] {
        requests.insert((submit_summary_report, side), b.draft(side).await.0);
    }
    for side in [Party::A, Party::T] {
        let (request, _) = b.delivered(side).await;
        b.report(&request).await;
        requests.insert((close_support_request, side), request);
    }
    requests.insert((close_support_request, Party::B), b.draft(Party::B).await.0);

    let mut offers = HashMap::new();
    for side in [Party::A, Party::B, Party::T] {
        offers.insert((accept_offer, side), b.offered(side).await.1);
        offers.insert((decline_offer, side), b.offered(side).await.1);
        offers.insert((record_agreement, side), b.accepted(side).await.1);
        offers.insert((complete_assignment, side), b.active(side).await.1);
    }

    let mut conversions = HashMap::new();
    for side in [Party::A, Party::B, Party::T] {
        for rpc in [
            accept_conversion,
            decline_conversion,
            withdraw_conversion,
            complete_conversion,
            get_conversion,
        ] {
            let c = b
                .conversion(
                    &convertible[side.provider()],
                    side,
                    rpc == complete_conversion,
                )
                .await;
            conversions.insert((rpc, side), c);
        }
    }
    let reports = b.reports().await;

    let mut commitments = HashMap::new();
    let th = app
        .commit_capacity(NORDIC, pb::ServiceType::ThreatHunting, 40)
        .await;
    let cc = app
        .commit_capacity(DANUBE, pb::ServiceType::CrisisCoordination, 40)
        .await;
    commitments.insert(
        Party::A,
        Target {
            name: th.name,
            owner: NORDIC.into(),
            secrets: vec![],
        },
    );
    for side in [Party::B, Party::T] {
        commitments.insert(
            side,
            Target {
                name: cc.name.clone(),
                owner: DANUBE.into(),
                secrets: vec![],
            },
        );
    }

    let events: Vec<(i64, String)> = app
        .events("")
        .await
        .into_iter()
        .map(|e| (e.sequence, e.resource))
        .collect();
    let last_sequence = events.iter().map(|(s, _)| *s).max().unwrap_or(0);
    let volatile = vec![requests[&(return_support_request, Party::A)].name.clone()];
    let subscribe = |role: &'static str, org: &'static str| async move {
        let created = app
            .audit()
            .await
            .create_subscription(authed(
                pb::CreateSubscriptionRequest {
                    subscription: Some(pb::Subscription {
                        webhook_url: "http://127.0.0.1:9/authz".into(),
                        ..Default::default()
                    }),
                },
                &app.token(role, org),
            ))
            .await
            .expect("subscribed")
            .into_inner();
        Target {
            name: created.name,
            owner: org.into(),
            secrets: vec![],
        }
    };
    let mut subscriptions = HashMap::new();
    for role in ROLES {
        subscriptions.insert(role, subscribe(role, home_org(role)).await);
    }
    let foreign_subscription = subscribe("requester", BG).await;
    World {
        volatile,
        subscriptions,
        foreign_subscription,
        requests,
        offers,
        conversions,
        reports,
        convertible,
        commitments,
        b_request_id: b.b_request_id,
        owners: b.owners,
        events,
        last_sequence,
    }
}

struct Builder<'a> {
    app: &'a TestApp,
    owners: HashMap<String, Owner>,
    n: usize,
    b_request_id: String,
}

impl Builder<'_> {
    /// A conversion proposed of `commitment` for the side's organisation;
    /// accepted by the provider when `accepted`.
    async fn conversion(&mut self, commitment: &str, side: Party, accepted: bool) -> Target {
        let mut client = pb::preparedness_service_client::PreparednessServiceClient::new(
            self.app.channel().await,
        );
        let c = client
            .propose_conversion(authed(
                pb::ProposeConversionRequest {
                    conversion: Some(pb::Conversion {
                        capacity_commitment: commitment.into(),
                        organisation: format!("organisations/{}", side.org()),
                        preparedness_service: pb::PreparednessServiceType::ReadinessReview as i32,
                        person_days: 2,
                        description: format!("Readiness review for {}", side.org()),
                        ..Default::default()
                    }),
                },
                &self.app.token("duty_officer", "enisa"),
            ))
            .await
            .expect("proposed")
            .into_inner();
        if accepted {
            client
                .accept_conversion(authed(
                    pb::AcceptConversionRequest {
                        name: c.name.clone(),
                    },
                    &self.app.token("provider", side.provider()),
                ))
                .await
                .expect("accepted");
        }
        self.owners.insert(
            c.name.clone(),
            Owner::Conversion {
                provider: side.provider().into(),
                org: side.org().into(),
                third_country: side == Party::T,
            },
        );
        Target {
            name: c.name,
            owner: side.org().into(),
            secrets: vec![],
        }
    }

    /// Both views' reports of a past period, produced by the service's timer.
    async fn reports(&mut self) -> HashMap<Party, Target> {
        self.app
            .produce_usage_reports(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
            .await;
        let reports = self
            .app
            .dispatch()
            .await
            .list_usage_reports(authed(
                pb::ListUsageReportsRequest::default(),
                &self.app.token("duty_officer", "enisa"),
            ))
            .await
            .expect("listed")
            .into_inner()
            .usage_reports;
        let mut out = HashMap::new();
        for r in reports {
            let council = r.view == pb::UsageView::Council as i32;
            self.owners.insert(
                r.name.clone(),
                Owner::UsageReport {
                    third_country: council,
                },
            );
            let sides: &[Party] = if council {
                &[Party::T]
            } else {
                &[Party::A, Party::B]
            };
            for side in sides {
                out.insert(
                    *side,
                    Target {
                        name: r.name.clone(),
                        owner: side.org().into(),
                        secrets: vec![],
                    },
                );
            }
        }
        assert_eq!(out.len(), 3, "both views' reports");
        out
    }

    fn requester(&self, side: Party) -> String {
        self.app.token("requester", side.org())
    }

    /// A new draft of `side`, with a title and description of its own.
    async fn draft(&mut self, side: Party) -> (Target, String) {
        self.n += 1;
        let org = side.org();
        let mut body = side.body();
        body.title = format!("Incident {} of {org} (authz secret title)", self.n);
        body.description = format!("Confidential description {} of {org}", self.n);
        let request_id = uuid::Uuid::new_v4().to_string();
        let created = self
            .app
            .requests()
            .await
            .create_support_request(authed(
                create(body.clone(), &request_id),
                &self.requester(side),
            ))
            .await
            .expect("a draft")
            .into_inner();
        if side == Party::B {
            self.b_request_id = request_id.clone();
        }
        self.owners.insert(
            created.name.clone(),
            Owner::Request {
                org: org.into(),
                third_country: side == Party::T,
                contact_point: None,
            },
        );
        let target = Target {
            name: created.name.clone(),
            owner: org.into(),
            secrets: vec![
                body.title,
                body.description,
                created.reference,
                org.into(),
                body.contact.unwrap().email,
            ],
        };
        (target, request_id)
    }

    /// A request of ro-dnsc, RO's crisis management authority, waiting for
    /// ro-csirt, RO's single point of contact, to transmit it.
    async fn awaiting_transmission(&mut self) -> Target {
        const FILER: &str = "ro-dnsc";
        self.n += 1;
        let mut body = Party::A.body();
        body.title = format!("Incident {} of {FILER} (authz secret title)", self.n);
        body.description = format!("Confidential description {} of {FILER}", self.n);
        let token = self.app.token("requester", FILER);
        let mut client = self.app.requests().await;
        let created = client
            .create_support_request(authed(
                create(body.clone(), &uuid::Uuid::new_v4().to_string()),
                &token,
            ))
            .await
            .expect("a draft")
            .into_inner();
        let submitted = client
            .submit_support_request(authed(
                pb::SubmitSupportRequestRequest {
                    name: created.name.clone(),
                },
                &token,
            ))
            .await
            .expect("submitted")
            .into_inner();
        assert_eq!(
            submitted.state,
            pb::RequestState::AwaitingTransmission as i32
        );
        self.owners.insert(
            created.name.clone(),
            Owner::Request {
                org: FILER.into(),
                third_country: false,
                contact_point: Some(RO.into()),
            },
        );
        Target {
            name: created.name,
            owner: RO.into(),
            secrets: vec![
                body.title,
                body.description,
                created.reference,
                FILER.into(),
                body.contact.unwrap().email,
            ],
        }
    }

    /// ELIGIBLE (Member States) or REFERRED (the third country).
    async fn submitted(&mut self, side: Party) -> Target {
        let (target, _) = self.draft(side).await;
        let submitted = self
            .app
            .requests()
            .await
            .submit_support_request(authed(
                pb::SubmitSupportRequestRequest {
                    name: target.name.clone(),
                },
                &self.requester(side),
            ))
            .await
            .expect("submitted")
            .into_inner();
        let expected = match side {
            Party::T => pb::RequestState::Referred,
            _ => pb::RequestState::Eligible,
        };
        assert_eq!(submitted.state, expected as i32, "{}", target.name);
        target
    }

    /// AUTHORISED for 5 person-days of incident response.
    async fn authorised(&mut self, side: Party) -> Target {
        let target = self.submitted(side).await;
        let decider = match side {
            Party::T => "commission",
            _ => "duty_officer",
        };
        self.app
            .dispatch()
            .await
            .authorise_support(authed(
                authorise(&target.name),
                &self.app.token(decider, "x"),
            ))
            .await
            .expect("authorised");
        target
    }

    /// DISPATCHING with an open offer to the side's provider; returns the
    /// request and the offer.
    async fn offered(&mut self, side: Party) -> (Target, Target) {
        let request = self.authorised(side).await;
        self.app
            .dispatch()
            .await
            .approve_dispatch(authed(
                approve(&request.name, side.provider()),
                &self.app.token("duty_officer", "enisa"),
            ))
            .await
            .expect("approved");
        let provider = side.provider();
        let mut client = self.app.provider_client().await;
        let mut page_token = String::new();
        let offer = loop {
            let page = client
                .list_offers(authed(
                    pb::ListOffersRequest {
                        page_size: 100,
                        page_token,
                    },
                    &self.app.token("provider", provider),
                ))
                .await
                .expect("offers")
                .into_inner();
            if let Some(o) = page
                .offers
                .into_iter()
                .find(|o| o.support_request == request.name)
            {
                break o;
            }
            assert!(
                !page.next_page_token.is_empty(),
                "an offer for {}",
                request.name
            );
            page_token = page.next_page_token;
        };
        self.owners.insert(
            offer.name.clone(),
            Owner::Offer {
                provider: provider.into(),
                org: side.org().into(),
                third_country: side == Party::T,
            },
        );
        let mut secrets = request.secrets.clone();
        secrets.push(provider.into());
        let offer = Target {
            name: offer.name,
            owner: provider.into(),
            secrets,
        };
        (request, offer)
    }

    async fn accepted(&mut self, side: Party) -> (Target, Target) {
        let (request, offer) = self.offered(side).await;
        self.app
            .provider_client()
            .await
            .accept_offer(authed(
                pb::AcceptOfferRequest {
                    name: offer.name.clone(),
                },
                &self.app.token("provider", side.provider()),
            ))
            .await
            .expect("accepted");
        (request, offer)
    }

    async fn active(&mut self, side: Party) -> (Target, Target) {
        let (request, offer) = self.accepted(side).await;
        self.app
            .provider_client()
            .await
            .record_agreement(authed(
                agreement(&offer.name),
                &self.app.token("provider", side.provider()),
            ))
            .await
            .expect("agreement recorded");
        (request, offer)
    }

    /// COMPLETED: the only line delivered.
    async fn delivered(&mut self, side: Party) -> (Target, Target) {
        let (request, offer) = self.active(side).await;
        self.app
            .provider_client()
            .await
            .complete_assignment(authed(
                complete(&offer.name),
                &self.app.token("provider", side.provider()),
            ))
            .await
            .expect("delivered");
        (request, offer)
    }

    /// REPORTED.
    async fn report(&mut self, request: &Target) {
        self.app
            .requests()
            .await
            .submit_summary_report(authed(
                report(&request.name),
                &self.app.token("requester", &request.owner),
            ))
            .await
            .expect("reported");
    }
}

// Bodies of the calls, the same for the fixture and for the cells.

fn authorise(name: &str) -> pb::AuthoriseSupportRequest {
    pb::AuthoriseSupportRequest {
        name: name.into(),
        granted_lines: vec![pb::ServiceLine {
            service: IR as i32,
            person_days: 5,
            ..Default::default()
        }],
        duration_days: 60,
        note: "Granted for the authorisation matrix".into(),
        version: 0,
        ..Default::default()
    }
}

fn approve(name: &str, provider: &str) -> pb::ApproveDispatchRequest {
    pb::ApproveDispatchRequest {
        name: name.into(),
        plan: vec![pb::LinePlan {
            line_index: 0,
            provider: format!("providers/{provider}"),
            fallbacks: vec![],
            justification: "Chosen for the authorisation matrix".into(),
        }],
        version: 0,
    }
}

fn agreement(name: &str) -> pb::RecordAgreementRequest {
    pb::RecordAgreementRequest {
        name: name.into(),
        agreement: Some(pb::Agreement {
            reference: "SA-AUTHZ-1".into(),
            template_version: "v1".into(),
            sign_time: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() - 3_600,
                nanos: 0,
            }),
            liability_conditions: "Standard liability conditions".into(),
            affected_entity: String::new(),
        }),
    }
}

fn complete(name: &str) -> pb::CompleteAssignmentRequest {
    pb::CompleteAssignmentRequest {
        name: name.into(),
        delivery_note: "Delivered in full".into(),
    }
}

fn report(name: &str) -> pb::SubmitSummaryReportRequest {
    pb::SubmitSummaryReportRequest {
        name: name.into(),
        service_provided: "Incident response".into(),
        results: "Contained".into(),
        lessons_learned: "Keep offline backups".into(),
    }
}

// ---------------------------------------------------------------------------
// One cell.

/// Makes the cell's call and checks its outcome.
async fn cell(rpc: Rpc, role: &'static str, scope: Scope, expect: Expect) {
    let fx = fixture();
    let target = fx.world.target(rpc, role, scope);
    let org = match (role, scope) {
        ("admin" | "auditor", Scope::Own) => target.owner.clone(),
        _ => home_org(role).to_owned(),
    };
    let token = fx.keys.token_for(role, &org);
    let caller = Caller {
        fx,
        role,
        org: &org,
        scope,
        token: &token,
    };
    let channel = fx.channel().await;
    let result = caller.call(channel.clone(), rpc, &target).await;
    let cell = format!("{rpc:?} as {role} ({org}) on {scope:?} `{}`", target.name);
    match (expect, &result) {
        (Expect::Allowed, Ok(())) => {}
        (Expect::Allowed, Err(status)) => assert!(
            matches!(
                status.code(),
                Code::FailedPrecondition
                    | Code::InvalidArgument
                    | Code::AlreadyExists
                    | Code::Aborted
            ),
            "{cell}: expected to pass authorisation, got {status:?}"
        ),
        (Expect::Denied, Err(status)) if status.code() == Code::PermissionDenied => {
            no_leak(&cell, status, &target, &org);
        }
        (Expect::Hidden, Err(status)) if status.code() == Code::NotFound => {
            no_leak(&cell, status, &target, &org);
            // Exactly what an object that does not exist answers.
            let missing = target.missing();
            let absent = caller
                .call(channel, rpc, &missing)
                .await
                .expect_err("a missing object is not found");
            assert_eq!(absent.code(), Code::NotFound, "{cell}: a missing object");
            assert_eq!(
                status.message().replace(target.id(), "{id}"),
                absent.message().replace(missing.id(), "{id}"),
                "{cell}: hidden differs from missing"
            );
        }
        (_, result) => panic!("{cell}: expected {expect:?}, got {result:?}"),
    }
}

/// A denial names nothing of the object beyond what the caller sent.
fn no_leak(cell: &str, status: &Status, target: &Target, caller_org: &str) {
    let message = status.message();
    for secret in target.secrets.iter().filter(|s| s.as_str() != caller_org) {
        assert!(
            !message.contains(secret.as_str()),
            "{cell}: the error `{message}` reveals `{secret}`"
        );
    }
    assert!(
        status.details().is_empty(),
        "{cell}: a denial carries no details"
    );
}

struct Caller<'a> {
    fx: &'a Fixture,
    role: &'static str,
    org: &'a str,
    scope: Scope,
    token: &'a str,
}

impl Caller<'_> {
    fn req<T>(&self, message: T) -> tonic::Request<T> {
        authed(message, self.token)
    }

    async fn call(&self, ch: Channel, rpc: Rpc, t: &Target) -> Result<(), Status> {
        use pb::audit_service_client::AuditServiceClient as Audit;
        use pb::dispatch_service_client::DispatchServiceClient as Dispatch;
        use pb::preparedness_service_client::PreparednessServiceClient as Preparedness;
        use pb::provider_service_client::ProviderServiceClient as Providers;
        use pb::registry_service_client::RegistryServiceClient as Registry;
        use pb::support_request_service_client::SupportRequestServiceClient as Requests;
        let name = t.name.clone();
        let mask = |p: &str| {
            Some(prost_types::FieldMask {
                paths: vec![p.into()],
            })
        };
        match rpc {
            Rpc::create_support_request => {
                let mut body = member_state_request("RO");
                body.title = format!("Created by {} for the matrix", self.role);
                let created = Requests::new(ch)
                    .create_support_request(self.req(create(body.clone(), &name)))
                    .await?
                    .into_inner();
                assert_eq!(
                    created.organisation,
                    format!("organisations/{}", self.org),
                    "a request belongs to the caller's organisation"
                );
                assert_eq!(
                    created.title, body.title,
                    "not another organisation's request"
                );
            }
            Rpc::update_support_request => {
                Requests::new(ch)
                    .update_support_request(self.req(pb::UpdateSupportRequestRequest {
                        support_request: Some(pb::SupportRequest {
                            name,
                            title: "Retitled by the authorisation matrix".into(),
                            ..Default::default()
                        }),
                        update_mask: mask("title"),
                    }))
                    .await?;
            }
            Rpc::submit_support_request => {
                Requests::new(ch)
                    .submit_support_request(self.req(pb::SubmitSupportRequestRequest { name }))
                    .await?;
            }
            Rpc::get_support_request => {
                let got = Requests::new(ch)
                    .get_support_request(self.req(pb::GetSupportRequestRequest { name }))
                    .await?
                    .into_inner();
                self.may_see_request(&got);
            }
            Rpc::list_support_requests => {
                // "Other": a state only the other side's requests reach.
                let state = match (self.scope, self.role) {
                    (Scope::Own, _) => pb::RequestState::Unspecified,
                    (Scope::Other, "commission") => pb::RequestState::Eligible,
                    (Scope::Other, _) => pb::RequestState::Referred,
                };
                let page = Requests::new(ch)
                    .list_support_requests(self.req(pb::ListSupportRequestsRequest {
                        page_size: 100,
                        page_token: String::new(),
                        state: state as i32,
                    }))
                    .await?
                    .into_inner();
                for r in &page.support_requests {
                    self.may_see_request(r);
                    if state != pb::RequestState::Unspecified {
                        assert_eq!(r.state, state as i32, "the filter holds");
                    }
                }
                if self.scope == Scope::Own {
                    assert!(
                        !page.support_requests.is_empty(),
                        "{} sees requests",
                        self.role
                    );
                }
            }
            Rpc::withdraw_support_request => {
                Requests::new(ch)
                    .withdraw_support_request(self.req(pb::WithdrawSupportRequestRequest {
                        name,
                        reason: "Withdrawn by the authorisation matrix".into(),
                    }))
                    .await?;
            }
            Rpc::transmit_support_request => {
                Requests::new(ch)
                    .transmit_support_request(self.req(pb::TransmitSupportRequestRequest {
                        name,
                        note: "Transmitted by the authorisation matrix".into(),
                    }))
                    .await?;
            }
            Rpc::return_support_request => {
                Requests::new(ch)
                    .return_support_request(self.req(pb::ReturnSupportRequestRequest {
                        name,
                        reason: "Returned by the authorisation matrix".into(),
                    }))
                    .await?;
            }
            Rpc::submit_summary_report => {
                Requests::new(ch)
                    .submit_summary_report(self.req(report(&name)))
                    .await?;
            }
            Rpc::list_assessment_queue => {
                let queue = Dispatch::new(ch)
                    .list_assessment_queue(self.req(pb::ListAssessmentQueueRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }))
                    .await?
                    .into_inner();
                let (state, third) = match self.role {
                    "commission" => (pb::RequestState::Referred, true),
                    _ => (pb::RequestState::Eligible, false),
                };
                assert!(
                    !queue.entries.is_empty(),
                    "{}'s queue is not empty",
                    self.role
                );
                for e in &queue.entries {
                    let r = e.support_request.as_ref().unwrap();
                    assert_eq!(r.state, state as i32, "{}: {}", self.role, r.name);
                    assert_eq!(
                        third_country(&r.organisation),
                        third,
                        "{}: {}",
                        self.role,
                        r.name
                    );
                }
            }
            Rpc::authorise_support => {
                Dispatch::new(ch)
                    .authorise_support(self.req(authorise(&name)))
                    .await?;
            }
            Rpc::reject_support_request => {
                Dispatch::new(ch)
                    .reject_support_request(self.req(pb::RejectSupportRequestRequest {
                        name,
                        reason: "Rejected by the authorisation matrix".into(),
                        version: 0,
                        ..Default::default()
                    }))
                    .await?;
            }
            Rpc::request_more_information => {
                Dispatch::new(ch)
                    .request_more_information(self.req(pb::RequestMoreInformationRequest {
                        name,
                        questions: vec!["Which systems are affected?".into()],
                        version: 0,
                    }))
                    .await?;
            }
            Rpc::propose_matches => {
                Dispatch::new(ch)
                    .propose_matches(self.req(pb::ProposeMatchesRequest { name }))
                    .await?;
            }
            Rpc::approve_dispatch => {
                Dispatch::new(ch)
                    .approve_dispatch(self.req(approve(&name, NORDIC)))
                    .await?;
            }
            Rpc::close_support_request => {
                Dispatch::new(ch)
                    .close_support_request(self.req(pb::CloseSupportRequestRequest { name }))
                    .await?;
            }
            Rpc::get_usage_report => {
                let council = (self.role == "commission") == (self.scope == Scope::Own);
                let view = if council {
                    pb::UsageView::Council
                } else {
                    pb::UsageView::NisCooperationGroup
                };
                let now = chrono::Utc::now().timestamp();
                let report = Dispatch::new(ch)
                    .get_usage_report(self.req(pb::GetUsageReportRequest {
                        period_start: Some(prost_types::Timestamp {
                            seconds: now - 86_400,
                            nanos: 0,
                        }),
                        period_end: Some(prost_types::Timestamp {
                            seconds: now + 86_400,
                            nanos: 0,
                        }),
                        view: view as i32,
                    }))
                    .await?
                    .into_inner();
                assert!(
                    !report.rows.is_empty(),
                    "the fixture's requests are counted"
                );
                for row in &report.rows {
                    let kind = pb::OrganisationKind::try_from(row.user_kind).unwrap();
                    let third = matches!(
                        kind,
                        pb::OrganisationKind::TcCsirt | pb::OrganisationKind::TcAuthority
                    );
                    assert_eq!(third, council, "{view:?} holds only its users: {kind:?}");
                }
            }
            Rpc::list_offers | Rpc::list_assignments => {
                let mut client = Providers::new(ch);
                let offers = if rpc == Rpc::list_offers {
                    client
                        .list_offers(self.req(pb::ListOffersRequest {
                            page_size: 100,
                            page_token: String::new(),
                        }))
                        .await?
                        .into_inner()
                        .offers
                } else {
                    client
                        .list_assignments(self.req(pb::ListAssignmentsRequest {
                            page_size: 100,
                            page_token: String::new(),
                        }))
                        .await?
                        .into_inner()
                        .assignments
                };
                assert!(!offers.is_empty(), "{} has offers", self.org);
                for o in &offers {
                    assert_eq!(o.provider, format!("providers/{}", self.org), "{}", o.name);
                    if o.state == pb::OfferState::Offered as i32 {
                        assert!(
                            o.support_request_detail.is_none(),
                            "an open offer shows only the summary: {}",
                            o.name
                        );
                    }
                }
            }
            Rpc::accept_offer => {
                Providers::new(ch)
                    .accept_offer(self.req(pb::AcceptOfferRequest { name }))
                    .await?;
            }
            Rpc::list_usage_reports => {
                let council = (self.role == "commission") == (self.scope == Scope::Own);
                let view = if council {
                    pb::UsageView::Council
                } else {
                    pb::UsageView::NisCooperationGroup
                };
                let reports = Dispatch::new(ch)
                    .list_usage_reports(self.req(pb::ListUsageReportsRequest {
                        view: view as i32,
                        page_size: 100,
                        page_token: String::new(),
                    }))
                    .await?
                    .into_inner()
                    .usage_reports;
                assert!(!reports.is_empty(), "the fixture's reports are listed");
                assert!(reports.iter().all(|r| r.view == view as i32));
            }
            Rpc::get_stored_usage_report => {
                Dispatch::new(ch)
                    .get_stored_usage_report(self.req(pb::GetStoredUsageReportRequest { name }))
                    .await?;
            }
            Rpc::transmit_usage_report => {
                Dispatch::new(ch)
                    .transmit_usage_report(self.req(pb::TransmitUsageReportRequest {
                        name,
                        recipient: format!("matrix {}", self.role),
                        transmit_time: None,
                        note: String::new(),
                    }))
                    .await?;
            }
            Rpc::propose_conversion => {
                Preparedness::new(ch)
                    .propose_conversion(self.req(pb::ProposeConversionRequest {
                        conversion: Some(pb::Conversion {
                            capacity_commitment: name,
                            organisation: format!("organisations/{}", t.owner),
                            preparedness_service: pb::PreparednessServiceType::Exercise as i32,
                            person_days: 1,
                            description: format!("Exercise proposed by {}", self.role),
                            ..Default::default()
                        }),
                    }))
                    .await?;
            }
            Rpc::accept_conversion => {
                Preparedness::new(ch)
                    .accept_conversion(self.req(pb::AcceptConversionRequest { name }))
                    .await?;
            }
            Rpc::decline_conversion => {
                Preparedness::new(ch)
                    .decline_conversion(self.req(pb::DeclineConversionRequest {
                        name,
                        note: "no one free".into(),
                    }))
                    .await?;
            }
            Rpc::withdraw_conversion => {
                Preparedness::new(ch)
                    .withdraw_conversion(self.req(pb::WithdrawConversionRequest { name }))
                    .await?;
            }
            Rpc::complete_conversion => {
                Preparedness::new(ch)
                    .complete_conversion(self.req(pb::CompleteConversionRequest {
                        name,
                        delivery_note: "Review delivered".into(),
                    }))
                    .await?;
            }
            Rpc::get_conversion => {
                let c = Preparedness::new(ch)
                    .get_conversion(self.req(pb::GetConversionRequest { name }))
                    .await?
                    .into_inner();
                if self.role == "provider" {
                    assert_eq!(c.provider, format!("providers/{}", self.org));
                }
            }
            Rpc::list_conversions => {
                let list = Preparedness::new(ch)
                    .list_conversions(self.req(pb::ListConversionsRequest {
                        page_size: 100,
                        ..Default::default()
                    }))
                    .await?
                    .into_inner()
                    .conversions;
                if self.scope == Scope::Own && self.role != "requester" {
                    assert!(!list.is_empty(), "{} sees conversions", self.role);
                }
                for c in &list {
                    let seen = match self.role {
                        "provider" => c.provider == format!("providers/{}", self.org),
                        "requester" => c.organisation == format!("organisations/{}", self.org),
                        "commission" => third_country(&c.organisation),
                        _ => true,
                    };
                    assert!(seen, "{} ({}) may not see {}", self.role, self.org, c.name);
                }
            }
            Rpc::decline_offer => {
                Providers::new(ch)
                    .decline_offer(self.req(pb::DeclineOfferRequest {
                        name,
                        reason: pb::DeclineReason::NoCapacity as i32,
                        note: String::new(),
                    }))
                    .await?;
            }
            Rpc::record_agreement => {
                Providers::new(ch)
                    .record_agreement(self.req(agreement(&name)))
                    .await?;
            }
            Rpc::complete_assignment => {
                Providers::new(ch)
                    .complete_assignment(self.req(complete(&name)))
                    .await?;
            }
            Rpc::create_country => {
                let code = t.id().to_owned();
                Registry::new(ch)
                    .create_country(self.req(pb::CreateCountryRequest {
                        country: Some(pb::Country {
                            code,
                            display_name: "Matrix country".into(),
                            kind: pb::CountryKind::MemberState as i32,
                            required_languages: vec!["en".into()],
                            required_clearance: pb::Clearance::None as i32,
                            ..Default::default()
                        }),
                    }))
                    .await?;
            }
            Rpc::update_country => {
                Registry::new(ch)
                    .update_country(self.req(pb::UpdateCountryRequest {
                        country: Some(pb::Country {
                            name,
                            single_point_of_contact: t.owner.clone(),
                            ..Default::default()
                        }),
                        update_mask: mask("single_point_of_contact"),
                    }))
                    .await?;
            }
            Rpc::get_country => {
                Registry::new(ch)
                    .get_country(self.req(pb::GetCountryRequest { name }))
                    .await?;
            }
            Rpc::list_countries => {
                let page = Registry::new(ch)
                    .list_countries(self.req(pb::ListCountriesRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }))
                    .await?
                    .into_inner();
                assert!(page.countries.len() >= 30, "every country is public");
            }
            Rpc::create_organisation => {
                Registry::new(ch)
                    .create_organisation(self.req(pb::CreateOrganisationRequest {
                        organisation: Some(pb::Organisation {
                            id: t.id().into(),
                            display_name: "Matrix organisation".into(),
                            kind: pb::OrganisationKind::MsCrisisAuthority as i32,
                            country: "RO".into(),
                            ..Default::default()
                        }),
                    }))
                    .await?;
            }
            Rpc::update_organisation => {
                Registry::new(ch)
                    .update_organisation(self.req(pb::UpdateOrganisationRequest {
                        organisation: Some(pb::Organisation {
                            name,
                            display_name: t.secrets[0].clone(),
                            ..Default::default()
                        }),
                        update_mask: mask("display_name"),
                    }))
                    .await?;
            }
            Rpc::get_organisation => {
                let o = Registry::new(ch)
                    .get_organisation(self.req(pb::GetOrganisationRequest { name }))
                    .await?
                    .into_inner();
                if self.role == "requester" {
                    assert_eq!(o.id, self.org);
                }
            }
            Rpc::list_organisations => {
                let page = Registry::new(ch)
                    .list_organisations(self.req(pb::ListOrganisationsRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }))
                    .await?
                    .into_inner();
                let ids: Vec<&str> = page.organisations.iter().map(|o| o.id.as_str()).collect();
                match self.role {
                    "requester" => assert_eq!(ids, [self.org], "a requester's own only"),
                    "provider" => assert!(ids.is_empty(), "no organisation for providers: {ids:?}"),
                    _ => assert!(ids.len() >= 30, "{} reads the registry", self.role),
                }
            }
            Rpc::create_provider => {
                Registry::new(ch)
                    .create_provider(self.req(pb::CreateProviderRequest {
                        provider: Some(pb::Provider {
                            id: t.id().into(),
                            display_name: "Matrix provider".into(),
                            country: "RO".into(),
                            status: pb::ProviderStatus::Suspended as i32,
                            services: vec![pb::ServiceType::MalwareAnalysis as i32],
                            languages: vec!["en".into()],
                            deployable_countries: vec!["RO".into()],
                            clearance: pb::Clearance::None as i32,
                            hours_to_deploy: 24,
                            ..Default::default()
                        }),
                    }))
                    .await?;
            }
            Rpc::update_provider => {
                let display = format!("{} (demo)", t.secrets[0]);
                Registry::new(ch)
                    .update_provider(self.req(pb::UpdateProviderRequest {
                        provider: Some(pb::Provider {
                            name,
                            display_name: display,
                            ..Default::default()
                        }),
                        update_mask: mask("display_name"),
                    }))
                    .await?;
            }
            Rpc::get_provider => {
                let p = Registry::new(ch)
                    .get_provider(self.req(pb::GetProviderRequest { name }))
                    .await?
                    .into_inner();
                if self.role == "provider" {
                    assert_eq!(p.id, self.org);
                }
            }
            Rpc::list_providers => {
                let page = Registry::new(ch)
                    .list_providers(self.req(pb::ListProvidersRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }))
                    .await?
                    .into_inner();
                let ids: Vec<&str> = page.providers.iter().map(|p| p.id.as_str()).collect();
                match self.role {
                    "provider" => assert_eq!(ids, [self.org], "a provider's own only"),
                    "requester" => assert!(ids.is_empty(), "no provider for requesters: {ids:?}"),
                    _ => assert!(ids.len() >= 4, "{} reads the registry", self.role),
                }
            }
            Rpc::create_capacity_commitment => {
                Registry::new(ch)
                    .create_capacity_commitment(self.req(pb::CreateCapacityCommitmentRequest {
                        capacity_commitment: Some(pb::CapacityCommitment {
                            provider: name,
                            service: pb::ServiceType::ThreatHunting as i32,
                            person_days: 1,
                            period_start: day_from_today(-400),
                            period_end: day_from_today(-380),
                            ..Default::default()
                        }),
                    }))
                    .await?;
            }
            Rpc::update_capacity_commitment => {
                Registry::new(ch)
                    .update_capacity_commitment(self.req(pb::UpdateCapacityCommitmentRequest {
                        capacity_commitment: Some(pb::CapacityCommitment {
                            name,
                            person_days: 40,
                            ..Default::default()
                        }),
                        update_mask: mask("person_days"),
                    }))
                    .await?;
            }
            Rpc::get_capacity_commitment => {
                let c = Registry::new(ch)
                    .get_capacity_commitment(self.req(pb::GetCapacityCommitmentRequest { name }))
                    .await?
                    .into_inner();
                if self.role == "provider" {
                    assert_eq!(c.provider, format!("providers/{}", self.org));
                }
            }
            Rpc::list_capacity_commitments => {
                // "Other": filtered on another provider.
                let provider = match self.scope {
                    Scope::Own => String::new(),
                    Scope::Other => format!("providers/{DANUBE}"),
                };
                let page = Registry::new(ch)
                    .list_capacity_commitments(self.req(pb::ListCapacityCommitmentsRequest {
                        provider: provider.clone(),
                        page_size: 100,
                        page_token: String::new(),
                    }))
                    .await?
                    .into_inner();
                let owners: BTreeSet<&str> = page
                    .capacity_commitments
                    .iter()
                    .map(|c| c.provider.as_str())
                    .collect();
                if self.role == "provider" {
                    let own = format!("providers/{}", self.org);
                    assert_eq!(
                        owners,
                        BTreeSet::from([own.as_str()]),
                        "a provider's own only"
                    );
                } else if !provider.is_empty() {
                    assert_eq!(
                        owners,
                        BTreeSet::from([provider.as_str()]),
                        "the filter holds"
                    );
                }
            }
            Rpc::list_unused_capacity => {
                Registry::new(ch)
                    .list_unused_capacity(self.req(pb::ListUnusedCapacityRequest {
                        ended_on_or_before: None,
                    }))
                    .await?;
            }
            Rpc::import_registry => {
                // Checked only, so that the other cells find the registry as it was.
                let answer = Registry::new(ch)
                    .import_registry(self.req(pb::ImportRegistryRequest {
                        document: "providers:\n  - id: nordic-ir\n    hours_to_deploy: 7\n".into(),
                        validate_only: true,
                    }))
                    .await?
                    .into_inner();
                assert_eq!(answer.updated_count, 1, "{answer:?}");
            }
            Rpc::list_events => {
                let page = Audit::new(ch)
                    .list_events(self.req(pb::ListEventsRequest {
                        resource: name.clone(),
                        page_size: 100,
                        page_token: String::new(),
                    }))
                    .await?
                    .into_inner();
                assert!(!page.events.is_empty(), "{} reads the trail", self.role);
                if !name.is_empty() {
                    assert!(
                        page.events.iter().all(|e| e.resource == name),
                        "the filter holds"
                    );
                }
            }
            Rpc::watch_events => self.watch(ch, &name).await?,
            Rpc::create_subscription => {
                Audit::new(ch)
                    .create_subscription(self.req(pb::CreateSubscriptionRequest {
                        subscription: Some(pb::Subscription {
                            webhook_url: "http://127.0.0.1:9/authz".into(),
                            ..Default::default()
                        }),
                    }))
                    .await?;
            }
            Rpc::list_subscriptions => {
                let listed = Audit::new(ch)
                    .list_subscriptions(self.req(pb::ListSubscriptionsRequest {}))
                    .await?
                    .into_inner();
                if self.role != "admin" {
                    assert!(
                        listed
                            .subscriptions
                            .iter()
                            .all(|s| s.organisation == self.org),
                        "{} lists its own organisation's subscriptions",
                        self.role
                    );
                }
            }
            Rpc::delete_subscription => {
                Audit::new(ch)
                    .delete_subscription(self.req(pb::DeleteSubscriptionRequest { name }))
                    .await?;
            }
            Rpc::list_notifications => {
                Audit::new(ch)
                    .list_notifications(self.req(pb::ListNotificationsRequest::default()))
                    .await?;
            }
            Rpc::get_checkpoint => {
                Audit::new(ch)
                    .get_checkpoint(self.req(pb::GetCheckpointRequest::default()))
                    .await?;
            }
            Rpc::list_checkpoints => {
                Audit::new(ch)
                    .list_checkpoints(self.req(pb::ListCheckpointsRequest::default()))
                    .await?;
            }
            Rpc::get_consistency_proof => {
                Audit::new(ch)
                    .get_consistency_proof(self.req(pb::GetConsistencyProofRequest {
                        first_tree_size: 1,
                        second_tree_size: 0,
                    }))
                    .await?;
            }
            Rpc::get_inclusion_proof => {
                let sequence = t.id().parse().expect("events/{sequence}");
                let proof = Audit::new(ch)
                    .get_inclusion_proof(self.req(pb::GetInclusionProofRequest {
                        sequence,
                        tree_size: 0,
                    }))
                    .await?
                    .into_inner();
                assert_eq!(proof.event.unwrap().sequence, sequence);
            }
            Rpc::verify_audit_chain => {
                let verified = Audit::new(ch)
                    .verify_audit_chain(self.req(pb::VerifyAuditChainRequest::default()))
                    .await?
                    .into_inner();
                assert!(verified.ok, "the chain verifies: {}", verified.detail);
            }
        }
        Ok(())
    }

    /// A request returned to the caller is one its role may see.
    fn may_see_request(&self, r: &pb::SupportRequest) {
        let org = r.organisation.trim_start_matches("organisations/");
        match self.role {
            "requester" => assert!(
                org == self.org || r.contact_point.trim_start_matches("organisations/") == self.org,
                "a requester sees its own and those it transmits: {}",
                r.name
            ),
            "commission" => assert!(
                third_country(org),
                "the Commission sees third countries: {}",
                r.name
            ),
            "duty_officer" | "auditor" => {}
            other => panic!("{other} reads no request, yet got {}", r.name),
        }
    }

    /// Watches from the start: the stored events up to the end of the
    /// fixture's preparation are exactly those the role may see, redacted
    /// for providers.
    async fn watch(&self, ch: Channel, resource: &str) -> Result<(), Status> {
        let world = &self.fx.world;
        let mut stream = pb::audit_service_client::AuditServiceClient::new(ch)
            .watch_events(self.req(pb::WatchEventsRequest {
                after_sequence: 0,
                resource: resource.into(),
                action: String::new(),
            }))
            .await?
            .into_inner();
        let mut seen = Vec::new();
        let give_up = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            // Hidden events are skipped silently: stop after a pause, or
            // once the stream is past the prepared events.
            match tokio::time::timeout(Duration::from_millis(600), stream.message()).await {
                Err(_) | Ok(Ok(None)) => break,
                Ok(Err(status)) => return Err(status),
                Ok(Ok(Some(event))) => {
                    let past = event.sequence >= world.last_sequence;
                    seen.push(event);
                    if past {
                        break;
                    }
                }
            }
            assert!(tokio::time::Instant::now() < give_up, "the watch settles");
        }
        let got: Vec<i64> = seen
            .iter()
            .filter(|e| e.sequence <= world.last_sequence)
            .filter(|e| !world.volatile.contains(&e.resource))
            .map(|e| e.sequence)
            .collect();
        let mut expected: Vec<i64> = world
            .events
            .iter()
            .filter(|(_, r)| resource.is_empty() || r == resource)
            .filter(|(_, r)| !world.volatile.contains(r))
            .filter(|(_, r)| visible(self.role, self.org, &world.owner(r)))
            .map(|(s, _)| *s)
            .collect();
        expected.sort_unstable();
        assert_eq!(
            got, expected,
            "{} ({}) watches exactly what it may see",
            self.role, self.org
        );
        if resource.is_empty() && self.scope == Scope::Own {
            assert!(!got.is_empty(), "{} sees some events", self.role);
        }
        if self.role == "provider" {
            // Its offers' events are redacted (they may carry the request's
            // details); its conversions' are its own business, in full.
            for e in seen
                .iter()
                .filter(|e| !e.resource.starts_with("conversions/"))
            {
                assert!(
                    e.actor.is_empty()
                        && e.role.is_empty()
                        && e.organisation.is_empty()
                        && e.payload == "{}",
                    "a provider's events are redacted: {e:?}"
                );
            }
        }
        Ok(())
    }
}

fn third_country(org: &str) -> bool {
    let org = org.trim_start_matches("organisations/");
    ["md-spoc", "md-csirt", "ua-cert"].contains(&org)
}

/// DECISIONS.md, "Visibility of watched events".
fn visible(role: &str, org: &str, owner: &Owner) -> bool {
    match (role, owner) {
        ("duty_officer" | "auditor", _) => true,
        (
            "requester",
            Owner::Request {
                contact_point: Some(o),
                ..
            },
        ) if o == org => true,
        ("requester", Owner::Request { org: o, .. } | Owner::Offer { org: o, .. }) => o == org,
        ("provider", Owner::Offer { provider, .. }) => provider == org,
        (
            "commission",
            Owner::Request {
                third_country: true,
                ..
            }
            | Owner::Offer {
                third_country: true,
                ..
            },
        ) => true,
        ("admin", Owner::Registry | Owner::Conversion { .. }) => true,
        ("provider", Owner::Conversion { provider, .. }) => provider == org,
        ("requester", Owner::Conversion { org: o, .. }) => o == org,
        (
            "commission",
            Owner::Conversion {
                third_country: true,
                ..
            }
            | Owner::UsageReport {
                third_country: true,
            },
        ) => true,
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// The table itself.

/// The table lists every RPC of every service of `reserve.v1`, once.
#[test]
fn the_table_covers_every_rpc() {
    let set = prost_types::FileDescriptorSet::decode(reserve_dispatch::proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    let mut rpcs: Vec<String> = set
        .file
        .iter()
        .filter(|f| f.package() == "reserve.v1")
        .flat_map(|f| &f.service)
        .flat_map(|s| &s.method)
        .map(|m| snake_case(m.name()))
        .collect();
    rpcs.sort();
    let mut rows: Vec<String> = TABLE.iter().map(|(rpc, _)| format!("{rpc:?}")).collect();
    rows.sort();
    assert_eq!(rows, rpcs);
    // Administrators and auditors act by role: the `org` claim changes
    // nothing, but for subscriptions, which are an organisation's.
    for (rpc, row) in TABLE
        .iter()
        .filter(|(rpc, _)| *rpc != Rpc::delete_subscription)
    {
        for role in ["admin", "auditor"] {
            let i = ROLES.iter().position(|r| *r == role).unwrap();
            assert_eq!(row[i][0], row[i][1], "{rpc:?}: {role}");
        }
    }
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Authorisation before validation (AIP-211).

/// A role that may never call an RPC is refused whatever its message holds:
/// every cell the table denies on both sides is called again with a message
/// that is wrong in every field it has (no name, an incomplete record, a
/// negative page size, a forged page token), and must still be
/// PERMISSION_DENIED, with no field named.
#[tokio::test]
async fn a_role_that_may_never_call_an_rpc_is_denied_whatever_it_sends() {
    let fx = fixture();
    let channel = fx.channel().await;
    let mut checked = 0;
    for (rpc, expectations) in TABLE {
        for (role, expected) in ROLES.iter().zip(expectations) {
            if *expected != [Expect::Denied, Expect::Denied] {
                continue;
            }
            let token = fx.keys.token_for(role, home_org(role));
            let status = invalid_call(channel.clone(), *rpc, &token)
                .await
                .expect_err("denied");
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{rpc:?} as {role}: {status:?}"
            );
            assert!(
                status.details().is_empty(),
                "{rpc:?} as {role}: no field named"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} denials checked");
}

/// `rpc` with a message wrong in every field.
async fn invalid_call(ch: Channel, rpc: Rpc, token: &str) -> Result<(), Status> {
    use pb::audit_service_client::AuditServiceClient as Audit;
    use pb::dispatch_service_client::DispatchServiceClient as Dispatch;
    use pb::preparedness_service_client::PreparednessServiceClient as Preparedness;
    use pb::provider_service_client::ProviderServiceClient as Providers;
    use pb::registry_service_client::RegistryServiceClient as Registry;
    use pb::support_request_service_client::SupportRequestServiceClient as Requests;
    let bad_page = (-1, "forged".to_owned());
    let bad_mask = Some(prost_types::FieldMask {
        paths: vec!["no_such_field".into()],
    });
    macro_rules! call {
        ($client:ident . $method:ident ( $message:expr )) => {
            $client::new(ch)
                .$method(authed($message, token))
                .await
                .map(drop)
        };
    }
    match rpc {
        Rpc::create_support_request => call!(Requests.create_support_request(
            pb::CreateSupportRequestRequest {
                support_request: Some(pb::SupportRequest::default()),
                request_id: "not an id".into(),
            }
        )),
        Rpc::update_support_request => call!(Requests.update_support_request(
            pb::UpdateSupportRequestRequest {
                support_request: Some(pb::SupportRequest::default()),
                update_mask: bad_mask,
            }
        )),
        Rpc::submit_support_request => call!(Requests.submit_support_request(Default::default())),
        Rpc::get_support_request => call!(Requests.get_support_request(Default::default())),
        Rpc::list_support_requests => call!(Requests.list_support_requests(
            pb::ListSupportRequestsRequest {
                page_size: bad_page.0,
                page_token: bad_page.1,
                state: 999,
            }
        )),
        Rpc::withdraw_support_request => {
            call!(Requests.withdraw_support_request(Default::default()))
        }
        Rpc::transmit_support_request => {
            call!(Requests.transmit_support_request(Default::default()))
        }
        Rpc::return_support_request => call!(Requests.return_support_request(Default::default())),
        Rpc::submit_summary_report => call!(Requests.submit_summary_report(Default::default())),
        Rpc::list_assessment_queue => call!(Dispatch.list_assessment_queue(
            pb::ListAssessmentQueueRequest {
                page_size: bad_page.0,
                page_token: bad_page.1,
            }
        )),
        Rpc::authorise_support => call!(Dispatch.authorise_support(pb::AuthoriseSupportRequest {
            granted_lines: vec![pb::ServiceLine::default()],
            duration_days: 9_999,
            ..Default::default()
        })),
        Rpc::reject_support_request => call!(Dispatch.reject_support_request(Default::default())),
        Rpc::request_more_information => {
            call!(Dispatch.request_more_information(Default::default()))
        }
        Rpc::propose_matches => call!(Dispatch.propose_matches(Default::default())),
        Rpc::approve_dispatch => call!(Dispatch.approve_dispatch(pb::ApproveDispatchRequest {
            plan: vec![pb::LinePlan::default()],
            ..Default::default()
        })),
        Rpc::close_support_request => call!(Dispatch.close_support_request(Default::default())),
        Rpc::get_usage_report => call!(Dispatch.get_usage_report(Default::default())),
        Rpc::list_usage_reports => {
            call!(Dispatch.list_usage_reports(pb::ListUsageReportsRequest {
                view: 999,
                page_size: bad_page.0,
                page_token: bad_page.1,
            }))
        }
        Rpc::get_stored_usage_report => {
            call!(Dispatch.get_stored_usage_report(Default::default()))
        }
        Rpc::transmit_usage_report => call!(Dispatch.transmit_usage_report(
            pb::TransmitUsageReportRequest {
                transmit_time: Some(prost_types::Timestamp {
                    seconds: -1,
                    nanos: -1
                }),
                ..Default::default()
            }
        )),
        Rpc::propose_conversion => call!(Preparedness.propose_conversion(
            pb::ProposeConversionRequest {
                conversion: Some(pb::Conversion {
                    preparedness_service: 999,
                    ..Default::default()
                }),
            }
        )),
        Rpc::accept_conversion => call!(Preparedness.accept_conversion(Default::default())),
        Rpc::decline_conversion => call!(Preparedness.decline_conversion(Default::default())),
        Rpc::withdraw_conversion => call!(Preparedness.withdraw_conversion(Default::default())),
        Rpc::complete_conversion => call!(Preparedness.complete_conversion(Default::default())),
        Rpc::get_conversion => call!(Preparedness.get_conversion(Default::default())),
        Rpc::list_conversions => call!(Preparedness.list_conversions(pb::ListConversionsRequest {
            state: 999,
            page_size: bad_page.0,
            page_token: bad_page.1,
            ..Default::default()
        })),
        Rpc::list_offers => call!(Providers.list_offers(pb::ListOffersRequest {
            page_size: bad_page.0,
            page_token: bad_page.1,
        })),
        Rpc::accept_offer => call!(Providers.accept_offer(Default::default())),
        Rpc::decline_offer => call!(Providers.decline_offer(pb::DeclineOfferRequest {
            reason: 999,
            ..Default::default()
        })),
        Rpc::record_agreement => call!(Providers.record_agreement(pb::RecordAgreementRequest {
            agreement: Some(pb::Agreement::default()),
            ..Default::default()
        })),
        Rpc::list_assignments => call!(Providers.list_assignments(pb::ListAssignmentsRequest {
            page_size: bad_page.0,
            page_token: bad_page.1,
        })),
        Rpc::complete_assignment => call!(Providers.complete_assignment(Default::default())),
        Rpc::create_country => call!(Registry.create_country(pb::CreateCountryRequest {
            country: Some(pb::Country::default()),
        })),
        Rpc::update_country => call!(Registry.update_country(pb::UpdateCountryRequest {
            country: Some(pb::Country::default()),
            update_mask: bad_mask,
        })),
        Rpc::get_country => call!(Registry.get_country(Default::default())),
        Rpc::list_countries => call!(Registry.list_countries(pb::ListCountriesRequest {
            page_size: bad_page.0,
            page_token: bad_page.1,
        })),
        Rpc::create_organisation => {
            call!(Registry.create_organisation(pb::CreateOrganisationRequest {
                organisation: Some(pb::Organisation::default()),
            }))
        }
        Rpc::update_organisation => {
            call!(Registry.update_organisation(pb::UpdateOrganisationRequest {
                organisation: Some(pb::Organisation::default()),
                update_mask: bad_mask,
            }))
        }
        Rpc::get_organisation => call!(Registry.get_organisation(Default::default())),
        Rpc::list_organisations => {
            call!(Registry.list_organisations(pb::ListOrganisationsRequest {
                page_size: bad_page.0,
                page_token: bad_page.1,
            }))
        }
        // The example of the issue: an incomplete provider.
        Rpc::create_provider => call!(Registry.create_provider(pb::CreateProviderRequest {
            provider: Some(pb::Provider {
                id: "half".into(),
                ..Default::default()
            }),
        })),
        Rpc::update_provider => call!(Registry.update_provider(pb::UpdateProviderRequest {
            provider: Some(pb::Provider::default()),
            update_mask: bad_mask,
        })),
        Rpc::get_provider => call!(Registry.get_provider(Default::default())),
        Rpc::list_providers => call!(Registry.list_providers(pb::ListProvidersRequest {
            page_size: bad_page.0,
            page_token: bad_page.1,
        })),
        Rpc::create_capacity_commitment => call!(Registry.create_capacity_commitment(
            pb::CreateCapacityCommitmentRequest {
                capacity_commitment: Some(pb::CapacityCommitment::default()),
            }
        )),
        Rpc::update_capacity_commitment => call!(Registry.update_capacity_commitment(
            pb::UpdateCapacityCommitmentRequest {
                capacity_commitment: Some(pb::CapacityCommitment::default()),
                update_mask: bad_mask,
            }
        )),
        Rpc::get_capacity_commitment => call!(Registry.get_capacity_commitment(Default::default())),
        Rpc::list_capacity_commitments => call!(Registry.list_capacity_commitments(
            pb::ListCapacityCommitmentsRequest {
                page_size: bad_page.0,
                page_token: bad_page.1,
                provider: "not a name".into(),
            }
        )),
        Rpc::list_unused_capacity => call!(Registry.list_unused_capacity(
            pb::ListUnusedCapacityRequest {
                ended_on_or_before: Some(reserve_dispatch::proto::google::r#type::Date {
                    year: 2026,
                    month: 13,
                    day: 40,
                }),
            }
        )),
        Rpc::import_registry => call!(Registry.import_registry(pb::ImportRegistryRequest {
            document: "providers: [{services: [TEA]}]".into(),
            validate_only: true,
        })),
        Rpc::list_events => call!(Audit.list_events(pb::ListEventsRequest {
            resource: "x".repeat(500),
            page_size: bad_page.0,
            page_token: bad_page.1,
        })),
        Rpc::watch_events => call!(Audit.watch_events(pb::WatchEventsRequest {
            after_sequence: -1,
            ..Default::default()
        })),
        Rpc::verify_audit_chain => call!(Audit.verify_audit_chain(pb::VerifyAuditChainRequest {
            after_sequence: -1,
            checkpoint_hash: "not hex".into(),
        })),
        Rpc::create_subscription => {
            call!(Audit.create_subscription(pb::CreateSubscriptionRequest {
                subscription: Some(pb::Subscription {
                    webhook_url: "not a url".into(),
                    actions: vec![String::new()],
                    ..Default::default()
                }),
            }))
        }
        Rpc::list_subscriptions => call!(Audit.list_subscriptions(pb::ListSubscriptionsRequest {})),
        Rpc::delete_subscription => {
            call!(Audit.delete_subscription(pb::DeleteSubscriptionRequest {
                name: "not a name".into(),
            }))
        }
        Rpc::list_notifications => call!(Audit.list_notifications(pb::ListNotificationsRequest {
            state: "NOT A STATE".into(),
            page_size: bad_page.0,
            page_token: bad_page.1,
        })),
        Rpc::get_checkpoint => {
            call!(Audit.get_checkpoint(pb::GetCheckpointRequest { tree_size: -1 }))
        }
        Rpc::list_checkpoints => call!(Audit.list_checkpoints(pb::ListCheckpointsRequest {
            page_size: bad_page.0,
            page_token: bad_page.1,
        })),
        Rpc::get_inclusion_proof => {
            call!(Audit.get_inclusion_proof(pb::GetInclusionProofRequest {
                sequence: 0,
                tree_size: -1,
            }))
        }
        Rpc::get_consistency_proof => {
            call!(Audit.get_consistency_proof(pb::GetConsistencyProofRequest {
                first_tree_size: 0,
                second_tree_size: -1,
            }))
        }
    }
}
