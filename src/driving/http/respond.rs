//! How every answer about a ticket is sent: private (never cached, indexed or sent on as a referrer: the URL
//! carries a key), as the page (HTML with a policy that lets nothing load or run but its own stylesheet), as JSON,
//! or as problem+json.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::page::STYLE;

/// Nothing may load or run but the page's own stylesheet, named by its hash: no scripts, no images, no frames,
/// no base URL; its forms post only to this site.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ))
    .expect("the policy is ASCII")
});

/// The private headers of every answer about a ticket: the URL carries a key.
pub(super) fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A page.
pub(super) fn html(status: StatusCode, page: String) -> Response {
    let mut response =
        (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], page).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY.clone());
    private(response)
}

pub(super) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let body = serde_json::to_vec(body).expect("the body serialises");
    private((status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// A problem, private like every answer about a ticket.
pub(super) fn problem(e: impl Into<ApiError>) -> Response {
    private(e.into().into_response())
}

/// A redirect (303) to `location`, private: the location carries a key.
pub(super) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            private(response)
        }
        Err(_) => problem(ApiError::NotFound),
    }
}

/// JSON when the client asks for it and does not ask for HTML (browsers always list text/html).
pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    accept.contains("application/json") && !accept.contains("text/html")
}
