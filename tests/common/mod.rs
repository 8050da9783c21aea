//! Helpers shared by the black-box tests: the events/ fixtures, an app on in-memory ports, and the local
//! AWS stand-ins that `make test` starts (DynamoDB Local, the SES v2 stand-in, moto).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use axum::http::{HeaderMap, Request, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

use ticket_api::aws::{self, DynamoStore, PepperProvider, SesMailer};
use ticket_api::config::{Tables, Upstream};
use ticket_api::domain::{
    ApiKey, ApiKeyHash, ApiKeyRecord, Collection, CollectionId, CollectionName, DeliveryPolicy, Email, Pepper,
    RateLimits,
};
use ticket_api::entry::Function;
use ticket_api::http::{App, app};
use ticket_api::local::{StartAt, StreamPoller};
use ticket_api::memory::{MemoryMailer, MemorySecrets, MemoryStore};
use ticket_api::ports::{Mailer, SecretSource, Store};
// The store's ports, so that a test can call them on a store without naming each.
#[allow(unused_imports)]
pub use ticket_api::ports::{CollectionStore, IdempotencyStore, KeyStore, LimitStore, OutboxStore, TicketStore};
use ticket_api::service::TicketService;

pub const PEPPER: &str = "pepper-for-tests-only-0123456789abcdef";
pub const BASE_URL: &str = "https://support.example.com";
pub const SENDER: &str = "tickets@example.com";

// ---- events/ ------------------------------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct Expected {
    pub keys: FixtureKeys,
    /// The API Gateway events, with the status and code each gets.
    pub events: BTreeMap<String, Outcome>,
    /// The function's other events (stream batches, the schedule), with its answer.
    pub work: BTreeMap<String, Work>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Work {
    pub answer: Option<Value>,
    pub does: String,
}

#[derive(Deserialize)]
pub struct FixtureKeys {
    pub granted: String,
    pub revoked: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Outcome {
    pub status: u16,
    pub code: Option<String>,
}

pub fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

pub fn expected() -> Expected {
    let text = std::fs::read_to_string(events_dir().join("expected.json")).expect("events/expected.json");
    serde_json::from_str(&text).expect("events/expected.json parses")
}

/// Every API Gateway event file of events/, sorted.
pub fn event_files() -> Vec<String> {
    let names = every_event_file();
    let expected = expected();
    names.into_iter().filter(|n| expected.events.contains_key(n)).collect()
}

/// Every event file in events/, sorted, the manifest excluded.
pub fn every_event_file() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/ exists")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "expected.json")
        .collect();
    names.sort();
    names
}

