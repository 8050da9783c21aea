//! The DynamoDB, SES v2 and Secrets Manager adapters against real local endpoints: DynamoDB Local, the SES v2
//! stand-in and moto, as `make test` starts them.

mod common;

use common::*;
use ticket_api::aws::PepperProvider;
use ticket_api::domain::email::outgoing;
use ticket_api::domain::{
    ApiKey, CollectionId, DeliveryStatus, EmailDelivery, NewTicket, OutgoingEmail, Policy, RateCount, RateLimits,
    Ticket, TicketKey,
};
use ticket_api::ports::{Inserted, Mailer, NumberTaken, SecretSource, Store};

fn id(raw: &str) -> CollectionId {
    CollectionId::parse(raw).unwrap()
}

/// A create by the fixture key for `requester`, at `now` (unix seconds).
fn count_at(requester: &str, now: u64) -> RateCount {
    RateCount::new("granted", &pepper().requester_tag(requester), now)
}

fn counted(requester: &str) -> RateCount {
    count_at(requester, ticket_api::domain::idempotency::unix_now())
}

fn ticket(number: u64, notify: &[&str]) -> Ticket {
    ticket_from(number, notify, &good_body("user@email.com"))
}

fn ticket_from(number: u64, notify: &[&str], body: &str) -> Ticket {
    let input = NewTicket::from_json(body.as_bytes()).unwrap();
    let notify: Vec<_> = notify.iter().map(|e| ticket_api::domain::Email::parse(e).unwrap()).collect();
    Ticket::open(
        id("demo-collection"),
        number,
        input,
        TicketKey::generate().hash(),
        "https://x/1?key=k".into(),
        &notify,
        "now".into(),
    )
}

#[tokio::test]
async fn dynamodb_counter_starts_at_one_and_tells_missing_from_disabled() {
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    for expected in 1..=3 {
        match store.take_number(&id("demo-collection"), &counted("a@b.co")).await.unwrap() {
            NumberTaken::Taken(c, _) => {
                assert_eq!(c.last_ticket_number, expected);
                assert_eq!(c.name.as_str(), "Demo Support", "the increment returns the collection");
                assert_eq!(c.notify_emails[0].as_str(), "team@example.com");
            }
            other => panic!("expected a number, got {other:?}"),
        }
    }
    assert_eq!(store.take_number(&id("gone-collection"), &counted("a@b.co")).await.unwrap(), NumberTaken::NotFound);
    assert_eq!(store.take_number(&id("disabled-collection"), &counted("a@b.co")).await.unwrap(), NumberTaken::Disabled);
    let disabled = store.get_collection(&id("disabled-collection")).await.unwrap().unwrap();
    assert_eq!(disabled.last_ticket_number, 0, "a refused increment changes nothing");
    assert!(store.get_collection(&id("gone-collection")).await.unwrap().is_none());
}

