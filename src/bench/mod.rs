//! `reserve bench`: a load generator. It starts `reserve serve` as a child
//! process on a fresh database, drives it with tonic clients at each
//! concurrency asked for, and reports throughput, latency percentiles and
//! the server's CPU time and peak memory, with two ceilings measured in the
//! same run so that results read as ratios:
//!
//! - `ping`: a trivial authenticated RPC through the same server stack
//!   (the transport ceiling);
//! - `db-ceiling`: transactions of one insert plus one event insert
//!   straight through the database driver (the database ceiling).
//!
//! The scenarios: `submit` (create and submit a complete request, as
//! several organisations), `lifecycle` (submit, authorise, propose, approve,
//! accept, agree, complete, report, close: one full cycle per operation),
//! `read` (get and list while as many writers submit), and `watch` (streams
//! open while events are written: delivery latency and memory per stream).
//! `get`, `list` and `queue` read one request, the first page of the list
//! and of the assessment queue; `verify` checks the whole audit chain.
//! `populate` measures those four and `submit` on the database as it is,
//! then fills it (`--requests` in every state, `--events` audit events),
//! restarts the server on it and measures them again.

pub mod ping;
mod populate;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Serialize;
use tonic::transport::Channel;

use crate::auth::{DevKey, claims_for};
use crate::grpc::pb;

const ISSUER: &str = "reserve-bench";
const AUDIENCE: &str = "reserve-bench";
/// Member States whose CSIRTs submit in the benchmark.
const SUBMITTERS: [&str; 8] = ["ee", "lv", "lt", "fi", "se", "dk", "nl", "be"];
/// The event every submission writes, which the watchers follow.
const SUBMIT_ACTION: &str = "SubmitSupportRequest";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Ping,
    DbCeiling,
    Submit,
    Lifecycle,
    Read,
    Watch,
    Get,
    List,
    Queue,
    Verify,
    Populate,
    /// Inclusion proofs of random events in the audit log's tree, once it
    /// has integrated every event (after `populate`: a log of its size).
    Prove,
    /// `submit`, with eight subscriptions to a receiver that never
    /// answers: each submission queues notifications that fail and are
    /// retried while the writers go on.
    SubmitNotified,
}

impl Scenario {
    /// Write RPCs in one operation.
    fn writes(self) -> f64 {
        match self {
            Scenario::Submit | Scenario::SubmitNotified => 2.0,
            // Create, submit, authorise, approve, accept, agreement,
            // complete, report, close (propose and the offer list read).
            Scenario::Lifecycle => 9.0,
            _ => 0.0,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Scenarios to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ping,db-ceiling,submit,lifecycle,read"
    )]
    pub scenario: Vec<Scenario>,
    /// Concurrent clients; each level is measured in turn.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Seconds measured at each level.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds run first at each level, not measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// A PostgreSQL URL (a fresh database is created on its server and
    /// dropped after); a temporary SQLite file when absent.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Streams opened by the `watch` scenario.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Events written (one a millisecond apart at most) while they watch.
    #[arg(long, default_value_t = 200)]
    pub watch_events: usize,
    /// Requests the `populate` scenario stores, spread over every state.
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    /// Audit events the `populate` scenario stores.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Requests the `populate` scenario stores before its first
    /// measurement, so that the pages read there are full too (a fifteenth
    /// of them wait in the duty officers' queue).
    #[arg(long, default_value_t = 1_000)]
    pub baseline: usize,
    /// `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

/// One scenario at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: Scenario,
    pub database: String,
    pub concurrency: usize,
    pub operations: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Server CPU time per operation, in milliseconds.
    pub server_cpu_ms_per_op: f64,
    /// The server's peak resident memory during the measurement.
    pub server_peak_mb: f64,
    /// For `watch`: the server's resident memory per open stream, in KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kib_per_stream: Option<f64>,
    /// Requests and audit events stored when measured (`populate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<(u64, u64)>,
    /// For `verify`: events checked per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_per_second: Option<f64>,
    /// For `populate`: the database's size per stored request, in bytes
    /// (events included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_request: Option<f64>,
}

/// The report: every outcome and the ratios to the ceilings.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub outcomes: Vec<Outcome>,
    pub ratios: Vec<Ratio>,
}

