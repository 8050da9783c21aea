//! The e-mails a ticket sends, as content: subject, plain text and HTML.
//!
//! HTML comes from askama templates (`templates/email/`), which escape every value they insert, so nothing a
//! caller wrote can become markup. Subjects are one line: titles and collection names cannot hold line breaks.

use askama::Template;

use super::attachment::{FileMeta, readable_size};
use super::email_address::Email;
use super::new_ticket::{CustomTags, TagValue};
use super::outbox::{EndpointNotice, InfectedFile, Mail, MailKind, NoticeReason};
use super::ticket::{Entry, Role, Ticket, TicketStatus};

pub use super::inbound::OWN_MAIL_HEADER;
pub use super::quotes::REPLY_ABOVE;

/// What an e-mail says, ready for any mail transport.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One e-mail to one recipient, from the configured sender with the collection's name as display name.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEmail {
    pub sender_name: String,
    pub to: Email,
    pub reply_to: Option<Email>,
    pub content: EmailContent,
    /// Extra header fields: `In-Reply-To` and `References`, which thread a ticket's e-mails together.
    pub headers: Vec<(&'static str, String)>,
    /// The outbox item it is (`MailKey::tag`): sent as SES's message tag `mail`, which SES's delivery, bounce
    /// and complaint events carry back.
    pub tag: String,
    /// The files it carries as attachments (the others are linked in its content).
    pub attachments: Vec<OutgoingFile>,
}

/// A file attached to an e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFile {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The most bytes of files one e-mail carries as attachments: in order, each file that fits is attached, and
/// the others are links (through the recipient's own credential). 10 MB is about 13.5 MB once base64-encoded,
/// far within SES's 40 MB message and what most mailboxes accept (Gmail and Outlook take 20 to 25 MB).
pub const MAX_ATTACHED_BYTES: u64 = 10 * 1024 * 1024;

/// Which of an entry's files an e-mail of this kind attaches: those of a new ticket and of a message, to the
/// side that did not send them, within `MAX_ATTACHED_BYTES` in all. The requester's own confirmation links
/// them only: they have the files.
pub fn attach_plan(kind: MailKind, files: &[FileMeta]) -> Vec<bool> {
    let attaches = matches!(kind, MailKind::NewTicket | MailKind::Message);
    let mut total = 0;
    files
        .iter()
        .map(|f| {
            let fits = attaches && total + f.size <= MAX_ATTACHED_BYTES;
            if fits {
                total += f.size;
            }
            fits
        })
        .collect()
}

/// A file as an e-mail lists it: attached, or linked.
pub struct MailFile {
    pub name: String,
    pub size: String,
    pub link: String,
    pub attached: bool,
}

/// A file's download link through a ticket link (`…/ticket/{c}/{n}?key=…`): `…/ticket/{c}/{n}/attachments/{id}?key=…`.
pub fn file_link(ticket_link: &str, file_id: &str) -> String {
    match ticket_link.split_once('?') {
        Some((path, query)) => format!("{path}/attachments/{file_id}?{query}"),
        None => format!("{ticket_link}/attachments/{file_id}"),
    }
}

/// The values every e-mail is made of.
pub struct MailFacts<'a> {
    pub collection: &'a str,
    pub number: u64,
    pub title: &'a str,
    pub requester: &'a str,
    /// The message the entry added, if it added one.
    pub message: Option<&'a str>,
    pub tags: Vec<(&'a str, &'a TagValue)>,
    /// The recipient's own link: the requester's private link, or the team's.
    pub link: &'a str,
    /// What happened, as the first line says it: "New message on ticket #7", "Ticket #7 resolved", …
    pub headline: String,
    /// Who did it, as the recipient reads it: "the support team", "the requester".
    pub by: &'static str,
    /// A requester's reply that opened a resolved ticket again.
    pub reopened: bool,
    pub for_team: bool,
    /// The e-mail replies to the ticket's reply address for its recipient: answering it answers on the ticket.
    pub reply_by_email: bool,
    /// For a notice, why the reply was not recorded (`NoticeReason::as_str`), which the template words; empty
    /// otherwise.
    pub reason: &'static str,
    /// The entry's files: attached, or linked through the recipient's link.
    pub files: Vec<MailFile>,
    /// For `FileInfected`: the file, and what the scan found.
    pub infected: Option<&'a InfectedFile>,
    /// For `Assigned`: the member who assigned it (none: the team as a whole, an API key).
    pub assigned_by: Option<&'a str>,
    /// A member's e-mail: their inbox link (every ticket of the team); empty for the requester's.
    pub inbox: &'a str,
}

