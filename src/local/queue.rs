//! A queue the function reads, on this machine, as SQS and Lambda's event source mapping do on AWS (`template.yaml`,
//! `RepliesQueue` and `RepliesMapping`): each message is handed to the function in a batch (of one here); while the
//! function names it among the batch's failures (or the invocation fails), it is handed over again after the
//! visibility timeout, up to the most receives, then written to the dead letters, as the dead-letter queue
//! receives it. SES receiving's stand-in (`tools/ses-receiving.py`) sends the receipts of replies here, through
//! `POST /queues/{name}` of the local Invoke API.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::domain::Now;
use crate::domain::random::random_hex;
use crate::driving::Function;
use crate::ports::Ports;

use super::{append_line, context};

/// A queue in front of the function; clones share it.
#[derive(Clone)]
pub struct LocalQueue {
    sender: mpsc::UnboundedSender<String>,
    /// Messages sent and not yet taken by the function nor dead-lettered (SQS's approximate count).
    in_flight: Arc<AtomicUsize>,
}

impl LocalQueue {
    /// Starts handing what is sent to `function`: a failed message is handed over again after `visibility`, up to
    /// `max_receives` times in all, then written to `dead_letters`.
    pub fn start<P: Ports>(
        function: Arc<Function<P>>,
        visibility: Duration,
        max_receives: u32,
        dead_letters: Option<PathBuf>,
    ) -> Self {
        let (sender, mut received) = mpsc::unbounded_channel::<String>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let done = in_flight.clone();
        tokio::spawn(async move {
            while let Some(body) = received.recv().await {
                let (function, dead_letters, done) = (function.clone(), dead_letters.clone(), done.clone());
                tokio::spawn(async move {
                    deliver(&function, body, visibility, max_receives, dead_letters).await;
                    done.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { sender, in_flight }
    }

    /// Sends one message, as `SendMessage` does.
    pub fn send(&self, body: String) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let _ = self.sender.send(body);
    }

    /// How many messages are sent and not yet taken nor dead-lettered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// One message's receives, until the function takes it or the most receives are spent.
async fn deliver<P: Ports>(
    function: &Function<P>,
    body: String,
    visibility: Duration,
    max_receives: u32,
    dead_letters: Option<PathBuf>,
) {
    let message_id = random_hex::<16>();
    for receive in 1..=max_receives {
        let event = batch_of_one(&message_id, &body, receive);
        let taken = match function.invoke(&event, context()).await {
            Ok(answer) => answer["batchItemFailures"].as_array().is_none_or(|failed| failed.is_empty()),
            Err(e) => {
                tracing::warn!(error = %e, "the queue's batch failed");
                false
            }
        };
        if taken {
            return;
        }
        if receive < max_receives {
            tracing::warn!(receive, "a queued message not taken: handed over again after its visibility timeout");
            tokio::time::sleep(visibility).await;
        }
    }
    tracing::error!(receives = max_receives, "a queued message not taken: to the dead letters");
    append_line(dead_letters.as_deref(), &json!({"messageId": message_id, "body": body, "receives": max_receives}));
}

/// A batch as the event source mapping hands it over: one record, with its receive count.
fn batch_of_one(message_id: &str, body: &str, receive: u32) -> Value {
    let now = Now::at(SystemTime::now()).ms().to_string();
    json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": random_hex::<32>(),
        "body": body,
        "attributes": {"ApproximateReceiveCount": receive.to_string(), "SentTimestamp": now,
                       "SenderId": "AIDASNS", "ApproximateFirstReceiveTimestamp": now},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ticket-api-local-RepliesQueue",
        "awsRegion": "us-east-1"
    }]})
}
