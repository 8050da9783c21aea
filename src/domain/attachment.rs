//! Files on a ticket. What a client may ask to upload (a name, a declared type from `UPLOAD_TYPES`, a size within
//! the caps), what a file is found to be (its type sniffed from its first bytes by `infer`, whatever was
//! declared or posted), how it is served (`served_type`, `disposition`), where it lives in the bucket
//! (`upload_key`, `file_key`), and what an entry lists of it (`FileMeta`). The bytes are never in a table.
//!
//! An upload id is signed, not stored: `UploadId` carries its collection, its ticket (0 for a create), its
//! declared type and size and its expiry, with an HMAC of the pepper over them, so that asking for an upload
//! writes nothing, and an id cannot be made or moved to another collection, ticket, size or type.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::collection_id::CollectionId;
use super::input::{FieldCode, FieldError, InputError, json_object};
use super::keys::Pepper;
use super::random::random_hex;

/// The largest file: what the larger help desks take (Zendesk, Freshdesk, Help Scout's 25 MB).
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// The most files one message carries.
pub const MAX_FILES_PER_MESSAGE: usize = 10;
/// The most bytes one message's files add up to.
pub const MAX_MESSAGE_FILE_BYTES: u64 = 50 * 1024 * 1024;
/// The most files a ticket keeps, over its whole thread.
pub const MAX_FILES_PER_TICKET: u32 = 100;
/// The storage a ticket may use.
pub const MAX_TICKET_FILE_BYTES: u64 = 250 * 1024 * 1024;
/// How long an upload's form and id are good for: time to post the file and reference it in a create or reply.
pub const UPLOAD_VALID_FOR: Duration = Duration::from_secs(15 * 60);
/// How long a download link (the presigned GET a file's URL answers with) is good for.
pub const DOWNLOAD_VALID_FOR: Duration = Duration::from_secs(5 * 60);
/// How many first bytes of a file are read to tell its type.
pub const SNIFF_BYTES: usize = 4096;
/// The longest file name kept, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 200;
/// What a file is served as when nothing better is known of it: a download, never rendered.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// What a declared type asks of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exactly this signature (`infer`'s type).
    Signature,
    /// A ZIP container: a plain archive, or an Office document (which is one).
    Zip,
    /// Text: UTF-8 without NUL and without markup (an HTML or XML file declared as text is another type).
    Text,
    /// Anything: served as a download of unknown type.
    Any,
}

/// The types an upload may declare, and what each asks of the bytes.
const UPLOAD_TYPES: &[(&str, Expect)] = &[
    ("image/png", Expect::Signature),
    ("image/jpeg", Expect::Signature),
    ("image/gif", Expect::Signature),
    ("image/webp", Expect::Signature),
    ("image/heif", Expect::Signature),
    ("application/pdf", Expect::Signature),
    ("application/gzip", Expect::Signature),
    ("video/mp4", Expect::Signature),
    ("video/quicktime", Expect::Signature),
    ("audio/mpeg", Expect::Signature),
    ("application/zip", Expect::Zip),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", Expect::Zip),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Expect::Zip),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", Expect::Zip),
    ("text/plain", Expect::Text),
    ("text/csv", Expect::Text),
    ("application/json", Expect::Text),
    ("message/rfc822", Expect::Text),
    (OCTET_STREAM, Expect::Any),
];

