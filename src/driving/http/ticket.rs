//! A ticket's conversation over HTTP: the page (and JSON) a link opens, a new message, a status change, and the
//! team's list of a collection's tickets. The credential a request brings decides its role: `x-api-key` (the
//! team, through the API), `?teamKey=` (the team, through its e-mails' link), `?key=` (the requester). Browsers
//! post HTML forms and are sent back to the page (303), or shown it again with the reason; JSON clients get
//! JSON or problem+json. Every answer about a ticket is private: never cached, indexed or sent on as a referrer.

use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::tickets::single;
use crate::domain::conversation::{self, ListCursor, MAX_FORM_BYTES, MAX_JSON_BYTES, readable_time};
use crate::domain::{Entry, InputError, Role, TicketStatus};
use crate::ports::Ports;
use crate::service::{Conversation, ConversationError, Credential, ListRequest, TicketService};

const STYLE: &str = include_str!("../../../templates/ticket.css");

/// Nothing may load or run but the page's own stylesheet, named by its hash: no scripts, no images, no frames,
/// no base URL; its forms post only to this site.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ))
    .expect("the policy is ASCII")
});

type Service<P> = State<Arc<TicketService<P>>>;

/// The credentials a link carries in its query, and which page of the thread it asks for.
#[derive(Deserialize, Default)]
pub struct Keys {
    key: Option<String>,
    #[serde(rename = "teamKey")]
    team_key: Option<String>,
    /// The page of the thread that ends before this entry (the newest page without it).
    before: Option<String>,
}

impl Keys {
    /// `?before=`: absent, or an entry number from 1.
    fn before(&self) -> Result<Option<u32>, ApiError> {
        match &self.before {
            None => Ok(None),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .map(Some)
                .ok_or(ApiError::InvalidQuery { detail: "before must be an entry number, from 1" }),
        }
    }
}

/// The credential of a request: an API key header wins, then the team key, then the requester's key.
/// None when the request carries no credential at all: a 401 that says which ones there are (it tells nothing
/// about any ticket); a credential that is present but wrong is the 404 of a missing ticket.
fn credential<'a>(headers: &'a HeaderMap, keys: &'a Keys) -> Result<Credential<'a>, ApiError> {
    if headers.contains_key("x-api-key") {
        return Ok(Credential::ApiKey(single(headers, "x-api-key")));
    }
    match (&keys.team_key, &keys.key) {
        (Some(team), _) => Ok(Credential::TeamKey(team)),
        (None, Some(key)) => Ok(Credential::TicketKey(key)),
        (None, None) => Err(ApiError::NoCredential),
    }
}

/// The query string that brings the same credential back to the page (none for the API).
fn link_query(credential: Credential<'_>) -> Option<String> {
    match credential {
        Credential::ApiKey(_) | Credential::Operator => None,
        Credential::TicketKey(key) => Some(format!("key={key}")),
        Credential::TeamKey(key) => Some(format!("teamKey={key}")),
    }
}

/// The private headers of every answer about a ticket: the URL carries a key.
pub(super) fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn html(status: StatusCode, page: String) -> Response {
    let mut response =
        (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], page).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY.clone());
    private(response)
}

pub(super) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let body = serde_json::to_vec(body).expect("the body serialises");
    private((status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// JSON when the client asks for it and does not ask for HTML (browsers always list text/html).
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    accept.contains("application/json") && !accept.contains("text/html")
}

impl From<ConversationError> for ApiError {
    fn from(e: ConversationError) -> Self {
        match e {
            ConversationError::Unauthorized => ApiError::Unauthorized,
            ConversationError::Forbidden => ApiError::NotAllowed,
            ConversationError::NotFound => ApiError::NotFound,
            ConversationError::Closed => ApiError::TicketClosed,
            ConversationError::RateLimited { limit, resets_in, policy } => {
                ApiError::RepliesLimited { limit, resets_in, policy }
            }
            ConversationError::Input(input) => input.into(),
            ConversationError::InvalidQuery(detail) => ApiError::InvalidQuery { detail },
            ConversationError::ThreadFull { most } => ApiError::ThreadFull { most },
            ConversationError::Unavailable(e) => {
                tracing::warn!(error = %e, "dependency unavailable");
                ApiError::Unavailable
            }
        }
    }
}

/// A problem, private like every answer about a ticket.
pub(super) fn problem(e: impl Into<ApiError>) -> Response {
    private(e.into().into_response())
}

// ---- the JSON shapes ------------------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryBody<'a> {
    seq: u32,
    at: &'a str,
    author: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    /// A reply that came by e-mail: the attachments the raw message keeps, and (for the team) its sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    by_email: Option<ByEmailBody<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ByEmailBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    attachments: &'a [crate::domain::inbound::Attachment],
    more_attachments: u32,
    truncated: bool,
}

