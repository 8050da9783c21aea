//! Abuse limits: how many tickets one API key, and one requester address, may create in a collection per hour,
//! and how many addresses new to the hour a collection's tickets may go to.
//!
//! The endpoint sends e-mail to an address the caller chooses, so all three are limited. Each count is an item of
//! its own, per collection, key, requester or collection's new addresses, and window, deleted by TTL an hour
//! after its window: a create's cost does not grow with the hour's traffic. The counts are taken by conditional
//! increments before the ticket number, side by side, so that a refused create takes no number (docs/api.md, "Abuse
//! limits"); the new-requester count is taken back when the requester's own count shows them seen already this
//! hour. Windows are fixed UTC hours.

use serde::{Deserialize, Serialize};

use super::collection_id::CollectionId;

/// The length of a limit window.
pub const WINDOW_SECONDS: u64 = 3600;
/// Tickets one API key may create in one collection per window, unless the collection says otherwise.
pub const DEFAULT_PER_KEY: u32 = 1_000;
/// Tickets one requester address may open in one collection per window, unless the collection says otherwise.
pub const DEFAULT_PER_REQUESTER: u32 = 10;
/// Replies and status changes one ticket's requester may make through its link per window, unless the
/// collection says otherwise.
pub const DEFAULT_PER_TICKET_REPLIES: u32 = 20;
/// Replies and status changes one ticket takes through its team link per window, unless the collection says
/// otherwise (the team's link goes to every notification address, and can be forwarded).
pub const DEFAULT_PER_TICKET_TEAM_LINK: u32 = 100;
/// Requester addresses new to the window one collection's tickets may go to per window, unless it says otherwise:
/// what bounds the e-mail one API key can make this deployment send to strangers.
pub const DEFAULT_NEW_REQUESTERS: u32 = 200;
/// The highest limit `ticketctl` sets.
pub const MAX_LIMIT: u32 = 10_000;

/// A collection's limits, per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimits {
    pub per_key: u32,
    pub per_requester: u32,
    /// Replies and status changes from the requester's link, per ticket.
    pub per_ticket_replies: u32,
    /// Requester addresses not seen in the window, per collection.
    pub new_requesters: u32,
    /// Replies and status changes from the team's link, per ticket.
    pub per_ticket_team_link: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_key: DEFAULT_PER_KEY,
            per_requester: DEFAULT_PER_REQUESTER,
            per_ticket_replies: DEFAULT_PER_TICKET_REPLIES,
            new_requesters: DEFAULT_NEW_REQUESTERS,
            per_ticket_team_link: DEFAULT_PER_TICKET_TEAM_LINK,
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
            Policy::NewRequesters => self.new_requesters,
        }
    }
}

/// The limits a create is counted against, as named in the `RateLimit-Policy` and `RateLimit` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    PerKey,
    PerRequester,
    NewRequesters,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::PerKey, Policy::PerRequester, Policy::NewRequesters];

    pub fn name(self) -> &'static str {
        match self {
            Policy::PerKey => "per-key",
            Policy::PerRequester => "per-requester",
            Policy::NewRequesters => "new-requesters",
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
    new_requesters: String,
}

