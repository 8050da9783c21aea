//! What SES heard of the e-mails it accepted, from its events: each e-mail's record moves to delivered,
//! bounced or complained (a conditional write, so an event SES sends twice moves nothing the second time), and
//! an address that bounced for good or complained goes on the suppression list, which every later send checks
//! first. An event can come before the record of the send it is about (SES is quick; the record is written
//! after its answer): it is `NotYet`, and the door hands it back to be recorded once the send is. Nothing here
//! names an address in a log line.

use crate::domain::{Feedback, FeedbackEvent, Suppression};
use crate::ports::{Moved, OutboxStore, Ports, SuppressionStore, Unavailable};
use crate::telemetry;

use super::TicketService;

/// What recording one SES event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The e-mail's record moved on.
    Moved,
    /// Nothing to move: told already (SES's events may come twice), or about no e-mail of this outbox.
    Told,
    /// The e-mail is still being sent (or waits to be sent again): the event is to be recorded later.
    NotYet,
}

impl<P: Ports> TicketService<P> {
    /// Records one SES event.
    pub async fn record_feedback(&self, event: &FeedbackEvent) -> Result<Recorded, Unavailable> {
        let key = &event.mail;
        let now = self.now();
        // The suppression first: a retried event (after a failed write) must still suppress the address.
        if event.feedback.suppresses() {
            let (reason, detail) = match &event.feedback {
                Feedback::Complained { detail } => ("complaint", detail),
                Feedback::Bounced { detail, .. } => ("bounce", detail),
                Feedback::Delivered => unreachable!("a delivery suppresses nothing"),
            };
            for address in &event.recipients {
                let suppression = Suppression {
                    address: address.clone(),
                    reason: reason.into(),
                    detail: detail.clone(),
                    at: now.rfc3339(),
                    mail: key.tag(),
                };
                self.store().suppress(&suppression).await?;
            }
        }
        let webhooks = match &event.feedback {
            Feedback::Delivered => Vec::new(),
            Feedback::Bounced { detail, .. } | Feedback::Complained { detail } => {
                let reason =
                    if matches!(event.feedback, Feedback::Complained { .. }) { "complained" } else { "bounced" };
                match self.store().get_mail(key).await? {
                    Some(mail) => {
                        self.undeliverable_webhooks(key, mail.attempts, mail.audience, reason, detail).await?
                    }
                    None => Vec::new(),
                }
            }
        };
        let moved = self.store().record_feedback(key, &event.feedback, now, &webhooks).await? == Moved::Moved;
        let state = event.feedback.state().as_str();
        if !moved && self.store().get_mail(key).await?.is_some_and(|mail| mail.state.is_due_kind()) {
            tracing::info!(collection = %key.collection_id, ticket = key.ticket_number, entry = key.entry, state,
                "SES feedback before its send's record: to be recorded once the send is");
            return Ok(Recorded::NotYet);
        }
        if moved {
            match event.feedback {
                Feedback::Delivered => telemetry::email_delivered(),
                Feedback::Bounced { .. } => telemetry::email_bounced(),
                Feedback::Complained { .. } => telemetry::email_complained(),
            }
        }
        tracing::info!(collection = %key.collection_id, ticket = key.ticket_number, entry = key.entry, state,
            moved, suppressed = event.feedback.suppresses(), "SES feedback recorded");
        Ok(if moved { Recorded::Moved } else { Recorded::Told })
    }
}
