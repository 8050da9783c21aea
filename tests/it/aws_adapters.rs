//! The DynamoDB, SES v2 and Secrets Manager adapters against real local endpoints: DynamoDB Local, the SES v2
//! stand-in and moto, as `make test` starts them. What every store must do is in `conformance`, on DynamoDB
//! Local and on the memory store alike; here is what only the AWS adapters do: items as DynamoDB holds them,
//! the operator's writes, errors, SES's and Secrets Manager's calls.

use std::time::Duration;

use crate::helpers::*;
use ticket_api::domain::email::{Links, compose};
use ticket_api::domain::{
    ApiKey, CollectionId, CollectionName, CountEntry, Email, Entry, MailState, NewTicket, Now, Occasion, RateLimits,
    Role, Ticket, TicketKey,
};
use ticket_api::driven::PepperProvider;
use ticket_api::ports::AdminStore;
use ticket_api::ports::{Counted, Mailer, NewTicketWrite, NumberTaken, SecretSource, SendError};

fn id(raw: &str) -> CollectionId {
    CollectionId::parse(raw).unwrap()
}

const LIMITS: RateLimits = FIXTURE_LIMITS;

/// A new ticket of demo-collection as the create writes it: header, first entry, its e-mails.
fn new_ticket(number: u64, notify: &[&str], body: &str) -> NewTicketWrite {
    let input = NewTicket::from_json(body.as_bytes()).unwrap();
    let now = now().rfc3339();
    let ticket = Ticket::open(
        id("demo-collection"),
        number,
        CollectionName::parse("Acme Café").unwrap(),
        &input,
        ticket_api::domain::keys::key_nonce(),
        ticket_api::domain::keys::key_nonce(),
        now.clone(),
    );
    let team: Vec<Email> = notify.iter().map(|to| Email::parse(to).unwrap()).collect();
    let mail = ticket_api::domain::outbox::owed(&ticket, 1, Role::Requester, Occasion::Opened, &team, &now, 0);
    NewTicketWrite { ticket, entry: Entry::first(input, now), mail, webhooks: vec![], completes: None, uploads: vec![] }
}

/// A collection item written by hand without its limits: the first take writes the defaults out, the next one
/// takes the number under them.
#[tokio::test]
async fn dynamodb_takes_numbers_on_a_collection_item_written_by_hand() {
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, S};
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    store
        .client()
        .put_item()
        .table_name(&store.tables().collections)
        .item("collectionId", S("by-hand".into()))
        .item("name", S("By Hand".into()))
        .item("ticketingEnabled", Bool(true))
        .item("createdAt", S("2026-11-25T00:00:00Z".into()))
        .send()
        .await
        .unwrap();
    let defaults = RateLimits::default();
    assert_eq!(store.take_number(&id("by-hand"), &defaults).await.unwrap(), NumberTaken::LimitsChanged(defaults));
    match store.take_number(&id("by-hand"), &defaults).await.unwrap() {
        NumberTaken::Taken(c) => assert_eq!((c.last_ticket_number, c.rate_limits), (1, defaults)),
        other => panic!("expected ticket 1, got {other:?}"),
    }
}

