//! The `reserve` binary as its users run it: a Moldovan request from the
//! example file to closing, every step a command line, each role with its
//! own token; answers checked as tables and as `--output json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// What a run of the binary left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout, asserting success.
    fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "exit code {}; stderr: {}; stdout: {}",
            self.code, self.stderr, self.stdout
        );
        &self.stdout
    }

    /// Stdout parsed as one JSON document, asserting success.
    fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file)
}

/// The binary under test; `RESERVE_TEST_BINARY` names another build of it
/// (several checkouts sharing one target directory share one `reserve`).
fn binary() -> std::ffi::OsString {
    std::env::var_os("RESERVE_TEST_BINARY").unwrap_or_else(|| env!("CARGO_BIN_EXE_reserve").into())
}

/// Runs `reserve args…` against `app` with `token` in the environment. The
/// process runs on a blocking thread, so the in-process server keeps serving.
async fn reserve(app: &TestApp, token: &str, args: &[&str]) -> Run {
    let mut command = std::process::Command::new(binary());
    command
        .args(args)
        .env("RESERVE_ADDR", format!("http://{}", app.addr))
        .env("RESERVE_TOKEN", token)
        .env_remove("RESERVE_DATABASE_URL")
        .env_remove("RESERVE_CONFIG");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .unwrap_or_else(|_| panic!("reserve {args:?} finishes within a minute"))
    .unwrap()
    .expect("the reserve binary runs");
    Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The tokens of the people in the story.
struct People {
    requester: String,
    spoc: String,
    commission: String,
    duty: String,
    danube: String,
    nordic: String,
    admin: String,
    auditor: String,
}

impl People {
    fn of(app: &TestApp) -> People {
        People {
            requester: app.token("requester", "md-csirt"),
            spoc: app.token("requester", "md-spoc"),
            commission: app.token("commission", "ec"),
            duty: app.token("duty_officer", "enisa"),
            danube: app.token("provider", "danube-cyber"),
            nordic: app.token("provider", "nordic-ir"),
            admin: app.token("admin", "reserve-admin"),
            auditor: app.token("auditor", "oversight"),
        }
    }
}

/// The one open offer of a provider, by its JSON listing.
async fn open_offer(app: &TestApp, token: &str, request: &str) -> String {
    let offers = reserve(app, token, &["offer", "list", "--output", "json"])
        .await
        .json();
    let open: Vec<&Value> = offers["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["support_request"] == request && o["state"] == "OFFERED")
        .collect();
    assert_eq!(open.len(), 1, "{offers}");
    open[0]["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_moldovan_request_from_the_example_file_to_closing_with_the_cli_only() {
    let app = spawn_app().await;
    let who = People::of(&app);
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    // The administrator loads capacity (and a provider) from the example registry file.
    let imported = reserve(
        &app,
        &who.admin,
        &["registry", "import", &path(&example("registry.yaml"))],
    )
    .await;
    assert!(
        imported.ok().contains("5 created, 0 updated, 0 unchanged"),
        "{}",
        imported.stdout
    );

    // A Moldovan CSIRT, not the contact point, files the example request.
    let created = reserve(
        &app,
        &who.requester,
        &[
            "request",
            "create",
            "--file",
            &path(&example("moldova-request.yaml")),
            "--output",
            "json",
        ],
    )
    .await;
    let draft = created.json();
    assert_eq!(draft["state"], "DRAFT");
    assert_eq!(draft["organisation"], "organisations/md-csirt");
    assert_eq!(draft["service_lines"][1]["service"], "DIGITAL_FORENSICS");
    assert!(
        created.stderr.starts_with("request id: "),
        "{}",
        created.stderr
    );
    let name = draft["name"].as_str().unwrap().to_owned();
    let reference = draft["reference"].as_str().unwrap().to_owned();

    let submitted = reserve(&app, &who.requester, &["request", "submit", &name]).await;
    let text = submitted.ok();
    assert!(text.contains("state: AWAITING_TRANSMISSION"), "{text}");

    // Moldova's single point of contact transmits it to the Commission.
    let transmitted = reserve(
        &app,
        &who.spoc,
        &[
            "request",
            "transmit",
            &reference,
            "--note",
            "Confirmed with the grid operator",
        ],
    )
    .await;
    let text = transmitted.ok();
    assert!(text.contains("state: REFERRED"), "{text}");
    assert!(
        text.contains("eligibility: ELIGIBLE under rule set csa-v1"),
        "{text}"
    );
    let council = text
        .lines()
        .find(|l| l.starts_with("CSA-TC-COUNCIL"))
        .expect("the Council rule in the table");
    assert!(council.contains("PASS"), "{council}");

    // A third country's request waits for the Commission, not the duty officer.
    let queue = reserve(&app, &who.commission, &["decide", "queue"]).await;
    let first = queue
        .ok()
        .lines()
        .nth(1)
        .expect("an entry under the header");
    assert!(first.starts_with("1 "), "{first}");
    assert!(
        first.contains(&reference) && first.contains(&name),
        "{first}"
    );
    let queue = reserve(&app, &who.duty, &["decide", "queue", "--output", "json"]).await;
    assert_eq!(queue.json()["entries"], Value::Array(vec![]));

    let authorised = reserve(
        &app,
        &who.commission,
        &[
            "decide",
            "authorise",
            &name,
            "--days",
            "60",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(authorised["state"], "AUTHORISED");
    assert_eq!(authorised["granted_duration_days"], 60);
    assert_eq!(
        authorised["granted_lines"][0]["person_days"], 20,
        "every line asked for, in full"
    );

    // The duty officer matches and approves.
    let proposal = reserve(&app, &who.duty, &["dispatch", "propose", &name]).await;
    let text = proposal.ok();
    assert!(
        text.contains("line 0: INCIDENT_RESPONSE 20 person-days"),
        "{text}"
    );
    assert!(
        text.contains("line 1: DIGITAL_FORENSICS 10 person-days"),
        "{text}"
    );
    let proposal = reserve(
        &app,
        &who.duty,
        &["dispatch", "propose", &name, "--output", "json"],
    )
    .await
    .json();
    let top = |line: usize| proposal["lines"][line]["candidates"][0]["provider"].clone();
    assert_eq!(top(0), "providers/danube-cyber");
    assert_eq!(top(1), "providers/nordic-ir");
    assert!(
        proposal["lines"][0]["candidates"][0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("deploys in 8 h")),
        "{proposal}"
    );
    let approved = reserve(
        &app,
        &who.duty,
        &[
            "dispatch",
            "approve",
            &name,
            "--line",
            "INCIDENT_RESPONSE=danube-cyber,nordic-ir",
            "--line",
            "DIGITAL_FORENSICS=nordic-ir",
        ],
    )
    .await;
    assert!(
        approved.ok().contains("state: DISPATCHING"),
        "{}",
        approved.stdout
    );

    // Each provider accepts its offer and records the agreement.
    let listing = reserve(&app, &who.danube, &["offer", "list"]).await;
    let row = listing
        .ok()
        .lines()
        .find(|l| l.contains("OFFERED"))
        .expect("an open offer in the table");
    assert!(
        row.contains("INCIDENT_RESPONSE") && row.contains("20") && row.contains("MD"),
        "{row}"
    );
    for (token, service) in [
        (&who.danube, "INCIDENT_RESPONSE"),
        (&who.nordic, "DIGITAL_FORENSICS"),
    ] {
        let offer = open_offer(&app, token, &name).await;
        let accepted = reserve(&app, token, &["offer", "accept", &offer]).await;
        let text = accepted.ok();
        assert!(
            text.contains("ACCEPTED") && text.contains(service),
            "{text}"
        );
        assert!(
            text.contains(&reference),
            "the full request once accepted: {text}"
        );
        let active = reserve(
            &app,
            token,
            &[
                "offer",
                "agree",
                &offer,
                "--reference",
                &format!("SA-MD-{service}"),
                "--template-version",
                "CSR-SA-2026.1",
                "--liability",
                "Per Art. 16(6) and the framework contract",
                "--affected-entity",
                "Distribution grid operator (demo)",
                "--output",
                "json",
            ],
        )
        .await
        .json();
        assert_eq!(active["state"], "OFFER_ACTIVE");
        assert_eq!(active["agreement"]["template_version"], "CSR-SA-2026.1");
    }
    let shown = reserve(
        &app,
        &who.requester,
        &["request", "show", &reference, "--output", "json"],
    )
    .await
    .json();
    assert_eq!(shown["name"], name.as_str(), "found by its reference");
    assert_eq!(shown["state"], "DISPATCHED");

    // They deliver.
    for token in [&who.danube, &who.nordic] {
        let assignments = reserve(&app, token, &["assignment", "list"]).await;
        let row = assignments
            .ok()
            .lines()
            .find(|l| l.contains(&reference))
            .expect("the assignment names the request");
        assert!(row.contains("OFFER_ACTIVE"), "{row}");
        let listed = reserve(&app, token, &["assignment", "list", "--output", "json"])
            .await
            .json();
        let offer = listed["assignments"][0]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let done = reserve(
            &app,
            token,
            &[
                "assignment",
                "complete",
                &offer,
                "--note",
                "Delivered on site",
                "--output",
                "json",
            ],
        )
        .await
        .json();
        assert_eq!(done["state"], "DELIVERED");
        assert_eq!(done["delivery_note"], "Delivered on site");
    }

    // The requester reports, the duty officer closes.
    let reported = reserve(
        &app,
        &who.requester,
        &[
            "request",
            "report",
            &name,
            "--service-provided",
            "Containment and forensics",
            "--results",
            "Grid control restored in 36 hours",
            "--lessons-learned",
            "Offline backups of the historian",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(reported["state"], "REPORTED");
    assert_eq!(
        reported["summary_report"]["recipients"][0],
        "European Commission (forwarding to the Council and the High Representative)"
    );
    let closed = reserve(&app, &who.duty, &["dispatch", "close", &name]).await;
    assert!(closed.ok().contains("state: CLOSED"), "{}", closed.stdout);
    let listed = reserve(
        &app,
        &who.requester,
        &["request", "list", "--output", "json"],
    )
    .await
    .json();
    assert_eq!(listed["support_requests"][0]["name"], name.as_str());
    assert_eq!(listed["support_requests"][0]["state"], "CLOSED");
    let listed = reserve(&app, &who.requester, &["request", "list"]).await;
    let row = listed.ok().lines().nth(1).unwrap().to_owned();
    assert!(
        row.starts_with(&reference) && row.contains("CLOSED"),
        "{row}"
    );

    // The auditor follows the request's trail, as JSON lines and as text.
    let watched = reserve(
        &app,
        &who.auditor,
        &[
            "audit",
            "watch",
            "--resource",
            &name,
            "--limit",
            "13",
            "--output",
            "json",
        ],
    )
    .await;
    let events: Vec<Value> = watched
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let trail: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        trail,
        [
            "CreateSupportRequest",
            "SubmitSupportRequest",
            "AwaitTransmission",
            "TransmitSupportRequest",
            "AssessEligibility",
            "ReferToCommission",
            "InformCouncil",
            "AuthoriseSupport",
            "ApproveDispatch",
            "AllLinesActive",
            "AllLinesDelivered",
            "SubmitSummaryReport",
            "CloseSupportRequest",
        ]
    );
    // Resuming after the seventh event gives the eighth first.
    let after = events[6]["sequence"].as_i64().unwrap().to_string();
    let resumed = reserve(
        &app,
        &who.auditor,
        &[
            "audit",
            "watch",
            "--resource",
            &name,
            "--after",
            &after,
            "--limit",
            "1",
        ],
    )
    .await;
    let line = resumed.ok().trim_end().to_owned();
    assert!(
        line.contains("AuthoriseSupport") && line.ends_with("REFERRED -> AUTHORISED"),
        "{line}"
    );
    assert!(line.contains("commission@ec (commission, ec)"), "{line}");

    let verified = reserve(&app, &who.auditor, &["audit", "verify"]).await;
    assert!(verified.ok().starts_with("OK: "), "{}", verified.stdout);
    let verified = reserve(&app, &who.auditor, &["audit", "verify", "--output", "json"])
        .await
        .json();
    assert_eq!(verified["ok"], true);
    let exported = reserve(&app, &who.auditor, &["audit", "export"]).await;
    let lines: Vec<Value> = exported
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len() as i64,
        verified["events_checked"].as_i64().unwrap()
    );
    assert!(lines.iter().any(|l| l["action"] == "CloseSupportRequest"));
    app.stop().await;
}

#[tokio::test]
async fn edit_replaces_only_the_fields_the_file_sets() {
    let app = spawn_app().await;
    let requester = app.token("requester", "md-spoc");
    let draft = reserve(
        &app,
        &requester,
        &[
            "request",
            "create",
            "--file",
            example("moldova-request.yaml").to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await
    .json();
    let dir = tempfile::tempdir().unwrap();
    let change = dir.path().join("change.yaml");
    std::fs::write(&change, "severity: CRITICAL\ncountriesAffected: [MD]\n").unwrap();
    let edited = reserve(
        &app,
        &requester,
        &[
            "request",
            "edit",
            draft["name"].as_str().unwrap(),
            "--file",
            change.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(edited["severity"], "CRITICAL");
    assert_eq!(edited["countries_affected"], serde_json::json!(["MD"]));
    assert_eq!(
        edited["title"], draft["title"],
        "fields the file does not set stay"
    );
    assert_eq!(edited["service_lines"], draft["service_lines"]);
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_file_is_a_local_error_naming_the_field() {
    let app = spawn_app().await;
    let requester = app.token("requester", "md-spoc");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(example("moldova-request.yaml"))
        .unwrap()
        .replace("  - service: DIGITAL_FORENSICS", "  - service: FORENSICS");
    std::fs::write(&bad, text).unwrap();
    let run = reserve(
        &app,
        &requester,
        &["request", "create", "--file", bad.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(
        run.stderr.starts_with("error: ")
            && run.stderr.contains("bad.yaml: service_lines[1].service: "),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let missing = dir.path().join("missing.yaml");
    let run = reserve(
        &app,
        &requester,
        &["request", "create", "--file", missing.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);

    std::fs::write(&bad, "title: [unclosed\n").unwrap();
    let run = reserve(
        &app,
        &requester,
        &["request", "create", "--file", bad.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is not valid YAML"), "{}", run.stderr);

    // Nothing was created.
    let listed = reserve(&app, &requester, &["request", "list", "--output", "json"])
        .await
        .json();
    assert_eq!(listed["support_requests"], Value::Array(vec![]));
    app.stop().await;
}

#[tokio::test]
async fn the_server_s_answers_become_exit_codes_with_the_field_on_one_line() {
    let app = spawn_app().await;
    let requester = app.token("requester", "md-spoc");
    let dir = tempfile::tempdir().unwrap();
    let future = dir.path().join("future.yaml");
    let text = std::fs::read_to_string(example("moldova-request.yaml"))
        .unwrap()
        .replace("2026-11-27T01:10:00Z", "2099-01-01T00:00:00Z");
    std::fs::write(&future, text).unwrap();
    let run = reserve(
        &app,
        &requester,
        &["request", "create", "--file", future.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, 13, "INVALID_ARGUMENT: {}", run.stderr);
    assert_eq!(
        run.stderr,
        "error: INVALID_ARGUMENT: support_request.detect_time: must not be in the future\n"
    );

    // Submitting twice is not a transition of the chart.
    let draft = reserve(
        &app,
        &requester,
        &[
            "request",
            "create",
            "--file",
            example("moldova-request.yaml").to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await
    .json();
    let name = draft["name"].as_str().unwrap();
    reserve(&app, &requester, &["request", "submit", name])
        .await
        .ok();
    let again = reserve(&app, &requester, &["request", "submit", name]).await;
    assert_eq!(again.code, 19, "FAILED_PRECONDITION: {}", again.stderr);
    assert!(
        again.stderr.starts_with("error: FAILED_PRECONDITION: "),
        "{}",
        again.stderr
    );
    assert_eq!(again.stderr.lines().count(), 1);

    // Another organisation's request does not exist for them.
    let other = reserve(
        &app,
        &app.token("requester", "ro-csirt"),
        &["request", "show", name],
    )
    .await;
    assert_eq!(other.code, 15, "NOT_FOUND: {}", other.stderr);
    // A duty officer may see but not decide a third country's request.
    let denied = reserve(
        &app,
        &app.token("duty_officer", "enisa"),
        &["decide", "reject", name, "--reason", "not ours"],
    )
    .await;
    assert_eq!(denied.code, 17, "PERMISSION_DENIED: {}", denied.stderr);

    // The table is in the help.
    let help = std::process::Command::new(binary())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("10 + c   the server answered with gRPC status code c"),
        "{help}"
    );

    // No token is a usage error; no server is a local one.
    let mut command = std::process::Command::new(binary());
    let none = command
        .args(["request", "list"])
        .env("RESERVE_ADDR", format!("http://{}", app.addr))
        .env_remove("RESERVE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = std::process::Command::new(binary())
        .args([
            "request",
            "list",
            "--addr",
            &format!("http://127.0.0.1:{port}"),
        ])
        .env("RESERVE_TOKEN", &requester)
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach"));
    app.stop().await;
}

#[tokio::test]
async fn a_registry_export_imports_back_unchanged_and_into_a_fresh_server() {
    let app = spawn_app().await;
    let admin = app.token("admin", "reserve-admin");
    let dir = tempfile::tempdir().unwrap();
    let registry = example("registry.yaml");
    reserve(
        &app,
        &admin,
        &["registry", "import", registry.to_str().unwrap()],
    )
    .await
    .ok();
    let again = reserve(
        &app,
        &admin,
        &[
            "registry",
            "import",
            registry.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(
        (
            again["created_count"].clone(),
            again["updated_count"].clone()
        ),
        (0.into(), 0.into()),
        "{again}"
    );

    let first = dir.path().join("first.yaml");
    reserve(
        &app,
        &admin,
        &["registry", "export", "--to", first.to_str().unwrap()],
    )
    .await
    .ok();
    let exported: Value =
        serde_norway::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    let countries = exported["countries"].as_array().unwrap();
    assert!(
        countries
            .iter()
            .any(|c| c["code"] == "MD" && c["kind"] == "THIRD_COUNTRY")
    );
    assert_eq!(
        exported["capacity_commitments"].as_array().unwrap().len(),
        4
    );

    // Into the same server: nothing to do.
    let same = reserve(
        &app,
        &admin,
        &["registry", "import", first.to_str().unwrap()],
    )
    .await;
    let summary = same.ok().lines().last().unwrap().to_owned();
    let records = countries.len()
        + exported["organisations"].as_array().unwrap().len()
        + exported["providers"].as_array().unwrap().len()
        + 4;
    assert_eq!(
        summary,
        format!("0 created, 0 updated, {records} unchanged")
    );

    // A change in the file is an update of that field only.
    let edited = std::fs::read_to_string(&first).unwrap().replacen(
        "hours_to_deploy: 36",
        "hours_to_deploy: 30",
        1,
    );
    let changed = dir.path().join("changed.yaml");
    std::fs::write(&changed, edited).unwrap();
    let run = reserve(
        &app,
        &admin,
        &["registry", "import", changed.to_str().unwrap()],
    )
    .await;
    assert!(
        run.ok()
            .contains("updated providers/carpathian-dfir: hours_to_deploy\n0 created, 1 updated"),
        "{}",
        run.stdout
    );
    let providers = reserve(
        &app,
        &admin,
        &["registry", "list", "providers", "--output", "json"],
    )
    .await
    .json();
    let carpathian = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "carpathian-dfir")
        .unwrap()
        .clone();
    assert_eq!(carpathian["hours_to_deploy"], 30);

    // Into a fresh server: the same registry comes out.
    let fresh = spawn_app().await;
    let fresh_admin = fresh.token("admin", "reserve-admin");
    reserve(
        &fresh,
        &fresh_admin,
        &["registry", "import", first.to_str().unwrap()],
    )
    .await
    .ok();
    let second = dir.path().join("second.yaml");
    reserve(
        &fresh,
        &fresh_admin,
        &["registry", "export", "--to", second.to_str().unwrap()],
    )
    .await
    .ok();
    let reexported: Value =
        serde_norway::from_str(&std::fs::read_to_string(&second).unwrap()).unwrap();
    let without_ids = |mut v: Value| {
        for c in v["capacity_commitments"].as_array_mut().unwrap() {
            c.as_object_mut().unwrap().remove("name");
        }
        v
    };
    assert_eq!(without_ids(reexported), without_ids(exported));
    let table = reserve(&fresh, &fresh_admin, &["registry", "list", "commitments"]).await;
    let row = table
        .ok()
        .lines()
        .find(|l| l.contains("carpathian-dfir"))
        .expect("the imported commitment")
        .to_owned();
    assert!(
        row.contains("DIGITAL_FORENSICS") && row.contains("2026-01-01 to 2027-12-31"),
        "{row}"
    );
    fresh.stop().await;
    app.stop().await;
}

/// Conversions and produced usage reports from the command line: a duty
/// officer proposes, the provider accepts and completes, the requester
/// sees it; the reports the service produced are listed, shown (their JSON
/// hashing to the recorded SHA-256) and their transmission recorded.
#[tokio::test]
async fn conversions_and_produced_reports_from_the_command_line() {
    use sha2::Digest;
    let app = spawn_app().await;
    let people = People::of(&app);
    let commitment = app
        .commit_capacity(
            "nordic-ir",
            reserve_dispatch::grpc::pb::ServiceType::IncidentResponse,
            30,
        )
        .await;
    let proposed = reserve(
        &app,
        &people.duty,
        &[
            "conversion",
            "propose",
            "--commitment",
            &commitment.name,
            "--organisation",
            "md-csirt",
            "--service",
            "exercise",
            "--person-days",
            "5",
            "--description",
            "Tabletop exercise for the Moldovan CSIRT",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    let name = proposed["name"].as_str().unwrap().to_owned();
    assert_eq!(proposed["state"], "CONVERSION_PROPOSED");
    let bad = reserve(
        &app,
        &people.duty,
        &[
            "conversion",
            "propose",
            "--commitment",
            &commitment.name,
            "--organisation",
            "md-csirt",
            "--service",
            "party",
            "--person-days",
            "5",
            "--description",
            "x",
        ],
    )
    .await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    reserve(&app, &people.nordic, &["conversion", "accept", &name])
        .await
        .ok();
    let done = reserve(
        &app,
        &people.nordic,
        &[
            "conversion",
            "complete",
            &name,
            "--note",
            "Held with 12 people",
        ],
    )
    .await;
    assert!(done.ok().contains("DELIVERED"), "{}", done.stdout);
    let listed = reserve(&app, &people.requester, &["conversion", "list"]).await;
    assert!(listed.ok().contains("EXERCISE"), "{}", listed.stdout);
    let hidden = reserve(&app, &people.danube, &["conversion", "show", &name]).await;
    assert_eq!(hidden.code, 10 + 5, "NOT_FOUND: {}", hidden.stderr);

    app.produce_usage_reports(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
        .await;
    let table = reserve(&app, &people.duty, &["usage", "list"]).await;
    assert!(
        table.ok().contains("NIS_COOPERATION_GROUP"),
        "{}",
        table.stdout
    );
    assert!(table.ok().contains("PRODUCED"), "{}", table.stdout);
    let listed = reserve(
        &app,
        &people.commission,
        &["usage", "list", "--output", "json"],
    )
    .await
    .json();
    let reports = listed["usage_reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "the Commission reads the Council's");
    let report = reports[0]["name"].as_str().unwrap().to_owned();
    let stored = reserve(
        &app,
        &people.commission,
        &["usage", "show", &report, "--format", "json"],
    )
    .await;
    let content = stored.ok().trim_end_matches('\n');
    assert_eq!(
        hex::encode(sha2::Sha256::digest(content.as_bytes())),
        reports[0]["sha256"].as_str().unwrap(),
        "the stored JSON hashes to the recorded SHA-256"
    );
    let csv = reserve(
        &app,
        &people.commission,
        &["usage", "show", &report, "--format", "csv"],
    )
    .await;
    assert!(
        csv.ok().starts_with("user_kind,country,outcome"),
        "{}",
        csv.stdout
    );
    let sent = reserve(
        &app,
        &people.commission,
        &[
            "usage",
            "transmit",
            &report,
            "--recipient",
            "Council secretariat",
        ],
    )
    .await;
    assert!(sent.ok().contains("TRANSMITTED"), "{}", sent.stdout);
    assert!(
        sent.ok().contains("transmitted to Council secretariat"),
        "{}",
        sent.stdout
    );
    let twice = reserve(
        &app,
        &people.commission,
        &[
            "usage",
            "transmit",
            &report,
            "--recipient",
            "Council secretariat",
        ],
    )
    .await;
    assert_eq!(twice.code, 10 + 9, "FAILED_PRECONDITION: {}", twice.stderr);
    let on_demand = reserve(
        &app,
        &people.duty,
        &[
            "usage",
            "report",
            "--view",
            "nis",
            "--from",
            "2026-01-01",
            "--to",
            "2027-01-01",
        ],
    )
    .await;
    assert!(
        on_demand.ok().starts_with("user_kind,"),
        "{}",
        on_demand.stdout
    );
    app.stop().await;
}
