//! The sweep's schedule: EventBridge invokes the function every few minutes (`template.yaml`); each run
//! delivers what the outbox index says is due (`TicketService::sweep`) until the invocation's deadline.

use tokio::time::Instant;

use serde_json::Value;

use crate::domain::webhook::DELIVERY_TIMEOUT;
use crate::ports::Ports;
use crate::service::{TicketService, WebhookOutcome};

/// One run of the sweep; its report is the invocation's answer (and its log line).
pub async fn handle<P: Ports>(service: &TicketService<P>, deadline: Instant) -> Result<Value, lambda_http::Error> {
    // E-mails and webhooks side by side: a slow endpoint does not hold up an e-mail. A delivery starts only if
    // its whole budget fits before the deadline.
    let webhooks_until = deadline.checked_sub(DELIVERY_TIMEOUT).unwrap_or(deadline);
    let (swept, webhooks) = tokio::join!(service.sweep(deadline), service.deliver_due_webhooks(webhooks_until));
    let mut answer = serde_json::to_value(swept?)?;
    let webhooks = webhooks?;
    let count = |o: WebhookOutcome| webhooks.iter().filter(|h| **h == o).count();
    answer["webhooks"] = serde_json::json!({
        "delivered": count(WebhookOutcome::Delivered),
        "retrying": count(WebhookOutcome::Retrying),
        "failed": count(WebhookOutcome::Failed),
        "held": count(WebhookOutcome::Held),
        "dropped": count(WebhookOutcome::Dropped),
    });
    Ok(answer)
}
