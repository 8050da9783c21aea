//! The store's ports: every table the service reads and writes, as one trait per part (`Store` is all of them),
//! with the outcomes of their conditional writes as values and the writes that must land whole as one value each
//! (`NewTicketWrite`, `AppendWrite`), whose item count (`items`) both stores hold to DynamoDB's transaction limit.

use std::future::Future;
use std::time::Duration;

use super::Unavailable;
use crate::domain::conversation::ListCursor;
use crate::domain::webhook::{Endpoint, EndpointChange};
use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey};
use crate::domain::{
    ApiKeyHash, ApiKeyRecord, Collection, CollectionId, CountEntry, Email, Entry, Feedback, IdempotencyRecord, Mail,
    MailKey, Now, RateLimits, Settlement, Suppression, Ticket, TicketStatus,
};

/// The outcome of asking for the next ticket number of a collection.
#[derive(Debug, Clone, PartialEq)]
pub enum NumberTaken {
    /// The number is this collection's from now on: the collection as it is after the increment.
    Taken(Collection),
    NotFound,
    Disabled,
    /// The collection's abuse limits are not the ones the counts were checked against: nothing was taken.
    LimitsChanged(RateLimits),
}

/// The outcome of counting one create against one abuse limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Counted: the count with this create.
    Counted(u32),
    /// The limit is used up: nothing was counted. The count as it stands.
    Refused(u32),
}

/// The outcome of storing a new ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Stored,
    /// A ticket with this number already exists: the store never overwrites one.
    NumberInUse,
    /// The idempotency claim this create was to complete is no longer its own (its lease lapsed and another
    /// request took it over): nothing was written.
    ClaimLost,
    /// Another write to one of the items was under way (a repeat's claim on the idempotency record): nothing
    /// was written, and the same write can be tried again.
    Conflict,
    /// One of its uploads is marked used by another message: nothing was written.
    UploadUsed,
}

/// DynamoDB's most items in one `TransactWriteItems`: a write that would take more is refused whole, by both
/// stores, before anything is written (`NewTicketWrite::items`, `AppendWrite::items`, `outcome_items`).
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// The items of an e-mail's outcome (or of what SES heard of it) written with the webhook deliveries it owes: the
/// e-mail's update, and a put per delivery.
pub fn outcome_items(webhooks: &[WebhookDelivery]) -> usize {
    1 + webhooks.len()
}

/// A new ticket and everything it owes, written all at once or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicketWrite {
    pub ticket: Ticket,
    pub entry: Entry,
    pub mail: Vec<Mail>,
    /// The webhook deliveries the new ticket owes (`ticket.created`).
    pub webhooks: Vec<WebhookDelivery>,
    /// With an `Idempotency-Key`: the claim (scope and nonce) this write completes.
    pub completes: Option<(String, String)>,
    /// The uploads the first entry's files were kept from, by nonce: each marked used with the write, which is
    /// refused whole (`Inserted::UploadUsed`) where one is marked already.
    pub uploads: Vec<String>,
}

/// A new entry on a ticket, with the header as it becomes and the e-mails it owes, written all at once, and only
/// if the ticket is still as `before` (same number of entries, same status).
#[derive(Debug, Clone, PartialEq)]
pub struct AppendWrite {
    pub before: Ticket,
    pub after: Ticket,
    pub entry: Entry,
    pub mail: Vec<Mail>,
    /// The webhook deliveries the entry owes (`ticket.message.created`, `ticket.status.changed`).
    pub webhooks: Vec<WebhookDelivery>,
    /// For a reply by e-mail: the marks of the received message it records (by SES's id, and by its
    /// `Message-ID`, each with the role it came to), written with it, so that the same message delivered again
    /// (by SES, or sent twice by a mail server that lost an answer) records nothing.
    pub received: Vec<String>,
    /// The uploads the entry's files were kept from, by nonce, marked used with it (`Appended::UploadUsed`).
    pub uploads: Vec<String>,
}

impl NewTicketWrite {
    /// The items of its transaction: the header, the first entry, each upload's mark, each e-mail and webhook
    /// delivery, and the completion of its idempotency claim.
    pub fn items(&self) -> usize {
        2 + self.uploads.len() + self.mail.len() + self.webhooks.len() + usize::from(self.completes.is_some())
    }
}

impl AppendWrite {
    /// The items of its transaction: the header, the entry, the received message's marks, each upload's mark,
    /// each e-mail and webhook delivery.
    pub fn items(&self) -> usize {
        2 + self.received.len() + self.uploads.len() + self.mail.len() + self.webhooks.len()
    }
}

/// The outcome of adding an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Stored,
    /// The ticket changed since it was read (another entry, another status): nothing was written.
    Moved,
    /// The received message is already recorded on the ticket: nothing was written.
    AlreadyRecorded,
    /// One of its uploads is marked used by another message: nothing was written.
    UploadUsed,
}

