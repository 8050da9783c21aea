//! Wall-clock time as the domain reads it: one instant (`Now`), taken from the service's `Clock` port, in the
//! three forms records use: Unix milliseconds (the outbox's due times and leases), Unix seconds (limit windows,
//! TTLs, idempotency leases) and RFC 3339 with milliseconds (every stamp a person reads). Nothing in the domain
//! or the use cases asks the system for the time: a test that moves the clock moves all of them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One instant of the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Now(SystemTime);

impl Now {
    pub fn at(time: SystemTime) -> Self {
        Self(time)
    }

    pub fn from_ms(ms: u64) -> Self {
        Self(UNIX_EPOCH + Duration::from_millis(ms))
    }

    pub fn system_time(self) -> SystemTime {
        self.0
    }

    /// Unix milliseconds.
    pub fn ms(self) -> u64 {
        self.0.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
    }

    /// Unix seconds.
    pub fn secs(self) -> u64 {
        self.0.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
    }

    /// RFC 3339, UTC, with milliseconds: the one timestamp format of stored records.
    pub fn rfc3339(self) -> String {
        humantime::format_rfc3339_millis(self.0).to_string()
    }

    /// An RFC 3339 stamp, as records hold them.
    pub fn parse(rfc3339: &str) -> Option<Self> {
        humantime::parse_rfc3339(rfc3339).ok().map(Self)
    }

    /// The instant `earlier` before this one (the epoch at the least).
    pub fn minus(self, earlier: Duration) -> Self {
        Self(self.0.checked_sub(earlier).unwrap_or(UNIX_EPOCH))
    }

    /// Unix milliseconds, `later` from now.
    pub fn ms_after(self, later: Duration) -> u64 {
        self.ms().saturating_add(later.as_millis() as u64)
    }

    /// How long ago a time in Unix milliseconds was; zero for one that lies ahead.
    pub fn since_ms(self, ms: u64) -> Duration {
        Duration::from_millis(self.ms().saturating_sub(ms))
    }

    /// How long ago an RFC 3339 stamp was; zero for a stamp that does not read or lies ahead.
    pub fn since(self, rfc3339: &str) -> Duration {
        humantime::parse_rfc3339(rfc3339).ok().and_then(|at| self.0.duration_since(at).ok()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_instant_reads_the_same_in_every_form() {
        let now = Now::from_ms(1_764_806_400_123);
        assert_eq!(now.ms(), 1_764_806_400_123);
        assert_eq!(now.secs(), 1_764_806_400);
        assert_eq!(now.rfc3339(), "2025-12-04T00:00:00.123Z");
        assert_eq!(now.since("2025-12-03T23:59:59.123Z"), Duration::from_secs(1));
        assert_eq!(now.since("2025-12-04T00:00:01Z"), Duration::ZERO, "a stamp ahead is no age");
        assert_eq!(now.since("yesterday"), Duration::ZERO);
        assert_eq!(now.ms_after(Duration::from_secs(2)), 1_764_806_402_123);
    }
}
