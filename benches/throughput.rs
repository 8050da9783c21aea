//! Local throughput: the local server (the same Router, over HTTP on 127.0.0.1) against DynamoDB Local and the
//! SES stand-in, with concurrent keep-alive clients for a fixed time. Reports requests per second, latency
//! percentiles, and where the time goes: the mean duration of each AWS call of the create path, from the
//! SDK interceptor. Everything shares this machine's cores, the stand-ins included.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ticket_api::aws::{CallLog, DynamoStore};
use ticket_api::config::{Config, PepperSource, Tables, Upstream};
use ticket_api::domain::{ApiKey, ApiKeyRecord, Collection, CollectionId, CollectionName, Email, Pepper};

const CLIENTS: usize = 16;
const DURATION: Duration = Duration::from_secs(10);
const PEPPER: &str = "pepper-for-benchmarks-only-0123456789ab";

#[tokio::main]
async fn main() {
    if !common::benchmarking() {
        return;
    }
    let sdk = ticket_api::aws::sdk_config(Upstream::default()).await;
    let run = ticket_api::domain::keys::random_hex::<4>();
    let tables = Tables {
        api_keys: format!("tput-{run}-keys"),
        collections: format!("tput-{run}-collections"),
        tickets: format!("tput-{run}-tickets"),
        idempotency: format!("tput-{run}-idempotency"),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables.clone());
    store.create_tables().await.unwrap();
    let id = CollectionId::parse("tput").unwrap();
    store
        .insert_collection(&Collection {
            collection_id: id.clone(),
            name: CollectionName::parse("Throughput").unwrap(),
            notify_emails: vec![Email::parse("team@example.com").unwrap()],
            ticketing_enabled: true,
            last_ticket_number: 0,
            created_at: "2026-11-25T00:00:00Z".into(),
        })
        .await
        .unwrap();
    let key = ApiKey::generate();
    let record = ApiKeyRecord {
        key_id: "tput".into(),
        name: "tput".into(),
        last4: key.last4(),
        collections: vec![id],
        created_at: "now".into(),
        revoked_at: None,
    };
    store.insert_key(&Pepper::new(PEPPER.to_owned().into()).unwrap().hash(&key), &record).await.unwrap();

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
