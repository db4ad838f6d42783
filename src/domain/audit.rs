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
        let mut out = Vec::with_capacity(256);
        self.write_canonical(&mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// Appends the canonical encoding to `out`: the compact JSON array of
    /// the module's documentation, written field by field (the same bytes
    /// as serialising the array with serde_json, without building it).
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        let string = |out: &mut Vec<u8>, s: &str| {
            serde_json::to_writer(&mut *out, s).expect("writing to memory does not fail");
        };
        out.push(b'[');
        out.extend_from_slice(self.sequence.to_string().as_bytes());
        for field in [
            self.time
                .to_rfc3339_opts(SecondsFormat::Micros, true)
                .as_str(),
            &self.actor,
            &self.role,
            &self.organisation,
            &self.action,
            &self.resource,
            &self.from_state,
            &self.to_state,
            &self.payload,
        ] {
            out.push(b',');
            string(out, field);
        }
        out.push(b']');
    }

    pub fn compute_hash(&self) -> String {
        hex::encode(self.digest(&mut Vec::with_capacity(256)))
    }

    /// SHA-256 of the previous hash and the canonical encoding, with `buf`
    /// as scratch space (a verifier reuses one for every event).
    pub fn digest(&self, buf: &mut Vec<u8>) -> [u8; 32] {
        buf.clear();
        self.write_canonical(buf);
        let mut hasher = Sha256::new();
        hasher.update(self.previous_hash.as_bytes());
        hasher.update(&buf[..]);
        hasher.finalize().into()
    }

    /// Whether the stored hash is the one the event's content gives.
    pub fn hash_matches(&self, buf: &mut Vec<u8>) -> bool {
        let mut hex = [0u8; 64];
        hex::encode_to_slice(self.digest(buf), &mut hex).expect("64 hex digits");
        hex[..] == *self.hash.as_bytes()
    }
}

/// Whose an event's resource is, for deciding who may watch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Request {
        organisation: String,
        /// The single point of contact it goes through, if not its filer.
        contact_point: Option<String>,
        third_country: bool,
    },
    Offer {
        provider: String,
        organisation: String,
        contact_point: Option<String>,
        third_country: bool,
    },
    /// Countries, organisations, providers and their capacity.
    Registry,
    /// A conversion of a provider's capacity into a preparedness service
    /// for a user organisation.
    Conversion {
        provider: String,
        organisation: String,
        third_country: bool,
    },
    /// A usage report; the Council's is about third countries.
    UsageReport { third_country: bool },
}

/// How much of an event a watcher may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Full,
    /// A provider's view of its own offers: who did it and the payload are
    /// withheld (the payload may carry request details).
    Redacted,
    Hidden,
}

/// Requesters see their organisation's requests and the offers made for
/// them (and their country's contact point those that go through it), and
/// the conversions for their organisation; providers their own offers,
/// redacted, and their own conversions; the Commission third-country
/// requests, conversions and usage reports; administrators the registry
/// and conversions; duty officers and auditors all.
pub fn visibility(actor: &super::actor::Actor, owner: Option<&Owner>) -> Visibility {
    use super::actor::Role;
    match (actor.role, owner) {
        (Role::DutyOfficer | Role::Auditor, _) => Visibility::Full,
        (
            Role::Requester,
            Some(
                Owner::Request {
                    organisation,
                    contact_point,
                    ..
                }
                | Owner::Offer {
                    organisation,
                    contact_point,
                    ..
                },
            ),
        ) if *organisation == actor.organisation
            || contact_point.as_deref() == Some(actor.organisation.as_str()) =>
        {
            Visibility::Full
        }
        (Role::Provider, Some(Owner::Offer { provider, .. }))
            if *provider == actor.organisation =>
        {
            Visibility::Redacted
        }
        (
            Role::Commission,
            Some(
                Owner::Request {
                    third_country: true,
                    ..
                }
                | Owner::Offer {
                    third_country: true,
                    ..
                },
            ),
        ) => Visibility::Full,
        (Role::Admin, Some(Owner::Registry | Owner::Conversion { .. })) => Visibility::Full,
        (Role::Provider, Some(Owner::Conversion { provider, .. }))
            if *provider == actor.organisation =>
        {
            Visibility::Full
        }
        (Role::Requester, Some(Owner::Conversion { organisation, .. }))
            if *organisation == actor.organisation =>
        {
            Visibility::Full
        }
        (
            Role::Commission,
            Some(
                Owner::Conversion {
                    third_country: true,
                    ..
                }
                | Owner::UsageReport {
                    third_country: true,
                },
            ),
        ) => Visibility::Full,
        _ => Visibility::Hidden,
    }
}

impl AuditEvent {
    /// The event as a watcher with `visibility` receives it.
    pub fn seen_as(&self, visibility: Visibility) -> Option<AuditEvent> {
        match visibility {
            Visibility::Full => Some(self.clone()),
            Visibility::Redacted => Some(AuditEvent {
                actor: String::new(),
                role: String::new(),
                organisation: String::new(),
                payload: "{}".into(),
                ..self.clone()
            }),
            Visibility::Hidden => None,
        }
    }
}

/// One event as a JSON line, for archiving: every stored field, the hashes
/// included, so that the chain can be verified from the export alone.
pub fn to_json_line(e: &AuditEvent) -> String {
    serde_json::json!({
        "sequence": e.sequence,
        "time": e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        "actor": e.actor,
        "role": e.role,
        "organisation": e.organisation,
        "action": e.action,
        "resource": e.resource,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "payload": e.payload,
        "previous_hash": e.previous_hash,
        "hash": e.hash,
    })
    .to_string()
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

    proptest::proptest! {
        /// The encoding written field by field is the one serde_json
        /// writes for the array, whatever the text holds.
        #[test]
        fn the_canonical_encoding_is_serde_jsons(
            sequence in 0i64..i64::MAX,
            micros in 0i64..4_000_000_000_000_000,
            texts in proptest::collection::vec(".*", 8),
        ) {
            let e = AuditEvent {
                sequence,
                time: chrono::DateTime::from_timestamp_micros(micros).unwrap(),
                actor: texts[0].clone(),
                role: texts[1].clone(),
                organisation: texts[2].clone(),
                action: texts[3].clone(),
                resource: texts[4].clone(),
                from_state: texts[5].clone(),
                to_state: texts[6].clone(),
                payload: texts[7].clone(),
                previous_hash: GENESIS_HASH.into(),
                hash: String::new(),
            };
            let expected = serde_json::json!([
                e.sequence,
                e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
                e.actor, e.role, e.organisation, e.action, e.resource,
                e.from_state, e.to_state, e.payload,
            ])
            .to_string();
            proptest::prop_assert_eq!(e.canonical(), expected);
            let mut sealed = e.clone();
            sealed.hash = e.compute_hash();
            proptest::prop_assert!(sealed.hash_matches(&mut Vec::new()));
        }
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
