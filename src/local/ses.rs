//! The stand-in for SES's event publishing through the configuration set: a mailer around the real one that, for
//! every e-mail SES (the local stand-in) accepted, queues the EventBridge event SES would publish: a delivery,
//! or a bounce or a complaint for the mailbox simulator's addresses. `run_ses_events` hands the queued events to
//! the function, as the EventBridge rule does.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::domain::random::random_hex;
use crate::domain::{Now, OutgoingEmail};
use crate::driving::Function;
use crate::ports::{Mailer, Ports, SendError, Unavailable};

/// The mailbox simulator's addresses whose e-mails bounce for good or draw a complaint, as SES's do.
pub const SIMULATOR_BOUNCE: &str = "bounce@simulator.amazonses.com";
pub const SIMULATOR_COMPLAINT: &str = "complaint@simulator.amazonses.com";

/// The stand-in for SES's event publishing through the configuration set: a mailer around the real one that,
/// for every e-mail SES (the local stand-in) accepted, queues the EventBridge event SES would publish, a
/// delivery, or a bounce or a complaint for the mailbox simulator's addresses. `run_ses_events` hands the
/// queued events to the function, as the EventBridge rule does.
pub struct SesEventsStandIn<M> {
    inner: M,
    events: tokio::sync::mpsc::UnboundedSender<Value>,
}

/// The mailer, and the queue of the events its sends cause.
pub fn ses_events<M: Mailer>(inner: M) -> (SesEventsStandIn<M>, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (events, queue) = tokio::sync::mpsc::unbounded_channel();
    (SesEventsStandIn { inner, events }, queue)
}

impl<M: Mailer> Mailer for SesEventsStandIn<M> {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let message_id = self.inner.send(email).await?;
        let kind = match email.to.as_str() {
            SIMULATOR_BOUNCE => SesEventKind::Bounce,
            SIMULATOR_COMPLAINT => SesEventKind::Complaint,
            _ => SesEventKind::Delivery,
        };
        let _ = self.events.send(ses_event(kind, email.to.as_str(), &message_id, &email.tag));
        Ok(message_id)
    }

    async fn max_send_rate(&self) -> Result<f64, Unavailable> {
        self.inner.max_send_rate().await
    }
}

/// How often a queued event is handed over before it is given up on (`template.yaml`'s `maxReceiveCount`), and
/// the visibility timeout's stand-in: how long a record the function named waits before it comes back.
const MAX_RECEIVES: u32 = 30;
const VISIBILITY: Duration = Duration::from_secs(1);

/// The queue's stand-in: invokes the function with each SES event, a moment after its send, as a one-record
/// batch of `SesEventsQueue`, as the event source mapping would; a record the answer names comes back after the
/// visibility timeout, at most `MAX_RECEIVES` times in all.
pub async fn run_ses_events<P: Ports>(
    function: Arc<Function<P>>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Value>,
) {
    while let Some(event) = queue.recv().await {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let function = function.clone();
        tokio::spawn(async move {
            let batch = sqs_batch(&[event]);
            for _ in 0..MAX_RECEIVES {
                match function.invoke(&batch, super::context()).await {
                    Ok(answer) if answer["batchItemFailures"].as_array().is_none_or(Vec::is_empty) => return,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the SES events' batch failed"),
                }
                tokio::time::sleep(VISIBILITY).await;
            }
            tracing::error!("an SES event was given up on (the dead-letter queue's stand-in)");
        });
    }
}

/// SES's events as a batch of `SesEventsQueue`, in the shape Lambda's event source mapping hands SQS messages
/// over (each body an EventBridge event, as the rule's target writes it).
pub fn sqs_batch(events: &[Value]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .map(|event| {
            json!({
                "messageId": random_hex::<16>(),
                "receiptHandle": random_hex::<32>(),
                "body": event.to_string(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": Now::at(SystemTime::now()).ms().to_string(),
                    "SenderId": "AIDAEVENTBRIDGE",
                    "ApproximateFirstReceiveTimestamp": Now::at(SystemTime::now()).ms().to_string()
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ticket-api-local-SesEventsQueue",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SesEventKind {
    Delivery,
    Bounce,
    Complaint,
}

/// An SES event as the configuration set's EventBridge destination publishes it (the shape of
/// `events/ses.*.json`, AWS's own examples), for one e-mail with its `mail` tag.
pub fn ses_event(kind: SesEventKind, to: &str, message_id: &str, tag: &str) -> Value {
    let now = Now::at(SystemTime::now()).rfc3339();
    let (detail_type, event_type) = match kind {
        SesEventKind::Delivery => ("Email Delivered", "Delivery"),
        SesEventKind::Bounce => ("Email Bounced", "Bounce"),
        SesEventKind::Complaint => ("Email Complaint Received", "Complaint"),
    };
    let mut detail = json!({
        "eventType": event_type,
        "mail": {
            "timestamp": now,
            "source": "support@ticket-api.localhost",
            "sendingAccountId": "000000000000",
            "messageId": message_id,
            "destination": [to],
            "headersTruncated": false,
            "tags": {"ses:configuration-set": ["ticket-api-local"], "mail": [tag]}
        }
    });
    match kind {
        SesEventKind::Delivery => {
            detail["delivery"] = json!({"timestamp": now, "processingTimeMillis": 200, "recipients": [to],
                "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a1-1.smtp-out.amazonses.com"});
        }
        SesEventKind::Bounce => {
            detail["bounce"] = json!({"bounceType": "Permanent", "bounceSubType": "General", "timestamp": now,
                "feedbackId": random_hex::<16>(), "reportingMTA": "dns; amazonses.com",
                "bouncedRecipients": [{"emailAddress": to, "action": "failed", "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]});
        }
        SesEventKind::Complaint => {
            detail["complaint"] = json!({"timestamp": now, "feedbackId": random_hex::<16>(),
                "complaintFeedbackType": "abuse", "complaintSubType": null,
                "complainedRecipients": [{"emailAddress": to}]});
        }
    }
    json!({
        "version": "0",
        "id": random_hex::<16>(),
        "detail-type": detail_type,
        "source": "aws.ses",
        "account": "000000000000",
        "time": now,
        "region": "us-east-1",
        "resources": ["arn:aws:ses:us-east-1:000000000000:configuration-set/ticket-api-local"],
        "detail": detail
    })
}
