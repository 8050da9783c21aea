//! API keys as the operator manages them (`ticketctl keys …`): created for collections that exist, shown once and
//! stored only as their hash with the pepper; listed by id, name and last four characters; revoked by id, with
//! the webhook endpoints they added (disabled, unless the operator keeps them).

use crate::domain::random::random_hex;
use crate::domain::{ApiKey, ApiKeyRecord, CollectionId};
use crate::ports::{AdminStore, CollectionStore, Ports, Unavailable};

use super::TicketService;
use super::collections::AdminError;

/// A key as revoked, and the webhook endpoints it had added (by collection), disabled or kept.
#[derive(Debug)]
pub struct RevokedKey {
    pub record: ApiKeyRecord,
    pub endpoints: Vec<(CollectionId, String)>,
    pub webhooks_disabled: bool,
}

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

    /// Revokes a key by its id: refused from then on (by a warm process once its cache's entry lapses). What it
    /// set up goes with it: the webhook endpoints it added are disabled (what they are owed is held, in case the
    /// revocation was a mistake), unless `keep_webhooks`.
    pub async fn revoke_key(&self, key_id: &str, keep_webhooks: bool) -> Result<RevokedKey, AdminError> {
        let at = self.now().rfc3339();
        let record =
            self.store().revoke_key(key_id, &at).await?.ok_or_else(|| AdminError::KeyNotFound(key_id.to_owned()))?;
        let mut endpoints = Vec::new();
        for collection in &record.collections {
            let Some(found) = self.store().get_collection(collection).await? else { continue };
            let added = found.webhooks.values().filter(|e| e.added_by.as_deref() == Some(key_id));
            for endpoint in added {
                endpoints.push((collection.clone(), endpoint.id.clone()));
                if !keep_webhooks && endpoint.disabled_at.is_none() {
                    let why =
                        format!("the API key that added it ({}, ending {}) was revoked", record.name, record.last4);
                    self.disable_webhook(collection, &endpoint.id, &why).await?;
                }
            }
        }
        tracing::info!(key = key_id, endpoints = endpoints.len(), kept = keep_webhooks, "API key revoked");
        Ok(RevokedKey { record, endpoints, webhooks_disabled: !keep_webhooks })
    }
}
