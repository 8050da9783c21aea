//! The tables' layout, in one place: each table's key, the tickets table's item keys and sort-key prefixes, its
//! indexes and the attributes that place an item in them, its stream and its filter, the TTL attributes. The
//! DynamoDB adapters write and read items by it, the stream's door recognises its records by it, the memory
//! store keys its maps by it (so that it orders and indexes as DynamoDB does), `ticketctl init` creates the
//! tables from it, and a test holds `template.yaml` to it. Plain strings and domain types: no SDK type.

use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryState};
use crate::domain::{CollectionId, MailKey, MailState, TicketStatus};

/// The type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// A string (`S`).
    S,
    /// A number (`N`).
    N,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
        }
    }
}

/// An attribute of a table's or an index's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: &'static str,
    pub kind: KeyType,
}

const fn s(name: &'static str) -> KeyAttribute {
    KeyAttribute { name, kind: KeyType::S }
}

const fn n(name: &'static str) -> KeyAttribute {
    KeyAttribute { name, kind: KeyType::N }
}

/// A global secondary index: its name and key; every index projects all attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub hash: KeyAttribute,
    pub range: KeyAttribute,
}

/// The tables of a deployment. Their names come from configuration (`config::Tables`); their layout from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    ApiKeys,
    Collections,
    Tickets,
    Limits,
    Idempotency,
    Suppressions,
}

/// One table's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
    pub indexes: &'static [Index],
    /// A stream of new images (the tickets table's, which hands e-mails to the function).
    pub stream: bool,
    /// The attribute DynamoDB deletes expired items by (Unix seconds).
    pub ttl: Option<&'static str>,
}

impl Table {
    pub const ALL: [Table; 6] =
        [Table::ApiKeys, Table::Collections, Table::Tickets, Table::Limits, Table::Idempotency, Table::Suppressions];

    pub fn layout(self) -> Layout {
        let simple = |hash| Layout { hash, range: None, indexes: &[], stream: false, ttl: None };
        match self {
            Table::ApiKeys => simple(s(keys::HASH)),
            Table::Collections => simple(s(collections::ID)),
            Table::Tickets => Layout {
                hash: s(tickets::PK),
                range: Some(s(tickets::SK)),
                indexes: &[tickets::BY_STATUS, tickets::OUTBOX],
                stream: true,
                ttl: None,
            },
            Table::Limits => Layout { ttl: Some(EXPIRES_AT), ..simple(s(limits::ID)) },
            Table::Idempotency => Layout { ttl: Some(EXPIRES_AT), ..simple(s(idempotency::SCOPE)) },
            Table::Suppressions => simple(s(suppressions::ADDRESS)),
        }
    }

    /// The key attributes of the table and of its indexes, each once: what a table's definition declares.
    pub fn key_attributes(self) -> Vec<KeyAttribute> {
        let layout = self.layout();
        let mut all = vec![layout.hash];
        all.extend(layout.range);
        for index in layout.indexes {
            all.extend([index.hash, index.range]);
        }
        all
    }
}

/// The TTL attribute of the tables that expire items.
pub const EXPIRES_AT: &str = "expiresAt";

/// API keys, by the HMAC of the key with the pepper.
pub mod keys {
    pub const HASH: &str = "keyHash";
}

/// Collections and their ticket counter.
pub mod collections {
    pub const ID: &str = "collectionId";
}

/// Abuse-limit counts: one item per collection, key or requester, and hour.
pub mod limits {
    pub const ID: &str = "countId";
}

/// Remembered creates of the `Idempotency-Key` header.
pub mod idempotency {
    pub const SCOPE: &str = "scope";
}

/// Suppressed addresses, lower-cased.
pub mod suppressions {
    pub const ADDRESS: &str = "address";
}

/// The tickets table: a ticket's items share one partition, `pk` = `{collectionId}#{number}`, and sort by `sk`:
/// the header (`ticket`), the thread (`entry#000001`…) and the outbox (`mail#000001#000`…, an entry's e-mails).
pub mod tickets {
    use super::*;

    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    /// The sort key of a ticket's header.
    pub const HEADER: &str = "ticket";
    pub const ENTRY_PREFIX: &str = "entry#";
    pub const MAIL_PREFIX: &str = "mail#";
    /// A received message a reply by e-mail recorded: `received#{SES message id}#{requester|team}`, no
    /// attribute but its key.
    pub const RECEIVED_PREFIX: &str = "received#";

    /// The partition of a ticket.
    pub fn pk(collection: &CollectionId, number: u64) -> String {
        format!("{collection}#{number}")
    }

    /// The sort key of a thread entry: zero-padded, so that the thread sorts in its order.
    pub fn entry_sk(seq: u32) -> String {
        format!("{ENTRY_PREFIX}{seq:06}")
    }

    /// The sort keys of the entries before entry `before`, from and to (both included); `None` when there are none.
    /// Six digits sort as numbers up to 999,999 entries (a ticket takes at most `MAX_ENTRIES`); past that, the
    /// bound is past every entry.
    pub fn entries_before(before: u32) -> Option<(String, String)> {
        let last = match before {
            0 | 1 => return None,
            1_000_000.. => format!("{ENTRY_PREFIX}~"),
            _ => entry_sk(before - 1),
        };
        Some((entry_sk(1), last))
    }

