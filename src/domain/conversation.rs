//! What a conversation's requests say, parsed (not validated) into types: a new message, a status request, a
//! list cursor. JSON bodies follow the create's rules (one object, no duplicate or unknown field); HTML forms
//! (`application/x-www-form-urlencoded`) carry the same fields, and may carry the name of the button pressed.

use std::collections::BTreeSet;
use std::ops::Range;

use base64::Engine as _;
use serde_json::Value;

use super::attachment::{self, MAX_FILES_PER_MESSAGE, PostedFile};
use super::email_address::Email;
use super::input::{FieldCode, FieldError, InputError, MAX_BODY_BYTES, json_object};
use super::new_ticket::{Message, required_string};
use super::ticket::TicketStatus;

/// The largest JSON body a conversation request takes, as a create's.
pub const MAX_JSON_BYTES: usize = MAX_BODY_BYTES;
/// The largest form body: a message of 20,000 characters of four UTF-8 bytes, each byte percent-encoded.
pub const MAX_FORM_BYTES: usize = 256 * 1024;
/// The largest page post with files (`multipart/form-data`): what a Lambda request carries (6 MB) once API
/// Gateway has base64-encoded it, with room for the rest of the event. Larger files go by the API's uploads or
/// by e-mail.
pub const MAX_MULTIPART_BYTES: usize = 4 * 1024 * 1024;

/// A new message as posted: its text, the uploads it references (`attachments`, from the API), and the files
/// posted with it (from a page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub message: Message,
    pub attachments: Vec<String>,
    pub posted: Vec<PostedFile>,
}

impl Reply {
    pub fn text(message: Message) -> Self {
        Self { message, attachments: Vec::new(), posted: Vec::new() }
    }
}

/// The entries one read of a thread shows, newest first (the page, or the JSON, then links to earlier ones). An
/// entry's message is at most 20,000 characters, which render to at most about 120 KB (each a control character
/// escaped in JSON, or a `<` in HTML): 25 entries and the first one stay near 3 MB, half of what a Lambda
/// response may carry (6 MB), whatever was written.
pub const THREAD_PAGE_ENTRIES: usize = 25;
/// The most entries a ticket takes for its messages: a conversation longer than that is a new ticket's.
pub const MAX_MESSAGES_ENTRIES: u32 = 1_000;
/// Status changes go on past the messages' limit, up to this many entries in all, so that a full ticket can
/// still be resolved or closed.
pub const MAX_ENTRIES: u32 = 1_100;

/// A status change as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRequest {
    pub status: TicketStatus,
    /// On a close by the team: tell the requester (by default a close tells nobody).
    pub notify_requester: bool,
}

fn unknown(fields: &serde_json::Map<String, Value>, known: &str, errors: &mut Vec<FieldError>) {
    for name in fields.keys() {
        errors.push(FieldError::new(
            name.clone(),
            FieldCode::UnknownField,
            format!("is not a field of this request ({known})"),
        ));
    }
}

/// The fields of a form, each name once (a repeated one is refused: which would count?).
fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, InputError> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let mut seen = BTreeSet::new();
    for (name, _) in &fields {
        if !seen.insert(name.as_str()) {
            return Err(InputError::Invalid(vec![FieldError::new(
                name.clone(),
                FieldCode::InvalidValue,
                "is sent twice",
            )]));
        }
    }
    Ok(fields)
}

fn form_value<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A new message: `{"message": "...", "attachments": [upload ids]}`, by the rules of a create's.
pub fn reply_from_json(body: &[u8]) -> Result<Reply, InputError> {
    let mut fields = json_object(body)?;
    let mut errors = Vec::new();
    let message = required_string(&mut fields, "message", &mut errors, Message::parse);
    let attachments = attachment::ids_from_json(fields.remove("attachments"), &mut errors);
    unknown(&fields, "message, attachments", &mut errors);
    match (message, attachments) {
        (Some(message), Some(attachments)) if errors.is_empty() => Ok(Reply { message, attachments, posted: vec![] }),
        _ => Err(InputError::Invalid(errors)),
    }
}

/// The same from a form: `message=...`.
pub fn reply_from_form(body: &[u8]) -> Result<Reply, InputError> {
    let fields = form_fields(body)?;
    let raw = form_value(&fields, "message")
        .ok_or_else(|| InputError::Invalid(vec![FieldError::new("message", FieldCode::Required, "is required")]))?;
    message_text(raw).map(Reply::text)
}

