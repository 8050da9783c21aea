//! Time as an input: the service reads the wall clock through its `Clock` port, so that a lease lapsing, a retry
//! coming due and an hour turning are shown by moving a `ManualClock`, to the millisecond, without a sleep.

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;
use ticket_api::domain::{CollectionId, DeliveryPolicy, Mail, MailState, Now, RateLimits};
use ticket_api::driving::http::app;
use ticket_api::service::TicketService;

const MS: Duration = Duration::from_millis(1);

fn demo() -> CollectionId {
    CollectionId::parse("demo-collection").unwrap()
}

fn create(user: &str) -> axum::http::Request<lambda_http::Body> {
    create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(user))
}

#[tokio::test]
async fn a_claim_whose_deliverer_died_is_taken_over_the_moment_its_lease_lapses() {
    let app = memory_app();
    let lease = prompt_delivery().lease;
    assert_eq!(call(&app.app, create("user@email.com")).await.status, 201);
    // A deliverer claims both e-mails, then dies before it sends them.
    for mail in app.store.mail() {
        let claimed = app.store.claim_mail(&mail.key(), app.clock.now(), lease).await.unwrap();
        assert!(claimed.is_some(), "a pending e-mail is claimed");
    }
    let report = app.deliver().await;
    assert_eq!((report.sent, app.mailer.sent().len()), (0, 0), "a live lease keeps the sweep away");
    app.clock.advance(lease - MS);
    assert_eq!(app.deliver().await.sent, 0, "one millisecond before it lapses, still");
    app.clock.advance(MS);
    let report = app.deliver().await;
    assert_eq!((report.sent, app.mailer.sent().len()), (2, 2), "lapsed: taken over and sent");
    assert!(app.store.mail().iter().all(|m| m.state == MailState::Sent && m.attempts == 2), "{:?}", app.store.mail());
    println!("lease of {lease:?}: held at {:?}, taken over at {lease:?}", lease - MS);
}

#[tokio::test]
async fn a_send_that_fails_is_retried_on_its_schedule_doubling_up_to_the_cap() {
    let ports = ticket_api::driven::memory::ports(PEPPER);
    for c in fixture_collections(&[]) {
        ports.store.add_collection(c);
    }
    for (hash, record) in fixture_keys(&pepper()) {
        ports.store.add_key(&hash, record);
    }
    let (store, mailer, clock) = (ports.store.clone(), ports.mailer.clone(), ports.clock.clone());
    let policy = DeliveryPolicy {
        lease: Duration::from_secs(60),
        sweep_after: Duration::ZERO,
        retry_base: Duration::from_secs(30),
        retry_max: Duration::from_secs(120),
        max_send_rate: Some(10_000.0),
        send_budget: Duration::from_secs(1),
        ..DeliveryPolicy::default()
    };
    let service = Arc::new(TicketService::new(ports, BASE_URL).with_delivery(policy));
    let app = app::<lambda_http::Body, _>(service.clone());
    let sweep = || service.sweep(tokio::time::Instant::now() + Duration::from_secs(10));
    assert_eq!(call(&app, create("user@email.com")).await.status, 201);
    let only = |store: &ticket_api::driven::memory::MemoryStore| -> Mail { store.mail().remove(0) };

    mailer.set_outage(true);
    let mut waits = Vec::new();
    for attempt in 1..=5u32 {
        let tried = mailer.attempts();
        assert_eq!(sweep().await.unwrap().retrying, 1, "attempt {attempt} fails and is scheduled again");
        assert_eq!(mailer.attempts(), tried + 1);
        let mail = only(&store);
        assert_eq!((mail.state, mail.attempts), (MailState::Retrying, attempt));
        let wait = Duration::from_millis(mail.due_at_ms.unwrap() - clock.now().ms());
        // Doubling from 30 s, capped at 120 s, less up to a fifth at random.
        let full = policy.retry_base.saturating_mul(1 << (attempt - 1)).min(policy.retry_max);
        assert!(wait <= full && wait >= full.mul_f64(0.8), "attempt {attempt}: waits {wait:?}, not about {full:?}");
        waits.push(wait);
        assert_eq!(sweep().await.unwrap().due, 0, "nothing is due before its time");
        clock.advance(wait - MS);
        assert_eq!(sweep().await.unwrap().due, 0, "one millisecond before, still nothing");
        assert_eq!(mailer.attempts(), tried + 1);
        clock.advance(MS);
    }
    mailer.set_outage(false);
    assert_eq!(sweep().await.unwrap().sent, 1, "due at its time, and sent once SES is back");
    assert_eq!((only(&store).state, mailer.sent().len()), (MailState::Sent, 1));
    println!("retry waits: {waits:?}");
}

#[tokio::test]
async fn an_abuse_limit_window_turns_with_the_hour_of_the_clock() {
    let app = memory_app();
    let mut demo_collection = app.store.collection(&demo()).unwrap();
    demo_collection.rate_limits = RateLimits { per_requester: 2, ..demo_collection.rate_limits };
    app.store.add_collection(demo_collection);
    let hour = 3_600_000;
    let start = Now::from_ms((app.clock.now().ms() / hour + 1) * hour);
    app.clock.set(Now::from_ms(start.ms() + 600_000));

    assert_eq!(call(&app.app, create("same@email.com")).await.status, 201);
    assert_eq!(call(&app.app, create("same@email.com")).await.status, 201);
    let refused = call(&app.app, create("same@email.com")).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (429, Some("rate_limited")));
    assert_eq!(refused.header("retry-after"), Some("3000"), "50 minutes to the hour's end");
    app.clock.set(Now::from_ms(start.ms() + hour - 1_000));
    let refused = call(&app.app, create("same@email.com")).await;
    assert_eq!((refused.status.as_u16(), refused.header("retry-after")), (429, Some("1")), "a second before it turns");
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(call(&app.app, create("same@email.com")).await.status, 201, "a new hour, a new count");
    assert_eq!(app.store.tickets().len(), 3, "the refused ones took no number");
}

#[tokio::test]
async fn a_requesters_replies_are_counted_per_ticket_and_hour_of_the_clock() {
    let app = memory_app();
    let mut demo_collection = app.store.collection(&demo()).unwrap();
    demo_collection.rate_limits = RateLimits { per_ticket_replies: 1, ..demo_collection.rate_limits };
    app.store.add_collection(demo_collection);
    let hour = 3_600_000;
    app.clock.set(Now::from_ms((app.clock.now().ms() / hour + 1) * hour));
    let created = call(&app.app, create("user@email.com")).await;
    let link = created.body["privateUrl"].as_str().unwrap().trim_start_matches(BASE_URL).to_owned();
    let (path, query) = link.split_once('?').unwrap();
    let reply = || {
        axum::http::Request::post(format!("{path}/messages?{query}"))
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(r#"{"message": "still there?"}"#))
            .unwrap()
    };
    assert_eq!(call(&app.app, reply()).await.status, 201);
    let refused = call(&app.app, reply()).await;
    assert_eq!((refused.status.as_u16(), refused.header("retry-after")), (429, Some("3600")));
    app.clock.advance(Duration::from_secs(3_600));
    assert_eq!(call(&app.app, reply()).await.status, 201, "the next hour takes a reply again");
}
