//! In-memory ports: for fast handler tests, benchmarks without I/O, and injecting faults on purpose. They keep
//! DynamoDB's rules where the service relies on them (conditional writes, a new ticket written whole or not at
//! all, the outbox's transitions); the proof that the DynamoDB and SES code works is in the tests against
//! DynamoDB Local and the SES stand-in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use secrecy::SecretString;

use crate::domain::conversation::ListCursor;
use crate::domain::{
    ApiKeyHash, ApiKeyRecord, Collection, CollectionId, CountEntry, Email, Entry, Feedback, IdempotencyRecord,
    IdempotencyState, Mail, MailKey, MailState, OutgoingEmail, Pepper, RateLimits, Settlement, Suppression, Ticket,
    TicketStatus, now_rfc3339,
};
use crate::ports::{
    AppendWrite, Appended, CollectionStore, Counted, Failure, IdempotencyStore, Inserted, KeyStore, LimitStore, Mailer,
    Moved, NewTicketWrite, NumberTaken, OutboxStore, SecretSource, SendError, SuppressionStore, TicketPage,
    TicketStore, Unavailable,
};

/// DynamoDB's limit of the items of one `TransactWriteItems`.
const MAX_TRANSACTION_ITEMS: usize = 100;

#[derive(Default)]
struct Data {
    keys: HashMap<String, ApiKeyRecord>,
    collections: HashMap<CollectionId, Collection>,
    tickets: BTreeMap<(CollectionId, u64), Ticket>,
    entries: BTreeMap<(CollectionId, u64, u32), Entry>,
    mail: BTreeMap<MailKey, Mail>,
    counts: HashMap<String, u32>,
    idempotency: HashMap<String, IdempotencyRecord>,
    suppressions: BTreeMap<String, Suppression>,
}

/// A store in memory; clones share it. `set_unavailable(true)` makes every call fail as an outage would.
#[derive(Clone, Default)]
pub struct MemoryStore {
    data: Arc<Mutex<Data>>,
    unavailable: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl MemoryStore {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().expect("the memory store's lock is never poisoned")
    }

    pub fn add_key(&self, hash: &ApiKeyHash, record: ApiKeyRecord) {
        self.data().keys.insert(hash.as_str().to_owned(), record);
    }

    pub fn add_collection(&self, collection: Collection) {
        self.data().collections.insert(collection.collection_id.clone(), collection);
    }

    pub fn revoke(&self, key_id: &str) {
        for record in self.data().keys.values_mut().filter(|r| r.key_id == key_id) {
            record.revoked_at = Some(now_rfc3339());
        }
    }

    pub fn tickets(&self) -> Vec<Ticket> {
        self.data().tickets.values().cloned().collect()
    }

    /// Every e-mail of the outbox, in key order.
    pub fn mail(&self) -> Vec<Mail> {
        self.data().mail.values().cloned().collect()
    }

    pub fn collection(&self, id: &CollectionId) -> Option<Collection> {
        self.data().collections.get(id).cloned()
    }

    pub fn set_unavailable(&self, on: bool) {
        self.unavailable.store(on, Ordering::SeqCst);
    }

    /// How many store calls were made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn enter(&self, operation: &'static str) -> Result<(), Unavailable> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(Unavailable::new(operation, anyhow::anyhow!("injected outage")));
        }
        Ok(())
    }
}

impl KeyStore for MemoryStore {
    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, Unavailable> {
        self.enter("find_key")?;
        Ok(self.data().keys.get(hash.as_str()).cloned())
    }
}

impl CollectionStore for MemoryStore {
    async fn get_collection(&self, id: &CollectionId) -> Result<Option<Collection>, Unavailable> {
        self.enter("get_collection")?;
        Ok(self.collection(id))
    }

    async fn take_number(&self, id: &CollectionId, limits: &RateLimits) -> Result<NumberTaken, Unavailable> {
        self.enter("take_number")?;
        Ok(match self.data().collections.get_mut(id) {
            None => NumberTaken::NotFound,
            Some(c) if !c.ticketing_enabled => NumberTaken::Disabled,
            // As the DynamoDB condition: the two limits a create is counted against.
            Some(c)
                if (c.rate_limits.per_key, c.rate_limits.per_requester) != (limits.per_key, limits.per_requester) =>
            {
                NumberTaken::LimitsChanged(c.rate_limits)
            }
            Some(c) => {
                c.last_ticket_number += 1;
                NumberTaken::Taken(c.clone())
            }
        })
    }
}

