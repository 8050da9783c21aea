//! The function on this machine, as `make run` serves it: the same Router served by axum on `LISTEN_ADDR`
//! (127.0.0.1:3000), and the stand-ins of what AWS runs around it: the two event source mappings on the tickets
//! table's stream (DynamoDB Local's), the schedule of the sweep, and SES's events (a delivery for every e-mail
//! the SES stand-in accepts; a bounce or a complaint for the mailbox simulator's addresses), all invoking the
//! same `driving::Function`; and Lambda's Invoke API on `INVOKE_ADDR` (127.0.0.1:9001), beside which the queue
//! of replies' receipts takes what the stand-in of SES receiving sends it; the bucket of files on the S3 stand-in,
//! and the stand-in of its malware scan. Metrics are written as EMF lines to
//! stdout, every second.

use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt as _;

use super::{StartAt, StreamPoller, invoke_api, run_schedule, run_ses_events, scan, ses_events};
use crate::compose;
use crate::config::Env;
use crate::driving::stream::{MAPPING, WEBHOOK_MAPPING};
use crate::driving::{Function, http};
use crate::telemetry;

/// Serves the function and its stand-ins until Ctrl-C.
pub async fn serve(env: Env<fn(&str) -> Option<String>>) -> anyhow::Result<()> {
    let config = env.config()?;
    let addr = env.listen_addr()?;
    let invoke_addr = env.invoke_addr()?;
    let sweep_interval = env.sweep_interval()?;
    // The SDK configured as the Lambda function configures it (make run sets the standard variables).
    let sdk = compose::lambda_sdk_config(&config.upstream)?;
    let ports = compose::ports(&sdk, &config, None)?;
    let stream_arn = ports.store.tickets_stream_arn().await?;
    let (mailer, ses_events) = ses_events(ports.mailer.clone());
    let service = Arc::new(compose::configured(ports.with_mailer(mailer), &config));
    let metrics = telemetry::install("local");
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticks.tick().await;
            telemetry::flush(metrics);
        }
    });
    if let Err(e) = service.warm_up().await {
        tracing::warn!(error = %e, "API key pepper not readable at start-up; requests answer 503 until it is");
    }
    let function = Arc::new(Function::new(service.clone()).with_timeout(config.function_timeout));

    let streams = || aws_sdk_dynamodbstreams::Client::new(&sdk);
    let mut poller = StreamPoller::new(streams(), stream_arn.clone(), MAPPING, StartAt::Latest);
    if let Some(path) = env.dead_letter_file() {
        poller = poller.with_dead_letters(path);
    }
    let invoke = invoke_api(function.clone(), env.dead_letter_file());
    let invoke_listener = tokio::net::TcpListener::bind(invoke_addr).await?;
    tracing::info!("Lambda's Invoke API for the function on http://{}", invoke_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(invoke_listener, invoke.into_make_service()).await });
    tokio::spawn(poller.run(function.clone()));
    // The webhooks' own mapping on the same stream, as on AWS.
    let webhooks = StreamPoller::new(streams(), stream_arn, WEBHOOK_MAPPING, StartAt::Latest);
    tokio::spawn(webhooks.run(function.clone()));
    tokio::spawn(run_schedule(function.clone(), sweep_interval));
    tokio::spawn(run_ses_events(function.clone(), ses_events));
    // The bucket of files on the S3 stand-in (made if missing), and GuardDuty's scan of it when scanning is on.
    if let Some(files) = config.files.as_ref().filter(|f| f.path_style()) {
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        if s3.head_bucket().bucket(&files.bucket).send().await.is_err() {
            s3.create_bucket().bucket(&files.bucket).send().await?;
        }
        if config.file_scanning {
            tokio::spawn(scan::run_scanner(s3, files.bucket.clone(), Duration::from_secs(1), function.clone()));
        }
    }

    let app = http::app::<axum::body::Body, _>(service);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("ticket-api listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // What was recorded since the last tick.
    telemetry::flush(metrics);
    Ok(())
}
