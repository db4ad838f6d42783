//! The service killed with SIGKILL at random moments under load, and started
//! again on the same database each time.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::checks::check;
use crate::service::Service;
use crate::workload::Workload;
use crate::{Config, SERIAL, backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_acknowledged_is_lost_when_the_server_is_killed() {
    // Before waiting for the other test: the binary as cargo built it.
    crate::service::pinned_binary();
    let _serial = SERIAL.lock().await;
    let config = Config::from_env();
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut service = Service::start().await;
    let workload = Workload::new(service.channel(), service.keys.clone(), true);
    // Enough for most requests; some still wait when declines and expiries pile up.
    workload.commit_capacity(40 * config.kills).await;
    let clients: Vec<_> = (0..config.clients)
        .map(|i| tokio::spawn(workload.clone().client(i, config.seed)))
        .collect();

    for kill in 1..=config.kills {
        // Each incarnation does some work (an acknowledged write)...
        let before = workload.acknowledged();
        let deadline = Instant::now() + Duration::from_secs(30);
        while workload.acknowledged() == before {
            assert!(
                Instant::now() < deadline,
                "no write acknowledged within 30 s of a start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // ...and is killed at a random moment after that.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1_200))).await;
        let acked = workload.acknowledged();
        service.kill().await;
        // ...and a random time down, during which calls fail.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        service.restart().await;
        eprintln!(
            "crash harness: kill {kill}/{} after {acked} acknowledged writes; restarted at {}",
            config.kills,
            service.addr().unwrap_or("?")
        );
    }
    // Some load on the last incarnation too, then stop the clients.
    tokio::time::sleep(Duration::from_millis(500)).await;
    workload.stop();
    for client in clients {
        client.await.expect("a client ends without panicking");
    }
    let figures = check(&service, &workload).await;
    eprintln!(
        "crash harness ({}): {} kills survived in {:.1?}; {} acknowledged writes present \
         ({} not acknowledged, {} refused by the chart); {} requests, {} offers, {} expiry \
         timers fired once each; {} commitments balanced over {} ledger entries; {} events verified",
        backend(),
        config.kills,
        started.elapsed(),
        figures.acknowledged,
        figures.not_acknowledged,
        figures.refused,
        figures.requests,
        figures.offers,
        figures.expiries,
        figures.commitments,
        figures.ledger_entries,
        figures.events
    );
    let codes = workload.codes();
    eprintln!("crash harness: answers by code: {codes:?}");
    assert!(figures.expiries > 0, "timers came due during the run");
}