/// One of the function's other events (a stream batch, the schedule), as JSON.
pub fn work_event(name: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// An API Gateway event file as the request lambda_http hands to the router.
pub fn event(name: &str) -> Request<lambda_http::Body> {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

/// The fixture collections' abuse limits: checked on every create, but far above what any test creates, so
/// that only the abuse-limit tests (which set their own) reach them.
pub const FIXTURE_LIMITS: RateLimits =
    RateLimits { per_key: 1_000_000, per_requester: 1_000_000, per_ticket_replies: 1_000_000 };

/// The collections the events name: one to create tickets in, one with ticketing off, one the key is not
/// granted. `gone-collection` is granted but does not exist.
pub fn fixture_collections(notify: &[&str]) -> Vec<Collection> {
    let collection = |id: &str, name: &str, enabled: bool| Collection {
        collection_id: CollectionId::parse(id).unwrap(),
        name: CollectionName::parse(name).unwrap(),
        notify_emails: notify.iter().map(|e| Email::parse(e).unwrap()).collect(),
        ticketing_enabled: enabled,
        last_ticket_number: 0,
        created_at: ticket_api::domain::now_rfc3339(),
        rate_limits: FIXTURE_LIMITS,
    };
    vec![
        collection("demo-collection", "Demo Support", true),
        collection("disabled-collection", "Closed Inbox", false),
        collection("other-collection", "Someone Else", true),
    ]
}

/// The API keys the events use, hashed with `pepper`.
pub fn fixture_keys(pepper: &Pepper) -> Vec<(ApiKeyHash, ApiKeyRecord)> {
    let keys = expected().keys;
    let record = |key: &ApiKey, id: &str, collections: &[&str], revoked: bool| ApiKeyRecord {
        key_id: id.to_owned(),
        name: format!("fixture {id}"),
        last4: key.last4(),
        collections: collections.iter().map(|c| CollectionId::parse(c).unwrap()).collect(),
        created_at: ticket_api::domain::now_rfc3339(),
        revoked_at: revoked.then(ticket_api::domain::now_rfc3339),
    };
    let granted = ApiKey::parse(&keys.granted).expect("fixture key is well-formed");
    let revoked = ApiKey::parse(&keys.revoked).expect("fixture key is well-formed");
    vec![
        (
            pepper.hash(&granted),
            record(&granted, "granted", &["demo-collection", "disabled-collection", "gone-collection"], false),
        ),
        (pepper.hash(&revoked), record(&revoked, "revoked", &["demo-collection"], true)),
    ]
}

pub fn pepper() -> Pepper {
    Pepper::new(PEPPER.to_owned().into()).unwrap()
}

// ---- the app on in-memory ports --------------------------------------------------------------------------------

pub struct MemoryApp<B = lambda_http::Body> {
    pub app: App<B>,
    pub service: Arc<MemoryService>,
    pub store: MemoryStore,
    pub mailer: Arc<MemoryMailer>,
    pub secrets: Arc<MemorySecrets>,
}

pub type MemoryService = TicketService<MemoryStore, Arc<MemoryMailer>, Arc<MemorySecrets>>;

impl<B> MemoryApp<B> {
    /// Runs the sweep as the schedule would, with every pending e-mail due: delivers what the outbox holds.
    pub async fn deliver(&self) -> ticket_api::service::SweepReport {
        self.service.sweep(std::time::Instant::now() + Duration::from_secs(10)).await.expect("the memory store answers")
    }
}

/// Delivery rules for tests: e-mails are due for the sweep at once, retried after 100 ms, never paced.
pub fn prompt_delivery() -> DeliveryPolicy {
    DeliveryPolicy {
        lease: Duration::from_secs(5),
        sweep_after: Duration::ZERO,
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        max_send_rate: Some(10_000.0),
    }
}

/// The same, but leaving new e-mails to the stream for a minute: what reaches the mailbox came through it.
pub fn stream_delivery() -> DeliveryPolicy {
    DeliveryPolicy { sweep_after: Duration::from_secs(60), ..prompt_delivery() }
}

/// The whole router on in-memory ports, seeded with the event fixtures; notifications go to one address.
pub fn memory_app() -> MemoryApp {
    memory_app_at(BASE_URL)
}

/// The same, with private links pointing at `base_url`, for a body type of choice (`axum::body::Body` to
/// serve it with `axum::serve`).
pub fn memory_app_at<B>(base_url: &str) -> MemoryApp<B> {
    let store = MemoryStore::default();
    for c in fixture_collections(&["support@example.com"]) {
        store.add_collection(c);
    }
    for (hash, record) in fixture_keys(&pepper()) {
        store.add_key(&hash, record);
    }
    let mailer = Arc::new(MemoryMailer::default());
    let secrets = Arc::new(MemorySecrets::new(PEPPER));
    let service: Arc<MemoryService> = Arc::new(
        TicketService::new(store.clone(), mailer.clone(), secrets.clone(), base_url).with_delivery(prompt_delivery()),
    );
    MemoryApp { app: app(service.clone()), service, store, mailer, secrets }
}

/// What came back: status, headers and the body as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Reply {
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn call<B>(app: &App<B>, request: Request<B>) -> Reply
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = app.clone().oneshot(request).await.expect("the router is infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status: parts.status, headers: parts.headers, body, raw: String::from_utf8_lossy(&bytes).into_owned() }
}

/// A create request as the customer's document shows it, with a body of our choosing.
pub fn create_request(
    collection: &str,
    key: Option<&str>,
    content_type: &str,
    body: &str,
) -> Request<lambda_http::Body> {
    let mut builder = Request::post(format!("/ticket/{collection}")).header("content-type", content_type);
    if let Some(key) = key {
        builder = builder.header("x-api-key", key);
    }
    builder.body(lambda_http::Body::from(body.to_owned())).unwrap()
}

pub fn good_body(user: &str) -> String {
    serde_json::json!({"userEmail": user, "title": "Enquiry about pricing", "message": "Please explain about the pricing plans"})
        .to_string()
}

// ---- the local AWS stand-ins ----------------------------------------------------------------------------------

/// A variable `make test` sets; a clear failure (not a skip) when the tests run without the stand-ins.
pub fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests with `make test`, which starts DynamoDB Local, the SES stand-in and moto")
    })
}

