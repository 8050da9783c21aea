//! DynamoDB: the store ports on six tables, split by what each stores, and the operator's administration. The
//! tables' layout (keys, sort-key prefixes, indexes) is `schema`'s; `items` maps domain records to items by it.
//!
//! | table | key | items |
//! | --- | --- | --- |
//! | collections | `collectionId` | a collection and its ticket counter (`lastTicketNumber`) |
//! | API keys | `keyHash`: HMAC-SHA256 of the key | keyId, name, last4, collections, createdAt, revokedAt |
//! | tickets | `pk` = `{collectionId}#{number}`, `sk` | `ticket` (the header), `entry#000001`… (the thread), `mail#000001#000`… (the outbox) |
//! | limits | `countId` | one abuse-limit count per collection, key or requester, and hour; TTL `expiresAt` |
//! | idempotency | `scope` = `{collectionId}#{keyId}#{Idempotency-Key}` | fingerprint, state, ticketNumber, keyNonce, leaseUntil; TTL `expiresAt` |
//! | suppressions | `address` (lower-cased) | an address that bounced for good or complained: reason, detail, at, the e-mail |
//!
//! The tickets table has a stream (new images) that hands pending e-mails to the function, and two sparse
//! indexes: `byStatus` (headers only: a collection's tickets of one status, newest activity first) and
//! `outbox` (e-mails not delivered yet, by when they are due, and those failed for good).
//!
//! All SDK detail stays here: item mapping (serde_dynamo), condition expressions, and the translation of
//! refused conditions into what they mean (never by reading an error's message).

mod admin;
mod collections;
mod idempotency;
mod items;
mod keys;
mod limits;
mod outbox;
mod suppressions;
mod tickets;
mod webhook_deliveries;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Background;
use crate::config::Tables;
use crate::ports::Unavailable;

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB store. Cheap to clone: the client is shared.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Background<Client>,
    tables: Tables,
}

impl DynamoStore {
    /// On a client, or on one being built (`Background`: the warm-up's reads, or else the first event, wait for it).
    pub fn new(client: impl Into<Background<Client>>, tables: Tables) -> Self {
        Self { client: client.into(), tables }
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn to_item<T: Serialize>(value: &T) -> Item {
    serde_dynamo::to_item(value).expect("domain records map to DynamoDB items")
}

fn from_item<T: DeserializeOwned>(operation: &'static str, item: Item) -> Result<T, Unavailable> {
    serde_dynamo::from_item(item).map_err(|e| Unavailable::new(operation, anyhow::anyhow!("unreadable item: {e}")))
}

fn unavailable<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> Unavailable
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| Unavailable::new(operation, anyhow::anyhow!("{}", super::describe(&e)))
}

/// The same for the operator's commands, which report with `anyhow`.
fn failed<E, R>(what: String) -> impl FnOnce(SdkError<E, R>) -> anyhow::Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| anyhow::anyhow!("{what}: {}", super::describe(&e))
}

/// A number attribute of an item, if it is one.
fn number_in(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}
