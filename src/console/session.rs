//! Signing in and out, the session cookie, and the CSRF check of every form.

use askama::Template;
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Query, Request, State},
    http::request::Parts,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{PageError, Shared, render};
use crate::domain::actor::{Actor, Operation, Role};
use crate::store;

const SESSION_COOKIE: &str = "reserve_session";
/// Before sign-in: the token the sign-in forms carry against login CSRF.
const SIGN_IN_COOKIE: &str = "reserve_sign_in";
/// During an OpenID Connect sign-in: its `state` and `nonce`.
const OIDC_COOKIE: &str = "reserve_oidc";
/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Largest form with a file (the registry's import form): the largest
/// registry file and the form around it.
pub const MAX_UPLOAD_BYTES: usize = crate::domain::command::registry::IMPORT_BYTES + MAX_FORM_BYTES;

/// `next` if it is a path of this console (not another site's address).
pub fn safe_next(next: &str) -> Option<String> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/sign-")
        && next.len() <= 512
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    ok.then(|| next.to_owned())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signed-in person.
#[derive(Debug, Clone)]
pub struct User {
    pub actor: Actor,
    /// The session's CSRF token, which every form of its pages carries.
    pub csrf: String,
    id_hash: String,
}

impl User {
    pub fn role(&self) -> Role {
        self.actor.role
    }

    /// The person, if their role may do `operation` at all: the first step
    /// of every page and form, before anything sent is read.
    pub fn permit(&self, operation: Operation) -> Result<&Actor, PageError> {
        self.actor
            .permit(operation)
            .map_err(|denied| PageError::Forbidden(denied.to_string()))?;
        Ok(&self.actor)
    }
}

impl FromRequestParts<Shared> for User {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, console: &Shared) -> Result<Self, PageError> {
        // A page opened from a link comes back to itself after the sign-in.
        let sign_in = || PageError::SignIn {
            next: (parts.method == axum::http::Method::GET
                && !matches!(parts.uri.path(), "/" | "/live"))
            .then(|| parts.uri.to_string())
            .and_then(|uri| safe_next(&uri)),
        };
        let jar = CookieJar::from_headers(&parts.headers);
        let secret = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or_else(sign_in)?;
        let id_hash = hash(&secret);
        let session = store::sessions::find(&console.app.db, &id_hash, console.app.now())
            .await
            .map_err(|e| PageError::from(crate::app::AppError::Database(e)))?
            .ok_or_else(sign_in)?;
        let role = session.role.parse::<Role>().map_err(|_| sign_in())?;
        Ok(User {
            actor: Actor {
                subject: session.subject,
                role,
                organisation: session.organisation,
            },
            csrf: session.csrf,
            id_hash,
        })
    }
}

/// A posted form of a signed-in page, its CSRF token checked.
pub struct Posted {
    pub user: User,
    pub fields: Vec<(String, String)>,
}

impl Posted {
    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// Every value of `name` (checkboxes, multiple selects).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

async fn form_fields(
    request: Request,
    console: &Shared,
    files: bool,
) -> Result<Vec<(String, String)>, PageError> {
    let unread = || PageError::BadRequest("The form could not be read.".into());
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/form-data"));
    if multipart && !files {
        return Err(PageError::BadRequest(
            "This form takes no file: it is not multipart.".into(),
        ));
    }
    if multipart {
        // A form with a file: each part as text (a file's content).
        let mut form = axum::extract::Multipart::from_request(request, console)
            .await
            .map_err(|_| unread())?;
        let mut fields = Vec::new();
        let mut size = 0;
        while let Some(part) = form.next_field().await.map_err(|_| unread())? {
            let name = part.name().unwrap_or_default().to_owned();
            let text = part.text().await.map_err(|_| unread())?;
            size += text.len();
            if size > MAX_UPLOAD_BYTES {
                return Err(PageError::BadRequest("The form is too large.".into()));
            }
            fields.push((name, text));
        }
        return Ok(fields);
    }
    let body = Bytes::from_request(request, console)
        .await
        .map_err(|_| unread())?;
    if body.len() > MAX_FORM_BYTES {
        return Err(PageError::BadRequest("The form is too large.".into()));
    }
    serde_urlencoded::from_bytes(&body)
        .map_err(|_| PageError::BadRequest("The form is not URL-encoded.".into()))
}

impl Posted {
    async fn read(request: Request, console: &Shared, files: bool) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let user = User::from_request_parts(&mut parts, console).await?;
        let fields = form_fields(Request::from_parts(parts, body), console, files).await?;
        let posted = Posted { user, fields };
        if !same(posted.get("csrf"), &posted.user.csrf) {
            return Err(PageError::Forgery);
        }
        Ok(posted)
    }
}

