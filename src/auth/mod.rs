//! Token verification. Keys are parsed once at start; each key has its
//! algorithm pinned, so a token cannot choose how it is checked (no `none`,
//! no HS256 signed with a public key).

mod layer;
pub mod oidc;

use std::{path::Path, str::FromStr};

use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet},
};
use serde::{Deserialize, Serialize};

pub use layer::AuthLayer;

use crate::domain::actor::{Actor, Role};

/// Why a token was refused. Every variant answers `UNAUTHENTICATED`; the
/// detail is logged, the caller learns only the category.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("no verification key is configured: give a PEM or JWKS file, or run with --dev")]
    NoKeys,
}

/// The claims this service reads and `reserve token` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub org: String,
    pub iss: String,
    /// One audience, or several (as many identity providers issue).
    pub aud: Audience,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// OpenID Connect: the value the sign-in request sent, echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

struct TrustedKey {
    kid: Option<String>,
    key: DecodingKey,
    validation: Validation,
}

/// The keys a server trusts, with the issuer and audience it expects.
pub struct Verifier {
    keys: Vec<TrustedKey>,
    /// The OpenID Connect provider whose tokens are trusted too.
    oidc: Option<std::sync::Arc<oidc::Oidc>>,
    /// Tokens whose signature and claims were checked, by their exact
    /// text: a client sends the same token with each call until it
    /// expires, and checking an Ed25519 signature costs more than the rest
    /// of a small call. Each hit checks the times again.
    verified: std::sync::Mutex<std::collections::HashMap<String, Verified>>,
}

/// A verified token's caller and times.
#[derive(Clone)]
struct Verified {
    actor: Actor,
    exp: u64,
    nbf: Option<u64>,
}

/// Verified tokens remembered before the memory starts afresh.
const VERIFIED_CACHED: usize = 10_000;

/// Allowed clock difference when checking `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

pub struct VerifierBuilder {
    issuer: String,
    audience: String,
    keys: Vec<TrustedKey>,
    oidc: Option<std::sync::Arc<oidc::Oidc>>,
}