    /// The sort key of an e-mail: after its entry, then its place among the entry's recipients.
    pub fn mail_sk(key: &MailKey) -> String {
        format!("{MAIL_PREFIX}{:06}#{:03}", key.entry, key.index)
    }

    /// The mark of an upload a message used: its own partition (`{collection}#upload#{nonce}`, sort key
    /// `UPLOAD_USED`), written with the entry, so that an upload is used once, whichever ticket tries again.
    pub fn upload_pk(collection: &CollectionId, nonce: &str) -> String {
        format!("{collection}#upload#{nonce}")
    }
    pub const UPLOAD_USED: &str = "used";

    /// The sort key of a received message's mark.
    pub fn received_sk(received: &str) -> String {
        format!("{RECEIVED_PREFIX}{received}")
    }

    /// The sparse index of ticket headers: a collection's tickets of one status, newest activity first.
    pub const BY_STATUS: Index = Index { name: "byStatus", hash: s(LIST_KEY), range: s(ACTIVITY_KEY) };
    pub const LIST_KEY: &str = "listKey";
    pub const ACTIVITY_KEY: &str = "activityKey";

    /// `{collectionId}#{status}`: the `byStatus` partition of a header.
    pub fn list_key(collection: &CollectionId, status: TicketStatus) -> String {
        format!("{collection}#{}", status.as_str())
    }

    /// `{lastActivityAt}#{number}`: RFC 3339 stamps sort as strings, and the number breaks ties.
    pub fn activity_key(last_activity_at: &str, number: u64) -> String {
        format!("{last_activity_at}#{number:010}")
    }

    /// The sparse index of e-mails an operator or the sweep must look at: `outbox` = `due#0` … `due#7` (not
    /// delivered yet, by when the sweep may take them, spread over `OUTBOX_DUE_SHARDS` partitions by ticket, so
    /// that no one partition key takes every e-mail's writes), `failed` (failed for good or suppressed, by when)
    /// or `unreadable` (items set aside). Sent e-mails leave it.
    pub const OUTBOX: Index = Index { name: "outbox", hash: s(OUTBOX_GROUP), range: n(OUTBOX_AT) };
    pub const OUTBOX_GROUP: &str = "outbox";
    pub const OUTBOX_AT: &str = "outboxAt";
    pub const OUTBOX_FAILED: &str = "failed";
    pub const OUTBOX_UNREADABLE: &str = "unreadable";
    /// The partitions of the e-mails due. Changing it strands the e-mails written under the old count until an
    /// operator re-sends them: it is part of the layout, like a key.
    pub const OUTBOX_DUE_SHARDS: u32 = 8;

    /// The `due` partition of a ticket's e-mails: the same for all of them, from its partition key.
    pub fn outbox_due(collection: &CollectionId, number: u64) -> String {
        let shard = crc32fast::hash(pk(collection, number).as_bytes()) % OUTBOX_DUE_SHARDS;
        format!("due#{shard}")
    }

    /// Every `due` partition, which the sweep reads side by side.
    pub fn outbox_due_groups() -> impl Iterator<Item = String> {
        (0..OUTBOX_DUE_SHARDS).map(|shard| format!("due#{shard}"))
    }

    /// The `outbox` partition of an e-mail in `state`; `None`: out of the index.
    pub fn outbox_group(key: &MailKey, state: MailState) -> Option<String> {
        if state.is_due_kind() {
            Some(outbox_due(&key.collection_id, key.ticket_number))
        } else if state.is_undelivered() {
            Some(OUTBOX_FAILED.to_owned())
        } else {
            None
        }
    }

    /// The attribute of an e-mail's state (the stream's filter reads it).
    pub const MAIL_STATE: &str = "mailState";

    /// A webhook delivery: `hook#{entry}#{endpoint id}`, beside the e-mails of its entry.
    pub const WEBHOOK_DELIVERY_PREFIX: &str = "hook#";
    pub const WEBHOOK_DELIVERY_STATE: &str = "hookState";

    /// The sort key of a webhook delivery: `#m{index}#a{attempt}` after it for an e-mail's `mail.undeliverable`
    /// (which e-mail, and the attempt its fate came to: a re-sent e-mail that fails again owes one more).
    pub fn webhook_delivery_sk(entry: u32, endpoint_id: &str, mail: Option<u32>, attempt: Option<u32>) -> String {
        match (mail, attempt) {
            (Some(index), Some(attempt)) => {
                format!("{WEBHOOK_DELIVERY_PREFIX}{entry:06}#{endpoint_id}#m{index:03}#a{attempt:04}")
            }
            (Some(index), None) => format!("{WEBHOOK_DELIVERY_PREFIX}{entry:06}#{endpoint_id}#m{index:03}"),
            (None, _) => format!("{WEBHOOK_DELIVERY_PREFIX}{entry:06}#{endpoint_id}"),
        }
    }

