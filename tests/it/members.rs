//! The team's members: a collection's notification addresses, each with their own team link and reply address in
//! the e-mails they get. What a member does through them is recorded as theirs (`by`, in the team's view, on the
//! team's page and in webhooks); taking an address off the team revokes that member's links and reply addresses
//! only.

use serde_json::{Value, json};
use ticket_api::domain::webhook::{EventType, Loopback};
use ticket_api::domain::{CollectionId, OutgoingEmail};
use ticket_api::service::{CollectionChanges, Received};

use crate::helpers::*;
use crate::replies::{message, receipt};
use crate::webhooks::Receiver;

const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";

fn demo() -> CollectionId {
    CollectionId::parse("demo-collection").unwrap()
}

/// A member's way in, as their e-mail carries it: the team link's query and the reply address.
struct Way {
    link: String,
    reply_to: String,
}

fn way_of(mail: &OutgoingEmail) -> Way {
    let text = &mail.content.text;
    let at = text.find("teamKey=").expect("a team e-mail carries its member's team link");
    let link = text[at..at + "teamKey=".len() + 32].to_owned();
    Way { link, reply_to: mail.reply_to.as_ref().expect("and a reply address").as_str().to_owned() }
}

/// Demo collection with the members Ann and Bob, its ticket 1 created, and the e-mails that went to each.
async fn two_members() -> (MemoryApp, Way, Way) {
    let app = memory_app();
    let members = Some(vec![ANN.to_owned(), BOB.to_owned()]);
    app.service.update_collection(&demo(), CollectionChanges { notify: members, ..Default::default() }).await.unwrap();
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    app.deliver().await;
    let to = |who: &str| app.mailer.sent().into_iter().find(|m| m.to.as_str() == who).expect("each member e-mailed");
    let (ann, bob) = (way_of(&to(ANN)), way_of(&to(BOB)));
    (app, ann, bob)
}

