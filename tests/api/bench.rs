//! A short run of the load generator, so that it keeps working: every
//! scenario completes operations without errors and the report adds up.

#[test]
fn the_load_generator_runs_every_scenario() {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_reserve"));
    command.args([
        "bench",
        "--scenario",
        "ping,db-ceiling,submit,lifecycle,read,submit-notified,watch",
        "--concurrency",
        "2",
        "--duration",
        "2",
        "--warmup",
        "0.1",
        "--watchers",
        "20",
        "--watch-events",
        "5",
        "--output",
        "json",
    ]);
    if let Ok(url) = std::env::var("TEST_DATABASE_URL")
        && url.starts_with("postgres")
    {
        command.args(["--database-url", &url]);
    }
    let output = command.output().expect("reserve bench runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    let names: Vec<&str> = outcomes
        .iter()
        .map(|o| o["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ping",
            "db-ceiling",
            "submit",
            "lifecycle",
            "read",
            "submit-notified",
            "watch"
        ]
    );
    for o in outcomes {
        assert!(o["operations"].as_u64().unwrap() > 0, "{o}");
        assert_eq!(o["errors"].as_u64(), Some(0), "{o}");
        let (p50, p99, max) = (
            o["p50_ms"].as_f64().unwrap(),
            o["p99_ms"].as_f64().unwrap(),
            o["max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{o}");
        assert!(o["server_cpu_ms_per_op"].as_f64().unwrap() > 0.0, "{o}");
        assert!(o["server_peak_mb"].as_f64().unwrap() > 1.0, "{o}");
    }
    let watch = outcomes.last().unwrap();
    assert_eq!(
        watch["operations"].as_u64(),
        Some(5 * 20),
        "each event to each stream"
    );
    let ratios = report["ratios"].as_array().expect("ratios");
    assert_eq!(ratios.len(), 4);
    for r in ratios {
        assert!(r["to_db_ceiling"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["to_transport_ceiling"].as_f64().unwrap() > 0.0, "{r}");
    }
}

/// The scale scenario in small: the reads measured on the database as it
/// is and again once filled, the chain verified, the size reported; then
/// inclusion proofs in the filled log.
#[test]
fn the_scale_scenario_fills_the_database_and_measures_it_twice() {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_reserve"));
    command.args([
        "bench",
        "--scenario",
        "populate,prove",
        "--concurrency",
        "1",
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
        "--requests",
        "600",
        "--events",
        "5000",
        "--output",
        "json",
    ]);
    if let Ok(url) = std::env::var("TEST_DATABASE_URL")
        && url.starts_with("postgres")
    {
        command.args(["--database-url", &url]);
    }
    let output = command.output().expect("reserve bench runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    let names: Vec<&str> = outcomes
        .iter()
        .map(|o| o["scenario"].as_str().unwrap())
        .collect();
    let set = ["get", "list", "queue", "submit", "verify"];
    assert_eq!(names, [&set[..], &set[..], &["prove"]].concat());
    for o in outcomes {
        assert!(o["operations"].as_u64().unwrap() > 0, "{o}");
        assert_eq!(o["errors"].as_u64(), Some(0), "{o}");
    }
    let stored = |o: &serde_json::Value| {
        (
            o["stored"][0].as_u64().unwrap(),
            o["stored"][1].as_u64().unwrap(),
        )
    };
    let (empty, full) = (stored(&outcomes[0]), stored(&outcomes[5]));
    assert!(full.0 >= empty.0 + 600, "{empty:?} then {full:?}");
    assert!(full.1 >= empty.1 + 5000, "{empty:?} then {full:?}");
    let proved = &outcomes[10];
    assert!(
        stored(proved).1 >= full.1,
        "every event is in the tree: {proved}"
    );
    let verified = &outcomes[9];
    assert!(verified["events_per_second"].as_f64().unwrap() > 0.0);
    assert!(
        verified["bytes_per_request"].as_f64().unwrap() > 100.0,
        "{verified}"
    );
}
