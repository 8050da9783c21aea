//! Helpers shared by the tests: the events/ fixtures, an app on in-memory ports, the local AWS stand-ins that
//! `make test` starts (DynamoDB Local, the SES v2 stand-in, moto), `ticketctl`, faults on purpose, and the
//! allocator that measures a piece of work's memory.

mod alloc;
mod ctl;
mod faults;
mod fixtures;
mod memory;
mod stack;
mod tls;

pub use alloc::peak_heap;
pub use ctl::*;
pub use faults::*;
pub use fixtures::*;
pub use memory::*;
pub use stack::*;
pub use tls::*;

// The store's ports, so that a test can call them on a store without naming each.
pub use ticket_api::ports::{
    Clock, CollectionStore, IdempotencyStore, KeyStore, LimitStore, OutboxStore, SuppressionStore, TicketStore,
};

#[global_allocator]
static ALLOCATOR: alloc::PerThread = alloc::PerThread;
