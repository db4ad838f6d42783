//! Layered configuration: defaults, then a TOML file (`--config`, or
//! `reserve.toml` when present), then `RESERVE_*` environment variables, then
//! command-line flags. A secret may be named by a file instead
//! (`database_url_file`), as orchestrators mount them.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the gRPC API listens on.
    pub listen_addr: SocketAddr,
    /// `sqlite://reserve.db?mode=rwc` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// A file holding the database URL (a mounted secret), read instead of
    /// `database_url`, which must then be left unset.
    pub database_url_file: Option<PathBuf>,
    pub db_max_connections: u32,
    /// Apply pending migrations when the server starts.
    pub migrate_on_start: bool,
    /// Development mode: trust the local development key (and an HS256
    /// secret, if one is given). Never in production.
    pub dev: bool,
    /// The development signing key, created on first use.
    pub dev_key_file: PathBuf,
    /// Load the demo registry when the server starts.
    pub seed_demo: bool,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// A PEM public key, checked with `jwt_algorithm` (EdDSA, ES256, RS256…).
    pub jwt_public_key_file: Option<PathBuf>,
    pub jwt_algorithm: String,
    pub jwt_key_id: Option<String>,
    /// A JWKS file of trusted keys, each selected by its `kid`.
    pub jwt_jwks_file: Option<PathBuf>,
    /// HS256 shared secret; accepted only with `dev`.
    pub jwt_hs256_secret_file: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: String,
    /// An eligibility rule set replacing the one shipped (`rules/csa-v1.toml`).
    pub rules_file: Option<PathBuf>,
    /// TLS: the server's certificate chain and private key (PEM).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Mutual TLS: clients must present a certificate signed by this CA (PEM).
    pub tls_client_ca_file: Option<PathBuf>,
    /// Where `GET /metrics` (Prometheus text format) is served; off when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// Largest request message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Calls one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// Seconds a unary call may take.
    pub request_timeout_secs: u64,
    /// Calls per second per organisation (0: no limit), and the burst above it.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Milliseconds one statement may run (PostgreSQL `statement_timeout`)
    /// or wait for the write lock (SQLite busy timeout).
    pub db_statement_timeout_ms: u64,
    /// Serve `reserve.bench.v1.Ping`, the load generator's transport ceiling.
    pub bench_ping: bool,
    /// Where the web console is served; off when unset.
    pub console_addr: Option<SocketAddr>,
    /// The console's address as its users reach it (`https://…` behind a
    /// TLS proxy makes the session cookie `Secure`); the OpenID Connect
    /// redirect goes back to it.
    pub console_public_url: Option<String>,
    /// Hours a console session lasts (it ends earlier at sign-out).
    pub console_session_hours: u32,
    /// An OpenID Connect identity provider's issuer identifier. With it the
    /// API trusts the provider's tokens (keys from its JWKS endpoint, found
    /// by discovery), beside the key files, and the console's sign-in page
    /// offers the provider (authorization code flow with PKCE).
    pub oidc_issuer: Option<String>,
    /// The audience the API expects of the provider's bearer tokens
    /// [default: `jwt_audience`].
    pub oidc_audience: Option<String>,
    /// The claim of the provider's tokens that carries the role (a string,
    /// or a list whose first role of this service is taken).
    pub oidc_role_claim: String,
    /// The claim that carries the organisation (or provider) id.
    pub oidc_org_claim: String,
    /// The scopes the console asks the provider for.
    pub oidc_scopes: String,
    /// Seconds at least between two reads of the provider's JWKS (a token
    /// naming an unknown key makes it read again, at most this often).
    pub oidc_jwks_min_refresh_secs: u64,
    /// The console's client id at the identity provider: the audience of
    /// its ID tokens [default: `jwt_audience`].
    pub console_oidc_client_id: Option<String>,
    /// The console's client secret, for a confidential client (a file
    /// holding it); without it the console is a public client (PKCE alone).
    pub console_oidc_client_secret_file: Option<PathBuf>,
    /// The Ed25519 key (PKCS#8 PEM) that signs the audit log's checkpoints
    /// (`reserve log-key generate`); in development mode, one next to the
    /// development key is made on first use. No checkpoints without it.
    pub log_signing_key_file: Option<PathBuf>,
    /// The checkpoints' origin line and the name of their key.
    pub log_origin: String,
    /// Seconds between checkpoints at most, while the log grows.
    pub log_checkpoint_secs: u64,
    /// The SMTP server of e-mail notifications: `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host:465` (TLS), `smtp://host:25` (plain, a
    /// local relay); credentials as `smtp://user:password@host`. No e-mail
    /// without it.
    pub smtp_url: Option<String>,
    /// The sender of e-mail notifications.
    pub smtp_from: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen_addr: "127.0.0.1:50051".parse().expect("valid address"),
            database_url: "sqlite://reserve.db?mode=rwc".into(),
            database_url_file: None,
            db_max_connections: 16,
            migrate_on_start: true,
            dev: false,
            dev_key_file: PathBuf::from(".reserve/dev-ed25519.pem"),
            seed_demo: false,
            jwt_issuer: "reserve-dispatch".into(),
            jwt_audience: "reserve-dispatch".into(),
            jwt_public_key_file: None,
            jwt_algorithm: "EdDSA".into(),
            jwt_key_id: None,
            jwt_jwks_file: None,
            jwt_hs256_secret_file: None,
            log_format: "text".into(),
            rules_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            metrics_addr: None,
            max_message_bytes: 1024 * 1024,
            max_concurrent_streams: 64,
            request_timeout_secs: 30,
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
            db_statement_timeout_ms: 10_000,
            bench_ping: false,
            console_addr: None,
            console_public_url: None,
            console_session_hours: 12,
            oidc_issuer: None,
            oidc_audience: None,
            oidc_role_claim: "role".into(),
            oidc_org_claim: "org".into(),
            oidc_scopes: "openid".into(),
            oidc_jwks_min_refresh_secs: 30,
            console_oidc_client_id: None,
            console_oidc_client_secret_file: None,
            log_signing_key_file: None,
            log_origin: crate::app::log::DEFAULT_ORIGIN.into(),
            log_checkpoint_secs: 60,
            smtp_url: None,
            smtp_from: "Cybersecurity Reserve <reserve-dispatch@localhost>".into(),
        }
    }
}