impl<'a> EntryBody<'a> {
    /// An entry as `team` (or the requester) sees it: only the team sees who sent a reply by e-mail.
    fn of(e: &'a Entry, team: bool) -> Self {
        EntryBody {
            seq: e.seq,
            at: &e.at,
            author: e.author.as_str(),
            message: e.message.as_ref().map(|m| m.as_str()),
            status: e.status.map(TicketStatus::as_str),
            by_email: e.by_email.as_ref().map(|b| ByEmailBody {
                from: team.then(|| b.from.as_str()),
                attachments: &b.attachments,
                more_attachments: b.more_attachments,
                truncated: b.truncated,
            }),
        }
    }
}

impl<'a> From<&'a Entry> for EntryBody<'a> {
    fn from(e: &'a Entry) -> Self {
        EntryBody::of(e, false)
    }
}

/// A ticket with a page of its thread (the newest entries, or those before `?before=`). The requester's view has
/// no address and no tags; `message` is the first entry's (the create's), as before the thread existed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationBody<'a> {
    collection_name: &'a str,
    ticket_number: u64,
    title: &'a str,
    message: &'a str,
    status: &'static str,
    created_at: &'a str,
    status_changed_at: &'a str,
    status_changed_by: &'static str,
    last_activity_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_tags: Option<&'a crate::domain::CustomTags>,
    /// How many entries the whole thread has.
    entries: u32,
    thread: Vec<EntryBody<'a>>,
    /// When earlier entries exist: the `before` that reads the page ending where this one begins.
    #[serde(skip_serializing_if = "Option::is_none")]
    earlier: Option<u32>,
}

impl<'a> From<&'a Conversation> for ConversationBody<'a> {
    fn from(c: &'a Conversation) -> Self {
        let t = &c.ticket;
        let first = c.first.as_ref();
        let team = c.role == Role::Team;
        ConversationBody {
            collection_name: t.collection_name.as_str(),
            ticket_number: t.ticket_number,
            title: t.title.as_str(),
            message: first.and_then(|e| e.message.as_ref()).map(|m| m.as_str()).unwrap_or_default(),
            status: t.status.as_str(),
            created_at: &t.created_at,
            status_changed_at: &t.status_changed_at,
            status_changed_by: t.status_changed_by.as_str(),
            last_activity_at: &t.last_activity_at,
            user_email: team.then(|| t.user_email.as_str()),
            custom_tags: team.then(|| first.map(|e| &e.tags)).flatten(),
            entries: t.entries,
            thread: c.thread.iter().map(|e| EntryBody::of(e, team)).collect(),
            earlier: c.earlier,
        }
    }
}

// ---- the page -------------------------------------------------------------------------------------------------

struct EntryView<'a> {
    seq: u32,
    at: &'a str,
    when: String,
    author: &'static str,
    author_class: &'static str,
    message: Option<&'a str>,
    event: Option<String>,
    /// "By e-mail" (from whom, for the team), and its attachments' names and sizes.
    by_email: Option<String>,
    attachments: Vec<String>,
}

