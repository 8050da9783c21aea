//! Secrets the API hands out: API keys (stored as HMAC-SHA256 with a pepper) and ticket keys (stored as SHA-256).
//!
//! An API key reads `tkapi_` + 32 hex digits (128 random bits) + 8 hex digits of CRC-32 over what precedes it.
//! The prefix lets secret scanners find leaked keys; the checksum lets a mistyped key be refused without a
//! database call. `ApiKeyRecord` is what the store keeps of a key: its id, name, last four characters and grants.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::collection_id::CollectionId;
use super::random::random_hex;

pub const API_KEY_PREFIX: &str = "tkapi_";
const RANDOM_HEX: usize = 32;
const CHECKSUM_HEX: usize = 8;
const API_KEY_LEN: usize = API_KEY_PREFIX.len() + RANDOM_HEX + CHECKSUM_HEX;
/// How long a looked-up API key is trusted without asking the store again: also how long a revocation can
/// take to be seen by a warm process (`API_KEY_CACHE_TTL_SECONDS` changes it).
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// A pepper shorter than this is refused at start-up: it would make the stored hashes guessable.
pub const MIN_PEPPER_BYTES: usize = 32;

/// An API key as presented or generated: well-formed, checksum verified. Its `Debug` is redacted.
#[derive(Debug, Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let body = format!("{API_KEY_PREFIX}{}", random_hex::<16>());
        let checksum = crc32fast::hash(body.as_bytes());
        Self(SecretString::from(format!("{body}{checksum:08x}")))
    }

    /// Accepts only a well-formed key whose checksum matches; `None` for anything else.
    pub fn parse(presented: &str) -> Option<Self> {
        if presented.len() != API_KEY_LEN || !presented.starts_with(API_KEY_PREFIX) {
            return None;
        }
        let (body, checksum) = presented.split_at(API_KEY_LEN - CHECKSUM_HEX);
        let hex_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok(&body[API_KEY_PREFIX.len()..]) || !hex_ok(checksum) {
            return None;
        }
        let expected = format!("{:08x}", crc32fast::hash(body.as_bytes()));
        (checksum == expected).then(|| Self(SecretString::from(presented.to_owned())))
    }

    /// The whole key, for showing once to the operator who created it.
    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }

    /// The last four characters, which identify a key in listings without revealing it.
    pub fn last4(&self) -> String {
        let key = self.0.expose_secret();
        key[key.len() - 4..].to_owned()
    }
}

/// The server-side secret mixed into every API key hash. Lives in Secrets Manager in production.
#[derive(Clone)]
pub struct Pepper(SecretString);

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper([REDACTED])")
    }
}

impl Pepper {
    pub fn new(secret: SecretString) -> Result<Self, String> {
        let len = secret.expose_secret().len();
        if len < MIN_PEPPER_BYTES {
            return Err(format!("the API key pepper must be at least {MIN_PEPPER_BYTES} bytes, it is {len}"));
        }
        Ok(Self(secret))
    }

    /// HMAC-SHA256(pepper, key), hex: the only form in which an API key is stored or looked up.
    pub fn hash(&self, key: &ApiKey) -> ApiKeyHash {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(key.reveal().as_bytes());
        ApiKeyHash(hex::encode(mac.finalize().into_bytes()))
    }

    /// HMAC-SHA256(pepper, label ‖ data): a secret derived from the pepper and something stored (a webhook
    /// endpoint's signing secret from its nonce), which a copy of the tables alone cannot make.
    pub fn derive_secret(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(label);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// What the abuse limits count a requester by: HMAC(pepper, address lowercased), 64 bits in hex. The
    /// counter item never holds the address, and without the pepper the tag cannot be matched to one.
    pub fn requester_tag(&self, email: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"requester:");
        mac.update(email.to_lowercase().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

/// The stored form of an API key. Not a secret on its own, but still kept out of logs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeyHash([REDACTED])")
    }
}

/// The secret in a ticket's link: 128 bits derived with the pepper from a random nonce, never from the ticket
/// number. Only the nonce is stored: without the pepper it opens nothing, and with it the link can be made again
/// whenever an e-mail needs it.
#[derive(Debug, Clone)]
pub struct TicketKey(SecretString);

impl TicketKey {
    pub fn from_presented(presented: &str) -> Self {
        Self(SecretString::from(presented.to_owned()))
    }

    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }

    /// The requester's key: HMAC(pepper, "ticket-key:" + nonce), 128 bits.
    pub fn derive(pepper: &Pepper, nonce: &str) -> Self {
        Self::derive_labelled(pepper, b"ticket-key:", nonce)
    }

    /// The team's key of a ticket: the same, from the team's own nonce and under another label, which names the
    /// collection's generation of team links (`Collection::team_link_generation`): raising it revokes every team
    /// link of the collection at once. Generation 0 is the label of the first team links, so that they hold.
    pub fn derive_team(pepper: &Pepper, nonce: &str, generation: u32) -> Self {
        match generation {
            0 => Self::derive_labelled(pepper, b"team-key:", nonce),
            g => Self::derive_labelled(pepper, format!("team-key:{g}:").as_bytes(), nonce),
        }
    }

