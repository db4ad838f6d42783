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
use crate::domain::checkpoint::{Checkpoint as LogCheckpoint, NoteVerifier};
use crate::domain::merkle;
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
    /// Print the log's latest signed checkpoint (or the one of --size): keep
    /// it, to check later that the log only grew.
    Checkpoint {
        #[arg(long, default_value_t = 0)]
        size: i64,
        /// `table`: the signed note as it is; `json`: the Checkpoint.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Write every checkpoint as JSON lines, oldest first: a file a
    /// witness archives.
    Checkpoints {
        /// File to write; standard output when absent.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Prove that each event of a resource you may see is in the log of a
    /// saved checkpoint, and check the proofs here; exit 1 if one fails.
    Prove {
        /// The resource, such as supportRequests/… (or a request's
        /// reference, CSR-…).
        #[arg(long)]
        resource: String,
        /// A checkpoint saved earlier (`reserve audit checkpoint > FILE`).
        #[arg(long)]
        checkpoint: PathBuf,
        /// The verifier key of the log (<name>+<hash>+<key>); the server's
        /// own when absent, which proves less.
        #[arg(long, env = "RESERVE_LOG_KEY")]
        key: Option<String>,
    },
    /// Check that the log of a newer checkpoint extends the log of an older
    /// one (a consistency proof from the server, checked here); exit 1 if
    /// it does not.
    VerifyCheckpoint {
        old: PathBuf,
        new: PathBuf,
        /// The verifier key of the log; the server's own when absent.
        #[arg(long, env = "RESERVE_LOG_KEY")]
        key: Option<String>,
    },
    /// Subscribe your organisation (or yourself) to the events you may see:
    /// each is posted to the webhook as a CloudEvent signed per Standard
    /// Webhooks with the secret printed once, here.
    Subscribe {
        /// Where deliveries are posted (http:// or https://).
        #[arg(long)]
        webhook: String,
        /// An action to be told of, such as MakeOffer (repeatable); your
        /// role's defaults when absent.
        #[arg(long = "action")]
        actions: Vec<String>,
        /// Only you, not your whole organisation.
        #[arg(long)]
        personal: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Your organisation's subscriptions (administrators: all).
    Subscriptions {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// End a subscription (subscriptions/…).
    Unsubscribe { name: String },
    /// Administrators: the notifications' outbox, such as its dead letters.
    Outbox {
        /// PENDING, SENT or DEAD.
        #[arg(long, default_value = "")]
        state: String,
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
        AuditAction::Checkpoint { size, output } => {
            let checkpoint = client
                .get_checkpoint(connection.authed(pb::GetCheckpointRequest { tree_size: size })?)
                .await
                .map_err(server)?
                .into_inner();
            match output {
                Format::Json => super::print_json(&checkpoint),
                Format::Table => {
                    print!("{}", checkpoint.note);
                    Ok(())
                }
            }
        }
        AuditAction::Checkpoints { output } => {
            let mut out = writer(output.as_ref())?;
            let mut written = 0u64;
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_checkpoints(connection.authed(pb::ListCheckpointsRequest {
                        page_size: 100,
                        page_token,
                    })?)
                    .await
                    .map_err(server)?
                    .into_inner();
                for checkpoint in &page.checkpoints {
                    writeln!(out, "{}", files::to_json(checkpoint)?)?;
                    written += 1;
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            out.flush()?;
            eprintln!("{written} checkpoints written");
            Ok(())
        }
        AuditAction::Subscribe {
            webhook,
            actions,
            personal,
            output,
        } => {
            let created = client
                .create_subscription(connection.authed(pb::CreateSubscriptionRequest {
                    subscription: Some(pb::Subscription {
                        webhook_url: webhook,
                        actions,
                        personal,
                        ..Default::default()
                    }),
                })?)
                .await
                .map_err(server)?
                .into_inner();
            match output {
                Format::Json => super::print_json(&created),
                Format::Table => {
                    println!("{}", created.name);
                    println!(
                        "secret: {} (shown once: keep it to verify deliveries)",
                        created.secret
                    );
                    Ok(())
                }
            }
        }
        AuditAction::Subscriptions { output } => {
            let listed = client
                .list_subscriptions(connection.authed(pb::ListSubscriptionsRequest {})?)
                .await
                .map_err(server)?
                .into_inner();
            match output {
                Format::Json => super::print_json(&listed),
                Format::Table => {
                    for s in &listed.subscriptions {
                        let actions = if s.actions.is_empty() {
                            "(the role's defaults)".to_owned()
                        } else {
                            s.actions.join(",")
                        };
                        println!(
                            "{}  {} {}  {}  {}",
                            s.name, s.role, s.organisation, s.webhook_url, actions
                        );
                    }
                    Ok(())
                }
            }
        }
        AuditAction::Unsubscribe { name } => {
            client
                .delete_subscription(
                    connection.authed(pb::DeleteSubscriptionRequest { name: name.clone() })?,
                )
                .await
                .map_err(server)?;
            println!("{name} deleted");
            Ok(())
        }
        AuditAction::Outbox { state, output } => {
            let listed = client
                .list_notifications(connection.authed(pb::ListNotificationsRequest {
                    state,
                    page_size: 100,
                    page_token: String::new(),
                })?)
                .await
                .map_err(server)?
                .into_inner();
            match output {
                Format::Json => super::print_json(&listed),
                Format::Table => {
                    for n in &listed.notifications {
                        println!(
                            "{:>8}  {:<7} event {:<8} {}  attempts {}  {}",
                            n.id, n.state, n.sequence, n.subscription, n.attempts, n.last_error
                        );
                    }
                    Ok(())
                }
            }
        }
        AuditAction::Prove {
            resource,
            checkpoint,
            key,
        } => prove(&mut client, &connection, resource, checkpoint, key).await,
        AuditAction::VerifyCheckpoint { old, new, key } => {
            verify_checkpoints(&mut client, &connection, old, new, key).await
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

/// The verifier of the log's checkpoints: the key given, or the server's.
async fn log_verifier(
    client: &mut Client,
    connection: &Connection,
    key: Option<String>,
) -> anyhow::Result<NoteVerifier> {
    let key = match key {
        Some(key) => key,
        None => {
            let latest = client
                .get_checkpoint(connection.authed(pb::GetCheckpointRequest::default())?)
                .await
                .map_err(server)?
                .into_inner();
            eprintln!(
                "checking with the server's own key {}; pass --key with a key you hold to \
                 check the server too",
                latest.verifier_key
            );
            latest.verifier_key
        }
    };
    NoteVerifier::parse(&key).map_err(|e| UsageError(format!("--key: {e}")).into())
}

/// A saved checkpoint, its signature checked.
fn read_checkpoint(verifier: &NoteVerifier, path: &PathBuf) -> anyhow::Result<LogCheckpoint> {
    let note = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the checkpoint {}", path.display()))?;
    let text = verifier
        .verify(&note)
        .with_context(|| format!("the checkpoint {}", path.display()))?;
    Ok(LogCheckpoint::parse(&text)?)
}

/// A proof's hashes as the server sent them, each 32 bytes.
fn hashes_of(sent: &[Vec<u8>]) -> anyhow::Result<Vec<merkle::Hash>> {
    sent.iter()
        .map(|h| {
            h.as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("the server sent a hash that is not 32 bytes"))
        })
        .collect()
}

/// `reserve audit prove`: each event of the resource, proved in the saved
/// checkpoint's tree and checked here.
async fn prove(
    client: &mut Client,
    connection: &Connection,
    resource: String,
    checkpoint: PathBuf,
    key: Option<String>,
) -> anyhow::Result<()> {
    let verifier = log_verifier(client, connection, key).await?;
    let checkpoint = read_checkpoint(&verifier, &checkpoint)?;
    let resource = if resource.starts_with("CSR-") {
        super::request_name(connection, &resource).await?
    } else {
        resource
    };
    // The stored events come first on a watch; a pause ends them.
    let mut stream = client
        .watch_events(connection.authed(pb::WatchEventsRequest {
            after_sequence: 0,
            resource: resource.clone(),
            action: String::new(),
        })?)
        .await
        .map_err(server)?
        .into_inner();
    let mut events = Vec::new();
    while let Ok(Some(item)) =
        tokio::time::timeout(std::time::Duration::from_secs(1), stream.next()).await
    {
        let event = item.map_err(server)?;
        if event.sequence as u64 > checkpoint.size {
            break;
        }
        events.push(event);
    }
    println!(
        "{resource}: {} events in the log of {} events ({})",
        events.len(),
        checkpoint.size,
        checkpoint.origin
    );
    let mut failed = 0;
    for event in &events {
        let proof = client
            .get_inclusion_proof(connection.authed(pb::GetInclusionProofRequest {
                sequence: event.sequence,
                tree_size: checkpoint.size as i64,
            })?)
            .await
            .map_err(server)?
            .into_inner();
        let hashes = hashes_of(&proof.hashes)?;
        // The leaf is the event's hash, which its content must give (a
        // provider's view is redacted: its hash is taken as sent).
        let content = event.payload == "{}" && event.actor.is_empty()
            || domain(event).compute_hash() == event.hash;
        let leaf = hex::decode(&event.hash).ok().map(|h| merkle::leaf_hash(&h));
        let included = content
            && leaf.is_some_and(|leaf| {
                merkle::verify_inclusion(
                    event.sequence as u64 - 1,
                    checkpoint.size,
                    &leaf,
                    &hashes,
                    &checkpoint.root,
                )
            });
        if !included {
            failed += 1;
        }
        println!(
            "{:>8}  {:<28} {}",
            event.sequence,
            event.action,
            if !content {
                "ALTERED: its content does not give its hash"
            } else if included {
                "included"
            } else {
                "NOT INCLUDED in the checkpoint's tree"
            }
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} events failed their proof", events.len());
    }
    Ok(())
}

/// `reserve audit verify-checkpoint`: the newer checkpoint's log extends
/// the older one's.
async fn verify_checkpoints(
    client: &mut Client,
    connection: &Connection,
    old: PathBuf,
    new: PathBuf,
    key: Option<String>,
) -> anyhow::Result<()> {
    let verifier = log_verifier(client, connection, key).await?;
    let (old, new) = (
        read_checkpoint(&verifier, &old)?,
        read_checkpoint(&verifier, &new)?,
    );
    let consistent = if old.size > new.size {
        anyhow::bail!(
            "the older checkpoint has more events ({}) than the newer ({})",
            old.size,
            new.size
        );
    } else if old.size == new.size {
        old.root == new.root
    } else {
        let proof = client
            .get_consistency_proof(connection.authed(pb::GetConsistencyProofRequest {
                first_tree_size: old.size as i64,
                second_tree_size: new.size as i64,
            })?)
            .await
            .map_err(server)?
            .into_inner();
        let hashes = hashes_of(&proof.hashes)?;
        merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &hashes)
    };
    if !consistent {
        anyhow::bail!(
            "INCONSISTENT: the log of {} events does not extend the log of {}: it was rewritten",
            new.size,
            old.size
        );
    }
    println!(
        "OK: the log of {} events extends the log of {} ({})",
        new.size, old.size, new.origin
    );
    Ok(())
}

/// The audit commands that read the database directly.
pub async fn offline(
    conn: &sea_orm::DatabaseConnection,
    action: AuditAction,
) -> anyhow::Result<()> {
    match action {
        AuditAction::Watch { .. }
        | AuditAction::Subscribe { .. }
        | AuditAction::Subscriptions { .. }
        | AuditAction::Unsubscribe { .. }
        | AuditAction::Outbox { .. }
        | AuditAction::Checkpoint { .. }
        | AuditAction::Checkpoints { .. }
        | AuditAction::Prove { .. }
        | AuditAction::VerifyCheckpoint { .. } => Err(UsageError(
            "this command asks a server: drop --database-url (and RESERVE_DATABASE_URL)".into(),
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
