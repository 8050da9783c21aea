//! `ticketctl keys …`: create an API key (shown once), list keys, revoke one.

use clap::Subcommand;
use serde::Serialize;
use ticket_api::compose::Operator;
use ticket_api::domain::{ApiKeyRecord, CollectionId};

use super::{Output, collection_id};

#[derive(Subcommand)]
pub enum KeysCommand {
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
    /// Revoke a key by its id (see `keys list`). Refused within the key cache's 30 s on the request path. The
    /// webhook endpoints it added are disabled (what they are owed is held until one is enabled).
    Revoke {
        key_id: String,
        /// Keep the webhook endpoints the key added delivering.
        #[arg(long)]
        keep_webhooks: bool,
    },
}

/// A new key as printed with `--json`: the key itself (this once) beside its record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedKey<'a> {
    api_key: &'a str,
    #[serde(flatten)]
    record: &'a ApiKeyRecord,
}

pub async fn run(command: KeysCommand, operator: &Operator, out: Output) -> anyhow::Result<()> {
    let service = operator.service();
    match command {
        KeysCommand::Create { name, collections } => {
            let collections = collections.iter().map(|c| collection_id(c)).collect::<anyhow::Result<Vec<_>>>()?;
            let created = service.create_key(name, collections).await?;
            let (key, record) = (created.key.reveal(), &created.record);
            out.print(&CreatedKey { api_key: key, record }, || {
                format!(
                    "API key {} ({}): {}\nThis is the only time the key is shown: store it now.",
                    record.key_id, record.name, key
                )
            });
        }
        KeysCommand::List => {
            let keys = service.keys().await?;
            out.print(&keys, || {
                let mut text = format!("{:<14} {:<8} {:<8} {:<24} collections", "ID", "LAST4", "STATUS", "NAME");
                for k in &keys {
                    let ids: Vec<&str> = k.collections.iter().map(CollectionId::as_str).collect();
                    text.push_str(&format!(
                        "\n{:<14} {:<8} {:<8} {:<24} {}",
                        k.key_id,
                        k.last4,
                        if k.is_revoked() { "revoked" } else { "active" },
                        k.name,
                        ids.join(", ")
                    ));
                }
                text
            });
        }
        KeysCommand::Revoke { key_id, keep_webhooks } => {
            let revoked = service.revoke_key(&key_id, keep_webhooks).await?;
            let endpoints: Vec<String> = revoked.endpoints.iter().map(|(c, id)| format!("{c}/{id}")).collect();
            let body = serde_json::json!({"keyId": key_id, "webhooks": endpoints,
                "webhooksDisabled": revoked.webhooks_disabled && !endpoints.is_empty()});
            out.print(&body, || match (endpoints.is_empty(), revoked.webhooks_disabled) {
                (true, _) => format!("revoked API key {key_id}"),
                (false, true) => format!(
                    "revoked API key {key_id}; the webhook endpoints it added are disabled: {}",
                    endpoints.join(", ")
                ),
                (false, false) => format!(
                    "revoked API key {key_id}; the webhook endpoints it added keep delivering: {}",
                    endpoints.join(", ")
                ),
            });
        }
    }
    Ok(())
}
