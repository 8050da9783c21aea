//! Idempotent creates: the `Idempotency-Key` a caller sends, the fingerprint of what it asked, and the record
//! that lets a repeat get the first answer back (IETF httpapi "The Idempotency-Key HTTP Header Field").

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::collection_id::CollectionId;
use super::new_ticket::NewTicket;

pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// How long a key is remembered.
pub const IDEMPOTENCY_TTL_SECONDS: u64 = 24 * 60 * 60;
/// How long a claim may stay "in progress" before it is taken for abandoned (a process that died mid-create).
pub const IDEMPOTENCY_LEASE_SECONDS: u64 = 30;

/// 1 to 255 printable ASCII characters, no comma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Option<Self> {
        // No comma: API Gateway's HTTP API joins a repeated header with commas, and a repeated key is refused.
        let ok = (1..=MAX_IDEMPOTENCY_KEY_CHARS).contains(&raw.len())
            && raw.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b',');
        ok.then(|| Self(raw.to_owned()))
    }

    /// The record's key: the idempotency key is scoped to one collection and one API key (the client that
    /// chose it), so that another key's caller cannot replay, and learn the link of, a ticket it did not create.
    pub fn scope(&self, collection: &CollectionId, key_id: &str) -> String {
        format!("{collection}#{key_id}#{}", self.0)
    }
}

/// Where a remembered create stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdempotencyState {
    InProgress,
    Completed,
}

/// A remembered create. `key_nonce` is what the ticket key was derived from, so that a replay answers the
/// same private link without the link itself being stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    pub scope: String,
    pub fingerprint: String,
    pub state: IdempotencyState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_number: Option<u64>,
    pub key_nonce: String,
    /// Unix seconds after which an in-progress claim counts as abandoned.
    pub lease_until: u64,
    /// Unix seconds; the table's TTL attribute.
    pub expires_at: u64,
}

impl IdempotencyRecord {
    pub fn claim(scope: String, fingerprint: String, key_nonce: String, now: u64) -> Self {
        Self {
            scope,
            fingerprint,
            state: IdempotencyState::InProgress,
            ticket_number: None,
            key_nonce,
            lease_until: now + IDEMPOTENCY_LEASE_SECONDS,
            expires_at: now + IDEMPOTENCY_TTL_SECONDS,
        }
    }

    /// The same claim with another lease (tests shorten it).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease_until = self.expires_at - IDEMPOTENCY_TTL_SECONDS + lease.as_secs();
        self
    }

    /// Whether a new claim may replace this record: it has expired (DynamoDB deletes expired items only
    /// eventually), or it was left in progress past its lease.
    pub fn is_stale(&self, now: u64) -> bool {
        self.expires_at <= now || (self.state == IdempotencyState::InProgress && self.lease_until <= now)
    }
}

impl NewTicket {
    /// SHA-256 over the normalised request: two bodies that say the same thing (whitespace, key order,
    /// padding the contract trims) have the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let mut canonical = serde_json::json!({
            "userEmail": self.requester,
            "title": self.title,
            "message": self.message,
            "customTags": self.tags,
        });
        // Only when there are some: a create without files keeps the fingerprint it had before files existed.
        if !self.attachments.is_empty() {
            canonical["attachments"] = serde_json::json!(self.attachments);
        }
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_1_to_255_printable_ascii_without_commas() {
        assert!(IdempotencyKey::parse("a").is_some());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
        assert!(IdempotencyKey::parse("order 42 / retry #1").is_some());
        // "a,b" is what an HTTP API hands over for a key sent twice.
        for bad in ["", &"k".repeat(256), "tab\there", "é", "nul\0", "a,b"] {
            assert!(IdempotencyKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_fingerprint_ignores_what_the_contract_normalises() {
        let a =
            NewTicket::from_json(br#"{"userEmail":"a@b.co","title":"Hi","message":"m","customTags":{"x":1,"y":2}}"#);
        let b = NewTicket::from_json(
            br#"{ "customTags":{"y":2,"x":1}, "title":"  Hi ", "message":"m", "userEmail":" a@b.co"}"#,
        );
        let c = NewTicket::from_json(br#"{"userEmail":"a@b.co","title":"Hi","message":"m2"}"#);
        assert_eq!(a.as_ref().unwrap().fingerprint(), b.unwrap().fingerprint());
        assert_ne!(a.unwrap().fingerprint(), c.unwrap().fingerprint());
    }

    #[test]
    fn a_claim_goes_stale_after_its_lease_and_a_record_after_a_day() {
        let claim = IdempotencyRecord::claim("s".into(), "f".into(), "n".into(), 1_000);
        assert!(!claim.is_stale(1_000 + IDEMPOTENCY_LEASE_SECONDS - 1));
        assert!(claim.is_stale(1_000 + IDEMPOTENCY_LEASE_SECONDS));
        let done = IdempotencyRecord { state: IdempotencyState::Completed, ticket_number: Some(1), ..claim };
        assert!(!done.is_stale(1_000 + IDEMPOTENCY_TTL_SECONDS - 1));
        assert!(done.is_stale(1_000 + IDEMPOTENCY_TTL_SECONDS));
    }
}
