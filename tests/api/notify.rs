//! Notifications through the front door, to a real receiver that checks
//! each delivery with the `standardwebhooks` package
//! (`webhook_receiver.py`): an offer reaches its provider, a failing
//! receiver gets the event once when it recovers, an unreachable one ends
//! in the dead letters.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reserve_dispatch::grpc::pb;
use serde_json::Value;
use tonic::Code;

use crate::helpers::{
    Keys, TestApp, TestDb, approve, authed, authorise, member_state_request, plan, spawn_app,
    spawn_configured, violated_fields,
};

const IR: pb::ServiceType = pb::ServiceType::IncidentResponse;

/// A Python with `standardwebhooks`: `RESERVE_TEST_RECEIVERS_PYTHON`, or a
/// virtual environment made once under the target directory.
fn receivers_python() -> PathBuf {
    if let Some(python) = std::env::var_os("RESERVE_TEST_RECEIVERS_PYTHON") {
        return python.into();
    }
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("receivers-venv-2");
    let python = venv.join("bin/python");
    let ready = venv.join("ready");
    if !ready.exists() {
        let run = |program: &Path, args: &[&str]| {
            let out = std::process::Command::new(program)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()));
            assert!(
                out.status.success(),
                "{} {args:?}: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            Path::new("python3"),
            &["-m", "venv", venv.to_str().unwrap()],
        );
        run(
            &python,
            &[
                "-m",
                "pip",
                "install",
                "-q",
                "standardwebhooks==1.0.0",
                "aiosmtpd==1.4.6",
            ],
        );
        std::fs::write(&ready, "").unwrap();
    }
    python
}

/// Starts `tests/api/{script}` with `args`; the process and the port it
/// prints on its first line.
fn spawn_receiver(script: &str, args: &[&str]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(receivers_python())
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/api")
                .join(script),
        )
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{script} starts: {e}"));
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    (child, port.trim().to_owned())
}

/// A receiver process, killed when dropped.
struct Receiver {
    child: std::process::Child,
    url: String,
    record: PathBuf,
    secret: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    /// A receiver answering 500 to its first `fail` deliveries.
    fn start(fail: u32) -> Receiver {
        Receiver::start_with(fail, 0)
    }

