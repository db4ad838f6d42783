//! An OpenID Connect identity provider: found by discovery
//! (`{issuer}/.well-known/openid-configuration`), its signing keys read from
//! its JWKS endpoint and cached. A token naming a key the cache does not
//! hold makes the cache be read again, but at most once per
//! `min_refresh`, however many such tokens arrive: a flood of made-up `kid`s
//! costs the provider one request per interval. The API verifies the
//! provider's bearer tokens with it, and the console signs people in through
//! it (authorization code flow with PKCE, RFC 7636 and RFC 9700).

use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde::Deserialize;
use serde_json::Value;

use super::{AuthError, LEEWAY_SECS, MAX_TOKEN_BYTES, actor_from, keys_of_set};
use crate::domain::actor::{Actor, Role};

/// The cached keys are read again after this long, whatever tokens come.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// How long a request to the provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest discovery or JWKS document read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// How the service uses the provider (see `Settings`: `oidc_*`).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The provider's issuer identifier, exactly as its tokens carry it.
    pub issuer: String,
    /// The audience of bearer tokens for the API.
    pub api_audience: String,
    /// The console's client id (the audience of its ID tokens).
    pub client_id: String,
    /// The console's client secret, for a confidential client; none for a
    /// public one (PKCE alone).
    pub client_secret: Option<String>,
    /// The scopes the console asks for (`openid` first).
    pub scopes: String,
    /// The claim that carries the role (a string, or a list whose first
    /// known role is taken).
    pub role_claim: String,
    /// The claim that carries the organisation or provider id.
    pub org_claim: String,
    /// The least time between two reads of the JWKS.
    pub min_refresh: Duration,
}

/// What discovery tells of the provider.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovered {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    keys: Vec<Key>,
    fetched: Option<Instant>,
}

