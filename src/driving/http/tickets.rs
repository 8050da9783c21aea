//! A collection's tickets over HTTP, for its API keys: `POST /ticket/{collectionId}` creates one (what the
//! request says, handed to the service in one call), `GET /ticket/{collectionId}` lists them by status.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, insert_rate_limit_headers};
use super::respond::{json, problem};
use crate::domain::conversation::ListCursor;
use crate::domain::input::MAX_BODY_BYTES;
use crate::domain::{Email, IdempotencyKey, InputError, NewTicket, TicketStatus};
use crate::ports::Ports;
use crate::service::{ConversationError, ListRequest, TicketService};
use crate::telemetry;

/// The success body, exactly as the customer's document shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedBody<'a> {
    ticket_number: u64,
    private_url: &'a str,
}

pub async fn create<P: Ports>(
    State(service): State<Arc<TicketService<P>>>,
    // A path the extractor cannot decode (invalid UTF-8 once percent-decoded) names no collection: it gets the
    // same problem as any other id no key is granted, never a plain-text rejection.
    collection: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let collection = collection.map(|Path(id)| id).unwrap_or_default();
    let idempotency = idempotency_key(&headers);
    let input = read_input(&headers, body, idempotency.is_err()).await;
    match service.create(single(&headers, "x-api-key"), &collection, input, idempotency.unwrap_or_default()).await {
        Ok(created) => {
            let body = CreatedBody { ticket_number: created.ticket_number, private_url: &created.private_url };
            let location = HeaderValue::from_str(&created.private_url).expect("private URLs are ASCII");
            let mut response = (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json")), (header::LOCATION, location)],
                serde_json::to_vec(&body).expect("the created body serialises"),
            )
                .into_response();
            if created.replayed {
                response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            if let Some(quota) = &created.quota {
                insert_rate_limit_headers(response.headers_mut(), quota, quota.tightest().0);
            }
            if !created.replayed {
                telemetry::ticket_created();
            }
            response
        }
        Err(e) => {
            let error = ApiError::from(e);
            telemetry::create_refused(error.code());
            if let ApiError::RateLimited(quota) = &error
                && let Some(policy) = quota.exceeded()
            {
                telemetry::rate_limited(policy.name());
            }
            error.into_response()
        }
    }
}

/// The `Idempotency-Key` header: absent, or valid and sent once; `Err` for anything else.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ()> {
    match headers.get_all("idempotency-key").iter().count() {
        0 => Ok(None),
        _ => single(headers, "idempotency-key").and_then(IdempotencyKey::parse).map(Some).ok_or(()),
    }
}

/// Content type, then size, then the idempotency key, then JSON and field rules. The body is read whatever the
/// API key says, but at most 128 KiB of it, and the service decides which problem the caller hears about first.
async fn read_input(headers: &HeaderMap, body: Body, bad_idempotency_key: bool) -> Result<NewTicket, InputError> {
    let is_json = single(headers, header::CONTENT_TYPE.as_str())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(InputError::UnsupportedMediaType);
    }
    let declared = single(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(InputError::TooLarge);
    }
    // On Lambda the body is already in memory, so the only way this read fails is by passing the limit.
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| InputError::TooLarge)?;
    if bad_idempotency_key {
        return Err(InputError::InvalidIdempotencyKey);
    }
    NewTicket::from_json(&bytes)
}

/// The value of a header sent exactly once; a missing, repeated or non-text header counts as absent.
pub(super) fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        _ => None,
    }
}

/// The query of the team's list.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    /// A member's address, or `none`: only the tickets assigned to them, or to nobody.
    assignee: Option<String>,
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
    /// The member who owns it; `null`: nobody.
    assignee: Option<&'a str>,
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
    State(service): State<Arc<TicketService<P>>>,
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
            let assignee = match q.assignee.as_deref().map(str::trim) {
                None => None,
                Some("none") => Some(None),
                Some(raw) => Some(Some(
                    Email::parse(raw)
                        .map_err(|_| ConversationError::InvalidQuery("assignee is a member's address, or none"))?,
                )),
            };
            Ok(ListRequest { status, limit, cursor, assignee })
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
                        assignee: t.assignee.as_ref().map(|m| m.as_str()),
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
