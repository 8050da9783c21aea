//! The function, driven by every event in events/ on in-memory ports: each API Gateway event (HTTP API v2, REST
//! v1 through a stage, function URL) gets the status and code of the contract, in every shape; the stream
//! batches and the schedule go through the same entry as on Lambda and do what they say.

use crate::helpers::*;
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

#[test]
fn every_file_in_events_is_described_in_expected_json() {
    let expected = expected();
    for file in every_event_file() {
        assert!(
            expected.events.contains_key(&file)
                || expected.work.contains_key(&file)
                || expected.refused.contains_key(&file),
            "{file} has no entry in events/expected.json"
        );
    }
    assert_eq!(
        expected.work.len(),
        11,
        "two stream batches, the sweep's schedule, three SES events and their queue's batch, three SES receipts and \
         the replies' queue's batch"
    );
}

#[tokio::test]
async fn an_event_of_a_source_with_no_door_is_refused_and_changes_nothing() {
    use std::sync::Arc;
    let app = memory_app();
    let function = ticket_api::driving::Function::new(Arc::clone(&app.service));
    let refused = expected().refused;
    assert_eq!(refused.len(), 3, "an SNS notification, an ALB request, an S3 notification");
    for (file, why) in &refused {
        let calls = app.store.calls();
        let error = function.invoke(&work_event(file), ticket_api::local::context()).await.unwrap_err();
        assert!(error.to_string().contains("no door of this function takes this event"), "{file} ({why}): {error}");
        assert!(!error.to_string().contains("user@email.com"), "the error names no content: {error}");
        assert_eq!(app.store.calls(), calls, "{file}: the store is not touched");
        println!("{file}: refused ({why}): {error}");
    }
    assert!(app.store.tickets().is_empty(), "the ALB request with a valid key created nothing");
}

#[tokio::test]
async fn stream_batches_and_the_schedule_go_through_the_functions_entry_and_do_what_they_say() {
    use std::sync::Arc;
    let expected = expected();
    let app = memory_app();
    let function = ticket_api::driving::Function::new(Arc::clone(&app.service));
    for _ in 0..2 {
        assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    }
    let invoke = |name: &'static str| {
        let function = &function;
        async move { function.invoke(&work_event(name), ticket_api::local::context()).await.unwrap() }
    };

    // The batch names ticket 1's two e-mails: both go out, and the answer names no failure.
    let batch = "dynamodb-stream.new-ticket-emails.json";
    assert_eq!(Some(invoke(batch).await), expected.work[batch].answer, "{}", expected.work[batch].does);
    let sent: Vec<(String, u64)> =
        app.mailer.sent().iter().map(|m| (m.to.as_str().to_owned(), number_of(&m.content.subject))).collect();
    assert_eq!(sent, [("user@email.com".to_owned(), 1), ("support@example.com".to_owned(), 1)]);
    // The same batch again (a retry, a second delivery): nothing goes twice.
    assert_eq!(Some(invoke(batch).await), expected.work[batch].answer);
    assert_eq!(app.mailer.sent().len(), 2, "each e-mail once");
    let quiet = "dynamodb-stream.no-work.json";
    assert_eq!(Some(invoke(quiet).await), expected.work[quiet].answer);
    assert_eq!(app.mailer.sent().len(), 2, "records without work are ignored");

    // The schedule: the sweep sends what is due (ticket 2's e-mails) and says what it did.
    let report = invoke("eventbridge.sweep.json").await;
    assert_eq!((report["sent"].as_u64(), report["due"].as_u64()), (Some(2), Some(2)), "{report}");
    assert!(app.mailer.sent().iter().skip(2).all(|m| number_of(&m.content.subject) == 2));
}

/// The ticket number in a subject ("... Ticket #7 ..." or "... New ticket #7: ...").
fn number_of(subject: &str) -> u64 {
    let digits: String =
        subject.split('#').nth(1).unwrap_or_default().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no ticket number in {subject:?}"))
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
    let mut allowed: Vec<&str> = reply.header("allow").expect("an Allow header").split(',').collect();
    allowed.sort_unstable();
    assert_eq!(allowed, ["GET", "HEAD", "POST"], "the create, and the team's list");
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
    let limit = ticket_api::domain::input::MAX_BODY_BYTES;
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
    app.store.set_unavailable(false);
    assert!(app.store.mail().is_empty(), "no e-mail owed");
    app.deliver().await;
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
async fn a_create_sends_nothing_itself_and_an_email_refused_for_good_is_recorded_with_its_reason() {
    let app = memory_app();
    app.mailer.refuse("support@example.com");
    let reply = call(&app.app, event("http-api.created.json")).await;
    assert_eq!(reply.status, 201);
    assert_eq!(app.mailer.attempts(), 0, "no SES call before the answer");
    let owed: Vec<_> = app.store.mail().iter().map(|m| (m.to.as_str().to_owned(), m.kind, m.state)).collect();
    use ticket_api::domain::{MailKind, MailState};
    assert_eq!(
        owed,
        [
            ("user@email.com".to_owned(), MailKind::Received, MailState::Pending),
            ("support@example.com".to_owned(), MailKind::NewTicket, MailState::Pending)
        ]
    );

    let report = app.deliver().await;
    assert_eq!((report.sent, report.failed), (1, 1), "{report:?}");
    let settled: Vec<_> = app.store.mail().iter().map(|m| (m.state, m.last_error.clone())).collect();
    assert_eq!(settled[0], (MailState::Sent, None));
    assert_eq!(settled[1].0, MailState::Failed);
    assert!(settled[1].1.as_deref().unwrap().contains("rejected the address"), "{settled:?}");
    assert_eq!(app.deliver().await.due, 0, "an e-mail failed for good is sent nowhere again");
    assert_eq!(app.mailer.attempts(), 2);
}

#[tokio::test]
async fn an_ses_outage_is_retried_with_backoff_until_the_email_is_sent_once() {
    let app = memory_app();
    app.mailer.set_outage(true);
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201, "a create does not wait on SES");
    let first = app.deliver().await;
    assert_eq!((first.retrying, first.sent), (2, 0), "{first:?}");
    assert_eq!(app.deliver().await.due, 0, "not due again before its backoff");
    let retry = &app.store.mail()[0];
    assert_eq!((retry.attempts, retry.state), (1, ticket_api::domain::MailState::Retrying));
    assert!(retry.last_error.as_deref().unwrap().contains("outage"));

    app.mailer.set_outage(false);
    app.clock.advance(prompt_delivery().retry_max);
    let second = app.deliver().await;
    assert_eq!(second.sent, 2, "{second:?}");
    assert_eq!(app.mailer.sent().len(), 2, "each e-mail once");
    assert!(app.store.mail().iter().all(|m| m.attempts == 2 && m.due_at_ms.is_none()));
}

