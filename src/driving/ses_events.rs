//! SES's event publishing, as the configuration set's EventBridge destination publishes it: `source` =
//! `aws.ses`, `detail-type` = `Email Delivered`, `Email Bounced` or `Email Complaint Received`, and in `detail`
//! the event record (`eventType`, `mail` with the message's tags, `bounce` or `complaint`). The e-mail is found
//! by its message tag `mail` (`MailKey::tag`), never by address.
//!
//! The events come through a queue (`template.yaml`: the rule's target is `SesEventsQueue`, which the function
//! reads in batches): the answer names the records not recorded yet (an outage, or an e-mail still being sent),
//! which SQS hands over again after its visibility timeout, and then to its dead-letter queue. An event handed
//! over directly (EventBridge's own shape) is answered `{"recorded": …}`, and an error asks for it again. An
//! event that is not about an e-mail of this outbox is answered and dropped.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::domain::{Email, Feedback, FeedbackEvent, MailKey};
use crate::ports::Ports;
use crate::service::{Recorded, TicketService};

/// Records what SES's events say: a queue's batch (the answer names the records to hand over again), or one
/// event handed over directly (the answer says whether an e-mail's record moved).
pub async fn handle<P: Ports>(service: &TicketService<P>, raw: &str) -> Result<Value, lambda_http::Error> {
    let event: Value = serde_json::from_str(raw)?;
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        return Ok(serde_json::to_value(handle_batch(service, batch).await)?);
    }
    let recorded = match feedback_of(&event) {
        Some(feedback) => service.record_feedback(&feedback).await?,
        None => Recorded::Told,
    };
    match recorded {
        Recorded::NotYet => Err("the e-mail is still being sent: this event is to be recorded later".into()),
        recorded => Ok(serde_json::json!({ "recorded": recorded == Recorded::Moved })),
    }
}

/// Each record of a queue's batch; those not recorded yet are named in the answer.
async fn handle_batch<P: Ports>(service: &TicketService<P>, batch: SqsEvent) -> SqsBatchResponse {
    let mut answer = SqsBatchResponse::default();
    for record in batch.records {
        let id = record.message_id.unwrap_or_default();
        let event: Option<Value> = record.body.as_deref().and_then(|body| serde_json::from_str(body).ok());
        let Some(feedback) = event.as_ref().and_then(feedback_of) else {
            tracing::warn!(message = %id, "a queued record that is no SES event of this outbox: dropped");
            continue;
        };
        let again = match service.record_feedback(&feedback).await {
            Ok(Recorded::NotYet) => true,
            Ok(Recorded::Moved | Recorded::Told) => false,
            Err(e) => {
                tracing::warn!(message = %id, error = %e, "an SES event not recorded: handed over again");
                true
            }
        };
        if again {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            answer.batch_item_failures.push(failure);
        }
    }
    answer
}

#[derive(Deserialize)]
struct Envelope {
    detail: Detail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_type: String,
    mail: MailPart,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Deserialize)]
struct MailPart {
    #[serde(default)]
    tags: HashMap<String, Vec<String>>,
    #[serde(default)]
    destination: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
    complaint_feedback_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
    diagnostic_code: Option<String>,
}

/// The feedback an SES event carries, if it is about an e-mail of this outbox and of a kind that is recorded
/// (deliveries, bounces, complaints); `None` for anything else (sends, opens, another sender's mail).
pub fn feedback_of(event: &Value) -> Option<FeedbackEvent> {
    let envelope = Envelope::deserialize(event).ok()?;
    let detail = envelope.detail;
    let mail = MailKey::from_tag(detail.mail.tags.get("mail")?.first()?)?;
    let addresses = |recipients: &[Recipient]| -> Vec<Email> {
        recipients.iter().filter_map(|r| Email::parse(&r.email_address).ok()).collect()
    };
    let (feedback, recipients) = match detail.event_type.as_str() {
        "Delivery" => {
            (Feedback::Delivered, detail.mail.destination.iter().filter_map(|a| Email::parse(a).ok()).collect())
        }
        "Bounce" => {
            let bounce = detail.bounce?;
            let diagnostic = bounce.bounced_recipients.iter().find_map(|r| r.diagnostic_code.clone());
            let detail = match diagnostic {
                Some(code) => format!("{} bounce ({}): {code}", bounce.bounce_type, bounce.bounce_sub_type),
                None => format!("{} bounce ({})", bounce.bounce_type, bounce.bounce_sub_type),
            };
            let permanent = bounce.bounce_type == "Permanent";
            (Feedback::Bounced { permanent, detail }, addresses(&bounce.bounced_recipients))
        }
        "Complaint" => {
            let complaint = detail.complaint?;
            let kind = complaint.complaint_feedback_type.unwrap_or_else(|| "unspecified".into());
            (
                Feedback::Complained { detail: format!("complaint ({kind})") },
                addresses(&complaint.complained_recipients),
            )
        }
        _ => return None,
    };
    Some(FeedbackEvent { mail, feedback, recipients })
}