/// The ZIP containers `infer` names.
const ZIP_TYPES: &[&str] = &[
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// The types a browser may show in place: raster images, which cannot run script. Everything else (SVG and
/// HTML above all) is served as a download.
const INLINE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A file as an entry lists it: its id (its key's last part under the ticket), the name it came with, the type
/// it is served as (sniffed, never only declared) and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMeta {
    pub id: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
}

impl FileMeta {
    /// A new file's metadata, with a new id.
    pub fn new(file_name: &str, content_type: &str, size: u64) -> Self {
        Self { id: random_hex::<16>(), file_name: file_name.to_owned(), content_type: content_type.to_owned(), size }
    }
}

/// A file the function holds (posted with a page's reply, or a part of a reply by e-mail): the name and type it
/// came with, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedFile {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Where a ticket's file lives in the bucket.
pub fn file_key(collection: &CollectionId, ticket: u64, id: &str) -> String {
    format!("files/{}/{ticket}/{id}", collection.as_str())
}

/// The collection, ticket and file id a file's key names (`files/{c}/{n}/{id}`), if it names one.
pub fn parse_file_key(key: &str) -> Option<(CollectionId, u64, String)> {
    let mut parts = key.strip_prefix("files/")?.split('/');
    let (collection, number, id) = (parts.next()?, parts.next()?, parts.next()?);
    let collection = CollectionId::parse(collection)?;
    (parts.next().is_none() && is_file_id(id)).then_some((collection, number.parse().ok()?, id.to_owned()))
}

/// Where an upload is posted to, until it is referenced (the bucket deletes what is left there after a day).
pub fn upload_key(collection: &CollectionId, nonce: &str) -> String {
    format!("uploads/{}/{nonce}", collection.as_str())
}

/// Whether `id` reads as a file id (32 hex digits): anything else names no file, and is not looked up.
pub fn is_file_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A file name made safe to keep and show: one line, no control characters, no path, at most
/// `MAX_FILE_NAME_CHARS`; `None` when nothing is left.
pub fn safe_file_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = base
        .chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'))
        .map(|c| if c.is_control() || c.is_whitespace() { ' ' } else { c })
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    let name = name.trim();
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_owned())
}

/// What `infer` makes of a file's first bytes, or text when it is UTF-8 without NUL (the last character may be
/// cut by the read), or `None`.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if let Some(kind) = infer::get(head) {
        return Some(kind.mime_type());
    }
    if infer::text::is_html(head) {
        return Some("text/html");
    }
    // Any other markup (SVG without an XML declaration, a fragment of HTML): never served as text.
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if infer::text::is_xml(head) || first == Some(&b'<') {
        return Some("text/xml");
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    (text && !head.contains(&0)).then_some("text/plain")
}

/// What a file that came by e-mail (or through a page) is served as: the type its bytes show when it is one
/// this service serves as such, text when it is text and was sent as text, else a download of unknown type.
/// What a sender declared is never trusted alone.
pub fn served_type(head: &[u8], declared: &str) -> &'static str {
    let declared = declared.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match sniff(head) {
        Some("text/plain") => match UPLOAD_TYPES.iter().find(|(t, e)| *t == declared && *e == Expect::Text) {
            Some((t, _)) => t,
            None => "text/plain",
        },
        Some(sniffed) => UPLOAD_TYPES
            .iter()
            .find(|(t, e)| *t == sniffed && matches!(e, Expect::Signature | Expect::Zip))
            .map_or(OCTET_STREAM, |(t, _)| t),
        None => OCTET_STREAM,
    }
}

/// A size as people read it: bytes, KB or MB.
pub fn readable_size(bytes: u64) -> String {
    match bytes {
        0..1_024 => format!("{bytes} bytes"),
        1_024..1_048_576 => format!("{} KB", bytes.div_ceil(1_024)),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

/// The extension of a file of this (served) type, for a file that came without a name.
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "application/pdf" => ".pdf",
        "application/zip" => ".zip",
        "text/plain" => ".txt",
        "text/csv" => ".csv",
        "message/rfc822" => ".eml",
        _ => ".bin",
    }
}

/// The `Content-Type` a download is served with: text with its charset.
pub fn content_type_header(content_type: &str) -> String {
    match UPLOAD_TYPES.iter().find(|(t, _)| *t == content_type) {
        Some((t, Expect::Text)) => format!("{t}; charset=utf-8"),
        _ => content_type.to_owned(),
    }
}

