//! In-memory ports: for fast handler tests, benchmarks without I/O, and injecting faults on purpose.
//! The real proof that storage and e-mail work is in the tests against DynamoDB Local and the SES stand-in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use secrecy::SecretString;

use crate::domain::{
    ApiKeyHash, ApiKeyRecord, Collection, CollectionId, EmailDelivery, IdempotencyRecord, IdempotencyState,
    OutgoingEmail, Pepper, RateCount, Ticket,
};
use crate::ports::{Inserted, Mailer, NumberTaken, SecretSource, Store, Unavailable};

/// A store in memory. `set_unavailable(true)` makes every call fail as a dependency outage would.
#[derive(Default)]
pub struct MemoryStore {
    keys: Mutex<HashMap<String, ApiKeyRecord>>,
    collections: Mutex<HashMap<CollectionId, Collection>>,
    tickets: Mutex<BTreeMap<(CollectionId, u64), Ticket>>,
    idempotency: Mutex<HashMap<String, IdempotencyRecord>>,
    /// Abuse-limit counts by collection and entry (the entry names its window).
    rate_counts: Mutex<HashMap<(CollectionId, String), u32>>,
    unavailable: AtomicBool,
    calls: AtomicUsize,
}

impl MemoryStore {
    pub fn add_key(&self, hash: &ApiKeyHash, record: ApiKeyRecord) {
        self.keys.lock().unwrap().insert(hash.as_str().to_owned(), record);
    }

    pub fn add_collection(&self, collection: Collection) {
        self.collections.lock().unwrap().insert(collection.collection_id.clone(), collection);
    }

    pub fn revoke(&self, key_id: &str) {
        for record in self.keys.lock().unwrap().values_mut().filter(|r| r.key_id == key_id) {
            record.revoked_at = Some(crate::domain::now_rfc3339());
        }
    }

    pub fn tickets(&self) -> Vec<Ticket> {
        self.tickets.lock().unwrap().values().cloned().collect()
    }

    pub fn collection(&self, id: &CollectionId) -> Option<Collection> {
        self.collections.lock().unwrap().get(id).cloned()
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

impl Store for MemoryStore {
    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, Unavailable> {
        self.enter("find_key")?;
        Ok(self.keys.lock().unwrap().get(hash.as_str()).cloned())
    }

    async fn get_collection(&self, id: &CollectionId) -> Result<Option<Collection>, Unavailable> {
        self.enter("get_collection")?;
        Ok(self.collection(id))
    }

    async fn take_number(&self, id: &CollectionId, count: &RateCount) -> Result<NumberTaken, Unavailable> {
        self.enter("take_number")?;
        let mut collections = self.collections.lock().unwrap();
        let mut counts = self.rate_counts.lock().unwrap();
        let used = |entry: &str| counts.get(&(id.clone(), entry.to_owned())).copied().unwrap_or(0);
        let (key_used, requester_used) = (used(count.key_entry()), used(count.requester_entry()));
        Ok(match collections.get_mut(id) {
            None => NumberTaken::NotFound,
            Some(c) if !c.ticketing_enabled => NumberTaken::Disabled,
            Some(c) => {
                let quota = count.quota(c.rate_limits, key_used, requester_used);
                if quota.exceeded().is_some() {
                    return Ok(NumberTaken::Limited(quota));
                }
                for entry in [count.key_entry(), count.requester_entry()] {
                    *counts.entry((id.clone(), entry.to_owned())).or_default() += 1;
                }
                c.last_ticket_number += 1;
                NumberTaken::Taken(c.clone(), count.quota(c.rate_limits, key_used + 1, requester_used + 1))
            }
        })
    }

    async fn insert_ticket(&self, ticket: &Ticket) -> Result<Inserted, Unavailable> {
        self.enter("insert_ticket")?;
        let mut tickets = self.tickets.lock().unwrap();
        let key = (ticket.collection_id.clone(), ticket.ticket_number);
        if tickets.contains_key(&key) {
            return Ok(Inserted::NumberInUse);
        }
        tickets.insert(key, ticket.clone());
        Ok(Inserted::Stored)
    }

    async fn record_emails(
        &self,
        id: &CollectionId,
        number: u64,
        emails: &[EmailDelivery],
        forget_link: bool,
    ) -> Result<(), Unavailable> {
        self.enter("record_emails")?;
        if let Some(ticket) = self.tickets.lock().unwrap().get_mut(&(id.clone(), number)) {
            ticket.emails = emails.to_vec();
            if forget_link {
                ticket.pending_private_url = None;
            }
        }
        Ok(())
    }

    async fn get_ticket(&self, id: &CollectionId, number: u64) -> Result<Option<Ticket>, Unavailable> {
        self.enter("get_ticket")?;
        Ok(self.tickets.lock().unwrap().get(&(id.clone(), number)).cloned())
    }

    async fn claim_idempotency(
        &self,
        claim: &IdempotencyRecord,
        now: u64,
    ) -> Result<Option<IdempotencyRecord>, Unavailable> {
        self.enter("claim_idempotency")?;
        let mut records = self.idempotency.lock().unwrap();
        match records.get(&claim.scope) {
            Some(held) if !held.is_stale(now) => Ok(Some(held.clone())),
            _ => {
                records.insert(claim.scope.clone(), claim.clone());
                Ok(None)
            }
        }
    }

    async fn get_idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Unavailable> {
        self.enter("get_idempotency")?;
        Ok(self.idempotency.lock().unwrap().get(scope).cloned())
    }

    async fn complete_idempotency(&self, scope: &str, nonce: &str, number: u64) -> Result<(), Unavailable> {
        self.enter("complete_idempotency")?;
        if let Some(record) = self.idempotency.lock().unwrap().get_mut(scope).filter(|r| r.key_nonce == nonce) {
            record.state = IdempotencyState::Completed;
            record.ticket_number = Some(number);
        }
        Ok(())
    }

    async fn release_idempotency(&self, scope: &str, nonce: &str) -> Result<(), Unavailable> {
        self.enter("release_idempotency")?;
        let mut records = self.idempotency.lock().unwrap();
        if records.get(scope).is_some_and(|r| r.state == IdempotencyState::InProgress && r.key_nonce == nonce) {
            records.remove(scope);
        }
        Ok(())
    }
}

/// A mailer that keeps what it sends. Addresses in `fail_for` (or all, with `fail_all`) fail instead.
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<OutgoingEmail>>,
    fail_for: Mutex<HashSet<String>>,
    fail_all: AtomicBool,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.lock().unwrap().clone()
    }

    pub fn fail_for(&self, address: &str) {
        self.fail_for.lock().unwrap().insert(address.to_owned());
    }

    pub fn set_fail_all(&self, on: bool) {
        self.fail_all.store(on, Ordering::SeqCst);
        if !on {
            self.fail_for.lock().unwrap().clear();
        }
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, String> {
        if self.fail_all.load(Ordering::SeqCst) || self.fail_for.lock().unwrap().contains(email.to.as_str()) {
            return Err("injected SES failure".into());
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(email.clone());
        Ok(format!("memory-{}", sent.len()))
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
