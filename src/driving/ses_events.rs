//! SES's event publishing, as the configuration set's EventBridge destination delivers it: `source` =
//! `aws.ses`, `detail-type` = `Email Delivered`, `Email Bounced` or `Email Complaint Received`, and in `detail`
//! the event record (`eventType`, `mail` with the message's tags, `bounce` or `complaint`). The e-mail is found
//! by its message tag `mail` (`MailKey::tag`), never by address. An error makes EventBridge hand the event over
//! again (its retry policy); an event that is not about an e-mail of this outbox is answered and dropped.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::domain::{Email, Feedback, FeedbackEvent, MailKey};
use crate::ports::Ports;
use crate::service::TicketService;

/// Records what one SES event says; the answer says whether an e-mail's record moved.
pub async fn handle<P: Ports>(service: &TicketService<P>, raw: &str) -> Result<Value, lambda_http::Error> {
    let event: Value = serde_json::from_str(raw)?;
    let recorded = match feedback_of(&event) {
        Some(feedback) => service.record_feedback(&feedback).await?,
        None => false,
    };
    Ok(serde_json::json!({ "recorded": recorded }))
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
