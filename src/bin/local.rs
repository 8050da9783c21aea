//! The function on this machine (`make run`): the API on 127.0.0.1 and the stand-ins of what AWS runs around it,
//! all from `ticket_api::local::serve`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ticket_api::telemetry::init_logging();
    ticket_api::local::serve(ticket_api::config::Env::process()).await
}
