//! The ports: what the service needs from the outside world, as traits, and `Ports`, the one bundle of them the
//! service is generic over. `driven` implements them: on DynamoDB, SES v2, Secrets Manager and the system clock,
//! and in memory (for fast tests and fault injection); `compose` bundles the adapters.
//!
//! Expected outcomes are values (`Ok(None)`, `NumberTaken::NotFound`, `Counted::Refused`); only a failing
//! dependency is an `Err`. A refused conditional write is translated by the adapter into what it means.
//!
//! A new port is a trait here, an associated type and accessor of `Ports`, a field and type parameter of
//! `Adapters`, its adapters in `driven` (the real one and the memory fake), and a line in `compose`.

use std::future::Future;
use std::time::Duration;

use crate::domain::conversation::ListCursor;
use crate::domain::webhook::Endpoint;
use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey};
use crate::domain::{
    ApiKeyHash, ApiKeyRecord, Collection, CollectionId, CountEntry, Email, Entry, Feedback, IdempotencyRecord, Mail,
    MailKey, Now, OutgoingEmail, Pepper, RateLimits, Settlement, Suppression, Ticket, TicketStatus,
};

/// A dependency failed, timed out or was throttled: the request can be retried later (503).
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {source:#}")]
pub struct Unavailable {
    pub operation: &'static str,
    pub source: anyhow::Error,
}

impl Unavailable {
    pub fn new(operation: &'static str, source: impl Into<anyhow::Error>) -> Self {
        Self { operation, source: source.into() }
    }
}

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
    /// For a reply by e-mail: the received message it records (SES's id, and the role it came to), written
    /// with it once, so that a second delivery of the message records nothing.
    pub received: Option<String>,
}

/// The outcome of adding an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Stored,
    /// The ticket changed since it was read (another entry, another status): nothing was written.
    Moved,
    /// The received message is already recorded on the ticket: nothing was written.
    AlreadyRecorded,
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

    /// Adds a webhook endpoint, or replaces the one of the same id (`replace`: a rotation, a disabling), if the
    /// collection exists and (for a new one) has fewer than `max` endpoints.
    fn put_webhook(
        &self,
        id: &CollectionId,
        endpoint: &Endpoint,
        put: WebhookPut,
    ) -> impl Future<Output = Result<WebhookPutOutcome, Unavailable>> + Send;

    /// Removes a webhook endpoint; whether there was one.
    fn remove_webhook(
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

/// How a webhook endpoint is written: a new one (refused past `max` endpoints or over an existing id), or a
/// change to one that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookPut {
    New { max: usize },
    Replace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookPutOutcome {
    Stored,
    /// No such collection, or (`Replace`) no such endpoint.
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

    /// Gives a ticket new key nonces: its links made before open nothing any more. False for a missing ticket.
    fn rotate_keys(
        &self,
        id: &CollectionId,
        number: u64,
        key_nonce: &str,
        team_key_nonce: &str,
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

    /// Puts an e-mail that failed for good back to pending (an operator's re-send), due for the sweep at
    /// `due_at_ms`; `NotOurs` if it is not failed.
    fn requeue_mail(&self, key: &MailKey, due_at_ms: u64) -> impl Future<Output = Result<Moved, Unavailable>> + Send;

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

/// Everything the service stores: one DynamoDB adapter (and one in-memory one) implements every part.
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

    /// Records an attempt's outcome at `now` (`delivery` as it becomes: delivered, retrying or failed, and its count
    /// of attempts: one fewer when it was held, not attempted), if the attempt still owns the delivery (sending,
    /// `attempt` attempts).
    fn settle_webhook_delivery(
        &self,
        delivery: &WebhookDelivery,
        attempt: u32,
        now: Now,
    ) -> impl Future<Output = Result<Moved, Unavailable>> + Send;

    /// Deliveries due at `now` (or whose lease lapsed), soonest first.
    fn due_webhook_deliveries(
        &self,
        now: Now,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<WebhookDeliveryKey>, Unavailable>> + Send;

    /// A collection's settled deliveries (delivered or failed), latest first.
    fn settled_webhook_deliveries(
        &self,
        collection: &CollectionId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<WebhookDelivery>, Unavailable>> + Send;
}

pub trait Store:
    KeyStore
    + CollectionStore
    + LimitStore
    + IdempotencyStore
    + TicketStore
    + OutboxStore
    + SuppressionStore
    + WebhookDeliveryStore
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
{
}

/// Why an e-mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Throttling, a timeout, an outage, an account paused: it may go through later.
    #[error("{0}")]
    Transient(Failure),
    /// This e-mail will never go through as it is (a rejected address, for one).
    #[error("{0}")]
    Permanent(Failure),
    /// The request was sent and no answer came in time: the provider may have accepted it. Retried, so that
    /// nothing is lost; the one window in which an e-mail can go out twice.
    #[error("{0}")]
    Unknown(Failure),
}

/// A provider's refusal: its code, safe to log, and its message, which may name the recipient and is only
/// recorded on the e-mail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Failure {
    pub code: String,
    pub detail: String,
}

impl Failure {
    pub fn new(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { code: code.into(), detail: detail.into() }
    }
}

/// Sends one e-mail; `Ok` carries the provider's message id.
pub trait Mailer: Send + Sync + 'static {
    fn send(&self, email: &OutgoingEmail) -> impl Future<Output = Result<String, SendError>> + Send;

    /// The most e-mails per second the provider accepts from this account.
    fn max_send_rate(&self) -> impl Future<Output = Result<f64, Unavailable>> + Send;
}

/// Where the API key pepper comes from. Fetched once per process, on first need.
pub trait SecretSource: Send + Sync + 'static {
    fn pepper(&self) -> impl Future<Output = Result<Pepper, Unavailable>> + Send;
}

