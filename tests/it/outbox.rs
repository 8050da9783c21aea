//! The outbox on real endpoints: creates on DynamoDB Local answer without SES; the function's stream handler
//! (invoked by the local stand-in for the event source mapping) and its sweep (by the schedule's stand-in)
//! deliver to the SES stand-in, through outages, throttling and a stream that gives up, each e-mail once and
//! none lost, with no command run. Each test prints what it measured.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::*;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use ticket_api::domain::{CollectionId, DeliveryPolicy, MailState};
use ticket_api::driven::{DynamoStore, PepperProvider, SesMailer};
use ticket_api::driving::Function;
use ticket_api::driving::stream::{MAPPING, MappingRules};
use ticket_api::service::TicketService;

type Service = TicketService<LocalPorts>;

fn demo() -> CollectionId {
    CollectionId::parse("demo-collection").unwrap()
}

fn service(store: DynamoStore, mailer: SesMailer, policy: DeliveryPolicy) -> Arc<Service> {
    let ports = ticket_api::driven::memory::ports(PEPPER)
        .with_store(store)
        .with_mailer(mailer)
        .with_secrets(PepperProvider::Inline(pepper()))
        .with_clock(ticket_api::driven::SystemClock);
    Arc::new(TicketService::new(ports, BASE_URL).with_delivery(policy))
}

/// The function as deployed around `service`: the stream's stand-in and the schedule's (every 200 ms).
async fn deployed(
    sdk: &aws_config::SdkConfig,
    service: &Arc<Service>,
    rules: MappingRules,
) -> (Background, Background) {
    let function = Arc::new(Function::new(service.clone()));
    let stream = start_stream(sdk, service.store(), function.clone(), rules).await;
    let schedule = Background(tokio::spawn(ticket_api::local::run_schedule(function, Duration::from_millis(200))));
    (stream, schedule)
}

async fn create(app: &ticket_api::driving::http::App<lambda_http::Body>, requester: &str) -> Duration {
    let started = Instant::now();
    let reply = call(
        app,
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(requester)),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.raw);
    started.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// How many e-mails each address got, over the whole SES stand-in.
