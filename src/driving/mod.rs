//! The driving adapters: what calls the application. One Lambda function, one entry (`Function::handle`), and a
//! door per event source, each recognised by the field that names its source, never by elimination:
//!
//! | door | recognised by | module |
//! | --- | --- | --- |
//! | API Gateway requests (REST v1, HTTP API v2, function URLs) | a `requestContext` with the HTTP method | `http` |
//! | the tickets table's stream | every record's `eventSource` is `aws:dynamodb` | `stream` |
//! | the sweep's schedule | `source` `aws.events` and `detail-type` `Scheduled Event` | `schedule` |
//! | SES's events, from their queue | every record's `eventSource` is `aws:sqs` | `ses_events` |
//! | SES's events, handed over directly | `source` `aws.ses` | `ses_events` |
//! | SES receiving's replies by e-mail | every record's `eventSource` is `aws:ses` | `ses_receipts` |
//! | GuardDuty's malware scan results | `source` `aws.guardduty` and its scan result's `detail-type` | `file_scans` |
//!
//! Anything else is refused: an error that names what the event looked like (never what it carries) and the
//! metric `EventsRefused`. Each invocation ends by writing the metrics it recorded (`telemetry`). `main.rs`
//! runs this on Lambda; the local server and its stand-ins (`local`) feed it the same events.

pub mod file_scans;
pub mod http;
pub mod schedule;
pub mod ses_events;
pub mod ses_receipts;
pub mod stream;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service as _};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use self::http::App;
use crate::ports::Ports;
use crate::service::TicketService;
use crate::telemetry;

/// What the function keeps in front of its deadline to answer in time.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
/// The time an invocation gets when its context names no deadline (the local stand-ins), unless told otherwise
/// (`with_timeout`: `main` and the local server pass the configured `FUNCTION_TIMEOUT_SECONDS`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The function: the Router for requests, the service for every other door. Built once per process.
pub struct Function<P: Ports> {
    app: App<lambda_http::Body>,
    service: Arc<TicketService<P>>,
    metrics: Option<&'static metrics_cloudwatch_embedded::Collector>,
    /// How long an invocation lasts when its context names no deadline.
    timeout: Duration,
}

/// The doors of the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Http,
    Stream,
    Schedule,
    SesEvents,
    SesReceipts,
    FileScans,
}

/// An event no door takes: its shape, never its content (it may carry keys or addresses).
#[derive(Debug, thiserror::Error)]
#[error("no door of this function takes this event ({shape}): check the triggers that invoke it")]
pub struct UnknownEvent {
    /// The top-level fields, and the source fields where there are any.
    pub shape: String,
}

/// The few fields that name an event's source.
#[derive(Deserialize)]
struct Source {
    #[serde(rename = "Records")]
    records: Option<Vec<RecordSource>>,
    source: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    #[serde(rename = "requestContext")]
    request_context: Option<RequestContext>,
}

#[derive(Deserialize)]
struct RecordSource {
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
    /// A queued record's body.
    body: Option<String>,
}

impl RecordSource {
    /// Whether a queued record is SES receiving's notification of a message (raw, or in SNS's envelope), not one
    /// of SES's events.
    fn carries_a_receipt(&self) -> bool {
        self.body.as_deref().is_some_and(|body| body.contains("\"notificationType\"") && body.contains("Received"))
    }
}

#[derive(Deserialize)]
struct RequestContext {
    /// REST API (v1) requests.
    #[serde(rename = "httpMethod")]
    http_method: Option<String>,
    /// HTTP API (v2) requests and function URLs.
    http: Option<HttpContext>,
}

#[derive(Deserialize)]
struct HttpContext {
    method: Option<String>,
}

/// The door an event takes, by its source.
pub fn door(raw: &str) -> Result<Door, UnknownEvent> {
    let unknown = || UnknownEvent { shape: shape(raw) };
    let source: Source = serde_json::from_str(raw).map_err(|_| unknown())?;
    if let Some(records) = &source.records {
        let all_from = |from: &str| records.iter().all(|r| r.event_source.as_deref() == Some(from));
        return match records.is_empty() {
            false if all_from("aws:dynamodb") => Ok(Door::Stream),
            // The two queues the function reads, told apart by what they carry: SES receiving's notifications
            // (`RepliesMapping`: `notificationType` Received) and SES's events (`SesEventsMapping`).
            false if all_from("aws:sqs") && records.iter().all(|r| r.carries_a_receipt()) => Ok(Door::SesReceipts),
            false if all_from("aws:sqs") => Ok(Door::SesEvents),
            false if all_from("aws:ses") => Ok(Door::SesReceipts),
            _ => Err(unknown()),
        };
    }
    match (source.source.as_deref(), source.detail_type.as_deref()) {
        (Some("aws.events"), Some("Scheduled Event")) => return Ok(Door::Schedule),
        (Some("aws.ses"), Some(_)) => return Ok(Door::SesEvents),
        (Some("aws.guardduty"), Some(file_scans::DETAIL_TYPE)) => return Ok(Door::FileScans),
        _ => {}
    }
    let request = source
        .request_context
        .as_ref()
        .is_some_and(|c| c.http_method.is_some() || c.http.as_ref().is_some_and(|h| h.method.is_some()));
    if request { Ok(Door::Http) } else { Err(unknown()) }
}

