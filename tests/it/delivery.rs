//! Delivery under SES's low rates and AWS's faults: a backlog at one e-mail a second goes out at that pace across
//! invocations (deferring takes nothing from the pace), the deployment's pace is shared by every process, an
//! unreadable outbox item is set aside while the rest go out, an operator's re-send is retried for as long as a
//! new e-mail, and a configuration that would let two deliverers hold one e-mail is refused at start-up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::*;
use ticket_api::domain::{DeliveryPolicy, MailState, Now, OutgoingEmail};
use ticket_api::driven::memory::{self, MemoryMailer};
use ticket_api::driving::http::app;
use ticket_api::ports::{Clock, Mailer, SendError, Unavailable};
use ticket_api::service::TicketService;
use tokio::time::Instant;

/// The wall clock as tokio's (paused) time moves it: sleeps of the pace move the hours and seconds the service
/// reads too.
struct TokioClock {
    base: Now,
    start: Instant,
}

impl TokioClock {
    fn new() -> Self {
        Self { base: now(), start: Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Now {
        Now::from_ms(self.base.ms() + self.start.elapsed().as_millis() as u64)
    }
}

/// A mailer that notes when each e-mail was sent (tokio's time).
#[derive(Default)]
struct TimedMailer {
    inner: MemoryMailer,
    at: Mutex<Vec<Instant>>,
}

impl Mailer for TimedMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let id = self.inner.send(email).await?;
        self.at.lock().unwrap().push(Instant::now());
        Ok(id)
    }
    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        Ok(1.0)
    }
}

#[tokio::test(start_paused = true)]
async fn a_backlog_left_by_an_ses_outage_goes_out_at_one_a_second_across_invocations_each_email_once() {
    let mailer = Arc::new(TimedMailer::default());
    let ports = memory::ports(PEPPER).with_clock(TokioClock::new()).with_mailer(mailer.clone());
    let store = ports.store.clone();
    for c in fixture_collections(&["support@example.com"]) {
        store.add_collection(c);
    }
    for (hash, record) in fixture_keys(&pepper()) {
        store.add_key(&hash, record);
    }
    // As deployed, paced by the SES sandbox's one e-mail a second (the account's rate, from GetAccount).
    let policy = DeliveryPolicy { sweep_after: Duration::ZERO, ..DeliveryPolicy::default() };
    let service = Arc::new(TicketService::new(ports, BASE_URL).with_delivery(policy));
    let router = app::<lambda_http::Body, _>(service.clone());
    // An invocation of the sweep: the function's 60 s, less the 3 s it keeps to answer.
    let invocation = || service.sweep(Instant::now() + Duration::from_secs(57));

    mailer.inner.set_outage(true);
    for i in 0..30 {
        let request = create_request(
            "demo-collection",
            Some(&expected().keys.granted),
            "application/json",
            &good_body(&format!("user{i}@email.com")),
        );
        assert_eq!(call(&router, request).await.status, 201);
    }
    while store.mail().iter().any(|m| m.state == MailState::Pending) {
        assert_eq!(invocation().await.unwrap().sent, 0, "SES is down");
    }
    assert!(store.mail().iter().all(|m| m.state == MailState::Retrying), "60 e-mails left by the outage");

    mailer.inner.set_outage(false);
    tokio::time::advance(DeliveryPolicy::default().retry_max).await;
    let mut runs = Vec::new();
    while mailer.inner.sent().len() < 60 {
        let run = invocation().await.unwrap();
        runs.push(run.sent);
        assert!(runs.len() <= 3, "the backlog stalls: {runs:?}");
    }
    // Each invocation sends while an attempt still fits (57 s less its 26 s budget), then leaves the rest
    // for the next, which takes the pace up where it was.
    assert!(runs[..runs.len() - 1].iter().all(|sent| *sent >= 30), "every full invocation sent at the pace: {runs:?}");
    let sent = mailer.inner.sent();
    let mut to: Vec<&str> = sent.iter().map(|e| e.to.as_str()).collect();
    to.sort_unstable();
    to.dedup();
    assert_eq!((sent.len(), to.len()), (60, 31), "each e-mail once: 30 requesters, 30 to the team's address");
    let at = mailer.at.lock().unwrap().clone();
    let closest = at.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    assert!(closest >= Duration::from_millis(999), "never faster than one a second: {closest:?}");
    println!("60 e-mails left by an outage, sent at 1/s by {} invocations: {runs:?} each", runs.len());
}

