//! Webhook deliveries: claimed, then settled by the attempt that owns them, held for a disabled endpoint and
//! released from it, as `dynamodb::webhook_deliveries`.

use std::time::Duration;

use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey, WebhookDeliveryState};
use crate::domain::{CollectionId, Now};
use crate::ports::{Moved, Release, Unavailable, WebhookDeliveryStore};

use super::{MemoryStore, TicketItem, webhook_delivery_key};

impl WebhookDeliveryStore for MemoryStore {
    async fn claim_webhook_delivery(
        &self,
        key: &WebhookDeliveryKey,
        now: Now,
        lease: Duration,
    ) -> Result<Option<WebhookDelivery>, Unavailable> {
        self.enter("claim_webhook_delivery")?;
        let mut data = self.data();
        let Some(TicketItem::WebhookDelivery(delivery)) = data.items.get_mut(&webhook_delivery_key(key)) else {
            return Ok(None);
        };
        let due = delivery.due_at_ms.is_some_and(|d| d <= now.ms());
        let takeable = match delivery.state {
            WebhookDeliveryState::Pending => true,
            WebhookDeliveryState::Retrying | WebhookDeliveryState::Sending => due,
            WebhookDeliveryState::Delivered
            | WebhookDeliveryState::Failed
            | WebhookDeliveryState::Held
            | WebhookDeliveryState::Dropped => false,
        };
        if !takeable {
            return Ok(None);
        }
        delivery.state = WebhookDeliveryState::Sending;
        delivery.attempts += 1;
        delivery.due_at_ms = Some(now.ms_after(lease));
        Ok(Some(delivery.clone()))
    }

    async fn settle_webhook_delivery(
        &self,
        delivery: &WebhookDelivery,
        attempt: u32,
        _now: Now,
    ) -> Result<Moved, Unavailable> {
        self.enter("settle_webhook_delivery")?;
        let mut data = self.data();
        match data.items.get_mut(&webhook_delivery_key(&delivery.key())) {
            Some(TicketItem::WebhookDelivery(stored))
                if stored.state == WebhookDeliveryState::Sending && stored.attempts == attempt =>
            {
                *stored = delivery.clone();
                Ok(Moved::Moved)
            }
            _ => Ok(Moved::NotOurs),
        }
    }

    async fn due_webhook_deliveries(&self, now: Now, limit: usize) -> Result<Vec<WebhookDelivery>, Unavailable> {
        self.enter("due_webhook_deliveries")?;
        let data = self.data();
        let mut due: Vec<_> = data
            .all_webhook_deliveries()
            .filter(|h| h.state.is_due_kind() && h.due_at_ms.is_some_and(|d| d <= now.ms()))
            .cloned()
            .collect();
        due.sort_by_key(|h| h.due_at_ms);
        due.truncate(limit);
        Ok(due)
    }

    async fn held_webhook_deliveries(
        &self,
        collection: &CollectionId,
        endpoint_id: &str,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, Unavailable> {
        self.enter("held_webhook_deliveries")?;
        let data = self.data();
        let mut held: Vec<_> = data
            .all_webhook_deliveries()
            .filter(|h| {
                h.state == WebhookDeliveryState::Held && &h.collection_id == collection && h.endpoint_id == endpoint_id
            })
            .cloned()
            .collect();
        held.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        held.truncate(limit);
        Ok(held)
    }

    async fn release_webhook_delivery(
        &self,
        key: &WebhookDeliveryKey,
        release: &Release,
        now: Now,
    ) -> Result<Moved, Unavailable> {
        self.enter("release_webhook_delivery")?;
        let mut data = self.data();
        let Some(TicketItem::WebhookDelivery(delivery)) = data.items.get_mut(&webhook_delivery_key(key)) else {
            return Ok(Moved::NotOurs);
        };
        if delivery.state != WebhookDeliveryState::Held {
            return Ok(Moved::NotOurs);
        }
        match release {
            Release::Due { due_at_ms } => {
                delivery.state = WebhookDeliveryState::Pending;
                delivery.due_at_ms = Some(*due_at_ms);
            }
            Release::Dropped { why } => {
                delivery.state = WebhookDeliveryState::Dropped;
                delivery.due_at_ms = None;
                delivery.last_error = Some(why.clone());
                delivery.settled_at = Some(now.rfc3339());
            }
        }
        Ok(Moved::Moved)
    }

    async fn settled_webhook_deliveries(
        &self,
        collection: &CollectionId,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, Unavailable> {
        self.enter("settled_webhook_deliveries")?;
        let data = self.data();
        let mut settled: Vec<_> = data
            .all_webhook_deliveries()
            .filter(|h| {
                &h.collection_id == collection && !h.state.is_due_kind() && h.state != WebhookDeliveryState::Held
            })
            .cloned()
            .collect();
        settled.sort_by(|a, b| b.settled_at.cmp(&a.settled_at));
        settled.truncate(limit);
        Ok(settled)
    }
}
