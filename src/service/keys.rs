//! API keys as the operator manages them (`ticketctl keys …`): created for collections that exist, shown once and
//! stored only as their hash with the pepper; listed by id, name and last four characters; revoked by id.

use crate::domain::random::random_hex;
use crate::domain::{ApiKey, ApiKeyRecord, CollectionId};
use crate::ports::{AdminStore, CollectionStore, Ports, Unavailable};

use super::TicketService;
use super::collections::AdminError;

/// A new key, whole (to be shown once), and its record as stored.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub record: ApiKeyRecord,
}

impl<P: Ports> TicketService<P> {
    /// A new API key granted `collections`, each of which must exist.
    pub async fn create_key(&self, name: String, collections: Vec<CollectionId>) -> Result<CreatedKey, AdminError> {
        for id in &collections {
            self.store().get_collection(id).await?.ok_or_else(|| AdminError::CollectionNotFound(id.clone()))?;
        }
        let pepper = self.pepper().await?;
        let key = ApiKey::generate();
        let record = ApiKeyRecord {
            key_id: random_hex::<6>(),
            name,
            last4: key.last4(),
            collections,
            created_at: self.now().rfc3339(),
            revoked_at: None,
        };
        match self.store().insert_key(&pepper.hash(&key), &record).await? {
            true => Ok(CreatedKey { key, record }),
            // 128 random bits met a key already stored: not in this universe's lifetime.
            false => Err(Unavailable::new("new API key", anyhow::anyhow!("the key's hash is taken: try again")).into()),
        }
    }

    /// Every key, oldest first.
    pub async fn keys(&self) -> Result<Vec<ApiKeyRecord>, AdminError> {
        let mut keys = self.store().list_keys().await?;
        keys.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(keys)
    }

    /// Revokes a key by its id: refused from then on (by a warm process once its cache's entry lapses).
    pub async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyRecord, AdminError> {
        let at = self.now().rfc3339();
        self.store().revoke_key(key_id, &at).await?.ok_or_else(|| AdminError::KeyNotFound(key_id.to_owned()))
    }
}
