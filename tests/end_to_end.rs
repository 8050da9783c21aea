//! The whole create path through the router on real local endpoints: DynamoDB Local for keys, counters and
//! tickets, the SES v2 stand-in for e-mail, moto for the pepper.

mod common;

use std::sync::Arc;

use common::*;
use futures_util::future::join_all;
use serde_json::Value;
use ticket_api::aws::{DynamoStore, PepperProvider};
use ticket_api::domain::{CollectionId, DeliveryStatus, EmailKind, OutgoingEmail};
use ticket_api::http::app;
use ticket_api::ports::{Mailer, Store};
use ticket_api::service::{TicketService, resend_emails};

fn demo() -> CollectionId {
    CollectionId::parse("demo-collection").unwrap()
}

/// Every e-mail in the SES stand-in.
async fn all_mail() -> Vec<Value> {
    let url = format!("{}/store", stack_var("SES_STANDIN_URL"));
    let store: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    store["emails"].as_array().unwrap().clone()
}

fn sent_to<'a>(mail: &'a [Value], to: &str) -> Vec<&'a Value> {
    mail.iter().filter(|e| e["destination"]["to"].as_array().unwrap().iter().any(|t| t == to)).collect()
}

#[tokio::test]
async fn every_event_gets_its_answer_on_real_endpoints_and_refused_ones_change_nothing() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;

    // The pepper comes from Secrets Manager (moto), as in production.
    let secret_id = pepper_secret(&sdk).await;
    let pepper = PepperProvider::SecretsManager { client: aws_sdk_secretsmanager::Client::new(&sdk), secret_id };
    let service = TicketService::new(store.clone(), ses_mailer(&sdk), pepper, BASE_URL);
    let app = app::<lambda_http::Body, _, _, _>(Arc::new(service));

    let expected = expected();
    let mut numbers = Vec::new();
    for file in event_files() {
        let outcome = &expected.events[&file];
        let reply = call(&app, event(&file)).await;
        assert_eq!(reply.status.as_u16(), outcome.status, "{file}: {}", reply.raw);
        assert_eq!(reply.code(), outcome.code.as_deref(), "{file}");
        if reply.status == 201 {
            numbers.push(reply.body["ticketNumber"].as_u64().unwrap());
        }
    }
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6], "refused requests took no number");
    let tickets = store.list_tickets(&demo(), 100).await.unwrap();
    assert_eq!(tickets.len(), 6, "only the created tickets are stored");
    for other in ["disabled-collection", "other-collection"] {
        let c = store.get_collection(&CollectionId::parse(other).unwrap()).await.unwrap().unwrap();
        assert_eq!(c.last_ticket_number, 0, "{other}: no number taken");
    }
    let mail = all_mail().await;
    assert_eq!(sent_to(&mail, &team).len(), 6, "one notification per created ticket, none for refused ones");

    // The next good request after all those refusals still gets the next number.
    let next = call(&app, event("function-url.created.json")).await;
    assert_eq!(next.body["ticketNumber"], 7);
}

#[tokio::test]
async fn the_customers_request_creates_a_ticket_and_sends_both_emails() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let app = app::<lambda_http::Body, _, _, _>(Arc::new(local_service(store.clone(), &sdk)));

    let reply = call(
        &app,
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(&requester)),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.raw);
    let private_url = reply.body["privateUrl"].as_str().unwrap();

    let ticket = store.get_ticket(&demo(), 1).await.unwrap().expect("a 201 ticket is stored");
    assert_eq!(ticket.user_email.as_str(), requester);
    assert!(ticket.emails.iter().all(|e| e.status == DeliveryStatus::Sent), "{:?}", ticket.emails);
    assert!(ticket.emails.iter().all(|e| e.message_id.as_deref().is_some_and(|id| !id.is_empty())));
    assert_eq!(ticket.pending_private_url, None);
    let key = private_url.rsplit("key=").next().unwrap();
    assert!(!format!("{ticket:?}").contains(key), "the ticket key is stored only as its hash");
    assert!(ticket_api::domain::TicketKey::from_presented(key).matches(&ticket.ticket_key_hash));

    let mail = all_mail().await;
    let to_requester = sent_to(&mail, &requester);
    assert_eq!(to_requester.len(), 1);
    assert!(to_requester[0]["body"]["text"].as_str().unwrap().contains(private_url));
    assert!(to_requester[0]["body"]["html"].as_str().unwrap().contains(private_url));
    let to_team = sent_to(&mail, &team);
    assert_eq!(to_team.len(), 1);
    assert!(to_team[0]["body"]["text"].as_str().unwrap().contains("Please explain about the pricing plans"));
}

#[tokio::test]
async fn two_hundred_concurrent_creates_get_numbers_one_to_two_hundred() {
    const N: usize = 200;
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let app = app::<lambda_http::Body, _, _, _>(Arc::new(local_service(store.clone(), &sdk)));
    let key = expected().keys.granted;
    let run = unique("c");
    let requesters: Vec<String> = (0..N).map(|i| format!("{run}-{i}@email.com")).collect();

    let replies = join_all(requesters.iter().map(|user| {
        let app = app.clone();
        let request = create_request("demo-collection", Some(&key), "application/json", &good_body(user));
        tokio::spawn(async move { call(&app, request).await })
    }))
    .await;
    let mut numbers: Vec<u64> = replies
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.status, 201, "{}", r.raw);
            r.body["ticketNumber"].as_u64().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=N as u64).collect::<Vec<_>>(), "every number exactly once");

    let tickets = store.list_tickets(&demo(), 1_000).await.unwrap();
    assert_eq!(tickets.len(), N, "200 stored tickets");
    let mail = all_mail().await;
    let ours = sent_to(&mail, &team).len() + requesters.iter().map(|r| sent_to(&mail, r).len()).sum::<usize>();
    assert_eq!(ours, 2 * N, "400 e-mails: one to each requester, one notification each");
    println!("200 concurrent creates: numbers 1..=200, {} tickets stored, {ours} e-mails", tickets.len());
}

