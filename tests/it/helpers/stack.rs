//! The local AWS stand-ins that `make test` starts (DynamoDB Local, the SES v2 stand-in, moto), and the service
//! and the stream's stand-in on them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::Value;
use ticket_api::config::{Tables, Upstream};
use ticket_api::domain::{CollectionId, MailKey};
use ticket_api::driven::{DynamoStore, PepperProvider, SesMailer, SystemClock};
use ticket_api::driving::Function;
use ticket_api::local::{StartAt, StreamPoller};
use ticket_api::ports::{OutboxStore, Ports};
use ticket_api::service::TicketService;

use super::fixtures::*;
use super::memory::prompt_delivery;
use ticket_api::ports::AdminStore;

/// A variable `make test` sets; a clear failure (not a skip) when the tests run without the stand-ins.
pub fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests with `make test`, which starts DynamoDB Local, the SES stand-in and moto")
    })
}

/// One load test at a time: each (hundreds of concurrent creates, thousands of held deliveries) is sized to share
/// the one DynamoDB Local with the short tests, not with another load test. Held for the whole test.
pub async fn one_load_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOAD.lock().await
}

/// SDK configuration for the stand-ins, with short timeouts so a broken stand-in fails fast.
pub async fn sdk() -> SdkConfig {
    stack_var("AWS_ENDPOINT_URL_DYNAMODB");
    ticket_api::compose::sdk_config(Upstream {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(10),
        operation: Duration::from_secs(20),
        max_attempts: 3,
        ca_bundle: None,
    })
    .await
}

/// A random lowercase suffix, so that concurrent tests never share tables or mailboxes.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ticket_api::domain::random::random_hex::<6>())
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

/// A new bucket in moto's S3, the inbox of received mail as the stack's bucket is on AWS; its name.
pub async fn inbound_bucket(sdk: &SdkConfig) -> String {
    stack_var("AWS_ENDPOINT_URL_S3");
    let bucket = unique("inbound");
    s3(sdk).create_bucket().bucket(&bucket).send().await.expect("moto creates the bucket");
    bucket
}

/// Stores `raw` as SES receiving's S3 action does: `inbound/{message id}` in `bucket`.
pub async fn store_received(sdk: &SdkConfig, bucket: &str, message_id: &str, raw: Vec<u8>) {
    let body = aws_sdk_s3::primitives::ByteStream::from(raw);
    let key = format!("inbound/{message_id}");
    s3(sdk).put_object().bucket(bucket).key(key).body(body).send().await.expect("moto stores the message");
}

/// A client of moto's S3 (path-style: the bucket in the path, as the function's inbox reaches a stand-in).
pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

/// The function's S3 client on moto, path-style, as `compose` builds it for a stand-in.
pub fn function_s3(sdk: &SdkConfig) -> ticket_api::driven::s3::S3 {
    ticket_api::driven::s3::S3::new(sdk, None, true)
}

/// The inbox of received mail on moto's S3, in `bucket`, as the function reads it.
pub fn s3_inbox(sdk: &SdkConfig, bucket: &str) -> ticket_api::driven::S3Inbox {
    ticket_api::driven::S3Inbox::new(function_s3(sdk), bucket, "inbound/")
}

