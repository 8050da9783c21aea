//! The outbox: every e-mail a ticket owes is a record of its own, written in the same atomic write as the entry
//! it tells of, and delivered later from the table's stream (or by the sweep). Its state changes only by
//! conditional writes, along the transitions `MailState::may_follow` allows, so that two deliverers never both
//! own one e-mail.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::collection::Collection;
use super::collection_id::CollectionId;
use super::email_address::Email;
use super::ticket::{Role, Ticket};
use super::time::Now;

/// What an e-mail tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// To the requester: their ticket was received, with its private link.
    Received,
    /// To a notification address: a new ticket, with the requester's address, the tags and the message.
    NewTicket,
    /// To the other side: a new message on the ticket.
    Message,
    /// To the other side: the ticket was resolved.
    Resolved,
    /// To the requester, when the team asks: the ticket was closed.
    Closed,
    /// To the sender of a reply by e-mail to a closed ticket: it was not recorded (with the link of the role
    /// the reply address was for: the sender is that role's own address).
    ClosedNotice,
    /// The same, to a sender who is not the role's own address (a forwarded e-mail): without a link.
    ClosedNoticeWithoutLink,
    /// To the sender of a reply by e-mail that was not recorded for a reason they can act on (`Mail::notice`):
    /// over the hour's limit, nothing new in it, a full thread. With the role's link, as `ClosedNotice`.
    Notice,
    /// The same, to a sender who is not the role's own address: without a link.
    NoticeWithoutLink,
    /// To the requester: the team gave their ticket a new link (the old one opens nothing any more), with it.
    NewLink,
    /// To each notification address of a collection: an API key added a webhook endpoint, which hears of every
    /// ticket (a leaked key cannot subscribe quietly). Of the collection, not of a ticket (`ticket_number` 0).
    WebhookAdded,
    /// To a member of the team: someone else assigned them the ticket.
    Assigned,
    /// To each notification address: the malware scan found a threat in a file of the ticket (`Mail::infected`),
    /// which is kept from download.
    FileInfected,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Received => "received",
            MailKind::NewTicket => "new_ticket",
            MailKind::Message => "message",
            MailKind::Resolved => "resolved",
            MailKind::Closed => "closed",
            MailKind::ClosedNotice => "closed_notice",
            MailKind::ClosedNoticeWithoutLink => "closed_notice_without_link",
            MailKind::Notice => "notice",
            MailKind::NoticeWithoutLink => "notice_without_link",
            MailKind::NewLink => "new_link",
            MailKind::WebhookAdded => "webhook_added",
            MailKind::FileInfected => "file_infected",
            MailKind::Assigned => "assigned",
        }
    }
}

/// Where one e-mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    /// Written with its entry, not tried yet.
    Pending,
    /// A deliverer owns it until its lease lapses (`due_at_ms`); then anyone may take it over.
    Sending,
    /// The last attempt failed for a reason that passes (throttling, an outage): tried again at `due_at_ms`.
    Retrying,
    /// SES accepted it.
    Sent,
    /// Refused for good (a rejected address, say): sent nowhere again unless an operator re-sends it.
    Failed,
    /// Not sent: its address is on the suppression list (it bounced for good, or complained, before).
    Suppressed,
    /// SES reports that the recipient's mail server took it.
    Delivered,
    /// SES reports a bounce: hard (the address is then suppressed) or soft after SES's own retries.
    Bounced,
    /// SES reports that the recipient marked it as spam (the address is then suppressed).
    Complained,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Pending => "pending",
            MailState::Sending => "sending",
            MailState::Retrying => "retrying",
            MailState::Sent => "sent",
            MailState::Failed => "failed",
            MailState::Suppressed => "suppressed",
            MailState::Delivered => "delivered",
            MailState::Bounced => "bounced",
            MailState::Complained => "complained",
        }
    }

    /// The states an e-mail may be in for it to move to `self`: the one table of allowed transitions.
    /// A write that moves an e-mail is conditioned on these (and, from `Sending`, on the attempt that owns it).
    pub fn may_follow(self) -> &'static [MailState] {
        use MailState::*;
        match self {
            // Claimed: fresh, due for a retry, or taken over from a deliverer whose lease lapsed.
            Sending => &[Pending, Retrying, Sending],
            // The outcome of an attempt, by the deliverer that owns it.
            Sent | Retrying | Failed | Suppressed => &[Sending],
            // An operator's re-send of what failed for good, or of what was suppressed once lifted.
            Pending => &[Failed, Suppressed],
            // What SES heard after it accepted the e-mail. A complaint or a late bounce may follow a delivery.
            Delivered => &[Sent],
            Bounced | Complained => &[Sent, Delivered],
        }
    }

    /// Not delivered yet, and not given up on: what the sweep looks for.
    pub fn is_due_kind(self) -> bool {
        matches!(self, MailState::Pending | MailState::Sending | MailState::Retrying)
    }

    /// What an operator must look at: not delivered yet, or not sent at all (failed for good, suppressed).
    /// The outbox index holds exactly these.
    pub fn is_undelivered(self) -> bool {
        self.is_due_kind() || matches!(self, MailState::Failed | MailState::Suppressed)
    }
}

