//! In-memory ports: for fast handler tests, benchmarks without I/O, and injecting faults on purpose. The store
//! keeps DynamoDB's rules where the service relies on them (conditional writes, a transaction written whole or
//! not at all and at most 100 items, the outbox's transitions) and its layout: a ticket's items are keyed and
//! ordered by `schema::tickets`, and the indexes are read by the same attributes. The conformance suite runs
//! the same cases on this store and on DynamoDB Local, so that the two cannot drift apart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::domain::conversation::ListCursor;
use crate::domain::{
    ApiKeyHash, ApiKeyRecord, Collection, CollectionId, CountEntry, Email, Entry, Feedback, IdempotencyRecord,
    IdempotencyState, Mail, MailKey, MailState, Now, OutgoingEmail, Pepper, RateLimits, Settlement, Suppression,
    Ticket, TicketStatus,
};
use crate::ports::{
    Adapters, AppendWrite, Appended, Clock, CollectionStore, Counted, DuePage, Failure, IdempotencyStore, Inbox,
    Inserted, KeyStore, LimitStore, Mailer, Moved, NewTicketWrite, NumberTaken, OutboxStore, SecretSource, SendError,
    SuppressionStore, TicketPage, TicketStore, Unavailable, Unreadable,
};
use crate::schema::tickets;

/// DynamoDB's limit of the items of one `TransactWriteItems`.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// Every port in memory, on a clock the test moves: what `memory::ports` builds.
pub type MemoryPorts =
    Adapters<MemoryStore, Arc<MemoryMailer>, Arc<MemorySecrets>, ManualClock, Arc<MemoryInbox>, super::HttpWebhooks>;

/// A fresh store, a mailer that keeps what it sends, the pepper `pepper`, and a clock at the system's time now.
pub fn ports(pepper: &str) -> MemoryPorts {
    Adapters {
        store: MemoryStore::default(),
        mailer: Arc::new(MemoryMailer::default()),
        secrets: Arc::new(MemorySecrets::new(pepper)),
        clock: ManualClock::starting_now(),
        inbox: Arc::new(MemoryInbox::default()),
        // Real HTTP: the tests' receivers are on 127.0.0.1, which only this setting lets a delivery reach; a
        // receiver that does not answer is given up on after 2 s (15 s as deployed), so that a test need not wait.
        webhooks: super::HttpWebhooks::new(crate::domain::webhook::Loopback::AllowedOverHttp)
            .with_timeout(std::time::Duration::from_secs(2)),
    }
}

/// An item of the tickets table, as `schema::tickets` lays the table out.
#[derive(Clone)]
enum TicketItem {
    Header(Ticket),
    Entry(Entry),
    Mail(Mail),
    /// A received message's mark.
    Received,
    WebhookDelivery(crate::domain::webhook_delivery::WebhookDelivery),
}

fn webhook_delivery_key(key: &crate::domain::webhook_delivery::WebhookDeliveryKey) -> ItemKey {
    (
        tickets::pk(&key.collection_id, key.ticket_number),
        tickets::webhook_delivery_sk(key.entry, &key.endpoint_id, key.mail),
    )
}

/// A key of the tickets table: partition and sort key.
type ItemKey = (String, String);

fn header_key(collection: &CollectionId, number: u64) -> ItemKey {
    (tickets::pk(collection, number), tickets::HEADER.to_owned())
}

fn entry_key(collection: &CollectionId, number: u64, seq: u32) -> ItemKey {
    (tickets::pk(collection, number), tickets::entry_sk(seq))
}

fn mail_key(key: &MailKey) -> ItemKey {
    (tickets::pk(&key.collection_id, key.ticket_number), tickets::mail_sk(key))
}

#[derive(Default)]
struct Data {
    keys: HashMap<String, ApiKeyRecord>,
    collections: HashMap<CollectionId, Collection>,
    /// The tickets table, in DynamoDB's key order.
    items: BTreeMap<ItemKey, TicketItem>,
    counts: HashMap<String, u32>,
    idempotency: HashMap<String, IdempotencyRecord>,
    suppressions: BTreeMap<String, Suppression>,
}

impl Data {
    fn header(&self, collection: &CollectionId, number: u64) -> Option<&Ticket> {
        match self.items.get(&header_key(collection, number)) {
            Some(TicketItem::Header(ticket)) => Some(ticket),
            _ => None,
        }
    }

