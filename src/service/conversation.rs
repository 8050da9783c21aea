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

use crate::domain::conversation::{ListCursor, MAX_ENTRIES, MAX_MESSAGES_ENTRIES, StatusRequest, THREAD_PAGE_ENTRIES};
use crate::domain::keys::key_nonce;
use crate::domain::webhook::{Endpoint, EventType};
use crate::domain::webhook_delivery::{self, EventDetail};
use crate::domain::{
    ByEmail, Collection, CollectionId, CountEntry, Email, Entry, InputError, Message, Now, Occasion, RateCount,
    RateLimits, Role, StatusMove, StatusRefusal, Ticket, TicketKey, TicketStatus, outbox::owed,
};
use crate::ports::{
    AppendWrite, Appended, CollectionStore, Counted, LimitStore, Ports, TicketPage, TicketStore, Unavailable,
};
use std::collections::BTreeMap;

use super::TicketService;

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
}

/// What a status request did.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSet {
    pub status: TicketStatus,
    pub changed: bool,
}

/// How often an entry is tried again when another write to its ticket came first.
const ATTEMPTS: usize = 3;

/// A ticket opened by a credential: the role it opens it in, whether through one of its links, and the
/// collection when it was read.
/// The webhooks an entry raises: the collection's endpoints, and how a message came (`web`, `api`, `email`).
#[derive(Clone, Copy)]
pub(super) struct Raised<'a> {
    pub(super) endpoints: &'a BTreeMap<String, Endpoint>,
    pub(super) via: &'static str,
}

pub(super) struct Opened {
    pub(super) ticket: Ticket,
    pub(super) role: Role,
    pub(super) via_link: bool,
    pub(super) collection: Option<Collection>,
}

/// A ticket's new links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub ticket_number: u64,
    pub private_url: String,
    pub team_url: String,
}

impl<P: Ports> TicketService<P> {
    /// The ticket, if the credential opens it, and the role it opens it in.
    async fn open_ticket(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
    ) -> Result<(Ticket, Role), ConversationError> {
        self.open(collection, number, credential).await.map(|o| (o.ticket, o.role))
    }