/// SDK configuration for the stand-ins, with short timeouts so a broken stand-in fails fast.
pub async fn sdk() -> SdkConfig {
    stack_var("AWS_ENDPOINT_URL_DYNAMODB");
    aws::sdk_config(Upstream {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(10),
        operation: Duration::from_secs(20),
        max_attempts: 3,
    })
    .await
}

/// A random lowercase suffix, so that concurrent tests never share tables or mailboxes.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ticket_api::domain::keys::random_hex::<6>())
}

/// A DynamoDB store on fresh tables of DynamoDB Local.
pub async fn dynamo_store(sdk: &SdkConfig) -> DynamoStore {
    let run = unique("t");
    let tables = Tables {
        api_keys: format!("{run}-api-keys"),
        collections: format!("{run}-collections"),
        tickets: format!("{run}-tickets"),
        limits: format!("{run}-limits"),
        idempotency: format!("{run}-idempotency"),
        suppressions: format!("{run}-suppressions"),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), tables);
    store.create_tables().await.expect("tables are created on DynamoDB Local");
    store
}

/// The same store, seeded with the event fixtures.
pub async fn seeded_dynamo_store(sdk: &SdkConfig, notify: &[&str]) -> DynamoStore {
    let store = dynamo_store(sdk).await;
    for c in fixture_collections(notify) {
        store.insert_collection(&c).await.unwrap();
    }
    for (hash, record) in fixture_keys(&pepper()) {
        store.insert_key(&hash, &record).await.unwrap();
    }
    store
}

