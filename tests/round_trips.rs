//! The AWS calls a create waits on, one after another, counted by an SDK interceptor on the real local
//! endpoints. A count, not a time: it fails if a change adds a sequential call to the create path.
//! Targets: a process that has seen the key waits on at most 4 (counter, ticket, e-mails, their record);
//! a cold one at most 5 (plus the key lookup). The pepper is read once, at start-up, not per request.

mod common;

use std::sync::Arc;

use common::*;
use ticket_api::aws::CallLog;
use ticket_api::config::{Config, PepperSource, Upstream};

#[tokio::test]
async fn a_create_waits_on_at_most_five_sequential_calls_cold_and_four_warm() {
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let secret_id = pepper_secret(&sdk).await;
    let config = Config {
        tables: store.tables().clone(),
        sender_email: SENDER.into(),
        public_base_url: BASE_URL.into(),
        pepper: PepperSource::SecretsManager(secret_id),
        upstream: Upstream::default(),
        key_cache_ttl: ticket_api::service::DEFAULT_KEY_CACHE_TTL,
    };
    let log = CallLog::default();
    let service = Arc::new(ticket_api::aws::service_on(&sdk, &config, Some(&log)).unwrap());
    service.warm_up().await.unwrap();
    let start_up: Vec<String> = log.calls().iter().map(|c| c.iam_action()).collect();
    assert_eq!(start_up, ["secretsmanager:GetSecretValue"], "start-up reads the pepper, once");
    let app = ticket_api::http::app::<lambda_http::Body, _, _, _>(service);
    let create = |user: &str| {
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(user))
    };

    log.clear();
    assert_eq!(call(&app, create("a@email.com")).await.status, 201);
    let cold = log.sequential_depth();
    let cold_calls = log.calls().len();

    log.clear();
    assert_eq!(call(&app, create("b@email.com")).await.status, 201);
    let warm = log.sequential_depth();
    let warm_calls: Vec<String> = log.calls().iter().map(|c| c.iam_action()).collect();

    println!("sequential AWS round trips per create: cold {cold} ({cold_calls} calls), warm {warm} ({warm_calls:?})");
    assert!(cold <= 5, "a cold create waits on {cold} sequential calls; the budget is 5");
    assert!(warm <= 4, "a warm create waits on {warm} sequential calls; the budget is 4: {warm_calls:?}");
    assert!(!warm_calls.iter().any(|c| c == "secretsmanager:GetSecretValue"), "the pepper is never read per request");
    assert_eq!(warm_calls.len(), 5, "counter, ticket, two e-mails, their record");
}
