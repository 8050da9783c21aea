//! A collection's webhook endpoints through the API, for its API keys: `GET` and `POST
//! /ticket/{collectionId}/webhooks`, `DELETE /ticket/{collectionId}/webhooks/{webhookId}`, `POST
//! …/{webhookId}/rotate-secret` and `POST …/{webhookId}/enable`. The same as `ticketctl webhooks`; a secret is
//! shown once, when made; an endpoint added through the API is the key's, disabled when the key is revoked.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::Service;
use super::error::ApiError;
use super::respond::{json, private, problem};
use super::tickets::single;
use crate::domain::webhook::{Endpoint, EventType, MAX_URL_CHARS};
use crate::domain::{FieldCode, FieldError};
use crate::ports::Ports;
use crate::service::WebhookError;

/// The largest body of a new endpoint.
const MAX_BODY: usize = 8 * 1024;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EndpointBody<'a> {
    id: &'a str,
    url: &'a str,
    events: Vec<&'static str>,
    created_at: &'a str,
    /// A secret rotated within the day: deliveries carry two signatures.
    rotating: bool,
    /// Set when every delivery failed for days, or the key that added it was revoked: what it is owed is held
    /// until it is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_why: Option<&'a str>,
    /// When its deliveries started failing, with no success since.
    #[serde(skip_serializing_if = "Option::is_none")]
    failing_since: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

impl<'a> EndpointBody<'a> {
    fn of(e: &'a Endpoint, secret: Option<&'a str>) -> Self {
        EndpointBody {
            id: &e.id,
            url: &e.url,
            events: e.events.iter().map(|v| v.as_str()).collect(),
            created_at: &e.created_at,
            rotating: e.previous.is_some(),
            disabled_at: e.disabled_at.as_deref(),
            disabled_why: e.disabled_why.as_deref(),
            failing_since: e.failing_since.as_deref(),
            secret,
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::CollectionNotFound => ApiError::CollectionNotFound,
            WebhookError::EndpointNotFound => ApiError::NotFound,
            WebhookError::TooMany => ApiError::TooManyWebhooks,
            WebhookError::Url(why) => {
                ApiError::ValidationFailed(vec![FieldError::new("url", FieldCode::InvalidValue, why)])
            }
            WebhookError::Unavailable(e) => {
                tracing::warn!(error = %e, "dependency unavailable");
                ApiError::Unavailable
            }
        }
    }
}

fn collection_of(path: Result<Path<String>, PathRejection>) -> String {
    path.map(|Path(c)| c).unwrap_or_default()
}

pub async fn list<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let id = match service.authorize_key(&collection_of(path), single(&headers, "x-api-key")).await {
        Ok(id) => id,
        Err(e) => return problem(e),
    };
    match service.webhooks(&id).await {
        Ok(endpoints) => {
            let shown: Vec<EndpointBody> = endpoints.iter().map(|e| EndpointBody::of(e, None)).collect();
            json(StatusCode::OK, &serde_json::json!({ "webhooks": shown }))
        }
        Err(e) => problem(e),
    }
}

pub async fn add<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (id, key) = match service.authorize_key_record(&collection_of(path), single(&headers, "x-api-key")).await {
        Ok(authorized) => authorized,
        Err(e) => return problem(e),
    };
    let (url, events) = match read_new_endpoint(&headers, &body) {
        Ok(read) => read,
        Err(e) => return problem(e),
    };
    match service.add_webhook(&id, &url, events, service.webhooks_loopback(), Some(&key)).await {
        Ok(added) => json(StatusCode::CREATED, &EndpointBody::of(&added.endpoint, Some(&added.secret))),
        Err(e) => problem(e),
    }
}

pub async fn remove<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let (collection, webhook) = path.map(|Path(p)| p).unwrap_or_default();
    let id = match service.authorize_key(&collection, single(&headers, "x-api-key")).await {
        Ok(id) => id,
        Err(e) => return problem(e),
    };
    match service.remove_webhook(&id, &webhook).await {
        Ok(()) => private(StatusCode::NO_CONTENT.into_response()),
        Err(e) => problem(e),
    }
}

pub async fn rotate_secret<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let (collection, webhook) = path.map(|Path(p)| p).unwrap_or_default();
    let id = match service.authorize_key(&collection, single(&headers, "x-api-key")).await {
        Ok(id) => id,
        Err(e) => return problem(e),
    };
    match service.rotate_webhook_secret(&id, &webhook).await {
        Ok(secret) => json(StatusCode::OK, &serde_json::json!({ "id": webhook, "secret": secret })),
        Err(e) => problem(e),
    }
}

/// `POST …/webhooks/{webhookId}/enable`: the endpoint on again, what was held for it due at once.
pub async fn enable<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let (collection, webhook) = path.map(|Path(p)| p).unwrap_or_default();
    let id = match service.authorize_key(&collection, single(&headers, "x-api-key")).await {
        Ok(id) => id,
        Err(e) => return problem(e),
    };
    match service.enable_webhook(&id, &webhook).await {
        Ok(enabled) => json(
            StatusCode::OK,
            &serde_json::json!({ "id": webhook, "released": enabled.released, "expired": enabled.expired }),
        ),
        Err(e) => problem(e),
    }
}

/// `{"url": "https://…", "events": ["ticket.created", …]}`: the URL, and the events (none: all).
fn read_new_endpoint(headers: &HeaderMap, body: &[u8]) -> Result<(String, Vec<EventType>), ApiError> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(ApiError::UnsupportedMediaType);
    }
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson { detail: e.to_string() })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::InvalidJson { detail: "the body is not an object".into() });
    };
    let mut errors = Vec::new();
    for name in fields.keys().filter(|k| !matches!(k.as_str(), "url" | "events")) {
        errors.push(FieldError::new(name.clone(), FieldCode::UnknownField, "not a field of a webhook endpoint"));
    }
    let url = match fields.get("url") {
        None => {
            errors.push(FieldError::new("url", FieldCode::Required, "the endpoint's https URL is required"));
            String::new()
        }
        Some(Value::String(url)) if url.chars().count() > MAX_URL_CHARS => {
            errors.push(FieldError::new("url", FieldCode::TooLong, format!("at most {MAX_URL_CHARS} characters")));
            String::new()
        }
        Some(Value::String(url)) => url.clone(),
        Some(_) => {
            errors.push(FieldError::new("url", FieldCode::InvalidType, "a string"));
            String::new()
        }
    };
    let events = match fields.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            let parsed: Vec<Option<EventType>> = list.iter().map(|v| v.as_str().and_then(EventType::parse)).collect();
            if parsed.iter().any(Option::is_none) {
                errors.push(FieldError::new(
                    "events",
                    FieldCode::InvalidValue,
                    "each one of ticket.created, ticket.message.created, ticket.status.changed, mail.undeliverable",
                ));
            }
            parsed.into_iter().flatten().collect()
        }
        Some(_) => {
            errors.push(FieldError::new("events", FieldCode::InvalidType, "an array of event types"));
            Vec::new()
        }
    };
    match errors.is_empty() {
        true => Ok((url, events)),
        false => Err(ApiError::ValidationFailed(errors)),
    }
}
