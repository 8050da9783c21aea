//! The use case: the one place that orders the steps of creating a ticket, and of re-sending its e-mails.
//!
//! Order of `create` (the contract's order of checks):
//! 1. the API key: well-formed with a valid checksum (no I/O), then its HMAC looked up; unknown or revoked → 401;
//! 2. the grant for this collection → 403;
//! 3. a refused body is reported only after the collection was checked (404 / 403 come first), and takes no number;
//! 4. with an `Idempotency-Key`, the key is claimed: a repeat replays the first answer and takes no number;
//! 5. one conditional increment takes the number, counts the create against the collection's abuse limits
//!    (a create past a limit → 429, and nothing taken), and reads the collection (name, notification addresses);
//! 6. the ticket is stored with every e-mail pending, so nothing acknowledged can be lost;
//! 7. the e-mails go out concurrently (alongside completing the idempotency claim), and their outcomes are
//!    recorded on the ticket. A failed e-mail never fails the ticket: `ticketctl` re-sends it later.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::OnceCell;

use crate::domain::email::outgoing;
use crate::domain::idempotency::unix_now;
use crate::domain::keys::random_hex;
use crate::domain::{
    ApiKey, ApiKeyRecord, CollectionId, DeliveryStatus, EmailDelivery, IdempotencyKey, IdempotencyRecord,
    IdempotencyState, InputError, NewTicket, Pepper, Quota, RateCount, Ticket, TicketKey, now_rfc3339,
};
use crate::ports::{Inserted, Mailer, NumberTaken, SecretSource, Store, Unavailable};

/// Why a create was refused. Each variant is one outcome of the contract; `http::error` maps them to statuses.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("missing, malformed, unknown or revoked API key")]
    Unauthorized,
    #[error("the API key is not granted this collection")]
    Forbidden,
    #[error("the collection does not exist")]
    CollectionNotFound,
    #[error("ticketing is turned off for this collection")]
    TicketingDisabled,
    #[error(transparent)]
    Input(InputError),
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    #[error("an abuse limit of this collection is used up")]
    RateLimited(Quota),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

/// A created ticket, as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub ticket_number: u64,
    pub private_url: String,
    /// True when this answer replays an earlier create with the same `Idempotency-Key`.
    pub replayed: bool,
    /// The abuse limits with this create counted; none on a replay, which counts nothing.
    pub quota: Option<Quota>,
}

/// How long a repeat waits for the first request with its key to finish before answering 409.
pub const IDEMPOTENCY_WAIT: Duration = Duration::from_secs(3);
const IDEMPOTENCY_POLL: Duration = Duration::from_millis(50);

/// What claiming an idempotency key gave.
enum Claim {
    /// This request owns the key: it creates the ticket, with a key derived from `nonce`.
    Owned { scope: String, nonce: String },
    /// An earlier request with the same key and body created this ticket.
    Replay(Created),
}

/// The requester's view of a ticket: what the private link shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketView {
    pub collection_name: String,
    pub ticket_number: u64,
    pub title: String,
    pub message: String,
    pub status: &'static str,
    pub created_at: String,
}

/// Why a private view is not shown. A wrong key and a missing ticket are the same answer: no oracle.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("no such ticket, or not with this key")]
    NotFound,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// What a re-send did, per e-mail that was not sent before.
#[derive(Debug, Clone, PartialEq)]
pub struct Resent {
    pub attempted: Vec<EmailDelivery>,
}

/// How long a looked-up API key is trusted without asking the store again: also how long a revocation can
/// take to be seen by a warm process.
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(30);
const KEY_CACHE_CAPACITY: usize = 1_000;

/// Creates tickets and sends their e-mails through the ports it is given.
pub struct TicketService<S, M, P> {
    store: S,
    mailer: M,
    secrets: P,
    pepper: OnceCell<Pepper>,
    public_base_url: String,
    /// Key records by hash, with when they were read. Bounded; entries older than `key_cache_ttl` are re-read.
    keys: quick_cache::sync::Cache<String, (ApiKeyRecord, Instant)>,
    key_cache_ttl: Duration,
}

