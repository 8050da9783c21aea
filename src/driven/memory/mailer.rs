//! A mailer that keeps what it sends, and refuses or fails when a test says so.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::domain::OutgoingEmail;
use crate::ports::{Failure, Mailer, SendError, Unavailable};

/// A mailer that keeps what it sends. Addresses in `fail_for` are refused for good; with `set_outage(true)`
/// every send fails as an SES outage would (a failure that passes).
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<OutgoingEmail>>,
    refused: Mutex<HashSet<String>>,
    outage: AtomicBool,
    attempts: AtomicUsize,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.lock().unwrap().clone()
    }

    /// Every send asked for, sent or not.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    pub fn refuse(&self, address: &str) {
        self.refused.lock().unwrap().insert(address.to_owned());
    }

    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.outage.load(Ordering::SeqCst) {
            return Err(SendError::Transient(Failure::new("Injected", "injected SES outage")));
        }
        if self.refused.lock().unwrap().contains(email.to.as_str()) {
            return Err(SendError::Permanent(Failure::new("Injected", "injected: SES rejected the address")));
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(email.clone());
        Ok(format!("memory-{}", sent.len()))
    }

    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        Ok(1_000.0)
    }
}