/// Browsers send line breaks as CR LF; the text is kept as the person typed it otherwise.
fn message_text(raw: &str) -> Result<Message, InputError> {
    Message::parse(&raw.replace("\r\n", "\n"))
        .map_err(|(code, why)| InputError::Invalid(vec![FieldError::new("message", code, why)]))
}

/// The same from a page's form with files (`multipart/form-data`, RFC 7578, which is MIME: read by the parser
/// that reads replies by e-mail): a `message` field and up to `MAX_FILES_PER_MESSAGE` files in `file` fields
/// (an empty file input sends a part without a name and without bytes, which is no file).
pub fn reply_from_multipart(content_type: &str, body: &[u8]) -> Result<Reply, InputError> {
    use mail_parser::MimeHeaders as _;
    let mut raw = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    raw.extend_from_slice(body);
    let invalid = |field: &str, code, why: &str| InputError::Invalid(vec![FieldError::new(field, code, why)]);
    let parsed = mail_parser::MessageParser::default()
        .parse(&raw)
        .filter(|m| m.content_type().is_some_and(|t| t.c_subtype.as_deref() == Some("form-data")))
        .ok_or_else(|| invalid("message", FieldCode::InvalidValue, "the form could not be read"))?;
    let mut message = None;
    let mut posted = Vec::new();
    for part in parsed.parts.iter().skip(1) {
        let disposition = part.content_disposition();
        let name = disposition.and_then(|d| d.attribute("name")).unwrap_or_default();
        match name {
            "message" if message.is_none() => message = Some(String::from_utf8_lossy(part.contents()).into_owned()),
            "message" => return Err(invalid("message", FieldCode::InvalidValue, "is sent twice")),
            "file" => {
                let file_name = part.attachment_name().and_then(attachment::safe_file_name);
                let file_name = match (file_name, part.contents().is_empty()) {
                    (Some(name), false) => name,
                    // An empty file input: no file.
                    (_, true) => continue,
                    (None, false) => return Err(invalid("attachments", FieldCode::InvalidValue, "a file has no name")),
                };
                let content_type = part
                    .content_type()
                    .map(|t| format!("{}/{}", t.c_type, t.c_subtype.as_deref().unwrap_or_default()))
                    .unwrap_or_default();
                posted.push(PostedFile { file_name, content_type, bytes: part.contents().to_vec() });
            }
            _ => {}
        }
    }
    if posted.len() > MAX_FILES_PER_MESSAGE {
        return Err(invalid("attachments", FieldCode::TooMany, "a message carries at most 10 files"));
    }
    let raw = message.ok_or_else(|| invalid("message", FieldCode::Required, "is required"))?;
    Ok(Reply { message: message_text(&raw)?, attachments: Vec::new(), posted })
}

fn status_value(raw: Option<&Value>) -> Result<TicketStatus, FieldError> {
    match raw {
        None | Some(Value::Null) => Err(FieldError::new("status", FieldCode::Required, "is required")),
        Some(Value::String(s)) => TicketStatus::parse(s)
            .ok_or_else(|| FieldError::new("status", FieldCode::InvalidValue, "must be open, resolved or closed")),
        Some(_) => Err(FieldError::new("status", FieldCode::InvalidType, "must be a string")),
    }
}

/// A status change: `{"status": "resolved"}`, and for a close `"notifyRequester": true` to tell the requester.
pub fn status_from_json(body: &[u8]) -> Result<StatusRequest, InputError> {
    let mut fields = json_object(body)?;
    let mut errors = Vec::new();
    let status = status_value(fields.remove("status").as_ref()).map_err(|e| errors.push(e)).ok();
    let notify_requester = match fields.remove("notifyRequester") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            errors.push(FieldError::new("notifyRequester", FieldCode::InvalidType, "must be true or false"));
            false
        }
    };
    unknown(&fields, "status, notifyRequester", &mut errors);
    match status {
        Some(status) if errors.is_empty() => Ok(StatusRequest { status, notify_requester }),
        _ => Err(InputError::Invalid(errors)),
    }
}