/// The `Content-Disposition` a download is served with: raster images inline, everything else as an attachment,
/// with the file's name (RFC 6266: an ASCII fallback, and the UTF-8 name percent-encoded).
pub fn disposition(content_type: &str, file_name: &str) -> String {
    let kind = if INLINE_TYPES.contains(&content_type) { "inline" } else { "attachment" };
    let ascii: String = file_name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let encoded: String = form_urlencoded::byte_serialize(file_name.as_bytes()).collect::<String>().replace('+', "%20");
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The longest upload id taken: an id is 71 characters; anything much longer is not looked at.
const MAX_UPLOAD_ID_CHARS: usize = 200;

/// `attachments` of a create's or a reply's body: absent (none), or an array of at most
/// `MAX_FILES_PER_MESSAGE` upload ids. What it holds is checked against the bucket later, by the service.
pub fn ids_from_json(value: Option<Value>, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    let field = "attachments";
    let items = match value {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            errors.push(FieldError::new(field, FieldCode::InvalidType, "must be an array of upload ids"));
            return None;
        }
    };
    if items.len() > MAX_FILES_PER_MESSAGE {
        errors.push(FieldError::new(field, FieldCode::TooMany, format!("at most {MAX_FILES_PER_MESSAGE} files")));
        return None;
    }
    let before = errors.len();
    let ids: Vec<String> = items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Value::String(id) if (1..=MAX_UPLOAD_ID_CHARS).contains(&id.len()) => Some(id),
            _ => {
                errors.push(FieldError::new(
                    format!("{field}[{i}]"),
                    FieldCode::InvalidType,
                    "must be an upload id (the uploadId of POST .../uploads)",
                ));
                None
            }
        })
        .collect();
    (errors.len() == before).then_some(ids)
}

/// An upload a client asks for: checked, with its type from `UPLOAD_TYPES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub file_name: String,
    pub content_type: &'static str,
    pub size: u64,
}

impl UploadRequest {
    /// `{"fileName", "contentType", "size"}`: invalid JSON first, then every field's error at once.
    pub fn from_json(body: &[u8]) -> Result<Self, InputError> {
        let object = json_object(body)?;
        let mut fields = object;
        let mut errors = Vec::new();
        let mut string = |name: &str, errors: &mut Vec<FieldError>| match fields.remove(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                errors.push(FieldError::new(name, FieldCode::InvalidType, "must be a string"));
                Some(String::new())
            }
        };
        let file_name = string("fileName", &mut errors);
        let content_type = string("contentType", &mut errors);
        let size = match fields.remove("size") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(_) => {
                errors.push(FieldError::new("size", FieldCode::InvalidType, "must be a whole number of bytes"));
                Some(0)
            }
        };
        for unknown in fields.keys() {
            errors.push(FieldError::new(
                unknown.clone(),
                FieldCode::UnknownField,
                "is not a field of this request (fileName, contentType, size)",
            ));
        }
        let typed = errors.len();
        match Self::parse(file_name.as_deref(), content_type.as_deref(), size) {
            Ok(request) if errors.is_empty() => Ok(request),
            Ok(_) => Err(InputError::Invalid(errors)),
            Err(mut more) => {
                // A field of the wrong type is said once, as such.
                more.retain(|e| !errors[..typed].iter().any(|t| t.field == e.field));
                errors.extend(more);
                Err(InputError::Invalid(errors))
            }
        }
    }

    /// Checks what a client declared: every field's error at once.
    pub fn parse(
        file_name: Option<&str>,
        content_type: Option<&str>,
        size: Option<u64>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = match file_name.map(safe_file_name) {
            Some(Some(name)) => Some(name),
            Some(None) => {
                errors.push(FieldError::new("fileName", FieldCode::InvalidValue, "fileName must name a file"));
                None
            }
            None => {
                errors.push(FieldError::new("fileName", FieldCode::Required, "fileName is required"));
                None
            }
        };
        let declared = content_type.map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        let content_type = match declared.as_deref().map(|d| UPLOAD_TYPES.iter().find(|(t, _)| *t == d)) {
            Some(Some((t, _))) => Some(*t),
            Some(None) => {
                errors.push(FieldError::new(
                    "contentType",
                    FieldCode::InvalidValue,
                    "contentType must be one of the types in the API's documentation (application/octet-stream \
                     for any other file)",
                ));
                None
            }
            None => {
                errors.push(FieldError::new("contentType", FieldCode::Required, "contentType is required"));
                None
            }
        };
        let size = match size {
            Some(size) if (1..=MAX_FILE_BYTES).contains(&size) => Some(size),
            Some(_) => {
                errors.push(FieldError::new(
                    "size",
                    FieldCode::InvalidValue,
                    "size must be from 1 byte to 25 MB (26214400 bytes)",
                ));
                None
            }
            None => {
                errors.push(FieldError::new("size", FieldCode::Required, "size is required, in bytes"));
                None
            }
        };
        match (name, content_type, size) {
            (Some(file_name), Some(content_type), Some(size)) if errors.is_empty() => {
                Ok(Self { file_name, content_type, size })
            }
            _ => Err(errors),
        }
    }
}

