//! Hostile requests through the real Router on the real local endpoints (DynamoDB Local, the SES v2 stand-in,
//! moto for the pepper). Every row of the table names the status and problem `code` the error table of docs/api.md
//! gives it and must be refused with exactly that, as `application/problem+json`; after the whole table nothing
//! is stored, no ticket number is taken and no e-mail is sent. Edge cases the contract accepts (each limit
//! exactly, folded titles, markup and invisible characters as data, header names in any case) are a separate
//! list: each is created, stored as the contract says, and escaped wherever it reaches HTML. The conversation's
//! routes get the same treatment for each role: every refusal coded, nothing stored, counted or sent.

use std::sync::Arc;

use crate::helpers::*;
use axum::http::{Method, Request};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use ticket_api::config::PepperSource;
use ticket_api::domain::email_address::MAX_EMAIL_CHARS;
use ticket_api::domain::input::MAX_BODY_BYTES;
use ticket_api::domain::new_ticket::{
    MAX_MESSAGE_CHARS, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS, MAX_TITLE_CHARS,
};
use ticket_api::domain::{ApiKey, CollectionId, TicketStatus};
use ticket_api::driven::{CallLog, DynamoStore, SesMailer};
use ticket_api::driving::http::{App, app};
use ticket_api::ports::AdminStore;
use ticket_api::service::TicketService;

const TEN_MB: usize = 10 * 1024 * 1024;

// ---- one run's world on the local endpoints ---------------------------------------------------------------------

/// Fresh tables with a fresh collection (and one with ticketing off), a fresh key granted both and a third
/// collection that does not exist, and the service wired to DynamoDB Local, the SES stand-in and moto, with
/// every AWS call it makes recorded.
struct Stand {
    collection: CollectionId,
    disabled: CollectionId,
    gone: CollectionId,
    key: String,
    revoked_key: String,
    unknown_key: String,
    requester: String,
    team: String,
    store: DynamoStore,
    calls: CallLog,
    service: Arc<TicketService<LocalPorts>>,
    app: App<lambda_http::Body>,
    streaming_app: App<axum::body::Body>,
}

async fn stand(prefix: &str) -> Stand {
    let sdk = sdk().await;
    let run = unique(prefix);
    let team = format!("team-{run}@example.com");
    let requester = format!("user-{run}@example.com");
    let store = dynamo_store(&sdk).await;

    let fixtures = fixture_collections(&[&team]);
    let mut open =
        fixtures.iter().find(|c| c.ticketing_enabled).expect("a fixture collection with ticketing on").clone();
    let mut closed =
        fixtures.iter().find(|c| !c.ticketing_enabled).expect("a fixture collection with ticketing off").clone();
    open.collection_id = CollectionId::parse(&run).unwrap();
    closed.collection_id = CollectionId::parse(&format!("{run}-off")).unwrap();
    let gone = CollectionId::parse(&format!("{run}-gone")).unwrap();
    store.insert_collection(&open).await.unwrap();
    store.insert_collection(&closed).await.unwrap();

    let pepper = pepper();
    let (_, in_use) = fixture_keys(&pepper).into_iter().find(|(_, r)| !r.is_revoked()).expect("a fixture key in use");
    let grants = vec![open.collection_id.clone(), closed.collection_id.clone(), gone.clone()];
    let mut keys = Vec::new();
    for (id, revoked) in [("key", false), ("revoked", true)] {
        let key = ApiKey::generate();
        let mut record = in_use.clone();
        record.key_id = format!("{run}-{id}");
        record.last4 = key.last4();
        record.collections = grants.clone();
        record.revoked_at = revoked.then(|| now().rfc3339());
        store.insert_key(&pepper.hash(&key), &record).await.unwrap();
        keys.push(key.reveal().to_owned());
    }

    let calls = CallLog::default();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(calls.clone()).build(),
    );
    let sesv2 =
        aws_sdk_sesv2::Client::from_conf(aws_sdk_sesv2::config::Builder::from(&sdk).interceptor(calls.clone()).build());
    let secret = PepperSource::SecretsManager(pepper_secret(&sdk).await);
    let pepper_source = ticket_api::compose::pepper_provider(&sdk, &secret, Some(&calls)).unwrap();
    let service = Arc::new(
        TicketService::new(
            local_ports(DynamoStore::new(dynamodb, store.tables().clone()), &sdk)
                .with_mailer(SesMailer::new(sesv2, SENDER.to_owned()))
                .with_secrets(pepper_source),
            BASE_URL,
        )
        .with_delivery(prompt_delivery()),
    );
    service.warm_up().await.expect("the pepper is read from moto");
    let actions: Vec<String> = calls.calls().iter().map(|c| c.iam_action()).collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "secretsmanager:GetSecretValue").count(),
        1,
        "the pepper comes from Secrets Manager (moto): {actions:?}"
    );
    calls.clear();

    let [key, revoked_key] = <[String; 2]>::try_from(keys).unwrap();
    Stand {
        collection: open.collection_id,
        disabled: closed.collection_id,
        gone,
        key,
        revoked_key,
        unknown_key: ApiKey::generate().reveal().to_owned(),
        requester,
        team,
        store,
        calls,
        app: app(service.clone()),
        streaming_app: app(service.clone()),
        service,
    }
}

// ---- requests ---------------------------------------------------------------------------------------------------

/// A request as a row sends it. `Req::create` is a good create; each row changes one thing.
#[derive(Clone)]
struct Req {
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    /// Sent as a stream of 64 KiB chunks of unknown length (chunked transfer), not as one buffer.
    streamed: bool,
}

impl Req {
    fn create(s: &Stand, body: Vec<u8>) -> Self {
        Req {
            method: Method::POST,
            path: format!("/ticket/{}", s.collection),
            headers: vec![("content-type", b"application/json".to_vec()), ("x-api-key", s.key.clone().into_bytes())],
            body,
            streamed: false,
        }
    }

    /// Replaces every value of the header (`None`: removes it).
    fn set(mut self, name: &'static str, value: Option<&[u8]>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(value) = value {
            self.headers.push((name, value.to_vec()));
        }
        self
    }

    /// Adds one more value of the header, keeping those already there.
    fn add(mut self, name: &'static str, value: &[u8]) -> Self {
        self.headers.push((name, value.to_vec()));
        self
    }

    fn key(self, key: &str) -> Self {
        self.set("x-api-key", Some(key.as_bytes()))
    }

    fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    fn streamed(mut self) -> Self {
        self.streamed = true;
        self
    }
}

/// How a row reaches the Router: as a request, or as an API Gateway event the way lambda_http hands it over.
enum Via {
    Router(Req),
    Event(String),
}

async fn send(s: &Stand, via: &Via) -> Reply {
    match via {
        Via::Event(text) => {
            let request = lambda_http::request::from_str(text).expect("a well-formed API Gateway event");
            call(&s.app, request).await
        }
        Via::Router(req) if req.streamed => {
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                req.body.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
            call(&s.streaming_app, build(req, body)).await
        }
        Via::Router(req) => call(&s.app, build(req, lambda_http::Body::from(req.body.clone()))).await,
    }
}

fn build<B>(req: &Req, body: B) -> Request<B> {
    let mut builder = Request::builder().method(req.method.clone()).uri(req.path.as_str());
    for (name, value) in &req.headers {
        builder = builder.header(*name, value.as_slice());
    }
    builder.body(body).unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.path))
}

