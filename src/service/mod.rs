//! The use cases, one module each, each the one place that orders its steps: `create` (a new ticket and the
//! e-mails it owes), `conversation` (reading a thread, a message, a status change, the team's list), `delivery`
//! (the outbox: a stream batch, the sweep), `feedback` (what SES heard of an e-mail), `inbound` (a reply by
//! e-mail), `webhooks` (endpoints), `webhook_delivery` (delivering them); and the operator's: `collections`, `keys`, `operator`
//! (a ticket's whole record, the outbox's undelivered e-mails and their re-send, the suppression list).
//! `TicketService` holds the ports (one `Ports` bundle) and what every use case shares: the pepper, the API key
//! cache, the links, the clock.

mod attachments;
mod collections;
mod conversation;
mod create;
mod delivery;
mod feedback;
mod inbound;
mod inbox;
mod keys;
mod operator;
mod webhook_delivery;
mod webhooks;

use std::time::Duration;

use tokio::sync::OnceCell;

pub use attachments::{MessageFiles, Upload};
pub use collections::{AdminError, CollectionChanges, CollectionUpdated, LimitChanges, NewCollection};
pub use conversation::{Added, Assigned, Conversation, ConversationError, Credential, ListRequest, Rotated, StatusSet};
pub use create::{CreateError, Created, IDEMPOTENCY_WAIT};
pub use delivery::{Delivered, SendWindow, SweepReport};
pub use feedback::Recorded;
pub use inbound::Received;
pub use inbox::{BulkAction, BulkDone, INBOX_PAGE, Inbox, InboxRequest, InboxView, MAX_BULK};
pub use keys::{CreatedKey, RevokedKey};
pub use operator::TicketRecord;
pub use webhook_delivery::WebhookOutcome;
pub use webhooks::{AddedWebhook, Enabled, WebhookError};

use crate::domain::keys::DEFAULT_KEY_CACHE_TTL;
use crate::domain::webhook::Loopback;
use crate::domain::{
    ApiKey, ApiKeyRecord, Collection, CollectionId, DeliveryPolicy, Email, Now, Pepper, RateLimits, TicketKey,
    idempotency::IDEMPOTENCY_LEASE_SECONDS,
};
use crate::ports::{Clock, CollectionStore, KeyStore, Ports, SecretSource, Unavailable};

const CACHE_CAPACITY: usize = 1_000;
/// The collection start-up reads to open the store's connection: a valid id that ticketctl never generates
/// (its ids are 24 letters and digits), so that the read costs one read unit and finds nothing.
const WARM_UP_COLLECTION: &str = "-warm-up-";
/// The most calls a create makes to the store at once: its three counts beside, in a process new to the
/// collection, the collection's read. HTTP/1.1 takes one connection per call in flight.
pub const WARM_UP_CONNECTIONS: usize = 4;

/// Creates tickets, shows them, and delivers the e-mails they owe, through the ports it is given.
pub struct TicketService<P> {
    ports: P,
    pepper: OnceCell<Pepper>,
    public_base_url: String,
    /// Key records by hash, with when they were read. Bounded; entries older than `key_cache_ttl` are re-read.
    keys: quick_cache::sync::Cache<String, (ApiKeyRecord, Now)>,
    key_cache_ttl: Duration,
    /// The abuse limits last seen per collection: what a create is counted against, and what the number's
    /// conditional write then checks, so a stale entry costs a retry, never a wrong answer.
    limits: quick_cache::sync::Cache<CollectionId, RateLimits>,
    idempotency_lease: Duration,
    delivery: DeliveryPolicy,
    pacer: delivery::Pacer,
    warm_up_connections: usize,
    /// The domain of the tickets' reply addresses (SES receiving on AWS); none: e-mails have no reply address.
    inbound_domain: Option<String>,
    /// Whether a webhook endpoint may be a loopback http URL (`make run` and the tests only).
    webhooks_loopback: Loopback,
    /// Whether files are handed out only once a malware scan cleared them (GuardDuty's, on AWS).
    file_scanning: bool,
}

impl<P: Ports> TicketService<P> {
    /// `public_base_url` is where ticket links point (no trailing slash), from configuration only.
    pub fn new(ports: P, public_base_url: impl Into<String>) -> Self {
        let public_base_url = public_base_url.into().trim_end_matches('/').to_owned();
        Self {
            ports,
            pepper: OnceCell::new(),
            public_base_url,
            keys: quick_cache::sync::Cache::new(CACHE_CAPACITY),
            key_cache_ttl: DEFAULT_KEY_CACHE_TTL,
            limits: quick_cache::sync::Cache::new(CACHE_CAPACITY),
            idempotency_lease: Duration::from_secs(IDEMPOTENCY_LEASE_SECONDS),
            delivery: DeliveryPolicy::default(),
            pacer: delivery::Pacer::default(),
            warm_up_connections: WARM_UP_CONNECTIONS,
            inbound_domain: None,
            webhooks_loopback: Default::default(),
            file_scanning: false,
        }
    }

    /// Sets how long a key record is trusted before it is read again (zero: never cached).
    pub fn with_key_cache_ttl(mut self, ttl: Duration) -> Self {
        self.key_cache_ttl = ttl;
        self
    }

    /// Sets the timing rules of e-mail delivery.
    pub fn with_delivery(mut self, policy: DeliveryPolicy) -> Self {
        self.delivery = policy;
        self
    }

