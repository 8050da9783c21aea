//! The store's conformance suite: the same cases, on the memory store and on DynamoDB Local, so that the fake
//! the fast tests rely on cannot drift from the store it stands in for. Each case is a test per store
//! (`conformance::memory::…`, `conformance::dynamodb::…`): conditional writes, the ticket transaction and its
//! 100-item limit, a thread's order, outbox claims and settlements, SES's feedback, limits, idempotency,
//! suppressions, keys and paging.

use std::time::Duration;

use crate::helpers::*;
use ticket_api::domain::conversation::ListCursor;
use ticket_api::domain::{
    ApiKey, CollectionId, CollectionName, CountEntry, Email, Entry, Feedback, IdempotencyRecord, IdempotencyState,
    Mail, MailKey, MailState, NewTicket, Now, Occasion, RateLimits, Role, Settlement, Suppression, Ticket,
    TicketStatus,
};
use ticket_api::driven::memory::MemoryStore;
use ticket_api::driven::{DynamoStore, SystemClock};
use ticket_api::ports::AdminStore;
use ticket_api::ports::{AppendWrite, Appended, Counted, Inserted, Moved, NewTicketWrite, NumberTaken, Store};

/// What a case needs of a store beyond its ports: the operator's seeding of collections and keys.
trait Seeded: Store {
    async fn seed(&self);
}

impl Seeded for MemoryStore {
    async fn seed(&self) {
        for c in fixture_collections(&["team@example.com"]) {
            self.add_collection(c);
        }
        for (hash, record) in fixture_keys(&pepper()) {
            self.add_key(&hash, record);
        }
    }
}

impl Seeded for DynamoStore {
    async fn seed(&self) {
        for c in fixture_collections(&["team@example.com"]) {
            self.insert_collection(&c).await.unwrap();
        }
        for (hash, record) in fixture_keys(&pepper()) {
            self.insert_key(&hash, &record).await.unwrap();
        }
    }
}

async fn memory_store() -> MemoryStore {
    let store = MemoryStore::default();
    store.seed().await;
    store
}

async fn dynamodb_store() -> DynamoStore {
    let store = dynamo_store(&sdk().await).await;
    store.seed().await;
    store
}

/// Every case, once per store.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $case() {
                super::$case(&super::memory_store().await).await
            })*
        }
        mod dynamodb {
            $(#[tokio::test]
            async fn $case() {
                super::$case(&super::dynamodb_store().await).await
            })*
        }
    };
}

conformance!(
    the_counter_starts_at_one_and_tells_missing_disabled_and_changed_limits_apart,
    a_counter_is_raised_only_upward,
    counts_are_refused_at_their_limit_and_taken_back,
    a_ticket_is_written_whole_with_its_entry_and_emails_and_never_overwritten,
    a_transaction_of_more_than_100_items_is_refused_whole,
    an_entry_is_appended_only_to_the_ticket_as_it_was_read_and_the_thread_keeps_its_order,
    the_outbox_moves_each_email_only_along_its_transitions,
    what_ses_heard_moves_a_sent_email_once,
    an_idempotency_claim_is_released_only_by_its_request_and_replaced_once_abandoned,
    a_suppression_keeps_its_first_reason_and_is_found_whatever_the_case,
    keys_are_found_by_their_hash,
    a_collections_tickets_page_by_status_newest_activity_first,
    a_tickets_keys_are_rotated_and_an_append_read_before_cannot_bring_them_back,
    a_collections_team_link_generation_only_rises_and_leaves_its_counter,
    a_received_message_is_recorded_once_and_a_notice_is_added_once,
    a_collection_keeps_at_most_its_bound_of_webhook_endpoints_each_changed_alone_or_removed_by_id,
    a_held_webhook_delivery_leaves_the_due_ones_until_it_is_released_or_dropped,
    a_webhook_delivery_is_written_with_its_event_claimed_once_and_settled_by_its_attempt,
    an_emails_fate_and_the_webhooks_it_owes_are_written_together_or_not_at_all,
    a_write_is_refused_whole_where_one_of_its_new_items_exists,
);

fn id(raw: &str) -> CollectionId {
    CollectionId::parse(raw).unwrap()
}

/// The system's time now, in whole seconds: a base for the cases' explicit times.
fn base() -> Now {
    Now::from_ms(SystemClock.now().secs() * 1000)
}

/// A new ticket of demo-collection opened at `at` as the create writes it: header, first entry, its e-mails
/// (to the requester and to each of `notify`), due for the sweep at `at`.
fn new_ticket(number: u64, notify: &[&str], at: Now) -> NewTicketWrite {
    let input = NewTicket::from_json(good_body(&format!("user{number}@email.com")).as_bytes()).unwrap();
    let ticket = Ticket::open(
        id("demo-collection"),
        number,
        CollectionName::parse("Demo Support").unwrap(),
        &input,
        ticket_api::domain::keys::key_nonce(),
        ticket_api::domain::keys::key_nonce(),
        at.rfc3339(),
    );
    let team: Vec<Email> = notify.iter().map(|to| Email::parse(to).unwrap()).collect();
    let mail =
        ticket_api::domain::outbox::owed(&ticket, 1, Role::Requester, Occasion::Opened, &team, &at.rfc3339(), at.ms());
    NewTicketWrite {
        ticket,
        entry: Entry::first(input, at.rfc3339()),
        mail,
        webhooks: vec![],
        completes: None,
        uploads: vec![],
    }
}

fn keys(mail: &[Mail]) -> Vec<MailKey> {
    mail.iter().map(Mail::key).collect()
}

const LIMITS: RateLimits = FIXTURE_LIMITS;

async fn the_counter_starts_at_one_and_tells_missing_disabled_and_changed_limits_apart<S: Store>(store: &S) {
    for expected in 1..=3 {
        match store.take_number(&id("demo-collection"), &LIMITS).await.unwrap() {
            NumberTaken::Taken(c) => {
                assert_eq!(c.last_ticket_number, expected);
                assert_eq!(c.name.as_str(), "Demo Support", "the increment returns the collection");
                assert_eq!(c.notify_emails[0].as_str(), "team@example.com");
            }
            other => panic!("expected a number, got {other:?}"),
        }
    }
    assert_eq!(store.take_number(&id("gone-collection"), &LIMITS).await.unwrap(), NumberTaken::NotFound);
    assert_eq!(store.take_number(&id("disabled-collection"), &LIMITS).await.unwrap(), NumberTaken::Disabled);
    let other = RateLimits { per_key: 5, per_requester: 2, ..LIMITS };
    assert_eq!(
        store.take_number(&id("demo-collection"), &other).await.unwrap(),
        NumberTaken::LimitsChanged(LIMITS),
        "counted against other limits than the collection's: refused, with the collection's"
    );
    let demo = store.get_collection(&id("demo-collection")).await.unwrap().unwrap();
    assert_eq!(demo.last_ticket_number, 3, "a refused increment changes nothing");
    let disabled = store.get_collection(&id("disabled-collection")).await.unwrap().unwrap();
    assert_eq!(disabled.last_ticket_number, 0);
    assert!(store.get_collection(&id("gone-collection")).await.unwrap().is_none());
}