impl LimitStore for MemoryStore {
    async fn count(&self, entry: &CountEntry, limit: u32) -> Result<Counted, Unavailable> {
        self.enter("count")?;
        let mut data = self.data();
        let n = data.counts.entry(entry.id.clone()).or_default();
        if *n >= limit {
            return Ok(Counted::Refused(*n));
        }
        *n += 1;
        Ok(Counted::Counted(*n))
    }

    async fn uncount(&self, entry: &CountEntry) -> Result<(), Unavailable> {
        self.enter("uncount")?;
        if let Some(n) = self.data().counts.get_mut(&entry.id) {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }
}

impl IdempotencyStore for MemoryStore {
    async fn claim_idempotency(
        &self,
        claim: &IdempotencyRecord,
        now: u64,
    ) -> Result<Option<IdempotencyRecord>, Unavailable> {
        self.enter("claim_idempotency")?;
        let mut data = self.data();
        match data.idempotency.get(&claim.scope) {
            Some(held) if !held.is_stale(now) => Ok(Some(held.clone())),
            _ => {
                data.idempotency.insert(claim.scope.clone(), claim.clone());
                Ok(None)
            }
        }
    }

    async fn get_idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Unavailable> {
        self.enter("get_idempotency")?;
        Ok(self.data().idempotency.get(scope).cloned())
    }

    async fn release_idempotency(&self, scope: &str, nonce: &str) -> Result<(), Unavailable> {
        self.enter("release_idempotency")?;
        let mut data = self.data();
        if data.idempotency.get(scope).is_some_and(|r| r.state == IdempotencyState::InProgress && r.key_nonce == nonce)
        {
            data.idempotency.remove(scope);
        }
        Ok(())
    }
}

impl TicketStore for MemoryStore {
    async fn insert_ticket(&self, write: &NewTicketWrite) -> Result<Inserted, Unavailable> {
        self.enter("insert_ticket")?;
        let mut data = self.data();
        let ticket = &write.ticket;
        let key = (ticket.collection_id.clone(), ticket.ticket_number);
        if 2 + write.mail.len() + usize::from(write.completes.is_some()) > MAX_TRANSACTION_ITEMS {
            return Err(Unavailable::new("insert_ticket", anyhow::anyhow!("a transaction takes at most 100 items")));
        }
        // All of it or nothing, as a transaction: every condition is checked before anything is written.
        if data.tickets.contains_key(&key) {
            return Ok(Inserted::NumberInUse);
        }
        if let Some((scope, nonce)) = &write.completes
            && data.idempotency.get(scope).is_none_or(|r| r.key_nonce != *nonce)
        {
            return Ok(Inserted::ClaimLost);
        }
        if let Some((scope, _)) = &write.completes
            && let Some(record) = data.idempotency.get_mut(scope)
        {
            record.state = IdempotencyState::Completed;
            record.ticket_number = Some(ticket.ticket_number);
        }
        data.tickets.insert(key.clone(), ticket.clone());
        data.entries.insert((key.0.clone(), key.1, write.entry.seq), write.entry.clone());
        for mail in &write.mail {
            data.mail.insert(mail.key(), mail.clone());
        }
        Ok(Inserted::Stored)
    }

    async fn get_ticket(&self, id: &CollectionId, number: u64) -> Result<Option<Ticket>, Unavailable> {
        self.enter("get_ticket")?;
        Ok(self.data().tickets.get(&(id.clone(), number)).cloned())
    }

    async fn get_entry(&self, id: &CollectionId, number: u64, seq: u32) -> Result<Option<Entry>, Unavailable> {
        self.enter("get_entry")?;
        Ok(self.data().entries.get(&(id.clone(), number, seq)).cloned())
    }

