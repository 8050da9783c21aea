//! A ticket's conversation: the one place that orders the steps of reading a thread, adding a message,
//! changing the status and listing a collection's tickets.
//!
//! 1. the credential: an API key granted the collection (the team, 401 / 403 as on a create), or a ticket's
//!    requester key or team key, checked against the ticket's header alone (one small read; a wrong key, another
//!    ticket's key and a missing ticket are the same `NotFound`), compared in constant time;
//! 2. the request's body (422 for a message or status that breaks the rules);
//! 3. the rules of the status (a closed ticket takes nothing but a team's reopen: 409; a role may set only its
//!    statuses: 403; asking for the status a ticket has is done, and changes nothing), and of the thread's length
//!    (409 past `MAX_MESSAGES_ENTRIES` for a message, `MAX_ENTRIES` for a status change);
//! 4. the requester's replies, counted per ticket and hour (429 past the limit; a refused reply counts nothing);
//! 5. one transaction writes the entry, the header as it becomes and the e-mails the entry owes, if the ticket is
//!    still as it was read; if another write came first, it is read again and the steps from 3 decided again.

use crate::domain::conversation::{ListCursor, THREAD_PAGE_ENTRIES};
use crate::domain::webhook::Endpoint;
use crate::domain::{
    ApiKeyRecord, Collection, CollectionId, CountEntry, Email, Entry, InputError, Now, RateCount, RateLimits, Role,
    Ticket, TicketKey, TicketStatus,
};
use crate::ports::{CollectionStore, Counted, LimitStore, Ports, TicketPage, TicketStore, Unavailable};
use std::collections::BTreeMap;

use super::TicketService;

mod assign;
mod changes;

pub use assign::Assigned;

/// What a caller presents to act on a ticket.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// `x-api-key` (absent or malformed too: that is a 401): the team, through the API.
    ApiKey(Option<&'a str>),
    /// `?key=`: the requester, through the private link.
    TicketKey(&'a str),
    /// `?teamKey=`: the team, through the link in its e-mails.
    TeamKey(&'a str),
    /// The operator, through `ticketctl` and the tables' own credentials: the team.
    Operator,
}

/// Why a conversation request was refused. Each variant is one outcome of the contract.
#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("missing, malformed, unknown or revoked API key")]
    Unauthorized,
    #[error("not allowed to this key or role")]
    Forbidden,
    #[error("no such ticket, or not with this key")]
    NotFound,
    #[error("the ticket is closed")]
    Closed,
    #[error("this ticket's link takes no more replies or changes this hour")]
    RateLimited { limit: u32, resets_in: u64, policy: &'static str },
    #[error(transparent)]
    Input(InputError),
    #[error("invalid query: {0}")]
    InvalidQuery(&'static str),
    #[error("the ticket's thread is full")]
    ThreadFull { most: u32 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// A ticket as one who may act on it sees it: the header, a page of its thread, and the role it is seen in.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub ticket: Ticket,
    /// At most `THREAD_PAGE_ENTRIES` entries, in order: the newest, or the newest before the entry asked for.
    pub thread: Vec<Entry>,
    /// The first entry (the create's message and tags), whether or not the page holds it.
    pub first: Option<Entry>,
    /// The entry that begins this page, when earlier ones exist: where the page before it ends.
    pub earlier: Option<u32>,
    pub role: Role,
    /// The member whose link opened it (`None`: the requester, an API key, the team's shared link).
    pub viewer: Option<Email>,
    /// The team's members, for a team link's view (empty otherwise).
    pub members: Vec<Email>,
}

/// What adding a message did.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub entry: Entry,
    pub status: TicketStatus,
}

/// A page asked of a collection's tickets.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    pub status: TicketStatus,
    pub limit: usize,
    pub cursor: Option<ListCursor>,
    /// Only the tickets of this assignee (`Some(None)`: those assigned to nobody).
    pub assignee: Option<Option<Email>>,
}

/// What a status request did.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSet {
    pub status: TicketStatus,
    pub changed: bool,
}

/// How often an entry is tried again when another write to its ticket came first.
const ATTEMPTS: usize = 3;

/// What an entry raises and records: the collection's endpoints (its webhooks), how a message came (`web`, `api`,
/// `email`), and the member who acted.
#[derive(Clone)]
pub(in crate::service) struct Raised<'a> {
    pub(in crate::service) endpoints: &'a BTreeMap<String, Endpoint>,
    pub(in crate::service) via: &'static str,
    /// The member who acted (`Entry::by`).
    pub(in crate::service) by: Option<Email>,
}

/// A ticket opened by a credential: the role it opens it in, whether through one of its links, the collection
/// when it was read, and the member whose link it was.
pub(in crate::service) struct Opened {
    pub(in crate::service) ticket: Ticket,
    pub(in crate::service) role: Role,
    pub(in crate::service) via_link: bool,
    pub(in crate::service) collection: Option<Collection>,
    /// The member whose link opened it; `None` for the requester, the team's shared link, an API key, the
    /// operator.
    pub(in crate::service) by: Option<Email>,
}

