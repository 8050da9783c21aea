//! ticket-api: support-ticket intake as one AWS Lambda behind API Gateway, and the deliverer of its e-mails.
//!
//! `entry` is the one door of every Lambda event: API Gateway requests go to `http` (one axum Router), the
//! tickets table's stream batches and the schedule to delivery, SES's events to `service::feedback`.
//! `POST /ticket/{collectionId}` flows inward: `http` reads the key and at most 128 KiB of JSON into a
//! `domain::NewTicket`; `service::create` orders the steps: API key (checksum, then its HMAC with the Secrets
//! Manager pepper looked up), grant, the two abuse-limit counts, one conditional `ADD` that takes the number,
//! one transaction that writes the ticket with the e-mails it owes (the outbox); 201. `service::delivery` sends
//! each e-mail from the stream or the sweep, moving its state only by conditional writes; SES's events move it
//! on (delivered, bounced, complained) and suppress addresses. `ports` are the traits; `aws` implements them on
//! DynamoDB, SES v2 and Secrets Manager, `memory` in memory; `local` stands in for the stream's mapping, the
//! schedule and SES's events. Every failure is one `http::ApiError`, rendered as problem+json in one place;
//! `telemetry` writes the metrics (EMF) at the end of each invocation. http → service → domain ← aws.

pub mod aws;
pub mod config;
pub mod domain;
pub mod entry;
pub mod http;
pub mod local;
pub mod memory;
pub mod ports;
pub mod service;
pub mod telemetry;
