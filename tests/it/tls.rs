//! TLS as the function meets it on AWS, which the plain-HTTP stand-ins are not: a TLS front with a test CA
//! before DynamoDB Local. The client trusts the bundled Amazon roots and the certificates of `AWS_CA_BUNDLE`
//! (a TLS-inspecting proxy's CA), nothing else; and start-up opens the TLS connections a create uses at once,
//! so that the first create after a cold start makes no handshake.

use std::sync::Arc;

use crate::helpers::*;
use ticket_api::config::{Env, Upstream};
use ticket_api::domain::CollectionId;
use ticket_api::ports::CollectionStore;

/// The SDK configuration of a process whose environment names `ca_file` in `AWS_CA_BUNDLE` (or nothing).
async fn sdk_trusting(ca_file: Option<&CaFile>) -> aws_config::SdkConfig {
    let path = ca_file.map(|f| f.path.display().to_string());
    let upstream = Env(|name: &str| (name == "AWS_CA_BUNDLE").then(|| path.clone()).flatten()).upstream().unwrap();
    assert_eq!(upstream.ca_bundle.is_some(), ca_file.is_some());
    ticket_api::compose::sdk_config(Upstream { max_attempts: 1, ..upstream }).await
}

#[tokio::test]
async fn the_certificates_of_aws_ca_bundle_are_trusted_beside_the_amazon_roots_and_no_others() {
    let tables = seeded_dynamo_store(&sdk().await, &["team@example.com"]).await;
    let ca = TestCa::new();
    let front = ca.front(&stack_var("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let demo = CollectionId::parse("demo-collection").unwrap();

    let trusted = ca.file();
    let store = store_at(&sdk_trusting(Some(&trusted)).await, &front.url, &tables);
    let read = store.get_collection(&demo).await.expect("the CA of AWS_CA_BUNDLE is trusted");
    assert_eq!(read.unwrap().name.as_str(), "Demo Support", "through TLS to DynamoDB Local");
    assert_eq!(front.handshakes(), 1);

    let untrusting = store_at(&sdk_trusting(None).await, &front.url, &tables);
    let refused = untrusting.get_collection(&demo).await.expect_err("without the bundle: the Amazon roots only");
    println!("without AWS_CA_BUNDLE: {refused:#}");
    let other = TestCa::new().file();
    let wrong = store_at(&sdk_trusting(Some(&other)).await, &front.url, &tables);
    assert!(wrong.get_collection(&demo).await.is_err(), "another CA's bundle does not vouch for this front");
    assert_eq!(front.handshakes(), 1, "neither completed a handshake");
}

#[tokio::test]
async fn start_up_opens_the_tls_connections_a_cold_create_uses_so_that_the_create_makes_no_handshake() {
    let tables = seeded_dynamo_store(&sdk().await, &["team@example.com"]).await;
    let ca = TestCa::new();
    let front = ca.front(&stack_var("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let trusted = ca.file();
    let sdk = sdk_trusting(Some(&trusted)).await;
    let service = Arc::new(ticket_api::service::TicketService::new(
        local_ports(store_at(&sdk, &front.url, &tables), &sdk),
        BASE_URL,
    ));
    service.warm_up().await.unwrap();
    let opened = front.handshakes();
    println!("TLS handshakes with DynamoDB at start-up: {opened}");
    assert_eq!(opened, ticket_api::service::WARM_UP_CONNECTIONS);

    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service);
    let request = create_request(
        "demo-collection",
        Some(&expected().keys.granted),
        "application/json",
        &good_body("u@email.com"),
    );
    assert_eq!(call(&app, request).await.status, 201, "a cold create: the key and the collection not cached");
    println!("TLS handshakes in the first create after start-up: {}", front.handshakes() - opened);
    assert_eq!(front.handshakes(), opened, "the first create made no handshake");
}
