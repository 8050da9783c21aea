//! The body rules of the contract, table-driven: every rule, both sides of each limit. Each case names the
//! field and code it must produce, or that it is accepted.

use serde_json::{Value, json};
use ticket_api::domain::email_address::MAX_EMAIL_CHARS;
use ticket_api::domain::new_ticket::{
    MAX_MESSAGE_CHARS, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS, MAX_TITLE_CHARS,
};
use ticket_api::domain::{FieldCode, InputError, NewTicket};

fn base() -> serde_json::Map<String, Value> {
    json!({"userEmail": "user@email.com", "title": "Enquiry about pricing", "message": "Please explain"})
        .as_object()
        .unwrap()
        .clone()
}

fn with(field: &str, value: Value) -> Vec<u8> {
    let mut body = base();
    body.insert(field.into(), value);
    serde_json::to_vec(&body).unwrap()
}

fn without(field: &str) -> Vec<u8> {
    let mut body = base();
    body.remove(field);
    serde_json::to_vec(&body).unwrap()
}

fn tags(n: usize) -> Value {
    Value::Object((0..n).map(|i| (format!("k{i}"), json!(i))).collect())
}

/// An address of exactly `len` characters.
fn address(len: usize) -> String {
    let domain = "@example.com";
    let local = 64.min(len - domain.len());
    let rest = len - domain.len() - local;
    // Long addresses need a long domain: labels of at most 63 characters.
    let mut labels = String::new();
    let mut left = rest;
    while left > 0 {
        let take = left.clamp(2, 63);
        let label = "d".repeat(take - 1);
        labels.push_str(&label);
        labels.push('.');
        left = left.saturating_sub(take);
    }
    let a = format!("{}@{}example.com", "u".repeat(local), labels);
    assert_eq!(a.chars().count(), len, "test helper builds an address of {len} characters");
    a
}