/// Which e-mail: the ticket, the entry it tells of, and its recipient's place among that entry's e-mails.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailKey {
    pub collection_id: CollectionId,
    pub ticket_number: u64,
    pub entry: u32,
    pub index: u32,
}

/// One e-mail of a ticket and its delivery record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mail {
    pub collection_id: CollectionId,
    pub ticket_number: u64,
    pub entry: u32,
    pub index: u32,
    pub kind: MailKind,
    /// Who it is for: the requester (with the requester's link) or the team (with the team's).
    pub audience: Role,
    pub to: Email,
    #[serde(rename = "mailState")]
    pub state: MailState,
    #[serde(default)]
    pub attempts: u32,
    pub created_at: String,
    /// When the sweep may take it (Unix milliseconds): pending after the stream had its chance, sending when the
    /// lease lapses, retrying at the next attempt. Absent once sent or failed for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// SES's message id, once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<String>,
    /// When an operator last sent it again: its passing failures are given up on counting from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resent_at: Option<String>,
    /// For `Notice`: why the reply was not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<NoticeReason>,
    /// For `WebhookAdded`: the endpoint, and the key that added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_added: Option<EndpointNotice>,
    /// For `FileInfected`: the file, and what the scan found in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infected: Option<InfectedFile>,
}

/// A file the malware scan found a threat in, as its e-mail names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InfectedFile {
    pub file_name: String,
    /// The threats the scanner named (`EICAR-Test-File`), joined.
    pub threat: String,
}

/// Why a reply by e-mail was not recorded, as its notice tells the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeReason {
    /// The ticket is closed.
    Closed,
    /// The reply address took as many replies as it takes in an hour.
    Limited,
    /// Nothing was left once what it quoted was taken out.
    NothingNew,
    /// The ticket's thread is full.
    ThreadFull,
}

impl NoticeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeReason::Closed => "closed",
            NoticeReason::Limited => "limited",
            NoticeReason::NothingNew => "nothing_new",
            NoticeReason::ThreadFull => "thread_full",
        }
    }

    /// The notice's kinds: with the role's link, or without it.
    fn kinds(self) -> (MailKind, MailKind) {
        match self {
            NoticeReason::Closed => (MailKind::ClosedNotice, MailKind::ClosedNoticeWithoutLink),
            _ => (MailKind::Notice, MailKind::NoticeWithoutLink),
        }
    }
}

/// What the notice of a new endpoint says: which endpoint, and which API key added it (by name and last four).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointNotice {
    pub endpoint_id: String,
    pub url: String,
    pub key_id: String,
    pub key_name: String,
    pub key_last4: String,
}

impl Mail {
    /// A new pending e-mail, due for the sweep at `due_at_ms` if the stream has not sent it by then.
    pub fn pending(
        key: MailKey,
        kind: MailKind,
        audience: Role,
        to: Email,
        created_at: String,
        due_at_ms: u64,
    ) -> Self {
        Self {
            collection_id: key.collection_id,
            ticket_number: key.ticket_number,
            entry: key.entry,
            index: key.index,
            kind,
            audience,
            to,
            state: MailState::Pending,
            attempts: 0,
            created_at,
            due_at_ms: Some(due_at_ms),
            last_error: None,
            message_id: None,
            sent_at: None,
            failed_at: None,
            resent_at: None,
            notice: None,
            webhook_added: None,
            infected: None,
        }
    }

