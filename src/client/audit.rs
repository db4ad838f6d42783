//! `reserve audit`: watch, verify and export the audit trail.
//!
//! `watch` asks the server. `verify` and `export` ask the server too, unless
//! a database is named (`--database-url` or `RESERVE_DATABASE_URL`): then
//! they read it directly, as the operator's offline tool they have always
//! been. Both forms print the same lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use super::{Connection, Format, UsageError, files, server};
use crate::domain::audit::AuditEvent;
use crate::grpc::pb;

type Client = pb::audit_service_client::AuditServiceClient<Channel>;

#[derive(Debug, clap::Subcommand)]
pub enum AuditAction {
    /// Follow the events you may see, one line each, as they happen (from the server).
    Watch {
        /// Start after this sequence: the last one seen, to resume.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only events of this resource, such as supportRequests/… (or a
        /// request's reference, CSR-…).
        #[arg(long, default_value = "")]
        resource: String,
        /// Only events of this action, such as ApproveDispatch.
        #[arg(long, default_value = "")]
        action: String,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
        /// `table`: a line per event for people; `json`: JSON lines.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Recompute the hash chain; exit 1 at the first broken event.
    Verify {
        /// Start after this sequence (a trusted checkpoint).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// The hash of the checkpoint event.
        #[arg(long)]
        checkpoint_hash: Option<String>,
        /// `table` or `json` (the VerifyAuditChainResponse; server form only).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        output: Format,
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

/// The audit commands that ask the server.
pub async fn run(connection: Connection, action: AuditAction) -> anyhow::Result<()> {
    let mut client = Client::new(connection.channel().await?);
    match action {
        AuditAction::Watch {
            after,
            resource,
            action,
            limit,
            output,
        } => {
            let resource = if resource.starts_with("CSR-") {
                super::request_name(&connection, &resource).await?
            } else {
                resource
            };
            let mut stream = client
                .watch_events(connection.authed(pb::WatchEventsRequest {
                    after_sequence: after,
                    resource,
                    action,
                })?)
                .await
                .map_err(server)?
                .into_inner();
            let mut seen = 0u64;
            let mut last = after;
            while limit.is_none_or(|limit| seen < limit) {
                let Some(item) = stream.next().await else {
                    break;
                };
                let event = item
                    .map_err(server)
                    .with_context(|| format!("last event shown: {last}"))?;
                last = event.sequence;
                seen += 1;
                match output {
                    Format::Json => println!("{}", files::to_json(&event)?),
                    Format::Table => println!("{}", event_line(&event)),
                }
            }
            Ok(())
        }
        AuditAction::Verify {
            after,
            checkpoint_hash,
            output,
        } => {
            let result = client
                .verify_audit_chain(connection.authed(pb::VerifyAuditChainRequest {
                    after_sequence: after,
                    checkpoint_hash: checkpoint_hash.unwrap_or_default(),
                })?)
                .await
                .map_err(server)?
                .into_inner();
            if output == Format::Json {
                super::print_json(&result)?;
            }
            verified(
                result
                    .ok
                    .then_some(result.events_checked)
                    .ok_or((result.first_broken_sequence, result.detail)),
                output,
            )
        }
        AuditAction::Export { output, after } => {
            let mut out = writer(output.as_ref())?;
            let mut written = 0u64;
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_events(connection.authed(pb::ListEventsRequest {
                        resource: String::new(),
                        page_size: 100,
                        page_token,
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                for event in page.events.iter().filter(|e| e.sequence > after) {
                    writeln!(
                        out,
                        "{}",
                        crate::domain::audit::to_json_line(&domain(event))
                    )?;
                    written += 1;
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            out.flush()?;
            eprintln!("{written} events exported");
            Ok(())
        }
    }
}

/// The audit commands that read the database directly.
pub async fn offline(
    conn: &sea_orm::DatabaseConnection,
    action: AuditAction,
) -> anyhow::Result<()> {
    match action {
        AuditAction::Watch { .. } => Err(UsageError(
            "`audit watch` follows a server: drop --database-url (and RESERVE_DATABASE_URL)".into(),
        )
        .into()),
        AuditAction::Verify {
            after,
            checkpoint_hash,
            output,
        } => {
            let result =
                crate::app::audit::verify_chain(conn, after, checkpoint_hash.as_deref()).await?;
            if output == Format::Json {
                return Err(UsageError("--output json needs the server form".into()).into());
            }
            verified(result.broken.map_or(Ok(result.checked), Err), output)
        }
        AuditAction::Export { output, after } => {
            let mut out = writer(output.as_ref())?;
            let mut cursor = after;
            let mut written = 0u64;
            loop {
                let page = crate::store::audit::list(conn, None, cursor, 1_000).await?;
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

/// Prints the verdict; a broken chain is exit code 1.
fn verified(result: Result<i64, (i64, String)>, output: Format) -> anyhow::Result<()> {
    match result {
        Ok(checked) => {
            if output == Format::Table {
                println!("OK: {checked} events verified");
            }
            Ok(())
        }
        Err((sequence, problem)) => {
            if output == Format::Table {
                println!("BROKEN at sequence {sequence}: {problem}");
            }
            anyhow::bail!("the audit chain is broken at sequence {sequence}")
        }
    }
}

fn writer(path: Option<&PathBuf>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// An event off the wire, for the same JSON lines as the offline export.
fn domain(e: &pb::AuditEvent) -> AuditEvent {
    AuditEvent {
        sequence: e.sequence,
        time: e
            .time
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .unwrap_or_default(),
        actor: e.actor.clone(),
        role: e.role.clone(),
        organisation: e.organisation.clone(),
        action: e.action.clone(),
        resource: e.resource.clone(),
        from_state: e.from_state.clone(),
        to_state: e.to_state.clone(),
        payload: e.payload.clone(),
        previous_hash: e.previous_hash.clone(),
        hash: e.hash.clone(),
    }
}

/// `42  2026-11-27 21:00:01  duty1 (duty_officer, enisa)  ApproveDispatch  supportRequests/…  AUTHORISED -> DISPATCHING`
pub fn event_line(e: &pb::AuditEvent) -> String {
    let time = e
        .time
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    let who = if e.actor.is_empty() {
        format!("({})", e.role)
    } else {
        format!("{} ({}, {})", e.actor, e.role, e.organisation)
    };
    let mut line = format!(
        "{}  {}  {}  {}  {}",
        e.sequence, time, who, e.action, e.resource
    );
    if !e.from_state.is_empty() || !e.to_state.is_empty() {
        line.push_str(&format!(
            "  {} -> {}",
            or_dash(&e.from_state),
            or_dash(&e.to_state)
        ));
    }
    line
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}
