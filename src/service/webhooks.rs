//! Webhooks: a collection's endpoints (added, listed, removed, their secrets rotated, pinged), and the delivery of
//! what the outbox owes them. A delivery is claimed, made from the ticket and entry as stored (no key, no link),
//! signed with the endpoint's secrets (two during a rotation's overlap), posted, and settled: delivered on a 2xx,
//! else tried again after `webhook_delivery::RETRY_SCHEDULE` (about 27 hours in all), then failed. The same `webhook-id` on
//! every attempt. Deliveries never wait on e-mail, nor e-mail on them: they come from a stream mapping of their
//! own, and the sweep delivers each kind apart.

use std::time::Duration;

use crate::domain::random::random_hex;
use crate::domain::webhook::{self, Endpoint, EventType, Loopback, MAX_ENDPOINTS, WebhookUrl};
use crate::domain::webhook_delivery::{self, WebhookDelivery, WebhookDeliveryKey, WebhookDeliveryState};
use crate::domain::{CollectionId, MailKey, Now, Role};
use crate::ports::{
    CollectionStore, Moved, Ports, Posted, TicketStore, Unavailable, WebhookDeliveryStore, WebhookPut,
    WebhookPutOutcome, WebhookSender,
};
use crate::telemetry;

use super::TicketService;

/// Why an endpoint was not added or changed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no such collection")]
    CollectionNotFound,
    #[error("no such webhook endpoint")]
    EndpointNotFound,
    #[error("the collection has {MAX_ENDPOINTS} webhook endpoints already")]
    TooMany,
    #[error("the URL is refused: {0}")]
    Url(String),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// A new endpoint and its signing secret (`whsec_…`), shown once.
#[derive(Debug, Clone)]
pub struct AddedWebhook {
    pub endpoint: Endpoint,
    pub secret: String,
}

/// What came of one delivery's attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    Delivered,
    Retrying,
    Failed,
    /// Owed to a disabled endpoint: not attempted, looked at again later.
    Held,
    /// Not there to take: delivered already, held by another deliverer, or not due.
    NotOurs,
}

impl<P: Ports> TicketService<P> {
    /// Adds an endpoint to `collection`: a URL that may be delivered to (checked now, and again at every
    /// delivery), the events it wants (none: all).
    pub async fn add_webhook(
        &self,
        collection: &CollectionId,
        url: &str,
        events: Vec<EventType>,
        loopback: Loopback,
    ) -> Result<AddedWebhook, WebhookError> {
        let url = WebhookUrl::parse(url, loopback).map_err(WebhookError::Url)?;
        self.ports.webhooks().check(url.as_str()).await.map_err(WebhookError::Url)?;
        let endpoint = Endpoint::new(url, events, self.now().rfc3339());
        match self.store().put_webhook(collection, &endpoint, WebhookPut::New { max: MAX_ENDPOINTS }).await? {
            WebhookPutOutcome::Stored => {}
            WebhookPutOutcome::NotFound => return Err(WebhookError::CollectionNotFound),
            WebhookPutOutcome::Full => return Err(WebhookError::TooMany),
        }
        let pepper = self.pepper().await?;
        let secret = endpoint.signing_secrets(pepper, self.now().secs())[0].reveal();
        Ok(AddedWebhook { endpoint, secret })
    }

    pub async fn webhooks(&self, collection: &CollectionId) -> Result<Vec<Endpoint>, WebhookError> {
        let found = self.store().get_collection(collection).await?.ok_or(WebhookError::CollectionNotFound)?;
        Ok(found.webhooks.into_values().collect())
    }

    pub async fn remove_webhook(&self, collection: &CollectionId, id: &str) -> Result<(), WebhookError> {
        match self.store().remove_webhook(collection, id).await? {
            true => Ok(()),
            false => Err(WebhookError::EndpointNotFound),
        }
    }