#[derive(Debug, Serialize)]
pub struct Ratio {
    pub scenario: Scenario,
    pub concurrency: usize,
    pub to_db_ceiling: Option<f64>,
    pub to_transport_ceiling: Option<f64>,
    /// Write RPCs per second over the database ceiling's transactions per
    /// second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes_to_db_ceiling: Option<f64>,
    /// Server CPU per write RPC over the ping's CPU per call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_write_to_ping: Option<f64>,
    /// p99 latency over the database ceiling's p99.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_to_db_ceiling: Option<f64>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = measure(&args).await?;
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// Runs every scenario at every concurrency against a fresh server.
pub async fn measure(args: &BenchArgs) -> anyhow::Result<Report> {
    let db = BenchDb::create(args.database_url.as_deref()).await?;
    let dir = tempfile::tempdir()?;
    let key = DevKey::load_or_create(&dir.path().join("bench.pem"))?;
    let public = dir.path().join("bench.pub.pem");
    std::fs::write(&public, key.public_pem())?;
    let mut server = Server::start(&db.url, &public)?;
    let tokens = Arc::new(Tokens::new(&key)?);
    let mut channels = Arc::new(connect(&server.addr, 64).await?);
    let database = if db.url.starts_with("postgres") {
        "postgresql"
    } else {
        "sqlite"
    };

    let mut world = Arc::new(World::prepare(&channels[0], &tokens).await?);
    let mut outcomes = Vec::new();
    for &scenario in &args.scenario {
        if scenario == Scenario::Populate {
            // As the database is, then filled, on a server started again.
            let conn = crate::store::connect(&db.url, 2).await?;
            let template = crate::grpc::convert::content(&request_body("EE"), "support_request")
                .map_err(|v| anyhow::anyhow!("the template request is invalid: {v}"))?;
            populate::populate(&conn, args.baseline, 0, 0, &template).await?;
            let empty = counts(&conn).await?;
            let before = populate::database_bytes(&conn, &db.url).await?;
            let measured = measure_scale(&server, &channels, &tokens, &world, args, empty).await?;
            outcomes.extend(measured.into_iter().map(|o| Outcome {
                database: database.into(),
                ..o
            }));
            drop(server);
            let filled =
                populate::populate(&conn, args.requests, args.events, args.baseline, &template)
                    .await?;
            let full = counts(&conn).await?;
            let after = populate::database_bytes(&conn, &db.url).await?;
            conn.close().await.ok();
            server = Server::start(&db.url, &public)?;
            channels = Arc::new(connect(&server.addr, 64).await?);
            let mut prepared = World::prepare(&channels[0], &tokens).await?;
            prepared.sample = filled.sample;
            world = Arc::new(prepared);
            let mut measured =
                measure_scale(&server, &channels, &tokens, &world, args, full).await?;
            if let Some(verified) = measured.last_mut() {
                verified.bytes_per_request =
                    Some(after.saturating_sub(before) as f64 / (full.0 - empty.0).max(1) as f64);
                verified.seconds = filled.seconds;
            }
            outcomes.extend(measured.into_iter().map(|o| Outcome {
                database: database.into(),
                ..o
            }));
            continue;
        }
        let levels: Vec<usize> = if scenario == Scenario::Watch {
            vec![args.watchers]
        } else {
            args.concurrency.clone()
        };
        for concurrency in levels {
            let outcome = match scenario {
                Scenario::Watch => watch(&server, &channels, &tokens, args).await?,
                Scenario::Verify => verify(&channels[0], &tokens, &server).await?,
                Scenario::Prove => prove(&server, concurrency, &channels, &tokens, args).await?,
                Scenario::SubmitNotified => {
                    unreachable_receivers(&channels[0], &tokens).await?;
                    run_scenario(
                        scenario,
                        concurrency,
                        &server,
                        &channels,
                        &tokens,
                        &world,
                        args,
                    )
                    .await?
                }
                Scenario::DbCeiling => {
                    let conn = crate::store::connect(&db.url, concurrency.max(1) as u32).await?;
                    db_ceiling_setup(&conn).await?;
                    let conn = Arc::new(conn);
                    load(&server, concurrency, args, move |_, i| {
                        let conn = conn.clone();
                        async move { db_ceiling_op(&conn, i).await }
                    })
                    .await?
                }
                _ => {
                    run_scenario(
                        scenario,
                        concurrency,
                        &server,
                        &channels,
                        &tokens,
                        &world,
                        args,
                    )
                    .await?
                }
            };
            outcomes.push(Outcome {
                scenario,
                database: database.into(),
                concurrency,
                ..outcome
            });
        }
    }
    drop(server);
    db.drop_database().await;
    let ratios = ratios(&outcomes);
    Ok(Report {
        machine: machine(),
        outcomes,
        ratios,
    })
}

/// One scenario of operations at one concurrency.
async fn run_scenario(
    scenario: Scenario,
    concurrency: usize,
    server: &Server,
    channels: &Arc<Vec<Channel>>,
    tokens: &Arc<Tokens>,
    world: &Arc<World>,
    args: &BenchArgs,
) -> anyhow::Result<Outcome> {
    let (channels, tokens, world) = (channels.clone(), tokens.clone(), world.clone());
    let mut outcome = load(server, concurrency, args, move |worker, i| {
        let channel = channels[worker % channels.len()].clone();
        let (tokens, world) = (tokens.clone(), world.clone());
        async move { operation(scenario, channel, &tokens, &world, worker, i).await }
    })
    .await?;
    outcome.scenario = scenario;
    outcome.concurrency = concurrency;
    Ok(outcome)
}

/// The scale scenario's measurements on the database as it stands
/// (`stored`: its requests and events): get, list, queue and submit at each
/// concurrency, then the chain verified.
async fn measure_scale(
    server: &Server,
    channels: &Arc<Vec<Channel>>,
    tokens: &Arc<Tokens>,
    world: &Arc<World>,
    args: &BenchArgs,
    stored: (u64, u64),
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for scenario in [
        Scenario::Get,
        Scenario::List,
        Scenario::Queue,
        Scenario::Submit,
    ] {
        for &concurrency in &args.concurrency {
            outcomes.push(
                run_scenario(scenario, concurrency, server, channels, tokens, world, args).await?,
            );
        }
    }
    outcomes.push(verify(&channels[0], tokens, server).await?);
    for o in &mut outcomes {
        o.stored = Some(stored);
    }
    Ok(outcomes)
}

/// Requests and audit events stored.
async fn counts(conn: &sea_orm::DatabaseConnection) -> anyhow::Result<(u64, u64)> {
    use sea_orm::ConnectionTrait;
    let count = |table: &str| {
        sea_orm::Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        )
    };
    let mut out = [0u64; 2];
    for (i, table) in ["support_requests", "audit_events"].iter().enumerate() {
        let row = conn.query_one_raw(count(table)).await?.context("a count")?;
        out[i] = row.try_get::<i64>("", "n")? as u64;
    }
    Ok((out[0], out[1]))
}

