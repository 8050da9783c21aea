//! openapi.yaml against the running API: schemathesis (pinned) generates requests from the spec, with a real
//! key and collection, against the local server on DynamoDB Local and the SES stand-in. It must find no server
//! error, no response that breaks the spec, and no request the spec calls invalid that the API accepts.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_the_api_true_to_its_openapi_description() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = root.join(".tools/venv/bin/st");
    assert!(st.exists(), "schemathesis is missing: run the tests with `make test`");

    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = ticket_api::service::TicketService::new(
        store.clone(),
        ses_mailer(&sdk),
        ticket_api::aws::PepperProvider::Inline(pepper()),
        base.clone(),
    );
    let app = ticket_api::http::app::<axum::body::Body, _, _, _>(Arc::new(service));
    let make_service = axum::ServiceExt::<axum::http::Request<axum::body::Body>>::into_make_service(app);
    let server = tokio::spawn(async move { axum::serve(listener, make_service).await.unwrap() });

    let dir = std::env::temp_dir().join(unique("schemathesis"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("schemathesis.toml");
    // Generated collection ids would all be refused (403) before reaching the create: use the granted one.
    std::fs::write(&config, "[parameters]\n\"path.collectionId\" = \"demo-collection\"\n").unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new(&st)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(root.join("openapi.yaml"))
            .args(["--url", &base])
            .args(["--header", &format!("x-api-key: {}", expected().keys.granted)])
            // Every check but "the API accepts what the schema allows": some rules (an address's syntax, blank
            // after trimming) cannot be said in JSON Schema, so the server rightly refuses some schema-valid bodies.
            .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance"])
            .args(["--max-examples", "30", "--generation-deterministic"])
            // Its cache of found crashes goes with the run, not into the working tree.
            .current_dir(&dir)
            .output()
            .expect("schemathesis runs")
    });
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found problems:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    let cases = report.lines().find(|l| l.contains("generated")).unwrap_or_default().trim().to_owned();
    let created = store
        .list_tickets(
            &ticket_api::domain::CollectionId::parse("demo-collection").unwrap(),
            ticket_api::domain::TicketStatus::Open,
            10_000,
        )
        .await
        .unwrap();
    assert!(!created.is_empty(), "the generated requests reached the create path");
    println!("schemathesis: {cases}; {} tickets created on the way", created.len());
}
