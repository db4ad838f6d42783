//! The web console: pages rendered on the server for duty officers,
//! Commission officers, requesters and providers. Every page and form calls
//! the same use cases as the gRPC API with the signed-in person as the
//! actor, so the authorisation is the API's. Every action works without
//! JavaScript; a small script only refreshes parts of a page when events
//! arrive (`/live`, server-sent events).
//!
//! Security: sessions live in the database (only a hash of the cookie's
//! secret is stored) in an HttpOnly, SameSite=Lax cookie, `Secure` when the
//! console's public URL is `https`; every form carries the session's CSRF
//! token; the Content-Security-Policy allows only the console's own script
//! and style sheet.

mod audit;
mod filing;
mod format;
mod forms;
mod live;
mod pages;
mod pictures;
mod records;
mod registry;
mod reports;
mod session;

pub use session::{DEMO_USERS, DemoUser};

use std::{future::Future, sync::Arc};

use askama::Template;
use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use tokio::net::TcpListener;

use crate::app::{App, AppError};
use crate::auth::Verifier;
use crate::config::Settings;

/// How the console signs people in.
pub struct ConsoleOptions {
    /// Offer a sign-in as any demo user (development mode only).
    pub dev: bool,
    /// Mark the session cookie `Secure` (the console is reached over TLS).
    pub secure_cookies: bool,
    pub session_ttl: chrono::Duration,
    pub oidc: Option<Oidc>,
}

/// OpenID Connect sign-in: the browser goes to the identity provider and
/// comes back with a code, which the console exchanges (with its PKCE
/// verifier) for the ID token.
pub struct Oidc {
    pub provider: Arc<crate::auth::oidc::Oidc>,
    /// `{console_public_url}/sign-in/oidc/callback`.
    pub redirect_uri: String,
}

/// What every console handler shares.
pub struct Console {
    pub app: App,
    /// The keys and issuer the API trusts, for pasted bearer tokens.
    pub verifier: Arc<Verifier>,
    pub options: ConsoleOptions,
}

impl Console {
    /// The console of `reserve serve`, from its settings.
    pub fn from_settings(
        app: App,
        verifier: Arc<Verifier>,
        settings: &Settings,
    ) -> anyhow::Result<Console> {
        let public_url = settings.console_public_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}",
                settings
                    .console_addr
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            )
        });
        let public_url = public_url.trim_end_matches('/').to_owned();
        let oidc = verifier.oidc().map(|provider| Oidc {
            provider: provider.clone(),
            redirect_uri: format!("{public_url}/sign-in/oidc/callback"),
        });
        Ok(Console {
            app,
            verifier,
            options: ConsoleOptions {
                dev: settings.dev,
                secure_cookies: public_url.starts_with("https://"),
                session_ttl: chrono::Duration::hours(i64::from(
                    settings.console_session_hours.max(1),
                )),
                oidc,
            },
        })
    }
}

pub type Shared = Arc<Console>;

/// Every route of the console.
pub fn router(console: Shared) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/queue", get(pages::queue))
        .route("/requests", get(pages::requests))
        .route("/requests/new", get(filing::new).post(filing::create))
        .route("/requests/{id}", get(pages::request))
        .route(
            "/requests/{id}/edit",
            get(filing::edit).post(filing::update),
        )
        .route("/requests/{id}/submit", post(filing::submit))
        .route("/requests/{id}/withdraw", post(filing::withdraw))
        .route("/requests/{id}/authorise", post(pages::authorise))
        .route("/requests/{id}/reject", post(pages::reject))
        .route("/requests/{id}/ask", post(pages::ask))
        .route("/requests/{id}/transmit", post(pages::transmit))
        .route("/requests/{id}/return", post(pages::give_back))
        .route(
            "/requests/{id}/dispatch",
            get(pages::proposal).post(pages::approve),
        )
        .route("/requests/{id}/report", post(pages::report))
        .route("/capacity", get(pages::capacity))
        .route("/registry", get(registry::overview))
        .route(
            "/registry/organisations",
            post(registry::create_organisation),
        )
        .route("/registry/commitments", post(registry::create_commitment))
        .route("/registry/countries", post(records::create_country))
        .route("/registry/countries/new", get(records::new_country))
        .route(
            "/registry/countries/{code}",
            get(registry::country).post(registry::update_country),
        )
        .route("/registry/providers", post(records::create_provider))
        .route("/registry/providers/new", get(records::new_provider))
        .route(
            "/registry/providers/{id}",
            get(records::provider).post(records::update_provider),
        )
        .route(
            "/registry/organisations/{id}",
            get(records::organisation).post(records::update_organisation),
        )
        .route(
            "/registry/import",
            get(records::import_form).post(records::import).layer(
                axum::extract::DefaultBodyLimit::max(session::MAX_UPLOAD_BYTES + 64 * 1024),
            ),
        )
        .route("/reports", get(reports::list))
        .route("/audit", get(audit::trail))
        .route("/audit/verify", post(audit::verify))
        .route("/audit/export", get(audit::export))
        .route("/reports/{file}", get(reports::download))
        .route("/offers", get(pages::offers))
        .route("/offers/{id}/accept", post(pages::accept))
        .route("/offers/{id}/decline", post(pages::decline))
        .route("/offers/{id}/agreement", post(pages::agree))
        .route("/offers/{id}/complete", post(pages::complete))
        .route(
            "/notifications",
            get(pages::notifications).post(pages::subscribe),
        )
        .route("/notifications/{id}/delete", post(pages::unsubscribe))
        .route("/live", get(live::stream))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-in/dev", post(session::sign_in_dev))
        .route("/sign-in/oidc", get(session::oidc_start))
        .route("/sign-in/oidc/callback", get(session::oidc_callback))
        .route("/sign-out", post(session::sign_out))
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .route("/assets/icon.svg", get(icon))
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// Serves the console on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    console: Shared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let live = console.app.events.clone();
    axum::serve(listener, router(console))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Live streams would hold the shutdown: the bus ends them.
            live.close();
        })
        .await
}