/// The whole chain verified three times in turn: events checked per
/// second, and the latency of a verification.
async fn verify(channel: &Channel, tokens: &Tokens, server: &Server) -> anyhow::Result<Outcome> {
    let mut client = pb::audit_service_client::AuditServiceClient::new(channel.clone());
    reset_peak(server.pid());
    let cpu_before = cpu_seconds(server.pid());
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut checked = 0;
    for _ in 0..3 {
        let begun = Instant::now();
        let result = client
            .verify_audit_chain(authed(
                pb::VerifyAuditChainRequest::default(),
                &tokens.auditor,
            ))
            .await?
            .into_inner();
        anyhow::ensure!(result.ok, "the chain does not verify: {result:?}");
        latencies.push(begun.elapsed());
        checked += result.events_checked;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.pid()) - cpu_before;
    let mut outcome = summarise(latencies, 0, seconds, cpu, peak_mb(server.pid()));
    outcome.scenario = Scenario::Verify;
    outcome.concurrency = 1;
    outcome.events_per_second = Some(checked as f64 / seconds);
    Ok(outcome)
}

/// Subscribes the duty officers eight times to every submission, at an
/// address that takes connections and never answers (each delivery waits
/// out its timeout), once per run.
async fn unreachable_receivers(channel: &Channel, tokens: &Tokens) -> anyhow::Result<()> {
    static LISTENER: std::sync::OnceLock<std::net::TcpListener> = std::sync::OnceLock::new();
    let listener = LISTENER.get_or_init(|| {
        std::net::TcpListener::bind("127.0.0.1:0").expect("a local port for the silent receiver")
    });
    let url = format!("http://{}/hooks", listener.local_addr()?);
    let mut client = pb::audit_service_client::AuditServiceClient::new(channel.clone());
    let existing = client
        .list_subscriptions(authed(pb::ListSubscriptionsRequest {}, &tokens.duty))
        .await?
        .into_inner()
        .subscriptions;
    for _ in existing.len()..8 {
        client
            .create_subscription(authed(
                pb::CreateSubscriptionRequest {
                    subscription: Some(pb::Subscription {
                        webhook_url: url.clone(),
                        actions: vec![SUBMIT_ACTION.into()],
                        ..Default::default()
                    }),
                },
                &tokens.duty,
            ))
            .await?;
    }
    Ok(())
}

/// Inclusion proofs of random events, as an auditor asks them, in the tree
/// of the log's latest checkpoint once it holds every event (its size the
/// same three seconds running).
async fn prove(
    server: &Server,
    concurrency: usize,
    channels: &Arc<Vec<Channel>>,
    tokens: &Arc<Tokens>,
    args: &BenchArgs,
) -> anyhow::Result<Outcome> {
    let mut client = pb::audit_service_client::AuditServiceClient::new(channels[0].clone());
    let deadline = Instant::now() + Duration::from_secs(1800);
    let (mut size, mut steady) = (0i64, 0);
    while steady < 3 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the audit log's tree did not take in every event within 30 minutes"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        match client
            .get_checkpoint(authed(pb::GetCheckpointRequest::default(), &tokens.auditor))
            .await
        {
            Ok(c) if c.get_ref().tree_size == size && size > 0 => steady += 1,
            Ok(c) => (size, steady) = (c.into_inner().tree_size, 0),
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {}
            Err(status) => return Err(status.into()),
        }
    }
    let (channels, tokens) = (channels.clone(), tokens.clone());
    let mut outcome = load(server, concurrency, args, move |worker, i| {
        let channel = channels[worker % channels.len()].clone();
        let tokens = tokens.clone();
        // Spread over the whole log, the same sequence for the same (worker, i).
        let sequence = 1 + ((worker as u64 * 7_919 + i * 104_729) % size as u64) as i64;
        async move {
            pb::audit_service_client::AuditServiceClient::new(channel)
                .get_inclusion_proof(authed(
                    pb::GetInclusionProofRequest {
                        sequence,
                        tree_size: size,
                    },
                    &tokens.auditor,
                ))
                .await?;
            Ok(())
        }
    })
    .await?;
    outcome.scenario = Scenario::Prove;
    outcome.concurrency = concurrency;
    outcome.stored = Some((0, size as u64));
    Ok(outcome)
}