#[tokio::test]
async fn a_counter_behind_its_tickets_is_moved_past_them_once_and_the_create_answers_201() {
    let app = memory_app();
    for _ in 0..3 {
        assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    }
    // Put the counter back, as a collections table restored from a backup might: tickets 1 to 3 exist.
    let id = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    let mut collection = app.store.collection(&id).unwrap();
    collection.last_ticket_number = 0;
    app.store.add_collection(collection);
    let calls = app.store.calls();
    let reply = call(&app.app, event("http-api.created.json")).await;
    assert_eq!((reply.status.as_u16(), reply.body["ticketNumber"].as_u64()), (201, Some(4)), "{}", reply.raw);
    assert_eq!(app.store.collection(&id).unwrap().last_ticket_number, 4, "the counter is past its tickets");
    assert_eq!(app.store.tickets().len(), 4, "no ticket overwritten");
    let repair = app.store.calls() - calls;
    let next = app.store.calls();
    assert_eq!(call(&app.app, event("http-api.created.json")).await.body["ticketNumber"], 5);
    println!(
        "a counter 3 behind: moved once in {repair} store calls; the next create made {}",
        app.store.calls() - next
    );
}

#[tokio::test]
async fn a_number_in_use_that_cannot_be_moved_past_is_a_500_with_an_opaque_body() {
    let app = memory_app();
    for _ in 0..3 {
        assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    }
    let id = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    let mut collection = app.store.collection(&id).unwrap();
    collection.last_ticket_number = 0;
    app.store.add_collection(collection);
    // The index shows none of the tickets yet: each move goes one number on, and the create gives up after two.
    app.store.set_index_lag(true);
    let reply = call(&app.app, event("http-api.created.json")).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (500, Some("internal")));
    assert!(!reply.raw.contains("already exists"), "no internals in the body: {}", reply.raw);
    assert_eq!(app.store.tickets().len(), 3, "nothing overwritten");
}

#[tokio::test]
async fn a_revoked_key_is_refused_once_the_key_cache_ttl_has_passed() {
    use std::sync::Arc;
    let ports = ticket_api::driven::memory::ports(PEPPER);
    let (store, clock) = (ports.store.clone(), ports.clock.clone());
    for c in fixture_collections(&[]) {
        store.add_collection(c);
    }
    for (hash, record) in fixture_keys(&pepper()) {
        store.add_key(&hash, record);
    }
    let ttl = std::time::Duration::from_secs(30);
    let service = ticket_api::service::TicketService::new(ports, BASE_URL).with_key_cache_ttl(ttl);
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(Arc::new(service));
    let create = || {
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body("u@email.com"))
    };

    assert_eq!(call(&app, create()).await.status, 201);
    let calls_before = store.calls();
    assert_eq!(call(&app, create()).await.status, 201);
    // Three counts, the new-requesters one taken back (the requester is no new one this hour), the counter, the
    // ticket: no key lookup.
    assert_eq!(store.calls() - calls_before, 6, "a cached key costs no lookup");
    store.revoke("granted", clock.now());
    clock.advance(ttl - std::time::Duration::from_millis(1));
    assert_eq!(call(&app, create()).await.status, 201, "within the TTL the warm process still trusts the key");
    clock.advance(std::time::Duration::from_millis(1));
    assert_eq!(call(&app, create()).await.code(), Some("unauthorized"), "after the TTL the revocation holds");
}

#[tokio::test]
async fn ses_receipts_go_through_the_functions_entry_and_those_refused_before_reading_read_nothing() {
    use std::sync::Arc;
    let expected = expected();
    let app = memory_app();
    let function = ticket_api::driving::Function::new(Arc::clone(&app.service));
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    let receipts: Vec<&String> = expected.work.keys().filter(|f| f.starts_with("ses-receipt.")).collect();
    assert_eq!(receipts.len(), 3);
    for file in receipts {
        let answer = function.invoke(&work_event(file), ticket_api::local::context()).await.unwrap();
        assert_eq!(Some(&answer), expected.work[file].answer.as_ref(), "{file}: {}", expected.work[file].does);
        println!("{file}: {answer} ({})", expected.work[file].does);
    }
    // The same from the replies' queue, with a malformed one: answered, none handed over again.
    let queued = "sqs.ses-receipts.json";
    let answer = function.invoke(&work_event(queued), ticket_api::local::context()).await.unwrap();
    assert_eq!(Some(&answer), expected.work[queued].answer.as_ref(), "{}", expected.work[queued].does);
    assert_eq!(app.inbox.reads(), 0, "no message read");
    assert_eq!(app.store.tickets()[0].entries, 1, "nothing recorded");
}
