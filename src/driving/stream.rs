//! The tickets table's stream, as the function sees it: which records carry work (the filter the event source
//! mapping applies before invoking, and that this door applies again, since a filter is an optimisation, not a
//! guarantee), the answer that names the records to hand over again, and the mapping's retry rules, which
//! `template.yaml` declares and the local stand-in follows.

use std::time::Duration;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_json::Value;
use tokio::time::Instant;

use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey, WebhookDeliveryState};
use crate::domain::{Mail, MailKey, MailState};
use crate::ports::Ports;
use crate::schema::tickets;
use crate::service::TicketService;
use crate::telemetry;

/// The event source mapping's rules (`template.yaml` declares the same; a test holds them equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingRules {
    /// Records per invocation.
    pub batch_size: usize,
    /// Retries of a batch whose records failed, before they go to the dead-letter queue.
    pub max_retries: u32,
    /// A record older than this is not retried but sent to the dead-letter queue.
    pub max_record_age: Duration,
    /// A failing batch is split in two and each half retried.
    pub bisect_on_error: bool,
    /// The records that invoke the function (an EventBridge-style pattern, `schema::tickets`).
    pub filter: &'static str,
}

impl MappingRules {
    /// Whether a record (as the Lambda event carries it) matches this mapping's filter.
    pub fn matches(&self, record: &Value) -> bool {
        let pattern: Value = serde_json::from_str(self.filter).expect("the filter pattern is JSON");
        matches(&pattern, record)
    }
}

/// The e-mails' mapping.
pub const MAPPING: MappingRules = MappingRules {
    batch_size: 25,
    max_retries: 8,
    max_record_age: Duration::from_secs(3_600),
    bisect_on_error: true,
    filter: tickets::STREAM_FILTER,
};

/// The webhooks' mapping, on the same stream: a slow endpoint holds up only other webhooks, never an e-mail.
/// Fewer records a batch, since each may take the 15 s a delivery may last (they go side by side).
pub const WEBHOOK_MAPPING: MappingRules = MappingRules {
    batch_size: 10,
    max_retries: 8,
    max_record_age: Duration::from_secs(3_600),
    bisect_on_error: true,
    filter: tickets::WEBHOOK_STREAM_FILTER,
};

/// Delivers the e-mails a batch names, until `deadline`; the answer names the records not done with (Lambda's
/// partial batch response), which the event source mapping hands over again.
pub async fn handle<P: Ports>(
    service: &TicketService<P>,
    raw: &str,
    deadline: Instant,
) -> Result<Value, lambda_http::Error> {
    let batch: Event = serde_json::from_str(raw)?;
    let work = work_of(&batch);
    let webhooks = webhook_deliveries_of(&batch);
    let keys: Vec<_> = work.iter().map(|(_, key)| key.clone()).collect();
    let (done, hooks_done) = tokio::join!(
        service.deliver_batch(&keys, deadline),
        futures_util::future::join_all(webhooks.iter().map(|(_, key)| service.deliver_webhook(key)))
    );
    // A delivery whose attempt failed is recorded and tried again by the sweep; only an outage hands it back.
    let hooks_done = hooks_done.iter().map(|outcome| outcome.is_ok());
    let sequences = work.into_iter().map(|(sequence, _)| sequence).chain(webhooks.into_iter().map(|(s, _)| s));
    let mut answer = DynamoDbEventResponse::default();
    answer.batch_item_failures = sequences
        .zip(done.into_iter().chain(hooks_done))
        .filter(|(_, done)| !done)
        .map(|(sequence, _)| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            failure
        })
        .collect();
    Ok(serde_json::to_value(answer)?)
}

/// The e-mails a stream batch asks to deliver, each with its record's sequence number (the id a batch item
/// failure names). Records that carry no work (headers, entries, e-mails in any other state) are left out; an
/// e-mail's record that does not read is left out too, logged and counted (the sweep sets its item aside).
pub fn work_of(event: &Event) -> Vec<(String, MailKey)> {
    event
        .records
        .iter()
        .filter(|r| matches!(r.event_name.as_str(), "INSERT" | "MODIFY"))
        .filter(|r| {
            matches!(r.change.keys.get(tickets::SK), Some(serde_dynamo::AttributeValue::S(sk))
                if sk.starts_with(tickets::MAIL_PREFIX))
        })
        .filter_map(|r| {
            let sequence = r.change.sequence_number.clone()?;
            match serde_dynamo::from_item::<_, Mail>(r.change.new_image.clone()) {
                Ok(mail) => (mail.state == MailState::Pending).then(|| (sequence, mail.key())),
                Err(e) => {
                    tracing::error!(sequence, error = %e, "stream: an e-mail's record does not read; left to the sweep");
                    telemetry::stream_record_unreadable();
                    None
                }
            }
        })
        .collect()
}

/// The webhook deliveries a stream batch asks for: new ones, each with its record's sequence number.
pub fn webhook_deliveries_of(event: &Event) -> Vec<(String, WebhookDeliveryKey)> {
    event
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .filter(|r| {
            matches!(r.change.keys.get(tickets::SK), Some(serde_dynamo::AttributeValue::S(sk))
                if sk.starts_with(tickets::WEBHOOK_DELIVERY_PREFIX))
        })
        .filter_map(|r| {
            let sequence = r.change.sequence_number.clone()?;
            match serde_dynamo::from_item::<_, WebhookDelivery>(r.change.new_image.clone()) {
                Ok(delivery) => (delivery.state == WebhookDeliveryState::Pending).then(|| (sequence, delivery.key())),
                Err(e) => {
                    tracing::error!(sequence, error = %e, "stream: a webhook's record does not read; left to the sweep");
                    telemetry::stream_record_unreadable();
                    None
                }
            }
        })
        .collect()
}

/// Whether a record (as the Lambda event carries it) matches `schema::tickets::STREAM_FILTER`, by the rules of
/// Lambda's event filtering: every key of the pattern must be in the record; an array lists the values allowed.
pub fn matches_filter(record: &Value) -> bool {
    MAPPING.matches(record)
}

fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(k, p)| value.get(k).is_some_and(|v| matches(p, v))),
        Value::Array(allowed) => allowed.iter().any(|a| a == value),
        other => other == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_new_images_of_pending_emails_pass_the_filter() {
        let record = |name: &str, state: &str| json!({"eventName": name, "dynamodb": {"NewImage": {"mailState": {"S": state}, "sk": {"S": "mail#000001#000"}}}});
        assert!(matches_filter(&record("INSERT", "pending")));
        assert!(matches_filter(&record("MODIFY", "pending")));
        assert!(!matches_filter(&record("MODIFY", "sending")));
        assert!(!matches_filter(&record("MODIFY", "sent")));
        assert!(!matches_filter(&record("REMOVE", "pending")));
        assert!(!matches_filter(&json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"status": {"S": "open"}}}})));
    }
}
