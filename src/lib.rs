//! ticket-api: support-ticket intake as one AWS Lambda behind API Gateway.
//!
//! `POST /ticket/{collectionId}` flows inward: `http` (one axum Router; lambda_http serves it on Lambda,
//! axum::serve locally) reads the key header and at most 128 KiB of JSON into a `domain::NewTicket`;
//! `service` orders the steps: API key (checksum, then HMAC-SHA256 with the Secrets Manager pepper, looked up
//! in DynamoDB), grant, collection, one conditional `UpdateItem … ADD` that takes the next number, a conditional
//! `PutItem` that stores the ticket with its e-mails pending, the SES v2 e-mails sent concurrently, and one
//! `UpdateItem` that records their outcomes. 201 `{ticketNumber, privateUrl}`; every failure is one
//! `http::ApiError`, rendered as problem+json in one place.
//! `ports` holds the traits the service needs; `aws` implements them on DynamoDB, SES v2 and Secrets Manager,
//! `memory` in memory for fast tests. Dependencies point inward: http → service → domain ← aws.

pub mod aws;
pub mod config;
pub mod domain;
pub mod entry;
pub mod http;
pub mod local;
pub mod memory;
pub mod ports;
pub mod service;
