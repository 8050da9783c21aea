//! The ticket domain: types whose constructors are the only way in, validation, e-mail content.
//! Nothing here knows about HTTP or AWS.

pub mod attachment;
pub mod collection;
pub mod collection_id;
pub mod conversation;
pub mod email;
pub mod email_address;
pub mod idempotency;
pub mod inbound;
pub mod input;
pub mod keys;
pub mod members;
pub mod new_ticket;
pub mod outbox;
pub mod quotes;
pub mod random;
pub mod rate_limit;
pub mod reply_address;
pub mod ticket;
pub mod time;
pub mod webhook;
pub mod webhook_delivery;

pub use collection::{Collection, CollectionName};
pub use collection_id::CollectionId;
pub use email::{EmailContent, OutgoingEmail};
pub use email_address::Email;
pub use idempotency::{IdempotencyKey, IdempotencyRecord, IdempotencyState};
pub use input::{FieldCode, FieldError, InputError};
pub use keys::{ApiKey, ApiKeyHash, ApiKeyRecord, Pepper, TicketKey};
pub use new_ticket::{CustomTags, Message, NewTicket, TagValue, Title};
pub use outbox::{
    DeliveryPolicy, Feedback, FeedbackEvent, Mail, MailKey, MailKind, MailState, Occasion, Settlement, Suppression,
};
pub use rate_limit::{CountEntry, Policy, Quota, RateCount, RateLimits, Usage};
pub use ticket::{Assignment, ByEmail, Entry, Role, StatusMove, StatusRefusal, Ticket, TicketStatus};
pub use time::Now;
