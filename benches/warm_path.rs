//! Warm cost: the whole create path through the Router (routing, key check with a cached key, parsing and
//! validation, the abuse-limit counts, numbering, the ticket with its e-mails owed) with in-memory ports: no
//! I/O, so what is measured is this code's own CPU time per create. Then the same for delivering one of those
//! e-mails (claim, reading the ticket, making the link again, rendering, sending, recording).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::PEPPER;
use criterion::Criterion;
use ticket_api::domain::{ApiKey, DeliveryPolicy, MailKey, OutgoingEmail};
use ticket_api::driven::SystemClock;
use ticket_api::ports::{Mailer, SendError, Unavailable};
use tower::ServiceExt;

/// Accepts every e-mail and keeps none (a kept e-mail per create would make the run a memory benchmark).
struct NullMailer;

impl Mailer for NullMailer {
    async fn send(&self, _: &OutgoingEmail) -> Result<String, SendError> {
        Ok("null".into())
    }
    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        Ok(f64::MAX)
    }
}

fn main() {
    let ports = ticket_api::driven::memory::ports(PEPPER).with_mailer(NullMailer).with_clock(SystemClock);
    let store = ports.store.clone();
    let key = ApiKey::generate();
    let (collection, hash, record) = common::fixture("bench", &key);
    store.add_collection(collection);
    store.add_key(&hash, record);
    let service = Arc::new(
        ticket_api::service::TicketService::new(ports, "https://support.example.com")
            // Never paced: what is measured is the CPU time of a delivery, not the wait for a slot.
            .with_delivery(DeliveryPolicy { max_send_rate: Some(1e12), ..DeliveryPolicy::default() }),
    );
    let app = ticket_api::driving::http::app::<axum::body::Body, _>(service.clone());
    let body = r#"{"userEmail": "user@email.com", "title": "Enquiry about pricing", "message": "Please explain about the pricing plans", "customTags": {"plan": "pro", "seats": 12}}"#;
    let request = || {
        axum::http::Request::post("/ticket/bench")
            .header("content-type", "application/json")
            .header("x-api-key", key.reveal())
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let create = || async {
        let response = app.clone().oneshot(request()).await.unwrap();
        assert_eq!(response.status(), 201);
    };
    runtime.block_on(create()); // the key is now cached, as in a warm process

    if !common::benchmarking() {
        return;
    }
    let mut criterion = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(3));
    criterion.bench_function("create through the Router, in-memory ports", |b| b.to_async(&runtime).iter(create));

    // Criterion reports means and medians; the targets are percentiles, so sample each create on its own.
    let samples = 20_000;
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let started = Instant::now();
            runtime.block_on(create());
            started.elapsed()
        })
        .collect();
    times.sort();
    let (p50, p99) = (common::percentile(&times, 50.0), common::percentile(&times, 99.0));
    println!("warm create: p50 {} µs, p99 {} µs over {samples} creates", common::micros(p50), common::micros(p99));
    common::record(serde_json::json!({
        "figure": "warm_cost", "samples": samples,
        "p50_us": common::micros(p50), "p90_us": common::micros(common::percentile(&times, 90.0)),
        "p99_us": common::micros(p99), "max_us": common::micros(*times.last().unwrap()),
    }));

    // Delivering: every e-mail the creates above owe, one at a time.
    let owed: Vec<MailKey> = store.mail().iter().map(|m| m.key()).take(samples).collect();
    let mut times: Vec<Duration> = owed
        .iter()
        .map(|key| {
            let started = Instant::now();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            let delivered = runtime.block_on(service.deliver_one(key, deadline)).unwrap();
            assert_eq!(delivered, ticket_api::service::Delivered::Sent);
            started.elapsed()
        })
        .collect();
    times.sort();
    let (p50, p99) = (common::percentile(&times, 50.0), common::percentile(&times, 99.0));
    println!(
        "warm delivery: p50 {} µs, p99 {} µs over {} e-mails",
        common::micros(p50),
        common::micros(p99),
        times.len()
    );
    common::record(serde_json::json!({
        "figure": "warm_delivery", "samples": times.len(),
        "p50_us": common::micros(p50), "p99_us": common::micros(p99),
    }));
}
