//! Links that can be taken back: a ticket's links rotated (by the team through the API or its page, and by the
//! operator), a collection's team links revoked at once (by the operator; a member's alone when the address is
//! removed); and the links' actions limited per ticket and hour, the team's link as the requester's.

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;
use serde_json::{Value, json};
use ticket_api::domain::{CollectionId, RateLimits, TicketKey};

/// A ticket of demo-collection on the memory app, and its two links' queries.
struct Ticket {
    app: MemoryApp,
    key: String,
    team_key: String,
}

async fn ticket() -> Ticket {
    let app = memory_app();
    let created = call(&app.app, event("http-api.created.json")).await;
    assert_eq!(created.status, 201);
    let key = created.body["privateUrl"].as_str().unwrap().split("key=").nth(1).unwrap().to_owned();
    let nonce = app.store.tickets().remove(0).team_key_nonce;
    let team_key = TicketKey::derive_team(&pepper(), &nonce, 0).reveal().to_owned();
    Ticket { app, key, team_key }
}

fn demo() -> CollectionId {
    CollectionId::parse("demo-collection").unwrap()
}

impl Ticket {
    async fn view(&self, query: &str) -> Reply {
        let request = axum::http::Request::get(format!("/ticket/demo-collection/1?{query}"))
            .header("accept", "application/json")
            .body(lambda_http::Body::Empty)
            .unwrap();
        call(&self.app.app, request).await
    }

    async fn post(&self, action: &str, query: &str, body: Value, api_key: bool) -> Reply {
        let mut request = axum::http::Request::post(format!("/ticket/demo-collection/1/{action}?{query}"))
            .header("content-type", "application/json");
        if api_key {
            request = request.header("x-api-key", expected().keys.granted);
        }
        call(&self.app.app, request.body(lambda_http::Body::from(body.to_string())).unwrap()).await
    }

    fn set_limits(&self, limits: impl FnOnce(&mut RateLimits)) {
        let mut collection = self.app.store.collection(&demo()).unwrap();
        limits(&mut collection.rate_limits);
        self.app.store.add_collection(collection);
    }
}

fn query_of(url: &str) -> String {
    url.split_once('?').unwrap().1.to_owned()
}

