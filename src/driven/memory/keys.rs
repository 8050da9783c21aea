//! API keys, by hash.

use super::MemoryStore;
use crate::domain::{ApiKeyHash, ApiKeyRecord};
use crate::ports::{KeyStore, Unavailable};

impl KeyStore for MemoryStore {
    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, Unavailable> {
        self.enter("find_key")?;
        Ok(self.data().keys.get(hash.as_str()).cloned())
    }
}
