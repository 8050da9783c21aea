//! Collections as the operator shapes them (`ticketctl collections …`), and the rules that go with them:
//!
//! 1. a new collection's settings are checked (its name, at most `MAX_NOTIFY_EMAILS` notification addresses,
//!    each a plain address, limits of 1 to `MAX_LIMIT`), and it never replaces one of the same id (whose counter
//!    would go back);
//! 2. a change writes the settings only, never the counter, the generation of team links or the endpoints;
//! 3. taking an address off the team revokes every team link of the collection: the e-mails it received carry
//!    links that would otherwise keep working (the next e-mails carry new ones);
//! 4. revoking the team links at once raises the generation the links are made with.

use crate::domain::collection::MAX_NOTIFY_EMAILS;
use crate::domain::{Collection, CollectionId, CollectionName, Email, RateLimits};
use crate::ports::{AdminStore, CollectionStore, Ports, Unavailable};

use super::TicketService;

/// Why an operator's change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("collection {0} does not exist")]
    CollectionNotFound(CollectionId),
    #[error("collection {0} exists already")]
    CollectionExists(CollectionId),
    #[error("{0}")]
    InvalidName(String),
    #[error("a collection has at most {MAX_NOTIFY_EMAILS} notification addresses, not {0}")]
    TooManyNotify(usize),
    /// A notification address that is not a plain address: which, and why.
    #[error("notification address `{address}`: {why}")]
    InvalidNotify { address: String, why: String },
    #[error("no API key with id {0}")]
    KeyNotFound(String),
    #[error("ticket {number} of {collection} does not exist")]
    TicketNotFound { collection: CollectionId, number: u64 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// The abuse limits an operator sets, per hour; `None` keeps the one there is (the default, for a new collection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitChanges {
    pub per_key: Option<u32>,
    pub per_requester: Option<u32>,
    pub per_ticket_replies: Option<u32>,
    pub per_ticket_team_link: Option<u32>,
    pub new_requesters: Option<u32>,
}

impl LimitChanges {
    fn apply(&self, limits: &mut RateLimits) {
        limits.per_key = self.per_key.unwrap_or(limits.per_key);
        limits.per_requester = self.per_requester.unwrap_or(limits.per_requester);
        limits.per_ticket_replies = self.per_ticket_replies.unwrap_or(limits.per_ticket_replies);
        limits.new_requesters = self.new_requesters.unwrap_or(limits.new_requesters);
        limits.per_ticket_team_link = self.per_ticket_team_link.unwrap_or(limits.per_ticket_team_link);
    }
}

/// A new collection as the operator asks for it.
#[derive(Debug, Clone, Default)]
pub struct NewCollection {
    /// The id to use; a random one by default.
    pub id: Option<CollectionId>,
    pub name: String,
    pub notify: Vec<String>,
    pub ticketing: bool,
    pub limits: LimitChanges,
}

/// A change to a collection's settings; `None` (and no limit) changes nothing of that setting.
#[derive(Debug, Clone, Default)]
pub struct CollectionChanges {
    pub name: Option<String>,
    /// The new notification addresses, all of them (an empty list: none).
    pub notify: Option<Vec<String>>,
    pub ticketing: Option<bool>,
    pub limits: LimitChanges,
}

/// A collection as changed: the members taken off the team (whose links and reply addresses are revoked), and
/// whether every team link was revoked with them (the first removal where the shared link was mailed).
#[derive(Debug, Clone)]
pub struct CollectionUpdated {
    pub collection: Collection,
    pub removed: Vec<Email>,
    pub every_team_link_revoked: bool,
}

/// Notification addresses as an operator gives them: at most `MAX_NOTIFY_EMAILS`, each a plain address.
fn notify_addresses(raw: &[String]) -> Result<Vec<Email>, AdminError> {
    if raw.len() > MAX_NOTIFY_EMAILS {
        return Err(AdminError::TooManyNotify(raw.len()));
    }
    raw.iter()
        .map(|e| Email::parse(e).map_err(|(_, why)| AdminError::InvalidNotify { address: e.clone(), why }))
        .collect()
}

impl<P: Ports> TicketService<P> {
    pub async fn create_collection(&self, new: NewCollection) -> Result<Collection, AdminError> {
        let mut collection = Collection {
            collection_id: new.id.unwrap_or_else(CollectionId::generate),
            name: CollectionName::parse(&new.name).map_err(AdminError::InvalidName)?,
            notify_emails: notify_addresses(&new.notify)?,
            ticketing_enabled: new.ticketing,
            last_ticket_number: 0,
            created_at: self.now().rfc3339(),
            rate_limits: RateLimits::default(),
            team_link_generation: 0,
            webhooks: Default::default(),
            member_generations: Default::default(),
            shared_links_mailed: false,
        };
        new.limits.apply(&mut collection.rate_limits);
        match self.store().insert_collection(&collection).await? {
            true => Ok(collection),
            false => Err(AdminError::CollectionExists(collection.collection_id)),
        }
    }

    /// Every collection, oldest first.
    pub async fn collections(&self) -> Result<Vec<Collection>, AdminError> {
        let mut collections = self.store().list_collections().await?;
        collections.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(collections)
    }

    /// Changes a collection's settings; a member taken off the team loses their links and reply addresses.
    pub async fn update_collection(
        &self,
        id: &CollectionId,
        changes: CollectionChanges,
    ) -> Result<CollectionUpdated, AdminError> {
        let not_found = || AdminError::CollectionNotFound(id.clone());
        let mut collection = self.store().get_collection(id).await?.ok_or_else(not_found)?;
        let before = collection.notify_emails.clone();
        if let Some(name) = &changes.name {
            collection.name = CollectionName::parse(name).map_err(AdminError::InvalidName)?;
        }
        if let Some(notify) = &changes.notify {
            collection.notify_emails = notify_addresses(notify)?;
        }
        if let Some(on) = changes.ticketing {
            collection.ticketing_enabled = on;
        }
        changes.limits.apply(&mut collection.rate_limits);
        let removed: Vec<Email> = before.into_iter().filter(|old| collection.member(old.as_str()).is_none()).collect();
        let every_team_link = collection.take_off(&removed);
        if !self.store().update_collection(&collection).await? {
            return Err(not_found());
        }
        // The shared link mailed before members had their own cannot be told from one a removed address kept.
        if every_team_link && let Some(generation) = self.store().raise_team_link_generation(id).await? {
            collection.team_link_generation = generation;
        }
        if !removed.is_empty() {
            tracing::info!(collection = %id, members = removed.len(), every_team_link, "members taken off the team");
        }
        Ok(CollectionUpdated { collection, removed, every_team_link_revoked: every_team_link })
    }

    /// Revokes every team link of a collection; the new generation of its links.
    pub async fn revoke_team_links(&self, id: &CollectionId) -> Result<u32, AdminError> {
        self.store().raise_team_link_generation(id).await?.ok_or_else(|| AdminError::CollectionNotFound(id.clone()))
    }
}