/// Delegates to SES, except for the addresses it is told to fail.
struct FailFor<M> {
    inner: M,
    failing: std::sync::Mutex<Vec<String>>,
}

impl<M: Mailer> Mailer for FailFor<M> {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, String> {
        if self.failing.lock().unwrap().iter().any(|f| f == email.to.as_str()) {
            return Err("injected: SES refused the request".into());
        }
        self.inner.send(email).await
    }
}

#[tokio::test]
async fn failed_emails_are_recorded_and_resent_to_exactly_the_recipients_who_missed_them() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let other = format!("{}@example.com", unique("other"));
    let requester = format!("{}@email.com", unique("user"));
    let store: DynamoStore = seeded_dynamo_store(&sdk, &[&team, &other]).await;
    let mailer = Arc::new(FailFor {
        inner: ses_mailer(&sdk),
        failing: std::sync::Mutex::new(vec![requester.clone(), team.clone()]),
    });
    let service = TicketService::new(store.clone(), mailer.clone(), PepperProvider::Inline(pepper()), BASE_URL);
    let app = app::<lambda_http::Body, _, _, _>(Arc::new(service));

    let reply = call(
        &app,
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(&requester)),
    )
    .await;
    assert_eq!(reply.status, 201, "a failed e-mail never fails the ticket");
    let private_url = reply.body["privateUrl"].as_str().unwrap().to_owned();
    let ticket = store.get_ticket(&demo(), 1).await.unwrap().unwrap();
    let status_of =
        |t: &ticket_api::domain::Ticket, to: &str| t.emails.iter().find(|e| e.to.as_str() == to).unwrap().clone();
    assert_eq!(status_of(&ticket, &requester).status, DeliveryStatus::Failed);
    assert_eq!(status_of(&ticket, &team).status, DeliveryStatus::Failed);
    assert_eq!(status_of(&ticket, &other).status, DeliveryStatus::Sent);
    assert!(status_of(&ticket, &team).error.as_deref().unwrap().contains("SES refused"));
    assert_eq!(ticket.pending_private_url.as_deref(), Some(private_url.as_str()), "kept for the re-send");

    mailer.failing.lock().unwrap().clear();
    let resent = resend_emails(&store, &mailer, &demo(), 1).await.unwrap();
    let mut to: Vec<_> = resent.attempted.iter().map(|e| (e.kind, e.to.as_str().to_owned(), e.status)).collect();
    to.sort_by(|a, b| a.1.cmp(&b.1));
    let mut want = vec![
        (EmailKind::Requester, requester.clone(), DeliveryStatus::Sent),
        (EmailKind::Notification, team.clone(), DeliveryStatus::Sent),
    ];
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(to, want, "only the two that failed are sent again");

    let ticket = store.get_ticket(&demo(), 1).await.unwrap().unwrap();
    assert!(ticket.emails.iter().all(|e| e.status == DeliveryStatus::Sent));
    assert_eq!(status_of(&ticket, &requester).attempts, 2);
    assert_eq!(status_of(&ticket, &other).attempts, 1, "the one that went out is not sent twice");
    assert_eq!(ticket.pending_private_url, None);
    let mail = all_mail().await;
    assert_eq!(sent_to(&mail, &other).len(), 1);
    assert_eq!(sent_to(&mail, &team).len(), 1);
    let to_requester = sent_to(&mail, &requester);
    assert_eq!(to_requester.len(), 1);
    assert!(
        to_requester[0]["body"]["text"].as_str().unwrap().contains(&private_url),
        "the re-sent e-mail has the same link"
    );

    let again = resend_emails(&store, &mailer, &demo(), 1).await.unwrap();
    assert!(again.attempted.is_empty(), "nothing left to send");
}

#[tokio::test]
async fn fifty_identical_requests_with_one_idempotency_key_make_one_ticket() {
    const N: usize = 50;
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let app = app::<lambda_http::Body, _, _, _>(Arc::new(local_service(store.clone(), &sdk)));
    let key = expected().keys.granted;
    let idempotency_key = unique("order");

    let replies = join_all((0..N).map(|_| {
        let app = app.clone();
        let mut request = create_request("demo-collection", Some(&key), "application/json", &good_body(&requester));
        request.headers_mut().insert("idempotency-key", idempotency_key.parse().unwrap());
        tokio::spawn(async move { call(&app, request).await })
    }))
    .await;
    let replies: Vec<Reply> = replies.into_iter().map(Result::unwrap).collect();
    for r in &replies {
        assert_eq!(r.status, 201, "{}", r.raw);
        assert_eq!(r.raw, replies[0].raw, "identical answers");
        assert_eq!(r.header("location"), replies[0].header("location"));
    }
    let originals = replies.iter().filter(|r| r.header("idempotent-replayed").is_none()).count();
    assert_eq!(originals, 1, "one answer creates, the other {} replay it", N - 1);
    assert_eq!(store.list_tickets(&demo(), 100).await.unwrap().len(), 1, "exactly one ticket");
    let collection = store.get_collection(&demo()).await.unwrap().unwrap();
    assert_eq!(collection.last_ticket_number, 1, "exactly one number taken");
    let mail = all_mail().await;
    assert_eq!(sent_to(&mail, &requester).len(), 1, "one requester e-mail");
    assert_eq!(sent_to(&mail, &team).len(), 1, "one notification");
    println!("{N} identical requests with one Idempotency-Key: 1 ticket, 1 number, 2 e-mails, {N} identical answers");
}
