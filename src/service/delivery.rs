//! Delivering the outbox: the one place that orders the steps of sending an e-mail a ticket owes.
//!
//! 1. wait for this process's next slot of the pace, taken only if the whole attempt fits before the
//!    invocation's deadline (a deferred e-mail takes nothing from the pace);
//! 2. take a token of the deployment's pace: a count per second in the limits table that every process and
//!    the sweep share, so that together they stay within the SES account's maximum send rate;
//! 3. claim it (a conditional write: pending, due for a retry, or its lease lapsed), so that no other
//!    deliverer sends it while this one does;
//! 4. read the ticket and the entry it tells of, and make the recipient's link again from its nonce;
//! 5. send it, and record the outcome on the attempt that owns it: sent; retrying at a later time, doubling
//!    (throttling, outages, any refusal that is not about the message); or failed for good (a rejected address,
//!    or passing failures for longer than `give_up_after`), sent nowhere again.
//!
//! The stream hands new e-mails over within a second of their write (`deliver_batch`); the sweep, on a
//! schedule, takes what is due from the outbox index (`sweep`): retries, e-mails whose stream records were
//! given up on, claims whose deliverer died. An e-mail can go out twice in one window only: SES took it and
//! its record was not written (the invocation died in between, and the claim lapses; or SES's answer never
//! came, counted as `EmailsAmbiguous`), and the retry sends it again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::OnceCell;

use crate::domain::attachment::file_key;
use crate::domain::email::{Links, MAX_ATTACHED_BYTES, OutgoingFile, attach_plan, compose, compose_webhook_added};
use crate::domain::outbox::EndpointNotice;
use crate::domain::random::random_hex;
use crate::domain::reply_address::{Recipient, ReplyAddress};
use crate::domain::{CountEntry, Mail, MailKey, MailKind, Now, OutgoingEmail, Role, Settlement};
use crate::ports::{
    CollectionStore, Counted, Failure, Files, LimitStore, Mailer, Moved, OutboxStore, Ports, SendError,
    SuppressionStore, TicketStore, Unavailable,
};
use crate::telemetry;

use super::TicketService;

/// How many e-mails one process has in flight at once (the pace still bounds how fast they leave).
const IN_FLIGHT: usize = 8;
/// The pace when the SES account's rate cannot be read: the sandbox's.
const FALLBACK_SEND_RATE: f64 = 1.0;
/// E-mails the sweep reads from the outbox index at a time.
const SWEEP_PAGE: usize = 100;
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

impl Delivered {
    /// Whether the deliverer is done with it (the event source need not hand it over again).
    fn done(self) -> bool {
        self != Delivered::Deferred
    }
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
    /// Items of the outbox index that did not read as e-mails, set aside.
    pub unreadable: usize,
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
    /// The next free slot, taken, if it comes no later than `latest`; `None`, and nothing taken, otherwise: an
    /// e-mail deferred to the next invocation leaves the pace as it was.
    fn reserve_by(&self, rate: f64, latest: Instant) -> Option<Instant> {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut next = self.next.lock().expect("the pacer's lock is never poisoned");
        let now = Instant::now();
        let slot = next.map_or(now, |n| n.max(now));
        if slot > latest {
            return None;
        }
        *next = Some(slot + interval);
        Some(slot)
    }
}

/// The deployment's pace as counts in the limits table: at most `per_window` e-mails in each window of
/// `window_seconds` (one second, or longer for a rate below one a second), whichever process sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    pub window_seconds: u64,
    pub per_window: u32,
}

impl SendWindow {
    pub fn of_rate(rate: f64) -> Self {
        let window_seconds = (1.0 / rate).ceil().max(1.0) as u64;
        let per_window = (rate * window_seconds as f64).floor().max(1.0) as u32;
        Self { window_seconds, per_window }
    }

    /// The count of the window that holds `now`; kept an hour (TTL), so that the table is not its log.
    fn entry(&self, now: Now) -> CountEntry {
        let window = now.secs() / self.window_seconds;
        CountEntry { id: format!("#send#{}#{window}", self.window_seconds), expires_at: now.secs() + 3_600 }
    }

