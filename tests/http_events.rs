//! The router, driven by every API Gateway event in events/ (HTTP API v2, REST v1 through a stage, function
//! URL), on in-memory ports: each gets the status and code of the contract, in every shape.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn every_event_gets_the_status_and_code_the_contract_gives_it() {
    let expected = expected();
    let files = event_files();
    assert!(files.len() >= 45, "events/ holds every outcome in three shapes, found {}", files.len());
    let app = memory_app();
    let mut created = Vec::new();
    for file in &files {
        let outcome =
            expected.events.get(file).unwrap_or_else(|| panic!("{file} has no entry in events/expected.json"));
        let reply = call(&app.app, event(file)).await;
        assert_eq!(reply.status.as_u16(), outcome.status, "{file}: {:?}", reply.body);
        assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()), "{file}: no x-request-id");
        match &outcome.code {
            None => {
                assert_eq!(reply.header("content-type"), Some("application/json"), "{file}");
                created.push(reply.body["ticketNumber"].as_u64().expect("integer ticketNumber"));
            }
            Some(code) => {
                assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{file}");
                assert_eq!(reply.code(), Some(code.as_str()), "{file}: {:?}", reply.body);
                assert_eq!(reply.body["status"].as_u64(), Some(outcome.status as u64), "{file}");
                assert_eq!(reply.body["requestId"].as_str(), reply.header("x-request-id"), "{file}");
                for field in ["type", "title", "detail"] {
                    assert!(reply.body[field].is_string(), "{file}: problem without {field}");
                }
            }
        }
    }
    // Six created events, numbered in the order they came, with no number taken by a refused one.
    assert_eq!(created, (1..=created.len() as u64).collect::<Vec<_>>());
    assert_eq!(created.len(), 6);
    assert_eq!(app.store.tickets().len(), 6);
}

#[tokio::test]
async fn created_answers_exactly_the_customers_shape_with_a_location() {
    let app = memory_app();
    let reply = call(&app.app, event("http-api.created.json")).await;
    let url = reply.body["privateUrl"].as_str().unwrap();
    assert_eq!(reply.raw, format!(r#"{{"ticketNumber":1,"privateUrl":"{url}"}}"#));
    assert!(url.starts_with("https://support.example.com/ticket/demo-collection/1?key="), "{url}");
    assert_eq!(url.rsplit('=').next().unwrap().len(), 32, "128-bit ticket key in hex");
    assert_eq!(reply.header("location"), Some(url));
}

#[tokio::test]
async fn the_rest_api_stage_is_not_part_of_the_route() {
    let app = memory_app();
    let request = event("rest-api.created.json");
    assert_eq!(request.uri().path(), "/prod/ticket/demo-collection", "lambda_http puts the stage in the path");
    assert_eq!(call(&app.app, request).await.status, 201);
}

#[tokio::test]
async fn a_known_path_with_another_method_lists_the_allowed_one() {
    let app = memory_app();
    let reply = call(&app.app, event("http-api.wrong-method.json")).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[tokio::test]
async fn a_callers_own_request_id_is_replaced() {
    let app = memory_app();
    let mut request = event("http-api.missing-key.json");
    request.headers_mut().insert("x-request-id", "forged".parse().unwrap());
    let reply = call(&app.app, request).await;
    assert_ne!(reply.header("x-request-id"), Some("forged"));
    assert_ne!(reply.body["requestId"], Value::from("forged"));
}

#[tokio::test]
async fn validation_lists_every_broken_field_at_once() {
    let app = memory_app();
    let reply = call(&app.app, event("http-api.validation-failed.json")).await;
    let fields: Vec<(&str, &str)> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [("userEmail", "invalid_email"), ("title", "blank"), ("message", "required"), ("usermail", "unknown_field")]
    );
}

#[tokio::test]
async fn invalid_json_says_where() {
    let app = memory_app();
    let reply = call(&app.app, event("http-api.invalid-json.json")).await;
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains("line 1, column 31"), "{detail}");
}

#[tokio::test]
async fn a_body_of_exactly_128_kib_is_read_and_one_byte_more_is_413() {
    let app = memory_app();
    let limit = ticket_api::domain::new_ticket::MAX_BODY_BYTES;
    let body = good_body("user@email.com");
    let padded = format!("{body}{}", " ".repeat(limit - body.len()));
    assert_eq!(padded.len(), limit);
    let reply =
        call(&app.app, create_request("demo-collection", Some(&expected().keys.granted), "application/json", &padded))
            .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let over = format!("{padded} ");
    let reply =
        call(&app.app, create_request("demo-collection", Some(&expected().keys.granted), "application/json", &over))
            .await;
    assert_eq!((reply.status.as_u16(), reply.code()), (413, Some("payload_too_large")));
    assert_eq!(app.store.tickets().len(), 1, "the refused body took no number");
}

#[tokio::test]
async fn a_key_is_checked_before_anything_about_the_body_is_said() {
    let app = memory_app();
    for (key, body) in
        [(None, "not json"), (Some("tkapi_nonsense"), "{}"), (Some(expected().keys.revoked.as_str()), "")]
    {
        let reply = call(&app.app, create_request("demo-collection", key, "text/plain", body)).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (401, Some("unauthorized")), "{key:?}");
        assert_eq!(reply.body["detail"], "A valid API key is required in the x-api-key header.", "one message for all");
    }
}

