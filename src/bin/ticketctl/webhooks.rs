//! `ticketctl webhooks …`: a collection's endpoints added, listed, removed, enabled, their secrets rotated, a
//! test sent, and the deliveries settled.

use clap::Subcommand;
use ticket_api::compose::Operator;
use ticket_api::domain::webhook::EventType;
use ticket_api::service::WebhookError;

use super::{Output, collection_id};

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint (https only; at most 10 a collection); prints its id and its signing secret, once.
    Add {
        collection: String,
        url: String,
        /// The events it hears of (repeat, or comma-separated): ticket.created, ticket.message.created,
        /// ticket.status.changed, mail.undeliverable. None: all.
        #[arg(long = "events", value_name = "EVENT", value_delimiter = ',')]
        events: Vec<String>,
    },
    /// The collection's endpoints (no secret).
    List { collection: String },
    /// Remove an endpoint: what it was owed is not delivered.
    Remove { collection: String, id: String },
    /// Turn on again an endpoint disabled (every delivery failed for days, or the key that added it was revoked):
    /// what was held for it goes out at once (what was held past 14 days is dropped, with the reason).
    Enable { collection: String, id: String },
    /// A new signing secret, printed once; the old one signs beside it for 24 hours.
    RotateSecret { collection: String, id: String },
    /// Send a `webhook.ping` to an endpoint now and print its answer.
    Test { collection: String, id: String },
    /// The latest settled deliveries: state, attempts, last status, latency and error.
    Deliveries {
        collection: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

pub async fn run(command: WebhooksCommand, operator: &Operator, out: Output) -> anyhow::Result<()> {
    let service = operator.service();
    let fail = |e: WebhookError| anyhow::anyhow!("{e}");
    match command {
        WebhooksCommand::Add { collection, url, events } => {
            let events = events
                .iter()
                .map(|e| EventType::parse(e).ok_or_else(|| anyhow::anyhow!("`{e}` is not an event type")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let loopback = service.webhooks_loopback();
            let added =
                service.add_webhook(&collection_id(&collection)?, &url, events, loopback, None).await.map_err(fail)?;
            let body = serde_json::json!({"id": added.endpoint.id, "url": added.endpoint.url,
                "events": added.endpoint.events, "secret": added.secret});
            out.print(&body, || {
                format!(
                    "endpoint {} added for {}\nsigning secret (shown once): {}",
                    added.endpoint.id, added.endpoint.url, added.secret
                )
            });
        }
        WebhooksCommand::List { collection } => {
            let endpoints = service.webhooks(&collection_id(&collection)?).await.map_err(fail)?;
            let shown: Vec<_> = endpoints
                .iter()
                .map(|e| {
                    serde_json::json!({"id": e.id, "url": e.url, "events": e.events, "createdAt": e.created_at,
                    "rotating": e.previous.is_some(), "disabledAt": e.disabled_at, "disabledWhy": e.disabled_why,
                    "failingSince": e.failing_since, "addedBy": e.added_by})
                })
                .collect();
            out.print(&shown, || match endpoints.is_empty() {
                true => "no webhook endpoint".into(),
                false => endpoints
                    .iter()
                    .map(|e| {
                        let events: Vec<&str> = e.events.iter().map(|v| v.as_str()).collect();
                        let events = if events.is_empty() { "all events".to_owned() } else { events.join(",") };
                        let state = match (&e.disabled_at, &e.failing_since) {
                            (Some(at), _) => {
                                format!("  DISABLED since {at}: {}", e.disabled_why.as_deref().unwrap_or(""))
                            }
                            (None, Some(since)) => format!("  failing since {since}"),
                            (None, None) => String::new(),
                        };
                        let by = e.added_by.as_deref().map(|key| format!("  (added by key {key})"));
                        format!("{}  {}  {}{}{state}", e.id, e.url, events, by.unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        WebhooksCommand::Remove { collection, id } => {
            service.remove_webhook(&collection_id(&collection)?, &id).await.map_err(fail)?;
            out.print(&serde_json::json!({"removed": id}), || format!("endpoint {id} removed"));
        }
        WebhooksCommand::Enable { collection, id } => {
            let enabled = service.enable_webhook(&collection_id(&collection)?, &id).await.map_err(fail)?;
            let body = serde_json::json!({"enabled": id, "released": enabled.released, "expired": enabled.expired});
            out.print(&body, || match enabled.expired {
                0 => format!("endpoint {id} enabled: {} held deliveries go out now", enabled.released),
                expired => format!(
                    "endpoint {id} enabled: {} held deliveries go out now; {expired} held past 14 days are dropped",
                    enabled.released
                ),
            });
        }
        WebhooksCommand::RotateSecret { collection, id } => {
            let secret = service.rotate_webhook_secret(&collection_id(&collection)?, &id).await.map_err(fail)?;
            out.print(&serde_json::json!({"id": id, "secret": secret}), || {
                format!("endpoint {id}: new signing secret (shown once): {secret}\nthe old one signs too for 24 hours")
            });
        }
        WebhooksCommand::Test { collection, id } => {
            let posted = service.ping_webhook(&collection_id(&collection)?, &id).await.map_err(fail)?;
            let body = serde_json::json!({"id": id, "status": posted.status, "error": posted.error,
                "latencyMs": posted.latency.as_millis() as u64, "delivered": posted.delivered()});
            out.print(&body, || match &posted.error {
                None => format!("endpoint {id} answered {} in {:?}", posted.status.unwrap_or_default(), posted.latency),
                Some(e) => format!("endpoint {id}: {e} ({:?})", posted.latency),
            });
        }
        WebhooksCommand::Deliveries { collection, limit } => {
            let log = service.webhook_deliveries(&collection_id(&collection)?, limit).await?;
            let shown: Vec<_> = log
                .iter()
                .map(|h| {
                    serde_json::json!({"webhookId": h.key().webhook_id(), "event": h.event.as_str(),
                    "endpoint": h.endpoint_id, "ticket": h.ticket_number, "state": h.state.as_str(),
                    "attempts": h.attempts, "status": h.last_status, "latencyMs": h.last_latency_ms,
                    "error": h.last_error, "settledAt": h.settled_at})
                })
                .collect();
            out.print(&shown, || match log.is_empty() {
                true => "no settled delivery".into(),
                false => log
                    .iter()
                    .map(|h| {
                        format!(
                            "{}  #{}  {:<24} {:<9} attempts {}  status {}  {} ms  {}",
                            h.settled_at.as_deref().unwrap_or("-"),
                            h.ticket_number,
                            h.event.as_str(),
                            h.state.as_str(),
                            h.attempts,
                            h.last_status.map_or("-".into(), |s| s.to_string()),
                            h.last_latency_ms.unwrap_or_default(),
                            h.last_error.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
    }
    Ok(())
}