/// An assignment as asked: a member's address, or nobody (`None`). Whether the address is a member is the
/// collection's to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignRequest {
    pub assignee: Option<Email>,
}

fn assignee_value(value: Option<&str>) -> Result<Option<Email>, FieldError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => Email::parse(raw).map(Some).map_err(|(code, why)| FieldError::new("assignee", code, why)),
    }
}

/// `{"assignee": "<member address>" | null}`.
pub fn assign_from_json(body: &[u8]) -> Result<AssignRequest, InputError> {
    let mut fields = json_object(body)?;
    let mut errors = Vec::new();
    let assignee = match fields.remove("assignee") {
        None => Err(FieldError::new("assignee", FieldCode::Required, "is required: a member's address, or null")),
        Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) if !raw.trim().is_empty() => assignee_value(Some(&raw)),
        Some(_) => Err(FieldError::new("assignee", FieldCode::InvalidType, "must be a member's address, or null")),
    };
    let assignee = assignee.map_err(|e| errors.push(e)).ok();
    unknown(&fields, "assignee", &mut errors);
    match assignee {
        Some(assignee) if errors.is_empty() => Ok(AssignRequest { assignee }),
        _ => Err(InputError::Invalid(errors)),
    }
}

/// The same from a form: `assignee=<member address>`, empty for nobody.
pub fn assign_from_form(body: &[u8]) -> Result<AssignRequest, InputError> {
    let fields = form_fields(body)?;
    let Some(raw) = form_value(&fields, "assignee") else {
        return Err(InputError::Invalid(vec![FieldError::new("assignee", FieldCode::Required, "is required")]));
    };
    assignee_value(Some(raw)).map(|assignee| AssignRequest { assignee }).map_err(|e| InputError::Invalid(vec![e]))
}

/// Whose links a rotation gives anew: the requester's, the team's, or both (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRoles {
    Requester,
    Team,
    Both,
}

impl LinkRoles {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "requester" => Some(LinkRoles::Requester),
            "team" => Some(LinkRoles::Team),
            "both" => Some(LinkRoles::Both),
            _ => None,
        }
    }

    pub fn requester(self) -> bool {
        self != LinkRoles::Team
    }

    pub fn team(self) -> bool {
        self != LinkRoles::Requester
    }
}

const ROLE_RULE: &str = "requester, team or both";

/// A rotation's request: `{}` (both) or `{"role": "requester" | "team" | "both"}`.
pub fn rotation_from_json(body: &[u8]) -> Result<LinkRoles, InputError> {
    let mut fields = json_object(body)?;
    let role = fields.remove("role");
    let mut errors = Vec::new();
    unknown(&fields, "role", &mut errors);
    let roles = match role.as_ref() {
        None | Some(Value::Null) => Some(LinkRoles::Both),
        Some(Value::String(raw)) => LinkRoles::parse(raw),
        Some(_) => None,
    };
    match (roles, errors.is_empty()) {
        (Some(roles), true) => Ok(roles),
        (None, _) => {
            errors.push(FieldError::new("role", FieldCode::InvalidValue, ROLE_RULE));
            Err(InputError::Invalid(errors))
        }
        (Some(_), false) => Err(InputError::Invalid(errors)),
    }
}

/// The same from a form: `role=team` (absent: both); a form's other fields are its button's.
pub fn rotation_from_form(body: &[u8]) -> Result<LinkRoles, InputError> {
    let role = form_urlencoded::parse(body).find(|(name, _)| name == "role").map(|(_, v)| v.into_owned());
    match role {
        None => Ok(LinkRoles::Both),
        Some(raw) => LinkRoles::parse(&raw)
            .ok_or_else(|| InputError::Invalid(vec![FieldError::new("role", FieldCode::InvalidValue, ROLE_RULE)])),
    }
}

/// The same from a form: `status=resolved`, and `notifyRequester` checked (any value) to tell the requester.
pub fn status_from_form(body: &[u8]) -> Result<StatusRequest, InputError> {
    let fields = form_fields(body)?;
    let status = status_value(form_value(&fields, "status").map(|s| Value::String(s.to_owned())).as_ref())
        .map_err(|e| InputError::Invalid(vec![e]))?;
    Ok(StatusRequest { status, notify_requester: form_value(&fields, "notifyRequester").is_some() })
}

