//! Webhook deliveries: one per event and endpoint, written with the entry that raises the event (like an
//! e-mail), then claimed, attempted and settled; what each tells, made from the ticket and entry as stored.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::collection_id::CollectionId;
use super::email_address::Email;
use super::ticket::{Entry, Role, Ticket, TicketStatus};
use super::webhook::{Endpoint, EventType};

/// The waits before each retry of a delivery that failed: about 27 hours in all, then it has failed for good.
pub const RETRY_SCHEDULE: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// How long an endpoint fails everything before it is disabled (as Svix does): one failure, or a day of them,
/// disables nothing; an endpoint that answered nothing but failures for five days is off until it is enabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3_600);

/// How long after it was written a delivery owed to a disabled endpoint is kept for it: enabled within this, the
/// endpoint gets it; later, it is dropped (with the reason, in the delivery log) when the endpoint is enabled.
pub const HELD_FOR: Duration = Duration::from_secs(14 * 24 * 3_600);

/// Whether an answer says this delivery will never be taken as it is, however often the same signed body is sent:
/// 400 (malformed), 410 (gone), 413 (too large), 415 (unsupported), 422 (unprocessable). Such a delivery ends at
/// once (`Failed`), and says nothing of the endpoint's health: it answered. Other 4xx are retried on the schedule:
/// 401, 403 and 404 are most often a receiver being set up or fixed (a secret not installed yet, a route being
/// deployed), and 408 and 429 ask for it.
pub fn refused_for_good(status: u16) -> bool {
    matches!(status, 400 | 410 | 413 | 415 | 422)
}

/// Which delivery: the ticket, the entry whose event it tells, the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookDeliveryKey {
    pub collection_id: CollectionId,
    pub ticket_number: u64,
    pub entry: u32,
    pub endpoint_id: String,
    /// For `mail.undeliverable`: which of the entry's e-mails.
    pub mail: Option<u32>,
    /// … and the attempt its fate came to: an e-mail re-sent and failing again has a fate, and a delivery, of its
    /// own (`None` on deliveries written before it was kept).
    pub mail_attempt: Option<u32>,
}

impl WebhookDeliveryKey {
    /// The delivery's `webhook-id`: the same on every attempt, so that a receiver deduplicates on it.
    pub fn webhook_id(&self) -> String {
        let id = format!("msg_{}_{}_{}_{}", self.collection_id, self.ticket_number, self.entry, self.endpoint_id);
        match (self.mail, self.mail_attempt) {
            (Some(index), Some(attempt)) => format!("{id}_m{index}_a{attempt}"),
            (Some(index), None) => format!("{id}_m{index}"),
            (None, _) => id,
        }
    }
}

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookDeliveryState {
    /// Written with its entry, not tried yet.
    Pending,
    /// A deliverer owns it until its lease lapses (`due_at_ms`).
    Sending,
    /// The last attempt failed: tried again at `due_at_ms`.
    Retrying,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt of `RETRY_SCHEDULE` failed, or the endpoint refused it for good (`refused_for_good`).
    Failed,
    /// Owed to a disabled endpoint: out of the due ones, kept until the endpoint is enabled (or `HELD_FOR`).
    Held,
    /// Not delivered, and never will be: its endpoint was removed, or it was held past `HELD_FOR`.
    Dropped,
}

impl WebhookDeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookDeliveryState::Pending => "pending",
            WebhookDeliveryState::Sending => "sending",
            WebhookDeliveryState::Retrying => "retrying",
            WebhookDeliveryState::Delivered => "delivered",
            WebhookDeliveryState::Failed => "failed",
            WebhookDeliveryState::Held => "held",
            WebhookDeliveryState::Dropped => "dropped",
        }
    }

    pub fn is_due_kind(self) -> bool {
        matches!(self, WebhookDeliveryState::Pending | WebhookDeliveryState::Sending | WebhookDeliveryState::Retrying)
    }
}

/// What only the moment of the event knows: how a message came (`web`, `api`, `email`), and the status a change
/// moved from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_status: Option<TicketStatus>,
    /// `mail.undeliverable`: whose e-mail (`requester`, `team`), what became of it, and SES's word for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl EventDetail {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One delivery of one event to one endpoint, and its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub collection_id: CollectionId,
    pub ticket_number: u64,
    pub entry: u32,
    pub endpoint_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_attempt: Option<u32>,
    pub event: EventType,
    // Not written when empty: an empty map in a new image makes DynamoDB Local's GetRecords fail.
    #[serde(default, skip_serializing_if = "EventDetail::is_empty")]
    pub detail: EventDetail,
    #[serde(rename = "hookState")]
    pub state: WebhookDeliveryState,
    #[serde(default)]
    pub attempts: u32,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
}

impl WebhookDelivery {
    pub fn key(&self) -> WebhookDeliveryKey {
        WebhookDeliveryKey {
            collection_id: self.collection_id.clone(),
            ticket_number: self.ticket_number,
            entry: self.entry,
            endpoint_id: self.endpoint_id.clone(),
            mail: self.mail,
            mail_attempt: self.mail_attempt,
        }
    }

