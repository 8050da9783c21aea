//! Abuse limits: how many tickets one API key, and one requester address, may create in a collection per hour.
//!
//! The endpoint sends e-mail to an address the caller chooses, so both are limited. Each count is an item of its
//! own, per collection, key or requester, and window, deleted by TTL an hour after its window: a create's cost
//! does not grow with the hour's traffic. Both counts are taken by conditional increments before the ticket
//! number, so that a refused create takes no number (README, "Abuse limits"). Windows are fixed UTC hours.

use serde::{Deserialize, Serialize};

use super::collection_id::CollectionId;

/// The length of a limit window.
pub const WINDOW_SECONDS: u64 = 3600;
/// Tickets one API key may create in one collection per window, unless the collection says otherwise.
pub const DEFAULT_PER_KEY: u32 = 1_000;
/// Tickets one requester address may open in one collection per window, unless the collection says otherwise.
pub const DEFAULT_PER_REQUESTER: u32 = 10;
/// Replies one ticket's requester may send through its link per window, unless the collection says otherwise.
pub const DEFAULT_PER_TICKET_REPLIES: u32 = 20;
/// The highest limit `ticketctl` sets.
pub const MAX_LIMIT: u32 = 10_000;

/// A collection's limits, per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimits {
    pub per_key: u32,
    pub per_requester: u32,
    /// Replies from the requester's link, per ticket.
    pub per_ticket_replies: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_key: DEFAULT_PER_KEY,
            per_requester: DEFAULT_PER_REQUESTER,
            per_ticket_replies: DEFAULT_PER_TICKET_REPLIES,
        }
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

    pub fn limit(&self, policy: Policy) -> u32 {
        match policy {
            Policy::PerKey => self.per_key,
            Policy::PerRequester => self.per_requester,
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
    pub const ALL: [Policy; 2] = [Policy::PerKey, Policy::PerRequester];

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

/// One count of one window: the item that holds it, and when DynamoDB may delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountEntry {
    /// `{collectionId}#k#{keyId}#{window}` or `{collectionId}#r#{requesterTag}#{window}`.
    pub id: String,
    /// Unix seconds: an hour after the window ends (the TTL attribute).
    pub expires_at: u64,
}

impl RateCount {
    /// `requester_tag` is the keyed hash of the requester's address (`Pepper::requester_tag`): no count item
    /// holds an address.
    pub fn new(collection: &CollectionId, key_id: &str, requester_tag: &str, now: u64) -> Self {
        let window = now / WINDOW_SECONDS;
        Self {
            now,
            window,
            key_id: key_id.to_owned(),
            key: format!("{collection}#k#{key_id}#{window}"),
            requester: format!("{collection}#r#{requester_tag}#{window}"),
        }
    }

    /// The public id of the API key counted.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The count of one limit for this create.
    pub fn entry(&self, policy: Policy) -> CountEntry {
        let id = match policy {
            Policy::PerKey => self.key.clone(),
            Policy::PerRequester => self.requester.clone(),
        };
        CountEntry { id, expires_at: (self.window + 2) * WINDOW_SECONDS }
    }

    /// The count of a ticket's requester replies in the window that holds `now`, and when it resets.
    pub fn replies(collection: &CollectionId, ticket: u64, now: u64) -> (CountEntry, u64) {
        let window = now / WINDOW_SECONDS;
        let entry =
            CountEntry { id: format!("{collection}#t#{ticket}#{window}"), expires_at: (window + 2) * WINDOW_SECONDS };
        (entry, ((window + 1) * WINDOW_SECONDS).saturating_sub(now).max(1))
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
    fn counts_are_items_named_by_collection_and_window_that_expire_an_hour_after_it() {
        let at = 7 * WINDOW_SECONDS + 10;
        let c1 = CollectionId::parse("c1").unwrap();
        let count = RateCount::new(&c1, "key1", "abcd", at);
        assert_eq!(count.entry(Policy::PerKey).id, "c1#k#key1#7");
        assert_eq!(count.entry(Policy::PerRequester).id, "c1#r#abcd#7");
        assert_eq!(count.entry(Policy::PerKey).expires_at, 9 * WINDOW_SECONDS);
        assert_ne!(
            RateCount::new(&c1, "key1", "abcd", at + WINDOW_SECONDS).entry(Policy::PerKey),
            count.entry(Policy::PerKey)
        );
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
        assert_eq!(only_key, RateLimits { per_key: 5, ..RateLimits::default() });
    }

    #[test]
    fn limits_outside_one_to_the_maximum_are_refused() {
        assert!(RateLimits::parse_limit(0).is_err());
        assert!(RateLimits::parse_limit(MAX_LIMIT + 1).is_err());
        assert_eq!(RateLimits::parse_limit(MAX_LIMIT), Ok(MAX_LIMIT));
    }
}
