//! Replies by e-mail: a message SES received becomes a reply on the ticket its reply address names, in the
//! role it names, with the effects, limits and e-mails of a reply from the page; or it becomes nothing, at no
//! cost. The one place that orders the steps:
//!
//! 1. the recipients that are this deployment's reply addresses (none: not for a ticket);
//! 2. SES's verdicts (spam, a virus, a forged sender) and the envelope (an empty return path is a bounce),
//!    before anything is read;
//! 3. each address verified against its ticket (the tag the ticket's nonce gives now, in constant time);
//! 4. the message read from the inbox once, parsed, and refused if a machine wrote it (an auto-reply, a report,
//!    a list) or this deployment's own sender did;
//! 5. per address: a closed ticket takes nothing, and its sender hears so once an hour at most; an empty new
//!    text records nothing; the link's hourly count is the page's; the entry is written with the received
//!    message's mark, so that a second delivery of the message records nothing.
//!
//! Every outcome is a log line (without the text) and a count of `RepliesReceived` by `outcome`.

use crate::domain::inbound::{self, Incoming, MAX_RAW_BYTES, Receipt};
use crate::domain::outbox::closed_notice;
use crate::domain::reply_address::{ReplyAddress, without_credentials};
use crate::domain::{ByEmail, Collection, Email, Message, Pepper, RateCount, Role, Ticket, TicketStatus};
use crate::ports::{CollectionStore, Counted, Inbox, LimitStore, OutboxStore, Ports, TicketStore, Unavailable};
use crate::telemetry;

use super::TicketService;
use super::conversation::{ConversationError, Opened, Raised};

/// What came of a received message, for one of its reply addresses (or for all, when it was refused whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A reply on the ticket.
    Recorded,
    /// No recipient is a reply address of this deployment.
    NotAReplyAddress,
    /// The reply address does not verify: a guess, a typo, or links rotated since.
    NotVerified,
    Spam,
    Virus,
    /// The sender's domain says the sender is forged (DMARC, or SPF and DKIM).
    Forged,
    /// Written by a machine: an auto-reply, a delivery report, a list, an empty return path.
    Automatic,
    /// From this deployment's own sender: a loop.
    OwnSender,
    /// Not MIME, too large, or with no sender address.
    Unreadable,
    /// Nothing was left once the quoted text and signature were taken away.
    Empty,
    /// This message is recorded on the ticket already (SES delivered it again).
    AlreadyRecorded,
    /// The ticket is closed: nothing recorded; its sender was told (`noticed`) or was told this hour already.
    Closed {
        noticed: bool,
    },
    /// The link's replies for this hour are used up.
    Limited,
    /// The thread is full.
    ThreadFull,
}

impl Received {
    pub fn as_str(self) -> &'static str {
        match self {
            Received::Recorded => "recorded",
            Received::NotAReplyAddress => "not_a_reply_address",
            Received::NotVerified => "not_verified",
            Received::Spam => "spam",
            Received::Virus => "virus",
            Received::Forged => "forged",
            Received::Automatic => "automatic",
            Received::OwnSender => "own_sender",
            Received::Unreadable => "unreadable",
            Received::Empty => "empty",
            Received::AlreadyRecorded => "already_recorded",
            Received::Closed { noticed: true } => "closed_noticed",
            Received::Closed { noticed: false } => "closed",
            Received::Limited => "limited",
            Received::ThreadFull => "thread_full",
        }
    }
}

/// A reply address that verified: its ticket as read, and the ticket's collection.
struct Verified {
    address: ReplyAddress,
    ticket: Ticket,
    collection: Collection,
}

impl<P: Ports> TicketService<P> {
    /// Takes in a message SES received: what came of it for each of its reply addresses. An error (a
    /// dependency down) leaves nothing half-done that a retry of the same receipt would repeat: the entry and
    /// the received message's mark are one write.
    pub async fn receive(&self, receipt: &Receipt) -> Result<Vec<Received>, Unavailable> {
        let outcomes = self.received(receipt).await?;
        for outcome in &outcomes {
            telemetry::reply_received(outcome.as_str());
        }
        Ok(outcomes)
    }

