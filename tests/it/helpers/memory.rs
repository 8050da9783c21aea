//! The whole router on in-memory ports, and what a request through it answers.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use ticket_api::domain::DeliveryPolicy;
use ticket_api::driven::memory::{
    self, ManualClock, MemoryInbox, MemoryMailer, MemoryPorts, MemorySecrets, MemoryStore,
};
use ticket_api::driving::http::{App, app};
use ticket_api::service::TicketService;
use tower::ServiceExt;

use super::fixtures::*;

pub struct MemoryApp<B = lambda_http::Body> {
    pub app: App<B>,
    pub service: Arc<MemoryService>,
    pub store: MemoryStore,
    pub mailer: Arc<MemoryMailer>,
    pub secrets: Arc<MemorySecrets>,
    /// The service's clock: a test moves it to make a lease lapse, a retry come due or an hour turn.
    pub clock: ManualClock,
    /// Where SES receiving would have stored the messages a test hands the service.
    pub inbox: Arc<MemoryInbox>,
}

pub type MemoryService = TicketService<MemoryPorts>;

impl<B> MemoryApp<B> {
    /// Runs the sweep as the schedule would, with every pending e-mail due: delivers what the outbox holds.
    pub async fn deliver(&self) -> ticket_api::service::SweepReport {
        self.service
            .sweep(tokio::time::Instant::now() + Duration::from_secs(10))
            .await
            .expect("the memory store answers")
    }
}

/// Delivery rules for tests: e-mails are due for the sweep at once, retried after 100 ms, never paced.
pub fn prompt_delivery() -> DeliveryPolicy {
    DeliveryPolicy {
        lease: Duration::from_secs(5),
        sweep_after: Duration::ZERO,
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        max_send_rate: Some(10_000.0),
        send_budget: Duration::from_secs(1),
        ..DeliveryPolicy::default()
    }
}

/// The same, but leaving new e-mails to the stream for a minute: what reaches the mailbox came through it.
pub fn stream_delivery() -> DeliveryPolicy {
    DeliveryPolicy { sweep_after: Duration::from_secs(60), ..prompt_delivery() }
}

/// The whole router on in-memory ports, seeded with the event fixtures; notifications go to one address.
pub fn memory_app() -> MemoryApp {
    memory_app_at(BASE_URL)
}

/// The same, with private links pointing at `base_url`, for a body type of choice (`axum::body::Body` to
/// serve it with `axum::serve`).
pub fn memory_app_at<B>(base_url: &str) -> MemoryApp<B> {
    let ports = memory::ports(PEPPER);
    for c in fixture_collections(&["support@example.com"]) {
        ports.store.add_collection(c);
    }
    for (hash, record) in fixture_keys(&pepper()) {
        ports.store.add_key(&hash, record);
    }
    let (store, mailer, secrets, clock, inbox) =
        (ports.store.clone(), ports.mailer.clone(), ports.secrets.clone(), ports.clock.clone(), ports.inbox.clone());
    let service = Arc::new(
        TicketService::new(ports, base_url)
            .with_delivery(prompt_delivery())
            .with_inbound_domain(Some(INBOUND_DOMAIN.into()))
            .with_webhooks_loopback(ticket_api::domain::webhook::Loopback::AllowedOverHttp),
    );
    MemoryApp { app: app(service.clone()), service, store, mailer, secrets, clock, inbox }
}

/// What came back: status, headers and the body as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Reply {
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn call<B>(app: &App<B>, request: Request<B>) -> Reply
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = app.clone().oneshot(request).await.expect("the router is infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status: parts.status, headers: parts.headers, body, raw: String::from_utf8_lossy(&bytes).into_owned() }
}

/// A create request as the customer's document shows it, with a body of our choosing.
pub fn create_request(
    collection: &str,
    key: Option<&str>,
    content_type: &str,
    body: &str,
) -> Request<lambda_http::Body> {
    let mut builder = Request::post(format!("/ticket/{collection}")).header("content-type", content_type);
    if let Some(key) = key {
        builder = builder.header("x-api-key", key);
    }
    builder.body(lambda_http::Body::from(body.to_owned())).unwrap()
}

/// A create as a careful client makes it: with an Idempotency-Key, and tried again a second later with it after a
/// 503 (a busy machine, a create past the request's budget) or a 409 (its first try still running), ten tries at
/// most, so that no create is lost and none is made twice. The last answer's status.
pub async fn create_carefully(app: &App<lambda_http::Body>, requester: &str, idempotency_key: &str) -> StatusCode {
    let mut status = StatusCode::INTERNAL_SERVER_ERROR;
    for _ in 0..10 {
        let key = expected().keys.granted;
        let mut request = create_request("demo-collection", Some(&key), "application/json", &good_body(requester));
        request.headers_mut().insert("idempotency-key", idempotency_key.parse().unwrap());
        status = call(app, request).await.status;
        if status != StatusCode::SERVICE_UNAVAILABLE && status != StatusCode::CONFLICT {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    status
}

pub fn good_body(user: &str) -> String {
    serde_json::json!({"userEmail": user, "title": "Enquiry about pricing", "message": "Please explain about the pricing plans"})
        .to_string()
}
