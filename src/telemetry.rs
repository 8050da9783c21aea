//! The service's metrics, through the `metrics` facade, written as CloudWatch Embedded Metric Format documents
//! (`metrics_cloudwatch_embedded`) on stdout, one line each, at the end of every invocation: CloudWatch Logs
//! turns them into metrics of the namespace `TicketApi`, with no API call and no agent.
//!
//! Every metric carries the dimension `FunctionName`, so that two deployments in one account stay apart, and
//! at most one more, of a handful of values (a problem `code`, a limit's name). No key, address, ticket or
//! text is ever a dimension or a value: a dimension per ticket or requester would be a metric each.
//! `ALL` lists every metric; the template's alarms and dashboard may name no other (tests/template.rs).

use std::time::Duration;

use metrics::{counter, histogram};

/// Logs as Lambda's advanced logging controls ask: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON`, text
/// otherwise, without timestamps (CloudWatch stamps each line); the level from `AWS_LAMBDA_LOG_LEVEL`, else
/// `RUST_LOG` (a level, or `target=level` directives), else `INFO`. What `lambda_http`'s default subscriber does,
/// filtered by `Targets` instead of `EnvFilter`, whose span-field patterns compile a regex engine into the
/// binary (BENCHMARKS.md, "What each lever changed").
pub fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.trim().is_empty());
    let spec = var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG")).unwrap_or_else(|| "info".into());
    // Lambda's FATAL has no tracing level: it and anything unreadable mean the default.
    let filter = spec.parse::<Targets>().unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    let fmt = tracing_subscriber::fmt::layer().with_target(false).without_time();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
}

pub const NAMESPACE: &str = "TicketApi";
/// The dimension every metric carries: the Lambda function's name (`local` on this machine).
pub const FUNCTION_DIMENSION: &str = "FunctionName";