    async fn received(&self, receipt: &Receipt) -> Result<Vec<Received>, Unavailable> {
        let Some(domain) = self.inbound_domain.as_deref() else {
            return Ok(vec![self.refused(receipt, Received::NotAReplyAddress)]);
        };
        // The same address twice (To and Cc) is read once.
        let mut addresses: Vec<ReplyAddress> = Vec::new();
        for address in receipt.recipients.iter().filter_map(|r| ReplyAddress::parse(r, domain)) {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        if addresses.is_empty() {
            return Ok(vec![self.refused(receipt, Received::NotAReplyAddress)]);
        }
        let before_reading = match receipt.verdicts.refusal() {
            Some("virus") => Some(Received::Virus),
            Some("spam") => Some(Received::Spam),
            Some(_) => Some(Received::Forged),
            None if receipt.source.trim().is_empty() => Some(Received::Automatic),
            None => None,
        };
        if let Some(refusal) = before_reading {
            return Ok(vec![self.refused(receipt, refusal)]);
        }

        let pepper = self.pepper().await?;
        let mut outcomes = Vec::new();
        let mut verified = Vec::new();
        for address in addresses {
            let (ticket, collection) = tokio::join!(
                self.store().get_ticket(&address.collection_id, address.ticket_number),
                self.store().get_collection(&address.collection_id)
            );
            match (ticket?, collection?) {
                // One reply per ticket and role, whichever of its addresses (an old one, rotated since, and the
                // current one) came first: verified first, so that a stale one does not hide a good one.
                (Some(ticket), Some(collection))
                    if address.verifies(pepper, &ticket, collection.team_link_generation) =>
                {
                    let same = |v: &Verified| {
                        v.address.collection_id == address.collection_id
                            && v.address.ticket_number == address.ticket_number
                            && v.address.role == address.role
                    };
                    if !verified.iter().any(same) {
                        verified.push(Verified { address, ticket, collection });
                    }
                }
                _ => outcomes.push(self.refused(receipt, Received::NotVerified)),
            }
        }
        if verified.is_empty() {
            return Ok(outcomes);
        }

        let Some(raw) = self.ports.inbox().message(&receipt.message_id, MAX_RAW_BYTES).await? else {
            return Err(Unavailable::new("inbox", anyhow::anyhow!("the received message is not in the inbox")));
        };
        let incoming = match inbound::read(&raw) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::warn!(message = %receipt.message_id, error = %e, "received message unreadable");
                return Ok(vec![self.refused(receipt, Received::Unreadable)]);
            }
        };
        if let Some(why) = incoming.automatic {
            tracing::info!(message = %receipt.message_id, why, "received message written by a machine: not recorded");
            return Ok(vec![self.refused(receipt, Received::Automatic)]);
        }
        let Some(sender) = incoming.from.clone().or_else(|| Email::parse(&receipt.source).ok()) else {
            return Ok(vec![self.refused(receipt, Received::Unreadable)]);
        };
        if self.sender_email.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(sender.as_str())) {
            return Ok(vec![self.refused(receipt, Received::OwnSender)]);
        }
        for one in verified {
            outcomes.push(self.record(receipt, &incoming, &sender, one, pepper).await?);
        }
        Ok(outcomes)
    }

    fn refused(&self, receipt: &Receipt, outcome: Received) -> Received {
        tracing::info!(message = %receipt.message_id, outcome = outcome.as_str(), "received message not recorded");
        outcome
    }

    /// One verified reply address's share of the message: a reply, or why not.
    async fn record(
        &self,
        receipt: &Receipt,
        incoming: &Incoming,
        sender: &Email,
        one: Verified,
        pepper: &Pepper,
    ) -> Result<Received, Unavailable> {
        let Verified { address, mut ticket, collection } = one;
        let role = address.role;
        let outcome = if ticket.status == TicketStatus::Closed {
            Received::Closed { noticed: self.notice_closed(receipt, &ticket, &collection, role, sender).await? }
        } else {
            let text = without_credentials(&incoming.text, pepper, &ticket, collection.team_link_generation);
            match Message::parse(&text) {
                Err(_) => Received::Empty,
                Ok(text) => self.reply(receipt, incoming, sender, &mut ticket, collection, role, text).await?,
            }
        };
        tracing::info!(message = %receipt.message_id, collection = %ticket.collection_id,
            ticket = ticket.ticket_number, role = role.as_str(), outcome = outcome.as_str(), "received message");
        Ok(outcome)
    }

    #[allow(clippy::too_many_arguments)]
    async fn reply(
        &self,
        receipt: &Receipt,
        incoming: &Incoming,
        sender: &Email,
        ticket: &mut Ticket,
        collection: Collection,
        role: Role,
        text: Message,
    ) -> Result<Received, Unavailable> {
        let limits = collection.rate_limits;
        let team = if role == Role::Requester { collection.notify_emails.clone() } else { Vec::new() };
        let endpoints = collection.webhooks.clone();
        let opened = Opened { ticket: ticket.clone(), role, via_link: true, collection: Some(collection) };
        let counted = match self.count_link_action(&opened, &limits).await {
            Ok(counted) => counted,
            Err(ConversationError::RateLimited { .. }) => return Ok(Received::Limited),
            Err(ConversationError::Unavailable(e)) => return Err(e),
            Err(other) => return Err(Unavailable::new("link count", anyhow::anyhow!("{other}"))),
        };
        let by_email = ByEmail {
            from: sender.clone(),
            attachments: incoming.attachments.clone(),
            more_attachments: incoming.more_attachments,
            truncated: incoming.truncated,
        };
        let mark = format!("{}#{}", receipt.message_id, role.as_str());
        let raised = Raised { endpoints: &endpoints, via: "email" };
        let outcome = match self.append_message(ticket, role, text, &team, Some((by_email, mark)), raised).await {
            Ok(Some(_)) => Ok(Received::Recorded),
            Ok(None) => Ok(Received::AlreadyRecorded),
            Err(ConversationError::Closed) => Ok(Received::Closed { noticed: false }),
            Err(ConversationError::ThreadFull { .. }) => Ok(Received::ThreadFull),
            Err(ConversationError::Unavailable(e)) => Err(e),
            Err(other) => Err(Unavailable::new("thread entry", anyhow::anyhow!("{other}"))),
        };
        if !matches!(outcome, Ok(Received::Recorded)) {
            self.uncount_link_action(counted.as_ref()).await;
        }
        outcome
    }

    /// Tells the sender of a reply to a closed ticket that it was not recorded, once per ticket and hour at
    /// most, and only a sender SES authenticated. The role's link goes with it only to that role's own address (the requester's, or one of the
    /// team's): a forwarded e-mail's reader gets no link. Whether a notice was written now.
    async fn notice_closed(
        &self,
        receipt: &Receipt,
        ticket: &Ticket,
        collection: &Collection,
        role: Role,
        sender: &Email,
    ) -> Result<bool, Unavailable> {
        if !receipt.verdicts.authenticated() {
            return Ok(false);
        }
        let now = self.now();
        let (entry, hour) = RateCount::closed_notices(&ticket.collection_id, ticket.ticket_number, now.secs());
        if let Counted::Refused(_) = self.store().count(&entry, 1).await? {
            return Ok(false);
        }
        let own = match role {
            Role::Requester => ticket.user_email.as_str().eq_ignore_ascii_case(sender.as_str()),
            Role::Team => collection.notify_emails.iter().any(|e| e.as_str().eq_ignore_ascii_case(sender.as_str())),
        };
        let notice = closed_notice(ticket, role, sender, own, hour, &now.rfc3339(), self.due(now));
        let added = self.store().add_mail(&notice).await;
        if added.is_err() {
            // The retry of the receipt must find the hour's count free, or the notice would be lost.
            let _ = self.store().uncount(&entry).await;
        }
        added
    }
}