    /// How long it has been tried since it was written, or since an operator sent it again: what is given up on
    /// after `DeliveryPolicy::give_up_after`.
    pub fn trying_for(&self, now: Now) -> Duration {
        now.since(self.resent_at.as_deref().unwrap_or(&self.created_at))
    }

    /// How long before `now` it was written (with its ticket or entry); zero for a time that does not read.
    pub fn age(&self, now: Now) -> Duration {
        now.since(&self.created_at)
    }

    pub fn key(&self) -> MailKey {
        MailKey {
            collection_id: self.collection_id.clone(),
            ticket_number: self.ticket_number,
            entry: self.entry,
            index: self.index,
        }
    }
}

impl MailKey {
    /// The e-mail's name in SES's message tag `mail`, which comes back in SES's delivery, bounce and complaint
    /// events: `{collectionId}_{number}_{entry}_{index}`. Tag values take letters, digits, `_` and `-` only,
    /// as collection ids do; the three numbers are read from the right.
    pub fn tag(&self) -> String {
        format!("{}_{}_{}_{}", self.collection_id, self.ticket_number, self.entry, self.index)
    }

    pub fn from_tag(tag: &str) -> Option<Self> {
        let mut parts = tag.rsplitn(4, '_');
        let index = parts.next()?.parse().ok()?;
        let entry = parts.next()?.parse().ok()?;
        let ticket_number = parts.next()?.parse().ok()?;
        let collection_id = CollectionId::parse(parts.next()?)?;
        Some(MailKey { collection_id, ticket_number, entry, index })
    }
}

/// What SES heard of an e-mail after accepting it, from its event publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    Delivered,
    /// `permanent`: a hard bounce (the address does not exist, say), after which the address is suppressed.
    Bounced {
        permanent: bool,
        detail: String,
    },
    Complained {
        detail: String,
    },
}

impl Feedback {
    pub fn state(&self) -> MailState {
        match self {
            Feedback::Delivered => MailState::Delivered,
            Feedback::Bounced { .. } => MailState::Bounced,
            Feedback::Complained { .. } => MailState::Complained,
        }
    }

    /// Whether the address must not be sent to again.
    pub fn suppresses(&self) -> bool {
        matches!(self, Feedback::Bounced { permanent: true, .. } | Feedback::Complained { .. })
    }
}

/// What the mail provider reported of one of the outbox's e-mails (SES's event publishing, decoded at its door).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackEvent {
    pub mail: MailKey,
    pub feedback: Feedback,
    /// The addresses it concerns (the bounced or complaining recipients).
    pub recipients: Vec<Email>,
}

/// An address this deployment sends nothing to any more, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    pub address: Email,
    /// `bounce` or `complaint`.
    pub reason: String,
    /// SES's words for it: the bounce's sub-type and diagnostic, or the complaint's feedback type.
    pub detail: String,
    pub at: String,
    /// The e-mail it came from: `{collectionId}_{number}_{entry}_{index}`.
    pub mail: String,
}

/// What an entry did, as far as e-mail goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    /// The ticket was opened (entry 1).
    Opened,
    /// A message was added.
    Message,
    Resolved,
    /// Closed by the team; the requester is told only when the team asks.
    Closed {
        tell_requester: bool,
    },
    /// Reopened by the team: it says so with its next message, if it has one.
    Reopened,
}

