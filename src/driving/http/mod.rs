//! The HTTP surface: one axum `Router`, served by `lambda_http` on Lambda and by `axum::serve` locally.
//!
//! Layers, outermost first: the API Gateway stage is taken off the path (before routing), a request id is set
//! (the Lambda request id, or a new random one; never the caller's), requests are traced without query strings
//! or headers, the id is copied to the response, `ApiError`s become problem+json, a request past its budget is
//! a 503, and panics become a 500.

mod conversation;
mod credential;
pub mod error;
mod files;
mod forms;
mod inbox;
mod page;
mod respond;
mod tickets;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{self as http, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use tower::Layer;
use tower::util::MapRequestLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use error::ApiError;

use crate::domain::random::random_hex;
use crate::ports::Ports;
use crate::service::TicketService;

/// What every handler is handed: the service.
type Service<P> = axum::extract::State<Arc<TicketService<P>>>;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest a request may take before it is answered 503 (with `Retry-After`): under API Gateway's 30 s
/// integration timeout and the function's timeout in `template.yaml` (the template test keeps it so), so that the caller always gets the contract's
/// answer and the invocation ends with its logs and metrics, whatever the calls in it add up to. Every call is
/// already bounded (`Upstream`); this bounds their sum. What is cut short is what a crash would leave: a number
/// taken without its ticket (a gap), counts that expire with their hour, a claim that lapses with its lease.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(25);

/// The whole application as a service: the router behind the stage-stripping step. `B` is the request body
/// type of the server in front: `lambda_http::Body` on Lambda, `axum::body::Body` locally.
pub type App<B> = tower::util::MapRequest<Router, fn(http::Request<B>) -> http::Request<B>>;

/// Builds the application for a service, each request within `REQUEST_BUDGET`. Build it once per process.
pub fn app<B, P: Ports>(service: Arc<TicketService<P>>) -> App<B> {
    app_within(service, REQUEST_BUDGET)
}

/// The application with another request budget (the fault tests use a short one).
pub fn app_within<B, P: Ports>(service: Arc<TicketService<P>>, budget: Duration) -> App<B> {
    let strip: fn(http::Request<B>) -> http::Request<B> = strip_stage::<B>;
    MapRequestLayer::new(strip).layer(router(service, budget))
}

fn router<P: Ports>(service: Arc<TicketService<P>>, budget: Duration) -> Router {
    let router = Router::new()
        .route("/ticket/{collection_id}", post(tickets::create::<P>).get(tickets::list::<P>))
        .route("/ticket/{collection_id}/{ticket_number}", get(conversation::show::<P>))
        .route("/ticket/{collection_id}/uploads", post(files::request_create_upload::<P>))
        .route("/ticket/{collection_id}/{ticket_number}/uploads", post(files::request_reply_upload::<P>))
        .route("/ticket/{collection_id}/{ticket_number}/attachments/{file_id}", get(files::download::<P>))
        .route("/ticket/{collection_id}/{ticket_number}/messages", post(conversation::add_message::<P>))
        .route("/ticket/{collection_id}/{ticket_number}/status", post(conversation::set_status::<P>))
        .route("/ticket/{collection_id}/{ticket_number}/links", post(conversation::rotate_links::<P>))
        .route("/ticket/{collection_id}/{ticket_number}/assignee", post(conversation::assign::<P>))
        .route("/inbox/{collection_id}", get(inbox::show::<P>).post(inbox::bulk::<P>))
        .route("/ticket/{collection_id}/webhooks", get(webhooks::list::<P>).post(webhooks::add::<P>))
        .route("/ticket/{collection_id}/webhooks/{webhook_id}", axum::routing::delete(webhooks::remove::<P>))
        .route("/ticket/{collection_id}/webhooks/{webhook_id}/rotate-secret", post(webhooks::rotate_secret::<P>))
        .route("/ticket/{collection_id}/webhooks/{webhook_id}/enable", post(webhooks::enable::<P>))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(service);
    // A handler's panic answers the contract's 500 where panics unwind (the tests, debug builds). The release
    // build aborts on panic (Cargo.toml): the process ends before any layer could answer, and Lambda starts a
    // new one, so the layer is not compiled in there.
    #[cfg(panic = "unwind")]
    let router = router.layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| ApiError::Internal.into_response()));
    router
        .layer(axum::middleware::from_fn(move |request, next| within_budget(budget, request, next)))
        .layer(axum::middleware::from_fn(error::render_problems))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http()
                // Only method and path: a query string can carry a ticket key, headers carry the API key.
                .make_span_with(|req: &Request| {
                    let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(),
                        request_id = id.unwrap_or_default())
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(X_REQUEST_ID.clone(), LambdaOrRandomId))
        .layer(MapRequestLayer::new(|mut req: Request| {
            // The id is ours to give: a caller's own x-request-id is dropped so logs can be trusted.
            req.headers_mut().remove(&X_REQUEST_ID);
            req
        }))
}

/// Answers 503 when the request is not done within `budget`; what it was waiting on is dropped.
async fn within_budget(budget: Duration, request: Request, next: axum::middleware::Next) -> axum::response::Response {
    match tokio::time::timeout(budget, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?budget, "the request did not finish within its budget");
            ApiError::Unavailable.into_response()
        }
    }
}

/// The request id: the Lambda invocation's id when there is one, a random one otherwise.
#[derive(Clone, Copy)]
struct LambdaOrRandomId;

impl MakeRequestId for LambdaOrRandomId {
    fn make_request_id<B>(&mut self, request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = match request.extensions().lambda_context_ref() {
            Some(context) if !context.request_id.is_empty() => context.request_id.clone(),
            _ => random_hex::<16>(),
        };
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// API Gateway puts a named stage in front of the path (`/prod/ticket/…`); routes never include it.
fn strip_stage<B>(mut req: http::Request<B>) -> http::Request<B> {
    let stage = match req.extensions().request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.stage.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else { return req };
    let prefix = format!("/{stage}/");
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix(&prefix[..prefix.len() - 1]).filter(|rest| rest.starts_with('/')) {
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}
