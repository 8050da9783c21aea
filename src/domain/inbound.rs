//! A reply by e-mail, read: who sent it, whether a machine did, the new text (what the sender quoted and signed
//! taken away), and its attachments: the files it brings (inline images and `winmail.dat` among them, within a
//! message's caps) and the names and sizes of those left out. MIME, charsets and transfer encodings are
//! `mail-parser`'s; which part is the text is this module's; what in that text is new is the `quotes` module's.
//!
//! The text is the first `text/plain` part, or the first HTML part made text when there is none (its quote
//! markup cut first: Gmail's `gmail_quote`, Apple Mail's and Thunderbird's `blockquote`, Outlook's reply
//! header). Then `quotes` takes out what the sender quoted, pasted below or signed, wherever it stands: the
//! `>` lines and their attribution line or header block, and everything from the line that ends the new text
//! (`REPLY_ABOVE`, an attribution line or a header block above the original unquoted, a signature, "Sent from
//! my iPhone" and their kin). What is left is made safe for a thread entry: no NUL or other control characters
//! but line breaks and tabs, no bidirectional overrides, at most a message's 20,000 characters.

use serde::{Deserialize, Serialize};

use super::attachment::{self, MAX_FILE_BYTES, MAX_FILES_PER_MESSAGE, MAX_MESSAGE_FILE_BYTES, PostedFile};
use super::email_address::Email;
use super::new_ticket::MAX_MESSAGE_CHARS;
use super::quotes::{self, REPLY_ABOVE};

/// The header every e-mail of this deployment carries, naming the outbox item it is: a message that comes back
/// with it (a forwarding rule, a mailbox's auto-forward) is this service's own mail, never a reply. Mail clients
/// do not copy it into a reply.
pub const OWN_MAIL_HEADER: &str = "X-Ticket-Api-Mail";

/// The largest message SES receiving takes (and so the largest this reads).
pub const MAX_RAW_BYTES: usize = 40 * 1024 * 1024;

/// The most MIME parts a message may have to be parsed, counted by its boundary lines before any parsing: the
/// parser keeps a record of every part, and a message of millions of empty parts (about 9 bytes each, well within
/// 40 MB) would take the function past its memory. Mail people write has a few parts, a few dozen at most.
pub const MAX_PARTS: usize = 10_000;

/// How much of a message's text part is read for its new text: five times what a message may hold, in the
/// widest UTF-8. What a sender wrote comes first; past this is quote, or more than a reply may keep anyway.
const MAX_TEXT_BYTES: usize = 5 * 4 * MAX_MESSAGE_CHARS;
/// The same for an HTML part, whose markup may be most of it.
const MAX_HTML_BYTES: usize = 2 * 1024 * 1024;

/// The attachments left out that an entry lists by name; the others are counted. A message may have thousands of
/// parts, and an entry must stay far below DynamoDB's 400 KB item and render small in a page of the thread.
pub const MAX_LISTED_ATTACHMENTS: usize = 20;

/// The longest attachment name an entry shows, in characters.
const MAX_ATTACHMENT_NAME_CHARS: usize = 100;

/// A file that came with a reply and was left out (past a cap), listed on the entry by name and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub size: u64,
}

/// A reply by e-mail, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The `From` header's address, if it reads as one.
    pub from: Option<Email>,
    /// Why it was written by a machine (an auto-reply, a delivery report, a list), if it was.
    pub automatic: Option<&'static str>,
    /// The new text, safe for a thread entry; empty when nothing is left.
    pub text: String,
    /// Whether the new text was longer than a message may be, and was cut.
    pub truncated: bool,
    /// The files it brings, in its order: at most `MAX_FILES_PER_MESSAGE`, each within `MAX_FILE_BYTES`, all
    /// within `MAX_MESSAGE_FILE_BYTES`.
    pub files: Vec<PostedFile>,
    /// The attachments past those caps, listed (the first `MAX_LISTED_ATTACHMENTS`) and counted.
    pub left_out: Vec<Attachment>,
    pub more_left_out: u32,
    /// Its `Message-ID`, as the sender's mail server wrote it: the same on every delivery of the message.
    pub message_id: Option<String>,
    /// It carries this deployment's own mark (`email::OWN_MAIL_HEADER`): one of its e-mails, come back.
    pub ours: bool,
}

/// Why a message could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the message is {0} bytes, over SES's 40 MB")]
    TooLarge(usize),
    #[error("the message is not MIME")]
    NotMime,
    #[error("the message has more than {MAX_PARTS} MIME parts")]
    TooManyParts,
}

