//! Delivering what the outbox owes webhook endpoints: the one place that orders the steps of one delivery, and
//! the sweep's share of them.
//!
//! 1. claim it (a conditional write: pending, due for a retry, or its lease lapsed), counting the attempt;
//! 2. read its collection's endpoint: removed, the delivery is dropped (nothing to deliver to, ever); disabled,
//!    it is held, out of the due ones, its attempt given back, until the endpoint is enabled;
//! 3. make it from the ticket and entry as stored (no key, no link), sign it with the endpoint's secrets (two
//!    during a rotation's overlap), post it, the same `webhook-id` on every attempt;
//! 4. settle it: delivered on a 2xx; failed at once when the endpoint refuses it for good
//!    (`webhook_delivery::refused_for_good`); else tried again after `RETRY_SCHEDULE` (about 27 hours), then
//!    failed;
//! 5. keep the endpoint's health: a success clears its failing, a failure starts it; an endpoint failing
//!    everything for `DISABLE_AFTER` (five days) is disabled, and what it is owed from then on is held.
//!
//! Deliveries never wait on e-mail, nor e-mail on them: they come from a stream mapping of their own, and the
//! sweep delivers each kind apart, page after page until its deadline.

use std::time::Duration;

use tokio::time::Instant;

use crate::domain::webhook::{self, EndpointChange, EventType};
use crate::domain::webhook_delivery::{
    self, DISABLE_AFTER, EventDetail, WebhookDelivery, WebhookDeliveryKey, WebhookDeliveryState, refused_for_good,
};
use crate::domain::{MailKey, Now, Role};
use crate::ports::{CollectionStore, Moved, Ports, Posted, TicketStore, Unavailable, WebhookDeliveryStore};
use crate::telemetry;

use super::TicketService;

/// Deliveries the sweep reads at a time, and delivers side by side (each at most 15 s).
const SWEEP_PAGE: usize = 100;

/// What came of one delivery's attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    Delivered,
    Retrying,
    Failed,
    /// Owed to a disabled endpoint: not attempted, held until it is enabled.
    Held,
    /// Owed to an endpoint removed since: never delivered.
    Dropped,
    /// Not there to take: delivered already, held by another deliverer, or not due.
    NotOurs,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Delivered => "delivered",
            WebhookOutcome::Retrying => "retrying",
            WebhookOutcome::Failed => "failed",
            WebhookOutcome::Held => "held",
            WebhookOutcome::Dropped => "dropped",
            WebhookOutcome::NotOurs => "not_ours",
        }
    }
}

