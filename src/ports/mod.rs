//! The ports: what the service needs from the outside world, as traits, and `Ports`, the one bundle of them the
//! service is generic over. `driven` implements them: on DynamoDB, SES v2, Secrets Manager and the system clock,
//! and in memory (for fast tests and fault injection); `compose` bundles the adapters.
//!
//! Expected outcomes are values (`Ok(None)`, `NumberTaken::NotFound`, `Counted::Refused`); only a failing
//! dependency is an `Err`. A refused conditional write is translated by the adapter into what it means.
//!
//! A new port is a trait here, an associated type and accessor of `Ports`, a field and type parameter of
//! `Adapters`, its adapters in `driven` (the real one and the memory fake), and a line in `compose`. The store's
//! ports, the largest, are in `store`.

mod files;
mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Now, OutgoingEmail, Pepper};

pub use files::*;
pub use store::*;

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
    type Files: Files;

    fn store(&self) -> &Self::Store;
    fn mailer(&self) -> &Self::Mailer;
    fn secrets(&self) -> &Self::Secrets;
    fn clock(&self) -> &Self::Clock;
    fn inbox(&self) -> &Self::Inbox;
    fn webhooks(&self) -> &Self::Webhooks;
    fn files(&self) -> &Self::Files;
}

/// The one implementation of `Ports`: a value per port. Built whole in `compose` (on AWS) and
/// `driven::memory` (in memory); a test swaps one adapter with a `with_*` method and names no other.
#[derive(Debug, Clone, Default)]
pub struct Adapters<S, M, K, C, I, W, F> {
    pub store: S,
    pub mailer: M,
    pub secrets: K,
    pub clock: C,
    pub inbox: I,
    pub webhooks: W,
    pub files: F,
}

impl<S: Store, M: Mailer, K: SecretSource, C: Clock, I: Inbox, W: WebhookSender, F: Files> Ports
    for Adapters<S, M, K, C, I, W, F>
{
    type Store = S;
    type Mailer = M;
    type Secrets = K;
    type Clock = C;
    type Inbox = I;
    type Webhooks = W;
    type Files = F;

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
    fn files(&self) -> &F {
        &self.files
    }
}

impl<S, M, K, C, I, W, F> Adapters<S, M, K, C, I, W, F> {
    pub fn with_store<T>(self, store: T) -> Adapters<T, M, K, C, I, W, F> {
        let Adapters { mailer, secrets, clock, inbox, webhooks, files, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks, files }
    }

    pub fn with_mailer<T>(self, mailer: T) -> Adapters<S, T, K, C, I, W, F> {
        let Adapters { store, secrets, clock, inbox, webhooks, files, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks, files }
    }

    pub fn with_secrets<T>(self, secrets: T) -> Adapters<S, M, T, C, I, W, F> {
        let Adapters { store, mailer, clock, inbox, webhooks, files, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks, files }
    }

    pub fn with_clock<T>(self, clock: T) -> Adapters<S, M, K, T, I, W, F> {
        let Adapters { store, mailer, secrets, inbox, webhooks, files, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks, files }
    }

    pub fn with_inbox<T>(self, inbox: T) -> Adapters<S, M, K, C, T, W, F> {
        let Adapters { store, mailer, secrets, clock, webhooks, files, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks, files }
    }

    pub fn with_webhooks<T>(self, webhooks: T) -> Adapters<S, M, K, C, I, T, F> {
        let Adapters { store, mailer, secrets, clock, inbox, files, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks, files }
    }

    pub fn with_files<T>(self, files: T) -> Adapters<S, M, K, C, I, W, T> {
        let Adapters { store, mailer, secrets, clock, inbox, webhooks, .. } = self;
        Adapters { store, mailer, secrets, clock, inbox, webhooks, files }
    }
}

/// What became of one webhook delivery: the answer's status if there was one, why it failed if it did (any
/// non-2xx, a timeout, a refused or failed connection), and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency: Duration,
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

impl<T: WebhookSender> WebhookSender for Arc<T> {
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

impl<T: Inbox> Inbox for Arc<T> {
    async fn message(&self, message_id: &str, limit: usize) -> Result<Option<Vec<u8>>, Unavailable> {
        (**self).message(message_id, limit).await
    }
}

/// A shared mailer is a mailer: lets a test keep a handle on what it gave the service.
impl<T: Mailer> Mailer for Arc<T> {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        (**self).send(email).await
    }
    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        (**self).max_send_rate().await
    }
}

impl<T: SecretSource> SecretSource for Arc<T> {
    async fn pepper(&self) -> Result<Pepper, Unavailable> {
        (**self).pepper().await
    }
}

impl<T: Clock> Clock for Arc<T> {
    fn now(&self) -> Now {
        (**self).now()
    }
}