async fn received(addresses: &[String]) -> Vec<usize> {
    let mut counts = Vec::new();
    for a in addresses {
        counts.push(mailbox(a).await.len());
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn with_ses_down_creates_answer_at_once_and_every_email_goes_out_once_it_is_back() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let ses = Switch::start(&stack_var("AWS_ENDPOINT_URL_SESV2"), true).await;
    let service = service(store.clone(), ses_mailer_at(&sdk, &ses.url), prompt_delivery());
    let _deployed = deployed(&sdk, &service, MAPPING).await;
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let run = unique("u");

    // With SES up, for comparison.
    let mut up = Vec::new();
    for i in 0..10 {
        up.push(create(&app, &format!("{run}-up{i}@email.com")).await);
    }
    wait_for_mail(&team, 10, Duration::from_secs(20)).await;

    ses.set(false);
    let requesters: Vec<String> = (0..50).map(|i| format!("{run}-{i}@email.com")).collect();
    let mut down = Vec::new();
    for r in &requesters {
        down.push(create(&app, r).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(received(&requesters).await.iter().all(|n| *n == 0), "nothing reached SES while it was down");
    let waiting = store.undelivered(Some(&demo())).await.unwrap();
    assert_eq!(waiting.len(), 100, "the 100 e-mails wait in the outbox");
    assert!(waiting.iter().any(|m| m.state == MailState::Retrying && m.last_error.is_some()), "tried, to be retried");

    let back = Instant::now();
    ses.set(true);
    wait_for_mail(&team, 60, Duration::from_secs(60)).await;
    for r in &requesters {
        wait_for_mail(r, 1, Duration::from_secs(30)).await;
    }
    let caught_up = back.elapsed();
    assert!(received(&requesters).await.iter().all(|n| *n == 1), "each requester's e-mail once");
    assert_eq!(mailbox(&team).await.len(), 60, "each notification once");
    assert!(store.undelivered(None).await.unwrap().is_empty(), "the outbox is empty");
    println!(
        "SES down: 50 creates answered 201, median {:?} (SES up: {:?}); SES back: all 100 e-mails delivered in \
         {caught_up:?}, none twice, no command run",
        median(down),
        median(up)
    );
}

/// An SES endpoint that answers throttling errors to the first `throttle` sends and passes the rest (and every
/// other call) to the stand-in, noting when each send arrived.
struct ThrottlingSes {
    url: String,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    throttled: Arc<AtomicUsize>,
}

impl ThrottlingSes {
    async fn start(upstream: String, throttle: usize) -> Self {
        let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let throttled = Arc::new(AtomicUsize::new(0));
        let (noted, count) = (arrivals.clone(), throttled.clone());
        let client = reqwest::Client::new();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (noted, count, client, upstream) = (noted.clone(), count.clone(), client.clone(), upstream.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let is_send = parts.uri.path().ends_with("/outbound-emails");
                if is_send {
                    noted.lock().unwrap().push(Instant::now());
                    if count.fetch_add(1, Ordering::SeqCst) < throttle {
                        return axum::http::Response::builder()
                            .status(429)
                            .header("x-amzn-errortype", "TooManyRequestsException")
                            .header("content-type", "application/json")
                            .body(axum::body::Body::from(r#"{"message":"Maximum sending rate exceeded."}"#))
                            .unwrap();
                    }
                }
                let mut forward = client.request(parts.method.clone(), format!("{upstream}{}", parts.uri));
                for (name, value) in parts.headers.iter().filter(|(n, _)| *n != "host") {
                    forward = forward.header(name, value);
                }
                let answer = forward.body(body).send().await.unwrap();
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
        Self { url, arrivals, throttled }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_sends_are_retried_until_delivered_at_the_accounts_pace() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let ses = ThrottlingSes::start(stack_var("AWS_ENDPOINT_URL_SESV2"), 15).await;
    // No configured rate: the pace is the account's, from GetAccount (14 a second in the stand-in's account).
    let policy = DeliveryPolicy { max_send_rate: None, ..prompt_delivery() };
    let service = service(store.clone(), ses_mailer_at(&sdk, &ses.url), policy);
    let _deployed = deployed(&sdk, &service, MAPPING).await;
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let run = unique("t");
    let requesters: Vec<String> = (0..20).map(|i| format!("{run}-{i}@email.com")).collect();
    for r in &requesters {
        create(&app, r).await;
    }
    wait_for_mail(&team, 20, Duration::from_secs(60)).await;
    for r in &requesters {
        wait_for_mail(r, 1, Duration::from_secs(30)).await;
    }
    assert!(received(&requesters).await.iter().all(|n| *n == 1), "each requester's e-mail once");
    assert_eq!(mailbox(&team).await.len(), 20, "each notification once");
    assert!(store.undelivered(None).await.unwrap().is_empty());
    let throttled = ses.throttled.load(Ordering::SeqCst).min(15);
    assert_eq!(throttled, 15, "SES throttled the first 15 sends");

    // The pace: no second holds more sends than the account's 14 (and a slot or two of scheduling slack).
    let arrivals = ses.arrivals.lock().unwrap().clone();
    let busiest = arrivals
        .iter()
        .map(|start| arrivals.iter().filter(|t| **t >= *start && **t < *start + Duration::from_secs(1)).count())
        .max()
        .unwrap();
    let span = *arrivals.last().unwrap() - arrivals[0];
    println!(
        "SES throttling: {} sends ({throttled} throttled, then retried), 40 e-mails delivered once; at most {busiest} \
         sends in any second at 14/s, {span:?} from the first send to the last",
        arrivals.len()
    );
    assert!(busiest <= 16, "{busiest} sends in one second: the pace of 14 a second was not kept");
    assert_eq!(arrivals.len(), 40 + 15, "every throttled send was tried once more, no e-mail sent twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_stream_gives_up_on_the_sweep_delivers_once() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    // The function's DynamoDB is cut off (the API's is not): it cannot claim or record an e-mail, so every
    // stream batch fails, is retried once, and given up on, as the event source mapping would with short limits.
    let dynamodb = Switch::start(&stack_var("AWS_ENDPOINT_URL_DYNAMODB"), false).await;
    let cut_off = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(&dynamodb.url)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let function_store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(cut_off), store.tables().clone());
    let function = service(function_store, ses_mailer(&sdk), prompt_delivery());
    let dead_letters = std::env::temp_dir().join(format!("{}.jsonl", unique("dead-letters")));
    let arn = store.tickets_stream_arn().await.unwrap();
    let short = MappingRules { max_retries: 1, ..MAPPING };
    let poller = ticket_api::local::StreamPoller::new(
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        arn,
        short,
        ticket_api::local::StartAt::TrimHorizon,
    )
    .with_dead_letters(dead_letters.clone());
    let entry = Arc::new(Function::new(function.clone()));
    let _stream = Background(tokio::spawn(poller.run(entry.clone())));

    let api = ticket_api::driving::http::app::<lambda_http::Body, _>(service(
        store.clone(),
        ses_mailer(&sdk),
        prompt_delivery(),
    ));
    let run = unique("o");
    let requesters: Vec<String> = (0..10).map(|i| format!("{run}-{i}@email.com")).collect();
    for r in &requesters {
        create(&api, r).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let given_up = loop {
        let text = std::fs::read_to_string(&dead_letters).unwrap_or_default();
        let records: usize = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["sequenceNumbers"].as_array().unwrap().len())
            .sum();
        if records >= 20 || Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(given_up, 20, "the stream gave up on every e-mail's record (they went to the dead-letter file)");
    assert!(received(&requesters).await.iter().all(|n| *n == 0));

    // DynamoDB is back for the function: its schedule's sweep finds them in the outbox index and sends each once.
    dynamodb.set(true);
    let back = Instant::now();
    let _schedule = Background(tokio::spawn(ticket_api::local::run_schedule(entry, Duration::from_millis(200))));
    wait_for_mail(&team, 10, Duration::from_secs(30)).await;
    for r in &requesters {
        wait_for_mail(r, 1, Duration::from_secs(10)).await;
    }
    assert!(received(&requesters).await.iter().all(|n| *n == 1), "each requester's e-mail once");
    assert_eq!(mailbox(&team).await.len(), 10, "each notification once");
    assert!(store.undelivered(None).await.unwrap().is_empty());
    let _ = std::fs::remove_file(&dead_letters);
    println!(
        "stream outage: {given_up} records given up on; the sweep delivered all 20 e-mails in {:?}, none twice",
        back.elapsed()
    );
}

/// Asks every DynamoDB write for its consumed capacity and adds it up per call.
#[derive(Debug, Clone, Default)]
struct CapacityMeter(Arc<Mutex<Vec<(String, f64)>>>);

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
        };
        use aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total;
        let input = context.input_mut();
        if let Some(update) = input.downcast_mut::<UpdateItemInput>() {
            update.return_consumed_capacity = Some(Total);
        } else if let Some(transaction) = input.downcast_mut::<TransactWriteItemsInput>() {
            transaction.return_consumed_capacity = Some(Total);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            transact_write_items::TransactWriteItemsOutput, update_item::UpdateItemOutput,
        };
        let Some(Ok(output)) = context.output_or_error() else { return Ok(()) };
        let units = if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            o.consumed_capacity.as_ref().and_then(|c| c.capacity_units).map(|u| ("UpdateItem", u))
        } else {
            output
                .downcast_ref::<TransactWriteItemsOutput>()
                .map(|o| ("TransactWriteItems", o.consumed_capacity().iter().filter_map(|c| c.capacity_units).sum()))
        };
        if let Some((call, units)) = units {
            self.0.lock().unwrap().push((call.to_owned(), units));
        }
        Ok(())
    }
}

/// DynamoDB's size of an item: attribute names and values in bytes (numbers about a byte per two digits).
fn item_size(item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    fn value(v: &V) -> usize {
        match v {
            V::S(s) => s.len(),
            V::N(n) => n.len().div_ceil(2) + 1,
            V::Bool(_) | V::Null(_) => 1,
            V::M(m) => 3 + m.iter().map(|(k, v)| k.len() + value(v)).sum::<usize>(),
            V::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_requesters_in_one_hour_cost_each_create_what_the_first_cost() {
    let _load = one_load_at_a_time().await;
    let sdk = sdk().await;
    let seeded = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let meter = CapacityMeter::default();
    let metered = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(meter.clone()).build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(metered), seeded.tables().clone());
    let app =
        ticket_api::driving::http::app::<lambda_http::Body, _>(service(store, ses_mailer(&sdk), stream_delivery()));
    let counter_size = || async {
        let item = seeded
            .client()
            .get_item()
            .table_name(&seeded.tables().collections)
            .key("collectionId", aws_sdk_dynamodb::types::AttributeValue::S("demo-collection".into()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        (item_size(&item), item.keys().cloned().collect::<std::collections::BTreeSet<_>>())
    };
    let run = unique("r");
    let cost = |calls: Vec<(String, f64)>| -> (f64, Vec<(String, f64)>) { (calls.iter().map(|(_, u)| u).sum(), calls) };

    // The first create (its counts, the counter, the ticket) is warm: the key and limits were read by a first one.
    create(&app, &format!("{run}-warm@email.com")).await;
    meter.0.lock().unwrap().clear();
    create(&app, &format!("{run}-0@email.com")).await;
    let (first_units, first_calls) = cost(std::mem::take(&mut *meter.0.lock().unwrap()));
    let (first_size, first_attributes) = counter_size().await;

    for batch in 0..20 {
        let creates = (1..=50).map(|i| {
            let app = app.clone();
            let user = format!("{run}-{}@email.com", batch * 50 + i);
            tokio::spawn(async move { create_carefully(&app, &user, &user).await })
        });
        for status in futures_util::future::join_all(creates).await {
            assert_eq!(status.unwrap(), 201, "every requester's create is made");
        }
    }
    meter.0.lock().unwrap().clear();
    create(&app, &format!("{run}-last@email.com")).await;
    let (last_units, last_calls) = cost(std::mem::take(&mut *meter.0.lock().unwrap()));
    let (last_size, last_attributes) = counter_size().await;

    println!(
        "1,000 requesters in one hour: the counter item {first_size} bytes at the first create, {last_size} at the \
         1,002nd; write units {first_units} then {last_units} ({first_calls:?} / {last_calls:?})"
    );
    assert_eq!(first_attributes, last_attributes, "the counter item gained no attribute");
    assert!(last_size < 1_024 && last_size <= first_size + 2, "the counter item stays under 1 KB: {last_size} bytes");
    assert_eq!(first_units, last_units, "a create costs the same write units with 1,000 requesters counted");
}

/// Lets `TransactWriteItems` reach DynamoDB, then loses its answer, as a network that drops the reply would.
#[derive(Debug, Clone, Default)]
struct LoseTransactionAnswer(Arc<std::sync::atomic::AtomicBool>);

impl Intercept for LoseTransactionAnswer {
    fn name(&self) -> &'static str {
        "LoseTransactionAnswer"
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let transaction = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .is_some_and(|m| m.name() == "TransactWriteItems");
        if transaction && self.0.swap(false, Ordering::SeqCst) {
            return Err("injected: the answer of the ticket write was lost".into());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_create_whose_answer_was_lost_replays_the_same_ticket_well_after_its_lease() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let seeded = seeded_dynamo_store(&sdk, &[&team]).await;
    let lose = LoseTransactionAnswer(Arc::new(true.into()));
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(lose.clone()).build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), seeded.tables().clone());
    let service = Arc::new(
        TicketService::new(local_ports(store, &sdk), BASE_URL)
            .with_delivery(prompt_delivery())
            .with_idempotency_lease(Duration::from_secs(1)),
    );
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let requester = format!("{}@email.com", unique("user"));
    let request = || {
        let mut r = create_request(
            "demo-collection",
            Some(&expected().keys.granted),
            "application/json",
            &good_body(&requester),
        );
        r.headers_mut().insert("idempotency-key", "order-1".parse().unwrap());
        r
    };

    let lost = call(&app, request()).await;
    assert_eq!((lost.status.as_u16(), lost.code()), (503, Some("unavailable")), "the caller saw the write fail");
    let written = seeded.get_ticket(&demo(), 1).await.unwrap().expect("but the ticket was written");
    tokio::time::sleep(Duration::from_millis(2_500)).await; // well past the 1 s lease
    let retried = call(&app, request()).await;
    assert_eq!(retried.status, 201, "{}", retried.raw);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    assert_eq!(retried.body["ticketNumber"], 1, "the same ticket");
    let key = retried.body["privateUrl"].as_str().unwrap().rsplit("key=").next().unwrap().to_owned();
    assert!(ticket_api::domain::TicketKey::derive(&pepper(), &written.key_nonce).matches(&key), "the same link");
    assert_eq!(seeded.get_collection(&demo()).await.unwrap().unwrap().last_ticket_number, 1, "one number");
    assert!(seeded.get_ticket(&demo(), 2).await.unwrap().is_none(), "one ticket");
    deliver_now(&service).await;
    assert_eq!((mailbox(&requester).await.len(), mailbox(&team).await.len()), (1, 1), "one pair of e-mails");
    println!("idempotent create with its answer lost: 503, then 2.5 s later (lease 1 s) a replay of ticket 1");
}