async fn a_counter_is_raised_only_upward<S: Store>(store: &S) {
    let demo = id("demo-collection");
    assert!(store.raise_counter(&demo, 7).await.unwrap(), "a counter behind is raised");
    assert_eq!(store.get_collection(&demo).await.unwrap().unwrap().last_ticket_number, 7);
    assert!(!store.raise_counter(&demo, 5).await.unwrap(), "never lowered");
    assert!(!store.raise_counter(&demo, 7).await.unwrap(), "nor set to what it is");
    assert!(!store.raise_counter(&id("gone-collection"), 3).await.unwrap(), "nor made for a missing collection");
    assert!(store.get_collection(&id("gone-collection")).await.unwrap().is_none());
    match store.take_number(&demo, &LIMITS).await.unwrap() {
        NumberTaken::Taken(c) => assert_eq!(c.last_ticket_number, 8, "the next number follows"),
        other => panic!("{other:?}"),
    }
}

async fn counts_are_refused_at_their_limit_and_taken_back<S: Store>(store: &S) {
    let entry = CountEntry { id: format!("{}#r#abc#7", unique("c")), expires_at: 1_000_000 };
    assert_eq!(store.count(&entry, 2).await.unwrap(), Counted::Counted(1));
    assert_eq!(store.count(&entry, 2).await.unwrap(), Counted::Counted(2));
    assert_eq!(store.count(&entry, 2).await.unwrap(), Counted::Refused(2), "the limit reached: nothing counted");
    store.uncount(&entry).await.unwrap();
    assert_eq!(store.count(&entry, 2).await.unwrap(), Counted::Counted(2), "a count taken back is free again");
    assert_eq!(store.count(&entry, 5).await.unwrap(), Counted::Counted(3), "a higher limit counts on from the count");
    let fresh = CountEntry { id: format!("{}#k#key#7", unique("c")), expires_at: 1_000_000 };
    store.uncount(&fresh).await.unwrap();
    assert_eq!(store.count(&fresh, 1).await.unwrap(), Counted::Counted(1), "taking back a missing count is a no-op");
}

async fn a_ticket_is_written_whole_with_its_entry_and_emails_and_never_overwritten<S: Store>(store: &S) {
    let write = new_ticket(1, &["team@example.com"], base());
    assert_eq!(store.insert_ticket(&write).await.unwrap(), Inserted::Stored);
    assert_eq!(store.get_ticket(&id("demo-collection"), 1).await.unwrap(), Some(write.ticket.clone()));
    assert_eq!(store.thread(&id("demo-collection"), 1).await.unwrap(), vec![write.entry.clone()]);
    assert_eq!(store.get_entry(&id("demo-collection"), 1, 1).await.unwrap(), Some(write.entry.clone()));
    assert_eq!(store.get_entry(&id("demo-collection"), 1, 2).await.unwrap(), None);
    assert_eq!(keys(&store.undelivered(None).await.unwrap()), keys(&write.mail), "its e-mails are owed");
    assert_eq!(
        store.insert_ticket(&write).await.unwrap(),
        Inserted::Stored,
        "the same write again (a retry whose answer was lost) is the one that landed"
    );

    // The same number again (a counter restored from a backup): refused whole, nothing of it written.
    let again = new_ticket(1, &["other@example.com"], base());
    assert_eq!(store.insert_ticket(&again).await.unwrap(), Inserted::NumberInUse);
    assert_eq!(store.get_ticket(&id("demo-collection"), 1).await.unwrap(), Some(write.ticket.clone()));
    assert_eq!(store.undelivered(None).await.unwrap().len(), 2, "no e-mail of the refused write");

    // With an Idempotency-Key: the claim is completed in the same write; a claim that is not ours refuses it all.
    let now = base().secs();
    let claim = IdempotencyRecord::claim("demo-collection#k".into(), "f".into(), "mine".into(), now);
    store.claim_idempotency(&claim, now).await.unwrap();
    let lost =
        NewTicketWrite { completes: Some(("demo-collection#k".into(), "theirs".into())), ..new_ticket(2, &[], base()) };
    assert_eq!(store.insert_ticket(&lost).await.unwrap(), Inserted::ClaimLost);
    assert_eq!(store.get_ticket(&id("demo-collection"), 2).await.unwrap(), None, "nothing of it was written");
    assert_eq!(store.undelivered(None).await.unwrap().len(), 2);
    let ours = NewTicketWrite { completes: Some(("demo-collection#k".into(), "mine".into())), ..lost };
    assert_eq!(store.insert_ticket(&ours).await.unwrap(), Inserted::Stored);
    let done = store.get_idempotency("demo-collection#k").await.unwrap().unwrap();
    assert_eq!((done.state, done.ticket_number), (IdempotencyState::Completed, Some(2)), "completed with it");
    store.release_idempotency("demo-collection#k", "mine").await.unwrap();
    assert!(store.get_idempotency("demo-collection#k").await.unwrap().is_some(), "a completed claim is never released");
}

async fn a_transaction_of_more_than_100_items_is_refused_whole<S: Store>(store: &S) {
    // Header, entry and 98 e-mails: 100 items, DynamoDB's most in one transaction.
    let team: Vec<String> = (0..97).map(|i| format!("team{i}@example.com")).collect();
    let team: Vec<&str> = team.iter().map(String::as_str).collect();
    let most = new_ticket(1, &team, base());
    assert_eq!(most.mail.len(), 98);
    assert_eq!(store.insert_ticket(&most).await.unwrap(), Inserted::Stored, "100 items are one transaction");
    let mut over = new_ticket(2, &team, base());
    let mut extra = over.mail[1].clone();
    extra.index = 98;
    over.mail.push(extra);
    assert!(store.insert_ticket(&over).await.is_err(), "101 items are refused, as an error");
    assert_eq!(store.get_ticket(&id("demo-collection"), 2).await.unwrap(), None, "nothing of it was written");
}

