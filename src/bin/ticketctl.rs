//! `ticketctl`: the operator's CLI for collections, API keys and tickets, on any DynamoDB endpoint.
//!
//! Tables and pepper come from a deployed stack's outputs (`--stack NAME`), or from the function's own variables
//! (`API_KEYS_TABLE`, …, `API_KEY_PEPPER_SECRET_ID` or `API_KEY_PEPPER`); endpoints,
//! region and credentials from the standard AWS environment (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local).

use std::collections::HashMap;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use ticket_api::compose;
use ticket_api::config::{Env, PepperSource, Tables, Upstream};
use ticket_api::domain::{
    ApiKey, ApiKeyRecord, Collection, CollectionId, CollectionName, DeliveryPolicy, Email, Mail, MailState, RateLimits,
    Ticket, TicketStatus,
};
use ticket_api::driven::{DynamoStore, SystemClock};
use ticket_api::ports::{Clock, CollectionStore, OutboxStore, SecretSource, SuppressionStore, TicketStore};
use ticket_api::service::{ConversationError, Credential, resend_failed};

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
    Collections(CollectionsCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List and show tickets.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// The outbox: what is not delivered yet, and re-sending what failed for good.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Addresses sent nothing any more (they bounced for good or complained): list them, or lift one.
    #[command(subcommand)]
    Suppressions(SuppressionsCommand),
    /// A collection's webhook endpoints: add, list, remove, rotate a secret, send a test, see the deliveries.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Add an endpoint (https only; at most 10 a collection); prints its id and its signing secret, once.
    Add {
        collection: String,
        url: String,
        /// The events it hears of (repeat, or comma-separated): ticket.created, ticket.message.created,
        /// ticket.status.changed, mail.undeliverable. None: all.
        #[arg(long = "events", value_name = "EVENT", value_delimiter = ',')]
        events: Vec<String>,
    },
    /// The collection's endpoints (no secret).
    List { collection: String },
    /// Remove an endpoint: what it was owed is not delivered.
    Remove { collection: String, id: String },
    /// Turn on again an endpoint disabled after a delivery failed for good: what it is owed is delivered within
    /// 15 minutes.
    Enable { collection: String, id: String },
    /// A new signing secret, printed once; the old one signs beside it for 24 hours.
    RotateSecret { collection: String, id: String },
    /// Send a `webhook.ping` to an endpoint now and print its answer.
    Test { collection: String, id: String },
    /// The latest settled deliveries: state, attempts, last status, latency and error.
    Deliveries {
        collection: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Subcommand)]
enum SuppressionsCommand {
    /// Every suppressed address, with why and since when.
    List,
    /// Take an address off the list (the person fixed their mailbox, say); `mail resend` then sends what was
    /// suppressed.
    Lift { address: String },
}

