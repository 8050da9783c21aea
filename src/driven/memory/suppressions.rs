//! Suppressed addresses, lower-cased.

use super::MemoryStore;
use crate::domain::{Email, Suppression};
use crate::ports::{SuppressionStore, Unavailable};

impl SuppressionStore for MemoryStore {
    async fn suppression(&self, address: &Email) -> Result<Option<Suppression>, Unavailable> {
        self.enter("suppression")?;
        Ok(self.data().suppressions.get(&address.as_str().to_ascii_lowercase()).cloned())
    }

    async fn suppress(&self, suppression: &Suppression) -> Result<(), Unavailable> {
        self.enter("suppress")?;
        let key = suppression.address.as_str().to_ascii_lowercase();
        self.data().suppressions.entry(key).or_insert_with(|| suppression.clone());
        Ok(())
    }

    async fn lift_suppression(&self, address: &Email) -> Result<bool, Unavailable> {
        self.enter("lift_suppression")?;
        Ok(self.data().suppressions.remove(&address.as_str().to_ascii_lowercase()).is_some())
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, Unavailable> {
        self.enter("suppressions")?;
        let mut all: Vec<Suppression> = self.data().suppressions.values().cloned().collect();
        all.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(all)
    }
}
