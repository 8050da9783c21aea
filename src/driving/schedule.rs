//! The sweep's schedule: EventBridge invokes the function every few minutes (`template.yaml`); each run
//! delivers what the outbox index says is due (`TicketService::sweep`) until the invocation's deadline.

use tokio::time::Instant;

use serde_json::Value;

use crate::ports::Ports;
use crate::service::TicketService;

/// One run of the sweep; its report is the invocation's answer (and its log line).
pub async fn handle<P: Ports>(service: &TicketService<P>, deadline: Instant) -> Result<Value, lambda_http::Error> {
    Ok(serde_json::to_value(service.sweep(deadline).await?)?)
}
