use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use ed25519_dalek::{
    SigningKey,
    pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reserve_dispatch::auth::{Claims, claims_for};
use reserve_dispatch::config::Settings;
use reserve_dispatch::grpc::pb;
use reserve_dispatch::{server, startup};
use sea_orm::{ConnectionTrait, Database};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{Request, transport::Channel};

pub const ISSUER: &str = "reserve-test-issuer";
pub const AUDIENCE: &str = "reserve-test";

/// A database of its own, kept alive as long as the test needs it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn fresh() -> TestDb {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => {
                let name = format!("reserve_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&base)
                    .await
                    .expect("connect to PostgreSQL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let (prefix, _) = base.rsplit_once('/').expect("URL with a database");
                TestDb {
                    url: format!("{prefix}/{name}"),
                    _dir: None,
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/reserve.db?mode=rwc", dir.path().display());
                TestDb {
                    url,
                    _dir: Some(dir),
                }
            }
        }
    }
}

/// The keys the tests sign with: `trusted` is the one the server trusts.
pub struct Keys {
    pub trusted: EncodingKey,
    pub untrusted: EncodingKey,
    pub public_pem_path: PathBuf,
    /// The Ed25519 key (PKCS#8 PEM) that signs the log's checkpoints.
    pub log_key_path: PathBuf,
    _dir: tempfile::TempDir,
}

fn ed25519() -> (EncodingKey, String) {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (
        EncodingKey::from_ed_pem(private.as_bytes()).unwrap(),
        public,
    )
}

