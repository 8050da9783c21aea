//! A ticket: its header (who asked, about what, where it stands) and its thread of entries (messages and status
//! changes, each by a role). The e-mails each entry owes are in `domain::outbox`.

use serde::{Deserialize, Serialize};

use super::collection::{CollectionId, CollectionName};
use super::new_ticket::{CustomTags, Email, Message, NewTicket, Title};

/// A ticket's header: small on purpose (no message text, no tags), so that checking a key costs one small read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub collection_id: CollectionId,
    pub ticket_number: u64,
    /// The collection's name when the ticket was opened: every e-mail of the thread carries the same sender
    /// name and subject, so that mail clients keep them together.
    pub collection_name: CollectionName,
    pub user_email: Email,
    pub title: Title,
    pub status: TicketStatus,
    pub created_at: String,
    /// When the status last changed, and who changed it (the requester, by opening the ticket, at first).
    pub status_changed_at: String,
    pub status_changed_by: Role,
    /// When the last entry was added: the order of the team's ticket lists.
    pub last_activity_at: String,
    /// How many entries the thread has; the next one is numbered `entries + 1`.
    pub entries: u32,
    /// The requester's key is HMAC(pepper, nonce): only the nonce is stored, so the table holds no working link.
    pub key_nonce: String,
    /// The team's key, derived the same way from a nonce of its own.
    pub team_key_nonce: String,
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Waiting for someone: every new ticket.
    Open,
    /// Answered; a requester's reply opens it again.
    Resolved,
    /// Done for good: takes no more replies.
    Closed,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 3] = [TicketStatus::Open, TicketStatus::Resolved, TicketStatus::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Resolved => "resolved",
            TicketStatus::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Who wrote an entry: the person who opened the ticket, or the collection's team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    Team,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Team => "team",
        }
    }
}

/// One entry of a ticket's thread, numbered from 1 (the create's message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub seq: u32,
    pub at: String,
    pub author: Role,
    /// A message's text; absent on a status change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// The status the entry set; absent on a message that changed nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    /// The custom tags of the create (entry 1 only).
    #[serde(default, skip_serializing_if = "CustomTags::is_empty")]
    pub tags: CustomTags,
}

impl Ticket {
    /// A new open ticket, opened by its requester at `now`.
    pub fn open(
        collection_id: CollectionId,
        ticket_number: u64,
        collection_name: CollectionName,
        input: &NewTicket,
        key_nonce: String,
        team_key_nonce: String,
        now: String,
    ) -> Self {
        Self {
            collection_id,
            ticket_number,
            collection_name,
            user_email: input.requester.clone(),
            title: input.title.clone(),
            status: TicketStatus::Open,
            created_at: now.clone(),
            status_changed_at: now.clone(),
            status_changed_by: Role::Requester,
            last_activity_at: now,
            entries: 1,
            key_nonce,
            team_key_nonce,
        }
    }
}

impl Entry {
    /// The create's message: entry 1, by the requester, with the custom tags.
    pub fn first(input: NewTicket, at: String) -> Self {
        Self { seq: 1, at, author: Role::Requester, message: Some(input.message), status: None, tags: input.tags }
    }
}
