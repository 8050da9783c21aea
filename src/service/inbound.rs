//! Replies by e-mail: a message SES received becomes a reply on the ticket its reply address names, in the
//! role it names, with the effects, limits and e-mails of a reply from the page; or it becomes nothing, at no
//! cost, with a log line that names the ticket and role where the address parsed. The one place that orders the
//! steps:
//!
//! 1. the recipients that are this deployment's reply addresses (none: not for a ticket);
//! 2. SES's verdicts (spam, a virus, a sender forged where its domain's DMARC policy asks for refusal) and the
//!    envelope (an empty return path is a bounce), before anything is read;
//! 3. each address verified against its ticket (the tag the ticket's nonce gives now, in constant time);
//! 4. the message read from the inbox once, its parts counted before it is parsed, and refused if a machine
//!    wrote it (an auto-reply, a report, a list) or it is this deployment's own mail come back (our header on it,
//!    or a sender at the reply domain): never by its `From`, which a shared mailbox of the team may share;
//! 5. per address: a closed ticket takes nothing; an empty new text records nothing (a reply of attachments
//!    only is recorded, listing them); the link's hourly count is the page's; the entry is written with the
//!    received message's marks (SES's id, and its `Message-ID`, per role), so that a second delivery of the
//!    message, by SES or by a sending server that lost an answer, records nothing; a change of the ticket's
//!    links of that role meanwhile records nothing either.
//!
//! A reply refused for a reason its sender can act on (closed, over the hour's limit, nothing new, a full thread)
//! draws one notice per ticket and hour at most, only to a sender whose domain vouched for it (DMARC). A reply
//! whose domain's DMARC failed under `p=none` is recorded, marked not authenticated. Every outcome is a log line
//! (without the text) and a count of `RepliesReceived` by `outcome`.

use sha2::{Digest, Sha256};

use crate::domain::attachment::file_key;
use crate::domain::inbound::{self, Attachment, Incoming, MAX_RAW_BYTES, Receipt};
use crate::domain::outbox::{NoticeReason, notice};
use crate::domain::reply_address::{ReplyAddress, without_credentials};
use crate::domain::{ByEmail, Collection, Email, Message, Pepper, RateCount, Role, Ticket, TicketStatus};
use crate::ports::{CollectionStore, Counted, Files, Inbox, LimitStore, OutboxStore, Ports, TicketStore, Unavailable};
use crate::telemetry;

use super::TicketService;
use super::attachments::{MessageFiles, Said, posted_files};
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
    /// DMARC failed, and the sender's domain asks for such mail to be refused (`p=reject` or `p=quarantine`).
    Forged,
    /// Written by a machine: an auto-reply, a delivery report, a list, an empty return path.
    Automatic,
    /// This deployment's own mail, come back (a forward, an auto-forward): a loop.
    OwnMail,
    /// Not MIME, too large, or with no sender address.
    Unreadable,
    /// Nothing was left once the quoted text and signature were taken away; its sender was told (`noticed`) or
    /// was told this hour.
    Empty {
        noticed: bool,
    },
    /// This message is recorded on the ticket already (SES delivered it again).
    AlreadyRecorded,
    /// The ticket is closed: nothing recorded; its sender was told (`noticed`) or was told this hour already.
    Closed {
        noticed: bool,
    },
    /// The link's replies for this hour are used up; its sender was told (`noticed`) or was told this hour.
    Limited {
        noticed: bool,
    },
    /// The thread is full; its sender was told (`noticed`) or was told this hour.
    ThreadFull {
        noticed: bool,
    },
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
            Received::OwnMail => "own_mail",
            Received::Unreadable => "unreadable",
            Received::Empty { .. } => "empty",
            Received::AlreadyRecorded => "already_recorded",
            Received::Closed { noticed: true } => "closed_noticed",
            Received::Closed { noticed: false } => "closed",
            Received::Limited { .. } => "limited",
            Received::ThreadFull { .. } => "thread_full",
        }
    }
}

/// A reply address that verified: its ticket as read, and the ticket's collection.
struct Verified {
    address: ReplyAddress,
    ticket: Ticket,
    collection: Collection,
    /// The member whose reply address it is (`None`: the requester's, or the team's shared one).
    by: Option<Email>,
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
        let before_reading = match receipt.verdicts.refusal(receipt.dmarc_policy) {
            Some("virus") => Some(Received::Virus),
            Some("spam") => Some(Received::Spam),
            Some(_) => Some(Received::Forged),
            None if receipt.source.trim().is_empty() => Some(Received::Automatic),
            None => None,
        };
        if let Some(refusal) = before_reading {
            return Ok(vec![self.refused_for(receipt, refusal, &addresses)]);
        }

