//! The outbox: one item per e-mail in its ticket's partition (`schema::tickets::mail_sk`). Every change of its
//! state is an `UpdateItem` conditioned on the states `MailState::may_follow` allows (and, for an attempt's
//! outcome, on the attempt that owns it); a refused condition means someone else moved it.
//!
//! The `outbox` index is sparse: only e-mails not delivered yet (`outbox` = `due`, sorted by when the sweep
//! may take them) and those failed for good (`outbox` = `failed`, by when they failed) are in it
//! (`schema::tickets::outbox_group`). Finding undelivered e-mails never scans the tickets.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::domain::webhook_delivery::WebhookDelivery;
use crate::domain::{CollectionId, Feedback, Mail, MailKey, MailState, Now, Settlement};
use crate::ports::{DuePage, Moved, OutboxStore, Unavailable, Unreadable};
use crate::schema::tickets::{self, OUTBOX_FAILED};

use super::tickets::put_new;
use super::{DynamoStore, Item, from_item, items, n, number_in, s, unavailable};

const CLAIM_MAIL: &str = "DynamoDB UpdateItem (e-mail claimed)";
const SETTLE_MAIL: &str = "DynamoDB UpdateItem (e-mail outcome)";
const DUE_MAIL: &str = "DynamoDB Query (e-mails due)";
const REQUEUE_MAIL: &str = "DynamoDB UpdateItem (e-mail re-sent)";
const MAIL_FEEDBACK: &str = "DynamoDB UpdateItem (e-mail delivered, bounced or complained)";
const SET_ASIDE: &str = "DynamoDB UpdateItem (unreadable outbox item set aside)";
const GET_MAIL: &str = "DynamoDB GetItem (an e-mail's record)";
const ADD_MAIL: &str = "DynamoDB PutItem (a notice)";

/// Between an item's partition key and sort key in the key of an `Unreadable`.
const KEY_SEPARATOR: char = ' ';

/// An item's key as one string, `{pk} {sk}`, for a log line and for `set_aside` (neither holds a space).
fn item_key(item: &Item) -> String {
    let part = |name| match item.get(name) {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}{KEY_SEPARATOR}{}", part(tickets::PK), part(tickets::SK))
}

/// `#state = :from0 OR …`: the states the target state may follow, as a condition. A move out of a state
/// that waits for a time (a retry, a lease) is allowed only once that time has come.
fn from_states(target: MailState, names: &mut Vec<(String, AttributeValue)>) -> String {
    target
        .may_follow()
        .iter()
        .map(|state| {
            let placeholder = format!(":from_{}", state.as_str());
            names.push((placeholder.clone(), s(state.as_str())));
            match state {
                MailState::Retrying | MailState::Sending if target == MailState::Sending => {
                    format!("(#state = {placeholder} AND dueAtMs <= :now)")
                }
                _ => format!("#state = {placeholder}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// A conditional move's outcome: done, or refused by its condition (someone else moved the e-mail).
fn moved(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError>>,
    operation: &'static str,
) -> Result<Moved, Unavailable> {
    match result {
        Ok(_) => Ok(Moved::Moved),
        Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(Moved::NotOurs),
        Err(e) => Err(unavailable(operation)(e)),
    }
}

impl DynamoStore {
    /// An e-mail's update alone, or, with the webhook deliveries its fate owes, the same update and their puts in
    /// one transaction: refused (`NotOurs`) by the update's own condition, whichever way it is sent.
    async fn update_with_webhooks(
        &self,
        request: UpdateItemFluentBuilder,
        webhooks: &[WebhookDelivery],
        operation: &'static str,
    ) -> Result<Moved, Unavailable> {
        if webhooks.is_empty() {
            return moved(request.send().await, operation);
        }
        let input = request.as_input();
        let update = aws_sdk_dynamodb::types::Update::builder()
            .set_table_name(input.get_table_name().clone())
            .set_key(input.get_key().clone())
            .set_update_expression(input.get_update_expression().clone())
            .set_condition_expression(input.get_condition_expression().clone())
            .set_expression_attribute_names(input.get_expression_attribute_names().clone())
            .set_expression_attribute_values(input.get_expression_attribute_values().clone())
            .build()
            .map_err(|e| Unavailable::new(operation, e))?;
        let mut items = vec![aws_sdk_dynamodb::types::TransactWriteItem::builder().update(update).build()];
        items.extend(webhooks.iter().map(|delivery| put_new(&self.tables.tickets, items::webhook_delivery(delivery))));
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Moved::Moved),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                let ours = match e.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed")
                    }
                    _ => false,
                };
                match ours {
                    true => Ok(Moved::NotOurs),
                    false => Err(Unavailable::new(operation, anyhow::anyhow!("transaction cancelled"))),
                }
            }
            Err(e) => Err(unavailable(operation)(e)),
        }
    }

    /// An update of one e-mail's item. Every update is conditioned on the state (`#state`); those that move it
    /// in or out of the `outbox` index name the index's attributes `#outbox` and `#outboxAt`.
    fn update_mail(&self, key: &MailKey, moves_in_index: bool) -> UpdateItemFluentBuilder {
        let update = self
            .client
            .update_item()
            .table_name(&self.tables.tickets)
            .set_key(Some(items::mail_key(key)))
            .expression_attribute_names("#state", tickets::MAIL_STATE);
        match moves_in_index {
            true => update
                .expression_attribute_names("#outbox", tickets::OUTBOX_GROUP)
                .expression_attribute_names("#outboxAt", tickets::OUTBOX_AT),
            false => update,
        }
    }
}

