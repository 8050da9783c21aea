//! Local latency and throughput: the local server (the same Router, over HTTP on 127.0.0.1) against DynamoDB
//! Local, with the stand-in for the event source mapping delivering from DynamoDB Local's stream to the SES
//! stand-in, as `make run` does. First one client: the latency of a create (to its 201), and of delivery (from
//! the 201 to the requester's e-mail reaching SES, timed by a pass-through in front of the stand-in). Then
//! concurrent keep-alive clients for a fixed time: requests per second, latency percentiles, and where the time
//! goes (each AWS call of the create path, from the SDK interceptor). Everything shares this machine's cores.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::sync::Mutex;

use common::PEPPER;
use ticket_api::config::{Config, PepperSource, Upstream};
use ticket_api::domain::{ApiKey, DeliveryPolicy};
use ticket_api::driven::CallLog;

const CLIENTS: usize = 16;
const DURATION: Duration = Duration::from_secs(10);
const ONE_CLIENT_CREATES: usize = 300;

/// A pass-through in front of the SES stand-in that notes when each recipient's e-mail arrived.
async fn timed_ses(upstream: String) -> (String, Arc<Mutex<HashMap<String, Instant>>>) {
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let noted = arrived.clone();
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (noted, client, upstream) = (noted.clone(), client.clone(), upstream.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let to = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["Destination"]["ToAddresses"][0].as_str().map(str::to_owned));
            let mut forward = client.request(parts.method.clone(), format!("{upstream}{}", parts.uri));
            for (name, value) in parts.headers.iter().filter(|(n, _)| *n != "host") {
                forward = forward.header(name, value);
            }
            let answer = forward.body(body).send().await.unwrap();
            if let Some(to) = to.filter(|_| answer.status().is_success()) {
                noted.lock().unwrap().insert(to, Instant::now());
            }
            let mut response = axum::http::Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            response.body(axum::body::Body::from(answer.bytes().await.unwrap())).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrived)
}