async fn an_entry_is_appended_only_to_the_ticket_as_it_was_read_and_the_thread_keeps_its_order<S: Store>(store: &S) {
    let at = base();
    let write = new_ticket(1, &[], at);
    store.insert_ticket(&write).await.unwrap();
    let mut ticket = write.ticket.clone();
    for seq in 2..=12u32 {
        let when = Now::from_ms(at.ms() + u64::from(seq) * 1000).rfc3339();
        let entry = Entry {
            seq,
            at: when.clone(),
            author: Role::Team,
            message: Some(ticket_api::domain::Message::parse(&format!("reply {seq}")).unwrap()),
            status: None,
            tags: Default::default(),
            by_email: None,
            attachments: vec![],
            by: None,
            assigned: None,
        };
        let after = ticket.after_entry(seq, Role::Team, &when, TicketStatus::Open);
        let write = AppendWrite {
            before: ticket.clone(),
            after: after.clone(),
            entry,
            mail: vec![],
            webhooks: vec![],
            received: vec![],
            uploads: vec![],
        };
        assert_eq!(store.append(&write).await.unwrap(), Appended::Stored);
        assert_eq!(store.append(&write).await.unwrap(), Appended::Moved, "the ticket moved on: written once");
        ticket = after;
    }
    let thread: Vec<u32> = store.thread(&id("demo-collection"), 1).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(thread, (1..=12).collect::<Vec<_>>(), "the thread in its order, past nine entries");
    let header = store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap();
    assert_eq!(header, ticket, "the header as the last write left it");

    let stale = AppendWrite {
        before: Ticket { status: TicketStatus::Resolved, ..ticket.clone() },
        after: ticket.after_entry(13, Role::Team, &at.rfc3339(), TicketStatus::Open),
        entry: Entry {
            seq: 13,
            at: at.rfc3339(),
            author: Role::Team,
            message: None,
            status: None,
            tags: Default::default(),
            by_email: None,
            attachments: vec![],
            by: None,
            assigned: None,
        },
        mail: vec![],
        webhooks: vec![],
        received: vec![],
        uploads: vec![],
    };
    assert_eq!(store.append(&stale).await.unwrap(), Appended::Moved, "read with another status: nothing written");
    let missing = AppendWrite { after: Ticket { ticket_number: 9, ..stale.after.clone() }, ..stale };
    assert_eq!(store.append(&missing).await.unwrap(), Appended::Moved, "no such ticket: nothing written");
    assert_eq!(store.get_entry(&id("demo-collection"), 1, 13).await.unwrap(), None);
}

async fn the_outbox_moves_each_email_only_along_its_transitions<S: Store>(store: &S) {
    let now = base();
    let at = |ms: u64| Now::from_ms(now.ms() + ms);
    let lease = Duration::from_secs(60);
    let write = new_ticket(1, &["team@example.com"], now);
    store.insert_ticket(&write).await.unwrap();
    let (requester, team) = (write.mail[0].key(), write.mail[1].key());

    let claimed = store.claim_mail(&requester, now, lease).await.unwrap().expect("a pending e-mail is claimed");
    assert_eq!((claimed.state, claimed.attempts, claimed.due_at_ms), (MailState::Sending, 1, Some(now.ms() + 60_000)));
    assert_eq!(store.claim_mail(&requester, now, lease).await.unwrap(), None, "held by a live lease: not twice");
    let sent = Settlement::Sent { message_id: "m-1".into() };
    assert_eq!(store.settle_mail(&requester, 2, &sent, now, &[]).await.unwrap(), Moved::NotOurs, "not its attempt");
    assert_eq!(store.settle_mail(&requester, 1, &sent, now, &[]).await.unwrap(), Moved::Moved);
    assert_eq!(store.settle_mail(&requester, 1, &sent, now, &[]).await.unwrap(), Moved::NotOurs, "settled once");
    assert_eq!(store.claim_mail(&requester, at(120_000), lease).await.unwrap(), None, "a sent e-mail is never claimed");

    // The team's: due in the outbox index; a retry is due only at its time; a lapsed lease is taken over.
    assert_eq!(keys(&store.due_mail(at(1), 10).await.unwrap().mail), vec![team.clone()], "only what is owed is due");
    let short = Duration::from_secs(1);
    let first = store.claim_mail(&team, now, short).await.unwrap().unwrap();
    let retry = Settlement::Retry { error: "throttled".into(), due_at_ms: now.ms() + 5_000 };
    assert_eq!(store.settle_mail(&team, first.attempts, &retry, now, &[]).await.unwrap(), Moved::Moved);
    assert_eq!(store.claim_mail(&team, at(4_000), short).await.unwrap(), None, "a retry is not due before its time");
    assert!(store.due_mail(at(4_000), 10).await.unwrap().mail.is_empty());
    assert_eq!(keys(&store.due_mail(at(5_000), 10).await.unwrap().mail), vec![team.clone()]);
    let second = store.claim_mail(&team, at(5_000), short).await.unwrap().unwrap();
    assert_eq!(second.attempts, 2);
    assert_eq!(store.claim_mail(&team, at(5_999), short).await.unwrap(), None, "its lease holds until it lapses");
    let third = store.claim_mail(&team, at(6_000), short).await.unwrap().expect("its lease lapsed: taken over");
    assert_eq!(third.attempts, 3);
    assert_eq!(
        store.settle_mail(&team, 2, &sent, at(6_000), &[]).await.unwrap(),
        Moved::NotOurs,
        "the old attempt lost it"
    );
    let failed = Settlement::Failed { error: "MessageRejected: address rejected".into() };
    assert_eq!(store.settle_mail(&team, 3, &failed, at(6_000), &[]).await.unwrap(), Moved::Moved);
    assert!(store.due_mail(at(100_000), 10).await.unwrap().mail.is_empty(), "failed for good: not due ever again");

    let undelivered = store.undelivered(None).await.unwrap();
    assert_eq!(undelivered.len(), 1, "{undelivered:?}");
    assert_eq!(
        (undelivered[0].state, undelivered[0].last_error.as_deref(), undelivered[0].failed_at.clone()),
        (MailState::Failed, Some("MessageRejected: address rejected"), Some(at(6_000).rfc3339()))
    );
    assert!(store.undelivered(Some(&id("other"))).await.unwrap().is_empty());
    let resent = at(7_000);
    assert_eq!(store.requeue_mail(&requester, now.ms(), resent).await.unwrap(), Moved::NotOurs, "only what failed");
    assert_eq!(store.requeue_mail(&team, now.ms(), resent).await.unwrap(), Moved::Moved);
    assert_eq!(store.requeue_mail(&team, now.ms(), resent).await.unwrap(), Moved::NotOurs);
    let due = store.due_mail(now, 10).await.unwrap().mail;
    assert_eq!(keys(&due), vec![team.clone()]);
    assert_eq!((due[0].state, due[0].failed_at.as_deref()), (MailState::Pending, None));
    assert_eq!(due[0].resent_at, Some(resent.rfc3339()), "its retries count from the re-send");

    // Due ones come oldest first, and a page holds at most what was asked.
    let mut earlier = new_ticket(2, &["team@example.com"], now);
    earlier.mail[0].due_at_ms = Some(now.ms() - 20_000);
    earlier.mail[1].due_at_ms = Some(now.ms() - 10_000);
    store.insert_ticket(&earlier).await.unwrap();
    let page = store.due_mail(now, 2).await.unwrap().mail;
    assert_eq!(keys(&page), keys(&earlier.mail), "the two due earliest, in the order they are due");
}

