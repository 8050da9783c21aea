//! Parse, don't validate: turns the bytes of a create request into a `NewTicket`, or into every problem at once.
//!
//! The rules are those of the API contract (docs/api.md, "Create a ticket"). A `NewTicket` can only be built here, so
//! nothing past the HTTP edge ever sees an invalid ticket.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attachment;
use super::email_address::Email;
use super::input::{FieldCode, FieldError, InputError, fold_line_breaks, is_bidi_control, is_blank, json_object};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 20_000;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY_CHARS: usize = 64;
pub const MAX_TAG_VALUE_CHARS: usize = 1_000;

/// A ticket as a caller asked for it, every field valid.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub requester: Email,
    pub title: Title,
    pub message: Message,
    pub tags: CustomTags,
    /// Upload ids of the files the ticket opens with (`attachment::ids_from_json`), checked by the service.
    pub attachments: Vec<String>,
}

/// A single-line title: trimmed, runs of CR/LF/tab (and U+2028/U+2029) folded to one space, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Title(String);

/// The requester's message, as sent: not blank, at most 20,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Message(String);

/// Caller-defined tags: at most 50, keys of `A-Z a-z 0-9 _ . -`, scalar values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomTags(BTreeMap<String, TagValue>);

/// A tag value: a string, a finite number or a boolean (JSON numbers are always finite).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TagValue {
    Bool(bool),
    Number(serde_json::Number),
    Text(String),
}

