//! What the benchmarks share: where results go, and percentiles.
#![allow(dead_code)]

use std::io::Write;
use std::time::Duration;

use ticket_api::config::Tables;
use ticket_api::domain::{
    ApiKey, ApiKeyHash, ApiKeyRecord, Collection, CollectionId, CollectionName, Email, Pepper, RateLimits,
};
use ticket_api::driven::DynamoStore;
use ticket_api::ports::AdminStore;

pub const PEPPER: &str = "pepper-for-benchmarks-only-0123456789ab";

/// A collection that takes tickets and notifies one address, and a key granted it (with its stored hash).
pub fn fixture(collection: &str, key: &ApiKey) -> (Collection, ApiKeyHash, ApiKeyRecord) {
    let id = CollectionId::parse(collection).unwrap();
    let created_at = "2026-11-25T00:00:00Z".to_owned();
    let record = ApiKeyRecord {
        key_id: "bench".into(),
        name: "bench".into(),
        last4: key.last4(),
        collections: vec![id.clone()],
        created_at: created_at.clone(),
        revoked_at: None,
    };
    let collection = Collection {
        collection_id: id,
        name: CollectionName::parse("Bench Support").unwrap(),
        notify_emails: vec![Email::parse("team@example.com").unwrap()],
        ticketing_enabled: true,
        last_ticket_number: 0,
        created_at,
        // Far above what a benchmark creates: the limits are checked on every create but never reached.
        rate_limits: RateLimits {
            per_key: u32::MAX,
            per_requester: u32::MAX,
            per_ticket_replies: u32::MAX,
            new_requesters: u32::MAX,
            per_ticket_team_link: u32::MAX,
        },
        team_link_generation: 0,
        webhooks: Default::default(),
        member_generations: Default::default(),
        shared_links_mailed: false,
    };
    (collection, Pepper::new(PEPPER.to_owned().into()).unwrap().hash(key), record)
}

/// New tables on the local DynamoDB (named after `prefix` and a random run id), seeded with `fixture`.
pub async fn seeded_store(sdk: &aws_config::SdkConfig, prefix: &str, collection: &str, key: &ApiKey) -> DynamoStore {
    let run = format!("{prefix}-{}", ticket_api::domain::random::random_hex::<4>());
    let tables = Tables {
        api_keys: format!("{run}-keys"),
        collections: format!("{run}-collections"),
        tickets: format!("{run}-tickets"),
        limits: format!("{run}-limits"),
        idempotency: format!("{run}-idempotency"),
        suppressions: format!("{run}-suppressions"),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), tables);
    store.create_tables().await.unwrap();
    let (collection, hash, record) = fixture(collection, key);
    store.insert_collection(&collection).await.unwrap();
    store.insert_key(&hash, &record).await.unwrap();
    store
}

/// Appends one figure to target/bench-results.jsonl, which `make bench` turns into BENCHMARKS.md.
pub fn record(figure: serde_json::Value) {
    println!("BENCH {figure}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results.jsonl");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(file, "{figure}").unwrap();
}

/// The p-th percentile (0 to 100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

pub fn micros(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1_000.0 * 10.0).round() / 10.0
}

pub fn millis(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1_000_000.0 * 100.0).round() / 100.0
}

/// `cargo bench` passes `--bench`; anything else (a stray `cargo test --benches`) only checks it starts.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}
