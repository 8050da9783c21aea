//! Properties of the body validation, on generated inputs. `NewTicket::from_json` is what the create route parses
//! every body with (after the content type and size checks). It never panics and sorts every input into one of
//! two refusals (invalid JSON, or field errors) or an accepted ticket; every body within the rules is accepted with
//! exactly the values the contract's trimming and folding give; and a valid body broken past one rule is refused
//! with exactly that field and that code, and nothing else.

use std::cell::Cell;
use std::fmt::Debug;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use ticket_api::domain::email_address::MAX_EMAIL_CHARS;
use ticket_api::domain::new_ticket::{
    MAX_MESSAGE_CHARS, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS, MAX_TITLE_CHARS,
};
use ticket_api::domain::{FieldCode, InputError, NewTicket};

const FIELDS: [&str; 4] = ["userEmail", "title", "message", "customTags"];

/// Runs a property on `cases` generated inputs, prints the count, and fails with the smallest failing input.
fn check<S>(name: &str, cases: u32, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    // XorShift: the default ChaCha generator is several times slower in an unoptimised test build.
    let config =
        Config { rng_algorithm: RngAlgorithm::XorShift, failure_persistence: None, ..Config::with_cases(cases) };
    let mut runner = TestRunner::new(config);
    let runs = Cell::new(0u32);
    let outcome = runner.run(&strategy, |input| {
        runs.set(runs.get() + 1);
        property(input)
    });
    if let Err(e) = outcome {
        panic!("{name}: {e}");
    }
    assert!(runs.get() >= cases, "{name}: only {} of {cases} cases ran", runs.get());
    println!("{name}: {cases} cases passed");
}

// ---- characters ---------------------------------------------------------------------------------------------

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A visible character: not whitespace, not a control, from several scripts (1 to 4 bytes in UTF-8).
fn visible() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('!', '~'),
        1 => proptest::char::range('À', 'ÿ'),
        1 => proptest::char::range('α', 'ω'),
        1 => proptest::char::range('א', 'ת'),
        1 => proptest::char::range('一', '龥'),
        1 => proptest::char::range('😀', '🙏'),
    ]
}

/// What may follow a visible character inside a word: more of them, the direction marks the contract allows
/// (U+200E, U+200F), a joiner, a combining accent.
fn word_char() -> impl Strategy<Value = char> {
    prop_oneof![8 => visible(), 1 => prop::sample::select(vec!['\u{200e}', '\u{200f}', '\u{200d}', '\u{301}'])]
}

fn word(max_len: usize) -> impl Strategy<Value = String> {
    (visible(), vec(word_char(), 0..max_len)).prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
}

/// Whitespace that trimming removes, CR/LF/tab and Unicode spaces included.
fn whitespace(max_len: usize) -> impl Strategy<Value = String> {
    let ws =
        prop::sample::select(vec![' ', '\t', '\r', '\n', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}']);
    vec(ws, 0..=max_len).prop_map(String::from_iter)
}

/// Any character a message or a tag value may hold: everything but NUL and the bidirectional controls.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => visible(),
        2 => any::<char>(),
        1 => prop::sample::select(vec![' ', '\n', '\r', '\t', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{200b}']),
    ]
    .prop_filter("neither NUL nor a bidirectional control", |c| *c != '\0' && !is_bidi_control(*c))
}

/// A character the rules refuse in every text field.
fn forbidden() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('\0'),
        proptest::char::range('\u{202A}', '\u{202E}'),
        proptest::char::range('\u{2066}', '\u{2069}')
    ]
}

/// A control character that trimming and folding leave in place (not whitespace, not CR/LF/tab).
fn stray_control() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::char::range('\u{1}', '\u{8}'),
        proptest::char::range('\u{e}', '\u{1f}'),
        Just('\u{7f}'),
        proptest::char::range('\u{80}', '\u{84}'),
        proptest::char::range('\u{86}', '\u{9f}'),
    ]
}

/// `s` with `c` inserted before its `at % (len + 1)`-th character.
fn insert(s: &str, at: usize, c: char) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let at = at % (chars.len() + 1);
    chars.insert(at, c);
    chars.into_iter().collect()
}

/// `len` characters: `pattern` over and over.
fn cycled(pattern: &str, len: usize) -> String {
    pattern.chars().cycle().take(len).collect()
}

// ---- valid fields, each with what it must be stored as --------------------------------------------------------

