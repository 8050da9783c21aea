//! API keys: looked up by hash on the request path (created, listed and revoked by the operator: `admin`).

use super::{DynamoStore, from_item, s, unavailable};
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