#[tokio::test]
async fn collection_problems_are_reported_before_body_problems() {
    let app = memory_app();
    let key = expected().keys.granted;
    for (collection, status, code) in
        [("gone-collection", 404, "collection_not_found"), ("disabled-collection", 403, "ticketing_disabled")]
    {
        let reply = call(&app.app, create_request(collection, Some(&key), "text/plain", "{")).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (status, Some(code)), "{collection}");
    }
}

#[tokio::test]
async fn a_doubled_api_key_header_is_refused() {
    let app = memory_app();
    let key = expected().keys.granted;
    let mut request = create_request("demo-collection", Some(&key), "application/json", &good_body("user@email.com"));
    request.headers_mut().append("x-api-key", key.parse().unwrap());
    assert_eq!(call(&app.app, request).await.status, 401);
}

#[tokio::test]
async fn a_store_outage_is_a_503_with_retry_after_and_no_email() {
    let app = memory_app();
    app.store.set_unavailable(true);
    let reply = call(&app.app, event("http-api.created.json")).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (503, Some("unavailable")));
    assert_eq!(reply.header("retry-after"), Some("2"));
    assert!(app.mailer.sent().is_empty());
}

#[tokio::test]
async fn an_unreadable_pepper_is_a_503_never_a_401_and_service_resumes_when_it_is_back() {
    let app = memory_app();
    app.secrets.set_unavailable(true);
    let reply = call(&app.app, event("http-api.created.json")).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (503, Some("unavailable")));
    app.secrets.set_unavailable(false);
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    assert_eq!(app.secrets.reads(), 2, "read until it worked once, then never again");
}

#[tokio::test]
async fn a_failed_email_never_fails_the_ticket_and_is_recorded() {
    let app = memory_app();
    app.mailer.fail_for("support@example.com");
    let reply = call(&app.app, event("http-api.created.json")).await;
    assert_eq!(reply.status, 201);
    let ticket = &app.store.tickets()[0];
    let statuses: Vec<_> = ticket.emails.iter().map(|e| (e.to.as_str(), e.status)).collect();
    use ticket_api::domain::DeliveryStatus::*;
    assert_eq!(statuses, [("user@email.com", Sent), ("support@example.com", Failed)]);
    assert_eq!(ticket.pending_private_url, None, "the requester got the link: it is not kept");
}

#[tokio::test]
async fn a_number_already_used_is_a_500_with_an_opaque_body() {
    let app = memory_app();
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    // Put the counter back, as a restored backup might: the store refuses to overwrite ticket 1.
    let mut collection =
        app.store.collection(&ticket_api::domain::CollectionId::parse("demo-collection").unwrap()).unwrap();
    collection.last_ticket_number = 0;
    app.store.add_collection(collection);
    let reply = call(&app.app, event("http-api.created.json")).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (500, Some("internal")));
    assert!(!reply.raw.contains("already exists"), "no internals in the body: {}", reply.raw);
    assert_eq!(app.store.tickets().len(), 1);
}

#[tokio::test]
async fn a_revoked_key_is_refused_once_the_key_cache_ttl_has_passed() {
    use std::sync::Arc;
    use ticket_api::memory::{MemoryMailer, MemorySecrets, MemoryStore};
    let store = Arc::new(MemoryStore::default());
    for c in fixture_collections(&[]) {
        store.add_collection(c);
    }
    for (hash, record) in fixture_keys(&pepper()) {
        store.add_key(&hash, record);
    }
    let ttl = std::time::Duration::from_millis(300);
    let service = ticket_api::service::TicketService::new(
        store.clone(),
        Arc::new(MemoryMailer::default()),
        Arc::new(MemorySecrets::new(PEPPER)),
        BASE_URL,
    )
    .with_key_cache_ttl(ttl);
    let app = ticket_api::http::app::<lambda_http::Body, _, _, _>(Arc::new(service));
    let create = || {
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body("u@email.com"))
    };

    assert_eq!(call(&app, create()).await.status, 201);
    let calls_before = store.calls();
    assert_eq!(call(&app, create()).await.status, 201);
    assert_eq!(store.calls() - calls_before, 3, "a cached key costs no lookup: counter, ticket, e-mail record");
    store.revoke("granted");
    assert_eq!(call(&app, create()).await.status, 201, "within the TTL the warm process still trusts the key");
    tokio::time::sleep(ttl).await;
    assert_eq!(call(&app, create()).await.code(), Some("unauthorized"), "after the TTL the revocation holds");
}