struct Action {
    status: &'static str,
    label: &'static str,
    id: &'static str,
    /// A close may tell the requester, if the team ticks it.
    notify_option: bool,
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct Page<'a> {
    style: &'static str,
    team: bool,
    collection: &'a str,
    number: u64,
    title: &'a str,
    status: &'static str,
    opened: String,
    created_at: &'a str,
    last_activity: String,
    last_activity_at: &'a str,
    requester: &'a str,
    tags: Vec<(&'a str, String)>,
    entries: Vec<EntryView<'a>>,
    /// A refusal to show above the form, and the text the person had written.
    notice: Option<String>,
    draft: &'a str,
    can_reply: bool,
    closed: bool,
    resolved: bool,
    actions: Vec<Action>,
    /// Where the forms post: relative, so that a stage or a custom domain in front keeps working.
    messages_action: String,
    status_action: String,
    /// Where the team's form that revokes the ticket's links posts.
    links_action: String,
    /// The page of earlier entries, and the newest page when this is an earlier one (relative links).
    earlier_link: Option<String>,
    newest_link: Option<String>,
    /// Which entries this page shows, of how many.
    shown: String,
}

fn render_page(c: &Conversation, query: &str, notice: Option<String>, draft: &str) -> String {
    let t = &c.ticket;
    let team = c.role == Role::Team;
    let entries = c
        .thread
        .iter()
        .map(|e| {
            let mine = e.author == c.role;
            let author = match (e.author, mine) {
                (_, true) => "You",
                (Role::Team, false) => "Support team",
                (Role::Requester, false) => "Requester",
            };
            let event = e.status.map(|s| match (s, e.message.is_some()) {
                (TicketStatus::Open, true) => "The reply opened the ticket again.".to_owned(),
                (TicketStatus::Open, false) => format!("{author} reopened the ticket."),
                (TicketStatus::Resolved, _) => format!("{author} marked the ticket resolved."),
                (TicketStatus::Closed, _) => format!("{author} closed the ticket."),
            });
            EntryView {
                seq: e.seq,
                at: &e.at,
                when: readable_time(&e.at),
                author,
                author_class: e.author.as_str(),
                message: e.message.as_ref().map(|m| m.as_str()),
                event,
                by_email: e.by_email.as_ref().map(|b| {
                    let from = if c.role == Role::Team { format!(" from {}", b.from.as_str()) } else { String::new() };
                    let cut = if b.truncated { " (cut to 20,000 characters)" } else { "" };
                    format!("By e-mail{from}{cut}")
                }),
                attachments: e
                    .by_email
                    .iter()
                    .flat_map(|b| &b.attachments)
                    .map(|a| format!("{} ({} bytes, kept with the e-mail)", a.name, a.size))
                    .chain(
                        e.by_email
                            .iter()
                            .filter(|b| b.more_attachments > 0)
                            .map(|b| format!("{} more, kept with the e-mail", b.more_attachments)),
                    )
                    .collect(),
            }
        })
        .collect();
    let action =
        |status: TicketStatus, label, id, notify_option| Action { status: status.as_str(), label, id, notify_option };
    let actions = match (team, t.status) {
        (false, TicketStatus::Open) => vec![action(TicketStatus::Resolved, "Mark as resolved", "resolve", false)],
        (false, _) => vec![],
        (true, TicketStatus::Open) => vec![
            action(TicketStatus::Resolved, "Resolve", "resolve", false),
            action(TicketStatus::Closed, "Close", "close", true),
        ],
        (true, TicketStatus::Resolved) => vec![
            action(TicketStatus::Open, "Reopen", "reopen", false),
            action(TicketStatus::Closed, "Close", "close", true),
        ],
        (true, TicketStatus::Closed) => vec![action(TicketStatus::Open, "Reopen", "reopen", false)],
    };
    let tags =
        c.first.as_ref().map(|e| e.tags.iter().map(|(k, v)| (k.as_str(), v.to_string())).collect()).unwrap_or_default();
    let newest = c.thread.last().is_none_or(|e| e.seq >= t.entries);
    let shown = match (c.thread.first(), c.thread.last()) {
        (Some(first), Some(last)) if first.seq > 1 || !newest => {
            format!("Entries {} to {} of {}.", first.seq, last.seq, t.entries)
        }
        _ => String::new(),
    };
    Page {
        style: STYLE,
        team,
        collection: t.collection_name.as_str(),
        number: t.ticket_number,
        title: t.title.as_str(),
        status: t.status.as_str(),
        opened: readable_time(&t.created_at),
        created_at: &t.created_at,
        last_activity: readable_time(&t.last_activity_at),
        last_activity_at: &t.last_activity_at,
        requester: t.user_email.as_str(),
        tags,
        entries,
        notice,
        draft,
        can_reply: t.status != TicketStatus::Closed,
        closed: t.status == TicketStatus::Closed,
        resolved: t.status == TicketStatus::Resolved,
        actions,
        messages_action: format!("{}/messages?{query}", t.ticket_number),
        status_action: format!("{}/status?{query}", t.ticket_number),
        links_action: format!("{}/links?{query}", t.ticket_number),
        earlier_link: c.earlier.map(|before| format!("{}?{query}&before={before}#thread", t.ticket_number)),
        newest_link: (!newest).then(|| format!("{}?{query}#thread", t.ticket_number)),
        shown,
    }
    .render()
    .expect("the ticket page renders")
}

// ---- handlers -------------------------------------------------------------------------------------------------

/// `GET /ticket/{collectionId}/{ticketNumber}`: the page (browsers) or the JSON (API keys, `Accept: application/json`).
pub async fn show<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Keys>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // A path that does not decode (invalid UTF-8) is one more way of naming no ticket: the same 404.
    let Ok(Path((collection, number))) = path else { return problem(ApiError::NotFound) };
    let keys = query.map(|Query(k)| k).unwrap_or_default();
    let credential = match credential(&headers, &keys) {
        Ok(c) => c,
        Err(e) => return problem(e),
    };
    let before = match keys.before() {
        Ok(before) => before,
        Err(e) => return problem(e),
    };
    let conversation = match service.conversation(&collection, &number, credential, before).await {
        Ok(c) => c,
        Err(e) => return problem(e),
    };
    match link_query(credential) {
        Some(query) if !wants_json(&headers) => html(StatusCode::OK, render_page(&conversation, &query, None, "")),
        _ => json(StatusCode::OK, &ConversationBody::from(&conversation)),
    }
}