pub const TICKETS_CREATED: &str = "TicketsCreated";
/// Creates refused, by problem `code` (dimension `code`).
pub const CREATES_REFUSED: &str = "CreatesRefused";
/// 429s, by the limit that refused (dimension `limit`: per-key, per-requester, new-requesters, per-ticket-replies,
/// per-ticket-team-link).
pub const RATE_LIMITED: &str = "RateLimited";
pub const MESSAGES_ADDED: &str = "MessagesAdded";
/// Messages SES received, by what came of each (dimension `outcome`: recorded, not_a_reply_address, spam, …).
pub const REPLIES_RECEIVED: &str = "RepliesReceived";
/// Webhook attempts, by `outcome`: `delivered`, `retrying` (a failure to be tried again), `failed` (for good,
/// after its schedule), `refused` (a 400, 410, 413, 415 or 422: ended at once), `dropped` (its endpoint removed).
pub const WEBHOOK_ATTEMPTS: &str = "WebhookAttempts";
/// Endpoints disabled because every delivery to them failed for `DISABLE_AFTER` (five days).
pub const WEBHOOK_ENDPOINTS_DISABLED: &str = "WebhookEndpointsDisabled";
/// From an attempt's start to the endpoint's answer (or its failure), ms.
pub const WEBHOOK_LATENCY: &str = "WebhookLatency";
pub const EMAILS_SENT: &str = "EmailsSent";
/// Retried later: SES throttled, timed out or was down.
pub const EMAILS_RETRIED: &str = "EmailsRetried";
/// Refused for good by SES: sent nowhere again unless an operator re-sends them.
pub const EMAILS_FAILED: &str = "EmailsFailed";
/// Not sent: the address is on the suppression list.
pub const EMAILS_SUPPRESSED: &str = "EmailsSuppressed";
pub const EMAILS_DELIVERED: &str = "EmailsDelivered";
pub const EMAILS_BOUNCED: &str = "EmailsBounced";
pub const EMAILS_COMPLAINED: &str = "EmailsComplained";
/// From the write of an e-mail (its ticket's 201) to SES's acceptance, in milliseconds.
pub const DELIVERY_LATENCY: &str = "DeliveryLatency";
/// The age of the oldest e-mail the sweep found due, in seconds (recorded by each sweep that found one).
pub const OLDEST_UNDELIVERED_AGE: &str = "OldestUndeliveredAge";
pub const OLDEST_DUE_WEBHOOK_AGE: &str = "OldestDueWebhookAge";
pub const COLD_STARTS: &str = "ColdStarts";
/// Invocations with an event no door of the function takes (a misconfigured trigger).
pub const EVENTS_REFUSED: &str = "EventsRefused";
/// Sends whose answer never came (a timeout after the request went out): SES may have taken them; retried.
pub const EMAILS_AMBIGUOUS: &str = "EmailsAmbiguous";
/// Outbox items that did not read as e-mails, set aside by the sweep.
pub const OUTBOX_ITEMS_UNREADABLE: &str = "OutboxItemsUnreadable";
/// Stream records of e-mails that did not read (left to the sweep, which sets them aside).
pub const STREAM_RECORDS_UNREADABLE: &str = "StreamRecordsUnreadable";
/// Ticket counters found behind their tickets (a restored collections table) and moved past them.
pub const COUNTERS_REPAIRED: &str = "CountersRepaired";
/// Uploads granted (presigned forms handed out).
pub const UPLOADS_GRANTED: &str = "UploadsGranted";
/// Files kept under tickets (from uploads, pages and replies by e-mail).
pub const FILES_KEPT: &str = "FilesKept";
/// Downloads asked for, by outcome (`served`, `scanning`, `infected`, `unscanned`).
pub const DOWNLOADS: &str = "Downloads";
/// Files the malware scan found a threat in (their team told).
pub const FILES_INFECTED: &str = "FilesInfected";
/// Tickets assigned or unassigned (each change once).
pub const ASSIGNMENTS: &str = "Assignments";
/// Inbox pages shown, by view (`mine`, `unassigned`, `open`, `resolved`, `closed`).
pub const INBOX_VIEWS: &str = "InboxViews";

pub const ALL: &[&str] = &[
    TICKETS_CREATED,
    CREATES_REFUSED,
    RATE_LIMITED,
    MESSAGES_ADDED,
    EMAILS_SENT,
    EMAILS_RETRIED,
    EMAILS_FAILED,
    EMAILS_SUPPRESSED,
    EMAILS_DELIVERED,
    EMAILS_BOUNCED,
    EMAILS_COMPLAINED,
    DELIVERY_LATENCY,
    OLDEST_UNDELIVERED_AGE,
    OLDEST_DUE_WEBHOOK_AGE,
    COLD_STARTS,
    EVENTS_REFUSED,
    EMAILS_AMBIGUOUS,
    OUTBOX_ITEMS_UNREADABLE,
    STREAM_RECORDS_UNREADABLE,
    COUNTERS_REPAIRED,
    REPLIES_RECEIVED,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_LATENCY,
    WEBHOOK_ENDPOINTS_DISABLED,
    UPLOADS_GRANTED,
    FILES_KEPT,
    DOWNLOADS,
    FILES_INFECTED,
    ASSIGNMENTS,
    INBOX_VIEWS,
];

/// Installs the recorder once per process, for the function `function_name`, and counts the cold start.
/// `None` when a recorder is installed already (a second call, or tests that bring their own).
pub fn install(function_name: &str) -> Option<&'static metrics_cloudwatch_embedded::Collector> {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(FUNCTION_DIMENSION, function_name.to_owned())
        .init()
        .ok()?;
    metrics::describe_histogram!(DELIVERY_LATENCY, metrics::Unit::Milliseconds, "");
    metrics::describe_histogram!(OLDEST_UNDELIVERED_AGE, metrics::Unit::Seconds, "");
    metrics::describe_histogram!(OLDEST_DUE_WEBHOOK_AGE, metrics::Unit::Seconds, "");
    metrics::describe_histogram!(WEBHOOK_LATENCY, metrics::Unit::Milliseconds, "");
    counter!(COLD_STARTS).increment(1);
    Some(collector)
}