async fn what_ses_heard_moves_a_sent_email_once<S: Store>(store: &S) {
    let now = base();
    let write = new_ticket(1, &["team@example.com"], now);
    store.insert_ticket(&write).await.unwrap();
    let (requester, team) = (write.mail[0].key(), write.mail[1].key());
    assert_eq!(
        store.record_feedback(&requester, &Feedback::Delivered, now, &[]).await.unwrap(),
        Moved::NotOurs,
        "an e-mail never sent hears nothing"
    );
    for key in [&requester, &team] {
        let claimed = store.claim_mail(key, now, Duration::from_secs(60)).await.unwrap().unwrap();
        let sent = Settlement::Sent { message_id: "m".into() };
        store.settle_mail(key, claimed.attempts, &sent, now, &[]).await.unwrap();
    }
    assert_eq!(store.record_feedback(&requester, &Feedback::Delivered, now, &[]).await.unwrap(), Moved::Moved);
    assert_eq!(
        store.record_feedback(&requester, &Feedback::Delivered, now, &[]).await.unwrap(),
        Moved::NotOurs,
        "told once"
    );
    let complaint = Feedback::Complained { detail: "complaint (abuse)".into() };
    assert_eq!(
        store.record_feedback(&requester, &complaint, now, &[]).await.unwrap(),
        Moved::Moved,
        "after a delivery"
    );
    let bounce = Feedback::Bounced { permanent: true, detail: "Permanent bounce (General)".into() };
    assert_eq!(store.record_feedback(&team, &bounce, now, &[]).await.unwrap(), Moved::Moved);
    assert_eq!(store.record_feedback(&team, &Feedback::Delivered, now, &[]).await.unwrap(), Moved::NotOurs);
    let mail = store.undelivered(None).await.unwrap();
    assert!(mail.is_empty(), "delivered, bounced and complained e-mails are no operator's to re-send: {mail:?}");
    let absent = MailKey { index: 9, ..team };
    assert_eq!(store.record_feedback(&absent, &bounce, now, &[]).await.unwrap(), Moved::NotOurs, "no such e-mail");
}

async fn an_idempotency_claim_is_released_only_by_its_request_and_replaced_once_abandoned<S: Store>(store: &S) {
    let now = base().secs();
    let mine = IdempotencyRecord::claim("c#k".into(), "fingerprint".into(), "mine".into(), now);
    assert_eq!(store.claim_idempotency(&mine, now).await.unwrap(), None, "claimed");
    let theirs = IdempotencyRecord { key_nonce: "theirs".into(), ..mine.clone() };
    assert_eq!(store.claim_idempotency(&theirs, now).await.unwrap(), Some(mine.clone()), "held by the first");
    store.release_idempotency("c#k", "theirs").await.unwrap();
    assert!(store.get_idempotency("c#k").await.unwrap().is_some(), "another request cannot release it");
    store.release_idempotency("c#k", "mine").await.unwrap();
    assert_eq!(store.get_idempotency("c#k").await.unwrap(), None, "its own request can");

    // A claim past its lease is taken over; a live one is not.
    let later = now + ticket_api::domain::idempotency::IDEMPOTENCY_LEASE_SECONDS;
    let stale = IdempotencyRecord::claim("c#stale".into(), "f".into(), "old".into(), now);
    store.claim_idempotency(&stale, now).await.unwrap();
    let early = IdempotencyRecord::claim("c#stale".into(), "f".into(), "new".into(), later - 1);
    assert_eq!(store.claim_idempotency(&early, later - 1).await.unwrap(), Some(stale), "its lease holds");
    let fresh = IdempotencyRecord::claim("c#stale".into(), "f".into(), "new".into(), later);
    assert_eq!(store.claim_idempotency(&fresh, later).await.unwrap(), None, "the abandoned claim is replaced");
    assert_eq!(store.get_idempotency("c#stale").await.unwrap(), Some(fresh));
}

async fn a_suppression_keeps_its_first_reason_and_is_found_whatever_the_case<S: Store>(store: &S) {
    let now = base();
    let suppression = |address: &str, reason: &str, at: Now| Suppression {
        address: Email::parse(address).unwrap(),
        reason: reason.into(),
        detail: format!("{reason} detail"),
        at: at.rfc3339(),
        mail: "demo-collection_1_1_0".into(),
    };
    let first = suppression("Someone@Example.com", "bounce", Now::from_ms(now.ms() + 1_000));
    store.suppress(&first).await.unwrap();
    store.suppress(&suppression("someone@example.com", "complaint", now)).await.unwrap();
    store.suppress(&suppression("earlier@example.com", "complaint", now)).await.unwrap();
    let found = store.suppression(&Email::parse("SOMEONE@example.COM").unwrap()).await.unwrap();
    assert_eq!(found, Some(first.clone()), "case-blind, the first reason and the address as first seen");
    let listed: Vec<String> =
        store.suppressions().await.unwrap().iter().map(|s| s.address.as_str().to_owned()).collect();
    assert_eq!(listed, ["earlier@example.com", "Someone@Example.com"], "oldest first");
    assert!(store.lift_suppression(&Email::parse("someone@example.com").unwrap()).await.unwrap());
    assert!(!store.lift_suppression(&Email::parse("someone@example.com").unwrap()).await.unwrap(), "lifted once");
    assert_eq!(store.suppression(&first.address).await.unwrap(), None);
}

async fn keys_are_found_by_their_hash<S: Store>(store: &S) {
    let granted = ApiKey::parse(&expected().keys.granted).unwrap();
    let record = store.find_key(&pepper().hash(&granted)).await.unwrap().expect("the fixture key is stored");
    assert_eq!((record.key_id.as_str(), record.is_revoked()), ("granted", false));
    assert!(store.find_key(&pepper().hash(&ApiKey::generate())).await.unwrap().is_none());
}

