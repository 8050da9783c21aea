//! A ticket: its header (who asked, about what, where it stands) and its thread of entries (messages and status
//! changes, each by a role). The e-mails each entry owes are in `domain::outbox`.

use serde::{Deserialize, Serialize};

use super::attachment::FileMeta;
use super::collection::CollectionName;
use super::collection_id::CollectionId;
use super::email_address::Email;
use super::inbound::Attachment;
use super::new_ticket::{CustomTags, Message, NewTicket, Title};

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
    /// How many files the thread keeps, and their bytes: what `attachment::MAX_FILES_PER_TICKET` and
    /// `MAX_TICKET_FILE_BYTES` hold.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub files: u32,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub file_bytes: u64,
    /// The member of the team who owns the ticket, if one does: the requester's messages e-mail them only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Email>,
    /// Who wrote the last message (the create's is the requester's): whom the ticket waits on. Absent on tickets
    /// stored before it was kept (`waiting_on` then goes by the status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_by: Option<Role>,
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

    /// The one table of status changes: `role` asks to set `to` on a ticket that is `self`.
    /// The requester may resolve; the team may resolve, close and reopen. A closed ticket is reopened, not
    /// resolved. Asking for the status a ticket already has is no change, and no refusal.
    pub fn set_by(self, role: Role, to: TicketStatus) -> Result<StatusMove, StatusRefusal> {
        use TicketStatus::*;
        match (role, self, to) {
            (_, from, to) if from == to => Ok(StatusMove::Unchanged),
            (Role::Requester, Open, Resolved) => Ok(StatusMove::Changed(Resolved)),
            (Role::Requester, Closed, _) => Err(StatusRefusal::Closed),
            (Role::Requester, _, _) => Err(StatusRefusal::NotAllowed),
            (Role::Team, Closed, Resolved) => Err(StatusRefusal::Closed),
            (Role::Team, _, to) => Ok(StatusMove::Changed(to)),
        }
    }

    /// The status after a message by `role`: a requester's reply opens a resolved ticket again; a closed one
    /// takes no message.
    pub fn after_message(self, role: Role) -> Result<TicketStatus, StatusRefusal> {
        match (self, role) {
            (TicketStatus::Closed, _) => Err(StatusRefusal::Closed),
            (TicketStatus::Resolved, Role::Requester) => Ok(TicketStatus::Open),
            (status, _) => Ok(status),
        }
    }
}

/// What a status request comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMove {
    Changed(TicketStatus),
    /// The ticket already has that status: nothing to write, nothing to tell.
    Unchanged,
}

/// Why a role may not do what it asked to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusRefusal {
    /// The ticket is closed: it takes no message and no status but a team's reopen.
    Closed,
    /// This role may not set this status.
    NotAllowed,
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

    /// The side an entry by this role is told to.
    pub fn other(self) -> Role {
        match self {
            Role::Requester => Role::Team,
            Role::Team => Role::Requester,
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
    /// A message that came as a reply by e-mail: from whom, and what came with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_email: Option<ByEmail>,
    /// The files the message carries, kept under the ticket in the bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<FileMeta>,
    /// The member of the team who wrote it (through their own link or reply address); absent for the requester
    /// and for the team as a whole (an API key, the operator, the shared link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Email>,
    /// An assignment: the member the ticket went to (`to: None`: unassigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned: Option<Assignment>,
}

/// A change of a ticket's assignee, as its thread entry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub to: Option<Email>,
    /// The assignee before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Email>,
}

