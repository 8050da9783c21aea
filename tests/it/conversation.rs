//! A ticket's conversation through the Router on DynamoDB Local and the SES stand-in: every route, every status
//! of the contract, for each role (the requester's key, the team's key, an API key), the 404s and the 429s, and
//! the e-mails each event owes, delivered and threaded. A refused request stores nothing and sends nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;
use axum::http::Request;
use serde_json::{Value, json};
use ticket_api::domain::CollectionId;
use ticket_api::driven::CallLog;
use ticket_api::ports::AdminStore;

/// The app on DynamoDB Local, a ticket created in it, and the keys of its roles.
struct Stand {
    app: ticket_api::driving::http::App<lambda_http::Body>,
    service: Arc<LocalService>,
    store: ticket_api::driven::DynamoStore,
    calls: CallLog,
    team: String,
    requester: String,
    /// The requester's link without the base URL, its key, and the team member's key.
    path: String,
    key: String,
    team_key: String,
}

async fn stand(per_ticket_replies: u32) -> Stand {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let seeded = seeded_dynamo_store(&sdk, &[&team]).await;
    let demo = CollectionId::parse("demo-collection").unwrap();
    let mut collection = seeded.get_collection(&demo).await.unwrap().unwrap();
    collection.rate_limits.per_ticket_replies = per_ticket_replies;
    seeded.update_collection(&collection).await.unwrap();
    let calls = CallLog::default();
    let logged = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(calls.clone()).build();
    let store =
        ticket_api::driven::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(logged), seeded.tables().clone());
    let service = Arc::new(local_service(store.clone(), &sdk));
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let created = call(
        &app,
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &tagged_body(&requester)),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let url = created.body["privateUrl"].as_str().unwrap().strip_prefix(BASE_URL).unwrap().to_owned();
    let (path, query) = url.split_once('?').unwrap();
    let key = query.strip_prefix("key=").unwrap().to_owned();
    let ticket = seeded.get_ticket(&demo, 1).await.unwrap().unwrap();
    // The team member's own key, as their e-mails carry it.
    let member = ticket_api::domain::Email::parse(&team).unwrap();
    let team_key = collection.team_key(&pepper(), &ticket.team_key_nonce, Some(&member)).reveal().to_owned();
    Stand { app, service, store: seeded, calls, team, requester, path: path.to_owned(), key, team_key }
}

fn tagged_body(user: &str) -> String {
    json!({"userEmail": user, "title": "Enquiry about pricing", "message": "Please explain about the pricing plans", "customTags": {"plan": "pro"}})
        .to_string()
}

/// Who a request acts as.
#[derive(Clone, Copy, Debug)]
enum As {
    Requester,
    TeamLink,
    Api,
    /// A well-formed key of the right length that is not this ticket's.
    WrongKey,
}

impl Stand {
    fn url(&self, suffix: &str, who: As) -> String {
        let query = match who {
            As::Requester => format!("?key={}", self.key),
            As::TeamLink => format!("?teamKey={}", self.team_key),
            As::Api => String::new(),
            As::WrongKey => format!("?key={}", "0".repeat(32)),
        };
        format!("{}{suffix}{query}", self.path)
    }

    fn request(&self, method: &str, suffix: &str, who: As) -> axum::http::request::Builder {
        let builder = Request::builder().method(method).uri(self.url(suffix, who));
        match who {
            As::Api => builder.header("x-api-key", expected().keys.granted),
            _ => builder,
        }
    }

