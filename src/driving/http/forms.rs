//! What every action on a ticket (a message, a status, new links) is posted with, read the same way: the
//! ticket's path, a credential, and its body, as JSON or as an HTML form (`application/x-www-form-urlencoded`,
//! within `MAX_FORM_BYTES`; a page's reply with files as `multipart/form-data`, within `MAX_MULTIPART_BYTES`);
//! and the parsing of each action's body, in either shape.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::credential::{Keys, credential};
use super::error::ApiError;
use super::respond::problem;
use super::tickets::single;
use crate::domain::InputError;
use crate::domain::conversation::{
    self, AssignRequest, LinkRoles, MAX_FORM_BYTES, MAX_JSON_BYTES, MAX_MULTIPART_BYTES, Reply, StatusRequest,
};
use crate::service::Credential;

/// How a request's body was sent: decides the answer's shape.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    Json,
    Form,
}

/// An action on a ticket, as posted. A path that names no ticket is its 404 and a request without a credential
/// its 401, before the body is read.
pub struct TicketAction {
    pub(super) collection: String,
    pub(super) number: String,
    keys: Keys,
    headers: HeaderMap,
    read: Result<(Sent, Bytes), InputError>,
    /// The `Content-Type` of a `multipart/form-data` body (its boundary), when it is one.
    multipart: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for TicketAction {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Ok(Path((collection, number))) = Path::<(String, String)>::from_request_parts(&mut parts, state).await
        else {
            return Err(problem(ApiError::NotFound));
        };
        let keys = Query::<Keys>::from_request_parts(&mut parts, state).await.map(|Query(k)| k).unwrap_or_default();
        credential(&parts.headers, &keys).map_err(problem)?;
        let read = read_body(&parts.headers, body).await;
        let multipart = single(&parts.headers, header::CONTENT_TYPE.as_str())
            .filter(|t| t.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
            .map(str::to_owned);
        Ok(Self { collection, number, keys, headers: parts.headers, read, multipart })
    }
}

impl TicketAction {
    pub(super) fn credential(&self) -> Credential<'_> {
        credential(&self.headers, &self.keys).expect("checked when the request was read")
    }

    /// How the body was sent; JSON when it could not be read (a problem, not a page, answers it).
    pub(super) fn sent(&self) -> Sent {
        self.read.as_ref().map(|(sent, _)| *sent).unwrap_or(Sent::Json)
    }

    /// The message posted, and (from a form) the text as written, to show again on a refusal.
    pub(super) fn reply(&self) -> (Result<Reply, InputError>, String) {
        let reply = self.read.clone().and_then(|(sent, bytes)| match (sent, &self.multipart) {
            (Sent::Json, _) => conversation::reply_from_json(&bytes),
            (Sent::Form, Some(content_type)) => conversation::reply_from_multipart(content_type, &bytes),
            (Sent::Form, None) => conversation::reply_from_form(&bytes),
        });
        let draft = match (&self.read, &self.multipart, &reply) {
            (Ok((Sent::Form, bytes)), None, _) => form_value(bytes, "message"),
            (Ok((Sent::Form, _)), Some(_), Ok(reply)) => reply.message.as_str().to_owned(),
            _ => String::new(),
        };
        (reply, draft)
    }

    /// The status change posted (a form with files is a reply's only).
    pub(super) fn status(&self) -> Result<StatusRequest, InputError> {
        self.not_multipart()?;
        self.read.clone().and_then(|(sent, bytes)| match sent {
            Sent::Json => conversation::status_from_json(&bytes),
            Sent::Form => conversation::status_from_form(&bytes),
        })
    }

    /// The assignment posted: `{"assignee": …}` in JSON, an `assignee` field in a form (empty: nobody).
    pub(super) fn assignment(&self) -> Result<AssignRequest, InputError> {
        self.not_multipart()?;
        self.read.clone().and_then(|(sent, bytes)| match sent {
            Sent::Json => conversation::assign_from_json(&bytes),
            Sent::Form => conversation::assign_from_form(&bytes),
        })
    }

    /// Whose links a rotation gives anew: `{}` or `{"role": …}` in JSON, a `role` field in a form (both when
    /// absent).
    pub(super) fn rotation(&self) -> Result<LinkRoles, InputError> {
        self.not_multipart()?;
        self.read.clone().and_then(|(sent, bytes)| match sent {
            Sent::Json => conversation::rotation_from_json(&bytes),
            Sent::Form => conversation::rotation_from_form(&bytes),
        })
    }
}

impl TicketAction {
    fn not_multipart(&self) -> Result<(), InputError> {
        match self.multipart {
            Some(_) => Err(InputError::UnsupportedMediaType),
            None => Ok(()),
        }
    }
}

/// The content type, then the size, then the bytes: the media types a conversation request takes.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<(Sent, Bytes), InputError> {
    let media = single(headers, header::CONTENT_TYPE.as_str()).and_then(|v| v.split(';').next()).map(str::trim);
    let (sent, limit) = match media {
        Some(m) if m.eq_ignore_ascii_case("application/json") => (Sent::Json, MAX_JSON_BYTES),
        Some(m) if m.eq_ignore_ascii_case("application/x-www-form-urlencoded") => (Sent::Form, MAX_FORM_BYTES),
        Some(m) if m.eq_ignore_ascii_case("multipart/form-data") => (Sent::Form, MAX_MULTIPART_BYTES),
        _ => return Err(InputError::UnsupportedMediaType),
    };
    let declared = single(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(InputError::TooLarge);
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| InputError::TooLarge)?;
    Ok((sent, bytes))
}

/// One field of a form body, for showing it again (the text a person wrote, on a refusal).
fn form_value(body: &[u8], name: &str) -> String {
    form_urlencoded::parse(body).find(|(n, _)| n == name).map(|(_, v)| v.replace("\r\n", "\n")).unwrap_or_default()
}