    /// A member's team key of a ticket: under a label of the collection's generation and the member's own, from
    /// the team nonce and the member's (lowercase) address, so that each member's link is theirs alone.
    pub fn derive_member(pepper: &Pepper, nonce: &str, generation: u32, member: &str, member_generation: u32) -> Self {
        let label = format!("member-key:{generation}:{member_generation}:");
        Self::derive_labelled(pepper, label.as_bytes(), &format!("{nonce}:{member}"))
    }

    /// A member's inbox key of a collection: under a label of the collection's generation and the member's own,
    /// from the collection's id and the member's (lowercase) address.
    pub fn derive_inbox(
        pepper: &Pepper,
        collection: &str,
        generation: u32,
        member: &str,
        member_generation: u32,
    ) -> Self {
        let label = format!("inbox-key:{generation}:{member_generation}:");
        Self::derive_labelled(pepper, label.as_bytes(), &format!("{collection}:{member}"))
    }

    /// The secret part of a ticket's reply address for a role: 80 bits under a label of its own, from the same
    /// nonce (and, for the team, the same generation) as the role's link, so that rotating a ticket's links or
    /// revoking a collection's team links takes its reply addresses with them. 80 bits: every guess costs an
    /// e-mail through SES's receiving.
    pub fn derive_reply(pepper: &Pepper, role_label: &str, nonce: &str, generation: u32) -> Self {
        let full = Self::derive_labelled(pepper, format!("reply:{role_label}:{generation}:").as_bytes(), nonce);
        Self(SecretString::from(full.reveal()[..20].to_owned()))
    }

    fn derive_labelled(pepper: &Pepper, label: &[u8], nonce: &str) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(pepper.0.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(label);
        mac.update(nonce.as_bytes());
        Self(SecretString::from(hex::encode(&mac.finalize().into_bytes()[..16])))
    }

    /// SHA-256, hex: what a test compares against, never what is stored.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.expose_secret().as_bytes()))
    }

    /// Whether a presented key is this one, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let presented = presented.as_bytes();
        let ours = self.0.expose_secret().as_bytes();
        presented.len() == ours.len() && bool::from(presented.ct_eq(ours))
    }
}

/// A new random nonce for a ticket key: 128 bits from the OS random source, hex.
pub fn key_nonce() -> String {
    random_hex::<16>()
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
    fn generated_keys_parse_and_carry_128_random_bits() {
        let key = ApiKey::generate();
        assert!(ApiKey::parse(key.reveal()).is_some());
        assert_eq!(key.reveal().len(), API_KEY_LEN);
        assert_ne!(key.reveal(), ApiKey::generate().reveal());
    }

    #[test]
    fn a_key_with_one_character_changed_fails_its_checksum() {
        let key = ApiKey::generate();
        let mut typo = key.reveal().to_owned().into_bytes();
        let i = API_KEY_PREFIX.len() + 3;
        typo[i] = if typo[i] == b'0' { b'1' } else { b'0' };
        assert!(ApiKey::parse(std::str::from_utf8(&typo).unwrap()).is_none());
    }

    #[test]
    fn the_hash_depends_on_the_pepper() {
        let key = ApiKey::generate();
        let a = Pepper::new("a".repeat(32).into()).unwrap();
        let b = Pepper::new("b".repeat(32).into()).unwrap();
        assert_ne!(a.hash(&key), b.hash(&key));
        assert_eq!(a.hash(&key), a.hash(&key));
    }

    #[test]
    fn a_short_pepper_is_refused() {
        assert!(Pepper::new("short".into()).is_err());
    }

    #[test]
    fn ticket_keys_are_derived_from_their_nonce_and_the_pepper_and_differ_by_role() {
        let pepper = Pepper::new("p".repeat(32).into()).unwrap();
        let nonce = key_nonce();
        let key = TicketKey::derive(&pepper, &nonce);
        assert_eq!(key.reveal().len(), 32, "128 bits in hex");
        assert!(key.matches(TicketKey::derive(&pepper, &nonce).reveal()));
        assert!(!key.matches(TicketKey::derive(&pepper, &key_nonce()).reveal()));
        assert!(!key.matches(TicketKey::derive_team(&pepper, &nonce, 0).reveal()), "the team key is another key");
        let first = TicketKey::derive_team(&pepper, &nonce, 0);
        assert!(!first.matches(TicketKey::derive_team(&pepper, &nonce, 1).reveal()), "a new generation, a new key");
        let other = Pepper::new("q".repeat(32).into()).unwrap();
        assert!(!key.matches(TicketKey::derive(&other, &nonce).reveal()), "the nonce alone opens nothing");
        assert!(!key.matches(""));
    }
}