/// An API Gateway event for a create in this run's collection, from the events/ fixture of that shape
/// (`http-api` is payload 2.0, `rest-api` is the REST API with its `prod` stage), with these headers.
fn event(s: &Stand, shape: &str, headers: &[(&str, &str)], body: &str) -> String {
    let file = events_dir().join(format!("{shape}.created.json"));
    let text = std::fs::read_to_string(&file).unwrap().replace("demo-collection", s.collection.as_str());
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let mut single = Map::new();
    let mut multi = Map::new();
    for (name, value) in headers {
        single.insert(name.to_string(), json!(value));
        multi.entry(name.to_string()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(json!(value));
    }
    event["headers"] = Value::Object(single);
    if event.get("multiValueHeaders").is_some() {
        event["multiValueHeaders"] = Value::Object(multi);
    }
    event["body"] = json!(body);
    event.to_string()
}

// ---- bodies -----------------------------------------------------------------------------------------------------

fn valid(s: &Stand) -> Map<String, Value> {
    json!({"userEmail": s.requester, "title": "Printer on fire", "message": "The printer in room 4 is on fire."})
        .as_object()
        .unwrap()
        .clone()
}

fn with(s: &Stand, field: &str, value: Value) -> Vec<u8> {
    let mut body = valid(s);
    body.insert(field.to_owned(), value);
    serde_json::to_vec(&body).unwrap()
}

fn without(s: &Stand, field: &str) -> Vec<u8> {
    let mut body = valid(s);
    body.remove(field);
    serde_json::to_vec(&body).unwrap()
}

fn tags(s: &Stand, tags: Value) -> Vec<u8> {
    with(s, "customTags", tags)
}

/// A valid body with raw JSON text spliced in as the value of `field` (for what `serde_json` cannot write).
fn raw_field(s: &Stand, field: &str, raw: &str) -> Vec<u8> {
    let mut body = valid(s);
    body.remove(field);
    let rest = serde_json::to_string(&body).unwrap();
    format!("{{\"{field}\": {raw}, {}", &rest[1..]).into_bytes()
}

/// A valid body padded with JSON whitespace to exactly `len` bytes.
fn padded(s: &Stand, len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(&valid(s)).unwrap();
    body.splice(1..1, std::iter::repeat_n(b' ', len - body.len()));
    assert_eq!(body.len(), len);
    body
}

/// A valid-looking body of `len` bytes: a message far past every limit.
fn huge(s: &Stand, len: usize) -> Vec<u8> {
    let head = format!("{{\"userEmail\": \"{}\", \"title\": \"big\", \"message\": \"", s.requester);
    let mut body = head.into_bytes();
    body.resize(len - 2, b'a');
    body.extend_from_slice(b"\"}");
    body
}

fn many_tags(n: usize) -> Value {
    Value::Object((0..n).map(|i| (format!("tag{i}"), json!(i))).collect())
}

/// An address of exactly `len` characters (labels of at most 63, a local part of at most 64).
fn address(len: usize) -> String {
    let tld = ".example.com";
    let local = "u".repeat(64.min(len - tld.len() - 2));
    let mut domain = String::new();
    let mut left = len - local.len() - 1 - tld.len();
    while left > 0 {
        let take = left.min(63);
        if !domain.is_empty() {
            domain.push('.');
            left -= 1;
            if left == 0 {
                break;
            }
        }
        let take = take.min(left);
        domain.push_str(&"d".repeat(take));
        left -= take;
    }
    let a = format!("{local}@{domain}{tld}");
    assert_eq!(a.chars().count(), len, "the helper builds an address of {len} characters");
    a
}

/// A well-formed key with one hex digit of its random part changed: right prefix and length, bad checksum.
fn mistyped(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    let i = "tkapi_".len() + 5;
    bytes[i] = if bytes[i] == b'7' { b'8' } else { b'7' };
    let typo = String::from_utf8(bytes).unwrap();
    assert!(typo.len() == key.len() && typo.starts_with("tkapi_") && ApiKey::parse(&typo).is_none());
    typo
}

// ---- the table --------------------------------------------------------------------------------------------------

/// One hostile request and the refusal it must get.
struct Hostile {
    name: String,
    via: Via,
    status: u16,
    code: &'static str,
    /// For `validation_failed`: every `(field, code)` the problem's `errors` must list, in order.
    errors: Vec<(String, String)>,
    /// How many AWS calls the request makes, where the contract fixes it (a key refused on its shape: none).
    aws_calls: Option<usize>,
}

struct Table<'a> {
    s: &'a Stand,
    rows: Vec<Hostile>,
}

impl Table<'_> {
    fn refuse(&mut self, name: impl Into<String>, req: Req, status: u16, code: &'static str) {
        self.push(name, Via::Router(req), status, code, &[], None);
    }

    fn push(
        &mut self,
        name: impl Into<String>,
        via: Via,
        status: u16,
        code: &'static str,
        errors: &[(&str, &str)],
        aws_calls: Option<usize>,
    ) {
        let errors = errors.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
        self.rows.push(Hostile { name: name.into(), via, status, code, errors, aws_calls });
    }

    /// 400 `invalid_json` for a body sent with the right key and content type.
    fn json(&mut self, name: &str, body: impl Into<Vec<u8>>) {
        let req = Req::create(self.s, body.into());
        self.refuse(format!("invalid JSON: {name}"), req, 400, "invalid_json");
    }

    /// 422 `validation_failed` with exactly these field errors.
    fn fields(&mut self, name: &str, body: Vec<u8>, errors: &[(&str, &str)]) {
        let req = Req::create(self.s, body);
        self.push(format!("fields: {name}"), Via::Router(req), 422, "validation_failed", errors, None);
    }

    /// 401 `unauthorized`, decided before any AWS call (no key, or one refused on its shape or checksum).
    fn no_key(&mut self, name: &str, via: Via) {
        self.push(format!("key: {name}"), via, 401, "unauthorized", &[], Some(0));
    }
}

