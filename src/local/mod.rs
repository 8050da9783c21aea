//! The local stand-ins for what AWS runs around the function, for `make run` and the tests. Each hands the
//! function the very events Lambda would, through `driving::Function::invoke`: the event source mapping on the
//! tickets table's stream (`stream`), the sweep's schedule (below), SES's event publishing (`ses`), the queue of
//! replies' receipts (`queue`), which the stand-in of SES receiving sends each received message to, beside
//! Lambda's Invoke API (`invoke`), GuardDuty's malware scan of the files (`scan`); and `serve`, which runs them
//! all beside the API for `make run`.

mod invoke;
mod queue;
pub mod scan;
mod serve;
mod ses;
mod stream;

pub use invoke::invoke_api;
pub use queue::LocalQueue;
pub use serve::serve;

pub use ses::{
    SIMULATOR_BOUNCE, SIMULATOR_COMPLAINT, SesEventKind, SesEventsStandIn, run_ses_events, ses_event, ses_events,
    sqs_batch,
};
pub use stream::{StartAt, StreamPoller};

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_http::Context;
use serde_json::Value;

use crate::domain::Now;
use crate::domain::random::random_hex;
use crate::driving::Function;
use crate::ports::Ports;

/// The schedule's stand-in: invokes the function with EventBridge's scheduled event every `interval`.
pub async fn run_schedule<P: Ports>(function: Arc<Function<P>>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = function.invoke(&scheduled_event(), context()).await {
            tracing::warn!(error = %e, "the sweep failed; the next one tries again");
        }
    }
}

/// The context of a local invocation: a fresh request id, no deadline.
pub fn context() -> Context {
    let mut context = Context::default();
    context.request_id = random_hex::<16>();
    context
}

/// EventBridge's scheduled event, as the schedule in `template.yaml` sends it.
pub fn scheduled_event() -> Value {
    serde_json::json!({
        "version": "0",
        "id": random_hex::<16>(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": Now::at(SystemTime::now()).rfc3339(),
        "region": "us-east-1",
        "resources": [],
        "detail": {}
    })
}

/// Appends `line` to the dead-letter file at `path` (JSON Lines), if there is one.
fn append_line(path: Option<&Path>, line: &Value) {
    let Some(path) = path else { return };
    let write = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()));
    if let Err(e) = write {
        tracing::warn!(error = %e, path = %path.display(), "could not write the dead-letter file");
    }
}
