//! The web console over HTTP: sign-in and sessions, CSRF, who may open
//! which page, and the decision workflow through its forms. The browser
//! tests are in `console_browser.rs`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use reserve_dispatch::console::{self, Console, ConsoleOptions, DEMO_USERS};
use reserve_dispatch::{config::Settings, grpc::pb, server, startup};

use crate::helpers::{
    AUDIENCE, ISSUER, TestApp, authed, member_state_request, moldova_request, spawn_app, state,
};
use pb::RequestState as S;
use pb::ServiceType::{DigitalForensics as DF, IncidentResponse as IR};

/// Serves a console for `app` on a port of its own; its address.
pub async fn spawn_console(app: &TestApp, dev: bool) -> SocketAddr {
    let settings = Settings {
        jwt_issuer: ISSUER.into(),
        jwt_audience: AUDIENCE.into(),
        jwt_public_key_file: Some(app.keys.public_pem_path.clone()),
        jwt_algorithm: "EdDSA".into(),
        ..Settings::default()
    };
    let console = Console {
        app: app.app.clone(),
        verifier: Arc::new(startup::verifier(&settings).unwrap()),
        options: ConsoleOptions {
            dev,
            secure_cookies: false,
            session_ttl: chrono::Duration::hours(1),
            oidc: None,
        },
    };
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(console::serve(
        listener,
        Arc::new(console),
        std::future::pending(),
    ));
    addr
}

/// Serves a console for `app` on `port`, made from settings as `reserve
/// serve` makes it (`configure` adds an identity provider, say); its address.
pub async fn spawn_console_on(
    app: &TestApp,
    port: u16,
    configure: impl FnOnce(&mut Settings),
) -> SocketAddr {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut settings = Settings {
        jwt_issuer: ISSUER.into(),
        jwt_audience: AUDIENCE.into(),
        jwt_public_key_file: Some(app.keys.public_pem_path.clone()),
        jwt_algorithm: "EdDSA".into(),
        console_addr: Some(addr),
        console_public_url: Some(format!("http://{addr}")),
        ..Settings::default()
    };
    configure(&mut settings);
    let verifier = Arc::new(startup::verifier(&settings).unwrap());
    let console = Console::from_settings(app.app.clone(), verifier, &settings).unwrap();
    let listener = server::bind(addr).await.unwrap();
    tokio::spawn(console::serve(
        listener,
        Arc::new(console),
        std::future::pending(),
    ));
    addr
}