impl Keys {
    pub fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let (trusted, public) = ed25519();
        let (untrusted, _) = ed25519();
        let public_pem_path = dir.path().join("trusted.pem");
        std::fs::write(&public_pem_path, public).unwrap();
        let log_key_path = dir.path().join("log.pem");
        let log_key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        std::fs::write(&log_key_path, log_key.to_pkcs8_pem(LineEnding::LF).unwrap()).unwrap();
        Keys {
            trusted,
            untrusted,
            public_pem_path,
            log_key_path,
            _dir: dir,
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The application behind the server, for the timer worker's `run_once`.
    pub app: reserve_dispatch::app::App,
    /// The server's clock: advance it to make deadlines pass.
    pub clock: Arc<reserve_dispatch::app::ManualClock>,
    pub db: Arc<TestDb>,
    pub keys: Arc<Keys>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// A server on a fresh database with the demo registry.
pub async fn spawn_app() -> TestApp {
    spawn_on(Arc::new(TestDb::fresh().await), Arc::new(Keys::new())).await
}

pub async fn spawn_on(db: Arc<TestDb>, keys: Arc<Keys>) -> TestApp {
    spawn_with(db, keys, None).await
}

/// A server with the given TLS configuration.
pub async fn spawn_with(
    db: Arc<TestDb>,
    keys: Arc<Keys>,
    tls: Option<tonic::transport::ServerTlsConfig>,
) -> TestApp {
    spawn_configured(db, keys, tls, |_| {}).await
}

/// A server whose settings `configure` changes (limits, timeouts).
pub async fn spawn_configured(
    db: Arc<TestDb>,
    keys: Arc<Keys>,
    tls: Option<tonic::transport::ServerTlsConfig>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = Settings {
        database_url: db.url.clone(),
        db_max_connections: 5,
        seed_demo: true,
        jwt_issuer: ISSUER.into(),
        jwt_audience: AUDIENCE.into(),
        jwt_public_key_file: Some(keys.public_pem_path.clone()),
        jwt_algorithm: "EdDSA".into(),
        // Tests drive one organisation harder than people do; the limit
        // has tests of its own.
        rate_limit_per_second: 0,
        // A checkpoint whenever the log has grown.
        log_signing_key_file: Some(keys.log_key_path.clone()),
        log_checkpoint_secs: 0,
        ..Settings::default()
    };
    configure(&mut settings);
    let limits = settings.limits();
    let verifier = Arc::new(startup::verifier(&settings).expect("verifier"));
    let mut app = startup::app(&settings).await.expect("application");
    let clock = Arc::new(reserve_dispatch::app::ManualClock::default());
    app.clock = clock.clone();
    let server_app = app.clone();
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        server::serve_with(listener, server_app, verifier, tls, limits, false, async {
            rx.await.ok();
        })
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        app,
        clock,
        db,
        keys,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl Keys {
    /// A token signed with the trusted key for `role` in `org`.
    pub fn token_for(&self, role: &str, org: &str) -> String {
        encode(
            &Header::new(Algorithm::EdDSA),
            &claims_for(role, org, &format!("{role}@{org}"), ISSUER, AUDIENCE, 600),
            &self.trusted,
        )
        .unwrap()
    }
}

impl TestApp {
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    pub async fn requests(
        &self,
    ) -> pb::support_request_service_client::SupportRequestServiceClient<Channel> {
        pb::support_request_service_client::SupportRequestServiceClient::new(self.channel().await)
    }

    pub async fn registry(&self) -> pb::registry_service_client::RegistryServiceClient<Channel> {
        pb::registry_service_client::RegistryServiceClient::new(self.channel().await)
    }

    pub async fn audit(&self) -> pb::audit_service_client::AuditServiceClient<Channel> {
        pb::audit_service_client::AuditServiceClient::new(self.channel().await)
    }

    /// A valid token for `role` in `org`.
    pub fn token(&self, role: &str, org: &str) -> String {
        self.keys.token_for(role, org)
    }

    pub fn sign(&self, claims: &Claims) -> String {
        encode(&Header::new(Algorithm::EdDSA), claims, &self.keys.trusted).unwrap()
    }

    pub fn sign_untrusted(&self, claims: &Claims) -> String {
        encode(&Header::new(Algorithm::EdDSA), claims, &self.keys.untrusted).unwrap()
    }

    /// Stops the server, letting calls in flight finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap();
        }
    }
}

impl Drop for TestApp {
    /// Tests open hundreds of databases in one process: each lets go of
    /// the connections the service keeps for its database, so that
    /// PostgreSQL's `max_connections` is never reached.
    fn drop(&mut self) {
        reserve_dispatch::store::forget(&self.app.db);
    }
}

/// Wraps a message with a bearer token.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A complete, valid request body for a Moldovan incident.
pub fn moldova_request() -> pb::SupportRequest {
    pb::SupportRequest {
        title: "Ransomware at the national electricity distributor".into(),
        description: "Encryption of SCADA historian and billing systems since 03:10.".into(),
        category: pb::IncidentCategory::Ransomware as i32,
        classification: pb::Classification::Significant as i32,
        severity: pb::Severity::High as i32,
        // 2026-09-21T03:10:00.250Z: fixed, so that two bodies built apart are equal.
        detect_time: Some(prost_types::Timestamp {
            seconds: 1_790_219_400,
            nanos: 250_000_000,
        }),
        affected_entities: vec![pb::AffectedEntity {
            name: "Distribution grid operator (demo)".into(),
            sector: pb::Sector::Energy as i32,
            entity_type: pb::EntityType::Essential as i32,
            country: "MD".into(),
        }],
        countries_affected: vec!["MD".into(), "RO".into()],
        potential_impact: "Loss of supervisory control for 1.2 million customers".into(),
        mitigation_measures: "Segmented OT network, restored domain controllers from backup".into(),
        other_support: "No incident-response retainer; cyber insurance excluded".into(),
        service_lines: vec![
            pb::ServiceLine {
                service: pb::ServiceType::IncidentResponse as i32,
                person_days: 20,
                languages: vec!["ro".into(), "en".into()],
                clearance: pb::Clearance::None as i32,
                planned_use: "On-site containment and eradication".into(),
            },
            pb::ServiceLine {
                service: pb::ServiceType::DigitalForensics as i32,
                person_days: 10,
                languages: vec!["en".into()],
                clearance: pb::Clearance::None as i32,
                planned_use: "Root-cause analysis of initial access".into(),
            },
        ],
        tlp: pb::Tlp::Amber as i32,
        contact: Some(pb::ContactPoint {
            name: "Duty officer, Moldova SPOC".into(),
            email: "duty@spoc.example.md".into(),
            phone: "+373 22 000 000".into(),
        }),
        ..Default::default()
    }
}

pub fn create(body: pb::SupportRequest, request_id: &str) -> pb::CreateSupportRequestRequest {
    pb::CreateSupportRequestRequest {
        support_request: Some(body),
        request_id: request_id.into(),
    }
}

/// The field paths of a status's `google.rpc.BadRequest`.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

impl TestApp {
    pub async fn dispatch(&self) -> pb::dispatch_service_client::DispatchServiceClient<Channel> {
        pb::dispatch_service_client::DispatchServiceClient::new(self.channel().await)
    }

