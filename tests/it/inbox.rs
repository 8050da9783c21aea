//! The team's inbox on DynamoDB Local: a member's page of the collection's tickets (views, paging, finding, who
//! is waited on), opened with the inbox key of the member's e-mails, and its bulk form, each ticket's change made
//! as if alone (its entry, its e-mail, its webhook).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};
use ticket_api::domain::conversation::{self, AssignRequest, StatusRequest};
use ticket_api::domain::webhook::{EventType, Loopback};
use ticket_api::domain::{CollectionId, Email, MailKind, Message, TicketStatus};
use ticket_api::service::Credential;

use crate::helpers::*;
use crate::webhooks::Receiver;

fn demo() -> CollectionId {
    CollectionId::parse("demo-collection").unwrap()
}

async fn get(app: &ticket_api::driving::http::App<lambda_http::Body>, path: &str, accept: &str) -> Reply {
    let request = axum::http::Request::get(path).header("accept", accept).body(lambda_http::Body::Empty).unwrap();
    call(app, request).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_members_inbox_of_120_tickets_lists_each_view_pages_to_its_end_and_bulk_resolves_30_as_if_alone() {
    let sdk = sdk().await;
    let run = unique("inbox");
    let (ann, bob) = (format!("{run}-ann@example.com"), format!("{run}-bob@example.com"));
    let store = seeded_dynamo_store(&sdk, &[&ann, &bob]).await;
    let service = Arc::new(local_service(store.clone(), &sdk));
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let receiver = Receiver::start().await;
    let (url, events) = (format!("{}/hook", receiver.url), vec![EventType::StatusChanged]);
    let added = service.add_webhook(&demo(), &url, events, Loopback::AllowedOverHttp, None).await.unwrap();
    receiver.post("/_secrets", json!({"secrets": [added.secret]})).await;

    // 120 tickets: 1-20 Ann's, 21-40 Bob's, 41-60 resolved, 61-70 closed, 71-120 open and unassigned.
    for i in 1..=120 {
        let body = good_body(&format!("{run}-{i}@email.com"));
        let created =
            call(&app, create_request("demo-collection", Some(&expected().keys.granted), "application/json", &body));
        assert_eq!(created.await.status, 201);
    }
    let operator = |n: u64| (n.to_string(), Credential::Operator);
    for n in 1..=40u64 {
        let to = Email::parse(if n <= 20 { &ann } else { &bob }).unwrap();
        let (n, c) = operator(n);
        service.assign("demo-collection", &n, c, Ok(AssignRequest { assignee: Some(to) })).await.unwrap();
    }
    for n in 41..=70u64 {
        let status = if n <= 60 { TicketStatus::Resolved } else { TicketStatus::Closed };
        let (n, c) = operator(n);
        service
            .set_status("demo-collection", &n, c, Ok(StatusRequest { status, notify_requester: false }))
            .await
            .unwrap();
    }
    let answer =
        conversation::Reply { message: Message::parse("Here is how.").unwrap(), attachments: vec![], posted: vec![] };
    let (n, c) = operator(1);
    service.add_message("demo-collection", &n, c, Ok(answer)).await.unwrap();

    // Ann's inbox link, as her e-mails carry it.
    let collection = store.get_collection(&demo()).await.unwrap().unwrap();
    let key = collection.inbox_key(&pepper(), &Email::parse(&ann).unwrap()).reveal().to_owned();
    let inbox = format!("/inbox/demo-collection?key={key}");
    let view = |name: &str| {
        let (app, first) = (app.clone(), format!("{inbox}&view={name}"));
        async move {
            let (mut numbers, mut pages, mut largest, mut next) = (Vec::new(), 0, 0, Some(first.clone()));
            while let Some(path) = next {
                let page = get(&app, &path, "application/json").await;
                assert_eq!(page.status, 200, "{}", page.raw);
                largest = largest.max(page.raw.len());
                pages += 1;
                numbers.extend(
                    page.body["tickets"].as_array().unwrap().iter().map(|t| t["ticketNumber"].as_u64().unwrap()),
                );
                next = page.body["nextCursor"].as_str().map(|c| format!("{first}&cursor={c}"));
            }
            (numbers, pages, largest)
        }
    };
    let range = |a: u64, b: u64| (a..=b).collect::<BTreeSet<u64>>();
    let views = [
        ("mine", range(1, 20)),
        ("unassigned", range(71, 120)),
        ("open", range(1, 40).union(&range(71, 120)).copied().collect()),
        ("resolved", range(41, 60)),
        ("closed", range(61, 70)),
    ];
    let mut largest = 0;
    for (name, want) in &views {
        let (numbers, pages, size) = view(name).await;
        let set: BTreeSet<u64> = numbers.iter().copied().collect();
        assert_eq!(set.len(), numbers.len(), "{name}: no ticket twice across {pages} pages");
        assert_eq!(&set, want, "{name}: exactly its tickets");
        largest = largest.max(size);
        println!("inbox view {name}: {} tickets in {pages} pages", numbers.len());
    }
    // An API key's list takes the same filters: a member's tickets, or nobody's.
    let listed = |query: String| {
        let app = app.clone();
        async move {
            let request = axum::http::Request::get(format!("/ticket/demo-collection?{query}"))
                .header("x-api-key", expected().keys.granted.as_str())
                .body(lambda_http::Body::Empty)
                .unwrap();
            let page = call(&app, request).await;
            let numbers: BTreeSet<u64> =
                page.body["tickets"].as_array().unwrap().iter().map(|t| t["ticketNumber"].as_u64().unwrap()).collect();
            numbers
        }
    };
    assert_eq!(listed(format!("status=open&limit=100&assignee={bob}")).await, range(21, 40));
    assert_eq!(listed("status=open&limit=100&assignee=none".into()).await, range(71, 120));

    // Newest activity first, and who is waited on.
    let open = get(&app, &format!("{inbox}&view=open"), "application/json").await;
    let rows = open.body["tickets"].as_array().unwrap();
    let times: Vec<&str> = rows.iter().map(|r| r["lastActivityAt"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest activity first");
    let first = rows.iter().find(|r| r["ticketNumber"] == 1).expect("ticket 1, answered last, on the first page");
    assert_eq!((&first["waitingOn"], &first["assignee"]), (&json!("requester"), &json!(ann)));
    assert!(rows.iter().filter(|r| r["ticketNumber"] != 1).all(|r| r["waitingOn"] == "team"));
    assert!(first["url"].as_str().unwrap().contains("/ticket/demo-collection/1?teamKey="));
    assert_eq!(
        get(&app, first["url"].as_str().unwrap().trim_start_matches(BASE_URL), "application/json").await.status,
        200
    );

    // Found by number and by requester; a wrong key is a 404 like a missing collection.
    let found = get(&app, &format!("{inbox}&find=%237"), "application/json").await;
    assert_eq!(found.body["tickets"][0]["ticketNumber"], 7);
    let found = get(&app, &format!("{inbox}&find={run}-33%40email.com"), "application/json").await;
    assert_eq!(found.body["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["tickets"][0]["ticketNumber"], 33);
    assert_eq!(
        get(&app, "/inbox/demo-collection?key=0123456789abcdef0123456789abcdef", "application/json").await.status,
        404
    );

    // The page: every row with a labelled checkbox, the largest answer printed.
    let page = get(&app, &format!("{inbox}&view=open"), "text/html").await;
    assert_eq!(page.header("content-security-policy").map(|p| p.contains("default-src 'none'")), Some(true));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.raw.matches(r#"type="checkbox" name="ticket""#).count(), 50);
    largest = largest.max(page.raw.len());

    // Ann resolves 30 unassigned tickets at once: exactly those change, each with its entry, e-mail and webhook.
    let chosen: Vec<u64> = (71..=100).collect();
    let mut form: Vec<String> = chosen.iter().map(|n| format!("ticket={n}")).collect();
    form.push("action=resolve".into());
    let post = axum::http::Request::post(format!("{inbox}&view=unassigned"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(lambda_http::Body::from(form.join("&")))
        .unwrap();
    let back = call(&app, post).await;
    assert_eq!(back.status, 303, "{}", back.raw);
    assert!(back.header("location").unwrap().contains("view=unassigned&done=30,0,0"));
    let (resolved, _, _) = view("resolved").await;
    let want: BTreeSet<u64> = range(41, 60).union(&range(71, 100)).copied().collect();
    assert_eq!(resolved.iter().copied().collect::<BTreeSet<u64>>(), want, "exactly the 30 more");
    for n in chosen.iter().copied() {
        let record = service.ticket_record(&demo(), n).await.unwrap();
        let last = record.thread.last().unwrap();
        assert_eq!(
            (last.status, last.by.as_ref().map(|m| m.as_str())),
            (Some(TicketStatus::Resolved), Some(ann.as_str()))
        );
        assert_eq!(record.mail.iter().filter(|m| m.kind == MailKind::Resolved).count(), 1, "#{n}: its requester told");
    }
    let soon = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    service.deliver_due_webhooks(soon).await.unwrap();
    let hooks = receiver.received().await;
    let by_ann: BTreeSet<u64> = hooks
        .iter()
        .filter(|h| h["type"] == "ticket.status.changed" && h["data"]["by"] == ann.as_str())
        .map(|h| {
            assert_eq!(h["verifiedWith"], json!([0]));
            h["data"]["ticketNumber"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(by_ann, chosen.iter().copied().collect::<BTreeSet<u64>>(), "one verified webhook each, by Ann");
    println!(
        "120 tickets: every view exact, pages without duplicates; bulk resolve of 30 changed exactly those, 30 \
         e-mails and 30 webhooks by {ann}; largest inbox answer {largest} bytes"
    );
    assert!(largest < 200_000, "an inbox answer stays far under Lambda's 6 MB: {largest} bytes");
}

#[tokio::test]
async fn the_inbox_link_is_in_every_team_email_and_taking_the_member_off_revokes_it() {
    let app = memory_app();
    let ann = "ann@example.com";
    let members = ticket_api::service::CollectionChanges { notify: Some(vec![ann.into()]), ..Default::default() };
    app.service.update_collection(&demo(), members).await.unwrap();
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    app.deliver().await;
    let mail = app.mailer.sent().into_iter().find(|m| m.to.as_str() == ann).unwrap();
    let at = mail.content.text.find("/inbox/demo-collection?key=").expect("the team's e-mail links the inbox");
    let path = mail.content.text[at..].split_whitespace().next().unwrap().to_owned();
    assert!(mail.content.html.contains(&path.replace('&', "&amp;")), "in its HTML too");
    let requester = app.mailer.sent().into_iter().find(|m| m.to.as_str() == "user@email.com").unwrap();
    assert!(!requester.content.text.contains("/inbox/"), "never the requester's");
    let page = get(&app.app, &path, "text/html").await;
    assert_eq!(page.status, 200);
    assert!(page.raw.contains("<h1>Inbox</h1>") && page.raw.contains(r#"<th scope="col">Waiting on</th>"#));

    let gone =
        ticket_api::service::CollectionChanges { notify: Some(vec!["bob@example.com".into()]), ..Default::default() };
    app.service.update_collection(&demo(), gone).await.unwrap();
    assert_eq!(get(&app.app, &path, "text/html").await.status, 404, "taken off the team, her inbox is closed");
    let value: Value = serde_json::json!(path.len());
    println!("the inbox link ({value} characters) in the team's e-mail, 404 once the member is taken off");
}