/// A plain address of exactly `len` characters from `chars`: a local part of up to 64, labels of up to 63.
fn address_of(len: usize, chars: &[char]) -> String {
    let mut source = chars.iter().cycle();
    let mut take = |n: usize| (0..n).map(|_| *source.next().unwrap()).collect::<String>();
    let local = 64.min(len - 6);
    let mut address = take(local) + "@";
    let mut left = len - local - 1 - ".com".len();
    loop {
        if left <= 63 {
            address += &take(left);
            break;
        }
        let label = 63.min(left - 2);
        address += &take(label);
        address.push('.');
        left -= label + 1;
    }
    address + ".com"
}

/// A short plain address (at most about 120 characters): ASCII atext, dotted local parts, a plus tag,
/// hyphenated and punycode (`xn--`) labels.
fn short_address() -> impl Strategy<Value = String> {
    let local = "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-zA-Z0-9_-]{1,10}){0,2}(\\+[a-z0-9]{1,8})?";
    let label = "[a-zA-Z0-9]{1,15}(-[a-zA-Z0-9]{1,10})?|xn--[a-z0-9]{2,12}";
    (local, vec(label, 1..=3), "[a-zA-Z]{2,10}")
        .prop_map(|(local, labels, tld)| format!("{local}@{}.{tld}", labels.join(".")))
}

/// A valid `userEmail` with whitespace around it, and the trimmed address it must be stored as.
fn email() -> impl Strategy<Value = (String, String)> {
    let long =
        (100..=MAX_EMAIL_CHARS, vec(prop::sample::select(('a'..='z').chain('0'..='9').collect::<Vec<_>>()), 1..40))
            .prop_map(|(len, chars)| address_of(len, &chars));
    let exact = vec(proptest::char::range('a', 'z'), 1..10).prop_map(|chars| address_of(MAX_EMAIL_CHARS, &chars));
    (prop_oneof![6 => short_address(), 2 => long, 1 => exact], whitespace(3), whitespace(3))
        .prop_map(|(address, before, after)| (format!("{before}{address}{after}"), address))
}

/// A separator between two words of a title: spaces (kept) around at most one run of CR/LF/tab (one space).
fn separator() -> impl Strategy<Value = (String, String)> {
    let line_break = prop::option::of(vec(prop::sample::select(vec!['\r', '\n', '\t']), 1..4));
    (0..3usize, line_break, 0..3usize)
        .prop_filter("a separator is not empty", |(before, run, after)| before + after > 0 || run.is_some())
        .prop_map(|(before, run, after)| {
            let spaces = |n| " ".repeat(n);
            let raw = format!("{}{}{}", spaces(before), run.iter().flatten().collect::<String>(), spaces(after));
            let kept = format!("{}{}{}", spaces(before), if run.is_some() { " " } else { "" }, spaces(after));
            (raw, kept)
        })
}

/// A valid title as sent (words, separators, whitespace around), and what it must be stored as.
fn title() -> impl Strategy<Value = (String, String)> {
    let words = (word(12), vec((separator(), word(12)), 0..12)).prop_map(|(first, rest)| {
        rest.into_iter().fold((first.clone(), first), |(raw, kept), ((sep_raw, sep_kept), w)| {
            (format!("{raw}{sep_raw}{w}"), format!("{kept}{sep_kept}{w}"))
        })
    });
    let one_long = prop_oneof![vec(visible(), 1..=MAX_TITLE_CHARS), vec(visible(), MAX_TITLE_CHARS)]
        .prop_map(|chars| (String::from_iter(chars.clone()), String::from_iter(chars)));
    (prop_oneof![3 => words, 1 => one_long], whitespace(4), whitespace(4))
        .prop_map(|((raw, kept), before, after)| (format!("{before}{raw}{after}"), kept))
        .prop_filter("at most 200 characters once folded", |(_, kept)| kept.chars().count() <= MAX_TITLE_CHARS)
}

/// A valid message: anything but NUL and bidirectional controls, with something visible, up to exactly 20,000.
fn message() -> impl Strategy<Value = String> {
    let any_length = (vec(text_char(), 0..200), visible(), vec(text_char(), 0..200))
        .prop_map(|(before, c, after)| before.into_iter().chain([c]).chain(after).collect::<String>());
    let at_limit = (vec(text_char(), 0..40), visible()).prop_map(|(chars, c)| {
        let pattern: String = std::iter::once(c).chain(chars).collect();
        cycled(&pattern, MAX_MESSAGE_CHARS)
    });
    prop_oneof![6 => any_length, 1 => at_limit]
}