#[tokio::test]
async fn rotated_links_open_nothing_and_the_new_ones_open_the_ticket_and_reach_the_next_emails() {
    let t = ticket().await;
    let (old_requester, old_team) = (format!("key={}", t.key), format!("teamKey={}", t.team_key));
    assert_eq!(t.view(&old_requester).await.status, 200);

    // The requester's link may not rotate anything.
    let refused = t.post("links", &old_requester, json!({}), false).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (403, Some("forbidden")));
    let form = axum::http::Request::post(format!("/ticket/demo-collection/1/links?{old_requester}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(lambda_http::Body::from("rotate="))
        .unwrap();
    let page = call(&t.app.app, form).await;
    assert_eq!(page.status, 403);
    assert!(page.raw.contains("not yours to make"), "the page again, with the reason: {}", page.raw);
    assert_eq!(t.view(&old_requester).await.status, 200, "nothing was rotated");

    // An API key rotates them, and is answered with the new ones.
    let rotated = t.post("links", "", json!({}), true).await;
    assert_eq!(rotated.status, 200, "{}", rotated.raw);
    let (new_requester, new_team) =
        (query_of(rotated.body["privateUrl"].as_str().unwrap()), query_of(rotated.body["teamUrl"].as_str().unwrap()));
    for old in [&old_requester, &old_team] {
        let gone = t.view(old).await;
        assert_eq!((gone.status.as_u16(), gone.code()), (404, Some("not_found")), "{old} revoked");
    }
    assert_eq!(t.view(&new_requester).await.body["ticketNumber"], 1);
    assert!(t.view(&new_team).await.body["userEmail"].is_string(), "the new team link opens the team's view");

    // The next e-mail to the requester carries the new link, never the old one.
    assert_eq!(t.post("messages", "", json!({"message": "Here is the answer."}), true).await.status, 201);
    t.app.deliver().await;
    let sent = t.app.mailer.sent();
    let last = sent.iter().rev().find(|m| m.to.as_str() == "user@email.com").unwrap();
    assert!(last.content.text.contains(&new_requester), "the requester's e-mail carries the new link");
    assert!(!last.content.text.contains(&old_requester));

    // Through the team page: its form is sent on to the new team link, and the old one is gone.
    let form = axum::http::Request::post(format!("/ticket/demo-collection/1/links?{new_team}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(lambda_http::Body::from("rotate="))
        .unwrap();
    let moved = call(&t.app.app, form).await;
    assert_eq!(moved.status, 303);
    let location = moved.header("location").unwrap();
    assert!(location.contains("teamKey=") && !location.contains(&new_team), "{location}");
    assert_eq!(t.view(&new_team).await.status, 404);
    assert_eq!(t.view(&query_of(location.trim_end_matches("#links"))).await.status, 200);
    let page = axum::http::Request::get(location.trim_start_matches(BASE_URL)).body(lambda_http::Body::Empty).unwrap();
    assert!(call(&t.app.app, page).await.raw.contains("id=\"rotate\""), "the team page offers it");
    println!("links rotated twice (API, team page): every old link 404, every new one 200, the next e-mail new");
}

#[tokio::test]
async fn the_team_rotates_its_own_link_without_cutting_the_requester_off_and_a_requesters_new_link_is_emailed() {
    let t = ticket().await;
    let (requester, team) = (format!("key={}", t.key), format!("teamKey={}", t.team_key));
    t.app.deliver().await;
    let sent = t.app.mailer.sent().len();

    // The team's link alone: the requester's keeps working, and the requester hears nothing.
    let rotated = t.post("links", "", json!({"role": "team"}), true).await;
    assert_eq!(rotated.status, 200, "{}", rotated.raw);
    assert_eq!(t.view(&team).await.status, 404, "the old team link is revoked");
    assert_eq!(t.view(&requester).await.status, 200, "the requester's link still opens the ticket");
    assert_eq!(query_of(rotated.body["privateUrl"].as_str().unwrap()), requester, "unchanged");
    t.app.deliver().await;
    assert_eq!(t.app.mailer.sent().len(), sent, "nobody is e-mailed");

    // The requester's link alone: the old one opens nothing, and the requester is e-mailed the new one at once.
    let new_team = query_of(rotated.body["teamUrl"].as_str().unwrap());
    let rotated = t.post("links", "", json!({"role": "requester"}), true).await;
    let new_requester = query_of(rotated.body["privateUrl"].as_str().unwrap());
    assert_eq!(t.view(&requester).await.status, 404);
    assert_eq!(t.view(&new_team).await.status, 200, "the team's link is not touched");
    t.app.deliver().await;
    let told: Vec<_> = t.app.mailer.sent()[sent..].to_vec();
    assert_eq!(told.len(), 1, "one e-mail, to the requester");
    assert_eq!(told[0].to.as_str(), "user@email.com");
    assert!(told[0].content.text.contains(&new_requester) && !told[0].content.text.contains(&requester));
    assert!(told[0].content.subject.contains("Ticket #1"), "threaded with the ticket: {}", told[0].content.subject);

    let refused = t.post("links", "", json!({"role": "everyone"}), true).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, Some("validation_failed")));
    println!(
        "team link rotated alone (requester untouched, nobody e-mailed); requester's alone (e-mailed the new one)"
    );
}

#[tokio::test]
async fn a_collections_team_links_are_revoked_at_once_and_its_requesters_links_stay() {
    let t = ticket().await;
    let (requester, old_team) = (format!("key={}", t.key), format!("teamKey={}", t.team_key));
    assert_eq!(t.view(&old_team).await.status, 200);
    let generation = t.app.store.raise_team_link_generation(&demo()).await.unwrap();
    assert_eq!(generation, Some(1));
    assert_eq!(t.view(&old_team).await.status, 404, "the team link of the e-mails sent is revoked");
    assert_eq!(t.view(&requester).await.status, 200, "the requester's link is not the team's");

    // The team's next e-mail carries a team link of the new generation, which opens the ticket.
    assert_eq!(t.post("messages", &requester, json!({"message": "Anyone there?"}), false).await.status, 201);
    t.app.deliver().await;
    let to_team = t.app.mailer.sent().into_iter().rev().find(|m| m.to.as_str() == "support@example.com").unwrap();
    let link = to_team.content.text.split_whitespace().find(|w| w.contains("teamKey=")).unwrap().to_owned();
    assert_eq!(t.view(&query_of(&link)).await.status, 200, "{link}");
    assert_eq!(t.app.store.raise_team_link_generation(&CollectionId::parse("gone").unwrap()).await.unwrap(), None);
}

#[tokio::test]
async fn each_links_replies_and_status_changes_are_limited_per_ticket_and_hour_and_api_keys_are_not() {
    let t = ticket().await;
    t.set_limits(|l| {
        l.per_ticket_replies = 2;
        l.per_ticket_team_link = 2;
    });
    let (requester, team) = (format!("key={}", t.key), format!("teamKey={}", t.team_key));
    // The requester: a reply and a resolve use the two; a reply after is refused, and takes nothing.
    assert_eq!(t.post("messages", &requester, json!({"message": "One"}), false).await.status, 201);
    assert_eq!(t.post("status", &requester, json!({"status": "resolved"}), false).await.status, 200);
    let asked_again = t.post("status", &requester, json!({"status": "resolved"}), false).await;
    assert_eq!(asked_again.body["changed"], false, "asking for the status it has is no change, and counts nothing");
    let refused = t.post("messages", &requester, json!({"message": "Three"}), false).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (429, Some("rate_limited")));
    assert_eq!(refused.header("ratelimit-policy"), Some("\"per-ticket-replies\";q=2;w=3600"));
    // The team's link: its own count.
    assert_eq!(t.post("messages", &team, json!({"message": "Team one"}), false).await.status, 201);
    assert_eq!(t.post("status", &team, json!({"status": "closed"}), false).await.status, 200);
    let refused = t.post("status", &team, json!({"status": "open"}), false).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (429, Some("rate_limited")), "{}", refused.raw);
    assert!(refused.header("ratelimit").unwrap().starts_with("\"per-ticket-team-link\";r=0;t="));
    let entries = t.app.store.get_ticket(&demo(), 1).await.unwrap().unwrap().entries;
    assert_eq!(entries, 5, "the create, two of the requester's, two of the team's link: nothing refused stored");
    // An API key is the team's own credential: not limited per ticket.
    for _ in 0..3 {
        assert_eq!(t.post("status", "", json!({"status": "open"}), true).await.status, 200);
        assert_eq!(t.post("status", "", json!({"status": "closed"}), true).await.status, 200);
    }
    // The next hour, the links act again.
    t.app.clock.advance(Duration::from_secs(3_600));
    assert_eq!(t.post("status", &team, json!({"status": "open"}), false).await.status, 200);
}

