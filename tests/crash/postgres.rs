//! PostgreSQL restarted, then stopped for a while, under load: the same
//! server process answers UNAVAILABLE meanwhile (never INTERNAL, never
//! hanging past a bound) and recovers by itself once the database is back,
//! with nothing half-written.

use std::process::Command;
use std::time::{Duration, Instant};

use tonic::Code;

use crate::checks::check;
use crate::service::Service;
use crate::workload::{CallRecord, Workload};
use crate::{Config, SERIAL, backend};

/// Calls succeed again within this long after PostgreSQL is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);
/// No call takes longer than this while the database is away: a request
/// waits for a connection at most the pool's acquire timeout (10 s).
const ANSWER_BOUND: Duration = Duration::from_secs(12);

/// `pg_ctlcluster 15 main`, or what `RESERVE_CRASH_PG_CTL` names.
fn pg_ctl_command() -> Vec<String> {
    std::env::var("RESERVE_CRASH_PG_CTL")
        .unwrap_or_else(|_| "pg_ctlcluster 15 main".into())
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

async fn pg_ctl(action: &'static str) {
    let command = pg_ctl_command();
    let status = tokio::task::spawn_blocking(move || {
        Command::new(&command[0])
            .args(&command[1..])
            .arg(action)
            .status()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("pg_ctlcluster {action} runs: {e}"));
    assert!(status.success(), "pg_ctlcluster {action}: {status}");
}

/// Starts the cluster again however the test ends.
struct ClusterGuard;

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let command = pg_ctl_command();
        // An error here means it is running already.
        let _ = Command::new(&command[0])
            .args(&command[1..])
            .arg("start")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Waits (bounded by `QUIET_BOUND`) until no other database of the cluster
/// has a client connected: the restart would break the test suites of
/// other checkouts sharing the cluster. Proceeds anyway after the bound.
async fn wait_for_quiet_cluster(own_url: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    const QUIET_BOUND: Duration = Duration::from_secs(90);
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let own = own_url.rsplit('/').next().unwrap().to_owned();
    let conn = sea_orm::Database::connect(&admin_url).await.unwrap();
    let deadline = Instant::now() + QUIET_BOUND;
    loop {
        let busy = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!(
                    "SELECT count(*)::bigint AS n FROM pg_stat_activity \
                     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
                     AND datname IS DISTINCT FROM '{own}'"
                ),
            ))
            .await
            .unwrap()
            .map(|row| row.try_get::<i64>("", "n").unwrap())
            .unwrap_or(0);
        if busy == 0 {
            break;
        }
        if Instant::now() > deadline {
            eprintln!(
                "crash harness: {busy} other clients still on the cluster after {QUIET_BOUND:?}; \
                 restarting anyway"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    conn.close().await.ok();
}

/// Waits (bounded) for a call that started at or after `since` to succeed;
/// returns how long after `since` it answered.
async fn recovered_after(workload: &Workload, since: Instant) -> Duration {
    let deadline = since + RECOVERY_BOUND + Duration::from_secs(10);
    loop {
        let first_ok = workload
            .calls()
            .iter()
            .filter(|c| c.started >= since && c.code == Code::Ok)
            .map(|c| c.started + c.took)
            .min();
        if let Some(at) = first_ok {
            return at - since;
        }
        assert!(
            Instant::now() < deadline,
            "no call succeeded within {:?} of PostgreSQL coming back",
            deadline - since
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until `n` more writes are acknowledged.
async fn progress(workload: &Workload, n: usize) {
    let target = workload.acknowledged() + n;
    let deadline = Instant::now() + Duration::from_secs(60);
    while workload.acknowledged() < target {
        assert!(Instant::now() < deadline, "the workload made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn answered_between(calls: &[CallRecord], from: Instant, to: Instant) -> Vec<CallRecord> {
    calls
        .iter()
        .filter(|c| c.started >= from && c.started + c.took <= to)
        .copied()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_rides_out_a_postgresql_restart() {
    // Before waiting for the other test: the binary as cargo built it.
    crate::service::pinned_binary();
    let _serial = SERIAL.lock().await;
    if backend() != "PostgreSQL" {
        eprintln!(
            "crash harness: the PostgreSQL restart test needs TEST_DATABASE_URL=postgres://...; \
             on SQLite the database lives in the server's own process, with nothing to restart"
        );
        return;
    }
    let config = Config::from_env();
    let _cluster = ClusterGuard;
    let service = Service::start().await;
    let workload = Workload::new(service.channel(), service.keys.clone(), false);
    workload.commit_capacity(400).await;
    let clients: Vec<_> = (0..config.clients)
        .map(|i| tokio::spawn(workload.clone().client(i, config.seed)))
        .collect();
    progress(&workload, 10).await;

    // A restart under load.
    wait_for_quiet_cluster(&service.db.url).await;
    let restart = Instant::now();
    pg_ctl("restart").await;
    let back = Instant::now();
    let recovery = recovered_after(&workload, back).await;
    eprintln!(
        "crash harness: PostgreSQL restarted in {:.1?}; calls succeed again {recovery:.1?} later",
        back - restart
    );
    assert!(recovery <= RECOVERY_BOUND, "recovered in {recovery:?}");
    progress(&workload, 10).await;

    // Down for longer than a call waits for a connection: calls are answered
    // UNAVAILABLE, in bounded time.
    wait_for_quiet_cluster(&service.db.url).await;
    pg_ctl("stop").await;
    let down = Instant::now();
    let deadline = down + Duration::from_secs(30);
    loop {
        let unavailable = answered_between(&workload.calls(), down, Instant::now())
            .iter()
            .filter(|c| c.code == Code::Unavailable)
            .count();
        if unavailable > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no UNAVAILABLE answers while PostgreSQL is down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = Instant::now();
    let while_down = answered_between(&workload.calls(), down, start);
    pg_ctl("start").await;
    let back = Instant::now();
    let recovery_after_stop = recovered_after(&workload, back).await;
    eprintln!(
        "crash harness: PostgreSQL down for {:.1?}: {} calls answered meanwhile, all UNAVAILABLE; \
         calls succeed again {recovery_after_stop:.1?} after it is back",
        start - down,
        while_down.len()
    );
    assert!(
        while_down.iter().all(|c| c.code == Code::Unavailable),
        "while PostgreSQL was down: {while_down:?}"
    );
    assert!(recovery_after_stop <= RECOVERY_BOUND);
    progress(&workload, 10).await;

    workload.stop();
    for client in clients {
        client.await.expect("a client ends without panicking");
    }
    let slowest = workload.calls().iter().map(|c| c.took).max().unwrap();
    assert!(slowest <= ANSWER_BOUND, "a call took {slowest:?}");
    assert_eq!(service.starts, 1, "the same server process throughout");
    let figures = check(&service, &workload).await;
    eprintln!(
        "crash harness (PostgreSQL restarts): slowest call {slowest:.1?}; {} acknowledged writes \
         present ({} not acknowledged); {} requests, {} offers, {} expiries; {} events verified; \
         answers by code: {:?}",
        figures.acknowledged,
        figures.not_acknowledged,
        figures.requests,
        figures.offers,
        figures.expiries,
        figures.events,
        workload.codes()
    );
}
