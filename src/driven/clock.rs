//! The system's wall clock: the `Clock` port as deployed. Tests move a `memory::ManualClock` instead.

use std::time::SystemTime;

use crate::domain::Now;
use crate::ports::Clock;

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now::at(SystemTime::now())
    }
}