#[tokio::test]
async fn dynamodb_counts_are_small_items_refused_at_their_limit_and_taken_back() {
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    let entry = CountEntry { id: format!("{}#r#abc#7", unique("c")), expires_at: 1_000_000 };
    assert_eq!(store.count(&entry, 2).await.unwrap(), Counted::Counted(1));
    assert_eq!(store.count(&entry, 2).await.unwrap(), Counted::Counted(2));
    assert_eq!(store.count(&entry, 2).await.unwrap(), Counted::Refused(2), "the limit reached: nothing counted");
    store.uncount(&entry).await.unwrap();
    assert_eq!(store.count(&entry, 2).await.unwrap(), Counted::Counted(2), "a count taken back is free again");

    let item = store
        .client()
        .get_item()
        .table_name(&store.tables().limits)
        .key("countId", aws_sdk_dynamodb::types::AttributeValue::S(entry.id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["countId", "expiresAt", "n"], "a count, its name and its TTL: nothing else");
    let fresh = CountEntry { id: format!("{}#k#key#7", unique("c")), expires_at: 1_000_000 };
    store.uncount(&fresh).await.unwrap();
    assert_eq!(store.count(&fresh, 1).await.unwrap(), Counted::Counted(1), "taking back a missing count is a no-op");
}

#[tokio::test]
async fn dynamodb_finds_keys_by_hash_and_revokes_them_by_id() {
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &[]).await;
    let granted = ApiKey::parse(&expected().keys.granted).unwrap();
    let record = store.find_key(&pepper().hash(&granted)).await.unwrap().expect("the fixture key is stored");
    assert_eq!(record.key_id, "granted");
    assert!(store.find_key(&pepper().hash(&ApiKey::generate())).await.unwrap().is_none());
    let revoked = store.revoke_key("granted", "2026-11-25T00:00:00Z").await.unwrap().expect("a key with this id");
    assert_eq!(revoked.revoked_at.as_deref(), Some("2026-11-25T00:00:00Z"), "the record as revoked");
    let again = store.revoke_key("granted", "2026-11-26T00:00:00Z").await.unwrap().unwrap();
    assert_eq!(again.revoked_at.as_deref(), Some("2026-11-25T00:00:00Z"), "the first revocation's time stays");
    assert!(store.revoke_key("no-such-key", "2026-11-25T00:00:00Z").await.unwrap().is_none());
    let record = store.find_key(&pepper().hash(&granted)).await.unwrap().unwrap();
    assert!(record.is_revoked());
    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
}

#[tokio::test]
async fn dynamodb_unavailable_is_an_error_not_an_answer() {
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    let closed = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url("http://127.0.0.1:1").build();
    let broken =
        ticket_api::driven::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(closed), store.tables().clone());
    let err = broken.take_number(&id("demo-collection"), &LIMITS).await.unwrap_err();
    assert!(err.operation.contains("UpdateItem"), "{err}");
    let key = new_ticket(1, &[], &good_body("u@email.com")).mail[0].key();
    let err = broken.claim_mail(&key, Now::from_ms(0), Duration::from_secs(1)).await.unwrap_err();
    assert!(err.operation.contains("e-mail claimed"), "{err}");
}