/// A ticket's new links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub ticket_number: u64,
    pub private_url: String,
    pub team_url: String,
}

impl<P: Ports> TicketService<P> {
    /// The ticket, if the credential opens it: the role it opens it in, with the collection when it was read (a
    /// team link's check reads it) and the member whose link it was.
    pub(in crate::service) async fn open(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
    ) -> Result<Opened, ConversationError> {
        let not_found = || ConversationError::NotFound;
        let (id, key) = match credential {
            Credential::ApiKey(presented) => {
                let key = self.authenticate(presented).await?.ok_or(ConversationError::Unauthorized)?;
                let id =
                    CollectionId::parse(collection).filter(|id| key.grants(id)).ok_or(ConversationError::Forbidden)?;
                (id, None)
            }
            Credential::TicketKey(key) => {
                (CollectionId::parse(collection).ok_or_else(not_found)?, Some((key, Role::Requester)))
            }
            Credential::TeamKey(key) => {
                (CollectionId::parse(collection).ok_or_else(not_found)?, Some((key, Role::Team)))
            }
            Credential::Operator => (CollectionId::parse(collection).ok_or_else(not_found)?, None),
        };
        let number = number.parse::<u64>().map_err(|_| not_found())?;
        // A team link is checked against the collection's generation of team links: both read side by side.
        let (ticket, collection) = match key {
            Some((_, Role::Team)) => {
                let (ticket, collection) =
                    tokio::join!(self.store().get_ticket(&id, number), self.store().get_collection(&id));
                (ticket?, collection?)
            }
            _ => (self.store().get_ticket(&id, number).await?, None),
        };
        let ticket = ticket.ok_or_else(not_found)?;
        let Some((presented, role)) = key else {
            return Ok(Opened { ticket, role: Role::Team, via_link: false, collection, by: None });
        };
        let pepper = self.pepper().await?;
        // A team link is a member's (whose actions it records as theirs) or the team's shared one.
        let by = match role {
            Role::Requester if TicketKey::derive(pepper, &ticket.key_nonce).matches(presented) => None,
            Role::Team => collection
                .as_ref()
                .and_then(|c| c.team_link_holder(pepper, &ticket.team_key_nonce, presented))
                .ok_or_else(not_found)?,
            Role::Requester => return Err(not_found()),
        };
        Ok(Opened { ticket, role, via_link: true, collection, by })
    }

    /// Counts one reply or status change made through a ticket's link (the requester's, or the team's) against
    /// its limit per ticket and hour; `None` when made otherwise (an API key, the operator), which counts nothing.
    pub(in crate::service) async fn count_link_action(
        &self,
        opened: &Opened,
        limits: &RateLimits,
    ) -> Result<Option<CountEntry>, ConversationError> {
        if !opened.via_link {
            return Ok(None);
        }
        let (team_link, limit, policy) = match opened.role {
            Role::Requester => (false, limits.per_ticket_replies, "per-ticket-replies"),
            Role::Team => (true, limits.per_ticket_team_link, "per-ticket-team-link"),
        };
        let ticket = &opened.ticket;
        let now = self.now().secs();
        let (entry, resets_in) = RateCount::link_actions(&ticket.collection_id, ticket.ticket_number, team_link, now);
        match self.store().count(&entry, limit).await? {
            Counted::Counted(_) => Ok(Some(entry)),
            Counted::Refused(_) => {
                tracing::warn!(collection = %ticket.collection_id, ticket = ticket.ticket_number, policy,
                    "link limit reached");
                Err(ConversationError::RateLimited { limit, resets_in, policy })
            }
        }
    }

    /// Takes back a link action's count when what it counted did not happen (best effort).
    pub(in crate::service) async fn uncount_link_action(&self, counted: Option<&CountEntry>) {
        if let Some(entry) = counted
            && let Err(e) = self.store().uncount(entry).await
        {
            tracing::warn!(error = %e, "could not take back a link action's count; it expires with its hour");
        }
    }

    /// The collection's limits: as read to open the ticket, or read now.
    async fn limits_for(&self, opened: &Opened) -> Result<(Vec<Email>, RateLimits), ConversationError> {
        let collection = match &opened.collection {
            Some(c) => Some(c.clone()),
            None => self.store().get_collection(&opened.ticket.collection_id).await?,
        };
        Ok(collection.map(|c| (c.notify_emails, c.rate_limits)).unwrap_or_default())
    }