#[tokio::test]
async fn an_operator_rotates_a_tickets_links_and_revokes_a_collections_team_links_with_ticketctl() {
    let ctl = Ctl::new();
    ctl.ok(&["init"]);
    let (stays, leaves) = (format!("{}@example.com", unique("stays")), format!("{}@example.com", unique("leaves")));
    let collection = ctl.json(&["collections", "create", "--name", "Links", "--notify", &stays, "--notify", &leaves]);
    let id = collection["collectionId"].as_str().unwrap().to_owned();
    assert_eq!(collection["teamLinkGeneration"], 0);
    let key =
        ctl.json(&["keys", "create", "--name", "form", "--collection", &id])["apiKey"].as_str().unwrap().to_owned();

    let sdk = sdk().await;
    let store = ticket_api::driven::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), ctl.tables.clone());
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(Arc::new(local_service(store, &sdk)));
    let created = call(&app, create_request(&id, Some(&key), "application/json", &good_body("u@email.com"))).await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let status_of = |url: Value| {
        let path = url.as_str().unwrap().trim_start_matches(BASE_URL).to_owned();
        let app = app.clone();
        async move {
            let request = axum::http::Request::get(path).header("accept", "application/json");
            call(&app, request.body(lambda_http::Body::Empty).unwrap()).await.status.as_u16()
        }
    };

    // Assigned by the operator, on DynamoDB: the list's row names the assignee; a stranger is refused.
    let assigned = ctl.json(&["tickets", "assign", &id, "1", &stays]);
    assert_eq!((assigned["assignee"].as_str(), assigned["changed"].as_bool()), (Some(stays.as_str()), Some(true)));
    let stranger = ctl.run(&["tickets", "assign", &id, "1", "stranger@example.com"]);
    assert!(!stranger.status.success() && String::from_utf8_lossy(&stranger.stderr).contains("not a member"));
    let list = axum::http::Request::get(format!("/ticket/{id}?status=open")).header("x-api-key", key.as_str());
    let listed = call(&app, list.body(lambda_http::Body::Empty).unwrap()).await;
    assert_eq!(listed.body["tickets"][0]["assignee"], stays.as_str(), "{}", listed.raw);
    assert!(ctl.ok(&["tickets", "assign", &id, "1", "--nobody"]).contains("unassigned"));

    let rotated = ctl.json(&["tickets", "rotate-links", &id, "1"]);
    assert_eq!(status_of(created.body["privateUrl"].clone()).await, 404, "the link of the create is revoked");
    assert_eq!(status_of(rotated["privateUrl"].clone()).await, 200);
    assert_eq!(status_of(rotated["teamUrl"].clone()).await, 200);
    let text = ctl.ok(&["tickets", "rotate-links", &id, "1"]);
    assert!(text.contains("old links are revoked") && text.contains("teamKey="), "{text}");
    let rotated = ctl.json(&["tickets", "rotate-links", &id, "1"]);

    let revoked = ctl.json(&["collections", "revoke-team-links", &id]);
    assert_eq!(revoked["teamLinkGeneration"], 1);
    assert_eq!(status_of(rotated["teamUrl"].clone()).await, 404, "every team link of the collection is revoked");
    assert_eq!(status_of(rotated["privateUrl"].clone()).await, 200, "and no requester's");
    let again = ctl.json(&["tickets", "rotate-links", &id, "1"]);
    assert_eq!(status_of(again["teamUrl"].clone()).await, 200, "a team link of the new generation opens it");

    // Taking an address off the team revokes that member's links only (tests/it/members.rs): the operator's
    // shared team link stays, and so does the generation. Renaming revokes nothing.
    let updated = ctl.json(&["collections", "update", &id, "--notify", &stays]);
    assert_eq!(updated["teamLinkGeneration"], 1);
    assert_eq!(status_of(again["teamUrl"].clone()).await, 200);
    ctl.ok(&["collections", "update", &id, "--notify", &stays, "--notify", &leaves]);
    let text = ctl.ok(&["collections", "update", &id, "--notify", &stays]);
    assert!(text.contains(&format!("the team links and reply addresses of {leaves} are revoked")), "{text}");
    let renamed = ctl.json(&["collections", "update", &id, "--name", "Renamed", "--limit-team-link-per-ticket", "7"]);
    assert_eq!(renamed["teamLinkGeneration"], 1);
    assert_eq!(renamed["rateLimits"]["perTicketTeamLink"], 7);

    let missing = ctl.run(&["tickets", "rotate-links", &id, "9"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such ticket"), "{missing:?}");
    let gone = ctl.run(&["collections", "revoke-team-links", "gone-collection"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("does not exist"), "{gone:?}");
}