/// The e-mails an entry owes, by the rules of the conversation: the other side hears of a message and of a
/// resolve; a close reaches the requester only when the team asks; a reopen tells nobody. The team is every
/// notification address of the collection now.
pub fn owed(
    ticket: &Ticket,
    entry: u32,
    author: Role,
    occasion: Occasion,
    team: &[Email],
    created_at: &str,
    due_at_ms: u64,
) -> Vec<Mail> {
    let (kind, audience) = match occasion {
        Occasion::Opened => (MailKind::Received, Role::Requester),
        Occasion::Message => (MailKind::Message, author.other()),
        Occasion::Resolved => (MailKind::Resolved, author.other()),
        Occasion::Closed { tell_requester: true } => (MailKind::Closed, Role::Requester),
        Occasion::Closed { tell_requester: false } | Occasion::Reopened => return Vec::new(),
    };
    let key = |index: u32| MailKey {
        collection_id: ticket.collection_id.clone(),
        ticket_number: ticket.ticket_number,
        entry,
        index,
    };
    let mail = |index, kind, audience, to: &Email| {
        Mail::pending(key(index), kind, audience, to.clone(), created_at.to_owned(), due_at_ms)
    };
    let mut owed = Vec::new();
    if audience == Role::Requester {
        owed.push(mail(0, kind, Role::Requester, &ticket.user_email));
    }
    // A new ticket is told to the team as well as acknowledged to the requester.
    let team_kind =
        if occasion == Occasion::Opened { Some(MailKind::NewTicket) } else { (audience == Role::Team).then_some(kind) };
    if let Some(team_kind) = team_kind {
        let first = owed.len() as u32;
        owed.extend(team.iter().enumerate().map(|(i, to)| mail(first + i as u32, team_kind, Role::Team, to)));
    }
    owed
}

/// The e-mail that tells the sender of a reply by e-mail that it was not recorded, and why: one per ticket and
/// hour at most, whatever the reason (its index is the hour's, after the entries' e-mails), keyed to the ticket's
/// last entry.
#[allow(clippy::too_many_arguments)]
pub fn notice(
    ticket: &Ticket,
    reason: NoticeReason,
    audience: Role,
    to: &Email,
    with_link: bool,
    hour: u64,
    created_at: &str,
    due_at_ms: u64,
) -> Mail {
    let key = MailKey {
        collection_id: ticket.collection_id.clone(),
        ticket_number: ticket.ticket_number,
        entry: ticket.entries,
        index: NOTICE_INDEX + (hour % 900) as u32,
    };
    let (linked, unlinked) = reason.kinds();
    let kind = if with_link { linked } else { unlinked };
    let mut mail = Mail::pending(key, kind, audience, to.clone(), created_at.to_owned(), due_at_ms);
    mail.notice = (reason != NoticeReason::Closed).then_some(reason);
    mail
}

/// The e-mails that tell a collection's notification addresses an API key added an endpoint: one each, kept
/// in the collection's own partition of the outbox (ticket 0, which no ticket has), under an entry number drawn
/// from the endpoint's random id.
pub fn webhook_added_notices(
    collection: &Collection,
    notice: &EndpointNotice,
    created_at: &str,
    due_at_ms: u64,
) -> Vec<Mail> {
    let hex = notice.endpoint_id.trim_start_matches("wh_");
    let entry = u32::from_str_radix(hex.get(..8).unwrap_or("0"), 16).unwrap_or_default();
    collection
        .notify_emails
        .iter()
        .enumerate()
        .map(|(index, to)| {
            let key = MailKey {
                collection_id: collection.collection_id.clone(),
                ticket_number: 0,
                entry,
                index: index as u32,
            };
            let mut mail =
                Mail::pending(key, MailKind::WebhookAdded, Role::Team, to.clone(), created_at.to_owned(), due_at_ms);
            mail.webhook_added = Some(notice.clone());
            mail
        })
        .collect()
}

/// The e-mail that gives the requester their ticket's new link after the team rotated it: keyed after the
/// ticket's last entry, among the link notices (`LINK_INDEX` on, by the second it was written: two rotations in one
/// second owe one e-mail, which carries the newest link). The link is made when it is sent, from the nonce then.
pub fn new_link(ticket: &Ticket, created_at: &str, now_secs: u64, due_at_ms: u64) -> Mail {
    let key = MailKey {
        collection_id: ticket.collection_id.clone(),
        ticket_number: ticket.ticket_number,
        entry: ticket.entries,
        index: LINK_INDEX + (now_secs % 1_000_000_000) as u32,
    };
    let to = ticket.user_email.clone();
    Mail::pending(key, MailKind::NewLink, Role::Requester, to, created_at.to_owned(), due_at_ms)
}