fn hostile_rows(s: &Stand) -> Vec<Hostile> {
    let mut t = Table { s, rows: Vec::new() };
    let good = || Req::create(s, serde_json::to_vec(&valid(s)).unwrap());
    let c = s.collection.as_str();

    // -- bodies that are not one JSON object: 400 invalid_json ---------------------------------------------------
    let body = serde_json::to_string(&valid(s)).unwrap();
    t.json("empty body", "");
    t.json("whitespace only", " \r\n\t ");
    t.json("just an opening brace", "{");
    t.json("truncated in the middle", &body[..body.len() / 2]);
    t.json("truncated before the closing brace", &body[..body.len() - 1]);
    t.json("truncated inside an escape", r#"{"title": "\u00"#);
    t.json("trailing comma", format!("{},}}", &body[..body.len() - 1]));
    t.json("single quotes", "{'userEmail': 'a@example.com'}");
    t.json("unquoted keys", "{userEmail: \"a@example.com\"}");
    t.json("a comment", format!("/* hi */ {body}"));
    t.json("garbage after the object", format!("{body} x"));
    t.json("two objects back to back", format!("{body}{body}"));
    t.json("an array around the object", format!("[{body}]"));
    t.json("a string", "\"Printer on fire\"");
    t.json("a number", "42");
    t.json("null", "null");
    t.json("true", "true");
    t.json("invalid UTF-8 (0xFF) inside a string", [&b"{\"title\": \"a"[..], b"\xff\xfe", b"\"}"].concat());
    t.json("invalid UTF-8 (a lone 0xC3) outside strings", [&b"{\"title\":"[..], b"\xc3", b" \"a\"}"].concat());
    t.json("overlong UTF-8 encoding of '/' (C0 AF)", [&b"{\"title\": \""[..], b"\xc0\xaf", b"\"}"].concat());
    t.json("UTF-8-encoded surrogate (ED A0 80)", [&b"{\"title\": \""[..], b"\xed\xa0\x80", b"\"}"].concat());
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(body.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    t.json("UTF-16LE with a byte-order mark", utf16);
    t.json("a UTF-8 byte-order mark before the object", [&b"\xef\xbb\xbf"[..], body.as_bytes()].concat());
    t.json("a lone surrogate escape \\ud800", raw_field(s, "title", r#""\ud800""#));
    t.json("a lone low surrogate escape \\udc00", raw_field(s, "message", r#""a\udc00b""#));
    t.json("an unknown escape \\x41", raw_field(s, "title", r#""\x41""#));
    t.json("a raw line feed inside a string", raw_field(s, "title", "\"a\nb\""));
    t.json("a raw NUL byte inside a string", raw_field(s, "message", "\"a\u{0}b\""));
    t.json("a raw tab inside a string", raw_field(s, "title", "\"a\tb\""));
    let deep_arrays = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    t.json(
        "a customTags value nested 10,000 arrays deep",
        raw_field(s, "customTags", &format!("{{\"n\": {deep_arrays}}}")),
    );
    let deep_objects = format!("{}{{}}{}", "{\"x\": ".repeat(10_000), "}".repeat(10_000));
    t.json("an unknown field nested 10,000 objects deep", raw_field(s, "extra", &deep_objects));
    t.json("10,000 unclosed arrays", raw_field(s, "title", &"[".repeat(10_000)));
    t.json("duplicate key userEmail", format!("{{\"userEmail\": \"a@example.com\", {}", &body[1..]));
    t.json(
        "duplicate key spelt with an escape (user\\u0045mail)",
        format!("{{\"user\\u0045mail\": \"a@example.com\", {}", &body[1..]),
    );
    t.json("duplicate key customTags", raw_field(s, "customTags", r#"{"a": 1}, "customTags": {"b": 2}"#));
    t.json("duplicate tag key inside customTags", raw_field(s, "customTags", r#"{"plan": "free", "plan": "pro"}"#));
    t.json("a number too big for any type (1e400) as a tag value", raw_field(s, "customTags", r#"{"n": 1e400}"#));
    t.json(
        "a number too negative for any type (-1e400) as a tag value",
        raw_field(s, "customTags", r#"{"n": -1e400}"#),
    );
    t.json(
        "a 400-digit integer as a tag value",
        raw_field(s, "customTags", &format!("{{\"n\": 1{}}}", "0".repeat(400))),
    );
    t.json("a number too big for any type (1e400) as the title", raw_field(s, "title", "1e400"));
    t.json("bare NaN as a tag value", raw_field(s, "customTags", r#"{"n": NaN}"#));
    t.json("bare Infinity as a tag value", raw_field(s, "customTags", r#"{"n": Infinity}"#));
    t.json("bare -Infinity as a tag value", raw_field(s, "customTags", r#"{"n": -Infinity}"#));
    t.json("bare NaN as the message", raw_field(s, "message", "NaN"));
    t.json("a hexadecimal number", raw_field(s, "customTags", r#"{"n": 0x10}"#));
    t.json("a number with a leading zero", raw_field(s, "customTags", r#"{"n": 012}"#));
    t.json("a number with a leading plus", raw_field(s, "customTags", r#"{"n": +1}"#));
    t.json("a number without an integer part", raw_field(s, "customTags", r#"{"n": .5}"#));
    t.json("a number ending in a dot", raw_field(s, "customTags", r#"{"n": 1.}"#));

    // -- size: 413 payload_too_large -------------------------------------------------------------------------------
    let ten_mb = huge(s, TEN_MB);
    let declared = TEN_MB.to_string();
    t.refuse(
        "size: 10 MB, declared in Content-Length",
        Req::create(s, ten_mb.clone()).set("content-length", Some(declared.as_bytes())),
        413,
        "payload_too_large",
    );
    t.refuse("size: 10 MB, no Content-Length", Req::create(s, ten_mb.clone()), 413, "payload_too_large");
    t.refuse(
        "size: 10 MB streamed in chunks of unknown length",
        Req::create(s, ten_mb.clone()).streamed(),
        413,
        "payload_too_large",
    );
    t.refuse(
        "size: 10 MB with a Content-Length that claims 100 bytes",
        Req::create(s, ten_mb.clone()).set("content-length", Some(b"100")),
        413,
        "payload_too_large",
    );
    t.refuse(
        "size: one byte past 128 KiB (131,073 bytes of valid JSON)",
        Req::create(s, padded(s, MAX_BODY_BYTES + 1)),
        413,
        "payload_too_large",
    );
    t.refuse(
        "size: one byte past 128 KiB, streamed",
        Req::create(s, padded(s, MAX_BODY_BYTES + 1)).streamed(),
        413,
        "payload_too_large",
    );
    t.refuse(
        "size: a small body declaring 10 MB (checked on length before reading)",
        good().set("content-length", Some(declared.as_bytes())),
        413,
        "payload_too_large",
    );

    // -- content type: 415 unsupported_media_type ------------------------------------------------------------------
    for (name, value) in [
        ("missing", None),
        ("empty", Some(&b""[..])),
        ("text/plain", Some(&b"text/plain"[..])),
        ("a form", Some(&b"application/x-www-form-urlencoded"[..])),
        ("multipart", Some(&b"multipart/form-data; boundary=x"[..])),
        ("application/json-patch+json", Some(&b"application/json-patch+json"[..])),
        ("application/problem+json", Some(&b"application/problem+json"[..])),
        ("text/json", Some(&b"text/json"[..])),
        ("application/jsonx", Some(&b"application/jsonx"[..])),
        ("a list of two types", Some(&b"application/json, text/plain"[..])),
    ] {
        t.refuse(format!("content type: {name}"), good().set("content-type", value), 415, "unsupported_media_type");
    }
    t.refuse(
        "content type: sent twice",
        good().add("content-type", b"application/json"),
        415,
        "unsupported_media_type",
    );
    t.refuse(
        "content type: text/plain with a 10 MB body (type before size)",
        Req::create(s, ten_mb.clone()).set("content-type", Some(b"text/plain")),
        415,
        "unsupported_media_type",
    );

    // -- the API key: 401 unauthorized, one answer for all --------------------------------------------------------
    let key = s.key.as_str();
    t.no_key("missing", Via::Router(good().set("x-api-key", None)));
    t.no_key("empty", Via::Router(good().key("")));
    t.no_key("sent twice (the same good key)", Via::Router(good().add("x-api-key", key.as_bytes())));
    t.no_key("sent twice (a good key and junk)", Via::Router(good().add("x-api-key", b"junk")));
    t.no_key("only the prefix", Via::Router(good().key("tkapi_")));
    t.no_key("a password-like word", Via::Router(good().key("let-me-in")));
    t.no_key("right length, wrong prefix", Via::Router(good().key(&key.replacen("tkapi_", "tkapx_", 1))));
    t.no_key("upper-cased", Via::Router(good().key(&key.to_uppercase())));
    t.no_key("one character too many", Via::Router(good().key(&format!("{key}0"))));
    t.no_key("one character short", Via::Router(good().key(&key[..key.len() - 1])));
    t.no_key("with a Bearer prefix", Via::Router(good().key(&format!("Bearer {key}"))));
    t.no_key("in quotes", Via::Router(good().key(&format!("\"{key}\""))));
    t.no_key("with a trailing tab", Via::Router(good().key(&format!("{key}\t"))));
    t.no_key(
        "a non-ASCII byte in the header",
        Via::Router(good().set("x-api-key", Some(&[key.as_bytes(), b"\xff"].concat()))),
    );
    t.no_key(
        "in Authorization instead of x-api-key",
        Via::Router(good().set("x-api-key", None).set("authorization", Some(format!("Bearer {key}").as_bytes()))),
    );
    t.no_key(
        "in the query string instead of x-api-key",
        Via::Router(good().set("x-api-key", None).path(format!("/ticket/{c}?x-api-key={key}"))),
    );
    t.no_key("mistyped: valid shape, bad checksum", Via::Router(good().key(&mistyped(key))));
    let mut bad_sum = key.to_owned();
    bad_sum.replace_range(key.len() - 8.., if key.ends_with("00000000") { "11111111" } else { "00000000" });
    t.no_key("mistyped: checksum digits wrong", Via::Router(good().key(&bad_sum)));
    let body_text = String::from_utf8(serde_json::to_vec(&valid(s)).unwrap()).unwrap();
    let json_headers = [("content-type", "application/json")];
    let joined = format!("{key},{key}");
    let joined_headers = [("x-api-key", joined.as_str()), json_headers[0]];
    t.no_key(
        "sent twice in an HTTP API event (joined with a comma)",
        Via::Event(event(s, "http-api", &joined_headers, &body_text)),
    );
    t.no_key(
        "missing, with a body that is not JSON (key first)",
        Via::Router(Req::create(s, b"{".to_vec()).set("x-api-key", None)),
    );
    t.no_key(
        "missing, with a 10 MB body (key first)",
        Via::Router(Req::create(s, ten_mb.clone()).set("x-api-key", None)),
    );
    t.no_key(
        "mistyped, for a collection it could not be granted (key first)",
        Via::Router(good().key(&mistyped(key)).path("/ticket/a%2Fb")),
    );
    // A well-formed key is looked up once: unknown keys are never cached.
    t.push(
        "key: well-formed (valid checksum) but unknown",
        Via::Router(good().key(&s.unknown_key)),
        401,
        "unauthorized",
        &[],
        Some(1),
    );
    t.push("key: revoked", Via::Router(good().key(&s.revoked_key)), 401, "unauthorized", &[], Some(1));

    // -- grant and collection: 403 / 404, before anything about the body -------------------------------------------
    let other = unique("not-granted");
    t.refuse("collection: not granted to the key", good().path(format!("/ticket/{other}")), 403, "forbidden");
    t.refuse(
        "collection: another case of the granted id",
        good().path(format!("/ticket/{}", c.to_uppercase())),
        403,
        "forbidden",
    );
    t.refuse(
        "collection: not granted, with a body that is not JSON",
        Req::create(s, b"{".to_vec()).path(format!("/ticket/{other}")),
        403,
        "forbidden",
    );
    t.refuse(
        "collection: granted but does not exist, with a body that is not JSON",
        Req::create(s, b"{".to_vec()).path(format!("/ticket/{}", s.gone)),
        404,
        "collection_not_found",
    );
    t.refuse(
        "collection: ticketing off, with an invalid body",
        Req::create(s, b"{}".to_vec()).path(format!("/ticket/{}", s.disabled)),
        403,
        "ticketing_disabled",
    );
    t.refuse(
        "collection: granted but does not exist, valid body",
        good().path(format!("/ticket/{}", s.gone)),
        404,
        "collection_not_found",
    );
    t.refuse(
        "collection: ticketing off, valid body",
        good().path(format!("/ticket/{}", s.disabled)),
        403,
        "ticketing_disabled",
    );

    // -- paths: an id is 1 to 64 of A-Z a-z 0-9 _ -, so no key is granted anything else (403) ----------------------
    for (name, path) in [
        ("an encoded slash", "/ticket/a%2Fb".to_owned()),
        ("the collection id then an encoded slash", format!("/ticket/{c}%2F1")),
        ("an encoded ../ before the collection id", format!("/ticket/%2E%2E%2F{c}")),
        ("an encoded NUL after the collection id", format!("/ticket/{c}%00")),
        ("an encoded space", format!("/ticket/{c}%20")),
        ("broken percent-encoding", "/ticket/%ZZ".to_owned()),
        ("percent-encoding of invalid UTF-8", "/ticket/%FF%FE".to_owned()),
        ("a 65-character id", format!("/ticket/{}", "x".repeat(65))),
        ("an encoded <script>", "/ticket/%3Cscript%3E".to_owned()),
    ] {
        t.refuse(format!("path: {name}"), good().path(path), 403, "forbidden");
    }
    for (name, path) in [
        ("no collection id", "/ticket/".to_owned()),
        ("no collection segment", "/ticket".to_owned()),
        ("a trailing slash", format!("/ticket/{c}/")),
        ("plural tickets", format!("/tickets/{c}")),
        ("an upper-case route", format!("/TICKET/{c}")),
        ("a doubled slash", format!("//ticket/{c}")),
        ("the root", "/".to_owned()),
    ] {
        t.refuse(format!("path: {name}"), good().path(path), 404, "not_found");
    }
    t.refuse("method: POST to the private view", good().path(format!("/ticket/{c}/1")), 405, "method_not_allowed");
    let view = good().method(Method::GET).path("/ticket/%FF%FE/1?key=0");
    t.refuse("path: the private view with percent-encoding of invalid UTF-8", view, 404, "not_found");
    // (GET is the team's list of the collection's tickets.)
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS] {
        t.refuse(format!("method: {method} on the create route"), good().method(method), 405, "method_not_allowed");
    }

    // -- Idempotency-Key: 400 invalid_idempotency_key (after size, before JSON) -------------------------------------
    let long_key = "k".repeat(256);
    for (name, value) in [
        ("empty", &b""[..]),
        ("256 characters", long_key.as_bytes()),
        ("non-ASCII", "clé".as_bytes()),
        ("a tab inside", &b"order\t1"[..]),
    ] {
        t.refuse(
            format!("idempotency key: {name}"),
            good().set("idempotency-key", Some(value)),
            400,
            "invalid_idempotency_key",
        );
    }
    t.refuse(
        "idempotency key: sent twice",
        good().add("idempotency-key", b"a").add("idempotency-key", b"a"),
        400,
        "invalid_idempotency_key",
    );
    t.refuse(
        "idempotency key: malformed, with a body that is not JSON (key before JSON)",
        Req::create(s, b"{".to_vec()).set("idempotency-key", Some(b"")),
        400,
        "invalid_idempotency_key",
    );
    t.refuse(
        "idempotency key: malformed, with a 10 MB body (size first)",
        Req::create(s, ten_mb).set("idempotency-key", Some(b"")),
        413,
        "payload_too_large",
    );

    // -- field rules: 422 validation_failed, every broken field listed ---------------------------------------------
    for field in ["userEmail", "title", "message"] {
        t.fields(&format!("{field} missing"), without(s, field), &[(field, "required")]);
        t.fields(&format!("{field} null"), with(s, field, Value::Null), &[(field, "required")]);
        for (kind, value) in [
            ("a number", json!(42)),
            ("a big integer", json!(u64::MAX)),
            ("a float", json!(1.5)),
            ("a boolean", json!(true)),
            ("an array", json!(["a@example.com"])),
            ("an object", json!({"value": "x"})),
        ] {
            t.fields(&format!("{field} {kind}"), with(s, field, value), &[(field, "invalid_type")]);
        }
        for (kind, value) in [
            ("empty", ""),
            ("spaces", "   "),
            ("CR, LF and tabs", "\r\n\t\r\n"),
            ("no-break and ideographic spaces", "\u{a0}\u{3000}\u{2028}"),
            ("zero-width and invisible characters", "\u{200b}\u{feff}\u{200d}\u{ad}"),
        ] {
            t.fields(&format!("{field} {kind} only"), with(s, field, json!(value)), &[(field, "blank")]);
        }
        t.fields(
            &format!("{field} with a NUL"),
            with(s, field, json!("a\u{0}b@example.com")),
            &[(field, "invalid_characters")],
        );
        t.fields(
            &format!("{field} with a right-to-left override"),
            with(s, field, json!("a\u{202e}b@example.com")),
            &[(field, "invalid_characters")],
        );
        t.fields(
            &format!("{field} with a right-to-left isolate"),
            with(s, field, json!("a\u{2067}b@example.com\u{2069}")),
            &[(field, "invalid_characters")],
        );
        t.fields(
            &format!("{field} as a differently-cased key"),
            {
                let mut body = valid(s);
                let value = body.remove(field).unwrap();
                body.insert(field.to_uppercase(), value);
                serde_json::to_vec(&body).unwrap()
            },
            &[(field, "required"), (&field.to_uppercase(), "unknown_field")],
        );
        let nul_key = format!("{field}\u{0}");
        t.fields(
            &format!("{field} as a key with a NUL appended"),
            {
                let mut body = valid(s);
                let value = body.remove(field).unwrap();
                body.insert(nul_key.clone(), value);
                serde_json::to_vec(&body).unwrap()
            },
            &[(field, "required"), (&nul_key, "unknown_field")],
        );
    }

    // userEmail: a plain ASCII address, at most 254 characters
    for (name, value) in [
        ("with a display name", "Bob <bob@example.com>"),
        ("in angle brackets", "<bob@example.com>"),
        ("two addresses with a comma", "a@example.com,b@example.com"),
        ("two addresses with a semicolon", "a@example.com; b@example.com"),
        ("without @", "bob.example.com"),
        ("two @", "bob@bob@example.com"),
        ("without a local part", "@example.com"),
        ("without a domain", "bob@"),
        ("without a dot in the domain", "bob@localhost"),
        ("a domain literal", "bob@[127.0.0.1]"),
        ("a domain ending in a dot", "bob@example.com."),
        ("two dots in a row", "bob..smith@example.com"),
        ("an IDN domain in Unicode (only its xn-- form is accepted)", "bob@bücher.de"),
        ("a Unicode local part", "bøb@example.com"),
        ("a fullwidth @", "bob＠example.com"),
        ("a zero-width space", "bob\u{200b}@example.com"),
        ("a left-to-right mark (allowed in text, not in an ASCII address)", "bob\u{200e}@example.com"),
        ("<script>", "<script>alert(1)</script>@example.com"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("a comment", "bob(comment)@example.com"),
    ] {
        t.fields(&format!("userEmail {name}"), with(s, "userEmail", json!(value)), &[("userEmail", "invalid_email")]);
    }
    t.fields(
        "userEmail with CR LF and a Bcc header",
        with(s, "userEmail", json!("bob@example.com\r\nBcc: all@example.com")),
        &[("userEmail", "invalid_characters")],
    );
    t.fields(
        "userEmail with a tab inside",
        with(s, "userEmail", json!("bob@exam\tple.com")),
        &[("userEmail", "invalid_characters")],
    );
    t.fields(
        "userEmail 255 characters",
        with(s, "userEmail", json!(address(MAX_EMAIL_CHARS + 1))),
        &[("userEmail", "too_long")],
    );

    // title: 1 to 200 characters after trimming and folding CR/LF/tab; no other control characters
    t.fields(
        "title 201 characters",
        with(s, "title", json!("t".repeat(MAX_TITLE_CHARS + 1))),
        &[("title", "too_long")],
    );
    t.fields(
        "title 201 characters of 4-byte emoji",
        with(s, "title", json!("🔥".repeat(MAX_TITLE_CHARS + 1))),
        &[("title", "too_long")],
    );
    t.fields(
        "title 201 characters after folding a CR LF",
        with(s, "title", json!(format!("{}\r\n{}", "a".repeat(100), "b".repeat(100)))),
        &[("title", "too_long")],
    );
    t.fields(
        "title 101 e + combining accent (202 code points)",
        with(s, "title", json!("e\u{301}".repeat(101))),
        &[("title", "too_long")],
    );
    for (name, c) in [
        ("a bell", '\u{7}'),
        ("an escape", '\u{1b}'),
        ("DEL", '\u{7f}'),
        ("a C1 control (NEL)", '\u{85}'),
        ("a vertical tab", '\u{b}'),
        ("a form feed", '\u{c}'),
    ] {
        t.fields(
            &format!("title with {name} inside"),
            with(s, "title", json!(format!("a{c}b"))),
            &[("title", "invalid_characters")],
        );
    }
    t.fields(
        "title with a left-to-right override",
        with(s, "title", json!("\u{202d}abc")),
        &[("title", "invalid_characters")],
    );
    t.fields(
        "title with a pop directional formatting",
        with(s, "title", json!("abc\u{202c}")),
        &[("title", "invalid_characters")],
    );

    // message: not blank, at most 20,000 characters, kept exactly as sent
    t.fields(
        "message 20,001 characters",
        with(s, "message", json!("m".repeat(MAX_MESSAGE_CHARS + 1))),
        &[("message", "too_long")],
    );
    t.fields(
        "message 20,000 characters and a trailing space (not trimmed)",
        with(s, "message", json!(format!("{} ", "m".repeat(MAX_MESSAGE_CHARS)))),
        &[("message", "too_long")],
    );
    t.fields(
        "message with a first-strong isolate",
        with(s, "message", json!("if (x) {\u{2068} return; }")),
        &[("message", "invalid_characters")],
    );

    // customTags: an object (null = absent) of at most 50 entries; keys 1-64 of A-Z a-z 0-9 _ . -; scalar values
    for (kind, value) in [
        ("a string", json!("plan=pro")),
        ("NaN as a string", json!("NaN")),
        ("a number", json!(1)),
        ("a boolean", json!(true)),
        ("an array", json!([{"plan": "pro"}])),
    ] {
        t.fields(&format!("customTags {kind}"), tags(s, value), &[("customTags", "invalid_type")]);
    }
    t.fields("customTags 51 entries", tags(s, many_tags(MAX_TAGS + 1)), &[("customTags", "too_many")]);
    let long_key = "k".repeat(MAX_TAG_KEY_CHARS + 1);
    for (name, key) in [
        ("65 characters", long_key.as_str()),
        ("empty", ""),
        ("a space", "a b"),
        ("a slash", "a/b"),
        ("a colon", "a:b"),
        ("a non-ASCII letter", "plän"),
        ("a NUL", "a\u{0}b"),
        ("a right-to-left override", "a\u{202e}b"),
        ("a zero-width space", "a\u{200b}b"),
        ("a line feed", "a\nb"),
        ("<script>", "<script>"),
        ("__proto__ with a dollar", "$__proto__"),
    ] {
        let field = format!("customTags.{key}");
        t.fields(&format!("tag key with {name}"), tags(s, json!({key: 1})), &[(&field, "invalid_key")]);
    }
    for (name, value) in [
        ("null", json!(null)),
        ("an array", json!(["pro"])),
        ("an object", json!({"tier": "pro"})),
        ("1e126 (beyond DynamoDB's largest)", json!(1e126)),
        ("-1e126", json!(-1e126)),
        ("1.7976931348623157e308 (f64::MAX)", json!(f64::MAX)),
        ("1e-131 (below DynamoDB's smallest)", json!(1e-131)),
        ("5e-324 (the smallest f64)", json!(5e-324)),
    ] {
        t.fields(&format!("tag value {name}"), tags(s, json!({"n": value})), &[("customTags.n", "invalid_value")]);
    }
    t.fields(
        "tag value 1,001 characters",
        tags(s, json!({"v": "v".repeat(MAX_TAG_VALUE_CHARS + 1)})),
        &[("customTags.v", "too_long")],
    );
    t.fields("tag value with a NUL", tags(s, json!({"v": "a\u{0}b"})), &[("customTags.v", "invalid_characters")]);
    t.fields(
        "tag value with a right-to-left override",
        tags(s, json!({"v": "\u{202e}cod.exe"})),
        &[("customTags.v", "invalid_characters")],
    );
    t.fields(
        "customTags 51 entries, two of them broken (every problem listed)",
        tags(s, {
            let mut t = many_tags(MAX_TAGS - 1);
            t["bad key"] = json!(1);
            t["nul"] = json!(null);
            t
        }),
        &[("customTags", "too_many"), ("customTags.bad key", "invalid_key"), ("customTags.nul", "invalid_value")],
    );

    // fields that are not the API's: reported, never ignored (no way to set one's own number or link)
    for unknown in [
        "priority",
        "ticketNumber",
        "privateUrl",
        "collectionId",
        "status",
        "__proto__",
        "constructor",
        "userEmail ",
        "<script>",
        "",
        "a\u{202e}b",
    ] {
        t.fields(&format!("unknown field {unknown:?}"), with(s, unknown, json!("x")), &[(unknown, "unknown_field")]);
    }
    t.fields(
        "an empty object",
        b"{}".to_vec(),
        &[("userEmail", "required"), ("title", "required"), ("message", "required")],
    );
    t.fields(
        "every field broken at once",
        serde_json::to_vec(
            &json!({"userEmail": "Bob <bob@example.com>", "title": "", "message": 7, "customTags": {"a b": 1}, "x": 1}),
        )
        .unwrap(),
        &[
            ("userEmail", "invalid_email"),
            ("title", "blank"),
            ("message", "invalid_type"),
            ("customTags.a b", "invalid_key"),
            ("x", "unknown_field"),
        ],
    );
    t.rows
}

/// Every hostile row gets exactly its status and problem `code` as problem+json; the table as a whole makes only
/// reads, stores nothing, takes no number and sends no e-mail, and a good create afterwards gets number 1.
#[tokio::test]
async fn hostile_requests_are_refused_with_their_code_and_change_nothing() {
    let s = stand("hostile").await;
    let rows = hostile_rows(&s);
    assert!(rows.len() >= 100, "the table has {} rows", rows.len());

    let mut calls = Vec::new();
    for row in &rows {
        s.calls.clear();
        let reply = send(&s, &row.via).await;
        let shown: String = reply.raw.chars().take(600).collect();
        let context = format!("{}: got {} {shown}", row.name, reply.status);
        assert_eq!(reply.status.as_u16(), row.status, "{context}");
        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{context}");
        assert_eq!(reply.code(), Some(row.code), "{context}");
        assert_eq!(reply.body["status"], row.status, "{context}");
        assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()), "{context}");
        match row.code {
            "validation_failed" => {
                let errors = reply.body["errors"].as_array().expect("a validation problem lists its errors");
                let got: Vec<(String, String)> = errors
                    .iter()
                    .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
                    .collect();
                assert_eq!(got, row.errors, "{context}");
                assert!(errors.iter().all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty())), "{context}");
            }
            "invalid_json" => {
                let detail = reply.body["detail"].as_str().unwrap_or_default();
                assert!(detail.contains("line") && detail.contains("column"), "detail gives the position: {context}");
            }
            "method_not_allowed" => assert!(reply.header("allow").is_some(), "a 405 says what is allowed: {context}"),
            _ => {}
        }
        if row.code != "validation_failed" {
            assert!(reply.body.get("errors").is_none(), "{context}");
        }
        let made = s.calls.calls();
        if let Some(n) = row.aws_calls {
            let actions: Vec<String> = made.iter().map(|c| c.iam_action()).collect();
            assert_eq!(made.len(), n, "{}: AWS calls {actions:?}", row.name);
        }
        calls.extend(made.into_iter().map(|c| (row.code, c)));
    }

    // Refusals only read (the key lookups, and the collection read that ranks a collection problem above a body
    // problem), except that a valid body for a missing or closed collection is counted against the abuse limits
    // and tries the counter increment, whose condition refuses it; the counts are then taken back. No ticket
    // write, no e-mail, nothing else.
    let (collections, limits) = (&s.store.tables().collections, &s.store.tables().limits);
    let other: Vec<String> = calls
        .iter()
        .filter(|(_, c)| c.iam_action() != "dynamodb:GetItem")
        .filter(|(code, c)| {
            let admission = c.iam_action() == "dynamodb:UpdateItem"
                && (c.table.as_ref() == Some(collections) || c.table.as_ref() == Some(limits));
            !(admission && matches!(*code, "collection_not_found" | "ticketing_disabled"))
        })
        .map(|(code, c)| format!("{code}: {} on {:?}", c.iam_action(), c.table))
        .collect();
    assert!(other.is_empty(), "refused requests made calls other than reads: {other:?}");
    for id in [&s.collection, &s.disabled, &s.gone] {
        let stored = s.store.list_page(id, TicketStatus::Open, 100, None).await.unwrap().tickets;
        assert!(stored.is_empty(), "{id}: {} ticket(s) stored by refused requests", stored.len());
    }
    let counts = s.store.client().scan().table_name(limits).send().await.unwrap().items.unwrap_or_default();
    let left: Vec<_> =
        counts.iter().filter(|c| c.get("n") != Some(&aws_sdk_dynamodb::types::AttributeValue::N("0".into()))).collect();
    assert!(left.is_empty(), "every count a refusal took was taken back: {left:?}");
    assert!(s.store.undelivered(None).await.unwrap().is_empty(), "no e-mail owed");
    assert_eq!(deliver_now(&s.service).await.due, 0, "nothing for the sweep either");
    let collection = s.store.get_collection(&s.collection).await.unwrap().expect("the collection exists");
    assert_eq!(collection.last_ticket_number, 0, "no ticket number was taken");
    let disabled = s.store.get_collection(&s.disabled).await.unwrap().unwrap();
    assert_eq!(disabled.last_ticket_number, 0);
    assert!(mailbox(&s.team).await.is_empty(), "no notification was sent");
    assert!(mailbox(&s.requester).await.is_empty(), "no e-mail went to the requester");
    let all_mail: Value =
        reqwest::get(format!("{}/store", stack_var("SES_STANDIN_URL"))).await.unwrap().json().await.unwrap();
    let ours =
        all_mail["emails"].as_array().unwrap().iter().filter(|e| e.to_string().contains(s.collection.as_str())).count();
    assert_eq!(ours, 0, "no e-mail in the SES stand-in mentions this run's collection");

    // The proof that nothing was taken, and that the setup creates at all: the next good create is number 1.
    let reply = send(&s, &Via::Router(Req::create(&s, serde_json::to_vec(&valid(&s)).unwrap()))).await;
    assert_eq!(reply.status, 201, "{}", reply.raw);
    assert_eq!(reply.body["ticketNumber"], 1, "{}", reply.raw);
    assert_eq!(s.store.list_page(&s.collection, TicketStatus::Open, 100, None).await.unwrap().tickets.len(), 1);
    deliver_now(&s.service).await;
    assert_eq!(mailbox(&s.team).await.len(), 1, "the good create notified the team");
    let n = rows.len();
    println!(
        "hostile requests: {n} refused, nothing stored, no number taken, no e-mail sent; the next create got number 1"
    );
}

/// A mistyped key (right prefix and length, bad checksum) is refused with 401 on its checksum, before any AWS
/// call: no DynamoDB lookup, no Secrets Manager read. A well-formed unknown key, by contrast, costs one lookup.
#[tokio::test]
async fn a_mistyped_key_is_refused_with_401_without_any_aws_call() {
    let s = stand("typo").await;
    let body = serde_json::to_vec(&valid(&s)).unwrap();

    s.calls.clear();
    let reply = send(&s, &Via::Router(Req::create(&s, body.clone()).key(&mistyped(&s.key)))).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (401, Some("unauthorized")), "{}", reply.raw);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    let typo_calls = s.calls.calls();
    let typo_dynamodb = typo_calls.iter().filter(|c| c.service == "DynamoDB").count();

    // The control: the interceptor does see the lookup a well-formed key costs.
    s.calls.clear();
    let reply = send(&s, &Via::Router(Req::create(&s, body).key(&s.unknown_key))).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (401, Some("unauthorized")), "{}", reply.raw);
    let unknown: Vec<(String, Option<String>)> =
        s.calls.calls().iter().map(|c| (c.iam_action(), c.table.clone())).collect();

    println!(
        "mistyped key: 401 after {typo_dynamodb} DynamoDB calls ({} AWS calls in all); \
         well-formed unknown key: 401 after {} DynamoDB call(s)",
        typo_calls.len(),
        unknown.len()
    );
    assert_eq!(typo_dynamodb, 0, "a mistyped key made DynamoDB calls: {typo_calls:?}");
    assert!(typo_calls.is_empty(), "a mistyped key made AWS calls: {typo_calls:?}");
    assert_eq!(unknown, [("dynamodb:GetItem".to_owned(), Some(s.store.tables().api_keys.clone()))]);
}

// ---- what the contract accepts --------------------------------------------------------------------------------

/// An edge case the contract accepts, and what must be stored for it.
struct Accepted {
    name: String,
    via: Via,
    user_email: String,
    title: String,
    message: String,
    tags: Value,
    /// Markup the caller wrote: it must never reach the e-mails' or the private page's HTML unescaped.
    markup: Vec<String>,
}

fn accepted_rows(s: &Stand) -> Vec<Accepted> {
    let mut rows = Vec::new();
    let user = s.requester.clone();
    let title = "Printer on fire".to_owned();
    let message = "The printer in room 4 is on fire.".to_owned();
    let mut add = |name: &str, via: Via, stored: (&str, &str, &str, Value), markup: &[&str]| {
        rows.push(Accepted {
            name: name.to_owned(),
            via,
            user_email: stored.0.to_owned(),
            title: stored.1.to_owned(),
            message: stored.2.to_owned(),
            tags: stored.3,
            markup: markup.iter().map(|m| m.to_string()).collect(),
        })
    };
    let plain = || (user.as_str(), title.as_str(), message.as_str(), json!({}));
    let body = |fields: Value| {
        let mut b = valid(s);
        b.extend(fields.as_object().unwrap().clone());
        serde_json::to_vec(&b).unwrap()
    };
    let create = |fields: Value| Via::Router(Req::create(s, body(fields)));
    let text = String::from_utf8(body(json!({}))).unwrap();

    // Header names in any case, on the Router and in both API Gateway event shapes.
    let upper = Req::create(s, body(json!({}))).set("x-api-key", None).add("X-API-KEY", s.key.as_bytes());
    add("header X-API-KEY", Via::Router(upper), plain(), &[]);
    let mixed = Req::create(s, body(json!({}))).set("x-api-key", None).add("x-Api-Key", s.key.as_bytes());
    add("header x-Api-Key", Via::Router(mixed), plain(), &[]);
    let headers = [("X-API-KEY", s.key.as_str()), ("Content-Type", "application/json")];
    add("header X-API-KEY in an HTTP API event", Via::Event(event(s, "http-api", &headers, &text)), plain(), &[]);
    let headers = [("x-Api-Key", s.key.as_str()), ("CONTENT-TYPE", "application/json")];
    add(
        "header x-Api-Key in a REST API event (prod stage)",
        Via::Event(event(s, "rest-api", &headers, &text)),
        plain(),
        &[],
    );
    for ct in ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"] {
        let req = Req::create(s, body(json!({}))).set("content-type", Some(ct.as_bytes()));
        add(&format!("content type {ct}"), Via::Router(req), plain(), &[]);
    }
    let idempotency = "!~".repeat(127) + "k";
    add(
        "an Idempotency-Key of 255 printable characters",
        Via::Router(Req::create(s, body(json!({}))).set("idempotency-key", Some(idempotency.as_bytes()))),
        plain(),
        &[],
    );
    add(
        "a body of exactly 128 KiB (131,072 bytes)",
        Via::Router(Req::create(s, padded(s, MAX_BODY_BYTES))),
        plain(),
        &[],
    );
    add(
        "a key spelt with an escape (user\\u0045mail)",
        Via::Router(Req::create(s, text.replacen("userEmail", "user\\u0045mail", 1).into_bytes())),
        plain(),
        &[],
    );
    add("customTags null (counts as absent)", create(json!({"customTags": null})), plain(), &[]);

    // Limits, exactly.
    let t200 = "🔥".repeat(MAX_TITLE_CHARS);
    add("title of 200 4-byte characters", create(json!({"title": t200})), (&user, &t200, &message, json!({})), &[]);
    let folded = format!("{}\r\n\t\r\n{}", "a".repeat(99), "b".repeat(100));
    let t200 = format!("{} {}", "a".repeat(99), "b".repeat(100));
    add(
        "title of 200 characters after folding",
        create(json!({"title": folded})),
        (&user, &t200, &message, json!({})),
        &[],
    );
    let padded_title = format!(" \u{a0}\u{3000}{}\t\n ", "t".repeat(MAX_TITLE_CHARS));
    let t200 = "t".repeat(MAX_TITLE_CHARS);
    add(
        "title of 200 characters inside whitespace",
        create(json!({"title": padded_title})),
        (&user, &t200, &message, json!({})),
        &[],
    );
    let m = format!("  {}\n", "m".repeat(MAX_MESSAGE_CHARS - 3));
    add(
        "message of 20,000 characters, whitespace kept",
        create(json!({"message": m})),
        (&user, &title, &m, json!({})),
        &[],
    );
    let a254 = address(MAX_EMAIL_CHARS);
    add("userEmail of 254 characters", create(json!({"userEmail": a254})), (&a254, &title, &message, json!({})), &[]);
    add(
        "customTags of 50 entries",
        create(json!({"customTags": many_tags(MAX_TAGS)})),
        (&user, &title, &message, many_tags(MAX_TAGS)),
        &[],
    );
    let k64 = json!({"K".repeat(MAX_TAG_KEY_CHARS): "v", "A-z_0.9": true});
    add(
        "tag key of 64 characters, and every allowed punctuation",
        create(json!({"customTags": k64})),
        (&user, &title, &message, k64.clone()),
        &[],
    );
    let v1000 = json!({"v": "v".repeat(MAX_TAG_VALUE_CHARS)});
    add(
        "tag value of 1,000 characters",
        create(json!({"customTags": v1000})),
        (&user, &title, &message, v1000.clone()),
        &[],
    );
    let numbers = json!({"max": 9.99e125, "min": -9.99e125, "tiny": 1e-130, "zero": 0, "negzero": -0.0,
        "u64max": u64::MAX, "i64min": i64::MIN, "half": 0.5});
    // DynamoDB keeps no sign on zero: -0.0 is stored (and read back) as 0.
    let mut stored_numbers = numbers.clone();
    stored_numbers["negzero"] = json!(0);
    add(
        "tag numbers at DynamoDB's limits",
        create(json!({"customTags": numbers})),
        (&user, &title, &message, stored_numbers),
        &[],
    );

    // Normalisation.
    add(
        "title with CR, LF and tabs folded to spaces",
        create(json!({"title": "Printer\r\n\r\non\tfire"})),
        (&user, "Printer on fire", &message, json!({})),
        &[],
    );
    let padded_user = format!(" \t{user}\r\n");
    add("userEmail with surrounding whitespace", create(json!({"userEmail": padded_user})), plain(), &[]);
    add(
        "userEmail with a punycode IDN domain",
        create(json!({"userEmail": "bob@xn--bcher-kva.de"})),
        ("bob@xn--bcher-kva.de", &title, &message, json!({})),
        &[],
    );
    add(
        "userEmail with a plus tag and subdomains",
        create(json!({"userEmail": "bob+tickets@mail.sub.example.com"})),
        ("bob+tickets@mail.sub.example.com", &title, &message, json!({})),
        &[],
    );

    // Text as data: NaN-like strings, markup, invisible and direction characters the rules allow.
    let nan_tags =
        json!({"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": "null", "e": "true", "f": "", "g": "   "});
    add(
        "NaN-like strings in every text field",
        create(json!({"title": "NaN", "message": "Infinity", "customTags": nan_tags})),
        (&user, "NaN", "Infinity", nan_tags.clone()),
        &[],
    );
    let script = "<script>alert(1)</script>";
    let img = "<img src=x onerror=alert(1)>";
    let markup_tags = json!({"plan": "<b>pro</b>"});
    add(
        "markup in title, message and a tag value",
        create(json!({"title": script, "message": img, "customTags": markup_tags})),
        (&user, script, img, markup_tags.clone()),
        &[script, img, "<b>pro</b>"],
    );
    let quoted = "\"<b>bob</b>\"@example.com";
    add(
        "userEmail with a quoted local part holding markup",
        create(json!({"userEmail": quoted})),
        (quoted, &title, &message, json!({})),
        &["<b>bob</b>"],
    );
    let marks = "\u{200f}שלום\u{200e} hello";
    let mark_tags = json!({"name": "\u{200f}דנה"});
    add(
        "left-to-right and right-to-left marks",
        create(json!({"title": marks, "message": marks, "customTags": mark_tags})),
        (&user, marks, marks, mark_tags.clone()),
        &[],
    );
    let zero_width = "zero\u{200b}width\u{200c}non\u{200d}joiner\u{feff}";
    add(
        "zero-width characters inside the title and message",
        create(json!({"title": zero_width, "message": zero_width})),
        (&user, zero_width, zero_width, json!({})),
        &[],
    );
    add(
        "line and paragraph separators inside the title, folded like CR/LF",
        create(json!({"title": "a\u{2028}b\u{2029}\u{2028}c"})),
        (&user, "a b c", &message, json!({})),
        &[],
    );
    let controls = "bell\u{7} escape\u{1b}[31m red\u{c}\r\n";
    add(
        "control characters in the message, kept as sent",
        create(json!({"message": controls})),
        (&user, &title, controls, json!({})),
        &[],
    );
    let tag_lines = json!({"note": "line 1\r\nline 2\ttab"});
    add(
        "CR LF and tab in a tag value",
        create(json!({"customTags": tag_lines})),
        (&user, &title, &message, tag_lines.clone()),
        &[],
    );
    let graphemes = "👨‍👩‍👧‍👦".repeat(28); // 7 code points each: 196 characters
    add(
        "title of emoji ZWJ sequences, counted in code points",
        create(json!({"title": graphemes})),
        (&user, &graphemes, &message, json!({})),
        &[],
    );
    rows
}

/// Every edge case the contract accepts is created with the next number, stored exactly as the contract's
/// normalisation says, and anything that looks like markup is escaped in both e-mails and on the private page.
#[tokio::test]
async fn edge_cases_the_contract_accepts_are_stored_as_sent_and_escaped_in_html() {
    let s = stand("accepted").await;
    let rows = accepted_rows(&s);
    let mut links = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let reply = send(&s, &row.via).await;
        assert_eq!(reply.status, 201, "{}: {}", row.name, reply.raw);
        assert_eq!(reply.body["ticketNumber"], i as u64 + 1, "{}: numbers follow each other", row.name);
        links.push(reply.body["privateUrl"].as_str().unwrap().to_owned());
    }
    for (i, row) in rows.iter().enumerate() {
        let number = i as u64 + 1;
        let ticket = s.store.get_ticket(&s.collection, number).await.unwrap().expect("a 201 ticket is stored");
        assert_eq!(ticket.user_email.as_str(), row.user_email, "{}", row.name);
        assert_eq!(ticket.title.as_str(), row.title, "{}", row.name);
        let first = s.store.get_entry(&s.collection, number, 1).await.unwrap().expect("its first entry is stored");
        assert_eq!(first.message.as_ref().map(|m| m.as_str()), Some(row.message.as_str()), "{}", row.name);
        assert_eq!(serde_json::to_value(&first.tags).unwrap(), row.tags, "{}", row.name);
    }
    deliver_now(&s.service).await;

    let notifications = mailbox(&s.team).await;
    assert_eq!(notifications.len(), rows.len(), "one notification per created ticket");
    let to_requester = mailbox(&s.requester).await;
    let mut escaped = 0;
    for (i, row) in rows.iter().enumerate().filter(|(_, r)| !r.markup.is_empty()) {
        let number = i + 1;
        let find = |mail: &[Value], marker: String| {
            mail.iter()
                .find(|m| m["subject"].as_str().is_some_and(|sub| sub.contains(&marker)))
                .map(|m| m["body"]["html"].as_str().unwrap().to_owned())
        };
        // Where each piece of markup must show (escaped): the notification shows everything the caller wrote,
        // the requester's e-mail only the title, the private page the title and the message.
        let notification = find(&notifications, format!("#{number}:"))
            .unwrap_or_else(|| panic!("{}: no notification for ticket {number}", row.name));
        let requester = match row.user_email == s.requester {
            true => find(&to_requester, format!("#{number} received")),
            false => None,
        };
        let path = links[i].strip_prefix(BASE_URL).unwrap();
        let request = Request::get(path).header("accept", "text/html").body(lambda_http::Body::Empty).unwrap();
        let page = call(&s.app, request).await;
        assert_eq!(page.status, 200, "{}: the private page opens", row.name);
        for markup in &row.markup {
            let numeric = markup.replace('&', "&#38;").replace('<', "&#60;").replace('>', "&#62;");
            let named = markup.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let is_title = *markup == row.title;
            let mut html = vec![("notification HTML", notification.as_str(), true)];
            html.extend(requester.as_deref().map(|text| ("requester's HTML", text, is_title)));
            html.push(("private page", page.raw.as_str(), is_title || *markup == row.message));
            for (what, text, shows) in html {
                assert!(!text.contains(markup.as_str()), "{}: {markup} reached the {what} unescaped", row.name);
                let escaped = text.contains(&numeric) || text.contains(&named);
                assert!(escaped || !shows, "{}: {markup} is in the {what}, escaped", row.name);
            }
            escaped += 1;
        }
    }
    assert!(escaped >= 4, "the markup rows were checked");
    println!(
        "accepted edge cases: {n} created as numbers 1..={n}, stored as the contract says; \
         {escaped} pieces of markup escaped in the e-mails and on the private page",
        n = rows.len()
    );
}

// ---- the conversation's routes ----------------------------------------------------------------------------------

/// A body of a field rule: its name, the body, and the `(field, code)` errors it must get.
type FieldRow = (&'static str, Value, Vec<(&'static str, &'static str)>);

/// One refused request to a ticket's routes: its status, and its problem `code` (JSON) or, for a form post, the
/// page again with its reason (`None`).
struct Refused {
    name: String,
    req: Req,
    status: u16,
    code: Option<&'static str>,
    errors: Vec<(String, String)>,
}

/// Replies and status changes under hostile input, for each role (the requester's link, the team's link, an API
/// key): every body the create refuses as JSON, the field rules of a message and a status, the sizes, the media
/// types, the moves a role may not make, a closed ticket and wrong keys. Each is refused with its code and, after
/// the whole table, both tickets are as they were: no entry, no status change, no count, no e-mail.
#[tokio::test]
async fn hostile_replies_and_status_changes_are_refused_for_every_role_and_change_nothing() {
    let s = stand("hostile-conversation").await;
    let c = s.collection.as_str();
    let mut links = Vec::new();
    for _ in 0..2 {
        let reply = send(&s, &Via::Router(Req::create(&s, serde_json::to_vec(&valid(&s)).unwrap()))).await;
        assert_eq!(reply.status, 201, "{}", reply.raw);
        links.push(reply.body["privateUrl"].as_str().unwrap().rsplit("key=").next().unwrap().to_owned());
    }
    let close = Req::create(&s, br#"{"status":"closed"}"#.to_vec()).path(format!("/ticket/{c}/2/status"));
    assert_eq!(send(&s, &Via::Router(close)).await.status, 200, "ticket 2 is closed by the team");
    deliver_now(&s.service).await;
    let pepper = pepper();
    let mut team_keys = Vec::new();
    for n in [1, 2] {
        let ticket = s.store.get_ticket(&s.collection, n).await.unwrap().unwrap();
        team_keys
            .push(ticket_api::domain::TicketKey::derive_team(&pepper, &ticket.team_key_nonce, 0).reveal().to_owned());
    }
    let limits = &s.store.tables().limits;
    let counts_before = s.store.client().scan().table_name(limits).send().await.unwrap().items.unwrap_or_default();
    let mail_before = (mailbox(&s.requester).await.len(), mailbox(&s.team).await.len());

    // A request to ticket `n`'s route `suffix` with the role's credential and a JSON body.
    let to = |role: &str, n: usize, suffix: &str, body: &[u8]| -> Req {
        let base = Req::create(&s, body.to_vec()).set("x-api-key", None);
        let path = format!("/ticket/{c}/{n}{suffix}");
        match role {
            "requester" => base.path(format!("{path}?key={}", links[n - 1])),
            "team link" => base.path(format!("{path}?teamKey={}", team_keys[n - 1])),
            _ => base.path(path).key(&s.key),
        }
    };
    let mut rows: Vec<Refused> = Vec::new();
    let mut refuse = |name: String, req: Req, status: u16, code: Option<&'static str>, errors: &[(&str, &str)]| {
        let errors = errors.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
        rows.push(Refused { name, req, status, code, errors });
    };
    let bad_json: Vec<(String, Vec<u8>)> = hostile_rows(&s)
        .into_iter()
        .filter(|r| r.code == "invalid_json")
        .filter_map(|r| match r.via {
            Via::Router(req) if !req.streamed => Some((r.name, req.body)),
            _ => None,
        })
        .collect();
    assert!(bad_json.len() >= 30, "the create's table lends {} bodies that are not JSON", bad_json.len());
    let too_long = "a".repeat(MAX_MESSAGE_CHARS + 1);
    let message_fields: Vec<FieldRow> = vec![
        ("an empty object", json!({}), vec![("message", "required")]),
        ("message null", json!({"message": null}), vec![("message", "required")]),
        ("message empty", json!({"message": ""}), vec![("message", "blank")]),
        ("message only whitespace", json!({"message": " \n\t "}), vec![("message", "blank")]),
        ("message a number", json!({"message": 7}), vec![("message", "invalid_type")]),
        ("message an array", json!({"message": ["a"]}), vec![("message", "invalid_type")]),
        ("message one character too long", json!({"message": too_long}), vec![("message", "too_long")]),
        ("message with a NUL", json!({"message": "a\u{0}b"}), vec![("message", "invalid_characters")]),
        ("message with a bidi override", json!({"message": "a\u{202e}b"}), vec![("message", "invalid_characters")]),
        ("a status with the message", json!({"message": "x", "status": "closed"}), vec![("status", "unknown_field")]),
        ("an author of one's choosing", json!({"message": "x", "author": "team"}), vec![("author", "unknown_field")]),
    ];
    let status_fields: Vec<FieldRow> = vec![
        ("an empty object", json!({}), vec![("status", "required")]),
        ("status null", json!({"status": null}), vec![("status", "required")]),
        ("status not one of the three", json!({"status": "done"}), vec![("status", "invalid_value")]),
        ("status in capitals", json!({"status": "RESOLVED"}), vec![("status", "invalid_value")]),
        ("status a number", json!({"status": 1}), vec![("status", "invalid_type")]),
        (
            "notifyRequester a string",
            json!({"status": "resolved", "notifyRequester": "yes"}),
            vec![("notifyRequester", "invalid_type")],
        ),
        (
            "a message with the status",
            json!({"status": "resolved", "message": "x"}),
            vec![("message", "unknown_field")],
        ),
    ];
    for role in ["requester", "team link", "API key"] {
        for suffix in ["/messages", "/status"] {
            for (name, body) in &bad_json {
                refuse(format!("{role} {suffix}: {name}"), to(role, 1, suffix, body), 400, Some("invalid_json"), &[]);
            }
            let mut types: Vec<Option<&[u8]>> = vec![None, Some(b"text/plain"), Some(b"application/xml")];
            // A reply may be a page's form with files (`multipart/form-data`): refused below when it does not read.
            if suffix == "/status" {
                types.push(Some(b"multipart/form-data"));
            }
            for media in types {
                let req = to(role, 1, suffix, br#"{"message":"x","status":"resolved"}"#).set("content-type", media);
                let name = format!("{role} {suffix}: content type {:?}", media.map(String::from_utf8_lossy));
                refuse(name, req, 415, Some("unsupported_media_type"), &[]);
            }
            let big = padded(&s, MAX_BODY_BYTES + 1);
            refuse(
                format!("{role} {suffix}: a body past the limit"),
                to(role, 1, suffix, &big),
                413,
                Some("payload_too_large"),
                &[],
            );
            let fields = if suffix == "/messages" { &message_fields } else { &status_fields };
            for (name, body, errors) in fields {
                let req = to(role, 1, suffix, &serde_json::to_vec(body).unwrap());
                refuse(format!("{role} {suffix}: {name}"), req, 422, Some("validation_failed"), errors);
            }
            // Wrong keys of every kind are the 404 of a missing ticket.
            let wrong = match role {
                "requester" => format!("key={}", "0".repeat(32)),
                "team link" => format!("teamKey={}", links[0]),
                _ => String::new(),
            };
            if !wrong.is_empty() {
                let req = to(role, 1, suffix, br#"{"message":"x","status":"resolved"}"#)
                    .path(format!("/ticket/{c}/1{suffix}?{wrong}"));
                refuse(format!("{role} {suffix}: a wrong key"), req, 404, Some("not_found"), &[]);
            }
            let other = to(role, 1, suffix, br#"{"message":"x","status":"resolved"}"#);
            let missing = Req { path: other.path.replacen(&format!("/{c}/1"), &format!("/{c}/99"), 1), ..other };
            refuse(format!("{role} {suffix}: a missing ticket"), missing, 404, Some("not_found"), &[]);
        }
        // A closed ticket takes no reply, from anyone; and is reopened, not resolved.
        let req = to(role, 2, "/messages", br#"{"message":"hello?"}"#);
        refuse(format!("{role}: a reply to a closed ticket"), req, 409, Some("ticket_closed"), &[]);
        // Forms: the page again with the reason (the API key gets problem+json).
        if role != "API key" {
            for (name, body, status) in [
                ("no message field", &b"text=x"[..], 422),
                ("a blank message", b"message=+%0D%0A+", 422),
                ("a status not one of the three", b"status=done", 422),
            ] {
                let suffix = if body.starts_with(b"status") { "/status" } else { "/messages" };
                let req = to(role, 1, suffix, body).set("content-type", Some(b"application/x-www-form-urlencoded"));
                refuse(format!("{role} form {suffix}: {name}"), req, status, None, &[]);
            }
        }
    }
    // A reply posted as a form with files that does not read as one: 422, nothing written.
    let req = to("API key", 1, "/messages", br#"{"message":"x"}"#).set("content-type", Some(b"multipart/form-data"));
    refuse(
        "API key /messages: multipart that is no form".into(),
        req,
        422,
        Some("validation_failed"),
        &[("message", "required")],
    );
    // The requester's link may resolve, nothing else.
    let req = to("requester", 1, "/status", br#"{"status":"closed"}"#);
    refuse("requester: status closed".into(), req, 403, Some("forbidden"), &[]);
    for role in ["team link", "API key"] {
        let req = to(role, 2, "/status", br#"{"status":"resolved"}"#);
        refuse(format!("{role}: resolving a closed ticket"), req, 409, Some("ticket_closed"), &[]);
    }
    let form_close =
        to("requester", 1, "/status", b"status=closed").set("content-type", Some(b"application/x-www-form-urlencoded"));
    refuse("requester form: status closed".into(), form_close, 403, None, &[]);
    let form_closed = to("requester", 2, "/messages", b"message=hello")
        .set("content-type", Some(b"application/x-www-form-urlencoded"));
    refuse("requester form: a reply to a closed ticket".into(), form_closed, 409, None, &[]);

    let mut writes = Vec::new();
    for row in &rows {
        s.calls.clear();
        let reply = send(&s, &Via::Router(row.req.clone())).await;
        let shown: String = reply.raw.chars().take(400).collect();
        let context = format!("{}: got {} {shown}", row.name, reply.status);
        assert_eq!(reply.status.as_u16(), row.status, "{context}");
        match row.code {
            Some(code) => {
                assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{context}");
                assert_eq!(reply.code(), Some(code), "{context}");
                if code == "validation_failed" {
                    let got: Vec<(String, String)> = reply.body["errors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
                        .collect();
                    assert_eq!(got, row.errors, "{context}");
                }
            }
            None => {
                assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"), "{context}");
                assert!(reply.raw.contains("id=\"notice\""), "the page says why: {context}");
            }
        }
        for call in s.calls.calls() {
            let action = call.iam_action();
            if !matches!(action.as_str(), "dynamodb:GetItem" | "dynamodb:Query") {
                writes.push(format!("{}: {action} on {:?}", row.name, call.table));
            }
        }
    }

    // Only the requester's count of replies may be written (taken, then given back when the write is refused).
    let unexpected: Vec<&String> =
        writes.iter().filter(|w| !w.contains("UpdateItem") || !w.contains(limits.as_str())).collect();
    assert!(unexpected.is_empty(), "refusals wrote: {unexpected:?}");
    let counts_after = s.store.client().scan().table_name(limits).send().await.unwrap().items.unwrap_or_default();
    let n = |items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]| {
        let mut v: Vec<String> = items.iter().map(|i| format!("{:?}={:?}", i.get("countId"), i.get("n"))).collect();
        v.sort();
        v
    };
    assert_eq!(n(&counts_after), n(&counts_before), "every count a refusal took was given back");
    let thread_1 = s.store.thread(&s.collection, 1).await.unwrap();
    let thread_2 = s.store.thread(&s.collection, 2).await.unwrap();
    assert_eq!((thread_1.len(), thread_2.len()), (1, 2), "no entry was added");
    assert_eq!(s.store.get_ticket(&s.collection, 1).await.unwrap().unwrap().status, TicketStatus::Open);
    assert_eq!(s.store.get_ticket(&s.collection, 2).await.unwrap().unwrap().status, TicketStatus::Closed);
    assert!(s.store.undelivered(None).await.unwrap().is_empty(), "no e-mail owed");
    deliver_now(&s.service).await;
    assert_eq!((mailbox(&s.requester).await.len(), mailbox(&s.team).await.len()), mail_before, "no e-mail sent");
    println!("hostile conversation requests: {} refused for 3 roles; nothing stored, counted or sent", rows.len());
}