async fn a_collections_tickets_page_by_status_newest_activity_first<S: Store>(store: &S) {
    let at = base();
    for n in 1..=5u64 {
        store.insert_ticket(&new_ticket(n, &[], Now::from_ms(at.ms() + n * 1000))).await.unwrap();
    }
    let mut pages = Vec::new();
    let mut cursor: Option<ListCursor> = None;
    loop {
        let page = store.list_page(&id("demo-collection"), TicketStatus::Open, 2, cursor.as_ref()).await.unwrap();
        pages.push(page.tickets.iter().map(|t| t.ticket_number).collect::<Vec<_>>());
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, [vec![5, 4], vec![3, 2], vec![1]], "every ticket once, no empty page");
    let all = store.list_page(&id("demo-collection"), TicketStatus::Open, 5, None).await.unwrap();
    assert_eq!((all.tickets.len(), all.next), (5, None), "a page that holds the rest is the last");
    assert!(store.list_page(&id("demo-collection"), TicketStatus::Closed, 2, None).await.unwrap().tickets.is_empty());
    assert!(store.list_page(&id("other-collection"), TicketStatus::Open, 2, None).await.unwrap().tickets.is_empty());
}

async fn a_tickets_keys_are_rotated_and_an_append_read_before_cannot_bring_them_back<S: Store>(store: &S) {
    let at = base();
    let write = new_ticket(1, &[], at);
    store.insert_ticket(&write).await.unwrap();
    let read = write.ticket.clone();
    assert!(store.rotate_keys(&id("demo-collection"), 1, Some("new-key"), Some("new-team-key")).await.unwrap());
    let rotated = store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap();
    assert_eq!((rotated.key_nonce.as_str(), rotated.team_key_nonce.as_str()), ("new-key", "new-team-key"));
    assert_eq!(rotated, Ticket { key_nonce: "new-key".into(), team_key_nonce: "new-team-key".into(), ..read.clone() });

    // A reply read before the rotation would put the old keys back with its header: refused, to be read again.
    let when = Now::from_ms(at.ms() + 1000).rfc3339();
    let entry = Entry {
        seq: 2,
        at: when.clone(),
        author: Role::Team,
        message: None,
        status: None,
        tags: Default::default(),
        by_email: None,
        attachments: vec![],
        by: None,
        assigned: None,
    };
    let stale = AppendWrite {
        before: read.clone(),
        after: read.after_entry(2, Role::Team, &when, TicketStatus::Open),
        entry,
        mail: vec![],
        webhooks: vec![],
        received: vec![],
        uploads: vec![],
    };
    assert_eq!(store.append(&stale).await.unwrap(), Appended::Moved);
    let fresh = AppendWrite {
        before: rotated.clone(),
        after: rotated.after_entry(2, Role::Team, &when, TicketStatus::Open),
        ..stale
    };
    assert_eq!(store.append(&fresh).await.unwrap(), Appended::Stored, "read after the rotation: written");
    let header = store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap();
    assert_eq!((header.entries, header.key_nonce.as_str()), (2, "new-key"), "the rotated keys stay");

    // One role's rotation writes that role's nonce alone: the other's, rotated meanwhile, stays.
    assert!(store.rotate_keys(&id("demo-collection"), 1, None, Some("team-again")).await.unwrap());
    let header = store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap();
    assert_eq!((header.key_nonce.as_str(), header.team_key_nonce.as_str()), ("new-key", "team-again"));
    assert!(store.rotate_keys(&id("demo-collection"), 1, Some("key-again"), None).await.unwrap());
    let header = store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap();
    assert_eq!((header.key_nonce.as_str(), header.team_key_nonce.as_str()), ("key-again", "team-again"));

    assert!(!store.rotate_keys(&id("demo-collection"), 9, Some("k"), Some("t")).await.unwrap(), "missing: false");
    assert_eq!(store.get_ticket(&id("demo-collection"), 9).await.unwrap(), None, "and not made");
}

async fn a_collections_team_link_generation_only_rises_and_leaves_its_counter<S: Store>(store: &S) {
    let demo = id("demo-collection");
    assert!(matches!(store.take_number(&demo, &LIMITS).await.unwrap(), NumberTaken::Taken(_)));
    assert_eq!(store.get_collection(&demo).await.unwrap().unwrap().team_link_generation, 0, "none yet");
    assert_eq!(store.raise_team_link_generation(&demo).await.unwrap(), Some(1));
    assert_eq!(store.raise_team_link_generation(&demo).await.unwrap(), Some(2));
    let collection = store.get_collection(&demo).await.unwrap().unwrap();
    assert_eq!((collection.team_link_generation, collection.last_ticket_number), (2, 1), "the counter kept");
    assert_eq!(store.raise_team_link_generation(&id("gone-collection")).await.unwrap(), None);
    assert!(store.get_collection(&id("gone-collection")).await.unwrap().is_none(), "a missing collection: not made");
}

async fn a_received_message_is_recorded_once_and_a_notice_is_added_once<S: Store>(store: &S) {
    let at = base();
    let write = new_ticket(1, &[], at);
    store.insert_ticket(&write).await.unwrap();
    let reply = |ticket: &Ticket, seq: u32, received: &str| {
        let when = Now::from_ms(at.ms() + u64::from(seq) * 1000).rfc3339();
        let entry = Entry {
            seq,
            at: when.clone(),
            author: Role::Requester,
            message: Some(ticket_api::domain::Message::parse("by e-mail").unwrap()),
            status: None,
            tags: Default::default(),
            by_email: Some(ticket_api::domain::ByEmail {
                from: Email::parse("user1@email.com").unwrap(),
                left_out: vec![],
                more_left_out: 0,
                truncated: false,
                unauthenticated: false,
            }),
            attachments: vec![],
            by: None,
            assigned: None,
        };
        let after = ticket.after_entry(seq, Role::Requester, &when, TicketStatus::Open);
        AppendWrite {
            before: ticket.clone(),
            after,
            entry,
            mail: vec![],
            webhooks: vec![],
            received: vec![received.to_owned()],
            uploads: vec![],
        }
    };
    let first = reply(&write.ticket, 2, "ses-id-1#requester");
    assert_eq!(store.append(&first).await.unwrap(), Appended::Stored);
    // SES delivers the message again: read afresh, the ticket as it is now, the mark is found.
    let again = reply(&first.after, 3, "ses-id-1#requester");
    assert_eq!(store.append(&again).await.unwrap(), Appended::AlreadyRecorded);
    assert_eq!(store.get_entry(&id("demo-collection"), 1, 3).await.unwrap(), None, "no second entry");
    assert_eq!(store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap(), first.after, "header unchanged");
    let thread = store.thread(&id("demo-collection"), 1).await.unwrap();
    assert_eq!(thread.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2], "the mark is no entry of the thread");
    assert_eq!(thread[1].by_email, first.entry.by_email, "the entry says it came by e-mail, from whom");
    // The same message to the team's address of the ticket is the team's own reply; another message is new.
    assert_eq!(store.append(&reply(&first.after, 3, "ses-id-1#team")).await.unwrap(), Appended::Stored);

    // A notice (no entry writes it) is added once, and is due like any e-mail.
    let ticket = store.get_ticket(&id("demo-collection"), 1).await.unwrap().unwrap();
    let to = Email::parse("user1@email.com").unwrap();
    let closed = ticket_api::domain::outbox::NoticeReason::Closed;
    let notice =
        ticket_api::domain::outbox::notice(&ticket, closed, Role::Requester, &to, true, 7, &at.rfc3339(), at.ms());
    assert!(store.add_mail(&notice).await.unwrap());
    assert!(!store.add_mail(&notice).await.unwrap(), "the same notice is added once");
    let due = store.due_mail(Now::from_ms(at.ms() + 60_000), 100).await.unwrap();
    assert!(due.mail.iter().any(|m| m.key() == notice.key() && m.kind == notice.kind), "the notice is due: {due:?}");
}