/// A browser without a browser: keeps cookies, never follows redirects.
pub struct Web {
    base: String,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

pub struct Answer {
    pub status: u16,
    pub location: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Web {
    pub fn new(addr: SocketAddr) -> Web {
        // reqwest's clients need the process's TLS provider.
        reserve_dispatch::worker::notify::install_tls_provider();
        Web {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            let removed = value.is_empty() || attributes.contains("Max-Age=0");
            if !removed {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Answer {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// A form with a file (`multipart/form-data`): `fields`, and `file`'s
    /// name and content under the input `input`.
    pub async fn post_file(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        input: &str,
        file: (&str, &str),
    ) -> Answer {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        let part = reqwest::multipart::Part::text(file.1.to_owned()).file_name(file.0.to_owned());
        form = form.part(input.to_owned(), part);
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// Development sign-in as the demo user of `organisation`.
    pub async fn sign_in_as(&mut self, organisation: &str) -> Answer {
        let page = self.get("/sign-in").await;
        assert_eq!(page.status, 200);
        let index = DEMO_USERS
            .iter()
            .position(|u| u.organisation == organisation)
            .expect("a demo user of that organisation")
            .to_string();
        let answer = self
            .post(
                "/sign-in/dev",
                &[("csrf", &csrf(&page.body)), ("user", &index)],
            )
            .await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        answer
    }

    /// The CSRF token of the signed-in session, from any of its pages.
    pub async fn session_csrf(&mut self) -> String {
        let page = self.get("/").await;
        let page = self.get(&page.location).await;
        csrf(&page.body)
    }
}

/// The value of the first `csrf` field of a page.
pub fn csrf(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// A Romanian request (decided by ENISA), ELIGIBLE, with capacity to match.
async fn eligible_member_state_request(app: &TestApp) -> pb::SupportRequest {
    app.commit_capacity("nordic-ir", IR, 30).await;
    app.commit_capacity("nordic-ir", DF, 30).await;
    app.commit_capacity("danube-cyber", IR, 30).await;
    let request = app.submit_new("ro-csirt", member_state_request("RO")).await;
    assert_eq!(state(&request), S::Eligible);
    request
}

fn id_of(request: &pb::SupportRequest) -> &str {
    request.name.strip_prefix("supportRequests/").unwrap()
}

#[tokio::test]
async fn each_role_signs_in_and_sees_its_pages_with_the_demo_data() {
    let app = spawn_app().await;
    let request = eligible_member_state_request(&app).await;
    let moldovan = app.submit_new("md-spoc", moldova_request()).await;
    assert_eq!(state(&moldovan), S::Referred);
    let addr = spawn_console(&app, true).await;

    let cases: &[(&str, &str, &[&str])] = &[
        (
            "enisa",
            "/queue",
            &[&request.reference, "Requests to decide"],
        ),
        (
            "ec",
            "/queue",
            &[&moldovan.reference, "Third-country requests to decide"],
        ),
        (
            "ro-csirt",
            "/requests",
            &[&request.reference, "Our requests"],
        ),
        ("nordic-ir", "/offers", &["No offer for you."]),
        ("reserve", "/capacity", &["nordic-ir", "Incident response"]),
        (
            "oversight",
            "/requests",
            &[&request.reference, &moldovan.reference],
        ),
    ];
    for (organisation, home, expected) in cases {
        let mut web = Web::new(addr);
        let signed_in = web.sign_in_as(organisation).await;
        assert_eq!(signed_in.location, "/");
        let start = web.get("/").await;
        assert_eq!(start.location, *home, "{organisation} starts at its page");
        let page = web.get(home).await;
        assert_eq!(page.status, 200, "{organisation}: {}", page.body);
        for text in *expected {
            assert!(
                page.body.contains(text),
                "{organisation}'s {home} shows {text}"
            );
        }
    }

    // The request page: incident, entities, eligibility with articles, timeline.
    let mut web = Web::new(addr);
    web.sign_in_as("enisa").await;
    let page = web.get(&format!("/requests/{}", id_of(&request))).await;
    assert_eq!(page.status, 200);
    for text in [
        "Distribution grid operator (demo)",
        "CSA-CLASS",
        "Art. ",
        "SubmitSupportRequest",
        "Authorise support",
        "Decision due",
    ] {
        assert!(page.body.contains(text), "the request page shows {text}");
    }
}

#[tokio::test]
async fn a_requester_cannot_open_another_organisations_request() {
    let app = spawn_app().await;
    let request = eligible_member_state_request(&app).await;
    let addr = spawn_console(&app, true).await;
    let path = format!("/requests/{}", id_of(&request));

    let mut own = Web::new(addr);
    own.sign_in_as("ro-csirt").await;
    assert_eq!(own.get(&path).await.status, 200);

    let mut other = Web::new(addr);
    other.sign_in_as("md-spoc").await;
    let refused = other.get(&path).await;
    assert_eq!(refused.status, 404);
    assert!(!refused.body.contains(&request.title));
    // Nor through its dispatch page, which is not a requester's at all: the
    // role is refused before the request is looked up.
    let dispatch = other.get(&format!("{path}/dispatch")).await;
    assert_eq!(dispatch.status, 403);
    assert!(!dispatch.body.contains(&request.title));
}

#[tokio::test]
async fn a_provider_cannot_open_the_queue() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("nordic-ir").await;
    let refused = web.get("/queue").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("provider"), "{}", refused.body);
    // Signed out, every page sends to the sign-in page.
    let mut anonymous = Web::new(addr);
    for (path, to) in [
        ("/", "/sign-in"),
        ("/queue", "/sign-in?next=%2Fqueue"),
        ("/requests?after=x", "/sign-in?next=%2Frequests%3Fafter%3Dx"),
        ("/offers", "/sign-in?next=%2Foffers"),
        ("/capacity", "/sign-in?next=%2Fcapacity"),
        ("/live", "/sign-in"),
    ] {
        let answer = anonymous.get(path).await;
        assert_eq!(
            (answer.status, answer.location.as_str()),
            (303, to),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_form_of_another_role_is_refused_before_its_fields_are_read() {
    let app = spawn_app().await;
    let request = eligible_member_state_request(&app).await;
    let id = id_of(&request).to_owned();
    let addr = spawn_console(&app, true).await;
    // Each form posted, with every field wrong, by a role that may never
    // send it: 403, and no field named.
    let cases = [
        ("ro-csirt", format!("/requests/{id}/authorise"), "line0"),
        ("nordic-ir", format!("/requests/{id}/reject"), "reason"),
        ("ro-csirt", format!("/requests/{id}/ask"), "questions"),
        ("ec", format!("/requests/{id}/dispatch"), "line0.provider"),
        ("enisa", format!("/requests/{id}/report"), "results"),
        (
            "enisa",
            "/offers/not%20an%20id/decline".to_owned(),
            "reason",
        ),
        (
            "ro-csirt",
            "/offers/not%20an%20id/accept".to_owned(),
            "reason",
        ),
    ];
    for (organisation, path, field) in cases {
        let mut web = Web::new(addr);
        web.sign_in_as(organisation).await;
        let token = web.session_csrf().await;
        let refused = web
            .post(
                &path,
                &[
                    ("csrf", &token),
                    ("version", "not a number"),
                    (field, "\u{0}"),
                    ("duration_days", "-1"),
                ],
            )
            .await;
        assert_eq!(
            refused.status, 403,
            "{organisation} {path}: {}",
            refused.body
        );
        assert!(
            !refused.body.contains("data-field"),
            "{path}: {}",
            refused.body
        );
    }
    assert_eq!(
        state(&app.read("ro-csirt", &request.name).await),
        S::Eligible
    );
}

#[tokio::test]
async fn a_link_opened_signed_out_comes_back_to_its_page_after_the_sign_in() {
    let app = spawn_app().await;
    let request = eligible_member_state_request(&app).await;
    let addr = spawn_console(&app, true).await;
    let path = format!("/requests/{}", id_of(&request));
    let mut web = Web::new(addr);
    let bounced = web.get(&path).await;
    assert_eq!(bounced.status, 303);
    let page = web.get(&bounced.location).await;
    assert!(
        page.body
            .contains(&format!(r#"name="next" value="{path}""#))
    );
    let index = DEMO_USERS
        .iter()
        .position(|u| u.organisation == "enisa")
        .unwrap()
        .to_string();
    let token = csrf(&page.body);
    let signed = web
        .post(
            "/sign-in/dev",
            &[("csrf", &token), ("user", &index), ("next", &path)],
        )
        .await;
    assert_eq!(
        (signed.status, signed.location.as_str()),
        (303, path.as_str())
    );
    // Only to a page of the console: another site's address leads home.
    for elsewhere in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let mut web = Web::new(addr);
        let page = web.get("/sign-in").await;
        let signed = web
            .post(
                "/sign-in/dev",
                &[
                    ("csrf", &csrf(&page.body)),
                    ("user", &index),
                    ("next", elsewhere),
                ],
            )
            .await;
        assert_eq!(signed.location, "/", "{elsewhere}");
    }
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    let request = eligible_member_state_request(&app).await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("enisa").await;
    let path = format!("/requests/{}/reject", id_of(&request));
    let version = request.version.to_string();

    let missing = web
        .post(&path, &[("version", &version), ("reason", "Out of scope")])
        .await;
    assert_eq!(missing.status, 403);
    assert!(missing.body.contains("CSRF"));
    let wrong = web
        .post(
            &path,
            &[
                ("csrf", "not-the-token"),
                ("version", &version),
                ("reason", "Out of scope"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    // Another session's token is not this session's.
    let mut other = Web::new(addr);
    other.sign_in_as("enisa").await;
    let others = other.session_csrf().await;
    let borrowed = web
        .post(
            &path,
            &[
                ("csrf", &others),
                ("version", &version),
                ("reason", "Out of scope"),
            ],
        )
        .await;
    assert_eq!(borrowed.status, 403);
    assert_eq!(
        state(&app.read("ro-csirt", &request.name).await),
        S::Eligible,
        "nothing was decided"
    );
    // The sign-in forms carry a token of their own.
    let mut fresh = Web::new(addr);
    let forged = fresh.post("/sign-in/dev", &[("user", "0")]).await;
    assert_eq!(forged.status, 403);
    // Sign-out too.
    assert_eq!(web.post("/sign-out", &[]).await.status, 403);
}

#[tokio::test]
async fn a_request_is_decided_dispatched_and_accepted_through_the_forms() {
    let app = spawn_app().await;
    let request = eligible_member_state_request(&app).await;
    let id = id_of(&request).to_owned();
    let addr = spawn_console(&app, true).await;
    let mut duty = Web::new(addr);
    duty.sign_in_as("enisa").await;
    let token = duty.session_csrf().await;
    let version = request.version.to_string();

    // Bad input names the field and changes nothing.
    let bad = duty
        .post(
            &format!("/requests/{id}/authorise"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("line0", "25"),
                ("line1", "10"),
                ("duration_days", "30"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("granted_lines[0].person_days"),
        "{}",
        bad.body
    );
    // A stale version is a conflict.
    let stale = duty
        .post(
            &format!("/requests/{id}/authorise"),
            &[
                ("csrf", &token),
                ("version", "999"),
                ("line0", "20"),
                ("line1", "10"),
                ("duration_days", "30"),
            ],
        )
        .await;
    assert_eq!(stale.status, 409, "{}", stale.body);

    let authorised = duty
        .post(
            &format!("/requests/{id}/authorise"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("line0", "20"),
                ("line1", "10"),
                ("duration_days", "30"),
                ("note", "Both lines as asked"),
            ],
        )
        .await;
    assert_eq!(authorised.status, 303, "{}", authorised.body);
    assert_eq!(authorised.location, format!("/requests/{id}"));
    let now = app.read("ro-csirt", &request.name).await;
    assert_eq!(state(&now), S::Authorised);

    // The proposal: ranked candidates with reasons, the top one chosen.
    let proposal = duty.get(&format!("/requests/{id}/dispatch")).await;
    assert_eq!(proposal.status, 200);
    assert!(proposal.body.contains("Candidates, best first"));
    assert!(proposal.body.contains("nordic-ir"));
    // Choosing another than the top candidate needs a justification.
    let top_ir = first_radio_value(&proposal.body, "line0.provider");
    let other_ir = ["nordic-ir", "danube-cyber"]
        .into_iter()
        .find(|p| *p != top_ir)
        .unwrap();
    let version = now.version.to_string();
    let unjustified = duty
        .post(
            &format!("/requests/{id}/dispatch"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("line0.provider", other_ir),
                ("line1.provider", "nordic-ir"),
            ],
        )
        .await;
    assert_eq!(unjustified.status, 422, "{}", unjustified.body);
    assert!(
        unjustified.body.contains("justification"),
        "{}",
        unjustified.body
    );

    let approved = duty
        .post(
            &format!("/requests/{id}/dispatch"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("line0.provider", &top_ir),
                ("line0.fallback", other_ir),
                ("line1.provider", "nordic-ir"),
            ],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let page = duty.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("ApproveDispatch") || page.body.contains("MakeOffer"));
    assert_eq!(page.body.matches("class=\"offer\"").count(), 2);

    // The provider sees the offer redacted, and accepts it.
    let mut provider = Web::new(addr);
    provider.sign_in_as("nordic-ir").await;
    let offers = provider.get("/offers").await;
    assert_eq!(offers.status, 200);
    assert!(offers.body.contains("Incident response") || offers.body.contains("Digital forensics"));
    assert!(
        !offers.body.contains(&request.title),
        "the request's title stays hidden before acceptance"
    );
    let mut offer_ids: Vec<String> = offers
        .body
        .match_indices("action=\"/offers/")
        .map(|(at, _)| {
            let rest = &offers.body[at + "action=\"/offers/".len()..];
            rest[..rest.find('/').unwrap()].to_owned()
        })
        .collect();
    // Each offer has an accept and a decline form.
    offer_ids.dedup();
    assert!(!offer_ids.is_empty());
    let provider_token = provider.session_csrf().await;
    for offer in &offer_ids {
        let accepted = provider
            .post(
                &format!("/offers/{offer}/accept"),
                &[("csrf", &provider_token)],
            )
            .await;
        assert_eq!(accepted.status, 303, "{}", accepted.body);
    }
    let assignments = provider.get("/offers").await;
    assert!(
        assignments.body.contains(&request.title),
        "accepted, the assignment shows the request"
    );
    let timeline = duty.get(&format!("/requests/{id}")).await;
    assert!(timeline.body.contains("AcceptOffer"), "{}", timeline.body);

    // The other provider accepts too; agreements and delivery go over gRPC.
    let mut danube = Web::new(addr);
    danube.sign_in_as("danube-cyber").await;
    let danube_token = danube.session_csrf().await;
    let page = danube.get("/offers").await;
    if top_ir == "danube-cyber" {
        let at = page.body.find("action=\"/offers/").expect("its offer");
        let rest = &page.body[at + "action=\"/offers/".len()..];
        let offer = &rest[..rest.find('/').unwrap()];
        let accepted = danube
            .post(
                &format!("/offers/{offer}/accept"),
                &[("csrf", &danube_token)],
            )
            .await;
        assert_eq!(accepted.status, 303, "{}", accepted.body);
    } else {
        assert!(page.body.contains("No offer for you."));
    }
    deliver_everything(&app, &request.name).await;
    assert_eq!(
        state(&app.read("ro-csirt", &request.name).await),
        S::Completed
    );

    // The requester files the summary report from the request page.
    let mut requester = Web::new(addr);
    requester.sign_in_as("ro-csirt").await;
    let page = requester.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("File the report"), "{}", page.body);
    let report_token = requester.session_csrf().await;
    let filed = requester
        .post(
            &format!("/requests/{id}/report"),
            &[
                ("csrf", &report_token),
                ("service_provided", "Containment and forensics"),
                ("results", "Hospital systems restored in 30 hours"),
                ("lessons_learned", "Offline backups of the imaging archive"),
            ],
        )
        .await;
    assert_eq!(filed.status, 303, "{}", filed.body);
    let reported = app.read("ro-csirt", &request.name).await;
    assert_eq!(state(&reported), S::Reported);
    let page = requester.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("Hospital systems restored in 30 hours"));
    assert!(page.body.contains("ENISA"), "the recipients are shown");
}

#[tokio::test]
async fn the_reject_ask_and_decline_forms_do_what_they_say() {
    let app = spawn_app().await;
    let asked = eligible_member_state_request(&app).await;
    let rejected = app.submit_new("ro-csirt", member_state_request("RO")).await;
    let declined = app.submit_new("ro-csirt", member_state_request("RO")).await;
    let addr = spawn_console(&app, true).await;
    let mut duty = Web::new(addr);
    duty.sign_in_as("enisa").await;
    let token = duty.session_csrf().await;

    // Ask: one question per line, blank lines ignored.
    let id = id_of(&asked);
    let version = asked.version.to_string();
    let answer = duty
        .post(
            &format!("/requests/{id}/ask"),
            &[
                ("csrf", &token),
                ("version", &version),
                (
                    "questions",
                    "Which hospitals are affected?\n\n  Is the backup offline?  \n",
                ),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let now = app.read("ro-csirt", &asked.name).await;
    assert_eq!(state(&now), S::NeedsInfo);
    let events = app.events(&asked.name).await;
    let asking = events
        .iter()
        .find(|e| e.action == "RequestMoreInformation")
        .expect("the question is on the record");
    assert!(asking.payload.contains("Which hospitals are affected?"));
    assert!(asking.payload.contains("Is the backup offline?"));
    let page = duty.get(&format!("/requests/{id}")).await;
    assert!(
        page.body.contains("RequestMoreInformation"),
        "{}",
        page.body
    );

    // Reject: the reason is required, then recorded as the decision note.
    let id = id_of(&rejected);
    let version = rejected.version.to_string();
    let blank = duty
        .post(
            &format!("/requests/{id}/reject"),
            &[("csrf", &token), ("version", &version), ("reason", "")],
        )
        .await;
    assert_eq!(blank.status, 422, "{}", blank.body);
    assert!(blank.body.contains("reason"), "{}", blank.body);
    assert_eq!(
        state(&app.read("ro-csirt", &rejected.name).await),
        S::Eligible,
        "a refused form changes nothing"
    );
    let answer = duty
        .post(
            &format!("/requests/{id}/reject"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("reason", "Handled by national means"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let now = app.read("ro-csirt", &rejected.name).await;
    assert_eq!(state(&now), S::Rejected);
    assert_eq!(now.decision_note, "Handled by national means");

    // Decline: authorised and dispatched through the forms, then declined
    // by the provider with a reason and a note.
    let id = id_of(&declined);
    let version = declined.version.to_string();
    let authorised = duty
        .post(
            &format!("/requests/{id}/authorise"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("line0", "20"),
                ("line1", "10"),
                ("duration_days", "30"),
            ],
        )
        .await;
    assert_eq!(authorised.status, 303, "{}", authorised.body);
    let now = app.read("ro-csirt", &declined.name).await;
    let proposal = duty.get(&format!("/requests/{id}/dispatch")).await;
    let top_ir = first_radio_value(&proposal.body, "line0.provider");
    let top_df = first_radio_value(&proposal.body, "line1.provider");
    let approved = duty
        .post(
            &format!("/requests/{id}/dispatch"),
            &[
                ("csrf", &token),
                ("version", &now.version.to_string()),
                ("line0.provider", &top_ir),
                ("line1.provider", &top_df),
            ],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);

    let mut provider = Web::new(addr);
    provider.sign_in_as(&top_ir).await;
    let provider_token = provider.session_csrf().await;
    let offers = provider.get("/offers").await;
    let at = offers
        .body
        .find("/decline\"")
        .expect("a decline form for the offer");
    let start = offers.body[..at].rfind("/offers/").unwrap() + "/offers/".len();
    let offer = offers.body[start..at].to_owned();
    let unreasoned = provider
        .post(
            &format!("/offers/{offer}/decline"),
            &[("csrf", &provider_token), ("reason", "")],
        )
        .await;
    assert_eq!(unreasoned.status, 422, "{}", unreasoned.body);
    assert!(unreasoned.body.contains("reason"), "{}", unreasoned.body);
    let answer = provider
        .post(
            &format!("/offers/{offer}/decline"),
            &[
                ("csrf", &provider_token),
                ("reason", "NO_CAPACITY"),
                ("note", "Team deployed elsewhere until Monday"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let offers = provider.get("/offers").await;
    assert!(
        offers.body.contains("Declined (No capacity)"),
        "{}",
        offers.body
    );
    let events = app.events(&format!("offers/{offer}")).await;
    let declining = events
        .iter()
        .find(|e| e.action == "DeclineOffer")
        .expect("the decline is on the record");
    assert!(
        declining.payload.contains("NO_CAPACITY"),
        "{}",
        declining.payload
    );
    let timeline = duty.get(&format!("/requests/{id}")).await;
    assert!(timeline.body.contains("DeclineOffer"), "{}", timeline.body);
}

/// Each accepted offer of the request: its agreement, then its delivery.
async fn deliver_everything(app: &TestApp, name: &str) {
    let mut providers = app.provider_client().await;
    for provider in ["nordic-ir", "danube-cyber"] {
        let token = app.token("provider", provider);
        let assignments = providers
            .list_assignments(authed(pb::ListAssignmentsRequest::default(), &token))
            .await
            .unwrap()
            .into_inner()
            .assignments;
        for offer in assignments.iter().filter(|o| o.support_request == name) {
            app.agree_and_complete(provider, &offer.name).await;
        }
    }
}

fn first_radio_value(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).expect("a radio button") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn a_commission_officer_authorises_a_third_country_request_within_the_cap() {
    let app = spawn_app().await;
    let referred = app.submit_new("md-spoc", moldova_request()).await;
    let id = id_of(&referred).to_owned();
    let addr = spawn_console(&app, true).await;
    let mut duty = Web::new(addr);
    duty.sign_in_as("enisa").await;
    let page = duty.get(&format!("/requests/{id}")).await;
    assert!(
        !page.body.contains("Authorise support"),
        "ENISA does not decide third-country requests"
    );

    let mut commission = Web::new(addr);
    commission.sign_in_as("ec").await;
    let token = commission.session_csrf().await;
    let page = commission.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("Authorise support"));
    assert!(
        page.body.contains("Council implementing act"),
        "the cap is shown"
    );
    let version = referred.version.to_string();
    let too_long = commission
        .post(
            &format!("/requests/{id}/authorise"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("line0", "20"),
                ("line1", "10"),
                ("duration_days", "365"),
            ],
        )
        .await;
    assert!(
        [409, 422].contains(&too_long.status),
        "{}: {}",
        too_long.status,
        too_long.body
    );
    let authorised = commission
        .post(
            &format!("/requests/{id}/authorise"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("line0", "20"),
                ("line1", "0"),
                ("duration_days", "60"),
            ],
        )
        .await;
    assert_eq!(authorised.status, 303, "{}", authorised.body);
    let now = app.read("md-spoc", &referred.name).await;
    assert_eq!(state(&now), S::Authorised);
    assert_eq!(now.granted_lines.len(), 1, "the line at 0 days is left out");
}

#[tokio::test]
async fn sign_in_with_a_bearer_token_and_sign_out() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, false).await;
    let mut web = Web::new(addr);
    let page = web.get("/sign-in").await;
    assert!(
        !page.body.contains("demo user"),
        "no demo sign-in outside development"
    );
    let token = csrf(&page.body);
    assert_eq!(
        web.post("/sign-in/dev", &[("csrf", &token), ("user", "0")])
            .await
            .status,
        404
    );

    let untrusted = app.sign_untrusted(&reserve_dispatch::auth::claims_for(
        "duty_officer",
        "enisa",
        "mallory",
        ISSUER,
        AUDIENCE,
        600,
    ));
    let refused = web
        .post("/sign-in", &[("csrf", &token), ("token", &untrusted)])
        .await;
    assert_eq!(refused.status, 401);

    let signed = web
        .post(
            "/sign-in",
            &[
                ("csrf", &token),
                ("token", &app.token("duty_officer", "enisa")),
            ],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let cookie = signed
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("reserve_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(web.get("/queue").await.status, 200);

    let session_cookies = web.cookies.clone();
    let csrf_token = web.session_csrf().await;
    let out = web.post("/sign-out", &[("csrf", &csrf_token)]).await;
    assert_eq!((out.status, out.location.as_str()), (303, "/sign-in"));
    // The old cookie signs no one in any more.
    web.cookies = session_cookies;
    assert_eq!(web.get("/queue").await.location, "/sign-in?next=%2Fqueue");
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    for path in ["/sign-in", "/assets/console.js", "/no-such-page"] {
        let answer = web.get(path).await;
        let csp = answer.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    }
    let page = web.get("/sign-in").await;
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("style="), "no inline style");
    assert_eq!(web.get("/no-such-page").await.status, 404);
}

#[tokio::test]
async fn the_live_stream_names_what_changed_for_those_who_may_see_it() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, true).await;
    let mut duty = Web::new(addr);
    duty.sign_in_as("enisa").await;
    let mut provider = Web::new(addr);
    provider.sign_in_as("nordic-ir").await;
    let open = |web: &Web| {
        web.http
            .get(format!("{}/live", web.base))
            .header("cookie", web.cookie_header())
            .send()
    };
    let mut duty_stream = open(&duty).await.unwrap();
    assert_eq!(duty_stream.headers()["content-type"], "text/event-stream");
    let mut provider_stream = open(&provider).await.unwrap();

    let request = app.submit_new("ro-csirt", member_state_request("RO")).await;
    let mut seen = String::new();
    while !seen.contains(&request.name) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), duty_stream.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: change"), "{seen}");
    // A provider is not told of requests.
    let nothing = tokio::time::timeout(Duration::from_millis(500), provider_stream.chunk()).await;
    match nothing {
        Err(_) => {}
        Ok(chunk) => {
            let chunk = chunk.unwrap().unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&chunk).contains("supportRequests/"),
                "the provider learnt of a request"
            );
        }
    }
}

#[tokio::test]
async fn reserve_serve_serves_the_console_on_its_own_port() {
    let db = crate::helpers::TestDb::fresh().await;
    let keys = crate::helpers::Keys::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let console_addr = format!("127.0.0.1:{port}");
    let _server = crate::helpers::start_server(
        &db,
        &keys,
        &[
            ("RESERVE_CONSOLE_ADDR", &console_addr),
            ("RESERVE_SEED_DEMO", "true"),
        ],
    );
    let mut web = Web::new(console_addr.parse().unwrap());
    let mut tries = 0;
    let page = loop {
        match web.http.get(format!("{}/sign-in", web.base)).send().await {
            Ok(_) => break web.get("/sign-in").await,
            Err(_) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the console never answered: {e}"),
        }
    };
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("demo user"), "not in development mode");
    // The console trusts the API's keys.
    let signed = web
        .post(
            "/sign-in",
            &[
                ("csrf", &csrf(&page.body)),
                ("token", &keys.token_for("duty_officer", "enisa")),
            ],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let queue = web.get("/queue").await;
    assert_eq!(queue.status, 200);
    assert!(queue.body.contains("No request is waiting for a decision."));
}

#[tokio::test]
async fn lines_no_provider_can_take_whole_offer_the_split_or_wait_for_capacity() {
    let app = spawn_app().await;
    app.commit_capacity("nordic-ir", IR, 12).await;
    app.commit_capacity("danube-cyber", IR, 12).await;
    let request = app.submit_new("ro-csirt", member_state_request("RO")).await;
    let id = id_of(&request).to_owned();
    let addr = spawn_console(&app, true).await;
    let mut duty = Web::new(addr);
    duty.sign_in_as("enisa").await;
    let token = duty.session_csrf().await;
    let version = request.version.to_string();
    let authorised = duty
        .post(
            &format!("/requests/{id}/authorise"),
            &[
                ("csrf", &token),
                ("version", &version),
                ("line0", "20"),
                ("line1", "10"),
                ("duration_days", "30"),
            ],
        )
        .await;
    assert_eq!(authorised.status, 303, "{}", authorised.body);

    // No digital-forensics capacity at all: nothing to approve yet.
    let page = duty.get(&format!("/requests/{id}/dispatch")).await;
    assert!(page.body.contains("No eligible provider has free capacity"));
    assert!(
        page.body
            .contains("No provider can take the whole line now")
    );
    assert!(!page.body.contains("Approve the dispatch"));

    app.commit_capacity("nordic-ir", DF, 30).await;
    let page = duty.get(&format!("/requests/{id}/dispatch")).await;
    assert!(page.body.contains("Approve the dispatch"));
    let part = first_radio_value(&page.body, "line0.provider");
    let version = app
        .read("ro-csirt", &request.name)
        .await
        .version
        .to_string();
    let path = format!("/requests/{id}/dispatch");
    let plan = |justification| {
        [
            ("csrf", token.as_str()),
            ("version", version.as_str()),
            ("line0.provider", part.as_str()),
            ("line0.justification", justification),
            ("line1.provider", "nordic-ir"),
        ]
    };
    let unjustified = duty.post(&path, &plan("")).await;
    assert_eq!(unjustified.status, 422, "{}", unjustified.body);
    assert!(unjustified.body.contains("plan[0].justification"));
    let approved = duty
        .post(&path, &plan("Nobody has 20 days; the first to free them"))
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let now = app.read("ro-csirt", &request.name).await;
    assert_eq!(state(&now), S::WaitingCapacity);
}

#[tokio::test]
async fn a_contact_point_transmits_and_returns_through_the_forms() {
    let app = spawn_app().await;
    let returned = app.submit_new("md-csirt", moldova_request()).await;
    let transmitted = app.submit_new("md-csirt", moldova_request()).await;
    let addr = spawn_console(&app, true).await;
    let mut spoc = Web::new(addr);
    spoc.sign_in_as("md-spoc").await;
    let token = spoc.session_csrf().await;
    let page = spoc.get(&format!("/requests/{}", id_of(&returned))).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Transmit to the decider"),
        "{}",
        page.body
    );

    // A return needs its reason, and a refused form changes nothing.
    let blank = spoc
        .post(
            &format!("/requests/{}/return", id_of(&returned)),
            &[("csrf", &token), ("reason", " ")],
        )
        .await;
    assert_eq!(blank.status, 422, "{}", blank.body);
    assert!(
        blank.body.contains("data-field=\"reason\""),
        "{}",
        blank.body
    );
    assert_eq!(
        state(&app.read("md-csirt", &returned.name).await),
        S::AwaitingTransmission
    );
    let answer = spoc
        .post(
            &format!("/requests/{}/return", id_of(&returned)),
            &[("csrf", &token), ("reason", "Name the SCADA vendor")],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let draft = app.read("md-csirt", &returned.name).await;
    assert_eq!(state(&draft), S::Draft);
    assert_eq!(draft.decision_note, "Name the SCADA vendor");

    let answer = spoc
        .post(
            &format!("/requests/{}/transmit", id_of(&transmitted)),
            &[("csrf", &token), ("note", "Confirmed with the operator")],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let referred = app.read("md-csirt", &transmitted.name).await;
    assert_eq!(state(&referred), S::Referred);
    let transmission = referred.transmission.unwrap();
    assert_eq!(transmission.transmitted_by, "organisations/md-spoc");
    assert_eq!(transmission.note, "Confirmed with the operator");
}

#[tokio::test]
async fn a_decider_sets_a_failed_finding_aside_with_a_justification_through_the_form() {
    let app = spawn_app().await;
    let mut body = member_state_request("RO");
    body.affected_entities[0].sector = pb::Sector::OtherSector as i32;
    let request = app.submit_new("ro-csirt", body).await;
    assert!(request.eligibility.as_ref().unwrap().recommend_rejection);
    let id = id_of(&request).to_owned();
    let lines: Vec<(String, String)> = request
        .service_lines
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("line{i}"), l.person_days.to_string()))
        .collect();
    let addr = spawn_console(&app, true).await;
    let mut duty = Web::new(addr);
    duty.sign_in_as("enisa").await;
    let token = duty.session_csrf().await;
    let page = duty.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("override-CSA-SECTOR"), "{}", page.body);
    let version = request.version.to_string();
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut fields: Vec<(String, String)> = vec![
            ("csrf".into(), token.clone()),
            ("version".into(), version.clone()),
            ("duration_days".into(), "30".into()),
        ];
        fields.extend(lines.iter().cloned());
        fields.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        fields
    };
    let path = format!("/requests/{id}/authorise");
    let silent = form(&[]);
    let silent: Vec<(&str, &str)> = silent
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let silent = duty.post(&path, &silent).await;
    assert_eq!(silent.status, 422, "{}", silent.body);
    assert!(silent.body.contains("CSA-SECTOR"), "{}", silent.body);
    assert_eq!(
        state(&app.read("ro-csirt", &request.name).await),
        S::Eligible,
        "a refused form changes nothing"
    );
    let set_aside = form(&[
        (
            "override-CSA-SECTOR",
            "A payment processor serving the banks",
        ),
        ("criterion-SCALE_AND_SEVERITY", "Nationwide outage"),
    ]);
    let set_aside: Vec<(&str, &str)> = set_aside
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let set_aside = duty.post(&path, &set_aside).await;
    assert_eq!(set_aside.status, 303, "{}", set_aside.body);
    let authorised = app.read("ro-csirt", &request.name).await;
    assert_eq!(state(&authorised), S::Authorised);
    let assessment = authorised.assessment.unwrap();
    assert_eq!(assessment.overrides[0].rule_id, "CSA-SECTOR");
    assert_eq!(
        assessment.overrides[0].justification,
        "A payment processor serving the banks"
    );
    assert_eq!(
        assessment.reasons[0].criterion,
        pb::Criterion::ScaleAndSeverity as i32
    );
}

#[tokio::test]
async fn every_role_subscribes_to_notifications_through_the_console() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, true).await;
    let mut requester = Web::new(addr);
    requester.sign_in_as("ro-csirt").await;
    let token = requester.session_csrf().await;
    let page = requester.get("/notifications").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("AuthoriseSupport"),
        "the role's defaults: {}",
        page.body
    );
    assert!(page.body.contains("href=\"/notifications\""), "in the menu");

    let refused = requester
        .post(
            "/notifications",
            &[
                ("csrf", &token),
                ("webhook_url", "ftp://soc.example"),
                ("actions", "Make Offer"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("data-field=\"subscription.webhook_url\"")
    );
    assert!(
        refused
            .body
            .contains("data-field=\"subscription.actions[0]\"")
    );
    assert!(
        refused.body.contains("value=\"ftp://soc.example\""),
        "sent back filled in"
    );

    let made = requester
        .post(
            "/notifications",
            &[
                ("csrf", &token),
                ("webhook_url", "https://soc.example.ro/hooks"),
                ("actions", "AuthoriseSupport, RejectSupportRequest"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert!(
        made.body.contains("whsec_"),
        "the secret, once: {}",
        made.body
    );
    let listed = app
        .audit()
        .await
        .list_subscriptions(authed(
            pb::ListSubscriptionsRequest {},
            &app.token("requester", "ro-csirt"),
        ))
        .await
        .unwrap()
        .into_inner()
        .subscriptions;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].actions,
        ["AuthoriseSupport", "RejectSupportRequest"]
    );
    let page = requester.get("/notifications").await;
    assert!(page.body.contains("https://soc.example.ro/hooks"));
    assert!(!page.body.contains("whsec_"), "shown once only");

    let id = listed[0].name.trim_start_matches("subscriptions/");
    let ended = requester
        .post(&format!("/notifications/{id}/delete"), &[("csrf", &token)])
        .await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert!(
        !requester
            .get("/notifications")
            .await
            .body
            .contains("https://soc.example.ro/hooks")
    );
}

/// The produced usage reports are listed with their state, and each can be
/// downloaded as CSV and as the JSON whose SHA-256 the chain holds; the
/// Commission sees the Council's alone, a provider none.
#[tokio::test]
async fn the_console_lists_produced_usage_reports_with_their_downloads() {
    use sha2::Digest;
    let app = spawn_app().await;
    app.submit_new("md-spoc", moldova_request()).await;
    app.produce_usage_reports(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
        .await;
    let addr = spawn_console(&app, true).await;
    let mut duty = Web::new(addr);
    duty.sign_in_as("enisa").await;
    let page = duty.get("/reports").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("NIS Cooperation Group"), "{}", page.body);
    assert!(page.body.contains("Council"), "{}", page.body);
    assert!(page.body.contains("Produced"), "{}", page.body);
    // The report's requests per user kind, drawn, with its words.
    assert!(page.body.contains("class=\"usage-chart\""), "{}", page.body);
    assert!(page.body.contains("Requests per user kind and outcome"));
    assert!(
        page.body
            .contains("No request was submitted in the period."),
        "{}",
        page.body
    );
    let id = page
        .body
        .split("data-report=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a report row")
        .to_owned();
    let json = duty.get(&format!("/reports/{id}.json")).await;
    assert_eq!(json.status, 200);
    let hash = hex::encode(sha2::Sha256::digest(json.body.as_bytes()));
    assert!(
        page.body.contains(&hash),
        "the page shows the stored JSON's hash"
    );
    let csv = duty.get(&format!("/reports/{id}.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.body.starts_with("user_kind,country,outcome"),
        "{}",
        csv.body
    );
    assert_eq!(duty.get(&format!("/reports/{id}.txt")).await.status, 404);

    let mut commission = Web::new(addr);
    commission.sign_in_as("ec").await;
    let council = commission.get("/reports").await;
    assert_eq!(council.status, 200);
    assert_eq!(
        council.body.matches("data-report=").count(),
        1,
        "{}",
        council.body
    );
    let mut provider = Web::new(addr);
    provider.sign_in_as("nordic-ir").await;
    assert_eq!(provider.get("/reports").await.status, 403);
    app.stop().await;
}

/// A provider records the specific agreement of an accepted assignment and
/// reports it delivered, through the offers page's forms; a form missing a
/// required field is refused with the field named.
#[tokio::test]
async fn a_provider_agrees_and_completes_through_the_forms() {
    let app = spawn_app().await;
    app.commit_capacity("nordic-ir", IR, 30).await;
    let request = eligible_member_state_request(&app).await;
    crate::helpers::authorise(&app, &request.name, &[(IR, 5)], "duty_officer").await;
    crate::helpers::approve(
        &app,
        &request.name,
        vec![crate::helpers::plan(0, "nordic-ir", &[], "speaks Romanian")],
    )
    .await
    .unwrap();
    let offer = crate::helpers::open_offer(
        &crate::helpers::offers_of(&app, "nordic-ir").await,
        &request.name,
    )
    .clone();
    let id = offer.name.trim_start_matches("offers/").to_owned();
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("nordic-ir").await;
    let csrf = web.session_csrf().await;
    let accepted = web
        .post(&format!("/offers/{id}/accept"), &[("csrf", &csrf)])
        .await;
    assert_eq!(accepted.status, 303);
    let page = web.get("/offers").await;
    assert!(
        page.body.contains(&format!("/offers/{id}/agreement")),
        "{}",
        page.body
    );
    let missing = web
        .post(
            &format!("/offers/{id}/agreement"),
            &[
                ("csrf", &csrf),
                ("reference", ""),
                ("template_version", "v1"),
                ("liability", "Art. 16(6)"),
            ],
        )
        .await;
    assert_eq!(missing.status, 422, "{}", missing.body);
    assert!(
        missing.body.contains("agreement.reference"),
        "{}",
        missing.body
    );
    let agreed = web
        .post(
            &format!("/offers/{id}/agreement"),
            &[
                ("csrf", &csrf),
                ("reference", "SA-2026-17"),
                ("template_version", "CSR-SA-2026.1"),
                ("signed", ""),
                ("liability", "Per Art. 16(6)"),
                ("affected_entity", ""),
            ],
        )
        .await;
    assert_eq!(agreed.status, 303, "{}", agreed.body);
    let page = web.get("/offers").await;
    assert!(
        page.body.contains(&format!("/offers/{id}/complete")),
        "{}",
        page.body
    );
    let completed = web
        .post(
            &format!("/offers/{id}/complete"),
            &[
                ("csrf", &csrf),
                ("delivery_note", "Containment done; report sent"),
            ],
        )
        .await;
    assert_eq!(completed.status, 303, "{}", completed.body);
    let delivered = app
        .provider_client()
        .await
        .list_assignments(authed(
            pb::ListAssignmentsRequest::default(),
            &app.token("provider", "nordic-ir"),
        ))
        .await
        .unwrap()
        .into_inner()
        .assignments
        .into_iter()
        .find(|a| a.name == offer.name)
        .unwrap();
    assert_eq!(delivered.state, pb::OfferState::Delivered as i32);
    assert_eq!(delivered.agreement.unwrap().reference, "SA-2026-17");
    app.stop().await;
}

/// An auditor reads the trail filtered by resource and action, verifies
/// the chain and exports it; a requester may not.
#[tokio::test]
async fn an_auditor_filters_verifies_and_exports_the_trail() {
    let app = spawn_app().await;
    let request = eligible_member_state_request(&app).await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("oversight").await;
    let all = web.get("/audit").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(all.body.contains("CreateCountry"), "{}", all.body);
    let filtered = web
        .get(&format!(
            "/audit?resource={}&action=SubmitSupportRequest",
            request.name.replace('/', "%2F")
        ))
        .await;
    assert!(filtered.body.contains("SubmitSupportRequest"));
    assert!(
        !filtered.body.contains("CreateCountry"),
        "{}",
        filtered.body
    );
    let csrf = web.session_csrf().await;
    let verified = web.post("/audit/verify", &[("csrf", &csrf)]).await;
    assert_eq!(verified.status, 200);
    assert!(
        verified.body.contains("The chain verifies"),
        "{}",
        verified.body
    );
    let export = web.get("/audit/export").await;
    assert_eq!(export.status, 200);
    let lines: Vec<serde_json::Value> = export
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 10);
    assert!(
        lines
            .iter()
            .all(|l| l["hash"].as_str().is_some_and(|h| h.len() == 64))
    );
    assert!(
        lines
            .windows(2)
            .all(|w| w[1]["previous_hash"] == w[0]["hash"]),
        "the export links as the chain does"
    );
    let mut requester = Web::new(addr);
    requester.sign_in_as("ro-csirt").await;
    assert_eq!(requester.get("/audit").await.status, 403);
    app.stop().await;
}

/// The fields of a Moldovan request as the filing form posts them.
fn filing_fields<'a>(
    csrf: &'a str,
    request_id: &'a str,
    title: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("request_id", request_id),
        ("entities", "1"),
        ("lines", "2"),
        ("title", title),
        (
            "description",
            "Encryption of SCADA historian and billing systems since 03:10.",
        ),
        ("category", "RANSOMWARE"),
        ("classification", "SIGNIFICANT"),
        ("severity", "HIGH"),
        ("detected", "2026-09-21T03:10"),
        ("countries", "MD, RO"),
        (
            "potential_impact",
            "Loss of supervisory control for 1.2 million customers",
        ),
        (
            "mitigation",
            "Segmented OT network, restored domain controllers from backup",
        ),
        ("other_support", "No incident-response retainer"),
        ("tlp", "AMBER"),
        ("contact_name", "Duty officer, CSIRT Moldova"),
        ("contact_email", "duty@csirt.example.md"),
        ("contact_phone", "+373 22 000 000"),
        ("entity-0-name", "Distribution grid operator (demo)"),
        ("entity-0-sector", "ENERGY"),
        ("entity-0-type", "ESSENTIAL"),
        ("entity-0-country", "MD"),
        ("line-0-service", "INCIDENT_RESPONSE"),
        ("line-0-days", "20"),
        ("line-0-languages", "ro, en"),
        ("line-0-clearance", "NONE"),
        ("line-0-use", "On-site containment and eradication"),
        ("line-1-service", "DIGITAL_FORENSICS"),
        ("line-1-days", "10"),
        ("line-1-languages", "en"),
        ("line-1-clearance", "NONE"),
        ("line-1-use", "Root-cause analysis of initial access"),
    ]
}

/// A Moldovan CSIRT files a request through the console: lines added and
/// removed, a refusal placed next to its input, the draft saved, edited
/// and submitted (it then waits for Moldova's contact point), and another
/// draft withdrawn.
#[tokio::test]
async fn a_requester_files_edits_submits_and_withdraws_through_the_forms() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("md-csirt").await;
    let list = web.get("/requests").await;
    assert!(list.body.contains("/requests/new"), "{}", list.body);
    let form = web.get("/requests/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = csrf(&form.body);
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut fields = filing_fields(&csrf, &request_id, "Ransomware at the grid operator");

    // A line added, then removed: the form comes back with what was typed.
    let mut adding = fields.clone();
    adding.push(("action", "add-line"));
    let added = web.post("/requests/new", &adding).await;
    assert_eq!(added.status, 200);
    assert!(added.body.contains("id=\"line-2-service\""), "a third line");
    assert!(added.body.contains("Root-cause analysis of initial access"));
    let mut removing = fields.clone();
    removing.push(("action", "remove-line-0"));
    let removed = web.post("/requests/new", &removing).await;
    assert!(
        !removed.body.contains("id=\"line-1-service\""),
        "one line left"
    );
    assert!(
        removed
            .body
            .contains("Root-cause analysis of initial access"),
        "the second line moved up"
    );

    // A refusal names the field, next to its input.
    let mut missing = fields.clone();
    missing.retain(|(k, _)| *k != "line-1-days");
    missing.push(("line-1-days", "0"));
    missing.push(("action", "save"));
    let refused = web.post("/requests/new", &missing).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("support_request.service_lines[1].person_days")
    );
    assert!(
        refused
            .body
            .contains("aria-describedby=\"line-1-days-error\"")
    );

    fields.push(("action", "save"));
    let saved = web.post("/requests/new", &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let page_path = saved.location.clone();
    let id = page_path.trim_start_matches("/requests/").to_owned();
    // Saving again with the same request_id creates nothing new.
    let again = web.post("/requests/new", &fields).await;
    assert_eq!(again.location, page_path);
    let draft = app.read("md-csirt", &format!("supportRequests/{id}")).await;
    assert_eq!(state(&draft), S::Draft);
    assert_eq!(draft.service_lines.len(), 2);

    // Edited: the title changes, the rest stays.
    let edit = web.get(&format!("/requests/{id}/edit")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("Root-cause analysis of initial access"));
    let mut edited = filing_fields(
        &csrf,
        &request_id,
        "Ransomware at the grid operator, spreading",
    );
    edited.push(("action", "save"));
    let answer = web.post(&format!("/requests/{id}/edit"), &edited).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let page = web.get(&page_path).await;
    assert!(page.body.contains("spreading"));
    assert!(
        !page.body.contains("timeline-chart"),
        "a draft has no timeline yet"
    );
    assert!(page.body.contains(&format!("/requests/{id}/submit")));

    let submitted = web
        .post(&format!("/requests/{id}/submit"), &[("csrf", &csrf)])
        .await;
    assert_eq!(submitted.status, 303, "{}", submitted.body);
    let read = app.read("md-csirt", &format!("supportRequests/{id}")).await;
    assert_eq!(
        state(&read),
        S::AwaitingTransmission,
        "Moldova's contact point transmits it"
    );

    // Another draft, withdrawn with its reason.
    let other_id = uuid::Uuid::new_v4().to_string();
    let mut other = filing_fields(&csrf, &other_id, "A second incident");
    other.push(("action", "save"));
    let second = web.post("/requests/new", &other).await;
    let second_id = second.location.trim_start_matches("/requests/").to_owned();
    let withdrawn = web
        .post(
            &format!("/requests/{second_id}/withdraw"),
            &[("csrf", &csrf), ("reason", "Filed twice")],
        )
        .await;
    assert_eq!(withdrawn.status, 303, "{}", withdrawn.body);
    let read = app
        .read("md-csirt", &format!("supportRequests/{second_id}"))
        .await;
    assert_eq!(state(&read), S::Withdrawn);
    app.stop().await;
}

/// The value of the input `id` on a page.
fn input_value(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no input {id}"));
    let rest = &html[at..];
    let end = rest.find('>').unwrap();
    rest[..end]
        .split("value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// An administrator edits Moldova's Council act through the registry's
/// country form: a refusal placed next to its input, then the act's last
/// day and cap changed, as the API then reads them.
#[tokio::test]
async fn an_administrator_edits_a_council_act_through_the_form() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("reserve").await;
    let registry = web.get("/registry").await;
    assert_eq!(registry.status, 200, "{}", registry.body);
    assert!(registry.body.contains("Republic of Moldova"));
    assert!(registry.body.contains("md-spoc"));
    let form = web.get("/registry/countries/MD").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = csrf(&form.body);
    let reference = input_value(&form.body, "act-0-reference");
    let from = input_value(&form.body, "act-0-from");
    let from_day: chrono::NaiveDate = from.parse().unwrap();
    let until = (from_day + chrono::Duration::days(200)).to_string();
    let languages = input_value(&form.body, "required_languages");
    let associated = input_value(&form.body, "association_date");
    let covered = input_value(&form.body, "reserve_coverage_from");
    assert_eq!(
        (languages.as_str(), associated.as_str()),
        ("ro", "2024-01-01")
    );
    assert!(form.body.contains(r#"<option value="NONE" selected>"#));
    let fields = |until: &str, action: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf.as_str()),
            ("action", action),
            ("acts", "1"),
            ("display_name", "Republic of Moldova"),
            ("required_languages", languages.as_str()),
            ("required_clearance", "NONE"),
            ("required_certifications", ""),
            ("association_date", associated.as_str()),
            ("reserve_coverage_from", covered.as_str()),
            ("single_point_of_contact", "md-spoc"),
            ("capability_info_received", "2025-06-02"),
            ("capability_info_updated", "2026-01-01"),
            ("specific_conditions", ""),
            ("act-0-reference", reference.as_str()),
            ("act-0-from", from.as_str()),
            ("act-0-until", until),
            ("act-0-cap", "90"),
            ("act-0-repealed", ""),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    };
    async fn send(web: &mut Web, fields: Vec<(String, String)>) -> Answer {
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        web.post("/registry/countries/MD", &pairs).await
    }
    // An act ending before it begins is refused, next to its input.
    let before = (from_day - chrono::Duration::days(1)).to_string();
    let refused = send(&mut web, fields(&before, "save")).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("country.council_acts[0]"),
        "{}",
        refused.body
    );
    // An act added and removed again changes nothing stored.
    let added = send(&mut web, fields(&until, "add-act")).await;
    assert!(added.body.contains("id=\"act-1-reference\""));
    let saved = send(&mut web, fields(&until, "save")).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let country = app
        .registry()
        .await
        .get_country(authed(
            pb::GetCountryRequest {
                name: "countries/MD".into(),
            },
            &app.token("duty_officer", "enisa"),
        ))
        .await
        .unwrap()
        .into_inner();
    let act = &country.council_acts[0];
    let last = act.valid_until.as_ref().unwrap();
    assert_eq!(
        format!("{:04}-{:02}-{:02}", last.year, last.month, last.day),
        until
    );
    assert_eq!(act.max_support_days, 90);
    let events = app.events("countries/MD").await;
    assert!(events.iter().any(|e| e.action == "UpdateCountry"));
    let mut requester = Web::new(addr);
    requester.sign_in_as("ro-csirt").await;
    assert_eq!(requester.get("/registry").await.status, 403);
    app.stop().await;
}

/// The single point of contact sees the requests waiting for its
/// transmission in a queue of their own; their filer does not.
#[tokio::test]
async fn the_contact_point_has_its_queue_of_requests_to_transmit() {
    let app = spawn_app().await;
    let filed = app.submit_new("md-csirt", moldova_request()).await;
    assert_eq!(state(&filed), S::AwaitingTransmission);
    let addr = spawn_console(&app, true).await;
    let mut spoc = Web::new(addr);
    spoc.sign_in_as("md-spoc").await;
    let page = spoc.get("/requests").await;
    assert!(
        page.body.contains("Waiting for your transmission"),
        "{}",
        page.body
    );
    let queue = page.body.split("id=\"transmit-queue\"").nth(1).unwrap();
    assert!(queue.contains(&filed.reference));
    let mut filer = Web::new(addr);
    filer.sign_in_as("md-csirt").await;
    let own = filer.get("/requests").await;
    assert!(own.body.contains(&filed.reference));
    assert!(!own.body.contains("Waiting for your transmission"));
    app.stop().await;
}

/// Each commitment's bar has its period drawn under it, as far as today,
/// with the same in words.
#[tokio::test]
async fn the_capacity_page_draws_each_commitments_period() {
    let app = spawn_app().await;
    app.commit_capacity("nordic-ir", IR, 30).await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("reserve").await;
    let page = web.get("/capacity").await;
    assert!(page.body.contains("<svg class=\"period\""), "{}", page.body);
    assert!(
        page.body.contains("day 31 of 331 of the period"),
        "{}",
        page.body
    );
    app.stop().await;
}

/// An administrator adds an organisation and a capacity commitment through
/// the registry's forms; a form the API would refuse is refused, naming
/// the field.
#[tokio::test]
async fn an_administrator_adds_an_organisation_and_a_commitment() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("reserve").await;
    let page = web.get("/registry").await;
    assert!(page.body.contains("id=\"organisation-form\""));
    let csrf = csrf(&page.body);
    let refused = web
        .post(
            "/registry/organisations",
            &[
                ("csrf", &csrf),
                ("id", "md-cert-police"),
                ("display_name", "Moldovan police CERT (demo)"),
                ("kind", "TC_AUTHORITY"),
                ("country", "ZZ"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("organisation.country"),
        "{}",
        refused.body
    );
    let added = web
        .post(
            "/registry/organisations",
            &[
                ("csrf", &csrf),
                ("id", "md-cert-police"),
                ("display_name", "Moldovan police CERT (demo)"),
                ("kind", "TC_AUTHORITY"),
                ("country", "MD"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert!(
        web.get("/registry")
            .await
            .body
            .contains("Moldovan police CERT (demo)")
    );
    let today = chrono::Utc::now().date_naive();
    let (start, end) = (
        today.to_string(),
        (today + chrono::Duration::days(180)).to_string(),
    );
    let committed = web
        .post(
            "/registry/commitments",
            &[
                ("csrf", &csrf),
                ("provider", "danube-cyber"),
                ("service", "INCIDENT_RESPONSE"),
                ("person_days", "25"),
                ("period_start", &start),
                ("period_end", &end),
            ],
        )
        .await;
    assert_eq!(committed.status, 303, "{}", committed.body);
    let commitments = app
        .registry()
        .await
        .list_capacity_commitments(authed(
            pb::ListCapacityCommitmentsRequest {
                provider: "providers/danube-cyber".into(),
                page_size: 10,
                page_token: String::new(),
            },
            &app.token("admin", "reserve"),
        ))
        .await
        .unwrap()
        .into_inner()
        .capacity_commitments;
    assert_eq!(commitments.len(), 1);
    assert_eq!(commitments[0].person_days, 25);
    app.stop().await;
}

/// An administrator creates a country and a provider, edits a provider and
/// an organisation, and imports a registry file (checked first; refused
/// whole, naming the record, when one is wrong), all through the
/// registry's forms, each refusal next to the input it names.
#[tokio::test]
async fn an_administrator_keeps_the_registry_through_its_forms() {
    let app = spawn_app().await;
    let addr = spawn_console(&app, true).await;
    let mut web = Web::new(addr);
    web.sign_in_as("reserve").await;
    let admin = app.token("admin", "reserve");
    let page = web.get("/registry").await;
    for link in [
        "/registry/countries/new",
        "/registry/providers/new",
        "/registry/import",
        "/registry/providers/nordic-ir",
        "/registry/organisations/md-csirt",
    ] {
        assert!(page.body.contains(&format!("href=\"{link}\"")), "{link}");
        assert_eq!(web.get(link).await.status, 200, "{link}");
    }
    let csrf = csrf(&page.body);

    // A new country; a refusal is placed next to its input.
    let country = |clearance: &'static str| {
        vec![
            ("code", "is"),
            ("display_name", "Iceland"),
            ("kind", "MEMBER_STATE"),
            ("required_languages", "is en"),
            ("required_clearance", clearance),
        ]
    };
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(country(""));
    let refused = web.post("/registry/countries", &fields).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains(r#"data-field="country.required_clearance""#)
    );
    assert!(refused.body.contains(r#"id="input-required_clearance" name="required_clearance" required aria-invalid="true""#), "{}", refused.body);
    assert!(
        refused.body.contains(r#"value="Iceland""#),
        "what was typed is kept"
    );
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(country("NONE"));
    let created = web.post("/registry/countries", &fields).await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location, "/registry/countries/IS");

    // A new provider, then changed.
    let provider = |hours: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("display_name", "Arctic IR ehf.".to_owned()),
            ("country", "IS".to_owned()),
            ("status", "ACTIVE".to_owned()),
            ("services", "INCIDENT_RESPONSE".to_owned()),
            ("services", "DIGITAL_FORENSICS".to_owned()),
            ("languages", "is, en".to_owned()),
            ("deployable_countries", "is".to_owned()),
            ("clearance", "NONE".to_owned()),
            ("certifications", "ISO 27001, CREST".to_owned()),
            ("hours_to_deploy", hours.to_owned()),
        ]
    };
    let mut new_provider = provider("12");
    new_provider.push(("id", "arctic-ir".to_owned()));
    let borrowed: Vec<(&str, &str)> = new_provider.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let created = web.post("/registry/providers", &borrowed).await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location, "/registry/providers/arctic-ir");
    let form = web.get("/registry/providers/arctic-ir").await;
    assert!(form.body.contains(r#"value="INCIDENT_RESPONSE" checked"#));
    assert!(form.body.contains(r#"value="ISO 27001, CREST""#));
    let zero = provider("0");
    let borrowed: Vec<(&str, &str)> = zero.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = web.post("/registry/providers/arctic-ir", &borrowed).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains(r#"data-field="provider.hours_to_deploy""#)
    );
    let eight = provider("8");
    let borrowed: Vec<(&str, &str)> = eight.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = web.post("/registry/providers/arctic-ir", &borrowed).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let arctic = app
        .registry()
        .await
        .get_provider(authed(
            pb::GetProviderRequest {
                name: "providers/arctic-ir".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(arctic.hours_to_deploy, 8);
    assert_eq!(arctic.services.len(), 2);
    assert_eq!(arctic.deployable_countries, ["IS"]);
    assert_eq!(arctic.certifications, ["ISO 27001", "CREST"]);

    // An organisation changed.
    let saved = web
        .post(
            "/registry/organisations/md-csirt",
            &[
                ("csrf", &csrf),
                ("display_name", "CERT-MD (renamed)"),
                ("kind", "TC_AUTHORITY"),
                ("country", "MD"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let organisation = app
        .registry()
        .await
        .get_organisation(authed(
            pb::GetOrganisationRequest {
                name: "organisations/md-csirt".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(organisation.display_name, "CERT-MD (renamed)");

    // A file, checked, then imported; a wrong one changes nothing.
    let file = "providers:\n  - id: arctic-ir\n    hours_to_deploy: 6\n\
                capacity_commitments:\n  - provider: providers/arctic-ir\n    service: INCIDENT_RESPONSE\n    person_days: 15\n    period_start: {year: 2026, month: 1, day: 1}\n    period_end: {year: 2027, month: 12, day: 31}\n";
    let checked = web
        .post_file(
            "/registry/import",
            &[("csrf", &csrf), ("action", "check")],
            "file",
            ("registry.yaml", file),
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked.body.contains("1 created, 1 updated, 0 unchanged"),
        "{}",
        checked.body
    );
    assert!(checked.body.contains("would change"));
    let hours = async |app: &TestApp| {
        app.registry()
            .await
            .get_provider(authed(
                pb::GetProviderRequest {
                    name: "providers/arctic-ir".into(),
                },
                &app.token("admin", "reserve"),
            ))
            .await
            .unwrap()
            .into_inner()
            .hours_to_deploy
    };
    assert_eq!(hours(&app).await, 8, "checking changes nothing");
    let wrong = format!(
        "{file}  - provider: providers/nobody\n    service: INCIDENT_RESPONSE\n    person_days: 1\n    period_start: {{year: 2026, month: 1, day: 1}}\n    period_end: {{year: 2026, month: 2, day: 1}}\n"
    );
    let refused = web
        .post_file(
            "/registry/import",
            &[("csrf", &csrf), ("action", "import")],
            "file",
            ("registry.yaml", &wrong),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains(r#"data-field="capacity_commitments[1].provider""#),
        "{}",
        refused.body
    );
    assert_eq!(hours(&app).await, 8, "a refused file changes nothing");
    // Pasted rather than chosen.
    let imported = web
        .post_file(
            "/registry/import",
            &[("csrf", &csrf), ("action", "import"), ("document", file)],
            "file",
            ("", ""),
        )
        .await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert!(
        imported.body.contains("1 created, 1 updated, 0 unchanged"),
        "{}",
        imported.body
    );
    assert_eq!(hours(&app).await, 6);
    // Only the import form takes a file.
    let elsewhere = web
        .post_file(
            "/registry/organisations/md-csirt",
            &[("csrf", &csrf), ("display_name", "x")],
            "file",
            ("registry.yaml", file),
        )
        .await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    // A form with a file still needs the session's token.
    let forged = web
        .post_file(
            "/registry/import",
            &[("csrf", "forged"), ("action", "import")],
            "file",
            ("registry.yaml", file),
        )
        .await;
    assert_eq!(forged.status, 403);

    // Not for other roles.
    let mut officer = Web::new(addr);
    officer.sign_in_as("enisa").await;
    assert_eq!(officer.get("/registry/providers/new").await.status, 403);
    assert_eq!(officer.get("/registry/import").await.status, 403);
    app.stop().await;
}