async fn reply(app: &MemoryApp, link: &str, text: &str) -> Reply {
    let request = axum::http::Request::post(format!("/ticket/demo-collection/1/messages?{link}"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(json!({"message": text}).to_string()))
        .unwrap();
    call(&app.app, request).await
}

async fn view(app: &MemoryApp, link: &str, accept: &str) -> Reply {
    let request = axum::http::Request::get(format!("/ticket/demo-collection/1?{link}"))
        .header("accept", accept)
        .body(lambda_http::Body::Empty)
        .unwrap();
    call(&app.app, request).await
}

async fn receive(app: &MemoryApp, to: &str, from: &str, text: &str) -> Vec<Received> {
    let id = unique("ses");
    app.inbox.put(&id, message(from, to, "", text));
    app.service.receive(&receipt(&id, to, from)).await.unwrap()
}

#[tokio::test]
async fn each_members_replies_by_link_and_by_email_are_recorded_as_theirs_and_removing_one_revokes_only_theirs() {
    let (app, ann, bob) = two_members().await;
    assert_ne!(ann.link, bob.link, "each member's e-mail carries a link of their own");
    assert_ne!(ann.reply_to, bob.reply_to, "and a reply address of their own");

    assert_eq!(reply(&app, &ann.link, "Ann here: through my link.").await.status, 201);
    assert_eq!(receive(&app, &bob.reply_to, BOB, "Bob here: by e-mail.").await, [Received::Recorded]);
    // Bob's reply address answered from Ann's mailbox is still Bob's credential: the address names the member.
    let thread = view(&app, &ann.link, "application/json").await;
    let entries = thread.body["thread"].as_array().unwrap();
    let by: Vec<(&str, Option<&str>)> =
        entries.iter().map(|e| (e["author"].as_str().unwrap(), e["by"].as_str())).collect();
    assert_eq!(by, [("requester", None), ("team", Some(ANN)), ("team", Some(BOB))], "{}", thread.raw);

    // The team's page names who answered; the viewer's own entries read "You".
    let page = view(&app, &ann.link, "text/html").await.raw;
    assert!(page.contains(BOB) && page.contains("<strong>You</strong>"), "{page}");
    // The requester sees the team, not the member.
    let requester = app.store.tickets().remove(0);
    let key = ticket_api::domain::TicketKey::derive(&pepper(), &requester.key_nonce);
    let theirs = view(&app, &format!("key={}", key.reveal()), "application/json").await;
    assert!(!theirs.raw.contains(ANN) && !theirs.raw.contains(BOB), "{}", theirs.raw);
    let their_page = view(&app, &format!("key={}", key.reveal()), "text/html").await.raw;
    assert!(!their_page.contains(ANN) && !their_page.contains(BOB), "{their_page}");
    assert!(their_page.contains("<strong>Demo Support</strong>"), "the team's entries read as the collection's");

    // Ann leaves the team: her link and reply address open nothing; Bob's still work.
    let leaves = CollectionChanges { notify: Some(vec![BOB.to_owned()]), ..Default::default() };
    let updated = app.service.update_collection(&demo(), leaves).await.unwrap();
    assert_eq!(updated.removed.iter().map(|m| m.as_str()).collect::<Vec<_>>(), [ANN]);
    assert!(!updated.every_team_link_revoked, "no shared link was mailed: the others keep theirs");
    let entries_before = app.store.tickets()[0].entries;
    assert_eq!(view(&app, &ann.link, "application/json").await.status, 404);
    assert_eq!(reply(&app, &ann.link, "Still here?").await.status, 404);
    assert_eq!(receive(&app, &ann.reply_to, ANN, "Still here by e-mail?").await, [Received::NotVerified]);
    assert_eq!(app.store.tickets()[0].entries, entries_before, "nothing recorded of hers");
    assert_eq!(view(&app, &bob.link, "application/json").await.status, 200);
    assert_eq!(reply(&app, &bob.link, "Bob again.").await.status, 201);
    assert_eq!(receive(&app, &bob.reply_to, BOB, "Bob by e-mail again.").await, [Received::Recorded]);

    // Back on the team, Ann's old link stays dead; her next e-mail brings a new one.
    let back = CollectionChanges { notify: Some(vec![BOB.to_owned(), ANN.to_owned()]), ..Default::default() };
    app.service.update_collection(&demo(), back).await.unwrap();
    assert_eq!(view(&app, &ann.link, "application/json").await.status, 404, "a removal is for good");
    let sent = app.mailer.sent().len();
    let key = ticket_api::domain::TicketKey::derive(&pepper(), &requester.key_nonce);
    assert_eq!(reply(&app, &format!("key={}", key.reveal()), "Anyone?").await.status, 201);
    app.deliver().await;
    let new: Vec<OutgoingEmail> = app.mailer.sent().into_iter().skip(sent).filter(|m| m.to.as_str() == ANN).collect();
    assert_eq!(view(&app, &way_of(&new[0]).link, "application/json").await.status, 200);
    println!(
        "two members: 2 replies each (link, e-mail) recorded as theirs; Ann removed: link 404, reply address \
         not verified, Bob's both still work; Ann back: old link 404, new e-mail's link 200"
    );
}

#[tokio::test]
async fn webhooks_name_the_member_who_wrote_and_the_role_where_no_member_did() {
    let (app, ann, _) = two_members().await;
    let receiver = Receiver::start().await;
    let (url, events) = (format!("{}/hook", receiver.url), EventType::ALL.to_vec());
    let added = app.service.add_webhook(&demo(), &url, events, Loopback::AllowedOverHttp, None).await.unwrap();
    receiver.post("/_secrets", json!({"secrets": [added.secret]})).await;
    assert_eq!(reply(&app, &ann.link, "From Ann.").await.status, 201);
    let resolve = axum::http::Request::post(format!("/ticket/demo-collection/1/status?{}", ann.link))
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(r#"{"status":"resolved"}"#))
        .unwrap();
    assert_eq!(call(&app.app, resolve).await.status, 200);
    let soon = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    app.service.deliver_due_webhooks(soon).await.unwrap();
    let received = receiver.received().await;
    let of = |t: &str| -> Value { received.iter().find(|r| r["type"] == t).cloned().unwrap() };
    let (message, status) = (of("ticket.message.created"), of("ticket.status.changed"));
    assert_eq!((&message["data"]["author"], &message["data"]["by"]), (&json!("team"), &json!(ANN)), "{message}");
    assert_eq!((&status["data"]["author"], &status["data"]["by"]), (&json!("team"), &json!(ANN)), "{status}");
    assert_eq!(message["verifiedWith"], json!([0]));
    println!("ticket.message.created and ticket.status.changed by {ANN}, verified");
}

async fn assign(app: &MemoryApp, credential: Option<&str>, body: Value) -> Reply {
    let mut request = axum::http::Request::post(format!(
        "/ticket/demo-collection/1/assignee{}",
        credential.filter(|c| c.contains('=')).map(|c| format!("?{c}")).unwrap_or_default()
    ))
    .header("content-type", "application/json");
    if let Some(key) = credential.filter(|c| !c.contains('=')) {
        request = request.header("x-api-key", key);
    }
    call(&app.app, request.body(lambda_http::Body::from(body.to_string())).unwrap()).await
}

/// The e-mails sent since `from`, to `to`.
fn sent_to(app: &MemoryApp, from: usize, to: &str) -> Vec<OutgoingEmail> {
    app.mailer.sent().into_iter().skip(from).filter(|m| m.to.as_str() == to).collect()
}

#[tokio::test]
async fn a_ticket_is_assigned_from_the_page_the_api_and_to_oneself_and_its_requesters_messages_go_to_the_assignee() {
    let (app, ann, bob) = two_members().await;
    let receiver = Receiver::start().await;
    let (url, events) = (format!("{}/hook", receiver.url), vec![EventType::Assigned]);
    let added = app.service.add_webhook(&demo(), &url, events, Loopback::AllowedOverHttp, None).await.unwrap();
    receiver.post("/_secrets", json!({"secrets": [added.secret]})).await;
    let requester = app.store.tickets().remove(0);
    let requester = format!("key={}", ticket_api::domain::TicketKey::derive(&pepper(), &requester.key_nonce).reveal());
    let api_key = expected().keys.granted;

    // "Assign to me", one click from Ann's page: back to the page (303), no e-mail to herself.
    let page = view(&app, &ann.link, "text/html").await.raw;
    assert!(page.contains(r#"id="assign-me""#) && page.contains(r#"<select id="assign-member" name="assignee">"#));
    let sent = app.mailer.sent().len();
    let form = axum::http::Request::post(format!("/ticket/demo-collection/1/assignee?{}", ann.link))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(lambda_http::Body::from(format!("assignee={}", ANN.replace('@', "%40"))))
        .unwrap();
    let back = call(&app.app, form).await;
    assert_eq!(back.status, 303, "{}", back.raw);
    let page = view(&app, &ann.link, "text/html").await.raw;
    assert!(page.contains(&format!(r#"<dd id="assignee">{ANN}</dd>"#)), "{page}");
    assert!(page.contains("You</strong>") && page.contains(&format!("assigned the ticket to {ANN}.")), "{page}");
    assert!(!page.contains(r#"id="assign-me""#), "assigned to her, the button is gone");

    // The requester's next message e-mails the assignee only.
    assert_eq!(reply(&app, &requester, "Any news?").await.status, 201);
    app.deliver().await;
    assert_eq!((sent_to(&app, sent, ANN).len(), sent_to(&app, sent, BOB).len()), (1, 0), "Ann only");

    // An API key gives it to Bob: Bob is e-mailed, with his own link; asked again, nothing changes.
    let sent = app.mailer.sent().len();
    let given = assign(&app, Some(&api_key), json!({"assignee": BOB})).await;
    assert_eq!(given.status, 200, "{}", given.raw);
    assert_eq!(given.body, json!({"ticketNumber": 1, "assignee": BOB, "changed": true}));
    assert_eq!(assign(&app, Some(&api_key), json!({"assignee": BOB})).await.body["changed"], false);
    app.deliver().await;
    let told = sent_to(&app, sent, BOB);
    assert_eq!(told.len(), 1);
    assert!(told[0].content.text.starts_with(ticket_api::domain::email::REPLY_ABOVE));
    assert!(told[0].content.text.contains("Ticket #1 is assigned to you"), "{}", told[0].content.text);
    assert_eq!(way_of(&told[0]).link, bob.link, "his own link");
    assert!(sent_to(&app, sent, ANN).is_empty(), "Ann is not told");

    // Refused, changing nothing: a non-member (422 on `assignee`), the requester (403).
    let entries = app.store.tickets()[0].entries;
    let stranger = assign(&app, Some(&api_key), json!({"assignee": "stranger@example.com"})).await;
    assert_eq!((stranger.status.as_u16(), stranger.code()), (422, Some("validation_failed")), "{}", stranger.raw);
    assert_eq!(stranger.body["errors"][0]["field"], "assignee");
    assert_eq!(assign(&app, Some(&requester), json!({"assignee": BOB})).await.status, 403);
    assert_eq!(assign(&app, Some(&api_key), json!({"assignee": 7})).await.status, 422);
    assert_eq!(app.store.tickets()[0].entries, entries, "nothing written");

    // The team's view, the list and the webhook say who owns it; the requester's view shows no assignment.
    let team_view = view(&app, &bob.link, "application/json").await;
    assert_eq!(team_view.body["assignee"], BOB);
    let last = team_view.body["thread"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["assigned"], json!({"to": BOB, "from": ANN}));
    let list = axum::http::Request::get("/ticket/demo-collection?status=open")
        .header("x-api-key", api_key.as_str())
        .body(lambda_http::Body::Empty)
        .unwrap();
    assert_eq!(call(&app.app, list).await.body["tickets"][0]["assignee"], BOB);
    let theirs = view(&app, &requester, "application/json").await;
    assert!(theirs.body["thread"].as_array().unwrap().iter().all(|e| e.get("assigned").is_none()));
    assert!(!theirs.raw.contains(BOB) && theirs.body.get("assignee").is_none(), "{}", theirs.raw);

    // Unassigned, the requester's messages reach every member again.
    assert_eq!(assign(&app, Some(&api_key), json!({"assignee": null})).await.body["assignee"], Value::Null);
    let sent = app.mailer.sent().len();
    assert_eq!(reply(&app, &requester, "Hello again?").await.status, 201);
    app.deliver().await;
    assert_eq!((sent_to(&app, sent, ANN).len(), sent_to(&app, sent, BOB).len()), (1, 1), "every member");

    let soon = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    app.service.deliver_due_webhooks(soon).await.unwrap();
    let mut hooks = receiver.received().await;
    // Delivered side by side: in the order of their entries, not of their arrival.
    hooks.sort_by_key(|h| h["data"]["entry"].as_u64());
    let assigned: Vec<(Value, Value, Value)> = hooks
        .iter()
        .filter(|h| h["type"] == "ticket.assigned")
        .map(|h| {
            assert_eq!(h["verifiedWith"], json!([0]), "{h}");
            (h["data"]["assignee"].clone(), h["data"]["previousAssignee"].clone(), h["data"]["by"].clone())
        })
        .collect();
    assert_eq!(
        assigned,
        [
            (json!(ANN), Value::Null, json!(ANN)),
            (json!(BOB), json!(ANN), json!("team")),
            (Value::Null, json!(BOB), json!("team"))
        ],
        "one per change, verified"
    );
    println!(
        "assignment: to herself from the page (303, no e-mail), to Bob by API key (e-mailed with his link); \
         requester's message to the assignee only, to both once unassigned; 3 ticket.assigned webhooks verified"
    );
}
