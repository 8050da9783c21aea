//! SES's events about the e-mails it accepted, in the real shapes (events/ses.*.json), through the function's
//! entry on DynamoDB Local and the SES stand-in: each marks its e-mail delivered, bounced or complained, an
//! address that bounced for good or complained is suppressed, and a later e-mail to it is recorded as
//! suppressed without an SES call; lifted, it is sent again. The local stand-in of SES's events speaks the
//! same shape.

use std::sync::Arc;

use crate::helpers::*;
use serde_json::{Value, json};
use ticket_api::domain::{CollectionId, Email, MailKey, MailState};
use ticket_api::driven::CallLog;
use ticket_api::driving::Function;
use ticket_api::driving::ses_events::feedback_of;
use ticket_api::local::context as local_context;
use ticket_api::ports::AdminStore;
use ticket_api::ports::{OutboxStore, SuppressionStore};

fn mail_of(store_mail: &[ticket_api::domain::Mail], index: u32) -> MailState {
    store_mail.iter().find(|m| m.entry == 1 && m.index == index).expect("the e-mail exists").state
}

#[tokio::test]
async fn ses_events_mark_each_email_and_suppress_addresses_that_bounce_or_complain() {
    let sdk = sdk().await;
    // The fixtures speak of demo-collection's ticket 1, to user@email.com and team@example.com.
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let calls = CallLog::default();
    let ses =
        aws_sdk_sesv2::Client::from_conf(aws_sdk_sesv2::config::Builder::from(&sdk).interceptor(calls.clone()).build());
    let service = Arc::new(
        ticket_api::service::TicketService::new(
            local_ports(store.clone(), &sdk).with_mailer(ticket_api::driven::SesMailer::new(ses, SENDER.into())),
            BASE_URL,
        )
        .with_delivery(prompt_delivery()),
    );
    let function = Function::new(service.clone());
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let create = |user: &str| {
        create_request("demo-collection", Some(&expected().keys.granted), "application/json", &good_body(user))
    };
    assert_eq!(call(&app, create("user@email.com")).await.status, 201);
    deliver_now(&service).await;
    let demo = CollectionId::parse("demo-collection").unwrap();
    let states = || async { store.ticket_mail(&demo, 1).await.unwrap() };
    assert_eq!((mail_of(&states().await, 0), mail_of(&states().await, 1)), (MailState::Sent, MailState::Sent));

    let invoke = |name: &str| {
        let event = work_event(name);
        let function = &function;
        async move { function.invoke(&event, local_context()).await.expect("the function answers") }
    };
    assert_eq!(invoke("ses.delivery.json").await, json!({"recorded": true}));
    assert_eq!(mail_of(&states().await, 1), MailState::Delivered, "the team's e-mail was delivered");
    assert_eq!(invoke("ses.delivery.json").await, json!({"recorded": false}), "SES's duplicate moves nothing");
    assert_eq!(invoke("ses.bounce.json").await, json!({"recorded": true}));
    assert_eq!(mail_of(&states().await, 0), MailState::Bounced, "the requester's bounced");
    assert_eq!(invoke("ses.complaint.json").await, json!({"recorded": true}));
    assert_eq!(mail_of(&states().await, 1), MailState::Complained, "then the team marked it as spam");
    let bounced = states().await.into_iter().find(|m| m.index == 0).unwrap();
    assert!(bounced.last_error.unwrap().contains("550 5.1.1"), "the bounce's diagnostic is kept on the record");

    let suppressed = store.suppressions().await.unwrap();
    let listed: Vec<(&str, &str)> = suppressed.iter().map(|s| (s.address.as_str(), s.reason.as_str())).collect();
    assert_eq!(listed, [("user@email.com", "bounce"), ("team@example.com", "complaint")]);
    assert_eq!(suppressed[0].mail, "demo-collection_1_1_0", "with the e-mail it came from");

    // An event about mail that is not this outbox's (no tag, another sender) is answered and dropped.
    let mut foreign = work_event("ses.bounce.json");
    foreign["detail"]["mail"]["tags"].as_object_mut().unwrap().remove("mail");
    assert_eq!(function.invoke(&foreign, local_context()).await.unwrap(), json!({"recorded": false}));

    // A create for a suppressed address: the ticket is stored, its e-mail recorded as suppressed, SES not called.
    calls.clear();
    let created = call(&app, create("USER@email.com")).await;
    assert_eq!(created.status, 201, "a suppressed requester still gets a ticket");
    let report = deliver_now(&service).await;
    assert_eq!(report.suppressed, 2, "the requester's e-mail and the (complaining) team's: {report:?}");
    let sends = calls.calls().iter().filter(|c| c.iam_action() == "ses:SendEmail").count();
    assert_eq!(sends, 0, "no SES call for a suppressed address");
    let second = store.ticket_mail(&demo, 2).await.unwrap();
    assert!(second.iter().all(|m| m.state == MailState::Suppressed), "{second:?}");
    assert!(second[0].last_error.as_deref().unwrap().contains("bounce"), "the reason is on the record");
    let undelivered = ticket_api::ports::OutboxStore::undelivered(&store, Some(&demo)).await.unwrap();
    assert_eq!(undelivered.len(), 2, "suppressed e-mails are listed for the operator (ticketctl mail list)");

    // Lifted (the person fixed their mailbox), a re-send goes out.
    assert!(store.lift_suppression(&Email::parse("user@email.com").unwrap()).await.unwrap());
    let resent = service.resend_failed(&demo, Some(2)).await.unwrap();
    assert_eq!(resent.len(), 2, "both suppressed e-mails are queued again");
    let report = deliver_now(&service).await;
    assert_eq!((report.sent, report.suppressed), (1, 1), "the lifted address is sent to; the other stays suppressed");
}

