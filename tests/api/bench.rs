//! A short run of the load generator, so that it keeps working: every
//! scenario completes operations without errors and the report adds up.

#[test]
fn the_load_generator_runs_every_scenario() {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_reserve"));
    command.args([
        "bench",
        "--scenario",
        "ping,db-ceiling,submit,lifecycle,read,watch",
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
        ["ping", "db-ceiling", "submit", "lifecycle", "read", "watch"]
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
    assert_eq!(ratios.len(), 3);
    for r in ratios {
        assert!(r["to_db_ceiling"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["to_transport_ceiling"].as_f64().unwrap() > 0.0, "{r}");
    }
}
