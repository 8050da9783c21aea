//! The outbox: each e-mail moved only along `MailState::may_follow`, by the attempt that owns it, with the
//! webhook deliveries its fate owes in the same write; the `outbox` index read by its groups.

use std::time::Duration;

use super::{MemoryStore, TicketItem, cancelled, mail_key, too_many};
use crate::domain::webhook_delivery::WebhookDelivery;
use crate::domain::{CollectionId, Feedback, Mail, MailKey, MailState, Now, Settlement};
use crate::ports::{DuePage, MAX_TRANSACTION_ITEMS, Moved, OutboxStore, Unavailable, Unreadable, outcome_items};
use crate::schema::tickets;

impl OutboxStore for MemoryStore {
    async fn add_mail(&self, mail: &Mail) -> Result<bool, Unavailable> {
        self.enter("add_mail")?;
        let mut data = self.data();
        let key = mail_key(&mail.key());
        if data.items.contains_key(&key) {
            return Ok(false);
        }
        data.items.insert(key, TicketItem::Mail(mail.clone()));
        Ok(true)
    }

    async fn claim_mail(&self, key: &MailKey, now: Now, lease: Duration) -> Result<Option<Mail>, Unavailable> {
        self.enter("claim_mail")?;
        let mut data = self.data();
        let Some(mail) = data.mail_mut(key) else { return Ok(None) };
        let due = mail.due_at_ms.is_some_and(|due| due <= now.ms());
        let claimable =
            MailState::Sending.may_follow().contains(&mail.state) && (mail.state == MailState::Pending || due);
        if !claimable {
            return Ok(None);
        }
        mail.state = MailState::Sending;
        mail.attempts += 1;
        mail.due_at_ms = Some(now.ms_after(lease));
        Ok(Some(mail.clone()))
    }

    async fn settle_mail(
        &self,
        key: &MailKey,
        attempt: u32,
        outcome: &Settlement,
        now: Now,
        webhooks: &[WebhookDelivery],
    ) -> Result<Moved, Unavailable> {
        self.enter("settle_mail")?;
        if outcome_items(webhooks) > MAX_TRANSACTION_ITEMS {
            return Err(too_many("settle_mail", outcome_items(webhooks)));
        }
        let mut data = self.data();
        let Some(mail) = data.mail_mut(key) else { return Ok(Moved::NotOurs) };
        if !outcome.state().may_follow().contains(&mail.state) || mail.attempts != attempt {
            return Ok(Moved::NotOurs);
        }
        if data.any_exists(None, &[], webhooks) {
            return Err(cancelled("settle_mail"));
        }
        let mail = data.mail_mut(key).expect("read above");
        mail.state = outcome.state();
        match outcome {
            Settlement::Sent { message_id } => {
                mail.message_id = Some(message_id.clone());
                mail.sent_at = Some(now.rfc3339());
                mail.due_at_ms = None;
                mail.last_error = None;
            }
            Settlement::Retry { error, due_at_ms } => {
                mail.due_at_ms = Some(*due_at_ms);
                mail.last_error = Some(error.clone());
            }
            Settlement::Failed { error } | Settlement::Suppressed { error } => {
                mail.due_at_ms = None;
                mail.last_error = Some(error.clone());
                mail.failed_at = Some(now.rfc3339());
            }
        }
        data.put_webhook_deliveries(webhooks);
        Ok(Moved::Moved)
    }

    async fn due_mail(&self, now: Now, limit: usize) -> Result<DuePage, Unavailable> {
        self.enter("due_mail")?;
        let data = self.data();
        let shards: Vec<String> = tickets::outbox_due_groups().collect();
        let due = data.outbox(&shards).into_iter().filter(|m| m.due_at_ms.is_some_and(|d| d <= now.ms()));
        // Items here are typed: none can be unreadable (the DynamoDB store's items can).
        Ok(DuePage { mail: due.take(limit).cloned().collect(), unreadable: Vec::new() })
    }

    async fn set_aside(&self, _item: &Unreadable, _now: Now) -> Result<(), Unavailable> {
        self.enter("set_aside")?;
        Ok(())
    }

    async fn undelivered(&self, collection: Option<&CollectionId>) -> Result<Vec<Mail>, Unavailable> {
        self.enter("undelivered")?;
        let data = self.data();
        let due: Vec<String> = tickets::outbox_due_groups().collect();
        let groups = [due, vec![tickets::OUTBOX_FAILED.to_owned()]];
        Ok(groups
            .iter()
            .flat_map(|groups| data.outbox(groups))
            .filter(|m| collection.is_none_or(|c| *c == m.collection_id))
            .cloned()
            .collect())
    }

    async fn get_mail(&self, key: &MailKey) -> Result<Option<Mail>, Unavailable> {
        self.enter("get_mail")?;
        Ok(self.data().mail_mut(key).map(|m| m.clone()))
    }

    async fn requeue_mail(&self, key: &MailKey, due_at_ms: u64, now: Now) -> Result<Moved, Unavailable> {
        self.enter("requeue_mail")?;
        let mut data = self.data();
        match data.mail_mut(key) {
            Some(mail) if MailState::Pending.may_follow().contains(&mail.state) => {
                mail.state = MailState::Pending;
                mail.due_at_ms = Some(due_at_ms);
                mail.failed_at = None;
                mail.resent_at = Some(now.rfc3339());
                Ok(Moved::Moved)
            }
            _ => Ok(Moved::NotOurs),
        }
    }

    async fn record_feedback(
        &self,
        key: &MailKey,
        feedback: &Feedback,
        _now: Now,
        webhooks: &[WebhookDelivery],
    ) -> Result<Moved, Unavailable> {
        self.enter("record_feedback")?;
        if outcome_items(webhooks) > MAX_TRANSACTION_ITEMS {
            return Err(too_many("record_feedback", outcome_items(webhooks)));
        }
        let mut data = self.data();
        match data.mail_mut(key) {
            Some(mail) if feedback.state().may_follow().contains(&mail.state) => {}
            _ => return Ok(Moved::NotOurs),
        }
        if data.any_exists(None, &[], webhooks) {
            return Err(cancelled("record_feedback"));
        }
        let mail = data.mail_mut(key).expect("read above");
        mail.state = feedback.state();
        if let Feedback::Bounced { detail, .. } | Feedback::Complained { detail } = feedback {
            mail.last_error = Some(detail.clone());
        }
        data.put_webhook_deliveries(webhooks);
        Ok(Moved::Moved)
    }
}
