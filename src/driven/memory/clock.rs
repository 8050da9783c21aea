//! A clock a test moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::domain::Now;
use crate::ports::Clock;

/// A wall clock that moves only when told: leases lapse, retries come due and hourly windows turn when a test
/// says so, not after a sleep. Clones share it.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// At the system's time now (stamps stay plausible; only the test moves it on).
    pub fn starting_now() -> Self {
        Self::at(Now::at(SystemTime::now()))
    }

    pub fn at(now: Now) -> Self {
        Self(Arc::new(AtomicU64::new(now.ms())))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn set(&self, to: Now) {
        self.0.store(to.ms(), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::starting_now()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Now {
        Now::from_ms(self.0.load(Ordering::SeqCst))
    }
}
