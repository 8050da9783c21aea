//! In-memory ports: for fast handler tests, benchmarks without I/O, and injecting faults on purpose. A file per
//! store, as `dynamodb/` has. The store keeps DynamoDB's rules where the service relies on them (conditional
//! writes, a transaction written whole or not at all, refused past `MAX_TRANSACTION_ITEMS` and wherever one of its
//! new items exists, the outbox's transitions) and its layout: a ticket's items are keyed and ordered by
//! `schema::tickets`, and the indexes are read by the same attributes. The conformance suite runs the same cases
//! on this store and on DynamoDB Local, so that the two cannot drift apart.

mod admin;
mod clock;
mod collections;
mod files;
mod idempotency;
mod inbox;
mod keys;
mod limits;
mod mailer;
mod outbox;
mod secrets;
mod suppressions;
mod tickets;
mod webhook_deliveries;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::domain::keys::key_nonce;
use crate::domain::webhook::Loopback;
use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey};
use crate::domain::{
    ApiKeyHash, ApiKeyRecord, Collection, CollectionId, Entry, IdempotencyRecord, Mail, MailKey, Now, Suppression,
    Ticket,
};
use crate::ports::{Adapters, Unavailable};
use crate::schema;

use super::HttpWebhooks;

pub use clock::ManualClock;
pub use files::MemoryFiles;
pub use inbox::MemoryInbox;
pub use mailer::MemoryMailer;
pub use secrets::MemorySecrets;

/// Every port in memory, on a clock the test moves: what `memory::ports` builds.
pub type MemoryPorts = Adapters<
    MemoryStore,
    Arc<MemoryMailer>,
    Arc<MemorySecrets>,
    ManualClock,
    Arc<MemoryInbox>,
    HttpWebhooks,
    Arc<MemoryFiles>,
>;

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
        webhooks: HttpWebhooks::new(Loopback::AllowedOverHttp).with_timeout(Duration::from_secs(2)),
        files: Arc::new(MemoryFiles::default()),
    }
}

/// A transaction past DynamoDB's limit of items, refused whole before anything is written.
fn too_many(operation: &'static str, items: usize) -> Unavailable {
    Unavailable::new(operation, anyhow::anyhow!("a transaction takes at most 100 items, not {items}"))
}

/// A transaction cancelled by the condition of one of its items that the write has no outcome for (a new item
/// whose key exists): DynamoDB's cancellation, which the adapter reports as a failure.
fn cancelled(operation: &'static str) -> Unavailable {
    Unavailable::new(operation, anyhow::anyhow!("transaction cancelled: an item it writes exists"))
}

/// An item of the tickets table, as `schema::tickets` lays the table out.
#[derive(Clone)]
enum TicketItem {
    Header(Ticket),
    Entry(Entry),
    Mail(Mail),
    /// A mark, no attribute but its key: a received message's, or a used upload's.
    Mark,
    WebhookDelivery(WebhookDelivery),
}

fn webhook_delivery_key(key: &WebhookDeliveryKey) -> ItemKey {
    (
        schema::tickets::pk(&key.collection_id, key.ticket_number),
        schema::tickets::webhook_delivery_sk(key.entry, &key.endpoint_id, key.mail, key.mail_attempt),
    )
}

/// A key of the tickets table: partition and sort key.
type ItemKey = (String, String);

pub(super) fn header_key(collection: &CollectionId, number: u64) -> ItemKey {
    (schema::tickets::pk(collection, number), schema::tickets::HEADER.to_owned())
}

fn entry_key(collection: &CollectionId, number: u64, seq: u32) -> ItemKey {
    (schema::tickets::pk(collection, number), schema::tickets::entry_sk(seq))
}

fn mail_key(key: &MailKey) -> ItemKey {
    (schema::tickets::pk(&key.collection_id, key.ticket_number), schema::tickets::mail_sk(key))
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
        let in_groups =
            |m: &&Mail| schema::tickets::outbox_group(&m.key(), m.state).is_some_and(|g| groups.contains(&g));
        let mut found: Vec<&Mail> = self.all_mail().filter(in_groups).collect();
        found.sort_by_key(|m| m.due_at_ms);
        found
    }

    /// Writes a ticket's header, an entry, its e-mails and webhook deliveries (after the transaction's checks).
    fn put_items(&mut self, ticket: &Ticket, entry: &Entry, mail: &[Mail], webhooks: &[WebhookDelivery]) {
        let (id, number) = (&ticket.collection_id, ticket.ticket_number);
        self.items.insert(header_key(id, number), TicketItem::Header(ticket.clone()));
        self.items.insert(entry_key(id, number, entry.seq), TicketItem::Entry(entry.clone()));
        for mail in mail {
            self.items.insert(mail_key(&mail.key()), TicketItem::Mail(mail.clone()));
        }
        self.put_webhook_deliveries(webhooks);
    }

    fn put_webhook_deliveries(&mut self, webhooks: &[WebhookDelivery]) {
        for delivery in webhooks {
            self.items.insert(webhook_delivery_key(&delivery.key()), TicketItem::WebhookDelivery(delivery.clone()));
        }
    }

    /// Whether an item of a write's new ones exists already (an entry, an e-mail, a webhook delivery): DynamoDB's
    /// `attribute_not_exists` on each put of a transaction, which cancels it whole.
    fn any_exists(&self, entry: Option<(&Ticket, &Entry)>, mail: &[Mail], webhooks: &[WebhookDelivery]) -> bool {
        let entry = entry.map(|(t, e)| entry_key(&t.collection_id, t.ticket_number, e.seq));
        let mail = mail.iter().map(|m| mail_key(&m.key()));
        let webhooks = webhooks.iter().map(|d| webhook_delivery_key(&d.key()));
        entry.into_iter().chain(mail).chain(webhooks).any(|key| self.items.contains_key(&key))
    }

    fn all_webhook_deliveries(&self) -> impl Iterator<Item = &WebhookDelivery> {
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
    /// A ticket whose links are rotated just before the next append is checked: a rotation that wins the race.
    rotate_before_append: Arc<Mutex<Option<(CollectionId, u64)>>>,
    calls: Arc<AtomicUsize>,
}

impl MemoryStore {
    fn data(&self) -> MutexGuard<'_, Data> {
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
    pub fn webhooks(&self) -> Vec<WebhookDelivery> {
        let mut all: Vec<_> = self.data().all_webhook_deliveries().cloned().collect();
        all.sort_by_key(WebhookDelivery::key);
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

    /// Rotates a ticket's links at the next append, just before its conditions are checked: another request
    /// that rotated them while this one was on its way.
    pub fn rotate_links_before_next_append(&self, collection: &CollectionId, number: u64) {
        *self.rotate_before_append.lock().expect("never poisoned") = Some((collection.clone(), number));
    }

    fn rotation_in_between(&self, data: &mut Data) {
        let Some((collection, number)) = self.rotate_before_append.lock().expect("never poisoned").take() else {
            return;
        };
        if let Some(TicketItem::Header(ticket)) = data.items.get_mut(&header_key(&collection, number)) {
            ticket.key_nonce = key_nonce();
            ticket.team_key_nonce = key_nonce();
        }
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
