//! Signed checkpoints of the audit log: the C2SP `tlog-checkpoint` body
//! (origin, tree size, root hash) in a C2SP `signed-note`, signed with
//! Ed25519, and the verifier key that checks it
//! (`<name>+<key hash>+<base64(0x01 || public key)>`).

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The algorithm byte of Ed25519 in a note's key hash and verifier key.
const ED25519: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("not a checkpoint: {0}")]
    Malformed(String),
    #[error("not a verifier key: {0}")]
    BadKey(String),
    #[error("the checkpoint carries no signature by {0}")]
    Unsigned(String),
    #[error("the signature of {0} does not verify")]
    BadSignature(String),
}

/// What a checkpoint says of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note's text: three lines, each ended by a newline.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Reads the checkpoint of a note's text (extension lines ignored).
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = text.split('\n');
        let bad = |what: &str| NoteError::Malformed(what.to_owned());
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("no origin line"))?;
        let size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| bad("the second line is not a tree size"))?;
        let root = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|b| <Hash>::try_from(b).ok())
            .ok_or_else(|| bad("the third line is not a base64 SHA-256 root hash"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// The 4-byte hash that names a key in a signature line.
fn key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Signs notes as `name`.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    pub fn new(name: impl Into<String>, key: SigningKey) -> NoteSigner {
        NoteSigner {
            name: name.into(),
            key,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key anyone checks this signer's notes with.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key();
        let mut encoded = vec![ED25519];
        encoded.extend_from_slice(public.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_hash(&self.name, &public)),
            B64.encode(encoded)
        )
    }

    /// `text` (ending with a newline) as a signed note.
    pub fn sign(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut sig = key_hash(&self.name, &self.key.verifying_key()).to_vec();
        sig.extend_from_slice(&signature.to_bytes());
        format!("{text}\n\u{2014} {} {}\n", self.name, B64.encode(sig))
    }
}

/// Checks notes signed by one key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    hash: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Reads a verifier key, `<name>+<hex key hash>+<base64(0x01 || key)>`.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |what: &str| NoteError::BadKey(what.to_owned());
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<key hash>+<key>"));
        };
        let hash: [u8; 4] = hex::decode(hash)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| bad("the key hash is not 8 hex digits"))?;
        let key = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
        let Some((&ED25519, public)) = key.split_first() else {
            return Err(bad("the key is not an Ed25519 key"));
        };
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("not an Ed25519 point"))?;
        if key_hash(name, &key) != hash {
            return Err(bad("the key hash does not match the name and key"));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            hash,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The note's text when one of its signatures is this key's and
    /// verifies.
    pub fn verify(&self, note: &str) -> Result<String, NoteError> {
        let malformed =
            || NoteError::Malformed("a signed note ends with its signature lines".into());
        let split = note.rfind("\n\n").ok_or_else(malformed)?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let mut signed_by_name = false;
        for line in signatures.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(malformed());
            };
            let Some((name, sig)) = rest.split_once(' ') else {
                return Err(malformed());
            };
            if name != self.name {
                continue;
            }
            signed_by_name = true;
            let Ok(sig) = B64.decode(sig) else { continue };
            if sig.len() != 68 || sig[..4] != self.hash {
                continue;
            }
            let signature = Signature::from_slice(&sig[4..]).map_err(|_| malformed())?;
            return self
                .key
                .verify(text.as_bytes(), &signature)
                .map(|()| text.to_owned())
                .map_err(|_| NoteError::BadSignature(self.name.clone()));
        }
        Err(if signed_by_name {
            NoteError::BadSignature(self.name.clone())
        } else {
            NoteError::Unsigned(self.name.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::new("reserve.example/audit", SigningKey::from_bytes(&[7; 32]))
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_reads_back() {
        let checkpoint = Checkpoint {
            origin: "reserve.example/audit".into(),
            size: 42,
            root: [9; 32],
        };
        let note = signer().sign(&checkpoint.body());
        assert!(note.starts_with("reserve.example/audit\n42\n"), "{note}");
        let verifier = NoteVerifier::parse(&signer().verifier_key()).unwrap();
        let text = verifier.verify(&note).unwrap();
        assert_eq!(Checkpoint::parse(&text).unwrap(), checkpoint);
        // Another size under the same signature does not verify.
        let forged = note.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(
            verifier.verify(&forged),
            Err(NoteError::BadSignature("reserve.example/audit".into()))
        );
        // Another key of the same name is not this one.
        let other = NoteSigner::new("reserve.example/audit", SigningKey::from_bytes(&[8; 32]));
        let other = NoteVerifier::parse(&other.verifier_key()).unwrap();
        assert!(other.verify(&note).is_err());
    }

    #[test]
    fn a_verifier_key_names_its_key() {
        let vkey = signer().verifier_key();
        let mut parts = vkey.split('+');
        assert_eq!(parts.next(), Some("reserve.example/audit"));
        assert_eq!(parts.next().unwrap().len(), 8);
        let wrong = vkey.replacen("reserve.example/audit", "other.example/log", 1);
        assert!(NoteVerifier::parse(&wrong).is_err());
    }
}