enum Expect {
    Accepted,
    Field(&'static str, FieldCode),
}
use Expect::*;

#[test]
fn every_field_rule_accepts_or_refuses_with_the_right_field_and_code() {
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        // userEmail
        ("userEmail missing", without("userEmail"), Field("userEmail", FieldCode::Required)),
        ("userEmail null", with("userEmail", Value::Null), Field("userEmail", FieldCode::Required)),
        ("userEmail a number", with("userEmail", json!(5)), Field("userEmail", FieldCode::InvalidType)),
        ("userEmail blank", with("userEmail", json!("   ")), Field("userEmail", FieldCode::Blank)),
        (
            "userEmail without @",
            with("userEmail", json!("user.email.com")),
            Field("userEmail", FieldCode::InvalidEmail),
        ),
        (
            "userEmail without a TLD",
            with("userEmail", json!("user@localhost")),
            Field("userEmail", FieldCode::InvalidEmail),
        ),
        (
            "userEmail with display name",
            with("userEmail", json!("User <user@email.com>")),
            Field("userEmail", FieldCode::InvalidEmail),
        ),
        (
            "userEmail with IDN domain",
            with("userEmail", json!("user@bücher.de")),
            Field("userEmail", FieldCode::InvalidEmail),
        ),
        ("userEmail punycode domain", with("userEmail", json!("user@xn--bcher-kva.de")), Accepted),
        ("userEmail padded", with("userEmail", json!("  user@email.com \n")), Accepted),
        (
            "userEmail with CRLF inside",
            with("userEmail", json!("user@email.com\r\nBcc: x@y.z")),
            Field("userEmail", FieldCode::InvalidCharacters),
        ),
        ("userEmail 254 chars", with("userEmail", json!(address(MAX_EMAIL_CHARS))), Accepted),
        (
            "userEmail 255 chars",
            with("userEmail", json!(address(MAX_EMAIL_CHARS + 1))),
            Field("userEmail", FieldCode::TooLong),
        ),
        // title
        ("title missing", without("title"), Field("title", FieldCode::Required)),
        ("title an array", with("title", json!(["a"])), Field("title", FieldCode::InvalidType)),
        ("title empty", with("title", json!("")), Field("title", FieldCode::Blank)),
        ("title whitespace", with("title", json!(" \t\r\n ")), Field("title", FieldCode::Blank)),
        ("title 1 char", with("title", json!("a")), Accepted),
        ("title 200 chars", with("title", json!("é".repeat(MAX_TITLE_CHARS))), Accepted),
        ("title 201 chars", with("title", json!("é".repeat(MAX_TITLE_CHARS + 1))), Field("title", FieldCode::TooLong)),
        ("title 200 chars after trim", with("title", json!(format!("  {}  ", "a".repeat(MAX_TITLE_CHARS)))), Accepted),
        ("title with CR LF", with("title", json!("a\r\nb")), Accepted),
        ("title with NUL", with("title", json!("a\u{0}b")), Field("title", FieldCode::InvalidCharacters)),
        ("title with bell", with("title", json!("a\u{7}b")), Field("title", FieldCode::InvalidCharacters)),
        (
            "title with RTL override",
            with("title", json!("invoice\u{202E}fdp.exe")),
            Field("title", FieldCode::InvalidCharacters),
        ),
        ("title with zero-width space", with("title", json!("a\u{200B}b")), Accepted),
        ("title with <script>", with("title", json!("<script>alert(1)</script>")), Accepted),
        // message
        ("message missing", without("message"), Field("message", FieldCode::Required)),
        ("message a bool", with("message", json!(true)), Field("message", FieldCode::InvalidType)),
        ("message blank", with("message", json!("\n \n")), Field("message", FieldCode::Blank)),
        ("message 20000 chars", with("message", json!("😀".repeat(MAX_MESSAGE_CHARS))), Accepted),
        (
            "message 20001 chars",
            with("message", json!("a".repeat(MAX_MESSAGE_CHARS + 1))),
            Field("message", FieldCode::TooLong),
        ),
        ("message with NUL", with("message", json!("a\u{0}")), Field("message", FieldCode::InvalidCharacters)),
        ("message multi-line", with("message", json!("line 1\nline 2\n\tindented")), Accepted),
        // customTags
        ("customTags null", with("customTags", Value::Null), Accepted),
        ("customTags empty", with("customTags", json!({})), Accepted),
        ("customTags a string", with("customTags", json!("plan=pro")), Field("customTags", FieldCode::InvalidType)),
        ("customTags 50 entries", with("customTags", tags(MAX_TAGS)), Accepted),
        ("customTags 51 entries", with("customTags", tags(MAX_TAGS + 1)), Field("customTags", FieldCode::TooMany)),
        ("tag key 64 chars", with("customTags", json!({"k".repeat(MAX_TAG_KEY_CHARS): 1})), Accepted),
        (
            "tag key 65 chars",
            with("customTags", json!({"k".repeat(MAX_TAG_KEY_CHARS + 1): 1})),
            Field(
                "customTags.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
                FieldCode::InvalidKey,
            ),
        ),
        ("tag key empty", with("customTags", json!({"": 1})), Field("customTags.", FieldCode::InvalidKey)),
        ("tag key with space", with("customTags", json!({"a b": 1})), Field("customTags.a b", FieldCode::InvalidKey)),
        ("tag key with allowed punctuation", with("customTags", json!({"A-z_0.9": 1})), Accepted),
        ("tag value string", with("customTags", json!({"plan": "pro"})), Accepted),
        ("tag value number", with("customTags", json!({"seats": 12.5})), Accepted),
        ("tag value bool", with("customTags", json!({"trial": false})), Accepted),
        ("tag value 0", with("customTags", json!({"n": 0})), Accepted),
        ("tag value 9.9e125 (DynamoDB's largest)", with("customTags", json!({"n": 9.9e125})), Accepted),
        (
            "tag value 1e126 (too big to store)",
            with("customTags", json!({"n": 1e126})),
            Field("customTags.n", FieldCode::InvalidValue),
        ),
        ("tag value -1e200", with("customTags", json!({"n": -1e200})), Field("customTags.n", FieldCode::InvalidValue)),
        ("tag value 1e-130 (DynamoDB's smallest)", with("customTags", json!({"n": 1e-130})), Accepted),
        (
            "tag value 1e-200 (too small to store)",
            with("customTags", json!({"n": 1e-200})),
            Field("customTags.n", FieldCode::InvalidValue),
        ),
        ("tag value 1000 chars", with("customTags", json!({"v": "x".repeat(MAX_TAG_VALUE_CHARS)})), Accepted),
        (
            "tag value 1001 chars",
            with("customTags", json!({"v": "x".repeat(MAX_TAG_VALUE_CHARS + 1)})),
            Field("customTags.v", FieldCode::TooLong),
        ),
        ("tag value null", with("customTags", json!({"v": null})), Field("customTags.v", FieldCode::InvalidValue)),
        ("tag value array", with("customTags", json!({"v": [1]})), Field("customTags.v", FieldCode::InvalidValue)),
        (
            "tag value object",
            with("customTags", json!({"v": {"a": 1}})),
            Field("customTags.v", FieldCode::InvalidValue),
        ),
        (
            "tag value with NUL",
            with("customTags", json!({"v": "\u{0}"})),
            Field("customTags.v", FieldCode::InvalidCharacters),
        ),
        // anything else
        ("a typo of userEmail", with("usermail", json!("user@email.com")), Field("usermail", FieldCode::UnknownField)),
        ("an unknown field", with("priority", json!("high")), Field("priority", FieldCode::UnknownField)),
    ];
    for (name, body, expect) in cases {
        let result = NewTicket::from_json(&body);
        match (expect, result) {
            (Accepted, Ok(_)) => {}
            (Accepted, Err(e)) => panic!("{name}: must be accepted, got {e:?}"),
            (Field(field, code), Err(InputError::Invalid(errors))) => {
                assert_eq!(errors.len(), 1, "{name}: exactly one error expected, got {errors:?}");
                assert_eq!((errors[0].field.as_str(), errors[0].code), (field, code), "{name}: {errors:?}");
                assert!(!errors[0].message.is_empty(), "{name}: an error says why");
            }
            (Field(field, code), other) => panic!("{name}: must be refused as {field}/{code:?}, got {other:?}"),
        }
    }
}

