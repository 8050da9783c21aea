//! Collections: a support inbox, with its name, notification addresses, ticketing switch, abuse limits,
//! generation of team links and webhook endpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::collection_id::CollectionId;
use super::email_address::Email;
use super::rate_limit::RateLimits;
use super::webhook::Endpoint;

pub const MAX_COLLECTION_NAME_CHARS: usize = 100;
/// The most notification addresses a collection has: each is one e-mail item of the transaction that writes a
/// ticket or an entry, which DynamoDB caps at 100 items.
pub const MAX_NOTIFY_EMAILS: usize = 20;

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
    /// The generation of the collection's team links: raised by the operator (and once by the first removal of a
    /// member where shared links were mailed), every team link made before stops opening anything.
    #[serde(default)]
    pub team_link_generation: u32,
    /// The collection's webhook endpoints, by id (at most `webhook::MAX_ENDPOINTS`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub webhooks: BTreeMap<String, Endpoint>,
    /// Each address ever taken off the team (lowercase), with how many times: the generation of its links
    /// (`members.rs`). A number, nothing usable.
    #[serde(default)]
    pub member_generations: BTreeMap<String, u32>,
    /// Whether the collection's e-mails carried the team's shared link (they did before members had links of
    /// their own): its first removal of a member then revokes every team link once. New collections: false.
    #[serde(default = "mailed_before_members")]
    pub shared_links_mailed: bool,
}

#[cfg(test)]
impl Collection {
    /// A collection for the domain's tests: `id`, named "Demo", with these members.
    pub fn example(id: &str, members: &[&str]) -> Self {
        Self {
            collection_id: CollectionId::parse(id).unwrap(),
            name: CollectionName::parse("Demo").unwrap(),
            notify_emails: members.iter().map(|m| Email::parse(m).unwrap()).collect(),
            ticketing_enabled: true,
            last_ticket_number: 0,
            created_at: String::new(),
            rate_limits: RateLimits::default(),
            team_link_generation: 0,
            webhooks: BTreeMap::new(),
            member_generations: BTreeMap::new(),
            shared_links_mailed: false,
        }
    }
}

/// A collection stored before members had links of their own mailed the shared one.
fn mailed_before_members() -> bool {
    true
}