impl<P: Ports> TicketService<P> {
    /// One attempt of one delivery, if it is there to take.
    pub async fn deliver_webhook(&self, key: &WebhookDeliveryKey) -> Result<WebhookOutcome, Unavailable> {
        let now = self.now();
        let Some(delivery) = self.store().claim_webhook_delivery(key, now, self.delivery.lease).await? else {
            return Ok(WebhookOutcome::NotOurs);
        };
        let attempt = delivery.attempts;
        let collection = self.store().get_collection(&key.collection_id).await?;
        let Some(endpoint) = collection.and_then(|c| c.webhooks.get(&key.endpoint_id).cloned()) else {
            // Removed since it was owed: nothing to deliver to, ever. Not the endpoint's failure, nor an alarm.
            let dropped = WebhookDelivery {
                state: WebhookDeliveryState::Dropped,
                due_at_ms: None,
                last_error: Some("its endpoint was removed".into()),
                settled_at: Some(now.rfc3339()),
                ..delivery
            };
            telemetry::webhook_attempt(WebhookOutcome::Dropped.as_str(), Duration::ZERO);
            return self.settled(&dropped, attempt, WebhookOutcome::Dropped).await;
        };
        if endpoint.disabled_at.is_some() {
            // Held, not attempted: the attempt is given back, and it leaves the due ones until it is enabled.
            let held = WebhookDelivery {
                state: WebhookDeliveryState::Held,
                attempts: attempt - 1,
                due_at_ms: None,
                ..delivery
            };
            return self.settled(&held, attempt, WebhookOutcome::Held).await;
        }
        let (ticket, entry) = tokio::join!(
            self.store().get_ticket(&key.collection_id, key.ticket_number),
            self.store().get_entry(&key.collection_id, key.ticket_number, key.entry),
        );
        let (ticket, entry) = (ticket?, entry?);
        let posted = match ticket {
            Some(ticket) => {
                let data = webhook_delivery::data(&delivery, &ticket, entry.as_ref());
                let at = entry.as_ref().map(|e| e.at.clone()).unwrap_or_else(|| ticket.created_at.clone());
                let body = webhook::payload(delivery.event, &at, data);
                self.post_signed(&endpoint, &key.webhook_id(), now, body).await?
            }
            None => Posted { status: None, error: Some("its ticket no longer exists".into()), latency: Duration::ZERO },
        };
        let settled_at = self.now();
        let refused = posted.status.is_some_and(refused_for_good);
        let (state, due) = match (posted.delivered(), WebhookDelivery::retry_after(attempt)) {
            (true, _) => (WebhookDeliveryState::Delivered, None),
            (false, Some(wait)) if !refused => (WebhookDeliveryState::Retrying, Some(settled_at.ms_after(wait))),
            (false, _) => (WebhookDeliveryState::Failed, None),
        };
        let outcome = WebhookDelivery {
            state,
            due_at_ms: due,
            last_status: posted.status,
            last_error: match refused {
                true => posted.error.clone().map(|e| format!("{e}: refused for good, not tried again")),
                false => posted.error.clone(),
            },
            last_latency_ms: Some(posted.latency.as_millis() as u64),
            settled_at: (!state.is_due_kind()).then(|| settled_at.rfc3339()),
            ..delivery
        };
        let label = if refused { "refused" } else { state.as_str() };
        telemetry::webhook_attempt(label, posted.latency);
        tracing::info!(collection = %key.collection_id, ticket = key.ticket_number, entry = key.entry,
            endpoint = %key.endpoint_id, attempt, state = label, status = ?posted.status,
            error = ?posted.error, "webhook attempt");
        let settled = self.store().settle_webhook_delivery(&outcome, attempt, settled_at).await?;
        if settled == Moved::Moved {
            // An answer, even a refusal, is a live endpoint; no answer or a failure, a failing one.
            self.keep_health(key, &endpoint, posted.delivered() || refused, settled_at).await?;
        }
        Ok(match (settled, state) {
            (Moved::NotOurs, _) => WebhookOutcome::NotOurs,
            (Moved::Moved, WebhookDeliveryState::Delivered) => WebhookOutcome::Delivered,
            (Moved::Moved, WebhookDeliveryState::Failed) => WebhookOutcome::Failed,
            (Moved::Moved, _) => WebhookOutcome::Retrying,
        })
    }

    /// Records a delivery moved without an attempt (held, dropped), if the attempt still owns it.
    async fn settled(
        &self,
        delivery: &WebhookDelivery,
        attempt: u32,
        outcome: WebhookOutcome,
    ) -> Result<WebhookOutcome, Unavailable> {
        match self.store().settle_webhook_delivery(delivery, attempt, self.now()).await? {
            Moved::Moved => Ok(outcome),
            Moved::NotOurs => Ok(WebhookOutcome::NotOurs),
        }
    }

