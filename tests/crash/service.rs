//! The service under test: a `reserve serve` child process on a database of
//! its own, killed and started again on the same database, and the channel
//! the clients reach its current incarnation through.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tonic::transport::Channel;

use crate::helpers::{Keys, ServerProcess, TestDb, start_server_binary};

pub struct Service {
    pub db: Arc<TestDb>,
    pub keys: Arc<Keys>,
    rules: PathBuf,
    _dir: tempfile::TempDir,
    process: Option<ServerProcess>,
    /// The current incarnation; replaced at each restart.
    channel: Arc<RwLock<Channel>>,
    pub starts: u32,
}

/// The shipped rule set with CRITICAL offers expiring the moment they are
/// made, so that expiry timers come due all through a run; other offers keep
/// their hours and are answered by the clients.
fn rules_with_instant_critical_expiry(dir: &std::path::Path) -> PathBuf {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/csa-v1.toml")).unwrap();
    assert!(text.contains("accept_hours_critical = "));
    let changed: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("accept_hours_critical") {
                "accept_hours_critical = 0".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    let path = dir.join("rules.toml");
    std::fs::write(&path, changed.join("\n")).unwrap();
    path
}

/// The `reserve` binary this test binary was built with, pinned when the
/// first test starts, right after cargo built it: checkouts sharing a target
/// directory replace `target/debug/reserve` when they build, and every start
/// of every test must run the same program. A hard link keeps the file when
/// the name is given to another build. Links left by earlier runs whose
/// process is gone are removed.
pub fn pinned_binary() -> &'static std::path::Path {
    static PINNED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PINNED.get_or_init(|| {
        let built = std::path::Path::new(env!("CARGO_BIN_EXE_reserve"));
        let dir = built.parent().unwrap();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(".crash-reserve-")
                && !std::path::Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let path = dir.join(format!(".crash-reserve-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        if std::fs::hard_link(built, &path).is_err() {
            std::fs::copy(built, &path).unwrap();
        }
        path
    })
}

fn lazy_channel(addr: &str) -> Channel {
    Channel::from_shared(addr.to_owned())
        .unwrap()
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect_lazy()
}

impl Service {
    /// A fresh database with the demo registry and the server on it.
    pub async fn start() -> Service {
        let db = Arc::new(TestDb::fresh().await);
        let keys = Arc::new(Keys::new());
        let dir = tempfile::tempdir().unwrap();
        let rules = rules_with_instant_critical_expiry(dir.path());
        let process = spawn(&db, &keys, &rules, true).await;
        let channel = Arc::new(RwLock::new(lazy_channel(&process.addr)));
        Service {
            db,
            keys,
            rules,
            _dir: dir,
            process: Some(process),
            channel,
            starts: 1,
        }
    }

    /// The handle clients read the current channel from.
    pub fn channel(&self) -> Arc<RwLock<Channel>> {
        self.channel.clone()
    }

    /// SIGKILL: no shutdown hook, no flush, calls in flight cut off.
    pub async fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            // Dropping the process kills it with SIGKILL and reaps it.
            tokio::task::spawn_blocking(move || drop(process))
                .await
                .unwrap();
        }
    }

    /// Starts the binary again on the same database (no seeding).
    pub async fn restart(&mut self) {
        assert!(self.process.is_none(), "kill before restarting");
        let process = spawn(&self.db, &self.keys, &self.rules, false).await;
        *self.channel.write().unwrap() = lazy_channel(&process.addr);
        self.process = Some(process);
        self.starts += 1;
    }

    pub fn addr(&self) -> Option<&str> {
        self.process.as_ref().map(|p| p.addr.as_str())
    }
}

async fn spawn(
    db: &Arc<TestDb>,
    keys: &Arc<Keys>,
    rules: &std::path::Path,
    seed: bool,
) -> ServerProcess {
    let binary = pinned_binary();
    let (db, keys, rules) = (db.clone(), keys.clone(), rules.to_owned());
    tokio::task::spawn_blocking(move || {
        start_server_binary(
            binary,
            &db,
            &keys,
            &[
                ("RESERVE_RULES_FILE", rules.to_str().unwrap()),
                ("RESERVE_SEED_DEMO", if seed { "true" } else { "false" }),
            ],
        )
    })
    .await
    .unwrap()
}