/// The wall clock: what records are stamped with, and what leases, retry times, hourly windows and
/// idempotency leases are measured against. The system's on AWS; one a test moves, in tests.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Now;
}

/// The outside world the service is built on: one adapter per port, named by an associated type each, so that
/// everything generic over the service (`TicketService<P>`, `Function<P>`, the router) names one parameter.
pub trait Ports: Send + Sync + 'static {
    type Store: Store;
    type Mailer: Mailer;
    type Secrets: SecretSource;
    type Clock: Clock;
    type Inbox: Inbox;
    type Webhooks: WebhookSender;

    fn store(&self) -> &Self::Store;
    fn mailer(&self) -> &Self::Mailer;
    fn secrets(&self) -> &Self::Secrets;
    fn clock(&self) -> &Self::Clock;
    fn inbox(&self) -> &Self::Inbox;
    fn webhooks(&self) -> &Self::Webhooks;
}

/// The one implementation of `Ports`: a value per port. Built whole in `compose` (on AWS) and
/// `driven::memory` (in memory); a test swaps one adapter with a `with_*` method and names no other.
#[derive(Debug, Clone, Default)]
pub struct Adapters<S, M, K, C, I, W> {
    pub store: S,
    pub mailer: M,
    pub secrets: K,
    pub clock: C,
    pub inbox: I,
    pub webhooks: W,
}

impl<S: Store, M: Mailer, K: SecretSource, C: Clock, I: Inbox, W: WebhookSender> Ports for Adapters<S, M, K, C, I, W> {
    type Store = S;
    type Mailer = M;
    type Secrets = K;
    type Clock = C;
    type Inbox = I;
    type Webhooks = W;

    fn store(&self) -> &S {
        &self.store
    }
    fn mailer(&self) -> &M {
        &self.mailer
    }
    fn secrets(&self) -> &K {
        &self.secrets
    }
    fn clock(&self) -> &C {
        &self.clock
    }
    fn inbox(&self) -> &I {
        &self.inbox
    }
    fn webhooks(&self) -> &W {
        &self.webhooks
    }
}

impl<S, M, K, C, I, W> Adapters<S, M, K, C, I, W> {
    pub fn with_store<T>(self, store: T) -> Adapters<T, M, K, C, I, W> {
        let Adapters { mailer, secrets, clock, inbox, webhooks, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks }
    }

    pub fn with_mailer<T>(self, mailer: T) -> Adapters<S, T, K, C, I, W> {
        let Adapters { store, secrets, clock, inbox, webhooks, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks }
    }

    pub fn with_secrets<T>(self, secrets: T) -> Adapters<S, M, T, C, I, W> {
        let Adapters { store, mailer, clock, inbox, webhooks, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks }
    }

    pub fn with_clock<T>(self, clock: T) -> Adapters<S, M, K, T, I, W> {
        let Adapters { store, mailer, secrets, inbox, webhooks, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks }
    }

    pub fn with_inbox<T>(self, inbox: T) -> Adapters<S, M, K, C, T, W> {
        let Adapters { store, mailer, secrets, clock, webhooks, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks }
    }

    pub fn with_webhooks<T>(self, webhooks: T) -> Adapters<S, M, K, C, I, T> {
        let Adapters { store, mailer, secrets, clock, inbox, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks }
    }
}

/// What became of one webhook delivery: the answer's status if there was one, why it failed if it did (any
/// non-2xx, a timeout, a refused or failed connection), and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency: std::time::Duration,
}

impl Posted {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// Where webhooks go: one signed POST per delivery, to an endpoint that must not be in the deployment's own
/// network (checked at every delivery, as at registration).
pub trait WebhookSender: Send + Sync + 'static {
    fn post(&self, url: &str, headers: &[(&'static str, String)], body: Vec<u8>)
    -> impl Future<Output = Posted> + Send;

    /// Whether `url` may be delivered to now: its host resolves, and to no address a delivery must never reach.
    fn check(&self, url: &str) -> impl Future<Output = Result<(), String>> + Send;
}

impl<T: WebhookSender> WebhookSender for std::sync::Arc<T> {
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: Vec<u8>) -> Posted {
        (**self).post(url, headers, body).await
    }

    async fn check(&self, url: &str) -> Result<(), String> {
        (**self).check(url).await
    }
}

/// Where SES receiving keeps the raw messages it received (an S3 bucket on AWS), by SES's message id.
pub trait Inbox: Send + Sync + 'static {
    /// The raw message (RFC 5322) SES stored under `message_id`; `None` when there is none. At most `limit + 1`
    /// bytes are read: a longer message shows as too long without being read whole.
    fn message(
        &self,
        message_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Unavailable>> + Send;
}

/// No inbox: a service that receives no mail (the operator's tool).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInbox;

impl Inbox for NoInbox {
    async fn message(&self, _message_id: &str, _limit: usize) -> Result<Option<Vec<u8>>, Unavailable> {
        Ok(None)
    }
}

impl<T: Inbox> Inbox for std::sync::Arc<T> {
    async fn message(&self, message_id: &str, limit: usize) -> Result<Option<Vec<u8>>, Unavailable> {
        (**self).message(message_id, limit).await
    }
}

/// A shared mailer is a mailer: lets a test keep a handle on what it gave the service.
impl<T: Mailer> Mailer for std::sync::Arc<T> {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        (**self).send(email).await
    }
    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        (**self).max_send_rate().await
    }
}

impl<T: SecretSource> SecretSource for std::sync::Arc<T> {
    async fn pepper(&self) -> Result<Pepper, Unavailable> {
        (**self).pepper().await
    }
}

impl<T: Clock> Clock for std::sync::Arc<T> {
    fn now(&self) -> Now {
        (**self).now()
    }
}
