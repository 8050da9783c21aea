//! ticket-api: support-ticket intake as one AWS Lambda behind API Gateway, and the deliverer of its e-mails.
//!
//! `driving/` is what calls the application: one `Function`, a door per event source (API Gateway to the axum
//! Router of `driving/http/`, the tickets table's stream, the sweep's schedule, SES's events, SES receiving's
//! replies). `service/` holds the use cases, a module each ordering its steps (`create`, `conversation`, `inbound`,
//! `inbox`, `delivery`, `feedback`, `webhooks`; the operator's `collections`, `keys`, `operator`) over `domain/`'s
//! types (a collection's notification addresses are its team's `members`, each with keys of their own).
//! `ports/` are the traits it calls, bundled in one `Ports`; `driven/` implements them on DynamoDB, SES v2, Secrets
//! Manager, S3 and hyper, and in memory (`driven/memory/`, a file per store as in `driven/dynamodb/`). `schema` is
//! the tables' layout, `compose/` wires it all (and `ticketctl`'s `Operator`), `config` reads every variable,
//! `local/` stands in for AWS, `bin/` parses and prints. driving → service → domain ← driven.

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