        let pepper = self.pepper().await?;
        let mut outcomes = Vec::new();
        let mut verified = Vec::new();
        for address in addresses {
            let (ticket, collection) = tokio::join!(
                self.store().get_ticket(&address.collection_id, address.ticket_number),
                self.store().get_collection(&address.collection_id)
            );
            let (ticket, collection) = (ticket?, collection?);
            let holder = match (&ticket, &collection) {
                (Some(ticket), Some(collection)) => address.holder(pepper, ticket, collection),
                _ => None,
            };
            match (ticket, collection, holder) {
                // One reply per ticket and role, whichever of its addresses (an old one, rotated since, and the
                // current one) came first: verified first, so that a stale one does not hide a good one.
                (Some(ticket), Some(collection), Some(by)) => {
                    let same = |v: &Verified| {
                        v.address.collection_id == address.collection_id
                            && v.address.ticket_number == address.ticket_number
                            && v.address.role == address.role
                    };
                    if !verified.iter().any(same) {
                        verified.push(Verified { address, ticket, collection, by });
                    }
                }
                _ => outcomes.push(self.refused_for(receipt, Received::NotVerified, std::slice::from_ref(&address))),
            }
        }
        if verified.is_empty() {
            return Ok(outcomes);
        }

        let Some(raw) = self.ports.inbox().message(&receipt.message_id, MAX_RAW_BYTES).await? else {
            return Err(Unavailable::new("inbox", anyhow::anyhow!("the received message is not in the inbox")));
        };
        let addresses: Vec<ReplyAddress> = verified.iter().map(|v| v.address.clone()).collect();
        let incoming = match inbound::read(&raw) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::warn!(message = %receipt.message_id, error = %e, "received message unreadable");
                return Ok(vec![self.refused_for(receipt, Received::Unreadable, &addresses)]);
            }
        };
        if let Some(why) = incoming.automatic {
            tracing::info!(message = %receipt.message_id, why, "received message written by a machine");
            return Ok(vec![self.refused_for(receipt, Received::Automatic, &addresses)]);
        }
        let Some(sender) = incoming.from.clone().or_else(|| Email::parse(&receipt.source).ok()) else {
            return Ok(vec![self.refused_for(receipt, Received::Unreadable, &addresses)]);
        };
        // A loop is what this service put on its own mail: its header, or a sender at its own reply domain.
        let from_reply_domain = sender.as_str().rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
        if incoming.ours || from_reply_domain {
            return Ok(vec![self.refused_for(receipt, Received::OwnMail, &addresses)]);
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

    /// A refusal of the message for every reply address it came to, each named in a log line.
    fn refused_for(&self, receipt: &Receipt, outcome: Received, addresses: &[ReplyAddress]) -> Received {
        for address in addresses {
            tracing::info!(message = %receipt.message_id, collection = %address.collection_id,
                ticket = address.ticket_number, role = address.role.as_str(), outcome = outcome.as_str(),
                "received message not recorded");
        }
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
        let Verified { address, mut ticket, collection, by } = one;
        let role = address.role;
        let outcome = if ticket.status == TicketStatus::Closed {
            let noticed = self.notice(receipt, &ticket, &collection, role, sender, NoticeReason::Closed).await?;
            Received::Closed { noticed }
        } else {
            let text = without_credentials(&incoming.text, pepper, &ticket, &collection);
            match Message::parse(&text).or_else(|e| attachments_only(incoming).ok_or(e)) {
                Err(_) => {
                    let reason = NoticeReason::NothingNew;
                    Received::Empty { noticed: self.notice(receipt, &ticket, &collection, role, sender, reason).await? }
                }
                Ok(text) => self.reply(receipt, incoming, sender, &mut ticket, collection, (role, by), text).await?,
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
        (role, by): (Role, Option<Email>),
        text: Message,
    ) -> Result<Received, Unavailable> {
        let limits = collection.rate_limits;
        let team = if role == Role::Requester { collection.notify_emails.clone() } else { Vec::new() };
        let endpoints = collection.webhooks.clone();
        let opened = Opened {
            ticket: ticket.clone(),
            role,
            via_link: true,
            collection: Some(collection.clone()),
            by: by.clone(),
        };
        let counted = match self.count_link_action(&opened, &limits).await {
            Ok(counted) => counted,
            Err(ConversationError::RateLimited { .. }) => {
                let noticed = self.notice(receipt, ticket, &collection, role, sender, NoticeReason::Limited).await?;
                return Ok(Received::Limited { noticed });
            }
            Err(ConversationError::Unavailable(e)) => return Err(e),
            Err(other) => return Err(Unavailable::new("link count", anyhow::anyhow!("{other}"))),
        };
        // The files, under the ticket before the entry that lists them; all left out where the ticket's own caps
        // would not take them.
        let posted = posted_files(incoming.files.clone(), 0).unwrap_or_default();
        let files = MessageFiles { files: posted.iter().map(|(f, _)| f.clone()).collect(), uploads: Vec::new() };
        let (files, posted, mut left_out) = match files.fit(ticket) {
            true => (files, posted, Vec::new()),
            false => {
                let names = posted.iter().map(|(f, _)| Attachment { name: f.file_name.clone(), size: f.size });
                (MessageFiles::default(), Vec::new(), names.collect())
            }
        };
        left_out.extend(incoming.left_out.iter().cloned());
        let keys: Vec<String> =
            files.files.iter().map(|f| file_key(&ticket.collection_id, ticket.ticket_number, &f.id)).collect();
        if let Err(e) = self.put_files(&ticket.collection_id, ticket.ticket_number, posted).await {
            self.uncount_link_action(counted.as_ref()).await;
            return Err(e);
        }
        let by_email = ByEmail {
            from: sender.clone(),
            left_out,
            more_left_out: incoming.more_left_out,
            truncated: incoming.truncated,
            unauthenticated: !receipt.verdicts.authenticated(),
        };
        // Recorded once per message and role, whichever way it came again: by SES's id, and by its Message-ID.
        let mut marks = vec![format!("{}#{}", receipt.message_id, role.as_str())];
        if let Some(id) = &incoming.message_id {
            let hash = hex::encode(&Sha256::digest(id.as_bytes())[..16]);
            marks.push(format!("mid#{hash}#{}", role.as_str()));
        }
        let raised = Raised { endpoints: &endpoints, via: "email", by: by.clone() };
        let received = Some((by_email, marks));
        let said = Said { text, files };
        let outcome = match self.append_message(ticket, role, said, &team, received, raised, Some(role)).await {
            Ok(Some(added)) => {
                telemetry::files_kept(added.entry.attachments.len());
                Ok(Received::Recorded)
            }
            Ok(None) => Ok(Received::AlreadyRecorded),
            Err(ConversationError::Closed) => Ok(Received::Closed { noticed: false }),
            Err(ConversationError::NotFound) => Ok(Received::NotVerified),
            Err(ConversationError::ThreadFull { .. }) => {
                let noticed = self.notice(receipt, ticket, &collection, role, sender, NoticeReason::ThreadFull).await?;
                Ok(Received::ThreadFull { noticed })
            }
            Err(ConversationError::Unavailable(e)) => Err(e),
            Err(other) => Err(Unavailable::new("thread entry", anyhow::anyhow!("{other}"))),
        };
        if !matches!(outcome, Ok(Received::Recorded)) {
            self.uncount_link_action(counted.as_ref()).await;
            // Files no entry lists: this delivery's own copies.
            if let Err(e) = self.ports.files().delete(&keys).await {
                tracing::warn!(error = %e, "could not delete the files of a reply not recorded");
            }
        }
        outcome
    }

    /// Tells the sender of a reply that was not recorded why (`reason`), once per ticket and hour at most, and
    /// only a sender SES authenticated. The role's link goes with it only to that role's own address (the
    /// requester's, or one of the team's): a forwarded e-mail's reader gets no link. Whether a notice was written
    /// now.
    async fn notice(
        &self,
        receipt: &Receipt,
        ticket: &Ticket,
        collection: &Collection,
        role: Role,
        sender: &Email,
        reason: NoticeReason,
    ) -> Result<bool, Unavailable> {
        if !receipt.verdicts.authenticated() {
            return Ok(false);
        }
        let now = self.now();
        let (entry, hour) = RateCount::notices(&ticket.collection_id, ticket.ticket_number, now.secs());
        if let Counted::Refused(_) = self.store().count(&entry, 1).await? {
            return Ok(false);
        }
        let own = match role {
            Role::Requester => ticket.user_email.as_str().eq_ignore_ascii_case(sender.as_str()),
            Role::Team => collection.notify_emails.iter().any(|e| e.as_str().eq_ignore_ascii_case(sender.as_str())),
        };
        let notice = notice(ticket, reason, role, sender, own, hour, &now.rfc3339(), self.due(now));
        let added = self.store().add_mail(&notice).await;
        if added.is_err() {
            // The retry of the receipt must find the hour's count free, or the notice would be lost.
            let _ = self.store().uncount(&entry).await;
        }
        added
    }
}

/// The text of a reply that is only attachments: what it sent, listed, so that the thread and the other side
/// see what came; `None` when it brought no file.
fn attachments_only(incoming: &Incoming) -> Option<Message> {
    let names: Vec<&str> = incoming
        .files
        .iter()
        .map(|f| f.file_name.as_str())
        .chain(incoming.left_out.iter().map(|a| a.name.as_str()))
        .collect();
    let more = match incoming.more_left_out {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let text = format!("(Attachments only: {}{more}.)", names.join(", "));
    (!names.is_empty()).then(|| Message::parse(&text).ok()).flatten()
}
