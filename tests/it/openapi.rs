//! openapi.yaml against the running API: schemathesis (pinned) generates requests from the spec, with a real
//! key and collection, against the local server on DynamoDB Local and the SES stand-in. It must find no server
//! error, no response that breaks the spec, and no request the spec calls invalid that the API accepts.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use crate::helpers::*;

/// What rejects a request the spec calls invalid: schemathesis's own list, and 413, the answer to a body over
/// its limit (a string longer than the spec allows can make the body that long before it is read).
const REJECTIONS: &str =
    r#"["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]"#;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_the_api_true_to_its_openapi_description() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = root.join(".tools/venv/bin/st");
    assert!(st.exists(), "schemathesis is missing: run the tests with `make test`");

    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = ticket_api::service::TicketService::new(local_ports(store.clone(), &sdk), base.clone());
    let app = ticket_api::driving::http::app::<axum::body::Body, _>(Arc::new(service));
    let make_service = axum::ServiceExt::<axum::http::Request<axum::body::Body>>::into_make_service(app);
    let server = tokio::spawn(async move { axum::serve(listener, make_service).await.unwrap() });

    // Ticket 1 with its two keys, so that the conversation's routes are reached past their 404.
    let created = reqwest::Client::new()
        .post(format!("{base}/ticket/demo-collection"))
        .header("x-api-key", &expected().keys.granted)
        .json(&serde_json::json!({"userEmail": "user@email.com", "title": "First", "message": "Hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let url: serde_json::Value = created.json().await.unwrap();
    let ticket_key = url["privateUrl"].as_str().unwrap().rsplit_once("key=").unwrap().1.to_owned();
    let demo = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    let ticket = store.get_ticket(&demo, 1).await.unwrap().unwrap();
    let team_key = ticket_api::domain::TicketKey::derive_team(&pepper(), &ticket.team_key_nonce, 0).reveal().to_owned();
    let member = ticket_api::domain::Email::parse("team@example.com").unwrap();
    let collection = store.get_collection(&demo).await.unwrap().unwrap();
    let inbox_key = collection.inbox_key(&pepper(), &member).reveal().to_owned();

    let dir = std::env::temp_dir().join(unique("schemathesis"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("schemathesis.toml");
    // Generated collection ids and numbers would all be refused (403, 404) before reaching the code behind them:
    // use the granted collection and ticket 1, with each of the four credentials of the spec.
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\"path.collectionId\" = \"demo-collection\"\n\"path.ticketNumber\" = 1\n\
             [auth.openapi.apiKey]\napi_key = \"{}\"\n\
             [auth.openapi.ticketKey]\napi_key = \"{ticket_key}\"\n\
             [auth.openapi.teamKey]\napi_key = \"{team_key}\"\n\
             [auth.openapi.inboxKey]\napi_key = \"{inbox_key}\"\n\
             [checks.negative_data_rejection]\nexpected-statuses = {REJECTIONS}\n",
            expected().keys.granted
        ),
    )
    .unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new(&st)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(root.join("openapi.yaml"))
            .args(["--url", &base])
            // Every check but "the API accepts what the schema allows": some rules (an address's syntax, blank
            // after trimming) cannot be said in JSON Schema, so the server rightly refuses some schema-valid bodies.
            // And not "a wrong key is a 401": a wrong ticket key is, by contract, the 404 of a missing ticket, so
            // that a link's key cannot be told from its number. (No key at all is the 401 that check expects.)
            .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance,ignored_auth"])
            .args(["--max-examples", "30", "--generation-deterministic"])
            // The API answers within its budget (a 503 at worst), however busy the machine: wait that long.
            .args(["--request-timeout", &(ticket_api::driving::http::REQUEST_BUDGET.as_secs() + 5).to_string()])
            // Its cache of found crashes goes with the run, not into the working tree.
            .current_dir(&dir)
            .output()
            .expect("schemathesis runs")
    });
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found problems:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    let cases = report.lines().find(|l| l.contains(" generated, ")).unwrap_or_default().trim().to_owned();
    let mut created = Vec::new();
    for status in [
        ticket_api::domain::TicketStatus::Open,
        ticket_api::domain::TicketStatus::Resolved,
        ticket_api::domain::TicketStatus::Closed,
    ] {
        created.extend(store.list_page(&demo, status, 10_000, None).await.unwrap().tickets);
    }
    assert!(!created.is_empty(), "the generated requests reached the create path");
    println!("schemathesis: {cases}; {} tickets created on the way", created.len());
}