impl VerifierBuilder {
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys: Vec::new(),
            oidc: None,
        }
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut v = Validation::new(algorithm);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECS;
        v
    }

    pub fn key(mut self, kid: Option<String>, algorithm: Algorithm, key: DecodingKey) -> Self {
        let validation = self.validation(algorithm);
        self.keys.push(TrustedKey {
            kid,
            key,
            validation,
        });
        self
    }

    /// A PEM public key (SPKI, or PKCS#1 for RSA) for an asymmetric algorithm.
    pub fn pem_file(
        self,
        path: &Path,
        algorithm: Algorithm,
        kid: Option<String>,
    ) -> Result<Self, KeyError> {
        let pem = read(path)?;
        let key = match algorithm {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 => {
                DecodingKey::from_rsa_pem(&pem)
            }
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
            other => {
                return Err(parse_error(
                    path,
                    format!("{other:?} is not an accepted public-key algorithm"),
                ));
            }
        }
        .map_err(|e| parse_error(path, e.to_string()))?;
        Ok(self.key(kid, algorithm, key))
    }

    /// A JWKS document; each key's algorithm comes from `alg`, or else from
    /// its type and curve (RSA: RS256, P-256: ES256, Ed25519: EdDSA).
    pub fn jwks_file(mut self, path: &Path) -> Result<Self, KeyError> {
        let text = read(path)?;
        let set: JwkSet =
            serde_json::from_slice(&text).map_err(|e| parse_error(path, e.to_string()))?;
        for (kid, algorithm, key) in keys_of_set(&set).map_err(|e| parse_error(path, e))? {
            self = self.key(kid, algorithm, key);
        }
        Ok(self)
    }

    /// Also trusts the tokens of an OpenID Connect provider, with its keys
    /// from its JWKS endpoint.
    pub fn oidc(mut self, oidc: std::sync::Arc<oidc::Oidc>) -> Self {
        self.oidc = Some(oidc);
        self
    }

    /// HS256 with a shared secret: only for development.
    pub fn hs256_secret_file(self, path: &Path) -> Result<Self, KeyError> {
        let secret = read(path)?;
        let secret = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
        if secret.len() < 32 {
            return Err(parse_error(
                path,
                "an HS256 secret needs at least 32 bytes".into(),
            ));
        }
        Ok(self.key(None, Algorithm::HS256, DecodingKey::from_secret(&secret)))
    }

    /// Trusts the development key, creating it if needed.
    pub fn dev_key(self, path: &Path) -> Result<Self, KeyError> {
        let signing = DevKey::load_or_create(path)?;
        let public = signing
            .0
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| parse_error(path, e.to_string()))?;
        let key = DecodingKey::from_ed_pem(public.as_bytes())
            .map_err(|e| parse_error(path, e.to_string()))?;
        Ok(self.key(Some(DEV_KID.to_owned()), Algorithm::EdDSA, key))
    }

    pub fn build(self) -> Result<Verifier, KeyError> {
        if self.keys.is_empty() && self.oidc.is_none() {
            return Err(KeyError::NoKeys);
        }
        Ok(Verifier {
            keys: self.keys,
            oidc: self.oidc,
            verified: Default::default(),
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn parse_error(path: &Path, message: String) -> KeyError {
    KeyError::Parse {
        path: path.display().to_string(),
        message,
    }
}

/// Largest token accepted, in bytes; larger ones are refused unparsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

impl Verifier {
    /// The OpenID Connect provider trusted, if any.
    pub fn oidc(&self) -> Option<&std::sync::Arc<oidc::Oidc>> {
        self.oidc.as_ref()
    }

    /// Verifies a compact JWS signed by a key of the files (or the
    /// development key) and returns the caller it names.
    pub fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too large".into()));
        }
        if let Some(actor) = self.cached(token) {
            return Ok(actor);
        }
        let claims = self.check(token)?;
        let (exp, nbf) = (claims.exp, claims.nbf);
        let actor = actor_of(claims)?;
        self.remember(token, &actor, exp, nbf);
        Ok(actor)
    }

    /// Verifies a bearer token: the identity provider's (by its `iss`) with
    /// the provider's keys, any other with the keys of the files.
    pub async fn verify_bearer(&self, token: &str) -> Result<Actor, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too large".into()));
        }
        if let Some(actor) = self.cached(token) {
            return Ok(actor);
        }
        if let Some(oidc) = &self.oidc
            && oidc::claimed_issuer(token).as_deref() == Some(oidc.config.issuer.as_str())
        {
            let (actor, exp) = oidc.verify(token, &oidc.config.api_audience, None).await?;
            self.remember(token, &actor, exp, None);
            return Ok(actor);
        }
        self.verify(token)
    }

    fn cached(&self, token: &str) -> Option<Actor> {
        let now = jsonwebtoken::get_current_timestamp();
        self.verified
            .lock()
            .expect("never poisoned")
            .get(token)
            .filter(|v| in_time(v, now))
            .map(|v| v.actor.clone())
    }

    fn remember(&self, token: &str, actor: &Actor, exp: u64, nbf: Option<u64>) {
        let now = jsonwebtoken::get_current_timestamp();
        let mut verified = self.verified.lock().expect("never poisoned");
        if verified.len() >= VERIFIED_CACHED {
            verified.retain(|_, v| in_time(v, now));
            if verified.len() >= VERIFIED_CACHED {
                verified.clear();
            }
        }
        verified.insert(
            token.to_owned(),
            Verified {
                actor: actor.clone(),
                exp,
                nbf,
            },
        );
    }

    /// Checks a token's signature and claims.
    fn check(&self, token: &str) -> Result<Claims, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        // With a `kid`, only that key; without, each key of the header's
        // algorithm. A key's own pinned algorithm is what the check uses.
        let candidates = self.keys.iter().filter(|k| match (&header.kid, &k.kid) {
            (Some(kid), Some(key_kid)) => kid == key_kid,
            (Some(_), None) => false,
            (None, _) => k.validation.algorithms.contains(&header.alg),
        });
        let mut last = AuthError::Invalid("no trusted key matches the token".into());
        for key in candidates {
            match decode::<Claims>(token, &key.key, &key.validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = AuthError::Invalid(e.to_string()),
            }
        }
        Err(last)
    }
}