impl Title {
    pub fn parse(raw: &str) -> Result<Self, (FieldCode, String)> {
        if raw.contains('\0') || raw.chars().any(is_bidi_control) {
            return Err((FieldCode::InvalidCharacters, "contains a NUL or bidirectional-override character".into()));
        }
        let folded = fold_line_breaks(raw.trim());
        if is_blank(&folded) {
            return Err((FieldCode::Blank, "must not be blank".into()));
        }
        if folded.chars().any(char::is_control) {
            return Err((FieldCode::InvalidCharacters, "contains a control character".into()));
        }
        if folded.chars().count() > MAX_TITLE_CHARS {
            return Err((FieldCode::TooLong, format!("must be at most {MAX_TITLE_CHARS} characters")));
        }
        Ok(Self(folded))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Message {
    pub fn parse(raw: &str) -> Result<Self, (FieldCode, String)> {
        if raw.contains('\0') || raw.chars().any(is_bidi_control) {
            return Err((FieldCode::InvalidCharacters, "contains a NUL or bidirectional-override character".into()));
        }
        if is_blank(raw) {
            return Err((FieldCode::Blank, "must not be blank".into()));
        }
        if raw.chars().count() > MAX_MESSAGE_CHARS {
            return Err((FieldCode::TooLong, format!("must be at most {MAX_MESSAGE_CHARS} characters")));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CustomTags {
    pub fn iter(&self) -> impl Iterator<Item = (&String, &TagValue)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Checks a `customTags` value, pushing one error per broken entry.
    fn parse(value: &Value, errors: &mut Vec<FieldError>) -> Option<Self> {
        let map = match value {
            // A JSON null for an optional object is read as "no tags", as most clients send absent optionals.
            Value::Null => return Some(Self::default()),
            Value::Object(map) => map,
            _ => {
                errors.push(FieldError::new("customTags", FieldCode::InvalidType, "must be an object"));
                return None;
            }
        };
        let before = errors.len();
        if map.len() > MAX_TAGS {
            errors.push(FieldError::new(
                "customTags",
                FieldCode::TooMany,
                format!("must have at most {MAX_TAGS} entries, has {}", map.len()),
            ));
        }
        let mut tags = BTreeMap::new();
        for (key, value) in map {
            let field = format!("customTags.{key}");
            let key_ok = (1..=MAX_TAG_KEY_CHARS).contains(&key.chars().count())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !key_ok {
                errors.push(FieldError::new(
                    field,
                    FieldCode::InvalidKey,
                    format!("tag keys are 1 to {MAX_TAG_KEY_CHARS} characters of A-Z a-z 0-9 _ . -"),
                ));
                continue;
            }
            let tag = match value {
                Value::Bool(b) => TagValue::Bool(*b),
                Value::Number(n) if !storable(n) => {
                    errors.push(FieldError::new(
                        field,
                        FieldCode::InvalidValue,
                        "numbers must be between 1E-130 and 9.99E+125 in size (or 0)",
                    ));
                    continue;
                }
                Value::Number(n) => TagValue::Number(n.clone()),
                Value::String(s) if s.contains('\0') || s.chars().any(is_bidi_control) => {
                    errors.push(FieldError::new(
                        field,
                        FieldCode::InvalidCharacters,
                        "contains a NUL or bidirectional-override character",
                    ));
                    continue;
                }
                Value::String(s) if s.chars().count() > MAX_TAG_VALUE_CHARS => {
                    errors.push(FieldError::new(
                        field,
                        FieldCode::TooLong,
                        format!("must be at most {MAX_TAG_VALUE_CHARS} characters"),
                    ));
                    continue;
                }
                Value::String(s) => TagValue::Text(s.clone()),
                Value::Null | Value::Array(_) | Value::Object(_) => {
                    errors.push(FieldError::new(
                        field,
                        FieldCode::InvalidValue,
                        "must be a string, a number or a boolean",
                    ));
                    continue;
                }
            };
            tags.insert(key.clone(), tag);
        }
        (errors.len() == before).then_some(Self(tags))
    }
}

impl fmt::Display for TagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagValue::Bool(b) => write!(f, "{b}"),
            TagValue::Number(n) => write!(f, "{n}"),
            TagValue::Text(s) => f.write_str(s),
        }
    }
}

impl NewTicket {
    /// Parses a request body: invalid JSON (with its line and column) first, then every field rule at once.
    pub fn from_json(body: &[u8]) -> Result<Self, InputError> {
        let object = json_object(body)?;
        Self::from_fields(object)
    }

    fn from_fields(mut fields: serde_json::Map<String, Value>) -> Result<Self, InputError> {
        let mut errors = Vec::new();
        let requester = required_string(&mut fields, "userEmail", &mut errors, Email::parse);
        let title = required_string(&mut fields, "title", &mut errors, Title::parse);
        let message = required_string(&mut fields, "message", &mut errors, Message::parse);
        let tags = match fields.remove("customTags") {
            None => Some(CustomTags::default()),
            Some(value) => CustomTags::parse(&value, &mut errors),
        };
        let attachments = attachment::ids_from_json(fields.remove("attachments"), &mut errors);
        for unknown in fields.keys() {
            errors.push(FieldError::new(
                unknown.clone(),
                FieldCode::UnknownField,
                "is not a field of this API (userEmail, title, message, customTags, attachments)",
            ));
        }
        match (requester, title, message, tags, attachments) {
            (Some(requester), Some(title), Some(message), Some(tags), Some(attachments)) if errors.is_empty() => {
                Ok(Self { requester, title, message, tags, attachments })
            }
            _ => Err(InputError::Invalid(errors)),
        }
    }
}

/// Takes a required string field out of the object and parses it, recording the first broken rule.
pub(super) fn required_string<T>(
    fields: &mut serde_json::Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
    parse: impl FnOnce(&str) -> Result<T, (FieldCode, String)>,
) -> Option<T> {
    let outcome = match fields.remove(name) {
        None | Some(Value::Null) => Err((FieldCode::Required, "is required".to_owned())),
        Some(Value::String(s)) => parse(&s),
        Some(_) => Err((FieldCode::InvalidType, "must be a string".to_owned())),
    };
    outcome.map_err(|(code, message)| errors.push(FieldError::new(name, code, message))).ok()
}

/// Whether DynamoDB can store the number: magnitudes from 1E-130 to under 1E+126, or zero.
fn storable(n: &serde_json::Number) -> bool {
    match n.as_f64() {
        Some(x) => x == 0.0 || (1e-130..1e126).contains(&x.abs()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::input::json_reason;

    #[test]
    fn title_folds_each_run_of_line_breaks_and_tabs_to_one_space() {
        assert_eq!(Title::parse("  a\r\n\tb\nc  ").unwrap().as_str(), "a b c");
        assert_eq!(Title::parse("a\u{2028}\u{2029}b").unwrap().as_str(), "a b");
    }

    #[test]
    fn text_made_only_of_invisible_characters_is_blank() {
        for invisible in ["\u{200b}", "\u{feff}\u{200d}", " \u{200e} \u{ad}"] {
            assert_eq!(Title::parse(invisible).unwrap_err().0, FieldCode::Blank, "{invisible:?}");
            assert_eq!(Message::parse(invisible).unwrap_err().0, FieldCode::Blank, "{invisible:?}");
        }
        assert!(Title::parse("\u{200b}hi").is_ok(), "a visible character is enough");
    }

    #[test]
    fn json_reason_drops_the_position_suffix() {
        let e = serde_json::from_str::<Value>("{").unwrap_err();
        assert_eq!(json_reason(&e), "EOF while parsing an object");
    }
}