#[derive(Subcommand)]
enum CollectionsCommand {
    /// Create a collection (ticketing on unless --disabled).
    Create {
        /// Display name, also the sender name of its e-mails.
        #[arg(long)]
        name: String,
        /// An address told of every new ticket; repeat for several.
        #[arg(long = "notify", value_name = "EMAIL")]
        notify: Vec<String>,
        /// The id to use (1 to 64 of A-Z a-z 0-9 _ -); a random one by default.
        #[arg(long)]
        id: Option<String>,
        /// Create it with ticketing turned off.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List every collection with its settings and ticket count.
    List,
    /// Revoke every team link of a collection (a forwarded e-mail, a team member gone): the links of the team's
    /// e-mails already sent stop working; the next e-mails carry new ones.
    RevokeTeamLinks { id: String },
    /// Change a collection's name, notification addresses, ticketing switch or abuse limits.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Replace the notification addresses with these; repeat for several.
        #[arg(long = "notify", value_name = "EMAIL")]
        notify: Vec<String>,
        /// Remove every notification address.
        #[arg(long, conflicts_with = "notify")]
        clear_notify: bool,
        #[command(flatten)]
        switch: TicketingSwitch,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// The abuse limits of a collection, per hour (README, "Abuse limits").
#[derive(Args)]
struct LimitArgs {
    /// Tickets one API key may create in the collection per hour (1 to 10000; default 1000).
    #[arg(long, value_name = "N", value_parser = limit)]
    limit_per_key: Option<u32>,
    /// Tickets one requester address may open in the collection per hour (1 to 10000; default 10).
    #[arg(long, value_name = "N", value_parser = limit)]
    limit_per_requester: Option<u32>,
    /// Replies and status changes one ticket takes from its requester's link per hour (1 to 10000; default 20).
    #[arg(long, value_name = "N", value_parser = limit)]
    limit_replies_per_ticket: Option<u32>,
    /// Replies and status changes one ticket takes from its team link per hour (1 to 10000; default 100).
    #[arg(long, value_name = "N", value_parser = limit)]
    limit_team_link_per_ticket: Option<u32>,
    /// Requester addresses new to the hour the collection's tickets may go to per hour (1 to 10000; default 200).
    #[arg(long, value_name = "N", value_parser = limit)]
    limit_new_requesters: Option<u32>,
}

impl LimitArgs {
    fn apply(&self, limits: &mut RateLimits) {
        limits.per_key = self.limit_per_key.unwrap_or(limits.per_key);
        limits.per_requester = self.limit_per_requester.unwrap_or(limits.per_requester);
        limits.per_ticket_replies = self.limit_replies_per_ticket.unwrap_or(limits.per_ticket_replies);
        limits.new_requesters = self.limit_new_requesters.unwrap_or(limits.new_requesters);
        limits.per_ticket_team_link = self.limit_team_link_per_ticket.unwrap_or(limits.per_ticket_team_link);
    }
}

fn limit(raw: &str) -> Result<u32, String> {
    RateLimits::parse_limit(raw.parse().map_err(|_| format!("`{raw}` is not a whole number"))?)
}

#[derive(Args)]
#[group(multiple = false)]
struct TicketingSwitch {
    /// Turn ticketing on.
    #[arg(long)]
    enable: bool,
    /// Turn ticketing off: creates answer 403 ticketing_disabled.
    #[arg(long)]
    disable: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key for one or more collections. The key is printed once and never stored.
    Create {
        /// What the key is for, shown in listings.
        #[arg(long)]
        name: String,
        /// A collection the key may create tickets in; repeat for several.
        #[arg(long = "collection", value_name = "ID", required = true)]
        collections: Vec<String>,
    },
    /// List keys by id, name and last four characters.
    List,
    /// Revoke a key by its id (see `keys list`). Refused within the key cache's 30 s on the request path.
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum TicketsCommand {
    /// List a collection's tickets, newest activity first.
    List {
        collection: String,
        /// Only tickets of this status: open, resolved or closed (all by default).
        #[arg(long, value_parser = status)]
        status: Option<TicketStatus>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show one ticket with its thread and every e-mail's record.
    Show { collection: String, number: u64 },
    /// Reply to a ticket as the team: the requester is e-mailed the message.
    Reply {
        collection: String,
        number: u64,
        /// The message (the rules of a create's message).
        #[arg(long)]
        message: String,
    },
    /// Resolve a ticket as the team: the requester is told.
    Resolve { collection: String, number: u64 },
    /// Close a ticket for good: it takes no more replies; the requester is told only with --notify-requester.
    Close {
        collection: String,
        number: u64,
        #[arg(long)]
        notify_requester: bool,
    },
    /// Open a resolved or closed ticket again.
    Reopen { collection: String, number: u64 },
    /// Give a ticket new links: its requester's and its team's links stop working (a leaked link); the new ones
    /// are printed, and the next e-mails carry them.
    RotateLinks { collection: String, number: u64 },
}

#[derive(Subcommand)]
enum MailCommand {
    /// Every e-mail not delivered yet or failed for good, of one collection or all, with its age and reason.
    List { collection: Option<String> },
    /// Send again what failed for good (once its cause is fixed): of a collection, or of one of its tickets.
    Resend { collection: String, number: Option<u64> },
}

fn status(raw: &str) -> Result<TicketStatus, String> {
    TicketStatus::parse(raw).ok_or_else(|| format!("`{raw}` is not a status (open, resolved, closed)"))
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

fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).expect("serialisable output"));
    } else {
        println!("{}", text());
    }
}

fn collection_id(raw: &str) -> anyhow::Result<CollectionId> {
    CollectionId::parse(raw)
        .ok_or_else(|| anyhow::anyhow!("`{raw}` is not a collection id (1 to 64 of A-Z a-z 0-9 _ -)"))
}

fn emails(raw: &[String]) -> anyhow::Result<Vec<Email>> {
    let max = ticket_api::domain::collection::MAX_NOTIFY_EMAILS;
    anyhow::ensure!(raw.len() <= max, "a collection has at most {max} notification addresses, not {}", raw.len());
    raw.iter().map(|e| Email::parse(e).map_err(|(_, why)| anyhow::anyhow!("--notify `{e}`: {why}"))).collect()
}

/// Where the operator's commands act: the tables, and (for the commands that need it) the pepper.
struct Deployment {
    tables: Tables,
    pepper: Result<PepperSource, String>,
    /// Where the deployment's links point, for the commands that print one.
    public_base_url: Result<String, String>,
}

impl Deployment {
    fn from_env(env: &Env<fn(&str) -> Option<String>>) -> anyhow::Result<Self> {
        Ok(Self {
            tables: env.tables()?,
            pepper: env.pepper().map_err(|e| e.to_string()),
            public_base_url: env.public_base_url().map_err(|e| e.to_string()),
        })
    }