    /// Sets how long an idempotency claim stays in progress before it counts as abandoned.
    pub fn with_idempotency_lease(mut self, lease: Duration) -> Self {
        self.idempotency_lease = lease;
        self
    }

    /// Sets the domain of the tickets' reply addresses: every e-mail replies to its ticket there.
    pub fn with_inbound_domain(mut self, domain: Option<String>) -> Self {
        self.inbound_domain = domain.map(|d| d.to_ascii_lowercase());
        self
    }

    /// Lets webhook endpoints be loopback http URLs (`WEBHOOKS_ALLOW_LOOPBACK_HTTP`: never in a deployment).
    pub fn with_webhooks_loopback(mut self, loopback: Loopback) -> Self {
        self.webhooks_loopback = loopback;
        self
    }

    /// Files handed out only once a malware scan cleared them.
    pub fn with_file_scanning(mut self, scanning: bool) -> Self {
        self.file_scanning = scanning;
        self
    }

    pub fn webhooks_loopback(&self) -> Loopback {
        self.webhooks_loopback
    }

    /// Sets how many connections to the store start-up opens (`warm_up`); 0: none.
    pub fn with_warm_up_connections(mut self, connections: usize) -> Self {
        self.warm_up_connections = connections;
        self
    }

    /// The adapters it was built on.
    pub fn ports(&self) -> &P {
        &self.ports
    }

    pub fn store(&self) -> &P::Store {
        self.ports.store()
    }

    fn mailer(&self) -> &P::Mailer {
        self.ports.mailer()
    }

    /// The wall clock's time now.
    pub fn now(&self) -> Now {
        self.ports.clock().now()
    }

    /// Where links point: `PUBLIC_BASE_URL`, without a trailing slash.
    pub fn public_base_url(&self) -> &str {
        &self.public_base_url
    }

    pub fn delivery_policy(&self) -> &DeliveryPolicy {
        &self.delivery
    }

    /// What a process does at start-up, so that its first request pays for neither: fetches the pepper, and
    /// meanwhile opens the connections (and TLS sessions) a create uses at once, with small reads of a
    /// collection that is never made. On Lambda at a seventh of a core the handshakes are most of a cold
    /// create. A failure is not fatal: the next request tries again (and, for the pepper, answers 503 until the
    /// secret can be read).
    pub async fn warm_up(&self) -> Result<(), Unavailable> {
        let id = CollectionId::parse(WARM_UP_COLLECTION).expect("a valid collection id");
        let reads = (0..self.warm_up_connections).map(|_| self.store().get_collection(&id));
        let (pepper, reads) = tokio::join!(self.pepper(), futures_util::future::join_all(reads));
        if let Some(Err(e)) = reads.into_iter().find(Result::is_err) {
            tracing::warn!(error = %e, "the store could not be reached at start-up; the first request connects");
        }
        pepper.map(|_| ())
    }

    async fn pepper(&self) -> Result<&Pepper, Unavailable> {
        self.pepper.get_or_try_init(|| self.ports.secrets().pepper()).await
    }

    /// The requester's link of a ticket, made from its key nonce: `{base}/ticket/{collection}/{n}?key=…`.
    fn private_url(&self, pepper: &Pepper, collection: &CollectionId, number: u64, nonce: &str) -> String {
        let key = TicketKey::derive(pepper, nonce);
        format!("{}/ticket/{}/{}?key={}", self.public_base_url, collection, number, key.reveal())
    }

    /// A team link of a ticket, made from its team key nonce and the collection as it is now: `member`'s, or the
    /// team's shared one for `None`. `{base}/ticket/{collection}/{n}?teamKey=…`.
    fn team_url(
        &self,
        pepper: &Pepper,
        collection: &Collection,
        number: u64,
        nonce: &str,
        member: Option<&Email>,
    ) -> String {
        let key = collection.team_key(pepper, nonce, member);
        format!("{}/ticket/{}/{}?teamKey={}", self.public_base_url, collection.collection_id, number, key.reveal())
    }

    /// A member's inbox link: `{base}/inbox/{collection}?key=…`.
    fn inbox_url(&self, pepper: &Pepper, collection: &Collection, member: &Email) -> String {
        let key = collection.inbox_key(pepper, member);
        format!("{}/inbox/{}?key={}", self.public_base_url, collection.collection_id, key.reveal())
    }

    /// The API key record of a presented key; `None` for a missing, malformed, unknown or revoked key.
    async fn authenticate(&self, presented: Option<&str>) -> Result<Option<ApiKeyRecord>, Unavailable> {
        // A malformed or mistyped key is refused here, without touching the pepper or the database.
        let Some(key) = presented.and_then(ApiKey::parse) else { return Ok(None) };
        let hash = self.pepper().await?.hash(&key);
        let now = self.now();
        let fresh =
            |read: &Now| now.system_time().duration_since(read.system_time()).unwrap_or_default() < self.key_cache_ttl;
        let cached = self.keys.get(hash.as_str()).filter(|(_, read)| fresh(read));
        let record = match cached {
            Some((record, _)) => Some(record),
            None => {
                let record = self.store().find_key(&hash).await?;
                // Only keys that exist are cached: a key created a moment ago works at once.
                if let Some(record) = &record
                    && !self.key_cache_ttl.is_zero()
                {
                    self.keys.insert(hash.as_str().to_owned(), (record.clone(), now));
                }
                record
            }
        };
        Ok(record.filter(|r| !r.is_revoked()))
    }
}