    fn mail_mut(&mut self, key: &MailKey) -> Option<&mut Mail> {
        match self.items.get_mut(&mail_key(key)) {
            Some(TicketItem::Mail(mail)) => Some(mail),
            _ => None,
        }
    }

    fn all_mail(&self) -> impl Iterator<Item = &Mail> {
        self.items.values().filter_map(|item| match item {
            TicketItem::Mail(mail) => Some(mail),
            _ => None,
        })
    }

    /// The `outbox` index: the e-mails of some of its partitions, by the time that orders them there.
    fn outbox(&self, groups: &[String]) -> Vec<&Mail> {
        let in_groups = |m: &&Mail| tickets::outbox_group(&m.key(), m.state).is_some_and(|g| groups.contains(&g));
        let mut found: Vec<&Mail> = self.all_mail().filter(in_groups).collect();
        found.sort_by_key(|m| m.due_at_ms);
        found
    }

    fn put_items(
        &mut self,
        ticket: &Ticket,
        entry: &Entry,
        mail: &[Mail],
        webhooks: &[crate::domain::webhook_delivery::WebhookDelivery],
    ) {
        let (id, number) = (&ticket.collection_id, ticket.ticket_number);
        self.items.insert(header_key(id, number), TicketItem::Header(ticket.clone()));
        self.items.insert(entry_key(id, number, entry.seq), TicketItem::Entry(entry.clone()));
        for mail in mail {
            self.items.insert(mail_key(&mail.key()), TicketItem::Mail(mail.clone()));
        }
        for delivery in webhooks {
            self.items.insert(webhook_delivery_key(&delivery.key()), TicketItem::WebhookDelivery(delivery.clone()));
        }
    }

    fn all_webhook_deliveries(&self) -> impl Iterator<Item = &crate::domain::webhook_delivery::WebhookDelivery> {
        self.items.values().filter_map(|item| match item {
            TicketItem::WebhookDelivery(delivery) => Some(delivery),
            _ => None,
        })
    }
}

/// A store in memory; clones share it. `set_unavailable(true)` makes every call fail as an outage would;
/// `set_index_lag(true)` makes the `byStatus` index show nothing yet, as a global secondary index that has not
/// caught up with the table.
#[derive(Clone, Default)]
pub struct MemoryStore {
    data: Arc<Mutex<Data>>,
    unavailable: Arc<AtomicBool>,
    index_lag: Arc<AtomicBool>,
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

    pub fn revoke(&self, key_id: &str, at: Now) {
        for record in self.data().keys.values_mut().filter(|r| r.key_id == key_id) {
            record.revoked_at = Some(at.rfc3339());
        }
    }

    /// Every ticket, by collection and number.
    pub fn tickets(&self) -> Vec<Ticket> {
        let data = self.data();
        let mut all: Vec<Ticket> = data
            .items
            .values()
            .filter_map(|item| match item {
                TicketItem::Header(ticket) => Some(ticket.clone()),
                _ => None,
            })
            .collect();
        all.sort_by(|a, b| (&a.collection_id, a.ticket_number).cmp(&(&b.collection_id, b.ticket_number)));
        all
    }

    /// Every e-mail of the outbox, by ticket, entry and recipient.
    pub fn mail(&self) -> Vec<Mail> {
        let mut all: Vec<Mail> = self.data().all_mail().cloned().collect();
        all.sort_by_key(Mail::key);
        all
    }

    /// Every webhook delivery, in key order.
    pub fn webhooks(&self) -> Vec<crate::domain::webhook_delivery::WebhookDelivery> {
        let mut all: Vec<_> = self.data().all_webhook_deliveries().cloned().collect();
        all.sort_by_key(crate::domain::webhook_delivery::WebhookDelivery::key);
        all
    }

    /// Every count of the limits table, by name.
    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.data().counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn collection(&self, id: &CollectionId) -> Option<Collection> {
        self.data().collections.get(id).cloned()
    }

    pub fn set_unavailable(&self, on: bool) {
        self.unavailable.store(on, Ordering::SeqCst);
    }

