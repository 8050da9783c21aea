//! A stored ticket and the record of each e-mail it caused.

use serde::{Deserialize, Serialize};

use super::collection::CollectionId;
use super::new_ticket::{CustomTags, Email, Message, NewTicket, Title};

/// A ticket as stored: the caller's fields plus its number, status, the hash of its private key and what
/// happened to its e-mails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub collection_id: CollectionId,
    pub ticket_number: u64,
    pub user_email: Email,
    pub title: Title,
    pub message: Message,
    #[serde(default, skip_serializing_if = "CustomTags::is_empty")]
    pub custom_tags: CustomTags,
    pub status: TicketStatus,
    pub created_at: String,
    /// SHA-256 of the ticket key in the private link; the key itself is not kept.
    pub ticket_key_hash: String,
    pub emails: Vec<EmailDelivery>,
    /// The private link, kept only while the requester's e-mail has not gone out, so that it can be re-sent.
    /// Removed as soon as that e-mail is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_private_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
        }
    }
}

/// Who an e-mail is for: the requester, or one of the collection's notification addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    Requester,
    Notification,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not attempted yet (the ticket is stored before any e-mail is sent).
    Pending,
    Sent,
    Failed,
}

/// One e-mail of a ticket and its latest outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailDelivery {
    pub kind: EmailKind,
    pub to: Email,
    pub status: DeliveryStatus,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
}

impl EmailDelivery {
    pub fn pending(kind: EmailKind, to: Email) -> Self {
        Self {
            kind,
            to,
            status: DeliveryStatus::Pending,
            attempts: 0,
            message_id: None,
            error: None,
            last_attempt_at: None,
        }
    }

    /// Records one attempt's outcome: the provider's message id, or why it failed.
    pub fn record(&mut self, outcome: Result<String, String>, at: String) {
        self.attempts += 1;
        self.last_attempt_at = Some(at);
        match outcome {
            Ok(id) => {
                self.status = DeliveryStatus::Sent;
                self.message_id = Some(id);
                self.error = None;
            }
            Err(why) => {
                self.status = DeliveryStatus::Failed;
                self.error = Some(why);
            }
        }
    }
}

impl Ticket {
    /// A new open ticket with every e-mail pending: one to the requester, one per notification address.
    pub fn open(
        collection_id: CollectionId,
        ticket_number: u64,
        input: NewTicket,
        ticket_key_hash: String,
        private_url: String,
        notify: &[Email],
        created_at: String,
    ) -> Self {
        let mut emails = vec![EmailDelivery::pending(EmailKind::Requester, input.requester.clone())];
        emails.extend(notify.iter().cloned().map(|to| EmailDelivery::pending(EmailKind::Notification, to)));
        Self {
            collection_id,
            ticket_number,
            user_email: input.requester,
            title: input.title,
            message: input.message,
            custom_tags: input.tags,
            status: TicketStatus::Open,
            created_at,
            ticket_key_hash,
            emails,
            pending_private_url: Some(private_url),
        }
    }

    /// True once the requester's e-mail is out: the private link no longer needs to be kept.
    pub fn requester_email_sent(&self) -> bool {
        self.emails.iter().any(|e| e.kind == EmailKind::Requester && e.status == DeliveryStatus::Sent)
    }
}