async fn a_collection_keeps_at_most_its_bound_of_webhook_endpoints_each_changed_alone_or_removed_by_id<S: Store>(
    store: &S,
) {
    use ticket_api::domain::webhook::{Endpoint, EndpointChange, EventType, Loopback, MAX_ENDPOINTS, WebhookUrl};
    use ticket_api::ports::EndpointAdded;
    let demo = id("demo-collection");
    let endpoint = |n: usize| {
        let url = WebhookUrl::parse(&format!("https://hooks{n}.example.com/in"), Loopback::Refused).unwrap();
        Endpoint::new(url, vec![EventType::TicketCreated], base().rfc3339())
    };
    // The collection's first two endpoints, added at once: both land (the first write makes the map).
    let (first, second) = (endpoint(0), endpoint(1));
    let (a, b) = tokio::join!(
        store.add_endpoint(&demo, &first, MAX_ENDPOINTS),
        store.add_endpoint(&demo, &second, MAX_ENDPOINTS)
    );
    assert_eq!((a.unwrap(), b.unwrap()), (EndpointAdded::Stored, EndpointAdded::Stored), "two first adds");
    let mut stored = vec![first, second];
    for n in 2..MAX_ENDPOINTS {
        let e = endpoint(n);
        assert_eq!(store.add_endpoint(&demo, &e, MAX_ENDPOINTS).await.unwrap(), EndpointAdded::Stored, "{n}");
        stored.push(e);
    }
    assert_eq!(store.add_endpoint(&demo, &endpoint(99), MAX_ENDPOINTS).await.unwrap(), EndpointAdded::Full);
    assert_eq!(store.add_endpoint(&demo, &stored[0], MAX_ENDPOINTS).await.unwrap(), EndpointAdded::Full, "twice");
    let gone = id("gone-collection");
    assert_eq!(store.add_endpoint(&gone, &endpoint(1), MAX_ENDPOINTS).await.unwrap(), EndpointAdded::NotFound);

    // A rotation and a disabling of one endpoint, each made from the same read: both land, neither undoes the
    // other (each writes only what it changes).
    let read = stored[3].clone();
    let rotation = read.rotation(base().secs());
    let disable = EndpointChange::Disable { at: base().rfc3339(), why: "every delivery failed".into() };
    assert!(store.change_endpoint(&demo, &read.id, &rotation).await.unwrap());
    assert!(store.change_endpoint(&demo, &read.id, &disable).await.unwrap());
    let failing = |since: &str| EndpointChange::Failing { since: since.into() };
    assert!(store.change_endpoint(&demo, &stored[4].id, &failing("2026-12-01T00:00:00Z")).await.unwrap());
    assert!(store.change_endpoint(&demo, &stored[4].id, &failing("2026-12-02T00:00:00Z")).await.unwrap());
    assert!(store.change_endpoint(&demo, &stored[5].id, &failing("2026-12-01T00:00:00Z")).await.unwrap());
    assert!(store.change_endpoint(&demo, &stored[5].id, &EndpointChange::Recovered).await.unwrap());
    assert!(!store.change_endpoint(&demo, "wh_missing", &disable).await.unwrap(), "a change needs its endpoint");
    assert!(!store.change_endpoint(&gone, &read.id, &disable).await.unwrap(), "and its collection");

    assert!(store.remove_endpoint(&demo, &stored[0].id).await.unwrap());
    assert!(!store.remove_endpoint(&demo, &stored[0].id).await.unwrap(), "removed once");
    let eleventh = endpoint(11);
    assert_eq!(store.add_endpoint(&demo, &eleventh, MAX_ENDPOINTS).await.unwrap(), EndpointAdded::Stored, "room");

    let collection = store.get_collection(&demo).await.unwrap().unwrap();
    assert_eq!(collection.webhooks.len(), MAX_ENDPOINTS);
    let both = read.clone().changed(&rotation).changed(&disable);
    assert_eq!(collection.webhooks[&read.id], both, "rotated and disabled, read back whole");
    assert_ne!(both.secret_nonce, read.secret_nonce);
    let since = collection.webhooks[&stored[4].id].failing_since.as_deref();
    assert_eq!(since, Some("2026-12-01T00:00:00Z"), "failing since its first failure");
    assert_eq!(collection.webhooks[&stored[5].id].failing_since, None, "recovered");
    assert!(store.change_endpoint(&demo, &read.id, &EndpointChange::Enable).await.unwrap());
    let enabled = store.get_collection(&demo).await.unwrap().unwrap().webhooks[&read.id].clone();
    assert_eq!((enabled.disabled_at, enabled.disabled_why, enabled.secret_nonce), (None, None, both.secret_nonce));
    assert!(!collection.webhooks.contains_key(&stored[0].id));
    assert_eq!(collection.last_ticket_number, 0, "the counter is not touched");
}