#[test]
fn values_are_normalised_as_the_contract_says() {
    let body = json!({"userEmail": "  user@email.com ", "title": "  two\r\n\r\nlines\tand a tab  ",
        "message": "  kept as sent  ", "customTags": {"seats": 3}});
    let ticket = NewTicket::from_json(body.to_string().as_bytes()).unwrap();
    assert_eq!(ticket.requester.as_str(), "user@email.com");
    assert_eq!(ticket.title.as_str(), "two lines and a tab");
    assert_eq!(ticket.message.as_str(), "  kept as sent  ");
    assert_eq!(ticket.tags.len(), 1);
}

#[test]
fn every_broken_field_is_reported_at_once() {
    let body = json!({"userEmail": 1, "title": "", "customTags": {"bad key": 1, "v": null}, "extra": 1});
    let Err(InputError::Invalid(errors)) = NewTicket::from_json(body.to_string().as_bytes()) else {
        panic!("must be refused")
    };
    let got: Vec<(&str, FieldCode)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        got,
        [
            ("userEmail", FieldCode::InvalidType),
            ("title", FieldCode::Blank),
            ("message", FieldCode::Required),
            ("customTags.bad key", FieldCode::InvalidKey),
            ("customTags.v", FieldCode::InvalidValue),
            ("extra", FieldCode::UnknownField),
        ]
    );
}

#[test]
fn bodies_that_are_not_one_json_object_are_invalid_json_with_a_position() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("truncated", br#"{"userEmail": "a@b.co""#.to_vec()),
        ("not an object", br#"["userEmail"]"#.to_vec()),
        ("a string", br#""hello""#.to_vec()),
        ("null", b"null".to_vec()),
        ("trailing garbage", br#"{"title": "a"} x"#.to_vec()),
        ("duplicate keys", br#"{"title": "a", "title": "b"}"#.to_vec()),
        ("invalid UTF-8", b"{\"title\": \"\xff\xfe\"}".to_vec()),
        ("nested 10,000 deep", deep.into_bytes()),
        ("a number too big for any type", br#"{"customTags": {"n": 1e400}}"#.to_vec()),
        ("NaN", br#"{"customTags": {"n": NaN}}"#.to_vec()),
        ("single quotes", br#"{'title': 'a'}"#.to_vec()),
    ];
    for (name, body) in cases {
        match NewTicket::from_json(&body) {
            Err(InputError::InvalidJson { line, column, reason }) => {
                assert!(line >= 1, "{name}: line {line}");
                assert!(!reason.is_empty(), "{name}: a reason");
                let _ = column;
            }
            other => panic!("{name}: must be invalid JSON, got {other:?}"),
        }
    }
}