fn tag_key() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[A-Za-z0-9_.-]{1,20}", 1 => "[A-Za-z0-9_.-]{64}"]
}

/// A number DynamoDB can store: zero, or a magnitude from 1E-130 to under 1E+126.
fn storable_number() -> impl Strategy<Value = Value> {
    let scaled = (1.0f64..10.0, -130i32..=125, any::<bool>()).prop_map(|(mantissa, exponent, negative)| {
        let x: f64 = format!("{}{mantissa}e{exponent}", if negative { "-" } else { "" }).parse().unwrap();
        json!(x)
    });
    prop_oneof![Just(json!(0)), any::<i64>().prop_map(|n| json!(n)), any::<u64>().prop_map(|n| json!(n)), scaled]
}

/// A tag value: a boolean, a storable number, or text of 0 to 1,000 characters (sometimes exactly 1,000).
fn tag_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        4 => vec(text_char(), 0..40).prop_map(String::from_iter),
        1 => vec(text_char(), 1..40).prop_map(|c| cycled(&String::from_iter(c), MAX_TAG_VALUE_CHARS)),
    ];
    prop_oneof![any::<bool>().prop_map(Value::Bool), storable_number(), text.prop_map(Value::String)]
}

fn tags(sizes: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Map<String, Value>> {
    btree_map(tag_key(), tag_value(), sizes).prop_map(|map| map.into_iter().collect())
}

/// A valid body and the values it must be accepted with.
#[derive(Debug, Clone)]
struct Valid {
    body: Map<String, Value>,
    pretty: bool,
    email: String,
    title: String,
    message: String,
    tags: Value,
}

impl Valid {
    fn bytes(&self) -> Vec<u8> {
        if self.pretty { serde_json::to_vec_pretty(&self.body) } else { serde_json::to_vec(&self.body) }.unwrap()
    }
}

fn valid_body() -> impl Strategy<Value = Valid> {
    // customTags: absent, null (counts as absent), or 0 to 50 entries (sometimes exactly 50).
    let custom_tags = prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        4 => tags(0..=8).prop_map(|t| Some(Value::Object(t))),
        1 => tags(MAX_TAGS..=MAX_TAGS).prop_map(|t| Some(Value::Object(t))),
    ];
    (email(), title(), message(), custom_tags, any::<bool>()).prop_map(
        |((email_raw, email), (title_raw, title), message, custom_tags, pretty)| {
            let mut body = Map::new();
            body.insert("userEmail".into(), json!(email_raw));
            body.insert("title".into(), json!(title_raw));
            body.insert("message".into(), json!(message));
            let tags = match &custom_tags {
                Some(Value::Object(t)) => Value::Object(t.clone()),
                _ => json!({}),
            };
            if let Some(t) = custom_tags {
                body.insert("customTags".into(), t);
            }
            Valid { body, pretty, email, title, message, tags }
        },
    )
}

// ---- (a) no panic, one of three answers, whatever the input ------------------------------------------------------

/// What `from_json` may answer: a ticket, invalid JSON with a position and a reason, or at least one field error.
fn one_of_three_answers(result: &Result<NewTicket, InputError>) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => {}
        Err(InputError::InvalidJson { line, reason, .. }) => {
            prop_assert!(*line >= 1 && !reason.is_empty(), "{:?}", result)
        }
        Err(InputError::Invalid(errors)) => prop_assert!(!errors.is_empty(), "a refusal names a field"),
        Err(other) => prop_assert!(false, "the body parser answered {other:?}, which is not about the body"),
    }
    Ok(())
}

/// Any JSON value, nested a few levels, with strings that include the characters the rules care about.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| json!(x)),
        vec(prop_oneof![text_char(), forbidden(), stray_control()], 0..30).prop_map(|c| json!(String::from_iter(c))),
        short_address().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        let key = prop_oneof![prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned), "[a-zA-Z_ .-]{0,10}"];
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            btree_map(key, inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with any of the four fields, each holding any JSON value (strings most often), and other keys.
fn any_fields() -> impl Strategy<Value = Map<String, Value>> {
    let value = prop_oneof![
        3 => vec(prop_oneof![8 => text_char(), 1 => forbidden(), 1 => stray_control()], 0..60)
            .prop_map(|c| json!(String::from_iter(c))),
        1 => short_address().prop_map(Value::String),
        2 => json_value(),
    ];
    let field = prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned);
    let key = prop_oneof![4 => field, 1 => "[a-zA-Z]{1,12}"];
    btree_map(key, value, 0..6).prop_map(|m| m.into_iter().collect())
}

