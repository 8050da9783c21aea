//! Abuse limits: how many tickets one API key, and one requester address, may create in a collection per hour.
//!
//! The endpoint sends e-mail to an address the caller chooses, so both are limited. The counts live on the
//! collection's counter item and are checked by the same conditional update that takes the ticket number: a
//! refused create takes no number, and the check costs no round trip of its own (README, "Abuse limits").
//! Windows are fixed hours (UTC); a count is kept under a name that carries its window, in one of two maps
//! chosen by the window's parity, and every create empties the other map, so no create waits on a reset.

use serde::{Deserialize, Serialize};

/// The length of a limit window.
pub const WINDOW_SECONDS: u64 = 3600;
/// Tickets one API key may create in one collection per window, unless the collection says otherwise.
pub const DEFAULT_PER_KEY: u32 = 1_000;
/// Tickets one requester address may open in one collection per window, unless the collection says otherwise.
pub const DEFAULT_PER_REQUESTER: u32 = 10;
/// The highest limit `ticketctl` sets: it bounds how many counts one window can put on the counter item.
pub const MAX_LIMIT: u32 = 10_000;

/// A collection's limits, per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimits {
    pub per_key: u32,
    pub per_requester: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { per_key: DEFAULT_PER_KEY, per_requester: DEFAULT_PER_REQUESTER }
    }
}

impl RateLimits {
    /// A limit as an operator gives it: 1 to `MAX_LIMIT`.
    pub fn parse_limit(raw: u32) -> Result<u32, String> {
        if (1..=MAX_LIMIT).contains(&raw) {
            Ok(raw)
        } else {
            Err(format!("a limit is 1 to {MAX_LIMIT} tickets per hour, not {raw}"))
        }
    }
}

/// The two limits, as named in the `RateLimit-Policy` and `RateLimit` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    PerKey,
    PerRequester,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::PerKey => "per-key",
            Policy::PerRequester => "per-requester",
        }
    }
}

/// What one create counts against: the API key and the requester, in the window that holds `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCount {
    now: u64,
    window: u64,
    key_id: String,
    key: String,
    requester: String,
}

impl RateCount {
    /// `requester_tag` is the keyed hash of the requester's address (`Pepper::requester_tag`): the counter item
    /// holds no address.
    pub fn new(key_id: &str, requester_tag: &str, now: u64) -> Self {
        let window = now / WINDOW_SECONDS;
        Self {
            now,
            window,
            key_id: key_id.to_owned(),
            key: format!("k:{key_id}:{window}"),
            requester: format!("r:{requester_tag}:{window}"),
        }
    }

    /// The public id of the API key counted.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The entry that counts this key's tickets in this window.
    pub fn key_entry(&self) -> &str {
        &self.key
    }

    /// The entry that counts this requester's tickets in this window.
    pub fn requester_entry(&self) -> &str {
        &self.requester
    }

    /// The map that holds this window's counts, and the other one (the previous window's, emptied by this
    /// create so that it is empty when the next window starts).
    pub fn maps(&self) -> (&'static str, &'static str) {
        if self.window.is_multiple_of(2) { ("rateEven", "rateOdd") } else { ("rateOdd", "rateEven") }
    }

    /// Whole seconds from the create until its window ends (at least 1).
    pub fn resets_in(&self) -> u64 {
        ((self.window + 1) * WINDOW_SECONDS).saturating_sub(self.now).max(1)
    }

    /// The quota after counting this create, or at its refusal, from the counts and the collection's limits.
    pub fn quota(&self, limits: RateLimits, key_used: u32, requester_used: u32) -> Quota {
        Quota {
            per_key: Usage { limit: limits.per_key, used: key_used },
            per_requester: Usage { limit: limits.per_requester, used: requester_used },
            resets_in: self.resets_in(),
        }
    }
}

/// One limit and how much of it this window has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub limit: u32,
    pub used: u32,
}

impl Usage {
    pub fn remaining(self) -> u32 {
        self.limit.saturating_sub(self.used)
    }
}

/// Both limits after a create (counting it), or as they stood when one refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_key: Usage,
    pub per_requester: Usage,
    /// Seconds until the window ends and both counts start again from zero.
    pub resets_in: u64,
}

impl Quota {
    /// The limit this create would pass: the requester's first when both are used up.
    pub fn exceeded(&self) -> Option<Policy> {
        if self.per_requester.remaining() == 0 {
            Some(Policy::PerRequester)
        } else if self.per_key.remaining() == 0 {
            Some(Policy::PerKey)
        } else {
            None
        }
    }

    /// The limit closest to running out: the one the `RateLimit` header reports.
    pub fn tightest(&self) -> (Policy, Usage) {
        if self.per_key.remaining() < self.per_requester.remaining() {
            (Policy::PerKey, self.per_key)
        } else {
            (Policy::PerRequester, self.per_requester)
        }
    }

    pub fn usage(&self, policy: Policy) -> Usage {
        match policy {
            Policy::PerKey => self.per_key,
            Policy::PerRequester => self.per_requester,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_named_by_window_and_alternate_between_two_maps() {
        let at = 7 * WINDOW_SECONDS + 10;
        let count = RateCount::new("key1", "abcd", at);
        assert_eq!(count.key_entry(), "k:key1:7");
        assert_eq!(count.requester_entry(), "r:abcd:7");
        assert_eq!(count.maps(), ("rateOdd", "rateEven"));
        assert_eq!(RateCount::new("key1", "abcd", at + WINDOW_SECONDS).maps(), ("rateEven", "rateOdd"));
        assert_eq!(count.resets_in(), WINDOW_SECONDS - 10);
    }

    #[test]
    fn the_requester_limit_is_reported_first_and_the_tightest_limit_is_shown() {
        let quota = |key_used, requester_used| Quota {
            per_key: Usage { limit: 5, used: key_used },
            per_requester: Usage { limit: 3, used: requester_used },
            resets_in: 60,
        };
        assert_eq!(quota(1, 1).exceeded(), None);
        assert_eq!(quota(5, 1).exceeded(), Some(Policy::PerKey));
        assert_eq!(quota(5, 3).exceeded(), Some(Policy::PerRequester));
        assert_eq!(quota(4, 1).tightest().0, Policy::PerKey);
        assert_eq!(quota(1, 1).tightest().0, Policy::PerRequester);
    }

    #[test]
    fn a_limit_missing_from_a_stored_item_is_its_default() {
        let only_key: RateLimits = serde_json::from_str(r#"{"perKey": 5}"#).unwrap();
        assert_eq!(only_key, RateLimits { per_key: 5, per_requester: DEFAULT_PER_REQUESTER });
    }

    #[test]
    fn limits_outside_one_to_the_maximum_are_refused() {
        assert!(RateLimits::parse_limit(0).is_err());
        assert!(RateLimits::parse_limit(MAX_LIMIT + 1).is_err());
        assert_eq!(RateLimits::parse_limit(MAX_LIMIT), Ok(MAX_LIMIT));
    }
}