    /// Creates and submits `body` as a requester of `org`; returns the answer
    /// of the submission.
    pub async fn submit_new(&self, org: &str, body: pb::SupportRequest) -> pb::SupportRequest {
        let token = self.token("requester", org);
        let mut client = self.requests().await;
        let request_id = uuid::Uuid::new_v4().to_string();
        let created = client
            .create_support_request(authed(create(body, &request_id), &token))
            .await
            .expect("created")
            .into_inner();
        client
            .submit_support_request(authed(
                pb::SubmitSupportRequestRequest { name: created.name },
                &token,
            ))
            .await
            .expect("submitted")
            .into_inner()
    }

    /// `org`, the contact point a request waits for, transmits it.
    pub async fn transmit(&self, org: &str, name: &str, note: &str) -> pb::SupportRequest {
        self.requests()
            .await
            .transmit_support_request(authed(
                pb::TransmitSupportRequestRequest {
                    name: name.to_owned(),
                    note: note.to_owned(),
                },
                &self.token("requester", org),
            ))
            .await
            .expect("transmitted")
            .into_inner()
    }

    /// Changes a country of the registry as an administrator.
    pub async fn update_country(
        &self,
        code: &str,
        paths: &[&str],
        mutate: impl FnOnce(&mut pb::Country),
    ) {
        let mut country = pb::Country {
            name: format!("countries/{code}"),
            ..Default::default()
        };
        mutate(&mut country);
        self.registry()
            .await
            .update_country(authed(
                pb::UpdateCountryRequest {
                    country: Some(country),
                    update_mask: Some(prost_types::FieldMask {
                        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                    }),
                },
                &self.token("admin", "reserve-admin"),
            ))
            .await
            .expect("country updated");
    }
}

/// The outcome of one rule in the request's latest decision.
pub fn rule(request: &pb::SupportRequest, id: &str) -> pb::RuleOutcome {
    let decision = request.eligibility.as_ref().expect("a decision");
    let result = decision
        .results
        .iter()
        .find(|r| r.rule_id == id)
        .unwrap_or_else(|| panic!("{id} is in every decision"));
    pb::RuleOutcome::try_from(result.outcome).unwrap()
}

pub fn state(request: &pb::SupportRequest) -> pb::RequestState {
    pb::RequestState::try_from(request.state).unwrap()
}

/// A complete request of a Member State's CSIRT about a local incident.
pub fn member_state_request(country: &str) -> pb::SupportRequest {
    let mut body = moldova_request();
    body.affected_entities[0].country = country.into();
    body.countries_affected = vec![country.into()];
    body
}

/// A calendar date `days` from today (negative: in the past).
pub fn day_from_today(days: i64) -> Option<reserve_dispatch::proto::google::r#type::Date> {
    use chrono::Datelike;
    let d = chrono::Utc::now().date_naive() + chrono::Duration::days(days);
    Some(reserve_dispatch::proto::google::r#type::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

impl TestApp {
    pub async fn provider_client(
        &self,
    ) -> pb::provider_service_client::ProviderServiceClient<Channel> {
        pb::provider_service_client::ProviderServiceClient::new(self.channel().await)
    }

    /// Records `person_days` of `service` for `provider`, valid around today.
    pub async fn commit_capacity(
        &self,
        provider: &str,
        service: pb::ServiceType,
        person_days: u32,
    ) -> pb::CapacityCommitment {
        self.registry()
            .await
            .create_capacity_commitment(authed(
                pb::CreateCapacityCommitmentRequest {
                    capacity_commitment: Some(pb::CapacityCommitment {
                        provider: format!("providers/{provider}"),
                        service: service as i32,
                        person_days,
                        period_start: day_from_today(-30),
                        period_end: day_from_today(300),
                        ..Default::default()
                    }),
                },
                &self.token("admin", "reserve-admin"),
            ))
            .await
            .expect("commitment created")
            .into_inner()
    }

    /// Has the service produce both views' usage reports of the period
    /// starting on `start` (a past one): its timer is made due now and fired.
    pub async fn produce_usage_reports(&self, start: chrono::NaiveDate) {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        reserve_dispatch::store::entities::timer::ActiveModel {
            kind: Set("USAGE_REPORT_DUE".into()),
            target: Set(start.to_string()),
            due_at: Set(self.app.now() - chrono::Duration::seconds(1)),
            lease_until: Set(None),
            lease_owner: Set(None),
            fired_at: Set(None),
            attempts: Set(0),
            ..Default::default()
        }
        .insert(&self.app.db)
        .await
        .expect("the timer is written");
        reserve_dispatch::worker::run_once(&self.app, "reports")
            .await
            .expect("the timer fires");
    }

    /// ProposeMatches as a duty officer.
    pub async fn propose(&self, name: &str) -> pb::ProposeMatchesResponse {
        self.dispatch()
            .await
            .propose_matches(authed(
                pb::ProposeMatchesRequest { name: name.into() },
                &self.token("duty_officer", "enisa"),
            ))
            .await
            .expect("proposed")
            .into_inner()
    }

    /// The provider records the specific agreement of its accepted offer,
    /// then reports the work delivered.
    pub async fn agree_and_complete(&self, provider: &str, offer: &str) {
        let token = self.token("provider", provider);
        let mut providers = self.provider_client().await;
        providers
            .record_agreement(authed(
                pb::RecordAgreementRequest {
                    name: offer.into(),
                    agreement: Some(pb::Agreement {
                        reference: format!("SA-{provider}"),
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
            ))
            .await
            .expect("agreement recorded");
        providers
            .complete_assignment(authed(
                pb::CompleteAssignmentRequest {
                    name: offer.into(),
                    delivery_note: "Delivered".into(),
                },
                &token,
            ))
            .await
            .expect("completed");
    }

    /// Registers a provider as an administrator.
    pub async fn add_provider(&self, provider: pb::Provider) {
        self.registry()
            .await
            .create_provider(authed(
                pb::CreateProviderRequest {
                    provider: Some(provider),
                },
                &self.token("admin", "reserve-admin"),
            ))
            .await
            .expect("provider created");
    }

    /// The request as its organisation reads it.
    pub async fn read(&self, org: &str, name: &str) -> pb::SupportRequest {
        self.requests()
            .await
            .get_support_request(authed(
                pb::GetSupportRequestRequest { name: name.into() },
                &self.token("requester", org),
            ))
            .await
            .expect("read")
            .into_inner()
    }

    /// The whole audit chain verified, as an auditor asks.
    pub async fn verify_chain(&self) -> pb::VerifyAuditChainResponse {
        self.audit()
            .await
            .verify_audit_chain(authed(
                pb::VerifyAuditChainRequest::default(),
                &self.token("auditor", "oversight"),
            ))
            .await
            .expect("verify")
            .into_inner()
    }

    /// Audit events of one resource, as an auditor reads them.
    pub async fn events(&self, resource: &str) -> Vec<pb::AuditEvent> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .audit()
                .await
                .list_events(authed(
                    pb::ListEventsRequest {
                        resource: resource.into(),
                        page_size: 100,
                        page_token,
                    },
                    &self.token("auditor", "oversight"),
                ))
                .await
                .expect("events")
                .into_inner();
            all.extend(page.events);
            if page.next_page_token.is_empty() {
                return all;
            }
            page_token = page.next_page_token;
        }
    }
}

/// A provider serving Moldova with incident response in Romanian and English.
pub fn moldova_provider(id: &str) -> pb::Provider {
    pb::Provider {
        id: id.into(),
        display_name: format!("{id} (test)"),
        country: "RO".into(),
        status: pb::ProviderStatus::Active as i32,
        services: vec![pb::ServiceType::IncidentResponse as i32],
        languages: vec!["ro".into(), "en".into()],
        deployable_countries: vec!["MD".into(), "RO".into()],
        clearance: pb::Clearance::RestreintUe as i32,
        hours_to_deploy: 24,
        ..Default::default()
    }
}

/// A `reserve serve` process, killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    pub addr: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary on `db`, trusting `keys`, on a free port, with
/// `env` added to its environment; returns once it logs its address.
pub fn start_server(db: &TestDb, keys: &Keys, env: &[(&str, &str)]) -> ServerProcess {
    start_server_binary(
        std::path::Path::new(env!("CARGO_BIN_EXE_reserve")),
        db,
        keys,
        env,
    )
}

/// `start_server` with a given `reserve` binary.
pub fn start_server_binary(
    binary: &std::path::Path,
    db: &TestDb,
    keys: &Keys,
    env: &[(&str, &str)],
) -> ServerProcess {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .env("RESERVE_LISTEN_ADDR", "127.0.0.1:0")
        .env("RESERVE_DATABASE_URL", &db.url)
        .env("RESERVE_DB_MAX_CONNECTIONS", "4")
        .env("RESERVE_JWT_PUBLIC_KEY_FILE", &keys.public_pem_path)
        .env("RESERVE_JWT_ALGORITHM", "EdDSA")
        .env("RESERVE_JWT_ISSUER", ISSUER)
        .env("RESERVE_JWT_AUDIENCE", AUDIENCE)
        .env("RESERVE_RATE_LIMIT_PER_SECOND", "0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the reserve binary starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let Some(line) = lines.next().and_then(Result::ok) else {
            let status = child.wait().ok();
            panic!(
                "the server exited ({status:?}) before logging its address; it printed:\n{}",
                seen.join("\n")
            );
        };
        seen.push(line.clone());
        if line.contains("reserve-dispatch serving")
            && let Some(rest) = line.split("addr=").nth(1)
        {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the process never blocks on a full pipe.
    let echo = std::env::var_os("RESERVE_TEST_ECHO").is_some();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if echo {
                eprintln!("[server] {line}");
            }
        }
    });
    ServerProcess {
        child,
        addr: format!("http://{addr}"),
    }
}

/// The `reserve` binary under test; `RESERVE_TEST_BINARY` names another build
/// of it (several checkouts sharing one target directory share one `reserve`).
pub fn reserve_binary() -> std::ffi::OsString {
    std::env::var_os("RESERVE_TEST_BINARY").unwrap_or_else(|| env!("CARGO_BIN_EXE_reserve").into())
}

/// Runs `reserve args…` with `env` as its only `RESERVE_*` variables, in an
/// empty directory (so no `reserve.toml` is read), on a blocking thread so
/// that a server in this process keeps serving.
pub async fn run_reserve(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(reserve_binary());
    command.args(args).current_dir(dir.path());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("RESERVE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let what = format!("reserve {args:?}");
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .unwrap_or_else(|_| panic!("{what} finishes within a minute"))
    .unwrap()
    .expect("the reserve binary runs")
}

/// AuthoriseSupport of `lines` for 60 days, as an officer of `role`.
pub async fn authorise(
    app: &TestApp,
    name: &str,
    lines: &[(pb::ServiceType, u32)],
    role: &str,
) -> pb::SupportRequest {
    app.dispatch()
        .await
        .authorise_support(authed(
            pb::AuthoriseSupportRequest {
                name: name.into(),
                granted_lines: lines
                    .iter()
                    .map(|(s, d)| pb::ServiceLine {
                        service: *s as i32,
                        person_days: *d,
                        ..Default::default()
                    })
                    .collect(),
                duration_days: 60,
                note: String::new(),
                version: 0,
                ..Default::default()
            },
            &app.token(role, "officers"),
        ))
        .await
        .expect("authorised")
        .into_inner()
}

/// One line of a plan.
pub fn plan(line: u32, provider: &str, fallbacks: &[&str], justification: &str) -> pb::LinePlan {
    pb::LinePlan {
        line_index: line,
        provider: format!("providers/{provider}"),
        fallbacks: fallbacks.iter().map(|f| format!("providers/{f}")).collect(),
        justification: justification.into(),
    }
}

/// ApproveDispatch of `lines` as a duty officer.
pub async fn approve(
    app: &TestApp,
    name: &str,
    lines: Vec<pb::LinePlan>,
) -> Result<pb::SupportRequest, tonic::Status> {
    app.dispatch()
        .await
        .approve_dispatch(authed(
            pb::ApproveDispatchRequest {
                name: name.into(),
                plan: lines,
                version: 0,
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .map(|r| r.into_inner())
}

/// The offers of a provider, as it lists them.
pub async fn offers_of(app: &TestApp, provider: &str) -> Vec<pb::Offer> {
    app.provider_client()
        .await
        .list_offers(authed(
            pb::ListOffersRequest::default(),
            &app.token("provider", provider),
        ))
        .await
        .expect("offers")
        .into_inner()
        .offers
}

/// The open offer for `request` among `offers`.
pub fn open_offer<'a>(offers: &'a [pb::Offer], request: &str) -> &'a pb::Offer {
    offers
        .iter()
        .find(|o| o.support_request == request && o.state == pb::OfferState::Offered as i32)
        .expect("an open offer for the request")
}
