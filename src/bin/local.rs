//! The function on this machine: the same Router served by axum on `LISTEN_ADDR` (127.0.0.1:3000), and the
//! stand-ins of what AWS runs around it (`ticket_api::local`): the event source mapping on the tickets table's
//! stream (DynamoDB Local's), the schedule of the sweep, and SES's events (a delivery for every e-mail the SES
//! stand-in accepts; a bounce or a complaint for the mailbox simulator's addresses), all invoking the same
//! `driving::Function`; and Lambda's Invoke API on `INVOKE_ADDR` (127.0.0.1:9001), through which the stand-in of
//! SES receiving hands it each received message. Metrics are written as EMF lines to stdout, every second.

use std::sync::Arc;

use axum::ServiceExt as _;
use ticket_api::config::Env;
use ticket_api::driving::Function;
use ticket_api::driving::stream::{HOOK_MAPPING, MAPPING};
use ticket_api::local::{StartAt, StreamPoller};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ticket_api::telemetry::init_logging();
    let env = Env::process();
    let config = env.config()?;
    let addr = env.listen_addr()?;
    let invoke_addr = env.invoke_addr()?;
    let sweep_interval = env.sweep_interval()?;
    // The SDK configured as the Lambda function configures it (make run sets the standard variables).
    let sdk = ticket_api::compose::lambda_sdk_config(&config.upstream)?;
    let ports = ticket_api::compose::ports(&sdk, &config, None)?;
    let (mailer, ses_events) = ticket_api::local::ses_events(ports.mailer.clone());
    let service = Arc::new(ticket_api::compose::configured(ports.with_mailer(mailer), &config));
    let metrics = ticket_api::telemetry::install("local");
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            ticks.tick().await;
            ticket_api::telemetry::flush(metrics);
        }
    });
    if let Err(e) = service.warm_up().await {
        tracing::warn!(error = %e, "API key pepper not readable at start-up; requests answer 503 until it is");
    }
    let function = Arc::new(Function::new(service.clone()).with_timeout(config.function_timeout));

    let stream_arn = service.store().tickets_stream_arn().await?;
    let mut poller =
        StreamPoller::new(aws_sdk_dynamodbstreams::Client::new(&sdk), stream_arn, MAPPING, StartAt::Latest);
    if let Some(path) = env.dead_letter_file() {
        poller = poller.with_dead_letters(path);
    }
    let invoke_api = ticket_api::local::invoke_api(function.clone(), env.dead_letter_file());
    let invoke_listener = tokio::net::TcpListener::bind(invoke_addr).await?;
    tracing::info!("Lambda's Invoke API for the function on http://{}", invoke_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(invoke_listener, invoke_api.into_make_service()).await });
    tokio::spawn(poller.run(function.clone()));
    // The webhooks' own mapping on the same stream, as on AWS.
    let stream_arn = service.store().tickets_stream_arn().await?;
    let webhooks =
        StreamPoller::new(aws_sdk_dynamodbstreams::Client::new(&sdk), stream_arn, HOOK_MAPPING, StartAt::Latest);
    tokio::spawn(webhooks.run(function.clone()));
    tokio::spawn(ticket_api::local::run_schedule(function.clone(), sweep_interval));
    tokio::spawn(ticket_api::local::run_ses_events(function.clone(), ses_events));

    let app = ticket_api::driving::http::app::<axum::body::Body, _>(service);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("ticket-api listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // What was recorded since the last tick.
    ticket_api::telemetry::flush(metrics);
    Ok(())
}
