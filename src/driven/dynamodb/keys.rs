//! API keys: looked up by hash on the request path; created, listed and revoked by the operator.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, failed, from_item, s, to_item, unavailable};
use crate::domain::{ApiKeyHash, ApiKeyRecord};
use crate::ports::{KeyStore, Unavailable};
use crate::schema::keys;

const FIND_KEY: &str = "DynamoDB GetItem (API key)";

impl KeyStore for DynamoStore {
    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.api_keys)
            .key(keys::HASH, s(hash.as_str()))
            // Strongly consistent: a revocation counts from the moment it is written.
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable(FIND_KEY))?;
        out.item.map(|item| from_item(FIND_KEY, item)).transpose()
    }
}

impl DynamoStore {
    /// Stores a new API key record under its hash.
    pub async fn insert_key(&self, hash: &ApiKeyHash, record: &ApiKeyRecord) -> anyhow::Result<()> {
        let mut item = to_item(record);
        item.insert(keys::HASH.into(), s(hash.as_str()));
        self.client
            .put_item()
            .table_name(&self.tables.api_keys)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists({})", keys::HASH))
            .send()
            .await
            .map_err(failed("creating API key".into()))?;
        Ok(())
    }

    pub async fn list_keys(&self) -> anyhow::Result<Vec<ApiKeyRecord>> {
        self.scan_all(&self.tables.api_keys).await
    }

    /// Marks the key with this id revoked. Returns false when no such key exists.
    pub async fn revoke_key(&self, key_id: &str, at: &str) -> anyhow::Result<bool> {
        // Keys are looked up by hash on the request path; an operator names them by id, so find the hash first.
        let items = self.scan_items(&self.tables.api_keys).await?;
        let Some(hash) = items
            .into_iter()
            .find(|item| matches!(item.get("keyId"), Some(AttributeValue::S(id)) if id == key_id))
            .and_then(|mut item| item.remove(keys::HASH))
        else {
            return Ok(false);
        };
        self.client
            .update_item()
            .table_name(&self.tables.api_keys)
            .key(keys::HASH, hash)
            .update_expression("SET revokedAt = if_not_exists(revokedAt, :at)")
            .expression_attribute_values(":at", s(at))
            .send()
            .await
            .map_err(failed(format!("revoking key {key_id}")))?;
        Ok(true)
    }
}
