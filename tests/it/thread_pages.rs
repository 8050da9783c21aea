//! Lambda's 6 MB response: a thread larger than that is read a page at a time, through every role and format,
//! every answer far below the limit; and a thread is bounded, with a clear refusal past it.

use crate::helpers::*;
use serde_json::{Value, json};
use ticket_api::domain::conversation::{MAX_ENTRIES, MAX_MESSAGES_ENTRIES, THREAD_PAGE_ENTRIES};
use ticket_api::domain::{CollectionId, TicketKey};

/// What a Lambda function may answer synchronously, and the most this API answers (half of it).
const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;
const MOST_WE_ANSWER: usize = LAMBDA_RESPONSE_LIMIT / 2;

/// How a page is read: the role's credential and the format asked for.
#[derive(Clone, Copy, Debug)]
enum Reader {
    RequesterHtml,
    RequesterJson,
    TeamLinkHtml,
    TeamLinkJson,
    ApiKey,
}

struct Ticket {
    app: MemoryApp,
    key: String,
    team_key: String,
}

/// A ticket of demo-collection with `replies` team replies of `text` (through the API, as a team would).
async fn ticket_with(replies: usize, text: &str) -> Ticket {
    let app = memory_app();
    let created = call(&app.app, event("http-api.created.json")).await;
    assert_eq!(created.status, 201);
    let url = created.body["privateUrl"].as_str().unwrap();
    let key = url.split("key=").nth(1).unwrap().to_owned();
    let header = app.store.tickets().remove(0);
    let team_key = TicketKey::derive_team(&pepper(), &header.team_key_nonce, 0).reveal().to_owned();
    for i in 0..replies {
        let reply = axum::http::Request::post("/ticket/demo-collection/1/messages")
            .header("x-api-key", expected().keys.granted)
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(json!({"message": text}).to_string()))
            .unwrap();
        let added = call(&app.app, reply).await;
        assert_eq!(added.status, 201, "reply {i}: {}", &added.raw[..added.raw.len().min(200)]);
    }
    Ticket { app, key, team_key }
}

impl Ticket {
    async fn page(&self, reader: Reader, before: Option<u64>) -> Reply {
        let query = match reader {
            Reader::RequesterHtml | Reader::RequesterJson => format!("key={}", self.key),
            Reader::TeamLinkHtml | Reader::TeamLinkJson => format!("teamKey={}", self.team_key),
            Reader::ApiKey => String::new(),
        };
        let query = match before {
            Some(before) if query.is_empty() => format!("before={before}"),
            Some(before) => format!("{query}&before={before}"),
            None => query,
        };
        let mut request = axum::http::Request::get(format!("/ticket/demo-collection/1?{query}"));
        request = match reader {
            Reader::RequesterHtml | Reader::TeamLinkHtml => request.header("accept", "text/html"),
            Reader::RequesterJson | Reader::TeamLinkJson => request.header("accept", "application/json"),
            Reader::ApiKey => request.header("x-api-key", expected().keys.granted),
        };
        call(&self.app.app, request.body(lambda_http::Body::Empty).unwrap()).await
    }

    /// Every page, newest first, following the answer's way to the earlier ones: the entry numbers each page
    /// showed, and the size of each answer.
    async fn read_all(&self, reader: Reader) -> (Vec<u64>, Vec<usize>) {
        let (mut seqs, mut sizes) = (Vec::new(), Vec::new());
        let mut before = None;
        loop {
            let page = self.page(reader, before).await;
            assert_eq!(page.status, 200, "{reader:?} before {before:?}");
            sizes.push(page.raw.len());
            let (shown, earlier) = match reader {
                Reader::RequesterHtml | Reader::TeamLinkHtml => html_page(&page.raw),
                _ => json_page(&page.body),
            };
            assert!(shown.len() <= THREAD_PAGE_ENTRIES, "{reader:?}: {} entries on a page", shown.len());
            seqs.splice(0..0, shown);
            match earlier {
                Some(earlier) => before = Some(earlier),
                None => return (seqs, sizes),
            }
        }
    }
}

/// The entries a JSON answer shows, and its `earlier`.
fn json_page(body: &Value) -> (Vec<u64>, Option<u64>) {
    let seqs = body["thread"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    (seqs, body["earlier"].as_u64())
}

/// The entries a page shows (`id="entry-N"`), and the `before` of its "Earlier messages" link.
fn html_page(html: &str) -> (Vec<u64>, Option<u64>) {
    let seqs = html.split("id=\"entry-").skip(1).map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap()).collect();
    let earlier = html.find("id=\"earlier\"").map(|at| {
        let tail = html[..at].rsplit("before=").next().unwrap();
        tail.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
    });
    (seqs, earlier)
}