impl Settings {
    /// The transport's limits.
    pub fn limits(&self) -> crate::limits::Limits {
        use std::num::NonZeroU32;
        crate::limits::Limits {
            max_message_bytes: self.max_message_bytes,
            max_concurrent_streams: self.max_concurrent_streams,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
            rate: NonZeroU32::new(self.rate_limit_per_second).map(|per_second| {
                crate::limits::Rate {
                    per_second,
                    burst: NonZeroU32::new(self.rate_limit_burst).unwrap_or(per_second),
                }
            }),
        }
    }

    /// Loads the layers; `overrides` are the flags given on the command line.
    pub fn load(
        config_file: Option<&PathBuf>,
        overrides: impl Serialize,
    ) -> Result<Self, Box<figment::Error>> {
        let layers = Self::layers(config_file).merge(Serialized::globals(overrides));
        // A URL given beside a file naming it is ambiguous: refuse, rather
        // than let one of them win unnoticed.
        let url_given = layers.contains("database_url");
        let mut settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(layers)
            .extract()
            .map_err(Box::new)?;
        if let Some(path) = &settings.database_url_file {
            if url_given {
                return Err(Box::new(
                    "database_url and database_url_file are both set: give one of them".into(),
                ));
            }
            settings.database_url = read_secret(path)
                .map_err(|e| Box::new(format!("database_url_file: {e}").into()))?;
        }
        Ok(settings)
    }

    /// The address `serve` listens on, from the same layers, reading no secret.
    pub fn listen_addr(config_file: Option<&PathBuf>) -> Result<SocketAddr, Box<figment::Error>> {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Self::layers(config_file))
            .extract_inner("listen_addr")
            .map_err(Box::new)
    }

    /// The file and the environment, which the defaults lie under.
    fn layers(config_file: Option<&PathBuf>) -> Figment {
        let file = match config_file {
            Some(path) => Toml::file_exact(path),
            None => Toml::file("reserve.toml"),
        };
        Figment::from(file).merge(Env::prefixed("RESERVE_"))
    }
}

/// A secret from a file, without the line break that usually ends it
/// (`echo URL > file`, `kubectl create secret --from-file`).
fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secret.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::Settings;

    /// Settings loaded from a configuration file of `lines`, with `flags`.
    fn load(
        dir: &tempfile::TempDir,
        lines: &str,
        flags: &[(&str, &str)],
    ) -> Result<Settings, Box<figment::Error>> {
        let config = dir.path().join("reserve.toml");
        std::fs::write(&config, lines).unwrap();
        let flags: BTreeMap<_, _> = flags.iter().copied().collect();
        Settings::load(Some(&config), flags)
    }

    fn secret_file(dir: &tempfile::TempDir, text: &str) -> String {
        let path = dir.path().join("database-url");
        std::fs::write(&path, text).unwrap();
        format!("database_url_file = {:?}\n", path.to_str().unwrap())
    }

    #[test]
    fn the_database_url_is_read_from_its_file_without_the_line_break() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "postgres://u:p@db/reserve\n",
            "postgres://u:p@db/reserve\r\n",
        ] {
            let settings = load(&dir, &secret_file(&dir, text), &[]).unwrap();
            assert_eq!(settings.database_url, "postgres://u:p@db/reserve");
        }
    }

    #[test]
    fn a_missing_or_empty_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let lines = secret_file(&dir, "\n");
        let err = load(&dir, &lines, &[]).unwrap_err().to_string();
        assert!(
            err.contains("database_url_file") && err.contains("is empty"),
            "{err}"
        );

        let missing = dir.path().join("absent");
        let lines = format!("database_url_file = {:?}\n", missing.to_str().unwrap());
        let err = load(&dir, &lines, &[]).unwrap_err().to_string();
        assert!(
            err.contains("cannot read") && err.contains(missing.to_str().unwrap()),
            "{err}"
        );
    }

    #[test]
    fn a_url_given_beside_its_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lines = secret_file(&dir, "postgres://u:p@db/reserve\n");
        let flag = [("database_url", "sqlite://other.db")];
        let err = load(&dir, &lines, &flag).unwrap_err().to_string();
        assert!(err.contains("both set"), "{err}");
        let in_file = format!("{lines}database_url = \"sqlite://other.db\"\n");
        assert!(load(&dir, &in_file, &[]).is_err());
        // Without the file, the URL is taken as before.
        let settings = load(&dir, "", &flag).unwrap();
        assert_eq!(settings.database_url, "sqlite://other.db");
    }
}
