//! Tickets and their threads, in the partition `schema::tickets` gives each ticket: the header, its entries and
//! its e-mails (`outbox.rs`). A new ticket is written in one `TransactWriteItems`: header, first entry, every
//! e-mail it owes, and the completion of its idempotency claim. A 201 means all of them exist.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use serde::de::DeserializeOwned;

use super::{DynamoStore, Item, from_item, items, n, s, unavailable};
use crate::domain::conversation::ListCursor;
use crate::domain::{CollectionId, Entry, Ticket, TicketStatus};
use crate::ports::{
    AppendWrite, Appended, Inserted, MAX_TRANSACTION_ITEMS, NewTicketWrite, TicketPage, TicketStore, Unavailable,
};
use crate::schema::{idempotency, tickets};

const INSERT_TICKET: &str = "DynamoDB TransactWriteItems (new ticket)";
const GET_TICKET: &str = "DynamoDB GetItem (ticket)";
const GET_ENTRY: &str = "DynamoDB GetItem (thread entry)";
const THREAD: &str = "DynamoDB Query (thread)";
const THREAD_PAGE: &str = "DynamoDB Query (a page of a thread)";
const ROTATE_KEYS: &str = "DynamoDB UpdateItem (a ticket's links rotated)";
const LIST_TICKETS: &str = "DynamoDB Query (tickets by status)";
const APPEND: &str = "DynamoDB TransactWriteItems (new thread entry)";

pub(super) fn put_new(table: &str, item: Item) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(format!("attribute_not_exists({})", tickets::PK))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .expect("a put with table and item");
    TransactWriteItem::builder().put(put).build()
}

/// The mark of an upload used by a message of `ticket`: the ticket it went to, and nothing else.
fn upload_mark(ticket: &Ticket, nonce: &str) -> Item {
    let mut item = items::key(tickets::upload_pk(&ticket.collection_id, nonce), tickets::UPLOAD_USED.to_owned());
    item.insert("ticketNumber".into(), n(ticket.ticket_number));
    item
}

