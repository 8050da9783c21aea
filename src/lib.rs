//! ticket-api: support-ticket intake as one AWS Lambda behind API Gateway, and the deliverer of its e-mails.
//!
//! `driving` is what calls the application: one `Function`, a door per event source (API Gateway requests to
//! the axum Router in `driving::http`, the tickets table's stream, the sweep's schedule, SES's events from
//! their queue, SES receiving's replies), each recognised by its source field. `service` holds the use cases,
//! one module each, each the one place that orders its steps (`create`, `conversation`, `inbound`, `delivery`,
//! `feedback`, `webhooks`), over `domain`'s types. `ports` are the traits the service calls, bundled in one
//! `Ports` parameter (store, mailer, pepper, clock, inbox, webhooks); `driven` implements them on DynamoDB, SES
//! v2, Secrets Manager, S3, hyper and the system clock, and in memory. `schema` is the tables' layout, `compose`
//! wires it, `config` reads every variable, `local` stands in for AWS around it. driving → service → domain ← driven.

pub mod compose;
pub mod config;
pub mod domain;
pub mod driven;
pub mod driving;
pub mod local;
pub mod ports;
pub mod schema;
pub mod service;
pub mod telemetry;
