//! The conversation in a real browser: Debian's headless Chromium, driven by Playwright (playwright-core, pinned
//! in tools/package-lock.json) with JavaScript turned off, on the real router on 127.0.0.1 over DynamoDB Local,
//! its e-mails delivered from the tickets table's stream to the SES stand-in. tools/browser-conversation.mjs
//! walks it: the requester replies, the team opens the link of its e-mail, replies with a file and resolves, the
//! requester sees it, downloads the file, and replies again. Screenshots of both views are kept under target/screenshots/.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;
use serde_json::{Value, json};
use ticket_api::driving::stream::MAPPING;
use ticket_api::service::TicketService;

#[tokio::test(flavor = "multi_thread")]
async fn requester_and_team_talk_through_the_pages_and_each_email_owed_arrives_in_one_thread() {
    assert!(Path::new("/usr/bin/chromium").exists(), "Debian's chromium is missing: `make test` installs it");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_, files) = s3_files(&sdk).await;
    let ports = local_ports(store.clone(), &sdk).with_files(files);
    let service = Arc::new(TicketService::new(ports, &base).with_delivery(stream_delivery()));
    let _stream =
        start_stream(&sdk, &store, Arc::new(ticket_api::driving::Function::new(service.clone())), MAPPING).await;
    let app = ticket_api::driving::http::app::<axum::body::Body, _>(service);
    let make_service = axum::ServiceExt::<axum::http::Request<axum::body::Body>>::into_make_service(app);
    let _server = Background(tokio::spawn(async move { axum::serve(listener, make_service).await.unwrap() }));

    let created = reqwest::Client::new()
        .post(format!("{base}/ticket/demo-collection"))
        .header("x-api-key", expected().keys.granted)
        .json(&json!({"userEmail": requester, "title": "SSO & trials <plans>", "message": "Hello\nI have questions."}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let link = created.json::<Value>().await.unwrap()["privateUrl"].as_str().unwrap().to_owned();

    let shots = root.join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for name in ["conversation-requester.png", "conversation-team.png"] {
        let _ = std::fs::remove_file(shots.join(name));
    }
    let ses = stack_var("SES_STANDIN_URL");
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new("node")
            .arg(root.join("tools/browser-conversation.mjs"))
            .args([link.as_str(), ses.as_str(), team.as_str()])
            .arg(&shots)
            .output()
            .expect("node runs")
    });
    assert!(
        out.status.success(),
        "the walk through the pages stopped:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("one JSON line of what the pages showed");

    // What each page showed, step by step.
    assert_eq!(seen["requesterOpened"], "open");
    assert_eq!(seen["afterRequesterReply"]["url"], "#entry-2", "the redirect lands on the new message");
    assert_eq!(seen["teamOpened"]["requester"], requester.as_str(), "the team view shows the requester");
    assert_eq!(seen["teamOpened"]["thread"].as_array().unwrap().len(), 2, "and the whole thread");
    assert!(seen["teamLink"].as_str().unwrap().starts_with(&format!("{base}/ticket/demo-collection/1?teamKey=")));
    assert!(
        !seen["teamLink"].as_str().unwrap().contains(link.rsplit("key=").next().unwrap()),
        "not the requester's key"
    );
    assert_eq!(seen["teamFiles"], json!(["plans.png"]), "the team's file is under its reply");
    assert_eq!(
        (seen["download"]["status"].as_u64(), seen["download"]["type"].as_str(), seen["download"]["same"].as_bool()),
        (Some(200), Some("image/png"), Some(true)),
        "the requester downloads it byte for byte through their link: {}",
        seen["download"]
    );
    assert!(seen["download"]["href"].as_str().unwrap().contains("/attachments/"));
    assert_eq!(seen["teamAfterResolve"]["status"], "resolved");
    assert_eq!(seen["requesterAfterTeam"]["status"], "resolved");
    assert_eq!(
        seen["requesterAfterTeam"]["thread"][2], "The Business plan has SSO, and every plan has a 14-day trial.",
        "the requester sees the team's reply"
    );
    assert_eq!(seen["requesterAfterSecondReply"]["status"], "open", "a reply to a resolved ticket opens it again");
    assert_eq!(seen["requesterAfterSecondReply"]["thread"].as_array().unwrap().len(), 4);
    for name in ["conversation-requester.png", "conversation-team.png"] {
        let png = std::fs::read(shots.join(name)).expect("the screenshot was written");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}: a real screenshot ({} bytes)", png.len());
    }

    // The mailbox holds exactly what the rules owe, in order, in one thread per mail client.
    let to_requester = wait_for_mail(&requester, 3, Duration::from_secs(20)).await;
    let to_team = wait_for_mail(&team, 3, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // nothing more arrives late
    let (to_requester_after, to_team_after) = (mailbox(&requester).await, mailbox(&team).await);
    assert_eq!((to_requester_after.len(), to_team_after.len()), (to_requester.len(), to_team.len()), "nothing more");
    let headline = |m: &Value| m["body"]["text"].as_str().unwrap().lines().nth(2).unwrap_or_default().to_owned();
    let first = |m: &Value| m["body"]["text"].as_str().unwrap().lines().next().unwrap().to_owned();
    assert_eq!(
        to_requester.iter().map(first).collect::<Vec<_>>(),
        ["Demo Support", "New message on ticket #1", "Ticket #1 resolved"],
        "the requester: received, the team's reply, the resolve"
    );
    assert_eq!(to_team.len(), 3, "the team: the new ticket and the requester's two replies");
    assert!(headline(&to_team[0]).starts_with("New ticket #1"), "{}", to_team[0]["body"]["text"]);
    assert!(to_team[1]["body"]["text"].as_str().unwrap().contains("Which plan has single sign-on?"));
    assert!(to_team[2]["body"]["text"].as_str().unwrap().contains("One more question about invoices."));
    let header = |m: &Value, name: &str| {
        m["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["value"].as_str().unwrap().to_owned())
    };
    for m in to_requester.iter().chain(&to_team) {
        assert_eq!(header(m, "References").as_deref(), Some("<demo-collection.1@ticket-api>"), "{m}");
        assert_eq!(header(m, "In-Reply-To").as_deref(), Some("<demo-collection.1@ticket-api>"), "{m}");
        let subject = m["subject"].as_str().unwrap();
        assert_eq!(subject.trim_start_matches("Re: "), "[Demo Support] Ticket #1: SSO & trials <plans>");
    }
    println!(
        "browser: 2 views, 3 replies and a resolve through the pages; {} + {} e-mails, one thread; screenshots in {}",
        to_requester.len(),
        to_team.len(),
        shots.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_reads_the_inbox_by_its_accessible_names_and_takes_two_tickets_without_javascript() {
    assert!(Path::new("/usr/bin/chromium").exists(), "Debian's chromium is missing: `make test` installs it");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sdk = sdk().await;
    let member = format!("{}@example.com", unique("member"));
    let store = seeded_dynamo_store(&sdk, &[&member]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = Arc::new(TicketService::new(local_ports(store.clone(), &sdk), &base));
    let app = ticket_api::driving::http::app::<axum::body::Body, _>(service);
    let make_service = axum::ServiceExt::<axum::http::Request<axum::body::Body>>::into_make_service(app);
    let _server = Background(tokio::spawn(async move { axum::serve(listener, make_service).await.unwrap() }));
    for i in 0..3 {
        let created = reqwest::Client::new()
            .post(format!("{base}/ticket/demo-collection"))
            .header("x-api-key", expected().keys.granted)
            .json(&json!({"userEmail": format!("{}@email.com", unique(&format!("user{i}"))), "title": format!("Question <{i}>"), "message": "Hello"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let demo = ticket_api::domain::CollectionId::parse("demo-collection").unwrap();
    let collection = store.get_collection(&demo).await.unwrap().unwrap();
    let key = collection.inbox_key(&pepper(), &ticket_api::domain::Email::parse(&member).unwrap()).reveal().to_owned();
    let shots = root.join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new("node")
            .arg(root.join("tools/browser-inbox.mjs"))
            .arg(format!("{base}/inbox/demo-collection?key={key}"))
            .arg(&shots)
            .output()
            .expect("node runs")
    });
    assert!(
        out.status.success(),
        "the walk through the inbox stopped:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("one JSON line of what the pages showed");
    assert_eq!(seen["heading"], "Inbox");
    assert_eq!(seen["views"], json!(["Mine", "Unassigned", "Open", "Resolved", "Closed"]));
    assert_eq!(seen["current"], "Open", "the default view, named as the current page");
    assert_eq!(
        seen["columns"],
        json!(["Select", "Ticket", "Requester", "Status", "Assignee", "Last activity", "Waiting on"])
    );
    assert_eq!(seen["rows"], 3);
    assert_eq!((seen["search"].as_u64(), seen["assignTo"].as_u64()), (Some(1), Some(1)), "labelled controls");
    assert_eq!(seen["checkboxNames"], json!(["Select ticket #3", "Select ticket #2", "Select ticket #1"]));
    assert_eq!(seen["notice"], "2 changed, 0 already so, 0 refused.");
    let mine = seen["mine"].as_array().unwrap();
    assert_eq!(mine.len(), 2, "{seen}");
    assert!(mine.iter().all(|t| t.as_str().unwrap().starts_with("#1:") || t.as_str().unwrap().starts_with("#2:")));
    assert!(mine.iter().any(|t| t.as_str().unwrap().contains("Question <1>")), "titles escaped, shown as written");
    println!(
        "the inbox in Chromium without JavaScript: heading, views, table of 7 columns, 3 labelled checkboxes; 2 taken with Assign to me"
    );
}
