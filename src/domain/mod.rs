//! The ticket domain: types whose constructors are the only way in, validation, e-mail content.
//! Nothing here knows about HTTP or AWS.

pub mod collection;
pub mod conversation;
pub mod email;
pub mod idempotency;
pub mod keys;
pub mod new_ticket;
pub mod outbox;
pub mod rate_limit;
pub mod ticket;

pub use collection::{ApiKeyRecord, Collection, CollectionId, CollectionName};
pub use email::{EmailContent, OutgoingEmail};
pub use idempotency::{IdempotencyKey, IdempotencyRecord, IdempotencyState};
pub use keys::{ApiKey, ApiKeyHash, Pepper, TicketKey};
pub use new_ticket::{CustomTags, Email, FieldCode, FieldError, InputError, Message, NewTicket, TagValue, Title};
pub use outbox::{DeliveryPolicy, Feedback, Mail, MailKey, MailKind, MailState, Occasion, Settlement, Suppression};
pub use rate_limit::{CountEntry, Policy, Quota, RateCount, RateLimits, Usage};
pub use ticket::{Entry, Role, StatusMove, StatusRefusal, Ticket, TicketStatus};

/// Now, as RFC 3339 UTC with milliseconds: the one timestamp format of stored records.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Now, in Unix milliseconds: the clock of the outbox's due times.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}