/// Abuse limits on DynamoDB Local: the increment that takes the number counts the create, a create past a limit
/// is refused with the counts as they stood and takes no number, and the counts start again each window.
#[tokio::test]
async fn dynamodb_abuse_limits_refuse_without_taking_a_number() {
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &[]).await;
    let demo = id("demo-collection");
    let mut collection = store.get_collection(&demo).await.unwrap().unwrap();
    collection.rate_limits = RateLimits { per_key: 3, per_requester: 2 };
    store.update_collection(&collection).await.unwrap();

    let hour = 1_000 * ticket_api::domain::rate_limit::WINDOW_SECONDS;
    let take = |requester: &'static str, at: u64| {
        let store = store.clone();
        let demo = demo.clone();
        async move { store.take_number(&demo, &count_at(requester, at)).await.unwrap() }
    };
    let quota = |taken: NumberTaken| match taken {
        NumberTaken::Taken(c, quota) => (c.last_ticket_number, quota),
        other => panic!("expected a number, got {other:?}"),
    };
    let (number, first) = quota(take("ann@example.com", hour + 10).await);
    assert_eq!((number, first.per_key.used, first.per_requester.used), (1, 1, 1));
    assert_eq!(first.resets_in, ticket_api::domain::rate_limit::WINDOW_SECONDS - 10);
    // Addresses are counted case-blind: a capital letter is not a new requester.
    assert_eq!(quota(take("Ann@Example.com", hour + 20).await).1.per_requester.used, 2);
    let NumberTaken::Limited(refused) = take("ann@example.com", hour + 30).await else {
        panic!("a third ticket from one address in one hour is refused")
    };
    assert_eq!(refused.exceeded(), Some(Policy::PerRequester));
    assert_eq!((refused.per_requester.used, refused.per_key.used), (2, 2), "the counts as they stood");
    assert_eq!(store.get_collection(&demo).await.unwrap().unwrap().last_ticket_number, 2, "no number taken");

    let (number, third) = quota(take("bob@example.com", hour + 40).await);
    assert_eq!((number, third.per_key.used, third.per_requester.used), (3, 3, 1), "another address goes on");
    let NumberTaken::Limited(refused) = take("cy@example.com", hour + 50).await else {
        panic!("a fourth ticket from one key in one hour is refused")
    };
    assert_eq!(refused.exceeded(), Some(Policy::PerKey));

    // The next window starts from zero, for both; the one after that too (the maps alternate).
    for window in [1, 2] {
        let at = hour + window * ticket_api::domain::rate_limit::WINDOW_SECONDS;
        let (_, fresh) = quota(take("ann@example.com", at).await);
        assert_eq!((fresh.per_key.used, fresh.per_requester.used), (1, 1), "window +{window}");
    }
    assert_eq!(store.get_collection(&demo).await.unwrap().unwrap().last_ticket_number, 5);
}