/// The e-mails that tell the team a file of entry `seq` (the `position`th of its files) was found infected: one
/// to each notification address (at most 20), at indexes only this file's notices take, so that the same scan
/// result told twice writes nothing more.
pub fn infected(
    ticket: &Ticket,
    seq: u32,
    position: usize,
    file: InfectedFile,
    team: &[Email],
    created_at: &str,
    due_at_ms: u64,
) -> Vec<Mail> {
    team.iter()
        .take(20)
        .enumerate()
        .map(|(i, to)| {
            let key = MailKey {
                collection_id: ticket.collection_id.clone(),
                ticket_number: ticket.ticket_number,
                entry: seq,
                index: INFECTED_INDEX + (position as u32) * 20 + i as u32,
            };
            let mut mail =
                Mail::pending(key, MailKind::FileInfected, Role::Team, to.clone(), created_at.to_owned(), due_at_ms);
            mail.infected = Some(file.clone());
            mail
        })
        .collect()
}

/// The first index of the notices of infected files among an entry's e-mails, past the notices' and before the
/// links'.
pub const INFECTED_INDEX: u32 = 500;

/// The first index of the link notices among an entry's e-mails, past the notices'.
pub const LINK_INDEX: u32 = 1_000;

/// The first index of the notices among an entry's e-mails: an entry never owes this many.
pub const NOTICE_INDEX: u32 = 100;

/// How an attempt ended, as the deliverer records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    Sent {
        message_id: String,
    },
    /// Tried again at `due_at_ms`.
    Retry {
        error: String,
        due_at_ms: u64,
    },
    Failed {
        error: String,
    },
    /// Not sent: the address is on the suppression list.
    Suppressed {
        error: String,
    },
}

impl Settlement {
    pub fn state(&self) -> MailState {
        match self {
            Settlement::Sent { .. } => MailState::Sent,
            Settlement::Retry { .. } => MailState::Retrying,
            Settlement::Failed { .. } => MailState::Failed,
            Settlement::Suppressed { .. } => MailState::Suppressed,
        }
    }
}

/// The timing rules of delivery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliveryPolicy {
    /// How long a claim is a deliverer's own: longer than any invocation of the function (config checks it), so
    /// that an e-mail is never held by two deliverers at once.
    pub lease: Duration,
    /// How long a pending e-mail is left to the stream before the sweep takes it.
    pub sweep_after: Duration,
    /// The first retry's delay; each further one doubles, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// E-mails per second the deployment sends at most, all its processes together; `None`: the SES account's
    /// maximum send rate.
    pub max_send_rate: Option<f64>,
    /// The longest one attempt can take from its token of the pace to its record: the global token, the claim,
    /// the reads, the send and the record, each at its timeout. An attempt that could not finish before its
    /// invocation's deadline is not begun.
    pub send_budget: Duration,
    /// How long an e-mail is retried after it was written, through passing failures, before it is recorded as
    /// failed for good (and so alarmed on and listed for the operator).
    pub give_up_after: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(90),
            sweep_after: Duration::from_secs(120),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(15 * 60),
            max_send_rate: None,
            // Four DynamoDB calls at the 4 s operation timeout and SES's own 10 s (config derives it).
            send_budget: Duration::from_secs(26),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

impl DeliveryPolicy {
    /// The delay before the next attempt after `attempts` failed ones: doubling from `retry_base`, capped at
    /// `retry_max`, less up to a fifth at random so that e-mails failed together do not all retry together.
    pub fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let doubled = self.retry_base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let capped = doubled.min(self.retry_max);
        capped.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_but_pending_is_reached_only_through_a_claim() {
        for to in [MailState::Sent, MailState::Retrying, MailState::Failed, MailState::Suppressed] {
            assert_eq!(to.may_follow(), &[MailState::Sending], "{to:?} is an attempt's outcome");
        }
        assert!(!MailState::Sending.may_follow().contains(&MailState::Sent), "a sent e-mail is never claimed again");
        assert!(!MailState::Sending.may_follow().contains(&MailState::Failed), "nor one failed for good");
        assert_eq!(
            MailState::Pending.may_follow(),
            &[MailState::Failed, MailState::Suppressed],
            "only what failed for good, or was suppressed, is re-sent"
        );
    }