impl FromRequest<Shared> for Posted {
    type Rejection = PageError;

    async fn from_request(request: Request, console: &Shared) -> Result<Self, PageError> {
        Posted::read(request, console, false).await
    }
}

/// A form that may carry a file (`multipart/form-data`, up to
/// [`MAX_UPLOAD_BYTES`]): the registry's import form only.
pub struct PostedFile(pub Posted);

impl FromRequest<Shared> for PostedFile {
    type Rejection = PageError;

    async fn from_request(request: Request, console: &Shared) -> Result<Self, PageError> {
        Posted::read(request, console, true).await.map(PostedFile)
    }
}

/// A demo user offered by the development sign-in.
pub struct DemoUser {
    pub label: &'static str,
    pub role: Role,
    pub organisation: &'static str,
    pub subject: &'static str,
}

/// The people of the demo registry (see the README's token table).
pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        label: "ENISA duty officer",
        role: Role::DutyOfficer,
        organisation: "enisa",
        subject: "duty1",
    },
    DemoUser {
        label: "Commission officer",
        role: Role::Commission,
        organisation: "ec",
        subject: "officer1",
    },
    DemoUser {
        label: "Moldova's single point of contact",
        role: Role::Requester,
        organisation: "md-spoc",
        subject: "ana",
    },
    DemoUser {
        label: "A Moldovan CSIRT (its requests go through the contact point)",
        role: Role::Requester,
        organisation: "md-csirt",
        subject: "ion",
    },
    DemoUser {
        label: "Romania's national CSIRT",
        role: Role::Requester,
        organisation: "ro-csirt",
        subject: "maria",
    },
    DemoUser {
        label: "CERT-EU",
        role: Role::Requester,
        organisation: "cert-eu",
        subject: "lea",
    },
    DemoUser {
        label: "Provider Nordic Incident Response",
        role: Role::Provider,
        organisation: "nordic-ir",
        subject: "responder1",
    },
    DemoUser {
        label: "Provider Danube Cyber Defence",
        role: Role::Provider,
        organisation: "danube-cyber",
        subject: "responder2",
    },
    DemoUser {
        label: "Provider Iberia Forensics",
        role: Role::Provider,
        organisation: "iberia-forensics",
        subject: "responder3",
    },
    DemoUser {
        label: "Registry administrator",
        role: Role::Admin,
        organisation: "reserve",
        subject: "admin1",
    },
    DemoUser {
        label: "Auditor",
        role: Role::Auditor,
        organisation: "oversight",
        subject: "auditor1",
    },
];

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    csrf: String,
    /// Where to go once signed in.
    next: String,
    dev: bool,
    oidc: bool,
    demo_users: &'a [DemoUser],
    error: Option<String>,
}

fn sign_in_cookie(jar: CookieJar, console: &Shared) -> (CookieJar, String) {
    if let Some(existing) = jar.get(SIGN_IN_COOKIE) {
        let value = existing.value().to_owned();
        return (jar, value);
    }
    let value = random_token();
    let cookie = Cookie::build((SIGN_IN_COOKIE, value.clone()))
        .path("/sign-in")
        .http_only(true)
        .secure(console.options.secure_cookies)
        .same_site(SameSite::Strict)
        .build();
    (jar.add(cookie), value)
}

fn sign_in_form(
    console: &Shared,
    csrf: String,
    next: Option<String>,
    error: Option<String>,
) -> SignInPage<'static> {
    SignInPage {
        csrf,
        next: next.unwrap_or_default(),
        dev: console.options.dev,
        oidc: console.options.oidc.is_some(),
        demo_users: DEMO_USERS,
        error,
    }
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn sign_in_page(
    State(console): State<Shared>,
    jar: CookieJar,
    Query(query): Query<NextQuery>,
) -> Response {
    let (jar, csrf) = sign_in_cookie(jar, &console);
    let page = sign_in_form(&console, csrf, safe_next(&query.next), None);
    (jar, render(&page)).into_response()
}