/// Writes what was recorded since the last flush to stdout, as EMF lines (nothing when nothing was).
pub fn flush(collector: Option<&'static metrics_cloudwatch_embedded::Collector>) {
    if let Some(collector) = collector
        && let Err(e) = collector.flush(std::io::stdout().lock())
    {
        tracing::warn!(error = %e, "metrics not written");
    }
}

pub fn ticket_created() {
    counter!(TICKETS_CREATED).increment(1);
}

pub fn create_refused(code: &'static str) {
    counter!(CREATES_REFUSED, "code" => code).increment(1);
}

pub fn rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// A message SES received for the deployment, by what came of it (`outcome`: `recorded`, or why not).
pub fn webhook_endpoint_disabled() {
    counter!(WEBHOOK_ENDPOINTS_DISABLED).increment(1);
}

pub fn webhook_attempt(outcome: &'static str, latency: Duration) {
    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
    histogram!(WEBHOOK_LATENCY).record(latency.as_secs_f64() * 1_000.0);
}

pub fn reply_received(outcome: &'static str) {
    counter!(REPLIES_RECEIVED, "outcome" => outcome).increment(1);
}

pub fn message_added() {
    counter!(MESSAGES_ADDED).increment(1);
}

pub fn upload_granted() {
    counter!(UPLOADS_GRANTED).increment(1);
}

pub fn files_kept(files: usize) {
    if files > 0 {
        counter!(FILES_KEPT).increment(files as u64);
    }
}

pub fn inbox_viewed(view: &'static str) {
    counter!(INBOX_VIEWS, "view" => view).increment(1);
}

pub fn assigned() {
    counter!(ASSIGNMENTS).increment(1);
}

pub fn file_infected() {
    counter!(FILES_INFECTED).increment(1);
}

pub fn download(outcome: &'static str) {
    counter!(DOWNLOADS, "outcome" => outcome).increment(1);
}

pub fn email_sent(since_written: Duration) {
    counter!(EMAILS_SENT).increment(1);
    histogram!(DELIVERY_LATENCY).record(since_written.as_secs_f64() * 1000.0);
}

pub fn email_retried() {
    counter!(EMAILS_RETRIED).increment(1);
}

pub fn email_failed() {
    counter!(EMAILS_FAILED).increment(1);
}

pub fn email_suppressed() {
    counter!(EMAILS_SUPPRESSED).increment(1);
}

pub fn email_delivered() {
    counter!(EMAILS_DELIVERED).increment(1);
}

pub fn email_bounced() {
    counter!(EMAILS_BOUNCED).increment(1);
}

pub fn email_complained() {
    counter!(EMAILS_COMPLAINED).increment(1);
}

pub fn oldest_undelivered(age: Duration) {
    histogram!(OLDEST_UNDELIVERED_AGE).record(age.as_secs_f64());
}

/// How long the oldest webhook delivery the sweep found due has been due (zero: none): a lane that starves shows
/// here first.
pub fn oldest_due_webhook(age: Duration) {
    histogram!(OLDEST_DUE_WEBHOOK_AGE).record(age.as_secs_f64());
}

pub fn event_refused() {
    counter!(EVENTS_REFUSED).increment(1);
}

pub fn email_ambiguous() {
    counter!(EMAILS_AMBIGUOUS).increment(1);
}

pub fn outbox_item_unreadable() {
    counter!(OUTBOX_ITEMS_UNREADABLE).increment(1);
}

pub fn stream_record_unreadable() {
    counter!(STREAM_RECORDS_UNREADABLE).increment(1);
}

pub fn counter_repaired() {
    counter!(COUNTERS_REPAIRED).increment(1);
}
