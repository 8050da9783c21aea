//! What an operator reads and repairs (`ticketctl tickets …`, `mail …`, `suppressions …`): a collection's
//! tickets of every status, a ticket's whole record (its thread and every e-mail's), the outbox's undelivered
//! e-mails and the re-send of those failed for good, and the suppression list.

use serde::Serialize;

use crate::domain::{CollectionId, Email, Entry, Mail, MailKey, MailState, Suppression, Ticket, TicketStatus};
use crate::ports::{
    AdminStore, CollectionStore, Moved, OutboxStore, Ports, SuppressionStore, TicketStore, Unavailable,
};

use super::TicketService;
use super::collections::AdminError;

/// A ticket as stored: its header (its key nonces, which open nothing without the pepper), its thread and every
/// e-mail it owed.
#[derive(Debug, Clone, Serialize)]
pub struct TicketRecord {
    pub ticket: Ticket,
    pub thread: Vec<Entry>,
    pub mail: Vec<Mail>,
}

impl<P: Ports> TicketService<P> {
    /// Up to `limit` of a collection's tickets of `status` (every status by default), newest activity first.
    pub async fn tickets(
        &self,
        id: &CollectionId,
        status: Option<TicketStatus>,
        limit: usize,
    ) -> Result<Vec<Ticket>, AdminError> {
        let mut tickets = Vec::new();
        for status in status.map_or(TicketStatus::ALL.to_vec(), |s| vec![s]) {
            tickets.extend(self.store().list_page(id, status, limit, None).await?.tickets);
        }
        tickets.sort_by(|a, b| b.last_activity_at.cmp(&a.last_activity_at));
        tickets.truncate(limit);
        Ok(tickets)
    }

    /// One ticket with its thread and every e-mail's record.
    pub async fn ticket_record(&self, id: &CollectionId, number: u64) -> Result<TicketRecord, AdminError> {
        let ticket = self
            .store()
            .get_ticket(id, number)
            .await?
            .ok_or_else(|| AdminError::TicketNotFound { collection: id.clone(), number })?;
        let (thread, mail) = tokio::join!(self.store().thread(id, number), self.store().ticket_mail(id, number));
        Ok(TicketRecord { ticket, thread: thread?, mail: mail? })
    }

    /// Every e-mail not delivered yet or failed for good, of one collection or all, by collection and age.
    pub async fn undelivered_mail(&self, collection: Option<&CollectionId>) -> Result<Vec<Mail>, AdminError> {
        let mut mail = self.store().undelivered(collection).await?;
        mail.sort_by(|a, b| (&a.collection_id, &a.created_at).cmp(&(&b.collection_id, &b.created_at)));
        Ok(mail)
    }

    /// An operator's re-send, once the cause is fixed: every e-mail of the collection (or of one of its tickets)
    /// that failed for good goes back to pending, due for the sweep if the stream has not sent it by then. The
    /// e-mails re-sent.
    pub async fn resend_failed(&self, id: &CollectionId, ticket: Option<u64>) -> Result<Vec<MailKey>, AdminError> {
        if self.store().get_collection(id).await?.is_none() {
            return Err(AdminError::CollectionNotFound(id.clone()));
        }
        let now = self.now();
        let due_at_ms = self.due(now);
        let failed = self.store().undelivered(Some(id)).await?;
        let mut resent = Vec::new();
        let resendable = |m: &&Mail| matches!(m.state, MailState::Failed | MailState::Suppressed);
        for mail in failed.iter().filter(resendable).filter(|m| ticket.is_none_or(|n| n == m.ticket_number)) {
            if self.store().requeue_mail(&mail.key(), due_at_ms, now).await? == Moved::Moved {
                resent.push(mail.key());
            }
        }
        Ok(resent)
    }

    /// Every suppressed address, with why and since when.
    pub async fn suppressions(&self) -> Result<Vec<Suppression>, Unavailable> {
        self.store().suppressions().await
    }

    /// Takes an address off the suppression list; whether it was on it.
    pub async fn lift_suppression(&self, address: &Email) -> Result<bool, Unavailable> {
        self.store().lift_suppression(address).await
    }
}
