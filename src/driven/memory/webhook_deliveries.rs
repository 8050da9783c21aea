//! Webhook deliveries: claimed, then settled by the attempt that owns them, as `dynamodb::webhook_deliveries`.

use std::time::Duration;

use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey, WebhookDeliveryState};
use crate::domain::{CollectionId, Now};
use crate::ports::{Moved, Unavailable, WebhookDeliveryStore};

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
            WebhookDeliveryState::Delivered | WebhookDeliveryState::Failed => false,
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

    async fn due_webhook_deliveries(&self, now: Now, limit: usize) -> Result<Vec<WebhookDeliveryKey>, Unavailable> {
        self.enter("due_webhook_deliveries")?;
        let data = self.data();
        let mut due: Vec<_> = data
            .all_webhook_deliveries()
            .filter(|h| h.state.is_due_kind() && h.due_at_ms.is_some_and(|d| d <= now.ms()))
            .collect();
        due.sort_by_key(|h| h.due_at_ms);
        Ok(due.into_iter().take(limit).map(|h| h.key()).collect())
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
            .filter(|h| &h.collection_id == collection && !h.state.is_due_kind())
            .cloned()
            .collect();
        settled.sort_by(|a, b| b.settled_at.cmp(&a.settled_at));
        settled.truncate(limit);
        Ok(settled)
    }
}
