//! The only place where outcomes become HTTP statuses: `ApiError`, rendered as RFC 9457 problem details.
//!
//! Handlers return an `ApiError` (it travels in the response's extensions); the `render_problems` middleware
//! turns it into `application/problem+json` with the request id, so every error of every route, the fallbacks
//! and caught panics included, has one shape.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::request_id::RequestId;

use crate::domain::input::MAX_BODY_BYTES;
use crate::domain::rate_limit::WINDOW_SECONDS;
use crate::domain::webhook::MAX_ENDPOINTS;
use crate::domain::{FieldError, InputError, Policy, Quota};
use crate::service::CreateError;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 2;
/// Seconds a client should wait before asking again for a file being scanned.
pub const SCANNING_RETRY_AFTER_SECONDS: u32 = 15;
/// Seconds a client should wait before retrying while the first request with its idempotency key runs.
pub const IN_PROGRESS_RETRY_AFTER_SECONDS: u32 = 1;

/// Every error outcome of the API. The `code` of each is stable and listed in docs/api.md, "Errors".
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    Unauthorized,
    /// A ticket's route with none of its three credentials.
    NoCredential,
    Forbidden,
    CollectionNotFound,
    TicketingDisabled,
    UnsupportedMediaType,
    PayloadTooLarge,
    InvalidJson {
        detail: String,
    },
    InvalidIdempotencyKey,
    ValidationFailed(Vec<FieldError>),
    IdempotencyKeyReused,
    IdempotencyInProgress,
    RateLimited(Quota),
    /// A status the role may not set.
    NotAllowed,
    TicketClosed,
    /// The ticket's thread holds the most entries it takes (`most`).
    ThreadFull {
        most: u32,
    },
    /// The replies and status changes one ticket takes through one of its links are used up for the hour.
    RepliesLimited {
        limit: u32,
        resets_in: u64,
        /// `per-ticket-replies` (the requester's link) or `per-ticket-team-link`.
        policy: &'static str,
    },
    InvalidQuery {
        detail: &'static str,
    },
    NotFound,
    MethodNotAllowed,
    /// The collection has the most webhook endpoints it takes.
    TooManyWebhooks,
    /// A file not yet cleared by the malware scan: asked again later, it may be.
    FileScanning,
    /// A file the malware scan found infected, or could not scan: never handed out.
    FileRefused {
        infected: bool,
    },
    Unavailable,
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::NoCredential => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::TicketingDisabled | ApiError::NotAllowed => StatusCode::FORBIDDEN,
            ApiError::TicketClosed | ApiError::ThreadFull { .. } | ApiError::TooManyWebhooks => StatusCode::CONFLICT,
            ApiError::FileScanning => StatusCode::CONFLICT,
            ApiError::FileRefused { .. } => StatusCode::FORBIDDEN,
            ApiError::RepliesLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidQuery { .. } => StatusCode::BAD_REQUEST,
            ApiError::CollectionNotFound | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidJson { .. } | ApiError::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            ApiError::ValidationFailed(_) | ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::IdempotencyInProgress => StatusCode::CONFLICT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized | ApiError::NoCredential => "unauthorized",
            ApiError::Forbidden | ApiError::NotAllowed => "forbidden",
            ApiError::TicketClosed => "ticket_closed",
            ApiError::ThreadFull { .. } => "thread_full",
            ApiError::RepliesLimited { .. } => "rate_limited",
            ApiError::InvalidQuery { .. } => "invalid_query",
            ApiError::CollectionNotFound => "collection_not_found",
            ApiError::TicketingDisabled => "ticketing_disabled",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::InvalidJson { .. } => "invalid_json",
            ApiError::InvalidIdempotencyKey => "invalid_idempotency_key",
            ApiError::ValidationFailed(_) => "validation_failed",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::IdempotencyInProgress => "idempotency_in_progress",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::TooManyWebhooks => "too_many_webhooks",
            ApiError::FileScanning => "file_scanning",
            ApiError::FileRefused { infected: true } => "file_infected",
            ApiError::FileRefused { infected: false } => "file_unscanned",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthorized | ApiError::NoCredential => "Unauthorized",
            ApiError::Forbidden | ApiError::NotAllowed => "Forbidden",
            ApiError::TicketClosed => "Ticket closed",
            ApiError::ThreadFull { .. } => "Thread full",
            ApiError::RepliesLimited { .. } => "Too many replies",
            ApiError::InvalidQuery { .. } => "Invalid query",
            ApiError::CollectionNotFound => "Collection not found",
            ApiError::TicketingDisabled => "Ticketing disabled",
            ApiError::UnsupportedMediaType => "Unsupported media type",
            ApiError::PayloadTooLarge => "Payload too large",
            ApiError::InvalidJson { .. } => "Invalid JSON",
            ApiError::InvalidIdempotencyKey => "Invalid Idempotency-Key",
            ApiError::ValidationFailed(_) => "Validation failed",
            ApiError::IdempotencyKeyReused => "Idempotency-Key reused",
            ApiError::IdempotencyInProgress => "Request in progress",
            ApiError::RateLimited(_) => "Too many tickets",
            ApiError::NotFound => "Not found",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::TooManyWebhooks => "Too many webhook endpoints",
            ApiError::FileScanning => "File being scanned",
            ApiError::FileRefused { infected: true } => "File infected",
            ApiError::FileRefused { infected: false } => "File not scanned",
            ApiError::Unavailable => "Service unavailable",
            ApiError::Internal => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            // One message for missing, malformed, unknown and revoked keys: no oracle.
            ApiError::Unauthorized => "A valid API key is required in the x-api-key header.".into(),
            ApiError::NoCredential => {
                "A key is required: the key of the private link, the teamKey of a team e-mail, or an x-api-key header."
                    .into()
            }
            ApiError::Forbidden => "This API key is not granted this collection.".into(),
            ApiError::NotAllowed => "This link or key may not set this status.".into(),
            ApiError::TicketClosed => "This ticket is closed and takes no more replies; the team can reopen it.".into(),
            ApiError::ThreadFull { most } => {
                format!("This ticket's thread holds {most} entries, the most it takes: open a new ticket to go on.")
            }
            ApiError::RepliesLimited { limit, .. } => format!(
                "This ticket takes {limit} replies or status changes per hour from this link; retry after the \
                 Retry-After delay."
            ),
            ApiError::InvalidQuery { detail } => format!("The query string is not valid: {detail}."),
            ApiError::CollectionNotFound => "The collection does not exist.".into(),
            ApiError::TicketingDisabled => "Ticketing is turned off for this collection.".into(),
            ApiError::UnsupportedMediaType => "The body must be sent with Content-Type: application/json.".into(),
            ApiError::PayloadTooLarge => {
                format!("The body must be at most {} bytes.", MAX_BODY_BYTES)
            }
            ApiError::InvalidJson { detail } => format!("The body is not a valid JSON object: {detail}."),
            ApiError::InvalidIdempotencyKey => {
                "The Idempotency-Key header must be 1 to 255 printable ASCII characters without commas, sent once."
                    .into()
            }
            ApiError::IdempotencyKeyReused => {
                "This Idempotency-Key was used for a different request; use a new key for a new ticket.".into()
            }
            ApiError::IdempotencyInProgress => {
                "A request with this Idempotency-Key is still being processed; retry after the Retry-After delay."
                    .into()
            }
            ApiError::RateLimited(quota) => match quota.exceeded() {
                Some(Policy::PerKey) => format!(
                    "This API key may create {} tickets per hour in this collection; retry after the Retry-After \
                     delay.",
                    quota.per_key.limit
                ),
                Some(Policy::NewRequesters) => format!(
                    "This collection's tickets may go to {} addresses new to the hour; retry after the Retry-After \
                     delay.",
                    quota.new_requesters.limit
                ),
                _ => format!(
                    "This address may open {} tickets per hour in this collection; retry after the Retry-After \
                     delay.",
                    quota.per_requester.limit
                ),
            },
            ApiError::ValidationFailed(errors) => {
                format!("{} field(s) of the body are invalid; see `errors`.", errors.len())
            }
            ApiError::NotFound => "There is nothing at this path.".into(),
            ApiError::MethodNotAllowed => "This path does not accept this method; see the Allow header.".into(),
            ApiError::TooManyWebhooks => {
                format!("The collection has {} webhook endpoints, the most it takes: remove one first.", MAX_ENDPOINTS)
            }
            ApiError::FileScanning => {
                "This file is being scanned for malware; it can be downloaded once cleared (usually within a \
                 minute): retry after the Retry-After delay."
                    .into()
            }
            ApiError::FileRefused { infected: true } => {
                "The malware scan found a threat in this file: it is kept from download, and the team was told.".into()
            }
            ApiError::FileRefused { infected: false } => {
                "The malware scan could not scan this file (an archive it cannot open, for one): it is kept from \
                 download."
                    .into()
            }
            ApiError::Unavailable => "A dependency is unavailable; retry after the Retry-After delay.".into(),
            ApiError::Internal => "An unexpected error occurred. Quote the requestId when reporting it.".into(),
        }
    }

    /// The problem+json response, keeping any headers already set (`Allow`, for one).
    fn render(&self, request_id: &str, mut response: Response) -> Response {
        let problem = Problem {
            kind: format!("urn:ticket-api:problem:{}", self.code()),
            title: self.title(),
            status: self.status().as_u16(),
            detail: self.detail(),
            code: self.code(),
            request_id,
            errors: match self {
                ApiError::ValidationFailed(errors) => Some(errors),
                _ => None,
            },
        };
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        let retry_after = match self {
            ApiError::Unavailable => Some(u64::from(RETRY_AFTER_SECONDS)),
            ApiError::IdempotencyInProgress => Some(u64::from(IN_PROGRESS_RETRY_AFTER_SECONDS)),
            ApiError::FileScanning => Some(u64::from(SCANNING_RETRY_AFTER_SECONDS)),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        self.insert_headers(headers);
        *response.body_mut() = serde_json::to_vec(&problem).expect("a problem serialises").into();
        response
    }
}