    #[test]
    fn only_what_ses_accepted_hears_from_ses_and_each_event_moves_it_once() {
        use MailState::*;
        assert_eq!(Delivered.may_follow(), &[Sent]);
        for to in [Bounced, Complained] {
            assert_eq!(to.may_follow(), &[Sent, Delivered], "{to:?} may come after a delivery");
            assert!(!to.may_follow().contains(&to), "{to:?} twice moves nothing the second time");
        }
        assert!(!Delivered.may_follow().contains(&Bounced), "a bounced e-mail is not delivered after");
        for state in [Delivered, Bounced, Complained] {
            assert!(!state.is_undelivered(), "{state:?} is not the operator's to look at");
            assert!(!Sending.may_follow().contains(&state), "{state:?} is never claimed again");
        }
        assert!(Suppressed.is_undelivered() && Failed.is_undelivered(), "listed for the operator");
        assert!(Feedback::Bounced { permanent: true, detail: String::new() }.suppresses());
        assert!(!Feedback::Bounced { permanent: false, detail: String::new() }.suppresses(), "a soft bounce does not");
        assert!(Feedback::Complained { detail: String::new() }.suppresses());
        assert!(!Feedback::Delivered.suppresses());
    }

    #[test]
    fn each_occasion_tells_the_side_the_rules_say() {
        use crate::domain::{CollectionId, CollectionName, NewTicket, Ticket};
        let input = NewTicket::from_json(br#"{"userEmail":"r@example.com","title":"T","message":"m"}"#).unwrap();
        let id = CollectionId::parse("c").unwrap();
        let ticket =
            Ticket::open(id, 1, CollectionName::parse("C").unwrap(), &input, "n".into(), "t".into(), "now".into());
        let team = [Email::parse("a@example.com").unwrap(), Email::parse("b@example.com").unwrap()];
        let told = |author, occasion| -> Vec<(MailKind, Role, String)> {
            owed(&ticket, 2, author, occasion, &team, "now", 0)
                .into_iter()
                .map(|m| (m.kind, m.audience, m.to.as_str().to_owned()))
                .collect()
        };
        let team_of =
            |kind| vec![(kind, Role::Team, "a@example.com".to_owned()), (kind, Role::Team, "b@example.com".to_owned())];
        let requester = |kind| vec![(kind, Role::Requester, "r@example.com".to_owned())];
        let mut opened = requester(MailKind::Received);
        opened.extend(team_of(MailKind::NewTicket));
        assert_eq!(told(Role::Requester, Occasion::Opened), opened);
        assert_eq!(told(Role::Requester, Occasion::Message), team_of(MailKind::Message));
        assert_eq!(told(Role::Team, Occasion::Message), requester(MailKind::Message));
        assert_eq!(told(Role::Requester, Occasion::Resolved), team_of(MailKind::Resolved));
        assert_eq!(told(Role::Team, Occasion::Resolved), requester(MailKind::Resolved));
        assert_eq!(told(Role::Team, Occasion::Closed { tell_requester: true }), requester(MailKind::Closed));
        assert!(
            told(Role::Team, Occasion::Closed { tell_requester: false }).is_empty(),
            "a close tells nobody unasked"
        );
        assert!(told(Role::Team, Occasion::Reopened).is_empty());
        let indexes: Vec<u32> =
            owed(&ticket, 1, Role::Requester, Occasion::Opened, &team, "now", 0).iter().map(|m| m.index).collect();
        assert_eq!(indexes, [0, 1, 2], "one index per recipient of the entry");
    }

    #[test]
    fn retries_back_off_doubling_up_to_the_cap() {
        let policy = DeliveryPolicy::default();
        assert_eq!(policy.backoff(1, 0.0), Duration::from_secs(30));
        assert_eq!(policy.backoff(2, 0.0), Duration::from_secs(60));
        assert_eq!(policy.backoff(5, 0.0), Duration::from_secs(480));
        assert_eq!(policy.backoff(40, 0.0), Duration::from_secs(900));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_secs(24));
    }
}