#[test]
fn the_local_stand_in_of_ses_events_speaks_the_shape_of_the_real_ones() {
    use ticket_api::local::{SesEventKind, ses_event};
    let key = MailKey {
        collection_id: CollectionId::parse("demo-collection").unwrap(),
        ticket_number: 1,
        entry: 1,
        index: 0,
    };
    for (kind, fixture) in [
        (SesEventKind::Delivery, "ses.delivery.json"),
        (SesEventKind::Bounce, "ses.bounce.json"),
        (SesEventKind::Complaint, "ses.complaint.json"),
    ] {
        let real: Value = work_event(fixture);
        let to = real["detail"]["mail"]["destination"][0].as_str().unwrap();
        let tag = real["detail"]["mail"]["tags"]["mail"][0].as_str().unwrap();
        let local = ses_event(kind, to, "local-id", tag);
        assert_eq!(local["detail-type"], real["detail-type"], "{fixture}");
        let (local, real) = (feedback_of(&local).expect("the handler reads it"), feedback_of(&real).unwrap());
        assert_eq!(
            (local.mail.clone(), local.feedback.state(), &local.recipients),
            (real.mail.clone(), real.feedback.state(), &real.recipients),
            "{fixture}"
        );
        assert_eq!(local.feedback.suppresses(), real.feedback.suppresses(), "{fixture}");
    }
    assert_eq!(MailKey::from_tag(&key.tag()), Some(key.clone()), "a tag names its e-mail back");
    let underscored = MailKey { collection_id: CollectionId::parse("a_b-c").unwrap(), ..key };
    assert_eq!(MailKey::from_tag(&underscored.tag()), Some(underscored), "collection ids may hold underscores");
}

#[tokio::test]
async fn an_ses_event_for_an_email_still_being_sent_is_handed_back_and_recorded_once_the_send_is() {
    use ticket_api::domain::{Now, Settlement};
    let sdk = sdk().await;
    let store = seeded_dynamo_store(&sdk, &["team@example.com"]).await;
    let service = Arc::new(
        ticket_api::service::TicketService::new(local_ports(store.clone(), &sdk), BASE_URL)
            .with_delivery(prompt_delivery()),
    );
    let function = Function::new(service.clone());
    let app = ticket_api::driving::http::app::<lambda_http::Body, _>(service.clone());
    let request = create_request(
        "demo-collection",
        Some(&expected().keys.granted),
        "application/json",
        &good_body("user@email.com"),
    );
    assert_eq!(call(&app, request).await.status, 201);
    let key = MailKey {
        collection_id: CollectionId::parse("demo-collection").unwrap(),
        ticket_number: 1,
        entry: 1,
        index: 0,
    };
    // A deliverer has sent it; SES answered and published its delivery before the deliverer recorded the send.
    let claimed = store.claim_mail(&key, now(), std::time::Duration::from_secs(90)).await.unwrap().unwrap();
    let delivered =
        ticket_api::local::ses_event(ticket_api::local::SesEventKind::Delivery, "user@email.com", "m-1", &key.tag());
    let batch = ticket_api::local::sqs_batch(std::slice::from_ref(&delivered));
    let id = batch["Records"][0]["messageId"].clone();
    let answer = function.invoke(&batch, local_context()).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": id}]), "handed back to the queue");
    assert!(function.invoke(&delivered, local_context()).await.is_err(), "handed over directly: an error, retried");
    let state = |mail: Option<ticket_api::domain::Mail>| mail.unwrap().state;
    assert_eq!(state(store.get_mail(&key).await.unwrap()), MailState::Sending, "nothing recorded out of order");

    let sent = Settlement::Sent { message_id: "m-1".into() };
    store.settle_mail(&key, claimed.attempts, &sent, Now::at(std::time::SystemTime::now()), &[]).await.unwrap();
    let answer = function.invoke(&batch, local_context()).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "the queue hands it over again: recorded");
    assert_eq!(state(store.get_mail(&key).await.unwrap()), MailState::Delivered);
    println!("a delivery event for an e-mail still sending: handed back once, recorded once the send was");
}