/// The Content-Security-Policy: the console's own script and styles only,
/// no inline code, no framing, forms posting only to the console.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Pages carry what only the signed-in person may see: never cached.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

async fn icon() -> Response {
    asset("image/svg+xml", include_str!("assets/icon.svg"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn not_found() -> PageError {
    PageError::NotFound("There is no such page.".into())
}

/// Why a page or form could not be served; each is a page of its own with
/// the matching HTTP status.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in (or the session ended): go to the sign-in page, and
    /// from there back to `next`.
    SignIn {
        next: Option<String>,
    },
    BadRequest(String),
    /// A form's CSRF token is missing or wrong.
    Forgery,
    Forbidden(String),
    NotFound(String),
    /// The use case refused: the message, and the fields at fault.
    Refused {
        status: StatusCode,
        message: String,
        fields: Vec<(String, String)>,
        back: Option<String>,
    },
    Unavailable(String),
}

const CORRECT_FIELDS: &str = "Some fields need correcting.";

impl PageError {
    /// The use case's error, with the page to go back to.
    pub fn from_app(err: AppError, back: Option<String>) -> Self {
        match err {
            AppError::NotFound(m) => PageError::NotFound(m),
            AppError::PermissionDenied(m) => PageError::Forbidden(m),
            AppError::Invalid(v) => PageError::Refused {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: CORRECT_FIELDS.into(),
                fields: v
                    .iter()
                    .map(|f| (f.field.clone(), f.description.clone()))
                    .collect(),
                back,
            },
            AppError::FailedPrecondition(m) | AppError::AlreadyExists(m) => PageError::Refused {
                status: StatusCode::CONFLICT,
                message: m,
                fields: Vec::new(),
                back,
            },
            AppError::Aborted(m) => PageError::Refused {
                status: StatusCode::CONFLICT,
                message: format!("{m}. Someone changed it meanwhile: open it again."),
                fields: Vec::new(),
                back,
            },
            AppError::Database(e) => {
                tracing::error!(error = %e, "console: database error");
                PageError::Unavailable(
                    "The service cannot reach its database; try again in a moment.".into(),
                )
            }
        }
    }
}

impl From<AppError> for PageError {
    fn from(err: AppError) -> Self {
        PageError::from_app(err, None)
    }
}

impl From<crate::domain::validation::Violations> for PageError {
    fn from(v: crate::domain::validation::Violations) -> Self {
        PageError::from_app(AppError::Invalid(v), None)
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    title: String,
    message: String,
    fields: Vec<(String, String)>,
    back: Option<String>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message, fields, back) = match self {
            PageError::SignIn { next } => {
                let to = match next {
                    Some(next) => format!(
                        "/sign-in?{}",
                        serde_urlencoded::to_string([("next", next)]).expect("a string encodes")
                    ),
                    None => "/sign-in".to_owned(),
                };
                return Redirect::to(&to).into_response();
            }
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m, vec![], None),
            PageError::Forgery => (
                StatusCode::FORBIDDEN,
                "Form refused",
                "The form was not sent from this console (its CSRF token is missing or wrong). \
                 Open the page again and resend it."
                    .to_owned(),
                vec![],
                None,
            ),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m, vec![], None),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m, vec![], None),
            PageError::Refused {
                status,
                message,
                fields,
                back,
            } => (status, "Not done", message, fields, back),
            PageError::Unavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                m,
                vec![],
                None,
            ),
        };
        let page = ErrorPage {
            title: title.to_owned(),
            message,
            fields,
            back,
        };
        (status, render(&page)).into_response()
    }
}

/// A rendered template as an HTML response.
pub fn render<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => axum::response::Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "console: a template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}
