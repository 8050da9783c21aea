//! What a request's body may hold, whatever the request: why one is refused (`InputError`, with every broken
//! field at once), and the rules of text every field keeps (not blank, no control or bidirectional-override
//! character, one line where a line is asked for).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest accepted body, checked on length before any parsing.
pub const MAX_BODY_BYTES: usize = 128 * 1024;
/// Why a request body was refused, in the order the contract reports them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the Idempotency-Key header must be 1 to 255 printable ASCII characters without commas, sent once")]
    InvalidIdempotencyKey,
    #[error("{reason} at line {line}, column {column}")]
    InvalidJson { line: usize, column: usize, reason: String },
    #[error("{} field(s) are invalid", .0.len())]
    Invalid(Vec<FieldError>),
}

/// One broken field rule: which field, a stable code, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: FieldCode,
    pub message: String,
}

/// The stable field error codes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldCode {
    Required,
    InvalidType,
    Blank,
    TooLong,
    InvalidEmail,
    TooMany,
    InvalidKey,
    InvalidValue,
    UnknownField,
    InvalidCharacters,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

/// Blank: nothing that shows. Whitespace, and the zero-width and invisible format characters (zero-width space
/// and joiners, direction marks, word joiner, byte-order mark, soft hyphen), which a title or message made only
/// of would display as nothing.
pub fn is_blank(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace()
            || matches!(c, '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
    })
}

/// Folds each run of CR, LF, tab and the Unicode line and paragraph separators into a single space: a title is
/// one line wherever it is shown (an e-mail subject among them).
pub fn fold_line_breaks(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_break = false;
    for c in s.chars() {
        if matches!(c, '\r' | '\n' | '\t' | '\u{2028}' | '\u{2029}') {
            if !in_break {
                out.push(' ');
            }
            in_break = true;
        } else {
            out.push(c);
            in_break = false;
        }
    }
    out
}

/// Bidirectional embedding, override and isolate controls: the "Trojan Source" characters that make text
/// display differently from what it is. Marks (U+200E, U+200F) stay allowed for right-to-left writers.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub fn has_forbidden_char(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || is_bidi_control(c))
}

/// serde_json's message without its own "at line L column C" suffix (the problem carries those as numbers).
pub fn json_reason(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(cut) => full[..cut].to_owned(),
        None => full,
    }
}

/// A request body's JSON object (duplicate keys refused, at any depth), or its `InvalidJson` with where and why.
pub(super) fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, InputError> {
    let object: UniqueKeyObject = serde_json::from_slice(body).map_err(|e| InputError::InvalidJson {
        line: e.line(),
        column: e.column(),
        reason: json_reason(&e),
    })?;
    Ok(object.0)
}

/// A JSON object that refuses duplicate keys, its own and those of every object inside it (serde_json would
/// otherwise keep the last one silently).
pub(super) struct UniqueKeyObject(pub(super) serde_json::Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueKeyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueKeyObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
                unique_key_map(access).map(UniqueKeyObject)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

fn unique_key_map<'de, A: MapAccess<'de>>(mut access: A) -> Result<serde_json::Map<String, Value>, A::Error> {
    let mut map = serde_json::Map::new();
    while let Some(key) = access.next_key::<String>()? {
        if map.contains_key(&key) {
            return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
        }
        let UniqueKeyValue(value) = access.next_value()?;
        map.insert(key, value);
    }
    Ok(map)
}

/// Any JSON value, read like `serde_json::Value` but with every object in it refusing duplicate keys.
struct UniqueKeyValue(Value);

impl<'de> Deserialize<'de> for UniqueKeyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = UniqueKeyValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
                Ok(UniqueKeyValue(Value::Bool(b)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
                Ok(UniqueKeyValue(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
                Ok(UniqueKeyValue(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
                Ok(UniqueKeyValue(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(UniqueKeyValue(Value::String(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(UniqueKeyValue(Value::String(s)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(UniqueKeyValue(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(UniqueKeyValue(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(UniqueKeyValue(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
                unique_key_map(access).map(|map| UniqueKeyValue(Value::Object(map)))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}