/// One page of a collection's tickets of one status, newest activity first.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    /// Where the next page starts; `None` on the last.
    pub next: Option<ListCursor>,
}

/// A page of the e-mails due.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DuePage {
    pub mail: Vec<Mail>,
    /// Items of the outbox that do not read as e-mails (written by hand, or by another version).
    pub unreadable: Vec<Unreadable>,
}

/// An outbox item that did not read: where it is (the store's own key, for the log and for `set_aside`), and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub key: String,
    pub error: String,
}

/// The outcome of moving an e-mail on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Moved,
    /// Someone else moved it first (another deliverer, a lapsed lease): nothing was written.
    NotOurs,
}

pub trait KeyStore: Send + Sync + 'static {
    /// The key record stored under this hash, revoked or not.
    fn find_key(&self, hash: &ApiKeyHash) -> impl Future<Output = Result<Option<ApiKeyRecord>, Unavailable>> + Send;
}

pub trait CollectionStore: Send + Sync + 'static {
    fn get_collection(&self, id: &CollectionId)
    -> impl Future<Output = Result<Option<Collection>, Unavailable>> + Send;

    /// Raises the collection's generation of team links by one, which revokes every team link made before; the
    /// new generation, or `None` for a missing collection.
    fn raise_team_link_generation(
        &self,
        id: &CollectionId,
    ) -> impl Future<Output = Result<Option<u32>, Unavailable>> + Send;

    /// Sets the collection's counter to `highest`, if it is below it (a counter restored behind its tickets);
    /// whether it moved.
    fn raise_counter(&self, id: &CollectionId, highest: u64) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    /// Adds a webhook endpoint, if the collection exists, has fewer than `max` endpoints and none of its id. Two
    /// adds at once (the collection's first two among them) both land, within `max`.
    fn add_endpoint(
        &self,
        id: &CollectionId,
        endpoint: &Endpoint,
        max: usize,
    ) -> impl Future<Output = Result<EndpointAdded, Unavailable>> + Send;

    /// Writes one change to an endpoint, and only what it changes; false when there is no such endpoint.
    fn change_endpoint(
        &self,
        id: &CollectionId,
        endpoint_id: &str,
        change: &EndpointChange,
    ) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    /// Removes a webhook endpoint; whether there was one.
    fn remove_endpoint(
        &self,
        id: &CollectionId,
        endpoint_id: &str,
    ) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    /// Atomically increments the collection's counter, if the collection exists, has ticketing enabled and has
    /// exactly the abuse limits `limits` (those the create was counted against).
    fn take_number(
        &self,
        id: &CollectionId,
        limits: &RateLimits,
    ) -> impl Future<Output = Result<NumberTaken, Unavailable>> + Send;
}

/// The outcome of adding a webhook endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointAdded {
    Stored,
    /// No such collection.
    NotFound,
    /// The collection has `max` endpoints already (or one with this id).
    Full,
}

pub trait LimitStore: Send + Sync + 'static {
    /// Counts one create, unless the count has reached `limit`.
    fn count(&self, entry: &CountEntry, limit: u32) -> impl Future<Output = Result<Counted, Unavailable>> + Send;

    /// Takes back one count of a create that did not happen.
    fn uncount(&self, entry: &CountEntry) -> impl Future<Output = Result<(), Unavailable>> + Send;
}

