//! Replies by e-mail, on in-memory ports: what SES receiving hands the service becomes a reply on the ticket in
//! the role its reply address names (with the page's effects, limits and e-mails), or nothing at all, at no
//! cost: no entry, no status change, no count, no e-mail (but the one notice a closed ticket's sender gets).

use std::time::Duration;

use crate::helpers::*;
use ticket_api::domain::inbound::{DmarcPolicy, Receipt, Verdict, Verdicts};
use ticket_api::domain::{CollectionId, OutgoingEmail, TicketStatus};
use ticket_api::service::Received;

/// A ticket of demo-collection whose two e-mails went out, and the reply addresses they carry.
pub(crate) struct Replying {
    pub app: MemoryApp,
    pub requester_address: String,
    pub team_address: String,
}

pub(crate) async fn replying() -> Replying {
    let app = memory_app();
    assert_eq!(call(&app.app, event("http-api.created.json")).await.status, 201);
    app.deliver().await;
    let reply_to = |to: &str| {
        let sent: Vec<OutgoingEmail> = app.mailer.sent().into_iter().filter(|m| m.to.as_str() == to).collect();
        sent[0].reply_to.as_ref().expect("every e-mail has a reply address").as_str().to_owned()
    };
    let (requester_address, team_address) = (reply_to("user@email.com"), reply_to("support@example.com"));
    Replying { app, requester_address, team_address }
}

/// A plain-text message as a mail client sends it.
pub(crate) fn message(from: &str, to: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Someone <{from}>\r\nTo: {to}\r\nSubject: Re: [Demo Support] Ticket #1: Enquiry about pricing\r\n\
         Message-ID: <{}@mail.example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         {headers}\r\n{body}",
        unique("m")
    )
    .into_bytes()
}

pub(crate) fn receipt(id: &str, to: &str, source: &str) -> Receipt {
    Receipt {
        message_id: id.into(),
        recipients: vec![to.into()],
        source: source.into(),
        verdicts: Verdicts::PASSED,
        dmarc_policy: DmarcPolicy::None,
    }
}

impl Replying {
    /// Hands the service a message SES received, stored first as SES's S3 action would.
    pub(crate) async fn receive(&self, receipt: &Receipt, raw: Vec<u8>) -> Vec<Received> {
        self.app.inbox.put(&receipt.message_id, raw);
        self.app.service.receive(receipt).await.expect("the memory ports answer")
    }

    pub(crate) fn ticket(&self) -> ticket_api::domain::Ticket {
        self.app.store.tickets().remove(0)
    }

    pub(crate) async fn thread(&self) -> Vec<ticket_api::domain::Entry> {
        use ticket_api::ports::TicketStore;
        self.app.store.thread(&CollectionId::parse("demo-collection").unwrap(), 1).await.unwrap()
    }
}

#[tokio::test]
async fn a_reply_to_either_address_lands_in_the_thread_as_its_role_without_the_quote_and_reaches_the_other_side() {
    let r = replying().await;
    let quoted = "Thanks, that explains it.\n\nOn Mon, 1 Dec 2026 at 09:13, Demo Support <tickets@example.com> \
                  wrote:\n> -- Reply above this line --\n> We received your ticket #1";
    let from_requester = receipt("m-requester", &r.requester_address, "user@email.com");
    let raw = message("user@email.com", &r.requester_address, "", quoted);
    assert_eq!(r.receive(&from_requester, raw).await, [Received::Recorded]);
    let thread = r.thread().await;
    let entry = &thread[1];
    assert_eq!((entry.seq, entry.author.as_str()), (2, "requester"));
    assert_eq!(entry.message.as_ref().unwrap().as_str(), "Thanks, that explains it.", "the quote is not recorded");
    assert_eq!(entry.by_email.as_ref().unwrap().from.as_str(), "user@email.com");

    let sent_before = r.app.mailer.sent().len();
    r.app.deliver().await;
    let to_team: Vec<_> = r.app.mailer.sent()[sent_before..].to_vec();
    assert_eq!(to_team.len(), 1, "the requester's reply is e-mailed to the team");
    assert_eq!(to_team[0].to.as_str(), "support@example.com");
    assert!(to_team[0].content.text.contains("Thanks, that explains it."));

    let from_team = receipt("m-team", &r.team_address, "agent@example.com");
    let raw = message("agent@example.com", &r.team_address, "", "Glad to help.\n\n-- \nAgent Smith\nDemo Support");
    assert_eq!(r.receive(&from_team, raw).await, [Received::Recorded]);
    let thread = r.thread().await;
    assert_eq!((thread[2].author.as_str(), thread[2].message.as_ref().unwrap().as_str()), ("team", "Glad to help."));
    r.app.deliver().await;
    let last = r.app.mailer.sent().pop().unwrap();
    assert_eq!(last.to.as_str(), "user@email.com", "the team's reply is e-mailed to the requester");
    assert!(last.content.text.contains("Glad to help."));

    // SES hands over the same message again: recorded once.
    let raw = message("user@email.com", &r.requester_address, "", quoted);
    assert_eq!(r.receive(&from_requester, raw).await, [Received::AlreadyRecorded]);
    assert_eq!(r.ticket().entries, 3);
    println!("two replies by e-mail recorded as their roles, each e-mailed to the other side; a repeat recorded once");
}