/// Where a page of a ticket list ends: the last ticket's activity and number, opaque to clients (base64url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub last_activity_at: String,
    pub ticket_number: u64,
}

impl ListCursor {
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}|{}", self.last_activity_at, self.ticket_number))
    }

    /// A cursor a previous page gave; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (at, number) = text.rsplit_once('|')?;
        let ticket_number = number.parse().ok()?;
        let well_formed = humantime::parse_rfc3339(at).is_ok() && at.is_ascii();
        well_formed.then(|| Self { last_activity_at: at.to_owned(), ticket_number })
    }
}

/// A stored time as a person reads it, in UTC and saying so: `2026-12-01T09:13:10.123Z` → `1 Dec 2026, 09:13
/// UTC`. Anything not in the stored format is shown as it is.
pub fn readable_time(at: &str) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let part = |range: Range<usize>| at.get(range).and_then(|p| p.parse::<u32>().ok());
    match (part(0..4), part(5..7), part(8..10), at.get(11..16)) {
        (Some(year), Some(month @ 1..=12), Some(day), Some(time)) if at.ends_with('Z') => {
            format!("{day} {} {year}, {time} UTC", MONTHS[month as usize - 1])
        }
        _ => at.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(e: InputError) -> Vec<(String, FieldCode)> {
        match e {
            InputError::Invalid(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_message_follows_the_rules_of_a_creates_message() {
        assert_eq!(
            reply_from_json(br#"{"message": " hello\n"}"#).unwrap().message.as_str(),
            " hello\n",
            "kept as sent"
        );
        assert_eq!(
            codes(reply_from_json(br#"{"message": "  "}"#).unwrap_err()),
            [("message".into(), FieldCode::Blank)]
        );
        let long = format!(r#"{{"message": "{}"}}"#, "x".repeat(20_001));
        assert_eq!(codes(reply_from_json(long.as_bytes()).unwrap_err()), [("message".into(), FieldCode::TooLong)]);
        assert_eq!(
            codes(reply_from_json(br#"{"mesage": "typo"}"#).unwrap_err()),
            [("message".into(), FieldCode::Required), ("mesage".into(), FieldCode::UnknownField)]
        );
        assert!(matches!(reply_from_json(br#"{"message": "a", "message": "b"}"#), Err(InputError::InvalidJson { .. })));
        assert_eq!(reply_from_form(b"message=Hello%0D%0Athere&send=").unwrap().message.as_str(), "Hello\nthere");
        assert_eq!(
            codes(reply_from_form(b"message=%00").unwrap_err()),
            [("message".into(), FieldCode::InvalidCharacters)]
        );
        assert_eq!(codes(reply_from_form(b"message=a&message=b").unwrap_err())[0].1, FieldCode::InvalidValue);
    }

    #[test]
    fn a_status_request_names_a_status_and_may_ask_to_tell_the_requester() {
        let closed = status_from_json(br#"{"status": "closed", "notifyRequester": true}"#).unwrap();
        assert_eq!((closed.status, closed.notify_requester), (TicketStatus::Closed, true));
        assert!(!status_from_form(b"status=resolved").unwrap().notify_requester);
        assert!(status_from_form(b"status=closed&notifyRequester=on").unwrap().notify_requester);
        assert_eq!(
            codes(status_from_json(br#"{"status": "done"}"#).unwrap_err()),
            [("status".into(), FieldCode::InvalidValue)]
        );
        assert_eq!(
            codes(status_from_json(br#"{"status": 1}"#).unwrap_err()),
            [("status".into(), FieldCode::InvalidType)]
        );
        assert_eq!(codes(status_from_json(br#"{}"#).unwrap_err()), [("status".into(), FieldCode::Required)]);
    }

    #[test]
    fn cursors_go_round_and_forged_ones_are_refused() {
        let cursor = ListCursor { last_activity_at: "2026-12-01T09:13:10.123Z".into(), ticket_number: 42 };
        assert_eq!(ListCursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "not base64!", "bm9waXBl", &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x|1")] {
            assert_eq!(ListCursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn times_read_in_utc_with_the_zone_said() {
        assert_eq!(readable_time("2026-12-01T09:13:10.123Z"), "1 Dec 2026, 09:13 UTC");
        assert_eq!(readable_time("not a time"), "not a time");
    }
}