    /// When the window after the one that holds `now` begins, in milliseconds from `now`.
    fn next_in(&self, now: Now) -> Duration {
        let window_ms = self.window_seconds * 1_000;
        Duration::from_millis(window_ms - now.ms() % window_ms)
    }
}

impl<P: Ports> TicketService<P> {
    /// Delivers the e-mails a stream batch names, until `deadline`. For each, whether this batch is done with
    /// it (sent, recorded for a retry or as failed, or someone else's); the others are reported back to the
    /// event source, which hands them over again.
    pub async fn deliver_batch(&self, keys: &[MailKey], deadline: Instant) -> Vec<bool> {
        let outcomes = self.deliver_all(keys, deadline).await;
        outcomes.iter().map(|outcome| matches!(outcome, Some(Ok(d)) if d.done())).collect()
    }

    /// One run of the sweep: delivers what the outbox index says was due when it started, page by page, until
    /// `deadline` or until a page moves nothing on. An e-mail it retries is due later, so each is tried once a run.
    pub async fn sweep(&self, deadline: Instant) -> Result<SweepReport, Unavailable> {
        let mut report = SweepReport::default();
        let started = self.now();
        while Instant::now() < deadline {
            let page = self.store().due_mail(started, SWEEP_PAGE).await?;
            // An item that no longer reads is set aside, out of the due ones, so that it never blocks the rest.
            let mut set_aside = 0;
            for item in &page.unreadable {
                tracing::error!(item = %item.key, error = %item.error, "outbox item unreadable: set aside");
                telemetry::outbox_item_unreadable();
                match self.store().set_aside(item, started).await {
                    Ok(()) => set_aside += 1,
                    Err(e) => tracing::warn!(error = %e, "could not set an unreadable outbox item aside"),
                }
            }
            report.unreadable += page.unreadable.len();
            let due_mail = page.mail;
            if due_mail.is_empty() {
                match set_aside {
                    0 => break,
                    _ => continue,
                }
            }
            if report.due == 0
                && let Some(oldest) = due_mail.iter().map(|mail| mail.age(started)).max()
            {
                telemetry::oldest_undelivered(oldest);
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
                unreadable = report.unreadable,
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

    /// Sends one e-mail in its slot of the pace and records the outcome, if the whole attempt can be done before
    /// `deadline`; otherwise it is left alone for the next invocation, and the pace is left as it was.
    pub async fn deliver_one(&self, key: &MailKey, deadline: Instant) -> Result<Delivered, Unavailable> {
        let latest = deadline.checked_sub(self.delivery.send_budget).unwrap_or(deadline);
        let rate = self.send_rate().await;
        let Some(slot) = self.pacer.reserve_by(rate, latest) else { return Ok(Delivered::Deferred) };
        // A slot already due is taken at once: a timer, even for no wait, costs a tick of tokio's wheel (1 ms).
        if slot > Instant::now() {
            tokio::time::sleep_until(slot).await;
        }
        if !self.take_send_token(rate, latest).await? {
            return Ok(Delivered::Deferred);
        }
        let claimed = self.store().claim_mail(key, self.now(), self.delivery.lease).await?;
        let Some(mail) = claimed else { return Ok(Delivered::Skipped) };
        let attempt = mail.attempts;
        let outcome = self.attempt(&mail).await?;
        let now = self.now();
        let webhooks = match &outcome {
            Settlement::Failed { error } => {
                self.undeliverable_webhooks(key, attempt, mail.audience, "failed", error).await?
            }
            Settlement::Suppressed { error } => {
                self.undeliverable_webhooks(key, attempt, mail.audience, "suppressed", error).await?
            }
            _ => Vec::new(),
        };
        if self.store().settle_mail(key, attempt, &outcome, now, &webhooks).await? == Moved::NotOurs {
            // The attempt outlasted the lease and another deliverer took the e-mail over: it may go out twice.
            tracing::warn!(collection = %key.collection_id, ticket = key.ticket_number, entry = key.entry,
                attempt, "e-mail taken over while it was being sent (its lease lapsed)");
            return Ok(Delivered::Skipped);
        }
        let (collection, ticket, kind) = (&key.collection_id, key.ticket_number, mail.kind.as_str());
        Ok(match outcome {
            Settlement::Sent { .. } => {
                tracing::info!(%collection, ticket, kind, attempt, "e-mail sent");
                telemetry::email_sent(mail.age(now));
                Delivered::Sent
            }
            // Logged by the attempt, with SES's code only: its message can name the recipient.
            Settlement::Retry { .. } => {
                telemetry::email_retried();
                Delivered::Retrying
            }
            Settlement::Failed { .. } => {
                telemetry::email_failed();
                Delivered::Failed
            }
            Settlement::Suppressed { .. } => {
                tracing::info!(%collection, ticket, kind, attempt, "e-mail not sent: the address is suppressed");
                telemetry::email_suppressed();
                Delivered::Suppressed
            }
        })
    }

    /// A token of the deployment's pace: one of the current window's e-mails, counted in the limits table; when
    /// the window's are taken (by other processes too), the next window's, as long as that comes by `latest`.
    async fn take_send_token(&self, rate: f64, latest: Instant) -> Result<bool, Unavailable> {
        let window = SendWindow::of_rate(rate);
        loop {
            let now = self.now();
            if let Counted::Counted(_) = self.store().count(&window.entry(now), window.per_window).await? {
                return Ok(true);
            }
            let next = Instant::now() + window.next_in(now);
            if next > latest {
                return Ok(false);
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// One attempt at a claimed e-mail: what it says, to whom, and what SES made of it.
    async fn attempt(&self, mail: &Mail) -> Result<Settlement, Unavailable> {
        if let Some(notice) = mail.webhook_added.as_ref().filter(|_| mail.kind == MailKind::WebhookAdded) {
            return self.attempt_collection_notice(mail, notice).await;
        }
        let (id, number) = (&mail.collection_id, mail.ticket_number);
        // The team's e-mails carry their member's link and reply address, made with the collection as it is now:
        // read for the team's e-mails only.
        let (ticket, entry, suppressed, collection) = tokio::join!(
            self.store().get_ticket(id, number),
            self.store().get_entry(id, number, mail.entry),
            self.store().suppression(&mail.to),
            async {
                match mail.audience {
                    Role::Team => self.store().get_collection(id).await.map(Some),
                    Role::Requester => Ok(None),
                }
            }
        );
        if let Some(suppression) = suppressed? {
            return Ok(Settlement::Suppressed {
                error: format!("suppressed since {}: {} ({})", suppression.at, suppression.reason, suppression.detail),
            });
        }
        let (Some(ticket), Some(entry)) = (ticket?, entry?) else {
            return Ok(Settlement::Failed { error: "the ticket or its thread entry no longer exists".into() });
        };
        // A team e-mail is a member's: to an address taken off the team since it was owed, it is not sent.
        let team_of = match collection? {
            None => None,
            Some(None) => return Ok(Settlement::Failed { error: "the collection no longer exists".into() }),
            Some(Some(collection)) => match collection.member(mail.to.as_str()).cloned() {
                Some(member) => Some((collection, member)),
                None => return Ok(Settlement::Failed { error: "not a member of the collection's team".into() }),
            },
        };
        let pepper = self.pepper().await?;
        let requester = self.private_url(pepper, id, number, &ticket.key_nonce);
        // Each e-mail carries its recipient's links only (`compose` picks them by the audience).
        let (team, inbox, recipient) = match &team_of {
            Some((collection, member)) => (
                self.team_url(pepper, collection, number, &ticket.team_key_nonce, Some(member)),
                self.inbox_url(pepper, collection, member),
                Recipient::Team { collection, member: Some(member) },
            ),
            None => (String::new(), String::new(), Recipient::Requester),
        };
        let reply_to =
            self.inbound_domain.as_deref().and_then(|domain| ReplyAddress::of(pepper, &ticket, recipient, domain));
        let links = Links { requester: &requester, team: &team, reply_to: reply_to.as_ref(), inbox: &inbox };
        // The files it attaches, read now (one gone from the bucket is a link, which then answers 404).
        let plan = attach_plan(mail.kind, &entry.attachments);
        let reads = entry.attachments.iter().zip(&plan).map(|(file, attach)| async move {
            match attach {
                true => self.ports.files().read(&file_key(id, number, &file.id), MAX_ATTACHED_BYTES).await,
                false => Ok(None),
            }
        });
        let mut attachments = Vec::new();
        let mut attached = Vec::new();
        for (file, read) in entry.attachments.iter().zip(futures_util::future::join_all(reads).await) {
            let bytes = read?;
            attached.push(bytes.is_some());
            if let Some(bytes) = bytes {
                let (file_name, content_type) = (file.file_name.clone(), file.content_type.clone());
                attachments.push(OutgoingFile { file_name, content_type, bytes });
            }
        }
        let mut email = compose(mail, &ticket, &entry, &links, &attached);
        email.attachments = attachments;
        Ok(self.send(mail, &email).await)
    }

    /// One attempt at a notice of a collection (not of a ticket): the notice of a new webhook endpoint.
    async fn attempt_collection_notice(&self, mail: &Mail, notice: &EndpointNotice) -> Result<Settlement, Unavailable> {
        let (collection, suppressed) =
            tokio::join!(self.store().get_collection(&mail.collection_id), self.store().suppression(&mail.to));
        if let Some(suppression) = suppressed? {
            return Ok(Settlement::Suppressed {
                error: format!("suppressed since {}: {} ({})", suppression.at, suppression.reason, suppression.detail),
            });
        }
        let Some(collection) = collection? else {
            return Ok(Settlement::Failed { error: "the collection no longer exists".into() });
        };
        let email = compose_webhook_added(mail, notice, collection.name.as_str());
        Ok(self.send(mail, &email).await)
    }

    /// Sends one e-mail, and what came of it: sent, refused for good, or to be retried (given up on after
    /// `give_up_after` of passing failures).
    async fn send(&self, mail: &Mail, email: &OutgoingEmail) -> Settlement {
        let (id, number, kind) = (&mail.collection_id, mail.ticket_number, mail.kind.as_str());
        match self.mailer().send(email).await {
            Ok(message_id) => Settlement::Sent { message_id },
            Err(SendError::Permanent(failure)) => {
                tracing::error!(collection = %id, ticket = number, kind, attempt = mail.attempts,
                    code = %failure.code, "e-mail refused for good");
                Settlement::Failed { error: failure.to_string() }
            }
            Err(SendError::Transient(failure) | SendError::Unknown(failure)) if self.gave_up(mail) => {
                tracing::error!(collection = %id, ticket = number, kind, attempt = mail.attempts,
                    code = %failure.code, "e-mail given up on after passing failures");
                let days = self.delivery.give_up_after.as_secs() / 86_400;
                Settlement::Failed { error: format!("not sent in {days} days of retries; the last: {failure}") }
            }
            Err(SendError::Unknown(failure)) => {
                // SES may have taken it: sent again, it may arrive twice (docs/architecture.md, "The one window for
                // a duplicate").
                telemetry::email_ambiguous();
                tracing::warn!(collection = %id, ticket = number, kind, attempt = mail.attempts,
                    code = %failure.code, "no answer from SES: the e-mail may have been sent; it will be retried");
                self.retry(mail, failure)
            }
            Err(SendError::Transient(failure)) => {
                tracing::warn!(collection = %id, ticket = number, kind, attempt = mail.attempts,
                    code = %failure.code, "e-mail not sent; it will be retried");
                self.retry(mail, failure)
            }
        }
    }

    fn retry(&self, mail: &Mail, failure: Failure) -> Settlement {
        let delay = self.delivery.backoff(mail.attempts, jitter());
        Settlement::Retry { error: failure.to_string(), due_at_ms: self.now().ms_after(delay) }
    }

    /// Whether an e-mail has failed in passing for as long as it is retried (since it was written, or since an
    /// operator sent it again).
    fn gave_up(&self, mail: &Mail) -> bool {
        mail.trying_for(self.now()) >= self.delivery.give_up_after
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

/// A number in [0, 1) from the OS random source, to spread retries.
fn jitter() -> f64 {
    let bytes = u16::from_str_radix(&random_hex::<2>(), 16).unwrap_or_default();
    f64::from(bytes) / 65_536.0
}
