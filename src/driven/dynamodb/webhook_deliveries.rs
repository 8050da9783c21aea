//! Webhook deliveries: one item per delivery in its ticket's partition (`schema::tickets::webhook_delivery_sk`), in the
//! `outbox` index while due (`webhooks`, by when) and, once settled, under its collection (`webhooks#{collection}`, by
//! when it settled) for `ticketctl webhooks deliveries`. Every change is an `UpdateItem` conditioned on the state
//! it moves from and, for an attempt's outcome, on the attempt that owns it.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::ReturnValue;

use super::{DynamoStore, from_item, items, n, s, unavailable};
use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey, WebhookDeliveryState};
use crate::domain::{CollectionId, Now};
use crate::ports::{Moved, Unavailable, WebhookDeliveryStore};
use crate::schema::tickets;

const CLAIM_HOOK: &str = "DynamoDB UpdateItem (webhook claimed)";
const SETTLE_HOOK: &str = "DynamoDB UpdateItem (webhook outcome)";
const DUE_HOOKS: &str = "DynamoDB Query (webhooks due)";
const SETTLED_HOOKS: &str = "DynamoDB Query (a collection's webhook deliveries)";

impl WebhookDeliveryStore for DynamoStore {
    async fn claim_webhook_delivery(
        &self,
        key: &WebhookDeliveryKey,
        now: Now,
        lease: Duration,
    ) -> Result<Option<WebhookDelivery>, Unavailable> {
        let until = now.ms_after(lease);
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.tickets)
            .set_key(Some(items::webhook_delivery_key(key)))
            .update_expression(
                "SET #state = :sending, attempts = if_not_exists(attempts, :zero) + :one, dueAtMs = :until, \
                 #outboxAt = :until",
            )
            .condition_expression(
                "#state = :pending OR ((#state = :retrying OR #state = :sending) AND dueAtMs <= :now)",
            )
            .expression_attribute_names("#state", tickets::WEBHOOK_DELIVERY_STATE)
            .expression_attribute_names("#outboxAt", tickets::OUTBOX_AT)
            .expression_attribute_values(":sending", s(WebhookDeliveryState::Sending.as_str()))
            .expression_attribute_values(":pending", s(WebhookDeliveryState::Pending.as_str()))
            .expression_attribute_values(":retrying", s(WebhookDeliveryState::Retrying.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now.ms()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.map(|item| from_item(CLAIM_HOOK, item)).transpose(),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(None),
            Err(e) => Err(unavailable(CLAIM_HOOK)(e)),
        }
    }

    async fn settle_webhook_delivery(
        &self,
        delivery: &WebhookDelivery,
        attempt: u32,
        now: Now,
    ) -> Result<Moved, Unavailable> {
        let (group, at) = match delivery.state.is_due_kind() {
            false => (tickets::webhooks_settled(&delivery.collection_id), now.ms()),
            true => (tickets::WEBHOOKS_DUE.to_owned(), delivery.due_at_ms.unwrap_or(now.ms())),
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.tickets)
            .set_key(Some(items::webhook_delivery_key(&delivery.key())))
            .update_expression(
                "SET #state = :state, #outbox = :group, #outboxAt = :at, lastStatus = :status, lastError = :error, \
                 lastLatencyMs = :latency, settledAt = :settled, dueAtMs = :due, attempts = :attempts",
            )
            .condition_expression("#state = :sending AND attempts = :attempt")
            .expression_attribute_names("#state", tickets::WEBHOOK_DELIVERY_STATE)
            .expression_attribute_names("#outbox", tickets::OUTBOX_GROUP)
            .expression_attribute_names("#outboxAt", tickets::OUTBOX_AT)
            .expression_attribute_values(":state", s(delivery.state.as_str()))
            .expression_attribute_values(":sending", s(WebhookDeliveryState::Sending.as_str()))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":attempts", n(delivery.attempts))
            .expression_attribute_values(":group", s(group))
            .expression_attribute_values(":at", n(at));
        let null = aws_sdk_dynamodb::types::AttributeValue::Null(true);
        let or_null = |v: Option<aws_sdk_dynamodb::types::AttributeValue>| v.unwrap_or_else(|| null.clone());
        request = request
            .expression_attribute_values(":status", or_null(delivery.last_status.map(|v| n(u64::from(v)))))
            .expression_attribute_values(":error", or_null(delivery.last_error.clone().map(s)))
            .expression_attribute_values(":latency", or_null(delivery.last_latency_ms.map(n)))
            .expression_attribute_values(":settled", or_null(delivery.settled_at.clone().map(s)))
            .expression_attribute_values(":due", or_null(delivery.due_at_ms.map(n)));
        match request.send().await {
            Ok(_) => Ok(Moved::Moved),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(Moved::NotOurs),
            Err(e) => Err(unavailable(SETTLE_HOOK)(e)),
        }
    }

    async fn due_webhook_deliveries(&self, now: Now, limit: usize) -> Result<Vec<WebhookDeliveryKey>, Unavailable> {
        let page = self
            .client
            .query()
            .table_name(&self.tables.tickets)
            .index_name(tickets::OUTBOX.name)
            .key_condition_expression(format!("{} = :due AND {} <= :now", tickets::OUTBOX_GROUP, tickets::OUTBOX_AT))
            .expression_attribute_values(":due", s(tickets::WEBHOOKS_DUE))
            .expression_attribute_values(":now", n(now.ms()))
            .limit(limit.clamp(1, 1_000) as i32)
            .send()
            .await
            .map_err(unavailable(DUE_HOOKS))?;
        let mut due = Vec::new();
        for item in page.items.unwrap_or_default() {
            let delivery: WebhookDelivery = from_item(DUE_HOOKS, item)?;
            due.push(delivery.key());
        }
        Ok(due)
    }

    async fn settled_webhook_deliveries(
        &self,
        collection: &CollectionId,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, Unavailable> {
        let page = self
            .client
            .query()
            .table_name(&self.tables.tickets)
            .index_name(tickets::OUTBOX.name)
            .key_condition_expression(format!("{} = :group", tickets::OUTBOX_GROUP))
            .expression_attribute_values(":group", s(tickets::webhooks_settled(collection)))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1_000) as i32)
            .send()
            .await
            .map_err(unavailable(SETTLED_HOOKS))?;
        page.items.unwrap_or_default().into_iter().map(|item| from_item(SETTLED_HOOKS, item)).collect()
    }
}