impl<S: Store, M: Mailer, P: SecretSource> TicketService<S, M, P> {
    /// `public_base_url` is where private links point (no trailing slash), from configuration only.
    pub fn new(store: S, mailer: M, secrets: P, public_base_url: impl Into<String>) -> Self {
        let public_base_url = public_base_url.into().trim_end_matches('/').to_owned();
        Self {
            store,
            mailer,
            secrets,
            pepper: OnceCell::new(),
            public_base_url,
            keys: quick_cache::sync::Cache::new(KEY_CACHE_CAPACITY),
            key_cache_ttl: DEFAULT_KEY_CACHE_TTL,
        }
    }

    /// Sets how long a key record is trusted before it is read again (zero: never cached).
    pub fn with_key_cache_ttl(mut self, ttl: Duration) -> Self {
        self.key_cache_ttl = ttl;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Fetches the pepper ahead of the first request (at start-up). A failure is not fatal: the next request
    /// tries again, and answers 503 until the secret can be read.
    pub async fn warm_up(&self) -> Result<(), Unavailable> {
        self.pepper().await.map(|_| ())
    }

    async fn pepper(&self) -> Result<&Pepper, Unavailable> {
        self.pepper.get_or_try_init(|| self.secrets.pepper()).await
    }

    /// The whole create path. `input` is the already-parsed body: its problems are reported in contract order.
    pub async fn create(
        &self,
        presented_key: Option<&str>,
        collection: &str,
        input: Result<NewTicket, InputError>,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Created, CreateError> {
        let key = self.authenticate(presented_key).await?;
        let collection_id =
            CollectionId::parse(collection).filter(|id| key.grants(id)).ok_or(CreateError::Forbidden)?;

        let input = match input {
            Ok(input) => input,
            Err(problem) => {
                // Collection problems outrank body problems; only this error path pays for the extra read.
                return Err(match self.store.get_collection(&collection_id).await? {
                    None => CreateError::CollectionNotFound,
                    Some(c) if !c.ticketing_enabled => CreateError::TicketingDisabled,
                    Some(_) => CreateError::Input(problem),
                });
            }
        };

        let pepper = self.pepper().await?;
        let claim = match idempotency {
            None => None,
            Some(key) => match self.claim(&collection_id, &key, &input, pepper).await? {
                Claim::Replay(created) => return Ok(created),
                Claim::Owned { scope, nonce } => Some((scope, nonce)),
            },
        };
        let rate_count = RateCount::new(&key.key_id, &pepper.requester_tag(input.requester.as_str()), unix_now());
        let result = self.create_ticket(collection_id, input, &rate_count, pepper, claim.as_ref()).await;
        // Nothing was created: forget the claim so that a retry with the same key can go ahead. When a
        // dependency failed, the ticket write may have landed unseen: keep the claim then, and let its lease
        // lapse, so that a quick retry waits (409) instead of making a second ticket.
        if let (Err(e), Some((scope, nonce))) = (&result, &claim)
            && !matches!(e, CreateError::Unavailable(_))
            && let Err(e) = self.store.release_idempotency(scope, nonce).await
        {
            tracing::warn!(error = %e, "could not release an idempotency claim; it lapses with its lease");
        }
        result
    }

    async fn create_ticket(
        &self,
        collection_id: CollectionId,
        input: NewTicket,
        rate_count: &RateCount,
        pepper: &Pepper,
        claim: Option<&(String, String)>,
    ) -> Result<Created, CreateError> {
        let (collection, quota) = match self.store.take_number(&collection_id, rate_count).await? {
            NumberTaken::Taken(collection, quota) => (collection, quota),
            NumberTaken::NotFound => return Err(CreateError::CollectionNotFound),
            NumberTaken::Disabled => return Err(CreateError::TicketingDisabled),
            NumberTaken::Limited(quota) => {
                let policy = quota.exceeded().map(|p| p.name());
                tracing::warn!(collection = %collection_id, key_id = %rate_count.key_id(), ?policy, "abuse limit reached");
                return Err(CreateError::RateLimited(quota));
            }
        };
        let number = collection.last_ticket_number;
        let ticket_key = match claim {
            Some((_, nonce)) => TicketKey::derive(pepper, nonce),
            None => TicketKey::generate(),
        };
        let private_url = self.private_url(&collection_id, number, &ticket_key);
        let mut ticket = Ticket::open(
            collection_id,
            number,
            input,
            ticket_key.hash(),
            private_url.clone(),
            &collection.notify_emails,
            now_rfc3339(),
        );

        // From here on the number is taken: a failure leaves a gap, never a duplicate (README, "Numbers").
        match self.store.insert_ticket(&ticket).await? {
            Inserted::Stored => {}
            Inserted::NumberInUse => {
                return Err(CreateError::Internal(anyhow::anyhow!(
                    "ticket {number} of {} already exists: the counter is behind the tickets",
                    ticket.collection_id
                )));
            }
        }

        let complete = async {
            if let Some((scope, nonce)) = claim
                && let Err(e) = self.store.complete_idempotency(scope, nonce, number).await
            {
                tracing::error!(error = %e, ticket = number, "could not complete an idempotency claim");
            }
        };
        let (_, ()) = tokio::join!(
            deliver(&self.store, &self.mailer, collection.name.as_str(), &mut ticket, &private_url),
            complete
        );
        let (sent, failed) = count(&ticket.emails);
        tracing::info!(collection = %ticket.collection_id, ticket = number, sent, failed, "ticket created");
        Ok(Created { ticket_number: number, private_url, replayed: false, quota: Some(quota) })
    }

    fn private_url(&self, collection: &CollectionId, number: u64, key: &TicketKey) -> String {
        format!("{}/ticket/{}/{}?key={}", self.public_base_url, collection, number, key.reveal())
    }

    /// Claims the idempotency key for this request, or finds what the first request with it created. A repeat
    /// that arrives while the first is still running waits for it (up to `IDEMPOTENCY_WAIT`), so that
    /// concurrent retries all get the same answer.
    async fn claim(
        &self,
        collection: &CollectionId,
        key: &IdempotencyKey,
        input: &NewTicket,
        pepper: &Pepper,
    ) -> Result<Claim, CreateError> {
        let scope = key.scope(collection);
        let fingerprint = input.fingerprint();
        let deadline = Instant::now() + IDEMPOTENCY_WAIT;
        loop {
            let mine = IdempotencyRecord::claim(scope.clone(), fingerprint.clone(), random_hex::<16>(), unix_now());
            let Some(mut held) = self.store.claim_idempotency(&mine, unix_now()).await? else {
                return Ok(Claim::Owned { scope, nonce: mine.key_nonce });
            };
            loop {
                if held.fingerprint != fingerprint {
                    return Err(CreateError::IdempotencyKeyReused);
                }
                if let (IdempotencyState::Completed, Some(number)) = (held.state, held.ticket_number) {
                    let private_url = self.private_url(collection, number, &TicketKey::derive(pepper, &held.key_nonce));
                    return Ok(Claim::Replay(Created {
                        ticket_number: number,
                        private_url,
                        replayed: true,
                        quota: None,
                    }));
                }
                if Instant::now() >= deadline {
                    return Err(CreateError::IdempotencyInProgress);
                }
                tokio::time::sleep(IDEMPOTENCY_POLL).await;
                match self.store.get_idempotency(&scope).await? {
                    Some(record) if !record.is_stale(unix_now()) => held = record,
                    // Released by a failed first attempt, or abandoned: claim it anew.
                    _ => break,
                }
            }
        }
    }

    /// The private view of a ticket, for whoever holds its key. The ticket and its collection are read
    /// concurrently; the key is compared in constant time against the stored hash.
    pub async fn view(&self, collection: &str, number: &str, key: Option<&str>) -> Result<TicketView, ViewError> {
        let (Some(id), Ok(number), Some(key)) = (CollectionId::parse(collection), number.parse::<u64>(), key) else {
            return Err(ViewError::NotFound);
        };
        let (ticket, collection) = tokio::join!(self.store.get_ticket(&id, number), self.store.get_collection(&id));
        let ticket = ticket?.ok_or(ViewError::NotFound)?;
        if !TicketKey::from_presented(key).matches(&ticket.ticket_key_hash) {
            return Err(ViewError::NotFound);
        }
        let collection_name = collection?.map(|c| c.name.as_str().to_owned()).unwrap_or_else(|| id.to_string());
        Ok(TicketView {
            collection_name,
            ticket_number: ticket.ticket_number,
            title: ticket.title.as_str().to_owned(),
            message: ticket.message.as_str().to_owned(),
            status: ticket.status.as_str(),
            created_at: ticket.created_at,
        })
    }

    async fn authenticate(&self, presented: Option<&str>) -> Result<ApiKeyRecord, CreateError> {
        // A malformed or mistyped key is refused here, without touching the pepper or the database.
        let key = presented.and_then(ApiKey::parse).ok_or(CreateError::Unauthorized)?;
        let hash = self.pepper().await?.hash(&key);
        let cached = self.keys.get(hash.as_str()).filter(|(_, read)| read.elapsed() < self.key_cache_ttl);
        let record = match cached {
            Some((record, _)) => Some(record),
            None => {
                let record = self.store.find_key(&hash).await?;
                // Only keys that exist are cached: a key created a moment ago works at once.
                if let Some(record) = &record
                    && !self.key_cache_ttl.is_zero()
                {
                    self.keys.insert(hash.as_str().to_owned(), (record.clone(), Instant::now()));
                }
                record
            }
        };
        match record {
            Some(record) if !record.is_revoked() => Ok(record),
            _ => Err(CreateError::Unauthorized),
        }
    }
}

/// Sends every e-mail of the ticket that is not sent yet, concurrently, then records the outcomes in one write.
/// Never fails: an e-mail or a record that fails is logged and stays re-sendable. Returns the indexes tried.
async fn deliver<S: Store, M: Mailer>(
    store: &S,
    mailer: &M,
    collection_name: &str,
    ticket: &mut Ticket,
    private_url: &str,
) -> Vec<usize> {
    let pending = outgoing(collection_name, ticket, private_url);
    let outcomes = join_all(pending.iter().map(|(_, email)| mailer.send(email))).await;
    let at = now_rfc3339();
    for ((i, _), outcome) in pending.iter().zip(outcomes) {
        let delivery = &mut ticket.emails[*i];
        if let Err(why) = &outcome {
            tracing::warn!(collection = %ticket.collection_id, ticket = ticket.ticket_number, kind = ?delivery.kind,
                error = %why, "e-mail not sent; recorded for re-sending");
        }
        delivery.record(outcome, at.clone());
    }
    let forget_link = ticket.requester_email_sent();
    if let Err(e) = store.record_emails(&ticket.collection_id, ticket.ticket_number, &ticket.emails, forget_link).await
    {
        // The ticket stays stored with these e-mails pending; `ticketctl tickets resend` finds them.
        tracing::error!(collection = %ticket.collection_id, ticket = ticket.ticket_number, error = %e,
            "could not record e-mail outcomes");
    }
    pending.into_iter().map(|(i, _)| i).collect()
}

/// Re-sends the e-mails of a ticket that are pending or failed, to exactly those recipients, and records
/// the new outcomes. Used by `ticketctl tickets resend`.
pub async fn resend_emails<S: Store, M: Mailer>(
    store: &S,
    mailer: &M,
    collection_id: &CollectionId,
    number: u64,
) -> anyhow::Result<Resent> {
    let mut ticket = store
        .get_ticket(collection_id, number)
        .await?
        .ok_or_else(|| anyhow::anyhow!("ticket {number} of collection {collection_id} does not exist"))?;
    let collection = store
        .get_collection(collection_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("collection {collection_id} does not exist"))?;
    // The link is kept on the ticket exactly as long as the requester's e-mail is not sent.
    let private_url = ticket.pending_private_url.clone().unwrap_or_default();
    let attempted = deliver(store, mailer, collection.name.as_str(), &mut ticket, &private_url).await;
    Ok(Resent { attempted: attempted.into_iter().map(|i| ticket.emails[i].clone()).collect() })
}

fn count(emails: &[EmailDelivery]) -> (usize, usize) {
    let sent = emails.iter().filter(|e| e.status == DeliveryStatus::Sent).count();
    (sent, emails.len() - sent)
}