impl ApiError {
    /// The headers a refusal carries besides its body: when to retry a limit, and the limit's state.
    pub fn insert_headers(&self, headers: &mut HeaderMap) {
        match self {
            ApiError::RateLimited(quota) => {
                let policy = quota.exceeded().unwrap_or(Policy::PerRequester);
                insert_rate_limit_headers(headers, quota, policy);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(quota.resets_in));
            }
            ApiError::RepliesLimited { limit, resets_in, policy } => {
                let window = WINDOW_SECONDS;
                let current = format!("\"{policy}\";r=0;t={resets_in}");
                let policy = format!("\"{policy}\";q={limit};w={window}");
                headers.insert("ratelimit-policy", HeaderValue::from_str(&policy).expect("ASCII"));
                headers.insert("ratelimit", HeaderValue::from_str(&current).expect("ASCII"));
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*resets_in));
            }
            _ => {}
        }
    }

    /// What a person is told on the ticket's page when a form post is refused for a reason they can act on.
    pub fn page_reason(&self) -> Option<String> {
        Some(match self {
            ApiError::ValidationFailed(errors) => match errors.first() {
                Some(e) if e.field == "message" => format!("Your reply was not sent: the message {}.", e.message),
                Some(e) if e.field.starts_with("attachments") => format!("Your reply was not sent: {}.", e.message),
                Some(e) => format!("Nothing was changed: the {} {}.", e.field, e.message),
                None => "Your reply was not sent.".to_owned(),
            },
            ApiError::TicketClosed => "This ticket is closed: it takes no more replies.".to_owned(),
            ApiError::ThreadFull { .. } => "This ticket's thread is full: it takes no more replies.".to_owned(),
            ApiError::RepliesLimited { limit, resets_in, .. } => format!(
                "Not sent: this ticket takes {limit} replies or changes an hour from this link. Try again in {} \
                 minutes.",
                resets_in.div_ceil(60)
            ),
            ApiError::NotAllowed => "That change is not yours to make.".to_owned(),
            ApiError::PayloadTooLarge => {
                "Your reply was not sent: it is too long, or its files are over 4 MB in all (larger files can be \
                 sent by replying to the e-mail)."
                    .to_owned()
            }
            _ => return None,
        })
    }
}

