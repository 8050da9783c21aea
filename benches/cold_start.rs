//! Cold start and memory, under a harness that plays the Lambda Runtime API on 127.0.0.1.
//!
//! Each run starts a release binary as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at the harness) and
//! measures exec → its first poll of /runtime/invocation/next (init) and exec → its first response (init plus
//! the first invocation, here a real create on DynamoDB Local). As Lambda runs it: DynamoDB and Secrets Manager
//! behind TLS fronts with a test CA (the process trusts it through `AWS_CA_BUNDLE`), so that every connection
//! costs a handshake as AWS's endpoints do, and the process held to the CPU share of 256 MB (256/1769 of a
//! core) by a cgroup CPU quota, from exec or (as Lambda is reported to give init more CPU) from the end of
//! init. Beside it: the hello-world lambda_http binary, `bootstrap` without opening connections at start-up
//! (`WARM_UP_CONNECTIONS=0`), both binaries on a whole core over plain HTTP, and `bootstrap`'s init with no
//! I/O at all (the pepper in the environment, no warm-up): what it computes.
//! Then one process of each serves 1,000 invocations and its peak RSS is read from /proc.

mod common;
#[path = "../tests/it/helpers/tls.rs"]
mod tls;

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

const RUNS: usize = 21;
/// Lambda's CPU share at 256 MB: a whole vCPU at 1,769 MB, in proportion below.
const LAMBDA_MEMORY_MB: u64 = 256;
const FULL_VCPU_MB: u64 = 1_769;

/// A process environment, as pairs.
type Env = [(String, String)];
const INVOCATIONS_FOR_MEMORY: usize = 1_000;

/// What the harness has seen of the process it is serving.
struct Run {
    event: Bytes,
    left: usize,
    polled: Option<Instant>,
    responses: mpsc::UnboundedSender<(Instant, Bytes)>,
    /// Where to move the process when its init ends (its first poll), and its pid.
    after_init: Option<(PathBuf, u32)>,
}

type Shared = Arc<Mutex<Option<Run>>>;