    async fn append(&self, write: &AppendWrite) -> Result<Appended, Unavailable> {
        self.enter("append")?;
        if 2 + write.mail.len() > MAX_TRANSACTION_ITEMS {
            return Err(Unavailable::new("append", anyhow::anyhow!("a transaction takes at most 100 items")));
        }
        let mut data = self.data();
        let key = (write.after.collection_id.clone(), write.after.ticket_number);
        match data.tickets.get(&key) {
            Some(now) if now.entries == write.before.entries && now.status == write.before.status => {}
            _ => return Ok(Appended::Moved),
        }
        data.tickets.insert(key.clone(), write.after.clone());
        data.entries.insert((key.0, key.1, write.entry.seq), write.entry.clone());
        for mail in &write.mail {
            data.mail.insert(mail.key(), mail.clone());
        }
        Ok(Appended::Stored)
    }

    async fn list_page(
        &self,
        id: &CollectionId,
        status: TicketStatus,
        limit: usize,
        after: Option<&ListCursor>,
    ) -> Result<TicketPage, Unavailable> {
        self.enter("list_page")?;
        let data = self.data();
        let order = |t: &Ticket| (t.last_activity_at.clone(), t.ticket_number);
        let mut tickets: Vec<Ticket> =
            data.tickets.values().filter(|t| t.collection_id == *id && t.status == status).cloned().collect();
        tickets.sort_by_key(|t| std::cmp::Reverse(order(t)));
        if let Some(after) = after {
            let bound = (after.last_activity_at.clone(), after.ticket_number);
            tickets.retain(|t| order(t) < bound);
        }
        let next = (tickets.len() > limit).then(|| {
            tickets.truncate(limit);
            let last = tickets.last().expect("a full page has a last ticket");
            ListCursor { last_activity_at: last.last_activity_at.clone(), ticket_number: last.ticket_number }
        });
        Ok(TicketPage { tickets, next })
    }