/// Whether a cancelled transaction's item was refused by its own condition (not by a conflict).
fn refused(reason: Option<&CancellationReason>) -> bool {
    reason.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

impl TicketStore for DynamoStore {
    async fn insert_ticket(&self, write: &NewTicketWrite) -> Result<Inserted, Unavailable> {
        if write.items() > MAX_TRANSACTION_ITEMS {
            let over = anyhow::anyhow!("{} items, over a transaction's 100", write.items());
            return Err(Unavailable::new(INSERT_TICKET, over));
        }
        let ticket = &write.ticket;
        let mut items = vec![
            put_new(&self.tables.tickets, items::header(ticket)),
            put_new(&self.tables.tickets, items::entry(ticket, &write.entry)),
        ];
        // The uploads' marks, third on: a refusal of one says an upload is used already.
        items.extend(write.uploads.iter().map(|nonce| put_new(&self.tables.tickets, upload_mark(ticket, nonce))));
        items.extend(write.mail.iter().map(|mail| put_new(&self.tables.tickets, items::mail(mail))));
        items.extend(
            write.webhooks.iter().map(|delivery| put_new(&self.tables.tickets, items::webhook_delivery(delivery))),
        );
        if let Some((scope, nonce)) = &write.completes {
            let complete = Update::builder()
                .table_name(&self.tables.idempotency)
                .key(idempotency::SCOPE, s(scope))
                .update_expression("SET #state = :completed, ticketNumber = :number")
                // Only our own claim: never a record another request took over, never a new partial item.
                .condition_expression("keyNonce = :nonce")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":completed", s("completed"))
                .expression_attribute_values(":number", n(ticket.ticket_number))
                .expression_attribute_values(":nonce", s(nonce))
                .build()
                .expect("an update with table, key and expression");
            items.push(TransactWriteItem::builder().update(complete).build());
        }
        // The SDK gives the call a client request token: a retry of a write whose reply was lost is answered
        // as done, not applied twice.
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        let cancelled = match result {
            Ok(_) => return Ok(Inserted::Stored),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => match e.into_err() {
                TransactWriteItemsError::TransactionCanceledException(c) => c,
                _ => unreachable!("checked to be a cancelled transaction"),
            },
            Err(e) => return Err(unavailable(INSERT_TICKET)(e)),
        };
        let reasons = cancelled.cancellation_reasons();
        if refused(reasons.first()) {
            let ours = reasons[0].item().and_then(|item| item.get("keyNonce")) == Some(&s(&ticket.key_nonce));
            return Ok(if ours { Inserted::Stored } else { Inserted::NumberInUse });
        }
        if (2..2 + write.uploads.len()).any(|i| refused(reasons.get(i))) {
            return Ok(Inserted::UploadUsed);
        }
        if write.completes.is_some() && refused(reasons.last()) {
            return Ok(Inserted::ClaimLost);
        }
        if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
            return Ok(Inserted::Conflict);
        }
        Err(Unavailable::new(INSERT_TICKET, anyhow::anyhow!("transaction cancelled: {cancelled}")))
    }

    async fn get_ticket(&self, id: &CollectionId, number: u64) -> Result<Option<Ticket>, Unavailable> {
        self.ticket_item(id, number, tickets::HEADER.to_owned(), GET_TICKET).await
    }

    async fn get_entry(&self, id: &CollectionId, number: u64, seq: u32) -> Result<Option<Entry>, Unavailable> {
        self.ticket_item(id, number, tickets::entry_sk(seq), GET_ENTRY).await
    }

    async fn rotate_keys(
        &self,
        id: &CollectionId,
        number: u64,
        key_nonce: Option<&str>,
        team_key_nonce: Option<&str>,
    ) -> Result<bool, Unavailable> {
        // Only what is rotated is written: a rotation of the other role's link made meanwhile stays.
        let mut sets = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.tickets)
            .set_key(Some(items::key(tickets::pk(id, number), tickets::HEADER.to_owned())))
            .condition_expression(format!("attribute_exists({})", tickets::PK));
        if let Some(nonce) = key_nonce {
            sets.push("keyNonce = :key");
            request = request.expression_attribute_values(":key", s(nonce));
        }
        if let Some(nonce) = team_key_nonce {
            sets.push("teamKeyNonce = :team");
            request = request.expression_attribute_values(":team", s(nonce));
        }
        if sets.is_empty() {
            return Ok(self.get_ticket(id, number).await?.is_some());
        }
        let result = request.update_expression(format!("SET {}", sets.join(", "))).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(ROTATE_KEYS)(e)),
        }
    }

    async fn append(&self, write: &AppendWrite) -> Result<Appended, Unavailable> {
        if write.items() > MAX_TRANSACTION_ITEMS {
            return Err(Unavailable::new(APPEND, anyhow::anyhow!("{} items, over a transaction's 100", write.items())));
        }
        let header = Put::builder()
            .table_name(&self.tables.tickets)
            .set_item(Some(items::header(&write.after)))
            // The header as it was read: no entry, no status change and no rotation of its links came in
            // between (the put would bring the rotated-away keys back).
            .condition_expression(
                "entries = :entries AND #status = :status AND keyNonce = :key AND teamKeyNonce = :team",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":entries", n(write.before.entries))
            .expression_attribute_values(":status", s(write.before.status.as_str()))
            .expression_attribute_values(":key", s(&write.before.key_nonce))
            .expression_attribute_values(":team", s(&write.before.team_key_nonce))
            .build()
            .expect("a put with table and item");
        let mut items = vec![
            TransactWriteItem::builder().put(header).build(),
            put_new(&self.tables.tickets, items::entry(&write.after, &write.entry)),
        ];
        // The received message's marks, third on: a refusal of one says the message is recorded already.
        let pk = tickets::pk(&write.after.collection_id, write.after.ticket_number);
        for received in &write.received {
            items.push(put_new(&self.tables.tickets, items::key(pk.clone(), tickets::received_sk(received))));
        }
        let uploads = items.len()..items.len() + write.uploads.len();
        items.extend(write.uploads.iter().map(|nonce| put_new(&self.tables.tickets, upload_mark(&write.after, nonce))));
        items.extend(write.mail.iter().map(|mail| put_new(&self.tables.tickets, items::mail(mail))));
        items.extend(
            write.webhooks.iter().map(|delivery| put_new(&self.tables.tickets, items::webhook_delivery(delivery))),
        );
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match result {
            Ok(_) => Ok(Appended::Stored),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => match e.into_err() {
                TransactWriteItemsError::TransactionCanceledException(c)
                    if refused(c.cancellation_reasons().first()) =>
                {
                    Ok(Appended::Moved)
                }
                TransactWriteItemsError::TransactionCanceledException(c)
                    if (2..2 + write.received.len()).any(|i| refused(c.cancellation_reasons().get(i))) =>
                {
                    Ok(Appended::AlreadyRecorded)
                }
                TransactWriteItemsError::TransactionCanceledException(c)
                    if uploads.clone().any(|i| refused(c.cancellation_reasons().get(i))) =>
                {
                    Ok(Appended::UploadUsed)
                }
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    Err(Unavailable::new(APPEND, anyhow::anyhow!("transaction cancelled: {c}")))
                }
                _ => unreachable!("checked to be a cancelled transaction"),
            },
            Err(e) => Err(unavailable(APPEND)(e)),
        }
    }

    async fn list_page(
        &self,
        id: &CollectionId,
        status: TicketStatus,
        limit: usize,
        after: Option<&ListCursor>,
    ) -> Result<TicketPage, Unavailable> {
        // The index's start key is the whole key of the last item read: the table's and the index's.
        let start = after.map(|c| {
            let mut key = items::key(tickets::pk(id, c.ticket_number), tickets::HEADER.to_owned());
            key.insert(tickets::LIST_KEY.into(), s(tickets::list_key(id, status)));
            key.insert(tickets::ACTIVITY_KEY.into(), s(tickets::activity_key(&c.last_activity_at, c.ticket_number)));
            key
        });
        let mut page_of: Vec<Ticket> = Vec::new();
        let mut start = start;
        // One more than asked tells whether another page follows, so that no page is empty.
        while page_of.len() <= limit {
            let page = self
                .client
                .query()
                .table_name(&self.tables.tickets)
                .index_name(tickets::BY_STATUS.name)
                .key_condition_expression(format!("{} = :list", tickets::LIST_KEY))
                .expression_attribute_values(":list", s(tickets::list_key(id, status)))
                .scan_index_forward(false)
                .limit((limit + 1 - page_of.len()) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable(LIST_TICKETS))?;
            for item in page.items.unwrap_or_default() {
                page_of.push(from_item(LIST_TICKETS, item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let next = (page_of.len() > limit).then(|| {
            page_of.truncate(limit);
            let last = page_of.last().expect("a full page has a last ticket");
            ListCursor { last_activity_at: last.last_activity_at.clone(), ticket_number: last.ticket_number }
        });
        Ok(TicketPage { tickets: page_of, next })
    }

    async fn thread(&self, id: &CollectionId, number: u64) -> Result<Vec<Entry>, Unavailable> {
        // A long thread spans pages of 1 MB: 200 replies of 20,000 characters are about five.
        self.ticket_items(id, number, tickets::ENTRY_PREFIX, THREAD).await
    }

    async fn thread_page(
        &self,
        id: &CollectionId,
        number: u64,
        before: u32,
        limit: usize,
    ) -> Result<Vec<Entry>, Unavailable> {
        let Some((first, last)) = tickets::entries_before(before) else { return Ok(Vec::new()) };
        // Newest first, `limit` at most: a page of long entries may span two of DynamoDB's 1 MB pages.
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.tickets)
            .key_condition_expression(format!("{} = :pk AND {} BETWEEN :first AND :last", tickets::PK, tickets::SK))
            .expression_attribute_values(":pk", s(tickets::pk(id, number)))
            .expression_attribute_values(":first", s(first))
            .expression_attribute_values(":last", s(last))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1_000) as i32)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut entries: Vec<Entry> = Vec::new();
        while entries.len() < limit
            && let Some(item) = pages.next().await
        {
            entries.push(from_item(THREAD_PAGE, item.map_err(unavailable(THREAD_PAGE))?)?);
        }
        entries.reverse();
        Ok(entries)
    }
}

impl DynamoStore {
    /// One item of a ticket's partition, read strongly consistent.
    pub(super) async fn ticket_item<T: DeserializeOwned>(
        &self,
        id: &CollectionId,
        number: u64,
        sk: String,
        operation: &'static str,
    ) -> Result<Option<T>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.tickets)
            .set_key(Some(items::key(tickets::pk(id, number), sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable(operation))?;
        out.item.map(|item| from_item(operation, item)).transpose()
    }

    /// Every item of a ticket's partition whose sort key starts with `prefix`, in order, across as many pages
    /// as it takes (the SDK's paginator), read strongly consistent.
    pub(super) async fn ticket_items<T: DeserializeOwned>(
        &self,
        id: &CollectionId,
        number: u64,
        prefix: &str,
        operation: &'static str,
    ) -> Result<Vec<T>, Unavailable> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.tickets)
            .key_condition_expression(format!("{} = :pk AND begins_with({}, :prefix)", tickets::PK, tickets::SK))
            .expression_attribute_values(":pk", s(tickets::pk(id, number)))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(from_item(operation, item.map_err(unavailable(operation))?)?);
        }
        Ok(items)
    }
}