/// What SES receiving says of a message before anyone reads it (its Lambda action's event): the receiving's
/// own id (the message's key in the bucket, and what makes a second delivery of it recorded once), the
/// envelope, and its verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: String,
    /// The envelope's recipients at this deployment's domains.
    pub recipients: Vec<String>,
    /// The envelope's sender (`MAIL FROM`); empty for a bounce or another delivery report.
    pub source: String,
    pub verdicts: Verdicts,
    /// What the `From` domain's DMARC record asks of mail that fails it.
    pub dmarc_policy: DmarcPolicy,
}

/// What a domain's DMARC record asks receivers to do with mail that fails it (SES's `dmarcPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcPolicy {
    /// No record, or `p=none`: the domain asks nothing; a failure says the sender is not authenticated.
    None,
    Quarantine,
    Reject,
}

impl DmarcPolicy {
    pub fn parse(policy: &str) -> Self {
        match policy.to_ascii_lowercase().as_str() {
            "reject" => DmarcPolicy::Reject,
            "quarantine" => DmarcPolicy::Quarantine,
            _ => DmarcPolicy::None,
        }
    }
}

/// One of SES receiving's verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Neither (SPF and DMARC: no policy to judge by).
    Gray,
    /// Not judged (scanning off, or failed).
    Unknown,
}

impl Verdict {
    pub fn parse(status: &str) -> Self {
        match status.to_ascii_uppercase().as_str() {
            "PASS" => Verdict::Pass,
            "FAIL" => Verdict::Fail,
            "GRAY" => Verdict::Gray,
            _ => Verdict::Unknown,
        }
    }
}

/// SES receiving's verdicts on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdicts {
    pub spam: Verdict,
    pub virus: Verdict,
    pub spf: Verdict,
    pub dkim: Verdict,
    pub dmarc: Verdict,
}

impl Verdicts {
    /// All passed: what the local stand-in of SES receiving says.
    pub const PASSED: Verdicts = Verdicts {
        spam: Verdict::Pass,
        virus: Verdict::Pass,
        spf: Verdict::Pass,
        dkim: Verdict::Pass,
        dmarc: Verdict::Pass,
    };

    /// Why the message must not be recorded, before it is read: spam, a virus, or a sender forged where the
    /// sender's domain asks for such mail to be refused (DMARC failed under `p=reject` or `p=quarantine`). A
    /// DMARC failure under `p=none` (or no policy) is recorded, marked not authenticated: plenty of real mail
    /// fails it (forwarders, mailing lists, misconfigured domains), and the domain asked for nothing else.
    pub fn refusal(&self, policy: DmarcPolicy) -> Option<&'static str> {
        if self.virus == Verdict::Fail {
            Some("virus")
        } else if self.spam == Verdict::Fail {
            Some("spam")
        } else if self.dmarc == Verdict::Fail && policy != DmarcPolicy::None {
            Some("forged")
        } else {
            None
        }
    }

    /// Whether the `From` address is who it says it is: DMARC passed, which ties an SPF or DKIM pass to the
    /// `From` domain (SPF alone can pass for an envelope domain of the sender's choosing). The only sender an
    /// e-mail of ours answers (a notice), so that a forged `From` draws no backscatter; a domain with no DMARC
    /// policy gets no notice, and its replies are marked not authenticated.
    pub fn authenticated(&self) -> bool {
        self.virus != Verdict::Fail && self.spam != Verdict::Fail && self.dmarc == Verdict::Pass
    }
}