    /// The service as the operator acts through it, with the deployment's pepper when it has one (only printing
    /// a link reads it).
    fn operator(
        &self,
        sdk: &aws_config::SdkConfig,
        store: &DynamoStore,
    ) -> anyhow::Result<ticket_api::service::TicketService<compose::OperatorPorts>> {
        let pepper = match &self.pepper {
            Ok(source) => Some(compose::pepper_provider(sdk, source, None)?),
            Err(_) => None,
        };
        let base = self.public_base_url.clone().unwrap_or_else(|_| "https://unused.invalid".into());
        Ok(compose::operator(store.clone(), pepper, &base, ticket_api::config::Env::process().webhooks_loopback()))
    }

    /// From the outputs `template.yaml` declares.
    async fn from_stack(sdk: &aws_config::SdkConfig, name: &str) -> anyhow::Result<Self> {
        let described = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("reading stack {name}: {}", ticket_api::driven::describe(&e)))?;
        let outputs: HashMap<String, String> = described
            .stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let output = |key: &str| {
            outputs
                .get(key)
                .cloned()
                .ok_or_else(|| format!("stack {name} has no output {key}: is it a ticket-api stack?"))
        };
        Ok(Self {
            tables: Tables {
                api_keys: output("ApiKeysTableName").map_err(anyhow::Error::msg)?,
                collections: output("CollectionsTableName").map_err(anyhow::Error::msg)?,
                tickets: output("TicketsTableName").map_err(anyhow::Error::msg)?,
                limits: output("LimitsTableName").map_err(anyhow::Error::msg)?,
                idempotency: output("IdempotencyTableName").map_err(anyhow::Error::msg)?,
                suppressions: output("SuppressionsTableName").map_err(anyhow::Error::msg)?,
            },
            pepper: output("ApiKeyPepperSecretArn").map(PepperSource::SecretsManager),
            public_base_url: output("PublicBaseUrl").or_else(|_| output("ApiUrl")),
        })
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = Env::process();
    // The function's settings (AWS_CA_BUNDLE behind a TLS-inspecting proxy, say), with the patience of a person
    // at a terminal: scans and table creation take longer than a request's calls.
    let upstream = env.upstream()?;
    let sdk = compose::sdk_config(Upstream {
        operation: upstream.operation.max(std::time::Duration::from_secs(30)),
        ..upstream
    })
    .await;
    let deployment = match &cli.stack {
        Some(name) => Deployment::from_stack(&sdk, name).await?,
        None => Deployment::from_env(&env)?,
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), deployment.tables.clone());
    let now = || SystemClock.now();
    let json = cli.json;
    match cli.command {
        Command::Init => {
            let created = store.create_tables().await?;
            print(json, &created, || match created.is_empty() {
                true => "tables already exist".into(),
                false => format!("created tables: {}", created.join(", ")),
            });
        }
        Command::Collections(CollectionsCommand::Create { name, notify, id, disabled, limits }) => {
            let mut collection = Collection {
                collection_id: id.as_deref().map(collection_id).transpose()?.unwrap_or_else(CollectionId::generate),
                name: CollectionName::parse(&name).map_err(anyhow::Error::msg)?,
                notify_emails: emails(&notify)?,
                ticketing_enabled: !disabled,
                last_ticket_number: 0,
                created_at: now().rfc3339(),
                rate_limits: RateLimits::default(),
                team_link_generation: 0,
                webhooks: Default::default(),
            };
            limits.apply(&mut collection.rate_limits);
            store.insert_collection(&collection).await?;
            print(json, &collection, || format!("created collection {}", collection.collection_id));
        }
        Command::Collections(CollectionsCommand::List) => {
            let mut collections = store.list_collections().await?;
            collections.sort_by(|a, b| a.created_at.cmp(&b.created_at));
            print(json, &collections, || {
                let mut out = format!(
                    "{:<26} {:<9} {:>8} {:>17}  {:<30} notify",
                    "ID", "TICKETING", "TICKETS", "KEY/REQ/NEW PER H", "NAME"
                );
                for c in &collections {
                    let notify: Vec<&str> = c.notify_emails.iter().map(Email::as_str).collect();
                    out.push_str(&format!(
                        "\n{:<26} {:<9} {:>8} {:>17}  {:<30} {}",
                        c.collection_id.as_str(),
                        if c.ticketing_enabled { "on" } else { "off" },
                        c.last_ticket_number,
                        format!(
                            "{}/{}/{}",
                            c.rate_limits.per_key, c.rate_limits.per_requester, c.rate_limits.new_requesters
                        ),
                        c.name.as_str(),
                        notify.join(", ")
                    ));
                }
                out
            });
        }
        Command::Collections(CollectionsCommand::RevokeTeamLinks { id }) => {
            let id = collection_id(&id)?;
            let generation = store
                .raise_team_link_generation(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("collection {id} does not exist"))?;
            print(json, &serde_json::json!({"collectionId": id, "teamLinkGeneration": generation}), || {
                format!("every team link of {id} made before is revoked; the next e-mails carry new ones")
            });
        }
        Command::Collections(CollectionsCommand::Update { id, name, notify, clear_notify, switch, limits }) => {
            let id = collection_id(&id)?;
            let mut collection =
                store.get_collection(&id).await?.ok_or_else(|| anyhow::anyhow!("collection {id} does not exist"))?;
            let before = collection.notify_emails.clone();
            if let Some(name) = name {
                collection.name = CollectionName::parse(&name).map_err(anyhow::Error::msg)?;
            }
            if clear_notify {
                collection.notify_emails.clear();
            } else if !notify.is_empty() {
                collection.notify_emails = emails(&notify)?;
            }
            if switch.enable || switch.disable {
                collection.ticketing_enabled = switch.enable;
            }
            limits.apply(&mut collection.rate_limits);
            store.update_collection(&collection).await?;
            // An address taken off the team keeps the team links of the e-mails it received: they are revoked.
            let removed = before.iter().any(|old| !collection.notify_emails.contains(old));
            if removed && let Some(generation) = store.raise_team_link_generation(&id).await? {
                collection.team_link_generation = generation;
            }
            print(json, &collection, || match removed {
                true => format!("updated collection {id}; its team links are revoked (an address was removed)"),
                false => format!("updated collection {id}"),
            });
        }
        Command::Keys(KeysCommand::Create { name, collections }) => {
            let collections = collections.iter().map(|c| collection_id(c)).collect::<anyhow::Result<Vec<_>>>()?;
            for id in &collections {
                store.get_collection(id).await?.ok_or_else(|| anyhow::anyhow!("collection {id} does not exist"))?;
            }
            let pepper =
                compose::pepper_provider(&sdk, &deployment.pepper.map_err(anyhow::Error::msg)?, None)?.pepper().await?;
            let key = ApiKey::generate();
            let record = ApiKeyRecord {
                key_id: ticket_api::domain::keys::random_hex::<6>(),
                name,
                last4: key.last4(),
                collections,
                created_at: now().rfc3339(),
                revoked_at: None,
            };
            store.insert_key(&pepper.hash(&key), &record).await?;
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct CreatedKey<'a> {
                api_key: &'a str,
                #[serde(flatten)]
                record: &'a ApiKeyRecord,
            }
            print(json, &CreatedKey { api_key: key.reveal(), record: &record }, || {
                format!(
                    "API key {} ({}): {}\nThis is the only time the key is shown: store it now.",
                    record.key_id,
                    record.name,
                    key.reveal()
                )
            });
        }
        Command::Keys(KeysCommand::List) => {
            let mut keys = store.list_keys().await?;
            keys.sort_by(|a, b| a.created_at.cmp(&b.created_at));
            print(json, &keys, || {
                let mut out = format!("{:<14} {:<8} {:<8} {:<24} collections", "ID", "LAST4", "STATUS", "NAME");
                for k in &keys {
                    let ids: Vec<&str> = k.collections.iter().map(CollectionId::as_str).collect();
                    out.push_str(&format!(
                        "\n{:<14} {:<8} {:<8} {:<24} {}",
                        k.key_id,
                        k.last4,
                        if k.is_revoked() { "revoked" } else { "active" },
                        k.name,
                        ids.join(", ")
                    ));
                }
                out
            });
        }
        Command::Keys(KeysCommand::Revoke { key_id }) => {
            if !store.revoke_key(&key_id, &now().rfc3339()).await? {
                anyhow::bail!("no API key with id {key_id}");
            }
            print(json, &key_id, || format!("revoked API key {key_id}"));
        }
        Command::Tickets(TicketsCommand::List { collection, status, limit }) => {
            let id = collection_id(&collection)?;
            let mut tickets = Vec::new();
            for status in status.map_or(TicketStatus::ALL.to_vec(), |s| vec![s]) {
                tickets.extend(store.list_page(&id, status, limit, None).await?.tickets);
            }
            tickets.sort_by(|a, b| b.last_activity_at.cmp(&a.last_activity_at));
            tickets.truncate(limit);
            print(json, &tickets, || tickets_table(&tickets));
        }
        Command::Tickets(TicketsCommand::Show { collection, number }) => {
            let id = collection_id(&collection)?;
            let ticket = store
                .get_ticket(&id, number)
                .await?
                .ok_or_else(|| anyhow::anyhow!("ticket {number} of {id} does not exist"))?;
            let thread = store.thread(&id, number).await?;
            let mail = store.ticket_mail(&id, number).await?;
            // The header holds the key nonces, not the keys: this output opens nothing.
            print(true, &serde_json::json!({"ticket": ticket, "thread": thread, "mail": mail}), String::new);
        }
        Command::Tickets(TicketsCommand::Reply { collection, number, message }) => {
            let text =
                ticket_api::domain::Message::parse(&message).map_err(|(_, why)| anyhow::anyhow!("--message: {why}"));
            let added = deployment
                .operator(&sdk, &store)?
                .add_message(&collection, &number.to_string(), Credential::Operator, Ok(text?))
                .await;
            let added = added.map_err(conversation_error)?;
            print(json, &added.entry, || {
                format!(
                    "ticket {number}: reply added as entry {} (status {}); the requester is e-mailed",
                    added.entry.seq,
                    added.status.as_str()
                )
            });
        }
        Command::Tickets(TicketsCommand::RotateLinks { collection, number }) => {
            deployment.pepper.as_ref().map_err(|e| anyhow::anyhow!("rotate-links prints the new links: {e}"))?;
            deployment
                .public_base_url
                .as_ref()
                .map_err(|e| anyhow::anyhow!("rotate-links prints the new links: {e} (or use --stack)"))?;
            let rotated = deployment
                .operator(&sdk, &store)?
                .rotate_links(&collection, &number.to_string(), Credential::Operator, Ok(()))
                .await
                .map_err(conversation_error)?;
            let body = serde_json::json!({"ticketNumber": number, "privateUrl": rotated.private_url,
                "teamUrl": rotated.team_url});
            print(json, &body, || {
                format!(
                    "ticket {number}: its old links are revoked.\nrequester: {}\nteam:      {}",
                    rotated.private_url, rotated.team_url
                )
            });
        }
        Command::Tickets(
            command @ (TicketsCommand::Resolve { .. } | TicketsCommand::Close { .. } | TicketsCommand::Reopen { .. }),
        ) => {
            let (collection, number, status, notify_requester) = match command {
                TicketsCommand::Resolve { collection, number } => (collection, number, TicketStatus::Resolved, false),
                TicketsCommand::Close { collection, number, notify_requester } => {
                    (collection, number, TicketStatus::Closed, notify_requester)
                }
                TicketsCommand::Reopen { collection, number } => (collection, number, TicketStatus::Open, false),
                _ => unreachable!("matched above"),
            };
            let request = ticket_api::domain::conversation::StatusRequest { status, notify_requester };
            let set = deployment
                .operator(&sdk, &store)?
                .set_status(&collection, &number.to_string(), Credential::Operator, Ok(request))
                .await;
            let set = set.map_err(conversation_error)?;
            print(
                json,
                &serde_json::json!({"ticketNumber": number, "status": set.status.as_str(), "changed": set.changed}),
                || match set.changed {
                    true => format!("ticket {number} is {} now", set.status.as_str()),
                    false => format!("ticket {number} was {} already: nothing changed", set.status.as_str()),
                },
            );
        }
        Command::Webhooks(command) => webhooks(command, &deployment.operator(&sdk, &store)?, json).await?,
        Command::Mail(MailCommand::List { collection }) => {
            let id = collection.as_deref().map(collection_id).transpose()?;
            let mut mail = store.undelivered(id.as_ref()).await?;
            mail.sort_by(|a, b| (&a.collection_id, &a.created_at).cmp(&(&b.collection_id, &b.created_at)));
            print(json, &mail, || mail_table(&mail));
        }
        Command::Suppressions(SuppressionsCommand::List) => {
            let list = store.suppressions().await?;
            print(json, &list, || match list.is_empty() {
                true => "no address is suppressed".into(),
                false => {
                    let mut out = format!("{:<40} {:<10} {:<25} {:<32} detail", "ADDRESS", "REASON", "SINCE", "E-MAIL");
                    for s in &list {
                        out.push_str(&format!(
                            "\n{:<40} {:<10} {:<25} {:<32} {}",
                            s.address.as_str(),
                            s.reason,
                            s.at,
                            s.mail,
                            s.detail
                        ));
                    }
                    out
                }
            });
        }
        Command::Suppressions(SuppressionsCommand::Lift { address }) => {
            let address = Email::parse(&address).map_err(|(_, why)| anyhow::anyhow!("the address {why}"))?;
            let lifted = store.lift_suppression(&address).await?;
            print(json, &serde_json::json!({ "lifted": lifted }), || match lifted {
                true => format!("{} may be sent to again", address.as_str()),
                false => format!("{} was not suppressed", address.as_str()),
            });
        }
        Command::Mail(MailCommand::Resend { collection, number }) => {
            let id = collection_id(&collection)?;
            if store.get_collection(&id).await?.is_none() {
                anyhow::bail!("collection {id} does not exist");
            }
            let resent =
                resend_failed(&store, &id, number, now().ms_after(DeliveryPolicy::default().sweep_after)).await?;
            let keys: Vec<_> = resent
                .iter()
                .map(|k| format!("ticket {} entry {} e-mail {}", k.ticket_number, k.entry, k.index))
                .collect();
            print(json, &keys, || match keys.is_empty() {
                true => "nothing failed for good: nothing to re-send".into(),
                false => {
                    format!("re-sent {} e-mail(s); the stream delivers them now:\n{}", keys.len(), keys.join("\n"))
                }
            });
        }
    }
    Ok(())
}

