//! `ticketctl mail …` and `ticketctl suppressions …`: what the outbox has not delivered, re-sending what failed
//! for good, and the addresses sent nothing any more.

use std::time::{Duration, SystemTime};

use clap::Subcommand;
use ticket_api::compose::Operator;
use ticket_api::domain::{Email, Mail, MailState};

use super::{Output, collection_id};

#[derive(Subcommand)]
pub enum MailCommand {
    /// Every e-mail not delivered yet or failed for good, of one collection or all, with its age and reason.
    List { collection: Option<String> },
    /// Send again what failed for good (once its cause is fixed): of a collection, or of one of its tickets.
    Resend { collection: String, number: Option<u64> },
}

#[derive(Subcommand)]
pub enum SuppressionsCommand {
    /// Every suppressed address, with why and since when.
    List,
    /// Take an address off the list (the person fixed their mailbox, say); `mail resend` then sends what was
    /// suppressed.
    Lift { address: String },
}

pub async fn run(command: MailCommand, operator: &Operator, out: Output) -> anyhow::Result<()> {
    let service = operator.service();
    match command {
        MailCommand::List { collection } => {
            let id = collection.as_deref().map(collection_id).transpose()?;
            let mail = service.undelivered_mail(id.as_ref()).await?;
            out.print(&mail, || mail_table(&mail));
        }
        MailCommand::Resend { collection, number } => {
            let resent = service.resend_failed(&collection_id(&collection)?, number).await?;
            let keys: Vec<_> = resent
                .iter()
                .map(|k| format!("ticket {} entry {} e-mail {}", k.ticket_number, k.entry, k.index))
                .collect();
            out.print(&keys, || match keys.is_empty() {
                true => "nothing failed for good: nothing to re-send".into(),
                false => {
                    format!("re-sent {} e-mail(s); the stream delivers them now:\n{}", keys.len(), keys.join("\n"))
                }
            });
        }
    }
    Ok(())
}

pub async fn run_suppressions(command: SuppressionsCommand, operator: &Operator, out: Output) -> anyhow::Result<()> {
    let service = operator.service();
    match command {
        SuppressionsCommand::List => {
            let list = service.suppressions().await?;
            out.print(&list, || match list.is_empty() {
                true => "no address is suppressed".into(),
                false => {
                    let mut text =
                        format!("{:<40} {:<10} {:<25} {:<32} detail", "ADDRESS", "REASON", "SINCE", "E-MAIL");
                    for s in &list {
                        text.push_str(&format!(
                            "\n{:<40} {:<10} {:<25} {:<32} {}",
                            s.address.as_str(),
                            s.reason,
                            s.at,
                            s.mail,
                            s.detail
                        ));
                    }
                    text
                }
            });
        }
        SuppressionsCommand::Lift { address } => {
            let address = Email::parse(&address).map_err(|(_, why)| anyhow::anyhow!("the address {why}"))?;
            let lifted = service.lift_suppression(&address).await?;
            out.print(&serde_json::json!({ "lifted": lifted }), || match lifted {
                true => format!("{} may be sent to again", address.as_str()),
                false => format!("{} was not suppressed", address.as_str()),
            });
        }
    }
    Ok(())
}

/// The outbox as an operator reads it: what, to whom, since when, and why it is not delivered.
fn mail_table(mail: &[Mail]) -> String {
    if mail.is_empty() {
        return "every e-mail is delivered".into();
    }
    let now = SystemTime::now();
    let mut text = format!(
        "{:<26} {:>7} {:>5} {:<10} {:<9} {:>8} {:<32} reason",
        "COLLECTION", "TICKET", "ENTRY", "KIND", "STATE", "AGE", "TO"
    );
    for m in mail {
        let age = humantime::parse_rfc3339(&m.created_at)
            .ok()
            .and_then(|at| now.duration_since(at).ok())
            .map(|d| humantime::format_duration(Duration::from_secs(d.as_secs())).to_string())
            .unwrap_or_default();
        let age = age.split(' ').take(2).collect::<Vec<_>>().join(" ");
        text.push_str(&format!(
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
    text
}