/// The fields of a sign-in form, its token checked against the cookie.
async fn sign_in_fields(
    request: Request,
    console: &Shared,
) -> Result<(CookieJar, Vec<(String, String)>), PageError> {
    let jar = CookieJar::from_headers(request.headers());
    let fields = form_fields(request, console, false).await?;
    let sent = field(&fields, "csrf");
    match jar.get(SIGN_IN_COOKIE) {
        Some(expected) if same(sent, expected.value()) => Ok((jar, fields)),
        _ => Err(PageError::Forgery),
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

/// Signs in with a bearer token (a JWT from the issuer the API trusts).
pub async fn sign_in(State(console): State<Shared>, request: Request) -> Response {
    let (jar, fields) = match sign_in_fields(request, &console).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let next = safe_next(field(&fields, "next"));
    match console
        .verifier
        .verify_bearer(field(&fields, "token"))
        .await
    {
        Ok(actor) => start_session(&console, jar, actor, next).await,
        Err(err) => {
            tracing::info!(error = %err, "console: sign-in refused");
            let csrf = field(&fields, "csrf").to_owned();
            let page = sign_in_form(
                &console,
                csrf,
                next,
                Some("The token was refused: it is not valid, has expired, or was not issued for this service.".into()),
            );
            (axum::http::StatusCode::UNAUTHORIZED, jar, render(&page)).into_response()
        }
    }
}

/// Development mode: signs in as one of the demo users.
pub async fn sign_in_dev(State(console): State<Shared>, request: Request) -> Response {
    if !console.options.dev {
        return PageError::NotFound("There is no such page.".into()).into_response();
    }
    let (jar, fields) = match sign_in_fields(request, &console).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let Some(user) = field(&fields, "user")
        .parse::<usize>()
        .ok()
        .and_then(|i| DEMO_USERS.get(i))
    else {
        return PageError::BadRequest("Choose a demo user.".into()).into_response();
    };
    let actor = Actor {
        subject: user.subject.to_owned(),
        role: user.role,
        organisation: user.organisation.to_owned(),
    };
    let next = safe_next(field(&fields, "next"));
    start_session(&console, jar, actor, next).await
}

/// OpenID Connect: sends the browser to the identity provider, with a
/// PKCE challenge (RFC 7636), a `state` and a `nonce`, all kept in a
/// short-lived cookie of this browser.
pub async fn oidc_start(
    State(console): State<Shared>,
    jar: CookieJar,
    Query(after): Query<NextQuery>,
) -> Response {
    let Some(oidc) = &console.options.oidc else {
        return PageError::NotFound("OpenID Connect sign-in is not configured.".into())
            .into_response();
    };
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    let url = match oidc
        .provider
        .authorization_url(
            &oidc.redirect_uri,
            &state,
            &nonce,
            &crate::auth::oidc::pkce_pair(&verifier),
        )
        .await
    {
        Ok(url) => url,
        Err(err) => {
            tracing::warn!(error = %err, "console: the identity provider cannot be reached");
            return PageError::Unavailable(
                "The identity provider cannot be reached; try again in a moment.".into(),
            )
            .into_response();
        }
    };
    // The provider sends the browser back with a top-level GET, which
    // carries a Lax cookie. Where to go afterwards travels with the attempt.
    let next = URL_SAFE_NO_PAD.encode(safe_next(&after.next).unwrap_or_default());
    let cookie = Cookie::build((OIDC_COOKIE, format!("{state}.{nonce}.{verifier}.{next}")))
        .path("/sign-in/oidc")
        .http_only(true)
        .secure(console.options.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::minutes(10))
        .build();
    (jar.add(cookie), Redirect::to(&url)).into_response()
}

/// What the identity provider sends the browser back with.
#[derive(Debug, serde::Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// OpenID Connect: the browser comes back with a code, exchanged for the ID
/// token with the PKCE verifier; the ID token must answer this sign-in
/// (`nonce`) and be the console's (`aud`).
pub async fn oidc_callback(
    State(console): State<Shared>,
    jar: CookieJar,
    Query(back): Query<Callback>,
) -> Response {
    let Some(oidc) = &console.options.oidc else {
        return PageError::NotFound("OpenID Connect sign-in is not configured.".into())
            .into_response();
    };
    let attempt = jar.get(OIDC_COOKIE).map(|c| {
        let mut parts = c.value().splitn(4, '.').map(str::to_owned);
        let state = parts.next().unwrap_or_default();
        let nonce = parts.next().unwrap_or_default();
        let verifier = parts.next().unwrap_or_default();
        let next = parts
            .next()
            .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
            .and_then(|n| String::from_utf8(n).ok())
            .and_then(|n| safe_next(&n));
        (state, nonce, verifier, next)
    });
    let Some((state, nonce, verifier, next)) =
        attempt.filter(|(s, n, v, _)| !s.is_empty() && !n.is_empty() && !v.is_empty())
    else {
        return PageError::Forgery.into_response();
    };
    // `state` ties the answer to this browser's sign-in.
    if !same(&back.state, &state) {
        return PageError::Forgery.into_response();
    }
    // Whatever the outcome, this attempt is over.
    let jar = jar.remove(Cookie::build(OIDC_COOKIE).path("/sign-in/oidc"));
    if !back.error.is_empty() || back.code.is_empty() {
        let refused = PageError::Forbidden(format!(
            "The identity provider refused the sign-in: {}",
            if back.error.is_empty() {
                "no code"
            } else {
                back.error.as_str()
            }
        ));
        return (jar, refused).into_response();
    }
    let provider = &oidc.provider;
    let signed_in = async {
        let id_token = provider
            .exchange(&back.code, &verifier, &oidc.redirect_uri)
            .await?;
        provider
            .verify(&id_token, &provider.config.client_id, Some(&nonce))
            .await
    }
    .await;
    match signed_in {
        Ok((actor, _)) => start_session(&console, jar, actor, next).await,
        Err(err) => {
            tracing::info!(error = %err, "console: OpenID Connect sign-in refused");
            let refused =
                PageError::Forbidden("The identity provider's sign-in was refused.".into());
            (jar, refused).into_response()
        }
    }
}

async fn start_session(
    console: &Shared,
    jar: CookieJar,
    actor: Actor,
    next: Option<String>,
) -> Response {
    let secret = random_token();
    let now = console.app.now();
    let session = store::sessions::Session {
        id_hash: hash(&secret),
        subject: actor.subject.clone(),
        role: actor.role.as_str().to_owned(),
        organisation: actor.organisation.clone(),
        csrf: random_token(),
        created_at: now,
        expires_at: now + console.options.session_ttl,
    };
    let stored = async {
        let txn = store::begin(&console.app.db).await?;
        store::sessions::purge_expired(&txn, now).await?;
        store::sessions::insert(&txn, session).await?;
        txn.commit().await
    }
    .await;
    if let Err(err) = stored {
        return PageError::from(crate::app::AppError::Database(err)).into_response();
    }
    tracing::info!(subject = %actor.subject, role = %actor.role, organisation = %actor.organisation, "console: signed in");
    let cookie = Cookie::build((SESSION_COOKIE, secret))
        .path("/")
        .http_only(true)
        .secure(console.options.secure_cookies)
        .same_site(SameSite::Lax)
        .build();
    let jar = jar
        .remove(Cookie::build(SIGN_IN_COOKIE).path("/sign-in"))
        .add(cookie);
    let to = next.unwrap_or_else(|| "/".to_owned());
    (jar, Redirect::to(&to)).into_response()
}

pub async fn sign_out(State(console): State<Shared>, jar: CookieJar, posted: Posted) -> Response {
    let deleted = async {
        let txn = store::begin(&console.app.db).await?;
        store::sessions::delete(&txn, &posted.user.id_hash).await?;
        txn.commit().await
    }
    .await;
    if let Err(err) = deleted {
        return PageError::from(crate::app::AppError::Database(err)).into_response();
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    (jar, Redirect::to("/sign-in")).into_response()
}