fn conversation_error(e: ConversationError) -> anyhow::Error {
    match e {
        ConversationError::NotFound => anyhow::anyhow!("no such ticket"),
        ConversationError::Closed => anyhow::anyhow!("the ticket is closed: reopen it first"),
        other => anyhow::anyhow!("{other}"),
    }
}

fn tickets_table(tickets: &[Ticket]) -> String {
    let mut out =
        format!("{:>7}  {:<24} {:<8} {:>7} {:<32} title", "NUMBER", "LAST ACTIVITY", "STATUS", "ENTRIES", "REQUESTER");
    for t in tickets {
        out.push_str(&format!(
            "\n{:>7}  {:<24} {:<8} {:>7} {:<32} {}",
            t.ticket_number,
            t.last_activity_at,
            t.status.as_str(),
            t.entries,
            t.user_email.as_str(),
            t.title.as_str()
        ));
    }
    out
}

/// The outbox as an operator reads it: what, to whom, since when, and why it is not delivered.
fn mail_table(mail: &[Mail]) -> String {
    if mail.is_empty() {
        return "every e-mail is delivered".into();
    }
    let now = std::time::SystemTime::now();
    let mut out = format!(
        "{:<26} {:>7} {:>5} {:<10} {:<9} {:>8} {:<32} reason",
        "COLLECTION", "TICKET", "ENTRY", "KIND", "STATE", "AGE", "TO"
    );
    for m in mail {
        let age = humantime::parse_rfc3339(&m.created_at)
            .ok()
            .and_then(|at| now.duration_since(at).ok())
            .map(|d| humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string())
            .unwrap_or_default();
        let age = age.split(' ').take(2).collect::<Vec<_>>().join(" ");
        out.push_str(&format!(
            "\n{:<26} {:>7} {:>5} {:<10} {:<9} {:>8} {:<32} {}",
            m.collection_id.as_str(),
            m.ticket_number,
            m.entry,
            m.kind.as_str(),
            m.state.as_str(),
            age,
            m.to.as_str(),
            m.last_error.as_deref().unwrap_or(if m.state == MailState::Pending { "not tried yet" } else { "" })
        ));
    }
    out
}