    async fn json(&self, method: &str, suffix: &str, who: As, body: Value) -> Reply {
        let request = self
            .request(method, suffix, who)
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(body.to_string()))
            .unwrap();
        call(&self.app, request).await
    }

    async fn view(&self, who: As) -> Reply {
        let request =
            self.request("GET", "", who).header("accept", "application/json").body(lambda_http::Body::Empty).unwrap();
        call(&self.app, request).await
    }

    /// The whole thread, read page after page through `earlier`, in order; and the largest page's size.
    async fn read_whole_thread(&self, who: As) -> (Vec<Value>, usize) {
        let (mut thread, mut largest) = (Vec::new(), 0);
        let mut before: Option<u64> = None;
        loop {
            let base = self.url("", who);
            let url = match before {
                None => base,
                Some(before) => format!("{base}{}before={before}", if base.contains('?') { '&' } else { '?' }),
            };
            let builder = Request::get(url).header("accept", "application/json");
            let builder = match who {
                As::Api => builder.header("x-api-key", expected().keys.granted),
                _ => builder,
            };
            let page = call(&self.app, builder.body(lambda_http::Body::Empty).unwrap()).await;
            assert_eq!(page.status, 200, "{}", &page.raw[..page.raw.len().min(300)]);
            largest = largest.max(page.raw.len());
            let mut entries = page.body["thread"].as_array().unwrap().clone();
            entries.append(&mut thread);
            thread = entries;
            match page.body["earlier"].as_u64() {
                Some(earlier) => before = Some(earlier),
                None => return (thread, largest),
            }
        }
    }

    async fn reply(&self, who: As, text: &str) -> Reply {
        self.json("POST", "/messages", who, json!({"message": text})).await
    }

    async fn status(&self, who: As, status: &str) -> Reply {
        self.json("POST", "/status", who, json!({"status": status})).await
    }

    async fn entries(&self) -> usize {
        self.store.thread(&CollectionId::parse("demo-collection").unwrap(), 1).await.unwrap().len()
    }
}

fn problem(reply: &Reply) -> (u16, Option<&str>) {
    (reply.status.as_u16(), reply.code())
}

#[tokio::test]
async fn each_role_reads_the_thread_it_may_and_the_team_sees_the_requester_and_tags() {
    let s = stand(20).await;
    let requester = s.view(As::Requester).await;
    assert_eq!(requester.status, 200, "{}", requester.raw);
    assert_eq!(requester.body["thread"][0]["message"], "Please explain about the pricing plans");
    assert_eq!(requester.body["thread"][0]["author"], "requester");
    assert!(
        requester.body.get("userEmail").is_none() && requester.body.get("customTags").is_none(),
        "{}",
        requester.raw
    );
    for who in [As::TeamLink, As::Api] {
        let team = s.view(who).await;
        assert_eq!(team.status, 200, "{who:?}: {}", team.raw);
        assert_eq!(team.body["userEmail"], s.requester.as_str(), "{who:?}");
        assert_eq!(team.body["customTags"], json!({"plan": "pro"}), "{who:?}");
    }
    for who in [As::Requester, As::TeamLink, As::WrongKey] {
        let reply = s.view(who).await;
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{who:?}");
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"), "{who:?}");
        assert!(reply.header("x-robots-tag").is_some_and(|v| v.contains("noindex")), "{who:?}");
    }
}