impl<'a> MailFacts<'a> {
    pub fn of(mail: &'a Mail, ticket: &'a Ticket, entry: &'a Entry, link: &'a str, reply_by_email: bool) -> Self {
        let number = ticket.ticket_number;
        let headline = match mail.kind {
            MailKind::Received => format!("We received your ticket #{number}"),
            MailKind::NewTicket => format!("New ticket #{number}"),
            MailKind::Message => format!("New message on ticket #{number}"),
            MailKind::Resolved => format!("Ticket #{number} resolved"),
            MailKind::Closed => format!("Ticket #{number} closed"),
            MailKind::ClosedNotice | MailKind::ClosedNoticeWithoutLink => {
                format!("Your reply was not recorded: ticket #{number} is closed")
            }
            MailKind::Notice | MailKind::NoticeWithoutLink => {
                format!("Your reply to ticket #{number} was not recorded")
            }
            MailKind::NewLink => format!("A new link to your ticket #{number}"),
            MailKind::WebhookAdded => String::new(),
            MailKind::FileInfected => format!("A file on ticket #{number} was found infected"),
            MailKind::Assigned => format!("Ticket #{number} is assigned to you"),
        };
        let reason = match mail.kind {
            MailKind::ClosedNotice | MailKind::ClosedNoticeWithoutLink => NoticeReason::Closed.as_str(),
            MailKind::Notice | MailKind::NoticeWithoutLink => mail.notice.unwrap_or(NoticeReason::Closed).as_str(),
            _ => "",
        };
        Self {
            collection: ticket.collection_name.as_str(),
            number,
            title: ticket.title.as_str(),
            requester: ticket.user_email.as_str(),
            message: entry.message.as_ref().map(|m| m.as_str()),
            tags: tags_of(&entry.tags),
            link,
            headline,
            by: match entry.author {
                Role::Team => "the support team",
                Role::Requester => "the requester",
            },
            reopened: entry.author == Role::Requester && entry.status == Some(TicketStatus::Open),
            for_team: mail.audience == Role::Team,
            reply_by_email,
            reason,
            files: Vec::new(),
            infected: mail.infected.as_ref(),
            assigned_by: entry.by.as_ref().map(|m| m.as_str()),
            inbox: "",
        }
    }
}

fn tags_of(tags: &CustomTags) -> Vec<(&str, &TagValue)> {
    tags.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

#[derive(Template)]
#[template(path = "email/file_infected.html")]
struct FileInfectedHtml<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/file_infected.txt")]
struct FileInfectedText<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/assigned.html")]
struct AssignedHtml<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/assigned.txt")]
struct AssignedText<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/requester.html")]
struct RequesterHtml<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/requester.txt")]
struct RequesterText<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/notification.html")]
struct NotificationHtml<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/notification.txt")]
struct NotificationText<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/update.html")]
struct UpdateHtml<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/update.txt")]
struct UpdateText<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/notice.html")]
struct NoticeHtml<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct NoticeText<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/new_link.html")]
struct NewLinkHtml<'a> {
    m: &'a MailFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/new_link.txt")]
struct NewLinkText<'a> {
    m: &'a MailFacts<'a>,
}

/// The subject every e-mail of a ticket shares, so that mail clients keep them in one thread (Gmail threads
/// only e-mails whose subjects match, but for a "Re:"): the first e-mail to each side has it as is, every
/// later one with "Re: ". What happened is the first line of the body.
pub fn subject(ticket_collection: &str, number: u64, title: &str, follow_up: bool) -> String {
    let subject = format!("[{ticket_collection}] Ticket #{number}: {title}");
    one_line(&if follow_up { format!("Re: {subject}") } else { subject })
}

/// The e-mail of one kind for these facts.
pub fn render(kind: MailKind, m: &MailFacts<'_>) -> EmailContent {
    // Rendering only fails if a value's Display fails, which none of ours do.
    let (text, html) = match kind {
        MailKind::Received => (RequesterText { m }.render(), RequesterHtml { m }.render()),
        MailKind::NewTicket => (NotificationText { m }.render(), NotificationHtml { m }.render()),
        MailKind::Message | MailKind::Resolved | MailKind::Closed => {
            (UpdateText { m }.render(), UpdateHtml { m }.render())
        }
        MailKind::ClosedNotice | MailKind::ClosedNoticeWithoutLink | MailKind::Notice | MailKind::NoticeWithoutLink => {
            (NoticeText { m }.render(), NoticeHtml { m }.render())
        }
        MailKind::NewLink => (NewLinkText { m }.render(), NewLinkHtml { m }.render()),
        MailKind::FileInfected => (FileInfectedText { m }.render(), FileInfectedHtml { m }.render()),
        MailKind::Assigned => (AssignedText { m }.render(), AssignedHtml { m }.render()),
        // Of a collection, not of a ticket: `compose_webhook_added` writes it, from its own facts.
        MailKind::WebhookAdded => (NoticeText { m }.render(), NoticeHtml { m }.render()),
    };
    let follow_up = !matches!(kind, MailKind::Received | MailKind::NewTicket);
    EmailContent {
        subject: subject(m.collection, m.number, m.title, follow_up),
        text: text.expect("plain-text e-mail template renders"),
        html: html.expect("HTML e-mail template renders"),
    }
}