/// Each scenario's throughput over the ceilings' at the same concurrency,
/// and, for writing scenarios, write RPCs per second and CPU per write RPC
/// over the ceilings'.
fn ratios(outcomes: &[Outcome]) -> Vec<Ratio> {
    let find = |s: Scenario, c: usize| {
        outcomes
            .iter()
            .find(|o| o.scenario == s && o.concurrency == c && o.stored.is_none())
    };
    outcomes
        .iter()
        .filter(|o| {
            o.stored.is_none()
                && !matches!(
                    o.scenario,
                    Scenario::Ping
                        | Scenario::DbCeiling
                        | Scenario::Watch
                        | Scenario::Verify
                        | Scenario::Prove
                )
        })
        .map(|o| {
            let db = find(Scenario::DbCeiling, o.concurrency);
            let ping = find(Scenario::Ping, o.concurrency);
            let writes = o.scenario.writes();
            Ratio {
                scenario: o.scenario,
                concurrency: o.concurrency,
                to_db_ceiling: db.map(|c| o.per_second / c.per_second),
                to_transport_ceiling: ping.map(|c| o.per_second / c.per_second),
                writes_to_db_ceiling: (writes > 0.0)
                    .then(|| db.map(|c| o.per_second * writes / c.per_second))
                    .flatten(),
                cpu_per_write_to_ping: (writes > 0.0)
                    .then(|| {
                        ping.filter(|p| p.server_cpu_ms_per_op > 0.0)
                            .map(|p| o.server_cpu_ms_per_op / writes / p.server_cpu_ms_per_op)
                    })
                    .flatten(),
                p99_to_db_ceiling: (writes > 0.0)
                    .then(|| db.filter(|c| c.p99_ms > 0.0).map(|c| o.p99_ms / c.p99_ms))
                    .flatten(),
            }
        })
        .collect()
}

/// Runs `op` from `concurrency` workers for the warm-up, then measures for
/// the duration: the latency of each operation, the server's CPU time and
/// its peak memory.
async fn load<F, Fut>(
    server: &Server,
    concurrency: usize,
    args: &BenchArgs,
    op: F,
) -> anyhow::Result<Outcome>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let warm_until = started + Duration::from_secs_f64(args.warmup);
    let until = warm_until + Duration::from_secs_f64(args.duration);
    let cpu_at = Arc::new(std::sync::Mutex::new(None::<f64>));
    // The measured window starts for everyone at `warm_until`.
    let sampler = {
        let pid = server.pid();
        let cpu_at = cpu_at.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(warm_until.into()).await;
            reset_peak(pid);
            *cpu_at.lock().expect("lock") = Some(cpu_seconds(pid));
        })
    };
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut i = 0u64;
                loop {
                    let begun = Instant::now();
                    if begun >= until {
                        break;
                    }
                    let result = op(worker, i).await;
                    i += 1;
                    if begun >= warm_until {
                        match result {
                            Ok(()) => latencies.push(begun.elapsed()),
                            Err(_) => errors += 1,
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        latencies.extend(l);
        errors += e;
    }
    sampler.await?;
    let seconds = Instant::now()
        .saturating_duration_since(warm_until)
        .as_secs_f64()
        .max(args.duration);
    let cpu = cpu_seconds(server.pid()) - cpu_at.lock().expect("lock").unwrap_or(0.0);
    Ok(summarise(
        latencies,
        errors,
        seconds,
        cpu,
        peak_mb(server.pid()),
    ))
}

fn summarise(
    mut latencies: Vec<Duration>,
    errors: u64,
    seconds: f64,
    cpu: f64,
    peak_mb: f64,
) -> Outcome {
    latencies.sort();
    let at = |q: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    let operations = latencies.len() as u64;
    Outcome {
        scenario: Scenario::Ping,
        database: String::new(),
        concurrency: 0,
        operations,
        errors,
        seconds,
        per_second: operations as f64 / seconds,
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        server_cpu_ms_per_op: if operations > 0 {
            cpu * 1000.0 / operations as f64
        } else {
            0.0
        },
        server_peak_mb: peak_mb,
        kib_per_stream: None,
        stored: None,
        events_per_second: None,
        bytes_per_request: None,
    }
}

/// The tokens the scenarios call with, signed once.
struct Tokens {
    admin: String,
    duty: String,
    auditor: String,
    submitters: Vec<String>,
    providers: std::collections::HashMap<String, String>,
}

impl Tokens {
    fn new(key: &DevKey) -> anyhow::Result<Self> {
        let sign = |role: &str, org: &str| {
            key.sign(&claims_for(
                role,
                org,
                &format!("bench-{role}"),
                ISSUER,
                AUDIENCE,
                6 * 3600,
            ))
            .context("signing a token")
        };
        let providers = [
            "nordic-ir",
            "danube-cyber",
            "iberia-forensics",
            "baltic-shield",
        ]
        .iter()
        .map(|p| Ok((format!("providers/{p}"), sign("provider", p)?)))
        .collect::<anyhow::Result<_>>()?;
        Ok(Tokens {
            admin: sign("admin", "reserve")?,
            duty: sign("duty_officer", "enisa")?,
            auditor: sign("auditor", "oversight")?,
            submitters: SUBMITTERS
                .iter()
                .map(|cc| sign("requester", &format!("{cc}-csirt")))
                .collect::<anyhow::Result<_>>()?,
            providers,
        })
    }
}

/// What the scenarios read: a few requests to get, with capacity enough for
/// every cycle.
struct World {
    readable: Vec<(String, usize)>,
    /// Requests to get as a duty officer (those the scale scenario stored).
    sample: Vec<String>,
}

impl World {
    async fn prepare(channel: &Channel, tokens: &Tokens) -> anyhow::Result<Self> {
        let mut registry = pb::registry_service_client::RegistryServiceClient::new(channel.clone());
        let today = chrono::Utc::now().date_naive();
        // Capacity at every provider the benchmark has a token for: cycles
        // spread over them (see `cycle`), as a duty officer's plans would.
        for provider in [
            "nordic-ir",
            "danube-cyber",
            "iberia-forensics",
            "baltic-shield",
        ] {
            registry
                .create_capacity_commitment(authed(
                    pb::CreateCapacityCommitmentRequest {
                        capacity_commitment: Some(pb::CapacityCommitment {
                            provider: format!("providers/{provider}"),
                            service: pb::ServiceType::IncidentResponse as i32,
                            person_days: 100_000,
                            period_start: Some(crate::grpc::convert::date(
                                today - chrono::Duration::days(1),
                            )),
                            period_end: Some(crate::grpc::convert::date(
                                today + chrono::Duration::days(365),
                            )),
                            ..Default::default()
                        }),
                    },
                    &tokens.admin,
                ))
                .await
                .context("committing capacity")?;
        }
        let mut readable = Vec::new();
        for (i, _) in SUBMITTERS.iter().enumerate() {
            let created = submit(channel.clone(), tokens, i, u64::MAX - i as u64).await?;
            readable.push((created, i));
        }
        Ok(World {
            sample: readable.iter().map(|(name, _)| name.clone()).collect(),
            readable,
        })
    }
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("tokens are printable"),
    );
    request
}

