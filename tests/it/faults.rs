//! Faults on the real local endpoints: DynamoDB that hangs (past a call's timeout, or past the whole request's
//! budget), throttles, or fails a write after the number was taken, and Secrets Manager down at start-up. Each
//! test says what the caller got, and checks afterwards what DynamoDB Local and the SES stand-in hold: nothing
//! half-written, no e-mail for a create that failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::helpers::*;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use ticket_api::config::Upstream;
use ticket_api::domain::{CollectionId, TicketStatus};
use ticket_api::driven::{DynamoStore, PepperProvider};
use ticket_api::service::TicketService;
use tokio::net::TcpListener;

/// An endpoint on 127.0.0.1 that accepts connections and never answers: a dependency that hangs.
async fn hanging_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// A DynamoDB endpoint on 127.0.0.1 that answers every request as throttled, counting the requests.
async fn throttling_dynamodb() -> (String, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::BAD_REQUEST,
                [("content-type", "application/x-amz-json-1.0")],
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#,
            )
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, requests)
}

/// Fails every DynamoDB `TransactWriteItems` while it is on: a ticket write that fails after the number was taken.
#[derive(Debug, Clone, Default)]
struct FailPutItem(Arc<AtomicBool>);

impl Intercept for FailPutItem {
    fn name(&self) -> &'static str {
        "FailPutItem"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let put = cfg.load::<Metadata>().is_some_and(|m| m.name() == "TransactWriteItems");
        if put && self.0.load(Ordering::SeqCst) { Err("injected: the ticket write fails".into()) } else { Ok(()) }
    }
}

/// The SDK configuration the function ships with: its default timeouts and retries.
async fn shipped_sdk() -> (SdkConfig, Upstream) {
    stack_var("AWS_ENDPOINT_URL_DYNAMODB");
    let upstream = Upstream::default();
    (ticket_api::compose::sdk_config(upstream.clone()).await, upstream)
}

fn app_on(store: DynamoStore, sdk: &SdkConfig) -> ticket_api::driving::http::App<lambda_http::Body> {
    ticket_api::driving::http::app(Arc::new(local_service(store, sdk)))
}

fn create(requester: &str) -> axum::http::Request<lambda_http::Body> {
    create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(requester))
}

fn assert_unavailable(reply: &Reply) {
    assert_eq!((reply.status.as_u16(), reply.code()), (503, Some("unavailable")), "{}", reply.raw);
    assert_eq!(reply.header("retry-after"), Some("2"), "a 503 says when to retry");
}

#[tokio::test]
async fn dynamodb_that_hangs_is_a_503_within_the_configured_timeout_with_no_email() {
    let (sdk, upstream) = shipped_sdk().await;
    let healthy = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let app = app_on(store_at(&sdk, &hanging_endpoint().await, &healthy), &sdk);
    let requester = format!("{}@example.com", unique("hang"));

    let started = Instant::now();
    let reply = call(&app, create(&requester)).await;
    let waited = started.elapsed();
    assert_unavailable(&reply);
    // Bounded by the operation timeout (4 s by default), not by the Lambda's 29 s: 1.5 s of slack for a busy
    // machine. The lower bound shows the timeout, not something else, ended the wait.
    assert!(waited < upstream.operation + Duration::from_millis(1_500), "waited {waited:?}");
    assert!(waited >= upstream.attempt, "waited {waited:?}: gave up before one attempt timed out");
    assert!(healthy.undelivered(None).await.unwrap().is_empty(), "no e-mail owed for a create that failed");
    let demo = CollectionId::parse("demo-collection").unwrap();
    assert_eq!(healthy.list_page(&demo, TicketStatus::Open, 10, None).await.unwrap().tickets.len(), 0);
    println!("DynamoDB hanging: 503 after {waited:?} (operation timeout {:?})", upstream.operation);
}

#[tokio::test]
async fn calls_that_outlast_the_request_budget_are_a_503_at_the_budget_with_no_email() {
    let (sdk, _) = shipped_sdk().await;
    let healthy = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    // Each call may wait a minute: only the request's budget can end the wait.
    let patient =
        Upstream { attempt: Duration::from_secs(60), operation: Duration::from_secs(60), ..Upstream::default() };
    let patient_sdk = ticket_api::compose::sdk_config(patient).await;
    let store = store_at(&patient_sdk, &hanging_endpoint().await, &healthy);
    let budget = Duration::from_secs(2);
    let app = ticket_api::driving::http::app_within(Arc::new(local_service(store, &patient_sdk)), budget);
    let requester = format!("{}@example.com", unique("budget"));

    let started = Instant::now();
    let reply = call(&app, create(&requester)).await;
    let waited = started.elapsed();
    assert_unavailable(&reply);
    assert!(reply.raw.contains("requestId"), "the budget's 503 is the contract's problem: {}", reply.raw);
    assert!(waited >= budget && waited < budget + Duration::from_millis(1_500), "waited {waited:?}");
    assert!(healthy.undelivered(None).await.unwrap().is_empty(), "no e-mail owed for a create that failed");
    let demo = CollectionId::parse("demo-collection").unwrap();
    assert_eq!(healthy.list_page(&demo, TicketStatus::Open, 10, None).await.unwrap().tickets.len(), 0);
    println!("calls of up to 60 s: 503 after {waited:?} (budget {budget:?})");
}

