//! The e-mails a ticket sends, as content: subject, plain text and HTML.
//!
//! HTML comes from askama templates (`templates/email/`), which escape every value they insert, so nothing a
//! caller wrote can become markup. Subjects are one line: titles and collection names cannot hold line breaks.

use askama::Template;

use super::new_ticket::{CustomTags, Email, TagValue};
use super::outbox::{Mail, MailKind};
use super::ticket::{Entry, Ticket};

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
}

/// The values both e-mails are made of.
pub struct MailFacts<'a> {
    pub collection: &'a str,
    pub number: u64,
    pub title: &'a str,
    pub requester: &'a str,
    pub message: &'a str,
    pub tags: Vec<(&'a str, &'a TagValue)>,
    pub private_url: &'a str,
}

impl<'a> MailFacts<'a> {
    pub fn of(ticket: &'a Ticket, entry: &'a Entry, private_url: &'a str) -> Self {
        Self {
            collection: ticket.collection_name.as_str(),
            number: ticket.ticket_number,
            title: ticket.title.as_str(),
            requester: ticket.user_email.as_str(),
            message: entry.message.as_ref().map(|m| m.as_str()).unwrap_or_default(),
            tags: tags_of(&entry.tags),
            private_url,
        }
    }
}

fn tags_of(tags: &CustomTags) -> Vec<(&str, &TagValue)> {
    tags.iter().map(|(k, v)| (k.as_str(), v)).collect()
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

/// The e-mail of one kind for these facts.
pub fn render(kind: MailKind, m: &MailFacts<'_>) -> EmailContent {
    // Rendering only fails if a value's Display fails, which none of ours do.
    let (subject, text, html) = match kind {
        MailKind::Received => (
            format!("[{}] Ticket #{} received: {}", m.collection, m.number, m.title),
            RequesterText { m }.render(),
            RequesterHtml { m }.render(),
        ),
        MailKind::NewTicket => (
            format!("[{}] New ticket #{}: {}", m.collection, m.number, m.title),
            NotificationText { m }.render(),
            NotificationHtml { m }.render(),
        ),
    };
    EmailContent {
        subject: one_line(&subject),
        text: text.expect("plain-text e-mail template renders"),
        html: html.expect("HTML e-mail template renders"),
    }
}

/// One e-mail of the outbox, addressed and written, from the ticket and the entry it tells of. `private_url` is
/// the requester's link, made again from its nonce at sending time (it is stored nowhere).
pub fn compose(mail: &Mail, ticket: &Ticket, entry: &Entry, private_url: &str) -> OutgoingEmail {
    let facts = MailFacts::of(ticket, entry, private_url);
    let reply_to = match mail.kind {
        MailKind::Received => None,
        MailKind::NewTicket => Some(ticket.user_email.clone()),
    };
    let thread = thread_id(ticket);
    OutgoingEmail {
        sender_name: ticket.collection_name.as_str().to_owned(),
        to: mail.to.clone(),
        reply_to,
        content: render(mail.kind, &facts),
        headers: vec![("In-Reply-To", thread.clone()), ("References", thread)],
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

    fn facts<'a>(title: &'a str, message: &'a str, tag: &'a TagValue) -> MailFacts<'a> {
        MailFacts {
            collection: "Acme <Support>",
            number: 7,
            title,
            requester: "user@example.com",
            message,
            tags: vec![("plan<b>", tag)],
            private_url: "https://support.example.com/ticket/c1/7?key=abc",
        }
    }

    #[test]
    fn notification_html_escapes_everything_the_caller_wrote() {
        let tag = TagValue::Text("<img src=x onerror=alert(1)>".into());
        let m = facts("<script>alert(1)</script>", "<b>bold</b> & \"quoted\"", &tag);
        let mail = render(MailKind::NewTicket, &m);
        for raw in ["<script>", "<b>", "<img", "plan<b>", "Acme <Support>"] {
            assert!(!mail.html.contains(raw), "{raw} reached the HTML unescaped");
        }
        assert!(mail.html.contains("&#60;script&#62;") || mail.html.contains("&lt;script&gt;"));
        assert!(mail.text.contains("<b>bold</b>"), "the plain-text part keeps the message as written");
    }

    #[test]
    fn requester_email_carries_number_title_and_link() {
        let tag = TagValue::Bool(true);
        let m = facts("Enquiry about pricing", "msg", &tag);
        let mail = render(MailKind::Received, &m);
        assert_eq!(mail.subject, "[Acme <Support>] Ticket #7 received: Enquiry about pricing");
        assert!(mail.text.contains("https://support.example.com/ticket/c1/7?key=abc"));
        assert!(mail.html.contains("href=\"https://support.example.com/ticket/c1/7?key=abc\""));
        assert!(mail.text.contains("Anyone with this link can view the ticket"));
    }
}
