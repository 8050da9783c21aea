//! SES receiving's replies. On AWS the receipt rule's S3 action stores each message in the stack's bucket and
//! publishes its notification to a topic whose queue the function reads in batches (`template.yaml`,
//! `RepliesQueue`): the answer names the records not taken in (a dependency down), which SQS hands over again
//! after `RECEIPTS_VISIBILITY`, up to `RECEIPTS_MAX_RECEIVES` times (about an hour), then to its dead-letter queue
//! and its alarm. A receipt handed over directly, as SES's Lambda action does (`aws:ses` records), is taken in
//! the same way, an error asking for it again. A retry records nothing twice.
//!
//! A notification that is not a whole receipt (no message id, no `commonHeaders` or no `from` in them, a verdict
//! missing) is malformed: it is answered and counted (`RepliesReceived`, outcome `malformed`), never retried, and
//! nothing is read of it.

use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::{Value, json};

use crate::domain::inbound::{DmarcPolicy, Receipt, Verdict, Verdicts};
use crate::ports::Ports;
use crate::service::TicketService;
use crate::telemetry;

/// How long SQS keeps a receipt from the function after a failed try (`template.yaml`'s `RepliesQueue`).
pub const RECEIPTS_VISIBILITY: Duration = Duration::from_secs(300);
/// How many times SQS hands a receipt over before its dead-letter queue: with `RECEIPTS_VISIBILITY`, an outage of
/// about an hour is waited out without a person.
pub const RECEIPTS_MAX_RECEIVES: u32 = 12;

/// A receipt's notification, as SES writes it (its Lambda action's `ses` record, or the S3 action's
/// notification published to the topic): a whole one, or why not.
pub fn receipt_of(notification: &Value) -> Result<Receipt, &'static str> {
    let (mail, receipt) = (&notification["mail"], &notification["receipt"]);
    let message_id = mail["messageId"].as_str().filter(|id| !id.is_empty()).ok_or("no message id")?;
    let common = mail["commonHeaders"].as_object().ok_or("no commonHeaders")?;
    common.get("from").and_then(Value::as_array).filter(|from| !from.is_empty()).ok_or("no from")?;
    let verdict = |name: &str| -> Result<Verdict, &'static str> {
        let status = receipt[name]["status"].as_str().ok_or("a verdict missing")?;
        Ok(Verdict::parse(status))
    };
    let recipients = receipt["recipients"].as_array().ok_or("no recipients")?;
    Ok(Receipt {
        message_id: message_id.to_owned(),
        recipients: recipients.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        source: mail["source"].as_str().unwrap_or_default().to_owned(),
        verdicts: Verdicts {
            spam: verdict("spamVerdict")?,
            virus: verdict("virusVerdict")?,
            spf: verdict("spfVerdict")?,
            dkim: verdict("dkimVerdict")?,
            dmarc: verdict("dmarcVerdict")?,
        },
        dmarc_policy: DmarcPolicy::parse(receipt["dmarcPolicy"].as_str().unwrap_or_default()),
    })
}

/// The receipts of one invocation: a queue's batch, or SES's Lambda action's records.
pub async fn handle<P: Ports>(service: &TicketService<P>, raw: &str) -> Result<Value, lambda_http::Error> {
    let event: Value = serde_json::from_str(raw)?;
    let from_queue = event["Records"].as_array().is_some_and(|r| r.iter().all(|r| r["eventSource"] == "aws:sqs"));
    if from_queue {
        let batch: SqsEvent = serde_json::from_value(event)?;
        return Ok(serde_json::to_value(handle_batch(service, batch).await)?);
    }
    let mut outcomes = Vec::new();
    for record in event["Records"].as_array().into_iter().flatten() {
        match receipt_of(&record["ses"]) {
            Ok(receipt) => outcomes.extend(service.receive(&receipt).await?.into_iter().map(|o| o.as_str())),
            Err(why) => outcomes.push(malformed(why)),
        }
    }
    Ok(json!({ "received": outcomes }))
}

/// Each receipt of a queue's batch; those not taken in (a dependency down) are named in the answer.
async fn handle_batch<P: Ports>(service: &TicketService<P>, batch: SqsEvent) -> SqsBatchResponse {
    let mut answer = SqsBatchResponse::default();
    for record in batch.records {
        let id = record.message_id.unwrap_or_default();
        let notification = record.body.as_deref().and_then(|body| serde_json::from_str::<Value>(body).ok());
        // Raw delivery puts SES's notification in the body; without it SNS wraps it in its own envelope.
        let notification = notification.map(|n| match n["Message"].as_str() {
            Some(inner) if n["Type"] == "Notification" => serde_json::from_str(inner).unwrap_or(n),
            _ => n,
        });
        let receipt = match notification.as_ref().map(receipt_of) {
            Some(Ok(receipt)) => receipt,
            Some(Err(why)) => {
                malformed(why);
                continue;
            }
            None => {
                malformed("not JSON");
                continue;
            }
        };
        if let Err(e) = service.receive(&receipt).await {
            tracing::warn!(message = %receipt.message_id, error = %e, "a reply not taken in: handed over again");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            answer.batch_item_failures.push(failure);
        }
    }
    answer
}

/// A notification that is no whole receipt: answered, counted, never retried.
fn malformed(why: &'static str) -> &'static str {
    tracing::warn!(why, "a receipt notification that is not whole: not taken in");
    telemetry::reply_received("malformed");
    "malformed"
}
