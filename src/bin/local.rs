//! The API on this machine: the same Router as on Lambda, served by axum on `LISTEN_ADDR` (127.0.0.1:3000).

use std::sync::Arc;

use axum::ServiceExt as _;
use ticket_api::config::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_http::tracing::init_default_subscriber();
    let env = Env::process();
    let config = env.config()?;
    let addr = env.listen_addr()?;
    let service = Arc::new(ticket_api::aws::service(&config).await?);
    if let Err(e) = service.warm_up().await {
        tracing::warn!(error = %e, "API key pepper not readable at start-up; requests answer 503 until it is");
    }
    let app = ticket_api::http::app::<axum::body::Body, _, _, _>(service);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("ticket-api listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