/// The identity provider, discovered on first use.
pub struct Oidc {
    pub config: OidcConfig,
    http: reqwest::Client,
    discovered: tokio::sync::OnceCell<Discovered>,
    keys: RwLock<std::sync::Arc<KeySet>>,
    /// Held while the JWKS is read: concurrent readers wait for one read.
    fetching: tokio::sync::Mutex<()>,
    /// How many times the JWKS was read (for the metrics and the tests).
    pub fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, err: impl std::fmt::Display) -> AuthError {
    AuthError::Invalid(format!(
        "the identity provider's {what} cannot be read: {err}"
    ))
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Oidc {
        crate::worker::notify::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("reserve-dispatch")
            .build()
            .expect("the identity provider's client builds");
        Oidc {
            config,
            http,
            discovered: tokio::sync::OnceCell::new(),
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
            fetches: Default::default(),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        url: &str,
    ) -> Result<T, AuthError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(what, e))?;
        if !response.status().is_success() {
            return Err(unavailable(what, response.status()));
        }
        let body = response.bytes().await.map_err(|e| unavailable(what, e))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(unavailable(what, "the document is too large"));
        }
        serde_json::from_slice(&body).map_err(|e| unavailable(what, e))
    }

    /// The provider's endpoints, read once (again after a failure).
    pub async fn discovered(&self) -> Result<&Discovered, AuthError> {
        self.discovered
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.config.issuer.trim_end_matches('/')
                );
                let found: Discovered = self.get_json("discovery document", &url).await?;
                // OpenID Connect Discovery 1.0, section 4.3.
                if found.issuer != self.config.issuer {
                    return Err(AuthError::Invalid(format!(
                        "the discovery document names the issuer `{}`, not `{}`",
                        found.issuer, self.config.issuer
                    )));
                }
                Ok(found)
            })
            .await
    }

    fn current(&self) -> std::sync::Arc<KeySet> {
        self.keys.read().expect("never poisoned").clone()
    }

    /// Reads the JWKS again, unless it was read less than `min_refresh` ago
    /// (by this call's wait for another's read, say).
    async fn refresh(&self) -> Result<(), AuthError> {
        let _reading = self.fetching.lock().await;
        if self
            .current()
            .fetched
            .is_some_and(|at| at.elapsed() < self.config.min_refresh)
        {
            return Ok(());
        }
        let jwks_uri = self.discovered().await?.jwks_uri.clone();
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fetched = Instant::now();
        let read: Result<JwkSet, AuthError> = self.get_json("JWKS", &jwks_uri).await;
        let keys = match read.and_then(|set| keys_of_set(&set).map_err(AuthError::Invalid)) {
            Ok(keys) => keys,
            Err(err) => {
                // A failed read counts as a read: the interval bounds retries
                // too. The keys known so far stay.
                let keys = self.current().keys.clone();
                *self.keys.write().expect("never poisoned") = std::sync::Arc::new(KeySet {
                    keys,
                    fetched: Some(fetched),
                });
                return Err(err);
            }
        };
        tracing::info!(keys = keys.len(), issuer = %self.config.issuer, "identity provider's keys read");
        *self.keys.write().expect("never poisoned") = std::sync::Arc::new(KeySet {
            keys: keys
                .into_iter()
                .map(|(kid, algorithm, key)| Key {
                    kid,
                    algorithm,
                    key,
                })
                .collect(),
            fetched: Some(fetched),
        });
        Ok(())
    }

    /// The key a token's header names, reading the JWKS again when it is
    /// not known (bounded) or the cache is old.
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(Algorithm, DecodingKey), AuthError> {
        let find = |set: &KeySet| {
            set.keys
                .iter()
                .find(|k| match (kid, &k.kid) {
                    (Some(kid), Some(own)) => kid == own,
                    (Some(_), None) => false,
                    (None, _) => k.algorithm == alg,
                })
                .map(|k| (k.algorithm, k.key.clone()))
        };
        let set = self.current();
        let stale = set.fetched.is_none_or(|at| at.elapsed() >= MAX_KEY_AGE);
        if !stale && let Some(found) = find(&set) {
            return Ok(found);
        }
        if let Err(err) = self.refresh().await {
            tracing::warn!(error = %err, "cannot read the identity provider's keys");
        }
        find(&self.current()).ok_or_else(|| {
            AuthError::Invalid("no key of the identity provider matches the token".into())
        })
    }

    /// Verifies a token of this provider for `audience` (and, for an ID
    /// token, its `nonce`), and reads who it names from the configured
    /// claims: the caller and the token's expiry.
    pub async fn verify(
        &self,
        token: &str,
        audience: &str,
        nonce: Option<&str>,
    ) -> Result<(Actor, u64), AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too large".into()));
        }
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let (algorithm, key) = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = decode::<serde_json::Map<String, Value>>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        if let Some(nonce) = nonce
            && claims.get("nonce").and_then(Value::as_str) != Some(nonce)
        {
            return Err(AuthError::Invalid(
                "the ID token does not answer this sign-in (nonce)".into(),
            ));
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let role = match claims.get(&self.config.role_claim) {
            Some(Value::String(role)) => role.clone(),
            Some(Value::Array(roles)) => roles
                .iter()
                .filter_map(Value::as_str)
                .find(|r| Role::of_token(r).is_some())
                .unwrap_or_default()
                .to_owned(),
            _ => String::new(),
        };
        let org = match claims.get(&self.config.org_claim) {
            Some(Value::String(org)) => org.clone(),
            Some(Value::Array(orgs)) => orgs
                .first()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            _ => String::new(),
        };
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        Ok((actor_from(text("sub"), &role, &org)?, exp))
    }

    /// The console's authorization request: where to send the browser.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<String, AuthError> {
        let endpoint = &self.discovered().await?.authorization_endpoint;
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("scope", self.config.scopes.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ])
        .expect("plain strings encode");
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        Ok(format!("{endpoint}{separator}{query}"))
    }

    /// Exchanges the code the browser brought back for the ID token.
    pub async fn exchange(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, AuthError> {
        let endpoint = self.discovered().await?.token_endpoint.clone();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", self.config.client_id.as_str()),
            ("code_verifier", code_verifier),
        ];
        if let Some(secret) = &self.config.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        let response = self
            .http
            .post(&endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        #[derive(Deserialize)]
        struct Answer {
            id_token: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| unavailable("token endpoint's answer", e))?;
        match (status.is_success(), answer.id_token) {
            (true, Some(id_token)) => Ok(id_token),
            _ => Err(AuthError::Invalid(format!(
                "the token endpoint refused the code ({status}): {} {}",
                answer.error.unwrap_or_default(),
                answer.error_description.unwrap_or_default()
            ))),
        }
    }
}

/// PKCE (RFC 7636): a verifier and its S256 challenge.
pub fn pkce_pair(verifier: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// The `iss` a token claims, read before its signature is checked: only to
/// choose which keys check it.
pub fn claimed_issuer(token: &str) -> Option<String> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_pair("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_issuer_is_read_without_the_signature() {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let token = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"iss":"https://idp.example","sub":"a"}"#)
        );
        assert_eq!(
            claimed_issuer(&token).as_deref(),
            Some("https://idp.example")
        );
        assert_eq!(claimed_issuer("not a token"), None);
    }
}
