//! The function's one entry, two doors: every Lambda event is either an API Gateway request (for the axum
//! Router, through lambda_http's adapter) or work of its own: a batch of the tickets table's stream (e-mails
//! to deliver; the answer names the records to hand over again), the scheduled sweep, or an SES event
//! (delivered, bounced, complained) from the configuration set's EventBridge destination. Each invocation ends
//! by writing the metrics it recorded (`telemetry`). `main.rs` runs this on Lambda; the local server feeds it
//! the same events (`local`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service as _};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::aws::stream::work_of;
use crate::http::App;
use crate::ports::{Mailer, SecretSource, Store};
use crate::service::TicketService;

/// What the function keeps in front of its deadline to answer in time.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
/// The time an invocation gets when its context names no deadline (the local stand-ins).
const LOCAL_BUDGET: Duration = Duration::from_secs(20);

/// The function: the Router for requests, the service for the stream and the schedule. Built once per process.
pub struct Function<S, M, P> {
    app: App<lambda_http::Body>,
    service: Arc<TicketService<S, M, P>>,
    metrics: Option<&'static metrics_cloudwatch_embedded::Collector>,
}

/// Which door an event takes, read from the few fields that tell.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "Records", default)]
    records: Vec<ProbeRecord>,
    source: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    #[serde(flatten)]
    _rest: std::collections::HashMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct ProbeRecord {
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
}

enum Door {
    Http,
    Stream,
    Sweep,
    SesEvent,
}

fn door(raw: &str) -> Door {
    let Ok(probe) = serde_json::from_str::<Probe>(raw) else { return Door::Http };
    if probe.records.first().and_then(|r| r.event_source.as_deref()) == Some("aws:dynamodb") {
        Door::Stream
    } else if probe.source.as_deref() == Some("aws.events") && probe.detail_type.as_deref() == Some("Scheduled Event") {
        Door::Sweep
    } else if crate::aws::ses_events::is_ses_event(probe.source.as_deref()) {
        Door::SesEvent
    } else {
        Door::Http
    }
}

impl<S: Store, M: Mailer, P: SecretSource> Function<S, M, P> {
    pub fn new(service: Arc<TicketService<S, M, P>>) -> Self {
        Self { app: crate::http::app(service.clone()), service, metrics: None }
    }

    /// Writes the metrics recorded during each invocation at its end, from this collector.
    pub fn with_metrics(mut self, metrics: Option<&'static metrics_cloudwatch_embedded::Collector>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn service(&self) -> &Arc<TicketService<S, M, P>> {
        &self.service
    }

    /// One invocation, as the Lambda runtime hands it over.
    pub async fn handle(&self, event: LambdaEvent<Box<RawValue>>) -> Result<Value, lambda_http::Error> {
        let answer = self.dispatch(event).await;
        crate::telemetry::flush(self.metrics);
        answer
    }

    async fn dispatch(&self, event: LambdaEvent<Box<RawValue>>) -> Result<Value, lambda_http::Error> {
        let LambdaEvent { payload, context } = event;
        let raw = payload.get();
        match door(raw) {
            Door::Http => {
                let request: LambdaRequest = serde_json::from_str(raw)?;
                // The adapter is dropped before the await: it is not Send, the future it returns is.
                let answer = lambda_http::Adapter::from(self.app.clone()).call(LambdaEvent::new(request, context));
                Ok(serde_json::to_value(answer.await?)?)
            }
            Door::Stream => {
                let batch: StreamEvent = serde_json::from_str(raw)?;
                let work = work_of(&batch);
                let keys: Vec<_> = work.iter().map(|(_, key)| key.clone()).collect();
                let done = self.service.deliver_batch(&keys, deadline(&context)).await;
                let mut answer = DynamoDbEventResponse::default();
                answer.batch_item_failures = work
                    .into_iter()
                    .zip(done)
                    .filter(|(_, done)| !done)
                    .map(|((sequence, _), _)| {
                        let mut failure = DynamoDbBatchItemFailure::default();
                        failure.item_identifier = Some(sequence);
                        failure
                    })
                    .collect();
                Ok(serde_json::to_value(answer)?)
            }
            Door::Sweep => Ok(serde_json::to_value(self.service.sweep(deadline(&context)).await?)?),
            // An error makes EventBridge hand the event over again (its retry policy); one that is not about an
            // e-mail of this outbox is answered and dropped.
            Door::SesEvent => {
                let event: Value = serde_json::from_str(raw)?;
                let recorded = match crate::aws::ses_events::feedback_of(&event) {
                    Some(feedback) => self.service.record_feedback(&feedback).await?,
                    None => false,
                };
                Ok(serde_json::json!({ "recorded": recorded }))
            }
        }
    }

    /// The same, for an event in hand (the local stand-ins, the tests).
    pub async fn invoke(&self, event: &Value, context: Context) -> Result<Value, lambda_http::Error> {
        let payload = RawValue::from_string(event.to_string())?;
        self.handle(LambdaEvent::new(payload, context)).await
    }
}

/// When work must stop to answer in time: the invocation's deadline (Unix milliseconds), less a margin.
fn deadline(context: &Context) -> Instant {
    // Lambda's deadlines are Unix times in milliseconds; anything before 2001 is not one: the local stand-ins
    // name none, and cargo-lambda's emulator sends its timeout (600000) in that header.
    const NOT_A_TIME: u64 = 1_000_000_000_000;
    let left = match context.deadline {
        deadline if deadline < NOT_A_TIME => LOCAL_BUDGET + DEADLINE_MARGIN,
        deadline => Duration::from_millis(deadline.saturating_sub(crate::domain::now_ms())),
    };
    Instant::now() + left.saturating_sub(DEADLINE_MARGIN)
}

/// The context of a local invocation: a fresh request id, no deadline.
pub fn local_context() -> Context {
    let mut context = Context::default();
    context.request_id = crate::domain::keys::random_hex::<16>();
    context
}

/// EventBridge's scheduled event, as the schedule in `template.yaml` sends it.
pub fn scheduled_event() -> Value {
    serde_json::json!({
        "version": "0",
        "id": crate::domain::keys::random_hex::<16>(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": crate::domain::now_rfc3339(),
        "region": "us-east-1",
        "resources": [],
        "detail": {}
    })
}
