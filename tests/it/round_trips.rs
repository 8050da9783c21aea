//! The AWS calls a create waits on, one after another, counted by an SDK interceptor on the real local
//! endpoints. A count, not a time: it fails if a change adds a sequential call to the create path.
//!
//! A warm create (the key cached) waits on 3: the three abuse-limit counts (together), the counter, the
//! transaction that writes the ticket with its e-mails. With an `Idempotency-Key`, 4: the claim comes first. A
//! cold process adds the key lookup. No SES call is made before the answer: e-mail leaves from the stream. The
//! pepper is read once, at start-up, not per request; beside it, small reads open DynamoDB's connections,
//! so that a cold process's first create does not wait on the TLS handshake.

use std::sync::Arc;

use crate::helpers::*;
use ticket_api::config::{Config, PepperSource, Upstream};
use ticket_api::driven::CallLog;

#[tokio::test]
async fn a_create_waits_on_dynamodb_only_three_round_trips_warm_four_with_an_idempotency_key() {
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let secret_id = pepper_secret(&sdk).await;
    let config = Config {
        tables: store.tables().clone(),
        sender_email: SENDER.into(),
        configuration_set: Some("ticket-api-test".into()),
        public_base_url: BASE_URL.into(),
        pepper: PepperSource::SecretsManager(secret_id),
        upstream: Upstream::default(),
        key_cache_ttl: ticket_api::domain::keys::DEFAULT_KEY_CACHE_TTL,
        delivery: stream_delivery(),
        send_timeout: ticket_api::config::DEFAULT_SEND_TIMEOUT,
        function_timeout: ticket_api::config::DEFAULT_FUNCTION_TIMEOUT,
        warm_up_connections: None,
        inbound_domain: None,
        inbound_store: None,
        webhooks_loopback: Default::default(),
        files: None,
        file_scanning: false,
    };
    let log = CallLog::default();
    let service = Arc::new(ticket_api::compose::service_on(&sdk, &config, Some(&log)).unwrap());
    service.warm_up().await.unwrap();
    let mut start_up: Vec<String> = log.calls().iter().map(|c| c.iam_action()).collect();
    start_up.sort();
    let mut expected_start_up = vec!["dynamodb:GetItem"; ticket_api::service::WARM_UP_CONNECTIONS];
    expected_start_up.push("secretsmanager:GetSecretValue");
    assert_eq!(
        start_up, expected_start_up,
        "start-up reads the pepper, once, and opens DynamoDB's connections with small reads"
    );
    assert_eq!(log.sequential_depth(), 1, "the two at the same time");
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service);
    let create = |user: &str, idempotency_key: Option<&str>| {
        let mut request =
            create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(user));
        if let Some(k) = idempotency_key {
            request.headers_mut().insert("idempotency-key", k.parse().unwrap());
        }
        request
    };
    let measure = |log: &CallLog| {
        let calls: Vec<String> = log.calls().iter().map(|c| c.iam_action()).collect();
        assert!(!calls.iter().any(|c| c.starts_with("ses:")), "no SES call before the answer: {calls:?}");
        assert!(!calls.iter().any(|c| c == "secretsmanager:GetSecretValue"), "the pepper is never read per request");
        (log.sequential_depth(), calls)
    };

    let mut figures = Vec::new();
    for (case, user, idempotency_key, budget) in [
        ("cold", "a@email.com", None, 4),
        ("warm", "b@email.com", None, 3),
        ("warm, Idempotency-Key", "c@email.com", Some("k-1"), 4),
    ] {
        log.clear();
        assert_eq!(call(&app, create(user, idempotency_key)).await.status, 201);
        let (depth, calls) = measure(&log);
        println!("sequential AWS round trips, {case}: {depth} ({calls:?})");
        assert!(
            depth <= budget,
            "a {case} create waits on {depth} sequential calls; the budget is {budget}: {calls:?}"
        );
        figures.push(depth);
    }
    // A cold process with an Idempotency-Key: another service, with nothing cached.
    let log_cold = CallLog::default();
    let cold = Arc::new(ticket_api::compose::service_on(&sdk, &config, Some(&log_cold)).unwrap());
    cold.warm_up().await.unwrap();
    let cold_app = ticket_api::driving::http::app::<lambda_http::Body, _>(cold);
    log_cold.clear();
    assert_eq!(call(&cold_app, create("d@email.com", Some("k-2"))).await.status, 201);
    let (depth, calls) = measure(&log_cold);
    println!("sequential AWS round trips, cold, Idempotency-Key: {depth} ({calls:?})");
    assert!(depth <= 5, "a cold create with an Idempotency-Key waits on {depth}; the budget is 5: {calls:?}");
    figures.push(depth);
    println!(
        "sequential AWS round trips per create: cold {} warm {} warm-idempotent {} cold-idempotent {}",
        figures[0], figures[1], figures[2], figures[3]
    );
}
