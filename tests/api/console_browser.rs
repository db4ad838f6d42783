//! The console in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`). Screenshots go to
//! `target/tmp/console-screenshots/`.
//!
//! Without `chromedriver` on the machine these tests say so and pass,
//! unless `RESERVE_REQUIRE_BROWSER` is set (as `.ci/run` does): then its
//! absence fails them.

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::console::spawn_console;
use crate::helpers::{TestApp, member_state_request, spawn_app, state};
use pb::RequestState as S;
use pb::ServiceType::{DigitalForensics as DF, IncidentResponse as IR};
use reserve_dispatch::console::DEMO_USERS;
use reserve_dispatch::grpc::pb;

/// A running `chromedriver`, stopped on drop.
struct Driver {
    child: Child,
    url: String,
    _profiles: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Starts chromedriver, or None (with a note) when the machine has none.
fn driver() -> Option<Driver> {
    let Some(binary) = find_on_path("chromedriver") else {
        assert!(
            std::env::var_os("RESERVE_REQUIRE_BROWSER").is_none(),
            "chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "browser tests skipped: no chromedriver (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profiles: tempfile::tempdir().unwrap(),
    })
}

impl Driver {
    /// A browser of its own (own profile, own cookies).
    async fn browser(&self) -> Client {
        let profile = tempfile::Builder::new()
            .prefix("chromium-")
            .tempdir_in(self._profiles.path())
            .unwrap()
            .keep();
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--window-size=1280,1000".into(),
        ];
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut options = json!({ "args": args });
        if let Some(chromium) = find_on_path("chromium") {
            options["binary"] = json!(chromium);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

/// chromedriver's browser log (console messages, CSP violations, failed
/// loads) since the last call.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

async fn console_errors(browser: &Client) -> Vec<String> {
    let log = browser
        .issue_cmd(BrowserLog)
        .await
        .expect("the browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn sign_in(browser: &Client, base: &str, organisation: &str) {
    browser.goto(&format!("{base}/sign-in")).await.unwrap();
    let index = DEMO_USERS
        .iter()
        .position(|u| u.organisation == organisation)
        .unwrap();
    browser
        .find(Locator::Css(&format!("label[for='demo-{index}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(browser, "form[action='/sign-in/dev'] button").await;
    // Signed in, the browser lands on the person's start page.
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.current_url().await.unwrap().path() == "/sign-in" {
        assert!(Instant::now() < deadline, "the sign-in did not complete");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(browser: &Client, css: &str) {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// The text of the page's first `css` element, once there is one: read in
/// one script, so a page replaced meanwhile cannot leave a stale element.
async fn text(browser: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = browser
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                vec![json!(css)],
            )
            .await
            .unwrap();
        if let Value::String(text) = found {
            return text;
        }
        assert!(Instant::now() < deadline, "no {css} on the page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the page's `css` element's text contains `expected`, without
/// navigating.
async fn wait_for_text(browser: &Client, css: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = browser
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                vec![json!(css)],
            )
            .await
            .unwrap();
        if now.as_str().unwrap_or_default().contains(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed {expected:?}; it shows {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn capacity(app: &TestApp) {
    app.commit_capacity("nordic-ir", IR, 30).await;
    app.commit_capacity("nordic-ir", DF, 30).await;
    app.commit_capacity("danube-cyber", IR, 30).await;
}

#[tokio::test]
async fn a_duty_officer_dispatches_and_sees_the_providers_acceptance_live() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    capacity(&app).await;
    // A queue with a request past its 48 hours, then two fresh ones.
    let request = app.submit_new("pl-csirt", member_state_request("PL")).await;
    assert_eq!(state(&request), S::Eligible);
    app.clock.advance(chrono::Duration::hours(49));
    for (org, country) in [("ro-csirt", "RO"), ("bg-csirt", "BG")] {
        let mut body = member_state_request(country);
        body.title = format!("Wiper malware at a {country} hospital group (demo)");
        body.severity = pb::Severity::Critical as i32;
        app.submit_new(org, body).await;
    }
    let base = format!("http://{}", spawn_console(&app, true).await);

    let duty = driver.browser().await;
    sign_in(&duty, &base, "enisa").await;
    assert_eq!(text(&duty, "h1").await, "Requests to decide");
    screenshot(&duty, "01-queue").await;

    // Overdue first, in red; then by priority.
    let clock = text(&duty, "table.queue tbody tr:first-child .clock").await;
    assert!(clock.contains("overdue"), "{clock}");
    let rows = duty.find_all(Locator::Css("table.queue tbody tr")).await;
    assert_eq!(rows.unwrap().len(), 3);

    // The top request, its eligibility table and clock.
    click(&duty, "table.queue tbody tr:first-child a").await;
    wait_for_text(&duty, "h1", &request.reference).await;
    assert!(text(&duty, "table.rules").await.contains("CSA-CLASS"));
    assert_labelled(&duty, "the request page").await;
    screenshot(&duty, "02-request").await;

    // Authorise, then open the matches and approve the proposed plan.
    click(&duty, "form[action$='/authorise'] button[type='submit']").await;
    wait_for_text(&duty, "#summary .state", "Authorised").await;
    click(&duty, "a.button[href$='/dispatch']").await;
    assert!(text(&duty, "table.candidates").await.contains("nordic-ir"));
    assert_labelled(&duty, "the proposal").await;
    screenshot(&duty, "03-proposal").await;
    click(&duty, "form[action$='/dispatch'] button[type='submit']").await;

    // Back on the request: the offers appear, one per line.
    wait_for_text(&duty, "#offers", "Offered").await;
    let offers = duty
        .find_all(Locator::Css("#offers tr.offer"))
        .await
        .unwrap();
    assert_eq!(offers.len(), 2);
    screenshot(&duty, "04-offers").await;
    duty.execute("window.notReloaded = true; return true;", vec![])
        .await
        .unwrap();

    // The digital-forensics line went to nordic-ir, the only one qualified.
    let provider = driver.browser().await;
    sign_in(&provider, &base, "nordic-ir").await;
    assert_eq!(text(&provider, "h1").await, "Offers");
    assert_labelled(&provider, "the offers").await;
    screenshot(&provider, "05-provider-offers").await;
    click(&provider, "form[action$='/accept'] button").await;
    wait_for_text(&provider, "#assignments", "Accepted").await;
    screenshot(&provider, "06-provider-accepted").await;

    // The duty officer's page shows the acceptance without a reload.
    wait_for_text(&duty, "#timeline", "AcceptOffer").await;
    wait_for_text(&duty, "#offers", "Accepted").await;
    let kept = duty
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(kept, Value::Bool(true), "the page was not reloaded");
    screenshot(&duty, "07-acceptance-live").await;

    for (who, browser) in [("duty officer", &duty), ("provider", &provider)] {
        let errors = console_errors(browser).await;
        assert!(errors.is_empty(), "{who}'s console: {errors:#?}");
    }
    duty.close().await.unwrap();
    provider.close().await.unwrap();
}

#[tokio::test]
async fn every_page_renders_with_the_demo_data_and_no_console_errors() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    capacity(&app).await;
    app.submit_new("ro-csirt", member_state_request("RO")).await;
    app.submit_new("md-spoc", crate::helpers::moldova_request())
        .await;
    let base = format!("http://{}", spawn_console(&app, true).await);
    let browser = driver.browser().await;
    browser.goto(&format!("{base}/sign-in")).await.unwrap();
    assert_labelled(&browser, "the sign-in page").await;
    screenshot(&browser, "00-sign-in").await;

    for (organisation, pages) in [
        ("enisa", &["/queue", "/requests", "/capacity"][..]),
        ("ec", &["/queue", "/requests"][..]),
        ("ro-csirt", &["/requests"][..]),
        ("md-spoc", &["/requests"][..]),
        ("nordic-ir", &["/offers", "/capacity"][..]),
        ("oversight", &["/requests", "/capacity"][..]),
    ] {
        sign_in(&browser, &base, organisation).await;
        for page in pages {
            browser.goto(&format!("{base}{page}")).await.unwrap();
            let heading = text(&browser, "h1").await;
            assert!(!heading.is_empty(), "{organisation} {page}");
            assert_labelled(&browser, &format!("{organisation} {page}")).await;
            // Every one of these roles sees a request in its list: open it.
            if *page == "/requests" {
                click(&browser, "tbody tr:first-child a").await;
                assert!(!text(&browser, "#timeline").await.is_empty());
                assert_eq!(text(&browser, "#eligibility-heading").await, "Eligibility");
            }
        }
        let errors = console_errors(&browser).await;
        assert!(errors.is_empty(), "{organisation}'s console: {errors:#?}");
        click(&browser, "form.who button").await;
        wait_for_text(&browser, "h1", "Sign in").await;
    }
    browser.close().await.unwrap();
}

/// Every control of the page has a label (or an accessible name), and every
/// button and link a text.
async fn assert_labelled(browser: &Client, what: &str) {
    let unlabelled = browser
        .execute(
            r#"
            const controls = Array.from(document.querySelectorAll(
                "input:not([type=hidden]), select, textarea"))
                .filter(e => e.labels.length === 0 && !e.getAttribute("aria-label"))
                .map(e => e.outerHTML);
            const nameless = Array.from(document.querySelectorAll("button, a"))
                .filter(e => e.textContent.trim() === "" && !e.getAttribute("aria-label"))
                .map(e => e.outerHTML);
            return controls.concat(nameless);
            "#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, json!([]), "{what}: controls without a name");
}

/// Presses Tab until the focused element matches `css` (at most 40 times).
async fn tab_to(browser: &Client, css: &str) {
    for _ in 0..40 {
        browser
            .active_element()
            .await
            .unwrap()
            .send_keys("\u{E004}")
            .await
            .unwrap();
        let focused = browser
            .execute(
                "return document.activeElement.matches(arguments[0]);",
                vec![json!(css)],
            )
            .await
            .unwrap();
        if focused == Value::Bool(true) {
            return;
        }
    }
    panic!("Tab never reached {css}");
}

async fn press_enter(browser: &Client) {
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
}

/// The page is no wider than the window: nothing to scroll sideways.
async fn assert_reflows(browser: &Client, what: &str) {
    let widths = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        scroll <= inner,
        "{what}: {scroll} px of content in {inner} px"
    );
}

#[tokio::test]
async fn a_duty_officer_decides_with_the_keyboard_alone_at_200_percent_zoom() {
    let Some(driver) = driver() else { return };
    let app = spawn_app().await;
    let request = app.submit_new("ro-csirt", member_state_request("RO")).await;
    let base = format!("http://{}", spawn_console(&app, true).await);
    let browser = driver.browser().await;
    // A 1280-pixel window at 200% zoom lays pages out in 640 CSS pixels.
    browser.set_window_size(640, 1000).await.unwrap();

    browser.goto(&format!("{base}/sign-in")).await.unwrap();
    assert_reflows(&browser, "the sign-in page").await;
    // The first demo user (the duty officer) is chosen already.
    tab_to(&browser, "form[action='/sign-in/dev'] button").await;
    press_enter(&browser).await;
    wait_for_text(&browser, "h1", "Requests to decide").await;
    assert_reflows(&browser, "the queue").await;

    tab_to(&browser, "table.queue a").await;
    press_enter(&browser).await;
    wait_for_text(&browser, "h1", &request.reference).await;
    assert_reflows(&browser, "the request page").await;
    screenshot(&browser, "08-request-at-200-percent").await;

    tab_to(&browser, "form[action$='/authorise'] button").await;
    press_enter(&browser).await;
    wait_for_text(&browser, "#summary .state", "Authorised").await;
    assert_eq!(
        state(&app.read("ro-csirt", &request.name).await),
        S::Authorised
    );
    let errors = console_errors(&browser).await;
    assert!(errors.is_empty(), "console: {errors:#?}");
    browser.close().await.unwrap();
}

/// Signs in at the console through the identity provider's own pages (its
/// development login and consent forms) as `login`.
async fn sign_in_through_the_provider(browser: &Client, base: &str, login: &str) {
    browser.goto(&format!("{base}/sign-in")).await.unwrap();
    click(browser, "a[href^='/sign-in/oidc']").await;
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input[name='login']"))
        .await
        .expect("the provider's login form")
        .send_keys(login)
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name='password']"))
        .await
        .unwrap()
        .send_keys("any password will do")
        .await
        .unwrap();
    click(
        browser,
        "form:has(input[value='login']) button.login-submit",
    )
    .await;
    // The consent page: the console asks for the role and organisation.
    click(
        browser,
        "form:has(input[value='consent']) button.login-submit",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = browser.current_url().await.unwrap();
        if url.as_str().starts_with(base) && !url.path().starts_with("/sign-in") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the sign-in did not come back: {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn people_sign_in_through_the_identity_provider_across_a_key_rotation() {
    let Some(driver) = driver() else { return };
    let Some(module) = crate::oidc::provider_module() else {
        return;
    };
    let console_port = crate::oidc::free_port();
    let callback = format!("http://127.0.0.1:{console_port}/sign-in/oidc/callback");
    let mut idp = crate::oidc::Idp::start(
        module,
        crate::oidc::free_port(),
        json!({
            "ana": { "role": "requester", "org": "md-csirt" },
            "piet": { "role": "provider", "org": "nordic-ir" },
        }),
        &callback,
    );
    let app = crate::helpers::spawn_configured(
        std::sync::Arc::new(crate::helpers::TestDb::fresh().await),
        std::sync::Arc::new(crate::helpers::Keys::new()),
        None,
        |s| crate::oidc::trusting(s, &idp),
    )
    .await;
    let addr =
        crate::console::spawn_console_on(&app, console_port, |s| crate::oidc::trusting(s, &idp))
            .await;
    let base = format!("http://{addr}");

    let browser = driver.browser().await;
    sign_in_through_the_provider(&browser, &base, "ana").await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/requests");
    assert!(text(&browser, ".who").await.contains("ana (md-csirt)"));
    screenshot(&browser, "oidc-requester").await;

    // The provider rotates its signing key; the next sign-in's ID token
    // names the new key, which the console reads from the JWKS.
    idp.rotate("2");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let other = driver.browser().await;
    sign_in_through_the_provider(&other, &base, "piet").await;
    assert_eq!(other.current_url().await.unwrap().path(), "/offers");
    assert!(text(&other, ".who").await.contains("piet (nordic-ir)"));
    let errors: Vec<String> = console_errors(&other)
        .await
        .into_iter()
        .filter(|m| m.contains(&base))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    browser.close().await.unwrap();
    other.close().await.unwrap();
    app.stop().await;
}

/// axe-core's script: `RESERVE_AXE_DIR` names an installation, else it is
/// installed once under the target directory (npm); None (with a note)
/// where the machine has no npm, unless `RESERVE_REQUIRE_BROWSER` is set.
fn axe_source() -> Option<String> {
    const AXE: &str = "axe-core@4.14.1";
    static INSTALLED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::var_os("RESERVE_AXE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("axe-core-4.14.1"));
    let script = dir.join("node_modules/axe-core/axe.min.js");
    if !script.exists() {
        if find_on_path("npm").is_none() {
            assert!(
                std::env::var_os("RESERVE_REQUIRE_BROWSER").is_none(),
                "npm is needed to install axe-core"
            );
            eprintln!("accessibility checks skipped: no npm");
            return None;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(AXE)
            .output()
            .expect("npm runs");
        assert!(
            out.status.success(),
            "npm install {AXE}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(std::fs::read_to_string(script).unwrap())
}

/// axe-core's serious and critical violations of the page the browser
/// shows: each as `rule (impact): the elements`.
async fn axe_violations(browser: &Client, axe: &str) -> Vec<String> {
    browser
        .execute(&format!("{axe}\nreturn true;"), vec![])
        .await
        .expect("axe-core loads");
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ' (' + v.impact + '): '
                   + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    found
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Every page of every role, with data on it, passes axe-core: no serious
/// or critical violation.
#[tokio::test]
async fn every_page_of_every_role_passes_axe_core() {
    let Some(driver) = driver() else { return };
    let Some(axe) = axe_source() else { return };
    let app = spawn_app().await;
    capacity(&app).await;
    let request = app.submit_new("ro-csirt", member_state_request("RO")).await;
    crate::helpers::authorise(&app, &request.name, &[(IR, 5)], "duty_officer").await;
    app.submit_new("md-spoc", crate::helpers::moldova_request())
        .await;
    app.submit_new("pl-csirt", member_state_request("PL")).await;
    app.produce_usage_reports(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
        .await;
    let addr = crate::console::spawn_console(&app, true).await;
    let base = format!("http://{addr}");
    let mut failures = Vec::new();
    let browser = driver.browser().await;
    browser.goto(&format!("{base}/sign-in")).await.unwrap();
    for v in axe_violations(&browser, &axe).await {
        failures.push(format!("/sign-in: {v}"));
    }
    // The check can fail: an image without a text alternative is caught.
    browser
        .execute(
            "const i = document.createElement('img'); i.src = '/assets/icon.svg'; document.querySelector('main').appendChild(i); return true;",
            vec![],
        )
        .await
        .unwrap();
    let caught = axe_violations(&browser, &axe).await;
    assert!(
        caught.iter().any(|v| v.starts_with("image-alt")),
        "axe-core runs and reports: {caught:?}"
    );
    browser.close().await.unwrap();
    let id = request
        .name
        .trim_start_matches("supportRequests/")
        .to_owned();
    for user in DEMO_USERS {
        let browser = driver.browser().await;
        sign_in(&browser, &base, user.organisation).await;
        let links = browser
            .execute(
                "return [...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'));",
                vec![],
            )
            .await
            .unwrap();
        let mut pages: Vec<String> = links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect();
        if matches!(user.organisation, "enisa" | "ro-csirt" | "oversight") {
            pages.push(format!("/requests/{id}"));
        }
        if user.role == reserve_dispatch::domain::actor::Role::Requester {
            pages.push("/requests/new".into());
        }
        if user.role == reserve_dispatch::domain::actor::Role::Admin {
            pages.extend(
                [
                    "/registry/countries/MD",
                    "/registry/countries/new",
                    "/registry/providers/new",
                    "/registry/providers/nordic-ir",
                    "/registry/organisations/md-csirt",
                    "/registry/import",
                ]
                .map(str::to_owned),
            );
        }
        for (i, page) in pages.iter().enumerate() {
            browser.goto(&format!("{base}{page}")).await.unwrap();
            for v in axe_violations(&browser, &axe).await {
                failures.push(format!("{} {page}: {v}", user.organisation));
            }
            // Each role's main page, for the README (docs/console/), when
            // RESERVE_UPDATE_SCREENSHOTS is set; always under target/.
            if i == 0 {
                let name = format!("role-{}", user.organisation);
                screenshot(&browser, &name).await;
                let in_readme = [
                    "enisa",
                    "ec",
                    "md-csirt",
                    "nordic-ir",
                    "reserve",
                    "oversight",
                ];
                if std::env::var_os("RESERVE_UPDATE_SCREENSHOTS").is_some()
                    && in_readme.contains(&user.organisation)
                {
                    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console");
                    std::fs::create_dir_all(&docs).unwrap();
                    std::fs::copy(
                        screenshot_dir().join(format!("{name}.png")),
                        docs.join(format!("{}.png", user.organisation)),
                    )
                    .unwrap();
                }
            }
        }
        browser.close().await.unwrap();
    }
    assert!(
        failures.is_empty(),
        "axe-core found:\n{}",
        failures.join("\n")
    );
    app.stop().await;
}

/// Sets an input's (or a select's) value as typing would, by script.
async fn fill(browser: &Client, css: &str, value: &str) {
    let found = browser
        .execute(
            "const e = document.querySelector(arguments[0]);
             if (!e) return false;
             e.value = arguments[1];
             return true;",
            vec![json!(css), json!(value)],
        )
        .await
        .unwrap();
    assert_eq!(found, json!(true), "no {css} on the page");
}

/// Waits until the page has an element matching `css`.
async fn wait_for_element(browser: &Client, css: &str, otherwise: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.find(Locator::Css(css)).await.is_err() {
        assert!(Instant::now() < deadline, "{otherwise}: no {css}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The whole story in Chromium, everyone signed in through the identity
/// provider: a Moldovan CSIRT files and submits a request and later files
/// its summary report; a provider accepts, records the agreement and
/// completes; an administrator edits Moldova's Council act; an auditor
/// verifies the chain. The steps between (transmission, decision, dispatch)
/// go through the API.
#[tokio::test]
async fn the_story_in_chromium_signed_in_through_the_identity_provider() {
    let Some(driver) = driver() else { return };
    let Some(module) = crate::oidc::provider_module() else {
        return;
    };
    let console_port = crate::oidc::free_port();
    let callback = format!("http://127.0.0.1:{console_port}/sign-in/oidc/callback");
    let idp = crate::oidc::Idp::start(
        module,
        crate::oidc::free_port(),
        json!({
            "ion": { "role": "requester", "org": "md-csirt" },
            "piet": { "role": "provider", "org": "nordic-ir" },
            "adm": { "role": "admin", "org": "reserve" },
            "aud": { "role": "auditor", "org": "oversight" },
        }),
        &callback,
    );
    let app = crate::helpers::spawn_configured(
        std::sync::Arc::new(crate::helpers::TestDb::fresh().await),
        std::sync::Arc::new(crate::helpers::Keys::new()),
        None,
        |s| crate::oidc::trusting(s, &idp),
    )
    .await;
    app.commit_capacity("nordic-ir", IR, 40).await;
    let addr =
        crate::console::spawn_console_on(&app, console_port, |s| crate::oidc::trusting(s, &idp))
            .await;
    let base = format!("http://{addr}");

    // The Moldovan CSIRT files and submits.
    let csirt = driver.browser().await;
    sign_in_through_the_provider(&csirt, &base, "ion").await;
    csirt.goto(&format!("{base}/requests/new")).await.unwrap();
    for (css, value) in [
        ("#title", "Ransomware at the grid operator"),
        (
            "#description",
            "Encryption of SCADA historian and billing systems since 03:10.",
        ),
        ("#category", "RANSOMWARE"),
        ("#classification", "SIGNIFICANT"),
        ("#severity", "HIGH"),
        ("#detected", "2026-09-21T03:10"),
        ("#countries", "MD"),
        (
            "#potential_impact",
            "Loss of supervisory control for 1.2 million customers",
        ),
        (
            "#mitigation",
            "Segmented OT network, restored domain controllers from backup",
        ),
        ("#other_support", "None"),
        ("#contact_name", "Ion, CSIRT Moldova"),
        ("#contact_email", "duty@csirt.example.md"),
        ("#contact_phone", "+373 22 000 000"),
        ("#entity-0-name", "Distribution grid operator (demo)"),
        ("#entity-0-sector", "ENERGY"),
        ("#entity-0-type", "ESSENTIAL"),
        ("#entity-0-country", "MD"),
        ("#line-0-service", "INCIDENT_RESPONSE"),
        ("#line-0-days", "10"),
        ("#line-0-languages", "ro, en"),
        ("#line-0-use", "On-site containment"),
    ] {
        fill(&csirt, css, value).await;
    }
    click(
        &csirt,
        "#filing-form button[value='save']:not(.visually-hidden)",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser_path_is_a_request(&csirt).await {
        assert!(Instant::now() < deadline, "the draft was not saved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = csirt.current_url().await.unwrap();
    let id = page.path().trim_start_matches("/requests/").to_owned();
    click(&csirt, "#submit-form button").await;
    wait_for_text(&csirt, ".status-line", "Awaiting transmission").await;
    screenshot(&csirt, "story-submitted").await;

    // Transmitted by Moldova's contact point, authorised by the
    // Commission, dispatched by ENISA: through the API.
    let name = format!("supportRequests/{id}");
    app.transmit("md-spoc", &name, "").await;
    crate::helpers::authorise(&app, &name, &[(IR, 10)], "commission").await;
    crate::helpers::approve(
        &app,
        &name,
        vec![crate::helpers::plan(0, "nordic-ir", &[], "speaks Romanian")],
    )
    .await
    .unwrap();
    let offer =
        crate::helpers::open_offer(&crate::helpers::offers_of(&app, "nordic-ir").await, &name)
            .name
            .trim_start_matches("offers/")
            .to_owned();

    // The provider accepts, agrees and completes.
    let provider = driver.browser().await;
    sign_in_through_the_provider(&provider, &base, "piet").await;
    click(
        &provider,
        &format!("form[action='/offers/{offer}/accept'] button"),
    )
    .await;
    // The offers page is where the provider was already: wait for the
    // agreement's form, which only an accepted offer has.
    wait_for_element(
        &provider,
        &format!("#reference-{offer}"),
        "the offer was not accepted",
    )
    .await;
    fill(&provider, &format!("#reference-{offer}"), "SA-2026-0042").await;
    fill(&provider, &format!("#template-{offer}"), "CSR-SA-2026.1").await;
    fill(&provider, &format!("#liability-{offer}"), "Per Art. 16(6)").await;
    click(&provider, &format!("#agreement-{offer} button")).await;
    wait_for_element(
        &provider,
        &format!("#delivery-{offer}"),
        "the agreement was not recorded",
    )
    .await;
    fill(
        &provider,
        &format!("#delivery-{offer}"),
        "Contained; report handed over",
    )
    .await;
    click(&provider, &format!("#complete-{offer} button")).await;
    wait_for_text(&provider, "#assignments", "Delivered").await;

    // The CSIRT files its summary report.
    csirt.goto(&format!("{base}/requests/{id}")).await.unwrap();
    fill(
        &csirt,
        "#service-provided",
        "On-site containment by Nordic IR",
    )
    .await;
    fill(&csirt, "#results", "Operations restored in 4 days").await;
    fill(&csirt, "#lessons", "Segment the historian earlier").await;
    click(&csirt, "#report-form button").await;
    wait_for_text(&csirt, ".status-line", "Reported").await;

    // The administrator caps support under Moldova's act at 90 days.
    let admin = driver.browser().await;
    sign_in_through_the_provider(&admin, &base, "adm").await;
    admin
        .goto(&format!("{base}/registry/countries/MD"))
        .await
        .unwrap();
    fill(&admin, "#act-0-cap", "90").await;
    click(
        &admin,
        "#country-form button[value='save']:not(.visually-hidden)",
    )
    .await;
    // The page is the one the form was on: wait for the saved act.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cap = app
            .registry()
            .await
            .get_country(crate::helpers::authed(
                pb::GetCountryRequest {
                    name: "countries/MD".into(),
                },
                &app.token("auditor", "oversight"),
            ))
            .await
            .unwrap()
            .into_inner()
            .council_acts[0]
            .max_support_days;
        if cap == 90 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the act's cap was not saved: {cap}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The auditor verifies the chain.
    let auditor = driver.browser().await;
    sign_in_through_the_provider(&auditor, &base, "aud").await;
    auditor.goto(&format!("{base}/audit")).await.unwrap();
    click(&auditor, "form[action='/audit/verify'] button").await;
    wait_for_text(&auditor, "#verification", "The chain verifies").await;
    screenshot(&auditor, "story-verified").await;
    for b in [csirt, provider, admin, auditor] {
        b.close().await.unwrap();
    }
    app.stop().await;
}

async fn browser_path_is_a_request(browser: &Client) -> bool {
    let path = browser.current_url().await.unwrap().path().to_owned();
    path.starts_with("/requests/") && path != "/requests/new"
}