/// How a message came by e-mail: the sender's address (which the team sees), and the attachments it had that
/// are not kept as files (past the caps), listed by name and size: the raw message keeps them until the bucket
/// lets it expire. (Entries of before files were kept list every attachment here.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ByEmail {
    pub from: Email,
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "attachments")]
    pub left_out: Vec<Attachment>,
    /// Attachments left out past those listed (`inbound::MAX_LISTED_ATTACHMENTS`).
    #[serde(default, skip_serializing_if = "is_zero", alias = "moreAttachments")]
    pub more_left_out: u32,
    /// The new text was longer than a message may be, and was cut (the raw message has it whole).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The sender's domain did not vouch for it (DMARC failed under `p=none`, or gave no verdict): recorded, as
    /// the domain asked nothing else, and shown as not authenticated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unauthenticated: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
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
            files: 0,
            file_bytes: 0,
            assignee: None,
            last_message_by: Some(Role::Requester),
        }
    }
}

impl Ticket {
    /// Whom the ticket waits on: the team when the requester spoke last (an open ticket whose last message is not
    /// known: the team too), the requester otherwise.
    pub fn waiting_on(&self) -> Role {
        match self.last_message_by {
            Some(Role::Requester) => Role::Team,
            Some(Role::Team) => Role::Requester,
            None if self.status == TicketStatus::Open => Role::Team,
            None => Role::Requester,
        }
    }
}

impl Entry {
    /// An entry numbered `seq` without a message (a status change, an assignment: the caller sets which), by
    /// `author` (and the member `by`) at `at`.
    pub fn event(seq: u32, at: String, author: Role, by: Option<Email>) -> Self {
        Self {
            seq,
            at,
            author,
            message: None,
            status: None,
            tags: CustomTags::default(),
            by_email: None,
            attachments: Vec::new(),
            by,
            assigned: None,
        }
    }

    /// The create's message: entry 1, by the requester, with the custom tags.
    pub fn first(input: NewTicket, at: String) -> Self {
        Self {
            seq: 1,
            at,
            author: Role::Requester,
            message: Some(input.message),
            status: None,
            tags: input.tags,
            by_email: None,
            attachments: Vec::new(),
            by: None,
            assigned: None,
        }
    }
}

impl Ticket {
    /// The header after an entry numbered `seq`, by `author` at `at`, that leaves the ticket `status`.
    pub fn after_entry(&self, seq: u32, author: Role, at: &str, status: TicketStatus) -> Ticket {
        let mut next = self.clone();
        next.entries = seq;
        next.last_activity_at = at.to_owned();
        if status != self.status {
            next.status = status;
            next.status_changed_at = at.to_owned();
            next.status_changed_by = author;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;
    use TicketStatus::*;

    #[test]
    fn each_role_sets_only_the_statuses_it_may() {
        assert_eq!(Open.set_by(Requester, Resolved), Ok(StatusMove::Changed(Resolved)));
        assert_eq!(Resolved.set_by(Requester, Resolved), Ok(StatusMove::Unchanged), "no change is no refusal");
        assert_eq!(Open.set_by(Requester, Closed), Err(StatusRefusal::NotAllowed));
        assert_eq!(
            Resolved.set_by(Requester, Open),
            Err(StatusRefusal::NotAllowed),
            "the requester reopens by replying"
        );
        assert_eq!(Closed.set_by(Requester, Resolved), Err(StatusRefusal::Closed));
        for (from, to) in [(Open, Resolved), (Open, Closed), (Resolved, Closed), (Resolved, Open), (Closed, Open)] {
            assert_eq!(from.set_by(Team, to), Ok(StatusMove::Changed(to)), "{from:?} → {to:?}");
        }
        assert_eq!(Closed.set_by(Team, Resolved), Err(StatusRefusal::Closed), "a closed ticket is reopened first");
    }

    #[test]
    fn a_requesters_reply_reopens_a_resolved_ticket_and_a_closed_one_takes_none() {
        assert_eq!(Resolved.after_message(Requester), Ok(Open));
        assert_eq!(Resolved.after_message(Team), Ok(Resolved));
        assert_eq!(Open.after_message(Team), Ok(Open));
        assert_eq!(Closed.after_message(Requester), Err(StatusRefusal::Closed));
        assert_eq!(Closed.after_message(Team), Err(StatusRefusal::Closed));
    }
}
