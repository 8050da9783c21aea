//! Delivering the outbox: the one place that orders the steps of sending an e-mail a ticket owes.
//!
//! 1. claim it (a conditional write: pending, due for a retry, or its lease lapsed), so that no other
//!    deliverer sends it while this one does;
//! 2. read the ticket and the entry it tells of, and make the recipient's link again from its nonce;
//! 3. wait for a slot of the sending pace (the SES account's maximum send rate, or a configured one);
//! 4. send it, and record the outcome on the attempt that owns it: sent; retrying at a later time, doubling
//!    (throttling, timeouts, outages); or failed for good (a rejected address), sent nowhere again.
//!
//! The stream hands new e-mails over within a second of their write (`deliver_batch`); the sweep, on a
//! schedule, takes what is due from the outbox index (`sweep`): retries, e-mails whose stream records were
//! given up on, claims whose deliverer died. Between SES accepting an e-mail and the record of it, a crash
//! leaves the claim to lapse, and the sweep sends that e-mail again: the one window for a duplicate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::OnceCell;

use crate::domain::email::compose;
use crate::domain::keys::random_hex;
use crate::domain::{CollectionId, Mail, MailKey, MailState, Settlement, now_ms};
use crate::ports::{Mailer, Moved, OutboxStore, SecretSource, SendError, Store, Unavailable};

use super::TicketService;

/// How many e-mails one process has in flight at once (the pace still bounds how fast they leave).
const IN_FLIGHT: usize = 8;
/// The pace when the SES account's rate cannot be read: the sandbox's.
const FALLBACK_SEND_RATE: f64 = 1.0;
/// E-mails the sweep reads from the outbox index at a time.
const SWEEP_PAGE: usize = 100;

/// What delivering one e-mail came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// Not sent this time, for a reason that passes: recorded with the time of the next attempt.
    Retrying,
    /// Refused for good, and recorded so.
    Failed,
    /// Not this deliverer's: sent or failed already, held by another, or not due.
    Skipped,
}

/// What one run of the sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub due: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub skipped: usize,
    /// E-mails whose attempt could not be made or recorded (a store outage): their claims lapse, and a later
    /// sweep takes them again.
    pub unavailable: usize,
}

impl SweepReport {
    fn add(&mut self, outcome: &Option<Result<Delivered, Unavailable>>) {
        match outcome {
            Some(Ok(Delivered::Sent)) => self.sent += 1,
            Some(Ok(Delivered::Retrying)) => self.retrying += 1,
            Some(Ok(Delivered::Failed)) => self.failed += 1,
            Some(Ok(Delivered::Skipped)) | None => self.skipped += 1,
            Some(Err(_)) => self.unavailable += 1,
        }
    }
}

/// The sending pace of this process: each e-mail takes the next free slot, `1 / rate` seconds after the last.
#[derive(Default)]
pub(super) struct Pacer {
    next: Mutex<Option<Instant>>,
    account_rate: OnceCell<f64>,
}