#[tokio::test]
async fn a_wrong_key_another_tickets_key_and_a_missing_ticket_are_one_404_after_small_reads_and_no_key_a_401() {
    let s = stand(20).await;
    // Another ticket of the same collection, and its key.
    let other = call(
        &s.app,
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(&s.requester)),
    )
    .await;
    let other_key = other.body["privateUrl"].as_str().unwrap().rsplit("key=").next().unwrap().to_owned();
    let cases = [
        ("a wrong key", format!("{}?key={}", s.path, "0".repeat(32))),
        ("another ticket's key", format!("{}?key={other_key}", s.path)),
        ("the requester's key as a team key", format!("{}?teamKey={}", s.path, s.key)),
        ("the team key as the requester's", format!("{}?key={}", s.path, s.team_key)),
        ("a missing ticket", format!("/ticket/demo-collection/999?key={}", s.key)),
        ("a missing collection", format!("/ticket/gone-collection/1?key={}", s.key)),
    ];
    let mut bodies = Vec::new();
    for (what, url) in &cases {
        for (method, suffix, body) in [
            ("GET", "", None),
            ("POST", "/messages", Some(r#"{"message":"x"}"#)),
            ("POST", "/status", Some(r#"{"status":"resolved"}"#)),
        ] {
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let uri = if query.is_empty() { format!("{path}{suffix}") } else { format!("{path}{suffix}?{query}") };
            let request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
            s.calls.clear();
            let reply =
                call(&s.app, request.body(lambda_http::Body::from(body.unwrap_or_default().to_owned())).unwrap()).await;
            assert_eq!(problem(&reply), (404, Some("not_found")), "{what} {method} {suffix}: {}", reply.raw);
            let made: Vec<String> = s.calls.calls().iter().map(|c| c.iam_action()).collect();
            // A team key is checked against the collection's link generation, read beside the ticket.
            let reads = if url.contains("teamKey=") { 2 } else { 1 };
            assert!(
                made.len() <= reads && made.iter().all(|c| c == "dynamodb:GetItem"),
                "{what} {method} {suffix}: at most {reads} small reads, made {made:?}"
            );
            let mut body = reply.body.clone();
            body.as_object_mut().unwrap().remove("requestId");
            bodies.push(body);
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every refusal reads the same");
    // No credential at all names no ticket: a 401 that says which keys there are, before any call.
    for (method, suffix, body) in
        [("GET", "", ""), ("POST", "/messages", r#"{"message":"x"}"#), ("POST", "/status", r#"{"status":"resolved"}"#)]
    {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{suffix}", s.path))
            .header("content-type", "application/json");
        s.calls.clear();
        let reply = call(&s.app, request.body(lambda_http::Body::from(body.to_owned())).unwrap()).await;
        assert_eq!(problem(&reply), (401, Some("unauthorized")), "no key {method} {suffix}: {}", reply.raw);
        assert!(s.calls.calls().is_empty(), "no key {method} {suffix}: no call made");
    }
    assert_eq!(s.entries().await, 1, "nothing was written");
    assert_eq!(s.store.undelivered(None).await.unwrap().len(), 4, "no e-mail owed but the two creates'");
}

#[tokio::test]
async fn the_requester_replies_and_resolves_and_a_reply_to_a_resolved_ticket_opens_it_again() {
    let s = stand(20).await;
    let added = s.reply(As::Requester, "Any news?\nThanks").await;
    assert_eq!(added.status, 201, "{}", added.raw);
    assert_eq!(
        added.body["entry"],
        json!({"seq": 2, "at": added.body["entry"]["at"], "author": "requester", "message": "Any news?\nThanks",
               "attachments": []})
    );
    assert_eq!(added.body["status"], "open");
    let resolved = s.status(As::Requester, "resolved").await;
    assert_eq!((resolved.status.as_u16(), &resolved.body["changed"]), (200, &json!(true)), "{}", resolved.raw);
    let again = s.status(As::Requester, "resolved").await;
    assert_eq!(
        (again.status.as_u16(), &again.body["changed"], &again.body["status"]),
        (200, &json!(false), &json!("resolved")),
        "no change is done"
    );
    for forbidden in ["closed", "open"] {
        assert_eq!(
            problem(&s.status(As::Requester, forbidden).await),
            (403, Some("forbidden")),
            "the requester may not set {forbidden}"
        );
    }
    let reopened = s.reply(As::Requester, "It happened again").await;
    assert_eq!((reopened.status.as_u16(), &reopened.body["status"]), (201, &json!("open")), "{}", reopened.raw);
    assert_eq!(reopened.body["entry"]["status"], "open", "the entry says it opened the ticket");
    let thread = s.view(As::Requester).await.body["thread"].clone();
    let shape: Vec<(u64, &str, Option<&str>, Option<&str>)> = thread
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["seq"].as_u64().unwrap(), e["author"].as_str().unwrap(), e["message"].as_str(), e["status"].as_str())
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, "requester", Some("Please explain about the pricing plans"), None),
            (2, "requester", Some("Any news?\nThanks"), None),
            (3, "requester", None, Some("resolved")),
            (4, "requester", Some("It happened again"), Some("open")),
        ]
    );
    assert_eq!(s.entries().await, 4, "a status request that changed nothing wrote nothing");
}

#[tokio::test]
async fn the_team_replies_resolves_closes_and_reopens_by_link_and_by_api_key_and_a_closed_ticket_takes_no_reply() {
    let s = stand(20).await;
    for (who, text) in [(As::TeamLink, "We are looking into it."), (As::Api, "Fixed on our side.")] {
        let added = s.reply(who, text).await;
        assert_eq!(
            (added.status.as_u16(), &added.body["entry"]["author"]),
            (201, &json!("team")),
            "{who:?}: {}",
            added.raw
        );
    }
    assert_eq!(s.status(As::TeamLink, "resolved").await.body["status"], "resolved");
    assert_eq!(s.status(As::Api, "closed").await.body["status"], "closed");
    for who in [As::Requester, As::TeamLink, As::Api] {
        assert_eq!(problem(&s.reply(who, "one more thing").await), (409, Some("ticket_closed")), "{who:?}");
    }
    assert_eq!(problem(&s.status(As::Requester, "resolved").await), (409, Some("ticket_closed")));
    assert_eq!(problem(&s.status(As::TeamLink, "resolved").await), (409, Some("ticket_closed")), "reopen first");
    assert_eq!(s.status(As::TeamLink, "closed").await.body["changed"], false);
    assert_eq!(s.status(As::TeamLink, "open").await.body["status"], "open", "the team reopens");
    assert_eq!(s.reply(As::Requester, "thanks").await.status, 201);
    let entries = s.entries().await;
    assert_eq!(entries, 1 + 2 + 1 + 1 + 1 + 1, "refusals and no-ops wrote nothing");
}

#[tokio::test]
async fn bad_bodies_are_refused_with_their_code_and_store_nothing() {
    let s = stand(20).await;
    let send = |suffix: &'static str, content_type: &'static str, body: &'static str| {
        let request = s.request("POST", suffix, As::Requester).header("content-type", content_type);
        call(&s.app, request.body(lambda_http::Body::from(body)).unwrap())
    };
    assert_eq!(problem(&send("/messages", "text/plain", "hi").await), (415, Some("unsupported_media_type")));
    assert_eq!(problem(&send("/messages", "application/json", "{").await), (400, Some("invalid_json")));
    assert_eq!(
        problem(&send("/messages", "application/json", r#"{"message": "  "}"#).await),
        (422, Some("validation_failed"))
    );
    assert_eq!(
        problem(&send("/messages", "application/json", r#"{"message": "a", "extra": 1}"#).await),
        (422, Some("validation_failed"))
    );
    assert_eq!(
        problem(&send("/status", "application/json", r#"{"status": "done"}"#).await),
        (422, Some("validation_failed"))
    );
    let long = format!(r#"{{"message": "{}"}}"#, "x".repeat(20_001));
    let request = s.request("POST", "/messages", As::Requester).header("content-type", "application/json");
    assert_eq!(
        problem(&call(&s.app, request.body(lambda_http::Body::from(long)).unwrap()).await),
        (422, Some("validation_failed"))
    );
    let huge = "x".repeat(300 * 1024);
    let request =
        s.request("POST", "/messages", As::Requester).header("content-type", "application/x-www-form-urlencoded");
    assert_eq!(call(&s.app, request.body(lambda_http::Body::from(huge)).unwrap()).await.status, 413);
    // A key is checked before anything about the body is said.
    let request = s.request("POST", "/messages", As::WrongKey).header("content-type", "text/plain");
    assert_eq!(
        problem(&call(&s.app, request.body(lambda_http::Body::from("x")).unwrap()).await),
        (404, Some("not_found"))
    );
    let api = Request::post(format!("{}/messages", s.path))
        .header("x-api-key", "tkapi_nope")
        .header("content-type", "application/json");
    assert_eq!(
        problem(&call(&s.app, api.body(lambda_http::Body::from("{")).unwrap()).await),
        (401, Some("unauthorized"))
    );
    assert_eq!(s.entries().await, 1);
    assert_eq!(s.store.undelivered(None).await.unwrap().len(), 2, "no e-mail owed but the create's");
}

#[tokio::test]
async fn the_requesters_replies_are_limited_per_ticket_per_hour_and_a_refused_one_takes_nothing() {
    let s = stand(2).await;
    for i in 0..2 {
        assert_eq!(s.reply(As::Requester, &format!("reply {i}")).await.status, 201);
    }
    let refused = s.reply(As::Requester, "one too many").await;
    assert_eq!(problem(&refused), (429, Some("rate_limited")), "{}", refused.raw);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_eq!(refused.header("ratelimit-policy"), Some("\"per-ticket-replies\";q=2;w=3600"));
    assert_eq!(refused.header("ratelimit"), Some(format!("\"per-ticket-replies\";r=0;t={retry}").as_str()));
    // The form gets the page back, with the reason and the text kept.
    let request =
        s.request("POST", "/messages", As::Requester).header("content-type", "application/x-www-form-urlencoded");
    let page = call(&s.app, request.body(lambda_http::Body::from("message=my+draft")).unwrap()).await;
    assert_eq!(page.status, 429);
    assert!(
        page.raw.contains("this ticket takes 2 replies or changes an hour from this link")
            && page.raw.contains(">my draft</textarea>"),
        "{}",
        page.raw
    );
    // The same hour's end, a moment later: the same number of seconds, or one fewer.
    let page_retry: u64 = page.header("retry-after").unwrap().parse().unwrap();
    assert!(page_retry == retry || page_retry + 1 == retry, "{page_retry} after {retry}");
    // The team's link has a count of its own.
    assert_eq!(s.reply(As::TeamLink, "Here to help").await.status, 201);
    assert_eq!(s.entries().await, 1 + 2 + 1, "the refused replies stored nothing");
    let owed = s.store.undelivered(None).await.unwrap().len();
    assert_eq!(owed, 2 + 2 + 1, "the refused replies owe no e-mail");
}

#[tokio::test]
async fn the_team_lists_tickets_by_status_newest_activity_first_a_page_at_a_time() {
    let s = stand(20).await;
    for i in 2..=5 {
        let reply = call(
            &s.app,
            create_request(
                "demo-collection",
                Some(&expected().keys.granted),
                "application/json",
                &good_body(&format!("{i}-{}", s.requester)),
            ),
        )
        .await;
        assert_eq!(reply.body["ticketNumber"], i);
    }
    // Ticket 1 moves to the top: the newest activity.
    assert_eq!(s.reply(As::Api, "bump").await.status, 201);
    // Ticket 3 is resolved: in the resolved list only.
    let three = Request::post("/ticket/demo-collection/3/status")
        .header("x-api-key", expected().keys.granted)
        .header("content-type", "application/json");
    assert_eq!(
        call(&s.app, three.body(lambda_http::Body::from(r#"{"status":"resolved"}"#)).unwrap()).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await; // the index follows the writes
    let list = |query: String| {
        let request =
            Request::get(format!("/ticket/demo-collection{query}")).header("x-api-key", expected().keys.granted);
        call(&s.app, request.body(lambda_http::Body::Empty).unwrap())
    };
    let mut numbers = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            None => "?limit=2".to_owned(),
            Some(c) => format!("?limit=2&cursor={c}"),
        };
        let page = list(query).await;
        assert_eq!(page.status, 200, "{}", page.raw);
        pages += 1;
        numbers.extend(page.body["tickets"].as_array().unwrap().iter().map(|t| t["ticketNumber"].as_u64().unwrap()));
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(numbers, [1, 5, 4, 2], "open tickets, newest activity first");
    assert_eq!(pages, 2, "two full pages, no empty third");
    let resolved = list("?status=resolved".into()).await;
    assert_eq!(resolved.body["tickets"][0]["ticketNumber"], 3);
    assert_eq!(resolved.body["tickets"].as_array().unwrap().len(), 1);
    for bad in ["?status=done", "?limit=0", "?limit=101", "?cursor=nope"] {
        assert_eq!(problem(&list(bad.into()).await), (400, Some("invalid_query")), "{bad}");
    }
    let anonymous = call(&s.app, Request::get("/ticket/demo-collection").body(lambda_http::Body::Empty).unwrap()).await;
    assert_eq!(problem(&anonymous), (401, Some("unauthorized")));
    let elsewhere = Request::get("/ticket/other-collection").header("x-api-key", expected().keys.granted);
    assert_eq!(
        problem(&call(&s.app, elsewhere.body(lambda_http::Body::Empty).unwrap()).await),
        (403, Some("forbidden"))
    );
    let bad_query_bad_key = Request::get("/ticket/demo-collection?status=done").header("x-api-key", "tkapi_nope");
    assert_eq!(
        problem(&call(&s.app, bad_query_bad_key.body(lambda_http::Body::Empty).unwrap()).await),
        (401, Some("unauthorized")),
        "the key first"
    );
}

#[tokio::test]
async fn each_event_emails_the_side_the_rules_say_with_its_own_link_all_in_one_thread() {
    let s = stand(20).await;
    assert_eq!(s.reply(As::Requester, "Requester asks").await.status, 201);
    assert_eq!(s.reply(As::TeamLink, "Team answers").await.status, 201);
    assert_eq!(s.status(As::Api, "resolved").await.status, 200);
    assert_eq!(s.status(As::TeamLink, "open").await.status, 200); // a reopen tells nobody
    assert_eq!(s.json("POST", "/status", As::Api, json!({"status": "closed"})).await.status, 200); // nobody unasked
    assert_eq!(s.status(As::TeamLink, "open").await.status, 200);
    assert_eq!(
        s.json("POST", "/status", As::Api, json!({"status": "closed", "notifyRequester": true})).await.status,
        200
    );
    deliver_now(&s.service).await;

    let to_requester = mailbox(&s.requester).await;
    let to_team = mailbox(&s.team).await;
    // Each text opens with the line replies are written above, then the headline.
    let first_lines = |mail: &[Value]| -> Vec<String> {
        mail.iter()
            .map(|m| {
                let mut lines = m["body"]["text"].as_str().unwrap().lines();
                assert_eq!(lines.next(), Some(ticket_api::domain::email::REPLY_ABOVE), "{m}");
                lines.find(|l| !l.is_empty()).unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(
        first_lines(&to_requester),
        ["Demo Support", "New message on ticket #1", "Ticket #1 resolved", "Ticket #1 closed"],
        "the requester: received, the team's message, the resolve, the close it was asked to tell"
    );
    assert_eq!(
        first_lines(&to_team),
        ["Demo Support", "New message on ticket #1"],
        "the team: the new ticket, the requester's message"
    );
    let requester_link = format!("{BASE_URL}{}?key={}", s.path, s.key);
    let team_link = format!("{BASE_URL}{}?teamKey={}", s.path, s.team_key);
    for m in &to_requester {
        let text = m["body"]["text"].as_str().unwrap();
        assert!(text.contains(&requester_link) && !text.contains(&s.team_key), "the requester's link only:\n{text}");
    }
    for m in &to_team {
        let text = m["body"]["text"].as_str().unwrap();
        assert!(
            text.contains(&team_link) && !text.contains(&format!("key={}", s.key)),
            "the team's link only:\n{text}"
        );
        let reply_to = m["replyTo"][0].as_str().unwrap();
        assert!(reply_to.starts_with("demo-collection.1.t.") && reply_to.ends_with(INBOUND_DOMAIN), "{reply_to}");
    }
    for m in &to_requester {
        let reply_to = m["replyTo"][0].as_str().unwrap();
        assert!(reply_to.starts_with("demo-collection.1.r.") && reply_to.ends_with(INBOUND_DOMAIN), "{reply_to}");
    }
    assert!(to_requester[1]["body"]["text"].as_str().unwrap().contains("Team answers"));
    assert!(to_team[1]["body"]["text"].as_str().unwrap().contains("Requester asks"));
    let subjects: Vec<&str> = to_requester.iter().chain(&to_team).map(|m| m["subject"].as_str().unwrap()).collect();
    let base = "[Demo Support] Ticket #1: Enquiry about pricing";
    assert!(subjects.iter().all(|s| s.trim_start_matches("Re: ") == base), "one subject: {subjects:?}");
    let references: Vec<String> = to_requester
        .iter()
        .chain(&to_team)
        .map(|m| {
            m["headers"].as_array().unwrap().iter().find(|h| h["name"] == "References").unwrap()["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(references.iter().all(|r| r == "<demo-collection.1@ticket-api>"), "{references:?}");
}

#[tokio::test]
async fn a_ticket_with_200_long_replies_reads_back_whole_and_in_order_page_by_page() {
    let s = stand(1_000).await;
    let text = |i: usize| format!("{i:03} {}", "é".repeat(19_996));
    for i in 0..200 {
        let who = if i % 2 == 0 { As::Requester } else { As::Api };
        let added = s.reply(who, &text(i)).await;
        assert_eq!(added.status, 201, "reply {i}: {}", &added.raw[..added.raw.len().min(300)]);
    }
    let newest = s.view(As::Requester).await;
    assert_eq!(newest.body["entries"], 201);
    assert_eq!(newest.body["thread"].as_array().unwrap().len(), 25, "the newest page");
    let (thread, largest) = s.read_whole_thread(As::Requester).await;
    assert_eq!(thread.len(), 201);
    for (i, entry) in thread.iter().skip(1).enumerate() {
        assert_eq!(entry["seq"], i as u64 + 2);
        assert_eq!(entry["message"].as_str().unwrap(), text(i), "reply {i} whole");
    }
    let bytes: usize = thread.iter().map(|e| e["message"].as_str().unwrap().len()).sum();
    println!(
        "a thread of 200 replies of 20,000 characters: {bytes} bytes read back whole, in order, in pages of at \
         most {largest} bytes"
    );
}
