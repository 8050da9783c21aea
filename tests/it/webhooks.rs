//! Webhook deliveries as a receiver sees them: a real HTTP receiver on 127.0.0.1 (`tools/webhook-receiver.py`)
//! verifies every delivery with the Standard Webhooks reference library (`standardwebhooks`, PyPI), which this
//! project did not write; and the addresses a delivery must never reach, refused before any connection.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use ticket_api::domain::Pepper;
use ticket_api::domain::webhook::{self, Endpoint, EventType, Loopback, WebhookUrl};
use ticket_api::driven::HttpWebhooks;
use ticket_api::ports::WebhookSender;

/// The reference receiver on a free loopback port; stopped when dropped.
pub(crate) struct Receiver {
    child: std::process::Child,
    pub(crate) url: String,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(root.join(".tools/venv/bin/python"))
            .arg(root.join("tools/webhook-receiver.py"))
            .arg(port.to_string())
            .spawn()
            .expect("the receiver starts (make tools installs standardwebhooks)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the receiver listens within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, url }
    }

    pub(crate) async fn post(&self, path: &str, body: Value) {
        reqwest::Client::new().post(format!("{}{path}", self.url)).json(&body).send().await.unwrap();
    }

    pub(crate) async fn received(&self) -> Vec<Value> {
        reqwest::get(format!("{}/_received", self.url)).await.unwrap().json().await.unwrap()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pepper() -> Pepper {
    Pepper::new(secrecy::SecretString::from(crate::helpers::PEPPER)).unwrap()
}

/// One signed delivery of `event` to `url`, as the outbox makes it: its id, the time, the signature of every
/// secret the endpoint signs with at `secrets_at`.
async fn deliver(
    sender: &HttpWebhooks,
    endpoint: &Endpoint,
    url: &str,
    id: &str,
    secrets_at: u64,
    event: EventType,
) -> ticket_api::ports::Posted {
    let now = unix_now();
    let body =
        webhook::payload(event, "2026-12-05T10:00:00Z", json!({"collectionId": "demo-collection", "ticketNumber": 1}));
    let secrets = endpoint.signing_secrets(&pepper(), secrets_at);
    let headers = [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", webhook::signature(&secrets, id, now, &body)),
    ];
    sender.post(url, &headers, body).await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn every_delivery_verifies_with_the_reference_library_and_a_rotated_secret_with_either_for_a_day() {
    let receiver = Receiver::start().await;
    let sender = HttpWebhooks::new(Loopback::AllowedOverHttp);
    let url = WebhookUrl::parse(&format!("{}/hook", receiver.url), Loopback::AllowedOverHttp).unwrap();
    let endpoint = Endpoint::new(url.clone(), vec![], "2026-12-05T10:00:00Z".into());
    let now = unix_now();
    let old = endpoint.signing_secrets(&pepper(), now)[0].reveal();
    receiver.post("/_secrets", json!({"secrets": [old]})).await;
    let posted = deliver(&sender, &endpoint, url.as_str(), "msg_1", now, EventType::TicketCreated).await;
    assert_eq!((posted.status, posted.error.as_deref()), (Some(200), None));

    // Rotated: during the overlap each delivery carries both signatures; a receiver that knows only the old
    // secret, or only the new one, verifies it.
    let endpoint = endpoint.clone().changed(&endpoint.rotation(now));
    let new = endpoint.signing_secrets(&pepper(), now)[0].reveal();
    receiver.post("/_secrets", json!({"secrets": [old, new]})).await;
    deliver(&sender, &endpoint, url.as_str(), "msg_2", now, EventType::MessageCreated).await;
    // After the overlap, only the new one signs.
    let later = now + webhook::SECRET_OVERLAP_SECS;
    deliver(&sender, &endpoint, url.as_str(), "msg_3", later, EventType::StatusChanged).await;

    let received = receiver.received().await;
    let seen: Vec<(&str, &str, Vec<u64>)> = received
        .iter()
        .map(|r| {
            let with: Vec<u64> = r["verifiedWith"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap()).collect();
            (r["id"].as_str().unwrap(), r["type"].as_str().unwrap(), with)
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("msg_1", "ticket.created", vec![0]),
            ("msg_2", "ticket.message.created", vec![0, 1]),
            ("msg_3", "ticket.status.changed", vec![1]),
        ],
        "{received:#?}"
    );
    println!("3 deliveries verified by standardwebhooks 1.3.0: one secret, both during the overlap");
}

#[tokio::test]
async fn a_delivery_never_reaches_the_deployments_own_network_whatever_the_url_or_its_name_says() {
    let receiver = Receiver::start().await;
    let port = receiver.url.rsplit(':').next().unwrap().to_owned();
    // As deployed: loopback refused. Names answered from a table, as DNS would answer them.
    let deployed = HttpWebhooks::new(Loopback::Refused).with_hosts(HashMap::from([
        ("internal.example.com".to_owned(), vec!["10.0.0.7".parse().unwrap()]),
        ("mixed.example.com".to_owned(), vec!["93.184.215.14".parse().unwrap(), "192.168.0.1".parse().unwrap()]),
        ("metadata.example.com".to_owned(), vec!["169.254.169.254".parse().unwrap()]),
        ("v6.example.com".to_owned(), vec!["fd00:ec2::254".parse().unwrap()]),
        ("hooks.example.com".to_owned(), vec!["93.184.215.14".parse().unwrap()]),
    ]));
    let table = [
        ("the receiver on loopback", format!("https://127.0.0.1:{port}/hook"), "loopback"),
        ("localhost by name", format!("https://localhost:{port}/hook"), "loopback"),
        ("a private address", "https://10.0.0.1/hook".to_owned(), "private"),
        ("another private range", "https://172.20.1.1/hook".to_owned(), "private"),
        ("the instance metadata service", "https://169.254.169.254/latest/meta-data/".to_owned(), "link-local"),
        ("IPv6 loopback", format!("https://[::1]:{port}/hook"), "loopback"),
        ("IPv6 unique-local", "https://[fd00:ec2::254]/".to_owned(), "unique-local"),
        ("IPv6 link-local", "https://[fe80::1]/".to_owned(), "link-local"),
        ("IPv4 inside IPv6", "https://[::ffff:169.254.169.254]/".to_owned(), "link-local"),
        ("a name that resolves to a private address", "https://internal.example.com/hook".to_owned(), "private"),
        ("a name with a private address among public ones", "https://mixed.example.com/".to_owned(), "private"),
        ("a name that resolves to the metadata service", "https://metadata.example.com/".to_owned(), "link-local"),
        ("a name that resolves to a unique-local IPv6", "https://v6.example.com/".to_owned(), "unique-local"),
        ("plain http to a public name", "http://hooks.example.com/".to_owned(), "https"),
    ];
    for (what, url, why) in &table {
        let checked = deployed.check(url).await.expect_err(what);
        assert!(checked.contains(why), "{what}: {checked}");
        let posted = deliver(&deployed, &endpoint(url), url, "msg_x", unix_now(), EventType::TicketCreated).await;
        assert_eq!(posted.status, None, "{what}: nothing was asked");
        assert!(posted.error.as_deref().is_some_and(|e| e.contains(why)), "{what}: {posted:?}");
        println!("{what}: refused ({checked})");
    }
    assert!(receiver.received().await.is_empty(), "no request reached the receiver");

    // make run and the tests allow loopback over http; link-local stays refused even then.
    let local = HttpWebhooks::new(Loopback::AllowedOverHttp).with_timeout(Duration::from_millis(800));
    let refused = local.check("http://169.254.169.254/latest/meta-data/").await.unwrap_err();
    assert!(refused.contains("link-local"), "{refused}");
    // A redirect is an answer, not followed (to a private address here); a 500 and a timeout are failures too.
    receiver.post("/_plan", json!({"plan": ["redirect:http://10.0.0.1/", "500", "timeout", "204"]})).await;
    let url = format!("{}/hook", receiver.url);
    let mut outcomes = Vec::new();
    for id in ["msg_r", "msg_500", "msg_t", "msg_ok"] {
        let posted = deliver(&local, &endpoint(&url), &url, id, unix_now(), EventType::TicketCreated).await;
        outcomes.push((posted.status, posted.delivered()));
        println!("{id}: {posted:?}");
    }
    assert_eq!(outcomes, [(Some(307), false), (Some(500), false), (None, false), (Some(204), true)]);
    assert_eq!(receiver.received().await.len(), 4, "one request each; the redirect was not followed");
    println!("{} URLs refused before any connection; a redirect, a 500 and a timeout are failures", table.len());
}

#[tokio::test]
async fn https_endpoints_are_verified_against_trusted_roots_and_a_stranger_certificate_is_refused() {
    let receiver = Receiver::start().await;
    let ca = crate::helpers::TestCa::new();
    let front = ca.front(&receiver.url).await;
    let url = format!("{}/hook", front.url);
    // Trusting the test CA (as a deployment trusts public CAs): delivered over TLS.
    let pem = ca.pem.clone();
    let roots: Vec<_> = rustls_pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes()).map(Result::unwrap).collect();
    let trusting = HttpWebhooks::new(Loopback::AllowedOverHttp).with_roots(roots);
    let posted = deliver(&trusting, &endpoint(&url), &url, "msg_tls", unix_now(), EventType::TicketCreated).await;
    assert_eq!((posted.status, posted.delivered()), (Some(200), true), "{posted:?}");
    // Not trusting it: the handshake fails, nothing is sent.
    let stranger = HttpWebhooks::new(Loopback::AllowedOverHttp);
    let posted = deliver(&stranger, &endpoint(&url), &url, "msg_bad", unix_now(), EventType::TicketCreated).await;
    assert!(posted.error.as_deref().is_some_and(|e| e.contains("TLS")), "{posted:?}");
    assert_eq!(receiver.received().await.len(), 1, "only the trusted delivery reached the receiver");
    println!("TLS: delivered through a front of a trusted CA ({:?}); refused with an unknown one", front.handshakes());
}

fn endpoint(url: &str) -> Endpoint {
    let parsed = WebhookUrl::parse(url, Loopback::AllowedOverHttp)
        .unwrap_or_else(|_| WebhookUrl::parse("https://placeholder.example.com/", Loopback::Refused).unwrap());
    Endpoint::new(parsed, vec![], "2026-12-05T10:00:00Z".into())
}

fn demo() -> ticket_api::domain::CollectionId {
    ticket_api::domain::CollectionId::parse("demo-collection").unwrap()
}

/// A memory app whose demo collection has one endpoint at `receiver`, which knows its secret.
async fn hooked(receiver: &Receiver, events: Vec<EventType>) -> (crate::helpers::MemoryApp, String) {
    let app = crate::helpers::memory_app();
    let url = format!("{}/hook", receiver.url);
    let added = app.service.add_webhook(&demo(), &url, events, Loopback::AllowedOverHttp, None).await.unwrap();
    assert!(added.secret.starts_with("whsec_"));
    receiver.post("/_secrets", json!({"secrets": [added.secret]})).await;
    (app, added.endpoint.id)
}

#[tokio::test]
async fn a_create_a_reply_by_each_side_and_a_resolve_raise_their_four_events_each_verified_and_delivered_once() {
    use crate::helpers::{call, event, expected};
    let receiver = Receiver::start().await;
    let (app, _) = hooked(&receiver, vec![]).await;
    let created = call(&app.app, event("http-api.created.json")).await;
    assert_eq!(created.status, 201);
    let key = expected().keys.granted;
    let team_reply = axum::http::Request::post("/ticket/demo-collection/1/messages")
        .header("x-api-key", key.as_str())
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(r#"{"message": "Here is how the plans differ."}"#))
        .unwrap();
    assert_eq!(call(&app.app, team_reply).await.status, 201);
    let link = created.body["privateUrl"].as_str().unwrap().strip_prefix(crate::helpers::BASE_URL).unwrap().to_owned();
    let (path, query) = link.split_once('?').unwrap();
    let requester = |route: &str, body: &'static str| {
        axum::http::Request::post(format!("{path}/{route}?{query}"))
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(body))
            .unwrap()
    };
    assert_eq!(call(&app.app, requester("messages", r#"{"message": "Thanks!"}"#)).await.status, 201);
    assert_eq!(call(&app.app, requester("status", r#"{"status": "resolved"}"#)).await.status, 200);

    let outcomes = app.service.deliver_due_webhooks(soon()).await.unwrap();
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| *o == ticket_api::service::WebhookOutcome::Delivered), "{outcomes:?}");
    assert!(app.service.deliver_due_webhooks(soon()).await.unwrap().is_empty(), "nothing is delivered twice");

    let mut received = receiver.received().await;
    received.sort_by_key(|r| r["data"]["entry"].as_u64().unwrap_or(1));
    let seen: Vec<(&str, Value)> = received
        .iter()
        .map(|r| {
            assert_eq!(r["verifiedWith"], json!([0]), "verified by standardwebhooks: {r}");
            (r["type"].as_str().unwrap(), r["data"].clone())
        })
        .collect();
    assert_eq!(seen[0].0, "ticket.created");
    assert_eq!(seen[0].1["title"], "Enquiry about pricing");
    assert_eq!(
        (seen[1].0, &seen[1].1["author"], &seen[1].1["via"]),
        ("ticket.message.created", &json!("team"), &json!("api"))
    );
    assert_eq!(
        (seen[2].0, &seen[2].1["author"], &seen[2].1["via"]),
        ("ticket.message.created", &json!("requester"), &json!("web"))
    );
    assert_eq!(seen[3].0, "ticket.status.changed");
    assert_eq!(
        (&seen[3].1["from"], &seen[3].1["to"], &seen[3].1["by"]),
        (&json!("open"), &json!("resolved"), &json!("requester"))
    );
    let ids: std::collections::BTreeSet<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "one webhook-id per delivery");
    // No capability in any payload: no key, no link.
    let bodies = serde_json::to_string(&received).unwrap();
    assert!(!bodies.contains("key=") && !bodies.contains("teamKey") && !bodies.contains(query), "{bodies}");
    println!(
        "4 events, each verified by standardwebhooks and delivered once: {:?}",
        seen.iter().map(|s| s.0).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_webhook_id_until_it_answers_2xx_and_nothing_after() {
    use crate::helpers::{call, event};
    let receiver = Receiver::start().await;
    let (app, endpoint) = hooked(&receiver, vec![EventType::TicketCreated]).await;
    receiver.post("/_plan", json!({"plan": ["500", "timeout", "200"]})).await;
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    let mut outcomes = Vec::new();
    for wait in [
        0,
        ticket_api::domain::webhook_delivery::RETRY_SCHEDULE[0],
        ticket_api::domain::webhook_delivery::RETRY_SCHEDULE[1],
        3_600,
    ] {
        app.clock.advance(Duration::from_secs(wait));
        outcomes.extend(app.service.deliver_due_webhooks(soon()).await.unwrap());
    }
    use ticket_api::service::WebhookOutcome::*;
    assert_eq!(outcomes, [Retrying, Retrying, Delivered], "500, then no answer, then 200; nothing after");
    let received = receiver.received().await;
    let ids: Vec<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| *id == ids[0]), "the same webhook-id each time: {ids:?}");
    let log = app.service.webhook_deliveries(&demo(), 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].attempts, log[0].last_status, log[0].endpoint_id.as_str()), (3, Some(200), endpoint.as_str()));
    println!("500, timeout, 200: 3 attempts of {}, delivered", ids[0]);
}

/// A sweep's deadline that no test reaches.
fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(120)
}

#[tokio::test]
async fn an_endpoint_is_disabled_for_failing_for_days_not_for_one_failure_and_gets_what_was_held_once_enabled() {
    use crate::helpers::{call, event};
    use ticket_api::domain::webhook_delivery::{DISABLE_AFTER, RETRY_SCHEDULE, WebhookDeliveryState};
    use ticket_api::service::WebhookOutcome::*;
    let receiver = Receiver::start().await;
    let (app, endpoint) = hooked(&receiver, vec![EventType::TicketCreated]).await;
    let enabled = || async { app.service.webhooks(&demo()).await.unwrap()[0].disabled_at.is_none() };

    // One delivery refused for good (413: too large for this receiver) ends at once, and disables nothing.
    receiver.post("/_plan", json!({"plan": ["413"]})).await;
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    assert_eq!(app.service.deliver_due_webhooks(soon()).await.unwrap(), [Failed], "refused for good: ended");
    assert!(enabled().await, "one refusal does not disable an endpoint");
    let log = app.service.webhook_deliveries(&demo(), 1).await.unwrap();
    assert_eq!((log[0].attempts, log[0].last_status), (1, Some(413)), "one attempt, its answer kept");

    // A delivery that fails its whole schedule (about 27 hours) fails; the endpoint stays on: a day of failures
    // is not five.
    receiver.post("/_plan", json!({"plan": vec!["503"; 8]})).await;
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    let mut outcomes = app.service.deliver_due_webhooks(soon()).await.unwrap();
    for wait in RETRY_SCHEDULE {
        app.clock.advance(Duration::from_secs(wait));
        outcomes.extend(app.service.deliver_due_webhooks(soon()).await.unwrap());
    }
    assert_eq!(outcomes.len(), 8);
    assert_eq!(outcomes.last(), Some(&Failed), "{outcomes:?}");
    assert!(outcomes[..7].iter().all(|o| *o == Retrying));
    assert!(enabled().await, "failing for 27 hours does not disable it");
    let failing = app.service.webhooks(&demo()).await.unwrap()[0].failing_since.clone();
    assert!(failing.is_some(), "but it is failing since its first failure");

    // Past DISABLE_AFTER of nothing but failures, the next failure disables it; what it is owed from then on is
    // held, out of the due ones, not attempted.
    app.clock.advance(DISABLE_AFTER);
    receiver.post("/_plan", json!({"plan": ["503"]})).await;
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    assert_eq!(app.service.deliver_due_webhooks(soon()).await.unwrap(), [Retrying]);
    let disabled = app.service.webhooks(&demo()).await.unwrap()[0].clone();
    assert!(disabled.disabled_at.is_some(), "disabled after five days of failures");
    assert!(disabled.disabled_why.unwrap().contains("5 days"));
    receiver.post("/_plan", json!({"plan": []})).await;
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    app.clock.advance(Duration::from_secs(RETRY_SCHEDULE[0]));
    let before = receiver.received().await.len();
    let held = app.service.deliver_due_webhooks(soon()).await.unwrap();
    assert_eq!(held, [Held, Held], "the retry and the new one: held");
    app.clock.advance(Duration::from_secs(24 * 3_600));
    assert!(app.service.deliver_due_webhooks(soon()).await.unwrap().is_empty(), "held ones are never due");
    assert_eq!(receiver.received().await.len(), before, "nothing sent to a disabled endpoint");

    let released = app.service.enable_webhook(&demo(), &endpoint).await.unwrap();
    assert_eq!((released.released, released.expired), (2, 0));
    assert_eq!(app.service.deliver_due_webhooks(soon()).await.unwrap(), [Delivered, Delivered], "once enabled");
    let log = app.service.webhook_deliveries(&demo(), 2).await.unwrap();
    assert!(log.iter().all(|d| d.state == WebhookDeliveryState::Delivered));
    assert_eq!(log.iter().map(|d| d.attempts).max(), Some(2), "being held counted no attempt");
    assert!(app.service.webhooks(&demo()).await.unwrap()[0].failing_since.is_none(), "healthy again");

    // A delivery owed to an endpoint removed since: dropped at its next attempt, with nothing sent, not failed.
    app.service.remove_webhook(&demo(), &endpoint).await.unwrap();
    let url = format!("{}/hook", receiver.url);
    let again = app.service.add_webhook(&demo(), &url, vec![], Loopback::AllowedOverHttp, None).await.unwrap();
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    app.service.remove_webhook(&demo(), &again.endpoint.id).await.unwrap();
    let before = receiver.received().await.len();
    assert_eq!(app.service.deliver_due_webhooks(soon()).await.unwrap(), [Dropped], "owed to no endpoint now");
    assert_eq!(receiver.received().await.len(), before, "nothing sent");
    println!("a 413 ends one delivery; 27 hours of 503s fail one; 5 days of failures disable; 2 held, then delivered");
}

#[tokio::test]
async fn what_is_held_past_its_days_is_dropped_with_the_reason_when_its_endpoint_is_enabled() {
    use crate::helpers::{call, event};
    use ticket_api::domain::webhook::EndpointChange;
    use ticket_api::domain::webhook_delivery::{HELD_FOR, WebhookDeliveryState};
    use ticket_api::ports::CollectionStore;
    let receiver = Receiver::start().await;
    let (app, endpoint) = hooked(&receiver, vec![EventType::TicketCreated]).await;
    let disable = EndpointChange::Disable { at: "2026-12-05T10:00:00Z".into(), why: "by the test".into() };
    assert!(app.store.change_endpoint(&demo(), &endpoint, &disable).await.unwrap());
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    assert_eq!(app.service.deliver_due_webhooks(soon()).await.unwrap(), [ticket_api::service::WebhookOutcome::Held]);
    app.clock.advance(HELD_FOR + Duration::from_secs(60));
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    app.service.deliver_due_webhooks(soon()).await.unwrap();
    let enabled = app.service.enable_webhook(&demo(), &endpoint).await.unwrap();
    assert_eq!((enabled.released, enabled.expired), (1, 1), "the recent one goes, the old one is dropped");
    let log = app.service.webhook_deliveries(&demo(), 10).await.unwrap();
    let dropped: Vec<_> = log.iter().filter(|d| d.state == WebhookDeliveryState::Dropped).collect();
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].last_error.as_deref().unwrap().contains("held past 14 days"), "{dropped:?}");
    println!("held past 14 days: dropped with its reason; the newer one released");
}

