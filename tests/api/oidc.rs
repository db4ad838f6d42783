//! A real OpenID provider (`oidc-provider` from npm, run by Node): the API
//! trusts its tokens with the keys of its JWKS endpoint, found by
//! discovery, follows a key rotation at the provider, and reads the JWKS
//! again for an unknown key at most once per interval, however many such
//! tokens come; the console's sign-in uses the code flow with PKCE. The
//! sign-in in Chromium is in `console_browser.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Code;

use crate::helpers::{Keys, TestApp, TestDb, authed, spawn_configured};
use reserve_dispatch::grpc::pb;

/// The oidc-provider release the tests run.
const OIDC_PROVIDER: &str = "oidc-provider@9.13.3";
pub const MACHINE_SECRET: &str = "machine-secret-for-the-tests-only-0123456789";
pub const CONSOLE_CLIENT: &str = "reserve-console";
pub const API_AUDIENCE: &str = "reserve-api";

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// The installed package's entry point, installing it once under the target
/// directory (`RESERVE_OIDC_PROVIDER_DIR` names another installation); None
/// (with a note) where the machine has no Node, unless
/// `RESERVE_REQUIRE_BROWSER` is set, as `.ci/run` does.
pub fn provider_module() -> Option<PathBuf> {
    if !on_path("node") || !on_path("npm") {
        assert!(
            std::env::var_os("RESERVE_REQUIRE_BROWSER").is_none(),
            "Node.js and npm are needed for the OpenID provider's tests"
        );
        eprintln!("OpenID provider tests skipped: no node and npm on this machine");
        return None;
    }
    static INSTALLED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::var_os("RESERVE_OIDC_PROVIDER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("oidc-provider-9.13.3"));
    let module = dir.join("node_modules/oidc-provider/lib/index.js");
    if !module.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(OIDC_PROVIDER)
            .output()
            .expect("npm runs");
        assert!(
            out.status.success(),
            "npm install {OIDC_PROVIDER}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(module)
}

/// A free port of this machine (bound and let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running provider, stopped on drop.
pub struct Idp {
    child: Child,
    module: PathBuf,
    pub port: u16,
    accounts: String,
    redirect_uri: String,
    http: reqwest::Client,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    /// Starts the provider on `port` with these accounts (login -> role and
    /// organisation; `machine` is the client-credentials client's) and the
    /// console's callback.
    pub fn start(
        module: PathBuf,
        port: u16,
        accounts: serde_json::Value,
        redirect_uri: &str,
    ) -> Idp {
        reserve_dispatch::worker::notify::install_tls_provider();
        let accounts = accounts.to_string();
        let child = Self::spawn(&module, port, &accounts, redirect_uri, "1");
        Idp {
            child,
            module,
            port,
            accounts,
            redirect_uri: redirect_uri.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    fn spawn(
        module: &Path,
        port: u16,
        accounts: &str,
        redirect_uri: &str,
        generation: &str,
    ) -> Child {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/oidc_provider.mjs");
        let child = Command::new("node")
            .arg(script)
            .env("OIDC_PROVIDER_MODULE", module)
            .env("IDP_PORT", port.to_string())
            .env("IDP_ACCOUNTS", accounts)
            .env("IDP_REDIRECT_URI", redirect_uri)
            .env("IDP_KEY_GENERATION", generation)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the OpenID provider did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Restarts the provider with a new signing key (and `kid`): a key
    /// rotation. Its sessions and tokens are forgotten.
    pub fn rotate(&mut self, generation: &str) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(
            &self.module,
            self.port,
            &self.accounts,
            &self.redirect_uri,
            generation,
        );
    }

    /// A client-credentials access token for the API (a JWT).
    pub async fn machine_token(&self) -> String {
        let answer = self
            .http
            .post(format!("{}/token", self.issuer()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "reserve-machine"),
                ("client_secret", MACHINE_SECRET),
                ("scope", "api"),
            ])
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        assert!(status.is_success(), "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// How many times the provider's JWKS was read.
    pub async fn jwks_reads(&self) -> u64 {
        let body = self
            .http
            .get(format!("{}/test/jwks-reads", self.issuer()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["reads"]
            .as_u64()
            .unwrap()
    }
}

/// Settings that trust `idp` beside the test keys.
pub fn trusting(settings: &mut reserve_dispatch::config::Settings, idp: &Idp) {
    settings.oidc_issuer = Some(idp.issuer());
    settings.oidc_audience = Some(API_AUDIENCE.into());
    settings.console_oidc_client_id = Some(CONSOLE_CLIENT.into());
    settings.oidc_scopes = "openid reserve".into();
    settings.oidc_jwks_min_refresh_secs = 1;
}

async fn list_requests(app: &TestApp, token: &str) -> Result<usize, tonic::Status> {
    app.requests()
        .await
        .list_support_requests(authed(pb::ListSupportRequestsRequest::default(), token))
        .await
        .map(|r| r.into_inner().support_requests.len())
}

/// A token of the provider's issuer naming a key it never had.
fn forged(issuer: &str, kid: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
    let claims = serde_json::json!({
        "iss": issuer, "aud": API_AUDIENCE, "sub": "mallory", "role": "admin", "org": "reserve",
        "exp": chrono::Utc::now().timestamp() + 600,
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode([7u8; 256])
    )
}

#[tokio::test]
async fn the_api_trusts_the_providers_tokens_across_a_key_rotation() {
    let Some(module) = provider_module() else {
        return;
    };
    let mut idp = Idp::start(
        module,
        free_port(),
        serde_json::json!({ "machine": { "role": "auditor", "org": "oversight" } }),
        "http://127.0.0.1:9/sign-in/oidc/callback",
    );
    let app = spawn_configured(
        Arc::new(TestDb::fresh().await),
        Arc::new(Keys::new()),
        None,
        |s| trusting(s, &idp),
    )
    .await;
    app.submit_new("ro-csirt", crate::helpers::member_state_request("RO"))
        .await;
    // The provider's token, and the test keys' beside it.
    let token = idp.machine_token().await;
    assert_eq!(list_requests(&app, &token).await.unwrap(), 1);
    assert!(
        list_requests(&app, &app.token("auditor", "oversight"))
            .await
            .is_ok()
    );

    // A flood of tokens naming unknown keys reads the JWKS at most once
    // per interval (one second here), and none passes.
    let before = idp.jwks_reads().await;
    let started = Instant::now();
    let attempts: Vec<_> = (0..40)
        .map(|i| {
            let token = forged(&idp.issuer(), &format!("made-up-{i}"));
            let app = &app;
            async move { list_requests(app, &token).await }
        })
        .collect();
    for refused in futures_util::future::join_all(attempts).await {
        assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);
    }
    let reads = idp.jwks_reads().await - before;
    let seconds = started.elapsed().as_secs() + 1;
    assert!(
        reads <= seconds,
        "{reads} reads of the JWKS in about {seconds} s for 40 unknown keys"
    );

    // The provider rotates its key: its new tokens name a key the service
    // has not seen, and are accepted once the JWKS is read again.
    idp.rotate("2");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = idp.machine_token().await;
    assert_ne!(rotated, token);
    assert_eq!(list_requests(&app, &rotated).await.unwrap(), 1);
    // Its signature is checked: a token altered after signing is refused.
    let mut parts = rotated.split('.').map(str::to_owned).collect::<Vec<_>>();
    parts[2] = "AAAA".into();
    let tampered = parts.join(".");
    let refused = list_requests(&app, &tampered).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test]
async fn the_console_starts_a_code_flow_with_pkce_and_checks_its_state() {
    let Some(module) = provider_module() else {
        return;
    };
    let console_port = free_port();
    let callback = format!("http://127.0.0.1:{console_port}/sign-in/oidc/callback");
    let idp = Idp::start(module, free_port(), serde_json::json!({}), &callback);
    let app = spawn_configured(
        Arc::new(TestDb::fresh().await),
        Arc::new(Keys::new()),
        None,
        |s| trusting(s, &idp),
    )
    .await;
    let addr = crate::console::spawn_console_on(&app, console_port, |s| trusting(s, &idp)).await;
    let mut web = crate::console::Web::new(addr);
    let page = web.get("/sign-in").await;
    assert!(page.body.contains("/sign-in/oidc"), "{}", page.body);
    let start = web.get("/sign-in/oidc?next=%2Fcapacity").await;
    assert_eq!(start.status, 303);
    let url = reqwest::Url::parse(&start.location).unwrap();
    assert_eq!(
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap()),
        format!("127.0.0.1:{}", idp.port)
    );
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert_eq!(query["client_id"], CONSOLE_CLIENT);
    assert_eq!(query["redirect_uri"], callback);
    assert!(!query.contains_key("response_mode"), "no implicit flow");
    // An answer to another browser's sign-in, or to none, is refused.
    let forged = web
        .get(&format!(
            "/sign-in/oidc/callback?code=x&state=not-{}",
            query["state"]
        ))
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let mut stranger = crate::console::Web::new(addr);
    let none = stranger
        .get(&format!(
            "/sign-in/oidc/callback?code=x&state={}",
            query["state"]
        ))
        .await;
    assert_eq!(none.status, 403);
    // A code the provider never issued signs no one in.
    let start = web.get("/sign-in/oidc").await;
    let url = reqwest::Url::parse(&start.location).unwrap();
    let state: String = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let refused = web
        .get(&format!(
            "/sign-in/oidc/callback?code=made-up&state={state}"
        ))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(web.get("/queue").await.location, "/sign-in?next=%2Fqueue");
    app.stop().await;
}
