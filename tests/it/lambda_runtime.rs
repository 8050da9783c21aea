//! The real Lambda runtime, locally: the `bootstrap` binary on `cargo lambda watch`'s runtime API (127.0.0.1),
//! configured as on AWS (pepper from Secrets Manager, here moto), invoked with every file in events/ by `cargo
//! lambda invoke`. Each API Gateway event must get the contract's status and code; the stream batch must deliver
//! the e-mails it names (once, however often it comes), and the schedule's sweep the rest.

use std::collections::BTreeSet;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// PATH with the project's venv first, where `make test` installed cargo-lambda.
fn path_with_tools() -> String {
    let venv = root().join(".tools/venv/bin");
    assert!(venv.join("cargo-lambda").exists(), "cargo-lambda is missing: run the tests with `make test`");
    format!("{}:{}", venv.display(), std::env::var("PATH").unwrap_or_default())
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `cargo lambda watch --only-lambda-apis` (the Lambda runtime API and the invoke endpoint) with the `bootstrap`
/// binary this `cargo test` built polling it, as Lambda runs a function. Letting cargo lambda build the binary
/// itself would compile the whole tree a second time, without the dev-dependencies' features (minutes and a
/// gigabyte of target/). Both stop with their process groups when dropped.
struct Watch {
    runtime: Child,
    function: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Watch {
    fn drop(&mut self) {
        for child in [&mut self.function, &mut self.runtime] {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            let _ = child.wait();
        }
    }
}

impl Watch {
    fn start(env: &[(&str, String)]) -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log = std::env::temp_dir().join(format!("{}.log", unique("cargo-lambda-watch")));
        let log_file = || std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let runtime = Command::new("cargo")
            .args(["lambda", "watch", "--only-lambda-apis"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()])
            .current_dir(root())
            .env("PATH", path_with_tools())
            .stdin(Stdio::null())
            .stdout(log_file())
            .stderr(log_file())
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch starts");
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "cargo lambda watch did not listen: {}", read(&log));
            std::thread::sleep(Duration::from_millis(200));
        }
        // What Lambda (and cargo lambda, printing them) gives a function's process.
        let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        command
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "bootstrap")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env_remove("API_KEY_PEPPER")
            .stdin(Stdio::null())
            .stdout(log_file())
            .stderr(log_file())
            .process_group(0);
        for (name, value) in env {
            command.env(name, value);
        }
        let function = command.spawn().expect("the bootstrap binary starts");
        Watch { runtime, function, port, log }
    }

    fn log_text(&self) -> String {
        read(&self.log)
    }

    /// The function's answer to one event file, as API Gateway would receive it.
    fn invoke(&self, event: &str) -> Value {
        let out = self.run(event);
        assert!(
            out.status.success(),
            "{event}: cargo lambda invoke failed: {}\nfunction log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{event}: not JSON ({e})"))
    }

    /// The invocation's error, for an event the function refuses.
    fn invoke_refused(&self, event: &str) -> String {
        let out = self.run(event);
        assert!(!out.status.success(), "{event} was answered: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn run(&self, event: &str) -> std::process::Output {
        Command::new("cargo")
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", &self.port.to_string()])
            // No function name: the one function polling `--only-lambda-apis` answers the default one.
            .args(["--data-file", &format!("events/{event}")])
            .current_dir(root())
            .env("PATH", path_with_tools())
            .output()
            .expect("cargo lambda invoke runs")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_binary_answers_every_event_under_the_real_runtime() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let secret_id = pepper_secret(&sdk).await;
    let tables = store.tables().clone();
    let watch = Watch::start(&[
        ("API_KEYS_TABLE", tables.api_keys.clone()),
        ("COLLECTIONS_TABLE", tables.collections.clone()),
        ("TICKETS_TABLE", tables.tickets.clone()),
        ("LIMITS_TABLE", tables.limits.clone()),
        ("IDEMPOTENCY_TABLE", tables.idempotency.clone()),
        ("SUPPRESSIONS_TABLE", tables.suppressions.clone()),
        // The sweep may take every e-mail at once (no stream here but the invocations).
        ("MAIL_SWEEP_AFTER_SECONDS", "0".into()),
        ("SENDER_EMAIL", SENDER.into()),
        ("PUBLIC_BASE_URL", BASE_URL.into()),
        ("API_KEY_PEPPER_SECRET_ID", secret_id),
        ("INBOUND_DOMAIN", INBOUND_DOMAIN.into()),
        ("INBOUND_BUCKET", inbound_bucket(&sdk).await),
    ]);

    let expected = expected();
    let mut numbers = Vec::new();
    for file in event_files() {
        let outcome = &expected.events[&file];
        let response = tokio::task::block_in_place(|| watch.invoke(&file));
        assert_eq!(response["statusCode"], outcome.status, "{file}: {response}");
        // HTTP API and function URL answers carry `headers`; REST API answers `multiValueHeaders`.
        let header = |name: &str| {
            response["headers"][name]
                .as_str()
                .or_else(|| response["multiValueHeaders"][name][0].as_str())
                .map(str::to_owned)
        };
        assert!(header("x-request-id").is_some_and(|id| !id.is_empty()), "{file}: {response}");
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        match &outcome.code {
            None => numbers.push(body["ticketNumber"].as_u64().unwrap()),
            Some(code) => {
                assert_eq!(body["code"], code.as_str(), "{file}: {body}");
                assert_eq!(header("content-type").as_deref(), Some("application/problem+json"), "{file}");
            }
        }
    }
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6], "created events numbered in order, none taken by a refusal");
    assert!(mailbox(&team).await.is_empty(), "a create sends nothing itself");

    // The stream batch of ticket 1's e-mails, twice (as a retried batch would come): delivered once.
    let batch = "dynamodb-stream.new-ticket-emails.json";
    for _ in 0..2 {
        let answer = tokio::task::block_in_place(|| watch.invoke(batch));
        let log = watch.log_text();
        let log_tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
        assert_eq!(
            Some(&answer),
            expected.work[batch].answer.as_ref(),
            "{batch}: {}\n{log_tail}",
            expected.work[batch].does
        );
    }
    assert_eq!(mailbox(&team).await.len(), 1, "ticket 1's notification, once");
    let quiet = "dynamodb-stream.no-work.json";
    assert_eq!(Some(tokio::task::block_in_place(|| watch.invoke(quiet))), expected.work[quiet].answer);
    assert_eq!(mailbox(&team).await.len(), 1, "records without work send nothing");

    // The schedule: the sweep delivers tickets 2 to 6's e-mails.
    let report = tokio::task::block_in_place(|| watch.invoke("eventbridge.sweep.json"));
    assert_eq!(report["sent"], 10, "{report}");
    assert_eq!(mailbox(&team).await.len(), 6, "a notification per created ticket");

    // SES's events of ticket 1's e-mails (events/ses.*.json), as the configuration set's rule hands them over.
    for event in ["ses.delivery.json", "ses.bounce.json", "ses.complaint.json"] {
        let answer = tokio::task::block_in_place(|| watch.invoke(event));
        assert_eq!(Some(&answer), expected.work[event].answer.as_ref(), "{event}: {}", expected.work[event].does);
    }
    // The same events as their queue hands them over: recorded already, none to hand over again.
    let queued = "sqs.ses-events.json";
    let answer = tokio::task::block_in_place(|| watch.invoke(queued));
    assert_eq!(Some(&answer), expected.work[queued].answer.as_ref(), "{queued}: {}", expected.work[queued].does);
    // SES receipts the function refuses before reading the message (events/ses-receipt.*.json).
    for (event, work) in expected.work.iter().filter(|(f, _)| f.starts_with("ses-receipt.")) {
        let answer = tokio::task::block_in_place(|| watch.invoke(event));
        assert_eq!(Some(&answer), work.answer.as_ref(), "{event}: {}", work.does);
    }
    // Events of sources it has no door for: each invocation fails, with the reason, and creates nothing.
    for (event, why) in &expected.refused {
        let error = tokio::task::block_in_place(|| watch.invoke_refused(event));
        assert!(error.contains("no door of this function takes this event"), "{event} ({why}): {error}");
    }
    let demo = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    let open = store.list_page(&demo, ticket_api::domain::TicketStatus::Open, 100, None).await.unwrap();
    assert_eq!(open.tickets.len(), 6, "the refused ALB request, with a valid key and body, created no ticket");
    // Each invocation ended with its metrics, as EMF lines of the function's own namespace.
    let emf: Vec<Value> = watch
        .log_text()
        .lines()
        .filter_map(|l| l.find("{\"_aws\"").map(|at| &l[at..]))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let names: BTreeSet<String> = emf
        .iter()
        .flat_map(|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().cloned().unwrap_or_default())
        .map(|m| m["Name"].as_str().unwrap().to_owned())
        .collect();
    for metric in [
        "TicketsCreated",
        "CreatesRefused",
        "EmailsSent",
        "EmailsDelivered",
        "EmailsBounced",
        "ColdStarts",
        "EventsRefused",
    ] {
        assert!(names.contains(metric), "the bootstrap binary wrote {metric} as EMF: {names:?}");
    }
    println!(
        "{} API Gateway events and {} other events answered, and {} refused, by the bootstrap binary on cargo \
         lambda's runtime API",
        expected.events.len(),
        expected.work.len(),
        expected.refused.len()
    );
}
