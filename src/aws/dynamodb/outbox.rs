//! The outbox: one item per e-mail (`sk` = `mail#{entry}#{index}`) in its ticket's partition. Every change of
//! its state is an `UpdateItem` conditioned on the states `MailState::may_follow` allows (and, for an attempt's
//! outcome, on the attempt that owns it); a refused condition means someone else moved it.
//!
//! The `outbox` index is sparse: only e-mails not delivered yet (`outbox` = `due`, sorted by when the sweep
//! may take them) and those failed for good (`outbox` = `failed`, by when they failed) are in it. Finding
//! undelivered e-mails never scans the tickets.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::tickets::ticket_pk;
use super::{DynamoStore, Item, from_item, n, s, to_item, unavailable};
use crate::domain::{CollectionId, Feedback, Mail, MailKey, MailState, Settlement, now_ms, now_rfc3339};
use crate::ports::{Moved, OutboxStore, Unavailable};

/// The sparse index of undelivered e-mails.
pub const OUTBOX_INDEX: &str = "outbox";
/// Its partition of e-mails still to deliver (pending, sending, retrying).
pub const OUTBOX_DUE: &str = "due";
/// Its partition of e-mails failed for good.
pub const OUTBOX_FAILED: &str = "failed";

const CLAIM_MAIL: &str = "DynamoDB UpdateItem (e-mail claimed)";
const SETTLE_MAIL: &str = "DynamoDB UpdateItem (e-mail outcome)";
const DUE_MAIL: &str = "DynamoDB Query (e-mails due)";
const REQUEUE_MAIL: &str = "DynamoDB UpdateItem (e-mail re-sent)";
const TICKET_MAIL: &str = "DynamoDB Query (a ticket's e-mails)";
const MAIL_FEEDBACK: &str = "DynamoDB UpdateItem (e-mail delivered, bounced or complained)";

fn mail_sk(key: &MailKey) -> AttributeValue {
    s(format!("mail#{:06}#{:03}", key.entry, key.index))
}

/// A new e-mail as stored: the record, its keys, and its place in the `outbox` index.
pub(super) fn mail_item(mail: &Mail) -> Item {
    let key = mail.key();
    let mut item = to_item(mail);
    item.insert("pk".into(), ticket_pk(&key.collection_id, key.ticket_number));
    item.insert("sk".into(), mail_sk(&key));
    if let Some(due) = mail.due_at_ms {
        item.insert("outbox".into(), s(OUTBOX_DUE));
        item.insert("outboxAt".into(), n(due));
    }
    item
}

/// `mailState = :from0 OR …`: the states the target state may follow, as a condition. A move out of a state
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
                    format!("(mailState = {placeholder} AND dueAtMs <= :now)")
                }
                _ => format!("mailState = {placeholder}"),
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
    /// An update of one e-mail's item.
    fn update_mail(&self, key: &MailKey) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.tables.tickets)
            .key("pk", ticket_pk(&key.collection_id, key.ticket_number))
            .key("sk", mail_sk(key))
    }
}

impl OutboxStore for DynamoStore {
    async fn claim_mail(&self, key: &MailKey, now_ms: u64, lease_ms: u64) -> Result<Option<Mail>, Unavailable> {
        let mut values = vec![];
        let condition = from_states(MailState::Sending, &mut values);
        let until = now_ms + lease_ms;
        let result = self
            .update_mail(key)
            .update_expression(
                "SET mailState = :sending, attempts = if_not_exists(attempts, :zero) + :one, \
                 dueAtMs = :until, outboxAt = :until",
            )
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .expression_attribute_values(":sending", s(MailState::Sending.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now_ms))
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

    async fn settle_mail(&self, key: &MailKey, attempt: u32, outcome: &Settlement) -> Result<Moved, Unavailable> {
        let mut values = vec![];
        let condition = format!("({}) AND attempts = :attempt", from_states(outcome.state(), &mut values));
        let at = now_rfc3339();
        let request = self
            .update_mail(key)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":state", s(outcome.state().as_str()));
        let request = match outcome {
            Settlement::Sent { message_id } => request
                .update_expression(
                    "SET mailState = :state, messageId = :id, sentAt = :at \
                     REMOVE dueAtMs, outbox, outboxAt, lastError",
                )
                .expression_attribute_values(":id", s(message_id))
                .expression_attribute_values(":at", s(at)),
            Settlement::Retry { error, due_at_ms } => request
                .update_expression("SET mailState = :state, dueAtMs = :due, outboxAt = :due, lastError = :error")
                .expression_attribute_values(":due", n(due_at_ms))
                .expression_attribute_values(":error", s(error)),
            // Not sent, and listed with the failed ones, so that an operator sees it and can send it once lifted.
            Settlement::Failed { error } | Settlement::Suppressed { error } => request
                .update_expression(
                    "SET mailState = :state, lastError = :error, failedAt = :at, outbox = :failed, \
                     outboxAt = :now REMOVE dueAtMs",
                )
                .expression_attribute_values(":error", s(error))
                .expression_attribute_values(":at", s(at))
                .expression_attribute_values(":failed", s(OUTBOX_FAILED))
                .expression_attribute_values(":now", n(now_ms())),
        };
        moved(request.send().await, SETTLE_MAIL)
    }

