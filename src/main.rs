//! The Lambda entry point: tracing, configuration, the service on AWS (`compose`) once per process, then every
//! event through `driving::Function`, which takes it to the door of its source.

use std::sync::Arc;

use lambda_http::{LambdaEvent, lambda_runtime, service_fn};
use serde_json::value::RawValue;
use ticket_api::config::Config;
use ticket_api::driving::Function;

// One thread: a Lambda sandbox handles one event at a time, and everything an event waits on is I/O, which
// one thread interleaves. It starts no worker threads (measured in BENCHMARKS.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // JSON logs when the function's logging config says so (AWS_LAMBDA_LOG_FORMAT), levels from AWS_LAMBDA_LOG_LEVEL.
    ticket_api::telemetry::init_logging();
    let config = Config::from_env()?;
    let service = Arc::new(ticket_api::compose::service(&config).await?);
    if let Err(e) = service.warm_up().await {
        tracing::warn!(error = %e, "API key pepper not readable at start-up; requests answer 503 until it is");
    }
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let function = Arc::new(
        Function::new(service)
            .with_metrics(ticket_api::telemetry::install(&function_name))
            .with_timeout(config.function_timeout),
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let function = function.clone();
        async move { function.handle(event).await }
    }))
    .await
}
