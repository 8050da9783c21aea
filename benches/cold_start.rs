//! Cold start and memory, under a harness that plays the Lambda Runtime API on 127.0.0.1.
//!
//! Each run starts a release binary as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at the harness) and
//! measures exec → its first poll of /runtime/invocation/next (init) and exec → its first response (init plus
//! the first invocation, here a real create on DynamoDB Local and the SES stand-in). The hello-world
//! lambda_http binary is measured the same way in the same run. `bootstrap` runs twice: with the pepper in the
//! environment and with the pepper read from Secrets Manager (moto), so that the fetch shows on its own.
//! Then one process of each serves 1,000 invocations and its peak RSS is read from /proc.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use common::PEPPER;
use ticket_api::domain::ApiKey;
use tokio::sync::mpsc;

const RUNS: usize = 31;

/// A process environment, as pairs.
type Env = [(String, String)];
const INVOCATIONS_FOR_MEMORY: usize = 1_000;

/// What the harness has seen of the process it is serving.
struct Run {
    event: Bytes,
    left: usize,
    polled: Option<Instant>,
    responses: mpsc::UnboundedSender<(Instant, Bytes)>,
}

type Shared = Arc<Mutex<Option<Run>>>;

async fn next(State(shared): State<Shared>) -> axum::response::Response {
    let event = {
        let mut guard = shared.lock().unwrap();
        let run = guard.as_mut().expect("a run is set up before the process starts");
        run.polled.get_or_insert_with(Instant::now);
        if run.left == 0 {
            None
        } else {
            run.left -= 1;
            Some(run.event.clone())
        }
    };
    match event {
        // No more work: hold the long poll, as Lambda does while a sandbox is frozen.
        None => std::future::pending().await,
        Some(event) => {
            let deadline =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_secs(30);
            let id = ticket_api::domain::keys::random_hex::<16>();
            (
                [
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.as_millis().to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
                    ),
                    ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into()),
                    ("content-type", "application/json".into()),
                ],
                event,
            )
                .into_response()
        }
    }
}

use axum::response::IntoResponse;

async fn respond(State(shared): State<Shared>, _headers: HeaderMap, body: Bytes) -> axum::http::StatusCode {
    if let Some(run) = shared.lock().unwrap().as_ref() {
        let _ = run.responses.send((Instant::now(), body));
    }
    axum::http::StatusCode::ACCEPTED
}

async fn failed(body: Bytes) -> axum::http::StatusCode {
    panic!("the function reported an error: {}", String::from_utf8_lossy(&body));
}

struct Measured {
    init: Duration,
    first_response: Duration,
}

struct Harness {
    shared: Shared,
    address: String,
}

impl Harness {
    async fn start() -> Self {
        let shared: Shared = Arc::new(Mutex::new(None));
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(failed))
            .route("/2018-06-01/runtime/init/error", post(failed))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { shared, address }
    }

    fn spawn(
        &self,
        binary: &Path,
        env: &[(String, String)],
        event: &Bytes,
        invocations: usize,
    ) -> (Child, mpsc::UnboundedReceiver<(Instant, Bytes)>, Instant) {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.shared.lock().unwrap() =
            Some(Run { event: event.clone(), left: invocations, polled: None, responses: tx });
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
            .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let started = Instant::now();
        let child = command.spawn().unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        (child, rx, started)
    }

    async fn cold_start(&self, binary: &Path, env: &[(String, String)], event: &Bytes) -> Measured {
        let (mut child, mut rx, started) = self.spawn(binary, env, event, 1);
        let (at, body) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("a response").unwrap();
        let polled = self.shared.lock().unwrap().as_ref().unwrap().polled.unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let status = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["statusCode"].as_u64());
        assert!(matches!(status, Some(200 | 201)), "{}: {}", binary.display(), String::from_utf8_lossy(&body));
        Measured { init: polled - started, first_response: at - started }
    }

    /// Peak resident memory (VmHWM) after `n` invocations, in MiB.
    async fn peak_rss_after(&self, binary: &Path, env: &[(String, String)], event: &Bytes, n: usize) -> f64 {
        let (mut child, mut rx, _) = self.spawn(binary, env, event, n);
        for _ in 0..n {
            tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("a response").unwrap();
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .expect("VmHWM in /proc/PID/status");
        (kib / 1024.0 * 10.0).round() / 10.0
    }
}