#[tokio::test(start_paused = true)]
async fn processes_sending_at_once_share_the_deployments_pace() {
    // Two processes (two stream shards, or a shard and the sweep) on one store, each pacing itself at the
    // account's 2 a second: together they keep to 2 a second, by the counts they share.
    let clock = Arc::new(TokioClock::new());
    let first = memory::ports(PEPPER).with_clock(clock.clone());
    let store = first.store.clone();
    for c in fixture_collections(&["support@example.com"]) {
        store.add_collection(c);
    }
    for (hash, record) in fixture_keys(&pepper()) {
        store.add_key(&hash, record);
    }
    let second = memory::ports(PEPPER).with_clock(clock.clone()).with_store(store.clone());
    let (mailers, policy) = (
        [first.mailer.clone(), second.mailer.clone()],
        DeliveryPolicy { sweep_after: Duration::ZERO, max_send_rate: Some(2.0), ..DeliveryPolicy::default() },
    );
    let one = Arc::new(TicketService::new(first, BASE_URL).with_delivery(policy));
    let two = Arc::new(TicketService::new(second, BASE_URL).with_delivery(policy));
    let router = app::<lambda_http::Body, _>(one.clone());
    for i in 0..20 {
        let body = good_body(&format!("user{i}@email.com"));
        let request = create_request("demo-collection", Some(&expected().keys.granted), "application/json", &body);
        assert_eq!(call(&router, request).await.status, 201);
    }
    let keys: Vec<_> = store.mail().iter().map(|m| m.key()).collect();
    let (left, right) = keys.split_at(keys.len() / 2);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(57);
    let (a, b) = tokio::join!(one.deliver_batch(left, deadline), two.deliver_batch(right, deadline));
    assert!(a.iter().chain(&b).all(|done| *done), "all 40 delivered");
    let elapsed = started.elapsed();
    let sent: usize = mailers.iter().map(|m| m.sent().len()).sum();
    assert_eq!(sent, 40);
    // Two a second: 40 e-mails need 20 one-second windows, the first of them entered part way (alone, each
    // process at its own pace, they would have taken 10).
    assert!(elapsed >= Duration::from_secs(18), "40 e-mails at 2 a second take 18 s at least, not {elapsed:?}");
    println!("two processes, each paced at 2/s: 40 e-mails in {elapsed:?}, together at the deployment's 2/s");
}

