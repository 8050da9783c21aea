//! What a request's body may hold, whatever the request: why one is refused (`InputError`, with every broken
//! field at once), and the rules of text every field keeps (not blank, no control or bidirectional-override
//! character, one line where a line is asked for).

use serde::Serialize;

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
