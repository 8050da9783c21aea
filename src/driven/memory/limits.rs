//! Abuse-limit counts: counted up to a limit, taken back.

use super::MemoryStore;
use crate::domain::CountEntry;
use crate::ports::{Counted, LimitStore, Unavailable};

impl LimitStore for MemoryStore {
    async fn count(&self, entry: &CountEntry, limit: u32) -> Result<Counted, Unavailable> {
        self.enter("count")?;
        let mut data = self.data();
        let n = data.counts.entry(entry.id.clone()).or_default();
        if *n >= limit {
            return Ok(Counted::Refused(*n));
        }
        *n += 1;
        Ok(Counted::Counted(*n))
    }

    async fn uncount(&self, entry: &CountEntry) -> Result<(), Unavailable> {
        self.enter("uncount")?;
        if let Some(n) = self.data().counts.get_mut(&entry.id) {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }
}
