//! The tickets table's items as stored: a domain record, its keys, and the attributes that place it in an index,
//! all by `schema::tickets`. One place for the writes of the ticket transaction, a new entry and the outbox.

use super::{Item, n, s, to_item};
use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey};
use crate::domain::{Entry, Mail, MailKey, Ticket};
use crate::schema::tickets;

/// The key of an item of a ticket's partition.
pub(super) fn key(pk: String, sk: String) -> Item {
    Item::from([(tickets::PK.to_owned(), s(pk)), (tickets::SK.to_owned(), s(sk))])
}

/// The key of an e-mail's item.
pub(super) fn mail_key(key: &MailKey) -> Item {
    self::key(tickets::pk(&key.collection_id, key.ticket_number), tickets::mail_sk(key))
}

/// A header as stored: the ticket, its keys, and the attributes of the `byStatus` index.
pub(super) fn header(ticket: &Ticket) -> Item {
    let mut item = to_item(ticket);
    item.extend(key(tickets::pk(&ticket.collection_id, ticket.ticket_number), tickets::HEADER.to_owned()));
    item.insert(tickets::LIST_KEY.into(), s(tickets::list_key(&ticket.collection_id, ticket.status)));
    item.insert(tickets::ACTIVITY_KEY.into(), s(tickets::activity_key(&ticket.last_activity_at, ticket.ticket_number)));
    item
}

/// A thread entry as stored, in its ticket's partition.
pub(super) fn entry(ticket: &Ticket, entry: &Entry) -> Item {
    let mut item = to_item(entry);
    item.extend(key(tickets::pk(&ticket.collection_id, ticket.ticket_number), tickets::entry_sk(entry.seq)));
    item
}

/// The key of a webhook delivery's item.
pub(super) fn webhook_delivery_key(key: &WebhookDeliveryKey) -> Item {
    self::key(
        tickets::pk(&key.collection_id, key.ticket_number),
        tickets::webhook_delivery_sk(key.entry, &key.endpoint_id, key.mail, key.mail_attempt),
    )
}

/// A new webhook delivery as stored: the record, its keys, and its place in the `outbox` index (due, by when; or
/// held, by when it was held).
pub(super) fn webhook_delivery(delivery: &WebhookDelivery) -> Item {
    let mut item = to_item(delivery);
    item.extend(webhook_delivery_key(&delivery.key()));
    if let Some(due) = delivery.due_at_ms {
        item.insert(tickets::OUTBOX_GROUP.into(), s(tickets::webhook_delivery_group(delivery)));
        item.insert(tickets::OUTBOX_AT.into(), n(due));
    }
    item
}

/// A new e-mail as stored: the record, its keys, and its place in the `outbox` index.
pub(super) fn mail(mail: &Mail) -> Item {
    let mut item = to_item(mail);
    item.extend(mail_key(&mail.key()));
    if let (Some(group), Some(due)) = (tickets::outbox_group(&mail.key(), mail.state), mail.due_at_ms) {
        item.insert(tickets::OUTBOX_GROUP.into(), s(group));
        item.insert(tickets::OUTBOX_AT.into(), n(due));
    }
    item
}