async fn webhooks(
    command: WebhooksCommand,
    service: &ticket_api::service::TicketService<compose::OperatorPorts>,
    json: bool,
) -> anyhow::Result<()> {
    use ticket_api::domain::webhook::EventType;
    let fail = |e: ticket_api::service::WebhookError| anyhow::anyhow!("{e}");
    match command {
        WebhooksCommand::Add { collection, url, events } => {
            let events = events
                .iter()
                .map(|e| EventType::parse(e).ok_or_else(|| anyhow::anyhow!("`{e}` is not an event type")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let loopback = ticket_api::config::Env::process().webhooks_loopback();
            let added =
                service.add_webhook(&collection_id(&collection)?, &url, events, loopback).await.map_err(fail)?;
            let body = serde_json::json!({"id": added.endpoint.id, "url": added.endpoint.url,
                "events": added.endpoint.events, "secret": added.secret});
            print(json, &body, || {
                format!(
                    "endpoint {} added for {}\nsigning secret (shown once): {}",
                    added.endpoint.id, added.endpoint.url, added.secret
                )
            });
        }
        WebhooksCommand::List { collection } => {
            let endpoints = service.webhooks(&collection_id(&collection)?).await.map_err(fail)?;
            let shown: Vec<_> = endpoints
                .iter()
                .map(|e| {
                    serde_json::json!({"id": e.id, "url": e.url, "events": e.events, "createdAt": e.created_at,
                    "rotating": e.previous.is_some(), "disabledAt": e.disabled_at})
                })
                .collect();
            print(json, &shown, || match endpoints.is_empty() {
                true => "no webhook endpoint".into(),
                false => endpoints
                    .iter()
                    .map(|e| {
                        let events: Vec<&str> = e.events.iter().map(|v| v.as_str()).collect();
                        let events = if events.is_empty() { "all events".to_owned() } else { events.join(",") };
                        let disabled = e.disabled_at.as_deref().map(|at| format!("  DISABLED since {at}"));
                        format!("{}  {}  {}{}", e.id, e.url, events, disabled.unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        WebhooksCommand::Remove { collection, id } => {
            service.remove_webhook(&collection_id(&collection)?, &id).await.map_err(fail)?;
            print(json, &serde_json::json!({"removed": id}), || format!("endpoint {id} removed"));
        }
        WebhooksCommand::Enable { collection, id } => {
            service.enable_webhook(&collection_id(&collection)?, &id).await.map_err(fail)?;
            print(json, &serde_json::json!({"enabled": id}), || {
                format!("endpoint {id} enabled: what it is owed goes out within 15 minutes")
            });
        }
        WebhooksCommand::RotateSecret { collection, id } => {
            let secret = service.rotate_webhook_secret(&collection_id(&collection)?, &id).await.map_err(fail)?;
            print(json, &serde_json::json!({"id": id, "secret": secret}), || {
                format!("endpoint {id}: new signing secret (shown once): {secret}\nthe old one signs too for 24 hours")
            });
        }
        WebhooksCommand::Test { collection, id } => {
            let posted = service.ping_webhook(&collection_id(&collection)?, &id).await.map_err(fail)?;
            let body = serde_json::json!({"id": id, "status": posted.status, "error": posted.error,
                "latencyMs": posted.latency.as_millis() as u64, "delivered": posted.delivered()});
            print(json, &body, || match &posted.error {
                None => format!("endpoint {id} answered {} in {:?}", posted.status.unwrap_or_default(), posted.latency),
                Some(e) => format!("endpoint {id}: {e} ({:?})", posted.latency),
            });
        }
        WebhooksCommand::Deliveries { collection, limit } => {
            let log = service.webhook_deliveries(&collection_id(&collection)?, limit).await?;
            let shown: Vec<_> = log
                .iter()
                .map(|h| {
                    serde_json::json!({"webhookId": h.key().webhook_id(), "event": h.event.as_str(),
                    "endpoint": h.endpoint_id, "ticket": h.ticket_number, "state": h.state.as_str(),
                    "attempts": h.attempts, "status": h.last_status, "latencyMs": h.last_latency_ms,
                    "error": h.last_error, "settledAt": h.settled_at})
                })
                .collect();
            print(json, &shown, || match log.is_empty() {
                true => "no settled delivery".into(),
                false => log
                    .iter()
                    .map(|h| {
                        format!(
                            "{}  #{}  {:<24} {:<9} attempts {}  status {}  {} ms  {}",
                            h.settled_at.as_deref().unwrap_or("-"),
                            h.ticket_number,
                            h.event.as_str(),
                            h.state.as_str(),
                            h.attempts,
                            h.last_status.map_or("-".into(), |s| s.to_string()),
                            h.last_latency_ms.unwrap_or_default(),
                            h.last_error.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
    }
    Ok(())
}
