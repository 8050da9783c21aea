//! Idempotency claims: claimed unless a live record holds the scope, released only by their request.

use super::MemoryStore;
use crate::domain::{IdempotencyRecord, IdempotencyState};
use crate::ports::{IdempotencyStore, Unavailable};

impl IdempotencyStore for MemoryStore {
    async fn claim_idempotency(
        &self,
        claim: &IdempotencyRecord,
        now: u64,
    ) -> Result<Option<IdempotencyRecord>, Unavailable> {
        self.enter("claim_idempotency")?;
        let mut data = self.data();
        match data.idempotency.get(&claim.scope) {
            Some(held) if !held.is_stale(now) => Ok(Some(held.clone())),
            _ => {
                data.idempotency.insert(claim.scope.clone(), claim.clone());
                Ok(None)
            }
        }
    }

    async fn get_idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Unavailable> {
        self.enter("get_idempotency")?;
        Ok(self.data().idempotency.get(scope).cloned())
    }

    async fn release_idempotency(&self, scope: &str, nonce: &str) -> Result<(), Unavailable> {
        self.enter("release_idempotency")?;
        let mut data = self.data();
        if data.idempotency.get(scope).is_some_and(|r| r.state == IdempotencyState::InProgress && r.key_nonce == nonce)
        {
            data.idempotency.remove(scope);
        }
        Ok(())
    }
}
