//! The events/ fixtures: API Gateway events with the outcome each gets (`events/expected.json`), the function's
//! other events, and the collections and keys they name.

use std::collections::BTreeMap;

use axum::http::Request;
use serde::Deserialize;
use serde_json::Value;
use ticket_api::domain::{
    ApiKey, ApiKeyHash, ApiKeyRecord, Collection, CollectionId, CollectionName, Email, Now, Pepper, RateLimits,
};

pub const PEPPER: &str = "pepper-for-tests-only-0123456789abcdef";
pub const BASE_URL: &str = "https://support.example.com";
pub const SENDER: &str = "tickets@example.com";
/// Where the tests' tickets receive replies by e-mail.
pub const INBOUND_DOMAIN: &str = "reply.support.example.com";

#[derive(Deserialize)]
pub struct Expected {
    pub keys: FixtureKeys,
    /// The API Gateway events, with the status and code each gets.
    pub events: BTreeMap<String, Outcome>,
    /// The function's other events (stream batches, the schedule), with its answer.
    pub work: BTreeMap<String, Work>,
    /// Events of sources the function has no door for, with why each is refused.
    pub refused: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Work {
    pub answer: Option<Value>,
    pub does: String,
}

#[derive(Deserialize)]
pub struct FixtureKeys {
    pub granted: String,
    pub revoked: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Outcome {
    pub status: u16,
    pub code: Option<String>,
}

pub fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

pub fn expected() -> Expected {
    let text = std::fs::read_to_string(events_dir().join("expected.json")).expect("events/expected.json");
    serde_json::from_str(&text).expect("events/expected.json parses")
}

/// Every API Gateway event file of events/, sorted.
pub fn event_files() -> Vec<String> {
    let names = every_event_file();
    let expected = expected();
    names.into_iter().filter(|n| expected.events.contains_key(n)).collect()
}

/// Every event file in events/, sorted, the manifest excluded.
pub fn every_event_file() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/ exists")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "expected.json")
        .collect();
    names.sort();
    names
}

/// One of the function's other events (a stream batch, the schedule), as JSON.
pub fn work_event(name: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// An API Gateway event file as the request lambda_http hands to the router.
pub fn event(name: &str) -> Request<lambda_http::Body> {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

/// The fixture collections' abuse limits: checked on every create, but far above what any test creates, so
/// that only the abuse-limit tests (which set their own) reach them.
pub const FIXTURE_LIMITS: RateLimits = RateLimits {
    per_key: 1_000_000,
    per_requester: 1_000_000,
    per_ticket_replies: 1_000_000,
    new_requesters: 1_000_000,
    per_ticket_team_link: 1_000_000,
};

/// The collections the events name: one to create tickets in, one with ticketing off, one the key is not
/// granted. `gone-collection` is granted but does not exist.
pub fn fixture_collections(notify: &[&str]) -> Vec<Collection> {
    let collection = |id: &str, name: &str, enabled: bool| Collection {
        collection_id: CollectionId::parse(id).unwrap(),
        name: CollectionName::parse(name).unwrap(),
        notify_emails: notify.iter().map(|e| Email::parse(e).unwrap()).collect(),
        ticketing_enabled: enabled,
        last_ticket_number: 0,
        created_at: now().rfc3339(),
        rate_limits: FIXTURE_LIMITS,
        team_link_generation: 0,
        webhooks: Default::default(),
        member_generations: Default::default(),
        shared_links_mailed: false,
    };
    vec![
        collection("demo-collection", "Demo Support", true),
        collection("disabled-collection", "Closed Inbox", false),
        collection("other-collection", "Someone Else", true),
    ]
}

/// The API keys the events use, hashed with `pepper`.
pub fn fixture_keys(pepper: &Pepper) -> Vec<(ApiKeyHash, ApiKeyRecord)> {
    let keys = expected().keys;
    let record = |key: &ApiKey, id: &str, collections: &[&str], revoked: bool| ApiKeyRecord {
        key_id: id.to_owned(),
        name: format!("fixture {id}"),
        last4: key.last4(),
        collections: collections.iter().map(|c| CollectionId::parse(c).unwrap()).collect(),
        created_at: now().rfc3339(),
        revoked_at: revoked.then(|| now().rfc3339()),
    };
    let granted = ApiKey::parse(&keys.granted).expect("fixture key is well-formed");
    let revoked = ApiKey::parse(&keys.revoked).expect("fixture key is well-formed");
    vec![
        (
            pepper.hash(&granted),
            record(&granted, "granted", &["demo-collection", "disabled-collection", "gone-collection"], false),
        ),
        (pepper.hash(&revoked), record(&revoked, "revoked", &["demo-collection"], true)),
    ]
}

pub fn pepper() -> Pepper {
    Pepper::new(PEPPER.to_owned().into()).unwrap()
}

/// The system's time now (what the deployed service's clock reads).
pub fn now() -> Now {
    use ticket_api::ports::Clock as _;
    ticket_api::driven::SystemClock.now()
}