/// Reads a raw message (RFC 5322, as SES stores it).
pub fn read(raw: &[u8]) -> Result<Incoming, Unreadable> {
    use mail_parser::MimeHeaders as _;
    if raw.len() > MAX_RAW_BYTES {
        return Err(Unreadable::TooLarge(raw.len()));
    }
    if boundary_lines(raw) > MAX_PARTS {
        return Err(Unreadable::TooManyParts);
    }
    let message = mail_parser::MessageParser::default().parse(raw).ok_or(Unreadable::NotMime)?;
    let from = message.from().and_then(|a| a.first()).and_then(|a| a.address()).and_then(|a| Email::parse(a).ok());
    let (body, cut) = match message.text_part(0) {
        Some(part) if part.is_content_type("text", "plain") || part.is_content_type("text", "") => {
            let text = part.text_contents().unwrap_or_default();
            (head(text, MAX_TEXT_BYTES).to_owned(), text.len() > MAX_TEXT_BYTES)
        }
        _ => {
            let html = message.body_html(0).unwrap_or_default();
            (html_text(before_quotes(head(&html, MAX_HTML_BYTES))), html.len() > MAX_HTML_BYTES)
        }
    };
    let (new, ended) = quotes::new_text_and_end(&body);
    let (text, truncated) = safe(&new);
    // Cut before its end was found: the sender wrote more than was read.
    let truncated = truncated || cut && !ended;
    let (mut files, mut left_out, mut more_left_out, mut bytes) = (Vec::new(), Vec::new(), 0u32, 0u64);
    // Every part that is not the text: attached files, inline images (`cid:`, and those no HTML refers to),
    // `winmail.dat`, forwarded messages. An empty part is no file.
    for (i, part) in message.attachments().enumerate().filter(|(_, p)| !p.contents().is_empty()) {
        let contents = part.contents();
        let size = contents.len() as u64;
        let fits =
            files.len() < MAX_FILES_PER_MESSAGE && size <= MAX_FILE_BYTES && bytes + size <= MAX_MESSAGE_FILE_BYTES;
        let declared =
            part.content_type().map(|t| format!("{}/{}", t.c_type, t.c_subtype.as_deref().unwrap_or_default()));
        let served = attachment::served_type(
            &contents[..contents.len().min(attachment::SNIFF_BYTES)],
            declared.as_deref().unwrap_or_default(),
        );
        // A part without a name that is no image is no file a person attached: deep or broken MIME leaves such
        // parts (inline images often have no name).
        let name = match part.attachment_name().and_then(attachment::safe_file_name) {
            Some(name) => name,
            None if served.starts_with("image/") => format!("attachment-{}{}", i + 1, attachment::extension(served)),
            None => continue,
        };
        if fits {
            bytes += size;
            files.push(PostedFile { file_name: name, content_type: served.to_owned(), bytes: contents.to_vec() });
        } else if left_out.len() < MAX_LISTED_ATTACHMENTS {
            left_out.push(Attachment { name: safe_name(&name), size });
        } else {
            more_left_out = more_left_out.saturating_add(1);
        }
    }
    Ok(Incoming {
        from,
        automatic: automatic(&message),
        text,
        truncated,
        files,
        left_out,
        more_left_out,
        message_id: message.message_id().map(|id| id.chars().take(998).collect()),
        ours: message.header_raw(OWN_MAIL_HEADER).is_some(),
    })
}

/// The lines of a raw message that could open a MIME part (they start with `--`): at least as many as its
/// parts, counted without parsing anything or allocating.
fn boundary_lines(raw: &[u8]) -> usize {
    let starts = std::iter::once(0).chain(raw.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1));
    starts.filter(|&at| raw.get(at..at + 2) == Some(b"--")).count()
}

