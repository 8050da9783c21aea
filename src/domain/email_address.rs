//! An e-mail address: the requester's, a notification address, a reply's sender. Parsed once, at the edge, the
//! way the `userEmail` field is checked; SES sends only to what passes.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::input::{FieldCode, has_forbidden_char, is_blank};

pub const MAX_EMAIL_CHARS: usize = 254;

/// A syntactically valid, trimmed, ASCII e-mail address of at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Checks an address the way the `userEmail` field is checked (trimmed first).
    pub fn parse(raw: &str) -> Result<Self, (FieldCode, String)> {
        let trimmed = raw.trim();
        if is_blank(trimmed) {
            return Err((FieldCode::Blank, "must not be blank".into()));
        }
        if trimmed.chars().count() > MAX_EMAIL_CHARS {
            return Err((FieldCode::TooLong, format!("must be at most {MAX_EMAIL_CHARS} characters")));
        }
        if has_forbidden_char(trimmed) {
            return Err((
                FieldCode::InvalidCharacters,
                "contains a control or bidirectional-override character".into(),
            ));
        }
        // SES sends only to ASCII addresses; an internationalised domain is accepted in its punycode (xn--) form.
        let options =
            email_address::Options::default().without_display_text().without_domain_literal().with_required_tld();
        if !trimmed.is_ascii() || email_address::EmailAddress::parse_with_options(trimmed, options).is_err() {
            return Err((FieldCode::InvalidEmail, "must be a plain e-mail address such as user@example.com".into()));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Email::parse(&raw).map_err(|(_, why)| format!("invalid e-mail address: {why}"))
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
