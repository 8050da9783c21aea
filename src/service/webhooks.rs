//! A collection's webhook endpoints: added (by the operator, or by an API key: the notification addresses are
//! e-mailed, and the key's revocation disables what it added), listed, removed, their secrets rotated, enabled again, pinged, and their deliveries' log. Each change is
//! written alone (`EndpointChange`), so that two at once both land. Enabling an endpoint releases what was held
//! for it (dropping, with the reason, what was held past `HELD_FOR`); removing one drops what it was owed.
//! Delivering is `webhook_delivery`'s.

use crate::domain::outbox::{EndpointNotice, webhook_added_notices};
use crate::domain::random::random_hex;
use crate::domain::webhook::{self, Endpoint, EndpointChange, EventType, Loopback, MAX_ENDPOINTS, WebhookUrl};
use crate::domain::webhook_delivery::{HELD_FOR, WebhookDelivery};
use crate::domain::{ApiKeyRecord, CollectionId, Now};
use crate::ports::{
    CollectionStore, EndpointAdded, Moved, OutboxStore, Ports, Posted, Release, Unavailable, WebhookDeliveryStore,
    WebhookSender,
};

use super::TicketService;

/// Held deliveries read at a time when an endpoint is enabled or removed.
const HELD_PAGE: usize = 100;

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

/// What enabling an endpoint did with what was held for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enabled {
    /// Deliveries due again, at once.
    pub released: usize,
    /// Deliveries held past `HELD_FOR`, dropped with the reason.
    pub expired: usize,
}

impl<P: Ports> TicketService<P> {
    /// Adds an endpoint to `collection`: a URL that may be delivered to (checked now, and again at every
    /// delivery), the events it wants (none: all); `added_by`, the API key that adds it (none: the operator).
    pub async fn add_webhook(
        &self,
        collection: &CollectionId,
        url: &str,
        events: Vec<EventType>,
        loopback: Loopback,
        added_by: Option<&ApiKeyRecord>,
    ) -> Result<AddedWebhook, WebhookError> {
        let url = WebhookUrl::parse(url, loopback).map_err(WebhookError::Url)?;
        self.ports.webhooks().check(url.as_str()).await.map_err(WebhookError::Url)?;
        let now = self.now();
        let mut endpoint = Endpoint::new(url, events, now.rfc3339());
        if let Some(key) = added_by {
            // Through the API, the notification addresses are told, before the endpoint is stored: a leaked key
            // cannot subscribe to every ticket quietly, even if this invocation ends between the two writes.
            let found = self.store().get_collection(collection).await?.ok_or(WebhookError::CollectionNotFound)?;
            if found.webhooks.len() >= MAX_ENDPOINTS {
                return Err(WebhookError::TooMany);
            }
            endpoint.added_by = Some(key.key_id.clone());
            let notice = EndpointNotice {
                endpoint_id: endpoint.id.clone(),
                url: endpoint.url.clone(),
                key_id: key.key_id.clone(),
                key_name: key.name.clone(),
                key_last4: key.last4.clone(),
            };
            for mail in webhook_added_notices(&found, &notice, &now.rfc3339(), self.due(now)) {
                self.store().add_mail(&mail).await?;
            }
        }
        match self.store().add_endpoint(collection, &endpoint, MAX_ENDPOINTS).await? {
            EndpointAdded::Stored => {}
            EndpointAdded::NotFound => return Err(WebhookError::CollectionNotFound),
            EndpointAdded::Full => return Err(WebhookError::TooMany),
        }
        let pepper = self.pepper().await?;
        let secret = endpoint.signing_secrets(pepper, self.now().secs())[0].reveal();
        Ok(AddedWebhook { endpoint, secret })
    }

    pub async fn webhooks(&self, collection: &CollectionId) -> Result<Vec<Endpoint>, WebhookError> {
        let found = self.store().get_collection(collection).await?.ok_or(WebhookError::CollectionNotFound)?;
        Ok(found.webhooks.into_values().collect())
    }

    /// Removes an endpoint; what was held for it is dropped (what is due for it is dropped at its next attempt).
    pub async fn remove_webhook(&self, collection: &CollectionId, id: &str) -> Result<(), WebhookError> {
        if !self.store().remove_endpoint(collection, id).await? {
            return Err(WebhookError::EndpointNotFound);
        }
        let why = "its endpoint was removed";
        self.release_held(collection, id, |_| Release::Dropped { why: why.into() }).await?;
        Ok(())
    }

    /// A new secret for an endpoint; the old one signs beside it for a day. The new one, shown once.
    pub async fn rotate_webhook_secret(&self, collection: &CollectionId, id: &str) -> Result<String, WebhookError> {
        let endpoint = self.endpoint(collection, id).await?;
        let rotation = endpoint.rotation(self.now().secs());
        if !self.store().change_endpoint(collection, id, &rotation).await? {
            return Err(WebhookError::EndpointNotFound);
        }
        let pepper = self.pepper().await?;
        Ok(endpoint.changed(&rotation).signing_secrets(pepper, self.now().secs())[0].reveal())
    }

    /// Turns an endpoint on again, its failures forgotten: what was held for it is due at once (what was held
    /// past `HELD_FOR` is dropped, with the reason).
    pub async fn enable_webhook(&self, collection: &CollectionId, id: &str) -> Result<Enabled, WebhookError> {
        if !self.store().change_endpoint(collection, id, &EndpointChange::Enable).await? {
            return Err(WebhookError::EndpointNotFound);
        }
        let now = self.now();
        let days = HELD_FOR.as_secs() / 86_400;
        let expired = format!("held past {days} days while its endpoint was disabled");
        let released = self
            .release_held(collection, id, |held| match now.since(&held.created_at) < HELD_FOR {
                true => Release::Due { due_at_ms: now.ms() },
                false => Release::Dropped { why: expired.clone() },
            })
            .await?;
        let enabled = Enabled {
            released: released.iter().filter(|r| matches!(r, Release::Due { .. })).count(),
            expired: released.iter().filter(|r| matches!(r, Release::Dropped { .. })).count(),
        };
        tracing::info!(%collection, endpoint = id, released = enabled.released, expired = enabled.expired,
            "webhook endpoint enabled");
        Ok(enabled)
    }

    /// Disables an endpoint (its deliveries are held until it is enabled), saying why.
    pub(in crate::service) async fn disable_webhook(
        &self,
        collection: &CollectionId,
        id: &str,
        why: &str,
    ) -> Result<bool, Unavailable> {
        let change = EndpointChange::Disable { at: self.now().rfc3339(), why: why.to_owned() };
        self.store().change_endpoint(collection, id, &change).await
    }

    /// Takes every delivery held for an endpoint out of its hold, each as `release` says; the releases made.
    async fn release_held(
        &self,
        collection: &CollectionId,
        id: &str,
        release: impl Fn(&WebhookDelivery) -> Release,
    ) -> Result<Vec<Release>, Unavailable> {
        let mut done = Vec::new();
        loop {
            let held = self.store().held_webhook_deliveries(collection, id, HELD_PAGE).await?;
            let mut moved = 0;
            for delivery in &held {
                let release = release(delivery);
                if self.store().release_webhook_delivery(&delivery.key(), &release, self.now()).await? == Moved::Moved {
                    moved += 1;
                    done.push(release);
                }
            }
            // The index is read eventually consistently: a page of what moved already ends it.
            if held.len() < HELD_PAGE || moved == 0 {
                return Ok(done);
            }
        }
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

    /// A collection's latest settled deliveries (delivered, failed or dropped).
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

    /// One signed POST of `body` to an endpoint.
    pub(super) async fn post_signed(
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
}
