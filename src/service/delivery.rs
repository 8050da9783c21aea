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

use crate::domain::email::{Links, compose};
use crate::domain::keys::random_hex;
use crate::domain::{CollectionId, Mail, MailKey, MailState, Settlement};
use crate::ports::{Mailer, Moved, Ports, SendError, Unavailable};
use crate::ports::{OutboxStore, SuppressionStore, TicketStore};

use super::TicketService;

/// How many e-mails one process has in flight at once (the pace still bounds how fast they leave).
const IN_FLIGHT: usize = 8;
/// The pace when the SES account's rate cannot be read: the sandbox's.
const FALLBACK_SEND_RATE: f64 = 1.0;
/// E-mails the sweep reads from the outbox index at a time.
const SWEEP_PAGE: usize = 100;
/// What one e-mail's claim, reads, send and record take at most in the normal case: an e-mail whose sending
/// slot comes later than this before the deadline is left for the next invocation, not claimed.
const SEND_BUDGET: Duration = Duration::from_secs(5);
/// How long the pace falls back to the sandbox's when the account's rate could not be read, before asking again.
const FALLBACK_FOR: Duration = Duration::from_secs(60);

/// What delivering one e-mail came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// Not sent this time, for a reason that passes: recorded with the time of the next attempt.
    Retrying,
    /// Refused for good, and recorded so.
    Failed,
    /// Not sent: its address is on the suppression list; recorded so.
    Suppressed,
    /// Not this deliverer's: sent or failed already, held by another, or not due.
    Skipped,
    /// Not started: its sending slot came too late for this invocation's deadline.
    Deferred,
}

/// What one run of the sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub due: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub suppressed: usize,
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
            Some(Ok(Delivered::Suppressed)) => self.suppressed += 1,
            Some(Ok(Delivered::Skipped | Delivered::Deferred)) | None => self.skipped += 1,
            Some(Err(_)) => self.unavailable += 1,
        }
    }
}

/// The sending pace of this process: each e-mail takes the next free slot, `1 / rate` seconds after the last.
#[derive(Default)]
pub(super) struct Pacer {
    next: Mutex<Option<Instant>>,
    account_rate: OnceCell<f64>,
    fallback_until: Mutex<Option<Instant>>,
}

impl Pacer {
    /// The next free slot, taken.
    fn reserve(&self, rate: f64) -> Instant {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut next = self.next.lock().expect("the pacer's lock is never poisoned");
        let now = Instant::now();
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + interval);
        slot
    }
}

impl<P: Ports> TicketService<P> {
    /// Delivers the e-mails a stream batch names, until `deadline`. For each, whether this batch is done with
    /// it (sent, recorded for a retry or as failed, or someone else's); the others are reported back to the
    /// event source, which hands them over again.
    pub async fn deliver_batch(&self, keys: &[MailKey], deadline: Instant) -> Vec<bool> {
        let outcomes = self.deliver_all(keys, deadline).await;
        outcomes.iter().map(|outcome| matches!(outcome, Some(Ok(d)) if *d != Delivered::Deferred)).collect()
    }

    /// One run of the sweep: delivers what the outbox index says was due when it started, page by page, until
    /// `deadline` or until a page moves nothing on. An e-mail it retries is due later, so each is tried once a run.
    pub async fn sweep(&self, deadline: Instant) -> Result<SweepReport, Unavailable> {
        let mut report = SweepReport::default();
        let started = self.now();
        while Instant::now() < deadline {
            let due_mail = self.store().due_mail(started, SWEEP_PAGE).await?;
            if due_mail.is_empty() {
                break;
            }
            if report.due == 0
                && let Some(oldest) = due_mail.iter().map(|mail| mail.age(started)).max()
            {
                crate::telemetry::oldest_undelivered(oldest);
            }
            let due: Vec<MailKey> = due_mail.iter().map(Mail::key).collect();
            let outcomes = self.deliver_all(&due, deadline).await;
            report.due += due.len();
            outcomes.iter().for_each(|o| report.add(o));
            // The index is read eventually consistently: entries it still shows may already be settled.
            if outcomes.iter().all(|o| {
                !matches!(
                    o,
                    Some(Ok(Delivered::Sent | Delivered::Retrying | Delivered::Failed | Delivered::Suppressed))
                )
            }) {
                break;
            }
        }
        if report.due > 0 {
            tracing::info!(
                due = report.due,
                sent = report.sent,
                retrying = report.retrying,
                failed = report.failed,
                suppressed = report.suppressed,
                skipped = report.skipped,
                unavailable = report.unavailable,
                "sweep done"
            );
        }
        Ok(report)
    }