    /// A new secret for an endpoint; the old one signs beside it for a day. The new one, shown once.
    pub async fn rotate_webhook_secret(&self, collection: &CollectionId, id: &str) -> Result<String, WebhookError> {
        let mut endpoint = self.endpoint(collection, id).await?;
        endpoint.rotate(self.now().secs());
        match self.store().put_webhook(collection, &endpoint, WebhookPut::Replace).await? {
            WebhookPutOutcome::Stored => {}
            _ => return Err(WebhookError::EndpointNotFound),
        }
        let pepper = self.pepper().await?;
        Ok(endpoint.signing_secrets(pepper, self.now().secs())[0].reveal())
    }

    /// Sends `webhook.ping` to one endpoint now, outside the outbox; the attempt's outcome.
    pub async fn ping_webhook(&self, collection: &CollectionId, id: &str) -> Result<Posted, WebhookError> {
        let endpoint = self.endpoint(collection, id).await?;
        let now = self.now();
        let data = serde_json::json!({ "collectionId": collection.as_str(), "endpointId": endpoint.id });
        let body = webhook::payload(EventType::Ping, &now.rfc3339(), data);
        let webhook_id = format!("msg_ping_{}", random_hex::<8>());
        Ok(self.post_signed(&endpoint, &webhook_id, now, body).await?)
    }

