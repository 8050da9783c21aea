//! The ports: what the service needs from the outside world, as traits. `aws` implements them for DynamoDB,
//! SES v2 and Secrets Manager; `memory` implements them in memory for fast tests and fault injection.
//!
//! Expected outcomes are values (`Ok(None)`, `NumberTaken::NotFound`); only a failing dependency is an `Err`.

use std::future::Future;

use crate::domain::{
    ApiKeyHash, ApiKeyRecord, Collection, CollectionId, EmailDelivery, IdempotencyRecord, OutgoingEmail, Pepper, Quota,
    RateCount, Ticket,
};
use std::sync::Arc;

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
    /// The number is this collection's from now on; the collection as it is after the increment, and the
    /// abuse limits with this create counted.
    Taken(Collection, Quota),
    NotFound,
    Disabled,
    /// An abuse limit is used up: nothing was counted and no number taken.
    Limited(Quota),
}

/// The outcome of storing a new ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Stored,
    /// A ticket with this number already exists: the store never overwrites one.
    NumberInUse,
}

/// Keys, collections and tickets: one store, because one DynamoDB adapter serves all three tables.
pub trait Store: Send + Sync + 'static {
    /// The key record stored under this hash, revoked or not.
    fn find_key(&self, hash: &ApiKeyHash) -> impl Future<Output = Result<Option<ApiKeyRecord>, Unavailable>> + Send;

    fn get_collection(&self, id: &CollectionId)
    -> impl Future<Output = Result<Option<Collection>, Unavailable>> + Send;

    /// Atomically, in one step: increments the collection's counter and counts the create against its abuse
    /// limits, if the collection exists, has ticketing enabled, and neither limit is used up.
    fn take_number(
        &self,
        id: &CollectionId,
        count: &RateCount,
    ) -> impl Future<Output = Result<NumberTaken, Unavailable>> + Send;

    /// Stores a new ticket; never overwrites an existing one.
    fn insert_ticket(&self, ticket: &Ticket) -> impl Future<Output = Result<Inserted, Unavailable>> + Send;

    /// Replaces the e-mail records of a ticket; drops its pending private link when `forget_link` is set.
    fn record_emails(
        &self,
        id: &CollectionId,
        number: u64,
        emails: &[EmailDelivery],
        forget_link: bool,
    ) -> impl Future<Output = Result<(), Unavailable>> + Send;

    fn get_ticket(
        &self,
        id: &CollectionId,
        number: u64,
    ) -> impl Future<Output = Result<Option<Ticket>, Unavailable>> + Send;

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

    /// Marks this request's claim (the one with `nonce`) completed with the ticket it created.
    fn complete_idempotency(
        &self,
        scope: &str,
        nonce: &str,
        number: u64,
    ) -> impl Future<Output = Result<(), Unavailable>> + Send;

    /// Forgets this request's in-progress claim (the one with `nonce`), so that a retry can go ahead.
    fn release_idempotency(&self, scope: &str, nonce: &str) -> impl Future<Output = Result<(), Unavailable>> + Send;
}

/// Sends one e-mail; `Ok` carries the provider's message id, `Err` says why it was not sent.
pub trait Mailer: Send + Sync + 'static {
    fn send(&self, email: &OutgoingEmail) -> impl Future<Output = Result<String, String>> + Send;
}

/// Where the API key pepper comes from. Fetched once per process, on first need.
pub trait SecretSource: Send + Sync + 'static {
    fn pepper(&self) -> impl Future<Output = Result<Pepper, Unavailable>> + Send;
}

/// A shared port is a port: lets a caller keep a handle on what it gave the service.
impl<T: Store> Store for Arc<T> {
    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, Unavailable> {
        (**self).find_key(hash).await
    }
    async fn get_collection(&self, id: &CollectionId) -> Result<Option<Collection>, Unavailable> {
        (**self).get_collection(id).await
    }
    async fn take_number(&self, id: &CollectionId, count: &RateCount) -> Result<NumberTaken, Unavailable> {
        (**self).take_number(id, count).await
    }
    async fn insert_ticket(&self, ticket: &Ticket) -> Result<Inserted, Unavailable> {
        (**self).insert_ticket(ticket).await
    }
    async fn record_emails(
        &self,
        id: &CollectionId,
        number: u64,
        emails: &[EmailDelivery],
        forget_link: bool,
    ) -> Result<(), Unavailable> {
        (**self).record_emails(id, number, emails, forget_link).await
    }
    async fn get_ticket(&self, id: &CollectionId, number: u64) -> Result<Option<Ticket>, Unavailable> {
        (**self).get_ticket(id, number).await
    }
    async fn claim_idempotency(
        &self,
        claim: &IdempotencyRecord,
        now: u64,
    ) -> Result<Option<IdempotencyRecord>, Unavailable> {
        (**self).claim_idempotency(claim, now).await
    }
    async fn get_idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Unavailable> {
        (**self).get_idempotency(scope).await
    }
    async fn complete_idempotency(&self, scope: &str, nonce: &str, number: u64) -> Result<(), Unavailable> {
        (**self).complete_idempotency(scope, nonce, number).await
    }
    async fn release_idempotency(&self, scope: &str, nonce: &str) -> Result<(), Unavailable> {
        (**self).release_idempotency(scope, nonce).await
    }
}

impl<T: Mailer> Mailer for Arc<T> {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, String> {
        (**self).send(email).await
    }
}

impl<T: SecretSource> SecretSource for Arc<T> {
    async fn pepper(&self) -> Result<Pepper, Unavailable> {
        (**self).pepper().await
    }
}
