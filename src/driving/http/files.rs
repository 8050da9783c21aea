//! Files over HTTP: an upload asked for (`POST /ticket/{collectionId}/uploads` for a create, with an API key;
//! `POST /ticket/{collectionId}/{ticketNumber}/uploads` for a reply, with any credential of the ticket), answered
//! with its id and the presigned form to post the file to S3 with; and a file's download
//! (`GET /ticket/{collectionId}/{ticketNumber}/attachments/{fileId}`), answered 302 to a presigned GET of minutes.

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Service;
use super::credential::{Keys, credential};
use super::error::ApiError;
use super::respond::{json, problem};
use super::tickets::single;
use crate::domain::InputError;
use crate::domain::Now;
use crate::domain::attachment::UploadRequest;
use crate::ports::{Download, Ports, Scan};
use crate::service::Upload;
use crate::telemetry;

/// The largest body of an upload request: three short fields.
const MAX_UPLOAD_REQUEST_BYTES: usize = 16 * 1024;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadBody<'a> {
    upload_id: &'a str,
    expires_at: String,
    form: FormBody<'a>,
}

#[derive(Serialize)]
struct FormBody<'a> {
    url: &'a str,
    fields: serde_json::Map<String, serde_json::Value>,
}

fn created(upload: &Upload) -> Response {
    let fields = upload.form.fields.iter().map(|(n, v)| (n.clone(), serde_json::Value::from(v.as_str()))).collect();
    let body = UploadBody {
        upload_id: &upload.upload_id,
        expires_at: Now::from_ms(upload.expires_at * 1000).rfc3339(),
        form: FormBody { url: &upload.form.url, fields },
    };
    telemetry::upload_granted();
    json(StatusCode::CREATED, &body)
}

/// The request's JSON: its media type, its size, then its fields.
async fn read_request(headers: &HeaderMap, body: Body) -> Result<UploadRequest, InputError> {
    let is_json = single(headers, header::CONTENT_TYPE.as_str())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(InputError::UnsupportedMediaType);
    }
    let bytes = axum::body::to_bytes(body, MAX_UPLOAD_REQUEST_BYTES).await.map_err(|_| InputError::TooLarge)?;
    UploadRequest::from_json(&bytes)
}

/// `POST /ticket/{collectionId}/uploads`: an upload for a create, for an API key granted the collection.
pub async fn request_create_upload<P: Ports>(
    State(service): Service<P>,
    collection: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let collection = collection.map(|Path(id)| id).unwrap_or_default();
    let request = read_request(&headers, body).await;
    match service.request_create_upload(single(&headers, "x-api-key"), &collection, request).await {
        Ok(upload) => created(&upload),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /ticket/{collectionId}/{ticketNumber}/uploads`: an upload for a reply, for any credential of the ticket.
pub async fn request_reply_upload<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Keys>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(Path((collection, number))) = path else { return problem(ApiError::NotFound) };
    let keys = query.map(|Query(k)| k).unwrap_or_default();
    let credential = match credential(&headers, &keys) {
        Ok(c) => c,
        Err(e) => return problem(e),
    };
    let request = read_request(&headers, body).await;
    match service.request_reply_upload(&collection, &number, credential, request).await {
        Ok(upload) => created(&upload),
        Err(e) => problem(e),
    }
}

/// `GET /ticket/{collectionId}/{ticketNumber}/attachments/{fileId}`: 302 to a presigned GET of minutes, for any
/// credential of the ticket; a file the scan has not cleared is a problem, never the file.
pub async fn download<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<Keys>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path((collection, number, file_id))) = path else { return problem(ApiError::NotFound) };
    let keys = query.map(|Query(k)| k).unwrap_or_default();
    let credential = match credential(&headers, &keys) {
        Ok(c) => c,
        Err(e) => return problem(e),
    };
    let download = match service.download(&collection, &number, &file_id, credential).await {
        Ok(download) => download,
        Err(e) => return problem(e),
    };
    telemetry::download(match &download {
        Download::Ready(_) => "served",
        Download::Held(Scan::Infected) => "infected",
        Download::Held(Scan::Pending) => "scanning",
        _ => "unscanned",
    });
    match download {
        Download::Ready(url) => {
            let Ok(location) = HeaderValue::from_str(&url) else { return problem(ApiError::Internal) };
            (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    // The presigned URL is a credential of minutes: kept out of caches and of referrers.
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
                ],
            )
                .into_response()
        }
        Download::Held(Scan::Pending) => problem(ApiError::FileScanning),
        Download::Held(Scan::Infected) => problem(ApiError::FileRefused { infected: true }),
        Download::Held(_) => problem(ApiError::FileRefused { infected: false }),
        Download::Missing => problem(ApiError::NotFound),
    }
}