pub trait IdempotencyStore: Send + Sync + 'static {
    /// Stores the claim unless a live record holds its scope; returns that record if one does (`None`: claimed).
    /// A record that is stale at `now` (expired, or in progress past its lease) is replaced.
    fn claim_idempotency(
        &self,
        claim: &IdempotencyRecord,
        now: u64,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, Unavailable>> + Send;

    fn get_idempotency(
        &self,
        scope: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, Unavailable>> + Send;

    /// Forgets this request's in-progress claim (the one with `nonce`), so that a retry can go ahead.
    fn release_idempotency(&self, scope: &str, nonce: &str) -> impl Future<Output = Result<(), Unavailable>> + Send;
}

pub trait TicketStore: Send + Sync + 'static {
    /// Writes the ticket, its first entry, its e-mails and the completion of its idempotency claim in one atomic
    /// write; never overwrites a ticket.
    fn insert_ticket(&self, write: &NewTicketWrite) -> impl Future<Output = Result<Inserted, Unavailable>> + Send;

    /// A ticket's header.
    fn get_ticket(
        &self,
        id: &CollectionId,
        number: u64,
    ) -> impl Future<Output = Result<Option<Ticket>, Unavailable>> + Send;

    /// One entry of a ticket's thread.
    fn get_entry(
        &self,
        id: &CollectionId,
        number: u64,
        seq: u32,
    ) -> impl Future<Output = Result<Option<Entry>, Unavailable>> + Send;

    /// A ticket's whole thread, in order.
    fn thread(&self, id: &CollectionId, number: u64) -> impl Future<Output = Result<Vec<Entry>, Unavailable>> + Send;

    /// The newest `limit` entries of a ticket's thread before entry `before` (all of them for `u32::MAX`), in
    /// order.
    fn thread_page(
        &self,
        id: &CollectionId,
        number: u64,
        before: u32,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Entry>, Unavailable>> + Send;

    /// Gives a ticket new key nonces, the requester's or the team's or both (`None`: that one kept): its links
    /// of those roles made before open nothing any more. False for a missing ticket.
    fn rotate_keys(
        &self,
        id: &CollectionId,
        number: u64,
        key_nonce: Option<&str>,
        team_key_nonce: Option<&str>,
    ) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    /// Adds an entry to a ticket, with its header and e-mails, in one atomic write.
    fn append(&self, write: &AppendWrite) -> impl Future<Output = Result<Appended, Unavailable>> + Send;

    /// Up to `limit` tickets of a collection with `status`, newest activity first, after `after`.
    fn list_page(
        &self,
        id: &CollectionId,
        status: TicketStatus,
        limit: usize,
        after: Option<&ListCursor>,
    ) -> impl Future<Output = Result<TicketPage, Unavailable>> + Send;
}

pub trait OutboxStore: Send + Sync + 'static {
    /// Adds an e-mail that no entry writes (a notice), if none has its key; whether it was added.
    fn add_mail(&self, mail: &Mail) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    /// Makes the e-mail this deliverer's until `now + lease`, if it is pending, due for a retry, or held by a
    /// lease that lapsed; the e-mail as claimed, or `None` when it is someone else's or already settled.
    fn claim_mail(
        &self,
        key: &MailKey,
        now: Now,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<Mail>, Unavailable>> + Send;

    /// Records the outcome of the attempt numbered `attempt` at `now`, if that attempt still owns the e-mail.
    /// … with the webhook deliveries the outcome owes (`mail.undeliverable`), written in the same transaction.
    fn settle_mail(
        &self,
        key: &MailKey,
        attempt: u32,
        outcome: &Settlement,
        now: Now,
        webhooks: &[WebhookDelivery],
    ) -> impl Future<Output = Result<Moved, Unavailable>> + Send;

    /// Up to `limit` e-mails due at `now` (pending past their grace, retries due, lapsed leases), oldest first,
    /// and the items among them that do not read as e-mails. Read from a sparse index, never by scanning the
    /// tickets.
    fn due_mail(&self, now: Now, limit: usize) -> impl Future<Output = Result<DuePage, Unavailable>> + Send;

    /// Takes an unreadable item out of the due ones (into the failed ones, with why), so that the sweep no longer
    /// reads it; an operator looks at it.
    fn set_aside(&self, item: &Unreadable, now: Now) -> impl Future<Output = Result<(), Unavailable>> + Send;

    /// Every e-mail not delivered yet, and every e-mail failed for good, of one collection or all.
    fn undelivered(
        &self,
        collection: Option<&CollectionId>,
    ) -> impl Future<Output = Result<Vec<Mail>, Unavailable>> + Send;

    /// One e-mail's record, read strongly consistent.
    fn get_mail(&self, key: &MailKey) -> impl Future<Output = Result<Option<Mail>, Unavailable>> + Send;

    /// Puts an e-mail that failed for good back to pending (an operator's re-send at `now`, from which its retries
    /// are counted again), due for the sweep at `due_at_ms`; `NotOurs` if it is not failed.
    fn requeue_mail(
        &self,
        key: &MailKey,
        due_at_ms: u64,
        now: Now,
    ) -> impl Future<Output = Result<Moved, Unavailable>> + Send;

    /// Records what SES heard of a sent e-mail (delivered, bounced, complained), at `now`; `NotOurs` when the
    /// e-mail is not in a state that may move so (never sent, or told already: SES's events may come twice).
    /// … with the webhook deliveries the feedback owes (a bounce, a complaint), in the same transaction.
    fn record_feedback(
        &self,
        key: &MailKey,
        feedback: &Feedback,
        now: Now,
        webhooks: &[WebhookDelivery],
    ) -> impl Future<Output = Result<Moved, Unavailable>> + Send;
}

/// The addresses this deployment sends nothing to: those that bounced for good or complained.
pub trait SuppressionStore: Send + Sync + 'static {
    fn suppression(&self, address: &Email) -> impl Future<Output = Result<Option<Suppression>, Unavailable>> + Send;

    /// Adds the address (or keeps the first record of it).
    fn suppress(&self, suppression: &Suppression) -> impl Future<Output = Result<(), Unavailable>> + Send;

    /// Takes the address off the list; whether it was on it.
    fn lift_suppression(&self, address: &Email) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    fn suppressions(&self) -> impl Future<Output = Result<Vec<Suppression>, Unavailable>> + Send;
}