/// A complete Member State request with one incident-response line.
fn request_body(country: &str) -> pb::SupportRequest {
    let mut body = crate::grpc::door::sample_request();
    body.classification = pb::Classification::Significant as i32;
    body.severity = pb::Severity::High as i32;
    body.detect_time = Some(crate::grpc::convert::timestamp(
        chrono::Utc::now() - chrono::Duration::hours(6),
    ));
    body.affected_entities[0].country = country.into();
    body.countries_affected = vec![country.into()];
    body.service_lines[0].person_days = 2;
    body.service_lines[0].languages = vec!["en".into()];
    body
}

/// Creates and submits a request as submitter `who`; returns its name.
async fn submit(channel: Channel, tokens: &Tokens, who: usize, i: u64) -> anyhow::Result<String> {
    let who = who % SUBMITTERS.len();
    let token = &tokens.submitters[who];
    let mut client = pb::support_request_service_client::SupportRequestServiceClient::new(channel);
    let created = client
        .create_support_request(authed(
            pb::CreateSupportRequestRequest {
                support_request: Some(request_body(&SUBMITTERS[who].to_uppercase())),
                request_id: uuid::Uuid::new_v4().to_string(),
            },
            token,
        ))
        .await?
        .into_inner();
    let submitted = client
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest {
                name: created.name.clone(),
            },
            token,
        ))
        .await?
        .into_inner();
    anyhow::ensure!(
        submitted.state == pb::RequestState::Eligible as i32,
        "request {i} not eligible: state {}",
        submitted.state
    );
    Ok(created.name)
}

