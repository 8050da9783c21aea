//! The pepper, held in memory.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use secrecy::SecretString;

use crate::domain::Pepper;
use crate::ports::{SecretSource, Unavailable};

/// A pepper held in memory; `set_unavailable(true)` makes it unreadable, as a Secrets Manager outage would.
pub struct MemorySecrets {
    pepper: Pepper,
    unavailable: AtomicBool,
    reads: AtomicUsize,
}

impl MemorySecrets {
    pub fn new(pepper: &str) -> Self {
        Self {
            pepper: Pepper::new(SecretString::from(pepper.to_owned())).expect("a test pepper of 32 bytes or more"),
            unavailable: AtomicBool::new(false),
            reads: AtomicUsize::new(0),
        }
    }

    pub fn set_unavailable(&self, on: bool) {
        self.unavailable.store(on, Ordering::SeqCst);
    }

    /// How many times the pepper was read (the service should read it once).
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl SecretSource for MemorySecrets {
    async fn pepper(&self) -> Result<Pepper, Unavailable> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(Unavailable::new("pepper", anyhow::anyhow!("injected outage")));
        }
        Ok(self.pepper.clone())
    }
}