    /// The conversation, for whoever may read it: the newest page of its thread, or the one that ends before
    /// entry `before`. Every answer stays far below a Lambda response's 6 MB, however long the thread.
    pub async fn conversation(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        before: Option<u32>,
    ) -> Result<Conversation, ConversationError> {
        let Opened { ticket, role, by: viewer, collection, .. } = self.open(collection, number, credential).await?;
        // The team's members, when the credential's check read them (a team link): whom the page assigns to.
        let members = collection.map(|c| c.notify_emails).unwrap_or_default();
        let (id, n) = (&ticket.collection_id, ticket.ticket_number);
        let before = before.unwrap_or(u32::MAX);
        let (thread, first) = tokio::join!(
            self.store().thread_page(id, n, before, THREAD_PAGE_ENTRIES),
            // Only when the page may not hold it: a page of a long thread, or an earlier page.
            async {
                match ticket.entries as usize > THREAD_PAGE_ENTRIES || before != u32::MAX {
                    true => self.store().get_entry(id, n, 1).await,
                    false => Ok(None),
                }
            }
        );
        let mut thread = thread?;
        // Assignments are the team's business: the requester's view leaves them out.
        if role == Role::Requester {
            thread.retain(|e| e.assigned.is_none());
        }
        let first = match first? {
            Some(first) => Some(first),
            None => thread.first().filter(|e| e.seq == 1).cloned(),
        };
        let earlier = thread.first().map(|e| e.seq).filter(|seq| *seq > 1);
        Ok(Conversation { ticket, thread, first, earlier, role, viewer, members })
    }

    /// A page of a collection's tickets of one status, newest activity first, for an API key granted it. The
    /// key is checked before anything about the query is said.
    /// The collection an API key may act on: 401 without a valid key, 403 for a collection it is not granted.
    pub async fn authorize_key(
        &self,
        collection: &str,
        presented_key: Option<&str>,
    ) -> Result<CollectionId, ConversationError> {
        Ok(self.authorize_key_record(collection, presented_key).await?.0)
    }

    /// The same, with the key's record: what a change made through the API is recorded as made by.
    pub async fn authorize_key_record(
        &self,
        collection: &str,
        presented_key: Option<&str>,
    ) -> Result<(CollectionId, ApiKeyRecord), ConversationError> {
        let key = self.authenticate(presented_key).await?.ok_or(ConversationError::Unauthorized)?;
        let id = CollectionId::parse(collection).filter(|id| key.grants(id)).ok_or(ConversationError::Forbidden)?;
        Ok((id, key))
    }

    pub async fn list_tickets(
        &self,
        collection: &str,
        presented_key: Option<&str>,
        request: Result<ListRequest, ConversationError>,
    ) -> Result<TicketPage, ConversationError> {
        let key = self.authenticate(presented_key).await?.ok_or(ConversationError::Unauthorized)?;
        let id = CollectionId::parse(collection).filter(|id| key.grants(id)).ok_or(ConversationError::Forbidden)?;
        let ListRequest { status, limit, cursor, assignee } = request?;
        let Some(assignee) = assignee else {
            return Ok(self.store().list_page(&id, status, limit, cursor.as_ref()).await?);
        };
        let same = |a: Option<&Email>, b: Option<&Email>| match (a, b) {
            (Some(a), Some(b)) => a.as_str().eq_ignore_ascii_case(b.as_str()),
            (a, b) => a.is_none() && b.is_none(),
        };
        let keep = |t: &Ticket| same(t.assignee.as_ref(), assignee.as_ref());
        let (tickets, next) = self.filtered_page(&id, status, limit, cursor, true, keep).await?;
        Ok(TicketPage { tickets, next })
    }

    /// The collection's webhook endpoints: from the collection the credential check read, or read now.
    async fn endpoints_for(&self, opened: &Opened) -> Result<BTreeMap<String, Endpoint>, Unavailable> {
        match &opened.collection {
            Some(collection) => Ok(collection.webhooks.clone()),
            None => Ok(self
                .store()
                .get_collection(&opened.ticket.collection_id)
                .await?
                .map(|c| c.webhooks)
                .unwrap_or_default()),
        }
    }

    /// The collection's notification addresses now: who hears of the requester's messages.
    async fn team_of(&self, ticket: &Ticket) -> Result<Vec<Email>, Unavailable> {
        Ok(self.store().get_collection(&ticket.collection_id).await?.map(|c| c.notify_emails).unwrap_or_default())
    }

    /// The ticket as it is now, after a write found it changed. A change that came through a link (or a reply
    /// address) of role `bound` is checked against the nonces read again: if that role's links were rotated
    /// meanwhile, the credential opens nothing any more (the same `NotFound`).
    async fn reread(&self, ticket: &Ticket, bound: Option<Role>) -> Result<Ticket, ConversationError> {
        let now = self.store().get_ticket(&ticket.collection_id, ticket.ticket_number).await?;
        let now = now.ok_or(ConversationError::NotFound)?;
        let rotated = match bound {
            Some(Role::Requester) => now.key_nonce != ticket.key_nonce,
            Some(Role::Team) => now.team_key_nonce != ticket.team_key_nonce,
            None => false,
        };
        if rotated {
            tracing::info!(collection = %ticket.collection_id, ticket = ticket.ticket_number,
                "a change lost the race with a rotation of its links: not recorded");
            return Err(ConversationError::NotFound);
        }
        Ok(now)
    }

    /// When an e-mail written at `now` is due for the sweep, if the stream has not sent it by then.
    pub(in crate::service) fn due(&self, now: Now) -> u64 {
        now.ms_after(self.delivery.sweep_after)
    }
}
