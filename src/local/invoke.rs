//! Lambda's Invoke API on loopback, `POST /2015-03-31/functions/{name}/invocations`: how anyone hands the running
//! function an event of `events/` (docs/operations.md, "Deploy to AWS": `make invoke`); and beside it the queue of
//! replies' receipts, `POST /queues/replies` (SQS's `SendMessage`, its body the message), through which the local
//! stand-in of SES receiving (`tools/ses-receiving.py`) hands the function each receipt, as SES's S3 action's
//! notification reaches it through its topic and queue on AWS (`queue`).
//!
//! `X-Amz-Invocation-Type: Event` is answered 202 at once; the invocation runs after, and a failed one is tried
//! twice more (after 1 s, then 2 s: Lambda waits a minute, then two) and then written to the dead-letter file,
//! as the on-failure destination receives it on AWS. Otherwise (`RequestResponse`) the answer is the function's
//! result, or its error with `X-Amz-Function-Error: Unhandled`, as Lambda answers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::LocalQueue;

use crate::domain::random::random_hex;
use crate::driving::Function;
use crate::driving::ses_receipts::RECEIPTS_MAX_RECEIVES;
use crate::ports::Ports;

/// An asynchronous invocation's tries: the first and Lambda's two retries.
const ASYNC_TRIES: u32 = 3;

struct Invoker<P: Ports> {
    function: Arc<Function<P>>,
    dead_letters: Option<PathBuf>,
    replies: LocalQueue,
}

/// How long the local queue of replies keeps a receipt the function did not take before handing it over again:
/// shorter than on AWS (`RECEIPTS_VISIBILITY`), so that a reply waits seconds, not minutes, after a hiccup.
pub const LOCAL_RECEIPTS_VISIBILITY: Duration = Duration::from_secs(2);

/// The Invoke API's router for `function`; asynchronous invocations that fail three times, and receipts not
/// taken after `RECEIPTS_MAX_RECEIVES`, go to `dead_letters`.
pub fn invoke_api<P: Ports>(function: Arc<Function<P>>, dead_letters: Option<PathBuf>) -> axum::Router {
    let replies =
        LocalQueue::start(function.clone(), LOCAL_RECEIPTS_VISIBILITY, RECEIPTS_MAX_RECEIVES, dead_letters.clone());
    let invoker = Arc::new(Invoker { function, dead_letters, replies });
    axum::Router::new()
        .route("/2015-03-31/functions/{name}/invocations", axum::routing::post(invoke::<P>))
        .route("/queues/replies", axum::routing::post(send_reply::<P>).get(replies_in_flight::<P>))
        .with_state(invoker)
}

/// The queue's messages not taken yet (as SQS's `ApproximateNumberOfMessages`, with those in flight).
async fn replies_in_flight<P: Ports>(State(invoker): State<Arc<Invoker<P>>>) -> Response {
    json_body(&json!({"inFlight": invoker.replies.in_flight()})).into_response()
}

/// `SendMessage` to the queue of replies: the receipt goes to the function, and again while it is not taken.
async fn send_reply<P: Ports>(State(invoker): State<Arc<Invoker<P>>>, body: String) -> Response {
    invoker.replies.send(body);
    json_body(&json!({"MessageId": random_hex::<16>()})).into_response()
}

async fn invoke<P: Ports>(State(invoker): State<Arc<Invoker<P>>>, headers: HeaderMap, body: String) -> Response {
    let event: Value = match serde_json::from_str(&body) {
        Ok(event) => event,
        Err(e) => {
            let error = json!({"Type": "InvalidRequestContentException", "message": e.to_string()});
            return (StatusCode::BAD_REQUEST, json_body(&error)).into_response();
        }
    };
    let asynchronous =
        headers.get("x-amz-invocation-type").is_some_and(|t| t.as_bytes().eq_ignore_ascii_case(b"Event"));
    if asynchronous {
        tokio::spawn(async move { invoker.asynchronously(event).await });
        return StatusCode::ACCEPTED.into_response();
    }
    match invoker.function.invoke(&event, super::context()).await {
        Ok(answer) => json_body(&answer).into_response(),
        Err(e) => {
            let error = json!({"errorType": "Unhandled", "errorMessage": e.to_string()});
            ([("x-amz-function-error", "Unhandled")], json_body(&error)).into_response()
        }
    }
}

fn json_body(value: &Value) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], value.to_string())
}

impl<P: Ports> Invoker<P> {
    async fn asynchronously(&self, event: Value) {
        for attempt in 1..=ASYNC_TRIES {
            match self.function.invoke(&event, super::context()).await {
                Ok(_) => return,
                Err(e) if attempt < ASYNC_TRIES => {
                    tracing::warn!(error = %e, attempt, "asynchronous invocation failed; Lambda would try it again");
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "asynchronous invocation failed three times: to the dead letters");
                    // The shape of Lambda's on-failure destination record: the condition and the event itself.
                    let record = json!({
                        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": ASYNC_TRIES},
                        "responsePayload": {"errorMessage": e.to_string()},
                        "requestPayload": event,
                    });
                    super::append_line(self.dead_letters.as_deref(), &record);
                }
            }
        }
    }
}