#[tokio::test]
async fn ticketctl_manages_endpoints_and_the_streams_own_mapping_delivers_on_dynamodb_local() {
    use crate::helpers::*;
    use std::sync::Arc;
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let ctl = Ctl { tables: store.tables().clone() };
    let receiver = Receiver::start().await;
    let url = format!("{}/hook", receiver.url);

    let added =
        ctl.json(&["webhooks", "add", "demo-collection", &url, "--events", "ticket.created,ticket.message.created"]);
    let (id, secret) = (added["id"].as_str().unwrap().to_owned(), added["secret"].as_str().unwrap().to_owned());
    assert!(id.starts_with("wh_") && secret.starts_with("whsec_"), "{added}");
    receiver.post("/_secrets", json!({"secrets": [secret]})).await;
    let listed = ctl.json(&["webhooks", "list", "demo-collection"]);
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(!listed.to_string().contains("whsec_"), "a listing shows no secret: {listed}");
    let refused = ctl.run(&["webhooks", "add", "demo-collection", "https://169.254.169.254/latest/"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("link-local"));
    let ping = ctl.json(&["webhooks", "test", "demo-collection", &id]);
    assert_eq!((ping["status"].as_u64(), ping["delivered"].as_bool()), (Some(200), Some(true)), "{ping}");

    // The stream: e-mails through their mapping, webhooks through theirs.
    let service = Arc::new(local_service(store.clone(), &sdk).with_delivery(stream_delivery()));
    let function = Arc::new(ticket_api::driving::Function::new(service.clone()));
    let _mail = start_stream(&sdk, &store, function.clone(), ticket_api::driving::stream::MAPPING).await;
    let _hooks = start_stream(&sdk, &store, function, ticket_api::driving::stream::WEBHOOK_MAPPING).await;
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service);
    let key = expected().keys.granted;
    let created =
        call(&app, create_request("demo-collection", Some(&key), "application/json", &good_body("u@email.com")));
    assert_eq!(created.await.status, 201);
    let answered = std::time::Instant::now();
    let deadline = answered + Duration::from_secs(15);
    let delivered = loop {
        let received = receiver.received().await;
        if received.iter().any(|r| r["type"] == "ticket.created") || std::time::Instant::now() > deadline {
            break received;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = answered.elapsed();
    let created_event = delivered.iter().find(|r| r["type"] == "ticket.created").expect("delivered from the stream");
    assert_eq!(created_event["verifiedWith"], json!([0]));
    assert_eq!(created_event["data"]["userEmail"], "u@email.com");
    // The receiver has the POST before the function has its 200 written down: the log shows it once settled.
    let settled_by = std::time::Instant::now() + Duration::from_secs(15);
    let log = loop {
        let log = ctl.json(&["webhooks", "deliveries", "demo-collection"]);
        if log.as_array().is_some_and(|l| !l.is_empty()) || std::time::Instant::now() > settled_by {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (log[0]["event"].as_str(), log[0]["state"].as_str()),
        (Some("ticket.created"), Some("delivered")),
        "{log}"
    );

    // A new secret: both verify during the overlap.
    let rotated = ctl.json(&["webhooks", "rotate-secret", "demo-collection", &id]);
    receiver.post("/_secrets", json!({"secrets": [rotated["secret"]]})).await;
    assert_eq!(ctl.json(&["webhooks", "test", "demo-collection", &id])["delivered"], true);
    receiver.post("/_secrets", json!({"secrets": [secret]})).await;
    assert_eq!(ctl.json(&["webhooks", "test", "demo-collection", &id])["delivered"], true);
    let last = receiver.received().await;
    assert_eq!(last[last.len() - 1]["verifiedWith"], json!([0]), "the old secret still verifies");
    assert_eq!(last[last.len() - 2]["verifiedWith"], json!([0]), "the new one too");
    ctl.ok(&["webhooks", "remove", "demo-collection", &id]);
    assert_eq!(ctl.json(&["webhooks", "list", "demo-collection"]), json!([]));
    println!(
        "ticketctl add/list/test/deliveries/rotate-secret/remove; ticket.created delivered from the stream {took:?} after the 201"
    );
}

/// What a run of `two_hundred_creates` measured.
struct Run {
    /// From each create's 201 to its requester's e-mail in the SES stand-in's mailbox.
    mail: Vec<Duration>,
    /// From the first create to the last of the 400 e-mails, and to the last webhook.
    mail_done: Duration,
    hooks_done: Duration,
    deliveries: Vec<Value>,
}

impl Run {
    fn latency(&mut self) -> (Duration, Duration) {
        use crate::helpers::quantile;
        (quantile(&mut self.mail, 0.5), quantile(&mut self.mail, 0.99))
    }
}

/// 200 concurrent creates on DynamoDB Local, their e-mails and webhooks through the stream's two mappings: when
/// each requester's e-mail reached the mailbox after its 201, when all 400 e-mails were there, and when each
/// receiver had its 200 deliveries.
async fn two_hundred_creates(receivers: &[&Receiver]) -> Run {
    use crate::helpers::*;
    use std::sync::Arc;
    use std::time::Instant;
    const N: usize = 200;
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let mailer = Stamped::new(ses_mailer(&sdk));
    let arrived = mailer.arrived.clone();
    let ports = local_ports(store.clone(), &sdk).with_mailer(mailer);
    // The deployment's lease (90 s, past the webhook and SES timeouts): the tests' 5 s lease lapses under make
    // test's load while a delivery is still posting, and another deliverer sends it again.
    let lease = ticket_api::domain::DeliveryPolicy { lease: Duration::from_secs(90), ..stream_delivery() };
    let service = Arc::new(service_on(ports).with_delivery(lease));
    for receiver in receivers {
        let url = format!("{}/hook", receiver.url);
        let added = service.add_webhook(&demo(), &url, vec![], Loopback::AllowedOverHttp, None).await.unwrap();
        receiver.post("/_secrets", json!({"secrets": [added.secret]})).await;
    }
    let function = Arc::new(ticket_api::driving::Function::new(service.clone()));
    let _mail = start_stream(&sdk, &store, function.clone(), ticket_api::driving::stream::MAPPING).await;
    let _hooks = start_stream(&sdk, &store, function.clone(), ticket_api::driving::stream::WEBHOOK_MAPPING).await;
    // And the schedule, as deployed: what the stream's invocations leave (a retry, an e-mail past an invocation's
    // deadline) goes out from the sweep.
    let _schedule = Background(tokio::spawn(ticket_api::local::run_schedule(function, Duration::from_secs(1))));
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service);
    let run = unique("wh");
    let started = Instant::now();
    // Each client as a careful one (`create_carefully`): no create is lost and none is made twice.
    let created = futures_util::future::join_all((0..N).map(|i| {
        let requester = format!("{run}-{i}@email.com");
        let (app, run) = (app.clone(), run.clone());
        tokio::spawn(async move {
            let status = create_carefully(&app, &requester, &format!("{run}-{i}")).await;
            (requester, status, Instant::now())
        })
    }))
    .await;
    let created: Vec<_> = created.into_iter().map(Result::unwrap).collect();
    let statuses: Vec<_> = created.iter().map(|(_, status, _)| *status).collect();
    assert!(statuses.iter().all(|s| *s == 201), "every create answered 201: {statuses:?}");
    // Generous: inside `make test` this runs beside every other test on the same cores; the figures that matter
    // come from `make bench`, which runs it alone.
    let in_mailbox = wait_for_mail(&team, N, Duration::from_secs(300)).await.len();
    if in_mailbox < N {
        // What the outbox holds of the e-mails not in the mailbox: the failure says why, not only how many.
        panic!(
            "{in_mailbox} of {N} team e-mails in the mailbox after {:?}; the outbox: {:#?}",
            started.elapsed(),
            outbox_states(&store, N as u64, 2).await
        );
    }
    let mail_done = started.elapsed();
    let arrived = arrived.lock().unwrap().clone();
    let mail = created
        .into_iter()
        .map(|(requester, _, at)| {
            arrived.get(&requester).expect("every requester's e-mail reached the mailbox").duration_since(at)
        })
        .collect();
    let mut deliveries = Vec::new();
    for receiver in receivers {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let received = receiver.received().await;
            if received.len() >= N || Instant::now() > deadline {
                deliveries.extend(received);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Run { mail, mail_done, hooks_done: started.elapsed(), deliveries }
}

#[tokio::test]
async fn two_hundred_concurrent_creates_with_two_endpoints_deliver_400_webhooks_once_each_beside_their_emails() {
    let _load = crate::helpers::one_load_at_a_time().await;
    let mut alone = two_hundred_creates(&[]).await;
    assert!(alone.deliveries.is_empty());
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let mut beside = two_hundred_creates(&[&a, &b]).await;
    assert_eq!(beside.deliveries.len(), 400, "200 ticket.created to each endpoint");
    assert!(beside.deliveries.iter().all(|d| d["type"] == "ticket.created" && d["verifiedWith"] == json!([0])));
    let ids: std::collections::BTreeSet<&str> = beside.deliveries.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 400, "none twice");
    let ((p50, p99), (with_p50, with_p99)) = (alone.latency(), beside.latency());
    let change = |with: Duration, without: Duration| (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0;
    println!(
        "200 concurrent creates, e-mail from 201 to mailbox: without webhooks p50 {:.1} ms p99 {:.1} ms; \
         with two endpoints p50 {:.1} ms ({:+.0} %) p99 {:.1} ms ({:+.0} %); all 400 e-mails {:.2} s without, \
         {:.2} s with; the 400 webhooks all delivered within {:.2} s, each once",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        with_p50.as_secs_f64() * 1e3,
        change(with_p50, p50),
        with_p99.as_secs_f64() * 1e3,
        change(with_p99, p99),
        alone.mail_done.as_secs_f64(),
        beside.mail_done.as_secs_f64(),
        beside.hooks_done.as_secs_f64(),
    );
}

#[tokio::test]
async fn an_api_key_manages_its_collections_endpoints_through_the_api_and_nothing_else() {
    use crate::helpers::{call, expected, memory_app};
    let receiver = Receiver::start().await;
    let app = memory_app();
    let key = expected().keys.granted;
    let request = |method: &str, path: &str, key: Option<&str>, body: Option<&str>| {
        let mut r = axum::http::Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(key) = key {
            r = r.header("x-api-key", key);
        }
        r.body(lambda_http::Body::from(body.unwrap_or("").to_owned())).unwrap()
    };
    let url = format!("{}/hook", receiver.url);
    let body = json!({"url": url, "events": ["ticket.created"]}).to_string();
    let added = call(&app.app, request("POST", "/ticket/demo-collection/webhooks", Some(&key), Some(&body))).await;
    assert_eq!(added.status, 201, "{}", added.raw);
    let (id, secret) =
        (added.body["id"].as_str().unwrap().to_owned(), added.body["secret"].as_str().unwrap().to_owned());
    assert!(secret.starts_with("whsec_") && added.body["events"] == json!(["ticket.created"]));
    let listed = call(&app.app, request("GET", "/ticket/demo-collection/webhooks", Some(&key), None)).await;
    assert_eq!((listed.status.as_u16(), listed.body["webhooks"][0]["id"].as_str()), (200, Some(id.as_str())));
    assert!(!listed.raw.contains("whsec_"), "no secret in a listing");

    let refused = [
        ("no key", request("GET", "/ticket/demo-collection/webhooks", None, None), 401, "unauthorized"),
        ("another collection", request("GET", "/ticket/other-collection/webhooks", Some(&key), None), 403, "forbidden"),
        (
            "the metadata service",
            request(
                "POST",
                "/ticket/demo-collection/webhooks",
                Some(&key),
                Some(r#"{"url": "https://169.254.169.254/"}"#),
            ),
            422,
            "validation_failed",
        ),
        (
            "plain http",
            request(
                "POST",
                "/ticket/demo-collection/webhooks",
                Some(&key),
                Some(r#"{"url": "http://webhooks.example.com/"}"#),
            ),
            422,
            "validation_failed",
        ),
        (
            "an unknown event",
            request(
                "POST",
                "/ticket/demo-collection/webhooks",
                Some(&key),
                Some(&json!({"url": url, "events": ["ticket.deleted"]}).to_string()),
            ),
            422,
            "validation_failed",
        ),
        ("not JSON", request("POST", "/ticket/demo-collection/webhooks", Some(&key), Some("{")), 400, "invalid_json"),
        (
            "no such endpoint",
            request("DELETE", "/ticket/demo-collection/webhooks/wh_0000000000000000", Some(&key), None),
            404,
            "not_found",
        ),
    ];
    for (what, request, status, code) in refused {
        let answer = call(&app.app, request).await;
        assert_eq!((answer.status.as_u16(), answer.code()), (status, Some(code)), "{what}: {}", answer.raw);
    }
    for _ in 1..ticket_api::domain::webhook::MAX_ENDPOINTS {
        let more = call(&app.app, request("POST", "/ticket/demo-collection/webhooks", Some(&key), Some(&body))).await;
        assert_eq!(more.status, 201);
    }
    let eleventh = call(&app.app, request("POST", "/ticket/demo-collection/webhooks", Some(&key), Some(&body))).await;
    assert_eq!((eleventh.status.as_u16(), eleventh.code()), (409, Some("too_many_webhooks")));

    let rotated = call(
        &app.app,
        request("POST", &format!("/ticket/demo-collection/webhooks/{id}/rotate-secret"), Some(&key), None),
    )
    .await;
    assert_eq!(rotated.status, 200);
    assert!(rotated.body["secret"].as_str().is_some_and(|s| s.starts_with("whsec_") && s != secret));
    // Disabled (five days of failures, say), the key turns it on again.
    use ticket_api::ports::CollectionStore;
    let off =
        ticket_api::domain::webhook::EndpointChange::Disable { at: "2026-12-05T10:00:00Z".into(), why: "x".into() };
    assert!(app.store.change_endpoint(&demo(), &id, &off).await.unwrap());
    let enable = format!("/ticket/demo-collection/webhooks/{id}/enable");
    let enabled = call(&app.app, request("POST", &enable, Some(&key), None)).await;
    assert_eq!((enabled.status.as_u16(), &enabled.body), (200, &json!({"id": id, "released": 0, "expired": 0})));
    assert!(app.store.collection(&demo()).unwrap().webhooks[&id].disabled_at.is_none(), "on again");
    let unknown = request("POST", "/ticket/demo-collection/webhooks/wh_0000000000000000/enable", Some(&key), None);
    assert_eq!(call(&app.app, unknown).await.code(), Some("not_found"));
    let removed =
        call(&app.app, request("DELETE", &format!("/ticket/demo-collection/webhooks/{id}"), Some(&key), None)).await;
    assert_eq!(removed.status, 204);
    let listed = call(&app.app, request("GET", "/ticket/demo-collection/webhooks", Some(&key), None)).await;
    assert_eq!(listed.body["webhooks"].as_array().unwrap().len(), 9);
    println!(
        "API: add (201, secret once), list (no secret), rotate, enable, remove; 7 refusals with their codes; the 11th \
         endpoint 409"
    );
}

#[tokio::test]
async fn an_email_refused_for_good_or_bounced_raises_mail_undeliverable_written_with_its_fate() {
    use crate::helpers::{call, event};
    use ticket_api::domain::{Feedback, FeedbackEvent, MailKey};
    let receiver = Receiver::start().await;
    let (app, _) = hooked(&receiver, vec![EventType::MailUndeliverable]).await;
    // The team's address refuses e-mail for good (SES's MessageRejected); the requester's bounces later.
    app.mailer.refuse("support@example.com");
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    app.deliver().await;
    let bounce = FeedbackEvent {
        mail: MailKey { collection_id: demo(), ticket_number: 1, entry: 1, index: 0 },
        feedback: Feedback::Bounced { permanent: true, detail: "Permanent bounce (General)".into() },
        recipients: vec![ticket_api::domain::Email::parse("user@email.com").unwrap()],
    };
    assert_eq!(app.service.record_feedback(&bounce).await.unwrap(), ticket_api::service::Recorded::Moved);
    assert_eq!(app.store.webhooks().len(), 2, "one delivery per fate, written with it");
    let outcomes = app.service.deliver_due_webhooks(soon()).await.unwrap();
    assert_eq!(outcomes.len(), 2);
    let mut received = receiver.received().await;
    received.sort_by_key(|r| r["data"]["audience"].as_str().map(str::to_owned));
    let facts: Vec<(&str, &str, &str)> = received
        .iter()
        .map(|r| {
            assert_eq!((r["type"].as_str(), &r["verifiedWith"]), (Some("mail.undeliverable"), &json!([0])));
            (r["data"]["audience"].as_str().unwrap(), r["data"]["reason"].as_str().unwrap(), r["id"].as_str().unwrap())
        })
        .collect();
    assert_eq!((facts[0].0, facts[0].1), ("requester", "bounced"));
    assert_eq!((facts[1].0, facts[1].1), ("team", "failed"));
    assert_ne!(facts[0].2, facts[1].2, "one webhook-id per e-mail");
    assert!(received[0]["data"]["detail"].as_str().unwrap().contains("Permanent bounce"));
    // The same bounce again (SES's events come at least once): nothing owed twice.
    app.service.record_feedback(&bounce).await.unwrap();
    assert_eq!(app.store.webhooks().len(), 2);
    println!("mail.undeliverable: the team's e-mail refused (failed), the requester's bounced; each once");
}

#[tokio::test]
async fn an_email_resent_and_refused_again_settles_as_failed_and_owes_a_mail_undeliverable_of_its_own() {
    // On DynamoDB Local, whose transactions refuse a new item over an existing key: the second failure's delivery
    // has a key of its own (the attempt its fate came to). Were it the first's, the e-mail's settle would be
    // cancelled on every attempt and the e-mail stay `sending`, sent again at every lease.
    use crate::helpers::*;
    use std::sync::Arc;
    use ticket_api::domain::{MailKey, MailState};
    use ticket_api::driven::memory::MemoryMailer;
    use ticket_api::ports::OutboxStore;
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let mailer = Arc::new(MemoryMailer::default());
    mailer.refuse(&team);
    let service = Arc::new(service_on(local_ports(store.clone(), &sdk).with_mailer(mailer.clone())));
    let receiver = Receiver::start().await;
    let url = format!("{}/hook", receiver.url);
    let events = vec![EventType::MailUndeliverable];
    let added = service.add_webhook(&demo(), &url, events, Loopback::AllowedOverHttp, None).await.unwrap();
    receiver.post("/_secrets", json!({"secrets": [added.secret]})).await;
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let key = expected().keys.granted;
    let created = call(&app, create_request("demo-collection", Some(&key), "application/json", &good_body("a@b.com")));
    let number = created.await.body["ticketNumber"].as_u64().unwrap();
    let team_mail = MailKey { collection_id: demo(), ticket_number: number, entry: 1, index: 1 };

    assert_eq!(deliver_now(&service).await.failed, 1, "the team's address is refused for good");
    assert_eq!(
        service.resend_failed(&demo(), Some(number)).await.unwrap(),
        std::slice::from_ref(&team_mail),
        "re-sent"
    );
    let again = deliver_now(&service).await;
    assert_eq!((again.failed, again.unavailable), (1, 0), "refused again, and settled: {again:?}");
    let mail = store.get_mail(&team_mail).await.unwrap().unwrap();
    assert_eq!((mail.state, mail.attempts), (MailState::Failed, 2), "failed for good, not stuck sending");
    assert_eq!(deliver_now(&service).await.due, 0, "nothing left to send again");

    let outcomes = service.deliver_due_webhooks(soon()).await.unwrap();
    assert_eq!(outcomes.len(), 2, "one mail.undeliverable per failure: {outcomes:?}");
    let received = receiver.received().await;
    let ids: std::collections::BTreeSet<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "each with its own webhook-id: {ids:?}");
    assert!(received.iter().all(|r| r["data"]["reason"] == "failed" && r["verifiedWith"] == json!([0])));
    println!("re-sent and refused again: failed after 2 attempts, 2 mail.undeliverable with the ids {ids:?}");
}

#[tokio::test]
async fn thousands_held_for_a_disabled_endpoint_never_hold_up_a_healthy_endpoints_retry_and_a_sweep_pages_to_its_end() {
    // On DynamoDB Local. 3,000 deliveries held for a disabled endpoint are out of the due ones: the sweep after
    // them attempts a healthy endpoint's retry at once, and reads nothing of them. And a sweep delivers every
    // page that is due before its deadline, not one page of 100.
    use crate::helpers::*;
    use std::sync::Arc;
    use std::time::Instant;
    let _load = one_load_at_a_time().await;
    use ticket_api::domain::webhook_delivery::{self, WebhookDeliveryState};
    use ticket_api::domain::{Now, Occasion, Role, Ticket};
    use ticket_api::ports::{CollectionStore, NewTicketWrite, TicketStore, WebhookDeliveryStore};
    use ticket_api::service::WebhookOutcome;
    const HELD: usize = 3_000;
    const PER_TICKET: usize = 94;
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &[]).await;
    let service = Arc::new(service_on(local_ports(store.clone(), &sdk)));
    let receiver = Receiver::start().await;
    let url = format!("{}/hook", receiver.url);
    let healthy = service.add_webhook(&demo(), &url, vec![], Loopback::AllowedOverHttp, None).await.unwrap();
    receiver.post("/_secrets", json!({"secrets": [healthy.secret]})).await;
    let sick_url = "http://127.0.0.1:9/sick";
    let sick = service.add_webhook(&demo(), sick_url, vec![], Loopback::AllowedOverHttp, None).await.unwrap().endpoint;
    let off =
        ticket_api::domain::webhook::EndpointChange::Disable { at: Now::from_ms(0).rfc3339(), why: "test".into() };
    assert!(store.change_endpoint(&demo(), &sick.id, &off).await.unwrap());

    // Tickets that each owe the sick endpoint 94 mail.undeliverable deliveries, all held (as sweeps left them).
    let now = ticket_api::driven::SystemClock.now();
    let collection = store.get_collection(&demo()).await.unwrap().unwrap();
    let only_sick = std::collections::BTreeMap::from([(sick.id.clone(), sick.clone())]);
    let ticket = |number: u64| {
        let input = ticket_api::domain::NewTicket::from_json(good_body("a@b.com").as_bytes()).unwrap();
        let ticket =
            Ticket::open(demo(), number, collection.name.clone(), &input, "n".into(), "t".into(), now.rfc3339());
        let entry = ticket_api::domain::Entry::first(input, now.rfc3339());
        let mail = ticket_api::domain::outbox::owed(
            &ticket,
            1,
            Role::Requester,
            Occasion::Opened,
            &[],
            &now.rfc3339(),
            u64::MAX,
        );
        (ticket, entry, mail)
    };
    // One transaction after another: written all at once, they would take DynamoDB Local from every other test.
    let started = Instant::now();
    for t in 0..HELD.div_ceil(PER_TICKET) {
        let (ticket, entry, mail) = ticket(1_000 + t as u64);
        let event = EventType::MailUndeliverable;
        let one =
            webhook_delivery::owed(&only_sick, &ticket, 1, event, Default::default(), &now.rfc3339(), 0).remove(0);
        let webhooks = (0..PER_TICKET.min(HELD - t * PER_TICKET))
            .map(|i| webhook_delivery::WebhookDelivery {
                mail: Some(i as u32),
                mail_attempt: Some(1),
                state: WebhookDeliveryState::Held,
                due_at_ms: Some(now.ms() - 60_000),
                ..one.clone()
            })
            .collect();
        store
            .insert_ticket(&NewTicketWrite { ticket, entry, mail, webhooks, completes: None, uploads: vec![] })
            .await
            .unwrap();
    }
    let written = started.elapsed();

    // The healthy endpoint: one retry due now, and 250 new deliveries due: more than a page.
    let only_healthy = std::collections::BTreeMap::from([(healthy.endpoint.id.clone(), healthy.endpoint.clone())]);
    for number in 1..=251u64 {
        let (ticket, entry, mail) = ticket(number);
        let event = EventType::TicketCreated;
        let mut webhooks = webhook_delivery::owed(
            &only_healthy,
            &ticket,
            1,
            event,
            Default::default(),
            &now.rfc3339(),
            now.ms() - 1_000,
        );
        if number == 1 {
            webhooks[0].state = WebhookDeliveryState::Retrying;
            webhooks[0].attempts = 1;
        }
        store
            .insert_ticket(&NewTicketWrite { ticket, entry, mail, webhooks, completes: None, uploads: vec![] })
            .await
            .unwrap();
    }

    let swept = Instant::now();
    let outcomes = service.deliver_due_webhooks(soon()).await.unwrap();
    let took = swept.elapsed();
    let delivered = outcomes.iter().filter(|o| **o == WebhookOutcome::Delivered).count();
    assert_eq!(delivered, 251, "the retry and every page due, in one sweep: {outcomes:?}");
    assert!(outcomes.iter().all(|o| *o != WebhookOutcome::Held), "no held delivery read: {}", outcomes.len());
    let received = receiver.received().await;
    assert!(received.iter().any(|r| r["data"]["ticketNumber"] == 1), "the healthy endpoint's retry");
    let held = store.held_webhook_deliveries(&demo(), &sick.id, 1_000).await.unwrap();
    assert!(held.len() == 1_000 && held.iter().all(|d| d.state == WebhookDeliveryState::Held), "still held");
    println!(
        "{HELD} held deliveries written in {written:?}; then one sweep delivered a healthy endpoint's retry and 250 \
         more ({} pages) in {took:?}, reading none of the held",
        251usize.div_ceil(100)
    );
}

#[tokio::test]
async fn an_endpoint_added_through_the_api_is_told_to_the_team_and_disabled_when_its_key_is_revoked() {
    use crate::helpers::{call, event, expected, memory_app};
    use ticket_api::domain::MailKind;
    use ticket_api::service::WebhookOutcome;
    let receiver = Receiver::start().await;
    let app = memory_app();
    let key = expected().keys.granted;
    let body = json!({"url": format!("{}/hook", receiver.url)}).to_string();
    let request = axum::http::Request::post("/ticket/demo-collection/webhooks")
        .header("x-api-key", key.as_str())
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(body))
        .unwrap();
    let added = call(&app.app, request).await;
    assert_eq!(added.status, 201, "{}", added.raw);
    receiver.post("/_secrets", json!({"secrets": [added.body["secret"]]})).await;
    let id = added.body["id"].as_str().unwrap().to_owned();

    // The notification addresses hear of it at once, with the endpoint and the key that added it.
    app.deliver().await;
    let told: Vec<_> =
        app.mailer.sent().into_iter().filter(|m| m.content.subject.contains("webhook endpoint")).collect();
    assert_eq!(told.len(), 1, "one notice per notification address");
    assert_eq!(told[0].to.as_str(), "support@example.com");
    for part in [&told[0].content.text, &told[0].content.html] {
        assert!(part.contains(&id) && part.contains(&receiver.url) && part.contains("fixture granted"), "{part}");
    }
    assert!(app.store.mail().iter().any(|m| m.kind == MailKind::WebhookAdded && m.ticket_number == 0));

    // It delivers while its key is good.
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    assert_eq!(app.service.deliver_due_webhooks(soon()).await.unwrap(), [WebhookOutcome::Delivered]);

    // The key is revoked: the endpoint it added is disabled with it, and receives nothing more.
    let revoked = app.service.revoke_key("granted", false).await.unwrap();
    assert_eq!(revoked.endpoints, [(demo(), id.clone())], "the key's endpoints, named");
    let endpoint = app.service.webhooks(&demo()).await.unwrap().remove(0);
    assert!(endpoint.disabled_at.is_some() && endpoint.disabled_why.unwrap().contains("was revoked"));
    app.service
        .add_message(
            "demo-collection",
            "1",
            ticket_api::service::Credential::Operator,
            Ok(ticket_api::domain::conversation::Reply::text(
                ticket_api::domain::Message::parse("An answer.").unwrap(),
            )),
        )
        .await
        .unwrap();
    let before = receiver.received().await.len();
    assert_eq!(app.service.deliver_due_webhooks(soon()).await.unwrap(), [WebhookOutcome::Held]);
    assert_eq!(receiver.received().await.len(), before, "a revoked key's endpoint receives nothing");
    println!(
        "an endpoint added by API key: the team e-mailed at once; revoking the key disabled it; 0 deliveries after"
    );
}