#[tokio::test]
async fn dynamodb_throttling_is_retried_then_a_503_with_no_email() {
    let (sdk, upstream) = shipped_sdk().await;
    let healthy = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let (url, requests) = throttling_dynamodb().await;
    let app = app_on(store_at(&sdk, &url, &healthy), &sdk);
    let requester = format!("{}@example.com", unique("throttled"));

    let started = Instant::now();
    let reply = call(&app, create(&requester)).await;
    let waited = started.elapsed();
    assert_unavailable(&reply);
    let tries = requests.load(Ordering::SeqCst);
    assert!(
        (2..=upstream.max_attempts as usize).contains(&tries),
        "{tries} attempts: throttling is retried, boundedly"
    );
    assert!(waited < upstream.operation + Duration::from_millis(1_500), "waited {waited:?}");
    assert!(healthy.undelivered(None).await.unwrap().is_empty(), "no e-mail owed for a create that failed");
    println!("DynamoDB throttling: {tries} attempts, then 503 after {waited:?}");
}

#[tokio::test]
async fn a_number_taken_whose_ticket_write_fails_is_a_gap_never_a_duplicate() {
    let (sdk, _) = shipped_sdk().await;
    let healthy = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let failing = FailPutItem::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(failing.clone()).build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), healthy.tables().clone());
    let app = app_on(store, &sdk);
    let demo = CollectionId::parse("demo-collection").unwrap();
    let first = format!("{}@example.com", unique("first"));
    let second = format!("{}@example.com", unique("second"));

    failing.0.store(true, Ordering::SeqCst);
    assert_unavailable(&call(&app, create(&first)).await);
    let counter = healthy.get_collection(&demo).await.unwrap().unwrap().last_ticket_number;
    assert_eq!(counter, 1, "the number was taken before the write failed");
    assert!(healthy.get_ticket(&demo, 1).await.unwrap().is_none(), "no ticket 1 was written");
    assert!(healthy.undelivered(None).await.unwrap().is_empty(), "no e-mail owed for a ticket that was not stored");

    failing.0.store(false, Ordering::SeqCst);
    let reply = call(&app, create(&second)).await;
    assert_eq!(reply.body["ticketNumber"], 2, "the next create gets the next number: {}", reply.raw);
    let numbers: Vec<u64> = healthy
        .list_page(&demo, TicketStatus::Open, 10, None)
        .await
        .unwrap()
        .tickets
        .iter()
        .map(|t| t.ticket_number)
        .collect();
    assert_eq!(numbers, [2], "1 is a gap (docs/api.md, \"Decisions where the contract is silent\"), never reused");
    let owed: Vec<u64> = healthy.undelivered(None).await.unwrap().iter().map(|m| m.ticket_number).collect();
    assert_eq!(owed, [2, 2], "the e-mails owed are ticket 2's, none for the ticket that was not written");
}

#[tokio::test]
async fn secrets_manager_down_at_start_is_a_503_never_a_401_until_it_is_back() {
    let (sdk, _) = shipped_sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let secret_id = pepper_secret(&sdk).await;
    let switch = Switch::start(&stack_var("AWS_ENDPOINT_URL_SECRETS_MANAGER"), false).await;
    let conf = aws_sdk_secretsmanager::config::Builder::from(&sdk).endpoint_url(&switch.url).build();
    let pepper = PepperProvider::SecretsManager { client: aws_sdk_secretsmanager::Client::from_conf(conf), secret_id };
    let service = TicketService::new(local_ports(store.clone(), &sdk).with_secrets(pepper), BASE_URL);
    assert!(service.warm_up().await.is_err(), "the pepper cannot be read at start-up");
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(Arc::new(service));
    let requester = format!("{}@example.com", unique("pepper"));

    for _ in 0..2 {
        assert_unavailable(&call(&app, create(&requester)).await);
    }
    let demo = CollectionId::parse("demo-collection").unwrap();
    assert_eq!(store.get_collection(&demo).await.unwrap().unwrap().last_ticket_number, 0, "no number taken");
    assert!(store.undelivered(None).await.unwrap().is_empty(), "no e-mail owed");

    switch.set(true);
    let reply = call(&app, create(&requester)).await;
    assert_eq!((reply.status.as_u16(), reply.body["ticketNumber"].as_u64()), (201, Some(1)), "{}", reply.raw);
    println!("Secrets Manager down at start: 2 creates answered 503, then 201 from the same process once it was back");
}

#[tokio::test]
async fn a_collections_table_restored_behind_its_tickets_costs_no_500_and_no_duplicate() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &[]).await;
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(Arc::new(local_service(store.clone(), &sdk)));
    let create = |user: &str| {
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(user))
    };
    for i in 0..3 {
        assert_eq!(call(&app, create(&format!("u{i}@email.com"))).await.status, 201);
    }
    // The collections table, restored from a backup taken before the three tickets.
    store
        .client()
        .update_item()
        .table_name(&store.tables().collections)
        .key("collectionId", S("demo-collection".into()))
        .update_expression("SET lastTicketNumber = :zero")
        .expression_attribute_values(":zero", N("0".into()))
        .send()
        .await
        .unwrap();
    let reply = call(&app, create("after-restore@email.com")).await;
    assert_eq!((reply.status.as_u16(), reply.body["ticketNumber"].as_u64()), (201, Some(4)), "{}", reply.raw);
    let demo = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    let numbers: Vec<u64> = store
        .list_page(&demo, TicketStatus::Open, 10, None)
        .await
        .unwrap()
        .tickets
        .iter()
        .map(|t| t.ticket_number)
        .collect();
    assert_eq!(numbers, [4, 3, 2, 1], "four tickets, none overwritten");
    assert_eq!(call(&app, create("next@email.com")).await.body["ticketNumber"], 5);
    println!("a counter restored to 0 behind tickets 1..=3: the next create answered 201 with number 4, then 5");
}
