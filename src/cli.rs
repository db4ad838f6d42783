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
    about = "EU Cybersecurity Reserve: request and dispatch service"
)]
pub struct Cli {
    /// Configuration file (TOML); `reserve.toml` is read when present.
    #[arg(long, global = true, env = "RESERVE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
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
    /// Print a development token signed with the local development key.
    Token(TokenArgs),
    /// Verify or export the audit trail, reading the database directly.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Capacity reports, as a client of a running server.
    Capacity {
        #[command(flatten)]
        connection: crate::client::Connection,
        #[command(subcommand)]
        command: crate::client::CapacityCommand,
    },
    /// A usage report (Art. 16(11)-(12)) as CSV or JSON, from a running server.
    Usage {
        #[command(flatten)]
        connection: crate::client::Connection,
        #[command(flatten)]
        args: crate::client::UsageArgs,
    },
    /// Support requests, as a client of a running server.
    Request {
        #[command(flatten)]
        connection: crate::client::Connection,
        #[command(subcommand)]
        command: crate::client::RequestCommand,
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

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Recompute the hash chain; exit 1 at the first broken event.
    Verify {
        /// Start after this sequence (a trusted checkpoint).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// The hash of the checkpoint event.
        #[arg(long)]
        checkpoint_hash: Option<String>,
    },
    /// Write the events, with their hashes, as JSON lines.
    Export {
        /// File to write; standard output when absent.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Only events after this sequence.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
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
        Command::Request {
            connection,
            command,
        } => crate::client::run(connection, command).await,
        Command::Capacity {
            connection,
            command,
        } => crate::client::capacity(connection, command).await,
        Command::Audit { action, db } => {
            crate::telemetry::init("text");
            let settings = Settings::load(cli.config.as_ref(), &db)?;
            let conn = store::connect(&settings.database_url, 2).await?;
            match action {
                AuditAction::Verify {
                    after,
                    checkpoint_hash,
                } => {
                    let result =
                        crate::app::audit::verify_chain(&conn, after, checkpoint_hash.as_deref())
                            .await?;
                    match result.broken {
                        None => {
                            println!("OK: {} events verified", result.checked);
                            Ok(())
                        }
                        Some((sequence, problem)) => {
                            println!("BROKEN at sequence {sequence}: {problem}");
                            std::process::exit(1);
                        }
                    }
                }
                AuditAction::Export { output, after } => {
                    use std::io::Write;
                    let mut out: Box<dyn Write> = match &output {
                        Some(path) => Box::new(std::io::BufWriter::new(
                            std::fs::File::create(path)
                                .with_context(|| format!("cannot create {}", path.display()))?,
                        )),
                        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
                    };
                    let mut cursor = after;
                    let mut written = 0u64;
                    loop {
                        let page = store::audit::list(&conn, None, cursor, 1_000).await?;
                        let Some(last) = page.last() else { break };
                        cursor = last.sequence;
                        for e in &page {
                            writeln!(out, "{}", crate::domain::audit::to_json_line(e))?;
                            written += 1;
                        }
                    }
                    out.flush()?;
                    eprintln!("{written} events exported");
                    Ok(())
                }
            }
        }
        Command::Usage { connection, args } => crate::client::usage(connection, args).await,
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