/// A collection item written without the count maps (by hand, say) gets them on its first create.
#[tokio::test]
async fn dynamodb_counts_on_a_collection_item_written_by_hand() {
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    client
        .put_item()
        .table_name(&store.tables().collections)
        .item("collectionId", s("by-hand"))
        .item("name", s("By Hand"))
        .item("createdAt", s("2026-11-25T00:00:00Z"))
        .item("ticketingEnabled", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    for expected in 1..=2 {
        match store.take_number(&id("by-hand"), &counted("a@b.co")).await.unwrap() {
            NumberTaken::Taken(c, quota) => {
                assert_eq!(c.last_ticket_number, expected);
                assert_eq!(c.rate_limits, RateLimits::default(), "no limits on the item: the defaults");
                assert_eq!(quota.per_requester.used, expected as u32);
            }
            other => panic!("expected a number, got {other:?}"),
        }
    }
}

/// A counter item with no room left to count (limits set so high that an hour's counts fill its 400 KB) still
/// takes numbers: tickets come before abuse limits, and the item is not left unusable.
#[tokio::test]
async fn dynamodb_takes_numbers_when_the_counter_item_is_too_full_to_count() {
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, M, N, S};
    let empty = || M(Default::default());
    // 400 KB less 30 bytes: room for the counter's next value, not for two more counts (the other attributes
    // of the item take 116 bytes: names and values).
    let padding = 409_600 - 116 - 30;
    client
        .put_item()
        .table_name(&store.tables().collections)
        .item("collectionId", S("full".into()))
        .item("name", S("Full".into()))
        .item("createdAt", S("2026-11-25T00:00:00Z".into()))
        .item("ticketingEnabled", Bool(true))
        .item("lastTicketNumber", N("10".into()))
        .item("rateEven", empty())
        .item("rateOdd", empty())
        .item("padding", S("x".repeat(padding)))
        .send()
        .await
        .expect("an item just under 400 KB is stored");
    for expected in 11..=14 {
        match store.take_number(&id("full"), &counted(&format!("u{expected}@b.co"))).await.unwrap() {
            NumberTaken::Taken(c, quota) => {
                assert_eq!(c.last_ticket_number, expected);
                assert_eq!(quota.per_requester.used, 0, "taken without counting: there is no room to count");
            }
            other => panic!("expected a number, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn dynamodb_never_overwrites_a_ticket_and_records_email_outcomes() {
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    let mut first = ticket(1, &["team@example.com"]);
    first.custom_tags = NewTicket::from_json(
        br#"{"userEmail":"a@b.co","title":"t","message":"m","customTags":{"plan":"pro","seats":12.5,"trial":true}}"#,
    )
    .unwrap()
    .tags;
    assert_eq!(store.insert_ticket(&first).await.unwrap(), Inserted::Stored);
    assert_eq!(store.insert_ticket(&ticket(1, &[])).await.unwrap(), Inserted::NumberInUse);
    // The same ticket again, as the SDK retries a put whose reply was lost: it is stored, not a conflict.
    assert_eq!(store.insert_ticket(&first).await.unwrap(), Inserted::Stored);
    let stored = store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap();
    assert_eq!(stored, first, "the item reads back as the ticket that was written");

    let mut emails: Vec<EmailDelivery> = stored.emails.clone();
    emails[0].record(Ok("msg-1".into()), "later".into());
    emails[1].record(Err("throttled".into()), "later".into());
    store.record_emails(&id("demo-collection"), 1, &emails, true).await.unwrap();
    let after = store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap();
    assert_eq!(after.emails, emails);
    assert_eq!(after.pending_private_url, None, "the link is dropped once the requester's e-mail is out");
    assert_eq!(after.title, first.title, "recording outcomes changes nothing else");
}

#[tokio::test]
async fn dynamodb_finds_keys_by_hash_and_revokes_them_by_id() {
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &[]).await;
    let granted = ApiKey::parse(&expected().keys.granted).unwrap();
    let record = store.find_key(&pepper().hash(&granted)).await.unwrap().expect("the fixture key is stored");
    assert!(record.grants(&id("demo-collection")) && !record.is_revoked());
    assert!(store.find_key(&pepper().hash(&ApiKey::generate())).await.unwrap().is_none());

    assert!(store.revoke_key("granted", "2026-11-25T00:00:00Z").await.unwrap());
    assert!(!store.revoke_key("no-such-key", "2026-11-25T00:00:00Z").await.unwrap());
    let record = store.find_key(&pepper().hash(&granted)).await.unwrap().unwrap();
    assert_eq!(record.revoked_at.as_deref(), Some("2026-11-25T00:00:00Z"));
    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
}

#[tokio::test]
async fn dynamodb_lists_tickets_newest_first() {
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    for n in 1..=5 {
        store.insert_ticket(&ticket(n, &[])).await.unwrap();
    }
    let numbers: Vec<u64> =
        store.list_tickets(&id("demo-collection"), 3).await.unwrap().iter().map(|t| t.ticket_number).collect();
    assert_eq!(numbers, [5, 4, 3]);
}

#[tokio::test]
async fn dynamodb_unavailable_is_an_error_not_an_answer() {
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    let closed = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url("http://127.0.0.1:1").build();
    let broken = ticket_api::aws::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(closed), store.tables().clone());
    let err = broken.take_number(&id("demo-collection"), &counted("a@b.co")).await.unwrap_err();
    assert!(err.operation.contains("UpdateItem"), "{err}");
}

#[tokio::test]
async fn ses_delivers_both_parts_with_sender_name_and_reply_to() {
    let sdk = sdk().await;
    let mailer = ses_mailer(&sdk);
    let requester = format!("{}@example.com", unique("requester"));
    let team = format!("{}@example.com", unique("team"));
    let body = serde_json::json!({"userEmail": requester, "title": "<script>alert(1)</script> & more", "message": "m"});
    let t = ticket_from(7, &[&team], &body.to_string());
    let emails: Vec<OutgoingEmail> =
        outgoing("Acme Café", &t, "https://x/ticket/c/7?key=k").into_iter().map(|(_, e)| e).collect();
    for email in &emails {
        let id = mailer.send(email).await.expect("the stand-in accepts the e-mail");
        assert!(!id.is_empty(), "SES returns a message id");
    }
    let to_requester = mailbox(&requester).await;
    assert_eq!(to_requester.len(), 1);
    let m = &to_requester[0];
    assert_eq!(m["subject"], "[Acme Café] Ticket #7 received: <script>alert(1)</script> & more");
    assert!(m["from"].as_str().unwrap().ends_with("<tickets@example.com>"), "{}", m["from"]);
    assert!(m["body"]["text"].as_str().unwrap().contains("https://x/ticket/c/7?key=k"));
    let html = m["body"]["html"].as_str().unwrap();
    assert!(!html.contains("<script>") && html.contains("&#60;script&#62;"), "escaped in the HTML part");

    let to_team = mailbox(&team).await;
    assert_eq!(to_team.len(), 1);
    assert_eq!(to_team[0]["replyTo"][0], requester.as_str(), "notifications reply to the requester");
    assert!(to_team[0]["subject"].as_str().unwrap().starts_with("[Acme Café] New ticket #7"));
}

#[tokio::test]
async fn ses_unreachable_is_a_recorded_failure() {
    let sdk = sdk().await;
    let closed = aws_sdk_sesv2::config::Builder::from(&sdk).endpoint_url("http://127.0.0.1:1").build();
    let mailer = ticket_api::aws::SesMailer::new(aws_sdk_sesv2::Client::from_conf(closed), SENDER.into());
    let t = ticket(1, &[]);
    let (_, email) = outgoing("Acme", &t, "https://x").remove(0);
    let why = mailer.send(&email).await.unwrap_err();
    assert!(why.starts_with("SES SendEmail"), "{why}");
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
fn delivery_statuses_are_stored_as_words() {
    assert_eq!(serde_json::to_value(DeliveryStatus::Failed).unwrap(), "failed");
}

#[tokio::test]
async fn dynamodb_completes_and_releases_only_the_claim_of_the_same_request() {
    use ticket_api::domain::{IdempotencyRecord, IdempotencyState};
    let sdk = sdk().await;
    let store = dynamo_store(&sdk).await;
    let now = ticket_api::domain::idempotency::unix_now();
    let mine = IdempotencyRecord::claim("c#k".into(), "fingerprint".into(), "mine".into(), now);
    assert_eq!(store.claim_idempotency(&mine, now).await.unwrap(), None, "claimed");
    let theirs = IdempotencyRecord { key_nonce: "theirs".into(), ..mine.clone() };
    assert_eq!(store.claim_idempotency(&theirs, now).await.unwrap(), Some(mine.clone()), "held by the first");

    store.release_idempotency("c#k", "theirs").await.unwrap();
    assert!(store.get_idempotency("c#k").await.unwrap().is_some(), "another request cannot release it");
    assert!(store.complete_idempotency("c#k", "theirs", 9).await.is_err(), "nor complete it");
    assert!(store.complete_idempotency("gone#k", "mine", 9).await.is_err(), "nor create a partial record");
    assert_eq!(store.get_idempotency("gone#k").await.unwrap(), None);

    store.complete_idempotency("c#k", "mine", 7).await.unwrap();
    let done = store.get_idempotency("c#k").await.unwrap().unwrap();
    assert_eq!((done.state, done.ticket_number), (IdempotencyState::Completed, Some(7)));
    store.release_idempotency("c#k", "mine").await.unwrap();
    assert!(store.get_idempotency("c#k").await.unwrap().is_some(), "a completed claim is never released");

    // A claim past its lease is taken over.
    let later = now + ticket_api::domain::idempotency::IDEMPOTENCY_LEASE_SECONDS + 1;
    let stale = IdempotencyRecord::claim("c#stale".into(), "f".into(), "old".into(), now);
    store.claim_idempotency(&stale, now).await.unwrap();
    let fresh = IdempotencyRecord::claim("c#stale".into(), "f".into(), "new".into(), later);
    assert_eq!(store.claim_idempotency(&fresh, later).await.unwrap(), None, "the abandoned claim is replaced");
}
