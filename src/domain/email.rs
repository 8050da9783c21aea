//! The e-mails a ticket sends, as content: subject, plain text and HTML.
//!
//! HTML comes from askama templates (`templates/email/`), which escape every value they insert, so nothing a
//! caller wrote can become markup. Subjects are one line: titles and collection names cannot hold line breaks.

use askama::Template;

use super::new_ticket::{CustomTags, Email, TagValue};
use super::ticket::{EmailKind, Ticket};

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
    pub fn of(collection: &'a str, ticket: &'a Ticket, private_url: &'a str) -> Self {
        Self {
            collection,
            number: ticket.ticket_number,
            title: ticket.title.as_str(),
            requester: ticket.user_email.as_str(),
            message: ticket.message.as_str(),
            tags: tags_of(&ticket.custom_tags),
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
pub fn render(kind: EmailKind, m: &MailFacts<'_>) -> EmailContent {
    // Rendering only fails if a value's Display fails, which none of ours do.
    let (subject, text, html) = match kind {
        EmailKind::Requester => (
            format!("[{}] Ticket #{} received: {}", m.collection, m.number, m.title),
            RequesterText { m }.render(),
            RequesterHtml { m }.render(),
        ),
        EmailKind::Notification => (
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

/// Every e-mail of a ticket that is not yet sent, addressed.
pub fn outgoing(collection: &str, ticket: &Ticket, private_url: &str) -> Vec<(usize, OutgoingEmail)> {
    let facts = MailFacts::of(collection, ticket, private_url);
    let requester = render(EmailKind::Requester, &facts);
    let notification = render(EmailKind::Notification, &facts);
    ticket
        .emails
        .iter()
        .enumerate()
        .filter(|(_, e)| e.status != super::ticket::DeliveryStatus::Sent)
        .map(|(i, e)| {
            let (content, reply_to) = match e.kind {
                EmailKind::Requester => (requester.clone(), None),
                EmailKind::Notification => (notification.clone(), Some(ticket.user_email.clone())),
            };
            (i, OutgoingEmail { sender_name: collection.to_owned(), to: e.to.clone(), reply_to, content })
        })
        .collect()
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
        let mail = render(EmailKind::Notification, &m);
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
        let mail = render(EmailKind::Requester, &m);
        assert_eq!(mail.subject, "[Acme <Support>] Ticket #7 received: Enquiry about pricing");
        assert!(mail.text.contains("https://support.example.com/ticket/c1/7?key=abc"));
        assert!(mail.html.contains("href=\"https://support.example.com/ticket/c1/7?key=abc\""));
        assert!(mail.text.contains("Anyone with this link can view the ticket"));
    }
}