/// The ways back to a ticket, made again from its nonces when an e-mail needs them (they are stored nowhere):
/// each side's link, and the reply address of the e-mail's recipient (none without an inbound domain).
pub struct Links<'a> {
    pub requester: &'a str,
    pub team: &'a str,
    pub reply_to: Option<&'a Email>,
    /// The team member's inbox link (empty for the requester).
    pub inbox: &'a str,
}

/// One e-mail of the outbox, addressed and written, from the ticket and the entry it tells of. Each side gets
/// its own link and replies to its own reply address: answering it answers on the ticket, never the other
/// side directly.
/// A notice (a reply to a closed ticket was not recorded) is an automatic answer (RFC 3834): it invites no reply
/// and says so, so that an auto-responder does not answer it.
/// `attached` says which of the entry's files go as attachments (`attach_plan`, and read): the others are links.
pub fn compose(mail: &Mail, ticket: &Ticket, entry: &Entry, links: &Links<'_>, attached: &[bool]) -> OutgoingEmail {
    let notice = matches!(
        mail.kind,
        MailKind::ClosedNotice | MailKind::ClosedNoticeWithoutLink | MailKind::Notice | MailKind::NoticeWithoutLink
    );
    let link = match (mail.kind, mail.audience) {
        (MailKind::ClosedNoticeWithoutLink | MailKind::NoticeWithoutLink, _) => "",
        (_, Role::Requester) => links.requester,
        (_, Role::Team) => links.team,
    };
    // A notice, or word of an infected file, answers nothing: no reply address.
    let reply_to = links.reply_to.filter(|_| !notice && mail.kind != MailKind::FileInfected).cloned();
    let mut facts = MailFacts::of(mail, ticket, entry, link, reply_to.is_some());
    if mail.audience == Role::Team {
        facts.inbox = links.inbox;
    }
    if matches!(mail.kind, MailKind::Received | MailKind::NewTicket | MailKind::Message) && !link.is_empty() {
        facts.files = entry
            .attachments
            .iter()
            .enumerate()
            .map(|(i, f)| MailFile {
                name: f.file_name.clone(),
                size: readable_size(f.size),
                link: file_link(link, &f.id),
                attached: attached.get(i).copied().unwrap_or(false),
            })
            .collect();
    }
    let thread = thread_id(ticket);
    let mut headers =
        vec![("In-Reply-To", thread.clone()), ("References", thread), (OWN_MAIL_HEADER, mail.key().tag())];
    if notice {
        headers.push(("Auto-Submitted", "auto-replied".to_owned()));
    }
    OutgoingEmail {
        sender_name: ticket.collection_name.as_str().to_owned(),
        to: mail.to.clone(),
        reply_to,
        content: render(mail.kind, &facts),
        headers,
        tag: mail.key().tag(),
        attachments: Vec::new(),
    }
}

/// What the notice of a new endpoint is made of.
pub struct EndpointFacts<'a> {
    pub collection: &'a str,
    pub notice: &'a EndpointNotice,
    /// The notice replies to nothing: the layout's reply line is left out.
    pub reply_by_email: bool,
    /// The recipient's inbox link (none here: the layout leaves it out).
    pub inbox: &'a str,
}

#[derive(Template)]
#[template(path = "email/webhook_added.html")]
struct WebhookAddedHtml<'a> {
    m: &'a EndpointFacts<'a>,
}

#[derive(Template)]
#[template(path = "email/webhook_added.txt")]
struct WebhookAddedText<'a> {
    m: &'a EndpointFacts<'a>,
}

/// The notice to one notification address that an API key added a webhook endpoint to its collection: what
/// the endpoint is (it hears of every ticket), which key added it, and what to do if nobody meant it. An
/// automatic message (RFC 3834), replying to nothing.
pub fn compose_webhook_added(mail: &Mail, notice: &EndpointNotice, collection: &str) -> OutgoingEmail {
    let m = EndpointFacts { collection, notice, reply_by_email: false, inbox: "" };
    let text = WebhookAddedText { m: &m }.render().expect("plain-text e-mail template renders");
    let html = WebhookAddedHtml { m: &m }.render().expect("HTML e-mail template renders");
    OutgoingEmail {
        sender_name: collection.to_owned(),
        to: mail.to.clone(),
        reply_to: None,
        content: EmailContent {
            subject: one_line(&format!("[{collection}] A webhook endpoint was added")),
            text,
            html,
        },
        headers: vec![("Auto-Submitted", "auto-generated".to_owned()), (OWN_MAIL_HEADER, mail.key().tag())],
        tag: mail.key().tag(),
        attachments: Vec::new(),
    }
}