/// The rules hold for whatever is accepted: trimmed ASCII address of at most 254, a title of 1 to 200 characters
/// without control characters, a message that is not blank and at most 20,000, at most 50 tags; no NUL and no
/// bidirectional control anywhere.
fn accepted_follows_the_rules(ticket: &NewTicket) -> Result<(), TestCaseError> {
    let (email, title, message) = (ticket.requester.as_str(), ticket.title.as_str(), ticket.message.as_str());
    prop_assert!(email.is_ascii() && email.contains('@') && email.len() <= MAX_EMAIL_CHARS && email.trim() == email);
    prop_assert!((1..=MAX_TITLE_CHARS).contains(&title.chars().count()) && title.trim() == title);
    prop_assert!(!title.chars().any(char::is_control), "{title:?}");
    prop_assert!(!message.trim().is_empty() && message.chars().count() <= MAX_MESSAGE_CHARS);
    prop_assert!(ticket.tags.len() <= MAX_TAGS);
    for text in [email, title, message] {
        prop_assert!(!text.chars().any(|c| c == '\0' || is_bidi_control(c)), "{text:?}");
    }
    for (key, _) in ticket.tags.iter() {
        prop_assert!((1..=MAX_TAG_KEY_CHARS).contains(&key.len()));
    }
    Ok(())
}

/// Arbitrary bytes never panic the parser; each gets one of its three answers, and bytes that are not UTF-8 are
/// always invalid JSON.
#[test]
fn arbitrary_bytes_never_panic_and_non_utf8_is_invalid_json() {
    let bytes = prop_oneof![
        vec(any::<u8>(), 0..512),
        // Bytes that look like JSON more often than noise does.
        vec(prop::sample::select(b"{}[]\":,\\ntrufalse0123456789.eE+-uU \xff\xc3".to_vec()), 0..256),
    ];
    check("arbitrary bytes", 4_000, bytes, |bytes| {
        let result = NewTicket::from_json(&bytes);
        one_of_three_answers(&result)?;
        if std::str::from_utf8(&bytes).is_err() {
            prop_assert!(matches!(result, Err(InputError::InvalidJson { .. })), "{result:?}");
        }
        if let Ok(ticket) = &result {
            accepted_follows_the_rules(ticket)?;
        }
        Ok(())
    });
}

/// A valid body with random byte edits (flips, insertions, deletions) never panics the parser and gets one of its
/// three answers; whatever it still accepts follows the rules.
#[test]
fn valid_bodies_with_random_byte_edits_never_panic() {
    let edits = vec((0..3u8, any::<prop::sample::Index>(), any::<u8>()), 1..8);
    check("valid bodies with byte edits", 1_000, (valid_body(), edits), |(valid, edits)| {
        let mut bytes = valid.bytes();
        for (kind, at, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] ^= byte | 1,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => bytes.push(byte),
            }
        }
        let result = NewTicket::from_json(&bytes);
        one_of_three_answers(&result)?;
        if let Ok(ticket) = &result {
            accepted_follows_the_rules(ticket)?;
        }
        Ok(())
    });
}

