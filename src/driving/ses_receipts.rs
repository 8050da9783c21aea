//! SES receiving's Lambda action: once its S3 action has stored a message in the stack's bucket, SES invokes the
//! function (asynchronously) with the receipt. Each record is one received message, taken in by
//! `TicketService::receive`. An error (a dependency down) fails the invocation: Lambda tries it twice more, then
//! hands it to the on-failure destination (`template.yaml`), so that no reply is dropped without a trace; a
//! retry records nothing twice.

use aws_lambda_events::ses::{SimpleEmailEvent, SimpleEmailVerdict};
use serde_json::{Value, json};

use crate::domain::inbound::{Receipt, Verdict, Verdicts};
use crate::ports::Ports;
use crate::service::TicketService;

fn verdict(v: &SimpleEmailVerdict) -> Verdict {
    Verdict::parse(v.status.as_deref().unwrap_or_default())
}

/// The receipts of one invocation; the answer names what came of each.
pub async fn handle<P: Ports>(service: &TicketService<P>, raw: &str) -> Result<Value, lambda_http::Error> {
    let event: SimpleEmailEvent = serde_json::from_str(raw)?;
    let mut outcomes = Vec::new();
    for record in event.records {
        let (mail, receipt) = (record.ses.mail, record.ses.receipt);
        let receipt = Receipt {
            message_id: mail.message_id.unwrap_or_default(),
            recipients: receipt.recipients.clone(),
            source: mail.source.unwrap_or_default(),
            verdicts: Verdicts {
                spam: verdict(&receipt.spam_verdict),
                virus: verdict(&receipt.virus_verdict),
                spf: verdict(&receipt.spf_verdict),
                dkim: verdict(&receipt.dkim_verdict),
                dmarc: verdict(&receipt.dmarc_verdict),
            },
        };
        outcomes.extend(service.receive(&receipt).await?.into_iter().map(|o| o.as_str()));
    }
    Ok(json!({ "received": outcomes }))
}
