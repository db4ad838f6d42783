//! From settings to a running application: keys, database, migrations, seed.

use std::{str::FromStr, sync::Arc};

use anyhow::Context;
use migration::{Migrator, MigratorTrait};

use crate::app::App;
use crate::auth::{Verifier, VerifierBuilder};
use crate::config::Settings;
use crate::domain::eligibility::RuleSet;
use crate::metrics::Metrics;
use crate::{seed, server, store};

/// The keys the server trusts, from the settings.
pub fn verifier(settings: &Settings) -> anyhow::Result<Verifier> {
    let mut builder = VerifierBuilder::new(&settings.jwt_issuer, &settings.jwt_audience);
    if let Some(path) = &settings.jwt_public_key_file {
        let algorithm = jsonwebtoken::Algorithm::from_str(&settings.jwt_algorithm)
            .with_context(|| format!("jwt_algorithm `{}`", settings.jwt_algorithm))?;
        builder = builder.pem_file(path, algorithm, settings.jwt_key_id.clone())?;
    }
    if let Some(path) = &settings.jwt_jwks_file {
        builder = builder.jwks_file(path)?;
    }
    if let Some(path) = &settings.jwt_hs256_secret_file {
        anyhow::ensure!(
            settings.dev,
            "an HS256 secret is accepted only in development mode (--dev)"
        );
        builder = builder.hs256_secret_file(path)?;
    }
    if settings.dev {
        tracing::warn!(
            key = %settings.dev_key_file.display(),
            "development mode: tokens signed with the local development key are trusted"
        );
        builder = builder.dev_key(&settings.dev_key_file)?;
    }
    if let Some(oidc) = oidc(settings)? {
        builder = builder.oidc(oidc);
    }
    Ok(builder.build()?)
}

/// The OpenID Connect provider of `oidc_issuer`, if one is set.
pub fn oidc(
    settings: &Settings,
) -> anyhow::Result<Option<std::sync::Arc<crate::auth::oidc::Oidc>>> {
    let Some(issuer) = &settings.oidc_issuer else {
        return Ok(None);
    };
    anyhow::ensure!(
        issuer.starts_with("https://") || settings.dev || issuer.starts_with("http://127.0.0.1"),
        "oidc_issuer must be an https URL (http only for a provider on 127.0.0.1, or with --dev)"
    );
    let client_secret = match &settings.console_oidc_client_secret_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    Ok(Some(std::sync::Arc::new(crate::auth::oidc::Oidc::new(
        crate::auth::oidc::OidcConfig {
            issuer: issuer.clone(),
            api_audience: settings
                .oidc_audience
                .clone()
                .unwrap_or_else(|| settings.jwt_audience.clone()),
            client_id: settings
                .console_oidc_client_id
                .clone()
                .unwrap_or_else(|| settings.jwt_audience.clone()),
            client_secret,
            scopes: settings.oidc_scopes.clone(),
            role_claim: settings.oidc_role_claim.clone(),
            org_claim: settings.oidc_org_claim.clone(),
            min_refresh: std::time::Duration::from_secs(settings.oidc_jwks_min_refresh_secs),
        },
    ))))
}

/// The eligibility rule set shipped with the service.
pub const DEFAULT_RULES: &str = include_str!("../rules/csa-v1.toml");

/// The rule set in force: `rules_file` when set, else the one shipped.
pub fn rules(settings: &Settings) -> anyhow::Result<RuleSet> {
    let text = match &settings.rules_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the rule set {}", path.display()))?,
        None => DEFAULT_RULES.to_owned(),
    };
    let rules: RuleSet = toml::from_str(&text).context("the rule set is not valid")?;
    rules.check()?;
    Ok(rules)
}

/// Connects, migrates (when configured) and seeds (when asked).
pub async fn app(settings: &Settings) -> anyhow::Result<App> {
    let db = store::connect_with(
        &settings.database_url,
        settings.db_max_connections,
        std::time::Duration::from_millis(settings.db_statement_timeout_ms),
    )
    .await
    .with_context(|| {
        format!(
            "cannot open the database at {}",
            redact(&settings.database_url)
        )
    })?;
    if settings.migrate_on_start {
        Migrator::up(&db, None)
            .await
            .context("applying migrations")?;
    }
    let app = App::new(db, rules(settings)?)
        .with_metrics(metrics()?)
        .with_log(audit_log(settings)?)
        .with_notify(crate::app::notify::NotifyConfig {
            smtp_url: settings.smtp_url.clone(),
            smtp_from: settings.smtp_from.clone(),
            console_url: settings
                .console_public_url
                .clone()
                .or_else(|| settings.console_addr.map(|a| format!("http://{a}"))),
        });
    if settings.seed_demo {
        seed::demo(&app)
            .await
            .context("loading the demo registry")?;
        // In development, capacity too, so the first run can dispatch.
        if settings.dev {
            seed::demo_capacity(&app)
                .await
                .context("loading the demo capacity")?;
        }
    }
    // The current period's usage reports fall due at its end.
    if let Err(err) = crate::app::usage::schedule(&app).await {
        tracing::warn!(error = %err, "cannot schedule the usage reports");
    }
    Ok(app)
}