    /// An endpoint's health after an attempt: writes only a change (a first failure, a recovery, a disabling).
    async fn keep_health(
        &self,
        key: &WebhookDeliveryKey,
        endpoint: &webhook::Endpoint,
        alive: bool,
        now: Now,
    ) -> Result<(), Unavailable> {
        let (collection, id) = (&key.collection_id, key.endpoint_id.as_str());
        match (alive, endpoint.failing_since.as_deref()) {
            (true, None) => {}
            (true, Some(_)) => {
                self.store().change_endpoint(collection, id, &EndpointChange::Recovered).await?;
            }
            (false, None) => {
                let failing = EndpointChange::Failing { since: now.rfc3339() };
                self.store().change_endpoint(collection, id, &failing).await?;
            }
            (false, Some(since)) if now.since(since) >= DISABLE_AFTER => {
                let days = DISABLE_AFTER.as_secs() / 86_400;
                let why = format!("every delivery failed for {days} days, since {since}");
                if self.disable_webhook(collection, id, &why).await? {
                    telemetry::webhook_endpoint_disabled();
                    tracing::warn!(%collection, endpoint = id, since,
                        "webhook endpoint disabled: every delivery failed for days; what it is owed is held");
                }
            }
            (false, Some(_)) => {}
        }
        Ok(())
    }

    /// The `mail.undeliverable` deliveries an e-mail's fate owes (the fate its attempt `attempt` came to): none
    /// unless an endpoint of its collection wants them (two reads, on this rare path only).
    pub(super) async fn undeliverable_webhooks(
        &self,
        key: &MailKey,
        attempt: u32,
        audience: Role,
        reason: &str,
        why: &str,
    ) -> Result<Vec<WebhookDelivery>, Unavailable> {
        let collection = self.store().get_collection(&key.collection_id).await?;
        let Some(collection) =
            collection.filter(|c| c.webhooks.values().any(|e| e.wants(EventType::MailUndeliverable)))
        else {
            return Ok(Vec::new());
        };
        let Some(ticket) = self.store().get_ticket(&key.collection_id, key.ticket_number).await? else {
            return Ok(Vec::new());
        };
        let now = self.now();
        let detail = EventDetail {
            audience: Some(audience),
            reason: Some(reason.to_owned()),
            why: Some(why.chars().take(500).collect()),
            ..Default::default()
        };
        let event = EventType::MailUndeliverable;
        let created_at = now.rfc3339();
        let mut webhooks =
            webhook_delivery::owed(&collection.webhooks, &ticket, key.entry, event, detail, &created_at, self.due(now));
        for delivery in &mut webhooks {
            delivery.mail = Some(key.index);
            delivery.mail_attempt = Some(attempt);
        }
        Ok(webhooks)
    }

    /// The sweep's share of the webhooks: what was due when it started, page by page, until `deadline` or until a
    /// page moves nothing on (the index is read eventually consistently). What came of each.
    pub async fn deliver_due_webhooks(&self, deadline: Instant) -> Result<Vec<WebhookOutcome>, Unavailable> {
        let started = self.now();
        let mut outcomes = Vec::new();
        let mut first = true;
        while Instant::now() < deadline {
            let due = self.store().due_webhook_deliveries(started, SWEEP_PAGE).await?;
            if first {
                let oldest = due.iter().filter_map(|d| d.due_at_ms).min();
                telemetry::oldest_due_webhook(oldest.map_or(Duration::ZERO, |at| started.since_ms(at)));
                first = false;
            }
            if due.is_empty() {
                break;
            }
            let attempts = due.iter().map(|delivery| self.deliver_webhook_in_time(delivery.key(), deadline));
            let page: Vec<WebhookOutcome> =
                futures_util::future::join_all(attempts).await.into_iter().collect::<Result<_, _>>()?;
            let moved = page.iter().any(|o| *o != WebhookOutcome::NotOurs);
            outcomes.extend(page);
            if !moved {
                break;
            }
        }
        Ok(outcomes)
    }

    /// One delivery, if it can start before `deadline`.
    async fn deliver_webhook_in_time(
        &self,
        key: WebhookDeliveryKey,
        deadline: Instant,
    ) -> Result<WebhookOutcome, Unavailable> {
        match Instant::now() < deadline {
            true => self.deliver_webhook(&key).await,
            false => Ok(WebhookOutcome::NotOurs),
        }
    }
}