#[tokio::main]
async fn main() {
    if !common::benchmarking() {
        return;
    }
    let sdk = ticket_api::compose::sdk_config(Upstream::default()).await;
    let key = ApiKey::generate();
    let store = common::seeded_store(&sdk, "tput", "tput", &key).await;
    let tables = store.tables().clone();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = Config {
        tables,
        sender_email: "support@example.com".into(),
        configuration_set: None,
        public_base_url: base.clone(),
        pepper: PepperSource::Inline(PEPPER.to_owned().into()),
        upstream: Upstream::default(),
        key_cache_ttl: ticket_api::domain::keys::DEFAULT_KEY_CACHE_TTL,
        // The account's pace would make this a benchmark of SES's 14 a second; the stream delivers, not the sweep.
        delivery: DeliveryPolicy { max_send_rate: Some(1_000.0), ..DeliveryPolicy::default() },
        send_timeout: ticket_api::config::DEFAULT_SEND_TIMEOUT,
        function_timeout: ticket_api::config::DEFAULT_FUNCTION_TIMEOUT,
        warm_up_connections: None,
        inbound_domain: None,
        inbound_store: None,
        webhooks_loopback: Default::default(),
        files: None,
        file_scanning: false,
    };
    let (ses, arrived) =
        timed_ses(std::env::var("AWS_ENDPOINT_URL_SESV2").expect("make bench starts the SES stand-in")).await;
    let log = CallLog::default();
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(log.clone()).build();
    let sesv2 = aws_sdk_sesv2::config::Builder::from(&sdk).endpoint_url(&ses).build();
    let service = Arc::new(ticket_api::compose::configured(
        ticket_api::compose::ports(&sdk, &config, None)
            .unwrap()
            .with_store(ticket_api::driven::DynamoStore::new(
                aws_sdk_dynamodb::Client::from_conf(dynamodb),
                config.tables.clone(),
            ))
            .with_mailer(ticket_api::driven::SesMailer::new(
                aws_sdk_sesv2::Client::from_conf(sesv2),
                config.sender_email.clone(),
            )),
        &config,
    ));
    let function = Arc::new(ticket_api::driving::Function::new(service.clone()));
    let arn = service.store().tickets_stream_arn().await.unwrap();
    let poller = ticket_api::local::StreamPoller::new(
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        arn,
        ticket_api::driving::stream::MAPPING,
        ticket_api::local::StartAt::TrimHorizon,
    );
    tokio::spawn(poller.run(function));
    let app = ticket_api::driving::http::app::<axum::body::Body, _>(service);
    let make_service = axum::ServiceExt::<axum::http::Request<axum::body::Body>>::into_make_service(app);
    tokio::spawn(async move { axum::serve(listener, make_service).await.unwrap() });

    let client = reqwest::Client::new();
    let url = format!("{base}/ticket/tput");
    let post = |client: reqwest::Client, url: String, key: String, requester: String| async move {
        let body = serde_json::json!({"userEmail": requester, "title": "Enquiry about pricing", "message": "Please explain about the pricing plans"});
        let response = client
            .post(&url)
            .header("x-api-key", key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    };
    // Warm: the key and the collection's limits cached, connections open.
    post(client.clone(), url.clone(), key.reveal().to_owned(), "warm@example.com".into()).await;

    // One client: each create's 201, then its requester's e-mail at SES.
    let mut answered = Vec::new();
    let mut create_latency = Vec::new();
    for i in 0..ONE_CLIENT_CREATES {
        let requester = format!("one-{i}@example.com");
        let t = Instant::now();
        post(client.clone(), url.clone(), key.reveal().to_owned(), requester.clone()).await;
        create_latency.push(t.elapsed());
        answered.push((requester, Instant::now()));
        // A steady trickle, as from a form: a create every 20 ms.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wait_until = Instant::now() + Duration::from_secs(60);
    // Until every requester's own e-mail is in (the team's e-mails arrive too, under one address of their own).
    let all_in = || {
        let arrived = arrived.lock().unwrap();
        answered.iter().all(|(to, _)| arrived.contains_key(to))
    };
    while !all_in() && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut delivery_latency: Vec<Duration> = {
        let arrived = arrived.lock().unwrap();
        answered.iter().filter_map(|(to, at)| arrived.get(to).map(|got| got.saturating_duration_since(*at))).collect()
    };
    create_latency.sort();
    delivery_latency.sort();
    let figure = |times: &[Duration], q| common::millis(common::percentile(times, q));
    println!(
        "one client, {ONE_CLIENT_CREATES} creates: 201 p50 {} ms, p99 {} ms; e-mail at SES after the 201 p50 {} ms, \
         p99 {} ms ({} of {ONE_CLIENT_CREATES} arrived)",
        figure(&create_latency, 50.0),
        figure(&create_latency, 99.0),
        figure(&delivery_latency, 50.0),
        figure(&delivery_latency, 99.0),
        delivery_latency.len()
    );
    common::record(serde_json::json!({
        "figure": "latency", "creates": ONE_CLIENT_CREATES, "delivered": delivery_latency.len(),
        "create_p50_ms": figure(&create_latency, 50.0), "create_p99_ms": figure(&create_latency, 99.0),
        "delivery_p50_ms": figure(&delivery_latency, 50.0), "delivery_p99_ms": figure(&delivery_latency, 99.0),
    }));
    log.clear();

    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            let (client, url, key) = (client.clone(), url.clone(), key.reveal().to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while started.elapsed() < DURATION {
                    let t = Instant::now();
                    n += 1;
                    post(client.clone(), url.clone(), key.clone(), format!("load-{worker}-{n}@example.com")).await;
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
    // The create path's calls (delivery's run alongside, on the same clients).
    for call in log.calls().into_iter().filter(|c| c.service == "DynamoDB") {
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