    /// The same, with the collection when it was read (a team link's check reads it).
    async fn open(
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
            return Ok(Opened { ticket, role: Role::Team, via_link: false, collection });
        };
        let pepper = self.pepper().await?;
        let ours = match role {
            Role::Requester => TicketKey::derive(pepper, &ticket.key_nonce),
            Role::Team => {
                let generation = collection.as_ref().map(|c| c.team_link_generation).ok_or_else(not_found)?;
                TicketKey::derive_team(pepper, &ticket.team_key_nonce, generation)
            }
        };
        if !ours.matches(presented) {
            return Err(not_found());
        }
        Ok(Opened { ticket, role, via_link: true, collection })
    }

    /// Counts one reply or status change made through a ticket's link (the requester's, or the team's) against
    /// its limit per ticket and hour; `None` when made otherwise (an API key, the operator), which counts nothing.
    pub(super) async fn count_link_action(
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
    pub(super) async fn uncount_link_action(&self, counted: Option<&CountEntry>) {
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

    /// Gives a ticket new links (the requester's and the team's): those made before open nothing any more. For
    /// the team only (an API key, the team's link, the operator); the links as they are now.
    pub async fn rotate_links(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        request: Result<(), InputError>,
    ) -> Result<Rotated, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        request.map_err(ConversationError::Input)?;
        if opened.role != Role::Team {
            return Err(ConversationError::Forbidden);
        }
        let (_, limits) = self.limits_for(&opened).await?;
        let counted = self.count_link_action(&opened, &limits).await?;
        let ticket = &opened.ticket;
        let (key_nonce, team_key_nonce) = (key_nonce(), key_nonce());
        let (id, n) = (&ticket.collection_id, ticket.ticket_number);
        let rotated = self.store().rotate_keys(id, n, &key_nonce, &team_key_nonce).await;
        if !matches!(rotated, Ok(true)) {
            self.uncount_link_action(counted.as_ref()).await;
        }
        if !rotated? {
            return Err(ConversationError::NotFound);
        }
        let pepper = self.pepper().await?;
        let generation = match &opened.collection {
            Some(c) => c.team_link_generation,
            None => self.store().get_collection(id).await?.map(|c| c.team_link_generation).unwrap_or_default(),
        };
        tracing::info!(collection = %id, ticket = n, "ticket links rotated");
        Ok(Rotated {
            ticket_number: n,
            private_url: self.private_url(pepper, id, n, &key_nonce),
            team_url: self.team_url(pepper, id, n, &team_key_nonce, generation),
        })
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
        let (ticket, role) = self.open_ticket(collection, number, credential).await?;
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
        let thread = thread?;
        let first = match first? {
            Some(first) => Some(first),
            None => thread.first().filter(|e| e.seq == 1).cloned(),
        };
        let earlier = thread.first().map(|e| e.seq).filter(|seq| *seq > 1);
        Ok(Conversation { ticket, thread, first, earlier, role })
    }

    /// Adds a message by the credential's role. `text` is the parsed body: its problems are reported after the
    /// credential was checked.
    pub async fn add_message(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        text: Result<Message, InputError>,
    ) -> Result<Added, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        let (mut ticket, role) = (opened.ticket.clone(), opened.role);
        let text = text.map_err(ConversationError::Input)?;
        ticket.status.after_message(role).map_err(refusal)?;
        room_for(&ticket, MAX_MESSAGES_ENTRIES)?;
        // A requester's message goes to the team's addresses as they are now; replies through a link are limited
        // per ticket and hour, and a refused one counts nothing.
        let (team, counted) = match (role, opened.via_link) {
            (Role::Team, false) => (Vec::new(), None),
            _ => {
                let (team, limits) = self.limits_for(&opened).await?;
                let team = if role == Role::Requester { team } else { Vec::new() };
                (team, self.count_link_action(&opened, &limits).await?)
            }
        };
        let endpoints = self.endpoints_for(&opened).await?;
        let via = if opened.via_link { "web" } else { "api" };
        let raised = Raised { endpoints: &endpoints, via };
        let result = match self.append_message(&mut ticket, role, text, &team, None, raised).await {
            Ok(Some(added)) => Ok(added),
            Ok(None) => unreachable!("only a message received by e-mail can be recorded already"),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.uncount_link_action(counted.as_ref()).await;
        }
        result
    }

    /// Appends a message by `role` to `ticket` (read again and decided again if it changed meanwhile), with the
    /// e-mails it owes to `team` or the requester; for a reply by e-mail, how it came and the received
    /// message's mark. `None`: that message is recorded already.
    pub(super) async fn append_message(
        &self,
        ticket: &mut Ticket,
        role: Role,
        text: Message,
        team: &[Email],
        received: Option<(ByEmail, String)>,
        raised: Raised<'_>,
    ) -> Result<Option<Added>, ConversationError> {
        let (by_email, mark) = received.unzip();
        for _ in 0..ATTEMPTS {
            let status = ticket.status.after_message(role).map_err(refusal)?;
            room_for(ticket, MAX_MESSAGES_ENTRIES)?;
            let at = self.now();
            let now = at.rfc3339();
            let seq = ticket.entries + 1;
            let reopened = (status != ticket.status).then_some(status);
            let entry = Entry {
                seq,
                at: now.clone(),
                author: role,
                message: Some(text.clone()),
                status: reopened,
                tags: Default::default(),
                by_email: by_email.clone(),
            };
            let after = ticket.after_entry(seq, role, &now, status);
            let mail = owed(&after, seq, role, Occasion::Message, team, &now, self.due(at));
            let detail = EventDetail { via: Some(raised.via.to_owned()), ..Default::default() };
            let webhooks = webhook_delivery::owed(
                raised.endpoints,
                &after,
                seq,
                EventType::MessageCreated,
                detail,
                &now,
                self.due(at),
            );
            let write = AppendWrite { before: ticket.clone(), after, entry, mail, webhooks, received: mark.clone() };
            match self.store().append(&write).await? {
                Appended::Stored => {
                    tracing::info!(collection = %ticket.collection_id, ticket = ticket.ticket_number, entry = seq,
                        author = role.as_str(), emails = write.mail.len(), by_email = write.received.is_some(),
                        "message added");
                    return Ok(Some(Added { entry: write.entry, status }));
                }
                Appended::AlreadyRecorded => return Ok(None),
                Appended::Moved => *ticket = self.reread(ticket).await?,
            }
        }
        Err(Unavailable::new("thread entry", anyhow::anyhow!("the ticket kept changing")).into())
    }

    /// Sets the status, as far as the credential's role may.
    pub async fn set_status(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        request: Result<StatusRequest, InputError>,
    ) -> Result<StatusSet, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        let (mut ticket, role) = (opened.ticket.clone(), opened.role);
        let request = request.map_err(ConversationError::Input)?;
        // A change through a link (not a request for the status the ticket has) counts against its limit.
        let counted = match ticket.status.set_by(role, request.status).map_err(refusal)? {
            StatusMove::Changed(_) if opened.via_link => {
                room_for(&ticket, MAX_ENTRIES)?;
                let (_, limits) = self.limits_for(&opened).await?;
                self.count_link_action(&opened, &limits).await?
            }
            _ => None,
        };
        let endpoints = self.endpoints_for(&opened).await?;
        let result = self.change_status(&mut ticket, role, request, &endpoints).await;
        if !matches!(result, Ok(StatusSet { changed: true, .. })) {
            self.uncount_link_action(counted.as_ref()).await;
        }
        result
    }

    /// The status change, written if the ticket is still as read; read again and decided again if not.
    async fn change_status(
        &self,
        ticket: &mut Ticket,
        role: Role,
        request: StatusRequest,
        endpoints: &BTreeMap<String, Endpoint>,
    ) -> Result<StatusSet, ConversationError> {
        for _ in 0..ATTEMPTS {
            let to = match ticket.status.set_by(role, request.status).map_err(refusal)? {
                StatusMove::Unchanged => return Ok(StatusSet { status: ticket.status, changed: false }),
                StatusMove::Changed(to) => to,
            };
            room_for(ticket, MAX_ENTRIES)?;
            let occasion = match to {
                TicketStatus::Resolved => Occasion::Resolved,
                TicketStatus::Closed => Occasion::Closed { tell_requester: request.notify_requester },
                TicketStatus::Open => Occasion::Reopened,
            };
            let team = match (occasion, role) {
                (Occasion::Resolved, Role::Requester) => self.team_of(ticket).await?,
                _ => Vec::new(),
            };
            let at = self.now();
            let now = at.rfc3339();
            let seq = ticket.entries + 1;
            let entry = Entry {
                seq,
                at: now.clone(),
                author: role,
                message: None,
                status: Some(to),
                tags: Default::default(),
                by_email: None,
            };
            let after = ticket.after_entry(seq, role, &now, to);
            let mail = owed(&after, seq, role, occasion, &team, &now, self.due(at));
            let detail = EventDetail { from_status: Some(ticket.status), ..Default::default() };
            let webhooks =
                webhook_delivery::owed(endpoints, &after, seq, EventType::StatusChanged, detail, &now, self.due(at));
            let write = AppendWrite { before: ticket.clone(), after, entry, mail, webhooks, received: None };
            match self.store().append(&write).await? {
                Appended::Stored => {
                    tracing::info!(collection = %ticket.collection_id, ticket = ticket.ticket_number, entry = seq,
                        author = role.as_str(), status = to.as_str(), emails = write.mail.len(), "status changed");
                    return Ok(StatusSet { status: to, changed: true });
                }
                Appended::Moved => *ticket = self.reread(ticket).await?,
                Appended::AlreadyRecorded => unreachable!("a status change records no received message"),
            }
        }
        Err(Unavailable::new("thread entry", anyhow::anyhow!("the ticket kept changing")).into())
    }

    /// A page of a collection's tickets of one status, newest activity first, for an API key granted it. The
    /// key is checked before anything about the query is said.
    /// The collection an API key may act on: 401 without a valid key, 403 for a collection it is not granted.
    pub async fn authorize_key(
        &self,
        collection: &str,
        presented_key: Option<&str>,
    ) -> Result<CollectionId, ConversationError> {
        let key = self.authenticate(presented_key).await?.ok_or(ConversationError::Unauthorized)?;
        CollectionId::parse(collection).filter(|id| key.grants(id)).ok_or(ConversationError::Forbidden)
    }

    pub async fn list_tickets(
        &self,
        collection: &str,
        presented_key: Option<&str>,
        request: Result<ListRequest, ConversationError>,
    ) -> Result<TicketPage, ConversationError> {
        let key = self.authenticate(presented_key).await?.ok_or(ConversationError::Unauthorized)?;
        let id = CollectionId::parse(collection).filter(|id| key.grants(id)).ok_or(ConversationError::Forbidden)?;
        let ListRequest { status, limit, cursor } = request?;
        Ok(self.store().list_page(&id, status, limit, cursor.as_ref()).await?)
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

    async fn reread(&self, ticket: &Ticket) -> Result<Ticket, ConversationError> {
        self.store().get_ticket(&ticket.collection_id, ticket.ticket_number).await?.ok_or(ConversationError::NotFound)
    }

    /// When an e-mail written at `now` is due for the sweep, if the stream has not sent it by then.
    pub(super) fn due(&self, now: Now) -> u64 {
        now.ms_after(self.delivery.sweep_after)
    }
}

/// Whether the ticket takes one more entry under `most`.
fn room_for(ticket: &Ticket, most: u32) -> Result<(), ConversationError> {
    match ticket.entries < most {
        true => Ok(()),
        false => Err(ConversationError::ThreadFull { most }),
    }
}

fn refusal(refusal: StatusRefusal) -> ConversationError {
    match refusal {
        StatusRefusal::Closed => ConversationError::Closed,
        StatusRefusal::NotAllowed => ConversationError::Forbidden,
    }
}