impl Pacer {
    async fn wait(&self, rate: f64) {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let slot = {
            let mut next = self.next.lock().expect("the pacer's lock is never poisoned");
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

impl<S: Store, M: Mailer, P: SecretSource> TicketService<S, M, P> {
    /// Delivers the e-mails a stream batch names, until `deadline`. For each, whether this batch is done with
    /// it (sent, recorded for a retry or as failed, or someone else's); the others are reported back to the
    /// event source, which hands them over again.
    pub async fn deliver_batch(&self, keys: &[MailKey], deadline: Instant) -> Vec<bool> {
        self.deliver_all(keys, deadline).await.iter().map(|outcome| matches!(outcome, Some(Ok(_)))).collect()
    }

    /// One run of the sweep: delivers what the outbox index says was due when it started, page by page, until
    /// `deadline` or until a page moves nothing on. An e-mail it retries is due later, so each is tried once a run.
    pub async fn sweep(&self, deadline: Instant) -> Result<SweepReport, Unavailable> {
        let mut report = SweepReport::default();
        let started = now_ms();
        while Instant::now() < deadline {
            let due = self.store.due_mail(started, SWEEP_PAGE).await?;
            if due.is_empty() {
                break;
            }
            let outcomes = self.deliver_all(&due, deadline).await;
            report.due += due.len();
            outcomes.iter().for_each(|o| report.add(o));
            // The index is read eventually consistently: entries it still shows may already be settled.
            if outcomes
                .iter()
                .all(|o| !matches!(o, Some(Ok(Delivered::Sent | Delivered::Retrying | Delivered::Failed))))
            {
                break;
            }
        }
        if report.due > 0 {
            tracing::info!(
                due = report.due,
                sent = report.sent,
                retrying = report.retrying,
                failed = report.failed,
                skipped = report.skipped,
                unavailable = report.unavailable,
                "sweep done"
            );
        }
        Ok(report)
    }

    /// Every e-mail in `keys` (at most `IN_FLIGHT` at a time); `None` for those not started before `deadline`.
    async fn deliver_all(&self, keys: &[MailKey], deadline: Instant) -> Vec<Option<Result<Delivered, Unavailable>>> {
        let mut outcomes: Vec<_> = keys.iter().map(|_| None).collect();
        let mut waiting = keys.iter().enumerate();
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < IN_FLIGHT && Instant::now() < deadline {
                let Some((i, key)) = waiting.next() else { break };
                running.push(self.deliver_indexed(i, key));
            }
            let Some((i, outcome)) = running.next().await else { break };
            outcomes[i] = Some(outcome);
        }
        outcomes
    }

    async fn deliver_indexed(&self, i: usize, key: &MailKey) -> (usize, Result<Delivered, Unavailable>) {
        (i, self.deliver_one(key).await)
    }

    /// Claims one e-mail, sends it, and records the outcome.
    pub async fn deliver_one(&self, key: &MailKey) -> Result<Delivered, Unavailable> {
        let lease = self.delivery.lease.as_millis() as u64;
        let Some(mail) = self.store.claim_mail(key, now_ms(), lease).await? else { return Ok(Delivered::Skipped) };
        let attempt = mail.attempts;
        let outcome = self.attempt(&mail).await?;
        if self.store.settle_mail(key, attempt, &outcome).await? == Moved::NotOurs {
            // The send outlasted the lease and another deliverer took the e-mail over: it may go out twice.
            tracing::warn!(collection = %key.collection_id, ticket = key.ticket_number, entry = key.entry,
                attempt, "e-mail taken over while it was being sent (its lease lapsed)");
            return Ok(Delivered::Skipped);
        }
        let (collection, ticket, kind) = (&key.collection_id, key.ticket_number, mail.kind.as_str());
        Ok(match outcome {
            Settlement::Sent { .. } => {
                tracing::info!(%collection, ticket, kind, attempt, "e-mail sent");
                Delivered::Sent
            }
            Settlement::Retry { error, .. } => {
                tracing::warn!(%collection, ticket, kind, attempt, %error, "e-mail not sent; it will be retried");
                Delivered::Retrying
            }
            Settlement::Failed { error } => {
                tracing::error!(%collection, ticket, kind, attempt, %error, "e-mail refused for good");
                Delivered::Failed
            }
        })
    }

    /// One attempt at a claimed e-mail: what it says, to whom, and what SES made of it.
    async fn attempt(&self, mail: &Mail) -> Result<Settlement, Unavailable> {
        let (id, number) = (&mail.collection_id, mail.ticket_number);
        let (ticket, entry) =
            tokio::join!(self.store.get_ticket(id, number), self.store.get_entry(id, number, mail.entry));
        let (Some(ticket), Some(entry)) = (ticket?, entry?) else {
            return Ok(Settlement::Failed { error: "the ticket or its thread entry no longer exists".into() });
        };
        let pepper = self.pepper().await?;
        let private_url = self.private_url(pepper, id, number, &ticket.key_nonce);
        let email = compose(mail, &ticket, &entry, &private_url);
        self.pace().await;
        Ok(match self.mailer.send(&email).await {
            Ok(message_id) => Settlement::Sent { message_id },
            Err(SendError::Transient(error)) => {
                let delay = self.delivery.backoff(mail.attempts, jitter());
                Settlement::Retry { error, due_at_ms: now_ms() + delay.as_millis() as u64 }
            }
            Err(SendError::Permanent(error)) => Settlement::Failed { error },
        })
    }

    /// Waits for this process's next sending slot.
    async fn pace(&self) {
        let rate = match self.delivery.max_send_rate {
            Some(rate) => rate,
            None => match self.pacer.account_rate.get_or_try_init(|| self.mailer.max_send_rate()).await {
                Ok(rate) if *rate > 0.0 => *rate,
                Ok(_) | Err(_) => FALLBACK_SEND_RATE,
            },
        };
        self.pacer.wait(rate).await;
    }
}

/// An operator's re-send, once the cause is fixed: every e-mail of the collection (or of one of its tickets)
/// that failed for good goes back to pending, due for the sweep at `due_at_ms` if the stream has not sent it by
/// then. The keys re-sent.
pub async fn resend_failed<S: OutboxStore>(
    store: &S,
    collection: &CollectionId,
    ticket: Option<u64>,
    due_at_ms: u64,
) -> Result<Vec<MailKey>, Unavailable> {
    let failed = store.undelivered(Some(collection)).await?;
    let mut resent = Vec::new();
    for mail in failed.iter().filter(|m| m.state == MailState::Failed && ticket.is_none_or(|n| n == m.ticket_number)) {
        if store.requeue_mail(&mail.key(), due_at_ms).await? == Moved::Moved {
            resent.push(mail.key());
        }
    }
    Ok(resent)
}

/// A number in [0, 1) from the OS random source, to spread retries.
fn jitter() -> f64 {
    let bytes = u16::from_str_radix(&random_hex::<2>(), 16).unwrap_or_default();
    f64::from(bytes) / 65_536.0
}