    /// The `outbox` partitions of the webhook deliveries due, `hooks-due#0` … `hooks-due#7`, by ticket as the
    /// e-mails' are: every tenant's retries share them, and no one partition key takes every delivery's writes.
    pub const WEBHOOK_DUE_SHARDS: u32 = 8;

    /// The one partition of the deliveries due written before the due ones were sharded: still read, so that
    /// nothing written then is stranded.
    pub const WEBHOOKS_DUE_UNSHARDED: &str = "hooks";

    /// The `due` partition of a ticket's webhook deliveries.
    pub fn webhooks_due(collection: &CollectionId, number: u64) -> String {
        let shard = crc32fast::hash(pk(collection, number).as_bytes()) % WEBHOOK_DUE_SHARDS;
        format!("hooks-due#{shard}")
    }

    /// Every partition of the deliveries due, which the sweep reads side by side.
    pub fn webhooks_due_groups() -> impl Iterator<Item = String> {
        (0..WEBHOOK_DUE_SHARDS).map(|shard| format!("hooks-due#{shard}")).chain([WEBHOOKS_DUE_UNSHARDED.to_owned()])
    }

    /// The `outbox` partition of the deliveries held for a disabled endpoint, by when they were held: out of the
    /// due ones, read only when the endpoint is enabled or removed.
    pub fn webhooks_held(collection: &CollectionId, endpoint_id: &str) -> String {
        format!("hooks-held#{collection}#{endpoint_id}")
    }

    /// The `outbox` partition of a collection's settled deliveries, latest first (`ticketctl webhooks deliveries`).
    pub fn webhooks_settled(collection: &CollectionId) -> String {
        format!("hooks#{collection}")
    }

    /// The `outbox` partition of a delivery in its state, at its ticket: due, held, or settled.
    pub fn webhook_delivery_group(delivery: &WebhookDelivery) -> String {
        match delivery.state {
            state if state.is_due_kind() => webhooks_due(&delivery.collection_id, delivery.ticket_number),
            WebhookDeliveryState::Held => webhooks_held(&delivery.collection_id, &delivery.endpoint_id),
            _ => webhooks_settled(&delivery.collection_id),
        }
    }

    /// The stream's filter of the webhooks' own event source mapping: only new deliveries, so that a slow
    /// endpoint never holds up a batch of e-mails (and no e-mail a delivery). `template.yaml` declares the same.
    pub const WEBHOOK_STREAM_FILTER: &str =
        r#"{"eventName":["INSERT"],"dynamodb":{"NewImage":{"hookState":{"S":["pending"]}}}}"#;

    /// The stream's filter: only new images of e-mails waiting to be sent invoke the function (one written
    /// pending with its entry, or an operator's re-send). The state changes delivery itself writes do not
    /// match, so it never feeds itself. `template.yaml` declares the same (a test holds them equal).
    pub const STREAM_FILTER: &str =
        r#"{"eventName":["INSERT","MODIFY"],"dynamodb":{"NewImage":{"mailState":{"S":["pending"]}}}}"#;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tickets_items_sort_header_thread_then_outbox_each_in_order() {
        let key =
            |entry, index| MailKey { collection_id: CollectionId::parse("c").unwrap(), ticket_number: 1, entry, index };
        let keys = [
            tickets::entry_sk(1),
            tickets::entry_sk(2),
            tickets::entry_sk(10),
            tickets::mail_sk(&key(1, 0)),
            tickets::mail_sk(&key(1, 2)),
            tickets::mail_sk(&key(2, 0)),
            tickets::HEADER.to_owned(),
        ];
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys, "sort keys order as the thread and its e-mails do");
    }

    #[test]
    fn only_mail_to_deliver_or_failed_for_good_is_in_the_outbox_index() {
        use MailState::*;
        let key = MailKey { collection_id: CollectionId::parse("c").unwrap(), ticket_number: 7, entry: 1, index: 0 };
        let due = tickets::outbox_due(&key.collection_id, 7);
        for (state, group) in [
            (Pending, Some(due.as_str())),
            (Sending, Some(due.as_str())),
            (Retrying, Some(due.as_str())),
            (Failed, Some("failed")),
            (Suppressed, Some("failed")),
            (Sent, None),
            (Delivered, None),
            (Bounced, None),
            (Complained, None),
        ] {
            assert_eq!(tickets::outbox_group(&key, state).as_deref(), group, "{state:?}");
        }
    }

    #[test]
    fn the_emails_due_spread_over_every_shard_and_one_tickets_stay_together() {
        let id = CollectionId::parse("busy-collection").unwrap();
        let mut per_shard = std::collections::BTreeMap::new();
        for number in 1..=8_000 {
            *per_shard.entry(tickets::outbox_due(&id, number)).or_insert(0) += 1;
        }
        let groups: Vec<String> = tickets::outbox_due_groups().collect();
        assert_eq!(per_shard.keys().cloned().collect::<Vec<_>>(), groups, "every shard is used");
        assert!(per_shard.values().all(|n| (800..=1_200).contains(n)), "evenly: {per_shard:?}");
    }
}