    pub fn set_index_lag(&self, on: bool) {
        self.index_lag.store(on, Ordering::SeqCst);
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

    async fn put_webhook(
        &self,
        id: &CollectionId,
        endpoint: &crate::domain::webhook::Endpoint,
        put: crate::ports::WebhookPut,
    ) -> Result<crate::ports::WebhookPutOutcome, Unavailable> {
        use crate::ports::{WebhookPut, WebhookPutOutcome};
        self.enter("put_webhook")?;
        let mut data = self.data();
        let Some(collection) = data.collections.get_mut(id) else { return Ok(WebhookPutOutcome::NotFound) };
        let exists = collection.webhooks.contains_key(&endpoint.id);
        let outcome = match put {
            WebhookPut::Replace if !exists => WebhookPutOutcome::NotFound,
            WebhookPut::New { max } if exists || collection.webhooks.len() >= max => WebhookPutOutcome::Full,
            _ => {
                collection.webhooks.insert(endpoint.id.clone(), endpoint.clone());
                WebhookPutOutcome::Stored
            }
        };
        Ok(outcome)
    }

    async fn remove_webhook(&self, id: &CollectionId, endpoint_id: &str) -> Result<bool, Unavailable> {
        self.enter("remove_webhook")?;
        Ok(self.data().collections.get_mut(id).is_some_and(|c| c.webhooks.remove(endpoint_id).is_some()))
    }

    async fn raise_team_link_generation(&self, id: &CollectionId) -> Result<Option<u32>, Unavailable> {
        self.enter("raise_team_link_generation")?;
        Ok(self.data().collections.get_mut(id).map(|c| {
            c.team_link_generation += 1;
            c.team_link_generation
        }))
    }

    async fn raise_counter(&self, id: &CollectionId, highest: u64) -> Result<bool, Unavailable> {
        self.enter("raise_counter")?;
        Ok(match self.data().collections.get_mut(id) {
            Some(c) if c.last_ticket_number < highest => {
                c.last_ticket_number = highest;
                true
            }
            _ => false,
        })
    }

    async fn take_number(&self, id: &CollectionId, limits: &RateLimits) -> Result<NumberTaken, Unavailable> {
        self.enter("take_number")?;
        Ok(match self.data().collections.get_mut(id) {
            None => NumberTaken::NotFound,
            Some(c) if !c.ticketing_enabled => NumberTaken::Disabled,
            // As the DynamoDB condition: the three limits a create is counted against.
            Some(c)
                if (c.rate_limits.per_key, c.rate_limits.per_requester, c.rate_limits.new_requesters)
                    != (limits.per_key, limits.per_requester, limits.new_requesters) =>
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
        if 2 + write.mail.len() + usize::from(write.completes.is_some()) > MAX_TRANSACTION_ITEMS {
            return Err(Unavailable::new("insert_ticket", anyhow::anyhow!("a transaction takes at most 100 items")));
        }
        // All of it or nothing, as a transaction: every condition is checked before anything is written. A
        // header already there with this write's key nonce is this write, landed on an earlier attempt.
        if let Some(existing) = data.header(&ticket.collection_id, ticket.ticket_number) {
            let ours = existing.key_nonce == ticket.key_nonce;
            return Ok(if ours { Inserted::Stored } else { Inserted::NumberInUse });
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
        data.put_items(ticket, &write.entry, &write.mail, &write.webhooks);
        Ok(Inserted::Stored)
    }

    async fn get_ticket(&self, id: &CollectionId, number: u64) -> Result<Option<Ticket>, Unavailable> {
        self.enter("get_ticket")?;
        Ok(self.data().header(id, number).cloned())
    }

    async fn get_entry(&self, id: &CollectionId, number: u64, seq: u32) -> Result<Option<Entry>, Unavailable> {
        self.enter("get_entry")?;
        Ok(match self.data().items.get(&entry_key(id, number, seq)) {
            Some(TicketItem::Entry(entry)) => Some(entry.clone()),
            _ => None,
        })
    }

    async fn rotate_keys(
        &self,
        id: &CollectionId,
        number: u64,
        key_nonce: &str,
        team_key_nonce: &str,
    ) -> Result<bool, Unavailable> {
        self.enter("rotate_keys")?;
        Ok(match self.data().items.get_mut(&header_key(id, number)) {
            Some(TicketItem::Header(ticket)) => {
                ticket.key_nonce = key_nonce.to_owned();
                ticket.team_key_nonce = team_key_nonce.to_owned();
                true
            }
            _ => false,
        })
    }

    async fn append(&self, write: &AppendWrite) -> Result<Appended, Unavailable> {
        self.enter("append")?;
        if 2 + write.mail.len() > MAX_TRANSACTION_ITEMS {
            return Err(Unavailable::new("append", anyhow::anyhow!("a transaction takes at most 100 items")));
        }
        let mut data = self.data();
        match data.header(&write.after.collection_id, write.after.ticket_number) {
            Some(now)
                if now.entries == write.before.entries
                    && now.status == write.before.status
                    && now.key_nonce == write.before.key_nonce
                    && now.team_key_nonce == write.before.team_key_nonce => {}
            _ => return Ok(Appended::Moved),
        }
        let received = write.received.as_ref().map(|received| {
            (tickets::pk(&write.after.collection_id, write.after.ticket_number), tickets::received_sk(received))
        });
        if received.as_ref().is_some_and(|key| data.items.contains_key(key)) {
            return Ok(Appended::AlreadyRecorded);
        }
        data.put_items(&write.after, &write.entry, &write.mail, &write.webhooks);
        if let Some(key) = received {
            data.items.insert(key, TicketItem::Received);
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
        if self.index_lag.load(Ordering::SeqCst) {
            return Ok(TicketPage { tickets: Vec::new(), next: None });
        }
        let data = self.data();
        // The `byStatus` index: one partition per collection and status, sorted by the activity key.
        let partition = tickets::list_key(id, status);
        let mut page: Vec<(String, Ticket)> = data
            .items
            .values()
            .filter_map(|item| match item {
                TicketItem::Header(t) if tickets::list_key(&t.collection_id, t.status) == partition => {
                    Some((tickets::activity_key(&t.last_activity_at, t.ticket_number), t.clone()))
                }
                _ => None,
            })
            .collect();
        page.sort_by(|a, b| b.0.cmp(&a.0));
        if let Some(after) = after {
            let bound = tickets::activity_key(&after.last_activity_at, after.ticket_number);
            page.retain(|(key, _)| *key < bound);
        }
        let mut tickets: Vec<Ticket> = page.into_iter().map(|(_, t)| t).collect();
        let next = (tickets.len() > limit).then(|| {
            tickets.truncate(limit);
            let last = tickets.last().expect("a full page has a last ticket");
            ListCursor { last_activity_at: last.last_activity_at.clone(), ticket_number: last.ticket_number }
        });
        Ok(TicketPage { tickets, next })
    }

    async fn thread_page(
        &self,
        id: &CollectionId,
        number: u64,
        before: u32,
        limit: usize,
    ) -> Result<Vec<Entry>, Unavailable> {
        self.enter("thread_page")?;
        let mut entries = self.entries_before(id, number, before);
        let newest = entries.split_off(entries.len().saturating_sub(limit));
        Ok(newest)
    }

    async fn thread(&self, id: &CollectionId, number: u64) -> Result<Vec<Entry>, Unavailable> {
        self.enter("thread")?;
        let data = self.data();
        let pk = tickets::pk(id, number);
        let from = (pk.clone(), tickets::ENTRY_PREFIX.to_owned());
        Ok(data
            .items
            .range(from..)
            .take_while(|((p, sk), _)| *p == pk && sk.starts_with(tickets::ENTRY_PREFIX))
            .filter_map(|(_, item)| match item {
                TicketItem::Entry(entry) => Some(entry.clone()),
                _ => None,
            })
            .collect())
    }
}

impl MemoryStore {
    fn entries_before(&self, id: &CollectionId, number: u64, before: u32) -> Vec<Entry> {
        let data = self.data();
        let Some((first, last)) = tickets::entries_before(before) else { return Vec::new() };
        let pk = tickets::pk(id, number);
        data.items
            .range((pk.clone(), first)..=(pk, last))
            .filter_map(|(_, item)| match item {
                TicketItem::Entry(entry) => Some(entry.clone()),
                _ => None,
            })
            .collect()
    }
}

impl crate::ports::WebhookDeliveryStore for MemoryStore {
    async fn claim_webhook_delivery(
        &self,
        key: &crate::domain::webhook_delivery::WebhookDeliveryKey,
        now: Now,
        lease: std::time::Duration,
    ) -> Result<Option<crate::domain::webhook_delivery::WebhookDelivery>, Unavailable> {
        use crate::domain::webhook_delivery::WebhookDeliveryState;
        self.enter("claim_webhook_delivery")?;
        let mut data = self.data();
        let Some(TicketItem::WebhookDelivery(delivery)) = data.items.get_mut(&webhook_delivery_key(key)) else {
            return Ok(None);
        };
        let due = delivery.due_at_ms.is_some_and(|d| d <= now.ms());
        let takeable = match delivery.state {
            WebhookDeliveryState::Pending => true,
            WebhookDeliveryState::Retrying | WebhookDeliveryState::Sending => due,
            WebhookDeliveryState::Delivered | WebhookDeliveryState::Failed => false,
        };
        if !takeable {
            return Ok(None);
        }
        delivery.state = WebhookDeliveryState::Sending;
        delivery.attempts += 1;
        delivery.due_at_ms = Some(now.ms_after(lease));
        Ok(Some(delivery.clone()))
    }

    async fn settle_webhook_delivery(
        &self,
        delivery: &crate::domain::webhook_delivery::WebhookDelivery,
        attempt: u32,
        _now: Now,
    ) -> Result<Moved, Unavailable> {
        use crate::domain::webhook_delivery::WebhookDeliveryState;
        self.enter("settle_webhook_delivery")?;
        let mut data = self.data();
        match data.items.get_mut(&webhook_delivery_key(&delivery.key())) {
            Some(TicketItem::WebhookDelivery(stored))
                if stored.state == WebhookDeliveryState::Sending && stored.attempts == attempt =>
            {
                *stored = delivery.clone();
                Ok(Moved::Moved)
            }
            _ => Ok(Moved::NotOurs),
        }
    }

    async fn due_webhook_deliveries(
        &self,
        now: Now,
        limit: usize,
    ) -> Result<Vec<crate::domain::webhook_delivery::WebhookDeliveryKey>, Unavailable> {
        self.enter("due_webhook_deliveries")?;
        let data = self.data();
        let mut due: Vec<_> = data
            .all_webhook_deliveries()
            .filter(|h| h.state.is_due_kind() && h.due_at_ms.is_some_and(|d| d <= now.ms()))
            .collect();
        due.sort_by_key(|h| h.due_at_ms);
        Ok(due.into_iter().take(limit).map(|h| h.key()).collect())
    }

    async fn settled_webhook_deliveries(
        &self,
        collection: &CollectionId,
        limit: usize,
    ) -> Result<Vec<crate::domain::webhook_delivery::WebhookDelivery>, Unavailable> {
        self.enter("settled_webhook_deliveries")?;
        let data = self.data();
        let mut settled: Vec<_> = data
            .all_webhook_deliveries()
            .filter(|h| &h.collection_id == collection && !h.state.is_due_kind())
            .cloned()
            .collect();
        settled.sort_by(|a, b| b.settled_at.cmp(&a.settled_at));
        settled.truncate(limit);
        Ok(settled)
    }
}

impl OutboxStore for MemoryStore {
    async fn add_mail(&self, mail: &Mail) -> Result<bool, Unavailable> {
        self.enter("add_mail")?;
        let mut data = self.data();
        let key = mail_key(&mail.key());
        if data.items.contains_key(&key) {
            return Ok(false);
        }
        data.items.insert(key, TicketItem::Mail(mail.clone()));
        Ok(true)
    }

    async fn claim_mail(&self, key: &MailKey, now: Now, lease: Duration) -> Result<Option<Mail>, Unavailable> {
        self.enter("claim_mail")?;
        let mut data = self.data();
        let Some(mail) = data.mail_mut(key) else { return Ok(None) };
        let due = mail.due_at_ms.is_some_and(|due| due <= now.ms());
        let claimable =
            MailState::Sending.may_follow().contains(&mail.state) && (mail.state == MailState::Pending || due);
        if !claimable {
            return Ok(None);
        }
        mail.state = MailState::Sending;
        mail.attempts += 1;
        mail.due_at_ms = Some(now.ms_after(lease));
        Ok(Some(mail.clone()))
    }

    async fn settle_mail(
        &self,
        key: &MailKey,
        attempt: u32,
        outcome: &Settlement,
        now: Now,
        webhooks: &[crate::domain::webhook_delivery::WebhookDelivery],
    ) -> Result<Moved, Unavailable> {
        self.enter("settle_mail")?;
        let mut data = self.data();
        let Some(mail) = data.mail_mut(key) else { return Ok(Moved::NotOurs) };
        if !outcome.state().may_follow().contains(&mail.state) || mail.attempts != attempt {
            return Ok(Moved::NotOurs);
        }
        mail.state = outcome.state();
        match outcome {
            Settlement::Sent { message_id } => {
                mail.message_id = Some(message_id.clone());
                mail.sent_at = Some(now.rfc3339());
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
                mail.failed_at = Some(now.rfc3339());
            }
        }
        for delivery in webhooks {
            data.items.insert(webhook_delivery_key(&delivery.key()), TicketItem::WebhookDelivery(delivery.clone()));
        }
        Ok(Moved::Moved)
    }

    async fn due_mail(&self, now: Now, limit: usize) -> Result<DuePage, Unavailable> {
        self.enter("due_mail")?;
        let data = self.data();
        let shards: Vec<String> = tickets::outbox_due_groups().collect();
        let due = data.outbox(&shards).into_iter().filter(|m| m.due_at_ms.is_some_and(|d| d <= now.ms()));
        // Items here are typed: none can be unreadable (the DynamoDB store's items can).
        Ok(DuePage { mail: due.take(limit).cloned().collect(), unreadable: Vec::new() })
    }

    async fn set_aside(&self, _item: &Unreadable, _now: Now) -> Result<(), Unavailable> {
        self.enter("set_aside")?;
        Ok(())
    }

    async fn undelivered(&self, collection: Option<&CollectionId>) -> Result<Vec<Mail>, Unavailable> {
        self.enter("undelivered")?;
        let data = self.data();
        let due: Vec<String> = tickets::outbox_due_groups().collect();
        let groups = [due, vec![tickets::OUTBOX_FAILED.to_owned()]];
        Ok(groups
            .iter()
            .flat_map(|groups| data.outbox(groups))
            .filter(|m| collection.is_none_or(|c| *c == m.collection_id))
            .cloned()
            .collect())
    }

    async fn get_mail(&self, key: &MailKey) -> Result<Option<Mail>, Unavailable> {
        self.enter("get_mail")?;
        Ok(self.data().mail_mut(key).map(|m| m.clone()))
    }

    async fn requeue_mail(&self, key: &MailKey, due_at_ms: u64) -> Result<Moved, Unavailable> {
        self.enter("requeue_mail")?;
        let mut data = self.data();
        match data.mail_mut(key) {
            Some(mail) if MailState::Pending.may_follow().contains(&mail.state) => {
                mail.state = MailState::Pending;
                mail.due_at_ms = Some(due_at_ms);
                mail.failed_at = None;
                Ok(Moved::Moved)
            }
            _ => Ok(Moved::NotOurs),
        }
    }

    async fn record_feedback(
        &self,
        key: &MailKey,
        feedback: &Feedback,
        _now: Now,
        webhooks: &[crate::domain::webhook_delivery::WebhookDelivery],
    ) -> Result<Moved, Unavailable> {
        self.enter("record_feedback")?;
        let mut data = self.data();
        match data.mail_mut(key) {
            Some(mail) if feedback.state().may_follow().contains(&mail.state) => {
                mail.state = feedback.state();
                if let Feedback::Bounced { detail, .. } | Feedback::Complained { detail } = feedback {
                    mail.last_error = Some(detail.clone());
                }
                for delivery in webhooks {
                    data.items
                        .insert(webhook_delivery_key(&delivery.key()), TicketItem::WebhookDelivery(delivery.clone()));
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
        let mut all: Vec<Suppression> = self.data().suppressions.values().cloned().collect();
        all.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(all)
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

/// A wall clock that moves only when told: leases lapse, retries come due and hourly windows turn when a test
/// says so, not after a sleep. Clones share it.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// At the system's time now (stamps stay plausible; only the test moves it on).
    pub fn starting_now() -> Self {
        Self::at(Now::at(SystemTime::now()))
    }

    pub fn at(now: Now) -> Self {
        Self(Arc::new(AtomicU64::new(now.ms())))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn set(&self, to: Now) {
        self.0.store(to.ms(), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::starting_now()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Now {
        Now::from_ms(self.0.load(Ordering::SeqCst))
    }
}

/// The raw messages SES receiving would have stored, by message id; a test puts them there.
#[derive(Default)]
pub struct MemoryInbox {
    messages: Mutex<HashMap<String, Vec<u8>>>,
    reads: AtomicUsize,
}

impl MemoryInbox {
    pub fn put(&self, message_id: &str, raw: impl Into<Vec<u8>>) {
        self.messages.lock().unwrap().insert(message_id.to_owned(), raw.into());
    }

    /// How many messages were read: what a refusal before reading costs nothing of.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Inbox for MemoryInbox {
    async fn message(&self, message_id: &str, limit: usize) -> Result<Option<Vec<u8>>, Unavailable> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.messages.lock().unwrap().get(message_id).map(|raw| raw[..raw.len().min(limit + 1)].to_vec()))
    }
}