/// A new bucket of files in moto's S3, and the files port on it as the function builds it (forms post to the
/// stand-in's URL, path-style).
pub async fn s3_files(sdk: &SdkConfig) -> (String, ticket_api::driven::S3Files) {
    let endpoint = stack_var("AWS_ENDPOINT_URL_S3");
    let bucket = unique("files");
    s3(sdk).create_bucket().bucket(&bucket).send().await.expect("moto creates the bucket");
    let files = ticket_api::driven::S3Files::new(function_s3(sdk), &bucket, format!("{endpoint}/{bucket}"));
    (bucket, files)
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

/// Every port on the local stand-ins but the inbox (in memory: a test of replies by e-mail puts the message
/// there, or swaps in moto's S3).
pub type LocalPorts = ticket_api::ports::Adapters<
    DynamoStore,
    SesMailer,
    PepperProvider,
    SystemClock,
    Arc<ticket_api::driven::memory::MemoryInbox>,
    ticket_api::driven::HttpWebhooks,
    Arc<ticket_api::driven::memory::MemoryFiles>,
>;

pub type LocalService = TicketService<LocalPorts>;

/// Every port on the local stand-ins, as deployed: DynamoDB Local (this store), the SES stand-in, the test
/// pepper, the system's clock (each swapped into the memory bundle, so that a port added later is in memory
/// here until a test asks for its stand-in).
pub fn local_ports(store: DynamoStore, sdk: &SdkConfig) -> LocalPorts {
    ticket_api::driven::memory::ports(PEPPER)
        .with_store(store)
        .with_mailer(ses_mailer(sdk))
        .with_secrets(PepperProvider::Inline(pepper()))
        .with_clock(SystemClock)
}

/// A store on the tables of `like`, reached at `endpoint` (a forwarder in front of DynamoDB Local).
pub fn store_at(sdk: &SdkConfig, endpoint: &str, like: &DynamoStore) -> DynamoStore {
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk).endpoint_url(endpoint).build();
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), like.tables().clone())
}

/// The service on DynamoDB Local and the SES stand-in, with the test pepper; e-mails are delivered by the
/// sweep as soon as it runs (`deliver_now`) or by a stream poller (`start_stream`).
pub fn local_service(store: DynamoStore, sdk: &SdkConfig) -> LocalService {
    service_on(local_ports(store, sdk))
}

/// The service on `ports` as `local_service` configures it (a test that swaps a port in, such as `Stamped`).
pub fn service_on<P: Ports>(ports: P) -> TicketService<P> {
    TicketService::new(ports, BASE_URL)
        .with_delivery(prompt_delivery())
        .with_inbound_domain(Some(INBOUND_DOMAIN.into()))
}

/// A mailer that notes when each recipient's e-mail was accepted (the moment the SES stand-in holds it in its
/// mailbox): latencies from a 201 to the mailbox, e-mail by e-mail.
pub struct Stamped<M> {
    inner: M,
    pub arrived: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

impl<M> Stamped<M> {
    pub fn new(inner: M) -> Self {
        Self { inner, arrived: Arc::default() }
    }
}

impl<M: ticket_api::ports::Mailer> ticket_api::ports::Mailer for Stamped<M> {
    async fn send(&self, email: &ticket_api::domain::OutgoingEmail) -> Result<String, ticket_api::ports::SendError> {
        let id = self.inner.send(email).await?;
        self.arrived.lock().unwrap().insert(email.to.as_str().to_owned(), std::time::Instant::now());
        Ok(id)
    }
    async fn max_send_rate(&self) -> Result<f64, ticket_api::ports::Unavailable> {
        self.inner.max_send_rate().await
    }
}

/// The `q` quantile (nearest rank) of `samples`, sorted in place.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]
}

/// Runs the sweep once: with `prompt_delivery`, every pending e-mail goes out.
pub async fn deliver_now<P: Ports>(service: &TicketService<P>) -> ticket_api::service::SweepReport {
    service.sweep(tokio::time::Instant::now() + Duration::from_secs(60)).await.expect("the sweep runs")
}

