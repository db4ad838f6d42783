//! The audit chain: each event's hash covers the previous hash and the event's
//! canonical encoding, so that changing or removing any event breaks every
//! link after it.
//!
//! Canonical encoding (stable; an outside tool can recompute it): the compact
//! JSON array
//! `[sequence, time, actor, role, organisation, action, resource, from_state,
//! to_state, payload]`, where `time` is RFC 3339 in UTC with microseconds and a
//! `Z` (`2026-11-27T18:56:53.123456Z`), `payload` is the stored payload text
//! (itself compact JSON with keys in lexicographic order) and the states are
//! empty strings where there is none. Then
//! `hash = hex(SHA-256(previous_hash_hex || canonical))`, and the first
//! event's previous hash is 64 zeros.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub sequence: i64,
    pub time: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    pub organisation: String,
    pub action: String,
    pub resource: String,
    pub from_state: String,
    pub to_state: String,
    pub payload: String,
    pub previous_hash: String,
    pub hash: String,
}

impl AuditEvent {
    pub fn canonical(&self) -> String {
        serde_json::json!([
            self.sequence,
            self.time.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.actor,
            self.role,
            self.organisation,
            self.action,
            self.resource,
            self.from_state,
            self.to_state,
            self.payload,
        ])
        .to_string()
    }

    pub fn compute_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.previous_hash.as_bytes());
        hasher.update(self.canonical().as_bytes());
        hex::encode(hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            sequence: 1,
            time: "2026-11-27T18:56:53.123456Z".parse().unwrap(),
            actor: "alice".into(),
            role: "requester".into(),
            organisation: "md-agency".into(),
            action: "SubmitSupportRequest".into(),
            resource: "supportRequests/x".into(),
            from_state: "DRAFT".into(),
            to_state: "SUBMITTED".into(),
            payload: "{}".into(),
            previous_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn canonical_encoding_is_stable() {
        assert_eq!(
            event().canonical(),
            r#"[1,"2026-11-27T18:56:53.123456Z","alice","requester","md-agency","SubmitSupportRequest","supportRequests/x","DRAFT","SUBMITTED","{}"]"#
        );
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = event().compute_hash();
        let mut changed = event();
        changed.payload = r#"{"a":1}"#.into();
        assert_ne!(base, changed.compute_hash());
        let mut relinked = event();
        relinked.previous_hash = "1".repeat(64);
        assert_ne!(base, relinked.compute_hash());
    }
}