#[tokio::test]
async fn a_thread_past_lambdas_6_mb_is_read_in_pages_far_below_it_by_every_role_and_format() {
    // The text that renders largest in each format: `<` is 5 bytes in HTML, a control character 6 in JSON.
    for (what, text, readers) in [
        ("<", "<".repeat(20_000), &[Reader::RequesterHtml, Reader::TeamLinkHtml][..]),
        ("U+0001", "\u{1}".repeat(20_000), &[Reader::RequesterJson, Reader::TeamLinkJson, Reader::ApiKey][..]),
    ] {
        let ticket = ticket_with(80, &text).await;
        let whole: usize = 80
            * match what {
                "<" => 5 * 20_000,
                _ => 6 * 20_000,
            };
        assert!(whole > LAMBDA_RESPONSE_LIMIT, "the thread ({whole} bytes rendered) is past Lambda's limit");
        for reader in readers {
            let (seqs, sizes) = ticket.read_all(*reader).await;
            assert_eq!(seqs, (1..=81).collect::<Vec<u64>>(), "{reader:?}: every entry once, in order");
            let largest = *sizes.iter().max().unwrap();
            assert!(largest <= MOST_WE_ANSWER, "{reader:?}: an answer of {largest} bytes");
            println!(
                "{reader:?}: 81 entries of 20,000 {what} ({whole} bytes rendered) in {} answers, the largest {largest} bytes",
                sizes.len()
            );
        }
    }
}

#[tokio::test]
async fn an_earlier_page_is_asked_by_entry_number_and_a_wrong_one_is_a_400() {
    let ticket = ticket_with(30, "a reply").await;
    let newest = ticket.page(Reader::ApiKey, None).await;
    assert_eq!(newest.body["entries"], 31);
    assert_eq!(json_page(&newest.body), ((7..=31).collect(), Some(7)));
    assert_eq!(newest.body["message"], "Please explain about the pricing plans", "the create's message, on every page");
    let earlier = ticket.page(Reader::ApiKey, Some(7)).await;
    assert_eq!(json_page(&earlier.body), ((1..=6).collect(), None));
    let html = ticket.page(Reader::TeamLinkHtml, Some(7)).await;
    assert!(html.raw.contains("id=\"newest\""), "an earlier page links back to the newest");
    assert!(html.raw.contains("Entries 1 to 6 of 31."));
    for bad in ["0", "x", "-1", "99999999999"] {
        let request = axum::http::Request::get(format!("/ticket/demo-collection/1?before={bad}"))
            .header("x-api-key", expected().keys.granted)
            .body(lambda_http::Body::Empty)
            .unwrap();
        let refused = call(&ticket.app.app, request).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (400, Some("invalid_query")), "before={bad}");
    }
}

#[tokio::test]
async fn a_full_thread_refuses_messages_then_takes_status_changes_up_to_its_bound() {
    let ticket = ticket_with(MAX_MESSAGES_ENTRIES as usize - 1, "short").await;
    let app = &ticket.app;
    let calls = app.store.calls();
    let reply = |text: &str| {
        axum::http::Request::post("/ticket/demo-collection/1/messages")
            .header("x-api-key", expected().keys.granted)
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(json!({"message": text}).to_string()))
            .unwrap()
    };
    let status = |to: &str| {
        axum::http::Request::post("/ticket/demo-collection/1/status")
            .header("x-api-key", expected().keys.granted)
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(json!({"status": to}).to_string()))
            .unwrap()
    };
    let refused = call(&app.app, reply("one more")).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, Some("thread_full")), "{}", refused.raw);
    assert!(app.store.calls() - calls <= 2, "refused after the key and the header, nothing written");
    let id = CollectionId::parse("demo-collection").unwrap();
    assert_eq!(app.store.get_ticket(&id, 1).await.unwrap().unwrap().entries, MAX_MESSAGES_ENTRIES);
    // Status changes go on, so that a full ticket can be resolved or closed, up to their own bound.
    for i in 0..(MAX_ENTRIES - MAX_MESSAGES_ENTRIES) {
        let to = if i % 2 == 0 { "resolved" } else { "open" };
        assert_eq!(call(&app.app, status(to)).await.status, 200, "status change {i}");
    }
    let refused = call(&app.app, status("closed")).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, Some("thread_full")));
    let header = app.store.get_ticket(&id, 1).await.unwrap().unwrap();
    assert_eq!((header.entries, header.status.as_str()), (MAX_ENTRIES, "open"));
}
