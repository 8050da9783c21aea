//! Webhook deliveries: one item per delivery in its ticket's partition (`schema::tickets::webhook_delivery_sk`),
//! placed in the `outbox` index by its state (`schema::tickets::webhook_delivery_group`): due, in one of the
//! shards by when; held for a disabled endpoint, under the endpoint by when it was held; settled, under its
//! collection by when (`ticketctl webhooks deliveries`). Every change is an `UpdateItem` conditioned on the state
//! it moves from and, for an attempt's outcome, on the attempt that owns it.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::domain::webhook_delivery::{WebhookDelivery, WebhookDeliveryKey, WebhookDeliveryState};
use crate::domain::{CollectionId, Now};
use crate::ports::{Moved, Release, Unavailable, WebhookDeliveryStore};
use crate::schema::tickets;

use super::{DynamoStore, Item, from_item, items, n, number_in, s, unavailable};

const CLAIM: &str = "DynamoDB UpdateItem (webhook claimed)";
const SETTLE: &str = "DynamoDB UpdateItem (webhook outcome)";
const RELEASE: &str = "DynamoDB UpdateItem (held webhook released)";
const DUE: &str = "DynamoDB Query (webhooks due)";
const HELD: &str = "DynamoDB Query (webhooks held for an endpoint)";
const SETTLED: &str = "DynamoDB Query (a collection's webhook deliveries)";

impl DynamoStore {
    /// Up to `limit` items of one partition of the `outbox` index, at or before `until` (by `outboxAt`), in its
    /// order (latest first when `latest_first`).
    async fn outbox_page(
        &self,
        group: String,
        until: Option<u64>,
        limit: usize,
        latest_first: bool,
        operation: &'static str,
    ) -> Result<Vec<Item>, Unavailable> {
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.tickets)
            .index_name(tickets::OUTBOX.name)
            .expression_attribute_values(":group", s(group))
            .scan_index_forward(!latest_first)
            .limit(limit.clamp(1, 1_000) as i32);
        query = match until {
            Some(until) => query
                .key_condition_expression(format!(
                    "{} = :group AND {} <= :until",
                    tickets::OUTBOX_GROUP,
                    tickets::OUTBOX_AT
                ))
                .expression_attribute_values(":until", n(until)),
            None => query.key_condition_expression(format!("{} = :group", tickets::OUTBOX_GROUP)),
        };
        Ok(query.send().await.map_err(unavailable(operation))?.items.unwrap_or_default())
    }
}

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
            Ok(out) => out.attributes.map(|item| from_item(CLAIM, item)).transpose(),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(None),
            Err(e) => Err(unavailable(CLAIM)(e)),
        }
    }

    async fn settle_webhook_delivery(
        &self,
        delivery: &WebhookDelivery,
        attempt: u32,
        now: Now,
    ) -> Result<Moved, Unavailable> {
        // Due ones by when they are due; held and settled ones by when they were put there.
        let at = match delivery.state.is_due_kind() {
            true => delivery.due_at_ms.unwrap_or(now.ms()),
            false => now.ms(),
        };
        let null = AttributeValue::Null(true);
        let or_null = |v: Option<AttributeValue>| v.unwrap_or_else(|| null.clone());
        let request = self
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
            .expression_attribute_values(":group", s(tickets::webhook_delivery_group(delivery)))
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":status", or_null(delivery.last_status.map(|v| n(u64::from(v)))))
            .expression_attribute_values(":error", or_null(delivery.last_error.clone().map(s)))
            .expression_attribute_values(":latency", or_null(delivery.last_latency_ms.map(n)))
            .expression_attribute_values(":settled", or_null(delivery.settled_at.clone().map(s)))
            .expression_attribute_values(":due", or_null(delivery.due_at_ms.map(n)));
        match request.send().await {
            Ok(_) => Ok(Moved::Moved),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(Moved::NotOurs),
            Err(e) => Err(unavailable(SETTLE)(e)),
        }
    }

    async fn due_webhook_deliveries(&self, now: Now, limit: usize) -> Result<Vec<WebhookDelivery>, Unavailable> {
        // Each shard's oldest `limit`, side by side; then the oldest `limit` of them all.
        let shards =
            tickets::webhooks_due_groups().map(|group| self.outbox_page(group, Some(now.ms()), limit, false, DUE));
        let mut due = Vec::new();
        for page in futures_util::future::join_all(shards).await {
            due.extend(page?);
        }
        due.sort_by_key(|item| number_in(item, tickets::OUTBOX_AT));
        due.truncate(limit);
        due.into_iter().map(|item| from_item(DUE, item)).collect()
    }

    async fn held_webhook_deliveries(
        &self,
        collection: &CollectionId,
        endpoint_id: &str,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, Unavailable> {
        let group = tickets::webhooks_held(collection, endpoint_id);
        let page = self.outbox_page(group, None, limit, false, HELD).await?;
        page.into_iter().map(|item| from_item(HELD, item)).collect()
    }

    async fn release_webhook_delivery(
        &self,
        key: &WebhookDeliveryKey,
        release: &Release,
        now: Now,
    ) -> Result<Moved, Unavailable> {
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.tickets)
            .set_key(Some(items::webhook_delivery_key(key)))
            .condition_expression("#state = :held")
            .expression_attribute_names("#state", tickets::WEBHOOK_DELIVERY_STATE)
            .expression_attribute_names("#outbox", tickets::OUTBOX_GROUP)
            .expression_attribute_names("#outboxAt", tickets::OUTBOX_AT)
            .expression_attribute_values(":held", s(WebhookDeliveryState::Held.as_str()));
        let request = match release {
            Release::Due { due_at_ms } => request
                .update_expression("SET #state = :pending, dueAtMs = :due, #outbox = :group, #outboxAt = :due")
                .expression_attribute_values(":pending", s(WebhookDeliveryState::Pending.as_str()))
                .expression_attribute_values(":due", n(*due_at_ms))
                .expression_attribute_values(":group", s(tickets::webhooks_due(&key.collection_id, key.ticket_number))),
            Release::Dropped { why } => request
                .update_expression(
                    "SET #state = :dropped, lastError = :why, settledAt = :at, #outbox = :group, #outboxAt = :now \
                     REMOVE dueAtMs",
                )
                .expression_attribute_values(":dropped", s(WebhookDeliveryState::Dropped.as_str()))
                .expression_attribute_values(":why", s(why))
                .expression_attribute_values(":at", s(now.rfc3339()))
                .expression_attribute_values(":now", n(now.ms()))
                .expression_attribute_values(":group", s(tickets::webhooks_settled(&key.collection_id))),
        };
        match request.send().await {
            Ok(_) => Ok(Moved::Moved),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(Moved::NotOurs),
            Err(e) => Err(unavailable(RELEASE)(e)),
        }
    }

    async fn settled_webhook_deliveries(
        &self,
        collection: &CollectionId,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, Unavailable> {
        let page = self.outbox_page(tickets::webhooks_settled(collection), None, limit, true, SETTLED).await?;
        page.into_iter().map(|item| from_item(SETTLED, item)).collect()
    }
}