async fn a_held_webhook_delivery_leaves_the_due_ones_until_it_is_released_or_dropped<S: Store>(store: &S) {
    use ticket_api::domain::webhook::{Endpoint, EventType, Loopback, WebhookUrl};
    use ticket_api::domain::webhook_delivery::{self, WebhookDelivery, WebhookDeliveryState};
    use ticket_api::ports::Release;
    let at = base();
    let lease = Duration::from_secs(60);
    let url = WebhookUrl::parse("https://hooks.example.com/in", Loopback::Refused).unwrap();
    let endpoint = Endpoint::new(url, vec![], at.rfc3339());
    let endpoints = std::collections::BTreeMap::from([(endpoint.id.clone(), endpoint.clone())]);
    let mut write = new_ticket(1, &[], at);
    let event = EventType::TicketCreated;
    write.webhooks = webhook_delivery::owed(&endpoints, &write.ticket, 1, event, Default::default(), &at.rfc3339(), 0);
    store.insert_ticket(&write).await.unwrap();
    let key = write.webhooks[0].key();
    let demo = id("demo-collection");
    let hold = |claimed: WebhookDelivery| WebhookDelivery {
        state: WebhookDeliveryState::Held,
        attempts: claimed.attempts - 1,
        due_at_ms: None,
        ..claimed
    };

    let claimed = store.claim_webhook_delivery(&key, at, lease).await.unwrap().unwrap();
    assert_eq!(store.settle_webhook_delivery(&hold(claimed), 1, at).await.unwrap(), Moved::Moved);
    let later = Now::from_ms(at.ms() + 3_600_000);
    assert!(store.due_webhook_deliveries(later, 10).await.unwrap().is_empty(), "held: never due");
    assert_eq!(store.claim_webhook_delivery(&key, later, lease).await.unwrap(), None, "not taken while held");
    let held = store.held_webhook_deliveries(&demo, &endpoint.id, 10).await.unwrap();
    assert_eq!(held.iter().map(|d| (d.key(), d.attempts)).collect::<Vec<_>>(), [(key.clone(), 0)], "attempt back");
    assert!(store.settled_webhook_deliveries(&demo, 10).await.unwrap().is_empty(), "held is not settled");
    assert!(store.held_webhook_deliveries(&demo, "wh_other", 10).await.unwrap().is_empty(), "held per endpoint");

    let due = Release::Due { due_at_ms: later.ms() };
    assert_eq!(store.release_webhook_delivery(&key, &due, later).await.unwrap(), Moved::Moved);
    assert_eq!(store.release_webhook_delivery(&key, &due, later).await.unwrap(), Moved::NotOurs, "released once");
    let due_now = store.due_webhook_deliveries(later, 10).await.unwrap();
    assert_eq!(due_now.iter().map(WebhookDelivery::key).collect::<Vec<_>>(), std::slice::from_ref(&key), "due again");
    assert!(store.held_webhook_deliveries(&demo, &endpoint.id, 10).await.unwrap().is_empty());

    let claimed = store.claim_webhook_delivery(&key, later, lease).await.unwrap().unwrap();
    assert_eq!(claimed.attempts, 1, "its first attempt, still");
    assert_eq!(store.settle_webhook_delivery(&hold(claimed), 1, later).await.unwrap(), Moved::Moved);
    let dropped = Release::Dropped { why: "its endpoint was removed".into() };
    assert_eq!(store.release_webhook_delivery(&key, &dropped, later).await.unwrap(), Moved::Moved);
    let settled = store.settled_webhook_deliveries(&demo, 10).await.unwrap();
    assert_eq!(settled.len(), 1);
    assert_eq!(
        (settled[0].state, settled[0].last_error.as_deref()),
        (WebhookDeliveryState::Dropped, Some("its endpoint was removed"))
    );
    assert!(
        store.due_webhook_deliveries(later, 10).await.unwrap().is_empty()
            && store.held_webhook_deliveries(&demo, &endpoint.id, 10).await.unwrap().is_empty()
    );
}

async fn a_webhook_delivery_is_written_with_its_event_claimed_once_and_settled_by_its_attempt<S: Store>(store: &S) {
    use ticket_api::domain::webhook::{Endpoint, EventType, Loopback, WebhookUrl};
    use ticket_api::domain::webhook_delivery::{self, WebhookDeliveryState};
    use ticket_api::ports::Moved;
    let at = base();
    let url = WebhookUrl::parse("https://hooks.example.com/in", Loopback::Refused).unwrap();
    let endpoint = Endpoint::new(url, vec![], at.rfc3339());
    let endpoints = std::collections::BTreeMap::from([(endpoint.id.clone(), endpoint.clone())]);
    let mut write = new_ticket(1, &[], at);
    write.webhooks = webhook_delivery::owed(
        &endpoints,
        &write.ticket,
        1,
        EventType::TicketCreated,
        Default::default(),
        &at.rfc3339(),
        at.ms(),
    );
    store.insert_ticket(&write).await.unwrap();
    let key = write.webhooks[0].key();
    assert_eq!(
        store.due_webhook_deliveries(at, 10).await.unwrap().iter().map(|d| d.key()).collect::<Vec<_>>(),
        std::slice::from_ref(&key),
        "due with the ticket's write"
    );

    let lease = std::time::Duration::from_secs(90);
    let claimed = store.claim_webhook_delivery(&key, at, lease).await.unwrap().expect("a pending delivery is taken");
    assert_eq!((claimed.state, claimed.attempts), (WebhookDeliveryState::Sending, 1));
    assert_eq!(store.claim_webhook_delivery(&key, at, lease).await.unwrap(), None, "held by its lease");
    let retry_at = Now::from_ms(at.ms() + 5_000);
    let retrying = webhook_delivery::WebhookDelivery {
        state: WebhookDeliveryState::Retrying,
        due_at_ms: Some(retry_at.ms()),
        last_status: Some(500),
        last_error: Some("answered 500".into()),
        last_latency_ms: Some(3),
        ..claimed.clone()
    };
    assert_eq!(store.settle_webhook_delivery(&retrying, 2, at).await.unwrap(), Moved::NotOurs, "not this attempt's");
    assert_eq!(store.settle_webhook_delivery(&retrying, 1, at).await.unwrap(), Moved::Moved);
    assert!(store.due_webhook_deliveries(at, 10).await.unwrap().is_empty(), "not due before its retry");
    assert_eq!(store.claim_webhook_delivery(&key, at, lease).await.unwrap(), None);
    let second = store.claim_webhook_delivery(&key, retry_at, lease).await.unwrap().expect("due again");
    assert_eq!(second.attempts, 2);
    let delivered = webhook_delivery::WebhookDelivery {
        state: WebhookDeliveryState::Delivered,
        due_at_ms: None,
        last_status: Some(204),
        last_error: None,
        settled_at: Some(retry_at.rfc3339()),
        ..second
    };
    assert_eq!(store.settle_webhook_delivery(&delivered, 2, retry_at).await.unwrap(), Moved::Moved);
    assert_eq!(
        store.claim_webhook_delivery(&key, Now::from_ms(retry_at.ms() + 3_600_000), lease).await.unwrap(),
        None,
        "done"
    );
    let log = store.settled_webhook_deliveries(&id("demo-collection"), 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].state, log[0].attempts, log[0].last_status), (WebhookDeliveryState::Delivered, 2, Some(204)));
}