/// Any JSON value never panics the parser: a value that is not an object is invalid JSON; an object is accepted or
/// refused field by field, every key that is not a field is reported as `unknown_field`, every error names a field
/// of that body, and whatever is accepted follows the rules.
#[test]
fn any_json_value_is_invalid_json_unless_an_object_and_objects_are_judged_field_by_field() {
    let values = prop_oneof![1 => json_value(), 3 => any_fields().prop_map(Value::Object)];
    check("arbitrary JSON values", 3_000, (values, any::<bool>()), |(value, pretty)| {
        let text = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) }.unwrap();
        let result = NewTicket::from_json(&text);
        one_of_three_answers(&result)?;
        let Value::Object(object) = &value else {
            prop_assert!(matches!(result, Err(InputError::InvalidJson { .. })), "{result:?}");
            return Ok(());
        };
        let unknown: Vec<&String> = object.keys().filter(|k| !FIELDS.contains(&k.as_str())).collect();
        match &result {
            Err(InputError::InvalidJson { .. }) => prop_assert!(false, "a JSON object is valid JSON: {result:?}"),
            Err(InputError::Invalid(errors)) => {
                let reported: Vec<&String> =
                    errors.iter().filter(|e| e.code == FieldCode::UnknownField).map(|e| &e.field).collect();
                prop_assert_eq!(&reported, &unknown);
                let tag_keys = object.get("customTags").and_then(Value::as_object);
                for e in errors {
                    let names_a_field = FIELDS.contains(&e.field.as_str())
                        || unknown.contains(&&e.field)
                        || e.field
                            .strip_prefix("customTags.")
                            .is_some_and(|key| tag_keys.is_some_and(|tags| tags.contains_key(key)));
                    prop_assert!(names_a_field, "{e:?} names no field of {object:?}");
                    prop_assert!(!e.message.is_empty());
                }
            }
            Ok(ticket) => {
                prop_assert!(unknown.is_empty(), "accepted with unknown fields {unknown:?}");
                accepted_follows_the_rules(ticket)?;
            }
            Err(_) => unreachable!("checked by one_of_three_answers"),
        }
        Ok(())
    });
}