#[tokio::test]
async fn an_unreadable_outbox_item_is_set_aside_while_the_rest_go_out() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let service = local_service(store.clone(), &sdk);
    let router = app::<lambda_http::Body, _>(Arc::new(local_service(store.clone(), &sdk)));
    for i in 0..3 {
        let body = good_body(&format!("{}@example.com", unique(&format!("user{i}"))));
        let request = create_request("demo-collection", Some(&expected().keys.granted), "application/json", &body);
        assert_eq!(call(&router, request).await.status, 201);
    }
    // An item in the e-mails due that does not read as one (written by hand, or by another version), due first.
    let poison = ticket_api::schema::tickets::outbox_due(
        &ticket_api::domain::CollectionId::parse("demo-collection").unwrap(),
        1,
    );
    store
        .client()
        .put_item()
        .table_name(&store.tables().tickets)
        .item("pk", S("demo-collection#1".into()))
        .item("sk", S("mail#000001#009".into()))
        .item("mailState", S("exploded".into()))
        .item("outbox", S(poison))
        .item("outboxAt", N("1".into()))
        .send()
        .await
        .unwrap();
    let report = deliver_now(&service).await;
    println!("a sweep past an unreadable item: {} e-mails sent, {} item set aside", report.sent, report.unreadable);
    assert_eq!((report.sent, report.unreadable), (6, 1), "{report:?}");
    assert_eq!(wait_for_mail(&team, 3, Duration::from_secs(5)).await.len(), 3);
    let item = store
        .client()
        .get_item()
        .table_name(&store.tables().tickets)
        .key("pk", S("demo-collection#1".into()))
        .key("sk", S("mail#000001#009".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["outbox"], S("unreadable".into()), "set aside, out of the e-mails due");
    assert!(matches!(&item["lastError"], S(why) if why.starts_with("unreadable item")), "{item:?}");
    assert_eq!(deliver_now(&service).await.unreadable, 0, "not read again");
    let listed = store.undelivered(None).await.unwrap();
    assert!(listed.is_empty(), "the operator's list is the e-mails: {listed:?}");
}

#[test]
fn start_up_refuses_a_lease_the_function_could_outlive_or_a_timeout_with_no_room_to_send() {
    for (variables, refused, why) in [
        (&[("MAIL_LEASE_SECONDS", "60")][..], "MAIL_LEASE_SECONDS", "not longer than the function's timeout"),
        (&[("FUNCTION_TIMEOUT_SECONDS", "120")][..], "MAIL_LEASE_SECONDS", "not longer than the function's timeout"),
        (&[("FUNCTION_TIMEOUT_SECONDS", "30")][..], "FUNCTION_TIMEOUT_SECONDS", "leaves no time to deliver"),
        (&[("MAIL_SEND_TIMEOUT_SECONDS", "50")][..], "FUNCTION_TIMEOUT_SECONDS", "leaves no time to deliver"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ticket-api-local"))
            .env("API_KEYS_TABLE", "k")
            .env("COLLECTIONS_TABLE", "c")
            .env("TICKETS_TABLE", "t")
            .env("LIMITS_TABLE", "l")
            .env("IDEMPOTENCY_TABLE", "i")
            .env("SUPPRESSIONS_TABLE", "s")
            .env("SENDER_EMAIL", SENDER)
            .env("PUBLIC_BASE_URL", BASE_URL)
            .env("API_KEY_PEPPER", PEPPER)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("INVOKE_ADDR", "127.0.0.1:0")
            .envs(variables.iter().copied())
            .output()
            .expect("the local server runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{variables:?} was taken");
        assert!(stderr.contains(refused) && stderr.contains(why), "{variables:?}: {stderr}");
        println!("{variables:?}: refused at start-up, naming {refused}");
    }
}

#[tokio::test]
async fn an_operators_resend_is_retried_for_as_long_as_a_new_email_before_it_is_given_up_on() {
    let app = memory_app();
    app.mailer.set_outage(true);
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    let give_up = DeliveryPolicy::default().give_up_after;
    app.clock.advance(give_up + Duration::from_secs(60));
    assert_eq!(app.deliver().await.failed, 2, "three days of an outage: given up on");
    let demo = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    assert_eq!(app.service.resend_failed(&demo, None).await.unwrap().len(), 2, "re-sent by the operator");
    // The outage goes on: the re-sent e-mails are tried again, counted from the re-send, not from their creation.
    let report = app.deliver().await;
    assert_eq!((report.retrying, report.failed), (2, 0), "retried, not given up on at once: {report:?}");
    app.clock.advance(give_up + Duration::from_secs(60));
    assert_eq!(app.deliver().await.failed, 2, "given up on again three days after the re-send");
    assert!(app.store.mail().iter().all(|m| m.state == MailState::Failed && m.resent_at.is_some()));
    println!("re-sent after 3 days of failures: retried for another 3 days, then failed");
}