async fn an_emails_fate_and_the_webhooks_it_owes_are_written_together_or_not_at_all<S: Store>(store: &S) {
    use ticket_api::domain::webhook::{Endpoint, EventType, Loopback, WebhookUrl};
    use ticket_api::domain::webhook_delivery::{self, EventDetail};
    let at = base();
    let write = new_ticket(1, &[], at);
    store.insert_ticket(&write).await.unwrap();
    let key = write.mail[0].key();
    let url = WebhookUrl::parse("https://hooks.example.com/in", Loopback::Refused).unwrap();
    let endpoint = Endpoint::new(url, vec![], at.rfc3339());
    let endpoints = std::collections::BTreeMap::from([(endpoint.id.clone(), endpoint)]);
    let detail = EventDetail { reason: Some("failed".into()), ..Default::default() };
    let mut webhooks = webhook_delivery::owed(
        &endpoints,
        &write.ticket,
        1,
        EventType::MailUndeliverable,
        detail,
        &at.rfc3339(),
        at.ms(),
    );
    webhooks[0].mail = Some(key.index);
    let claimed = store.claim_mail(&key, at, std::time::Duration::from_secs(90)).await.unwrap().unwrap();
    let failed = Settlement::Failed { error: "MessageRejected".into() };
    // Not this attempt's: neither the e-mail's fate nor its webhook is written.
    assert_eq!(store.settle_mail(&key, claimed.attempts + 1, &failed, at, &webhooks).await.unwrap(), Moved::NotOurs);
    assert!(store.due_webhook_deliveries(at, 10).await.unwrap().is_empty(), "no webhook without its fate");
    assert_eq!(store.settle_mail(&key, claimed.attempts, &failed, at, &webhooks).await.unwrap(), Moved::Moved);
    let due: Vec<_> = store.due_webhook_deliveries(at, 10).await.unwrap().iter().map(|d| d.key()).collect();
    assert_eq!(due, [webhooks[0].key()], "the webhook with its fate");
    assert_eq!(store.settle_mail(&key, claimed.attempts, &failed, at, &webhooks).await.unwrap(), Moved::NotOurs);
    assert_eq!(store.due_webhook_deliveries(at, 10).await.unwrap().len(), 1, "once");
}

async fn a_write_is_refused_whole_where_one_of_its_new_items_exists<S: Store>(store: &S) {
    // DynamoDB conditions every new item of a write on its key being free (`attribute_not_exists`): one that
    // exists cancels the write whole, and the adapter reports it as a failure. The fake does the same, write by
    // write, so that a test on it cannot pass where DynamoDB would refuse.
    use ticket_api::domain::webhook::{Endpoint, EventType, Loopback, WebhookUrl};
    use ticket_api::domain::webhook_delivery::{self, EventDetail};
    let (at, demo) = (base(), id("demo-collection"));

    // A new ticket whose first e-mail's key is taken: nothing of the ticket is written.
    let write = new_ticket(1, &[], at);
    assert!(store.add_mail(&write.mail[0]).await.unwrap());
    assert!(store.insert_ticket(&write).await.is_err(), "a new ticket over an existing e-mail: refused");
    assert_eq!(store.get_ticket(&demo, 1).await.unwrap(), None, "no header");
    assert_eq!(store.get_entry(&demo, 1, 1).await.unwrap(), None, "no entry");

    // A new entry whose e-mail's key is taken: the thread and the header stay as they were.
    let write = new_ticket(2, &[], at);
    store.insert_ticket(&write).await.unwrap();
    let when = Now::from_ms(at.ms() + 1000).rfc3339();
    let after = write.ticket.after_entry(2, Role::Team, &when, TicketStatus::Open);
    let mail = ticket_api::domain::outbox::owed(&after, 2, Role::Team, Occasion::Message, &[], &when, at.ms());
    assert!(store.add_mail(&mail[0]).await.unwrap());
    let entry = Entry {
        seq: 2,
        at: when.clone(),
        author: Role::Team,
        message: Some(ticket_api::domain::Message::parse("a reply").unwrap()),
        status: None,
        tags: Default::default(),
        by_email: None,
        attachments: vec![],
        by: None,
        assigned: None,
    };
    let append = AppendWrite {
        before: write.ticket.clone(),
        after,
        entry,
        mail,
        webhooks: vec![],
        received: vec![],
        uploads: vec![],
    };
    assert!(store.append(&append).await.is_err(), "a new entry over an existing e-mail: refused");
    assert_eq!(store.get_ticket(&demo, 2).await.unwrap().unwrap(), write.ticket, "the header as it was");
    assert_eq!(store.get_entry(&demo, 2, 2).await.unwrap(), None, "no entry");

    // An e-mail's fate, and what SES heard of it, whose webhook delivery exists already: neither is written.
    let url = WebhookUrl::parse("https://hooks.example.com/in", Loopback::Refused).unwrap();
    let endpoint = Endpoint::new(url, vec![], at.rfc3339());
    let endpoints = std::collections::BTreeMap::from([(endpoint.id.clone(), endpoint)]);
    let mut write = new_ticket(3, &[], at);
    let key = write.mail[0].key();
    let detail = EventDetail { reason: Some("failed".into()), ..Default::default() };
    let event = EventType::MailUndeliverable;
    let mut webhooks = webhook_delivery::owed(&endpoints, &write.ticket, 1, event, detail, &at.rfc3339(), at.ms());
    webhooks[0].mail = Some(key.index);
    write.webhooks = webhooks.clone();
    store.insert_ticket(&write).await.unwrap();
    let claimed = store.claim_mail(&key, at, Duration::from_secs(90)).await.unwrap().unwrap();
    let failed = Settlement::Failed { error: "MessageRejected".into() };
    assert!(store.settle_mail(&key, claimed.attempts, &failed, at, &webhooks).await.is_err(), "refused");
    assert_eq!(store.get_mail(&key).await.unwrap().unwrap().state, MailState::Sending, "the e-mail as it was");
    let sent = Settlement::Sent { message_id: "ses-1".into() };
    assert_eq!(store.settle_mail(&key, claimed.attempts, &sent, at, &[]).await.unwrap(), Moved::Moved);
    let bounced = Feedback::Bounced { permanent: true, detail: "550 5.1.1".into() };
    assert!(store.record_feedback(&key, &bounced, at, &webhooks).await.is_err(), "refused");
    assert_eq!(store.get_mail(&key).await.unwrap().unwrap().state, MailState::Sent, "the e-mail as it was");
}