    async fn thread(&self, id: &CollectionId, number: u64) -> Result<Vec<Entry>, Unavailable> {
        self.enter("thread")?;
        let data = self.data();
        Ok(data
            .entries
            .range((id.clone(), number, 0)..=(id.clone(), number, u32::MAX))
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl OutboxStore for MemoryStore {
    async fn claim_mail(&self, key: &MailKey, now_ms: u64, lease_ms: u64) -> Result<Option<Mail>, Unavailable> {
        self.enter("claim_mail")?;
        let mut data = self.data();
        let Some(mail) = data.mail.get_mut(key) else { return Ok(None) };
        let due = mail.due_at_ms.is_some_and(|due| due <= now_ms);
        let claimable =
            MailState::Sending.may_follow().contains(&mail.state) && (mail.state == MailState::Pending || due);
        if !claimable {
            return Ok(None);
        }
        mail.state = MailState::Sending;
        mail.attempts += 1;
        mail.due_at_ms = Some(now_ms + lease_ms);
        Ok(Some(mail.clone()))
    }

    async fn settle_mail(&self, key: &MailKey, attempt: u32, outcome: &Settlement) -> Result<Moved, Unavailable> {
        self.enter("settle_mail")?;
        let mut data = self.data();
        let Some(mail) = data.mail.get_mut(key) else { return Ok(Moved::NotOurs) };
        if !outcome.state().may_follow().contains(&mail.state) || mail.attempts != attempt {
            return Ok(Moved::NotOurs);
        }
        mail.state = outcome.state();
        match outcome {
            Settlement::Sent { message_id } => {
                mail.message_id = Some(message_id.clone());
                mail.sent_at = Some(now_rfc3339());
                mail.due_at_ms = None;
                mail.last_error = None;
            }
            Settlement::Retry { error, due_at_ms } => {
                mail.due_at_ms = Some(*due_at_ms);
                mail.last_error = Some(error.clone());
            }
            Settlement::Failed { error } | Settlement::Suppressed { error } => {
                mail.due_at_ms = None;
                mail.last_error = Some(error.clone());
                mail.failed_at = Some(now_rfc3339());
            }
        }
        Ok(Moved::Moved)
    }

    async fn due_mail(&self, now_ms: u64, limit: usize) -> Result<Vec<Mail>, Unavailable> {
        self.enter("due_mail")?;
        let data = self.data();
        let mut due: Vec<&Mail> =
            data.mail.values().filter(|m| m.state.is_due_kind() && m.due_at_ms.is_some_and(|d| d <= now_ms)).collect();
        due.sort_by_key(|m| m.due_at_ms);
        Ok(due.into_iter().take(limit).cloned().collect())
    }

    async fn undelivered(&self, collection: Option<&CollectionId>) -> Result<Vec<Mail>, Unavailable> {
        self.enter("undelivered")?;
        let data = self.data();
        Ok(data
            .mail
            .values()
            .filter(|m| m.state.is_undelivered() && collection.is_none_or(|c| *c == m.collection_id))
            .cloned()
            .collect())
    }

    async fn requeue_mail(&self, key: &MailKey, due_at_ms: u64) -> Result<Moved, Unavailable> {
        self.enter("requeue_mail")?;
        let mut data = self.data();
        match data.mail.get_mut(key) {
            Some(mail) if MailState::Pending.may_follow().contains(&mail.state) => {
                mail.state = MailState::Pending;
                mail.due_at_ms = Some(due_at_ms);
                mail.failed_at = None;
                Ok(Moved::Moved)
            }
            _ => Ok(Moved::NotOurs),
        }
    }

    async fn record_feedback(&self, key: &MailKey, feedback: &Feedback) -> Result<Moved, Unavailable> {
        self.enter("record_feedback")?;
        let mut data = self.data();
        match data.mail.get_mut(key) {
            Some(mail) if feedback.state().may_follow().contains(&mail.state) => {
                mail.state = feedback.state();
                if let Feedback::Bounced { detail, .. } | Feedback::Complained { detail } = feedback {
                    mail.last_error = Some(detail.clone());
                }
                Ok(Moved::Moved)
            }
            _ => Ok(Moved::NotOurs),
        }
    }
}

impl SuppressionStore for MemoryStore {
    async fn suppression(&self, address: &Email) -> Result<Option<Suppression>, Unavailable> {
        self.enter("suppression")?;
        Ok(self.data().suppressions.get(&address.as_str().to_ascii_lowercase()).cloned())
    }

    async fn suppress(&self, suppression: &Suppression) -> Result<(), Unavailable> {
        self.enter("suppress")?;
        let key = suppression.address.as_str().to_ascii_lowercase();
        self.data().suppressions.entry(key).or_insert_with(|| suppression.clone());
        Ok(())
    }

    async fn lift_suppression(&self, address: &Email) -> Result<bool, Unavailable> {
        self.enter("lift_suppression")?;
        Ok(self.data().suppressions.remove(&address.as_str().to_ascii_lowercase()).is_some())
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, Unavailable> {
        self.enter("suppressions")?;
        Ok(self.data().suppressions.values().cloned().collect())
    }
}

/// A mailer that keeps what it sends. Addresses in `fail_for` are refused for good; with `set_outage(true)`
/// every send fails as an SES outage would (a failure that passes).
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<OutgoingEmail>>,
    refused: Mutex<HashSet<String>>,
    outage: AtomicBool,
    attempts: AtomicUsize,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.lock().unwrap().clone()
    }

    /// Every send asked for, sent or not.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    pub fn refuse(&self, address: &str) {
        self.refused.lock().unwrap().insert(address.to_owned());
    }

    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.outage.load(Ordering::SeqCst) {
            return Err(SendError::Transient(Failure::new("Injected", "injected SES outage")));
        }
        if self.refused.lock().unwrap().contains(email.to.as_str()) {
            return Err(SendError::Permanent(Failure::new("Injected", "injected: SES rejected the address")));
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(email.clone());
        Ok(format!("memory-{}", sent.len()))
    }

    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        Ok(1_000.0)
    }
}

/// A pepper held in memory; `set_unavailable(true)` makes it unreadable, as a Secrets Manager outage would.
pub struct MemorySecrets {
    pepper: Pepper,
    unavailable: AtomicBool,
    reads: AtomicUsize,
}

impl MemorySecrets {
    pub fn new(pepper: &str) -> Self {
        Self {
            pepper: Pepper::new(SecretString::from(pepper.to_owned())).expect("a test pepper of 32 bytes or more"),
            unavailable: AtomicBool::new(false),
            reads: AtomicUsize::new(0),
        }
    }

    pub fn set_unavailable(&self, on: bool) {
        self.unavailable.store(on, Ordering::SeqCst);
    }

    /// How many times the pepper was read (the service should read it once).
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl SecretSource for MemorySecrets {
    async fn pepper(&self) -> Result<Pepper, Unavailable> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(Unavailable::new("pepper", anyhow::anyhow!("injected outage")));
        }
        Ok(self.pepper.clone())
    }
}