async fn operation(
    scenario: Scenario,
    channel: Channel,
    tokens: &Tokens,
    world: &World,
    worker: usize,
    i: u64,
) -> anyhow::Result<()> {
    match scenario {
        Scenario::Ping => Ok(ping::call(channel, &tokens.duty).await?),
        Scenario::Submit | Scenario::SubmitNotified => {
            submit(channel, tokens, worker, i).await.map(|_| ())
        }
        Scenario::Lifecycle => cycle(channel, tokens, worker, i).await,
        Scenario::Read => {
            // Half the workers write, half read; only reads are what the
            // others wait for, but every operation is counted.
            if worker % 2 == 1 {
                return submit(channel, tokens, worker, i).await.map(|_| ());
            }
            let (name, who) = &world.readable[(worker / 2 + i as usize) % world.readable.len()];
            let token = &tokens.submitters[*who];
            let mut client =
                pb::support_request_service_client::SupportRequestServiceClient::new(channel);
            if i.is_multiple_of(2) {
                client
                    .get_support_request(authed(
                        pb::GetSupportRequestRequest { name: name.clone() },
                        token,
                    ))
                    .await?;
            } else {
                client
                    .list_support_requests(authed(
                        pb::ListSupportRequestsRequest {
                            page_size: 25,
                            ..Default::default()
                        },
                        token,
                    ))
                    .await?;
            }
            Ok(())
        }
        Scenario::Get => {
            let id = &world.sample[(worker * 7919 + i as usize) % world.sample.len()];
            let name = if id.starts_with("supportRequests/") {
                id.clone()
            } else {
                format!("supportRequests/{id}")
            };
            pb::support_request_service_client::SupportRequestServiceClient::new(channel)
                .get_support_request(authed(pb::GetSupportRequestRequest { name }, &tokens.duty))
                .await?;
            Ok(())
        }
        Scenario::List => {
            pb::support_request_service_client::SupportRequestServiceClient::new(channel)
                .list_support_requests(authed(
                    pb::ListSupportRequestsRequest {
                        page_size: 50,
                        ..Default::default()
                    },
                    &tokens.duty,
                ))
                .await?;
            Ok(())
        }
        Scenario::Queue => {
            pb::dispatch_service_client::DispatchServiceClient::new(channel)
                .list_assessment_queue(authed(
                    pb::ListAssessmentQueueRequest {
                        page_size: 50,
                        ..Default::default()
                    },
                    &tokens.duty,
                ))
                .await?;
            Ok(())
        }
        Scenario::DbCeiling
        | Scenario::Watch
        | Scenario::Verify
        | Scenario::Populate
        | Scenario::Prove => {
            unreachable!("measured on their own")
        }
    }
}

