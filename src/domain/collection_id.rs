//! A collection's id: the one name of a support inbox in URLs, keys and tags.

use std::fmt;

use super::random::random_hex;
use serde::{Deserialize, Serialize};

pub const MAX_COLLECTION_ID_CHARS: usize = 64;

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
        Self(random_hex::<12>())
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
