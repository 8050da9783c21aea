//! `Idempotency-Key` (IETF httpapi draft): a repeat answers the first create again and takes no number and sends
//! no e-mail; the same key with another body is 422; while the first runs, a repeat waits, then 409; a refused
//! request is not remembered. In memory here; against DynamoDB Local in `end_to_end`.

use crate::helpers::*;
use axum::http::Request;
use ticket_api::domain::{IdempotencyRecord, NewTicket};

fn with_key(collection: &str, idempotency_key: &str, body: &str) -> Request<lambda_http::Body> {
    let mut request = create_request(collection, Some(&expected().keys.granted), "application/json", body);
    request.headers_mut().insert("idempotency-key", idempotency_key.parse().unwrap());
    request
}

#[tokio::test]
async fn a_repeat_replays_the_first_answer_takes_no_number_and_sends_no_email() {
    let app = memory_app();
    let first = call(&app.app, with_key("demo-collection", "order-42", &good_body("user@email.com"))).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same request, written differently (key order, padding the contract trims): the same request.
    let same = r#"{"message": "Please explain about the pricing plans", "title": " Enquiry about pricing ", "userEmail": "user@email.com"}"#;
    let again = call(&app.app, with_key("demo-collection", "order-42", same)).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.raw, first.raw, "same ticketNumber, same privateUrl");
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.store.tickets().len(), 1);
    assert_eq!(app.store.mail().len(), 2, "the first create owes one requester e-mail and one notification");
    app.deliver().await;
    assert_eq!(app.mailer.sent().len(), 2, "one requester e-mail and one notification, once");

    // Another key is another ticket, and the key is scoped to its collection.
    let other = call(&app.app, with_key("demo-collection", "order-43", &good_body("user@email.com"))).await;
    assert_eq!(other.body["ticketNumber"], 2);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_idempotency_key_reused() {
    let app = memory_app();
    assert_eq!(call(&app.app, with_key("demo-collection", "k1", &good_body("a@email.com"))).await.status, 201);
    let reply = call(&app.app, with_key("demo-collection", "k1", &good_body("b@email.com"))).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (422, Some("idempotency_key_reused")));
    assert_eq!(app.store.tickets().len(), 1);
}

#[tokio::test]
async fn a_malformed_key_is_400_and_nothing_is_created() {
    let app = memory_app();
    for bad in ["", &"k".repeat(256), "caf\u{e9}"] {
        let mut request = create_request(
            "demo-collection",
            Some(&expected().keys.granted),
            "application/json",
            &good_body("u@email.com"),
        );
        request.headers_mut().insert("idempotency-key", axum::http::HeaderValue::from_bytes(bad.as_bytes()).unwrap());
        let reply = call(&app.app, request).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (400, Some("invalid_idempotency_key")), "{bad:?}");
    }
    let mut doubled = with_key("demo-collection", "k", &good_body("u@email.com"));
    doubled.headers_mut().append("idempotency-key", "k2".parse().unwrap());
    assert_eq!(call(&app.app, doubled).await.code(), Some("invalid_idempotency_key"));
    assert!(app.store.tickets().is_empty());
}

#[tokio::test]
async fn a_request_refused_by_validation_is_not_remembered() {
    let app = memory_app();
    let refused = call(&app.app, with_key("demo-collection", "fix-me", r#"{"userEmail": "nope"}"#)).await;
    assert_eq!(refused.status, 422);
    let fixed = call(&app.app, with_key("demo-collection", "fix-me", &good_body("u@email.com"))).await;
    assert_eq!(fixed.status, 201, "the corrected request goes through: {}", fixed.raw);
    assert_eq!(fixed.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn a_create_that_fails_after_the_claim_releases_the_key() {
    let app = memory_app();
    // gone-collection is granted but does not exist: the claim is taken, then the create fails.
    let reply = call(&app.app, with_key("gone-collection", "k", &good_body("u@email.com"))).await;
    assert_eq!(reply.code(), Some("collection_not_found"));
    assert_eq!(app.store.get_idempotency("gone-collection#granted#k").await.unwrap(), None, "released for a retry");
}

#[tokio::test]
async fn a_repeat_while_the_first_runs_waits_then_answers_409_with_retry_after() {
    let app = memory_app();
    let body = good_body("u@email.com");
    let fingerprint = NewTicket::from_json(body.as_bytes()).unwrap().fingerprint();
    let now = now().secs();
    // A first request that is still running (its claim is live and not completed).
    let running = IdempotencyRecord::claim("demo-collection#granted#slow".into(), fingerprint, "nonce".into(), now);
    assert_eq!(app.store.claim_idempotency(&running, now).await.unwrap(), None);

    let started = std::time::Instant::now();
    let reply = call(&app.app, with_key("demo-collection", "slow", &body)).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (409, Some("idempotency_in_progress")));
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(started.elapsed() >= ticket_api::service::IDEMPOTENCY_WAIT, "it waited for the first to finish");
    assert!(app.store.tickets().is_empty(), "no number taken");
}