fn summary(name: &str, samples: &mut [Duration]) -> serde_json::Value {
    samples.sort();
    serde_json::json!({
        "median_ms": common::millis(common::percentile(samples, 50.0)),
        "min_ms": common::millis(samples[0]),
        "max_ms": common::millis(samples[samples.len() - 1]),
        "runs": samples.len(),
        "name": name,
    })
}

fn release_binary(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    assert!(path.exists(), "{} is missing: `make bench` builds it first", path.display());
    path
}

#[tokio::main]
async fn main() {
    if !common::benchmarking() {
        return;
    }
    let bootstrap = release_binary("target/release/bootstrap");
    let hello = release_binary("target/release/examples/hello_lambda");

    // Tables and a pepper secret on the local stand-ins, with the fixture key of events/.
    let sdk = ticket_api::compose::sdk_config(ticket_api::config::Upstream::default()).await;
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("events/expected.json")).unwrap(),
    )
    .unwrap();
    let key = ApiKey::parse(expected["keys"]["granted"].as_str().unwrap()).unwrap();
    let store = common::seeded_store(&sdk, "bench", "demo-collection", &key).await;
    let tables = store.tables().clone();
    let secret_id = format!("{}-pepper", tables.api_keys);
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret_id)
        .secret_string(PEPPER)
        .send()
        .await
        .unwrap();

    let mut env: Vec<(String, String)> =
        std::env::vars().filter(|(k, _)| k.starts_with("AWS_") && !k.starts_with("AWS_LAMBDA")).collect();
    env.extend([
        ("API_KEYS_TABLE".into(), tables.api_keys.clone()),
        ("COLLECTIONS_TABLE".into(), tables.collections.clone()),
        ("TICKETS_TABLE".into(), tables.tickets.clone()),
        ("LIMITS_TABLE".into(), tables.limits.clone()),
        ("IDEMPOTENCY_TABLE".into(), tables.idempotency.clone()),
        ("SUPPRESSIONS_TABLE".into(), tables.suppressions.clone()),
        ("SENDER_EMAIL".into(), "support@example.com".into()),
        ("PUBLIC_BASE_URL".into(), "https://support.example.com".into()),
    ]);
    let mut inline = env.clone();
    inline.push(("API_KEY_PEPPER".into(), PEPPER.into()));
    let mut from_secrets_manager = env.clone();
    from_secrets_manager.push(("API_KEY_PEPPER_SECRET_ID".into(), secret_id));

    let created =
        Bytes::from(std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("events/http-api.created.json")).unwrap());
    let harness = Harness::start().await;
    let variants: [(&str, &Path, &Env); 3] = [
        ("hello-world lambda_http", &hello, &env),
        ("bootstrap, pepper in the environment", &bootstrap, &inline),
        ("bootstrap, pepper from Secrets Manager", &bootstrap, &from_secrets_manager),
    ];
    // Round robin: each round starts every variant once, so that drift of the machine touches all alike.
    let mut samples: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(Vec::new(), Vec::new()); variants.len()];
    for round in 0..=RUNS {
        for ((_, binary, env), (init, first)) in variants.iter().zip(samples.iter_mut()) {
            // Let the stand-ins (a JVM among them) finish with the previous run's create before the next start.
            tokio::time::sleep(Duration::from_millis(250)).await;
            let m = harness.cold_start(binary, env, &created).await;
            // Round 0 warms the page cache and the harness.
            if round > 0 {
                init.push(m.init);
                first.push(m.first_response);
            }
        }
    }
    let mut results = Vec::new();
    for ((name, _, _), (mut init, mut first)) in variants.iter().zip(samples) {
        let (init, first) = (summary(name, &mut init), summary(name, &mut first));
        println!("{name}: init median {} ms, first response median {} ms", init["median_ms"], first["median_ms"]);
        results.push(serde_json::json!({"name": name, "init": init, "first_response": first}));
    }
    common::record(serde_json::json!({"figure": "cold_start", "runs": RUNS, "variants": results}));

    let hello_rss = harness.peak_rss_after(&hello, &env, &created, INVOCATIONS_FOR_MEMORY).await;
    let ours_rss = harness.peak_rss_after(&bootstrap, &from_secrets_manager, &created, INVOCATIONS_FOR_MEMORY).await;
    println!(
        "peak RSS after {INVOCATIONS_FOR_MEMORY} invocations: bootstrap {ours_rss} MiB, hello world {hello_rss} MiB"
    );
    common::record(serde_json::json!({
        "figure": "memory", "invocations": INVOCATIONS_FOR_MEMORY, "bootstrap_mib": ours_rss, "hello_mib": hello_rss,
    }));
}
