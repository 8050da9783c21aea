//! The requester's view of a ticket: what the private link opens. The key is checked against the header alone
//! (one small read) before anything else is read.

use crate::domain::{CollectionId, TicketKey};
use crate::ports::{Mailer, SecretSource, Store, Unavailable};

use super::TicketService;

/// The requester's view of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketView {
    pub collection_name: String,
    pub ticket_number: u64,
    pub title: String,
    pub message: String,
    pub status: &'static str,
    pub created_at: String,
}

/// Why a view is not shown. A wrong key and a missing ticket are the same answer: no oracle.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("no such ticket, or not with this key")]
    NotFound,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl<S: Store, M: Mailer, P: SecretSource> TicketService<S, M, P> {
    /// The private view of a ticket, for whoever holds its key, compared in constant time with the key its
    /// nonce and the pepper give.
    pub async fn view(&self, collection: &str, number: &str, key: Option<&str>) -> Result<TicketView, ViewError> {
        let (Some(id), Ok(number), Some(key)) = (CollectionId::parse(collection), number.parse::<u64>(), key) else {
            return Err(ViewError::NotFound);
        };
        let ticket = self.store.get_ticket(&id, number).await?.ok_or(ViewError::NotFound)?;
        let pepper = self.pepper().await?;
        if !TicketKey::derive(pepper, &ticket.key_nonce).matches(key) {
            return Err(ViewError::NotFound);
        }
        let first = self.store.get_entry(&id, number, 1).await?;
        Ok(TicketView {
            collection_name: ticket.collection_name.as_str().to_owned(),
            ticket_number: ticket.ticket_number,
            title: ticket.title.as_str().to_owned(),
            message: first.and_then(|e| e.message).map(|m| m.as_str().to_owned()).unwrap_or_default(),
            status: ticket.status.as_str(),
            created_at: ticket.created_at,
        })
    }
}