    async fn due_mail(&self, now_ms: u64, limit: usize) -> Result<Vec<Mail>, Unavailable> {
        let page = self
            .client
            .query()
            .table_name(&self.tables.tickets)
            .index_name(OUTBOX_INDEX)
            .key_condition_expression("outbox = :due AND outboxAt <= :now")
            .expression_attribute_values(":due", s(OUTBOX_DUE))
            .expression_attribute_values(":now", n(now_ms))
            .limit(limit.clamp(1, 1_000) as i32)
            .send()
            .await
            .map_err(unavailable(DUE_MAIL))?;
        page.items.unwrap_or_default().into_iter().map(|item| from_item::<Mail>(DUE_MAIL, item)).collect()
    }

    async fn undelivered(&self, collection: Option<&CollectionId>) -> Result<Vec<Mail>, Unavailable> {
        let mut mail = Vec::new();
        for group in [OUTBOX_DUE, OUTBOX_FAILED] {
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.tables.tickets)
                    .index_name(OUTBOX_INDEX)
                    .key_condition_expression("outbox = :group")
                    .expression_attribute_values(":group", s(group))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(unavailable(DUE_MAIL))?;
                for item in page.items.unwrap_or_default() {
                    let m: Mail = from_item(DUE_MAIL, item)?;
                    if collection.is_none_or(|c| *c == m.collection_id) {
                        mail.push(m);
                    }
                }
                start = page.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(mail)
    }

    async fn requeue_mail(&self, key: &MailKey, due_at_ms: u64) -> Result<Moved, Unavailable> {
        let mut values = vec![];
        let condition = from_states(MailState::Pending, &mut values);
        let result = self
            .update_mail(key)
            .update_expression(
                "SET mailState = :pending, dueAtMs = :due, outbox = :group, outboxAt = :due REMOVE failedAt",
            )
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .expression_attribute_values(":pending", s(MailState::Pending.as_str()))
            .expression_attribute_values(":due", n(due_at_ms))
            .expression_attribute_values(":group", s(OUTBOX_DUE))
            .send()
            .await;
        moved(result, REQUEUE_MAIL)
    }

    async fn record_feedback(&self, key: &MailKey, feedback: &Feedback) -> Result<Moved, Unavailable> {
        let mut values = vec![];
        let condition = from_states(feedback.state(), &mut values);
        let detail = match feedback {
            Feedback::Delivered => None,
            Feedback::Bounced { detail, .. } | Feedback::Complained { detail } => Some(detail.clone()),
        };
        let request = self
            .update_mail(key)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .expression_attribute_values(":state", s(feedback.state().as_str()))
            .expression_attribute_values(":at", s(now_rfc3339()));
        let request = match detail {
            None => request.update_expression("SET mailState = :state, deliveredAt = :at"),
            Some(detail) => request
                .update_expression("SET mailState = :state, feedbackAt = :at, lastError = :detail")
                .expression_attribute_values(":detail", s(detail)),
        };
        moved(request.send().await, MAIL_FEEDBACK)
    }
}

impl DynamoStore {
    /// Every e-mail of one ticket, in order (for `ticketctl tickets show`).
    pub async fn ticket_mail(&self, id: &CollectionId, number: u64) -> Result<Vec<Mail>, Unavailable> {
        self.ticket_items(id, number, "mail#", TICKET_MAIL).await
    }
}
