//! A ticket's conversation over HTTP: the page (and JSON) a link opens, a new message, a status change and new
//! links, each for the role the request's credential gives (`credential`). Browsers post HTML forms (`forms`) and
//! are sent back to the page (303), or shown it again with the reason; JSON clients get JSON or problem+json.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::Service;
use super::credential::{Keys, credential, link_query};
use super::error::ApiError;
use super::forms::{Sent, TicketAction};
use super::page;
use super::respond::{html, json, problem, see_other, wants_json};
use crate::domain::inbound::Attachment;
use crate::domain::{CustomTags, Entry, Role, TicketStatus};
use crate::ports::Ports;
use crate::service::{Conversation, ConversationError, Credential, TicketService};
use crate::telemetry;

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
    /// A reply that came by e-mail: (for the team) its sender, and the attachments left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    by_email: Option<ByEmailBody<'a>>,
    /// The files the message carries, each with its download link for the viewer's own credential.
    attachments: Vec<FileBody<'a>>,
    /// (For the team) the member who wrote it, when a member did.
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
    /// (For the team) an assignment: to whom (`null`: nobody), and from whom.
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned: Option<AssignmentBody<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentBody<'a> {
    to: Option<&'a str>,
    from: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileBody<'a> {
    id: &'a str,
    file_name: &'a str,
    content_type: &'a str,
    size: u64,
    url: String,
}

/// Where a viewer downloads a ticket's files: the ticket's URL and the query of the viewer's credential (none
/// for an API key, which is sent as its header).
pub(super) struct FileLinks {
    ticket: String,
    query: Option<String>,
}

impl FileLinks {
    pub(super) fn new(base: &str, collection: &str, number: &str, credential: Credential<'_>) -> Self {
        Self { ticket: format!("{base}/ticket/{collection}/{number}"), query: link_query(credential) }
    }

    pub(super) fn url(&self, file_id: &str) -> String {
        match &self.query {
            Some(query) => format!("{}/attachments/{file_id}?{query}", self.ticket),
            None => format!("{}/attachments/{file_id}", self.ticket),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ByEmailBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    /// Attachments past the caps, not kept as files: listed by name and size, and counted past the list.
    left_out: &'a [Attachment],
    more_left_out: u32,
    truncated: bool,
    /// For the team: the sender's domain did not vouch for it (DMARC).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unauthenticated: bool,
}

impl<'a> EntryBody<'a> {
    /// An entry as `team` (or the requester) sees it: only the team sees who sent a reply by e-mail.
    fn of(e: &'a Entry, team: bool, links: &FileLinks) -> Self {
        EntryBody {
            seq: e.seq,
            at: &e.at,
            author: e.author.as_str(),
            message: e.message.as_ref().map(|m| m.as_str()),
            status: e.status.map(TicketStatus::as_str),
            by: e.by.as_ref().filter(|_| team).map(|m| m.as_str()),
            assigned: e.assigned.as_ref().filter(|_| team).map(|a| AssignmentBody {
                to: a.to.as_ref().map(|m| m.as_str()),
                from: a.from.as_ref().map(|m| m.as_str()),
            }),
            by_email: e.by_email.as_ref().map(|b| ByEmailBody {
                from: team.then(|| b.from.as_str()),
                left_out: &b.left_out,
                more_left_out: b.more_left_out,
                truncated: b.truncated,
                unauthenticated: team && b.unauthenticated,
            }),
            attachments: e
                .attachments
                .iter()
                .map(|f| FileBody {
                    id: &f.id,
                    file_name: &f.file_name,
                    content_type: &f.content_type,
                    size: f.size,
                    url: links.url(&f.id),
                })
                .collect(),
        }
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
    custom_tags: Option<&'a CustomTags>,
    /// (For the team) the member who owns the ticket; `null`: nobody.
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<Option<&'a str>>,
    /// How many entries the whole thread has.
    entries: u32,
    thread: Vec<EntryBody<'a>>,
    /// When earlier entries exist: the `before` that reads the page ending where this one begins.
    #[serde(skip_serializing_if = "Option::is_none")]
    earlier: Option<u32>,
}

impl<'a> ConversationBody<'a> {
    fn of(c: &'a Conversation, links: &FileLinks) -> Self {
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
            assignee: team.then(|| t.assignee.as_ref().map(|m| m.as_str())),
            entries: t.entries,
            thread: c.thread.iter().map(|e| EntryBody::of(e, team, links)).collect(),
            earlier: c.earlier,
        }
    }
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssignedBody<'a> {
    ticket_number: u64,
    assignee: Option<&'a str>,
    changed: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RotatedBody<'a> {
    ticket_number: u64,
    private_url: &'a str,
    team_url: &'a str,
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
    let links = FileLinks::new(service.public_base_url(), &collection, &number, credential);
    match link_query(credential) {
        Some(query) if !wants_json(&headers) => html(StatusCode::OK, page::render(&conversation, &query, None, "")),
        _ => json(StatusCode::OK, &ConversationBody::of(&conversation, &links)),
    }
}

/// Back to the page after a form post (303), the new entry in view.
fn back_to_page(service_base: &str, collection: &str, number: &str, query: &str, fragment: &str) -> Response {
    see_other(&format!("{service_base}/ticket/{collection}/{number}?{query}{fragment}"))
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
            let mut response = html(error.status(), page::render(&conversation, &query, Some(reason), draft));
            error.insert_headers(response.headers_mut());
            response
        }
        Err(e) => problem(e),
    }
}