/// The one message id every e-mail of a ticket refers to, so that mail clients thread them together.
pub fn thread_id(ticket: &Ticket) -> String {
    format!("<{}.{}@ticket-api>", ticket.collection_id, ticket.ticket_number)
}

/// Subjects are header values: any line break left would split the header.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(title: &'a str, message: &'a str, tag: &'a TagValue, for_team: bool) -> MailFacts<'a> {
        MailFacts {
            collection: "Acme <Support>",
            number: 7,
            title,
            requester: "user@example.com",
            message: Some(message),
            tags: vec![("plan<b>", tag)],
            link: "https://support.example.com/ticket/c1/7?key=abc",
            headline: "New message on ticket #7".into(),
            by: "the support team",
            reopened: false,
            for_team,
            reply_by_email: true,
            reason: "",
            files: Vec::new(),
            infected: None,
            assigned_by: None,
            inbox: "",
        }
    }

    #[test]
    fn every_html_part_escapes_everything_the_caller_wrote() {
        let tag = TagValue::Text("<img src=x onerror=alert(1)>".into());
        let m = facts("<script>alert(1)</script>", "<b>bold</b> & \"quoted\"", &tag, true);
        let m = MailFacts { assigned_by: Some("<i>ann</i>@example.com"), ..m };
        let kinds = [MailKind::NewTicket, MailKind::Message, MailKind::Resolved, MailKind::Closed, MailKind::Received];
        for kind in kinds.into_iter().chain([MailKind::Assigned]) {
            let mail = render(kind, &m);
            for raw in ["<script>", "<b>", "<img", "plan<b>", "Acme <Support>", "<i>ann</i>"] {
                assert!(!mail.html.contains(raw), "{kind:?}: {raw} reached the HTML unescaped");
            }
            assert!(mail.html.contains("&#60;script&#62;") || mail.html.contains("&lt;script&gt;"), "{kind:?}");
        }
        assert!(
            render(MailKind::NewTicket, &m).text.contains("<b>bold</b>"),
            "the plain text keeps the message as written"
        );
    }

    #[test]
    fn every_email_of_a_ticket_has_the_same_subject_and_the_first_to_each_side_no_re() {
        let tag = TagValue::Bool(true);
        let m = facts("Enquiry about pricing", "msg", &tag, false);
        let received = render(MailKind::Received, &m);
        assert_eq!(received.subject, "[Acme <Support>] Ticket #7: Enquiry about pricing");
        assert_eq!(render(MailKind::NewTicket, &m).subject, received.subject);
        for kind in [MailKind::Message, MailKind::Resolved, MailKind::Closed] {
            assert_eq!(render(kind, &m).subject, format!("Re: {}", received.subject), "{kind:?}");
        }
        assert!(received.text.contains("https://support.example.com/ticket/c1/7?key=abc"));
        assert!(received.html.contains("href=\"https://support.example.com/ticket/c1/7?key=abc\""));
        assert!(received.text.contains("Anyone with this link can view the ticket"));
        let update = render(MailKind::Message, &m);
        assert!(update.text.starts_with(&format!("{REPLY_ABOVE}\n\nNew message on ticket #7")), "{}", update.text);
        let kinds = [MailKind::Received, MailKind::NewTicket, MailKind::Message, MailKind::Resolved, MailKind::Closed];
        for kind in kinds.into_iter().chain([MailKind::Assigned]) {
            let with = render(kind, &m);
            assert!(with.text.starts_with(REPLY_ABOVE) && with.html.contains(REPLY_ABOVE), "{kind:?}");
            assert!(
                with.text.contains("reply to this e-mail") || with.text.contains("Reply to this e-mail"),
                "{kind:?}"
            );
            let without = render(
                kind,
                &MailFacts { reply_by_email: false, ..facts("t", "msg", &tag, kind == MailKind::NewTicket) },
            );
            assert!(!without.text.contains(REPLY_ABOVE) && !without.html.contains(REPLY_ABOVE), "{kind:?}");
            assert!(without.text.contains("are not read"), "{kind:?}: {}", without.text);
        }
        assert!(update.text.contains("msg") && update.text.contains("https://support.example.com/ticket/c1/7?key=abc"));
    }
}