async fn next(State(shared): State<Shared>) -> axum::response::Response {
    let event = {
        let mut guard = shared.lock().unwrap();
        let run = guard.as_mut().expect("a run is set up before the process starts");
        if run.polled.is_none() {
            run.polled = Some(Instant::now());
            // Init is over: from here the process runs at its share, before it gets its event.
            if let Some((procs, pid)) = run.after_init.take() {
                std::fs::write(procs, pid.to_string()).expect("the process joins the cgroup");
            }
        }
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
            let id = ticket_api::domain::random::random_hex::<16>();
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
        start: &Start<'_>,
        event: &Bytes,
        invocations: usize,
    ) -> (Child, mpsc::UnboundedReceiver<(Instant, Bytes)>, Instant) {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.shared.lock().unwrap() =
            Some(Run { event: event.clone(), left: invocations, polled: None, responses: tx, after_init: None });
        let mut command = match start.share {
            // The shell joins the cgroup, then becomes the binary: the whole process runs under the quota.
            Share::Always(share) => {
                let mut shell = Command::new("/bin/sh");
                shell.args(["-c", r#"echo $$ > "$0" && exec "$1""#]).arg(&share.procs).arg(start.binary);
                shell
            }
            Share::AfterInit(_) | Share::Whole => Command::new(start.binary),
        };
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
        for (k, v) in start.env {
            command.env(k, v);
        }
        let started = Instant::now();
        let child = command.spawn().unwrap_or_else(|e| panic!("{}: {e}", start.binary.display()));
        if let Share::AfterInit(share) = start.share {
            self.shared.lock().unwrap().as_mut().unwrap().after_init = Some((share.procs.clone(), child.id()));
        }
        (child, rx, started)
    }

    async fn cold_start(&self, start: &Start<'_>, event: &Bytes) -> Measured {
        let (mut child, mut rx, started) = self.spawn(start, event, 1);
        let (at, body) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("a response").unwrap();
        let polled = self.shared.lock().unwrap().as_ref().unwrap().polled.unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let status = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["statusCode"].as_u64());
        assert!(matches!(status, Some(200 | 201)), "{}: {}", start.name, String::from_utf8_lossy(&body));
        Measured { init: polled - started, first_response: at - started }
    }

    /// Peak resident memory (VmHWM) after `n` invocations, in MiB.
    async fn peak_rss_after(&self, start: &Start<'_>, event: &Bytes, n: usize) -> f64 {
        let (mut child, mut rx, _) = self.spawn(start, event, n);
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

/// A process to start: its binary and environment, and the CPU it may use.
#[derive(Clone, Copy)]
struct Start<'a> {
    name: &'a str,
    binary: &'a Path,
    env: &'a Env,
    share: Share<'a>,
}

/// The CPU a process may use: a whole core, its share from exec, or a whole core for its init and its share
/// from its first poll on (as Lambda is reported to run init with more CPU than the memory's share).
#[derive(Clone, Copy)]
enum Share<'a> {
    Whole,
    Always(&'a CpuShare),
    AfterInit(&'a CpuShare),
}

/// A cgroup whose CPU quota is `LAMBDA_MEMORY_MB`'s share of a core (cgroup v1's cpu controller or v2's
/// cpu.max), removed when dropped. None where no cgroup can be made (not root, no cpu controller): the
/// figures then say the share was not applied.
struct CpuShare {
    dir: PathBuf,
    procs: PathBuf,
}

impl CpuShare {
    const PERIOD_US: u64 = 100_000;

    fn new() -> Option<Self> {
        let quota = Self::PERIOD_US * LAMBDA_MEMORY_MB / FULL_VCPU_MB;
        let name = format!("ticket-api-bench-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let v2 = Path::new("/sys/fs/cgroup");
        let made = if v1.join("cpu.cfs_quota_us").exists() {
            let dir = v1.join(&name);
            std::fs::create_dir(&dir).ok()?;
            let set = std::fs::write(dir.join("cpu.cfs_period_us"), Self::PERIOD_US.to_string())
                .and_then(|()| std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string()));
            (dir, set)
        } else if std::fs::read_to_string(v2.join("cgroup.controllers")).is_ok_and(|c| c.contains("cpu")) {
            let dir = v2.join(&name);
            std::fs::create_dir(&dir).ok()?;
            let set = std::fs::write(dir.join("cpu.max"), format!("{quota} {}", Self::PERIOD_US));
            (dir, set)
        } else {
            return None;
        };
        match made {
            (dir, Ok(())) => Some(Self { procs: dir.join("cgroup.procs"), dir }),
            (dir, Err(e)) => {
                eprintln!("no CPU quota ({e}): the figures are on a whole core");
                let _ = std::fs::remove_dir(dir);
                None
            }
        }
    }

    fn fraction() -> f64 {
        LAMBDA_MEMORY_MB as f64 / FULL_VCPU_MB as f64
    }
}

impl Drop for CpuShare {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
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

    // The stand-ins' AWS variables (endpoints, credentials, region), without a CA bundle the machine may set for a
    // proxy of its own: the TLS variants name their test CA, the others read none, as on Lambda. A system bundle
    // passed on (144 certificates here) was read and parsed at every start, most of the "no I/O" init.
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_") && !k.starts_with("AWS_LAMBDA") && k != "AWS_CA_BUNDLE")
        .collect();
    env.extend([
        ("API_KEYS_TABLE".into(), tables.api_keys.clone()),
        ("COLLECTIONS_TABLE".into(), tables.collections.clone()),
        ("TICKETS_TABLE".into(), tables.tickets.clone()),
        ("LIMITS_TABLE".into(), tables.limits.clone()),
        ("IDEMPOTENCY_TABLE".into(), tables.idempotency.clone()),
        ("SUPPRESSIONS_TABLE".into(), tables.suppressions.clone()),
        ("SENDER_EMAIL".into(), "support@example.com".into()),
        ("PUBLIC_BASE_URL".into(), "https://support.example.com".into()),
        ("API_KEY_PEPPER_SECRET_ID".into(), secret_id),
    ]);
    // As on AWS: every endpoint the create and start-up reach is TLS, with a CA the process is told to trust.
    let ca = tls::TestCa::new();
    let ca_file = ca.file();
    let mut over_tls = env.clone();
    over_tls.retain(|(k, _)| k != "AWS_ENDPOINT_URL_DYNAMODB" && k != "AWS_ENDPOINT_URL_SECRETS_MANAGER");
    let (dynamodb, secrets) = (var("AWS_ENDPOINT_URL_DYNAMODB"), var("AWS_ENDPOINT_URL_SECRETS_MANAGER"));
    let (dynamodb, secrets) = (ca.front(&dynamodb).await, ca.front(&secrets).await);
    over_tls.extend([
        ("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb.url.clone()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), secrets.url.clone()),
        ("AWS_CA_BUNDLE".into(), ca_file.path.display().to_string()),
    ]);
    let mut no_warm_up = over_tls.clone();
    no_warm_up.push(("WARM_UP_CONNECTIONS".into(), "0".into()));
    // Init with no I/O at all: what the process itself computes before it can take an event.
    let mut no_io = env.clone();
    no_io.retain(|(k, _)| k != "API_KEY_PEPPER_SECRET_ID");
    no_io.extend([("API_KEY_PEPPER".into(), PEPPER.into()), ("WARM_UP_CONNECTIONS".into(), "0".into())]);

    let share = CpuShare::new();
    let applied = share.is_some();
    if !applied {
        eprintln!(
            "no cgroup CPU quota could be set (not root, or no cpu controller): every variant runs on a whole core"
        );
    }
    let created =
        Bytes::from(std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("events/http-api.created.json")).unwrap());
    let harness = Harness::start().await;
    let (always, after_init) = match share.as_ref() {
        Some(share) => (Share::Always(share), Share::AfterInit(share)),
        None => (Share::Whole, Share::Whole),
    };
    let variants = [
        Start { name: "hello world, CPU share", binary: &hello, env: &env, share: always },
        Start { name: "bootstrap, TLS, CPU share", binary: &bootstrap, env: &over_tls, share: always },
        Start { name: "bootstrap, TLS, CPU share, no warm-up", binary: &bootstrap, env: &no_warm_up, share: always },
        Start { name: "bootstrap, TLS, whole core for init", binary: &bootstrap, env: &over_tls, share: after_init },
        Start {
            name: "bootstrap, TLS, whole core for init, no warm-up",
            binary: &bootstrap,
            env: &no_warm_up,
            share: after_init,
        },
        Start { name: "hello world, whole core", binary: &hello, env: &env, share: Share::Whole },
        Start { name: "bootstrap, plain HTTP, whole core", binary: &bootstrap, env: &env, share: Share::Whole },
        Start { name: "bootstrap, no I/O in init, whole core", binary: &bootstrap, env: &no_io, share: Share::Whole },
    ];
    // Round robin: each round starts every variant once, so that drift of the machine touches all alike.
    let mut samples: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(Vec::new(), Vec::new()); variants.len()];
    for round in 0..=RUNS {
        for (start, (init, first)) in variants.iter().zip(samples.iter_mut()) {
            // Let the stand-ins (a JVM among them) finish with the previous run's create before the next start.
            tokio::time::sleep(Duration::from_millis(250)).await;
            let m = harness.cold_start(start, &created).await;
            // Round 0 warms the page cache and the harness.
            if round > 0 {
                init.push(m.init);
                first.push(m.first_response);
            }
        }
    }
    let mut results = Vec::new();
    for (start, (mut init, mut first)) in variants.iter().zip(samples) {
        let mut invocation: Vec<Duration> = init.iter().zip(&first).map(|(i, f)| *f - *i).collect();
        let (init, first, invocation) =
            (summary(start.name, &mut init), summary(start.name, &mut first), summary(start.name, &mut invocation));
        println!(
            "{}: init median {} ms, first invocation median {} ms, first response median {} ms",
            start.name, init["median_ms"], invocation["median_ms"], first["median_ms"]
        );
        results.push(serde_json::json!({"name": start.name, "init": init, "first_invocation": invocation,
            "first_response": first}));
    }
    println!("TLS handshakes: DynamoDB {}, Secrets Manager {}", dynamodb.handshakes(), secrets.handshakes());
    common::record(serde_json::json!({
        "figure": "cold_start", "runs": RUNS, "cpu_share": applied.then(CpuShare::fraction),
        "memory_mb": LAMBDA_MEMORY_MB, "variants": results,
    }));

    let (hello_start, ours) = (&variants[5], Start { share: Share::Whole, ..variants[1] });
    let hello_rss = harness.peak_rss_after(hello_start, &created, INVOCATIONS_FOR_MEMORY).await;
    let ours_rss = harness.peak_rss_after(&ours, &created, INVOCATIONS_FOR_MEMORY).await;
    println!(
        "peak RSS after {INVOCATIONS_FOR_MEMORY} invocations: bootstrap {ours_rss} MiB, hello world {hello_rss} MiB"
    );
    common::record(serde_json::json!({
        "figure": "memory", "invocations": INVOCATIONS_FOR_MEMORY, "bootstrap_mib": ours_rss, "hello_mib": hello_rss,
    }));
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: `make bench` starts the stand-ins first"))
}