#[tokio::test]
async fn a_requesters_reply_by_email_reopens_a_resolved_ticket_and_counts_against_the_links_hourly_limit() {
    let r = replying().await;
    let resolve = axum::http::Request::post("/ticket/demo-collection/1/status")
        .header("x-api-key", expected().keys.granted)
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(r#"{"status":"resolved"}"#))
        .unwrap();
    assert_eq!(call(&r.app.app, resolve).await.status, 200);
    let raw = message("user@email.com", &r.requester_address, "", "Actually, one more thing.");
    assert_eq!(r.receive(&receipt("m-1", &r.requester_address, "user@email.com"), raw).await, [Received::Recorded]);
    assert_eq!(r.ticket().status, TicketStatus::Open, "a requester's reply opens a resolved ticket again");

    let mut collection = r.app.store.collection(&CollectionId::parse("demo-collection").unwrap()).unwrap();
    collection.rate_limits.per_ticket_replies = 1;
    r.app.store.add_collection(collection);
    let raw = message("user@email.com", &r.requester_address, "", "And another.");
    let limited = r.receive(&receipt("m-2", &r.requester_address, "user@email.com"), raw).await;
    assert_eq!(limited, [Received::Limited { noticed: true }], "its sender is told, once this hour");
    assert_eq!(r.ticket().entries, 3, "the limited reply stored nothing");
    r.app.clock.advance(Duration::from_secs(3_600));
    let raw = message("user@email.com", &r.requester_address, "", "And another.");
    assert_eq!(r.receive(&receipt("m-3", &r.requester_address, "user@email.com"), raw).await, [Received::Recorded]);
}

#[tokio::test]
async fn what_must_not_be_recorded_is_not_and_costs_nothing() {
    let r = replying().await;
    let (to, from) = (r.requester_address.clone(), "user@email.com");
    let wrong_tag = {
        let (local, domain) = to.split_once('@').unwrap();
        let (rest, tag) = local.rsplit_once('.').unwrap();
        let flipped: String = tag.chars().rev().collect();
        format!("{rest}.{flipped}@{domain}")
    };
    let verdicts = |f: fn(&mut Verdicts)| {
        let mut v = Verdicts::PASSED;
        f(&mut v);
        v
    };
    let plain = |body: &str| message(from, &to, "", body);
    let cases: Vec<(&str, Receipt, Vec<u8>, Received)> = vec![
        (
            "a recipient that is no reply address",
            receipt("c1", "support@example.com", from),
            plain("x"),
            Received::NotAReplyAddress,
        ),
        (
            "a reply address at another domain",
            receipt("c2", &to.replace(INBOUND_DOMAIN, "other.example.com"), from),
            plain("x"),
            Received::NotAReplyAddress,
        ),
        ("a tag that does not verify", receipt("c3", &wrong_tag, from), plain("x"), Received::NotVerified),
        (
            "spam",
            Receipt { verdicts: verdicts(|v| v.spam = Verdict::Fail), ..receipt("c4", &to, from) },
            plain("x"),
            Received::Spam,
        ),
        (
            "a virus",
            Receipt { verdicts: verdicts(|v| v.virus = Verdict::Fail), ..receipt("c5", &to, from) },
            plain("x"),
            Received::Virus,
        ),
        (
            "DMARC failed, its domain asking for refusal (p=reject)",
            Receipt {
                verdicts: verdicts(|v| v.dmarc = Verdict::Fail),
                dmarc_policy: DmarcPolicy::Reject,
                ..receipt("c6", &to, from)
            },
            plain("x"),
            Received::Forged,
        ),
        (
            "DMARC failed, its domain asking for quarantine (p=quarantine)",
            Receipt {
                verdicts: verdicts(|v| {
                    v.spf = Verdict::Fail;
                    v.dkim = Verdict::Fail;
                    v.dmarc = Verdict::Fail
                }),
                dmarc_policy: DmarcPolicy::Quarantine,
                ..receipt("c7", &to, from)
            },
            plain("x"),
            Received::Forged,
        ),
        ("an empty return path (a bounce)", receipt("c8", &to, ""), plain("x"), Received::Automatic),
        (
            "Auto-Submitted: auto-replied",
            receipt("c9", &to, from),
            message(from, &to, "Auto-Submitted: auto-replied\r\n", "I am away"),
            Received::Automatic,
        ),
        (
            "Precedence: bulk",
            receipt("c10", &to, from),
            message(from, &to, "Precedence: bulk\r\n", "news"),
            Received::Automatic,
        ),
        (
            "X-Autoreply",
            receipt("c11", &to, from),
            message(from, &to, "X-Autoreply: yes\r\n", "away"),
            Received::Automatic,
        ),
        (
            "a delivery report",
            receipt("c12", &to, from),
            message(from, &to, "", "x")
                .replace_content_type("multipart/report; report-type=delivery-status; boundary=b"),
            Received::Automatic,
        ),
        (
            "this deployment's own e-mail, come back (a forwarding rule)",
            receipt("c13", &to, SENDER),
            message(SENDER, &to, "X-Ticket-Api-Mail: demo-collection_1_1_0\r\n", "We received your ticket #1"),
            Received::OwnMail,
        ),
        (
            "from an address at the reply domain (one of ours answering another)",
            receipt("c14", &to, &format!("demo-collection.2.r.abc@{INBOUND_DOMAIN}")),
            message(&format!("demo-collection.2.r.abc@{INBOUND_DOMAIN}"), &to, "", "loop"),
            Received::OwnMail,
        ),
        ("not MIME at all", receipt("c15", &to, from), Vec::new(), Received::Unreadable),
    ];
    let before = (r.ticket(), r.app.store.mail().len(), r.app.store.counts(), r.app.mailer.sent().len());
    let reads_before = r.app.inbox.reads();
    for (what, receipt, raw, expected) in cases {
        let refused_before_reading = matches!(
            expected,
            Received::NotAReplyAddress | Received::NotVerified | Received::Spam | Received::Virus | Received::Forged
        ) || what.starts_with("an empty return path");
        let reads = r.app.inbox.reads();
        assert_eq!(r.receive(&receipt, raw).await, [expected], "{what}");
        if refused_before_reading {
            assert_eq!(r.app.inbox.reads(), reads, "{what}: refused before the message was read");
        }
    }
    r.app.deliver().await;
    let after = (r.ticket(), r.app.store.mail().len(), r.app.store.counts(), r.app.mailer.sent().len());
    assert_eq!(after, before, "no entry, no status change, no count, no e-mail");
    println!(
        "15 messages refused, {} of them read; nothing stored, counted or sent",
        r.app.inbox.reads() - reads_before
    );
}

trait ReplaceContentType {
    fn replace_content_type(self, to: &str) -> Vec<u8>;
}

impl ReplaceContentType for Vec<u8> {
    fn replace_content_type(self, to: &str) -> Vec<u8> {
        String::from_utf8(self).unwrap().replace("text/plain; charset=utf-8", to).into_bytes()
    }
}

#[tokio::test]
async fn a_reply_that_quotes_a_link_in_a_way_not_recognised_as_a_quote_records_no_credential() {
    let r = replying().await;
    let team_mail = r.app.mailer.sent().into_iter().find(|m| m.to.as_str() == "support@example.com").unwrap();
    let link =
        team_mail.content.text.lines().find(|l| l.contains("teamKey=")).expect("the team link").trim().to_owned();
    let key = link.rsplit("teamKey=").next().unwrap().to_owned();
    // A client that quotes with a bar of its own, and the reply address itself pasted in.
    let body = format!("Fixed on our side.\n\n| {link}\n| write to {}", r.team_address);
    let receipt = receipt("q1", &r.team_address, "support@example.com");
    let raw = message("support@example.com", &r.team_address, "", &body);
    assert_eq!(r.receive(&receipt, raw).await, [Received::Recorded]);
    let text = r.thread().await[1].message.clone().unwrap();
    assert!(!text.as_str().contains(&key), "the team key is not recorded: {text:?}");
    let tag = r.team_address.split('.').nth(3).unwrap().split('@').next().unwrap().to_owned();
    assert!(!text.as_str().contains(&tag), "nor the reply address's tag: {text:?}");
    assert!(text.as_str().starts_with("Fixed on our side.") && text.as_str().contains("teamKey=[removed]"));
}

#[tokio::test]
async fn a_reply_to_a_closed_ticket_records_nothing_and_its_sender_hears_so_once_an_hour() {
    let r = replying().await;
    let close = axum::http::Request::post("/ticket/demo-collection/1/status")
        .header("x-api-key", expected().keys.granted)
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(r#"{"status":"closed"}"#))
        .unwrap();
    assert_eq!(call(&r.app.app, close).await.status, 200);
    r.app.deliver().await;
    let entries = r.ticket().entries;
    let sent = r.app.mailer.sent().len();
    let to = r.requester_address.clone();
    let send = |id: &str, from: &str| (receipt(id, &to, from), message(from, &to, "", "Is anyone there?"));
    let (first, raw) = send("k1", "user@email.com");
    assert_eq!(r.receive(&first, raw).await, [Received::Closed { noticed: true }]);
    let (second, raw) = send("k2", "user@email.com");
    assert_eq!(r.receive(&second, raw).await, [Received::Closed { noticed: false }], "one notice an hour");
    r.app.deliver().await;
    let notices: Vec<_> = r.app.mailer.sent()[sent..].to_vec();
    assert_eq!(notices.len(), 1);
    let notice = &notices[0];
    assert_eq!(notice.to.as_str(), "user@email.com");
    assert!(
        notice.content.text.contains("not recorded") && notice.content.text.contains("?key="),
        "{}",
        notice.content.text
    );
    assert_eq!(notice.reply_to, None, "a notice invites no reply");
    assert!(notice.headers.iter().any(|(n, v)| *n == "Auto-Submitted" && v == "auto-replied"));
    assert_eq!(r.ticket().entries, entries, "nothing recorded");

    // The next hour, from someone the requester forwarded the e-mail to: told, without the requester's link.
    r.app.clock.advance(Duration::from_secs(3_600));
    let (third, raw) = send("k3", "friend@example.org");
    assert_eq!(r.receive(&third, raw).await, [Received::Closed { noticed: true }]);
    r.app.deliver().await;
    let notice = r.app.mailer.sent().pop().unwrap();
    assert_eq!(notice.to.as_str(), "friend@example.org");
    assert!(!notice.content.text.contains("?key="), "no link to a stranger: {}", notice.content.text);

    // The hour after, from a sender DMARC does not vouch for (SPF passed for some envelope domain, the From
    // domain has no DMARC policy): no notice, so that a forged From draws no backscatter.
    r.app.clock.advance(Duration::from_secs(3_600));
    let (mut fourth, raw) = send("k4", "user@email.com");
    fourth.verdicts.dkim = Verdict::Gray;
    fourth.verdicts.dmarc = Verdict::Gray;
    let sent = r.app.mailer.sent().len();
    assert_eq!(r.receive(&fourth, raw).await, [Received::Closed { noticed: false }]);
    r.app.deliver().await;
    assert_eq!(r.app.mailer.sent().len(), sent, "no notice to an unauthenticated sender");
}

#[tokio::test]
async fn the_same_message_delivered_twice_with_new_ses_ids_is_recorded_once() {
    // A sending server that lost SES's 250 sends the message again: SES receives it twice, with two ids of its
    // own; its Message-ID is the same, and so is the reply.
    let r = replying().await;
    let raw = message("user@email.com", &r.requester_address, "", "Sent once, delivered twice.");
    let first = r.receive(&receipt("d-1", &r.requester_address, "user@email.com"), raw.clone()).await;
    let second = r.receive(&receipt("d-2", &r.requester_address, "user@email.com"), raw).await;
    assert_eq!((first, second), (vec![Received::Recorded], vec![Received::AlreadyRecorded]));
    assert_eq!(r.ticket().entries, 2, "one entry");
    r.app.deliver().await;
    let to_team = r.app.mailer.sent().iter().filter(|m| m.content.text.contains("Sent once, delivered")).count();
    assert_eq!(to_team, 1, "one e-mail to the team");
}

#[tokio::test]
async fn a_team_reply_from_a_shared_mailbox_that_is_also_the_sender_address_is_recorded() {
    // Loops are known by what this service puts on its own mail, not by From: a team whose shared mailbox is the
    // address the deployment sends from answers like anyone.
    let r = replying().await;
    let raw = message(SENDER, &r.team_address, "", "Answered from the shared mailbox.");
    assert_eq!(r.receive(&receipt("s-1", &r.team_address, SENDER), raw).await, [Received::Recorded]);
    let entry = r.thread().await.pop().unwrap();
    assert_eq!((entry.author.as_str(), entry.by_email.unwrap().from.as_str()), ("team", SENDER));
}

#[tokio::test]
async fn dmarc_failing_under_p_none_is_recorded_as_not_authenticated_and_under_p_reject_refused() {
    let r = replying().await;
    let failing = |id: &str, policy| Receipt {
        verdicts: Verdicts { dmarc: Verdict::Fail, dkim: Verdict::Fail, ..Verdicts::PASSED },
        dmarc_policy: policy,
        ..receipt(id, &r.requester_address, "user@email.com")
    };
    let raw = || message("user@email.com", &r.requester_address, "", "Forwarded through my university.");
    assert_eq!(r.receive(&failing("p-none", DmarcPolicy::None), raw()).await, [Received::Recorded]);
    let entry = r.thread().await.pop().unwrap();
    assert!(entry.by_email.unwrap().unauthenticated, "recorded, marked not authenticated");
    let team_view = axum::http::Request::get("/ticket/demo-collection/1")
        .header("x-api-key", expected().keys.granted)
        .body(lambda_http::Body::Empty)
        .unwrap();
    let shown = call(&r.app.app, team_view).await;
    assert_eq!(shown.body["thread"][1]["byEmail"]["unauthenticated"], true, "the team sees it");
    let raw = message("user@email.com", &r.requester_address, "", "Spoofed.");
    assert_eq!(r.receive(&failing("p-reject", DmarcPolicy::Reject), raw).await, [Received::Forged]);
    assert_eq!(r.ticket().entries, 2, "p=reject: nothing recorded");
}

#[tokio::test]
async fn a_reply_that_is_only_an_attachment_is_recorded_listing_it_and_keeps_the_file() {
    let r = replying().await;
    let raw = format!(
        "From: user@email.com\r\nTo: {to}\r\nSubject: Re: ticket\r\nMessage-ID: <att-only@example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: image/png\r\nContent-Disposition: attachment; filename=\"error.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n",
        to = r.requester_address
    );
    let outcome = r.receive(&receipt("a-1", &r.requester_address, "user@email.com"), raw.into_bytes()).await;
    assert_eq!(outcome, [Received::Recorded]);
    let entry = r.thread().await.pop().unwrap();
    assert_eq!(entry.message.unwrap().as_str(), "(Attachments only: error.png.)");
    assert_eq!(entry.attachments[0].file_name, "error.png", "kept as a file of the entry");
}

#[tokio::test]
async fn a_reply_with_nothing_new_or_over_the_limit_tells_its_sender_once_an_hour() {
    let r = replying().await;
    let to = r.requester_address.clone();
    let quoted_only = "\n\nOn Mon, 1 Dec 2026, Demo Support wrote:\n> all quoted\n";
    let raw = message("user@email.com", &to, "", quoted_only);
    assert_eq!(r.receive(&receipt("e-1", &to, "user@email.com"), raw).await, [Received::Empty { noticed: true }]);
    let raw = message("user@email.com", &to, "", quoted_only);
    assert_eq!(r.receive(&receipt("e-2", &to, "user@email.com"), raw).await, [Received::Empty { noticed: false }]);
    let sent = r.app.mailer.sent().len();
    r.app.deliver().await;
    let notices: Vec<OutgoingEmail> = r.app.mailer.sent()[sent..].to_vec();
    assert_eq!(notices.len(), 1, "one notice an hour");
    assert!(notices[0].content.text.contains("nothing new was found"), "{}", notices[0].content.text);
    assert!(notices[0].headers.iter().any(|(n, v)| *n == "Auto-Submitted" && v == "auto-replied"));
    assert_eq!(r.ticket().entries, 1, "nothing recorded");
}

#[tokio::test]
async fn a_reply_that_loses_the_race_with_a_rotation_of_its_links_is_not_recorded() {
    // The reply address verified against the ticket as read; its links were rotated before the entry was
    // written: read again, the address opens nothing, and nothing is recorded.
    let r = replying().await;
    let demo = CollectionId::parse("demo-collection").unwrap();
    r.app.store.rotate_links_before_next_append(&demo, 1);
    let raw = message("user@email.com", &r.requester_address, "", "Just in time?");
    assert_eq!(r.receive(&receipt("r-1", &r.requester_address, "user@email.com"), raw).await, [Received::NotVerified]);
    assert_eq!(r.ticket().entries, 1, "not recorded with a rotated-away address");
}

#[tokio::test(start_paused = true)]
async fn a_reply_received_while_the_store_is_down_for_five_minutes_is_recorded_after_without_a_person() {
    // The receipt reaches the function through the replies' queue, with the deployment's policy: a failed batch
    // item is handed over again after the visibility timeout, up to the most receives (about an hour). Tokio's
    // clock is paused: the queue's waits pass at once, in their order.
    use std::sync::Arc;
    use ticket_api::driving::Function;
    use ticket_api::driving::ses_receipts::{RECEIPTS_MAX_RECEIVES, RECEIPTS_VISIBILITY};
    use ticket_api::local::LocalQueue;
    let r = replying().await;
    let raw = message("user@email.com", &r.requester_address, "", "Written during the outage.");
    r.app.inbox.put("outage-1", raw);
    let notification = serde_json::json!({
        "notificationType": "Received",
        "mail": {"messageId": "outage-1", "source": "user@email.com",
                 "commonHeaders": {"from": ["user@email.com"], "to": [&r.requester_address]}},
        "receipt": {"recipients": [&r.requester_address], "spamVerdict": {"status": "PASS"},
                    "virusVerdict": {"status": "PASS"}, "spfVerdict": {"status": "PASS"},
                    "dkimVerdict": {"status": "PASS"}, "dmarcVerdict": {"status": "PASS"}, "dmarcPolicy": "none"}
    });
    let function = Arc::new(Function::new(r.app.service.clone()));
    let queue = LocalQueue::start(function, RECEIPTS_VISIBILITY, RECEIPTS_MAX_RECEIVES, None);

    let started = tokio::time::Instant::now();
    r.app.store.set_unavailable(true);
    queue.send(notification.to_string());
    tokio::time::sleep(Duration::from_secs(5 * 60 + 1)).await;
    assert_eq!(r.ticket().entries, 1, "nothing recorded while the store is down");
    assert_eq!(queue.in_flight(), 1, "the receipt waits in the queue");
    r.app.store.set_unavailable(false);
    while queue.in_flight() > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let took = started.elapsed();
    let entry = r.thread().await.pop().unwrap();
    assert_eq!(entry.message.unwrap().as_str(), "Written during the outage.", "recorded once the store is back");
    assert!(took < RECEIPTS_VISIBILITY * RECEIPTS_MAX_RECEIVES, "within the queue's hour: {took:?}");
    println!("a reply received during a 5-minute outage: recorded {took:?} after it came, by the queue's retries");
}