/// Writes `value` as JSON with the first entry of its `dup`-th non-empty object (in document order) written
/// twice: the same key, a second time, with another value.
fn with_duplicate(value: &Value, dup: usize, seen: &mut usize, out: &mut String) {
    match value {
        Value::Object(map) => {
            let here = !map.is_empty() && *seen == dup;
            if !map.is_empty() {
                *seen += 1;
            }
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).unwrap());
                out.push(':');
                with_duplicate(item, dup, seen, out);
                if here && i == 0 {
                    out.push_str(&format!(",{}:\"again\"", serde_json::to_string(key).unwrap()));
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                with_duplicate(item, dup, seen, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A key written twice in any object of the body, at any depth (in `customTags`, in an unknown field's value),
/// makes the body invalid JSON that names the duplicate: it is never silently resolved to one of the values.
#[test]
fn a_duplicate_key_at_any_depth_is_invalid_json() {
    let bodies = (valid_body(), json_value(), any::<prop::sample::Index>());
    check("duplicate keys at any depth", 500, bodies, |(valid, extra, which)| {
        let mut body = valid.body.clone();
        body.insert("extra".into(), extra);
        let value = Value::Object(body);
        let mut count = 0;
        with_duplicate(&value, usize::MAX, &mut count, &mut String::new());
        let dup = which.index(count);
        let mut text = String::new();
        with_duplicate(&value, dup, &mut 0, &mut text);
        match NewTicket::from_json(text.as_bytes()) {
            Err(InputError::InvalidJson { reason, .. }) => prop_assert!(reason.contains("duplicate key"), "{reason}"),
            other => prop_assert!(false, "a duplicate key in {text} gave {other:?}"),
        }
        Ok(())
    });
}

// ---- (b) every valid body is accepted as the contract normalises it ------------------------------------------------

/// Every body within the rules (addresses up to 254 characters, titles of 1 to 200 characters once trimmed and
/// folded, messages up to 20,000, up to 50 tags of every value type) is accepted, and the accepted values are the
/// input trimmed (address, title), folded (title) or kept exactly (message, tags).
#[test]
fn every_valid_body_is_accepted_with_its_normalised_values() {
    check("valid bodies", 1_000, valid_body(), |valid| {
        let ticket = NewTicket::from_json(&valid.bytes())
            .map_err(|e| TestCaseError::fail(format!("a valid body was refused: {e:?}")))?;
        prop_assert_eq!(ticket.requester.as_str(), valid.email.as_str());
        prop_assert_eq!(ticket.title.as_str(), valid.title.as_str());
        prop_assert_eq!(ticket.message.as_str(), valid.message.as_str());
        prop_assert_eq!(serde_json::to_value(&ticket.tags).unwrap(), valid.tags);
        Ok(())
    });
}

// ---- (c) one rule broken, exactly that error ------------------------------------------------------------------

/// How a valid body is broken.
#[derive(Debug, Clone)]
enum Change {
    /// The field gets this value.
    Set(&'static str, Value),
    Remove(&'static str),
    /// This entry is put into `customTags` (kept at most 50 entries, so that only the entry is wrong).
    Tag(String, Value),
    /// A field that is not the API's.
    Unknown(String, Value),
}

/// One broken rule: the change, and the one `(field, code)` it must be refused with.
#[derive(Debug, Clone)]
struct Broken {
    change: Change,
    field: String,
    code: FieldCode,
}

fn broken(change: Change, field: impl Into<String>, code: FieldCode) -> Broken {
    Broken { change, field: field.into(), code }
}

fn wrong_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
        vec(short_address(), 0..3).prop_map(|a| json!(a)),
        short_address().prop_map(|a| json!({"value": a})),
    ]
}

fn required(field: &'static str) -> impl Strategy<Value = Broken> {
    prop_oneof![Just(Change::Remove(field)), Just(Change::Set(field, Value::Null))]
        .prop_map(move |change| broken(change, field, FieldCode::Required))
}

fn invalid_type(field: &'static str) -> impl Strategy<Value = Broken> {
    wrong_type().prop_map(move |v| broken(Change::Set(field, v), field, FieldCode::InvalidType))
}

fn blank(field: &'static str) -> impl Strategy<Value = Broken> {
    whitespace(8).prop_map(move |ws| broken(Change::Set(field, json!(ws)), field, FieldCode::Blank))
}

fn text(field: &'static str, s: String) -> Change {
    Change::Set(field, Value::String(s))
}

fn broken_email() -> impl Strategy<Value = Broken> {
    let f = "userEmail";
    let not_plain = (
        short_address(),
        "[A-Za-z]{1,10}",
        0..5u8,
        any::<usize>(),
        prop::sample::select(vec!['ü', 'é', 'ø', 'ß', 'ı']),
    )
        .prop_map(|(address, name, how, at, letter)| match how {
            0 => format!("{name} <{address}>"),
            1 => address.replace('@', "."),
            2 => insert(&address, at, letter),
            3 => format!("{name}@{}", address.split('@').nth(1).unwrap().split('.').next().unwrap()),
            _ => format!("{address},{address}"),
        })
        .prop_map(move |s| broken(text(f, s), f, FieldCode::InvalidEmail));
    let too_long = vec(visible(), MAX_EMAIL_CHARS + 1..400)
        .prop_map(move |c| broken(text(f, String::from_iter(c)), f, FieldCode::TooLong));
    let characters = (short_address(), prop_oneof![forbidden(), stray_control()], any::<usize>())
        .prop_map(move |(a, c, at)| broken(text(f, insert(&a, at, c)), f, FieldCode::InvalidCharacters));
    prop_oneof![required(f), invalid_type(f), blank(f), not_plain, too_long, characters]
}

fn broken_title() -> impl Strategy<Value = Broken> {
    let f = "title";
    let too_long = vec(visible(), MAX_TITLE_CHARS + 1..400)
        .prop_map(move |c| broken(text(f, String::from_iter(c)), f, FieldCode::TooLong));
    let characters = (title(), prop_oneof![forbidden(), stray_control()], any::<usize>())
        .prop_map(move |((raw, _), c, at)| broken(text(f, insert(&raw, at, c)), f, FieldCode::InvalidCharacters));
    prop_oneof![required(f), invalid_type(f), blank(f), too_long, characters]
}

fn broken_message() -> impl Strategy<Value = Broken> {
    let f = "message";
    let too_long = (vec(visible(), 1..50), MAX_MESSAGE_CHARS + 1..=MAX_MESSAGE_CHARS + 100)
        .prop_map(move |(c, len)| broken(text(f, cycled(&String::from_iter(c), len)), f, FieldCode::TooLong));
    let characters = (message(), forbidden(), any::<usize>())
        .prop_map(move |(m, c, at)| broken(text(f, insert(&m, at, c)), f, FieldCode::InvalidCharacters));
    prop_oneof![required(f), invalid_type(f), blank(f), too_long, characters]
}

fn broken_tags() -> impl Strategy<Value = Broken> {
    let f = "customTags";
    let not_an_object = prop_oneof![
        "[a-z=]{0,20}".prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
        vec(tag_value(), 0..3).prop_map(Value::Array),
    ]
    .prop_map(move |v| broken(Change::Set(f, v), f, FieldCode::InvalidType));
    let too_many = tags(MAX_TAGS + 1..=MAX_TAGS + 10)
        .prop_map(move |t| broken(Change::Set(f, Value::Object(t)), f, FieldCode::TooMany));
    let bad_key = prop_oneof![
        (
            "[A-Za-z0-9_.-]{0,20}",
            any::<usize>(),
            prop::sample::select(vec![' ', '/', ':', '@', 'ä', '\0', '\n', '\u{202e}', '\u{200b}', '<'])
        )
            .prop_map(|(k, at, c)| insert(&k, at, c)),
        "[A-Za-z0-9_.-]{65,80}",
        Just(String::new()),
    ];
    let invalid_key = (bad_key, tag_value())
        .prop_map(|(key, v)| broken(Change::Tag(key.clone(), v), format!("customTags.{key}"), FieldCode::InvalidKey));
    let unstorable =
        (1.0f64..10.0, prop_oneof![126i32..=307, -323i32..=-131], any::<bool>()).prop_map(|(m, e, neg)| {
            let x: f64 = format!("{}{m}e{e}", if neg { "-" } else { "" }).parse().unwrap();
            json!(x)
        });
    let not_scalar = prop_oneof![
        Just(Value::Null),
        vec(tag_value(), 0..3).prop_map(Value::Array),
        Just(json!({"a": 1})),
        unstorable
    ];
    let invalid_value = (tag_key(), not_scalar)
        .prop_map(|(key, v)| broken(Change::Tag(key.clone(), v), format!("customTags.{key}"), FieldCode::InvalidValue));
    let too_long = (tag_key(), vec(text_char(), 1..40), MAX_TAG_VALUE_CHARS + 1..=MAX_TAG_VALUE_CHARS + 50).prop_map(
        |(key, c, len)| {
            let value = json!(cycled(&String::from_iter(c), len));
            broken(Change::Tag(key.clone(), value), format!("customTags.{key}"), FieldCode::TooLong)
        },
    );
    let characters = (tag_key(), vec(text_char(), 0..40), forbidden(), any::<usize>()).prop_map(|(key, c, bad, at)| {
        let value = json!(insert(&String::from_iter(c), at, bad));
        broken(Change::Tag(key.clone(), value), format!("customTags.{key}"), FieldCode::InvalidCharacters)
    });
    prop_oneof![not_an_object, too_many, invalid_key, invalid_value, too_long, characters]
}

fn unknown_field() -> impl Strategy<Value = Broken> {
    ("[A-Za-z_$][A-Za-z0-9_$ -]{0,20}", json_value())
        .prop_filter("not a field of the API", |(k, _)| !FIELDS.contains(&k.as_str()))
        .prop_map(|(key, v)| broken(Change::Unknown(key.clone(), v), key, FieldCode::UnknownField))
}

fn apply(body: &mut Map<String, Value>, change: &Change) {
    match change.clone() {
        Change::Set(field, value) => {
            body.insert(field.into(), value);
        }
        Change::Remove(field) => {
            body.remove(field);
        }
        Change::Tag(key, value) => {
            let tags = body.entry("customTags").or_insert_with(|| json!({}));
            if !tags.is_object() {
                *tags = json!({});
            }
            let tags = tags.as_object_mut().unwrap();
            if tags.len() >= MAX_TAGS && !tags.contains_key(&key) {
                let first = tags.keys().next().unwrap().clone();
                tags.remove(&first);
            }
            tags.insert(key, value);
        }
        Change::Unknown(key, value) => {
            body.insert(key, value);
        }
    }
}

/// A valid body with exactly one rule broken (each field past each of its rules, a tag entry past each of its
/// rules, an unknown field) is refused with exactly one error: that field and that code.
#[test]
fn a_valid_body_broken_past_one_rule_is_refused_with_exactly_that_field_and_code() {
    let one_broken = prop_oneof![broken_email(), broken_title(), broken_message(), broken_tags(), unknown_field()];
    check("one rule broken", 2_000, (valid_body(), one_broken), |(valid, broken)| {
        let mut body = valid.body.clone();
        apply(&mut body, &broken.change);
        let result = NewTicket::from_json(&serde_json::to_vec(&body).unwrap());
        let Err(InputError::Invalid(errors)) = &result else {
            return Err(TestCaseError::fail(format!(
                "must be refused as {} {:?}, got {result:?}",
                broken.field, broken.code
            )));
        };
        let got: Vec<(&str, FieldCode)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        prop_assert_eq!(got, vec![(broken.field.as_str(), broken.code)]);
        Ok(())
    });
}
