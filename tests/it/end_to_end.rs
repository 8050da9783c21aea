//! The whole path on real local endpoints: creates through the router on DynamoDB Local (keys, counters, limits,
//! tickets), moto for the pepper, and the e-mails delivered from DynamoDB Local's stream to the SES v2 stand-in
//! by the function's own stream handler, invoked as the event source mapping would.

use std::sync::Arc;

use std::time::{Duration, Instant};

use crate::helpers::*;
use futures_util::future::join_all;
use serde_json::Value;
use ticket_api::domain::{CollectionId, DeliveryPolicy, MailState, TicketKey, TicketStatus};
use ticket_api::driven::PepperProvider;
use ticket_api::driving::Function;
use ticket_api::driving::http::app;
use ticket_api::driving::stream::MAPPING;
use ticket_api::ports::AdminStore;
use ticket_api::service::TicketService;

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
    let service = Arc::new(
        TicketService::new(local_ports(store.clone(), &sdk).with_secrets(pepper), BASE_URL)
            .with_delivery(prompt_delivery()),
    );
    let app = app::<lambda_http::Body, _>(service.clone());

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
    let tickets = store.list_page(&demo(), TicketStatus::Open, 100, None).await.unwrap().tickets;
    assert_eq!(tickets.len(), 6, "only the created tickets are stored");
    let report = deliver_now(&service).await;
    assert_eq!(report.sent, 12, "each created ticket owed two e-mails: {report:?}");
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
async fn the_customers_request_creates_a_ticket_and_the_stream_delivers_both_emails() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let service = Arc::new(local_service(store.clone(), &sdk).with_delivery(stream_delivery()));
    let _stream = start_stream(&sdk, &store, Arc::new(Function::new(service.clone())), MAPPING).await;
    let app = app::<lambda_http::Body, _>(service);

    let reply = call(
        &app,
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(&requester)),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.raw);
    let answered = Instant::now();
    let private_url = reply.body["privateUrl"].as_str().unwrap();

    let to_requester = wait_for_mail(&requester, 1, Duration::from_secs(10)).await;
    let to_team = wait_for_mail(&team, 1, Duration::from_secs(10)).await;
    println!("both e-mails in the mailbox {:?} after the 201", answered.elapsed());
    assert_eq!(to_requester.len(), 1);
    assert!(
        to_requester[0]["body"]["text"].as_str().unwrap().contains(private_url),
        "the link, made again from its nonce"
    );
    assert!(to_requester[0]["body"]["html"].as_str().unwrap().contains(private_url));
    assert_eq!(to_team.len(), 1);
    assert!(to_team[0]["body"]["text"].as_str().unwrap().contains("Please explain about the pricing plans"));

    let ticket = store.get_ticket(&demo(), 1).await.unwrap().expect("a 201 ticket is stored");
    assert_eq!(ticket.user_email.as_str(), requester);
    let key = private_url.rsplit("key=").next().unwrap();
    assert!(TicketKey::derive(&pepper(), &ticket.key_nonce).matches(key), "the key comes from the stored nonce");
    let mut stored = serde_json::to_string(&ticket).unwrap();
    // The e-mail reaches the mailbox before its record says so: the record is written once SES has answered.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && !store.ticket_mail(&demo(), 1).await.unwrap().iter().all(|m| m.state == MailState::Sent)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for mail in store.ticket_mail(&demo(), 1).await.unwrap() {
        assert_eq!(mail.state, MailState::Sent, "{mail:?}");
        assert!(mail.message_id.as_deref().is_some_and(|id| !id.is_empty()));
        stored.push_str(&serde_json::to_string(&mail).unwrap());
    }
    assert!(!stored.contains(key), "no working link at rest: only the nonce is stored");
}

#[tokio::test]
async fn two_hundred_concurrent_creates_get_numbers_one_to_two_hundred_and_their_400_emails_go_out_once() {
    const N: usize = 200;
    let _load = one_load_at_a_time().await;
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    // As deployed: the stream hands each e-mail over, and the schedule's sweep sends what an invocation left (an
    // e-mail past its deadline under make test's load), each on the deployment's lease (90 s: the tests' 5 s
    // lapses under load while SES is still answering, and another deliverer would send it again). What the
    // product promises is that each e-mail goes out once, by the stream or by the sweep.
    let lease = DeliveryPolicy { lease: Duration::from_secs(90), ..stream_delivery() };
    let service = Arc::new(local_service(store.clone(), &sdk).with_delivery(lease));
    let function = Arc::new(Function::new(service.clone()));
    let _stream = start_stream(&sdk, &store, function.clone(), MAPPING).await;
    let _schedule = Background(tokio::spawn(ticket_api::local::run_schedule(function, Duration::from_secs(1))));
    let app = app::<lambda_http::Body, _>(service);
    let key = expected().keys.granted;
    let run = unique("c");
    let requesters: Vec<String> = (0..N).map(|i| format!("{run}-{i}@email.com")).collect();

    let started = Instant::now();
    let replies = join_all(requesters.iter().map(|user| {
        let app = app.clone();
        let request = create_request("demo-collection", Some(&key), "application/json", &good_body(user));
        tokio::spawn(async move { call(&app, request).await })
    }))
    .await;
    let answered = started.elapsed();
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

    let tickets = store.list_page(&demo(), TicketStatus::Open, 1_000, None).await.unwrap().tickets;
    assert_eq!(tickets.len(), N, "200 stored tickets");
    // Generous: inside make test this runs beside every other test on the same cores.
    let in_mailbox = wait_for_mail(&team, N, Duration::from_secs(300)).await.len();
    assert!(
        in_mailbox >= N,
        "{in_mailbox} of {N} team e-mails in the mailbox after {:?}; the outbox: {:#?}",
        started.elapsed(),
        outbox_states(&store, N as u64, 2).await
    );
    let delivered = started.elapsed();
    let mail = all_mail().await;
    let to_team = sent_to(&mail, &team).len();
    let to_requesters: Vec<usize> = requesters.iter().map(|r| sent_to(&mail, r).len()).collect();
    assert_eq!(to_team, N, "one notification per ticket, none twice");
    assert!(to_requesters.iter().all(|n| *n == 1), "one e-mail to each requester, none twice: {to_requesters:?}");
    let undelivered = store.undelivered(None).await.unwrap();
    assert!(undelivered.is_empty(), "every e-mail recorded sent: {undelivered:?}");
    println!(
        "200 concurrent creates: numbers 1..=200, {} tickets; 201s within {answered:?}; {} e-mails delivered by the \
         stream and the sweep within {delivered:?}, none twice",
        tickets.len(),
        to_team + to_requesters.iter().sum::<usize>()
    );
}

#[tokio::test]
async fn fifty_identical_requests_with_one_idempotency_key_make_one_ticket() {
    const N: usize = 50;
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let service = Arc::new(local_service(store.clone(), &sdk));
    let app = app::<lambda_http::Body, _>(service.clone());
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
    assert_eq!(
        store.list_page(&demo(), TicketStatus::Open, 100, None).await.unwrap().tickets.len(),
        1,
        "exactly one ticket"
    );
    let collection = store.get_collection(&demo()).await.unwrap().unwrap();
    assert_eq!(collection.last_ticket_number, 1, "exactly one number taken");
    deliver_now(&service).await;
    let mail = all_mail().await;
    assert_eq!(sent_to(&mail, &requester).len(), 1, "one requester e-mail");
    assert_eq!(sent_to(&mail, &team).len(), 1, "one notification");
    println!("{N} identical requests with one Idempotency-Key: 1 ticket, 1 number, 2 e-mails, {N} identical answers");
}
