//! Local throughput: the local server (the same Router, over HTTP on 127.0.0.1) against DynamoDB Local and the
//! SES stand-in, with concurrent keep-alive clients for a fixed time. Reports requests per second, latency
//! percentiles, and where the time goes: the mean duration of each AWS call of the create path, from the
//! SDK interceptor. Everything shares this machine's cores, the stand-ins included.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::PEPPER;
use ticket_api::aws::CallLog;
use ticket_api::config::{Config, PepperSource, Upstream};
use ticket_api::domain::ApiKey;

const CLIENTS: usize = 16;
const DURATION: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() {
    if !common::benchmarking() {
        return;
    }
    let sdk = ticket_api::aws::sdk_config(Upstream::default()).await;
    let key = ApiKey::generate();
    let store = common::seeded_store(&sdk, "tput", "tput", &key).await;
    let tables = store.tables().clone();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = Config {
        tables,
        sender_email: "support@example.com".into(),
        public_base_url: base.clone(),
        pepper: PepperSource::Inline(PEPPER.to_owned().into()),
        upstream: Upstream::default(),
        key_cache_ttl: ticket_api::service::DEFAULT_KEY_CACHE_TTL,
    };
    let log = CallLog::default();
    let service = Arc::new(ticket_api::aws::service_on(&sdk, &config, Some(&log)).unwrap());
    let app = ticket_api::http::app::<axum::body::Body, _, _, _>(service);
    let make_service = axum::ServiceExt::<axum::http::Request<axum::body::Body>>::into_make_service(app);
    tokio::spawn(async move { axum::serve(listener, make_service).await.unwrap() });

    let client = reqwest::Client::new();
    let url = format!("{base}/ticket/tput");
    const BODY: &str = r#"{"userEmail": "user@email.com", "title": "Enquiry about pricing", "message": "Please explain about the pricing plans"}"#;
    let post = |client: reqwest::Client, url: String, key: String| async move {
        let response = client
            .post(&url)
            .header("x-api-key", key)
            .header("content-type", "application/json")
            .body(BODY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    };
    post(client.clone(), url.clone(), key.reveal().to_owned()).await; // warm: key cached, connections open
    log.clear();

    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url, key) = (client.clone(), url.clone(), key.reveal().to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < DURATION {
                    let t = Instant::now();
                    post(client.clone(), url.clone(), key.clone()).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let rps = latencies.len() as f64 / elapsed.as_secs_f64();

    let mut by_call: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for call in log.calls() {
        if let Some(finished) = call.finished {
            let what = match call.table.as_deref() {
                Some(t) => format!("{} ({})", call.iam_action(), t.rsplit('-').next().unwrap_or(t)),
                None => call.iam_action(),
            };
            by_call.entry(what).or_default().push(finished - call.started);
        }
    }
    let breakdown: serde_json::Map<String, serde_json::Value> = by_call
        .iter_mut()
        .map(|(what, times)| {
            times.sort();
            let mean = times.iter().sum::<Duration>() / times.len() as u32;
            (what.clone(), serde_json::json!({"calls": times.len(), "mean_ms": common::millis(mean), "p50_ms": common::millis(common::percentile(times, 50.0))}))
        })
        .collect();
    println!(
        "{CLIENTS} clients for {}s: {} creates, {rps:.0} req/s, p50 {} ms, p99 {} ms",
        DURATION.as_secs(),
        latencies.len(),
        common::millis(common::percentile(&latencies, 50.0)),
        common::millis(common::percentile(&latencies, 99.0))
    );
    for (what, figures) in &breakdown {
        println!("  {what}: {figures}");
    }
    common::record(serde_json::json!({
        "figure": "throughput", "clients": CLIENTS, "seconds": DURATION.as_secs(), "requests": latencies.len(),
        "rps": (rps * 10.0).round() / 10.0,
        "p50_ms": common::millis(common::percentile(&latencies, 50.0)),
        "p99_ms": common::millis(common::percentile(&latencies, 99.0)),
        "calls": breakdown,
    }));
}
