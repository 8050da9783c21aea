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
struct Receiver {
    child: std::process::Child,
    url: String,
}

impl Receiver {
    async fn start() -> Self {
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

    async fn post(&self, path: &str, body: Value) {
        reqwest::Client::new().post(format!("{}{path}", self.url)).json(&body).send().await.unwrap();
    }

    async fn received(&self) -> Vec<Value> {
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
    let mut endpoint = Endpoint::new(url.clone(), vec![], "2026-12-05T10:00:00Z".into());
    let now = unix_now();
    let old = endpoint.signing_secrets(&pepper(), now)[0].reveal();
    receiver.post("/_secrets", json!({"secrets": [old]})).await;
    let posted = deliver(&sender, &endpoint, url.as_str(), "msg_1", now, EventType::TicketCreated).await;
    assert_eq!((posted.status, posted.error.as_deref()), (Some(200), None));

    // Rotated: during the overlap each delivery carries both signatures; a receiver that knows only the old
    // secret, or only the new one, verifies it.
    endpoint.rotate(now);
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