#[tokio::test]
async fn ses_delivers_both_parts_with_sender_name_reply_to_and_thread_headers() {
    let sdk = sdk().await;
    let mailer = ses_mailer(&sdk);
    let requester = format!("{}@example.com", unique("requester"));
    let team = format!("{}@example.com", unique("team"));
    let body = serde_json::json!({"userEmail": requester, "title": "<script>alert(1)</script> & more", "message": "m"});
    let write = new_ticket(7, &[&team], &body.to_string());
    let link = "https://x/ticket/c/7?key=k";
    let reply_to =
        ticket_api::domain::Email::parse("demo-collection.7.r.0123456789abcdef0123@reply.example.com").unwrap();
    for mail in &write.mail {
        let links =
            Links { requester: link, team: "https://x/ticket/c/7?teamKey=t", reply_to: Some(&reply_to), inbox: "" };
        let id = mailer
            .send(&compose(mail, &write.ticket, &write.entry, &links, &[]))
            .await
            .expect("the stand-in accepts it");
        assert!(!id.is_empty(), "SES returns a message id");
    }
    let to_requester = mailbox(&requester).await;
    assert_eq!(to_requester.len(), 1);
    let m = &to_requester[0];
    assert_eq!(m["subject"], "[Acme Café] Ticket #7: <script>alert(1)</script> & more");
    assert!(m["from"].as_str().unwrap().ends_with("<tickets@example.com>"), "{}", m["from"]);
    assert!(m["body"]["text"].as_str().unwrap().contains(link));
    let html = m["body"]["html"].as_str().unwrap();
    assert!(!html.contains("<script>") && html.contains("&#60;script&#62;"), "escaped in the HTML part");
    let headers: Vec<(String, String)> = m["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().to_owned(), h["value"].as_str().unwrap().to_owned()))
        .collect();
    let thread = "<demo-collection.7@ticket-api>".to_owned();
    let own = ("X-Ticket-Api-Mail".to_owned(), "demo-collection_7_1_0".to_owned());
    assert_eq!(headers, [("In-Reply-To".to_owned(), thread.clone()), ("References".to_owned(), thread), own]);

    let to_team = mailbox(&team).await;
    assert_eq!(to_team.len(), 1);
    assert_eq!(to_team[0]["replyTo"][0], reply_to.as_str(), "the reply address it is given");
    assert_eq!(to_team[0]["subject"], m["subject"], "one subject for the whole thread");
    assert!(to_team[0]["body"]["text"].as_str().unwrap().contains("https://x/ticket/c/7?teamKey=t"), "the team's link");
    assert!(!to_team[0]["body"]["text"].as_str().unwrap().contains("?key=k"), "never the requester's link");
}

/// An SES endpoint on 127.0.0.1 that answers every `SendEmail` with `status`, `x-amzn-ErrorType: code` and SES's
/// JSON error body, after `delay`; what SES answers for each class of error, which the stand-in cannot.
async fn failing_ses(status: u16, code: &'static str, delay: std::time::Duration) -> String {
    let app = axum::Router::new().fallback(move || async move {
        tokio::time::sleep(delay).await;
        axum::http::Response::builder()
            .status(status)
            .header("x-amzn-errortype", code)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(format!(r#"{{"message":"{code} from the failing stand-in"}}"#)))
            .unwrap()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A mailer as the function builds it, on `endpoint`, with SES's own 1 s timeout.
fn mailer_on(sdk: &aws_config::SdkConfig, endpoint: &str) -> ticket_api::driven::SesMailer {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(1))
        .build();
    let config = aws_sdk_sesv2::config::Builder::from(sdk)
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(timeouts)
        .build();
    ticket_api::driven::SesMailer::new(aws_sdk_sesv2::Client::from_conf(config), SENDER.into())
}

#[tokio::test]
async fn ses_refusals_about_the_message_are_final_every_other_error_passes_and_a_lost_answer_is_unknown() {
    let sdk = sdk().await;
    let write = new_ticket(1, &[], &good_body("u@email.com"));
    let email = compose(
        &write.mail[0],
        &write.ticket,
        &write.entry,
        &Links { requester: "https://x", team: "https://y", reply_to: None, inbox: "" },
        &[],
    );
    #[derive(Debug, PartialEq)]
    enum Class {
        Final,
        Passes,
        Unknown,
    }
    let class = |outcome: &Result<String, SendError>| match outcome {
        Err(SendError::Permanent(_)) => Class::Final,
        Err(SendError::Transient(_)) => Class::Passes,
        Err(SendError::Unknown(_)) => Class::Unknown,
        Ok(id) => panic!("sent ({id})"),
    };
    let quick = Duration::ZERO;
    let table = [
        (400, "MessageRejected", quick, Class::Final),
        (400, "BadRequestException", quick, Class::Final),
        (429, "TooManyRequestsException", quick, Class::Passes),
        (400, "LimitExceededException", quick, Class::Passes),
        (400, "SendingPausedException", quick, Class::Passes),
        (400, "AccountSuspendedException", quick, Class::Passes),
        (400, "MailFromDomainNotVerifiedException", quick, Class::Passes),
        (404, "NotFoundException", quick, Class::Passes),
        // Not in SES's model: AWS's common errors, which a deploy or a credential rotation causes for a while.
        (403, "AccessDeniedException", quick, Class::Passes),
        (403, "ExpiredTokenException", quick, Class::Passes),
        (400, "ThrottlingException", quick, Class::Passes),
        (500, "InternalFailure", quick, Class::Passes),
        (503, "ServiceUnavailable", quick, Class::Passes),
        // SES took the request and its answer came after SES's own timeout: it may have been sent.
        (200, "NoneInTime", Duration::from_secs(3), Class::Unknown),
    ];
    for (status, code, delay, expected) in table {
        let outcome = mailer_on(&sdk, &failing_ses(status, code, delay).await).send(&email).await;
        assert_eq!(class(&outcome), expected, "{status} {code}: {outcome:?}");
        println!("SES {status} {code}: {expected:?}");
    }
    let unreachable = mailer_on(&sdk, "http://127.0.0.1:1").send(&email).await;
    match unreachable {
        Err(SendError::Transient(why)) => assert_eq!(why.code, "SES SendEmail Unreachable", "{why}"),
        other => panic!("an unreachable SES is retried later: {other:?}"),
    }
    // The stand-in refuses a message without a subject with a 400 that names no error: not a refusal SES lists
    // as final, so it passes (and, were it lasting, the oldest-undelivered alarm says so).
    let mut no_subject = email;
    no_subject.content.subject = String::new();
    let why = ses_mailer(&sdk).send(&no_subject).await;
    assert!(matches!(why, Err(SendError::Transient(_))), "an error SES does not name is retried: {why:?}");
}

#[tokio::test]
async fn ses_get_account_gives_the_maximum_send_rate() {
    let sdk = sdk().await;
    assert_eq!(ses_mailer(&sdk).max_send_rate().await.unwrap(), 14.0, "the stand-in's account, as make test sets it");
}

#[tokio::test]
async fn secrets_manager_pepper_is_read_and_a_missing_secret_is_unavailable() {
    let sdk = sdk().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let provider = PepperProvider::SecretsManager { client: client.clone(), secret_id: pepper_secret(&sdk).await };
    let key = ApiKey::generate();
    assert_eq!(provider.pepper().await.unwrap().hash(&key), pepper().hash(&key), "the stored string is the pepper");

    let missing = PepperProvider::SecretsManager { client, secret_id: unique("absent") };
    let err = missing.pepper().await.unwrap_err();
    assert!(err.operation.contains("GetSecretValue"), "{err}");
}

#[test]
fn states_are_stored_as_words_and_no_link_is_stored() {
    assert_eq!(serde_json::to_value(MailState::Retrying).unwrap(), "retrying");
    let write = new_ticket(1, &[], &good_body("u@email.com"));
    let stored = serde_json::to_string(&write.ticket).unwrap();
    let key = TicketKey::derive(&pepper(), &write.ticket.key_nonce);
    assert!(!stored.contains(key.reveal()), "the header holds the nonce, never the key");
}

/// The stream fixture in events/ names e-mails with the very attributes the tickets table stores for them, so
/// that what the stream hands the function in the tests is what it hands it on AWS.
#[tokio::test]
async fn the_stream_fixtures_carry_images_of_the_items_the_tickets_table_stores() {
    use std::collections::BTreeSet;
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    let write = new_ticket(1, &["team@example.com"], &good_body("user@email.com"));
    store.insert_ticket(&write).await.unwrap();
    let stored = store
        .client()
        .get_item()
        .table_name(&store.tables().tickets)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("demo-collection#1".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("mail#000001#001".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the team's e-mail item");
    let stored: BTreeSet<&str> = stored.keys().map(String::as_str).collect();
    let fixture = work_event("dynamodb-stream.new-ticket-emails.json");
    let image = &fixture["Records"][1]["dynamodb"]["NewImage"];
    let in_fixture: BTreeSet<&str> = image.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(in_fixture, stored, "the fixture's image has the stored item's attributes");
    assert_eq!(image["sk"]["S"], "mail#000001#001");
}