    /// ... and never answering the first `hang` (recorded all the same).
    fn start_with(fail: u32, hang: u32) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("received.jsonl");
        let secret = dir.path().join("secret");
        let secret_arg = secret.to_str().unwrap().to_owned();
        let record_arg = record.to_str().unwrap().to_owned();
        let (fail, hang) = (fail.to_string(), hang.to_string());
        let (child, port) = spawn_receiver(
            "webhook_receiver.py",
            &[
                "--secret-file",
                &secret_arg,
                "--record",
                &record_arg,
                "--fail",
                &fail,
                "--hang",
                &hang,
            ],
        );
        Receiver {
            child,
            url: format!("http://127.0.0.1:{}/hooks", port),
            record,
            secret,
            _dir: dir,
        }
    }

    /// Subscribes `org` (as `role`) to this receiver, which verifies with
    /// the secret the service made.
    async fn subscribe(
        &self,
        app: &TestApp,
        role: &str,
        org: &str,
        actions: &[&str],
    ) -> pb::Subscription {
        let subscription = subscribe(app, role, org, &self.url, actions)
            .await
            .expect("subscribed");
        assert!(subscription.secret.starts_with("whsec_"));
        std::fs::write(&self.secret, &subscription.secret).unwrap();
        subscription
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (at most 20 s) until `enough` says the deliveries are there,
    /// advancing the server's clock by `step` between looks, so that
    /// retries fall due.
    async fn wait_for(
        &self,
        app: &TestApp,
        step: chrono::Duration,
        enough: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if enough(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "deliveries so far: {got:?}");
            app.clock.advance(step);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

async fn subscribe(
    app: &TestApp,
    role: &str,
    org: &str,
    url: &str,
    actions: &[&str],
) -> Result<pb::Subscription, tonic::Status> {
    app.audit()
        .await
        .create_subscription(authed(
            pb::CreateSubscriptionRequest {
                subscription: Some(pb::Subscription {
                    webhook_url: url.into(),
                    actions: actions.iter().map(|a| (*a).to_owned()).collect(),
                    ..Default::default()
                }),
            },
            &app.token(role, org),
        ))
        .await
        .map(|r| r.into_inner())
}

async fn outbox(app: &TestApp, state: &str) -> Vec<pb::Notification> {
    app.audit()
        .await
        .list_notifications(authed(
            pb::ListNotificationsRequest {
                state: state.into(),
                page_size: 100,
                page_token: String::new(),
            },
            &app.token("admin", "reserve"),
        ))
        .await
        .expect("the outbox")
        .into_inner()
        .notifications
}

/// An RO request approved with nordic-ir offered its line; its name.
async fn offer_to_nordic(app: &TestApp) -> String {
    app.commit_capacity("nordic-ir", IR, 100).await;
    let name = app
        .submit_new("ro-csirt", member_state_request("RO"))
        .await
        .name;
    authorise(app, &name, &[(IR, 5)], "duty_officer").await;
    approve(app, &name, vec![plan(0, "nordic-ir", &[], "Closest team")])
        .await
        .expect("approved");
    name
}

#[tokio::test]
async fn an_offer_reaches_its_provider_as_a_signed_cloud_event() {
    let app = spawn_app().await;
    let receiver = Receiver::start(0);
    let subscription = receiver.subscribe(&app, "provider", "nordic-ir", &[]).await;
    assert!(subscription.actions.is_empty(), "the role's defaults");
    // Another organisation's receiver, told of nothing of nordic-ir's.
    let other = Receiver::start(0);
    other.subscribe(&app, "provider", "danube-cyber", &[]).await;
    let started = Instant::now();
    offer_to_nordic(&app).await;
    let got = receiver
        .wait_for(&app, chrono::Duration::zero(), |got| !got.is_empty())
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "within seconds"
    );
    let delivery = &got[0];
    assert_eq!(delivery["verified"], true, "{delivery}");
    assert_eq!(delivery["content_type"], "application/cloudevents+json");
    let event = &delivery["event"];
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "eu.reserve.audit.MakeOffer");
    assert_eq!(event["id"], delivery["webhook_id"]);
    assert!(event["subject"].as_str().unwrap().starts_with("offers/"));
    // As the provider's watch shows it: who did it and the payload withheld.
    assert_eq!(event["data"]["payload"], serde_json::json!({}));
    assert_eq!(event["data"]["actor"], "");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(other.received().is_empty(), "{:?}", other.received());

    // The provider lists its subscription, its secret withheld; another
    // organisation cannot end it.
    let listed = app
        .audit()
        .await
        .list_subscriptions(authed(
            pb::ListSubscriptionsRequest {},
            &app.token("provider", "nordic-ir"),
        ))
        .await
        .unwrap()
        .into_inner()
        .subscriptions;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, subscription.name);
    assert!(listed[0].secret.is_empty());
    let foreign = app
        .audit()
        .await
        .delete_subscription(authed(
            pb::DeleteSubscriptionRequest {
                name: subscription.name.clone(),
            },
            &app.token("provider", "danube-cyber"),
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    let bad = subscribe(
        &app,
        "provider",
        "nordic-ir",
        "ftp://example",
        &["Make Offer"],
    )
    .await
    .unwrap_err();
    assert_eq!(
        violated_fields(&bad),
        ["subscription.webhook_url", "subscription.actions[0]"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_event_once() {
    let app = spawn_app().await;
    let receiver = Receiver::start(3);
    receiver
        .subscribe(&app, "duty_officer", "enisa", &["SubmitSupportRequest"])
        .await;
    app.submit_new("ro-csirt", member_state_request("RO")).await;
    // Each retry waits longer (1, 2, 4 s and jitter): the clock moves on.
    let got = receiver
        .wait_for(&app, chrono::Duration::seconds(3), |got| !got.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = [got, receiver.received()].concat();
    let ids: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one event: {got:?}");
    assert!(got.iter().all(|d| d["verified"] == true), "{got:?}");
    let sent = outbox(&app, "SENT").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].attempts, 4, "three failures, then the delivery");
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_receiver_ends_in_the_dead_letters() {
    let app = spawn_app().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    subscribe(
        &app,
        "requester",
        "ro-csirt",
        &format!("http://127.0.0.1:{closed}/hooks"),
        &["SubmitSupportRequest"],
    )
    .await
    .unwrap();
    app.submit_new("ro-csirt", member_state_request("RO")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let dead = outbox(&app, "DEAD").await;
        if !dead.is_empty() {
            break dead;
        }
        assert!(Instant::now() < deadline, "{:?}", outbox(&app, "").await);
        // Past any back-off (an hour at most).
        app.clock.advance(chrono::Duration::minutes(75));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(dead[0].attempts, 8);
    assert!(!dead[0].last_error.is_empty());
    // Administrators only.
    let refused = app
        .audit()
        .await
        .list_notifications(authed(
            pb::ListNotificationsRequest::default(),
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    app.stop().await;
}

/// An SMTP server, killed when dropped.
struct Mailbox {
    child: std::process::Child,
    port: u16,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mailbox {
    fn start() -> Mailbox {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("mail.jsonl");
        let (child, port) =
            spawn_receiver("smtp_receiver.py", &["--record", record.to_str().unwrap()]);
        Mailbox {
            child,
            port: port.parse().expect("a port"),
            record,
            _dir: dir,
        }
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn a_duty_officer_is_mailed_what_needs_them_without_the_requests_content() {
    let mailbox = Mailbox::start();
    let port = mailbox.port;
    let app = spawn_configured(
        std::sync::Arc::new(TestDb::fresh().await),
        std::sync::Arc::new(Keys::new()),
        None,
        |s| {
            s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
            s.console_public_url = Some("https://console.reserve.example".into());
        },
    )
    .await;
    let subscription = app
        .audit()
        .await
        .create_subscription(authed(
            pb::CreateSubscriptionRequest {
                subscription: Some(pb::Subscription {
                    email: "duty@enisa.example.eu".into(),
                    ..Default::default()
                }),
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(subscription.email, "duty@enisa.example.eu");
    assert!(subscription.secret.is_empty(), "no secret for e-mail");
    let mut body = member_state_request("RO");
    body.title = "Confidential: hospital ransomware".into();
    body.tlp = pb::Tlp::Red as i32;
    let request = app.submit_new("ro-csirt", body).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mail = loop {
        let got = mailbox.received();
        if let Some(m) = got
            .iter()
            .find(|m| m["subject"].as_str().unwrap().contains("AssessEligibility"))
        {
            break m.clone();
        }
        assert!(Instant::now() < deadline, "mail so far: {got:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    assert_eq!(mail["to"], serde_json::json!(["duty@enisa.example.eu"]));
    let text = mail["body"].as_str().unwrap();
    assert!(text.contains("What happened: AssessEligibility"), "{text}");
    assert!(text.contains("What is asked: decide the request"), "{text}");
    let id = request.name.trim_start_matches("supportRequests/");
    assert!(
        text.contains(&format!("https://console.reserve.example/requests/{id}")),
        "{text}"
    );
    assert!(
        !text.contains("hospital"),
        "no content of a TLP:RED request: {text}"
    );
    // Without an SMTP server, nobody subscribes by mail.
    let plain = spawn_app().await;
    let refused = plain
        .audit()
        .await
        .create_subscription(authed(
            pb::CreateSubscriptionRequest {
                subscription: Some(pb::Subscription {
                    email: "duty@enisa.example.eu".into(),
                    ..Default::default()
                }),
            },
            &plain.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    plain.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn two_replicas_send_each_notification_once() {
    let app = spawn_app().await;
    let replica = crate::helpers::spawn_on(app.db.clone(), app.keys.clone()).await;
    let receiver = Receiver::start(0);
    receiver
        .subscribe(&app, "duty_officer", "enisa", &["SubmitSupportRequest"])
        .await;
    for _ in 0..3 {
        app.submit_new("ro-csirt", member_state_request("RO")).await;
        replica
            .submit_new("ro-csirt", member_state_request("RO"))
            .await;
    }
    receiver
        .wait_for(&app, chrono::Duration::zero(), |got| got.len() >= 6)
        .await;
    // Both replicas run the task; a second delivery would come by now.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap().to_owned())
        .collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 6, "six events, each delivered once: {ids:?}");
    assert_eq!(unique.len(), 6);
    replica.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_server_killed_while_sending_sends_again_after_restart_once_by_webhook_id() {
    use crate::helpers::{ServerProcess, start_server};
    let db = TestDb::fresh().await;
    let keys = Keys::new();
    let env = [("RESERVE_SEED_DEMO", "true")];
    let server = start_server(&db, &keys, &env);
    let channel = |p: &ServerProcess| {
        tonic::transport::Channel::from_shared(p.addr.clone())
            .unwrap()
            .connect_lazy()
    };
    let token = |role: &str, org: &str| keys.token_for(role, org);
    // The first delivery is taken in and never answered: the server dies
    // waiting for it.
    let receiver = Receiver::start_with(0, 1);
    let mut audit = pb::audit_service_client::AuditServiceClient::new(channel(&server));
    let subscription = audit
        .create_subscription(authed(
            pb::CreateSubscriptionRequest {
                subscription: Some(pb::Subscription {
                    webhook_url: receiver.url.clone(),
                    actions: vec!["SubmitSupportRequest".into()],
                    ..Default::default()
                }),
            },
            &token("duty_officer", "enisa"),
        ))
        .await
        .unwrap()
        .into_inner();
    std::fs::write(&receiver.secret, &subscription.secret).unwrap();
    let mut requests =
        pb::support_request_service_client::SupportRequestServiceClient::new(channel(&server));
    let requester = token("requester", "ro-csirt");
    let created = requests
        .create_support_request(authed(
            crate::helpers::create(
                member_state_request("RO"),
                &uuid::Uuid::new_v4().to_string(),
            ),
            &requester,
        ))
        .await
        .unwrap()
        .into_inner();
    requests
        .submit_support_request(authed(
            pb::SubmitSupportRequestRequest { name: created.name },
            &requester,
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.received().is_empty() {
        assert!(Instant::now() < deadline, "the first delivery arrives");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server); // SIGKILL
    let server = start_server(&db, &keys, &[("RESERVE_SEED_DEMO", "false")]);
    // Its lease runs out (15 s); the new process sends it again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut outbox = pb::audit_service_client::AuditServiceClient::new(channel(&server));
    loop {
        let sent = outbox
            .list_notifications(authed(
                pb::ListNotificationsRequest {
                    state: "SENT".into(),
                    page_size: 10,
                    page_token: String::new(),
                },
                &token("admin", "reserve"),
            ))
            .await
            .unwrap()
            .into_inner()
            .notifications;
        if !sent.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "sent after the restart");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "sent, then sent again: {ids:?}");
    assert_eq!(
        ids[0], ids[1],
        "one webhook-id: the receiver drops the duplicate"
    );
    drop(server);
}
