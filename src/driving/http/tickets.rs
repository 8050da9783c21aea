//! `POST /ticket/{collectionId}`: reads what the request says and hands it to the service in one call.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{ApiError, insert_rate_limit_headers};
use crate::domain::new_ticket::MAX_BODY_BYTES;
use crate::domain::{IdempotencyKey, InputError, NewTicket};
use crate::ports::Ports;
use crate::service::TicketService;

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
                crate::telemetry::ticket_created();
            }
            response
        }
        Err(e) => {
            let error = ApiError::from(e);
            crate::telemetry::create_refused(error.code());
            if let ApiError::RateLimited(quota) = &error
                && let Some(policy) = quota.exceeded()
            {
                crate::telemetry::rate_limited(policy.name());
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