    /// Every e-mail in `keys`; `None` for those not started before `deadline`. A ticket's e-mails go one after
    /// another, in the order of its thread, so that its requester and team read them in that order; the tickets
    /// go side by side, at most `IN_FLIGHT` at a time.
    async fn deliver_all(&self, keys: &[MailKey], deadline: Instant) -> Vec<Option<Result<Delivered, Unavailable>>> {
        let mut outcomes: Vec<_> = keys.iter().map(|_| None).collect();
        let mut tickets: Vec<Vec<(usize, &MailKey)>> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let same = |group: &&mut Vec<(usize, &MailKey)>| {
                group[0].1.collection_id == key.collection_id && group[0].1.ticket_number == key.ticket_number
            };
            match tickets.iter_mut().find(same) {
                Some(group) => group.push((i, key)),
                None => tickets.push(vec![(i, key)]),
            }
        }
        for group in &mut tickets {
            group.sort_by_key(|(_, key)| (key.entry, key.index));
        }
        let mut waiting = tickets.into_iter();
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < IN_FLIGHT && Instant::now() < deadline {
                let Some(group) = waiting.next() else { break };
                running.push(self.deliver_in_order(group, deadline));
            }
            let Some(done) = running.next().await else { break };
            for (i, outcome) in done {
                outcomes[i] = Some(outcome);
            }
        }
        outcomes
    }

    /// One ticket's e-mails, one after another; those not started before `deadline` are left out.
    async fn deliver_in_order(
        &self,
        group: Vec<(usize, &MailKey)>,
        deadline: Instant,
    ) -> Vec<(usize, Result<Delivered, Unavailable>)> {
        let mut done = Vec::new();
        for (i, key) in group {
            if Instant::now() >= deadline {
                break;
            }
            done.push((i, self.deliver_one(key, deadline).await));
        }
        done
    }

    /// Claims one e-mail, sends it in its slot of the pace, and records the outcome, if that can be done before
    /// `deadline`; otherwise it is left alone for the next invocation.
    pub async fn deliver_one(&self, key: &MailKey, deadline: Instant) -> Result<Delivered, Unavailable> {
        // The slot is taken before the claim: an e-mail that could not be sent in time is not claimed, so that no
        // invocation is cut off between SES's acceptance and its record.
        let slot = self.pacer.reserve(self.send_rate().await);
        if slot + SEND_BUDGET > deadline {
            return Ok(Delivered::Deferred);
        }
        let claimed = self.store().claim_mail(key, self.now(), self.delivery.lease).await?;
        let Some(mail) = claimed else { return Ok(Delivered::Skipped) };
        let attempt = mail.attempts;
        let outcome = self.attempt(&mail, slot).await?;
        let now = self.now();
        if self.store().settle_mail(key, attempt, &outcome, now).await? == Moved::NotOurs {
            // The send outlasted the lease and another deliverer took the e-mail over: it may go out twice.
            tracing::warn!(collection = %key.collection_id, ticket = key.ticket_number, entry = key.entry,
                attempt, "e-mail taken over while it was being sent (its lease lapsed)");
            return Ok(Delivered::Skipped);
        }
        let (collection, ticket, kind) = (&key.collection_id, key.ticket_number, mail.kind.as_str());
        Ok(match outcome {
            Settlement::Sent { .. } => {
                tracing::info!(%collection, ticket, kind, attempt, "e-mail sent");
                crate::telemetry::email_sent(mail.age(now));
                Delivered::Sent
            }
            // Logged by the attempt, with SES's code only: its message can name the recipient.
            Settlement::Retry { .. } => {
                crate::telemetry::email_retried();
                Delivered::Retrying
            }
            Settlement::Failed { .. } => {
                crate::telemetry::email_failed();
                Delivered::Failed
            }
            Settlement::Suppressed { .. } => {
                tracing::info!(%collection, ticket, kind, attempt, "e-mail not sent: the address is suppressed");
                crate::telemetry::email_suppressed();
                Delivered::Suppressed
            }
        })
    }

    /// One attempt at a claimed e-mail, sent at `slot`: what it says, to whom, and what SES made of it.
    async fn attempt(&self, mail: &Mail, slot: Instant) -> Result<Settlement, Unavailable> {
        let (id, number) = (&mail.collection_id, mail.ticket_number);
        let (ticket, entry, suppressed) = tokio::join!(
            self.store().get_ticket(id, number),
            self.store().get_entry(id, number, mail.entry),
            self.store().suppression(&mail.to)
        );
        if let Some(suppression) = suppressed? {
            return Ok(Settlement::Suppressed {
                error: format!("suppressed since {}: {} ({})", suppression.at, suppression.reason, suppression.detail),
            });
        }
        let (Some(ticket), Some(entry)) = (ticket?, entry?) else {
            return Ok(Settlement::Failed { error: "the ticket or its thread entry no longer exists".into() });
        };
        let pepper = self.pepper().await?;
        let requester = self.private_url(pepper, id, number, &ticket.key_nonce);
        let team = self.team_url(pepper, id, number, &ticket.team_key_nonce);
        let email = compose(mail, &ticket, &entry, &Links { requester: &requester, team: &team });
        tokio::time::sleep_until(slot.into()).await;
        Ok(match self.mailer().send(&email).await {
            Ok(message_id) => Settlement::Sent { message_id },
            Err(SendError::Transient(failure)) => {
                let delay = self.delivery.backoff(mail.attempts, jitter());
                tracing::warn!(collection = %id, ticket = number, kind = mail.kind.as_str(), attempt = mail.attempts,
                    code = %failure.code, "e-mail not sent; it will be retried");
                Settlement::Retry { error: failure.to_string(), due_at_ms: self.now().ms_after(delay) }
            }
            Err(SendError::Permanent(failure)) => {
                tracing::error!(collection = %id, ticket = number, kind = mail.kind.as_str(), attempt = mail.attempts,
                    code = %failure.code, "e-mail refused for good");
                Settlement::Failed { error: failure.to_string() }
            }
        })
    }

    /// E-mails per second: configured, or the SES account's (read once; while it cannot be read, the sandbox's
    /// for a minute before asking again).
    async fn send_rate(&self) -> f64 {
        if let Some(rate) = self.delivery.max_send_rate {
            return rate;
        }
        if let Some(rate) = self.pacer.account_rate.get() {
            return *rate;
        }
        if let Some(until) = *self.pacer.fallback_until.lock().expect("never poisoned")
            && Instant::now() < until
        {
            return FALLBACK_SEND_RATE;
        }
        match self.pacer.account_rate.get_or_try_init(|| self.mailer().max_send_rate()).await {
            Ok(rate) if *rate > 0.0 => *rate,
            Ok(_) => FALLBACK_SEND_RATE,
            Err(e) => {
                tracing::warn!(error = %e, "the SES account's sending rate is unknown: sending at the sandbox's for a minute");
                *self.pacer.fallback_until.lock().expect("never poisoned") = Some(Instant::now() + FALLBACK_FOR);
                FALLBACK_SEND_RATE
            }
        }
    }
}

/// An operator's re-send, once the cause is fixed: every e-mail of the collection (or of one of its tickets)
/// that failed for good goes back to pending, due for the sweep at `due_at_ms` if the stream has not sent it by
/// then. The keys re-sent.
pub async fn resend_failed<S: OutboxStore + ?Sized>(
    store: &S,
    collection: &CollectionId,
    ticket: Option<u64>,
    due_at_ms: u64,
) -> Result<Vec<MailKey>, Unavailable> {
    let failed = store.undelivered(Some(collection)).await?;
    let mut resent = Vec::new();
    let resendable = |m: &&Mail| matches!(m.state, MailState::Failed | MailState::Suppressed);
    for mail in failed.iter().filter(resendable).filter(|m| ticket.is_none_or(|n| n == m.ticket_number)) {
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