/// `POST /ticket/{collectionId}/{ticketNumber}/messages`: a new message by the credential's role.
pub async fn add_message<P: Ports>(State(service): Service<P>, action: TicketAction) -> Response {
    let (collection, number) = (&action.collection, &action.number);
    let (credential, sent) = (action.credential(), action.sent());
    let (reply, draft) = action.reply();
    let added = service.add_message(collection, number, credential, reply).await;
    match &added {
        Ok(_) => telemetry::message_added(),
        Err(ConversationError::RateLimited { policy, .. }) => telemetry::rate_limited(policy),
        Err(_) => {}
    }
    match (added, sent) {
        (Ok(added), Sent::Json) => {
            let ticket_number = number.parse().unwrap_or_default();
            let links = FileLinks::new(service.public_base_url(), collection, number, credential);
            let entry = EntryBody::of(&added.entry, false, &links);
            json(StatusCode::CREATED, &AddedBody { ticket_number, status: added.status.as_str(), entry })
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
    let (collection, number) = (&action.collection, &action.number);
    let (credential, sent) = (action.credential(), action.sent());
    let set = service.set_status(collection, number, credential, action.status()).await;
    if let Err(ConversationError::RateLimited { policy, .. }) = &set {
        telemetry::rate_limited(policy);
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

/// `POST /ticket/{collectionId}/{ticketNumber}/assignee`: assigns the ticket to a member of the team
/// (`{"assignee": "<member address>"}`) or to nobody (`null`); for the team. The page's form comes back to the page.
pub async fn assign<P: Ports>(State(service): Service<P>, action: TicketAction) -> Response {
    let (collection, number) = (&action.collection, &action.number);
    let (credential, sent) = (action.credential(), action.sent());
    let assigned = service.assign(collection, number, credential, action.assignment()).await;
    if let Err(ConversationError::RateLimited { policy, .. }) = &assigned {
        telemetry::rate_limited(policy);
    }
    match (assigned, sent) {
        (Ok(a), Sent::Json) => json(
            StatusCode::OK,
            &AssignedBody {
                ticket_number: a.ticket_number,
                assignee: a.assignee.as_ref().map(|m| m.as_str()),
                changed: a.changed,
            },
        ),
        (Ok(_), Sent::Form) => {
            let query = link_query(credential).unwrap_or_default();
            back_to_page(service.public_base_url(), collection, number, &query, "#assignee")
        }
        (Err(e), Sent::Form) => refused_form(&service, collection, number, credential, e.into(), "").await,
        (Err(e), Sent::Json) => problem(e),
    }
}

/// `POST /ticket/{collectionId}/{ticketNumber}/links`: new links for the ticket (`{"role": "requester" | "team"}`,
/// both by default), the old ones revoked; for the team. JSON is answered with the links as they are now; the team
/// page's form is sent on to the team's link (303).
pub async fn rotate_links<P: Ports>(State(service): Service<P>, action: TicketAction) -> Response {
    let (collection, number) = (&action.collection, &action.number);
    let (credential, sent) = (action.credential(), action.sent());
    let rotated = match service.rotate_links(collection, number, credential, action.rotation()).await {
        Ok(rotated) => rotated,
        Err(e) => {
            if let ConversationError::RateLimited { policy, .. } = &e {
                telemetry::rate_limited(policy);
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
        Sent::Form => see_other(&format!("{}#links", rotated.team_url)),
    }
}