/// How a request's body was sent: decides the answer's shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    Json,
    Form,
}

/// What every action on a ticket (a message, a status, new links) is sent with: the ticket's path, a credential,
/// and its body as read. A path that names no ticket is its 404 and a request without a credential its 401,
/// before the body is read.
pub struct TicketAction {
    collection: String,
    number: String,
    keys: Keys,
    headers: HeaderMap,
    read: Result<(Sent, Bytes), InputError>,
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
        Ok(Self { collection, number, keys, headers: parts.headers, read })
    }
}

impl TicketAction {
    fn credential(&self) -> Credential<'_> {
        credential(&self.headers, &self.keys).expect("checked when the request was read")
    }

    /// How the body was sent; JSON when it could not be read (a problem, not a page, answers it).
    fn sent(&self) -> Sent {
        self.read.as_ref().map(|(sent, _)| *sent).unwrap_or(Sent::Json)
    }
}

/// The content type, then the size, then the bytes: the media types a conversation request takes.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<(Sent, Bytes), InputError> {
    let media = single(headers, header::CONTENT_TYPE.as_str()).and_then(|v| v.split(';').next()).map(str::trim);
    let (sent, limit) = match media {
        Some(m) if m.eq_ignore_ascii_case("application/json") => (Sent::Json, MAX_JSON_BYTES),
        Some(m) if m.eq_ignore_ascii_case("application/x-www-form-urlencoded") => (Sent::Form, MAX_FORM_BYTES),
        _ => return Err(InputError::UnsupportedMediaType),
    };
    let declared = single(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(InputError::TooLarge);
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| InputError::TooLarge)?;
    Ok((sent, bytes))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddedBody<'a> {
    ticket_number: u64,
    status: &'static str,
    entry: EntryBody<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    ticket_number: u64,
    status: &'static str,
    changed: bool,
}

