//! Every log line of a full run of the local server (creates, refusals, the private view, replies and status
//! changes by each role, failing e-mails, an abuse limit reached) is captured, and none carries an API key, a key
//! hash, the pepper, a ticket key, a team key, a requester's message, a reply's text or the keyed hash the abuse
//! limits count a requester by.

use std::process::Command;

use crate::helpers::*;
use ticket_api::domain::ApiKey;
use ticket_api::ports::AdminStore;

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_and_no_message_text_reaches_the_logs() {
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    // Two tickets per requester per hour, so that the run also meets the abuse limit.
    let demo = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    let mut collection = store.get_collection(&demo).await.unwrap().unwrap();
    collection.rate_limits.per_requester = 2;
    store.update_collection(&collection).await.unwrap();
    let secret_id = pepper_secret(&sdk).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let tables = store.tables().clone();
    // A file, not a pipe: at debug level the server writes more than a pipe holds before anyone reads it.
    let log_path = std::env::temp_dir().join(format!("{}.log", unique("server")));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_ticket-api-local"))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("INVOKE_ADDR", "127.0.0.1:0")
        .env("API_KEYS_TABLE", &tables.api_keys)
        .env("COLLECTIONS_TABLE", &tables.collections)
        .env("TICKETS_TABLE", &tables.tickets)
        .env("LIMITS_TABLE", &tables.limits)
        .env("IDEMPOTENCY_TABLE", &tables.idempotency)
        .env("SUPPRESSIONS_TABLE", &tables.suppressions)
        // The outbox delivers from the stream at once, and retries soon.
        .env("MAIL_MAX_SEND_RATE", "100")
        .env("MAIL_RETRY_BASE_SECONDS", "1")
        .env("MAIL_RETRY_MAX_SECONDS", "1")
        .env("MAIL_SWEEP_AFTER_SECONDS", "0")
        .env("SWEEP_INTERVAL_SECONDS", "1")
        .env("SENDER_EMAIL", SENDER)
        .env("PUBLIC_BASE_URL", &base)
        .env("API_KEY_PEPPER_SECRET_ID", &secret_id)
        .env_remove("API_KEY_PEPPER")
        // The e-mails fail (nothing listens there), so their failures are logged too.
        .env("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:1")
        // As verbose as production can be made: everything at debug, this crate included.
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("the local server starts");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let key = expected().keys.granted;
    let message = format!("my account number is {}", unique("secret-message"));
    let body = serde_json::json!({"userEmail": "user@email.com", "title": "Help", "message": message, "customTags": {"plan": "pro"}});
    let post = |key: String, body: String, idempotency: Option<&'static str>| {
        let mut request = client
            .post(format!("{base}/ticket/demo-collection"))
            .header("x-api-key", key)
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = idempotency {
            request = request.header("idempotency-key", k);
        }
        request.send()
    };
    let mut ticket_keys = Vec::new();
    for idempotency in [None, Some("log-test"), Some("log-test")] {
        let reply: serde_json::Value =
            post(key.clone(), body.to_string(), idempotency).await.unwrap().json().await.unwrap();
        let url = reply["privateUrl"].as_str().expect("created").to_owned();
        ticket_keys.push(url.rsplit("key=").next().unwrap().to_owned());
        let view = client.get(&url).send().await.unwrap();
        assert_eq!(view.status(), 200);
    }
    // The conversation: a reply from each role, with text of its own, a status change, and refused ones.
    let ticket = store.get_ticket(&demo, 1).await.unwrap().expect("ticket 1");
    let team_key = ticket_api::domain::TicketKey::derive_team(&pepper(), &ticket.team_key_nonce, 0).reveal().to_owned();
    let requester_reply = unique("requester-reply-secret");
    let team_reply = unique("team-reply-secret");
    let ticket_url = |suffix: &str, query: String| format!("{base}/ticket/demo-collection/1{suffix}?{query}");
    let conversation = [
        (ticket_url("/messages", format!("key={}", ticket_keys[0])), serde_json::json!({"message": requester_reply})),
        (ticket_url("/messages", format!("teamKey={team_key}")), serde_json::json!({"message": team_reply})),
        (ticket_url("/status", format!("teamKey={team_key}")), serde_json::json!({"status": "resolved"})),
        (ticket_url("/status", format!("key={}", ticket_keys[0])), serde_json::json!({"status": "closed"})),
        (ticket_url("/messages", format!("teamKey={}", "0".repeat(32))), serde_json::json!({"message": team_reply})),
    ];
    let mut answered = Vec::new();
    for (url, body) in &conversation {
        answered.push(client.post(url).json(body).send().await.unwrap().status().as_u16());
    }
    assert_eq!(
        answered,
        [201, 201, 200, 403, 404],
        "replies, a resolve, a close the requester may not make, a wrong key"
    );
    let team_page = client.get(ticket_url("", format!("teamKey={team_key}"))).send().await.unwrap();
    assert_eq!(team_page.status(), 200);

    let unknown = ApiKey::generate().reveal().to_owned();
    let refusals = [
        post(unknown.clone(), body.to_string(), None).await.unwrap().status(),
        post(expected().keys.revoked, body.to_string(), None).await.unwrap().status(),
        post(key.clone(), format!("{{\"message\": \"{message}\"}}"), None).await.unwrap().status(),
        post(key.clone(), format!("{{\"message\": \"{message}\""), None).await.unwrap().status(),
        client.get(format!("{base}/ticket/demo-collection/1?key={}", "0".repeat(32))).send().await.unwrap().status(),
        // The third ticket from the same address this hour (the replay counted nothing).
        post(key.clone(), body.to_string(), None).await.unwrap().status(),
    ];
    assert_eq!(refusals.map(|s| s.as_u16()), [401, 401, 422, 400, 404, 429]);

    // The e-mails fail (SES is unreachable) and are retried: wait until the stream and the sweep have tried them.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let so_far = std::fs::read_to_string(&log_path).unwrap_or_default();
        if so_far.matches("e-mail not sent").count() >= 6 && so_far.contains("sweep done") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = Command::new("kill").args(["-INT", &server.id().to_string()]).status();
    let _ = server.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    std::fs::remove_file(&log_path).unwrap();
    let lines = logs.lines().count();
    assert!(
        lines > 20
            && logs.lines().any(|l| l.starts_with("DEBUG"))
            && logs.contains("ticket created")
            && logs.contains("e-mail not sent")
            && logs.contains("abuse limit reached"),
        "the run was logged, at debug:\n{logs}"
    );

    let pepper = ticket_api::domain::Pepper::new(PEPPER.to_owned().into()).unwrap();
    let mut secrets = vec![
        ("the API key", key.clone()),
        ("a revoked key", expected().keys.revoked),
        ("an unknown key", unknown.clone()),
        ("the pepper", PEPPER.to_owned()),
        ("the message text", message.clone()),
        ("the API key's hash", pepper.hash(&ApiKey::parse(&key).unwrap()).as_str().to_owned()),
        ("the requester's tag", pepper.requester_tag("user@email.com")),
    ];
    for k in &ticket_keys {
        secrets.push(("a ticket key", k.clone()));
    }
    secrets.push(("a team key", team_key.clone()));
    secrets.push(("the requester's reply", requester_reply.clone()));
    secrets.push(("the team's reply", team_reply.clone()));
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret.as_str()), "{what} appears in the logs");
    }
    println!("{lines} log lines checked for {} secrets: none found", secrets.len());

    // The metrics of the same run, written as EMF lines among the logs (so checked for the secrets above too),
    // are documents of the EMF specification, of the function's namespace, with its metric names only.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checker = Command::new(root.join(".tools/venv/bin/python"))
        .arg(root.join("tools/check-emf.py"))
        .arg(root.join("tests/emf.schema.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the EMF checker runs (make test installs its venv)");
    use std::io::Write as _;
    checker.stdin.take().unwrap().write_all(logs.as_bytes()).unwrap();
    let out = checker.wait_with_output().unwrap();
    assert!(out.status.success(), "the metrics break the EMF specification: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let metrics = report["metrics"].as_object().unwrap();
    for name in metrics.keys() {
        assert!(ticket_api::telemetry::ALL.contains(&name.as_str()), "{name} is not in telemetry::ALL");
    }
    for (name, dimensions) in [
        ("TicketsCreated", "FunctionName"),
        ("CreatesRefused", "FunctionName,code"),
        ("RateLimited", "FunctionName,limit"),
        ("MessagesAdded", "FunctionName"),
        ("EmailsRetried", "FunctionName"),
        ("ColdStarts", "FunctionName"),
    ] {
        assert_eq!(metrics.get(name), Some(&serde_json::json!([dimensions])), "{name} and its dimensions: {report}");
    }
    assert!(logs.contains("\"Namespace\":\"TicketApi\""), "the namespace");
    println!("{} EMF documents valid, metrics {:?}", report["documents"], metrics.keys().collect::<Vec<_>>());
}