/// What the validation checks of the times, with its leeway.
fn in_time(v: &Verified, now: u64) -> bool {
    now <= v.exp + LEEWAY_SECS && v.nbf.is_none_or(|nbf| nbf <= now + LEEWAY_SECS)
}

/// The keys of a JWKS, each with its algorithm: from `alg`, or else from
/// its type and curve (RSA: RS256, P-256: ES256, Ed25519: EdDSA). Shared
/// secrets are refused.
pub(crate) fn keys_of_set(
    set: &JwkSet,
) -> Result<Vec<(Option<String>, Algorithm, DecodingKey)>, String> {
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let algorithm = match jwk.common.key_algorithm {
            Some(alg) => Algorithm::from_str(&alg.to_string()).map_err(|e| e.to_string())?,
            None => match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => {
                    Algorithm::ES384
                }
                AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                _ => return Err("a key without `alg` has an unsupported type".into()),
            },
        };
        if matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err("shared-secret keys are accepted only in development mode".into());
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        keys.push((jwk.common.key_id.clone(), algorithm, key));
    }
    Ok(keys)
}

fn actor_of(claims: Claims) -> Result<Actor, AuthError> {
    actor_from(&claims.sub, &claims.role, &claims.org)
}

/// The caller a token names by its subject, role and organisation.
pub(crate) fn actor_from(sub: &str, role: &str, org: &str) -> Result<Actor, AuthError> {
    // `service` is the service's own role: no token carries it.
    let role =
        Role::of_token(role).ok_or_else(|| AuthError::Invalid(format!("unknown role `{role}`")))?;
    // Both end up in stored audit events: keep them to printable identifiers.
    let printable = |s: &str, max: usize| {
        !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
    };
    let org_ok = org.len() <= 64
        && !org.is_empty()
        && org
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !printable(sub, 200) || !org_ok {
        return Err(AuthError::Invalid(
            "`sub` or `org` is missing or malformed".into(),
        ));
    }
    Ok(Actor {
        subject: sub.to_owned(),
        role,
        organisation: org.to_owned(),
    })
}

/// Key id of the development key.
pub const DEV_KID: &str = "reserve-dev";

/// The locally generated Ed25519 development key (`reserve token` signs with
/// it; `reserve serve --dev` trusts it). Never for production.
pub struct DevKey(SigningKey);

impl DevKey {
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        if path.exists() {
            let pem =
                String::from_utf8(read(path)?).map_err(|e| parse_error(path, e.to_string()))?;
            let key =
                SigningKey::from_pkcs8_pem(&pem).map_err(|e| parse_error(path, e.to_string()))?;
            return Ok(Self(key));
        }
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| parse_error(path, e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| KeyError::Read {
                path: dir.display().to_string(),
                source,
            })?;
        }
        write_private(path, pem.as_bytes()).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self(key))
    }

    /// The key itself (the audit log's checkpoints are signed with one).
    pub fn into_signing_key(self) -> SigningKey {
        self.0
    }

    /// The public half, as a PEM a server can be told to trust.
    pub fn public_pem(&self) -> String {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        self.0
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes")
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let pem = self
            .0
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes");
        let key = EncodingKey::from_ed_pem(pem.as_bytes())?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(DEV_KID.to_owned());
        encode(&header, claims, &key)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Claims for a token valid from now for `ttl_secs`.
pub fn claims_for(
    role: &str,
    org: &str,
    sub: &str,
    issuer: &str,
    audience: &str,
    ttl_secs: u64,
) -> Claims {
    let now = jsonwebtoken::get_current_timestamp();
    Claims {
        sub: sub.to_owned(),
        role: role.to_owned(),
        org: org.to_owned(),
        iss: issuer.to_owned(),
        aud: Audience::One(audience.to_owned()),
        exp: now + ttl_secs,
        nbf: Some(now),
        iat: Some(now),
        nonce: None,
    }
}