/// Back to the page after a form post (303), the new entry in view.
fn back_to_page(service_base: &str, collection: &str, number: &str, query: &str, fragment: &str) -> Response {
    let location = format!("{service_base}/ticket/{collection}/{number}?{query}{fragment}");
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            private(response)
        }
        Err(_) => problem(ApiError::NotFound),
    }
}

/// A refusal of a form post: the page again, with the reason and the text written (for the refusals a person can
/// act on); anything else as a problem.
async fn refused_form<P: Ports>(
    service: &TicketService<P>,
    collection: &str,
    number: &str,
    credential: Credential<'_>,
    error: ApiError,
    draft: &str,
) -> Response {
    let (Some(query), Some(reason)) = (link_query(credential), error.page_reason()) else { return problem(error) };
    match service.conversation(collection, number, credential, None).await {
        Ok(conversation) => {
            let mut response = html(error.status(), render_page(&conversation, &query, Some(reason), draft));
            error.insert_headers(response.headers_mut());
            response
        }
        Err(e) => problem(e),
    }
}

/// `POST /ticket/{collectionId}/{ticketNumber}/messages`: a new message by the credential's role.
pub async fn add_message<P: Ports>(State(service): Service<P>, action: TicketAction) -> Response {
    let TicketAction { collection, number, read, .. } = &action;
    let (credential, sent) = (action.credential(), action.sent());
    let read = read.clone();
    let draft = match &read {
        Ok((Sent::Form, bytes)) => form_value(bytes, "message"),
        _ => String::new(),
    };
    let text = read.and_then(|(sent, bytes)| match sent {
        Sent::Json => conversation::message_from_json(&bytes),
        Sent::Form => conversation::message_from_form(&bytes),
    });
    let added = service.add_message(collection, number, credential, text).await;
    match &added {
        Ok(_) => crate::telemetry::message_added(),
        Err(ConversationError::RateLimited { policy, .. }) => crate::telemetry::rate_limited(policy),
        Err(_) => {}
    }
    match (added, sent) {
        (Ok(added), Sent::Json) => {
            let ticket_number = number.parse().unwrap_or_default();
            json(
                StatusCode::CREATED,
                &AddedBody { ticket_number, status: added.status.as_str(), entry: (&added.entry).into() },
            )
        }
        (Ok(added), Sent::Form) => {
            let query = link_query(credential).unwrap_or_default();
            back_to_page(service.public_base_url(), collection, number, &query, &format!("#entry-{}", added.entry.seq))
        }
        (Err(e), Sent::Form) => refused_form(&service, collection, number, credential, e.into(), &draft).await,
        (Err(e), Sent::Json) => problem(e),
    }
}