/// Why what an upload holds is not what was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// More or fewer bytes than declared.
    Size { declared: u64, found: u64 },
    /// Its first bytes show another type.
    Type,
}

/// Whether the bytes S3 holds are what an upload declared: its exact size, and a type its first bytes show.
pub fn check_upload(declared_type: &str, declared_size: u64, found_size: u64, head: &[u8]) -> Result<(), Mismatch> {
    if found_size != declared_size {
        return Err(Mismatch::Size { declared: declared_size, found: found_size });
    }
    let expect = UPLOAD_TYPES.iter().find(|(t, _)| *t == declared_type).map_or(Expect::Signature, |(_, e)| *e);
    let sniffed = sniff(head);
    let fits = match expect {
        Expect::Signature => sniffed == Some(declared_type),
        Expect::Zip => sniffed.is_some_and(|s| ZIP_TYPES.contains(&s)),
        Expect::Text => sniffed == Some("text/plain"),
        Expect::Any => true,
    };
    if fits { Ok(()) } else { Err(Mismatch::Type) }
}

/// An upload id: what it was granted for, signed. `nonce` names its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadId {
    pub nonce: String,
    /// The ticket it is for; 0 for a create.
    pub ticket: u64,
    /// When it stops being good, in seconds since the epoch.
    pub expires_at: u64,
    pub size: u64,
    pub content_type: &'static str,
}

/// Why an upload id is not good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadUpload {
    /// Not an id this deployment made for this collection (or not an id at all).
    Unknown,
    Expired,
    /// Made for another ticket (or for a create, used in a reply, or the other way round).
    OtherTicket,
}

const NONCE_BYTES: usize = 16;
const MAC_BYTES: usize = 16;
const BODY_BYTES: usize = NONCE_BYTES + 8 + 8 + 8 + 1;

impl UploadId {
    /// A new upload of `request` for `ticket` (0 for a create), good for `UPLOAD_VALID_FOR` from `now_secs`.
    pub fn new(request: &UploadRequest, ticket: u64, now_secs: u64) -> Self {
        Self {
            nonce: random_hex::<NONCE_BYTES>(),
            ticket,
            expires_at: now_secs + UPLOAD_VALID_FOR.as_secs(),
            size: request.size,
            content_type: request.content_type,
        }
    }