/// One count of one window: the item that holds it, and when DynamoDB may delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountEntry {
    /// `{collectionId}#k#{keyId}#{window}`, `{collectionId}#r#{requesterTag}#{window}` or
    /// `{collectionId}#n#{window}` (the collection's new requesters).
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
            new_requesters: format!("{collection}#n#{window}"),
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
            Policy::NewRequesters => self.new_requesters.clone(),
        };
        CountEntry { id, expires_at: (self.window + 2) * WINDOW_SECONDS }
    }

    /// The count of a ticket's replies and status changes through its requester's link (`team_link`: through its
    /// team's link) in the window that holds `now`, and when it resets.
    pub fn link_actions(collection: &CollectionId, ticket: u64, team_link: bool, now: u64) -> (CountEntry, u64) {
        let window = now / WINDOW_SECONDS;
        let kind = if team_link { "tt" } else { "t" };
        let entry = CountEntry {
            id: format!("{collection}#{kind}#{ticket}#{window}"),
            expires_at: (window + 2) * WINDOW_SECONDS,
        };
        (entry, ((window + 1) * WINDOW_SECONDS).saturating_sub(now).max(1))
    }

    /// The count of a member's inbox views and bulk posts in the window that holds `now` (the member named by a
    /// hash of their lowercase address), and when the window ends.
    pub fn inbox_views(collection: &CollectionId, member: &str, now: u64) -> (CountEntry, u64) {
        use sha2::{Digest, Sha256};
        let window = now / WINDOW_SECONDS;
        let digest = hex::encode(&Sha256::digest(member.to_ascii_lowercase().as_bytes())[..8]);
        let entry = CountEntry {
            id: format!("{collection}#inbox#{digest}#{window}"),
            expires_at: (window + 2) * WINDOW_SECONDS,
        };
        (entry, ((window + 1) * WINDOW_SECONDS).saturating_sub(now).max(1))
    }

    /// The count of a ticket's notices that a reply by e-mail to it was not recorded (closed, over its hourly
    /// limit, nothing new in it, too large), in the window that holds `now` (one a window at most, whatever the
    /// reason: no stream of notices to anyone), and that window's number.
    pub fn notices(collection: &CollectionId, ticket: u64, now: u64) -> (CountEntry, u64) {
        let window = now / WINDOW_SECONDS;
        let entry =
            CountEntry { id: format!("{collection}#cn#{ticket}#{window}"), expires_at: (window + 2) * WINDOW_SECONDS };
        (entry, window)
    }

    /// Whole seconds from the create until its window ends (at least 1).
    pub fn resets_in(&self) -> u64 {
        ((self.window + 1) * WINDOW_SECONDS).saturating_sub(self.now).max(1)
    }

    /// The quota after counting this create, or at its refusal, from the counts (by `Policy::ALL`) and the
    /// collection's limits.
    pub fn quota(&self, limits: RateLimits, used: [u32; 3]) -> Quota {
        let usage = |policy: Policy, used: u32| Usage { limit: limits.limit(policy), used };
        Quota {
            per_key: usage(Policy::PerKey, used[0]),
            per_requester: usage(Policy::PerRequester, used[1]),
            new_requesters: usage(Policy::NewRequesters, used[2]),
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

/// The limits after a create (counting it), or as they stood when one refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_key: Usage,
    pub per_requester: Usage,
    /// The collection's requesters new to the window.
    pub new_requesters: Usage,
    /// Seconds until the window ends and every count starts again from zero.
    pub resets_in: u64,
}

impl Quota {
    /// The limit this create would pass: the requester's own first, then the collection's new requesters, then
    /// the key's.
    pub fn exceeded(&self) -> Option<Policy> {
        [Policy::PerRequester, Policy::NewRequesters, Policy::PerKey]
            .into_iter()
            .find(|p| self.usage(*p).remaining() == 0)
    }

    /// The limit closest to running out: the one the `RateLimit` header reports (the requester's on a tie).
    pub fn tightest(&self) -> (Policy, Usage) {
        [Policy::PerRequester, Policy::NewRequesters, Policy::PerKey]
            .into_iter()
            .map(|p| (p, self.usage(p)))
            .min_by_key(|(_, usage)| usage.remaining())
            .expect("three limits")
    }

    pub fn usage(&self, policy: Policy) -> Usage {
        match policy {
            Policy::PerKey => self.per_key,
            Policy::PerRequester => self.per_requester,
            Policy::NewRequesters => self.new_requesters,
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
        assert_eq!(count.entry(Policy::NewRequesters).id, "c1#n#7", "one count of new requesters per collection");
        assert_eq!(count.entry(Policy::PerKey).expires_at, 9 * WINDOW_SECONDS);
        assert_ne!(
            RateCount::new(&c1, "key1", "abcd", at + WINDOW_SECONDS).entry(Policy::PerKey),
            count.entry(Policy::PerKey)
        );
        assert_eq!(count.resets_in(), WINDOW_SECONDS - 10);
    }

    #[test]
    fn the_requester_limit_is_reported_first_and_the_tightest_limit_is_shown() {
        let quota = |key_used, requester_used, new_used| Quota {
            per_key: Usage { limit: 5, used: key_used },
            per_requester: Usage { limit: 3, used: requester_used },
            new_requesters: Usage { limit: 8, used: new_used },
            resets_in: 60,
        };
        assert_eq!(quota(1, 1, 1).exceeded(), None);
        assert_eq!(quota(5, 1, 1).exceeded(), Some(Policy::PerKey));
        assert_eq!(quota(5, 3, 1).exceeded(), Some(Policy::PerRequester));
        assert_eq!(quota(5, 1, 8).exceeded(), Some(Policy::NewRequesters), "before the key's");
        assert_eq!(quota(5, 3, 8).exceeded(), Some(Policy::PerRequester), "the requester's own first");
        assert_eq!(quota(4, 1, 1).tightest().0, Policy::PerKey);
        assert_eq!(quota(1, 1, 1).tightest().0, Policy::PerRequester);
        assert_eq!(quota(1, 1, 7).tightest().0, Policy::NewRequesters);
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