/// The abuse limits as `RateLimit-Policy` (both limits) and `RateLimit` (the one named), in the syntax of the
/// IETF draft "RateLimit header fields for HTTP": `"per-key";q=1000;w=3600` and `"per-key";r=998;t=1800`.
pub fn insert_rate_limit_headers(headers: &mut HeaderMap, quota: &Quota, policy: Policy) {
    let window = WINDOW_SECONDS;
    let policies = Policy::ALL.map(|p| format!("\"{}\";q={};w={window}", p.name(), quota.usage(p).limit)).join(", ");
    let current = format!("\"{}\";r={};t={}", policy.name(), quota.usage(policy).remaining(), quota.resets_in);
    headers.insert("ratelimit-policy", HeaderValue::from_str(&policies).expect("ASCII"));
    headers.insert("ratelimit", HeaderValue::from_str(&current).expect("ASCII"));
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    code: &'static str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a Vec<FieldError>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::UnsupportedMediaType => ApiError::UnsupportedMediaType,
            InputError::TooLarge => ApiError::PayloadTooLarge,
            InputError::InvalidIdempotencyKey => ApiError::InvalidIdempotencyKey,
            e @ InputError::InvalidJson { .. } => ApiError::InvalidJson { detail: e.to_string() },
            InputError::Invalid(errors) => ApiError::ValidationFailed(errors),
        }
    }
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Unauthorized => ApiError::Unauthorized,
            CreateError::Forbidden => ApiError::Forbidden,
            CreateError::CollectionNotFound => ApiError::CollectionNotFound,
            CreateError::TicketingDisabled => ApiError::TicketingDisabled,
            CreateError::Input(input) => input.into(),
            CreateError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            CreateError::IdempotencyInProgress => ApiError::IdempotencyInProgress,
            CreateError::RateLimited(quota) => ApiError::RateLimited(quota),
            CreateError::Unavailable(e) => {
                tracing::warn!(error = %e, "dependency unavailable");
                ApiError::Unavailable
            }
            CreateError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                ApiError::Internal
            }
        }
    }
}

/// Renders any `ApiError` a handler, a fallback or the panic catcher left in a response.
pub async fn render_problems(request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut response = next.run(request).await;
    match response.extensions_mut().remove::<ApiError>() {
        Some(error) => error.render(&request_id, response),
        None => response,
    }
}
