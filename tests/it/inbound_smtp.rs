//! Replies by e-mail end to end, as `make run` receives them: SMTP on 127.0.0.1 (SES receiving's stand-in,
//! `tools/ses-receiving.py`) stores each message in moto's S3 and invokes the function through Lambda's Invoke
//! API with SES's receipt event; the function reads the message from S3 (`S3Inbox`), records the reply on
//! DynamoDB Local, and the stream delivers the other side's e-mail to the SES stand-in's mailbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::*;
use serde_json::Value;
use ticket_api::domain::{CollectionId, TicketStatus};
use ticket_api::driving::Function;
use ticket_api::driving::http::app;
use ticket_api::driving::stream::MAPPING;
use ticket_api::ports::TicketStore;
use ticket_api::service::TicketService;

fn demo() -> CollectionId {
    CollectionId::parse("demo-collection").unwrap()
}

/// A reply as Gmail writes one: the answer on top, the e-mail it answers quoted below its attribution line.
fn reply(from: &str, to: &str, text: &str, answered: &Value) -> Vec<u8> {
    let quoted: String =
        answered["body"]["text"].as_str().unwrap().lines().map(|l| format!("> {l}\r\n")).collect::<String>();
    format!(
        "From: <{from}>\r\nTo: {to}\r\nSubject: Re: {}\r\nMessage-ID: <{}@mail.example.com>\r\n\
         Date: Sat, 5 Dec 2026 10:12:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
         \r\n{text}\r\n\r\nOn Sat, 5 Dec 2026 at 10:00, Demo Support <{SENDER}> wrote:\r\n{quoted}",
        answered["subject"].as_str().unwrap_or_default(),
        unique("m")
    )
    .into_bytes()
}

fn reply_address(mail: &Value) -> String {
    mail["replyTo"][0].as_str().expect("every e-mail carries its reply address").to_owned()
}