/// An event's shape for an error message: its top-level field names and its source fields' values.
fn shape(raw: &str) -> String {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(raw) else { return "not a JSON object".into() };
    let mut names: Vec<&str> = fields.keys().map(String::as_str).take(12).collect();
    names.sort_unstable();
    let said = |value: Option<&Value>| value.and_then(Value::as_str).map(|s| s.chars().take(64).collect::<String>());
    let record_source = fields.get("Records").and_then(|r| r.get(0)).and_then(|r| said(r.get("eventSource")));
    let mut shape = format!("fields {names:?}");
    for (name, value) in [("source", said(fields.get("source"))), ("Records[0].eventSource", record_source)] {
        if let Some(value) = value {
            shape.push_str(&format!(", {name} {value:?}"));
        }
    }
    shape
}

impl<P: Ports> Function<P> {
    pub fn new(service: Arc<TicketService<P>>) -> Self {
        Self { app: http::app(service.clone()), service, metrics: None, timeout: DEFAULT_TIMEOUT }
    }

    /// The function's timeout: what an invocation without a deadline (the local stand-ins) is given.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Writes the metrics recorded during each invocation at its end, from this collector.
    pub fn with_metrics(mut self, metrics: Option<&'static metrics_cloudwatch_embedded::Collector>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn service(&self) -> &Arc<TicketService<P>> {
        &self.service
    }

    /// One invocation, as the Lambda runtime hands it over.
    pub async fn handle(&self, event: LambdaEvent<Box<RawValue>>) -> Result<Value, lambda_http::Error> {
        let answer = self.dispatch(event).await;
        telemetry::flush(self.metrics);
        answer
    }

    async fn dispatch(&self, event: LambdaEvent<Box<RawValue>>) -> Result<Value, lambda_http::Error> {
        let LambdaEvent { payload, context } = event;
        let raw = payload.get();
        let door = door(raw).inspect_err(|unknown| {
            tracing::error!(shape = %unknown.shape, "event refused: no door takes it");
            telemetry::event_refused();
        })?;
        match door {
            Door::Http => {
                let request: LambdaRequest = serde_json::from_str(raw)?;
                // The adapter is dropped before the await: it is not Send, the future it returns is.
                let answer = lambda_http::Adapter::from(self.app.clone()).call(LambdaEvent::new(request, context));
                Ok(serde_json::to_value(answer.await?)?)
            }
            Door::Stream => stream::handle(&self.service, raw, self.deadline(&context)).await,
            Door::Schedule => schedule::handle(&self.service, self.deadline(&context)).await,
            Door::SesEvents => ses_events::handle(&self.service, raw).await,
            Door::SesReceipts => ses_receipts::handle(&self.service, raw).await,
            Door::FileScans => file_scans::handle(&self.service, raw).await,
        }
    }

    /// The same, for an event in hand (the local stand-ins, the tests).
    pub async fn invoke(&self, event: &Value, context: Context) -> Result<Value, lambda_http::Error> {
        let payload = RawValue::from_string(event.to_string())?;
        self.handle(LambdaEvent::new(payload, context)).await
    }
}

impl<P: Ports> Function<P> {
    /// When work must stop to answer in time: the invocation's deadline (Unix milliseconds on Lambda's clock,
    /// not the service's), or the function's timeout from now when the context names none, less a margin.
    fn deadline(&self, context: &Context) -> Instant {
        // Lambda's deadlines are Unix times in milliseconds; anything before 2001 is not one: the local stand-ins
        // name none, and cargo-lambda's emulator sends its timeout (600000) in that header.
        const NOT_A_TIME: u64 = 1_000_000_000_000;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
        let left = match context.deadline {
            deadline if deadline < NOT_A_TIME => self.timeout,
            deadline => Duration::from_millis(deadline.saturating_sub(now)),
        };
        Instant::now() + left.saturating_sub(DEADLINE_MARGIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_refused_unless_its_source_names_a_door() {
        let refused = [
            r#"{}"#,
            r#"[]"#,
            r#"{"Records": []}"#,
            r#"{"Records": [{"eventSource": "aws:kinesis", "kinesis": {}}]}"#,
            r#"{"Records": [{"EventSource": "aws:sns", "Sns": {}}]}"#,
            r#"{"Records": [{"eventSource": "aws:dynamodb"}, {"eventSource": "aws:s3"}]}"#,
            r#"{"source": "aws.events", "detail-type": "Something Else", "detail": {}}"#,
            r#"{"source": "aws.ses"}"#,
            r#"{"requestContext": {"elb": {"targetGroupArn": "arn"}}, "httpMethod": "GET", "path": "/"}"#,
            r#"{"httpMethod": "POST", "path": "/ticket/x", "headers": {}}"#,
        ];
        for event in refused {
            assert!(door(event).is_err(), "{event} must be refused");
        }
        let shape = door(r#"{"Records": [{"eventSource": "aws:kinesis", "data": "tkapi_secret"}]}"#).unwrap_err().shape;
        assert!(shape.contains("aws:kinesis") && !shape.contains("tkapi_secret"), "{shape}");
    }
}
