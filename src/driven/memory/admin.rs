//! The operator's side: collections and keys created, changed, listed and revoked, as `dynamodb::admin`.

use super::{MemoryStore, TicketItem};
use crate::domain::{ApiKeyHash, ApiKeyRecord, Collection, CollectionId, Mail};
use crate::ports::{AdminStore, Unavailable};
use crate::schema::tickets;

impl AdminStore for MemoryStore {
    async fn insert_collection(&self, collection: &Collection) -> Result<bool, Unavailable> {
        self.enter("insert_collection")?;
        let mut data = self.data();
        if data.collections.contains_key(&collection.collection_id) {
            return Ok(false);
        }
        data.collections.insert(collection.collection_id.clone(), collection.clone());
        Ok(true)
    }

    async fn update_collection(&self, collection: &Collection) -> Result<bool, Unavailable> {
        self.enter("update_collection")?;
        let mut data = self.data();
        let Some(stored) = data.collections.get_mut(&collection.collection_id) else { return Ok(false) };
        // The settings and members only: never the counter, the team links' generation or the endpoints.
        stored.name = collection.name.clone();
        stored.notify_emails = collection.notify_emails.clone();
        stored.ticketing_enabled = collection.ticketing_enabled;
        stored.rate_limits = collection.rate_limits;
        stored.member_generations = collection.member_generations.clone();
        stored.shared_links_mailed = collection.shared_links_mailed;
        Ok(true)
    }

    async fn list_collections(&self) -> Result<Vec<Collection>, Unavailable> {
        self.enter("list_collections")?;
        Ok(self.data().collections.values().cloned().collect())
    }

    async fn insert_key(&self, hash: &ApiKeyHash, record: &ApiKeyRecord) -> Result<bool, Unavailable> {
        self.enter("insert_key")?;
        let mut data = self.data();
        if data.keys.contains_key(hash.as_str()) {
            return Ok(false);
        }
        data.keys.insert(hash.as_str().to_owned(), record.clone());
        Ok(true)
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, Unavailable> {
        self.enter("list_keys")?;
        Ok(self.data().keys.values().cloned().collect())
    }

    async fn revoke_key(&self, key_id: &str, at: &str) -> Result<Option<ApiKeyRecord>, Unavailable> {
        self.enter("revoke_key")?;
        let mut data = self.data();
        let Some(record) = data.keys.values_mut().find(|r| r.key_id == key_id) else { return Ok(None) };
        record.revoked_at.get_or_insert_with(|| at.to_owned());
        Ok(Some(record.clone()))
    }

    async fn ticket_mail(&self, id: &CollectionId, number: u64) -> Result<Vec<Mail>, Unavailable> {
        self.enter("ticket_mail")?;
        let data = self.data();
        let pk = tickets::pk(id, number);
        Ok(data
            .items
            .range((pk.clone(), tickets::MAIL_PREFIX.to_owned())..)
            .take_while(|((p, sk), _)| *p == pk && sk.starts_with(tickets::MAIL_PREFIX))
            .filter_map(|(_, item)| match item {
                TicketItem::Mail(mail) => Some(mail.clone()),
                _ => None,
            })
            .collect())
    }
}