/// The local stand-in for the event source mapping on `store`'s tickets table, from the stream's start,
/// invoking `function` with every batch, as on Lambda. Stopped when the handle is dropped.
pub async fn start_stream<P: Ports>(
    sdk: &SdkConfig,
    store: &DynamoStore,
    function: Arc<Function<P>>,
    rules: ticket_api::driving::stream::MappingRules,
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
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mail = mailbox(to).await;
        if mail.len() >= n || tokio::time::Instant::now() >= deadline {
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

/// SES receiving's local stand-in (`tools/ses-receiving.py`, as `make run` starts it) on a free loopback port:
/// each message it accepts over SMTP goes into `bucket` on moto's S3, then to the function behind `invoke_url`
/// as SES's receipt event. Stopped when dropped.
pub struct SesReceiving {
    child: std::process::Child,
    pub port: u16,
}

impl SesReceiving {
    pub async fn start(bucket: &str, invoke_url: &str) -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(root.join(".tools/venv/bin/python"))
            .arg(root.join("tools/ses-receiving.py"))
            .env("SMTP_PORT", port.to_string())
            .env("INBOUND_DOMAIN", INBOUND_DOMAIN)
            .env("INBOUND_BUCKET", bucket)
            .env("INVOKE_URL", invoke_url)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the SES receiving stand-in starts (make tools installs aiosmtpd)");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the SES receiving stand-in listens within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, port }
    }

    /// Sends `raw` over SMTP with Python's `smtplib` (a client this project did not write), as a mail client
    /// would: envelope `from`, one recipient `to`. The server's answer to the message, e.g. `250 Ok <id>`.
    /// The client runs on a blocking thread: the function the stand-in invokes may be served by this runtime.
    pub async fn send(&self, from: &str, to: &str, raw: &[u8]) -> Result<String, String> {
        let (port, from, to, raw) = (self.port, from.to_owned(), to.to_owned(), raw.to_vec());
        tokio::task::spawn_blocking(move || smtp_send(port, &from, &to, &raw)).await.unwrap()
    }
}

fn smtp_send(port: u16, from: &str, to: &str, raw: &[u8]) -> Result<String, String> {
    {
        const CLIENT: &str = "import smtplib, sys\n\
            with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=60) as smtp:\n\
            \x20   smtp.ehlo()\n\
            \x20   smtp.mail(sys.argv[2])\n\
            \x20   code, answer = smtp.rcpt(sys.argv[3])\n\
            \x20   if code != 250: sys.exit('%d %s' % (code, answer.decode()))\n\
            \x20   code, answer = smtp.data(sys.stdin.buffer.read())\n\
            \x20   print(code, answer.decode())\n\
            \x20   sys.exit(0 if code == 250 else 1)\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", CLIENT, &port.to_string(), from, to])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), raw).unwrap();
        let out = child.wait_with_output().unwrap();
        let said = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
        if out.status.success() {
            Ok(said(&out.stdout))
        } else {
            Err(format!("{}{}", said(&out.stdout), said(&out.stderr)))
        }
    }
}

impl Drop for SesReceiving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves Lambda's Invoke API for `function` on a free loopback port (as `make run` does); its invocation URL.
pub async fn serve_invoke_api<P: Ports>(function: Arc<Function<P>>) -> (String, Background) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/2015-03-31/functions/function/invocations", listener.local_addr().unwrap());
    let api = ticket_api::local::invoke_api(function, None);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, api).await;
    });
    (url, Background(server))
}

/// How many of the first e-mails of tickets `1..=tickets` of demo-collection (`per_ticket` each) stand in each
/// state, with their attempts and last error: what a test that misses e-mails says of the outbox.
pub async fn outbox_states(store: &DynamoStore, tickets: u64, per_ticket: u32) -> BTreeMap<String, usize> {
    let mut states = BTreeMap::<String, usize>::new();
    for number in 1..=tickets {
        for index in 0..per_ticket {
            let collection_id = CollectionId::parse("demo-collection").unwrap();
            let key = MailKey { collection_id, ticket_number: number, entry: 1, index };
            let state = match store.get_mail(&key).await {
                Ok(Some(mail)) => format!("{:?}, {} attempts, {:?}", mail.state, mail.attempts, mail.last_error),
                other => format!("{other:?}"),
            };
            *states.entry(state).or_default() += 1;
        }
    }
    states
}
