//! Collections (a support inbox: name, notification addresses, ticketing on or off) and the API key records
//! that grant access to them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::new_ticket::Email;
use super::rate_limit::RateLimits;

pub const MAX_COLLECTION_ID_CHARS: usize = 64;
pub const MAX_COLLECTION_NAME_CHARS: usize = 100;
/// The most notification addresses a collection has: each is one e-mail item of the transaction that writes a
/// ticket or an entry, which DynamoDB caps at 100 items.
pub const MAX_NOTIFY_EMAILS: usize = 20;

/// A collection id: 1 to 64 characters of `A-Z a-z 0-9 _ -`, safe in a URL path and a DynamoDB key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CollectionId(String);

impl CollectionId {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=MAX_COLLECTION_ID_CHARS).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| Self(raw.to_owned()))
    }

    /// A new id: 96 random bits as 24 hex digits.
    pub fn generate() -> Self {
        Self(super::keys::random_hex::<12>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CollectionId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| format!("`{raw}` is not a collection id (1 to 64 of A-Z a-z 0-9 _ -)"))
    }
}

impl From<CollectionId> for String {
    fn from(id: CollectionId) -> String {
        id.0
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A collection's display name: one line, 1 to 100 characters; it becomes the e-mails' sender name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CollectionName(String);

impl CollectionName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > MAX_COLLECTION_NAME_CHARS {
            return Err(format!("a collection name has 1 to {MAX_COLLECTION_NAME_CHARS} characters"));
        }
        if name.chars().any(char::is_control) {
            return Err("a collection name is one line without control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CollectionName {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<CollectionName> for String {
    fn from(name: CollectionName) -> String {
        name.0
    }
}

/// A collection as stored. `last_ticket_number` is its atomic counter: the number of the newest ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    pub collection_id: CollectionId,
    pub name: CollectionName,
    #[serde(default)]
    pub notify_emails: Vec<Email>,
    pub ticketing_enabled: bool,
    #[serde(default)]
    pub last_ticket_number: u64,
    pub created_at: String,
    /// Tickets per hour per API key and per requester address; the defaults when the item has none.
    #[serde(default)]
    pub rate_limits: RateLimits,
}

/// What the store knows about an API key. The key itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    /// A public identifier, safe to log and to name in `ticketctl keys revoke`.
    pub key_id: String,
    pub name: String,
    pub last4: String,
    pub collections: Vec<CollectionId>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl ApiKeyRecord {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    pub fn grants(&self, collection: &CollectionId) -> bool {
        self.collections.contains(collection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_ids_are_url_and_key_safe() {
        assert!(CollectionId::parse("abc_DEF-123").is_some());
        for bad in ["", "a/b", "a b", "ä", "a%2Fb", &"x".repeat(65)] {
            assert!(CollectionId::parse(bad).is_none(), "{bad:?} must be refused");
        }
        assert!(CollectionId::parse(&"x".repeat(64)).is_some());
    }
}