/// One full cycle: submit, authorise, propose, approve, accept, agree,
/// complete, report, close.
async fn cycle(channel: Channel, tokens: &Tokens, worker: usize, i: u64) -> anyhow::Result<()> {
    let name = submit(channel.clone(), tokens, worker, i).await?;
    let mut dispatch = pb::dispatch_service_client::DispatchServiceClient::new(channel.clone());
    dispatch
        .authorise_support(authed(
            pb::AuthoriseSupportRequest {
                name: name.clone(),
                granted_lines: vec![pb::ServiceLine {
                    service: pb::ServiceType::IncidentResponse as i32,
                    person_days: 2,
                    ..Default::default()
                }],
                duration_days: 30,
                ..Default::default()
            },
            &tokens.duty,
        ))
        .await?;
    let proposal = dispatch
        .propose_matches(authed(
            pb::ProposeMatchesRequest { name: name.clone() },
            &tokens.duty,
        ))
        .await?
        .into_inner();
    // Cycles take the candidates in turn, so that they do not all queue on
    // one provider's capacity; a choice other than the first is justified.
    let candidates = &proposal.lines.first().context("no line")?.candidates;
    anyhow::ensure!(!candidates.is_empty(), "no candidate");
    let chosen = (worker + i as usize) % candidates.len();
    let provider = candidates[chosen].provider.clone();
    dispatch
        .approve_dispatch(authed(
            pb::ApproveDispatchRequest {
                name: name.clone(),
                plan: vec![pb::LinePlan {
                    line_index: 0,
                    provider: provider.clone(),
                    justification: if chosen == 0 {
                        String::new()
                    } else {
                        "spread over the providers able".into()
                    },
                    ..Default::default()
                }],
                version: 0,
            },
            &tokens.duty,
        ))
        .await?;
    let token = tokens
        .providers
        .get(&provider)
        .context("a provider the benchmark has no token for")?;
    let mut providers = pb::provider_service_client::ProviderServiceClient::new(channel.clone());
    // The offer's name is derived from the request's: find it in the
    // provider's open offers for this request.
    let offer = providers
        .list_offers(authed(
            pb::ListOffersRequest {
                page_size: 100,
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner()
        .offers
        .into_iter()
        .find(|o| o.support_request == name)
        .map(|o| o.name)
        .context("the offer")?;
    providers
        .accept_offer(authed(
            pb::AcceptOfferRequest {
                name: offer.clone(),
            },
            token,
        ))
        .await?;
    providers
        .record_agreement(authed(
            pb::RecordAgreementRequest {
                name: offer.clone(),
                agreement: Some(pb::Agreement {
                    reference: format!("SA-{worker}-{i}"),
                    template_version: "CSR-SA-2026.1".into(),
                    sign_time: Some(crate::grpc::convert::timestamp(
                        chrono::Utc::now() - chrono::Duration::seconds(5),
                    )),
                    liability_conditions: "Art. 16(6)".into(),
                    affected_entity: "Grid operator".into(),
                }),
            },
            token,
        ))
        .await?;
    providers
        .complete_assignment(authed(
            pb::CompleteAssignmentRequest {
                name: offer,
                delivery_note: "Delivered".into(),
            },
            token,
        ))
        .await?;
    pb::support_request_service_client::SupportRequestServiceClient::new(channel)
        .submit_summary_report(authed(
            pb::SubmitSummaryReportRequest {
                name: name.clone(),
                service_provided: "Containment".into(),
                results: "Restored".into(),
                lessons_learned: "Offline backups".into(),
            },
            &tokens.submitters[worker % SUBMITTERS.len()],
        ))
        .await?;
    dispatch
        .close_support_request(authed(
            pb::CloseSupportRequestRequest { name },
            &tokens.duty,
        ))
        .await?;
    Ok(())
}

/// `watchers` streams open, then requests submitted one after another:
/// the time from the start of each write to its event's arrival at every
/// stream (an upper bound of the delivery latency from commit to receipt).
async fn watch(
    server: &Server,
    channels: &[Channel],
    tokens: &Tokens,
    args: &BenchArgs,
) -> anyhow::Result<Outcome> {
    let before = rss_mb(server.pid());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let mut streams = Vec::new();
    for i in 0..args.watchers {
        let mut client =
            pb::audit_service_client::AuditServiceClient::new(channels[i % channels.len()].clone());
        let mut stream = client
            .watch_events(authed(
                pb::WatchEventsRequest {
                    action: SUBMIT_ACTION.into(),
                    ..Default::default()
                },
                &tokens.auditor,
            ))
            .await?
            .into_inner();
        let tx = tx.clone();
        streams.push(tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                let _ = tx.send((event.resource, Instant::now()));
            }
        }));
    }
    drop(tx);
    // Replayed history arrives first; let it drain.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while rx.try_recv().is_ok() {}
    let opened = rss_mb(server.pid());
    reset_peak(server.pid());
    let cpu_before = cpu_seconds(server.pid());

    let mut started_at = std::collections::HashMap::new();
    let writer = channels[channels.len() - 1].clone();
    let started = Instant::now();
    for n in 0..args.watch_events {
        let begun = Instant::now();
        if let Ok(name) = submit(writer.clone(), tokens, n, n as u64).await {
            started_at.insert(name, begun);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let expected = started_at.len() * args.watchers;
    let mut latencies = Vec::with_capacity(expected);
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.len() < expected {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Ok(Some((resource, at))) => {
                if let Some(begun) = started_at.get(&resource) {
                    latencies.push(at.saturating_duration_since(*begun));
                }
            }
            _ => break,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.pid()) - cpu_before;
    let peak = peak_mb(server.pid());
    let missing = expected.saturating_sub(latencies.len()) as u64;
    for s in streams {
        s.abort();
    }
    let mut outcome = summarise(latencies, missing, seconds, cpu, peak);
    outcome.scenario = Scenario::Watch;
    outcome.kib_per_stream =
        Some(((opened - before).max(0.0) * 1024.0) / args.watchers.max(1) as f64);
    Ok(outcome)
}

async fn db_ceiling_setup(conn: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    let id = if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        "BIGSERIAL PRIMARY KEY"
    } else {
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    };
    conn.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS bench_requests (id {id}, uid TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL)"
    ))
    .await?;
    conn.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS bench_events (id {id}, resource TEXT NOT NULL, payload TEXT NOT NULL, hash TEXT NOT NULL)"
    ))
    .await?;
    Ok(())
}

/// One transaction: a request-sized insert and an event insert.
async fn db_ceiling_op(conn: &sea_orm::DatabaseConnection, i: u64) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let backend = conn.get_database_backend();
    let (q1, q2) = if backend == sea_orm::DatabaseBackend::Postgres {
        (
            "INSERT INTO bench_requests (uid, body, created_at) VALUES ($1, $2, $3)",
            "INSERT INTO bench_events (resource, payload, hash) VALUES ($1, $2, $3)",
        )
    } else {
        (
            "INSERT INTO bench_requests (uid, body, created_at) VALUES (?, ?, ?)",
            "INSERT INTO bench_events (resource, payload, hash) VALUES (?, ?, ?)",
        )
    };
    let uid = uuid::Uuid::new_v4().to_string();
    // A request-sized text, made once.
    static BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = BODY
        .get_or_init(|| format!("{:?}", request_body("EE")))
        .clone();
    let txn = conn.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        q1,
        [
            uid.clone().into(),
            body.into(),
            chrono::Utc::now().to_rfc3339().into(),
        ],
    ))
    .await?;
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        q2,
        [
            format!("supportRequests/{uid}").into(),
            format!("{{\"i\":{i}}}").into(),
            hex::encode(sha2::Digest::finalize(sha2::Digest::chain_update(
                <sha2::Sha256 as sha2::Digest>::new(),
                uid.as_bytes(),
            )))
            .into(),
        ],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The benchmark's database: a temporary SQLite file, or a fresh database