/// The webhook deliveries, beside the e-mails in the outbox: each claimed, then settled, by conditional writes.
pub trait WebhookDeliveryStore: Send + Sync + 'static {
    /// Takes a delivery for one attempt (pending; or retrying, or sending with a lapsed lease, once due at `now`),
    /// counting the attempt and leasing it until `now + lease`; `None` when it is not there to take.
    fn claim_webhook_delivery(
        &self,
        key: &WebhookDeliveryKey,
        now: Now,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<WebhookDelivery>, Unavailable>> + Send;

    /// Records an attempt's outcome at `now` (`delivery` as it becomes: delivered, retrying, failed, dropped, or
    /// held for a disabled endpoint with its count of attempts given back), if the attempt still owns the delivery
    /// (sending, `attempt` attempts). A held delivery leaves the due ones, for its endpoint's held ones.
    fn settle_webhook_delivery(
        &self,
        delivery: &WebhookDelivery,
        attempt: u32,
        now: Now,
    ) -> impl Future<Output = Result<Moved, Unavailable>> + Send;

    /// Up to `limit` deliveries due at `now` (or whose lease lapsed), soonest first, from every shard of the due
    /// ones.
    fn due_webhook_deliveries(
        &self,
        now: Now,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<WebhookDelivery>, Unavailable>> + Send;

    /// Up to `limit` of the deliveries held for one endpoint, longest held first.
    fn held_webhook_deliveries(
        &self,
        collection: &CollectionId,
        endpoint_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<WebhookDelivery>, Unavailable>> + Send;

    /// Takes a held delivery out of its hold: due again (its endpoint was enabled), or dropped with why; `NotOurs`
    /// when it is not held (any more).
    fn release_webhook_delivery(
        &self,
        key: &WebhookDeliveryKey,
        release: &Release,
        now: Now,
    ) -> impl Future<Output = Result<Moved, Unavailable>> + Send;

    /// A collection's settled deliveries (delivered or failed), latest first.
    fn settled_webhook_deliveries(
        &self,
        collection: &CollectionId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<WebhookDelivery>, Unavailable>> + Send;
}

/// Where a held webhook delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Due again at `due_at_ms`, as a delivery not tried yet.
    Due { due_at_ms: u64 },
    /// Never delivered: why.
    Dropped { why: String },
}

/// The operator's side of the store (`ticketctl`, through the service's use cases): collections and keys
/// created, changed, listed and revoked, and a ticket's e-mails read whole. Scans of the small tables; never on
/// the request path.
pub trait AdminStore: Send + Sync + 'static {
    /// Stores a new collection; `false` when one has its id (its counter must never go back).
    fn insert_collection(&self, collection: &Collection) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    /// Changes a collection's settings (name, notification addresses, ticketing switch, abuse limits), never
    /// its counter, generation of team links or endpoints; `false` for a missing collection.
    fn update_collection(&self, collection: &Collection) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    fn list_collections(&self) -> impl Future<Output = Result<Vec<Collection>, Unavailable>> + Send;

    /// Stores a new API key record under its hash; `false` when the hash is taken.
    fn insert_key(
        &self,
        hash: &ApiKeyHash,
        record: &ApiKeyRecord,
    ) -> impl Future<Output = Result<bool, Unavailable>> + Send;

    fn list_keys(&self) -> impl Future<Output = Result<Vec<ApiKeyRecord>, Unavailable>> + Send;

    /// Marks the key with this id revoked at `at` (the first revocation's time stays); the record as it is now,
    /// or `None` when no key has this id.
    fn revoke_key(
        &self,
        key_id: &str,
        at: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, Unavailable>> + Send;

    /// Every e-mail of one ticket, in order.
    fn ticket_mail(
        &self,
        id: &CollectionId,
        number: u64,
    ) -> impl Future<Output = Result<Vec<Mail>, Unavailable>> + Send;
}

/// Everything the service stores: one DynamoDB adapter (and one in-memory one) implements every part.
pub trait Store:
    KeyStore
    + CollectionStore
    + LimitStore
    + IdempotencyStore
    + TicketStore
    + OutboxStore
    + SuppressionStore
    + WebhookDeliveryStore
    + AdminStore
{
}

impl<T> Store for T where
    T: KeyStore
        + CollectionStore
        + LimitStore
        + IdempotencyStore
        + TicketStore
        + OutboxStore
        + SuppressionStore
        + WebhookDeliveryStore
        + AdminStore
{
}