    /// A collection's latest settled deliveries (delivered or failed).
    pub async fn webhook_deliveries(
        &self,
        collection: &CollectionId,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, Unavailable> {
        self.store().settled_webhook_deliveries(collection, limit).await
    }

    async fn endpoint(&self, collection: &CollectionId, id: &str) -> Result<Endpoint, WebhookError> {
        let found = self.store().get_collection(collection).await?.ok_or(WebhookError::CollectionNotFound)?;
        found.webhooks.get(id).cloned().ok_or(WebhookError::EndpointNotFound)
    }

    async fn post_signed(
        &self,
        endpoint: &Endpoint,
        webhook_id: &str,
        now: Now,
        body: Vec<u8>,
    ) -> Result<Posted, Unavailable> {
        let pepper = self.pepper().await?;
        let timestamp = now.secs();
        let secrets = endpoint.signing_secrets(pepper, timestamp);
        let headers = [
            ("webhook-id", webhook_id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", webhook::signature(&secrets, webhook_id, timestamp, &body)),
        ];
        Ok(self.ports.webhooks().post(&endpoint.url, &headers, body).await)
    }

    /// Turns a disabled endpoint on again: what it is owed is delivered within `HELD_RECHECK`.
    pub async fn enable_webhook(&self, collection: &CollectionId, id: &str) -> Result<(), WebhookError> {
        let mut endpoint = self.endpoint(collection, id).await?;
        endpoint.disabled_at = None;
        match self.store().put_webhook(collection, &endpoint, WebhookPut::Replace).await? {
            WebhookPutOutcome::Stored => Ok(()),
            _ => Err(WebhookError::EndpointNotFound),
        }
    }

    /// One attempt of one delivery, if it is there to take.
    pub async fn deliver_webhook(&self, key: &WebhookDeliveryKey) -> Result<WebhookOutcome, Unavailable> {
        let now = self.now();
        let Some(delivery) = self.store().claim_webhook_delivery(key, now, self.delivery.lease).await? else {
            return Ok(WebhookOutcome::NotOurs);
        };
        let attempt = delivery.attempts;
        let collection = self.store().get_collection(&key.collection_id).await?;
        let endpoint = collection.and_then(|c| c.webhooks.get(&key.endpoint_id).cloned());
        if endpoint.as_ref().is_some_and(|e| e.disabled_at.is_some()) {
            // Held, not attempted: the attempt is given back, and it looks again later.
            let held = WebhookDelivery {
                state: WebhookDeliveryState::Retrying,
                attempts: attempt - 1,
                due_at_ms: Some(now.ms_after(webhook_delivery::HELD_RECHECK)),
                ..delivery
            };
            return match self.store().settle_webhook_delivery(&held, attempt, now).await? {
                Moved::Moved => Ok(WebhookOutcome::Held),
                Moved::NotOurs => Ok(WebhookOutcome::NotOurs),
            };
        }
        let (ticket, entry) = tokio::join!(
            self.store().get_ticket(&key.collection_id, key.ticket_number),
            self.store().get_entry(&key.collection_id, key.ticket_number, key.entry),
        );
        let (ticket, entry) = (ticket?, entry?);
        let posted = match (ticket, endpoint.clone()) {
            (Some(ticket), Some(endpoint)) => {
                let data = webhook_delivery::data(&delivery, &ticket, entry.as_ref());
                let at = entry.as_ref().map(|e| e.at.clone()).unwrap_or_else(|| ticket.created_at.clone());
                let body = webhook::payload(delivery.event, &at, data);
                self.post_signed(&endpoint, &key.webhook_id(), now, body).await?
            }
            // The endpoint was removed (or the ticket is gone): nothing to deliver to, ever.
            _ => Posted { status: None, error: Some("the endpoint was removed".into()), latency: Duration::ZERO },
        };
        let removed = posted.error.as_deref() == Some("the endpoint was removed");
        let settled_at = self.now();
        let (state, due) = match (posted.delivered(), WebhookDelivery::retry_after(attempt)) {
            (true, _) => (WebhookDeliveryState::Delivered, None),
            (false, Some(wait)) if !removed => (WebhookDeliveryState::Retrying, Some(settled_at.ms_after(wait))),
            (false, _) => (WebhookDeliveryState::Failed, None),
        };
        let outcome = WebhookDelivery {
            state,
            due_at_ms: due,
            last_status: posted.status,
            last_error: posted.error.clone(),
            last_latency_ms: Some(posted.latency.as_millis() as u64),
            settled_at: (!state.is_due_kind()).then(|| settled_at.rfc3339()),
            ..delivery
        };
        telemetry::webhook_attempt(state.as_str(), posted.latency);
        tracing::info!(collection = %key.collection_id, ticket = key.ticket_number, entry = key.entry,
            endpoint = %key.endpoint_id, attempt, state = state.as_str(), status = ?posted.status,
            error = ?posted.error, "webhook attempt");
        let settled = self.store().settle_webhook_delivery(&outcome, attempt, settled_at).await?;
        if settled == Moved::Moved
            && state == WebhookDeliveryState::Failed
            && let Some(mut endpoint) = endpoint.filter(|_| !removed)
        {
            // A day and more of failures: the endpoint is disabled; what it is owed meanwhile waits for it.
            endpoint.disabled_at = Some(settled_at.rfc3339());
            self.store().put_webhook(&key.collection_id, &endpoint, WebhookPut::Replace).await?;
            telemetry::webhook_endpoint_disabled();
            tracing::warn!(collection = %key.collection_id, endpoint = %key.endpoint_id,
                "webhook endpoint disabled: a delivery failed for good");
        }
        match settled {
            Moved::Moved => Ok(match state {
                WebhookDeliveryState::Delivered => WebhookOutcome::Delivered,
                WebhookDeliveryState::Failed => WebhookOutcome::Failed,
                _ => WebhookOutcome::Retrying,
            }),
            Moved::NotOurs => Ok(WebhookOutcome::NotOurs),
        }
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
        let detail = webhook_delivery::EventDetail {
            audience: Some(audience),
            reason: Some(reason.to_owned()),
            why: Some(why.chars().take(500).collect()),
            ..Default::default()
        };
        let event = EventType::MailUndeliverable;
        let mut webhooks = webhook_delivery::owed(
            &collection.webhooks,
            &ticket,
            key.entry,
            event,
            detail,
            &now.rfc3339(),
            self.due(now),
        );
        for delivery in &mut webhooks {
            delivery.mail = Some(key.index);
            delivery.mail_attempt = Some(attempt);
        }
        Ok(webhooks)
    }

    /// Every delivery due now, side by side; what came of them.
    pub async fn deliver_due_webhooks(&self, limit: usize) -> Result<Vec<WebhookOutcome>, Unavailable> {
        let due = self.store().due_webhook_deliveries(self.now(), limit).await?;
        let attempts = due.iter().map(|key| self.deliver_webhook(key));
        futures_util::future::join_all(attempts).await.into_iter().collect()
    }
}