    /// The id a client is given: its fields and their MAC (keyed by the pepper, over the collection too), in
    /// URL-safe base64.
    pub fn encode(&self, pepper: &Pepper, collection: &CollectionId) -> String {
        let body = self.body();
        let mac = mac(pepper, collection, &body);
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// An id as presented, for `collection` and `ticket` (0 for a create), at `now_secs`.
    pub fn decode(
        presented: &str,
        pepper: &Pepper,
        collection: &CollectionId,
        ticket: u64,
        now_secs: u64,
    ) -> Result<Self, BadUpload> {
        let bytes = URL_SAFE_NO_PAD.decode(presented).map_err(|_| BadUpload::Unknown)?;
        if bytes.len() != BODY_BYTES + MAC_BYTES {
            return Err(BadUpload::Unknown);
        }
        let (body, presented_mac) = bytes.split_at(BODY_BYTES);
        if !bool::from(mac(pepper, collection, body).ct_eq(presented_mac)) {
            return Err(BadUpload::Unknown);
        }
        let number = |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let content_type = UPLOAD_TYPES.get(usize::from(body[BODY_BYTES - 1])).ok_or(BadUpload::Unknown)?.0;
        let id = Self {
            nonce: hex::encode(&body[..NONCE_BYTES]),
            ticket: number(NONCE_BYTES),
            expires_at: number(NONCE_BYTES + 8),
            size: number(NONCE_BYTES + 16),
            content_type,
        };
        if id.ticket != ticket {
            return Err(BadUpload::OtherTicket);
        }
        if now_secs >= id.expires_at {
            return Err(BadUpload::Expired);
        }
        Ok(id)
    }

    fn body(&self) -> [u8; BODY_BYTES] {
        let mut body = [0u8; BODY_BYTES];
        hex::decode_to_slice(&self.nonce, &mut body[..NONCE_BYTES]).expect("a nonce of 16 bytes in hex");
        body[NONCE_BYTES..NONCE_BYTES + 8].copy_from_slice(&self.ticket.to_be_bytes());
        body[NONCE_BYTES + 8..NONCE_BYTES + 16].copy_from_slice(&self.expires_at.to_be_bytes());
        body[NONCE_BYTES + 16..NONCE_BYTES + 24].copy_from_slice(&self.size.to_be_bytes());
        body[BODY_BYTES - 1] = UPLOAD_TYPES.iter().position(|(t, _)| *t == self.content_type).unwrap_or(0) as u8;
        body
    }
}

fn mac(pepper: &Pepper, collection: &CollectionId, body: &[u8]) -> [u8; MAC_BYTES] {
    let mut data = collection.as_str().as_bytes().to_vec();
    data.push(0);
    data.extend_from_slice(body);
    pepper.derive_secret(b"upload:", &data)[..MAC_BYTES].try_into().expect("16 bytes")
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn pepper() -> Pepper {
        Pepper::new(SecretString::from("p".repeat(32))).unwrap()
    }

    fn request(content_type: &str, size: u64) -> UploadRequest {
        UploadRequest::parse(Some("shot.png"), Some(content_type), Some(size)).unwrap()
    }

    #[test]
    fn an_upload_id_is_good_only_for_its_collection_ticket_and_time() {
        let c = CollectionId::parse("acme").unwrap();
        let other = CollectionId::parse("other").unwrap();
        let id = UploadId::new(&request("image/png", 10), 7, 1_000);
        let encoded = id.encode(&pepper(), &c);
        assert_eq!(UploadId::decode(&encoded, &pepper(), &c, 7, 1_000), Ok(id.clone()));
        assert_eq!(UploadId::decode(&encoded, &pepper(), &other, 7, 1_000), Err(BadUpload::Unknown));
        assert_eq!(UploadId::decode(&encoded, &pepper(), &c, 8, 1_000), Err(BadUpload::OtherTicket));
        assert_eq!(UploadId::decode(&encoded, &pepper(), &c, 0, 1_000), Err(BadUpload::OtherTicket));
        let late = 1_000 + UPLOAD_VALID_FOR.as_secs();
        assert_eq!(UploadId::decode(&encoded, &pepper(), &c, 7, late), Err(BadUpload::Expired));
        let other_pepper = Pepper::new(SecretString::from("q".repeat(32))).unwrap();
        assert_eq!(UploadId::decode(&encoded, &other_pepper, &c, 7, 1_000), Err(BadUpload::Unknown));
        // A bit changed anywhere (a larger size, another type) breaks the MAC.
        let mut bytes = URL_SAFE_NO_PAD.decode(&encoded).unwrap();
        bytes[NONCE_BYTES + 23] ^= 1;
        assert_eq!(UploadId::decode(&URL_SAFE_NO_PAD.encode(&bytes), &pepper(), &c, 7, 1_000), Err(BadUpload::Unknown));
        assert_eq!(UploadId::decode("nonsense", &pepper(), &c, 7, 1_000), Err(BadUpload::Unknown));
    }

    #[test]
    fn an_upload_request_names_a_file_a_listed_type_and_a_size_within_the_cap() {
        let ok = UploadRequest::parse(Some("C:\\Users\\me\\shot 1.png"), Some("IMAGE/PNG; x=y"), Some(5)).unwrap();
        assert_eq!((ok.file_name.as_str(), ok.content_type, ok.size), ("shot 1.png", "image/png", 5));
        let fields = |e: Vec<FieldError>| e.into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(UploadRequest::parse(None, None, None).unwrap_err()), ["fileName", "contentType", "size"]);
        assert_eq!(fields(UploadRequest::parse(Some("a"), Some("text/html"), Some(1)).unwrap_err()), ["contentType"]);
        assert_eq!(
            fields(UploadRequest::parse(Some("a"), Some("image/svg+xml"), Some(1)).unwrap_err()),
            ["contentType"]
        );
        assert_eq!(fields(UploadRequest::parse(Some("a"), Some("text/plain"), Some(0)).unwrap_err()), ["size"]);
        let over = MAX_FILE_BYTES + 1;
        assert_eq!(fields(UploadRequest::parse(Some("a"), Some("text/plain"), Some(over)).unwrap_err()), ["size"]);
        assert_eq!(
            fields(UploadRequest::parse(Some("\u{0}/"), Some("text/plain"), Some(1)).unwrap_err()),
            ["fileName"]
        );
    }