    /// The wait before the next attempt after `attempts` failed ones; `None`: failed for good.
    pub fn retry_after(attempts: u32) -> Option<Duration> {
        let at = usize::try_from(attempts).ok()?.checked_sub(1)?;
        RETRY_SCHEDULE.get(at).map(|s| Duration::from_secs(*s))
    }
}

/// The deliveries an event owes: one per endpoint of the collection that wants it, due for the sweep at
/// `due_at_ms`: as an e-mail, left to the stream first (the sweep racing it would claim what the stream is
/// delivering, in every burst).
pub fn owed(
    endpoints: &BTreeMap<String, Endpoint>,
    ticket: &Ticket,
    entry: u32,
    event: EventType,
    detail: EventDetail,
    created_at: &str,
    due_at_ms: u64,
) -> Vec<WebhookDelivery> {
    endpoints
        .values()
        .filter(|e| e.wants(event))
        .map(|e| WebhookDelivery {
            collection_id: ticket.collection_id.clone(),
            ticket_number: ticket.ticket_number,
            entry,
            endpoint_id: e.id.clone(),
            mail: None,
            mail_attempt: None,
            event,
            detail: detail.clone(),
            state: WebhookDeliveryState::Pending,
            attempts: 0,
            created_at: created_at.to_owned(),
            due_at_ms: Some(due_at_ms),
            last_status: None,
            last_error: None,
            last_latency_ms: None,
            settled_at: None,
        })
        .collect()
}

/// An entry's files as a payload lists them: metadata only (id, name, type, size), never a link, which would be
/// a credential in the receiver's logs. The receiver fetches a file through the API with its key.
fn attachments(fields: &mut serde_json::Map<String, serde_json::Value>, entry: &Entry) {
    if !entry.attachments.is_empty() {
        fields.insert("attachments".into(), serde_json::to_value(&entry.attachments).unwrap_or_default());
    }
}

/// The `data` of a delivery, from the ticket and the entry as stored: what happened, never a key or a link.
pub fn data(delivery: &WebhookDelivery, ticket: &Ticket, entry: Option<&Entry>) -> serde_json::Value {
    let mut data = serde_json::json!({
        "collectionId": ticket.collection_id.as_str(),
        "ticketNumber": ticket.ticket_number,
        "title": ticket.title.as_str(),
    });
    let fields = data.as_object_mut().expect("an object");
    match delivery.event {
        EventType::TicketCreated => {
            fields.insert("status".into(), "open".into());
            fields.insert("userEmail".into(), ticket.user_email.as_str().into());
            fields.insert("createdAt".into(), ticket.created_at.clone().into());
            if let Some(message) = entry.and_then(|e| e.message.as_ref()) {
                fields.insert("message".into(), message.as_str().into());
            }
            if let Some(tags) = entry.map(|e| &e.tags).filter(|t| !t.is_empty()) {
                fields.insert("customTags".into(), serde_json::to_value(tags).unwrap_or_default());
            }
            if let Some(entry) = entry {
                attachments(fields, entry);
            }
        }
        EventType::MessageCreated => {
            if let Some(entry) = entry {
                fields.insert("entry".into(), entry.seq.into());
                fields.insert("author".into(), entry.author.as_str().into());
                fields.insert("by".into(), by(entry).into());
                fields.insert("at".into(), entry.at.clone().into());
                if let Some(message) = &entry.message {
                    fields.insert("message".into(), message.as_str().into());
                }
                attachments(fields, entry);
            }
            fields.insert("via".into(), delivery.detail.via.clone().unwrap_or_else(|| "web".into()).into());
        }
        EventType::StatusChanged => {
            if let Some(entry) = entry {
                fields.insert("entry".into(), entry.seq.into());
                fields.insert("author".into(), entry.author.as_str().into());
                fields.insert("by".into(), by(entry).into());
                fields.insert("at".into(), entry.at.clone().into());
                fields.insert("to".into(), entry.status.map(TicketStatus::as_str).into());
            }
            fields.insert("from".into(), delivery.detail.from_status.map(TicketStatus::as_str).into());
        }
        EventType::Assigned => {
            if let Some(entry) = entry {
                fields.insert("entry".into(), entry.seq.into());
                fields.insert("by".into(), by(entry).into());
                fields.insert("at".into(), entry.at.clone().into());
                let assignment = entry.assigned.as_ref();
                let address = |m: Option<&Email>| m.map(|m| m.as_str().to_owned());
                fields.insert("assignee".into(), address(assignment.and_then(|a| a.to.as_ref())).into());
                fields.insert("previousAssignee".into(), address(assignment.and_then(|a| a.from.as_ref())).into());
            }
        }
        EventType::MailUndeliverable => {
            fields.insert("entry".into(), delivery.entry.into());
            fields.insert("audience".into(), delivery.detail.audience.map(|r| r.as_str()).into());
            fields.insert("reason".into(), delivery.detail.reason.clone().into());
            fields.insert("detail".into(), delivery.detail.why.clone().into());
        }
        EventType::Ping => {}
    }
    data
}

/// Who wrote an entry, as webhooks say it: the member's address when a member of the team did, else the role
/// (`requester`, `team`) as before members.
fn by(entry: &Entry) -> &str {
    entry.by.as_ref().map(|m| m.as_str()).unwrap_or(entry.author.as_str())
}