/// `POST /ticket/{collectionId}/{ticketNumber}/status`: resolve, close or reopen, as the role may.
pub async fn set_status<P: Ports>(State(service): Service<P>, action: TicketAction) -> Response {
    let TicketAction { collection, number, read, .. } = &action;
    let (credential, sent) = (action.credential(), action.sent());
    let request = read.clone().and_then(|(sent, bytes)| match sent {
        Sent::Json => conversation::status_from_json(&bytes),
        Sent::Form => conversation::status_from_form(&bytes),
    });
    let set = service.set_status(collection, number, credential, request).await;
    if let Err(ConversationError::RateLimited { policy, .. }) = &set {
        crate::telemetry::rate_limited(policy);
    }
    match (set, sent) {
        (Ok(set), Sent::Json) => json(
            StatusCode::OK,
            &StatusBody {
                ticket_number: number.parse().unwrap_or_default(),
                status: set.status.as_str(),
                changed: set.changed,
            },
        ),
        (Ok(_), Sent::Form) => {
            let query = link_query(credential).unwrap_or_default();
            back_to_page(service.public_base_url(), collection, number, &query, "#status")
        }
        (Err(e), Sent::Form) => refused_form(&service, collection, number, credential, e.into(), "").await,
        (Err(e), Sent::Json) => problem(e),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RotatedBody<'a> {
    ticket_number: u64,
    private_url: &'a str,
    team_url: &'a str,
}

/// `POST /ticket/{collectionId}/{ticketNumber}/links`: new links for the ticket, the old ones revoked; for the
/// team. JSON (`{}`) is answered with the new links; the team page's form is sent on to its new link (303).
pub async fn rotate_links<P: Ports>(State(service): Service<P>, action: TicketAction) -> Response {
    let TicketAction { collection, number, read, .. } = &action;
    let (credential, sent) = (action.credential(), action.sent());
    let request = read.clone().and_then(|(sent, bytes)| match sent {
        Sent::Json => conversation::nothing_from_json(&bytes),
        // The form's fields are its button's: nothing to read.
        Sent::Form => Ok(()),
    });
    let rotated = match service.rotate_links(collection, number, credential, request).await {
        Ok(rotated) => rotated,
        Err(e) => {
            if let ConversationError::RateLimited { policy, .. } = &e {
                crate::telemetry::rate_limited(policy);
            }
            return match sent {
                Sent::Form => refused_form(&service, collection, number, credential, e.into(), "").await,
                Sent::Json => problem(e),
            };
        }
    };
    match sent {
        Sent::Json => json(
            StatusCode::OK,
            &RotatedBody {
                ticket_number: rotated.ticket_number,
                private_url: &rotated.private_url,
                team_url: &rotated.team_url,
            },
        ),
        Sent::Form => match HeaderValue::from_str(&format!("{}#links", rotated.team_url)) {
            Ok(location) => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                response.headers_mut().insert(header::LOCATION, location);
                private(response)
            }
            Err(_) => problem(ApiError::NotFound),
        },
    }
}

/// One field of a form body, for showing it again (the text a person wrote, on a refusal).
fn form_value(body: &[u8], name: &str) -> String {
    form_urlencoded::parse(body).find(|(n, _)| n == name).map(|(_, v)| v.replace("\r\n", "\n")).unwrap_or_default()
}

/// The query of the team's list.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedTicket<'a> {
    ticket_number: u64,
    title: &'a str,
    status: &'static str,
    user_email: &'a str,
    created_at: &'a str,
    last_activity_at: &'a str,
    entries: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<'a> {
    tickets: Vec<ListedTicket<'a>>,
    next_cursor: Option<String>,
}

/// `GET /ticket/{collectionId}?status=open&limit=20&cursor=…`: the collection's tickets of one status, newest
/// activity first, for an API key granted the collection.
pub async fn list<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let collection = path.map(|Path(c)| c).unwrap_or_default();
    let key = single(&headers, "x-api-key");
    let parsed =
        query.map_err(|_| ConversationError::InvalidQuery("the query string does not decode")).and_then(|Query(q)| {
            let status = match q.status.as_deref() {
                None => TicketStatus::Open,
                Some(raw) => TicketStatus::parse(raw)
                    .ok_or(ConversationError::InvalidQuery("status is open, resolved or closed"))?,
            };
            let limit = match q.limit.as_deref() {
                None => DEFAULT_PAGE,
                Some(raw) => raw
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or(ConversationError::InvalidQuery("limit is a whole number from 1 to 100"))?,
            };
            let cursor = match q.cursor.as_deref() {
                None => None,
                Some(raw) => Some(
                    ListCursor::decode(raw).ok_or(ConversationError::InvalidQuery("cursor is not one a page gave"))?,
                ),
            };
            Ok(ListRequest { status, limit, cursor })
        });
    match service.list_tickets(&collection, key, parsed).await {
        Ok(page) => json(
            StatusCode::OK,
            &ListBody {
                tickets: page
                    .tickets
                    .iter()
                    .map(|t| ListedTicket {
                        ticket_number: t.ticket_number,
                        title: t.title.as_str(),
                        status: t.status.as_str(),
                        user_email: t.user_email.as_str(),
                        created_at: &t.created_at,
                        last_activity_at: &t.last_activity_at,
                        entries: t.entries,
                    })
                    .collect(),
                next_cursor: page.next.map(|c| c.encode()),
            },
        ),
        Err(e) => problem(e),
    }
}
