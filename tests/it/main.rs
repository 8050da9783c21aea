//! The integration tests: one binary, a module per capability, the shared helpers in `helpers` (compiled and
//! linked once, as zero-to-production's `tests/api/` does). Run through `make test`, which starts DynamoDB
//! Local, the SES v2 stand-in and moto on 127.0.0.1 first; the tests that need them say so when they are missing.

mod helpers;

mod abuse_limits;
mod architecture;
mod attachments;
mod aws_adapters;
mod browser;
mod clients;
mod clock;
mod conformance;
mod conversation;
mod delivery;
mod end_to_end;
mod faults;
mod feedback;
mod hostile_input;
mod hostile_mail;
mod http_events;
mod idempotency;
mod inbound_smtp;
mod inbox;
mod lambda_runtime;
mod links;
mod log_secrecy;
mod members;
mod openapi;
mod outbox;
mod private_view;
mod readme;
mod replies;
mod reply_corpus;
mod round_trips;
mod template;
mod thread_pages;
mod ticketctl;
mod tls;
mod validation;
mod validation_properties;
mod webhooks;