/// How the audit log is kept: its origin, and the key that signs its
/// checkpoints (made on first use next to the development key in
/// development mode).
pub fn audit_log(settings: &Settings) -> anyhow::Result<crate::app::log::AuditLog> {
    use crate::auth::DevKey;
    let key = match &settings.log_signing_key_file {
        Some(path) => {
            anyhow::ensure!(
                path.exists(),
                "the log signing key {} does not exist (reserve log-key generate --out FILE)",
                path.display()
            );
            Some(DevKey::load_or_create(path)?.into_signing_key())
        }
        None if settings.dev => Some(
            DevKey::load_or_create(&settings.dev_key_file.with_file_name("dev-log-ed25519.pem"))?
                .into_signing_key(),
        ),
        None => {
            tracing::warn!(
                "no log_signing_key_file: the audit log's checkpoints are not signed, and none \
                 is served"
            );
            None
        }
    };
    Ok(crate::app::log::AuditLog {
        origin: settings.log_origin.clone(),
        signer: key.map(|key| {
            crate::domain::checkpoint::NoteSigner::new(settings.log_origin.clone(), key)
        }),
        checkpoint_every: std::time::Duration::from_secs(settings.log_checkpoint_secs),
    })
}

/// The metrics' instruments: read by the Prometheus endpoint, and pushed
/// over OTLP when the `OTEL_*` variables name a collector.
pub fn metrics() -> anyhow::Result<Metrics> {
    if !crate::telemetry::otlp_wanted("METRICS") {
        return Ok(Metrics::new(None));
    }
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .build()
        .context("the OTLP metrics exporter")?;
    // The interval follows OTEL_METRIC_EXPORT_INTERVAL (default 60 s).
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter).build();
    Ok(Metrics::new(Some(reader)))
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let verifier = Arc::new(verifier(&settings)?);
    let app = app(&settings).await?;
    let listener = server::bind(settings.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen_addr))?;
    tracing::info!(addr = %listener.local_addr()?, database = %redact(&settings.database_url), "reserve-dispatch serving");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut background = Vec::new();
    if let Some(addr) = settings.metrics_addr {
        let listener = server::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        tracing::info!(addr = %listener.local_addr()?, "serving Prometheus metrics at /metrics");
        background.push(tokio::spawn({
            let app = app.clone();
            let stopped = until_stopped();
            async move {
                if let Err(err) = crate::metrics::serve(listener, app, stopped).await {
                    tracing::error!(error = %err, "the metrics endpoint failed");
                }
            }
        }));
    }
    if let Some(addr) = settings.console_addr {
        let listener = server::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the console"))?;
        tracing::info!(addr = %listener.local_addr()?, "serving the web console");
        let console = Arc::new(crate::console::Console::from_settings(
            app.clone(),
            verifier.clone(),
            &settings,
        )?);
        background.push(tokio::spawn({
            let stopped = until_stopped();
            async move {
                if let Err(err) = crate::console::serve(listener, console, stopped).await {
                    tracing::error!(error = %err, "the console failed");
                }
            }
        }));
    }
    if crate::telemetry::otlp_wanted("METRICS") {
        background.push(tokio::spawn(crate::metrics::refresh_every(
            app.clone(),
            std::time::Duration::from_secs(15),
            until_stopped(),
        )));
    }
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(crate::worker::run(
        app.clone(),
        std::time::Duration::from_secs(1),
        async {
            let _ = worker_stopped.await;
        },
    ));
    let metrics_handle = app.metrics.clone();
    server::serve_with(
        listener,
        app,
        verifier,
        tls(&settings)?,
        settings.limits(),
        settings.bench_ping,
        server::shutdown_signal(),
    )
    .await?;
    let _ = stop_worker.send(());
    let _ = worker.await;
    let _ = stop.send(true);
    for task in background {
        let _ = task.await;
    }
    metrics_handle.flush();
    tracing::info!("stopped");
    Ok(())
}

/// The TLS configuration from the settings, if any.
pub fn tls(settings: &Settings) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
    let read = |p: &std::path::PathBuf| {
        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
    };
    match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => {
            let ca = settings.tls_client_ca_file.as_ref().map(read).transpose()?;
            Ok(Some(server::tls_config(
                &read(cert)?,
                &read(key)?,
                ca.as_deref(),
            )))
        }
        (None, None) => {
            anyhow::ensure!(
                settings.tls_client_ca_file.is_none(),
                "client certificates (tls_client_ca_file) need TLS: give tls_cert_file and tls_key_file"
            );
            Ok(None)
        }
        _ => anyhow::bail!("TLS needs both tls_cert_file and tls_key_file"),
    }
}

/// A database URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            super::redact("sqlite://reserve.db?mode=rwc"),
            "sqlite://reserve.db?mode=rwc"
        );
    }
}