/// on the PostgreSQL server of the URL given.
struct BenchDb {
    url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl BenchDb {
    async fn create(base: Option<&str>) -> anyhow::Result<Self> {
        use sea_orm::ConnectionTrait;
        match base {
            Some(base) if base.starts_with("postgres") => {
                let name = format!("reserve_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(base).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                admin.close().await.ok();
                let (prefix, _) = base.rsplit_once('/').context("a URL with a database")?;
                Ok(BenchDb {
                    url: format!("{prefix}/{name}"),
                    admin: Some((base.to_owned(), name)),
                    _dir: None,
                })
            }
            Some(other) => anyhow::bail!("the benchmark makes its own SQLite file; got {other}"),
            None => {
                let dir = tempfile::tempdir()?;
                Ok(BenchDb {
                    url: format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
                    admin: None,
                    _dir: Some(dir),
                })
            }
        }
    }

    async fn drop_database(&self) {
        use sea_orm::ConnectionTrait;
        if let Some((base, name)) = &self.admin
            && let Ok(admin) = sea_orm::Database::connect(base.as_str()).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// The server under test, a child process killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(database_url: &str, public_key: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("RESERVE_LISTEN_ADDR", "127.0.0.1:0")
            .env("RESERVE_DATABASE_URL", database_url)
            .env("RESERVE_DB_MAX_CONNECTIONS", "16")
            .env("RESERVE_SEED_DEMO", "true")
            .env("RESERVE_JWT_PUBLIC_KEY_FILE", public_key)
            .env("RESERVE_JWT_ALGORITHM", "EdDSA")
            .env("RESERVE_JWT_KEY_ID", crate::auth::DEV_KID)
            .env("RESERVE_JWT_ISSUER", ISSUER)
            .env("RESERVE_JWT_AUDIENCE", AUDIENCE)
            // Load from a handful of organisations is what is measured here.
            .env("RESERVE_RATE_LIMIT_PER_SECOND", "0")
            .env("RESERVE_MAX_CONCURRENT_STREAMS", "1000")
            .env("RESERVE_BENCH_PING", "true")
            // The log's checkpoints, signed with the benchmark's key.
            .env(
                "RESERVE_LOG_SIGNING_KEY_FILE",
                public_key.with_file_name("bench.pem"),
            )
            .env("RESERVE_LOG_CHECKPOINT_SECS", "1")
            .env("RUST_LOG", "warn,reserve_dispatch::startup=info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the server")?;
        let stderr = child.stderr.take().context("the server's log")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .context("the server stopped before serving")??;
            if line.contains("reserve-dispatch serving")
                && let Some(rest) = line.split("addr=").nth(1)
            {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Server {
            child,
            addr: format!("http://{addr}"),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` connections, so that clients are not all queued on one.
async fn connect(addr: &str, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        channels.push(Channel::from_shared(addr.to_owned())?.connect().await?);
    }
    Ok(channels)
}

/// CPU time of every thread of `pid`, in seconds (from schedstat, in ns).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

fn status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

fn peak_mb(pid: u32) -> f64 {
    status_kb(pid, "VmHWM:") / 1024.0
}

fn rss_mb(pid: u32) -> f64 {
    status_kb(pid, "VmRSS:") / 1024.0
}

/// Resets the peak resident size, so the next reading covers what follows.
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = status_meminfo();
    format!("{cpus} CPUs ({model}), {memory:.0} GiB")
}

fn status_meminfo() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
        / 1024.0
}

/// The report as a table, with the ratios under it.
pub fn render(report: &Report) -> String {
    let mut out = format!("machine: {}\n\n", report.machine);
    out.push_str(&format!(
        "{:<11} {:<10} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6} {:>10} {:>8}\n",
        "SCENARIO",
        "DATABASE",
        "CONC",
        "OPS/S",
        "P50 MS",
        "P90 MS",
        "P99 MS",
        "MAX MS",
        "ERRORS",
        "CPU MS/OP",
        "PEAK MB"
    ));
    for o in &report.outcomes {
        out.push_str(&format!(
            "{:<11} {:<10} {:>5} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>10.3} {:>8.1}\n",
            serde_json::to_value(o.scenario)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            o.database,
            o.concurrency,
            o.per_second,
            o.p50_ms,
            o.p90_ms,
            o.p99_ms,
            o.max_ms,
            o.errors,
            o.server_cpu_ms_per_op,
            o.server_peak_mb,
        ));
        if let Some(kib) = o.kib_per_stream {
            out.push_str(&format!(
                "{:<11} server memory per open stream: {kib:.1} KiB\n",
                ""
            ));
        }
    }
    if !report.ratios.is_empty() {
        out.push_str("\nratios of throughput at the same concurrency\n");
        for r in &report.ratios {
            let pct = |v: Option<f64>| {
                v.map(|v| format!("{:.0}%", v * 100.0))
                    .unwrap_or("-".into())
            };
            out.push_str(&format!(
                "{:<11} conc {:>3}: {:>5} of the database ceiling, {:>5} of the transport ceiling\n",
                serde_json::to_value(r.scenario)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                r.concurrency,
                pct(r.to_db_ceiling),
                pct(r.to_transport_ceiling),
            ));
        }
    }
    out
}