/// A new Secrets Manager secret (in moto) holding the test pepper; its ARN, which serves as a secret id.
pub async fn pepper_secret(sdk: &SdkConfig) -> String {
    stack_var("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    let created = aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(unique("pepper"))
        .secret_string(PEPPER)
        .send()
        .await
        .expect("moto creates the secret");
    created.arn().expect("a created secret has an ARN").to_owned()
}

pub fn ses_mailer(sdk: &SdkConfig) -> SesMailer {
    ses_mailer_at(sdk, &stack_var("AWS_ENDPOINT_URL_SESV2"))
}

/// An SES mailer on `endpoint` (a proxy or a switch in front of the stand-in), as the function builds it.
pub fn ses_mailer_at(sdk: &SdkConfig, endpoint: &str) -> SesMailer {
    let config = aws_sdk_sesv2::config::Builder::from(sdk)
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    SesMailer::new(aws_sdk_sesv2::Client::from_conf(config), SENDER.to_owned())
}

pub type LocalService = TicketService<DynamoStore, SesMailer, PepperProvider>;

/// The service on DynamoDB Local and the SES stand-in, with the test pepper; e-mails are delivered by the
/// sweep as soon as it runs (`deliver_now`) or by a stream poller (`start_stream`).
pub fn local_service(store: DynamoStore, sdk: &SdkConfig) -> LocalService {
    TicketService::new(store, ses_mailer(sdk), PepperProvider::Inline(pepper()), BASE_URL)
        .with_delivery(prompt_delivery())
}

/// Runs the sweep once: with `prompt_delivery`, every pending e-mail goes out.
pub async fn deliver_now<S: Store, M: Mailer, P: SecretSource>(
    service: &TicketService<S, M, P>,
) -> ticket_api::service::SweepReport {
    service.sweep(std::time::Instant::now() + Duration::from_secs(60)).await.expect("the sweep runs")
}

/// The local stand-in for the event source mapping on `store`'s tickets table, from the stream's start,
/// invoking `function` with every batch, as on Lambda. Stopped when the handle is dropped.
pub async fn start_stream<S: Store, M: Mailer, P: SecretSource>(
    sdk: &SdkConfig,
    store: &DynamoStore,
    function: Arc<Function<S, M, P>>,
    rules: ticket_api::aws::stream::MappingRules,
) -> Background {
    stack_var("AWS_ENDPOINT_URL_DYNAMODB_STREAMS");
    let arn = store.tickets_stream_arn().await.expect("the tickets table has a stream");
    let poller = StreamPoller::new(aws_sdk_dynamodbstreams::Client::new(sdk), arn, rules, StartAt::TrimHorizon);
    Background(tokio::spawn(poller.run(function)))
}

/// A task that is stopped when dropped.
pub struct Background(pub tokio::task::JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits until the SES stand-in holds at least `n` e-mails to `to` (at most `within`), and returns them.
pub async fn wait_for_mail(to: &str, n: usize, within: Duration) -> Vec<Value> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let mail = mailbox(to).await;
        if mail.len() >= n || std::time::Instant::now() >= deadline {
            return mail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every e-mail the SES stand-in holds that was sent to `to`.
pub async fn mailbox(to: &str) -> Vec<Value> {
    let url = format!("{}/store", stack_var("SES_STANDIN_URL"));
    let store: Value = reqwest::get(&url).await.expect("the SES stand-in answers").json().await.unwrap();
    store["emails"]
        .as_array()
        .expect("the SES stand-in's /store has an `emails` list")
        .iter()
        .filter(|e| e["destination"]["to"].as_array().is_some_and(|to_list| to_list.iter().any(|t| t == to)))
        .cloned()
        .collect()
}

// ---- ticketctl ----------------------------------------------------------------------------------------------

/// `ticketctl` as an operator runs it, on fresh tables of DynamoDB Local with the test pepper.
pub struct Ctl {
    pub tables: Tables,
}

impl Ctl {
    pub fn new() -> Self {
        stack_var("AWS_ENDPOINT_URL_DYNAMODB");
        let run = unique("ctl");
        Self {
            tables: Tables {
                api_keys: format!("{run}-keys"),
                collections: format!("{run}-collections"),
                tickets: format!("{run}-tickets"),
                limits: format!("{run}-limits"),
                idempotency: format!("{run}-idempotency"),
                suppressions: format!("{run}-suppressions"),
            },
        }
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_ticketctl"))
            .args(args)
            .env("API_KEYS_TABLE", &self.tables.api_keys)
            .env("COLLECTIONS_TABLE", &self.tables.collections)
            .env("TICKETS_TABLE", &self.tables.tickets)
            .env("LIMITS_TABLE", &self.tables.limits)
            .env("IDEMPOTENCY_TABLE", &self.tables.idempotency)
            .env("SUPPRESSIONS_TABLE", &self.tables.suppressions)
            .env("API_KEY_PEPPER", PEPPER)
            .env("SENDER_EMAIL", SENDER)
            .output()
            .expect("ticketctl runs")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ticketctl {args:?} failed: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap_or_else(|e| panic!("ticketctl {args:?}: not JSON: {e}"))
    }
}

// ---- faults -------------------------------------------------------------------------------------------------

/// A TCP forwarder on 127.0.0.1 to `upstream` that can be switched off (connections are cut at once, open ones
/// included, as by a stopped process) and on again.
pub struct Switch {
    pub url: String,
    on: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Switch {
    pub async fn start(upstream: &str, on: bool) -> Self {
        use std::sync::atomic::Ordering;
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(std::sync::atomic::AtomicBool::new(on));
        let open: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (is_on, connections) = (state.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_on.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { url, on: state, open }
    }

    pub fn set(&self, on: bool) {
        self.on.store(on, std::sync::atomic::Ordering::SeqCst);
        if !on {
            for connection in self.open.lock().unwrap().drain(..) {
                connection.abort();
            }
        }
    }
}