    #[test]
    fn what_s3_holds_is_checked_against_what_was_declared() {
        assert_eq!(check_upload("image/png", PNG.len() as u64, PNG.len() as u64, PNG), Ok(()));
        assert_eq!(check_upload("image/png", 10, 500, PNG), Err(Mismatch::Size { declared: 10, found: 500 }));
        let html = b"<!DOCTYPE html><html><script>alert(1)</script>";
        assert_eq!(check_upload("image/png", 47, 47, html), Err(Mismatch::Type), "HTML declared as PNG");
        assert_eq!(check_upload("text/plain", 47, 47, html), Err(Mismatch::Type), "HTML declared as text");
        assert_eq!(check_upload("text/plain", 4, 4, b"a\0bc"), Err(Mismatch::Type), "binary declared as text");
        assert_eq!(check_upload("text/csv", 6, 6, "é,ü\n".as_bytes()), Ok(()));
        assert_eq!(check_upload("text/plain", 3, 3, &"é".as_bytes()[..1]), Ok(()), "a character cut by the read");
        assert_eq!(check_upload("application/pdf", 8, 8, b"%PDF-1.7"), Ok(()));
        assert_eq!(check_upload(OCTET_STREAM, 47, 47, html), Ok(()), "anything, served as a download");
    }

    #[test]
    fn a_file_is_served_as_what_its_bytes_show_and_only_raster_images_inline() {
        assert_eq!(served_type(PNG, "application/octet-stream"), "image/png");
        assert_eq!(served_type(b"<svg xmlns='http://www.w3.org/2000/svg'>", "image/svg+xml"), OCTET_STREAM);
        assert_eq!(served_type(b"<html><body>hi", "text/plain"), OCTET_STREAM);
        assert_eq!(served_type(b"a,b\n1,2\n", "text/csv; charset=utf-8"), "text/csv");
        assert_eq!(served_type(b"plain words", "application/ms-tnef"), "text/plain");
        assert_eq!(served_type(b"\x78\x9f\x3e\x22\x00\x01", "application/ms-tnef"), OCTET_STREAM, "winmail.dat");
        assert_eq!(content_type_header("text/csv"), "text/csv; charset=utf-8");
        assert_eq!(disposition("image/png", "a.png"), "inline; filename=\"a.png\"; filename*=UTF-8''a.png");
        assert_eq!(
            disposition(OCTET_STREAM, "ré \"x\".svg"),
            "attachment; filename=\"r_ _x_.svg\"; filename*=UTF-8''r%C3%A9%20%22x%22.svg"
        );
    }
}