/// Why a message was written by a machine: answering it would start a loop with an auto-responder, or write
/// a bounce into a ticket (RFC 3834's `Auto-Submitted`, the older `Precedence` and `X-Autoreply`, delivery and
/// read reports).
fn automatic(message: &mail_parser::Message<'_>) -> Option<&'static str> {
    use mail_parser::MimeHeaders as _;
    let header = |name: &str| message.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if header("Auto-Submitted").is_some_and(|v| !v.starts_with("no")) {
        return Some("Auto-Submitted");
    }
    if header("Precedence").is_some_and(|v| ["bulk", "junk", "list"].iter().any(|p| v.starts_with(p))) {
        return Some("Precedence");
    }
    if header("X-Autoreply").is_some() || header("X-Autorespond").is_some() || header("X-Auto-Reply").is_some() {
        return Some("X-Autoreply");
    }
    if header("List-Id").is_some() || header("List-Unsubscribe").is_some() {
        return Some("a mailing list");
    }
    if message.is_content_type("multipart", "report") || message.is_content_type("message", "delivery-status") {
        return Some("a delivery or read report");
    }
    None
}

/// The HTML before its first quote: what the sender wrote above what they answered.
fn before_quotes(html: &str) -> &str {
    const MARKERS: &[&str] = &[
        "class=\"gmail_quote",
        "class=\"gmail_attr",
        "<blockquote",
        "id=\"appendonsend",
        "id=\"divRplyFwdMsg",
        "class=\"moz-cite-prefix",
        "class=\"yahoo_quoted",
        "class=\"protonmail_quote",
        "id=\"mail-editor-reference-message-container",
        "border-top:solid #E1E1E1",
        "border-top: solid #E1E1E1",
        "-----Original Message-----",
        REPLY_ABOVE,
    ];
    let lower = html.to_ascii_lowercase();
    let cut = MARKERS
        .iter()
        .filter_map(|m| lower.find(&m.to_ascii_lowercase()))
        .min()
        // Back to the start of the tag the marker is in.
        .map(|at| lower[..at].rfind('<').filter(|_| !lower[at..].starts_with('<')).unwrap_or(at));
    &html[..cut.unwrap_or(html.len())]
}

/// HTML as the text its reader sees: `mail-parser`'s conversion, with each block (a `div`, a paragraph, a list
/// item, a table row, a heading, a quote) ending its line, since Gmail and Apple Mail write each line as a
/// `div` and an empty line as `<div><br></div>`; without the markup's indentation, and at most one blank line
/// in a row.
fn html_text(html: &str) -> String {
    // Where a block ends: a line ends there unless one just did (a private-use character, none left in the text).
    const BLOCK_END: char = '\u{E000}';
    const BLOCKS: &[&str] = &["div", "p", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"];
    let html = html.replace(BLOCK_END, "");
    let lower = html.to_ascii_lowercase();
    let mut marked = String::with_capacity(html.len() + 64);
    let mut copied = 0;
    for (at, _) in lower.match_indices("</") {
        let name_end = lower[at + 2..].find(|c: char| !c.is_ascii_alphanumeric()).map_or(lower.len(), |n| at + 2 + n);
        if at < copied || !BLOCKS.contains(&&lower[at + 2..name_end]) {
            continue;
        }
        let Some(close) = lower[name_end..].find('>').map(|n| name_end + n + 1) else { break };
        marked.push_str(&html[copied..close]);
        marked.push(BLOCK_END);
        copied = close;
    }
    marked.push_str(&html[copied..]);
    let mut text = String::with_capacity(marked.len());
    for c in mail_parser::decoders::html::html_to_text(&marked).chars() {
        match c {
            BLOCK_END if text.is_empty() || text.ends_with('\n') => {}
            BLOCK_END => text.push('\n'),
            c => text.push(c),
        }
    }
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if !(line.is_empty() && lines.last().is_some_and(|l| l.is_empty())) {
            lines.push(line);
        }
    }
    lines.join("\n")
}

/// The first `max` bytes of `text`, at a character's boundary.
fn head(text: &str, max: usize) -> &str {
    match text.len() <= max {
        true => text,
        false => &text[..(0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)],
    }
}

/// The text made safe for a thread entry: line breaks and tabs kept, every other control character, the
/// bidirectional overrides and isolates, and the byte-order mark dropped; at most a message's length.
fn safe(text: &str) -> (String, bool) {
    let clean: String = text
        .chars()
        .filter(|c| {
            (!c.is_control() || *c == '\n' || *c == '\t')
                && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        })
        .collect();
    match clean.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => (clean[..at].to_owned(), true),
        None => (clean, false),
    }
}

/// A file name as shown on an entry: one line, no control characters, at most 100 characters.
fn safe_name(name: &str) -> String {
    let name: String =
        safe(name).0.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).take(MAX_ATTACHMENT_NAME_CHARS).collect();
    if name.trim().is_empty() { "(unnamed)".to_owned() } else { name.trim().to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_blocks_end_their_lines_as_a_reader_sees_them() {
        let gmail = "<div dir=\"ltr\"><div>Thanks.</div><div><br></div><div>Could you <b>send</b> it?</div></div>";
        assert_eq!(html_text(gmail), "Thanks.\n\nCould you send it?");
        let outlook = "<p class=MsoNormal>\nHello,<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
                       <P>Fine &amp; well.</P><p>&nbsp;</p><p>&nbsp;</p><p>Jane</p>";
        assert_eq!(html_text(outlook), "Hello,\n\nFine & well.\n\nJane");
        assert_eq!(html_text("a\u{E000}b<br>c"), "ab\nc", "the marker is not the sender's to write");
    }

    #[test]
    fn html_is_cut_before_its_quote_markup() {
        let gmail = r#"<div dir="ltr">Works now</div><br><div class="gmail_quote"><div class="gmail_attr">On Mon wrote:</div><blockquote>old</blockquote></div>"#;
        assert_eq!(before_quotes(gmail), r#"<div dir="ltr">Works now</div><br>"#);
        let outlook = r#"<p>Fine</p><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">From: x</div>"#;
        assert_eq!(before_quotes(outlook), "<p>Fine</p>");
        assert_eq!(before_quotes("<p>no quote</p>"), "<p>no quote</p>");
    }

    #[test]
    fn the_text_is_made_safe_and_bounded() {
        let (text, truncated) = safe("a\u{0}b\u{202E}c\u{2066}d\te\nf\u{7}");
        assert_eq!((text.as_str(), truncated), ("abcd\te\nf", false));
        let (long, truncated) = safe(&"é".repeat(MAX_MESSAGE_CHARS + 5));
        assert_eq!((long.chars().count(), truncated), (MAX_MESSAGE_CHARS, true));
        assert_eq!(safe_name("a\nb\u{202E}.pdf"), "a b.pdf");
        assert_eq!(safe_name("\u{0}"), "(unnamed)");
    }
}