#[tokio::test]
async fn replies_sent_over_smtp_to_the_reply_addresses_land_in_the_thread_and_reach_the_other_side() {
    let sdk = sdk().await;
    let team = format!("{}@example.com", unique("team"));
    let requester = format!("{}@email.com", unique("user"));
    let store = seeded_dynamo_store(&sdk, &[&team]).await;
    let bucket = inbound_bucket(&sdk).await;
    let ports = local_ports(store.clone(), &sdk).with_inbox(s3_inbox(&sdk, &bucket));
    let service = Arc::new(
        TicketService::new(ports, BASE_URL)
            .with_delivery(stream_delivery())
            .with_inbound_domain(Some(INBOUND_DOMAIN.into())),
    );
    let function = Arc::new(Function::new(service.clone()));
    let _stream = start_stream(&sdk, &store, function.clone(), MAPPING).await;
    let (invoke_url, _invoke_api) = serve_invoke_api(function).await;
    let smtp = SesReceiving::start(&bucket, &invoke_url).await;
    let app = app::<lambda_http::Body, _>(service);

    let key = expected().keys.granted;
    let created = call(&app, create_request("demo-collection", Some(&key), "application/json", &good_body(&requester)));
    assert_eq!(created.await.status, 201);
    let to_requester = wait_for_mail(&requester, 1, Duration::from_secs(10)).await;
    let to_team = wait_for_mail(&team, 1, Duration::from_secs(10)).await;
    let (requester_address, team_address) = (reply_address(&to_requester[0]), reply_address(&to_team[0]));
    assert!(requester_address.ends_with(&format!("@{INBOUND_DOMAIN}")) && requester_address != team_address);

    // The requester answers their e-mail: a reply by the requester, without the quote, e-mailed to the team.
    let sent = Instant::now();
    let text = "Thanks! Is there a discount for non-profits?";
    let raw = reply(&requester, &requester_address, text, &to_requester[0]);
    let accepted = smtp
        .send(&requester, &requester_address, &raw)
        .await
        .expect("the stand-in accepts a message to a reply address");
    let to_team = wait_for_mail(&team, 2, Duration::from_secs(15)).await;
    let requester_reply_took = sent.elapsed();
    assert_eq!(to_team.len(), 2, "the requester's reply reached the team's mailbox");
    assert!(to_team[1]["body"]["text"].as_str().unwrap().contains(text), "{}", to_team[1]["body"]["text"]);
    let thread = store.thread(&demo(), 1).await.unwrap();
    let entry = &thread[1];
    assert_eq!((entry.author.as_str(), entry.message.as_ref().unwrap().as_str()), ("requester", text));
    assert_eq!(entry.by_email.as_ref().unwrap().from.as_str(), requester);
    assert_eq!(
        to_team[1]["headers"].as_array().map(|h| h.iter().any(|h| h["name"] == "In-Reply-To")),
        Some(true),
        "threaded with the ticket's other e-mails"
    );

    // A team member answers the team's e-mail: a reply by the team, e-mailed to the requester.
    let sent = Instant::now();
    let text = "Yes: 50% for registered non-profits. Reply with your registration number.";
    smtp.send(&team, &team_address, &reply(&team, &team_address, text, &to_team[1])).await.expect("accepted");
    let to_requester = wait_for_mail(&requester, 2, Duration::from_secs(15)).await;
    let team_reply_took = sent.elapsed();
    assert_eq!(to_requester.len(), 2, "the team's reply reached the requester's mailbox");
    assert!(to_requester[1]["body"]["text"].as_str().unwrap().contains(text));
    let thread = store.thread(&demo(), 1).await.unwrap();
    assert_eq!((thread[2].author.as_str(), thread[2].message.as_ref().unwrap().as_str()), ("team", text));
    assert_eq!(store.get_ticket(&demo(), 1).await.unwrap().unwrap().status, TicketStatus::Open);

    // More team replies, each timed from SMTP's acceptance to the requester's e-mail in the mailbox (make bench
    // asks for more of them with INBOUND_SAMPLES; the team link's hourly limit is 100).
    let samples: usize = std::env::var("INBOUND_SAMPLES").ok().and_then(|n| n.parse().ok()).unwrap_or(5).min(90);
    let mut took = Vec::with_capacity(samples);
    for i in 0..samples {
        let raw = reply(&team, &team_address, &format!("Follow-up {i}."), &to_team[1]);
        let sent = Instant::now();
        smtp.send(&team, &team_address, &raw).await.expect("accepted");
        let arrived = wait_for_mail(&requester, 3 + i, Duration::from_secs(15)).await;
        assert_eq!(arrived.len(), 3 + i, "follow-up {i} reached the requester");
        took.push(sent.elapsed());
    }
    let mut at = |q: f64| quantile(&mut took, q);
    println!(
        "inbound end to end: {samples} samples, p50 {:.1} ms, p99 {:.1} ms (SMTP accepted -> the other side's e-mail)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );

    // A sending server that lost SES's answer sends the same message again: SES receives it a second time, with
    // an id of its own; recorded once, by its Message-ID.
    let twice = reply(&requester, &requester_address, "Sent twice by my server.", &to_requester[0]);
    smtp.send(&requester, &requester_address, &twice).await.expect("accepted");
    smtp.send(&requester, &requester_address, &twice).await.expect("accepted again");
    let queue = invoke_url.replace("/2015-03-31/functions/function/invocations", "/queues/replies");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state: Value = reqwest::get(&queue).await.unwrap().json().await.unwrap();
        if state["inFlight"] == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let thread = store.thread(&demo(), 1).await.unwrap();
    let sent_twice =
        thread.iter().filter(|e| e.message.as_ref().is_some_and(|m| m.as_str().contains("Sent twice"))).count();
    assert_eq!(sent_twice, 1, "the same .eml sent twice over SMTP is one entry");
    let samples = samples + 1;

    // SES may deliver one message twice: the same receipt again records nothing.
    let id = accepted.rsplit(' ').next().unwrap();
    let again = serde_json::json!({"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0", "ses": {
        "mail": {"messageId": id, "source": requester, "timestamp": "2026-12-05T10:12:00.000Z", "destination": [&requester_address],
                 "headersTruncated": false, "headers": [],
                 "commonHeaders": {"returnPath": requester, "from": [&requester], "to": [&requester_address],
                                   "date": "Sat, 5 Dec 2026 10:12:00 +0000", "messageId": "<m@mail.example.com>", "subject": "Re"}},
        "receipt": {"recipients": [&requester_address], "timestamp": "2026-12-05T10:12:00.000Z", "processingTimeMillis": 1,
                    "spamVerdict": {"status": "PASS"}, "virusVerdict": {"status": "PASS"}, "spfVerdict": {"status": "PASS"},
                    "dkimVerdict": {"status": "PASS"}, "dmarcVerdict": {"status": "PASS"},
                    "action": {"type": "Lambda", "invocationType": "Event", "functionArn": "arn:aws:lambda:us-east-1:0:function:f"}}}}]});
    let answer: Value =
        reqwest::Client::new().post(&invoke_url).json(&again).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer, serde_json::json!({"received": ["already_recorded"]}));
    assert_eq!(store.thread(&demo(), 1).await.unwrap().len(), 3 + samples, "one entry, whatever the retries");

    // A message to an address at another domain is refused at RCPT, as SES refuses mail it has no rule for.
    let refused = smtp.send(&requester, "someone@example.com", b"Subject: x\r\n\r\nx\r\n").await;
    assert!(refused.as_ref().is_err_and(|e| e.starts_with("550")), "{refused:?}");
    println!(
        "SMTP accepted -> the other side's e-mail in the mailbox: requester's reply {requester_reply_took:?}, \
         team's reply {team_reply_took:?}; a second delivery of a message recorded nothing"
    );
}
