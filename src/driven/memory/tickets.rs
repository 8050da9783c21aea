//! Tickets and their threads: a new ticket and a new entry each written whole, as one transaction, or not at
//! all, under the conditions of `dynamodb::tickets`; the `byStatus` index read as DynamoDB orders it.

use std::sync::atomic::Ordering;

use super::{MemoryStore, TicketItem, cancelled, entry_key, header_key, too_many};
use crate::domain::conversation::ListCursor;
use crate::domain::{CollectionId, Entry, IdempotencyState, Ticket, TicketStatus};
use crate::ports::{
    AppendWrite, Appended, Inserted, MAX_TRANSACTION_ITEMS, NewTicketWrite, TicketPage, TicketStore, Unavailable,
};
use crate::schema::tickets;

/// The keys of the marks of uploads used by a message of `ticket`.
fn upload_marks(ticket: &Ticket, nonces: &[String]) -> Vec<(String, String)> {
    let key = |nonce: &String| (tickets::upload_pk(&ticket.collection_id, nonce), tickets::UPLOAD_USED.to_owned());
    nonces.iter().map(key).collect()
}

impl TicketStore for MemoryStore {
    async fn insert_ticket(&self, write: &NewTicketWrite) -> Result<Inserted, Unavailable> {
        self.enter("insert_ticket")?;
        let mut data = self.data();
        let ticket = &write.ticket;
        if write.items() > MAX_TRANSACTION_ITEMS {
            return Err(too_many("insert_ticket", write.items()));
        }
        // All of it or nothing, as a transaction: every condition is checked before anything is written. A
        // header already there with this write's key nonce is this write, landed on an earlier attempt.
        if let Some(existing) = data.header(&ticket.collection_id, ticket.ticket_number) {
            let ours = existing.key_nonce == ticket.key_nonce;
            return Ok(if ours { Inserted::Stored } else { Inserted::NumberInUse });
        }
        let uploads = upload_marks(ticket, &write.uploads);
        if uploads.iter().any(|key| data.items.contains_key(key)) {
            return Ok(Inserted::UploadUsed);
        }
        if let Some((scope, nonce)) = &write.completes
            && data.idempotency.get(scope).is_none_or(|r| r.key_nonce != *nonce)
        {
            return Ok(Inserted::ClaimLost);
        }
        if data.any_exists(Some((ticket, &write.entry)), &write.mail, &write.webhooks) {
            return Err(cancelled("insert_ticket"));
        }
        if let Some((scope, _)) = &write.completes
            && let Some(record) = data.idempotency.get_mut(scope)
        {
            record.state = IdempotencyState::Completed;
            record.ticket_number = Some(ticket.ticket_number);
        }
        data.put_items(ticket, &write.entry, &write.mail, &write.webhooks);
        for key in uploads {
            data.items.insert(key, TicketItem::Mark);
        }
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
        key_nonce: Option<&str>,
        team_key_nonce: Option<&str>,
    ) -> Result<bool, Unavailable> {
        self.enter("rotate_keys")?;
        Ok(match self.data().items.get_mut(&header_key(id, number)) {
            Some(TicketItem::Header(ticket)) => {
                if let Some(nonce) = key_nonce {
                    ticket.key_nonce = nonce.to_owned();
                }
                if let Some(nonce) = team_key_nonce {
                    ticket.team_key_nonce = nonce.to_owned();
                }
                true
            }
            _ => false,
        })
    }

    async fn append(&self, write: &AppendWrite) -> Result<Appended, Unavailable> {
        self.enter("append")?;
        if write.items() > MAX_TRANSACTION_ITEMS {
            return Err(too_many("append", write.items()));
        }
        let mut data = self.data();
        self.rotation_in_between(&mut data);
        match data.header(&write.after.collection_id, write.after.ticket_number) {
            Some(now)
                if now.entries == write.before.entries
                    && now.status == write.before.status
                    && now.key_nonce == write.before.key_nonce
                    && now.team_key_nonce == write.before.team_key_nonce => {}
            _ => return Ok(Appended::Moved),
        }
        let pk = tickets::pk(&write.after.collection_id, write.after.ticket_number);
        let received: Vec<_> = write.received.iter().map(|r| (pk.clone(), tickets::received_sk(r))).collect();
        if received.iter().any(|key| data.items.contains_key(key)) {
            return Ok(Appended::AlreadyRecorded);
        }
        let uploads = upload_marks(&write.after, &write.uploads);
        if uploads.iter().any(|key| data.items.contains_key(key)) {
            return Ok(Appended::UploadUsed);
        }
        if data.any_exists(Some((&write.after, &write.entry)), &write.mail, &write.webhooks) {
            return Err(cancelled("append"));
        }
        data.put_items(&write.after, &write.entry, &write.mail, &write.webhooks);
        for key in received.into_iter().chain(uploads) {
            data.items.insert(key, TicketItem::Mark);
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
