//! `ticketctl`: the operator's CLI for collections, API keys, tickets, e-mails and webhooks, on any DynamoDB
//! endpoint. It parses arguments, calls the service's use cases (`ticket_api::service`) on the deployment
//! `compose::Operator` reaches, and prints what they answer: as text, or as JSON with `--json`.
//!
//! Tables and pepper come from a deployed stack's outputs (`--stack NAME`), or from the function's own variables
//! (`API_KEYS_TABLE`, …, `API_KEY_PEPPER_SECRET_ID` or `API_KEY_PEPPER`); endpoints, region and credentials from
//! the standard AWS environment (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local).

mod collections;
mod keys;
mod mail;
mod tickets;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;
use ticket_api::compose::Operator;
use ticket_api::domain::CollectionId;

#[derive(Parser)]
#[command(name = "ticketctl", version, about = "Administer ticket-api: collections, API keys, tickets and e-mails.")]
struct Cli {
    /// Read the tables and the pepper secret from this deployed CloudFormation stack's outputs.
    #[arg(long, global = true, value_name = "NAME")]
    stack: Option<String>,
    /// Print results as JSON (for scripts) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the six tables where they do not exist (for local endpoints; SAM creates them on AWS).
    Init,
    /// Create, list and change collections.
    #[command(subcommand)]
    Collections(collections::CollectionsCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// List and show tickets.
    #[command(subcommand)]
    Tickets(tickets::TicketsCommand),
    /// The outbox: what is not delivered yet, and re-sending what failed for good.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// Addresses sent nothing any more (they bounced for good or complained): list them, or lift one.
    #[command(subcommand)]
    Suppressions(mail::SuppressionsCommand),
    /// A collection's webhook endpoints: add, list, remove, rotate a secret, send a test, see the deliveries.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ticketctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let operator = Operator::connect(cli.stack.as_deref()).await?;
    let out = Output { json: cli.json };
    match cli.command {
        Command::Init => {
            let created = operator.create_tables().await?;
            out.print(&created, || match created.is_empty() {
                true => "tables already exist".into(),
                false => format!("created tables: {}", created.join(", ")),
            });
            Ok(())
        }
        Command::Collections(command) => collections::run(command, &operator, out).await,
        Command::Keys(command) => keys::run(command, &operator, out).await,
        Command::Tickets(command) => tickets::run(command, &operator, out).await,
        Command::Mail(command) => mail::run(command, &operator, out).await,
        Command::Suppressions(command) => mail::run_suppressions(command, &operator, out).await,
        Command::Webhooks(command) => webhooks::run(command, &operator, out).await,
    }
}

/// How results are printed: as text for a person, or as JSON for a script (`--json`).
#[derive(Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    fn print<T: Serialize>(self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).expect("serialisable output"));
        } else {
            println!("{}", text());
        }
    }
}

/// A collection id as given on the command line.
fn collection_id(raw: &str) -> anyhow::Result<CollectionId> {
    CollectionId::parse(raw)
        .ok_or_else(|| anyhow::anyhow!("`{raw}` is not a collection id (1 to 64 of A-Z a-z 0-9 _ -)"))
}
