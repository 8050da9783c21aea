//! `GET /ticket/{collectionId}/{ticketNumber}?key={ticketKey}`: the requester's private view, what `privateUrl`
//! opens. HTML for browsers (askama escapes everything the requester wrote), JSON for `Accept: application/json`.
//! A wrong or missing key is the same 404 as a missing ticket.

use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::ports::{Mailer, SecretSource, Store};
use crate::service::{TicketService, TicketView, ViewError};

const STYLE: &str = include_str!("../../templates/ticket.css");

/// Nothing may load or run but the page's own stylesheet, named by its hash: no scripts, no images, no frames,
/// no forms, no base URL.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ))
    .expect("the policy is ASCII")
});

#[derive(Template)]
#[template(path = "ticket.html")]
struct ViewPage<'a> {
    v: &'a TicketView,
    style: &'static str,
}

#[derive(Deserialize)]
pub struct KeyQuery {
    key: Option<String>,
}

pub async fn show<S: Store, M: Mailer, P: SecretSource>(
    State(service): State<Arc<TicketService<S, M, P>>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<KeyQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // A path that does not decode (invalid UTF-8) is one more way of naming no ticket: the same 404.
    let Ok(Path((collection, number))) = path else { return ApiError::NotFound.into_response() };
    let key = query.as_ref().ok().and_then(|Query(q)| q.key.as_deref());
    let view = match service.view(&collection, &number, key).await {
        Ok(view) => view,
        Err(ViewError::NotFound) => return ApiError::NotFound.into_response(),
        Err(ViewError::Unavailable(e)) => {
            tracing::warn!(error = %e, "dependency unavailable");
            return ApiError::Unavailable.into_response();
        }
    };
    let mut response = if wants_json(&headers) {
        let body = serde_json::to_vec(&view).expect("the view serialises");
        (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
    } else {
        let page = ViewPage { v: &view, style: STYLE }.render().expect("the ticket page renders");
        (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], page)
            .into_response()
    };
    let headers = response.headers_mut();
    // The URL carries the ticket key: never send it on as a referrer, never index or cache the page.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY.clone());
    response
}

/// JSON when the client asks for it and does not ask for HTML (browsers always list text/html).
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    accept.contains("application/json") && !accept.contains("text/html")
}
