//! `ticketctl collections …`: create, list, change a collection, and revoke its team links.

use clap::{Args, Subcommand};
use ticket_api::compose::Operator;
use ticket_api::domain::{Email, RateLimits};
use ticket_api::service::{AdminError, CollectionChanges, LimitChanges, NewCollection};

use super::{Output, collection_id};

#[derive(Subcommand)]
pub enum CollectionsCommand {
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

/// The abuse limits of a collection, per hour (docs/api.md, "Abuse limits").
#[derive(Args)]
pub struct LimitArgs {
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

impl From<LimitArgs> for LimitChanges {
    fn from(args: LimitArgs) -> Self {
        LimitChanges {
            per_key: args.limit_per_key,
            per_requester: args.limit_per_requester,
            per_ticket_replies: args.limit_replies_per_ticket,
            per_ticket_team_link: args.limit_team_link_per_ticket,
            new_requesters: args.limit_new_requesters,
        }
    }
}

fn limit(raw: &str) -> Result<u32, String> {
    RateLimits::parse_limit(raw.parse().map_err(|_| format!("`{raw}` is not a whole number"))?)
}

#[derive(Args)]
#[group(multiple = false)]
pub struct TicketingSwitch {
    /// Turn ticketing on.
    #[arg(long)]
    enable: bool,
    /// Turn ticketing off: creates answer 403 ticketing_disabled.
    #[arg(long)]
    disable: bool,
}

/// The service's refusal, in the words of the command line (`--notify` for a notification address).
fn refused(e: AdminError) -> anyhow::Error {
    match e {
        AdminError::InvalidNotify { address, why } => anyhow::anyhow!("--notify `{address}`: {why}"),
        other => other.into(),
    }
}

pub async fn run(command: CollectionsCommand, operator: &Operator, out: Output) -> anyhow::Result<()> {
    let service = operator.service();
    match command {
        CollectionsCommand::Create { name, notify, id, disabled, limits } => {
            let id = id.as_deref().map(collection_id).transpose()?;
            let new = NewCollection { id, name, notify, ticketing: !disabled, limits: limits.into() };
            let collection = service.create_collection(new).await.map_err(refused)?;
            out.print(&collection, || format!("created collection {}", collection.collection_id));
        }
        CollectionsCommand::List => {
            let collections = service.collections().await?;
            out.print(&collections, || {
                let mut text = format!(
                    "{:<26} {:<9} {:>8} {:>17}  {:<30} notify",
                    "ID", "TICKETING", "TICKETS", "KEY/REQ/NEW PER H", "NAME"
                );
                for c in &collections {
                    let notify: Vec<&str> = c.notify_emails.iter().map(Email::as_str).collect();
                    let limits = &c.rate_limits;
                    text.push_str(&format!(
                        "\n{:<26} {:<9} {:>8} {:>17}  {:<30} {}",
                        c.collection_id.as_str(),
                        if c.ticketing_enabled { "on" } else { "off" },
                        c.last_ticket_number,
                        format!("{}/{}/{}", limits.per_key, limits.per_requester, limits.new_requesters),
                        c.name.as_str(),
                        notify.join(", ")
                    ));
                }
                text
            });
        }
        CollectionsCommand::RevokeTeamLinks { id } => {
            let id = collection_id(&id)?;
            let generation = service.revoke_team_links(&id).await?;
            out.print(&serde_json::json!({"collectionId": id, "teamLinkGeneration": generation}), || {
                format!("every team link of {id} made before is revoked; the next e-mails carry new ones")
            });
        }
        CollectionsCommand::Update { id, name, notify, clear_notify, switch, limits } => {
            let id = collection_id(&id)?;
            let notify = match (clear_notify, notify.is_empty()) {
                (true, _) => Some(Vec::new()),
                (false, true) => None,
                (false, false) => Some(notify),
            };
            let ticketing = (switch.enable || switch.disable).then_some(switch.enable);
            let changes = CollectionChanges { name, notify, ticketing, limits: limits.into() };
            let updated = service.update_collection(&id, changes).await.map_err(refused)?;
            out.print(&updated.collection, || {
                let removed: Vec<&str> = updated.removed.iter().map(|m| m.as_str()).collect();
                match (updated.every_team_link_revoked, removed.is_empty()) {
                    (true, _) => format!(
                        "updated collection {id}; every team link is revoked ({} left the team, and its e-mails \
                         carried the team's shared link)",
                        removed.join(", ")
                    ),
                    (false, false) => format!(
                        "updated collection {id}; the team links and reply addresses of {} are revoked",
                        removed.join(", ")
                    ),
                    (false, true) => format!("updated collection {id}"),
                }
            });
        }
    }
    Ok(())
}
