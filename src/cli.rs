//! The `reserve` command line.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use serde::Serialize;

use crate::auth::{DevKey, claims_for};
use crate::config::Settings;
use crate::{seed, startup, store};

#[derive(Debug, Parser)]
#[command(
    name = "reserve",
    version,
    about = "EU Cybersecurity Reserve: request and dispatch service",
    after_help = crate::client::EXIT_HELP
)]
pub struct Cli {
    /// Configuration file (TOML); `reserve.toml` is read when present.
    #[arg(long, global = true, env = "RESERVE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `reserve log-key`.
#[derive(Debug, Subcommand)]
pub enum LogKeyAction {
    /// Write a new key (PKCS#8 PEM, readable by its owner only) and print
    /// its verifier key, to publish.
    Generate {
        #[arg(long)]
        out: PathBuf,
        /// The log's origin, the key's name [default: `log_origin`].
        #[arg(long)]
        origin: Option<String>,
    },
    /// Print the verifier key of a key file.
    Show {
        file: PathBuf,
        #[arg(long)]
        origin: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC service.
    Serve(ServeArgs),
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Load registry data.
    Seed {
        /// Load the demo registry (Member States, CERT-EU, Moldova, Ukraine, providers).
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Ask a server whether it is serving (`grpc.health.v1`): exit 0 when it
    /// is, 1 otherwise; for container health checks.
    Health(crate::client::health::HealthArgs),
    /// Load-test a server started for the purpose, with ceilings to compare.
    Bench(crate::bench::BenchArgs),
    /// Print a development token signed with the local development key.
    Token(TokenArgs),
    /// The Ed25519 key that signs the audit log's checkpoints.
    LogKey {
        #[command(subcommand)]
        action: LogKeyAction,
    },
    /// The audit trail: watch events live, verify the hash chain, export it.
    ///
    /// `verify` and `export` read the database directly when one is named
    /// (`--database-url` or RESERVE_DATABASE_URL), and ask the server otherwise.
    #[command(after_help = crate::client::EXIT_HELP)]
    Audit {
        #[command(subcommand)]
        action: crate::client::audit::AuditAction,
        #[command(flatten)]
        db: AuditDbArgs,
        #[command(flatten)]
        connection: crate::client::Connection,
    },
    /// Capacity reports, as a client of a running server.
    #[command(after_help = crate::client::EXIT_HELP)]
    Capacity {
        #[command(flatten)]
        connection: crate::client::Connection,
        #[command(subcommand)]
        command: crate::client::CapacityCommand,
    },
    /// Usage reports (Art. 16(11)-(12)): one computed now, or those produced
    /// for each period, and their transmission.
    #[command(after_help = crate::client::EXIT_HELP)]
    Usage {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::UsageCommand,
    },
    /// Unused capacity converted into preparedness services (Art. 14(2)).
    #[command(after_help = crate::client::EXIT_HELP)]
    Conversion {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::preparedness::ConversionCommand,
    },
    /// Support requests (requesters): create, edit, submit, show, list, withdraw, report.
    #[command(after_help = crate::client::EXIT_HELP)]
    Request {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::requests::RequestCommand,
    },
    /// Decisions (duty and Commission officers): the queue, authorise, reject, ask.
    #[command(after_help = crate::client::EXIT_HELP)]
    Decide {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::decide::DecideCommand,
    },
    /// Dispatch (duty officers): propose providers, approve a plan, close.
    #[command(after_help = crate::client::EXIT_HELP)]
    Dispatch {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::dispatch::DispatchCommand,
    },
    /// Offers (providers): list, accept, decline, record the agreement.
    #[command(after_help = crate::client::EXIT_HELP)]
    Offer {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::provider::OfferCommand,
    },
    /// Assignments (providers): list, complete.
    #[command(after_help = crate::client::EXIT_HELP)]
    Assignment {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::provider::AssignmentCommand,
    },
    /// The registry (administrators): import, export, list.
    #[command(after_help = crate::client::EXIT_HELP)]
    Registry {
        #[command(flatten)]
        client: crate::client::ClientArgs,
        #[command(subcommand)]
        command: crate::client::registry::RegistryCommand,
    },
}

/// Flags of `serve`; each overrides the file and the environment.
#[derive(Debug, clap::Args, Serialize)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<SocketAddr>,
    /// Database URL [default: sqlite://reserve.db?mode=rwc].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Development mode: trust the local development key.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
    /// Load the demo registry on start.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub seed_demo: bool,
    /// PEM public key trusted for tokens.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Algorithm of that key: EdDSA, ES256, RS256 [default: EdDSA].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_algorithm: Option<String>,
    /// Key id (`kid`) of that key; tokens naming another key id are refused.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_key_id: Option<String>,
    /// JWKS file of trusted keys.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_jwks_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key-file, the server speaks TLS only.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// `text` or `json` logs.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// Serve Prometheus metrics at `http://ADDR/metrics` [default: off].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<SocketAddr>,
    /// Serve the web console at `http://ADDR/` [default: off].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_addr: Option<SocketAddr>,
}

#[derive(Debug, clap::Args, Serialize)]
pub struct DbArgs {
    /// Database URL [default: sqlite://reserve.db?mode=rwc].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last applied migration.
    Down,
    /// List applied and pending migrations.
    Status,
}

/// For commands whose flags override nothing in the settings.
#[derive(Serialize)]
struct NoOverrides {}

/// The database of the offline audit tools; global, so that it may follow
/// the subcommand (`reserve audit verify --database-url …`).
#[derive(Debug, clap::Args, Serialize)]
pub struct AuditDbArgs {
    /// Read this database directly instead of asking a server.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// requester, duty_officer, commission, provider, admin or auditor.
    #[arg(long)]
    pub role: String,
    /// Organisation (or provider) id, such as `md-spoc`.
    #[arg(long)]
    pub org: String,
    /// The person.
    #[arg(long)]
    pub sub: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    pub ttl: u64,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::load(cli.config.as_ref(), &args)?;
            // Kept until the server stops: dropping it sends the last spans.
            let _telemetry = crate::telemetry::init_service(&settings.log_format)?;
            startup::run(settings).await
        }
        Command::Migrate { action, db } => {
            crate::telemetry::init("text");
            let settings = Settings::load(cli.config.as_ref(), &db)?;
            let conn = store::connect(&settings.database_url, 2).await?;
            match action {
                MigrateAction::Up => Migrator::up(&conn, None).await?,
                MigrateAction::Down => Migrator::down(&conn, Some(1)).await?,
                MigrateAction::Status => {
                    for m in Migrator::get_applied_migrations(&conn).await? {
                        println!("applied  {}", m.name());
                    }
                    for m in Migrator::get_pending_migrations(&conn).await? {
                        println!("pending  {}", m.name());
                    }
                }
            }
            Ok(())
        }
        Command::Seed { demo, db } => {
            crate::telemetry::init("text");
            anyhow::ensure!(demo, "only the demo registry can be seeded: pass --demo");
            let settings = Settings {
                seed_demo: true,
                migrate_on_start: true,
                ..Settings::load(cli.config.as_ref(), &db)?
            };
            let app = startup::app(&settings).await?;
            seed::demo(&app).await?;
            Ok(())
        }
        Command::Request { client, command } => crate::client::requests::run(client, command).await,
        Command::Decide { client, command } => crate::client::decide::run(client, command).await,
        Command::Dispatch { client, command } => {
            crate::client::dispatch::run(client, command).await
        }
        Command::Offer { client, command } => {
            crate::client::provider::offers(client, command).await
        }
        Command::Assignment { client, command } => {
            crate::client::provider::assignments(client, command).await
        }
        Command::Registry { client, command } => {
            crate::client::registry::run(client, command).await
        }
        Command::Capacity {
            connection,
            command,
        } => crate::client::capacity(connection, command).await,
        Command::Audit {
            action,
            db,
            connection,
        } => {
            let offline = db.database_url.is_some()
                || std::env::var_os("RESERVE_DATABASE_URL").is_some()
                || std::env::var_os("RESERVE_DATABASE_URL_FILE").is_some();
            if !offline {
                return crate::client::audit::run(connection, action).await;
            }
            crate::telemetry::init("text");
            let settings = Settings::load(cli.config.as_ref(), &db)?;
            let conn = store::connect(&settings.database_url, 2).await?;
            crate::client::audit::offline(&conn, action).await
        }
        Command::Usage { client, command } => crate::client::usage(client, command).await,
        Command::Conversion { client, command } => {
            crate::client::preparedness::conversions(client, command).await
        }
        Command::Health(args) => crate::client::health::run(args, cli.config.as_ref()).await,
        Command::Bench(args) => crate::bench::run(args).await,
        Command::LogKey { action } => {
            let settings = Settings::load(cli.config.as_ref(), NoOverrides {})?;
            let (file, origin, create) = match action {
                LogKeyAction::Generate { out, origin } => (out, origin, true),
                LogKeyAction::Show { file, origin } => (file, origin, false),
            };
            if create && file.exists() {
                anyhow::bail!("{} exists: a log key is never replaced", file.display());
            }
            if !create && !file.exists() {
                anyhow::bail!("{} does not exist", file.display());
            }
            let key = DevKey::load_or_create(&file)?.into_signing_key();
            let origin = origin.unwrap_or(settings.log_origin);
            let signer = crate::domain::checkpoint::NoteSigner::new(origin, key);
            if create {
                eprintln!(
                    "wrote {}; set log_signing_key_file to it (and log_origin to the key's name)",
                    file.display()
                );
            }
            println!("{}", signer.verifier_key());
            Ok(())
        }
        Command::Token(args) => {
            let settings = Settings::load(cli.config.as_ref(), NoOverrides {})?;
            let key = DevKey::load_or_create(&settings.dev_key_file)?;
            let claims = claims_for(
                &args.role,
                &args.org,
                &args.sub,
                &settings.jwt_issuer,
                &settings.jwt_audience,
                args.ttl,
            );
            let token = key.sign(&claims).context("signing the token")?;
            println!("{token}");
            Ok(())
        }
    }
}
