//! `ticketctl tickets …`: list and show tickets; reply, resolve, close, reopen as the team; rotate a ticket's links.

use clap::Subcommand;
use ticket_api::compose::Operator;
use ticket_api::domain::conversation::{AssignRequest, LinkRoles, Reply, StatusRequest};
use ticket_api::domain::{Email, InputError, Message, Ticket, TicketStatus};
use ticket_api::service::{ConversationError, Credential};

use super::{Output, collection_id};

#[derive(Subcommand)]
pub enum TicketsCommand {
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
    /// Assign a ticket to a member of its collection's team (a notification address), or to nobody: the member is
    /// e-mailed, and the requester's messages then e-mail them only.
    Assign {
        collection: String,
        number: u64,
        /// The member's address.
        #[arg(required_unless_present = "nobody")]
        member: Option<String>,
        /// Unassign it instead.
        #[arg(long, conflicts_with = "member")]
        nobody: bool,
    },
    /// Give a ticket new links: its requester's and its team's links stop working (a leaked link); the new ones
    /// are printed, and the next e-mails carry them. The requester is e-mailed their new link.
    RotateLinks {
        collection: String,
        number: u64,
        /// Whose links: requester, team or both.
        #[arg(long, default_value = "both", value_parser = roles)]
        role: LinkRoles,
    },
}

fn status(raw: &str) -> Result<TicketStatus, String> {
    TicketStatus::parse(raw).ok_or_else(|| format!("`{raw}` is not a status (open, resolved, closed)"))
}

fn roles(raw: &str) -> Result<LinkRoles, String> {
    match raw {
        "requester" => Ok(LinkRoles::Requester),
        "team" => Ok(LinkRoles::Team),
        "both" => Ok(LinkRoles::Both),
        _ => Err(format!("`{raw}` is not requester, team or both")),
    }
}

fn conversation_error(e: ConversationError) -> anyhow::Error {
    match e {
        ConversationError::NotFound => anyhow::anyhow!("no such ticket"),
        ConversationError::Closed => anyhow::anyhow!("the ticket is closed: reopen it first"),
        ConversationError::Input(InputError::Invalid(errors)) => {
            let said: Vec<String> = errors.iter().map(|e| format!("{} {}", e.field, e.message)).collect();
            anyhow::anyhow!("{}", said.join("; "))
        }
        other => anyhow::anyhow!("{other}"),
    }
}

pub async fn run(command: TicketsCommand, operator: &Operator, out: Output) -> anyhow::Result<()> {
    let service = operator.service();
    match command {
        TicketsCommand::List { collection, status, limit } => {
            let tickets = service.tickets(&collection_id(&collection)?, status, limit).await?;
            out.print(&tickets, || tickets_table(&tickets));
        }
        TicketsCommand::Show { collection, number } => {
            let record = service.ticket_record(&collection_id(&collection)?, number).await?;
            // The header holds the key nonces, not the keys: this output opens nothing.
            Output { json: true }.print(&record, String::new);
        }
        TicketsCommand::Reply { collection, number, message } => {
            let text = Message::parse(&message).map_err(|(_, why)| anyhow::anyhow!("--message: {why}"))?;
            let added = service
                .add_message(&collection, &number.to_string(), Credential::Operator, Ok(Reply::text(text)))
                .await
                .map_err(conversation_error)?;
            out.print(&added.entry, || {
                format!(
                    "ticket {number}: reply added as entry {} (status {}); the requester is e-mailed",
                    added.entry.seq,
                    added.status.as_str()
                )
            });
        }
        TicketsCommand::RotateLinks { collection, number, role } => {
            if let Some(why) = operator.missing_for_links() {
                anyhow::bail!("rotate-links prints the new links: {why}");
            }
            let rotated = service
                .rotate_links(&collection, &number.to_string(), Credential::Operator, Ok(role))
                .await
                .map_err(conversation_error)?;
            let body = serde_json::json!({"ticketNumber": number, "privateUrl": rotated.private_url,
                "teamUrl": rotated.team_url});
            out.print(&body, || {
                format!(
                    "ticket {number}: its old links are revoked.\nrequester: {}\nteam:      {}",
                    rotated.private_url, rotated.team_url
                )
            });
        }
        TicketsCommand::Assign { collection, number, member, nobody: _ } => {
            let assignee = match member.as_deref().map(Email::parse).transpose() {
                Ok(assignee) => assignee,
                Err((_, why)) => anyhow::bail!("the member's address {why}"),
            };
            let request = Ok(AssignRequest { assignee });
            let assigned = service
                .assign(&collection, &number.to_string(), Credential::Operator, request)
                .await
                .map_err(conversation_error)?;
            let assignee = assigned.assignee.as_ref().map(|m| m.as_str());
            let body = serde_json::json!({"ticketNumber": number, "assignee": assignee, "changed": assigned.changed});
            out.print(&body, || match (assignee, assigned.changed) {
                (Some(member), true) => format!("ticket {number}: assigned to {member}, who is e-mailed"),
                (None, true) => format!("ticket {number}: unassigned"),
                (Some(member), false) => format!("ticket {number}: already assigned to {member}"),
                (None, false) => format!("ticket {number}: already unassigned"),
            });
        }
        TicketsCommand::Resolve { collection, number } => {
            set_status(operator, out, collection, number, TicketStatus::Resolved, false).await?;
        }
        TicketsCommand::Close { collection, number, notify_requester } => {
            set_status(operator, out, collection, number, TicketStatus::Closed, notify_requester).await?;
        }
        TicketsCommand::Reopen { collection, number } => {
            set_status(operator, out, collection, number, TicketStatus::Open, false).await?;
        }
    }
    Ok(())
}

async fn set_status(
    operator: &Operator,
    out: Output,
    collection: String,
    number: u64,
    status: TicketStatus,
    notify_requester: bool,
) -> anyhow::Result<()> {
    let request = StatusRequest { status, notify_requester };
    let set = operator
        .service()
        .set_status(&collection, &number.to_string(), Credential::Operator, Ok(request))
        .await
        .map_err(conversation_error)?;
    let body = serde_json::json!({"ticketNumber": number, "status": set.status.as_str(), "changed": set.changed});
    out.print(&body, || match set.changed {
        true => format!("ticket {number} is {} now", set.status.as_str()),
        false => format!("ticket {number} was {} already: nothing changed", set.status.as_str()),
    });
    Ok(())
}

fn tickets_table(tickets: &[Ticket]) -> String {
    let mut text =
        format!("{:>7}  {:<24} {:<8} {:>7} {:<32} title", "NUMBER", "LAST ACTIVITY", "STATUS", "ENTRIES", "REQUESTER");
    for t in tickets {
        text.push_str(&format!(
            "\n{:>7}  {:<24} {:<8} {:>7} {:<32} {}",
            t.ticket_number,
            t.last_activity_at,
            t.status.as_str(),
            t.entries,
            t.user_email.as_str(),
            t.title.as_str()
        ));
    }
    text
}
