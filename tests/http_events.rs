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
