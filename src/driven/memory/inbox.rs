//! The raw messages SES receiving would have stored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ports::{Inbox, Unavailable};

/// The raw messages SES receiving would have stored, by message id; a test puts them there.
#[derive(Default)]
pub struct MemoryInbox {
    messages: Mutex<HashMap<String, Vec<u8>>>,
    reads: AtomicUsize,
}

impl MemoryInbox {
    pub fn put(&self, message_id: &str, raw: impl Into<Vec<u8>>) {
        self.messages.lock().unwrap().insert(message_id.to_owned(), raw.into());
    }

    /// How many messages were read: what a refusal before reading costs nothing of.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Inbox for MemoryInbox {
    async fn message(&self, message_id: &str, limit: usize) -> Result<Option<Vec<u8>>, Unavailable> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.messages.lock().unwrap().get(message_id).map(|raw| raw[..raw.len().min(limit + 1)].to_vec()))
    }
}