impl OutboxStore for DynamoStore {
    async fn add_mail(&self, mail: &Mail) -> Result<bool, Unavailable> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.tickets)
            .set_item(Some(items::mail(mail)))
            .condition_expression(format!("attribute_not_exists({})", tickets::PK))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(ADD_MAIL)(e)),
        }
    }

    async fn claim_mail(&self, key: &MailKey, now: Now, lease: Duration) -> Result<Option<Mail>, Unavailable> {
        let mut values = vec![];
        let condition = from_states(MailState::Sending, &mut values);
        let until = now.ms_after(lease);
        let result = self
            .update_mail(key, false)
            .expression_attribute_names("#outboxAt", tickets::OUTBOX_AT)
            .update_expression(
                "SET #state = :sending, attempts = if_not_exists(attempts, :zero) + :one, \
                 dueAtMs = :until, #outboxAt = :until",
            )
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .expression_attribute_values(":sending", s(MailState::Sending.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now.ms()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.map(|item| from_item(CLAIM_MAIL, item)).transpose(),
            // Already sent, failed for good, held by a live lease, not due yet, or not there at all.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(None),
            Err(e) => Err(unavailable(CLAIM_MAIL)(e)),
        }
    }

    async fn settle_mail(
        &self,
        key: &MailKey,
        attempt: u32,
        outcome: &Settlement,
        now: Now,
        webhooks: &[WebhookDelivery],
    ) -> Result<Moved, Unavailable> {
        let mut values = vec![];
        let condition = format!("({}) AND attempts = :attempt", from_states(outcome.state(), &mut values));
        let at = now.rfc3339();
        let retry = matches!(outcome, Settlement::Retry { .. });
        let request = self
            .update_mail(key, !retry)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":state", s(outcome.state().as_str()));
        let request = match outcome {
            Settlement::Sent { message_id } => request
                .update_expression(
                    "SET #state = :state, messageId = :id, sentAt = :at \
                     REMOVE dueAtMs, #outbox, #outboxAt, lastError",
                )
                .expression_attribute_values(":id", s(message_id))
                .expression_attribute_values(":at", s(at)),
            Settlement::Retry { error, due_at_ms } => request
                .expression_attribute_names("#outboxAt", tickets::OUTBOX_AT)
                .update_expression("SET #state = :state, dueAtMs = :due, #outboxAt = :due, lastError = :error")
                .expression_attribute_values(":due", n(due_at_ms))
                .expression_attribute_values(":error", s(error)),
            // Not sent, and listed with the failed ones, so that an operator sees it and can send it once lifted.
            Settlement::Failed { error } | Settlement::Suppressed { error } => request
                .update_expression(
                    "SET #state = :state, lastError = :error, failedAt = :at, #outbox = :failed, \
                     #outboxAt = :now REMOVE dueAtMs",
                )
                .expression_attribute_values(":error", s(error))
                .expression_attribute_values(":at", s(at))
                .expression_attribute_values(":failed", s(OUTBOX_FAILED))
                .expression_attribute_values(":now", n(now.ms())),
        };
        self.update_with_webhooks(request, webhooks, SETTLE_MAIL).await
    }

    async fn due_mail(&self, now: Now, limit: usize) -> Result<DuePage, Unavailable> {
        // Each shard's oldest `limit`, side by side; then the oldest `limit` of them all.
        let shards = tickets::outbox_due_groups().map(|group| {
            self.client
                .query()
                .table_name(&self.tables.tickets)
                .index_name(tickets::OUTBOX.name)
                .key_condition_expression(format!(
                    "{} = :due AND {} <= :now",
                    tickets::OUTBOX_GROUP,
                    tickets::OUTBOX_AT
                ))
                .expression_attribute_values(":due", s(group))
                .expression_attribute_values(":now", n(now.ms()))
                .limit(limit.clamp(1, 1_000) as i32)
                .send()
        });
        let mut items = Vec::new();
        for page in futures_util::future::join_all(shards).await {
            items.extend(page.map_err(unavailable(DUE_MAIL))?.items.unwrap_or_default());
        }
        items.sort_by_key(|item| number_in(item, tickets::OUTBOX_AT));
        items.truncate(limit);
        let mut page = DuePage::default();
        for item in items {
            match serde_dynamo::from_item::<_, Mail>(item.clone()) {
                Ok(mail) => page.mail.push(mail),
                Err(e) => page.unreadable.push(Unreadable { key: item_key(&item), error: e.to_string() }),
            }
        }
        Ok(page)
    }

    async fn set_aside(&self, item: &Unreadable, now: Now) -> Result<(), Unavailable> {
        let (pk, sk) = item.key.split_once(KEY_SEPARATOR).unwrap_or((item.key.as_str(), ""));
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.tickets)
            .set_key(Some(items::key(pk.to_owned(), sk.to_owned())))
            .update_expression("SET #outbox = :unreadable, #outboxAt = :now, lastError = :error")
            .condition_expression(format!("attribute_exists({})", tickets::PK))
            .expression_attribute_names("#outbox", tickets::OUTBOX_GROUP)
            .expression_attribute_names("#outboxAt", tickets::OUTBOX_AT)
            .expression_attribute_values(":unreadable", s(tickets::OUTBOX_UNREADABLE))
            .expression_attribute_values(":now", n(now.ms()))
            .expression_attribute_values(":error", s(format!("unreadable item: {}", item.error)))
            .send()
            .await;
        moved(result, SET_ASIDE).map(|_| ())
    }

    async fn undelivered(&self, collection: Option<&CollectionId>) -> Result<Vec<Mail>, Unavailable> {
        let mut mail = Vec::new();
        for group in tickets::outbox_due_groups().chain([OUTBOX_FAILED.to_owned()]) {
            let mut pages = self
                .client
                .query()
                .table_name(&self.tables.tickets)
                .index_name(tickets::OUTBOX.name)
                .key_condition_expression(format!("{} = :group", tickets::OUTBOX_GROUP))
                .expression_attribute_values(":group", s(group))
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                let item = item.map_err(unavailable(DUE_MAIL))?;
                match serde_dynamo::from_item::<_, Mail>(item.clone()) {
                    Ok(m) if collection.is_none_or(|c| *c == m.collection_id) => mail.push(m),
                    Ok(_) => {}
                    // The sweep sets such an item aside when it meets it.
                    Err(e) => tracing::warn!(item = %item_key(&item), error = %e, "outbox item unreadable: left out"),
                }
            }
        }
        Ok(mail)
    }

    async fn get_mail(&self, key: &MailKey) -> Result<Option<Mail>, Unavailable> {
        self.ticket_item(&key.collection_id, key.ticket_number, tickets::mail_sk(key), GET_MAIL).await
    }

    async fn requeue_mail(&self, key: &MailKey, due_at_ms: u64, now: Now) -> Result<Moved, Unavailable> {
        let mut values = vec![];
        let condition = from_states(MailState::Pending, &mut values);
        let result = self
            .update_mail(key, true)
            .update_expression(
                "SET #state = :pending, dueAtMs = :due, #outbox = :group, #outboxAt = :due, resentAt = :now \
                 REMOVE failedAt",
            )
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .expression_attribute_values(":pending", s(MailState::Pending.as_str()))
            .expression_attribute_values(":due", n(due_at_ms))
            .expression_attribute_values(":group", s(tickets::outbox_due(&key.collection_id, key.ticket_number)))
            .expression_attribute_values(":now", s(now.rfc3339()))
            .send()
            .await;
        moved(result, REQUEUE_MAIL)
    }

    async fn record_feedback(
        &self,
        key: &MailKey,
        feedback: &Feedback,
        now: Now,
        webhooks: &[WebhookDelivery],
    ) -> Result<Moved, Unavailable> {
        let mut values = vec![];
        let condition = from_states(feedback.state(), &mut values);
        let detail = match feedback {
            Feedback::Delivered => None,
            Feedback::Bounced { detail, .. } | Feedback::Complained { detail } => Some(detail.clone()),
        };
        let request = self
            .update_mail(key, false)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .expression_attribute_values(":state", s(feedback.state().as_str()))
            .expression_attribute_values(":at", s(now.rfc3339()));
        let request = match detail {
            None => request.update_expression("SET #state = :state, deliveredAt = :at"),
            Some(detail) => request
                .update_expression("SET #state = :state, feedbackAt = :at, lastError = :detail")
                .expression_attribute_values(":detail", s(detail)),
        };
        self.update_with_webhooks(request, webhooks, MAIL_FEEDBACK).await
    }
}
